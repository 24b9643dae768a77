//! The validated, typed configuration. Every value here has passed validation:
//! consumers (controller, speaker) never re-check what `parse` guarantees.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A whole validated IronLB configuration (the ConfigMap's `config` document).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// BGP peers, in config order.
    pub peers: Vec<Peer>,
    /// Community aliases from `bgp-communities`, already resolved into advertisements.
    pub bgp_communities: BTreeMap<String, Community>,
    /// Address pools, in config order.
    pub pools: Vec<Pool>,
    /// BFD profiles by name (the speaker runs BFD to peers that name one).
    pub bfd_profiles: Vec<BfdProfile>,
    /// Every address range sorted, for [`Config::pool_of`]; built by `parse`
    /// (call [`Config::reindex`] after changing `pools` by hand).
    pub address_index: crate::index::AddressIndex,
}

/// A pool's name, unique within a config.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolName(pub String);

impl std::fmt::Display for PoolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a pool's addresses are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// ARP / NDP answers from one elected node.
    Layer2,
    /// BGP routes from every eligible node.
    Bgp,
}

/// An address pool (`address-pools[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// `name`.
    pub name: PoolName,
    /// `protocol`.
    pub protocol: Protocol,
    /// `addresses`, each a CIDR or `start-end` range, normalised to inclusive ranges.
    pub addresses: Vec<AddressRange>,
    /// `avoid-buggy-ips`: skip IPv4 addresses ending in .0 and .255.
    pub avoid_buggy_ips: bool,
    /// `auto-assign` (default true): may serve Services that name no pool and no IP.
    pub auto_assign: bool,
    /// `bgp-advertisements`; for a BGP pool without any, one default advertisement.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// IronLB addition `interfaces`: layer-2 interfaces to announce on (empty: all suitable).
    pub interfaces: Vec<String>,
    /// IronLB addition `node-selectors`: nodes that may announce (empty: all nodes).
    pub node_selectors: Vec<NodeSelector>,
    /// IronLB addition `namespaces`: namespaces whose Services may use the pool (empty: all).
    pub namespaces: Vec<String>,
}

/// An inclusive range of addresses of one family. `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressRange {
    /// First address.
    pub start: IpAddr,
    /// Last address (inclusive).
    pub end: IpAddr,
}

/// A BGP community, classic (RFC 1997) or large (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Community {
    /// `NN:NN`, two 16-bit halves.
    Standard(u32),
    /// `N:N:N`, three 32-bit parts.
    Large(u32, u32, u32),
}

/// One `bgp-advertisements[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BgpAdvertisement {
    /// `aggregation-length` (default 32).
    pub aggregation_length: u8,
    /// `aggregation-length-v6` (default 128).
    pub aggregation_length_v6: u8,
    /// `localpref` (iBGP only).
    pub local_pref: Option<u32>,
    /// `communities`, aliases resolved, sorted and unique.
    pub communities: Vec<Community>,
}

/// A BGP peer (`peers[]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    /// `my-asn`.
    pub my_asn: u32,
    /// `peer-asn`.
    pub peer_asn: u32,
    /// `peer-address`.
    pub peer_address: IpAddr,
    /// `peer-port` (default 179).
    pub peer_port: u16,
    /// `source-address`.
    pub source_address: Option<IpAddr>,
    /// `hold-time` (default 90 s; 0 disables keepalives).
    pub hold_time: Duration,
    /// `keepalive-time` (default hold-time / 3).
    pub keepalive_time: Duration,
    /// `router-id`.
    pub router_id: Option<Ipv4Addr>,
    /// `password` for TCP-MD5.
    pub password: Option<String>,
    /// `node-selectors` (empty: every node).
    pub node_selectors: Vec<NodeSelector>,
    /// `bfd-profile`, a name present in `bfd_profiles`.
    pub bfd_profile: Option<String>,
    /// `ebgp-multihop`.
    pub ebgp_multihop: bool,
    /// IronLB addition `enable-graceful-restart` with `graceful-restart-time`: the restart
    /// time (whole seconds, 1 s to 4095 s) to offer in the RFC 4724 capability; `None`: off.
    pub graceful_restart: Option<Duration>,
}

/// A Kubernetes-style label selector (`match-labels`, `match-expressions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct NodeSelector {
    /// `match-labels`: every pair must be present.
    pub match_labels: BTreeMap<String, String>,
    /// `match-expressions`: every requirement must hold.
    pub match_expressions: Vec<LabelRequirement>,
}

/// One `match-expressions[]` requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelRequirement {
    /// Label key.
    pub key: String,
    /// Operator and its values.
    pub operator: LabelOperator,
}

/// Operator of a label requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelOperator {
    /// `In`: the label's value is one of these.
    In(Vec<String>),
    /// `NotIn`: the label is absent or its value is none of these.
    NotIn(Vec<String>),
    /// `Exists`.
    Exists,
    /// `DoesNotExist`.
    DoesNotExist,
}

/// A BFD profile (`bfd-profiles[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// `name`.
    pub name: String,
    /// `receive-interval` in ms.
    pub receive_interval: Option<u32>,
    /// `transmit-interval` in ms.
    pub transmit_interval: Option<u32>,
    /// `detect-multiplier`.
    pub detect_multiplier: Option<u32>,
    /// `echo-interval` in ms.
    pub echo_interval: Option<u32>,
    /// `echo-mode`.
    pub echo_mode: bool,
    /// `passive-mode`.
    pub passive_mode: bool,
    /// `minimum-ttl`.
    pub minimum_ttl: Option<u32>,
}
