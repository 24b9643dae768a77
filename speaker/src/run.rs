//! The speaker's driver: the watches, the election after each change (debounced), this
//! node's plan handed to the layer-2 responder and to BGP, the announcement view handed
//! to the NodeAnnouncement writer, and the responder's events turned into Kubernetes
//! Events on the Services concerned.
//!
//! ```text
//!  Service watcher ───────> index ┐
//!  EndpointSlice watcher ─> index ┤
//!  Node reflector ────────────────┼──> select! ──(debounce)──> election::elect ──> plan
//!  ConfigMap watcher ─────────────┤                                  │              │
//!  gossip members ────────────────┤                                  │   L2Handle::set_announced
//!  L2Event (Took/Conflict) ───────┘── Events on Services <── winners ┘   BgpHandle::set
//!  L2Handle::answered, BGP sessions ──> view::gather ──> NodeAnnouncementWriter (own task)
//! ```
//! Of Services and EndpointSlices only the facts the election reads are kept
//! ([`crate::k8s::index`]); Nodes (few) are kept whole, trimmed ([`crate::k8s::watch`]).
//! What the node then announces (the responder's snapshot, the IPs offered to BGP, the BGP
//! sessions' states) is gathered into its NodeAnnouncement ([`crate::view`]), written by a
//! task of its own, only on change.
//!
//! When the API server is unreachable the indexes keep their last state and retry
//! with backoff, so announcements go on from the last known view. Nothing is announced
//! until Services, EndpointSlices and Nodes have each been listed once and the config has
//! been read (or found absent).
#![forbid(unsafe_code)]

use crate::bgp::BgpHandle;
use crate::election::{self, NodeView, ServiceKey, ServiceView, Winner};
use crate::gossip::GossipHandle;
use crate::k8s::events::{Events, Said};
use crate::k8s::facts::{self, ServiceFacts, SliceFacts};
use crate::k8s::index::Index;
use crate::k8s::node_announcement::{self, NodeAnnouncementWriter};
use crate::k8s::watch::{self as watches, Change};
use crate::l2::{Answered, L2Event, L2Handle};
use crate::metrics::Metrics;
use crate::plan;
use crate::view::{self, AnnouncementView, BgpChange, SessionView};
use futures::StreamExt;
use ironlb_config::Config;
use k8s_openapi::api::core::v1::{ConfigMap, Node, ObjectReference};
use kube::Client;
use kube::runtime::reflector::{self, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch as latest};
use tracing::{debug, info, warn};

/// How long to wait after a change for more changes before re-electing.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// How long gossip gets to find the other speakers before the first election.
const GOSSIP_GRACE: Duration = Duration::from_secs(2);

/// What the watch layer needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's name (`NODE_NAME`).
    pub node_name: String,
    /// IronLB's namespace (ConfigMap).
    pub namespace: String,
    /// The ConfigMap's name; the document is under the key `config`.
    pub config_name: String,
    /// The `loadBalancerClass` served besides Services with no class.
    pub lb_class: String,
    /// UDP port of the gossip (the same on every node).
    pub gossip_port: u16,
}

/// A kind of object whose first complete list the first election waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Services,
    EndpointSlices,
    Nodes,
}

/// Opens once Services, EndpointSlices and Nodes have each been listed completely and the
/// config has been read (or found absent). One flag per kind: a relist of one kind says
/// nothing about another, so it can never stand in for a kind not yet listed.
#[derive(Debug, Default)]
struct StartGate {
    services: bool,
    slices: bool,
    nodes: bool,
    config: bool,
}

impl StartGate {
    /// `kind` has completed a (re)list.
    fn listed(&mut self, kind: Listed) {
        match kind {
            Listed::Services => self.services = true,
            Listed::EndpointSlices => self.slices = true,
            Listed::Nodes => self.nodes = true,
        }
    }

    /// The config has been read, or found absent, once.
    fn config_read(&mut self) {
        self.config = true;
    }

    /// Whether an election may run.
    fn is_open(&self) -> bool {
        self.services && self.slices && self.nodes && self.config
    }
}

/// Why the watch layer stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
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

/// Runs until the responder stops. Watch errors are logged and retried, never fatal.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Metrics,
    l2: L2Handle,
    mut l2_events: mpsc::Receiver<L2Event>,
    gossip: Option<&GossipHandle>,
    bgp: &BgpHandle,
) -> Result<(), WatchError> {
    let started = tokio::time::Instant::now();
    let mut members = gossip.as_ref().map(|g| g.members.clone());
    let (nodes, mut changes) = watches::changes(&client, &settings);
    let mut services: Index<ServiceFacts> = Index::default();
    let mut slices: Index<SliceFacts> = Index::default();

    let events = Events::new(client.clone(), &settings.node_name);
    let mut gate = StartGate::default();
    // The config in force (the last good one), and whether the ConfigMap showed up in the
    // current list.
    let mut config = Config::default();
    let mut seen_in_list = false;
    let mut winners: BTreeMap<IpAddr, Winner> = BTreeMap::new();
    let mut mine: BTreeMap<IpAddr, crate::l2::IfaceSelection> = BTreeMap::new();
    // What the NodeAnnouncement shows: the interfaces the responder answers on (its
    // snapshot), the IPs offered to BGP, and the Services holding each IP.
    let mut shown = Shown::default();
    let mut answered = l2.answered();
    let mut sessions = bgp.sessions();
    let mut publish: Option<latest::Sender<Arc<AnnouncementView>>> = None;
    let mut dirty = false;
    let debounce = tokio::time::sleep(DEBOUNCE);
    tokio::pin!(debounce);

    loop {
        tokio::select! {
            change = changes.next() => {
                match change {
                    None => return Err(WatchError::StreamEnded("watch")),
                    Some(Err((what, e))) => {
                        warn!(resource = what, error = %e, "watch failed, retrying");
                    }
                    Some(Ok(Change::Objects)) => {}
                    Some(Ok(Change::Synced)) => gate.listed(Listed::Nodes),
                    Some(Ok(Change::Service(ev))) => {
                        if services.apply(ev) {
                            gate.listed(Listed::Services);
                        }
                    }
                    Some(Ok(Change::Slice(ev))) => {
                        if slices.apply(ev) {
                            gate.listed(Listed::EndpointSlices);
                        }
                    }
                    Some(Ok(Change::ConfigListStart)) => seen_in_list = false,
                    Some(Ok(Change::Config(cm))) => {
                        seen_in_list |= cm.is_some();
                        load_config(cm.as_deref(), &mut config, &metrics);
                    }
                    Some(Ok(Change::ConfigListDone)) => {
                        if !seen_in_list {
                            load_config(None, &mut config, &metrics);
                        }
                        gate.config_read();
                    }
                }
                if !dirty {
                    dirty = true;
                    debounce.as_mut().reset(tokio::time::Instant::now() + DEBOUNCE);
                }
            }
            Ok(()) = async {
                match members.as_mut() {
                    Some(m) => m.changed().await,
                    None => std::future::pending().await,
                }
            } => {
                // A speaker came or went: re-elect at once, without the debounce (a lost
                // member is the failover case, and gossip already batches its changes).
                dirty = true;
                debounce.as_mut().reset(tokio::time::Instant::now());
            }
            Some(ev) = l2_events.recv() => {
                // Events only: what the responder answers for comes as its snapshot below.
                report(&events, &settings, &winners, &services, ev);
            }
            Ok(()) = answered.changed() => {
                if let Some(to) = &publish {
                    let (next, changes) =
                        shown.update(&answered.borrow_and_update(), &sessions.borrow());
                    hand_over(to, next);
                    report_bgp(&events, &settings, &shown, &services, changes);
                }
            }
            Ok(()) = sessions.changed() => {
                if let Some(to) = &publish {
                    let (next, changes) =
                        shown.update(&answered.borrow(), &sessions.borrow_and_update());
                    hand_over(to, next);
                    report_bgp(&events, &settings, &shown, &services, changes);
                }
            }
            () = &mut debounce, if dirty => {
                dirty = false;
                if !gate.is_open() {
                    continue;
                }
                if let Some(g) = gossip {
                    g.set_peers(peers(&nodes, &settings));
                    // Before gossip has converged every other speaker looks dead: wait
                    // (until every Ready node's speaker is a member, at most the grace),
                    // rather than claim every IP for a moment and steal traffic.
                    if started.elapsed() < GOSSIP_GRACE
                        && !all_ready_are_members(&nodes, &g.members.borrow())
                    {
                        // Re-checked on the next membership change, or at the grace's end.
                        dirty = true;
                        debounce.as_mut().reset(started + GOSSIP_GRACE);
                        continue;
                    }
                }
                let live = members.as_ref().map(|m| m.borrow().clone());
                let count = live.as_ref().map_or(0, BTreeSet::len);
                metrics.gossip_members.set(i64::try_from(count).unwrap_or(i64::MAX));
                let views = Views::read(&services, &slices, &nodes, live.as_ref());
                winners = election::elect(&config, &views.nodes, &views.services);
                debug!(ips = winners.len(), services = views.services.len(), "elected");
                let next = plan::layer2_set(&settings.node_name, &config, &winners);
                if next != mine {
                    metrics.election_changes.inc();
                    info!(node = %settings.node_name, ips = next.len(), "announcement set changed");
                }
                metrics
                    .announced_ips
                    .with_label_values(&[settings.node_name.as_str(), "layer2"])
                    .set(i64::try_from(next.len()).unwrap_or(i64::MAX));
                mine = next;
                l2.set_announced(mine.clone()).map_err(|_| WatchError::ResponderStopped)?;
                let wanted = views.bgp_desired(&settings, &config, &nodes);
                shown.bgp_ips.clone_from(&wanted.ips);
                shown.services = views.holders();
                bgp.set(wanted).map_err(|_| WatchError::BgpStopped)?;
                let (next, changes) = shown.update(&answered.borrow(), &sessions.borrow());
                match &publish {
                    Some(to) => hand_over(to, next),
                    None => publish = Some(start_publisher(&client, &settings, &nodes, next)),
                }
                report_bgp(&events, &settings, &shown, &services, changes);
            }
        }
    }
}

/// Loads the ConfigMap's `config` key into `config` (absent: an empty config). A
/// document that does not parse leaves the last good config in force and marks the
/// config stale.
fn load_config(cm: Option<&ConfigMap>, config: &mut Config, metrics: &Metrics) {
    let text = cm
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get("config"))
        .map(String::as_str)
        .unwrap_or("");
    match ironlb_config::parse(text) {
        Ok(c) => {
            metrics.config_stale.set(0);
            if c != *config {
                info!(pools = c.pools.len(), "config loaded");
            }
            *config = c;
        }
        Err(e) => {
            metrics.config_stale.set(1);
            warn!(error = %e, "config rejected, keeping the last good one");
        }
    }
}

/// Whether every Ready node is a gossip member (the cluster view is complete).
fn all_ready_are_members(nodes: &Store<Node>, members: &BTreeSet<String>) -> bool {
    nodes
        .state()
        .iter()
        .filter_map(|n| facts::node_view(n))
        .filter(|v| v.ready)
        .all(|v| members.contains(&v.name))
}

/// Gossip peers: every node's speaker at its InternalIP.
fn peers(nodes: &Store<Node>, settings: &Settings) -> BTreeMap<String, SocketAddr> {
    nodes
        .state()
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            Some((name, facts::node_gossip_addr(n, settings.gossip_port)?))
        })
        .collect()
}

/// The plain views the election and the BGP announcer work on, read from the stores. With
/// gossip, a node is live only if its speaker is a gossip member; without, liveness is the
/// node's readiness.
struct Views {
    services: Vec<ServiceView>,
    nodes: Vec<NodeView>,
}

impl Views {
    fn read(
        services: &Index<ServiceFacts>,
        slices: &Index<SliceFacts>,
        nodes: &Store<Node>,
        live: Option<&BTreeSet<String>>,
    ) -> Views {
        let ready = facts::ready_nodes_by_service(slices.iter().map(|(_, f)| f));
        let services = services
            .iter()
            .map(|(key, facts)| {
                let key = ServiceKey {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                };
                facts::service_view(key, facts, &ready)
            })
            .collect();
        let nodes = nodes
            .state()
            .iter()
            .filter_map(|n| facts::node_view(n))
            .map(|mut v| {
                if let Some(live) = live {
                    v.live = v.ready && live.contains(&v.name);
                }
                v
            })
            .collect();
        Views { services, nodes }
    }

    /// This node's BGP sessions and routes (BGP has no election: every eligible node
    /// announces). The router id defaults to the node's IPv4 InternalIP.
    fn bgp_desired(
        &self,
        settings: &Settings,
        config: &Config,
        nodes: &Store<Node>,
    ) -> crate::bgp::BgpPlan {
        let router_id = nodes
            .get(&reflector::ObjectRef::new(&settings.node_name))
            .and_then(|n| facts::node_gossip_addr(&n, 0))
            .and_then(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            });
        crate::bgp::plan(
            &settings.node_name,
            router_id,
            config,
            &self.nodes,
            &self.services,
        )
    }

    /// The Services holding each IP.
    fn holders(&self) -> BTreeMap<IpAddr, BTreeSet<ServiceKey>> {
        let mut out: BTreeMap<IpAddr, BTreeSet<ServiceKey>> = BTreeMap::new();
        for svc in &self.services {
            for ip in &svc.ips {
                out.entry(*ip).or_default().insert(svc.key.clone());
            }
        }
        out
    }
}

/// What this node's NodeAnnouncement is built from, kept up to date by the loop.
#[derive(Default)]
struct Shown {
    bgp_ips: BTreeSet<IpAddr>,
    services: BTreeMap<IpAddr, BTreeSet<ServiceKey>>,
    /// The content handed over last (shared with the publisher: one copy of a thousand
    /// entries, not three).
    last: Arc<AnnouncementView>,
}

impl Shown {
    /// The NodeAnnouncement's content given what the responder answers for (`l2`) and the
    /// BGP sessions' states; remembered as the last content, and returned with the BGP
    /// changes since the previous one.
    fn update(
        &mut self,
        l2: &Answered,
        sessions: &[crate::bgp::PeerStatus],
    ) -> (Arc<AnnouncementView>, Vec<BgpChange>) {
        let sessions: Vec<SessionView> = sessions
            .iter()
            .map(|s| SessionView {
                peer: s.key.peer.ip(),
                state: s.state.into(),
                local: s.local_address,
            })
            .collect();
        let next = Arc::new(view::gather(l2, &self.bgp_ips, &sessions, &self.services));
        let changes = view::bgp_changes(&self.last, &next, &self.bgp_ips);
        self.last = Arc::clone(&next);
        (next, changes)
    }
}

/// Hands `next` to the publisher (which writes only on change).
fn hand_over(to: &latest::Sender<Arc<AnnouncementView>>, next: Arc<AnnouncementView>) {
    to.send_if_modified(|current| {
        let changed = **current != *next;
        if changed {
            *current = next;
        }
        changed
    });
}

/// Starts the task that keeps this node's NodeAnnouncement up to date; the object is owned
/// by the Node (when the store knows its uid), so deleting the Node deletes it.
fn start_publisher(
    client: &Client,
    settings: &Settings,
    nodes: &Store<Node>,
    first: Arc<AnnouncementView>,
) -> latest::Sender<Arc<AnnouncementView>> {
    let uid = nodes
        .get(&reflector::ObjectRef::new(&settings.node_name))
        .and_then(|n| n.metadata.uid.clone());
    let writer = NodeAnnouncementWriter::new(client.clone(), &settings.node_name, uid.as_deref());
    let (tx, rx) = latest::channel(first);
    tokio::spawn(node_announcement::publish_changes(writer, rx));
    tx
}

fn service_ref(key: &ServiceKey, services: &Index<ServiceFacts>) -> ObjectReference {
    // `kubectl describe` matches Events to the object by uid.
    let uid = services
        .get(&key.namespace, &key.name)
        .and_then(|s| s.uid.clone());
    ObjectReference {
        uid,
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        ..ObjectReference::default()
    }
}

/// Publishes an Event on every Service holding the IP, without blocking the loop (the
/// API server may be down; announcing must not wait for it).
fn report(
    events: &Events,
    settings: &Settings,
    winners: &BTreeMap<IpAddr, Winner>,
    services: &Index<ServiceFacts>,
    ev: L2Event,
) {
    let (ip, warning, reason, note) = match &ev {
        L2Event::Took { ip, iface } => (
            *ip,
            false,
            "nodeAssigned",
            format!(
                "announcing {ip} from node {} on {iface}",
                settings.node_name
            ),
        ),
        L2Event::Conflict { ip, iface, mac } => (
            *ip,
            true,
            "L2Conflict",
            format!(
                "{mac} also claims {ip} on {iface}; node {} announces it",
                settings.node_name
            ),
        ),
        L2Event::Released { .. } => return,
    };
    let Some(w) = winners.get(&ip) else { return };
    for key in &w.services {
        publish_event(events, services, key, warning, reason, &note);
    }
}

/// Events for BGP: a Normal `nodeAssigned` when this node starts advertising an IP, a
/// Warning `BGPNotAdvertised` when a wanted IP loses its last Established session.
fn report_bgp(
    events: &Events,
    settings: &Settings,
    shown: &Shown,
    services: &Index<ServiceFacts>,
    changes: Vec<BgpChange>,
) {
    let node = &settings.node_name;
    for change in changes {
        let (ip, warning, reason, note) = match change {
            BgpChange::Advertised { ip, peers } => {
                let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
                let note = format!(
                    "announcing {ip} from node {node} over BGP to {}",
                    peers.join(", ")
                );
                (ip, false, "nodeAssigned", note)
            }
            BgpChange::Lost { ip } => {
                let note = format!(
                    "node {node} no longer advertises {ip}: no Established BGP session of its family"
                );
                (ip, true, "BGPNotAdvertised", note)
            }
        };
        for key in shown.services.get(&ip).into_iter().flatten() {
            publish_event(events, services, key, warning, reason, &note);
        }
    }
}

fn publish_event(
    events: &Events,
    services: &Index<ServiceFacts>,
    key: &ServiceKey,
    warning: bool,
    reason: &'static str,
    note: &str,
) {
    let said = Said {
        warning,
        reason,
        note: note.to_owned(),
    };
    events.publish(service_ref(key, services), said);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_elected_before_all_three_kinds_are_listed() {
        let mut gate = StartGate::default();
        gate.config_read();
        // Relists of two kinds, however many, never stand in for the third.
        for kind in [
            Listed::Services,
            Listed::Nodes,
            Listed::Services,
            Listed::Nodes,
            Listed::Nodes,
        ] {
            gate.listed(kind);
            assert!(
                !gate.is_open(),
                "open after {kind:?} without EndpointSlices"
            );
        }
        gate.listed(Listed::EndpointSlices);
        assert!(gate.is_open());
    }

    #[test]
    fn nothing_is_elected_before_the_config_is_read() {
        let mut gate = StartGate::default();
        for kind in [Listed::Services, Listed::EndpointSlices, Listed::Nodes] {
            gate.listed(kind);
        }
        assert!(!gate.is_open());
        gate.config_read();
        assert!(gate.is_open());
    }
}
