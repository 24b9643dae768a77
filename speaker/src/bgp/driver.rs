//! The tokio side of BGP. [`BgpHandle`] is what the rest of the speaker holds: one task
//! owns the [`BgpSpeaker`], applies each new [`BgpPlan`] to it, mirrors its sessions into
//! Prometheus and a watch channel, and on shutdown withdraws every route and closes every
//! session with Cease (sessions with graceful restart negotiated close without a message
//! instead, so the router keeps their routes until the next process reconnects). Under it, one task per peer owns its [`Session`] and performs its
//! outputs (connect, send, timers, close).
//!
//! ```text
//!  orchestrator ──BgpHandle::set(BgpPlan)──watch (latest wins)──┐
//!  main         ──BgpHandle::shutdown()───oneshot─────────────┐ │
//!                                                             v v
//!                                   task: BgpSpeaker::set_routes / set_peers
//!                                         every second: status() ──> BgpMetrics, sessions
//!                                         on shutdown: BgpSpeaker::shutdown()
//! ```
//! Dropping the handle without calling [`BgpHandle::shutdown`] shuts the sessions down too
//! (the task sees its input closed), so routes are never left behind by a speaker that
//! stops, except on purpose, for the restart time, with graceful restart.
//!
//! Each peer task receives everything as one [`PeerEvent`] enum on one
//! channel: API calls, connection results, decoded messages, closures.
//! Timers are deadlines kept in the task's loop, so a cancelled or re-armed
//! timer simply never fires. Events carry a connection number; events of an
//! older connection are dropped, so a late message from a closed socket can
//! never reach the state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use netgauze_bgp_pkt::BgpMessage;
use prometheus::IntGauge;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, info, warn};

use super::metrics::{BgpMetrics, Exporter};
use super::plan::BgpPlan;
use crate::bfd::packet::State as BfdState;
use crate::bfd::{BfdConfig, BfdHandle, BfdKey, BfdMetrics, BfdStatus};

use super::message::{DecodeError, Framer, encode};
use super::route::Route;
use super::session::{
    DownReason, GracefulRestart, Input, Output, Session, SessionConfig, SessionStats, State,
    StopReason, Timer,
};
use super::socket;

/// How often session state is copied into the metrics.
pub const METRICS_PERIOD: Duration = Duration::from_secs(1);
/// How long a TCP connect may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping session may take to flush its withdrawals and Cease.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a [`BgpHandle`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    /// The announcer task is gone.
    #[error("BGP announcer stopped")]
    Stopped,
}

/// The handle the rest of the speaker drives the BGP announcer with.
#[derive(Debug)]
pub struct BgpHandle {
    desired: watch::Sender<BgpPlan>,
    sessions: watch::Receiver<Vec<PeerStatus>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl BgpHandle {
    /// Replaces the whole wanted state: sessions and routes. The task is
    /// woken only when the set differs from the last one.
    pub fn set(&self, desired: BgpPlan) -> Result<(), BgpError> {
        if self.desired.is_closed() {
            return Err(BgpError::Stopped);
        }
        self.desired.send_if_modified(|current| {
            if *current == desired {
                return false;
            }
            *current = desired;
            true
        });
        Ok(())
    }

    /// A receiver of the sessions' states (for `NodeAnnouncement` and
    /// `ironlb status`), refreshed every [`METRICS_PERIOD`], changed only
    /// when a session's snapshot does.
    pub fn sessions(&self) -> watch::Receiver<Vec<PeerStatus>> {
        self.sessions.clone()
    }

    /// Stops every session as the process stops (see [`BgpSpeaker::shutdown`]) and
    /// waits (bounded) until they are closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(STOP_TIMEOUT + Duration::from_secs(1), self.task).await;
    }
}

/// Starts the announcer with no sessions. `announced` is the
/// `ironlb_announced_ips{node,protocol="bgp"}` gauge of this node.
pub fn spawn(metrics: BgpMetrics, announced: IntGauge) -> BgpHandle {
    let (desired, rx) = watch::channel(BgpPlan::default());
    let (stop, stop_rx) = oneshot::channel();
    let (sessions_tx, sessions) = watch::channel(Vec::new());
    let task = tokio::spawn(run(
        rx,
        stop_rx,
        Exporter::new(metrics),
        announced,
        sessions_tx,
    ));
    BgpHandle {
        desired,
        sessions,
        stop: Some(stop),
        task,
    }
}

async fn run(
    mut desired: watch::Receiver<BgpPlan>,
    mut stop: oneshot::Receiver<()>,
    mut exporter: Exporter,
    announced: IntGauge,
    sessions: watch::Sender<Vec<PeerStatus>>,
) {
    let publish = |exporter: &mut Exporter, now: Vec<PeerStatus>| {
        exporter.export(&now);
        sessions.send_if_modified(|s| {
            if *s == now {
                return false;
            }
            *s = now;
            true
        });
    };
    let mut speaker = BgpSpeaker::with_bfd_metrics(exporter.bfd_metrics());
    let mut missing_ids: Vec<SocketAddr> = Vec::new();
    let mut tick = tokio::time::interval(METRICS_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Without peers there is nothing to refresh: a speaker in layer 2 only is not woken
    // every second for it.
    let mut has_peers = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            changed = desired.changed() => {
                // The handle is gone without shutdown: stop cleanly all the same.
                if changed.is_err() {
                    break;
                }
                let d = desired.borrow_and_update().clone();
                if d.without_router_id != missing_ids {
                    for peer in &d.without_router_id {
                        warn!(%peer, "no router-id for this peer and the node has no IPv4 address: no session");
                    }
                    missing_ids = d.without_router_id.clone();
                }
                info!(peers = d.peers.len(), routes = d.routes.len(), ips = d.ips.len(), "BGP set");
                announced.set(i64::try_from(d.ips.len()).unwrap_or(i64::MAX));
                has_peers = !d.peers.is_empty();
                // Routes first: sessions started by set_peers begin with them.
                speaker.set_routes(d.routes);
                speaker.set_peers(d.peers);
                publish(&mut exporter, speaker.status());
            }
            _ = tick.tick(), if has_peers => publish(&mut exporter, speaker.status()),
        }
    }
    info!("BGP shutting down: withdrawing routes, closing sessions");
    announced.set(0);
    speaker.shutdown().await;
    publish(&mut exporter, Vec::new());
}

/// One peer as the BGP layer needs it, resolved for this node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerSpec {
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS.
    pub peer_asn: u32,
    /// Where to connect (`peer-address`, `peer-port`).
    pub peer: SocketAddr,
    /// Local address to connect from (`source-address`).
    pub source: Option<IpAddr>,
    /// Hold time offered (`hold-time`); zero: none.
    pub hold_time: Duration,
    /// Keepalive interval wanted (`keepalive-time`).
    pub keepalive_time: Duration,
    /// BGP identifier (`router-id`, or the node's default).
    pub router_id: Ipv4Addr,
    /// TCP-MD5 password.
    pub password: Option<String>,
    /// `ebgp-multihop`: send with TTL / hop limit 255.
    pub ebgp_multihop: bool,
    /// NEXT_HOP for IPv4 routes on an IPv6 session (else they are not sent there).
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Global NEXT_HOP for IPv6 routes on an IPv4 session (else they are not sent there).
    pub next_hop_v6: Option<Ipv6Addr>,
    /// First reconnect delay.
    pub retry_min: Duration,
    /// Longest reconnect delay.
    pub retry_max: Duration,
    /// BFD to the peer (`bfd-profile`): its going Down tears the session down.
    pub bfd: Option<BfdConfig>,
    /// Graceful restart (`enable-graceful-restart`) with this restart time; `None`: off.
    pub graceful_restart: Option<Duration>,
}

impl PeerSpec {
    /// The spec for a configured peer; `default_router_id` (usually the
    /// node's IPv4 address) is used when the peer sets no `router-id`.
    pub fn from_config(peer: &ironlb_config::Peer, default_router_id: Ipv4Addr) -> Self {
        Self {
            source: peer.source_address,
            hold_time: peer.hold_time,
            keepalive_time: peer.keepalive_time,
            password: peer.password.clone(),
            ebgp_multihop: peer.ebgp_multihop,
            graceful_restart: peer.graceful_restart,
            ..Self::new(
                peer.my_asn,
                peer.peer_asn,
                SocketAddr::new(peer.peer_address, peer.peer_port),
                peer.router_id.unwrap_or(default_router_id),
            )
        }
    }

    /// A spec with MetalLB's defaults: hold time 90 s, keepalive 30 s, no
    /// source address, password, multihop or graceful restart; reconnect after 1 s
    /// up to 30 s.
    pub fn new(local_asn: u32, peer_asn: u32, peer: SocketAddr, router_id: Ipv4Addr) -> Self {
        Self {
            local_asn,
            peer_asn,
            peer,
            source: None,
            hold_time: Duration::from_secs(90),
            keepalive_time: Duration::from_secs(30),
            router_id,
            password: None,
            ebgp_multihop: false,
            next_hop_v4: None,
            next_hop_v6: None,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            bfd: None,
            graceful_restart: None,
        }
    }

    /// The key identifying this session in status.
    pub fn key(&self) -> PeerKey {
        PeerKey {
            peer: self.peer,
            source: self.source,
            local_asn: self.local_asn,
            peer_asn: self.peer_asn,
        }
    }

    /// The session's configuration; `restarted`: see [`GracefulRestart::restarted`].
    fn session_config(&self, restarted: bool) -> SessionConfig {
        SessionConfig {
            local_asn: self.local_asn,
            peer_asn: self.peer_asn,
            hold_time: self.hold_time,
            keepalive_time: self.keepalive_time,
            router_id: self.router_id,
            next_hop_v4: self.next_hop_v4,
            next_hop_v6: self.next_hop_v6,
            retry_min: self.retry_min,
            retry_max: self.retry_max,
            graceful_restart: self.graceful_restart.map(|restart_time| GracefulRestart {
                restart_time,
                restarted,
            }),
        }
    }
}

/// Which session a status is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey {
    /// Peer address and port.
    pub peer: SocketAddr,
    /// Our source address, if configured.
    pub source: Option<IpAddr>,
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS.
    pub peer_asn: u32,
}

/// A snapshot of one session, for metrics and `ironlb status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// Which session.
    pub key: PeerKey,
    /// Its state.
    pub state: State,
    /// Prefixes the peer holds from us.
    pub prefixes_announced: usize,
    /// Our address on the current connection.
    pub local_address: Option<IpAddr>,
    /// Number of state changes so far.
    pub state_changes: u64,
    /// Since when the session is Established.
    pub established_since: Option<std::time::SystemTime>,
    /// Counters from the state machine.
    pub stats: SessionStats,
    /// The last connection error (cleared once Established), e.g. a refused
    /// connect or a TCP-MD5 mismatch that ends in a timeout.
    pub last_error: Option<String>,
    /// Both sides sent the Graceful Restart capability on the current connection.
    pub graceful_restart: bool,
}

/// Everything a peer task reacts to.
#[derive(Debug)]
enum PeerEvent {
    SetRoutes(BTreeSet<Route>),
    Stop(StopReason),
    Connected(u64, TcpStream),
    ConnectFailed(u64, io::Error),
    Received(u64, BgpMessage),
    DecodeError(u64, DecodeError),
    Closed(u64),
}

struct PeerHandle {
    tx: mpsc::UnboundedSender<PeerEvent>,
    status: watch::Receiver<PeerStatus>,
    task: JoinHandle<()>,
}

/// The BGP side of the speaker, driven declaratively: give it the full set of
/// peers and the full set of routes whenever either changes. It must be used
/// inside a tokio runtime.
#[derive(Default)]
pub struct BgpSpeaker {
    peers: BTreeMap<PeerSpec, PeerHandle>,
    routes: BTreeSet<Route>,
    /// Started with the first peer that wants BFD.
    bfd: Option<BfdHandle>,
    bfd_metrics: Option<BfdMetrics>,
    /// Sessions this speaker has started: a later one to the same peer (a changed spec)
    /// is no restart of the process, so its OPEN does not set Restart State.
    started: BTreeSet<PeerKey>,
}

impl BgpSpeaker {
    /// A speaker with no peers and no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A speaker whose BFD sessions (if any peer asks for one) export into `m`.
    pub fn with_bfd_metrics(m: BfdMetrics) -> Self {
        Self {
            bfd_metrics: Some(m),
            ..Self::default()
        }
    }

    /// Makes the sessions match `peers`: new ones start (with the current
    /// routes), missing ones withdraw and close with Cease / Peer
    /// De-configured, changed ones restart.
    pub fn set_peers(&mut self, peers: Vec<PeerSpec>) {
        let wanted: BTreeSet<PeerSpec> = peers.into_iter().collect();
        let gone: Vec<PeerSpec> = self
            .peers
            .keys()
            .filter(|p| !wanted.contains(*p))
            .cloned()
            .collect();
        for spec in gone {
            if let Some(h) = self.peers.remove(&spec) {
                let _ = h.tx.send(PeerEvent::Stop(StopReason::Deconfigured));
            }
        }
        for spec in wanted {
            if !self.peers.contains_key(&spec) {
                let bfd = spec.bfd.clone().map(|cfg| {
                    let metrics = self.bfd_metrics.clone();
                    self.bfd
                        .get_or_insert_with(|| BfdHandle::spawn(metrics))
                        .watch(
                            BfdKey {
                                peer: spec.peer.ip(),
                                local: spec.source,
                            },
                            cfg,
                        )
                });
                // One BgpSpeaker lives as long as the speaker process: the first session
                // to each peer is the first since the process (re)started.
                let restarted = self.started.insert(spec.key());
                let h = spawn_peer(spec.clone(), self.routes.clone(), bfd, restarted);
                self.peers.insert(spec, h);
            }
        }
    }

    /// The full set of routes to announce to every peer (each session sends
    /// only the difference, and only the families it can carry).
    pub fn set_routes(&mut self, routes: BTreeSet<Route>) {
        if routes == self.routes {
            return;
        }
        for h in self.peers.values() {
            let _ = h.tx.send(PeerEvent::SetRoutes(routes.clone()));
        }
        self.routes = routes;
    }

    /// A snapshot of every session.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.peers
            .values()
            .map(|h| h.status.borrow().clone())
            .collect()
    }

    /// Stops every session as the process stops: withdraws everything and sends Cease /
    /// Administrative Shutdown, except on sessions with graceful restart negotiated,
    /// which close without a message so the peer keeps the routes until the next
    /// process reconnects. Waits (bounded) until they are closed.
    pub async fn shutdown(self) {
        let mut tasks = Vec::new();
        for (_, h) in self.peers {
            let _ = h.tx.send(PeerEvent::Stop(StopReason::Shutdown));
            tasks.push(h.task);
        }
        for t in tasks {
            let _ = tokio::time::timeout(STOP_TIMEOUT, t).await;
        }
    }
}

fn spawn_peer(
    spec: PeerSpec,
    routes: BTreeSet<Route>,
    bfd: Option<watch::Receiver<BfdStatus>>,
    restarted: bool,
) -> PeerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(PeerStatus {
        key: spec.key(),
        state: State::Idle,
        prefixes_announced: 0,
        local_address: None,
        state_changes: 0,
        established_since: None,
        stats: SessionStats::default(),
        last_error: None,
        graceful_restart: false,
    });
    let span = tracing::info_span!("bgp", peer = %spec.peer, asn = spec.peer_asn);
    let task = PeerTask {
        session: Session::new(spec.session_config(restarted)),
        spec,
        tx: tx.clone(),
        rx,
        status: status_tx,
        timers: BTreeMap::new(),
        conn: 0,
        io: None,
        bfd,
        bfd_up: false,
    };
    let handle = tokio::spawn(task.run(routes).instrument(span));
    PeerHandle {
        tx,
        status,
        task: handle,
    }
}

/// The live connection's helpers.
struct Io {
    writer: mpsc::UnboundedSender<WriterCmd>,
    writer_task: JoinHandle<()>,
    reader_task: JoinHandle<()>,
}

impl Io {
    /// Waits (bounded) until the queued bytes are written and FIN is sent,
    /// then stops reading. The reader stays until then: closing a socket
    /// with unread input makes Linux send RST and drop what is still queued,
    /// which would lose the final NOTIFICATION.
    async fn finish(self) {
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.writer_task).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while !self.reader_task.is_finished() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        self.reader_task.abort();
    }
}

enum WriterCmd {
    Bytes(Vec<u8>),
    Close,
}

struct PeerTask {
    spec: PeerSpec,
    session: Session,
    tx: mpsc::UnboundedSender<PeerEvent>,
    rx: mpsc::UnboundedReceiver<PeerEvent>,
    status: watch::Sender<PeerStatus>,
    timers: BTreeMap<Timer, Instant>,
    /// Number of the current connection attempt; older events are stale.
    conn: u64,
    io: Option<Io>,
    /// The BFD session to the peer, if its profile asks for one.
    bfd: Option<watch::Receiver<BfdStatus>>,
    /// BFD was Up at the last look: only a change from Up tears down.
    bfd_up: bool,
}

impl PeerTask {
    async fn run(mut self, routes: BTreeSet<Route>) {
        self.feed(Input::SetRoutes(routes));
        self.feed(Input::Start);
        loop {
            let next = self
                .timers
                .iter()
                .min_by_key(|(_, d)| **d)
                .map(|(t, d)| (*t, *d));
            let sleep = async {
                match next {
                    Some((_, d)) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let bfd = async {
                match &mut self.bfd {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                alive = bfd => {
                    if alive {
                        self.bfd_changed();
                    } else {
                        self.bfd = None;
                    }
                }
                ev = self.rx.recv() => match ev {
                    // Every handle is gone without a Stop: treat as shutdown.
                    None => {
                        self.feed(Input::Stop(StopReason::Shutdown));
                        break;
                    }
                    Some(PeerEvent::Stop(reason)) => {
                        self.feed(Input::Stop(reason));
                        break;
                    }
                    Some(ev) => self.event(ev),
                },
                () = sleep => {
                    if let Some((t, _)) = next {
                        self.timers.remove(&t);
                        self.feed(Input::TimerFired(t));
                    }
                }
            }
        }
        // Let the writer flush the withdrawals and the Cease.
        if let Some(io) = self.io.take() {
            let _ = io.writer.send(WriterCmd::Close);
            io.finish().await;
        }
        info!("session stopped");
    }

    fn bfd_changed(&mut self) {
        let Some(rx) = &mut self.bfd else { return };
        let now = rx.borrow_and_update().state;
        if self.bfd_up && now != BfdState::Up {
            warn!(bfd = %now, "BFD session to the peer went down: closing the BGP session");
            self.feed(Input::BfdDown);
        }
        self.bfd_up = now == BfdState::Up;
    }

    fn event(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::SetRoutes(r) => self.feed(Input::SetRoutes(r)),
            PeerEvent::Stop(r) => self.feed(Input::Stop(r)),
            PeerEvent::Connected(c, stream) if c == self.conn => {
                let local = match stream.local_addr() {
                    Ok(a) => a.ip(),
                    Err(e) => {
                        warn!(error = %e, "connected socket has no local address");
                        self.feed(Input::ConnectFailed);
                        return;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                let (wtx, wrx) = mpsc::unbounded_channel();
                self.io = Some(Io {
                    writer: wtx,
                    writer_task: tokio::spawn(write_loop(w, wrx).in_current_span()),
                    reader_task: tokio::spawn(read_loop(c, r, self.tx.clone()).in_current_span()),
                });
                info!(%local, "connected");
                self.feed(Input::Connected { local });
            }
            PeerEvent::ConnectFailed(c, e) if c == self.conn => {
                info!(error = %e, "connect failed");
                self.status
                    .send_modify(|s| s.last_error = Some(format!("connect: {e}")));
                self.feed(Input::ConnectFailed);
            }
            PeerEvent::Received(c, m) if c == self.conn => self.feed(Input::Received(m)),
            PeerEvent::DecodeError(c, e) if c == self.conn => {
                warn!(error = %e, "malformed message from peer");
                self.feed(Input::DecodeError(e));
            }
            PeerEvent::Closed(c) if c == self.conn => self.feed(Input::Closed),
            // Stale: from a connection that is already gone.
            _ => {}
        }
    }

    fn feed(&mut self, input: Input) {
        let before = self.session.state();
        for o in self.session.handle(input) {
            self.perform(o);
        }
        let after = self.session.state();
        self.status.send_modify(|s| {
            if before != after {
                s.state_changes += 1;
            }
            s.state = after;
            if after != State::Established {
                s.established_since = None;
            } else if s.established_since.is_none() {
                s.established_since = Some(std::time::SystemTime::now());
                s.last_error = None;
            }
            s.prefixes_announced = self.session.advertised_count();
            s.local_address = self.session.local_address();
            s.stats = self.session.stats().clone();
            s.graceful_restart = self.session.graceful_restart_negotiated();
        });
    }

    fn perform(&mut self, o: Output) {
        match o {
            Output::Connect => {
                self.conn += 1;
                let c = self.conn;
                let spec = self.spec.clone();
                let tx = self.tx.clone();
                tokio::spawn(
                    async move {
                        let ev = match connect(&spec).await {
                            Ok(s) => PeerEvent::Connected(c, s),
                            Err(e) => PeerEvent::ConnectFailed(c, e),
                        };
                        let _ = tx.send(ev);
                    }
                    .in_current_span(),
                );
            }
            Output::Send(m) => match encode(&m) {
                Ok(bytes) => {
                    if let Some(io) = &self.io {
                        let _ = io.writer.send(WriterCmd::Bytes(bytes));
                    }
                }
                Err(e) => warn!(error = %e, "dropping a message we could not encode"),
            },
            Output::ArmTimer(t, d) => {
                self.timers.insert(t, Instant::now() + d);
            }
            Output::CancelTimer(t) => {
                self.timers.remove(&t);
            }
            Output::Close => {
                if let Some(io) = self.io.take() {
                    let _ = io.writer.send(WriterCmd::Close);
                    tokio::spawn(io.finish());
                }
                // Anything still in flight from that connection is stale now.
                self.conn += 1;
            }
            Output::Established => info!("session established"),
            Output::Down(reason) => match reason {
                DownReason::Stopped => info!("session closed"),
                r => warn!(reason = ?r, "session down"),
            },
        }
    }
}

/// Opens the TCP connection with the peer's socket options.
async fn connect(spec: &PeerSpec) -> io::Result<TcpStream> {
    let sock = match spec.peer {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(pw) = &spec.password {
        socket::set_md5(&sock, spec.peer.ip(), pw.as_bytes())?;
    }
    if spec.ebgp_multihop {
        socket::set_ttl(&sock, &spec.peer, 255)?;
    }
    if let Some(src) = spec.source {
        sock.bind(SocketAddr::new(src, 0))?;
    }
    tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(spec.peer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn read_loop(conn: u64, mut r: OwnedReadHalf, tx: mpsc::UnboundedSender<PeerEvent>) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(PeerEvent::Closed(conn));
                return;
            }
            Ok(n) => n,
        };
        framer.extend(&buf[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(m)) => {
                    if tx.send(PeerEvent::Received(conn, m)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(PeerEvent::DecodeError(conn, e));
                    return;
                }
            }
        }
    }
}

async fn write_loop(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<WriterCmd>) {
    while let Some(cmd) = rx.recv().await {
        match cmd {
            WriterCmd::Bytes(b) => {
                if w.write_all(&b).await.is_err() {
                    return;
                }
            }
            WriterCmd::Close => break,
        }
    }
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Registry;

    fn render(registry: &Registry) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[tokio::test]
    async fn the_task_applies_sets_and_stops_on_shutdown() {
        let registry = Registry::new();
        let announced = IntGauge::new("announced", "test").unwrap();
        let h = spawn(BgpMetrics::register(&registry).unwrap(), announced.clone());
        let mut d = BgpPlan::default();
        d.ips.insert("203.0.113.10".parse().unwrap());
        d.routes
            .insert(crate::bgp::Route::host("203.0.113.10".parse().unwrap()));
        // A peer nobody listens on: the session keeps trying, which is enough
        // to see it in the metrics.
        d.peers.push(crate::bgp::PeerSpec::new(
            64512,
            64500,
            "127.0.0.1:1".parse().unwrap(),
            "192.0.2.11".parse().unwrap(),
        ));
        h.set(d).unwrap();
        let start = tokio::time::Instant::now();
        while !render(&registry).contains("ironlb_bgp_session_up{peer=\"127.0.0.1:1\"} 0") {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no session metric"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(announced.get(), 1);
        let sessions = h.sessions();
        assert_eq!(sessions.borrow().len(), 1);
        assert_eq!(sessions.borrow()[0].key.peer.port(), 1);
        h.shutdown().await;
        assert_eq!(announced.get(), 0);
        assert!(sessions.borrow().is_empty());
        assert!(!render(&registry).contains("127.0.0.1:1"));
    }
}
