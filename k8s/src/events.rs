//! Events (`events.k8s.io/v1`) on IronLB's objects, shown by `kubectl describe`: the reasons
//! as an enum, the Event object, and a bounded publisher.
//!
//! Each Event is created directly, with no client-side cache: kube's `Recorder` keeps every
//! Event it sent for six minutes to fold repeats into series, which for a speaker taking a
//! thousand IPs at once (or a controller with 10k Services) is memory held for nothing.
//! IronLB reports a change once, so there are no repeats to fold.
//!
//! [`EventPublisher`] sends Events through a bounded queue to one task that keeps a few
//! creates in flight: a thousand Events at once would otherwise be a thousand concurrent
//! requests, and with the API server down they would pile up unbounded. When the queue is
//! full an Event is dropped (logged); the caller never waits for it.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::mpsc;
use tracing::{debug, warn};

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

/// The Event saying `said` about `regarding`, by `reporter` at `now`.
pub fn build(
    regarding: ObjectReference,
    said: &Said,
    reporter: &Reporter,
    now: Timestamp,
) -> Event {
    let object = regarding.name.as_deref().unwrap_or("ironlb");
    // Unique per object and instant (and instance, where several report).
    let name = if reporter.name_with_instance {
        format!("{object}.{}.{:x}", reporter.instance, now.as_nanosecond())
    } else {
        format!("{object}.{:x}", now.as_nanosecond())
    };
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

/// How much an [`EventPublisher`] holds: Events waiting (more are dropped) and creates
/// in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events waiting to be created; more are dropped.
    pub queue: usize,
    /// Creates in flight at once.
    pub in_flight: usize,
}

/// Publishes Events through a bounded queue; cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<(ObjectReference, Said, Timestamp)>,
}

impl EventPublisher {
    /// Starts the task creating the Events, which ends when the last clone is dropped.
    pub fn new(client: kube::Client, reporter: Reporter, limits: Limits) -> Self {
        let (queue, rx) = mpsc::channel(limits.queue.max(1));
        tokio::spawn(create_all(client, reporter, limits.in_flight.max(1), rx));
        Self { queue }
    }

    /// Queues the Event: the caller never waits for the API (which may be down); a failure
    /// or a full queue is only logged.
    pub fn publish(&self, regarding: ObjectReference, said: Said) {
        if let Err(mpsc::error::TrySendError::Full((_, said, _))) =
            self.queue.try_send((regarding, said, Timestamp::now()))
        {
            warn!(reason = said.reason.as_str(), note = %said.note, "event dropped: too many waiting");
        }
    }
}

/// Creates the queued Events, `in_flight` at a time.
async fn create_all(
    client: kube::Client,
    reporter: Reporter,
    in_flight: usize,
    rx: mpsc::Receiver<(ObjectReference, Said, Timestamp)>,
) {
    let reporter = &reporter;
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
        .map(|(regarding, said, at)| {
            let ev = build(regarding, &said, reporter, at);
            let namespace = ev.metadata.namespace.as_deref().unwrap_or("default");
            let api = Api::<Event>::namespaced(client.clone(), namespace);
            async move {
                if let Err(e) = api.create(&PostParams::default(), &ev).await {
                    debug!(reason = said.reason.as_str(), error = %e, "event not published");
                }
            }
        })
        .buffer_unordered(in_flight)
        .for_each(|()| async {})
        .await;
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
        let ev = build(regarding.clone(), &said, &reporter(true), now);
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
        let ev = build(regarding, &said, &reporter(false), Timestamp::UNIX_EPOCH);
        assert_eq!(ev.metadata.name.as_deref(), Some("front.0"));
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
