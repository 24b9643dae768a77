//! Free-address bookkeeping for one inclusive address range, in time that does not depend
//! on the range's size or on how many of its addresses are in use.
//!
//! Addresses are plain `u128` offsets in the range's family. The range keeps a cursor
//! `next`: every address at or above it has never been handed out by [`RangeState::take`].
//! Invariant, for every usable address `x` (not skipped by avoid-buggy-ips):
//! - `x < next`: `x` is in `freed` exactly when it is free;
//! - `x >= next`: `x` is in `claimed_ahead` exactly when it is in use (claimed explicitly,
//!   by a requested IP or on restart).
//!
//! `take` pops the smallest freed address (O(log n)) or advances the cursor past claimed
//! addresses. The cursor only moves forward, so each address is stepped over at most once
//! over the range's life: the cost per allocation is amortised O(log n) for n in use.

use std::collections::BTreeSet;

use super::Family;

/// Bookkeeping for one range.
#[derive(Debug, Clone)]
pub(crate) struct RangeState {
    pub(crate) family: Family,
    pub(crate) start: u128,
    pub(crate) end: u128,
    avoid_buggy: bool,
    /// First never-taken address; `None` once the cursor has passed `end`.
    next: Option<u128>,
    freed: BTreeSet<u128>,
    claimed_ahead: BTreeSet<u128>,
}

impl RangeState {
    /// A range with every address free.
    pub(crate) fn new(family: Family, start: u128, end: u128, avoid_buggy: bool) -> Self {
        Self {
            family,
            start,
            end,
            avoid_buggy,
            next: Some(start),
            freed: BTreeSet::new(),
            claimed_ahead: BTreeSet::new(),
        }
    }

    /// Whether `x` is in the range and may be handed out.
    pub(crate) fn usable(&self, x: u128) -> bool {
        self.start <= x && x <= self.end && !self.skipped(x)
    }

    /// Addresses avoid-buggy-ips rules out: IPv4 .0 and .255.
    fn skipped(&self, x: u128) -> bool {
        self.avoid_buggy && self.family == Family::V4 && matches!(x & 0xff, 0 | 0xff)
    }

    /// Number of usable addresses (saturating at `u128::MAX` for `::/0`).
    pub(crate) fn size(&self) -> u128 {
        let all = (self.end - self.start).saturating_add(1);
        if !(self.avoid_buggy && self.family == Family::V4) {
            return all;
        }
        // Multiples of 256 and numbers ≡ 255 (mod 256) in [start, end].
        let upto = |n: u128| n / 256 + 1 + (n + 1) / 256; // count in [0, n]
        let below = if self.start == 0 {
            0
        } else {
            upto(self.start - 1)
        };
        all - (upto(self.end) - below)
    }

    /// A free address, marked used; `None` when the range is full.
    pub(crate) fn take(&mut self) -> Option<u128> {
        if let Some(x) = self.freed.pop_first() {
            return Some(x);
        }
        while let Some(x) = self.next {
            self.next = x.checked_add(1).filter(|n| *n <= self.end);
            if self.skipped(x) {
                continue;
            }
            // Claimed ahead of the cursor: now behind it, where "not in freed" means used.
            if self.claimed_ahead.remove(&x) {
                continue;
            }
            return Some(x);
        }
        None
    }

    /// Marks a usable, free address as used.
    pub(crate) fn mark_used(&mut self, x: u128) {
        match self.next {
            Some(n) if x >= n => {
                self.claimed_ahead.insert(x);
            }
            _ => {
                self.freed.remove(&x);
            }
        }
    }

    /// Marks a usable, used address as free again.
    pub(crate) fn mark_free(&mut self, x: u128) {
        match self.next {
            Some(n) if x >= n => {
                self.claimed_ahead.remove(&x);
            }
            _ => {
                self.freed.insert(x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn size_counts_buggy_addresses_out() {
        let cases = [
            // (start, end, avoid, expected)
            (0, 255, true, 254),
            (0, 255, false, 256),
            (10, 20, true, 11),
            (0, 0, true, 0),
            (255, 256, true, 0),
            (254, 257, true, 2),
            (0, 65535, true, 65536 - 512),
        ];
        for (s, e, avoid, want) in cases {
            let r = RangeState::new(Family::V4, s, e, avoid);
            assert_eq!(r.size(), want, "{s}-{e} avoid={avoid}");
            let brute = (s..=e).filter(|x| r.usable(*x)).count() as u128;
            assert_eq!(brute, want, "{s}-{e} brute force");
        }
        // v6 never skips anything, and the whole space saturates instead of overflowing.
        assert_eq!(RangeState::new(Family::V6, 0, 255, true).size(), 256);
        assert_eq!(
            RangeState::new(Family::V6, 0, u128::MAX, false).size(),
            u128::MAX
        );
    }

    #[test]
    fn take_skips_claimed_and_buggy_then_reuses_freed() {
        let mut r = RangeState::new(Family::V4, 254, 260, true);
        r.mark_used(257);
        assert_eq!(r.take(), Some(254));
        assert_eq!(r.take(), Some(258)); // 255, 256 buggy; 257 claimed
        r.mark_free(254);
        r.mark_free(257);
        assert_eq!(r.take(), Some(254));
        assert_eq!(r.take(), Some(257));
        assert_eq!(r.take(), Some(259));
        assert_eq!(r.take(), Some(260));
        assert_eq!(r.take(), None);
    }

    #[test]
    fn range_at_the_top_of_the_space_does_not_overflow() {
        let mut r = RangeState::new(Family::V6, u128::MAX - 1, u128::MAX, false);
        assert_eq!(r.take(), Some(u128::MAX - 1));
        assert_eq!(r.take(), Some(u128::MAX));
        assert_eq!(r.take(), None);
        r.mark_free(u128::MAX);
        assert_eq!(r.take(), Some(u128::MAX));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Take,
        Claim(u128),
        Free(u128),
    }

    proptest! {
        /// Against a plain set of used addresses: `take` never returns a used or unusable
        /// address, returns `None` only when the range is full, and frees are reusable.
        #[test]
        fn matches_a_simple_model(
            avoid in any::<bool>(),
            ops in prop::collection::vec(prop_oneof![
                Just(Op::Take),
                (250u128..262).prop_map(Op::Claim),
                (250u128..262).prop_map(Op::Free),
            ], 0..80),
        ) {
            let mut r = RangeState::new(Family::V4, 250, 261, avoid);
            let mut used = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Take => match r.take() {
                        Some(x) => {
                            prop_assert!(r.usable(x));
                            prop_assert!(used.insert(x), "{} handed out twice", x);
                        }
                        None => prop_assert_eq!(used.len() as u128, r.size()),
                    },
                    Op::Claim(x) => if r.usable(x) && used.insert(x) { r.mark_used(x) },
                    Op::Free(x) => if used.remove(&x) { r.mark_free(x) },
                }
            }
        }
    }
}
