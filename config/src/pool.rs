//! Questions asked of a validated pool and of the peers: size, membership, which
//! nodes may announce, which namespaces may use it.

use crate::model::{Config, Peer, Pool};
use crate::range::buggy_count;
use crate::selector::any_matches;
use std::collections::BTreeMap;
use std::net::IpAddr;

impl Pool {
    /// Number of assignable addresses: every address of every entry, less the IPv4
    /// `.0` and `.255` ones when `avoid-buggy-ips` is set. Saturates at `u128::MAX`.
    pub fn size(&self) -> u128 {
        self.addresses.iter().fold(0u128, |acc, r| {
            let skipped = if self.avoid_buggy_ips {
                buggy_count(r)
            } else {
                0
            };
            acc.saturating_add(r.size() - skipped)
        })
    }

    /// Whether `ip` is in one of the pool's entries (regardless of `avoid-buggy-ips`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|r| r.contains(ip))
    }

    /// Whether a node with these labels may announce the pool (true with no selectors).
    pub fn node_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        any_matches(&self.node_selectors, labels)
    }

    /// Whether Services of namespace `ns` may use the pool (true with no `namespaces`).
    pub fn namespace_allowed(&self, ns: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == ns)
    }
}

impl Peer {
    /// Whether a node with these labels peers with this router (true with no selectors).
    pub fn node_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        any_matches(&self.node_selectors, labels)
    }
}

impl Config {
    /// The peers a node with these labels opens sessions to, in config order.
    pub fn peers_for_node<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers.iter().filter(move |p| p.node_matches(labels))
    }
}
