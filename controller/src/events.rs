//! Publishing the state machine's Events (`events.k8s.io/v1`), shown by `kubectl describe`.
//!
//! Each Event is created directly, with no client-side cache: kube's `Recorder` keeps every
//! Event it sent for six minutes to fold repeats into series, which at 10k Services costs
//! more memory than the rest of the controller. Repeats are already suppressed upstream
//! (the state machine reports a failure once until it changes). The Event object itself is
//! built by [`ironlb_k8s::events::build`], as the speaker's are.

use ironlb_k8s::events::{self, Reporter, Said};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;

use crate::reconcile::{EventOut, Subject};

/// The `reportingController` of every Event.
pub const CONTROLLER: &str = "ironlb.io/controller";

/// Publishes Events about Services and the IronLB ConfigMap.
#[derive(Clone)]
pub struct Publisher {
    client: kube::Client,
    instance: String,
    config_map: ObjectReference,
}

impl Publisher {
    /// A publisher reporting as instance `instance`, with the ConfigMap's namespace and
    /// name for config Events.
    pub fn new(client: kube::Client, instance: &str, namespace: &str, config_name: &str) -> Self {
        Self {
            client,
            instance: instance.to_owned(),
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

    /// Publishes one Event.
    pub async fn publish(&self, event: &EventOut) -> Result<(), kube::Error> {
        let ev = build(event, &self.config_map, &self.instance, Timestamp::now());
        let namespace = ev
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &ev)
            .await
            .map(|_| ())
    }
}

/// The Event object for `event` at time `now`.
pub fn build(
    event: &EventOut,
    config_map: &ObjectReference,
    instance: &str,
    now: Timestamp,
) -> Event {
    let said = Said {
        reason: event.reason,
        action: event.action,
        note: event.note.clone(),
    };
    let reporter = Reporter {
        controller: CONTROLLER,
        instance: instance.to_owned(),
        // One leader reports: names need no instance.
        name_with_instance: false,
    };
    events::build(reference(&event.subject, config_map), &said, &reporter, now)
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
