//! Retry delays after a failed API call: doubling from a first delay up to a cap.

use std::time::Duration;

/// The first retry delay of a watch after an API failure (before jitter).
pub const WATCH_FIRST: Duration = Duration::from_millis(250);

/// The longest retry delay of a watch, jitter included. kube's default grows to 30 s and
/// jitters up to twice that, so after an API server outage a speaker could stay blind to
/// new Services and endpoints for up to a minute (a failover then waited for the next
/// retry); 5 s bounds that, and the jitter spreads a DaemonSet's retries against a
/// recovering API server.
pub const WATCH_LONGEST: Duration = Duration::from_secs(5);

/// The retry delays of every watch of IronLB's: [`WATCH_FIRST`] doubling up to half of
/// [`WATCH_LONGEST`], each plus up to as much again of jitter; never giving up. The watch
/// stream resets them on any event.
pub fn watch_backoff() -> kube::runtime::watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(WATCH_FIRST)
        .with_max_delay(WATCH_LONGEST / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// Doubling delays from `first` up to `max`; [`Backoff::reset`] after a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Delays `first`, `2 * first`, ... up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next try; the one after is twice as long (at most `max`).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Starts again from the first delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// The delay after `failures` consecutive failures (`first * 2^failures`, at most
    /// `max`), for callers that count failures themselves.
    pub fn after(&self, failures: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << failures.min(16))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(500), Duration::from_secs(5));
        let got: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(
            got,
            [ms(500), ms(1000), ms(2000), ms(4000), ms(5000), ms(5000)]
        );
        b.reset();
        assert_eq!(b.next_delay(), ms(500));
    }

    #[test]
    fn watch_retries_stay_within_the_cap_and_start_again_after_a_reset() {
        use kube::runtime::utils::Backoff as _;
        let mut b = watch_backoff();
        let first: Vec<Duration> = b.by_ref().take(12).collect();
        assert_eq!(first.len(), 12, "a watch never gives up");
        assert!(first.iter().all(|d| *d <= WATCH_LONGEST), "{first:?}");
        assert!(
            first[0] >= WATCH_FIRST && first[0] <= WATCH_FIRST * 2,
            "{first:?}"
        );
        assert!(
            first[11] >= WATCH_LONGEST / 2,
            "grows to the cap: {first:?}"
        );
        b.reset();
        assert!(b.next().is_some_and(|d| d <= WATCH_FIRST * 2));
    }

    #[test]
    fn after_counts_failures() {
        let ms = Duration::from_millis;
        let b = Backoff::new(ms(500), Duration::from_secs(30));
        assert_eq!(b.after(1), ms(1000));
        assert_eq!(b.after(3), ms(4000));
        assert_eq!(b.after(8), Duration::from_secs(30));
        assert_eq!(b.after(u32::MAX), Duration::from_secs(30));
    }
}
