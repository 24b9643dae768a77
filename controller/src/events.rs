//! Publishing the state machine's Events (`events.k8s.io/v1`), shown by `kubectl describe`.
//!
//! Repeats are already suppressed upstream (the state machine reports a failure once until
//! it changes). Events go through the publisher the speaker uses too
//! ([`ironlb_k8s::events::EventPublisher`]): similar Events folded into one series, a token
//! bucket per Service and reason, at most 600 writes a minute, a cache of 4,096 series,
//! 16 writes in flight and 10,000 waiting; beyond that Events are dropped and counted in
//! `ironlb_events_total`.

use ironlb_k8s::events::aggregate::Rate;
use ironlb_k8s::events::{self, EventMetrics, EventPublisher, Limits, Reporter, Said};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

use crate::reconcile::{EventOut, Subject};

/// The `reportingController` of every Event.
pub const CONTROLLER: &str = "ironlb.io/controller";

/// Events waiting (more are dropped), writes in flight at once, aggregation and rates:
/// 10k Services allocated at once are 10k different objects, so the ceiling is what
/// bounds that burst (the rest are dropped, counted).
const LIMITS: Limits = Limits {
    queue: 10_000,
    in_flight: 16,
    rate: Rate {
        burst: 10,
        refill: Duration::from_secs(30),
        update_interval: Duration::from_secs(10),
        series_idle: Duration::from_secs(6 * 60),
        per_minute: 600,
        capacity: 4096,
    },
};

/// Publishes Events about Services and the IronLB ConfigMap, through the bounded publisher
/// the speaker uses too: never waits for the API.
#[derive(Clone)]
pub struct Publisher {
    events: EventPublisher,
    config_map: ObjectReference,
}

impl Publisher {
    /// A publisher reporting as instance `instance`, with the ConfigMap's namespace and
    /// name for config Events. Starts the task creating them.
    pub fn new(
        client: kube::Client,
        instance: &str,
        namespace: &str,
        config_name: &str,
        metrics: EventMetrics,
    ) -> Self {
        Self {
            events: EventPublisher::new(client, reporter(instance), LIMITS, metrics),
            config_map: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("ConfigMap".to_owned()),
                namespace: Some(namespace.to_owned()),
                name: Some(config_name.to_owned()),
                ..ObjectReference::default()
            },
        }
    }

    /// Sets the ConfigMap's uid once it is known (`kubectl describe` matches on it).
    pub fn set_config_map_uid(&mut self, uid: Option<String>) {
        self.config_map.uid = uid;
    }

    /// Queues one Event; a full queue drops it (logged).
    pub fn publish(&self, event: EventOut) {
        let regarding = reference(&event.subject, &self.config_map);
        self.events.publish(regarding, said(event));
    }
}

fn reporter(instance: &str) -> Reporter {
    Reporter {
        controller: CONTROLLER,
        instance: instance.to_owned(),
        // One leader reports: names need no instance.
        name_with_instance: false,
    }
}

fn said(event: EventOut) -> Said {
    Said {
        reason: event.reason,
        action: event.action,
        note: event.note,
    }
}

/// The Event object the publisher creates for `event` at time `now`.
pub fn build(
    event: &EventOut,
    config_map: &ObjectReference,
    instance: &str,
    now: Timestamp,
) -> Event {
    let regarding = reference(&event.subject, config_map);
    let reporter = reporter(instance);
    let name = events::name_at(&regarding, &reporter, now);
    events::build(regarding, &said(event.clone()), &reporter, name, now)
}

fn reference(subject: &Subject, config_map: &ObjectReference) -> ObjectReference {
    match subject {
        Subject::ConfigMap => config_map.clone(),
        Subject::Service { key, uid } => {
            events::service_ref(key, (!uid.is_empty()).then(|| uid.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::ServiceKey;

    #[test]
    fn service_event_regards_the_service_by_uid() {
        let out = EventOut {
            subject: Subject::Service {
                key: ServiceKey::new("ns", "web"),
                uid: "u1".to_owned(),
            },
            reason: ironlb_k8s::events::Reason::AllocationFailed,
            action: "PoolExhausted",
            note: "no free IPv4 address".to_owned(),
        };
        let ev = build(
            &out,
            &ObjectReference::default(),
            "pod-1",
            Timestamp::UNIX_EPOCH,
        );
        let r = ev.regarding.unwrap_or_default();
        assert_eq!(
            (
                r.kind.as_deref(),
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.uid.as_deref()
            ),
            (Some("Service"), Some("ns"), Some("web"), Some("u1"))
        );
        assert_eq!(ev.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(ev.metadata.name.as_deref(), Some("web.0"));
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert_eq!(ev.action.as_deref(), Some("PoolExhausted"));
        assert_eq!(ev.reporting_controller.as_deref(), Some(CONTROLLER));
    }
}
