//! Lookup from an address to its pool, and by pool name.
//!
//! The index is a list of every address range sorted by start, built once when a
//! config is validated; since validated ranges never overlap, a binary search finds
//! the only candidate, so `pool_of` costs O(log n) however many entries there are.

use crate::model::{AddressRange, Config, Pool};
use std::net::IpAddr;

/// Sorted, non-overlapping ranges with the index of their pool.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AddressIndex {
    entries: Vec<(AddressRange, usize)>,
}

impl std::fmt::Debug for AddressIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AddressIndex({} ranges)", self.entries.len())
    }
}

impl AddressIndex {
    /// Builds the index of `pools`. Ranges must not overlap (validation ensures it).
    pub fn build(pools: &[Pool]) -> Self {
        let mut entries: Vec<(AddressRange, usize)> = pools
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.addresses.iter().map(move |r| (*r, i)))
            .collect();
        entries.sort_unstable_by_key(|(r, _)| r.start);
        AddressIndex { entries }
    }

    /// The index of the pool holding `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<usize> {
        let after = self.entries.partition_point(|(r, _)| r.start <= ip);
        let (range, pool) = self.entries.get(after.checked_sub(1)?)?;
        range.contains(ip).then_some(*pool)
    }

    /// Whether the index holds no range.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Config {
    /// The pool named `name`.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name.0 == name)
    }

    /// The pool that holds `ip`, in O(log n) for a config from [`crate::parse()`].
    ///
    /// A `Config` assembled by hand has no index until [`Config::reindex`] is called;
    /// until then this falls back to a linear scan, so the answer is still right.
    pub fn pool_of(&self, ip: IpAddr) -> Option<&Pool> {
        if self.address_index.is_empty() {
            return self.pools.iter().find(|p| p.contains(ip));
        }
        self.pools.get(self.address_index.lookup(ip)?)
    }

    /// Rebuilds the address index after `pools` were changed by hand.
    pub fn reindex(&mut self) {
        self.address_index = AddressIndex::build(&self.pools);
    }
}
