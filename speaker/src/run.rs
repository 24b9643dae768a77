//! The speaker's driver: it feeds the pure [`Orchestrator`] every input (watch events
//! reduced to facts, gossip membership, the layer-2 responder's snapshot and events, the
//! BGP sessions, its own timer) and performs the outputs. It decides nothing itself.
//!
//! ```text
//!  k8s::watch (Services, EndpointSlices, Nodes, ConfigMap) ─┐
//!  gossip members ──────────────────────────────────────────┤
//!  L2Handle::answered (snapshot), L2Event ──────────────────┼──> Orchestrator::handle
//!  BgpHandle::sessions ─────────────────────────────────────┤           │
//!  wake timer (one deadline, set by WakeAt) ────────────────┘           │
//!        ┌──────────────────────────────────────────────────────────────┘
//!        ├─ SetLayer2 ──> L2Handle::set_announced     ├─ SetGossipPeers ──> GossipHandle
//!        ├─ SetBgp ─────> BgpHandle::set              ├─ Event ──> EventPublisher (bounded)
//!        ├─ Publish ────> NodeAnnouncementWriter task (watch, latest wins; writes on change)
//!        └─ Metric ─────> Metrics
//! ```
//! When the API server is unreachable the watchers retry with backoff and the orchestrator
//! keeps its last view, so announcements go on from it.
#![forbid(unsafe_code)]

use crate::bgp::BgpHandle;
use crate::gossip::GossipHandle;
use crate::k8s::announcement_writer::{self, NodeAnnouncementWriter};
use crate::k8s::watch as watches;
use crate::l2::{L2Event, L2Handle};
use crate::metrics::Metrics;
use crate::orchestrator::{Input, MetricUpdate, Orchestrator, Output};
use crate::view::AnnouncementView;
use futures::StreamExt;
use ironlb_k8s::events::aggregate::Rate;
use ironlb_k8s::events::{self, EventPublisher, Limits, Reporter};
use kube::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch as latest};
use tokio::time::Instant;
use tracing::warn;

/// The `reportingController` of the speaker's Events.
pub const REPORTING_CONTROLLER: &str = "ironlb.io/speaker";

/// Events waiting and in flight: a thousand IPs taken at once is a thousand Events, sent
/// a few at a time over one connection rather than all at once, and at most 120 a minute
/// (the rest are dropped, counted). A LAN flooding conflicts is one Event per IP and
/// Service whose series count grows. 1,024 series remembered (about 0.5 MiB when full).
const EVENT_LIMITS: Limits = Limits {
    queue: 2048,
    in_flight: 4,
    rate: Rate {
        burst: 10,
        refill: Duration::from_secs(30),
        update_interval: Duration::from_secs(10),
        series_idle: Duration::from_secs(6 * 60),
        per_minute: 120,
        capacity: 1024,
    },
};

/// What the speaker needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's name (`NODE_NAME`).
    pub node_name: String,
    /// IronLB's namespace (ConfigMap).
    pub namespace: String,
    /// The ConfigMap's name; the document is under the key `config`.
    pub config_name: String,
    /// MetalLB's namespace, whose `metallb.io` objects are read in place (`None`: never).
    pub metallb_namespace: Option<String>,
    /// The `loadBalancerClass` served besides Services with no class.
    pub lb_class: String,
    /// UDP port of the gossip (the same on every node).
    pub gossip_port: u16,
    /// How fast the gossip detects a failure.
    pub gossip_timing: crate::gossip::detector::Timing,
}

/// Why the speaker stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The layer-2 responder ended.
    #[error("layer-2 responder stopped")]
    ResponderStopped,
    /// The BGP announcer ended.
    #[error("BGP announcer stopped")]
    BgpStopped,
    /// A watch stream ended (it never should: watchers retry forever).
    #[error("watch stream of {0} ended")]
    StreamEnded(&'static str),
}

/// What the driver holds to perform outputs.
struct Performer<'a> {
    client: Client,
    settings: &'a Settings,
    metrics: Metrics,
    events: EventPublisher,
    l2: &'a L2Handle,
    gossip: Option<&'a GossipHandle>,
    bgp: &'a BgpHandle,
    /// The NodeAnnouncement writer's input, once started.
    writer: Option<latest::Sender<Arc<AnnouncementView>>>,
    /// When to wake the orchestrator.
    wake: Option<Instant>,
    /// Told when an election has run.
    elected: latest::Sender<bool>,
}

/// The drivers the orchestrator's outputs go to, and what they report back.
pub struct Drivers<'a> {
    /// The layer-2 responder.
    pub l2: L2Handle,
    /// Its reports (conflicts, takeovers) that become Events.
    pub l2_events: mpsc::Receiver<L2Event>,
    /// Gossip, when it started.
    pub gossip: Option<&'a GossipHandle>,
    /// The BGP sessions.
    pub bgp: &'a BgpHandle,
    /// Set once the first election has run (one of the speaker's readiness conditions).
    pub elected: latest::Sender<bool>,
}

/// Runs until the responder or BGP stops. Watch errors are logged and retried, never fatal.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Metrics,
    drivers: Drivers<'_>,
) -> Result<(), RunError> {
    let Drivers {
        l2,
        mut l2_events,
        gossip,
        bgp,
        elected,
    } = drivers;
    let mut changes = watches::changes(&client, &settings);
    let mut members = gossip.map(|g| g.members.clone());
    let first_members = members.as_mut().map(|m| m.borrow_and_update().clone());
    let mut orchestrator =
        Orchestrator::new(settings.clone(), first_members, Instant::now().into_std());
    let mut answered = l2.answered();
    let mut conflicts = l2.conflicts();
    let mut sessions = bgp.sessions();
    let mut performer = Performer {
        events: EventPublisher::new(
            client.clone(),
            Reporter {
                controller: REPORTING_CONTROLLER,
                instance: settings.node_name.clone(),
                name_with_instance: true,
            },
            EVENT_LIMITS,
            metrics.events.clone(),
        ),
        client,
        settings: &settings,
        metrics,
        l2: &l2,
        gossip,
        bgp,
        writer: None,
        wake: None,
        elected,
    };
    loop {
        let wake = performer.wake;
        let input = tokio::select! {
            change = changes.next() => match change {
                None => return Err(RunError::StreamEnded("watch")),
                Some(Ok(input)) => input,
                Some(Err(f)) => {
                    warn!(resource = %f.kind, error = %f.error, "watch failed, retrying");
                    Input::WatchFailed
                }
            },
            Some(m) = async {
                match members.as_mut() {
                    Some(m) => m.changed().await.ok().map(|()| m.borrow_and_update().clone()),
                    None => std::future::pending().await,
                }
            } => Input::Members(m),
            Some(ev) = l2_events.recv() => Input::L2(ev),
            Ok(()) = answered.changed() => Input::Answered(Arc::clone(&answered.borrow_and_update())),
            Ok(()) = conflicts.changed() => Input::Conflicts(Arc::clone(&conflicts.borrow_and_update())),
            Ok(()) = sessions.changed() => Input::Sessions(sessions.borrow_and_update().clone()),
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                performer.wake = None;
                Input::Wake
            }
        };
        for output in orchestrator.handle(input, Instant::now().into_std()) {
            performer.perform(output)?;
        }
    }
}

impl Performer<'_> {
    fn perform(&mut self, output: Output) -> Result<(), RunError> {
        match output {
            Output::WakeAt(at) => self.wake = Some(Instant::from_std(at)),
            Output::SetGossipPeers(peers) => {
                if let Some(g) = self.gossip {
                    g.set_peers(peers);
                }
            }
            Output::SetLayer2(set) => {
                self.l2
                    .set_announced(set)
                    .map_err(|_| RunError::ResponderStopped)?;
            }
            Output::SetBgp(plan) => self.bgp.set(plan).map_err(|_| RunError::BgpStopped)?,
            Output::Publish { view, node_uid } => match &self.writer {
                Some(to) => {
                    to.send_replace(view);
                }
                None => self.writer = Some(self.start_writer(view, node_uid)),
            },
            Output::Event { service, uid, said } => {
                let regarding = events::service_ref(&service, uid);
                // Queued, never awaited: the API server may be down; announcing must not
                // wait for it.
                self.events.publish(regarding, said);
            }
            Output::Metric(m) => self.metric(m),
            Output::Elected => {
                self.elected
                    .send_if_modified(|e| !std::mem::replace(e, true));
            }
        }
        Ok(())
    }

    fn metric(&self, update: MetricUpdate) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let m = &self.metrics;
        match update {
            MetricUpdate::ConfigStale(stale) => m.config_stale.set(i64::from(stale)),
            MetricUpdate::GossipMembers(n) => m.gossip_members.set(count(n)),
            MetricUpdate::ElectionChanged => m.election_changes.inc(),
            MetricUpdate::Layer2Announced(n) => m
                .announced_ips
                .with_label_values(&[self.settings.node_name.as_str(), "layer2"])
                .set(count(n)),
        }
    }

    /// Starts the task that keeps this node's NodeAnnouncement up to date; the object is
    /// owned by the Node (when its uid is known), so deleting the Node deletes it.
    fn start_writer(
        &self,
        first: Arc<AnnouncementView>,
        node_uid: Option<String>,
    ) -> latest::Sender<Arc<AnnouncementView>> {
        let writer = NodeAnnouncementWriter::new(
            self.client.clone(),
            &self.settings.node_name,
            node_uid.as_deref(),
        );
        let (tx, rx) = latest::channel(first);
        tokio::spawn(announcement_writer::publish_changes(writer, rx));
        tx
    }
}
