//! Events on Services (`events.k8s.io/v1`), shown by `kubectl describe service`.
//!
//! Each Event is created directly, with no client-side cache: kube's `Recorder` keeps every
//! Event it sent for six minutes to fold repeats into series, which for a speaker taking a
//! thousand IPs at once is a thousand Events held for nothing. The speaker reports a change
//! once (a Took, a Conflict, a BGP advertisement won or lost), so there are no repeats to fold.
//!
//! Events go through a bounded queue to one task that keeps a few creates in flight: a
//! thousand IPs taken at once would otherwise be a thousand concurrent requests, each on a
//! TLS connection of its own, and with the API server down they would pile up unbounded.
//! When the queue is full an Event is dropped (logged); announcing never waits for it.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// The `reportingController` of the speaker's Events.
pub const CONTROLLER: &str = "ironlb.io/speaker";
/// Events waiting to be created; more are dropped.
const QUEUE: usize = 2048;
/// Creates in flight at once.
const IN_FLIGHT: usize = 4;

/// Why the speaker reports an Event on a Service; the reason strings are part of the
/// interface (tests and users match them) and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReason {
    /// Normal `nodeAssigned`: this node announces the Service's IP (layer 2 or BGP).
    NodeAssigned,
    /// Warning `L2Conflict`: another MAC claims an IP this node announces.
    L2Conflict,
    /// Warning `BGPNotAdvertised`: a wanted IP lost its last Established session.
    BgpNotAdvertised,
}

impl EventReason {
    /// The Event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::NodeAssigned => "nodeAssigned",
            EventReason::L2Conflict => "L2Conflict",
            EventReason::BgpNotAdvertised => "BGPNotAdvertised",
        }
    }

    /// Whether the Event is a Warning (else Normal).
    pub fn is_warning(self) -> bool {
        !matches!(self, EventReason::NodeAssigned)
    }
}

/// What an Event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Why.
    pub reason: EventReason,
    /// The message.
    pub note: String,
}

/// Publishes Events as one speaker instance (its node).
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<(ObjectReference, Said, Timestamp)>,
}

impl Events {
    /// Events reported by the speaker of node `instance`; starts the task creating them,
    /// which ends when the last `Events` is dropped.
    pub fn new(client: kube::Client, instance: &str) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(create_all(client, instance.to_owned(), rx));
        Self { queue }
    }

    /// Queues the Event: announcing never waits for the API (which may be down); a failure
    /// or a full queue is only logged.
    pub fn publish(&self, regarding: ObjectReference, said: Said) {
        if let Err(mpsc::error::TrySendError::Full((_, said, _))) =
            self.queue.try_send((regarding, said, Timestamp::now()))
        {
            warn!(reason = said.reason.as_str(), note = %said.note, "event dropped: too many waiting");
        }
    }
}

/// Creates the queued Events, `IN_FLIGHT` at a time.
async fn create_all(
    client: kube::Client,
    instance: String,
    rx: mpsc::Receiver<(ObjectReference, Said, Timestamp)>,
) {
    receiver_stream(rx)
        .map(|(regarding, said, at)| {
            let ev = build(regarding, &said, &instance, at);
            let namespace = ev.metadata.namespace.as_deref().unwrap_or("default");
            let api = Api::<Event>::namespaced(client.clone(), namespace);
            async move {
                if let Err(e) = api.create(&PostParams::default(), &ev).await {
                    debug!(reason = said.reason.as_str(), error = %e, "event not published");
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|()| async {})
        .await;
}

/// The receiver as a stream.
fn receiver_stream<T>(rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// The Event saying `said` about `regarding`, reported by `instance` at `now`.
pub fn build(regarding: ObjectReference, said: &Said, instance: &str, now: Timestamp) -> Event {
    Event {
        action: Some("Announce".to_owned()),
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
        reporting_controller: Some(CONTROLLER.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            // Unique per object and instant; several speakers may report at once.
            name: Some(format!(
                "{}.{}.{:x}",
                regarding.name.as_deref().unwrap_or("ironlb"),
                instance,
                now.as_nanosecond()
            )),
            ..ObjectMeta::default()
        },
        regarding: Some(regarding),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_regards_the_service_and_names_the_node() {
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            namespace: Some("web".into()),
            name: Some("front".into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        };
        let said = Said {
            reason: EventReason::L2Conflict,
            note: "02:00:00:00:00:01 also claims 192.0.2.200 on eth0".into(),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let ev = build(regarding.clone(), &said, "node1", now);
        assert_eq!(ev.regarding, Some(regarding));
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
        assert_eq!(ev.reporting_instance.as_deref(), Some("node1"));
        assert_eq!(ev.reporting_controller.as_deref(), Some(CONTROLLER));
    }

    #[test]
    fn reasons_are_the_documented_strings() {
        let table = [
            (EventReason::NodeAssigned, "nodeAssigned", false),
            (EventReason::L2Conflict, "L2Conflict", true),
            (EventReason::BgpNotAdvertised, "BGPNotAdvertised", true),
        ];
        for (reason, text, warning) in table {
            assert_eq!(reason.as_str(), text);
            assert_eq!(reason.is_warning(), warning, "{text}");
        }
    }
}
