//! Overlap detection between address entries, in one pool or across pools.
//!
//! Sorting by start and sweeping once keeps it O(n log n): an entry overlaps an
//! earlier one exactly when it starts at or before the largest end seen so far.
//! Every entry that overlaps any other appears in at least one reported pair.

use crate::model::AddressRange;

/// One address entry with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The addresses.
    pub range: AddressRange,
    /// Index of its pool in `address-pools`.
    pub pool: usize,
    /// Index of the entry in the pool's `addresses`.
    pub entry: usize,
}

/// Finds overlapping entries. Each returned pair `(earlier, later)` overlaps, where
/// `earlier` holds the largest end among entries starting before `later`.
pub fn find_overlaps(entries: &[Located]) -> Vec<(Located, Located)> {
    let mut sorted: Vec<&Located> = entries.iter().collect();
    sorted.sort_by_key(|l| (l.range.start, l.range.end, l.pool, l.entry));
    let mut pairs = Vec::new();
    let mut widest: Option<&Located> = None;
    for cur in sorted {
        match widest {
            // IpAddr orders every IPv4 before every IPv6, so ends never cross families.
            Some(w) if cur.range.start <= w.range.end => {
                pairs.push((*w, *cur));
                if cur.range.end > w.range.end {
                    widest = Some(cur);
                }
            }
            _ => widest = Some(cur),
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn located(v6: bool, s: u8, e: u8, pool: usize, entry: usize) -> Located {
        let ip = |x: u8| -> IpAddr {
            if v6 {
                IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, u16::from(x)))
            } else {
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, x))
            }
        };
        Located {
            range: AddressRange {
                start: ip(s.min(e)),
                end: ip(s.max(e)),
            },
            pool,
            entry,
        }
    }

    #[test]
    fn names_both_entries() {
        let a = located(false, 0, 10, 0, 0);
        let b = located(false, 20, 30, 0, 1);
        let c = located(false, 5, 6, 1, 0);
        assert_eq!(find_overlaps(&[a, b, c]), vec![(a, c)]);
        let v6 = located(true, 0, 10, 2, 0);
        assert_eq!(find_overlaps(&[a, v6]), vec![]);
    }

    proptest! {
        #[test]
        fn agrees_with_brute_force(
            raw in prop::collection::vec((any::<bool>(), 0u8..40, 0u8..40, 0usize..3), 0..12)
        ) {
            let entries: Vec<Located> = raw
                .iter()
                .enumerate()
                .map(|(i, &(v6, s, e, pool))| located(v6, s, e, pool, i))
                .collect();
            let pairs = find_overlaps(&entries);
            for (a, b) in &pairs {
                prop_assert!(a.range.overlaps(&b.range));
                prop_assert!(a.range.is_ipv4() == b.range.is_ipv4());
            }
            let reported: BTreeSet<usize> =
                pairs.iter().flat_map(|(a, b)| [a.entry, b.entry]).collect();
            let mut brute = BTreeSet::new();
            for (i, a) in entries.iter().enumerate() {
                for (j, b) in entries.iter().enumerate() {
                    if i != j && a.range.is_ipv4() == b.range.is_ipv4() && a.range.overlaps(&b.range) {
                        brute.insert(a.entry);
                    }
                }
            }
            prop_assert_eq!(reported, brute);
        }
    }
}
