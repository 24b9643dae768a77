//! The layer-2 responder's I/O: raw packet sockets on the chosen interfaces, around the
//! pure [`Responder`] state machine (in `responder.rs`; ARP, NDP and Ethernet codecs beside it).
//!
//! ```text
//!   per interface (std thread, blocking)        one tokio task owns all state
//!  ┌──────────────────────────────┐  frames   ┌─────────────────────────────────┐
//!  │ pnet datalink rx.next()      │──mpsc────>│ Responder::handle(Input)          │
//!  │ (kernel BPF: ARP and NS/NA)  │ (bounded, │   ├─ Send     -> pnet tx.send_to │
//!  └──────────────────────────────┘  drops on │   ├─ Join/Leave -> UDP socket    │
//!  L2Handle::set_announced ──watch──────────> │   ├─ Count    -> metrics         │
//!  (the whole desired set, latest wins)       │   └─ Took/Released/Conflict      │
//!  tick 250 ms (while needed), link change ──> │        -> L2Event channel        │
//!                                             │ after a Took/Released:          │
//!  L2Handle::answered <──watch (snapshot)──── │   Responder::answered()         │
//!                                             └─────────────────────────────────┘
//! ```
//! What is answered where is published as a whole snapshot on a watch channel, latest
//! wins, so a reader (the NodeAnnouncement) never misses a change however large the burst;
//! the [`L2Event`] channel only feeds Kubernetes Events and logs, best effort.
//! Receive threads poll with a timeout (1 s) so they notice a stop flag. Interfaces are
//! rescanned when the kernel reports a link change ([`link_watch`]) or a receive thread
//! ends, and once a minute besides (every [`L2Options::rescan`] where no notifications can
//! be had, or a packet socket could not be opened): an interface that disappears or goes down leaves the suitable set at once, and
//! the responder releases its IPs there. Solicited-node groups are joined with
//! `IPV6_JOIN_GROUP` on one UDP socket per interface (membership lasts as long as the
//! socket), through the standard library, so this module needs no `unsafe`.
#![forbid(unsafe_code)]

pub mod arp;
pub mod ethernet;
pub mod filter;
mod link_watch;
pub mod ndp;
pub mod responder;

use crate::alarm::Alarm;
use crate::log_limit::{LogLimiter, LogLine};
use crate::metrics::L2Counters;
use ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, MacAddr};
use link_watch::LinkWatch;
use pnet::datalink::{self, Channel, DataLinkSender, NetworkInterface};
pub use responder::{ConflictSeen, Conflicts, IfaceSelection, L2Event};
use responder::{Counter, IfIndex, IfaceInfo, Input, Malformed, Output, Responder};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info, warn};

/// Interface name prefixes of container and overlay devices, skipped unless named.
pub const SKIPPED_PREFIXES: &[&str] = &[
    "veth", "cali", "cilium", "lxc", "docker", "cni", "flannel", "vxlan", "tunl", "kube-", "weave",
    "genev", "br-",
];

/// How the responder runs.
#[derive(Debug, Clone)]
pub struct L2Options {
    /// Interfaces to use; empty means every suitable one.
    pub interfaces: Vec<String>,
    /// Interval between takeover burst rounds.
    pub tick: Duration,
    /// Interval between interface rescans where the kernel's link notifications cannot be
    /// had; with them, a rescan follows each change, and one every [`RESCAN_WATCHED`].
    pub rescan: Duration,
    /// Periodic re-announcement of every IP, if any.
    pub refresh: Option<Duration>,
}

impl Default for L2Options {
    fn default() -> Self {
        L2Options {
            interfaces: Vec::new(),
            tick: Duration::from_millis(250),
            rescan: Duration::from_secs(1),
            refresh: None,
        }
    }
}

/// Facts about an interface that decide whether it can carry announcements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceFacts {
    /// Name.
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Carrier present (`IFF_RUNNING`).
    pub running: bool,
    /// Supports broadcast.
    pub broadcast: bool,
    /// Loopback.
    pub loopback: bool,
    /// Hardware address, if any.
    pub mac: Option<MacAddr>,
    /// Enslaved to a bridge or bond (answers belong on the master).
    pub enslaved: bool,
}

/// Why an interface is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsuitable {
    /// Not in `--interfaces`.
    NotSelected,
    /// A container/overlay device not named in `--interfaces`.
    ContainerDevice,
    /// Down or without carrier.
    Down,
    /// Loopback.
    Loopback,
    /// No broadcast (point-to-point, tunnels).
    NoBroadcast,
    /// No usable MAC.
    NoMac,
    /// Enslaved to a bridge or bond.
    Enslaved,
}

/// Whether `iface` may carry announcements, given the `--interfaces` choice.
pub fn suitability(iface: &IfaceFacts, selected: &[String]) -> Result<MacAddr, Unsuitable> {
    let named = selected.contains(&iface.name);
    if !selected.is_empty() && !named {
        return Err(Unsuitable::NotSelected);
    }
    if !named && SKIPPED_PREFIXES.iter().any(|p| iface.name.starts_with(p)) {
        return Err(Unsuitable::ContainerDevice);
    }
    if iface.loopback {
        return Err(Unsuitable::Loopback);
    }
    if !iface.up || !iface.running {
        return Err(Unsuitable::Down);
    }
    if !iface.broadcast {
        return Err(Unsuitable::NoBroadcast);
    }
    if iface.enslaved {
        return Err(Unsuitable::Enslaved);
    }
    match iface.mac {
        Some(m) if m != MacAddr::ZERO && !m.is_multicast() => Ok(m),
        _ => Err(Unsuitable::NoMac),
    }
}

/// Whether a frame is worth handing to the responder: ARP, or IPv6 carrying ICMPv6
/// type 135/136 directly. Cheap, so floods of other traffic stay in the rx thread.
pub fn is_candidate(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([a, b]) if u16::from_be_bytes([*a, *b]) == ETHERTYPE_ARP => true,
        Some([a, b]) if u16::from_be_bytes([*a, *b]) == ETHERTYPE_IPV6 => {
            frame.get(20) == Some(&58) && matches!(frame.get(54), Some(135 | 136))
        }
        _ => false,
    }
}

/// Why the responder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// The responder task has ended.
    #[error("layer-2 responder stopped")]
    Stopped,
}

/// The IPs the responder answers for now, each with its interfaces' names.
pub type Answered = BTreeMap<IpAddr, BTreeSet<String>>;

/// Whether the responder can answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Health {
    /// The interfaces have not been scanned yet.
    Starting,
    /// A packet socket is open on every usable interface (or no interface is usable).
    Answering,
    /// No packet socket could be opened on any usable interface: nothing can be answered
    /// (typically the capability `NET_RAW` is missing).
    NoPacketSocket {
        /// The first interface that failed.
        iface: String,
        /// Why.
        error: String,
    },
}

impl std::fmt::Display for L2Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            L2Health::Starting => write!(f, "layer 2: interfaces not scanned yet"),
            L2Health::Answering => write!(f, "layer 2: answering"),
            L2Health::NoPacketSocket { iface, error } => write!(
                f,
                "layer 2: cannot open a packet socket on {iface}: {error} (the speaker needs \
                 the capabilities NET_RAW and NET_ADMIN, as root)"
            ),
        }
    }
}

/// Handle to the responder task. Dropping it stops the task.
#[derive(Debug)]
pub struct L2Handle {
    desired: watch::Sender<BTreeMap<IpAddr, IfaceSelection>>,
    answered: watch::Receiver<Arc<Answered>>,
    health: watch::Receiver<L2Health>,
    conflicts: watch::Receiver<Arc<Conflicts>>,
}

impl L2Handle {
    /// Replaces the whole set of IPs this node announces, with their interfaces.
    pub fn set_announced(&self, set: BTreeMap<IpAddr, IfaceSelection>) -> Result<(), L2Error> {
        self.desired.send(set).map_err(|_| L2Error::Stopped)
    }

    /// The snapshot of what the responder answers for now, updated after every change.
    pub fn answered(&self) -> watch::Receiver<Arc<Answered>> {
        self.answered.clone()
    }

    /// Whether the responder can answer, updated after every interface scan.
    pub fn health(&self) -> watch::Receiver<L2Health> {
        self.health.clone()
    }

    /// Conflicts per IP answered for, updated at most every 10 s while they go on.
    pub fn conflicts(&self) -> watch::Receiver<Arc<Conflicts>> {
        self.conflicts.clone()
    }
}

/// Starts the responder. Events go to `events` (dropped if its buffer is full).
pub fn spawn(
    opts: L2Options,
    counters: L2Counters,
    events: mpsc::Sender<L2Event>,
) -> (L2Handle, tokio::task::JoinHandle<()>) {
    let (desired_tx, desired_rx) = watch::channel(BTreeMap::new());
    let (answered_tx, answered_rx) = watch::channel(Arc::new(Answered::new()));
    let (health_tx, health_rx) = watch::channel(L2Health::Starting);
    let (conflicts_tx, conflicts_rx) = watch::channel(Arc::new(Conflicts::new()));
    let task = tokio::spawn(run(
        opts,
        counters,
        events,
        desired_rx,
        Published {
            answered: answered_tx,
            conflicts: conflicts_tx,
            health: health_tx,
        },
    ));
    (
        L2Handle {
            desired: desired_tx,
            answered: answered_rx,
            health: health_rx,
            conflicts: conflicts_rx,
        },
        task,
    )
}

/// What the responder task publishes.
struct Published {
    answered: watch::Sender<Arc<Answered>>,
    conflicts: watch::Sender<Arc<Conflicts>>,
    health: watch::Sender<L2Health>,
}

/// Open sockets of one interface.
struct IfaceIo {
    info: IfaceInfo,
    tx: Box<dyn DataLinkSender>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Holds the solicited-node memberships of this interface.
    groups: Option<UdpSocket>,
}

impl Drop for IfaceIo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread notices within one read timeout; it is not joined here so that a
        // stuck driver call cannot block the responder.
        drop(self.thread.take());
    }
}

type Frame = (IfIndex, Vec<u8>);

const FRAME_QUEUE: usize = 4096;
/// How long a receive thread waits for a frame before it looks at its stop flag: every
/// wait is a wake-up of an idle speaker (five a second per interface at 200 ms). A stopped
/// thread lingering this long hands on frames the responder ignores (an interface it left)
/// or sees twice (an interface re-opened meanwhile: a request answered twice).
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Interval between interface rescans while link notifications arrive: a safety net.
pub const RESCAN_WATCHED: Duration = Duration::from_secs(60);

async fn run(
    opts: L2Options,
    counters: L2Counters,
    events: mpsc::Sender<L2Event>,
    mut desired: watch::Receiver<BTreeMap<IpAddr, IfaceSelection>>,
    Published {
        answered,
        conflicts,
        health,
    }: Published,
) {
    let (frame_tx, mut frame_rx) = mpsc::channel::<Frame>(FRAME_QUEUE);
    let mut responder = Responder::new();
    let mut ios: BTreeMap<IfIndex, IfaceIo> = BTreeMap::new();
    let mut tick = tokio::time::interval(opts.tick);
    // A timerfd: tokio's timer would wake the task twice per rescan (see `Alarm`).
    let mut rescan = Alarm::new("interface rescan");
    let mut next_rescan = tokio::time::Instant::now();
    let mut links = match LinkWatch::open() {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(error = %e, every = ?opts.rescan, "no link notifications: polling the interfaces");
            None
        }
    };
    // Told by a receive thread that ends on its own (its interface is re-opened).
    let closed = Arc::new(Notify::new());
    let mut refresh = opts.refresh.map(tokio::time::interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported: BTreeMap<String, Unsuitable> = BTreeMap::new();
    let mut report = Report {
        counters,
        logs: LogLimiter::new(LOG_SUMMARY, LOG_KINDS),
        labelled: BTreeSet::new(),
    };
    let mut was_ticking = false;
    loop {
        // Tick only while the responder or the log summaries have something to do; when
        // ticking starts, the first tick is one period away (a burst's first round went
        // out with the takeover itself).
        let ticking = responder.wants_tick() || !report.logs.is_empty();
        if ticking && !was_ticking {
            tick.reset();
        }
        was_ticking = ticking;
        rescan.set(Some(next_rescan));
        let input = tokio::select! {
            changed = desired.changed() => {
                if changed.is_err() {
                    break;
                }
                Input::SetAnnounced(desired.borrow_and_update().clone())
            }
            Some((iface, bytes)) = frame_rx.recv() => Input::Frame { iface, bytes },
            _ = tick.tick(), if ticking => {
                report.flush_logs(Instant::now());
                Input::Tick
            }
            _ = async {
                match refresh.as_mut() {
                    Some(r) => { r.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => Input::Refresh,
            changed = link_changed(links.as_mut()) => {
                if let Err(e) = changed {
                    warn!(error = %e, every = ?opts.rescan, "link notifications lost: polling the interfaces");
                    links = None;
                }
                next_rescan = tokio::time::Instant::now();
                continue;
            }
            () = closed.notified() => {
                next_rescan = tokio::time::Instant::now();
                continue;
            }
            () = rescan.fired() => {
                let mut failure = None;
                let found = Found { frame_tx: &frame_tx, closed: &closed };
                let changed = rescan_interfaces(&opts, &mut ios, found, &mut reported, &mut failure);
                // A socket that could not be opened is retried soon, notifications or not.
                let every = if links.is_some() && failure.is_none() { RESCAN_WATCHED } else { opts.rescan };
                next_rescan = tokio::time::Instant::now() + every;
                let now = match failure {
                    Some((iface, error)) if ios.is_empty() => L2Health::NoPacketSocket { iface, error },
                    _ => L2Health::Answering,
                };
                health.send_if_modified(|h| std::mem::replace(h, now.clone()) != now);
                match changed {
                    Some(list) => Input::Interfaces(list),
                    None => continue,
                }
            }
        };
        let mut moved = false;
        let mut conflicted = false;
        for output in responder.handle(input) {
            moved |= matches!(
                output,
                Output::Event(L2Event::Took { .. } | L2Event::Released { .. })
            );
            conflicted |= output == Output::ConflictsChanged;
            perform(output, &mut ios, &mut report, &events);
        }
        if conflicted {
            conflicts.send_replace(Arc::new(responder.conflicts().clone()));
        }
        if moved {
            let now = responder.answered();
            report.forget_released(&now);
            answered.send_replace(Arc::new(now));
        }
    }
    debug!("layer-2 responder stopping");
}

/// How often a problem that keeps occurring is summarised in the log.
const LOG_SUMMARY: Duration = Duration::from_secs(10);
/// Kinds (malformed kinds and conflicting IPs) the log limiter tracks at once.
const LOG_KINDS: usize = 1024;

/// What a per-frame problem is, for the log limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    Malformed(Malformed),
    Conflict(IpAddr),
}

/// Counts per frame, logs the first of each kind and then summaries.
struct Report {
    counters: L2Counters,
    logs: LogLimiter<Problem>,
    /// IPs with an `ironlb_l2_ip_conflicts_total` series.
    labelled: BTreeSet<IpAddr>,
}

impl Report {
    fn malformed(&mut self, kind: Malformed) {
        self.counters
            .malformed
            .with_label_values(&[kind.as_str()])
            .inc();
        match self.logs.record(Problem::Malformed(kind), Instant::now()) {
            Some(LogLine::First) => info!(
                kind = kind.as_str(),
                "malformed ARP/NDP frame ignored; more are counted in ironlb_l2_malformed_frames_total"
            ),
            Some(LogLine::Summary { more, over }) => summary(Problem::Malformed(kind), more, over),
            None => {}
        }
    }

    fn conflict(&mut self, ip: IpAddr, iface: &str, mac: MacAddr) {
        self.counters.conflicts.inc();
        self.counters
            .ip_conflicts
            .with_label_values(&[ip.to_string().as_str()])
            .inc();
        self.labelled.insert(ip);
        match self.logs.record(Problem::Conflict(ip), Instant::now()) {
            Some(LogLine::First) => warn!(
                %ip, %iface, %mac,
                "another MAC claims an IP this node announces; re-asserting (rate-limited)"
            ),
            Some(LogLine::Summary { more, over }) => summary(Problem::Conflict(ip), more, over),
            None => {}
        }
    }

    fn flush_logs(&mut self, now: Instant) {
        for (problem, line) in self.logs.flush(now) {
            if let LogLine::Summary { more, over } = line {
                summary(problem, more, over);
            }
        }
    }

    /// Drops the per-IP conflict series of IPs no longer answered for.
    fn forget_released(&mut self, answered: &Answered) {
        self.labelled.retain(|ip| {
            let keep = answered.contains_key(ip);
            if !keep {
                let _ = self
                    .counters
                    .ip_conflicts
                    .remove_label_values(&[ip.to_string().as_str()]);
            }
            keep
        });
    }
}

fn summary(problem: Problem, more: u64, over: Duration) {
    let secs = over.as_secs();
    match problem {
        Problem::Malformed(kind) => info!(
            kind = kind.as_str(),
            "{more} more malformed ARP/NDP frames in the last {secs} s"
        ),
        Problem::Conflict(ip) => warn!(
            %ip,
            "{more} more frames from other MACs claiming {ip} in the last {secs} s"
        ),
    }
}

fn perform(
    output: Output,
    ios: &mut BTreeMap<IfIndex, IfaceIo>,
    report: &mut Report,
    events: &mpsc::Sender<L2Event>,
) {
    let counters = &report.counters;
    match output {
        Output::Send { iface, frame } => {
            if let Some(io) = ios.get_mut(&iface) {
                match io.tx.send_to(&frame, None) {
                    Some(Ok(())) | None => {}
                    Some(Err(e)) => warn!(iface = %io.info.name, error = %e, "send failed"),
                }
            }
        }
        Output::JoinGroup { iface, group } => {
            if let Some(io) = ios.get_mut(&iface) {
                join(io, group);
            }
        }
        Output::LeaveGroup { iface, group } => {
            if let Some(io) = ios.get_mut(&iface)
                && let Some(sock) = &io.groups
                && let Err(e) = sock.leave_multicast_v6(&group, iface)
            {
                debug!(iface = %io.info.name, %group, error = %e, "leave group failed");
            }
        }
        Output::Count(c) => match c {
            Counter::ArpRequest => counters.arp_requests.inc(),
            Counter::ArpReply => counters.arp_replies.inc(),
            Counter::NdpRequest => counters.ndp_requests.inc(),
            Counter::NdpReply => counters.ndp_replies.inc(),
            Counter::Gratuitous => counters.gratuitous.inc(),
            Counter::Reasserted => counters.reasserts.inc(),
            Counter::Malformed(kind) => report.malformed(kind),
        },
        // The run loop publishes the snapshot.
        Output::ConflictsChanged => {}
        Output::Event(ev) => {
            match &ev {
                L2Event::Took { ip, iface } => info!(%ip, %iface, "announcing"),
                L2Event::Released { ip, iface } => info!(%ip, %iface, "no longer announcing"),
                L2Event::Conflict { ip, iface, mac } => report.conflict(*ip, iface, *mac),
            }
            // Best effort: these become Kubernetes Events; what is answered is in the
            // snapshot, which nothing here can drop. A conflict flood may fill only half
            // the channel, so that takeovers still get their Events.
            let flooded = events.capacity() < events.max_capacity() / 2;
            if !(flooded && matches!(ev, L2Event::Conflict { .. })) {
                let _ = events.try_send(ev);
            }
        }
    }
}

fn join(io: &mut IfaceIo, group: Ipv6Addr) {
    if io.groups.is_none() {
        match UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)) {
            Ok(s) => io.groups = Some(s),
            Err(e) => {
                warn!(iface = %io.info.name, error = %e, "no IPv6 socket for multicast groups");
                return;
            }
        }
    }
    if let Some(sock) = &io.groups
        && let Err(e) = sock.join_multicast_v6(&group, io.info.index)
    {
        warn!(iface = %io.info.name, %group, error = %e, "join solicited-node group failed");
    }
}

fn facts(i: &NetworkInterface) -> IfaceFacts {
    IfaceFacts {
        name: i.name.clone(),
        up: i.is_up(),
        running: i.is_running(),
        broadcast: i.is_broadcast(),
        loopback: i.is_loopback(),
        mac: i.mac.map(|m| MacAddr(m.octets())),
        enslaved: std::path::Path::new("/sys/class/net")
            .join(&i.name)
            .join("master")
            .exists(),
    }
}

/// What a receive thread reports to: frames, and its own end.
#[derive(Clone, Copy)]
struct Found<'a> {
    frame_tx: &'a mpsc::Sender<Frame>,
    closed: &'a Arc<Notify>,
}

/// Waits for a link change; forever without a watch.
async fn link_changed(links: Option<&mut LinkWatch>) -> std::io::Result<()> {
    match links {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// Brings `ios` in line with the suitable interfaces now. Returns the new list if it
/// changed.
fn rescan_interfaces(
    opts: &L2Options,
    ios: &mut BTreeMap<IfIndex, IfaceIo>,
    to: Found<'_>,
    reported: &mut BTreeMap<String, Unsuitable>,
    failure: &mut Option<(String, String)>,
) -> Option<Vec<IfaceInfo>> {
    let mut found: BTreeMap<IfIndex, (IfaceInfo, NetworkInterface)> = BTreeMap::new();
    for i in datalink::interfaces() {
        match suitability(&facts(&i), &opts.interfaces) {
            Ok(mac) => {
                reported.remove(&i.name);
                let info = IfaceInfo {
                    index: i.index,
                    name: i.name.clone(),
                    mac,
                };
                found.insert(i.index, (info, i));
            }
            Err(why) => {
                if reported.insert(i.name.clone(), why) != Some(why) {
                    debug!(iface = %i.name, reason = ?why, "interface not used");
                }
            }
        }
    }
    let before: BTreeSet<IfaceInfo> = ios.values().map(|io| io.info.clone()).collect();
    // Close what went away, changed, or whose receive thread died.
    ios.retain(|idx, io| {
        let alive = io.thread.as_ref().is_some_and(|t| !t.is_finished());
        alive && found.get(idx).is_some_and(|(info, _)| *info == io.info)
    });
    for (idx, (info, iface)) in found {
        if ios.contains_key(&idx) {
            continue;
        }
        match open(info.clone(), &iface, to.frame_tx.clone(), to.closed.clone()) {
            Ok(io) => {
                info!(iface = %info.name, mac = %info.mac, "listening for ARP and NDP");
                ios.insert(idx, io);
            }
            Err(e) => {
                warn!(iface = %info.name, error = %e, "cannot open packet socket");
                failure.get_or_insert((info.name.clone(), e.to_string()));
            }
        }
    }
    let after: BTreeSet<IfaceInfo> = ios.values().map(|io| io.info.clone()).collect();
    // An interface re-opened unchanged (its thread had died) needs no new input: the
    // responder's view of it is still right.
    (before != after).then(|| after.into_iter().collect())
}

fn open(
    info: IfaceInfo,
    iface: &NetworkInterface,
    frame_tx: mpsc::Sender<Frame>,
    closed: Arc<Notify>,
) -> std::io::Result<IfaceIo> {
    // The kernel drops everything but ARP and NS/NA before it reaches the thread.
    let socket = filter::filtered_packet_socket()?;
    let config = datalink::Config {
        read_timeout: Some(READ_TIMEOUT),
        promiscuous: false,
        socket_fd: Some(std::os::fd::IntoRawFd::into_raw_fd(socket)),
        ..datalink::Config::default()
    };
    let (tx, mut rx) = match datalink::channel(iface, config)? {
        Channel::Ethernet(tx, rx) => (tx, rx),
        _ => {
            return Err(std::io::Error::other("not an Ethernet channel"));
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let index = info.index;
    let name = info.name.clone();
    let thread = std::thread::Builder::new()
        .name(format!("l2-rx-{name}"))
        .spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match rx.next() {
                    Ok(frame) => {
                        // Frames queued before the filter was attached.
                        if !is_candidate(frame) {
                            continue;
                        }
                        match frame_tx.try_send((index, frame.to_vec())) {
                            Ok(()) => {}
                            // A flood: drop rather than block the socket or grow memory.
                            Err(mpsc::error::TrySendError::Full(_)) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) => {
                        warn!(iface = %name, error = %e, "receive failed, closing interface");
                        break;
                    }
                }
            }
            if !thread_stop.load(Ordering::Relaxed) {
                closed.notify_one();
            }
        })?;
    Ok(IfaceIo {
        info,
        tx,
        stop,
        thread: Some(thread),
        groups: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth0() -> IfaceFacts {
        IfaceFacts {
            name: "eth0".into(),
            up: true,
            running: true,
            broadcast: true,
            loopback: false,
            mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            enslaved: false,
        }
    }

    #[test]
    fn suitability_table() {
        let none: &[String] = &[];
        assert!(suitability(&eth0(), none).is_ok());
        let cases = [
            (
                IfaceFacts {
                    up: false,
                    ..eth0()
                },
                Unsuitable::Down,
            ),
            (
                IfaceFacts {
                    running: false,
                    ..eth0()
                },
                Unsuitable::Down,
            ),
            (
                IfaceFacts {
                    loopback: true,
                    ..eth0()
                },
                Unsuitable::Loopback,
            ),
            (
                IfaceFacts {
                    broadcast: false,
                    ..eth0()
                },
                Unsuitable::NoBroadcast,
            ),
            (
                IfaceFacts {
                    enslaved: true,
                    ..eth0()
                },
                Unsuitable::Enslaved,
            ),
            (
                IfaceFacts {
                    mac: None,
                    ..eth0()
                },
                Unsuitable::NoMac,
            ),
            (
                IfaceFacts {
                    mac: Some(MacAddr::ZERO),
                    ..eth0()
                },
                Unsuitable::NoMac,
            ),
            (
                IfaceFacts {
                    name: "veth12ab".into(),
                    ..eth0()
                },
                Unsuitable::ContainerDevice,
            ),
            (
                IfaceFacts {
                    name: "cali0".into(),
                    ..eth0()
                },
                Unsuitable::ContainerDevice,
            ),
        ];
        for (facts, why) in cases {
            assert_eq!(suitability(&facts, none), Err(why), "{facts:?}");
        }
        let only_eth1 = ["eth1".to_string()];
        assert_eq!(
            suitability(&eth0(), &only_eth1),
            Err(Unsuitable::NotSelected)
        );
        let veth = IfaceFacts {
            name: "veth0".into(),
            ..eth0()
        };
        assert!(suitability(&veth, &["veth0".to_string()]).is_ok());
    }

    #[test]
    fn candidate_filter() {
        let arp = arp::ArpFrame::gratuitous(
            MacAddr([2, 0, 0, 0, 0, 1]),
            "192.0.2.1".parse().unwrap(),
            arp::ArpOp::Request,
        )
        .encode();
        assert!(is_candidate(&arp));
        let na =
            ndp::NdpFrame::unsolicited(MacAddr([2, 0, 0, 0, 0, 1]), "2001:db8::1".parse().unwrap())
                .encode();
        assert!(is_candidate(&na));
        let mut echo = na.clone();
        echo[54] = 128;
        assert!(!is_candidate(&echo));
        assert!(!is_candidate(&[0u8; 10]));
        let mut ipv4 = arp.clone();
        ipv4[13] = 0;
        assert!(!is_candidate(&ipv4));
    }
}
