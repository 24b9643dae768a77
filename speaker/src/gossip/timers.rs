//! The gossip task's pending timers, by deadline. foca's timers that only repeat
//! something (periodic gossip and announcements, forgetting a long-down member) are lax:
//! they fire with the next wake-up the task has anyway (a probe every probe interval, a
//! datagram) once due, or [`LAX_SLACK`] after their deadline if nothing else wakes the
//! task first. At rest they then cost no wake-up of their own (periodic gossip alone was
//! five a second). Probes, indirect probes and suspicions keep their deadlines: failure
//! detection is timed by them.
#![forbid(unsafe_code)]

use super::detector::Due;
use super::wire::NodeId;
use foca::Timer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How late a lax timer may fire when nothing else wakes the task: two default probe
/// intervals, so with probing on it always rides on a probe.
pub const LAX_SLACK: Duration = Duration::from_millis(100);

/// Whether `timer` only repeats work and may wait for another wake-up.
pub fn is_lax(timer: &Timer<NodeId>) -> bool {
    matches!(
        timer,
        Timer::PeriodicGossip(_)
            | Timer::PeriodicAnnounce(_)
            | Timer::PeriodicAnnounceDown(_)
            | Timer::RemoveDown(_)
    )
}

/// Pending timers by deadline (the counter keeps equal deadlines apart), strict and lax
/// apart. `I` is the clock's instant (`tokio::time::Instant` in the task).
#[derive(Debug)]
pub struct Timers<I> {
    strict: BTreeMap<(I, u64), Due>,
    lax: BTreeMap<(I, u64), Due>,
    seq: u64,
}

impl<I> Default for Timers<I> {
    fn default() -> Self {
        Timers {
            strict: BTreeMap::new(),
            lax: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<I: Ord + Copy + std::ops::Add<Duration, Output = I>> Timers<I> {
    /// When the task must wake next for its timers, if any is pending.
    pub fn next_deadline(&self) -> Option<I> {
        let strict = self.strict.keys().next().map(|(t, _)| *t);
        let lax = self.lax.keys().next().map(|(t, _)| *t + LAX_SLACK);
        strict.into_iter().chain(lax).min()
    }

    /// Takes every timer due at `now`, strict and lax, in deadline order.
    pub fn pop_due(&mut self, now: I) -> Vec<Due> {
        let mut due = take_until(&mut self.strict, now);
        due.extend(take_until(&mut self.lax, now));
        due.sort_by_key(|(key, _)| *key);
        due.into_iter().map(|(_, d)| d).collect()
    }

    /// Adds `due` at `at`.
    pub fn insert(&mut self, at: I, due: Due) {
        self.seq += 1;
        let queue = if is_lax(&due.timer) {
            &mut self.lax
        } else {
            &mut self.strict
        };
        queue.insert((at, self.seq), due);
    }

    /// Drops the indirect-probe timer of the probe of `addr`, answered in time.
    pub fn drop_indirect_probe(&mut self, addr: SocketAddr) {
        self.strict.retain(|_, due| {
            !matches!(&due.timer, Timer::SendIndirectProbe { probed_id, .. } if probed_id.addr == addr)
        });
    }

    /// Pending timers.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.strict.len() + self.lax.len()
    }

    /// Whether none is pending.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes and returns the entries of `queue` due at `now`.
fn take_until<I: Ord + Copy>(queue: &mut BTreeMap<(I, u64), Due>, now: I) -> Vec<((I, u64), Due)> {
    let later = queue.split_off(&(now, u64::MAX));
    std::mem::replace(queue, later).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::{Incarnation, TimerToken};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn token() -> TimerToken {
        TimerToken::default()
    }

    fn id() -> NodeId {
        NodeId {
            name: "node2".into(),
            addr: "192.0.2.12:7946".parse().unwrap(),
            bump: 1,
        }
    }

    fn indirect() -> Due {
        Due::foca(Timer::SendIndirectProbe {
            probed_id: id(),
            token: token(),
        })
    }

    fn names(due: &[Due]) -> Vec<&'static str> {
        due.iter()
            .map(|d| match d.timer {
                Timer::ProbeRandomMember(_) => "probe",
                Timer::SendIndirectProbe { .. } => "indirect",
                Timer::ChangeSuspectToDown { .. } => "down",
                Timer::PeriodicGossip(_) => "gossip",
                Timer::PeriodicAnnounce(_) => "announce",
                Timer::PeriodicAnnounceDown(_) => "announce-down",
                Timer::RemoveDown(_) => "remove",
            })
            .collect()
    }

    // Durations since a start stand in for instants.
    type T = Timers<Duration>;

    #[test]
    fn a_lax_timer_rides_on_the_next_strict_one() {
        let mut t = T::default();
        t.insert(ms(200), Due::foca(Timer::PeriodicGossip(token())));
        t.insert(ms(210), Due::foca(Timer::ProbeRandomMember(token())));
        // The gossip's own deadline does not wake the task: the probe's does.
        assert_eq!(t.next_deadline(), Some(ms(210)));
        assert!(t.pop_due(ms(199)).is_empty());
        assert_eq!(names(&t.pop_due(ms(210))), ["gossip", "probe"]);
        assert!(t.is_empty());
        // Any wake-up after its deadline (a datagram) takes it too.
        t.insert(ms(400), Due::foca(Timer::PeriodicGossip(token())));
        t.insert(ms(410), Due::foca(Timer::ProbeRandomMember(token())));
        assert_eq!(names(&t.pop_due(ms(405))), ["gossip"]);
    }

    #[test]
    fn a_lax_timer_alone_fires_after_the_slack() {
        let mut t = T::default();
        t.insert(ms(200), Due::foca(Timer::PeriodicAnnounce(token())));
        t.insert(ms(900), Due::foca(Timer::ProbeRandomMember(token())));
        assert_eq!(t.next_deadline(), Some(ms(200) + LAX_SLACK));
        assert_eq!(names(&t.pop_due(ms(200) + LAX_SLACK)), ["announce"]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn detection_timers_keep_their_deadlines() {
        let mut t = T::default();
        let suspect = Timer::ChangeSuspectToDown {
            member_id: id(),
            incarnation: Incarnation::default(),
            token: token(),
        };
        t.insert(ms(100), Due::foca(suspect));
        t.insert(ms(60), indirect());
        t.insert(ms(50), Due::foca(Timer::RemoveDown(id())));
        assert_eq!(t.next_deadline(), Some(ms(60)));
        assert_eq!(names(&t.pop_due(ms(60))), ["remove", "indirect"]);
        assert_eq!(t.next_deadline(), Some(ms(100)));
        t.drop_indirect_probe(id().addr);
        assert_eq!(names(&t.pop_due(ms(100))), ["down"]);
    }

    #[test]
    fn an_answered_probe_drops_only_its_indirect_probe() {
        let mut t = T::default();
        t.insert(ms(60), indirect());
        t.insert(ms(70), Due::foca(Timer::ProbeRandomMember(token())));
        t.drop_indirect_probe(id().addr);
        assert_eq!(names(&t.pop_due(ms(100))), ["probe"]);
    }
}
