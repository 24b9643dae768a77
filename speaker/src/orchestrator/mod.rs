//! The speaker's orchestrator as a pure state machine, like the controller's `Reconciler`:
//! [`Orchestrator::handle`] takes an [`Input`] (a watch event reduced to facts, a gossip
//! membership, the responder's snapshot, the BGP sessions, a timer firing) and returns the
//! [`Output`]s the driver ([`crate::run`]) performs. No client, no sockets, no clocks: the
//! time of each input is a parameter, so start-up gating, the gossip grace period and the
//! debounce are tested with scripted inputs.
//!
//! It owns the config in force, the indexes of Services, EndpointSlices and Nodes, the
//! election's winners, this node's layer-2 set, and the announcement view.
//!
//! ```text
//!  Services/Slices/Nodes/Config ──> indexes, config ──┐ (debounce: WakeAt, then Wake)
//!  Members ───────────────────────> live set ─────────┤ (at once: WakeAt now)
//!                                                      v
//!                          gate open? gossip converged or grace over?
//!                                                      v
//!        election::elect ──> plan::layer2_set ──> SetLayer2     bgp::plan ──> SetBgp
//!                     │
//!  Answered, Sessions ┴──> view::gather ──> Publish (on change) ; Events on Services
//! ```
//! Invariants:
//! * Nothing is elected before Services, EndpointSlices and Nodes have each been listed
//!   completely and the config has been read or found absent ([`StartGate`]).
//! * With gossip, the first election waits until every Ready node's speaker is a member,
//!   at most [`GOSSIP_GRACE`] after start, so a starting speaker never claims every IP.
//! * Watch changes re-elect [`DEBOUNCE`] after the first change of a burst; a membership
//!   change re-elects at once (a lost member is the failover case).
#![forbid(unsafe_code)]

use crate::bgp::{BgpPlan, PeerStatus};
use crate::election::{self, NodeView, ServiceView, Winner};
use crate::k8s::facts::{self, NodeFacts, ServiceFacts, SliceFacts};
use crate::k8s::index::{self, Index};
use crate::l2::{Answered, Conflicts, IfaceSelection, L2Event};
use crate::plan;
use crate::run::Settings;
use crate::view::{self, AnnouncementView, BgpChange, SessionView};
use ironlb_config::Config;
use ironlb_k8s::ServiceKey;
use ironlb_k8s::events::{Reason, Said};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

#[cfg(test)]
mod tests;

/// The action of every Event the speaker reports.
pub(crate) const ANNOUNCE: &str = "Announce";
/// How long to wait after a change for more changes before re-electing.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(50);
/// How long gossip gets to find the other speakers before the first election.
pub(crate) const GOSSIP_GRACE: Duration = Duration::from_secs(2);

/// Everything the orchestrator reacts to.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// A Service's facts changed (or a list of them began or ended).
    Services(index::Event<ServiceFacts>),
    /// An EndpointSlice's facts changed.
    Slices(index::Event<SliceFacts>),
    /// A Node's facts changed.
    Nodes(index::Event<NodeFacts>),
    /// The config its sources make, once all are listed (IronLB's ConfigMap and MetalLB's
    /// objects kept in the cluster; `ironlb_k8s::config_source`): a document, `None` when
    /// there is no source at all (read as an empty config), or why the sources do not make
    /// one (the last good config is kept).
    Config(Result<Option<String>, ironlb_config::ConfigErrors>),
    /// A watch call failed (it is retried); re-elects like any change.
    WatchFailed,
    /// The live gossip members now.
    Members(BTreeSet<String>),
    /// What the layer-2 responder answers for now.
    Answered(Arc<Answered>),
    /// Conflicts per IP the layer-2 responder answers for (at most every 10 s).
    Conflicts(Arc<Conflicts>),
    /// The BGP sessions' states now.
    Sessions(Vec<PeerStatus>),
    /// Something the layer-2 responder reports (for Events).
    L2(L2Event),
    /// The time asked for by the last [`Output::WakeAt`] has come.
    Wake,
}

/// A metric to update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricUpdate {
    /// `ironlb_config_stale`: whether the last config seen was rejected.
    ConfigStale(bool),
    /// `ironlb_gossip_members`: live members seen by gossip (0 without gossip).
    GossipMembers(usize),
    /// `ironlb_election_changes_total`: this node's layer-2 set changed.
    ElectionChanged,
    /// `ironlb_announced_ips{protocol="layer2"}`: IPs this node announces over layer 2.
    Layer2Announced(usize),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Send [`Input::Wake`] at this time, replacing any earlier request.
    WakeAt(Instant),
    /// Gossip with these speakers (node name to gossip address).
    SetGossipPeers(BTreeMap<String, SocketAddr>),
    /// Hand the layer-2 responder this node's whole set.
    SetLayer2(BTreeMap<IpAddr, IfaceSelection>),
    /// Hand BGP this node's whole plan.
    SetBgp(BgpPlan),
    /// Make this node's NodeAnnouncement show `view`; the first one also starts the
    /// writer, owned by the Node of `node_uid` when known.
    Publish {
        /// The whole content.
        view: Arc<AnnouncementView>,
        /// This node's uid, when the Node has been seen.
        node_uid: Option<String>,
    },
    /// Report an Event on a Service.
    Event {
        /// The Service.
        service: ServiceKey,
        /// Its uid (`kubectl describe` matches Events to objects by uid).
        uid: Option<String>,
        /// What it says.
        said: Said,
    },
    /// Update a metric.
    Metric(MetricUpdate),
    /// An election ran: everything it needs has been read (the first one makes the speaker
    /// ready).
    Elected,
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

    /// Whether an election may run.
    fn is_open(&self) -> bool {
        self.services && self.slices && self.nodes && self.config
    }
}

/// The orchestrator's state.
#[derive(Debug)]
pub(crate) struct Orchestrator {
    settings: Settings,
    started: Instant,
    gate: StartGate,
    /// The config in force (the last good one).
    config: Config,
    services: Index<ServiceFacts>,
    slices: Index<SliceFacts>,
    nodes: Index<NodeFacts>,
    /// The live gossip members; `None` without gossip (liveness is readiness then).
    members: Option<BTreeSet<String>>,
    /// When a re-election is due; `None` when nothing changed since the last one.
    wake: Option<Instant>,
    winners: BTreeMap<IpAddr, Winner>,
    layer2: BTreeMap<IpAddr, IfaceSelection>,
    answered: Arc<Answered>,
    /// The layer-2 responder's conflicts per IP.
    conflicts: Arc<Conflicts>,
    sessions: Vec<SessionView>,
    /// The IPs offered to BGP by the last plan.
    bgp_ips: BTreeSet<IpAddr>,
    /// The Services holding each IP, at the last election.
    holders: BTreeMap<IpAddr, BTreeSet<ServiceKey>>,
    /// The announcement view handed over last; `None` before the first election.
    shown: Option<Arc<AnnouncementView>>,
}

impl Orchestrator {
    /// An orchestrator started at `now`. `members` is the gossip membership now, or `None`
    /// when the speaker runs without gossip.
    pub(crate) fn new(settings: Settings, members: Option<BTreeSet<String>>, now: Instant) -> Self {
        Orchestrator {
            settings,
            started: now,
            gate: StartGate::default(),
            config: Config::default(),
            services: Index::default(),
            slices: Index::default(),
            nodes: Index::default(),
            members,
            wake: None,
            winners: BTreeMap::new(),
            layer2: BTreeMap::new(),
            answered: Arc::default(),
            conflicts: Arc::default(),
            sessions: Vec::new(),
            bgp_ips: BTreeSet::new(),
            holders: BTreeMap::new(),
            shown: None,
        }
    }

    /// Handles one input that arrived at `now`.
    pub(crate) fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Services(ev) => {
                if self.services.apply(ev) {
                    self.gate.listed(Listed::Services);
                }
                self.changed(now, &mut out);
            }
            Input::Slices(ev) => {
                if self.slices.apply(ev) {
                    self.gate.listed(Listed::EndpointSlices);
                }
                self.changed(now, &mut out);
            }
            Input::Nodes(ev) => {
                if self.nodes.apply(ev) {
                    self.gate.listed(Listed::Nodes);
                }
                self.changed(now, &mut out);
            }
            Input::Config(config) => {
                match config {
                    Ok(text) => self.load_config(text.as_deref().unwrap_or(""), &mut out),
                    Err(errors) => reject_config(&errors, &mut out),
                }
                self.gate.config = true;
                self.changed(now, &mut out);
            }
            Input::WatchFailed => self.changed(now, &mut out),
            Input::Members(members) => {
                if self.members.is_some() {
                    self.members = Some(members);
                }
                // Re-elect at once, without the debounce: a lost member is the failover
                // case, and gossip already batches its changes.
                self.wake_at(now, &mut out);
            }
            Input::Answered(answered) => {
                self.answered = answered;
                self.show(&mut out);
            }
            Input::Conflicts(conflicts) => {
                self.conflicts = conflicts;
                self.show(&mut out);
            }
            Input::Sessions(sessions) => {
                self.sessions = sessions.iter().map(session_view).collect();
                self.show(&mut out);
            }
            Input::L2(ev) => self.report_l2(ev, &mut out),
            Input::Wake => {
                if self.wake.take().is_some() {
                    self.elect(now, &mut out);
                }
            }
        }
        out
    }

    /// A watched object changed: re-elect after the debounce, counted from the first
    /// change since the last election.
    fn changed(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.wake.is_none() {
            self.wake_at(now + DEBOUNCE, out);
        }
    }

    fn wake_at(&mut self, at: Instant, out: &mut Vec<Output>) {
        self.wake = Some(at);
        out.push(Output::WakeAt(at));
    }

    /// Loads `text` (empty: an empty config). A document that does not parse leaves the
    /// last good config in force and marks the config stale.
    fn load_config(&mut self, text: &str, out: &mut Vec<Output>) {
        match ironlb_config::parse(text) {
            Ok(c) => {
                out.push(Output::Metric(MetricUpdate::ConfigStale(false)));
                if c != self.config {
                    info!(pools = c.pools.len(), "config loaded");
                }
                self.config = c;
            }
            Err(e) => reject_config(&e, out),
        }
    }

    fn elect(&mut self, now: Instant, out: &mut Vec<Output>) {
        if !self.gate.is_open() {
            return;
        }
        if let Some(members) = &self.members {
            out.push(Output::SetGossipPeers(self.gossip_peers()));
            // Before gossip has converged every other speaker looks dead: wait (until every
            // Ready node's speaker is a member, at most the grace), rather than claim every
            // IP for a moment and steal traffic.
            let grace_over = now.saturating_duration_since(self.started) >= GOSSIP_GRACE;
            if !grace_over && !self.all_ready_are_members(members) {
                // Re-checked on the next membership change, or at the grace's end.
                self.wake_at(self.started + GOSSIP_GRACE, out);
                return;
            }
        }
        let count = self.members.as_ref().map_or(0, BTreeSet::len);
        out.push(Output::Metric(MetricUpdate::GossipMembers(count)));
        let nodes = self.node_views();
        let services = self.service_views();
        self.winners = election::elect(&self.config, &nodes, &services);
        out.push(Output::Elected);
        debug!(
            ips = self.winners.len(),
            services = services.len(),
            "elected"
        );
        let me = self.settings.node_name.as_str();
        let next = plan::layer2_set(me, &self.config, &self.winners);
        if next != self.layer2 {
            out.push(Output::Metric(MetricUpdate::ElectionChanged));
            info!(node = %me, ips = next.len(), "announcement set changed");
        }
        out.push(Output::Metric(MetricUpdate::Layer2Announced(next.len())));
        self.layer2 = next;
        out.push(Output::SetLayer2(self.layer2.clone()));
        let wanted = crate::bgp::plan(me, self.router_id(), &self.config, &nodes, &services);
        self.bgp_ips.clone_from(&wanted.ips);
        self.holders = holders(&services);
        out.push(Output::SetBgp(wanted));
        if self.shown.is_none() {
            // The first view: published even if empty, so the node is listed.
            let view = self.gather();
            let changes = view::bgp_changes(&AnnouncementView::default(), &view, &self.bgp_ips);
            let view = Arc::new(view);
            self.shown = Some(Arc::clone(&view));
            out.push(Output::Publish {
                view,
                node_uid: self.my_node().and_then(|n| n.uid.clone()),
            });
            self.report_bgp(changes, out);
        } else {
            self.show(out);
        }
    }

    /// The announcement view now; handed over when it changed, with Events for the BGP
    /// changes. Nothing before the first election.
    fn show(&mut self, out: &mut Vec<Output>) {
        let Some(last) = self.shown.clone() else {
            return;
        };
        let next = self.gather();
        let changes = view::bgp_changes(&last, &next, &self.bgp_ips);
        if next != *last {
            let next = Arc::new(next);
            self.shown = Some(Arc::clone(&next));
            out.push(Output::Publish {
                view: next,
                node_uid: self.my_node().and_then(|n| n.uid.clone()),
            });
        }
        self.report_bgp(changes, out);
    }

    fn gather(&self) -> AnnouncementView {
        let mut view = view::gather(&self.answered, &self.bgp_ips, &self.sessions, &self.holders);
        // Only for IPs shown as answered by layer 2 (the snapshots may be a moment apart).
        view.conflicts = self
            .conflicts
            .iter()
            .filter(|(ip, _)| self.answered.contains_key(ip))
            .map(|(ip, c)| (*ip, c.clone()))
            .collect();
        view
    }

    fn my_node(&self) -> Option<&NodeFacts> {
        self.nodes.get("", &self.settings.node_name)
    }

    /// This node's default BGP router id: its IPv4 InternalIP.
    fn router_id(&self) -> Option<std::net::Ipv4Addr> {
        match self.my_node()?.internal_ip? {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }
    }

    /// Gossip peers: every node's speaker at its InternalIP.
    fn gossip_peers(&self) -> BTreeMap<String, SocketAddr> {
        self.nodes
            .iter()
            .filter_map(|(_, n)| {
                let ip = n.internal_ip?;
                Some((
                    n.view.name.clone(),
                    SocketAddr::new(ip, self.settings.gossip_port),
                ))
            })
            .collect()
    }

    /// Whether every Ready node is a gossip member (the cluster view is complete).
    fn all_ready_are_members(&self, members: &BTreeSet<String>) -> bool {
        self.nodes
            .iter()
            .map(|(_, n)| &n.view)
            .filter(|v| v.ready)
            .all(|v| members.contains(&v.name))
    }

    /// The election's nodes. With gossip, a node is live only if its speaker is a gossip
    /// member; without, liveness is the node's readiness.
    fn node_views(&self) -> Vec<NodeView> {
        self.nodes
            .iter()
            .map(|(_, n)| {
                let mut v = n.view.clone();
                if let Some(live) = &self.members {
                    v.live = v.ready && live.contains(&v.name);
                }
                v
            })
            .collect()
    }

    fn service_views(&self) -> Vec<ServiceView> {
        let ready = facts::ready_nodes_by_service(self.slices.iter().map(|(_, f)| f));
        self.services
            .iter()
            .map(|(key, f)| {
                let key = ServiceKey {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                };
                facts::service_view(key, f, &ready)
            })
            .collect()
    }

    /// An Event on `key`, with its uid when known.
    fn event(&self, key: &ServiceKey, reason: Reason, note: &str, out: &mut Vec<Output>) {
        let uid = self
            .services
            .get(&key.namespace, &key.name)
            .and_then(|s| s.uid.clone());
        out.push(Output::Event {
            service: key.clone(),
            uid,
            said: Said {
                reason,
                action: ANNOUNCE,
                note: note.to_owned(),
            },
        });
    }

    /// Events for the responder's reports on every Service holding the IP.
    fn report_l2(&self, ev: L2Event, out: &mut Vec<Output>) {
        let node = &self.settings.node_name;
        let (ip, reason, note) = match &ev {
            L2Event::Took { ip, iface } => (
                *ip,
                Reason::NodeAssigned,
                format!("announcing {ip} from node {node} on {iface}"),
            ),
            L2Event::Conflict { ip, iface, mac } => (
                *ip,
                Reason::L2Conflict,
                format!("{mac} also claims {ip} on {iface}; node {node} announces it"),
            ),
            L2Event::Released { .. } => return,
        };
        let Some(w) = self.winners.get(&ip) else {
            return;
        };
        for key in &w.services {
            self.event(key, reason, &note, out);
        }
    }

    /// Events for BGP: a Normal `nodeAssigned` when this node starts advertising an IP, a
    /// Warning `BGPNotAdvertised` when a wanted IP loses its last Established session.
    fn report_bgp(&self, changes: Vec<BgpChange>, out: &mut Vec<Output>) {
        let node = &self.settings.node_name;
        for change in changes {
            let (ip, reason, note) = match change {
                BgpChange::Advertised { ip, peers } => {
                    let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
                    let note = format!(
                        "announcing {ip} from node {node} over BGP to {}",
                        peers.join(", ")
                    );
                    (ip, Reason::NodeAssigned, note)
                }
                BgpChange::Lost { ip } => {
                    let note = format!(
                        "node {node} no longer advertises {ip}: no Established BGP session of its family"
                    );
                    (ip, Reason::BgpNotAdvertised, note)
                }
            };
            for key in self.holders.get(&ip).into_iter().flatten() {
                self.event(key, reason, &note, out);
            }
        }
    }
}

/// A config that does not read or validate: the last good one stays in force, marked stale.
fn reject_config(errors: &ironlb_config::ConfigErrors, out: &mut Vec<Output>) {
    out.push(Output::Metric(MetricUpdate::ConfigStale(true)));
    warn!(error = %errors, "config rejected, keeping the last good one");
}

/// A BGP session as the announcement view reads it.
fn session_view(s: &PeerStatus) -> SessionView {
    SessionView {
        peer: s.key.peer.ip(),
        state: s.state.into(),
        local: s.local_address,
    }
}

/// The Services holding each IP.
fn holders(services: &[ServiceView]) -> BTreeMap<IpAddr, BTreeSet<ServiceKey>> {
    let mut out: BTreeMap<IpAddr, BTreeSet<ServiceKey>> = BTreeMap::new();
    for svc in services {
        for ip in &svc.ips {
            out.entry(*ip).or_default().insert(svc.key.clone());
        }
    }
    out
}
