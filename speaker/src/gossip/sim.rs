//! A deterministic simulator of the speakers' gossip: N foca instances configured as the
//! speaker configures them ([`super::lan_config`], [`WireCodec`], [`NodeId`], datagrams
//! sealed with [`Sealer`]), a virtual clock, and a simulated network with per-datagram
//! delay and loss drawn from a seeded RNG. It answers "how long until every speaker
//! considers a dead one down, and what does the gossip cost" at sizes no lab can run
//! (docs/PERFORMANCE.md, "Scale by simulation"; the bench `gossip_sim` drives it).
//!
//! ```text
//!   queue (virtual time, seq) ──> Timer(node, foca timer) ──> Foca::handle_timer ─┐
//!                             └─> Deliver(node, datagram) ──open──> handle_data ──┤
//!                                                                                 v
//!   AccumulatingRuntime: to_send ──seal──> loss? ──> Deliver at now + delay ──> queue
//!                        to_schedule ──────────────> Timer at now + after ───> queue
//!                        to_notify ──> MemberDown(victim): when each node saw it
//! ```
//!
//! Why a library module and not bench-only code: foca is sans-I/O, so the simulator is
//! the same calls the speaker's gossip task makes (its `run` loop) with the socket and the
//! clock replaced; it sits beside them so that a change of configuration or codec is
//! simulated without copying, and its unit tests run with the library's. The speaker
//! binary never calls it, so the linker drops it.
//!
//! Invariants: the same [`SimConfig`] gives the same run (events are ordered by virtual
//! time, then by a sequence number; every random draw comes from one seeded RNG — the
//! sealing nonces are random but change no length and no outcome). Every datagram sent is
//! accounted exactly once: delivered, lost, dropped at a dead node, or still in flight.
//!
//! Like the gossip task, it runs foca's suspicion timers through the failure
//! [`detector`] and pushes news at once ([`super::push_news`]), unless
//! [`SimConfig::detector`] is `None` (foca alone, as the speaker ran it before).
//!
//! What it leaves out: the speaker's re-announcement of Kubernetes peers that are not
//! members (every 500 ms) — all nodes start as members, so it
//! only matters for dead ones —, the dropping of an answered probe's indirect-probe
//! timer ([`super::probe_watch`]: foca ignores that timer once the ack is in, so no
//! outcome changes), the lateness of lax timers ([`super::timers`]: periodic gossip and
//! announcements fire here at their deadlines, in the speaker up to 100 ms later, with
//! its next wake-up), and the kernel's UDP costs.
#![forbid(unsafe_code)]

use super::Swim;
use super::detector::{self, Detector, Due, Timing};
use super::heartbeat::{self, Heartbeats};
use super::seal::Sealer;
use super::wire::{NodeId, WireCodec};
use foca::{AccumulatingRuntime, Config, Foca, Member, OwnedNotification};
use rand_core::{Rng, SeedableRng};

use rand_xorshift::XorShiftRng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of speakers.
    pub nodes: usize,
    /// Probability that a datagram is lost, 0.0–1.0.
    pub loss: f64,
    /// Smallest one-way delay of a datagram.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Seeds the network and every foca instance.
    pub seed: u64,
    /// Seal and open every datagram as the speaker does (ChaCha20-Poly1305). Off, the
    /// byte counts still include the seal's overhead.
    pub seal: bool,
    /// The foca configuration of every node.
    pub foca: Config,
    /// The speaker's failure detector with this silence, and news pushed at once
    /// ([`super::push_news`]); `None`: foca alone, as the speaker ran it before.
    pub detector: Option<Duration>,
    /// Heartbeats every this long ([`super::heartbeat`], watched with the detector's
    /// silence); zero: none.
    pub heartbeat: Duration,
    /// How many ring successors each node sends heartbeats to.
    pub heartbeat_fanout: usize,
}

impl SimConfig {
    /// `nodes` speakers on a LAN (0.2–0.5 ms one way), configured as the speaker
    /// configures a cluster of that size.
    pub fn lan(nodes: usize, loss: f64, seed: u64) -> Self {
        SimConfig {
            nodes,
            loss,
            delay: Duration::from_micros(200),
            jitter: Duration::from_micros(300),
            seed,
            seal: true,
            foca: super::lan_config(nodes),
            detector: Some(Timing::default().silence),
            heartbeat: Timing::default().heartbeat,
            heartbeat_fanout: Timing::default().heartbeat_fanout,
        }
    }
}

/// Datagram accounting, over the whole run or per node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams sent.
    pub sent: u64,
    /// Bytes sent, sealed (what goes into a UDP payload).
    pub bytes: u64,
    /// Datagrams that arrived at a running node.
    pub delivered: u64,
    /// Datagrams the network lost.
    pub lost: u64,
    /// Datagrams that arrived at a dead node.
    pub to_dead: u64,
}

enum Event {
    Timer(Due),
    Deliver {
        from: usize,
        data: Vec<u8>,
    },
    /// The node runs nothing for this long (starved of CPU).
    Stall(Duration),
    /// Time to read the heartbeats, send its own and check (every interval).
    Beat,
    /// A heartbeat reached the node's socket; it is read at the node's next wake-up.
    BeatArrive {
        from: usize,
        seq: u64,
    },
    /// A watched member's silence may be decided now.
    Check,
}

struct Scheduled {
    at: Duration,
    seq: u64,
    node: usize,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct SimNode {
    foca: Swim,
    detector: Detector,
    heartbeats: Heartbeats,
    /// Heartbeats waiting in the socket: (from, sequence number, arrival), the arrival
    /// as the kernel stamps it.
    inbox: Vec<(usize, u64, Duration)>,
    /// The last sequence number a heartbeat, a poke or an answer carried.
    seq: u64,
    /// Events that wake the speaker's task (see [`Sim::wakes_by`]).
    wakes: u64,
    /// Until when the node is stalled: what reaches it waits.
    stalled_until: Duration,
    alive: bool,
    sent: u64,
    bytes: u64,
}

impl SimNode {
    /// The next sequence number for a heartbeat, a poke or an answer.
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// The seal's overhead per datagram: version, nonce, tag ([`super::seal`]).
pub const SEAL_OVERHEAD: usize = 1 + 12 + 16;

/// The simulation: nodes, network, clock and what was observed.
pub struct Sim {
    config: SimConfig,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<SimNode>,
    rng: XorShiftRng,
    sealer: Option<Sealer>,
    rt: AccumulatingRuntime<NodeId>,
    traffic: Traffic,
    /// (observer, member, when) for every MemberDown notification.
    downs: Vec<(usize, usize, Duration)>,
    errors: u64,
}

/// The identity of node `i`: name `node-<i>`, address 10.x.y.z:7946 encoding `i`.
pub fn node_id(i: usize) -> NodeId {
    let i = u32::try_from(i).unwrap_or(u32::MAX) & 0x00ff_ffff;
    NodeId {
        name: format!("node-{i:05}").into(),
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)), super::PORT),
        bump: 0,
    }
}

fn index_of(id: &NodeId) -> usize {
    index_of_addr(id.addr)
}

/// The node whose gossip address is `addr`.
fn index_of_addr(addr: SocketAddr) -> usize {
    match addr.ip() {
        IpAddr::V4(a) => (u32::from(a) & 0x00ff_ffff) as usize,
        IpAddr::V6(_) => usize::MAX,
    }
}

/// A uniform draw in [0, 1) from 64 random bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn seed_bytes(seed: u64, i: usize) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..].copy_from_slice(&(i as u64 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
    s
}

impl Sim {
    /// Every node starts running and already a member at every other node (as after
    /// the speakers have joined), with its probe and gossip timers armed.
    pub fn new(config: SimConfig) -> Self {
        let mut sim = Sim {
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: Vec::with_capacity(config.nodes),
            rng: XorShiftRng::from_seed(seed_bytes(config.seed, usize::MAX)),
            sealer: config
                .seal
                .then(|| Sealer::new(b"simulated cluster key").ok())
                .flatten(),
            rt: AccumulatingRuntime::new(),
            traffic: Traffic::default(),
            downs: Vec::new(),
            errors: 0,
            config,
        };
        for i in 0..sim.config.nodes {
            let rng = XorShiftRng::from_seed(seed_bytes(sim.config.seed, i));
            let foca = Foca::new(node_id(i), sim.config.foca.clone(), rng, WireCodec);
            let silence = sim.config.detector.unwrap_or_default();
            sim.nodes.push(SimNode {
                foca,
                detector: Detector::new(silence),
                heartbeats: Heartbeats::new(
                    sim.config.heartbeat,
                    silence,
                    sim.config.heartbeat_fanout,
                ),
                inbox: Vec::new(),
                seq: 0,
                wakes: 0,
                stalled_until: Duration::ZERO,
                alive: true,
                sent: 0,
                bytes: 0,
            });
        }
        for i in 0..sim.config.nodes {
            let others = (0..sim.config.nodes)
                .filter(|&j| j != i)
                .map(|j| Member::alive(node_id(j)));
            if sim.nodes[i]
                .foca
                .apply_many(others, false, &mut sim.rt)
                .is_err()
            {
                sim.errors += 1;
            }
            sim.drain(i);
            if !sim.config.heartbeat.is_zero() {
                // Speakers start at different times: their beats are out of phase.
                let nanos = sim.config.heartbeat.as_nanos() as u64;
                let phase = Duration::from_nanos(sim.rng.next_u64() % nanos.max(1));
                sim.push(phase, i, Event::Beat);
            }
        }
        sim
    }

    /// The virtual time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Number of nodes, dead ones included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether node `i` runs.
    pub fn is_alive(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.alive)
    }

    /// Stops node `i` without a goodbye: it sends and answers nothing from now on.
    pub fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.alive = false;
        }
    }

    /// Stalls node `i` for `len` from `at` (virtual time): it handles nothing meanwhile,
    /// then the datagrams that reached it, then its overdue timers.
    pub fn stall_at(&mut self, i: usize, at: Duration, len: Duration) {
        self.push(at, i, Event::Stall(len));
    }

    /// The whole run's datagram accounting.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Datagrams still in flight.
    pub fn in_flight(&self) -> u64 {
        self.queue
            .iter()
            .filter(|Reverse(s)| {
                matches!(s.event, Event::Deliver { .. } | Event::BeatArrive { .. })
            })
            .count() as u64
    }

    /// Bytes sent by node `i` so far (sealed).
    pub fn bytes_sent_by(&self, i: usize) -> u64 {
        self.nodes.get(i).map_or(0, |n| n.bytes)
    }

    /// Datagrams sent by node `i` so far.
    pub fn sent_by(&self, i: usize) -> u64 {
        self.nodes.get(i).map_or(0, |n| n.sent)
    }

    /// Wake-ups of node `i`'s gossip task so far, as the speaker would have them: a
    /// datagram at the gossip socket, a strict timer, a heartbeat beat or check (a
    /// heartbeat arriving wakes nobody; lax timers ride on other wake-ups). An estimate:
    /// events at the same instant count apart.
    pub fn wakes_by(&self, i: usize) -> u64 {
        self.nodes.get(i).map_or(0, |n| n.wakes)
    }

    /// Errors foca returned (unexpected in a clean run: a codec or state bug).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// When `observer` was notified that `member` went down, the first time at or after
    /// `since`.
    pub fn down_at(&self, observer: usize, member: usize, since: Duration) -> Option<Duration> {
        self.downs
            .iter()
            .find(|(o, m, t)| *o == observer && *m == member && *t >= since)
            .map(|(_, _, t)| *t)
    }

    /// Every MemberDown notification: (observer, member, when).
    pub fn downs(&self) -> &[(usize, usize, Duration)] {
        &self.downs
    }

    /// Whether running node `observer` counts `member` as active (alive or suspect), as
    /// the speaker's published member set would.
    pub fn considers_active(&self, observer: usize, member: usize) -> bool {
        let id = node_id(member);
        self.nodes.get(observer).is_some_and(|n| {
            n.foca
                .iter_members()
                .any(|m| m.id().name == id.name && m.id().bump == id.bump)
        })
    }

    /// Processes events until the virtual time `until` (events at `until` included).
    pub fn run_until(&mut self, until: Duration) {
        self.run_while(until, |_| true);
    }

    /// Processes events until `until`, or until `go_on` says no (checked after each
    /// event). Returns whether it stopped because of `go_on`.
    pub fn run_while(&mut self, until: Duration, mut go_on: impl FnMut(&Sim) -> bool) -> bool {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Some(Reverse(ev)) = self.queue.pop() else {
                break;
            };
            self.now = ev.at;
            self.step(ev.node, ev.event);
            if !go_on(self) {
                return true;
            }
        }
        self.now = self.now.max(until);
        false
    }

    fn step(&mut self, i: usize, event: Event) {
        let now = self.now;
        let Some(node) = self.nodes.get_mut(i) else {
            return;
        };
        // The kernel takes in (and stamps) heartbeats while the task is stalled.
        let queued_by_kernel = matches!(event, Event::BeatArrive { .. });
        if node.alive && now < node.stalled_until && !queued_by_kernel {
            // Datagrams first, then timers: the gossip task drains its socket before it
            // decides overdue timers.
            let at = match event {
                Event::Timer(_) => node.stalled_until + Duration::from_nanos(1),
                _ => node.stalled_until,
            };
            self.push(at, i, event);
            return;
        }
        let wakes = match &event {
            Event::Timer(due) => !super::timers::is_lax(&due.timer),
            Event::Deliver { .. } | Event::Beat | Event::Check => true,
            Event::Stall(_) | Event::BeatArrive { .. } => false,
        };
        if wakes && node.alive {
            node.wakes += 1;
        }
        let backlog = node.foca.updates_backlog();
        let mut recheck = None;
        let r = match event {
            Event::Stall(len) => {
                node.stalled_until = now + len;
                return;
            }
            Event::BeatArrive { from, seq } => {
                if node.alive {
                    self.traffic.delivered += 1;
                    node.inbox.push((from, seq, now));
                } else {
                    self.traffic.to_dead += 1;
                }
                return;
            }
            Event::Beat | Event::Check => {
                if !node.alive {
                    return;
                }
                self.on_beat(i, matches!(event, Event::Beat));
                return;
            }
            Event::Timer(due) => {
                if !node.alive {
                    return;
                }
                match self.config.detector {
                    Some(_) => detector::handle_due(
                        &mut node.foca,
                        &mut node.detector,
                        due,
                        now,
                        &mut self.rt,
                    )
                    .map(|again| recheck = again),
                    None => node.foca.handle_timer(due.timer, &mut self.rt),
                }
            }
            Event::Deliver { from, data } => {
                if !node.alive {
                    self.traffic.to_dead += 1;
                    return;
                }
                self.traffic.delivered += 1;
                let plain = match &self.sealer {
                    Some(s) => match s.open(&data) {
                        Ok(plain) => plain,
                        Err(_) => {
                            self.errors += 1;
                            return;
                        }
                    },
                    None => data,
                };
                if let Some((kind, _, seq)) = heartbeat::decode_kind(&plain) {
                    self.on_poke_or_answer(i, from, kind, seq);
                    return;
                }
                let r = node.foca.handle_data(&plain, &mut self.rt).and_then(|()| {
                    heartbeat::answer_suspicion(node.foca.identity(), &plain, &mut self.rt)
                });
                if r.is_ok() {
                    node.detector.heard(node_id(from).addr, now);
                    node.heartbeats.heard(node_id(from).addr, now);
                }
                r
            }
        };
        if r.is_err() {
            self.errors += 1;
        }
        if let Some((after, due)) = recheck {
            self.push(now + after, i, Event::Timer(due));
        }
        if self.config.detector.is_some()
            && let Some(node) = self.nodes.get_mut(i)
            && super::push_news(&mut node.foca, backlog, &mut self.rt).is_err()
        {
            self.errors += 1;
        }
        self.drain(i);
    }

    /// What the speaker's gossip task does when it wakes for heartbeats: reads them,
    /// sends its own (when `send`, and schedules the next), checks the watched members.
    fn on_beat(&mut self, i: usize, send: bool) {
        let now = self.now;
        let interval = self.config.heartbeat;
        let Some(node) = self.nodes.get_mut(i) else {
            return;
        };
        for (from, seq, arrived) in std::mem::take(&mut node.inbox) {
            let addr = node_id(from).addr;
            if node.heartbeats.beat(addr, seq, arrived) {
                node.detector.heard(addr, arrived);
            }
        }
        let mut to = Vec::new();
        if send {
            let members: Vec<&NodeId> = node.foca.iter_members().map(|m| m.id()).collect();
            let fanout = node.heartbeats.fanout();
            to = heartbeat::successors(node.foca.identity(), &members, fanout)
                .iter()
                .map(|m| index_of(m))
                .collect();
        }
        let members: Vec<&Member<NodeId>> = node.foca.iter_members().collect();
        let heartbeat::Check { updates, pokes } =
            node.heartbeats.check(node.foca.identity(), &members, now);
        let failed = !updates.is_empty()
            && super::apply_verdicts(&mut node.foca, updates, &mut self.rt).is_err();
        let check = node.heartbeats.next_deadline();
        let seq = if send { node.next_seq() } else { 0 };
        if failed {
            self.errors += 1;
        }
        self.drain(i);
        for j in to {
            self.send_beat(i, j, seq);
        }
        for member in pokes {
            let seq = self.nodes.get_mut(i).map_or(0, SimNode::next_seq);
            let poke = heartbeat::encode_kind(heartbeat::Kind::Poke, super::PORT, seq);
            self.transmit(i, index_of_addr(member), poke.to_vec());
        }
        if send {
            self.push(now + interval, i, Event::Beat);
        }
        if let Some(at) = check.filter(|at| *at < now + interval) {
            self.push(at.max(now), i, Event::Check);
        }
    }

    /// Node `i` took in a poke or the answer to one, numbered `seq`, from node `from` at
    /// its gossip port, as the speaker's gossip task does.
    fn on_poke_or_answer(&mut self, i: usize, from: usize, kind: heartbeat::Kind, seq: u64) {
        let now = self.now;
        let addr = node_id(from).addr;
        let Some(node) = self.nodes.get_mut(i) else {
            return;
        };
        match kind {
            heartbeat::Kind::Beat => {
                if node.heartbeats.beat(addr, seq, now) {
                    node.detector.heard(addr, now);
                }
            }
            heartbeat::Kind::Poke => {
                let beat = heartbeat::encode(super::PORT, node.next_seq());
                self.transmit(i, from, beat.to_vec());
            }
        }
    }

    /// Node `i`'s heartbeat number `seq` to node `j`, through the lossy network.
    fn send_beat(&mut self, i: usize, j: usize, seq: u64) {
        let len = (heartbeat::PLAIN_LEN + SEAL_OVERHEAD) as u64;
        if self.sent_and_lost(i, len) {
            return;
        }
        let at = self.now + self.delay();
        self.push(at, j, Event::BeatArrive { from: i, seq });
    }

    /// Counts a datagram of `len` bytes that node `i` sends; true if the network loses it.
    fn sent_and_lost(&mut self, i: usize, len: u64) -> bool {
        self.traffic.sent += 1;
        self.traffic.bytes += len;
        if let Some(n) = self.nodes.get_mut(i) {
            n.sent += 1;
            n.bytes += len;
        }
        let lost = unit(self.rng.next_u64()) < self.config.loss;
        if lost {
            self.traffic.lost += 1;
        }
        lost
    }

    /// A datagram's one-way delay.
    fn delay(&mut self) -> Duration {
        let jitter = self.config.jitter.as_nanos() as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.next_u64() % (jitter + 1)
        };
        self.config.delay + Duration::from_nanos(extra)
    }

    fn push(&mut self, at: Duration, node: usize, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            node,
            event,
        }));
    }

    /// Performs what node `i`'s foca asked for, as the speaker's `drain` does.
    fn drain(&mut self, i: usize) {
        while let Some((to, data)) = self.rt.to_send() {
            self.transmit(i, index_of(&to), data.to_vec());
        }
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.push(self.now + after, i, Event::Timer(Due::foca(timer)));
        }
        while let Some(n) = self.rt.to_notify() {
            if let OwnedNotification::MemberDown(id) = n {
                self.downs.push((i, index_of(&id), self.now));
                if let Some(node) = self.nodes.get_mut(i) {
                    node.detector.forget(id.addr);
                    node.heartbeats.forget(id.addr);
                }
            }
        }
    }

    /// Sends `data` (plaintext) from node `i` to node `j`'s gossip port, sealed, through
    /// the lossy network.
    fn transmit(&mut self, i: usize, j: usize, data: Vec<u8>) {
        let datagram = match &self.sealer {
            Some(s) => match s.seal(&data) {
                Ok(d) => d,
                Err(_) => {
                    self.errors += 1;
                    return;
                }
            },
            None => data,
        };
        let len = if self.sealer.is_some() {
            datagram.len()
        } else {
            datagram.len() + SEAL_OVERHEAD
        } as u64;
        if self.sent_and_lost(i, len) {
            return;
        }
        let at = self.now + self.delay();
        self.push(
            at,
            j,
            Event::Deliver {
                from: i,
                data: datagram,
            },
        );
    }
}

/// What one death looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The node killed.
    pub victim: usize,
    /// From the death until the first running node declared it down.
    pub first: Option<Duration>,
    /// From the death until every running node had declared it down; `None` if some had
    /// not by the deadline.
    pub all: Option<Duration>,
    /// Running nodes that had not declared it down by the deadline.
    pub missing: usize,
}

impl Sim {
    /// Kills `victim` now and runs until every other running node has declared it down,
    /// or `deadline` after the death.
    pub fn kill_and_watch(&mut self, victim: usize, deadline: Duration) -> Detection {
        let start = self.now;
        self.kill(victim);
        let mut waiting: Vec<bool> = (0..self.len())
            .map(|i| i != victim && self.is_alive(i))
            .collect();
        let mut left = waiting.iter().filter(|w| **w).count();
        let mut seen = self.downs.len();
        let mut first = None;
        let done = self.run_while(start + deadline, |sim| {
            for &(o, m, t) in &sim.downs[seen..] {
                if m == victim && waiting.get(o).copied().unwrap_or(false) {
                    waiting[o] = false;
                    left -= 1;
                    first.get_or_insert(t - start);
                }
            }
            seen = sim.downs.len();
            left > 0
        });
        Detection {
            victim,
            first,
            all: done.then(|| self.now - start),
            missing: left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(c: &Config) -> Duration {
        // A probe period to pick the victim, the round trip and the indirect probe's
        // wait, the suspicion, and a gossip round or two to tell the others.
        c.probe_period * 2 + c.probe_rtt * 2 + c.suspect_to_down_after + Duration::from_millis(200)
    }

    #[test]
    fn a_killed_node_is_detected_by_all_within_the_configured_bound_without_loss() {
        let mut sim = Sim::new(SimConfig::lan(5, 0.0, 1));
        sim.run_until(Duration::from_secs(1));
        let d = sim.kill_and_watch(3, Duration::from_secs(10));
        assert_eq!(d.missing, 0, "{d:?}");
        let all = d.all.unwrap();
        assert!(all <= bound(&sim.config.foca), "{all:?}");
        assert!(d.first.unwrap() <= all);
        assert_eq!(sim.errors(), 0);
        // Nobody else was declared down.
        assert!(sim.downs().iter().all(|&(_, m, _)| m == 3));
    }

    #[test]
    fn a_cluster_larger_than_one_datagram_of_members_runs() {
        // 100 members do not fit one 1,400-byte feed: foca fills datagrams until the codec
        // says no room (it used to panic instead).
        let mut sim = Sim::new(SimConfig::lan(100, 0.0, 5));
        sim.run_until(Duration::from_millis(300));
        assert_eq!(sim.errors(), 0);
        assert!(sim.traffic().delivered > 0);
    }

    #[test]
    fn at_100_nodes_every_node_hears_of_a_death_by_gossip() {
        // With dissemination sized for 8 speakers, most deaths were still unknown to some
        // of 100 after seconds; sized for the cluster, all know within the bound.
        let mut sim = Sim::new(SimConfig::lan(100, 0.0, 11));
        sim.run_until(Duration::from_millis(500));
        for victim in [17, 64] {
            let d = sim.kill_and_watch(victim, Duration::from_secs(5));
            assert_eq!(d.missing, 0, "{d:?}");
            assert!(d.all.unwrap() <= bound(&sim.config.foca), "{d:?}");
        }
        assert_eq!(sim.errors(), 0);
    }

    #[test]
    fn every_datagram_is_accounted_for_once() {
        let mut sim = Sim::new(SimConfig::lan(8, 0.05, 7));
        sim.run_until(Duration::from_millis(500));
        sim.kill(2);
        sim.run_until(Duration::from_millis(1500));
        let t = sim.traffic();
        assert!(t.lost > 0 && t.to_dead > 0, "{t:?}");
        assert_eq!(t.sent, t.delivered + t.lost + t.to_dead + sim.in_flight());
        let per_node: u64 = (0..sim.len()).map(|i| sim.sent_by(i)).sum();
        assert_eq!(per_node, t.sent);
        let bytes: u64 = (0..sim.len()).map(|i| sim.bytes_sent_by(i)).sum();
        assert_eq!(bytes, t.bytes);
        // Every datagram carries at least the seal and a header.
        assert!(t.bytes > t.sent * SEAL_OVERHEAD as u64);
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let run = |seal| {
            let mut c = SimConfig::lan(6, 0.02, 42);
            c.seal = seal;
            let mut sim = Sim::new(c);
            sim.run_until(Duration::from_millis(300));
            let d = sim.kill_and_watch(1, Duration::from_secs(5));
            (d, sim.traffic(), sim.downs().to_vec())
        };
        assert_eq!(run(true), run(true));
        // Sealing changes bytes, not lengths or outcomes.
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn a_dead_node_is_no_longer_an_active_member() {
        let mut sim = Sim::new(SimConfig::lan(4, 0.0, 3));
        assert!(sim.considers_active(0, 1));
        sim.run_until(Duration::from_millis(200));
        let d = sim.kill_and_watch(1, Duration::from_secs(5));
        assert_eq!(d.missing, 0);
        for o in [0, 2, 3] {
            assert!(!sim.considers_active(o, 1));
            assert!(sim.down_at(o, 1, Duration::ZERO).is_some());
        }
    }

    #[test]
    fn a_lossy_lan_declares_no_live_speaker_down_with_the_detector() {
        // Three speakers, 5 % of datagrams lost, two simulated minutes. foca alone, with
        // the 250 ms suspicion it used to have, declared live speakers down in this run.
        let run = |detector: bool| {
            let mut c = SimConfig::lan(3, 0.05, 42);
            if !detector {
                c.detector = None;
                c.foca.suspect_to_down_after = Duration::from_millis(250);
            }
            let mut sim = Sim::new(c);
            sim.run_until(Duration::from_secs(120));
            assert_eq!(sim.errors(), 0);
            sim.downs().len()
        };
        assert_eq!(run(true), 0);
        assert!(
            run(false) > 0,
            "the run no longer tells the two apart: pick another seed"
        );
    }

    #[test]
    fn a_stall_is_survived_up_to_the_silence_and_a_longer_one_is_not() {
        let silence = Timing::default().silence;
        let stalled_down = |len: Duration| {
            let mut sim = Sim::new(SimConfig::lan(3, 0.0, 9));
            for s in 1..30 {
                sim.stall_at(0, Duration::from_secs(s), len);
            }
            sim.run_until(Duration::from_secs(31));
            sim.downs().iter().filter(|&&(_, m, _)| m == 0).count()
        };
        assert_eq!(stalled_down(silence / 2), 0);
        assert!(stalled_down(silence * 2) > 0);
    }
}
