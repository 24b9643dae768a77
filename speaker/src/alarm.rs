//! A one-shot alarm on a timerfd: one wake-up at its deadline.
//!
//! tokio's timer wheel files a deadline beyond the current 64 ms slot on a coarser level and
//! wakes the runtime at that slot's start to re-file it, then again at the deadline. For the
//! gossip task's wake-up every 50 ms (the heartbeat interval then) that was a second
//! wake-up in about four of five intervals (docs/PERFORMANCE.md, "Failure detection"). A timerfd in the runtime's epoll
//! set wakes it once, at the deadline.
#![forbid(unsafe_code)]

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, Sleep};
use tracing::warn;

/// A timer that fires once at the deadline last set.
#[derive(Debug)]
pub(crate) struct Alarm {
    /// What it wakes, for the log line if it falls back to tokio's timer.
    purpose: &'static str,
    clock: Clock,
    /// The deadline the timer is armed for, if it is.
    armed: Option<Instant>,
}

#[derive(Debug)]
enum Clock {
    Timerfd(AsyncFd<OwnedFd>),
    /// Where no timerfd can be had: tokio's timer, wake-ups and all.
    Tokio(Pin<Box<Sleep>>),
}

impl Alarm {
    /// A disarmed alarm for `purpose` on the monotonic clock (the one `Instant` reads); on
    /// tokio's timer, said in the log, if no timerfd can be made.
    pub(crate) fn new(purpose: &'static str) -> Alarm {
        let mut alarm = Alarm {
            purpose,
            clock: Clock::Tokio(Box::pin(tokio::time::sleep(Duration::ZERO))),
            armed: None,
        };
        match timerfd() {
            Ok(fd) => alarm.clock = Clock::Timerfd(fd),
            Err(e) => alarm.fall_back(&e),
        }
        alarm
    }

    /// Arms the alarm for `deadline` (disarms it for `None`); a no-op if it already is.
    /// If the timerfd fails, the alarm goes on on tokio's timer and says so, once.
    pub(crate) fn set(&mut self, deadline: Option<Instant>) {
        if deadline == self.armed {
            return;
        }
        self.armed = deadline;
        let armed = match &mut self.clock {
            Clock::Timerfd(fd) => arm(fd, deadline),
            Clock::Tokio(sleep) => {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(d);
                }
                Ok(())
            }
        };
        if let Err(e) = armed {
            self.fall_back(&e);
        }
    }

    /// Waits until the alarm fires (forever while it is disarmed), then disarms it. If the
    /// timerfd fails, the alarm goes on on tokio's timer, says so once, and returns early.
    pub(crate) async fn fired(&mut self) {
        if self.armed.is_none() {
            std::future::pending::<()>().await;
        }
        let fired = match &mut self.clock {
            Clock::Timerfd(fd) => expired(fd).await,
            Clock::Tokio(sleep) => {
                sleep.as_mut().await;
                Ok(())
            }
        };
        match fired {
            Ok(()) => self.armed = None,
            Err(e) => self.fall_back(&e),
        }
    }

    /// Moves to tokio's timer, armed as the timerfd was, and says why.
    fn fall_back(&mut self, why: &std::io::Error) {
        warn!(error = %why, purpose = self.purpose, "no timerfd: waking on tokio's timer, more often");
        let at = self.armed.unwrap_or_else(Instant::now);
        self.clock = Clock::Tokio(Box::pin(tokio::time::sleep_until(at)));
    }
}

/// Sets the timerfd to fire at `deadline` (disarms it for `None`).
fn arm(fd: &AsyncFd<OwnedFd>, deadline: Option<Instant>) -> std::io::Result<()> {
    // A zero it_value disarms a timerfd: a deadline already past fires in 1 ns.
    let value = deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1))
    });
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let it_value = value
        .map_or(Ok(zero), Timespec::try_from)
        .map_err(std::io::Error::other)?;
    let spec = Itimerspec {
        it_interval: zero,
        it_value,
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    Ok(())
}

/// Waits for the timerfd to expire and reads its count.
async fn expired(fd: &AsyncFd<OwnedFd>) -> std::io::Result<()> {
    loop {
        let mut ready = fd.readable().await?;
        let mut expirations = [0u8; 8];
        match rustix::io::read(fd.get_ref(), &mut expirations) {
            Ok(_) => {
                // Read, so not readable until it fires again: without this the next wait
                // would cost a read that finds nothing.
                ready.clear_ready();
                return Ok(());
            }
            Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
            Err(e) => return Err(e.into()),
        }
    }
}

fn timerfd() -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    crate::readable::register(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timerfd alarm and one on tokio's timer (the fallback): both must behave alike.
    fn both() -> [Alarm; 2] {
        let alarm = Alarm::new("test");
        assert!(matches!(alarm.clock, Clock::Timerfd(_)), "no timerfd");
        let fallback = Alarm {
            purpose: "test",
            clock: Clock::Tokio(Box::pin(tokio::time::sleep(Duration::ZERO))),
            armed: None,
        };
        [alarm, fallback]
    }

    #[tokio::test]
    async fn fires_once_at_the_deadline_and_can_be_moved() {
        for mut alarm in both() {
            let start = Instant::now();
            let far = start + Duration::from_millis(200);
            alarm.set(Some(far));
            // Moved earlier: it fires at the new deadline, not the old one.
            alarm.set(Some(start + Duration::from_millis(20)));
            alarm.fired().await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(20), "{alarm:?}: {took:?}");
            assert!(took < Duration::from_millis(200), "{alarm:?}: {took:?}");
            // Fired means disarmed: waiting again does not return.
            let again = tokio::time::timeout(Duration::from_millis(50), alarm.fired()).await;
            assert!(again.is_err(), "{alarm:?} fired again");
        }
    }

    #[tokio::test]
    async fn a_past_deadline_fires_at_once_and_none_never_does() {
        for mut alarm in both() {
            let past = Instant::now() - Duration::from_millis(5);
            alarm.set(Some(past));
            tokio::time::timeout(Duration::from_secs(1), alarm.fired())
                .await
                .expect("a past deadline fires");
            let soon = Instant::now() + Duration::from_millis(10);
            alarm.set(Some(soon));
            alarm.set(None);
            let waited = tokio::time::timeout(Duration::from_millis(60), alarm.fired()).await;
            assert!(waited.is_err(), "{alarm:?}: a disarmed alarm fired");
        }
    }

    #[tokio::test]
    async fn a_failed_timerfd_falls_back_to_tokio_armed_as_it_was() {
        let mut alarm = Alarm::new("test");
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_millis(20)));
        alarm.fall_back(&std::io::Error::other("a test"));
        assert!(matches!(alarm.clock, Clock::Tokio(_)));
        alarm.fired().await;
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
