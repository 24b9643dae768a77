//! Liveness of speakers by SWIM gossip (foca) over UDP, sealed with the cluster key.
//!
//! ```text
//!             UDP 7946 (sealed datagrams)
//!  socket ──open──> Foca::handle_data ─┐          one task owns Foca, its timers
//!  timers (by deadline; [`timers`]) ───┼─> AccumulatingRuntime ─┬─ to_send ──seal──> socket
//!  set_peers (watch) ──> announce ─────┘                        ├─ to_schedule ──> timers
//!                                                               └─ members ──> watch<BTreeSet<name>>
//! ```
//! Refused datagrams (too short, unknown version, failed authentication, or not a valid
//! SWIM message once opened) are counted per [`Refused`] reason in
//! `ironlb_gossip_refused_total{reason}`; the log has the first of each reason and then a
//! summary every 10 s ([`crate::log_limit`]), so a flood at the port costs no log volume.
//!
//! The published set holds the names of every speaker foca considers active (alive or
//! suspect), this node included. Timing is tuned for a LAN so that a dead speaker is
//! declared down in about a quarter of a second ([`lan_config`]), by the [`detector`] on top
//! of foca's suspicion: only a member silent for [`Timing::silence`] goes down, so packet
//! loss and short stalls do not move IPs (docs/failure-detection.md). At rest the task
//! wakes only to probe, answer and read answers: repeating timers ride on those wake-ups
//! ([`timers`]), and re-announcing runs only while a peer is not a member.
#![forbid(unsafe_code)]

mod beats;
pub mod detector;
pub mod heartbeat;
pub mod probe_watch;
pub mod seal;
pub mod sim;
pub mod timers;
pub mod wire;

use crate::alarm::Alarm;
use crate::log_limit::{LogLimiter, LogLine};
use crate::udp::QuietUdpSocket;
use beats::{BEAT_SLICE, Beats, FLOODED_HOLD};
use detector::{Detector, Due, Timing};
use foca::{AccumulatingRuntime, Config, Foca, PeriodicParams};
use heartbeat::Heartbeats;
use probe_watch::ProbeWatch;
use prometheus::IntCounterVec;
use rand_xorshift::XorShiftRng;
use ring::rand::{SecureRandom, SystemRandom};
use seal::{SealError, Sealer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;
use timers::Timers;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use wire::{NodeId, WireCodec};

/// The gossip port (memberlist's).
pub const PORT: u16 = 7946;

/// Why a received datagram was refused: the bounded label of
/// `ironlb_gossip_refused_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refused {
    /// Shorter than version, nonce and tag.
    Short,
    /// Unknown version byte.
    Version,
    /// Failed authentication: wrong key, or forged or damaged.
    Auth,
    /// Authentic, but not a message foca accepts (or not a heartbeat, at its port).
    Malformed,
    /// An authentic heartbeat not newer than one already taken: replayed.
    Replayed,
}

impl Refused {
    /// Every reason, for exporting zeros.
    pub const ALL: [Refused; 5] = [
        Refused::Short,
        Refused::Version,
        Refused::Auth,
        Refused::Malformed,
        Refused::Replayed,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Short => "short",
            Refused::Version => "version",
            Refused::Auth => "auth",
            Refused::Malformed => "malformed",
            Refused::Replayed => "replayed",
        }
    }

    /// The reason for a datagram that did not open.
    pub fn from_seal(e: &SealError) -> Self {
        match e {
            SealError::Short => Refused::Short,
            SealError::Version(_) => Refused::Version,
            SealError::Auth | SealError::EmptySecret | SealError::Random => Refused::Auth,
        }
    }
}

/// The gossip task's counters (shared handles into the speaker's registry).
#[derive(Debug, Clone)]
pub struct GossipMetrics {
    /// `ironlb_gossip_refused_total{reason}`, by [`Refused`] reason.
    pub refused: IntCounterVec,
    /// `ironlb_gossip_heartbeat_verdicts_total{state}`: members this speaker suspected
    /// (`suspect`) or declared down (`down`) because their heartbeats stopped.
    pub verdicts: IntCounterVec,
}

/// The `state` label of a heartbeat verdict (`suspect` or `down`).
pub fn verdict_label(state: foca::State) -> &'static str {
    match state {
        foca::State::Suspect => "suspect",
        foca::State::Down => "down",
        foca::State::Alive => "alive",
    }
}

/// How often a refusal that keeps occurring is summarised in the log.
const LOG_SUMMARY: Duration = Duration::from_secs(10);

/// Why gossip could not start.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// Binding the UDP socket failed.
    #[error("binding the gossip socket on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The key is unusable.
    #[error(transparent)]
    Key(#[from] seal::SealError),
    /// Foca refused the configuration.
    #[error("gossip configuration: {0}")]
    Config(String),
}

/// How this speaker takes part.
#[derive(Debug, Clone)]
pub struct GossipOptions {
    /// This node's name.
    pub name: String,
    /// Local address to bind.
    pub bind: SocketAddr,
    /// Address other speakers reach this one at.
    pub advertise: SocketAddr,
    /// How fast failures are detected.
    pub timing: Timing,
}

/// Foca tuned for a LAN of `cluster_size` speakers with the default [`Timing`].
pub fn lan_config(cluster_size: usize) -> Config {
    lan_config_timed(cluster_size, &Timing::default())
}

/// Foca tuned for a LAN of `cluster_size` speakers: a probe every
/// `timing.probe_interval` with half of it for the direct round trip, repeated gossip every four,
/// and a suspicion of `timing.suspicion`, or memberlist's `4 × log10(size) × probe
/// interval` where that is longer (at 1,000 speakers a suspicion takes longer to reach
/// its target and the refutation to come back). Whether a suspect is then declared down
/// is the [`detector`]'s decision: only after `timing.silence` without a word from it.
///
/// Each update is passed on `4 × log10(size + 1)` times (memberlist's rule, foca's
/// `new_lan`), at least as for 8 speakers: sized for 8 at any size, an update died out
/// before it reached every speaker of 100, and the rest learnt of a death only by
/// probing the dead one themselves, seconds later (docs/PERFORMANCE.md, "Scale by
/// simulation"). Only the size-dependent values change with the size, so
/// [`Foca::set_config`] accepts the change at run time.
pub fn lan_config_timed(cluster_size: usize, timing: &Timing) -> Config {
    let size = u32::try_from(cluster_size).unwrap_or(u32::MAX).max(8);
    let mut c = Config::new_lan(NonZeroU32::new(size).unwrap_or(NonZeroU32::MAX));
    c.probe_period = timing.probe_interval;
    c.probe_rtt = timing.probe_interval / 2;
    c.num_indirect_probes = NonZeroUsize::MIN.saturating_add(1);
    let scaled = timing
        .probe_interval
        .mul_f64(4.0 * (cluster_size.max(1) as f64).log10());
    c.suspect_to_down_after = timing.suspicion.max(scaled);
    c.remove_down_after = Some(Duration::from_secs(30));
    // News goes out at once (`push_news`) and rides on every probe and ack; the periodic
    // gossip only repeats it, so it need not wake the speaker as often as the probes.
    c.periodic_gossip = Some(PeriodicParams {
        frequency: timing.probe_interval * 4,
        num_members: NonZeroUsize::MIN.saturating_add(2),
    });
    c.periodic_announce = Some(PeriodicParams {
        frequency: Duration::from_secs(5),
        num_members: NonZeroUsize::MIN,
    });
    c
}

/// Sends foca's pending updates at once when an event added one (a suspicion, a
/// refutation, news to pass on) instead of at the next periodic gossip: a suspect hears
/// of its suspicion, and its peers of its refutation, within a round trip.
pub fn push_news(
    foca: &mut Swim,
    backlog_before: usize,
    runtime: impl foca::Runtime<NodeId>,
) -> Result<(), foca::Error> {
    push_news_to(foca, backlog_before, runtime, 1)
}

/// How many gossip rounds a heartbeat verdict (suspect, down) goes out in at once. With one
/// watcher per speaker the verdict has one origin where probing had several: one round of
/// three datagrams left a death unknown to a speaker of 100 for seconds (by simulation);
/// three rounds spread it as three watchers did.
pub const VERDICT_ROUNDS: usize = 3;

/// Applies the heartbeat verdicts of one check to foca. A suspicion stays between the
/// watcher and the suspect: applied here without being spread, and told to the suspect
/// directly, which refutes it if it lives. Spread to a few random members as foca does, it
/// reached the suspect among a hundred late or never, and the members it did reach, who do
/// not hear from the suspect, declared it down when their own suspicion ran out (by
/// simulation, docs/PERFORMANCE.md). A death goes out in [`VERDICT_ROUNDS`] rounds.
pub fn apply_verdicts(
    foca: &mut Swim,
    verdicts: Vec<foca::Member<NodeId>>,
    mut runtime: impl foca::Runtime<NodeId>,
) -> Result<(), foca::Error> {
    let (suspicions, deaths): (Vec<_>, Vec<_>) = verdicts
        .into_iter()
        .partition(|m| m.state() == foca::State::Suspect);
    let me = foca.identity().clone();
    for s in &suspicions {
        heartbeat::tell(&me, s.id(), s, &mut runtime)?;
    }
    foca.apply_many(suspicions.into_iter(), false, &mut runtime)?;
    let backlog = foca.updates_backlog();
    foca.apply_many(deaths.into_iter(), true, &mut runtime)?;
    push_news_to(foca, backlog, runtime, VERDICT_ROUNDS)
}

/// [`push_news`] in `rounds` gossip rounds, each to a few random members.
pub fn push_news_to(
    foca: &mut Swim,
    backlog_before: usize,
    mut runtime: impl foca::Runtime<NodeId>,
    rounds: usize,
) -> Result<(), foca::Error> {
    if foca.updates_backlog() > backlog_before {
        for _ in 0..rounds {
            foca.gossip(&mut runtime)?;
        }
    }
    Ok(())
}

/// Handle to the gossip task; dropping it stops the task.
#[derive(Debug)]
pub struct GossipHandle {
    peers: watch::Sender<BTreeMap<String, SocketAddr>>,
    /// Names of the live speakers, this one included.
    pub members: watch::Receiver<BTreeSet<String>>,
}

impl GossipHandle {
    /// Replaces the set of speakers to contact (name → gossip address), e.g. from the
    /// Nodes' addresses. Speakers not yet members are announced to until they join.
    pub fn set_peers(&self, peers: BTreeMap<String, SocketAddr>) {
        self.peers.send_if_modified(|p| {
            let changed = *p != peers;
            *p = peers;
            changed
        });
    }

    /// Leaves the cluster gracefully (peers learn it at once, instead of after the
    /// failure detector's delay) and waits for the task, at most 500 ms.
    pub async fn leave(self, task: tokio::task::JoinHandle<()>) {
        // Closing the peers channel makes the task say goodbye and end.
        drop(self);
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
}

/// Binds the socket and starts the gossip task.
pub async fn spawn(
    opts: GossipOptions,
    secret: &[u8],
    metrics: GossipMetrics,
) -> Result<(GossipHandle, tokio::task::JoinHandle<()>), GossipError> {
    let sealer = Sealer::new(secret)?;
    let socket = QuietUdpSocket::bind(opts.bind).map_err(|source| GossipError::Bind {
        addr: opts.bind,
        source,
    })?;
    // A restarted speaker starts with a newer bump than its previous life (seconds,
    // wrapping), so peers that still hold the old one as down accept it at once.
    let bump = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() & 0xffff) as u16);
    let me = NodeId {
        name: opts.name.as_str().into(),
        addr: opts.advertise,
        bump,
    };
    let mut seed = [0u8; 16];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| seal::SealError::Random)?;
    let rng = <XorShiftRng as rand_core::SeedableRng>::from_seed(seed);
    let foca = Foca::new(me, lan_config_timed(1, &opts.timing), rng, WireCodec);
    let (peers_tx, peers_rx) = watch::channel(BTreeMap::new());
    let (members_tx, members_rx) = watch::channel(BTreeSet::from([opts.name.clone()]));
    let beats = if opts.timing.heartbeat.is_zero() {
        None
    } else {
        Some(Beats::bind(opts.bind, opts.advertise)?)
    };
    let driver = Driver::new(foca, socket, beats, sealer, opts.timing, metrics.verdicts);
    let alarm = Alarm::new("gossip");
    let task = tokio::spawn(run(driver, alarm, peers_rx, members_tx, metrics.refused));
    Ok((
        GossipHandle {
            peers: peers_tx,
            members: members_rx,
        },
        task,
    ))
}

/// The shortest time between two answers to pokes.
const POKE_ANSWER_GAP: Duration = Duration::from_millis(5);

/// foca as the speaker runs it.
pub type Swim = Foca<NodeId, WireCodec, XorShiftRng, foca::NoCustomBroadcast>;

/// Datagrams read before due timers are handled: what arrived while the task was
/// not running (a busy node) counts before a suspicion is decided, but a flood at the
/// port cannot hold the timers off.
const DRAIN_BEFORE_TIMERS: usize = 64;

/// foca with its sockets, timers and failure detectors: what the gossip task drives.
struct Driver {
    foca: Swim,
    socket: QuietUdpSocket,
    beats: Option<Beats>,
    sealer: Sealer,
    detector: Detector,
    heartbeats: Heartbeats,
    /// `ironlb_gossip_heartbeat_verdicts_total{state}`.
    verdicts: IntCounterVec,
    probes: ProbeWatch,
    timers: Timers<Instant>,
    rt: AccumulatingRuntime<NodeId>,
    start: Instant,
    timing: Timing,
    buf: Vec<u8>,
}

impl Driver {
    fn new(
        foca: Swim,
        socket: QuietUdpSocket,
        beats: Option<Beats>,
        sealer: Sealer,
        timing: Timing,
        verdicts: IntCounterVec,
    ) -> Self {
        Driver {
            foca,
            socket,
            beats,
            sealer,
            detector: Detector::new(timing.silence),
            heartbeats: Heartbeats::new(timing.heartbeat, timing.silence, timing.heartbeat_fanout),
            verdicts,
            probes: ProbeWatch::default(),
            timers: Timers::default(),
            rt: AccumulatingRuntime::new(),
            start: Instant::now(),
            timing,
            buf: vec![0u8; 65_536],
        }
    }

    fn since_start(&self) -> Duration {
        self.start.elapsed()
    }

    /// When the task must wake next: a timer, a heartbeat to send, a member to check.
    fn next_wake(&self) -> Option<Instant> {
        let check = self.heartbeats.next_deadline().map(|d| self.start + d);
        [
            self.timers.next_deadline(),
            self.beats.as_ref().map(|b| b.next_wake(Instant::now())),
            check,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Opens and applies the datagram of `n` bytes in the buffer.
    fn on_datagram(&mut self, n: usize, from: SocketAddr) -> Result<(), Refused> {
        let plain = self
            .sealer
            .open(&self.buf[..n])
            .map_err(|e| Refused::from_seal(&e))?;
        if let Some((kind, port, seq)) = heartbeat::decode_kind(&plain) {
            return self.on_poke_or_answer(kind, SocketAddr::new(from.ip(), port), seq);
        }
        let backlog = self.foca.updates_backlog();
        let answered = self.probes.answered(&plain);
        self.foca
            .handle_data(&plain, &mut self.rt)
            .map_err(|_| Refused::Malformed)?;
        if let Err(e) = heartbeat::answer_suspicion(self.foca.identity(), &plain, &mut self.rt) {
            debug!(error = %e, "answering a suspicion");
        }
        let now = self.since_start();
        self.detector.heard(from, now);
        self.heartbeats.heard(from, now);
        if let Some(addr) = answered {
            self.timers.drop_indirect_probe(addr);
        }
        if let Err(e) = push_news(&mut self.foca, backlog, &mut self.rt) {
            debug!(error = %e, "gossip push");
        }
        Ok(())
    }

    /// A watcher's poke (answered at once with a heartbeat, at most one per
    /// [`POKE_ANSWER_GAP`]), or the answer to one of ours, from the member at `member`.
    fn on_poke_or_answer(
        &mut self,
        kind: heartbeat::Kind,
        member: SocketAddr,
        seq: u64,
    ) -> Result<(), Refused> {
        match kind {
            heartbeat::Kind::Beat => {
                let now = self.since_start();
                if !self.heartbeats.beat(member, seq, now) {
                    return Err(Refused::Replayed);
                }
                self.detector.heard(member, now);
            }
            heartbeat::Kind::Poke => {
                let now = Instant::now();
                let Some(b) = self.beats.as_mut() else {
                    return Ok(());
                };
                // Only members are answered, and not faster than this: a replayed poke
                // cannot make the speaker a source of traffic.
                if b.answered.is_some_and(|at| now < at + POKE_ANSWER_GAP)
                    || !self.foca.iter_members().any(|m| m.id().addr == member)
                {
                    return Ok(());
                }
                b.answered = Some(now);
                let answer = heartbeat::encode(b.port, b.next_seq());
                send_sealed(&self.sealer, &self.socket, &answer, member);
            }
        }
        Ok(())
    }

    /// Handles what is due now: the datagrams waiting in the socket, then the
    /// heartbeats (read, sent, checked), then the timers.
    fn on_wake(&mut self, refuse: &mut impl FnMut(Refused, SocketAddr)) {
        for _ in 0..DRAIN_BEFORE_TIMERS {
            let Ok((n, from)) = self.socket.try_recv_from(&mut self.buf) else {
                break;
            };
            if let Err(why) = self.on_datagram(n, from) {
                refuse(why, from);
            }
        }
        // Read at every wake-up, not only the beat's: a member's silence is decided on
        // everything that reached this speaker.
        let emptied = self.read_beats(refuse);
        if self
            .beats
            .as_ref()
            .is_some_and(|b| b.next <= Instant::now())
        {
            self.send_beats();
        }
        if emptied {
            self.check_heartbeats();
        }
        for due in self.timers.pop_due(Instant::now()) {
            let backlog = self.foca.updates_backlog();
            let now = self.since_start();
            match detector::handle_due(&mut self.foca, &mut self.detector, due, now, &mut self.rt) {
                Ok(Some((after, recheck))) => self.timers.insert(Instant::now() + after, recheck),
                Ok(None) => {}
                Err(e) => debug!(error = %e, "gossip timer"),
            }
            if let Err(e) = push_news(&mut self.foca, backlog, &mut self.rt) {
                debug!(error = %e, "gossip push");
            }
        }
    }

    /// Takes in the heartbeats waiting in the heartbeat socket, at most [`BEAT_SLICE`]
    /// datagrams so a flood cannot hold the task; true if it is empty now.
    fn read_beats(&mut self, refuse: &mut impl FnMut(Refused, SocketAddr)) -> bool {
        let Some(b) = self.beats.as_mut() else {
            return true;
        };
        let now = self.start.elapsed();
        let mut junk = false;
        b.backlog = true;
        for _ in 0..BEAT_SLICE {
            let Ok((n, from, age)) = b.recv(&mut self.buf) else {
                b.backlog = false;
                break;
            };
            let arrived = now.saturating_sub(age);
            let beat = self
                .sealer
                .open(&self.buf[..n])
                .map_err(|e| Refused::from_seal(&e))
                .and_then(|plain| heartbeat::decode(&plain).ok_or(Refused::Malformed));
            match beat {
                Ok((port, seq)) => {
                    let member = SocketAddr::new(from.ip(), port);
                    if self.heartbeats.beat(member, seq, arrived) {
                        self.detector.heard(member, arrived);
                    } else {
                        junk = true;
                        refuse(Refused::Replayed, from);
                    }
                }
                Err(why) => {
                    junk = true;
                    refuse(why, from);
                }
            }
        }
        if junk {
            b.flooded_until = Some(Instant::now() + FLOODED_HOLD);
        }
        !b.backlog
    }

    /// Sends this speaker's heartbeat to its ring successors.
    fn send_beats(&mut self) {
        let Some(b) = self.beats.as_mut() else {
            return;
        };
        let sealed = self.sealer.seal(&heartbeat::encode(b.port, b.next_seq()));
        let me = self.foca.identity();
        let members: Vec<&NodeId> = self.foca.iter_members().map(|m| m.id()).collect();
        match sealed {
            Ok(d) => {
                for to in heartbeat::successors(me, &members, self.heartbeats.fanout()) {
                    if let Some(addr) = heartbeat::beat_addr(to.addr)
                        && let Err(e) = b.socket.send_to(&d, addr)
                    {
                        debug!(peer = %to.name, error = %e, "heartbeat send failed");
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot seal a heartbeat"),
        }
        // A late wake-up (a busy node) skips the beats it missed rather than bursting.
        b.next = (b.next + self.timing.heartbeat).max(Instant::now());
    }

    /// Pokes the watched members that are late, suspects and declares down the ones
    /// that went silent.
    fn check_heartbeats(&mut self) {
        let now = self.since_start();
        let members: Vec<&foca::Member<NodeId>> = self.foca.iter_members().collect();
        let heartbeat::Check { updates, pokes } =
            self.heartbeats.check(self.foca.identity(), &members, now);
        if let Some(b) = self.beats.as_mut() {
            for member in pokes {
                let poke = heartbeat::encode_kind(heartbeat::Kind::Poke, b.port, b.next_seq());
                send_sealed(&self.sealer, &self.socket, &poke, member);
            }
        }
        if updates.is_empty() {
            return;
        }
        for u in &updates {
            info!(member = %u.id().name, state = ?u.state(), "heartbeats stopped");
            self.verdicts
                .with_label_values(&[verdict_label(u.state())])
                .inc();
        }
        if let Err(e) = apply_verdicts(&mut self.foca, updates, &mut self.rt) {
            debug!(error = %e, "applying heartbeat verdicts");
        }
    }

    /// Sends, schedules and reads what foca asked for; true if foca notified anything (a
    /// member up, down or renamed, or this node's own state), so the member set may differ.
    async fn drain(&mut self) -> bool {
        while let Some((to, data)) = self.rt.to_send() {
            self.probes.sent(&data);
            send_sealed(&self.sealer, &self.socket, &data, to.addr);
        }
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.timers.insert(Instant::now() + after, Due::foca(timer));
        }
        let mut notified = false;
        while let Some(n) = self.rt.to_notify() {
            if let foca::OwnedNotification::MemberDown(id) = n {
                self.detector.forget(id.addr);
                self.heartbeats.forget(id.addr);
            }
            notified = true;
        }
        notified
    }

    /// The names of the active members and this speaker.
    fn live(&self, me: &str) -> BTreeSet<String> {
        self.foca
            .iter_members()
            .map(|m| m.id().name.to_string())
            .chain(std::iter::once(me.to_string()))
            .collect()
    }
}

async fn run(
    mut d: Driver,
    mut alarm: Alarm,
    mut peers: watch::Receiver<BTreeMap<String, SocketAddr>>,
    members: watch::Sender<BTreeSet<String>>,
    refused: IntCounterVec,
) {
    let mut logs: LogLimiter<Refused> = LogLimiter::new(LOG_SUMMARY, Refused::ALL.len());
    let mut refuse = |why: Refused, from: SocketAddr| {
        refused.with_label_values(&[why.as_str()]).inc();
        match logs.record(why, std::time::Instant::now()) {
            Some(LogLine::First) => warn!(
                %from, reason = why.as_str(),
                "gossip datagram refused; more are counted in ironlb_gossip_refused_total"
            ),
            Some(LogLine::Summary { more, over }) => warn!(
                reason = why.as_str(),
                "{more} more gossip datagrams refused in the last {} s",
                over.as_secs()
            ),
            None => {}
        }
    };
    let mut reannounce = tokio::time::interval(Duration::from_millis(500));
    reannounce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Whether a peer may not be a member: only then does the re-announcing wake the task.
    let mut missing = true;
    let me = d.foca.identity().name.to_string();
    // What `foca` was configured with (it has no getter); spawn sizes it for one.
    let mut sized_for = sizing(&lan_config_timed(1, &d.timing));
    loop {
        alarm.set(d.next_wake());
        tokio::select! {
            r = d.socket.recv_from(&mut d.buf) => match r {
                Ok((n, from)) => {
                    if let Err(why) = d.on_datagram(n, from) {
                        refuse(why, from);
                    }
                }
                Err(e) => warn!(error = %e, "gossip receive failed"),
            },
            () = alarm.fired() => d.on_wake(&mut refuse),
            changed = peers.changed() => {
                if changed.is_err() {
                    break;
                }
                let peers = peers.borrow_and_update();
                // Size the dissemination to the cluster (the speakers of every node).
                let sized = lan_config_timed(peers.len(), &d.timing);
                if sizing(&sized) != sized_for {
                    sized_for = sizing(&sized);
                    if let Err(e) = d.foca.set_config(sized) {
                        warn!(error = %e, "cannot resize the gossip configuration");
                    }
                }
                missing = announce_missing(&mut d.foca, &peers, &me, &mut d.rt);
            }
            _ = reannounce.tick(), if missing => {
                missing = announce_missing(&mut d.foca, &peers.borrow(), &me, &mut d.rt);
            }
        }
        // The member set changes only with a notification (up, down, renamed): rebuilding
        // it after every datagram cost a String per member per event (per received
        // datagram: 0.1 ms at 1,000 members; docs/PERFORMANCE.md, "Scale by simulation").
        if !d.drain().await {
            continue;
        }
        // A member may have gone down: announce to it again until it is back.
        missing = true;
        let live = d.live(&me);
        members.send_if_modified(|cur| {
            if *cur == live {
                return false;
            }
            // The changes, not the whole set: at 5,000 members the set is a 100 kB line.
            let joined: Vec<&String> = live.difference(cur).collect();
            let left: Vec<&String> = cur.difference(&live).collect();
            info!(
                members = live.len(),
                ?joined,
                ?left,
                "gossip membership changed"
            );
            *cur = live;
            true
        });
    }
    let _ = d.foca.leave_cluster(&mut d.rt);
    d.drain().await;
}

/// Seals `plain` and sends it from the gossip socket to `to`; a failure is logged (a lost
/// datagram, as on the wire).
fn send_sealed(sealer: &Sealer, socket: &QuietUdpSocket, plain: &[u8], to: SocketAddr) {
    match sealer.seal(plain) {
        Ok(d) => {
            if let Err(e) = socket.send_to(&d, to) {
                debug!(%to, error = %e, "gossip send failed");
            }
        }
        Err(e) => warn!(error = %e, "cannot seal gossip"),
    }
}

/// The parts of the configuration that depend on the cluster's size.
fn sizing(c: &Config) -> (std::num::NonZeroU8, Duration) {
    (c.max_transmissions, c.suspect_to_down_after)
}

/// Announces this speaker to every peer that is not a member; true if there was one.
fn announce_missing(
    foca: &mut Swim,
    peers: &BTreeMap<String, SocketAddr>,
    me: &str,
    rt: &mut AccumulatingRuntime<NodeId>,
) -> bool {
    // Borrowed names: this runs every 500 ms while a peer is missing and need not copy
    // every member's name.
    let known: BTreeSet<&str> = foca.iter_members().map(|m| &*m.id().name).collect();
    let missing: Vec<NodeId> = peers
        .iter()
        .filter(|(name, _)| name.as_str() != me && !known.contains(name.as_str()))
        .map(|(name, addr)| NodeId {
            name: name.as_str().into(),
            addr: *addr,
            bump: 0,
        })
        .collect();
    let any = !missing.is_empty();
    for dst in missing {
        let name = Arc::clone(&dst.name);
        if let Err(e) = foca.announce(dst, &mut *rt) {
            debug!(peer = %name, error = %e, "announce failed");
        }
    }
    any
}

#[cfg(test)]
mod tests;
