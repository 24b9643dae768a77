//! Retry delays after a failed API call: doubling from a first delay up to a cap.

use std::time::Duration;

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
    fn after_counts_failures() {
        let ms = Duration::from_millis;
        let b = Backoff::new(ms(500), Duration::from_secs(30));
        assert_eq!(b.after(1), ms(1000));
        assert_eq!(b.after(3), ms(4000));
        assert_eq!(b.after(8), Duration::from_secs(30));
        assert_eq!(b.after(u32::MAX), Duration::from_secs(30));
    }
}
