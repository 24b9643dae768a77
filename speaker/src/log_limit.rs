//! Bounded logging of per-frame and per-datagram problems: the first occurrence of a kind
//! is logged, later ones only counted, and a summary ("12000 more in the last 10 s") is
//! logged once per interval while they go on. Pure: the caller passes `now` and writes
//! the log lines.
//!
//! Invariants: for each kind at most one line per interval after the first; every
//! occurrence is either logged or counted in exactly one summary (unless the kind is
//! beyond the capacity, when only metrics see it); at most `capacity` kinds are held, and
//! a kind quiet for a whole interval is forgotten (its next occurrence is "first" again).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What to log for an occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLine {
    /// The first occurrence (after a quiet interval): log it in full.
    First,
    /// `more` occurrences were not logged in the last `over`.
    Summary {
        /// Occurrences not logged.
        more: u64,
        /// Over how long.
        over: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    suppressed: u64,
    last: Instant,
}

/// Decides which occurrences of each kind `K` are logged.
#[derive(Debug)]
pub(crate) struct LogLimiter<K> {
    interval: Duration,
    capacity: usize,
    kinds: BTreeMap<K, Window>,
}

impl<K: Ord + Clone> LogLimiter<K> {
    /// A limiter that summarises every `interval` and holds at most `capacity` kinds.
    pub(crate) fn new(interval: Duration, capacity: usize) -> Self {
        LogLimiter {
            interval,
            capacity,
            kinds: BTreeMap::new(),
        }
    }

    /// One occurrence of `kind` at `now`: what to log, if anything.
    pub(crate) fn record(&mut self, kind: K, now: Instant) -> Option<LogLine> {
        match self.kinds.get_mut(&kind) {
            None => {
                if self.kinds.len() >= self.capacity {
                    return None;
                }
                self.kinds.insert(
                    kind,
                    Window {
                        start: now,
                        suppressed: 0,
                        last: now,
                    },
                );
                Some(LogLine::First)
            }
            Some(w) => {
                w.last = now;
                w.suppressed += 1;
                let over = now.saturating_duration_since(w.start);
                if over < self.interval {
                    return None;
                }
                let more = w.suppressed;
                w.start = now;
                w.suppressed = 0;
                Some(LogLine::Summary { more, over })
            }
        }
    }

    /// The summaries due at `now` for kinds that went quiet before theirs was logged;
    /// forgets kinds quiet for a whole interval. Call it periodically.
    pub(crate) fn flush(&mut self, now: Instant) -> Vec<(K, LogLine)> {
        let mut out = Vec::new();
        let interval = self.interval;
        self.kinds.retain(|kind, w| {
            let over = now.saturating_duration_since(w.start);
            if w.suppressed > 0 && over >= interval {
                out.push((
                    kind.clone(),
                    LogLine::Summary {
                        more: w.suppressed,
                        over,
                    },
                ));
                w.start = now;
                w.suppressed = 0;
                true
            } else {
                w.suppressed > 0 || now.saturating_duration_since(w.last) < interval
            }
        });
        out
    }

    /// Kinds held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether no kind is held (nothing left to summarise or forget).
    pub(crate) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEN: Duration = Duration::from_secs(10);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn first_then_summaries_then_first_again() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN, 8);
        // (ms, kind, expected)
        let script: &[(u64, &str, Option<LogLine>)] = &[
            (0, "checksum", Some(LogLine::First)),
            (1, "checksum", None),
            (2, "truncated", Some(LogLine::First)),
            (9_999, "checksum", None),
            (
                10_000,
                "checksum",
                Some(LogLine::Summary { more: 3, over: TEN }),
            ),
            (10_001, "checksum", None),
        ];
        for (ms, kind, want) in script {
            assert_eq!(l.record(*kind, at(t0, *ms)), *want, "at {ms} {kind}");
        }
        // The flood stops: the flush reports what is owed once the interval is up.
        assert_eq!(l.flush(at(t0, 19_999)), vec![]);
        assert_eq!(
            l.flush(at(t0, 20_000)),
            vec![("checksum", LogLine::Summary { more: 1, over: TEN })]
        );
        // Quiet for an interval: forgotten, and the next is logged in full again.
        l.flush(at(t0, 40_000));
        assert!(l.is_empty());
        assert_eq!(l.record("checksum", at(t0, 40_001)), Some(LogLine::First));
    }

    #[test]
    fn a_flood_is_a_few_lines() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN, 8);
        let mut lines = 0;
        let mut counted = 0;
        // 174,548 frames in 60 s, as in the issue.
        for i in 0..174_548u64 {
            match l.record("ndp", at(t0, i * 60_000 / 174_548)) {
                Some(LogLine::First) => {
                    lines += 1;
                    counted += 1;
                }
                Some(LogLine::Summary { more, .. }) => {
                    lines += 1;
                    counted += more;
                }
                None => {}
            }
        }
        for (_, line) in l.flush(at(t0, 120_000)) {
            if let LogLine::Summary { more, .. } = line {
                lines += 1;
                counted += more;
            }
        }
        assert!(lines <= 8, "{lines} lines");
        assert_eq!(counted, 174_548);
    }

    #[test]
    fn capacity_bounds_the_kinds() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN, 2);
        assert_eq!(l.record(1, t0), Some(LogLine::First));
        assert_eq!(l.record(2, t0), Some(LogLine::First));
        assert_eq!(l.record(3, t0), None);
        assert_eq!(l.len(), 2);
    }

    proptest! {
        /// Every occurrence is logged first or counted in exactly one summary.
        #[test]
        fn nothing_lost(script in proptest::collection::vec((0u64..3_000, 0u8..4), 1..500)) {
            let t0 = Instant::now();
            let mut l = LogLimiter::new(TEN, 16);
            let mut now = t0;
            let mut accounted = [0u64; 4];
            let mut occurred = [0u64; 4];
            let mut add = |k: u8, line: LogLine| {
                accounted[usize::from(k)] += match line {
                    LogLine::First => 1,
                    LogLine::Summary { more, .. } => more,
                };
            };
            for (after, k) in script {
                now += Duration::from_millis(after);
                occurred[usize::from(k)] += 1;
                if let Some(line) = l.record(k, now) {
                    add(k, line);
                }
                for (k, line) in l.flush(now) {
                    add(k, line);
                }
            }
            for (k, line) in l.flush(now + TEN) {
                add(k, line);
            }
            prop_assert_eq!(accounted, occurred);
        }
    }
}
