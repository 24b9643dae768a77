//! When a suspected speaker is declared down, on top of foca's SWIM.
//!
//! foca declares a member down when the suspicion its failed probe started has stood for
//! `suspect_to_down_after`, whatever else it knows. That one timeout has to do two jobs:
//! give a live suspect time to refute, and tolerate a speaker that is briefly silent
//! (starved of CPU, a lost datagram). Tuned for both, it is too long for sub-second
//! failover; tuned short, a busy node or a lossy LAN makes live speakers "die".
//!
//! The detector splits the jobs, in the spirit of Lifeguard's local health awareness:
//! foca's timeout stays short ([`Timing::suspicion`]: time for a refutation to arrive),
//! and when it fires, the member is declared down only if this speaker has not *heard*
//! from it (any authenticated datagram) for [`Timing::silence`]. A dead speaker is silent
//! from the moment it dies, so its suspicion goes through at once; a live one that is
//! merely suspected keeps talking (its probes, acks and refutation), and its suspicion
//! is re-checked until it refutes it. Only a speaker silent for longer than `silence` —
//! dead, cut off, or stalled that long — is declared down.
//!
//! ```text
//!  datagram from addr ──> heard(addr, now)
//!  foca timer due ───> verdict ─┬─ Fire: foca.handle_timer
//!                               ├─ Defer(d): re-check at now + d (one per suspicion)
//!                               └─ Drop: refuted meanwhile, or a duplicate
//! ```
//!
//! Pure: the caller passes the time (since any fixed start) and whether foca still holds
//! the suspicion; the speaker's gossip task and the simulator ([`super::sim`]) drive it
//! the same way through [`handle_due`].
#![forbid(unsafe_code)]

use super::wire::NodeId;
use foca::{Incarnation, Runtime, State, Timer};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How fast the failure detector is, and how much it tolerates (the speaker's
/// `--gossip-*` flags; docs/PERFORMANCE.md, "Failure detection", has the measurements the
/// defaults come from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A heartbeat to the watching members every this long ([`super::heartbeat`]); zero:
    /// none, probing alone detects failures.
    pub heartbeat: Duration,
    /// How many speakers each one sends heartbeats to, and so how many watch it.
    pub heartbeat_fanout: usize,
    /// A probe every this long (the direct probe's round trip is half of it).
    pub probe_interval: Duration,
    /// How long a suspicion stands before the silence is checked: time for a live
    /// suspect to hear of it and refute it.
    pub suspicion: Duration,
    /// A suspect heard from within this long is not declared down: the longest a live
    /// speaker may be silent (stalled, or its datagrams lost) and stay a member. A watched
    /// member whose heartbeats stop for this long is declared down.
    pub silence: Duration,
}

impl Default for Timing {
    /// Heartbeats detect a failure within `silence` (+ one interval); probing, once a
    /// second as memberlist's, is the fallback (docs/failure-detection.md).
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_millis(100),
            heartbeat_fanout: super::heartbeat::FANOUT,
            probe_interval: Duration::from_secs(1),
            suspicion: Duration::from_millis(100),
            silence: Duration::from_millis(250),
        }
    }
}

/// A foca timer that came due, or a suspicion the detector put off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The timer.
    pub timer: Timer<NodeId>,
    /// Whether the detector deferred it before (a re-check, not foca's own).
    pub recheck: bool,
}

impl Due {
    /// A timer foca scheduled.
    pub fn foca(timer: Timer<NodeId>) -> Self {
        Due {
            timer,
            recheck: false,
        }
    }
}

/// What to do with a due timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to foca.
    Fire,
    /// The suspect was heard from recently: re-check after this long.
    Defer(Duration),
    /// Nothing to do: the suspicion was refuted, or a re-check of it is already pending.
    Drop,
}

type Suspicion = (Arc<str>, u16, Incarnation);

/// Last time each gossip address was heard from, and the suspicions put off.
#[derive(Debug, Clone)]
pub struct Detector {
    silence: Duration,
    heard: HashMap<SocketAddr, Duration>,
    deferred: HashSet<Suspicion>,
}

impl Detector {
    /// A detector that declares down only members silent for `silence`.
    pub fn new(silence: Duration) -> Self {
        Detector {
            silence,
            heard: HashMap::new(),
            deferred: HashSet::new(),
        }
    }

    /// An authenticated datagram from `from` was taken in at `now`. Speakers send from
    /// their gossip address, so `from` is the address their identity advertises (where
    /// it is not, as on a node whose source address differs, the suspect is never heard
    /// of and foca's suspicion alone decides, as before the detector).
    pub fn heard(&mut self, from: SocketAddr, now: Duration) {
        // A heartbeat read late carries its earlier arrival: never move back.
        let at = self.heard.entry(from).or_insert(now);
        *at = (*at).max(now);
    }

    /// Forgets an address (a member removed), so the map holds only current members.
    pub fn forget(&mut self, addr: SocketAddr) {
        self.heard.remove(&addr);
    }

    /// What to do with `due` at `now`; `still_suspect` tells whether foca still holds the
    /// member as suspect at the timer's incarnation (only asked for suspicion timers).
    pub fn verdict(
        &mut self,
        due: &Due,
        now: Duration,
        still_suspect: impl FnOnce(&NodeId, Incarnation) -> bool,
    ) -> Verdict {
        let Timer::ChangeSuspectToDown {
            member_id,
            incarnation,
            ..
        } = &due.timer
        else {
            return Verdict::Fire;
        };
        let key = (Arc::clone(&member_id.name), member_id.bump, *incarnation);
        if !still_suspect(member_id, *incarnation) {
            if due.recheck {
                self.deferred.remove(&key);
            }
            return Verdict::Drop;
        }
        let quiet_until = self.heard.get(&member_id.addr).map(|t| *t + self.silence);
        match quiet_until {
            Some(until) if until > now => {
                if !due.recheck && !self.deferred.insert(key) {
                    // foca re-suspects on every failed probe: one re-check is enough.
                    return Verdict::Drop;
                }
                Verdict::Defer(until - now)
            }
            _ => {
                self.deferred.remove(&key);
                Verdict::Fire
            }
        }
    }

    /// Suspicions currently put off.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }
}

/// Whether `foca` holds `id` as suspect at `incarnation`.
pub fn is_suspect(foca: &super::Swim, id: &NodeId, incarnation: Incarnation) -> bool {
    foca.iter_membership_state()
        .any(|m| m.state() == State::Suspect && m.incarnation() == incarnation && m.id() == id)
}

/// Runs a due timer through the detector and foca; returns the re-check to schedule,
/// `after` from now, if the detector put it off.
pub fn handle_due(
    foca: &mut super::Swim,
    detector: &mut Detector,
    due: Due,
    now: Duration,
    runtime: impl Runtime<NodeId>,
) -> Result<Option<(Duration, Due)>, foca::Error> {
    match detector.verdict(&due, now, |id, inc| is_suspect(foca, id, inc)) {
        Verdict::Fire => foca.handle_timer(due.timer, runtime).map(|()| None),
        Verdict::Defer(after) => Ok(Some((
            after,
            Due {
                timer: due.timer,
                recheck: true,
            },
        ))),
        Verdict::Drop => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, last: u8) -> NodeId {
        NodeId {
            name: name.into(),
            addr: std::net::SocketAddr::from(([192, 0, 2, last], 7946)),
            bump: 1,
        }
    }

    fn suspicion(member: NodeId, incarnation: Incarnation) -> Due {
        Due::foca(Timer::ChangeSuspectToDown {
            member_id: member,
            incarnation,
            token: 0,
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timers_other_than_suspicions_always_fire() {
        let mut d = Detector::new(ms(200));
        d.heard(id("b", 2).addr, ms(10));
        for t in [
            Timer::ProbeRandomMember(0),
            Timer::PeriodicGossip(0),
            Timer::RemoveDown(id("b", 2)),
        ] {
            assert_eq!(d.verdict(&Due::foca(t), ms(20), |_, _| true), Verdict::Fire);
        }
    }

    /// A script: (time, event) in order, with the verdict each suspicion gets.
    #[test]
    fn a_suspect_is_declared_down_only_after_the_silence() {
        let b = id("b", 2);
        let ip = b.addr;
        let mut d = Detector::new(ms(200));
        // Never heard of: nothing argues against the suspicion.
        assert_eq!(
            d.verdict(&suspicion(b.clone(), 3), ms(0), |_, _| true),
            Verdict::Fire
        );
        // Heard at 100: a suspicion at 250 waits until 300.
        d.heard(ip, ms(100));
        let due = suspicion(b.clone(), 3);
        assert_eq!(
            d.verdict(&due, ms(250), |_, _| true),
            Verdict::Defer(ms(50))
        );
        // Another failed probe re-suspects: dropped, one re-check is pending.
        assert_eq!(d.verdict(&due, ms(260), |_, _| true), Verdict::Drop);
        assert_eq!(d.deferred(), 1);
        // The re-check at 300, silent since 100: down.
        let recheck = Due {
            recheck: true,
            ..due
        };
        assert_eq!(d.verdict(&recheck, ms(300), |_, _| true), Verdict::Fire);
        assert_eq!(d.deferred(), 0);
    }

    #[test]
    fn a_suspect_that_keeps_talking_is_rechecked_until_it_refutes() {
        let b = id("b", 2);
        let mut d = Detector::new(ms(200));
        let due = suspicion(b.clone(), 1);
        d.heard(b.addr, ms(0));
        assert_eq!(
            d.verdict(&due, ms(100), |_, _| true),
            Verdict::Defer(ms(100))
        );
        let recheck = Due {
            recheck: true,
            ..due
        };
        d.heard(b.addr, ms(180));
        assert_eq!(
            d.verdict(&recheck, ms(200), |_, _| true),
            Verdict::Defer(ms(180))
        );
        // Refuted (foca no longer holds the suspicion at that incarnation): dropped.
        assert_eq!(d.verdict(&recheck, ms(380), |_, _| false), Verdict::Drop);
        assert_eq!(d.deferred(), 0);
    }

    #[test]
    fn silence_is_per_address_and_forgotten_with_the_member() {
        let (b, c) = (id("b", 2), id("c", 3));
        let mut d = Detector::new(ms(200));
        d.heard(c.addr, ms(90));
        assert_eq!(
            d.verdict(&suspicion(b.clone(), 0), ms(100), |_, _| true),
            Verdict::Fire
        );
        assert_eq!(
            d.verdict(&suspicion(c.clone(), 0), ms(100), |_, _| true),
            Verdict::Defer(ms(190))
        );
        d.forget(c.addr);
        let recheck = Due {
            recheck: true,
            ..suspicion(c, 0)
        };
        assert_eq!(d.verdict(&recheck, ms(101), |_, _| true), Verdict::Fire);
    }
}
