//! Heartbeats: the fast half of failure detection, at a wake-up per interval.
//!
//! SWIM finds a dead member by probing it: a wake-up of the prober to send the ping, one
//! of the probed to answer, one of the prober to read the ack. Probing every 50 ms for
//! sub-300 ms detection cost twice MetalLB's idle CPU (docs/failure-detection.md). A
//! heartbeat needs no answer, so nobody has to wake for it: every `interval` a speaker
//! wakes once, reads the heartbeats that queued up in its (unpolled) heartbeat socket,
//! sends its own to the members that watch it, and checks the ones it watches. foca keeps
//! the membership and its slower probing (a second by default) as the fallback.
//!
//! ```text
//!  members sorted by name, a ring:  a ─> b ─> c ─> d ─> a      (`fanout` successors each)
//!  every interval:  drain socket ──> beat(from, seq, arrival) ──> armed[from].last = arrival
//!                   send sealed [b'H', gossip port, seq] to each successor's port + 1
//!                   check: silent ≥ interval + 5 ms (found at a read) ──> poke it, every
//!                                      15 ms: a sealed [b'P', port, seq] to its gossip
//!                                      port, answered at once with a heartbeat there
//!                          silent ≥ silence × 0.8 ──> Suspect (told to the suspect
//!                                      only; a live one answers with its refutation)
//!                          silent ≥ silence, still Suspect ──> Down
//! ```
//! A lost heartbeat is made up for by the pokes, which the gossip port (polled, unlike the
//! heartbeat port) answers at once: with a heartbeat every 100 ms and a silence of 250 ms
//! no live speaker is declared down at 10 % loss (by simulation), at half the wake-ups of
//! a heartbeat every 50 ms. The silence counts from a heartbeat's arrival (the kernel's
//! timestamp), not from its reading, up to an interval later. Lateness is found when the
//! socket is read, at the heartbeat wake-ups: a deadline of its own would wake the task for
//! nothing whenever a heartbeat that came waits unread, so the silence must leave room for
//! an interval of reading lag and a few pokes (docs/failure-detection.md).
//! A member is watched only once a heartbeat from it arrived while it is one of this
//! speaker's ring predecessors (armed): a speaker of an older version, which sends none, is
//! left to foca, and a member that joins is not declared down before its first heartbeat.
//! A refuted suspicion disarms the member (its heartbeats may go elsewhere, in a ring its
//! view orders differently) until its next heartbeat. Heartbeats carry a sequence number
//! (the sender's wall clock in nanoseconds) so a replayed one cannot keep a dead speaker
//! alive. Pure: the caller passes the time; the gossip task and the simulator drive it.
#![forbid(unsafe_code)]

use super::wire::{NodeId, WireCodec};
use foca::{Codec, Header, Incarnation, Member, Message, Runtime, State};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// How many ring successors each speaker sends heartbeats to by default (and so how many
/// watch it). One: by simulation it detects as fast as three (p99 244 ms against 239) with
/// half the datagrams, which are most of a speaker's CPU at rest; a speaker and its watcher
/// dying together leave the second death to probing (docs/PERFORMANCE.md, "Failure
/// detection").
pub const FANOUT: usize = 1;

/// Tells `to` the `news` directly: a foca gossip message from `me` carrying only it.
/// A watcher tells a suspect its suspicion this way, and a suspect its watcher the
/// refutation.
pub fn tell(
    me: &NodeId,
    to: &NodeId,
    news: &Member<NodeId>,
    mut runtime: impl Runtime<NodeId>,
) -> Result<(), foca::Error> {
    let header = Header {
        src: me.clone(),
        // foca keeps our incarnation to itself; a lower one is ignored as stale news of us.
        src_incarnation: 0,
        dst: to.clone(),
        message: Message::Gossip,
    };
    let mut buf = Vec::with_capacity(128);
    WireCodec
        .encode_header(&header, &mut buf)
        .and_then(|()| {
            buf.extend_from_slice(&1u16.to_be_bytes());
            WireCodec.encode_member(news, &mut buf)
        })
        .map_err(|e| foca::Error::Encode(Box::new(e)))?;
    runtime.send_to(to.clone(), &buf);
    Ok(())
}

/// If the foca message `plain` carries a suspicion of `me`, its sender and the incarnation
/// suspected.
pub fn suspicion_of(me: &NodeId, mut plain: &[u8]) -> Option<(NodeId, Incarnation)> {
    use bytes::Buf;
    let header = WireCodec.decode_header(&mut plain).ok()?;
    if matches!(
        header.message,
        Message::Announce | Message::Feed | Message::Broadcast | Message::TurnUndead
    ) || plain.remaining() < 2
    {
        return None;
    }
    let count = plain.get_u16();
    (0..count)
        .map_while(|_| WireCodec.decode_member(&mut plain).ok())
        .find(|m| m.id() == me && m.state() == State::Suspect)
        .map(|m| (header.src, m.incarnation()))
}

/// Answers a suspicion of `me` in `plain` (which foca has refuted by now): tells the
/// suspecting member directly that `me` lives, one incarnation above the suspected one
/// (foca's own is at least that). foca spreads the refutation to a few random members,
/// and among a hundred it often missed the one watcher whose deadline decides.
pub fn answer_suspicion(
    me: &NodeId,
    plain: &[u8],
    runtime: impl Runtime<NodeId>,
) -> Result<(), foca::Error> {
    let Some((suspecting, incarnation)) = suspicion_of(me, plain) else {
        return Ok(());
    };
    let alive = Member::new(me.clone(), incarnation.saturating_add(1), State::Alive);
    tell(me, &suspecting, &alive, runtime)
}

/// The first byte of a heartbeat's plaintext (foca's messages start otherwise).
const KIND: u8 = b'H';
/// The first byte of a poke's plaintext.
const POKE: u8 = b'P';

/// How often a late member is poked until it answers or is declared down.
pub const POKE_EVERY: Duration = Duration::from_millis(15);
/// How much later than an interval a heartbeat may arrive before its sender is late: the
/// sender's own timer and scheduling delay.
pub const LATE_MARGIN: Duration = Duration::from_millis(5);

/// A datagram in the heartbeat format, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A heartbeat (also the answer to a poke).
    Beat,
    /// A watcher asks for a heartbeat at once, at the sender's gossip port.
    Poke,
}

/// Plaintext length: kind, gossip port, sequence number.
pub const PLAIN_LEN: usize = 1 + 2 + 8;

/// A heartbeat's plaintext: the sender's gossip port (its identity's address is its
/// source IP with this port) and its sequence number.
pub fn encode(gossip_port: u16, seq: u64) -> [u8; PLAIN_LEN] {
    encode_kind(Kind::Beat, gossip_port, seq)
}

/// A heartbeat's or a poke's plaintext.
pub fn encode_kind(kind: Kind, gossip_port: u16, seq: u64) -> [u8; PLAIN_LEN] {
    let mut b = [0u8; PLAIN_LEN];
    b[0] = match kind {
        Kind::Beat => KIND,
        Kind::Poke => POKE,
    };
    b[1..3].copy_from_slice(&gossip_port.to_be_bytes());
    b[3..].copy_from_slice(&seq.to_be_bytes());
    b
}

/// The gossip port and sequence number of a heartbeat, if `plain` is one.
pub fn decode(plain: &[u8]) -> Option<(u16, u64)> {
    match decode_kind(plain)? {
        (Kind::Beat, port, seq) => Some((port, seq)),
        (Kind::Poke, ..) => None,
    }
}

/// The kind, gossip port and sequence number of a heartbeat or a poke, if `plain` is one.
pub fn decode_kind(plain: &[u8]) -> Option<(Kind, u16, u64)> {
    let b: &[u8; PLAIN_LEN] = plain.try_into().ok()?;
    let kind = match b[0] {
        KIND => Kind::Beat,
        POKE => Kind::Poke,
        _ => return None,
    };
    let port = u16::from_be_bytes([b[1], b[2]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&b[3..]);
    Some((kind, port, u64::from_be_bytes(seq)))
}

/// Where the speaker whose gossip address is `gossip` takes heartbeats: the next port.
pub fn beat_addr(gossip: SocketAddr) -> Option<SocketAddr> {
    let port = gossip.port().checked_add(1)?;
    Some(SocketAddr::new(gossip.ip(), port))
}

/// `me` and `members` in ring order (by name, then address), starting after `me`.
fn ring_after<'a>(me: &'a NodeId, members: &[&'a NodeId]) -> Vec<&'a NodeId> {
    let mut all: Vec<&NodeId> = members.iter().copied().filter(|m| *m != me).collect();
    all.push(me);
    all.sort_by(|a, b| (&a.name, a.addr).cmp(&(&b.name, b.addr)));
    all.dedup_by(|a, b| a == b);
    let at = all.iter().position(|m| *m == me).unwrap_or(0);
    all.rotate_left(at);
    all.remove(0);
    all
}

/// The members `me` sends heartbeats to: its `fanout` successors in the ring.
pub fn successors<'a>(me: &'a NodeId, members: &[&'a NodeId], fanout: usize) -> Vec<&'a NodeId> {
    ring_after(me, members).into_iter().take(fanout).collect()
}

/// The members that send heartbeats to `me`: its `fanout` predecessors in the ring.
pub fn predecessors<'a>(me: &'a NodeId, members: &[&'a NodeId], fanout: usize) -> Vec<&'a NodeId> {
    ring_after(me, members)
        .into_iter()
        .rev()
        .take(fanout)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    /// Last time a heartbeat (or any datagram) from it was taken in.
    last: Duration,
    /// The incarnation this speaker suspected it at, if it did.
    suspected: Option<Incarnation>,
    /// When it was last poked, if it was since its last heartbeat.
    poked: Option<Duration>,
}

/// What [`Heartbeats::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Verdicts for foca: suspicions and deaths.
    pub updates: Vec<Member<NodeId>>,
    /// The gossip addresses of the late members to poke now.
    pub pokes: Vec<SocketAddr>,
}

/// The heartbeats received and the members watched.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    interval: Duration,
    silence: Duration,
    fanout: usize,
    /// Highest sequence number taken from each sender: older ones are replays.
    seqs: HashMap<SocketAddr, u64>,
    armed: HashMap<SocketAddr, Watch>,
}

impl Heartbeats {
    /// Heartbeats every `interval` to `fanout` successors (at least one); a watched
    /// member silent for `silence` is down.
    pub fn new(interval: Duration, silence: Duration, fanout: usize) -> Self {
        Heartbeats {
            interval,
            silence,
            fanout: fanout.max(1),
            seqs: HashMap::new(),
            armed: HashMap::new(),
        }
    }

    /// How often heartbeats go out.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How many ring successors they go to.
    pub fn fanout(&self) -> usize {
        self.fanout
    }

    /// A member this long silent when the socket is read is late: a heartbeat is missing.
    /// It is poked until it answers.
    fn late_after(&self) -> Duration {
        self.interval + LATE_MARGIN
    }

    /// A member this long silent is suspected: after pokes went unanswered, with time left
    /// for the suspect to refute.
    fn suspect_after(&self) -> Duration {
        self.silence - self.silence / 5
    }

    /// A heartbeat from the member with gossip address `from`, numbered `seq`, was taken
    /// in at `now`; false if it is not newer than the last one (a replay), and ignored.
    pub fn beat(&mut self, from: SocketAddr, seq: u64, now: Duration) -> bool {
        let last = self.seqs.entry(from).or_insert(0);
        if seq <= *last {
            return false;
        }
        *last = seq;
        self.armed
            .entry(from)
            .and_modify(|w| {
                // `now` is when it arrived, which may precede what was heard since.
                w.last = w.last.max(now);
                w.poked = None;
            })
            .or_insert(Watch {
                last: now,
                suspected: None,
                poked: None,
            });
        true
    }

    /// Another authenticated datagram from `from` at `now`: a watched member is alive.
    pub fn heard(&mut self, from: SocketAddr, now: Duration) {
        if let Some(w) = self.armed.get_mut(&from) {
            w.last = w.last.max(now);
            w.poked = None;
        }
    }

    /// Forgets a member that is gone (down, or removed).
    pub fn forget(&mut self, addr: SocketAddr) {
        self.armed.remove(&addr);
        self.seqs.remove(&addr);
    }

    /// Members watched now.
    pub fn watched(&self) -> usize {
        self.armed.len()
    }

    /// The updates to apply to foca at `now`, given `me` and the active `members`, and the
    /// members to poke: a watched member silent for an interval and [`LATE_MARGIN`] is
    /// poked every [`POKE_EVERY`], one silent for four fifths of `silence` becomes suspect,
    /// one silent for `silence` and still suspect at that incarnation goes down.
    pub fn check(&mut self, me: &NodeId, members: &[&Member<NodeId>], now: Duration) -> Check {
        let ids: Vec<&NodeId> = members.iter().map(|m| m.id()).collect();
        let watched: HashSet<SocketAddr> = predecessors(me, &ids, self.fanout)
            .iter()
            .map(|m| m.addr)
            .collect();
        self.armed.retain(|addr, _| watched.contains(addr));
        let (late_after, suspect_after, silence) =
            (self.late_after(), self.suspect_after(), self.silence);
        let mut updates = Vec::new();
        let mut pokes = Vec::new();
        for m in members {
            let addr = m.id().addr;
            let Some(w) = self.armed.get_mut(&addr) else {
                continue;
            };
            let silent = now.saturating_sub(w.last);
            if silent >= late_after && w.poked.is_none_or(|at| now >= at + POKE_EVERY) {
                pokes.push(addr);
                w.poked = Some(now);
            }
            match w.suspected {
                // Refuted: it lives, even if its heartbeats do not come here.
                Some(inc) if m.incarnation() > inc => {
                    self.armed.remove(&addr);
                }
                Some(inc) if silent >= silence => {
                    if m.state() == State::Suspect && m.incarnation() == inc {
                        updates.push(Member::new(m.id().clone(), inc, State::Down));
                    }
                    self.armed.remove(&addr);
                }
                Some(_) => {}
                None if silent >= suspect_after => {
                    updates.push(Member::new(m.id().clone(), m.incarnation(), State::Suspect));
                    w.suspected = Some(m.incarnation());
                }
                None => {}
            }
        }
        self.armed
            .retain(|addr, _| members.iter().any(|m| m.id().addr == *addr));
        pokes.retain(|addr| self.armed.contains_key(addr));
        Check { updates, pokes }
    }

    /// When [`Heartbeats::check`] must next run besides the heartbeat wake-ups, which
    /// read the socket and check anyway: the pokes, suspicion and death of a member found
    /// late. Lateness is found at those wake-ups, because a heartbeat is only seen when the
    /// socket is read: a deadline of its own would wake the task for nothing whenever the
    /// heartbeat waits unread.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.armed
            .values()
            .map(|w| match (w.poked, w.suspected) {
                (Some(at), None) => (at + POKE_EVERY).min(w.last + self.suspect_after()),
                (Some(at), Some(_)) => (at + POKE_EVERY).min(w.last + self.silence),
                (None, _) => w.last + self.silence,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(name: &str, last: u8) -> NodeId {
        NodeId {
            name: name.into(),
            addr: SocketAddr::from(([192, 0, 2, last], 7946)),
            bump: 1,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn names(v: &[&NodeId]) -> Vec<String> {
        v.iter().map(|m| m.name.to_string()).collect()
    }

    fn swim(me: &NodeId, knows: &[Member<NodeId>]) -> super::super::Swim {
        let rng = <rand_xorshift::XorShiftRng as rand_core::SeedableRng>::from_seed([7; 16]);
        let mut foca = foca::Foca::new(me.clone(), super::super::lan_config(3), rng, WireCodec);
        let mut rt = foca::AccumulatingRuntime::new();
        foca.apply_many(knows.iter().cloned(), false, &mut rt)
            .unwrap();
        foca
    }

    #[test]
    fn a_suspect_told_of_its_suspicion_refutes_it() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut fb = swim(&b, &[Member::new(a.clone(), 0, State::Alive)]);
        let mut told = foca::AccumulatingRuntime::new();
        let suspicion = Member::new(b.clone(), 0, State::Suspect);
        tell(&a, &b, &suspicion, &mut told).unwrap();
        let (to, notice) = told.to_send().unwrap();
        assert_eq!(to, b);
        assert!(told.to_send().is_none(), "one datagram per suspicion");
        assert_eq!(suspicion_of(&b, &notice), Some((a.clone(), 0)));
        assert_eq!(suspicion_of(&a, &notice), None, "not about a");
        let mut rt = foca::AccumulatingRuntime::new();
        fb.handle_data(&notice, &mut rt).unwrap();
        // b answers a directly: alive at a newer incarnation.
        let mut answer = foca::AccumulatingRuntime::new();
        answer_suspicion(&b, &notice, &mut answer).unwrap();
        let (to, refutation) = answer.to_send().unwrap();
        assert_eq!(to, a);
        assert_eq!(suspicion_of(&a, &refutation), None);
        let mut fa = swim(&a, &[Member::new(b.clone(), 0, State::Suspect)]);
        fa.handle_data(&refutation, foca::AccumulatingRuntime::new())
            .unwrap();
        let seen = fa.iter_membership_state().find(|m| m.id() == &b).unwrap();
        assert_eq!((seen.state(), seen.incarnation()), (State::Alive, 1));
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_for_a_suspicion_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = suspicion_of(&id("a", 1), &bytes);
        }
    }

    #[test]
    fn heartbeats_round_trip_and_anything_else_is_not_one() {
        assert_eq!(decode(&encode(7946, 42)), Some((7946, 42)));
        let poke = encode_kind(Kind::Poke, 7946, 43);
        assert_eq!(decode_kind(&poke), Some((Kind::Poke, 7946, 43)));
        assert_eq!(decode(&poke), None, "a poke is not a heartbeat");
        assert_eq!(decode(b"H"), None);
        let mut other = encode(7946, 1);
        other[0] = 0;
        assert_eq!(decode(&other), None);
        assert_eq!(
            beat_addr(id("a", 1).addr),
            Some(SocketAddr::from(([192, 0, 2, 1], 7947)))
        );
        assert_eq!(beat_addr(SocketAddr::from(([192, 0, 2, 1], 65535))), None);
    }

    #[test]
    fn the_ring_sends_to_the_next_fanout_and_small_clusters_to_everyone() {
        let ns: Vec<NodeId> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, n)| id(n, i as u8 + 1))
            .collect();
        let all: Vec<&NodeId> = ns.iter().collect();
        assert_eq!(names(&successors(&ns[3], &all, 3)), ["e", "a", "b"]);
        assert_eq!(names(&predecessors(&ns[3], &all, 3)), ["c", "b", "a"]);
        assert_eq!(names(&successors(&ns[4], &all, 1)), ["a"]);
        assert_eq!(names(&predecessors(&ns[0], &all, 1)), ["e"]);
        let three = &all[..3];
        assert_eq!(names(&successors(&ns[0], three, 3)), ["b", "c"]);
        assert_eq!(names(&predecessors(&ns[0], three, 3)), ["c", "b"]);
        assert!(successors(&ns[0], &[], FANOUT).is_empty());
    }

    proptest! {
        /// Whoever `a` sends to counts `a` among the ones it watches, in every ring.
        #[test]
        fn senders_and_watchers_agree(n in 1usize..12, a in 0usize..12, fanout in 1usize..5) {
            let ns: Vec<NodeId> = (0..n).map(|i| id(&format!("n{i:02}"), i as u8 + 1)).collect();
            let all: Vec<&NodeId> = ns.iter().collect();
            let me = &ns[a % n];
            let to = successors(me, &all, fanout);
            prop_assert_eq!(to.len(), (n - 1).min(fanout));
            for t in to {
                prop_assert!(predecessors(t, &all, fanout).contains(&me));
            }
        }
    }

    fn quiet(c: &Check) -> bool {
        c.updates.is_empty() && c.pokes.is_empty()
    }

    /// A script of heartbeats and checks (every 100 ms, silence 250 ms): found late at a
    /// read 105 ms after its last heartbeat came, poked every 15 ms, suspected at 200 ms,
    /// down at 250 ms.
    #[test]
    fn a_silent_member_is_poked_suspected_then_declared_down() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut hb = Heartbeats::new(ms(100), ms(250), FANOUT);
        let alive = Member::new(b.clone(), 4, State::Alive);
        // Not armed before its first heartbeat: never poked or suspected.
        assert!(quiet(&hb.check(&a, &[&alive], ms(1000))));
        assert_eq!(hb.next_deadline(), None);
        assert!(hb.beat(b.addr, 10, ms(1000)));
        // Lateness is found at the reads, not by a deadline of its own.
        assert_eq!(hb.next_deadline(), Some(ms(1250)));
        assert!(quiet(&hb.check(&a, &[&alive], ms(1104))));
        let poked = hb.check(&a, &[&alive], ms(1105));
        assert_eq!((poked.updates.len(), poked.pokes), (0, vec![b.addr]));
        assert_eq!(hb.next_deadline(), Some(ms(1120)));
        assert!(quiet(&hb.check(&a, &[&alive], ms(1119))));
        for at in [1120, 1135, 1150, 1165, 1180, 1195] {
            assert_eq!(
                hb.check(&a, &[&alive], ms(at)).pokes,
                vec![b.addr],
                "at {at}"
            );
        }
        let up = hb.check(&a, &[&alive], ms(1200));
        assert_eq!(up.updates, vec![Member::new(b.clone(), 4, State::Suspect)]);
        assert!(up.pokes.is_empty(), "poked 5 ms ago");
        assert_eq!(hb.next_deadline(), Some(ms(1210)));
        let suspect = Member::new(b.clone(), 4, State::Suspect);
        let still = hb.check(&a, &[&suspect], ms(1249));
        assert_eq!((still.updates.len(), still.pokes), (0, vec![b.addr]));
        let down = hb.check(&a, &[&suspect], ms(1250));
        assert_eq!(down.updates, vec![Member::new(b.clone(), 4, State::Down)]);
        assert!(down.pokes.is_empty());
        assert_eq!(hb.watched(), 0);
    }

    #[test]
    fn a_late_member_that_answers_a_poke_is_left_alone() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut hb = Heartbeats::new(ms(100), ms(250), FANOUT);
        let alive = Member::new(b.clone(), 0, State::Alive);
        hb.beat(b.addr, 1, ms(0));
        assert_eq!(hb.check(&a, &[&alive], ms(110)).pokes, vec![b.addr]);
        // Its answer: a heartbeat with the next number.
        assert!(hb.beat(b.addr, 2, ms(111)));
        assert!(quiet(&hb.check(&a, &[&alive], ms(200))));
        assert_eq!(hb.next_deadline(), Some(ms(361)));
        // A heartbeat read late counts from its arrival, and never moves the last one back.
        assert!(hb.beat(b.addr, 3, ms(105)));
        assert_eq!(hb.next_deadline(), Some(ms(361)));
    }

    #[test]
    fn a_refuted_suspicion_disarms_until_the_next_heartbeat() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut hb = Heartbeats::new(ms(100), ms(250), FANOUT);
        hb.beat(b.addr, 1, ms(0));
        let alive = Member::new(b.clone(), 0, State::Alive);
        assert_eq!(hb.check(&a, &[&alive], ms(200)).updates.len(), 1);
        let refuted = Member::new(b.clone(), 1, State::Alive);
        assert!(quiet(&hb.check(&a, &[&refuted], ms(300))));
        assert_eq!(hb.watched(), 0);
        assert!(hb.beat(b.addr, 2, ms(310)));
        assert_eq!(hb.watched(), 1);
        assert!(quiet(&hb.check(&a, &[&refuted], ms(400))));
    }

    #[test]
    fn heartbeats_and_other_datagrams_keep_a_member_alive_but_replays_do_not() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut hb = Heartbeats::new(ms(100), ms(250), FANOUT);
        let alive = Member::new(b.clone(), 0, State::Alive);
        assert!(hb.beat(b.addr, 5, ms(0)));
        hb.heard(b.addr, ms(100));
        assert!(quiet(&hb.check(&a, &[&alive], ms(200))));
        assert!(!hb.beat(b.addr, 5, ms(210)));
        assert!(!hb.beat(b.addr, 4, ms(220)));
        assert_eq!(hb.check(&a, &[&alive], ms(300)).updates.len(), 1);
    }

    #[test]
    fn members_outside_the_watch_are_let_go() {
        let ns: Vec<NodeId> = (0..6).map(|i| id(&format!("n{i}"), i as u8 + 1)).collect();
        let members: Vec<Member<NodeId>> = ns[1..]
            .iter()
            .map(|n| Member::new(n.clone(), 0, State::Alive))
            .collect();
        let refs: Vec<&Member<NodeId>> = members.iter().collect();
        let mut hb = Heartbeats::new(ms(50), ms(200), FANOUT);
        // n1 is n0's successor, not a predecessor, in a ring of six.
        hb.beat(ns[1].addr, 1, ms(0));
        hb.beat(ns[5].addr, 1, ms(0));
        assert!(quiet(&hb.check(&ns[0], &refs, ms(10))));
        assert_eq!(hb.watched(), 1);
        // n5 left the membership: forgotten with it.
        assert!(quiet(&hb.check(&ns[0], &refs[..3], ms(20))));
        assert_eq!(hb.watched(), 0);
    }
}
