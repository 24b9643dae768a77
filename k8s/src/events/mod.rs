//! Events (`events.k8s.io/v1`) on IronLB's objects, shown by `kubectl describe`: the reasons
//! as an enum, the Event object, and a bounded publisher that aggregates and rate-limits
//! them, used by the controller and the speaker alike.
//!
//! ```text
//!  publish(regarding, said) ──try_send──> bounded queue ──> one task
//!   (never waits; full: dropped,            │  Aggregator::decide (pure, `aggregate`)
//!    counted)                               │    Create ─> POST the Event
//!                                           │    Update ─> PATCH series.count/lastObservedTime
//!  flush tick (every update interval) ────> │    Drop   ─> counted only
//!                                           └─ at most `in_flight` writes at once
//! ```
//!
//! Similar Events are one Event whose `series` grows, as client-go's `tools/events` recorder
//! does, but with a bounded cache (kube's `Recorder` keeps every Event it sent for six
//! minutes, unbounded) and two limits client-go lacks: a token bucket per object and reason,
//! and a hard ceiling on writes per minute for the component. See [`aggregate`] for the
//! rules and `docs/monitoring.md` for the metric.

pub mod aggregate;

use aggregate::{Aggregator, Decision, EventKey, ObjectKey, Rate, SeriesId};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use prometheus::{IntCounterVec, Opts, Registry};
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::debug;

/// Why IronLB reports an Event. The strings are part of the interface (users and tests
/// match them) and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Normal `nodeAssigned` (speaker): this node announces the Service's IP.
    NodeAssigned,
    /// Warning `L2Conflict` (speaker): another MAC claims an IP this node announces.
    L2Conflict,
    /// Warning `BGPNotAdvertised` (speaker): a wanted IP lost its last Established session.
    BgpNotAdvertised,
    /// Normal `IPAllocated` (controller): the Service got its addresses.
    IpAllocated,
    /// Normal `IPReallocated` (controller): the Service's addresses changed.
    IpReallocated,
    /// Warning `AllocationFailed` (controller): no address could be given.
    AllocationFailed,
    /// Warning `InvalidConfig` (controller, on the ConfigMap): the config was rejected.
    InvalidConfig,
    /// Warning `IPConflict` (controller): two Services' statuses claim one address.
    IpConflict,
}

impl Reason {
    /// The Event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NodeAssigned => "nodeAssigned",
            Reason::L2Conflict => "L2Conflict",
            Reason::BgpNotAdvertised => "BGPNotAdvertised",
            Reason::IpAllocated => "IPAllocated",
            Reason::IpReallocated => "IPReallocated",
            Reason::AllocationFailed => "AllocationFailed",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::IpConflict => "IPConflict",
        }
    }

    /// Whether the Event is a Warning (else Normal).
    pub fn is_warning(self) -> bool {
        !matches!(
            self,
            Reason::NodeAssigned | Reason::IpAllocated | Reason::IpReallocated
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an Event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Why (also Warning or Normal).
    pub reason: Reason,
    /// PascalCase action, e.g. `Announce`.
    pub action: &'static str,
    /// The message.
    pub note: String,
}

/// Who reports: the `reportingController` and `reportingInstance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// `reportingController`, e.g. `ironlb.io/speaker`.
    pub controller: &'static str,
    /// `reportingInstance` (a node, a pod).
    pub instance: String,
    /// Whether Event names include the instance: when several instances may report on
    /// one object at one instant (speakers), so that their names never collide.
    pub name_with_instance: bool,
}

/// The name of an Event about `regarding` by `reporter`, unique per instant (and per
/// instance where several report): `object[.instance].<nanoseconds, hex>`.
pub fn name_at(regarding: &ObjectReference, reporter: &Reporter, now: Timestamp) -> String {
    let object = regarding.name.as_deref().unwrap_or("ironlb");
    if reporter.name_with_instance {
        format!("{object}.{}.{:x}", reporter.instance, now.as_nanosecond())
    } else {
        format!("{object}.{:x}", now.as_nanosecond())
    }
}

/// The Event `name` saying `said` about `regarding`, by `reporter` at `now`.
pub fn build(
    regarding: ObjectReference,
    said: &Said,
    reporter: &Reporter,
    name: String,
    now: Timestamp,
) -> Event {
    Event {
        action: Some(said.action.to_owned()),
        reason: Some(said.reason.as_str().to_owned()),
        note: Some(said.note.clone()),
        event_time: Some(MicroTime(now)),
        type_: Some(
            if said.reason.is_warning() {
                "Warning"
            } else {
                "Normal"
            }
            .to_owned(),
        ),
        reporting_controller: Some(reporter.controller.to_owned()),
        reporting_instance: Some(reporter.instance.clone()),
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            name: Some(name),
            ..ObjectMeta::default()
        },
        regarding: Some(regarding),
        ..Event::default()
    }
}

/// The merge patch that makes an Event a series of `count` occurrences, the last at
/// `last_seen` (`series.count` is at least 2, as the API requires).
pub fn series_patch(count: u32, last_seen: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "series": {
            "count": count,
            "lastObservedTime": MicroTime(last_seen),
        }
    })
}

/// What aggregation compares of an Event: its object, reason, action and message shape.
pub fn key(regarding: &ObjectReference, said: &Said) -> EventKey {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    EventKey {
        object: ObjectKey {
            kind: s(&regarding.kind),
            namespace: s(&regarding.namespace),
            name: s(&regarding.name),
            uid: s(&regarding.uid),
        },
        reason: said.reason,
        action: said.action,
        shape: aggregate::shape(&said.note),
    }
}

/// A reference to the Service `key` (with its uid, which `kubectl describe` matches on).
pub fn service_ref(key: &crate::ServiceKey, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        uid,
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        ..ObjectReference::default()
    }
}

/// How much an [`EventPublisher`] holds and writes: Events waiting (more are dropped),
/// writes in flight at once, and the aggregation and rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events waiting to be decided on; more are dropped.
    pub queue: usize,
    /// Writes in flight at once.
    pub in_flight: usize,
    /// Aggregation, per-object bucket and per-component ceiling.
    pub rate: Rate,
}

/// `ironlb_events_total{outcome}`: what became of each Event reported, by outcome —
/// `created`, `updated` (a series patched), `aggregated`, `rate_limited`, `ceiling`,
/// `queue_full`, `failed` (the API refused or was unreachable).
#[derive(Debug, Clone)]
pub struct EventMetrics {
    outcomes: IntCounterVec,
}

impl EventMetrics {
    /// Creates the counter and registers it in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "ironlb_events_total",
                "Kubernetes Events reported, by outcome (created, updated, aggregated, \
                 rate_limited, ceiling, queue_full, failed)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        for o in [
            "created",
            "updated",
            "aggregated",
            "rate_limited",
            "ceiling",
            "queue_full",
            "failed",
        ] {
            outcomes.with_label_values(&[o]);
        }
        Ok(EventMetrics { outcomes })
    }

    fn inc(&self, outcome: &str) {
        self.outcomes.with_label_values(&[outcome]).inc();
    }
}

type Queued = (ObjectReference, Said, Instant, Timestamp);

/// Publishes Events through a bounded queue; cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<Queued>,
    metrics: EventMetrics,
}

impl EventPublisher {
    /// Starts the task writing the Events, which ends when the last clone is dropped.
    pub fn new(
        client: kube::Client,
        reporter: Reporter,
        limits: Limits,
        metrics: EventMetrics,
    ) -> Self {
        let (queue, rx) = mpsc::channel(limits.queue.max(1));
        tokio::spawn(write_all(client, reporter, limits, metrics.clone(), rx));
        Self { queue, metrics }
    }

    /// Queues the Event: the caller never waits for the API (which may be down); a failure
    /// or a full queue is only counted.
    pub fn publish(&self, regarding: ObjectReference, said: Said) {
        if let Err(mpsc::error::TrySendError::Full((_, said, _, _))) =
            self.queue
                .try_send((regarding, said, Instant::now(), Timestamp::now()))
        {
            self.metrics.inc("queue_full");
            debug!(
                reason = said.reason.as_str(),
                "event dropped: too many waiting"
            );
        }
    }
}

/// One write to the API.
enum Write {
    Create(Box<Event>),
    Update {
        name: String,
        patch: serde_json::Value,
    },
}

/// Decides on each queued Event and on the owed series updates, and performs the writes,
/// `limits.in_flight` at a time.
async fn write_all(
    client: kube::Client,
    reporter: Reporter,
    limits: Limits,
    metrics: EventMetrics,
    mut rx: mpsc::Receiver<Queued>,
) {
    let first_stamp = u64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(0);
    let instance = reporter
        .name_with_instance
        .then(|| reporter.instance.clone());
    let mut agg = Aggregator::new(limits.rate, instance, first_stamp);
    let mut flush = tokio::time::interval(
        limits
            .rate
            .update_interval
            .max(std::time::Duration::from_millis(100)),
    );
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let in_flight = limits.in_flight.max(1);
    let mut writes = FuturesUnordered::new();
    // The wall time of a monotonic instant, for `lastObservedTime`.
    let wall = |at: Instant| {
        let ago = Instant::now().saturating_duration_since(at);
        Timestamp::now()
            .checked_sub(SignedDuration::try_from(ago).unwrap_or_default())
            .unwrap_or_else(|_| Timestamp::now())
    };
    loop {
        // (series, namespace, write)
        let mut decided: Vec<(SeriesId, String, Write)> = Vec::new();
        tokio::select! {
            Some(gone) = writes.next(), if !writes.is_empty() => {
                // The series' Event is gone from the API (expired, deleted): the next
                // occurrence creates a new one.
                if let Some(series) = gone {
                    agg.forget(series);
                }
                continue;
            }
            queued = rx.recv(), if writes.len() < in_flight => {
                let Some((regarding, said, at, at_wall)) = queued else { break };
                let key = key(&regarding, &said);
                let series = agg.id(&key);
                let decision = agg.decide(&key, at);
                let namespace = key.object.namespace;
                match decision {
                    Decision::Create { name } => {
                        let ev = build(regarding, &said, &reporter, name, at_wall);
                        decided.push((series, namespace, Write::Create(Box::new(ev))));
                    }
                    Decision::Update { name, count, last_seen } => {
                        decided.push((series, namespace, update(name, count, wall(last_seen))));
                    }
                    Decision::Drop(why) => metrics.inc(why.as_str()),
                }
            }
            _ = flush.tick() => {
                for owed in agg.flush(Instant::now()) {
                    if let Decision::Update { name, count, last_seen } = owed.update {
                        let w = update(name, count, wall(last_seen));
                        decided.push((owed.series, owed.namespace, w));
                    }
                }
            }
        }
        for (series, namespace, write) in decided {
            let client = client.clone();
            let metrics = metrics.clone();
            let namespace = if namespace.is_empty() {
                "default".to_owned()
            } else {
                namespace
            };
            writes.push(async move {
                let api = Api::<Event>::namespaced(client, &namespace);
                let (outcome, result) = match write {
                    Write::Create(ev) => (
                        "created",
                        api.create(&PostParams::default(), &ev).await.map(drop),
                    ),
                    Write::Update { name, patch } => (
                        "updated",
                        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map(drop),
                    ),
                };
                match result {
                    Ok(()) => {
                        metrics.inc(outcome);
                        None
                    }
                    Err(e) => {
                        metrics.inc("failed");
                        debug!(outcome, error = %e, "event not written");
                        let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
                        gone.then_some(series)
                    }
                }
            });
        }
    }
    while writes.next().await.is_some() {}
}

fn update(name: String, count: u32, last_seen: Timestamp) -> Write {
    Write::Update {
        name,
        patch: series_patch(count, last_seen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter(name_with_instance: bool) -> Reporter {
        Reporter {
            controller: "ironlb.io/speaker",
            instance: "node1".into(),
            name_with_instance,
        }
    }

    #[test]
    fn event_regards_the_object_and_names_the_instance() {
        let regarding = service_ref(&crate::ServiceKey::new("web", "front"), Some("u1".into()));
        let said = Said {
            reason: Reason::L2Conflict,
            action: "Announce",
            note: "02:00:00:00:00:01 also claims 192.0.2.200 on eth0".into(),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let r = reporter(true);
        let ev = build(
            regarding.clone(),
            &said,
            &r,
            name_at(&regarding, &r, now),
            now,
        );
        assert_eq!(ev.regarding, Some(regarding.clone()));
        assert_eq!(ev.metadata.namespace.as_deref(), Some("web"));
        assert!(
            ev.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("front.node1.")
        );
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert_eq!(ev.reason.as_deref(), Some("L2Conflict"));
        assert_eq!(ev.action.as_deref(), Some("Announce"));
        assert_eq!(ev.reporting_instance.as_deref(), Some("node1"));
        assert_eq!(
            ev.reporting_controller.as_deref(),
            Some("ironlb.io/speaker")
        );
        let r = reporter(false);
        let at = Timestamp::UNIX_EPOCH;
        let ev = build(
            regarding.clone(),
            &said,
            &r,
            name_at(&regarding, &r, at),
            at,
        );
        assert_eq!(ev.metadata.name.as_deref(), Some("front.0"));
    }

    #[test]
    fn series_patch_and_key() {
        let at = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(
            series_patch(7, at),
            serde_json::json!({"series": {"count": 7, "lastObservedTime": "2023-11-14T22:13:20.000000Z"}})
        );
        let regarding = service_ref(&crate::ServiceKey::new("web", "front"), Some("u1".into()));
        let said = |note: &str| Said {
            reason: Reason::L2Conflict,
            action: "Announce",
            note: note.into(),
        };
        let a = key(
            &regarding,
            &said("02:00:00:00:00:01 also claims 192.0.2.200 on eth0"),
        );
        let b = key(
            &regarding,
            &said("02:00:00:00:00:02 also claims 192.0.2.200 on eth0"),
        );
        let c = key(
            &regarding,
            &said("02:00:00:00:00:02 also claims 192.0.2.201 on eth0"),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            (
                a.object.kind.as_str(),
                a.object.namespace.as_str(),
                a.object.uid.as_str()
            ),
            ("Service", "web", "u1")
        );
    }

    #[test]
    fn reasons_are_the_documented_strings() {
        let table = [
            (Reason::NodeAssigned, "nodeAssigned", false),
            (Reason::L2Conflict, "L2Conflict", true),
            (Reason::BgpNotAdvertised, "BGPNotAdvertised", true),
            (Reason::IpAllocated, "IPAllocated", false),
            (Reason::IpReallocated, "IPReallocated", false),
            (Reason::AllocationFailed, "AllocationFailed", true),
            (Reason::InvalidConfig, "InvalidConfig", true),
            (Reason::IpConflict, "IPConflict", true),
        ];
        for (reason, text, warning) in table {
            assert_eq!(reason.as_str(), text);
            assert_eq!(reason.is_warning(), warning, "{text}");
        }
    }
}
