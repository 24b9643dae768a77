//! Validation: from the document as written ([`RawDocument`]) to the typed [`Config`].
//!
//! Invariant: either every rule holds and a `Config` comes out, or every violation
//! found is returned, each naming its place. Validation goes on after an error so one
//! run shows them all; a value that failed is simply left out of later checks.
//! All cross-entry checks (duplicates, overlaps) use hashing or sorting, never
//! pairwise comparison, so cost stays O(n log n) in the number of entries.

use crate::community::parse_community;
use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::index::AddressIndex;
use crate::model::{
    BfdProfile, BgpAdvertisement, Community, Config, NodeSelector, Peer, Pool, PoolName, Protocol,
};
use crate::overlap::{Located, find_overlaps};
use crate::range::{Entry, parse_entry};
use crate::raw::{RawAdvertisement, RawBfdProfile, RawDocument, RawPeer, RawPool, RawSelector};
use crate::selector::validate_selector;
use crate::warning::{ConfigWarning, WarningKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// MetalLB's default BGP port.
pub const DEFAULT_PEER_PORT: u16 = 179;
/// MetalLB's default hold time.
pub const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
/// Restart time offered with graceful restart when `graceful-restart-time` is unset
/// (RFC 4724 leaves it to the operator; 120 s is BIRD's, FRR's and GoBGP's default).
pub const DEFAULT_GRACEFUL_RESTART_TIME: Duration = Duration::from_secs(120);
/// The largest restart time the capability's 12-bit field holds.
pub const MAX_GRACEFUL_RESTART_TIME: Duration = Duration::from_secs(4095);

/// Validates a whole document.
pub fn validate(doc: &RawDocument) -> Result<Config, ConfigErrors> {
    validate_with_warnings(doc).map(|(config, _)| config)
}

/// Validates a whole document; an accepted one comes with its warnings.
pub fn validate_with_warnings(
    doc: &RawDocument,
) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let mut v = Validator::default();
    let communities = v.communities(doc.bgp_communities.as_ref());
    let bfd_profiles = v.bfd_profiles(doc.bfd_profiles.as_deref().unwrap_or_default());
    // Peers may name any profile written, even one with its own errors (reported there).
    let bfd_names: HashSet<&str> = doc
        .bfd_profiles
        .iter()
        .flatten()
        .filter_map(|p| p.name.as_deref())
        .collect();
    let peers = v.peers(doc.peers.as_deref().unwrap_or_default(), &bfd_names);
    let pools = v.pools(
        doc.address_pools.as_deref().unwrap_or_default(),
        &communities,
    );
    if let Some(errors) = ConfigErrors::from_vec(v.errors) {
        return Err(errors);
    }
    let address_index = AddressIndex::build(&pools);
    let config = Config {
        peers,
        bgp_communities: communities,
        pools,
        bfd_profiles,
        address_index,
    };
    Ok((config, v.warnings))
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

/// `name[i] "label"`, or `name[i]` without a label.
fn item_place(list: &str, i: usize, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{list}[{i}] {l:?}"),
        None => format!("{list}[{i}]"),
    }
}

impl Validator {
    fn push(&mut self, place: impl Into<String>, kind: ErrorKind) {
        self.errors.push(ConfigError::new(place, kind));
    }

    fn warn(&mut self, place: impl Into<String>, kind: WarningKind) {
        self.warnings.push(ConfigWarning::new(place, kind));
    }

    /// Checks `value` against `min..=max` and converts it.
    fn ranged<T: TryFrom<i64>>(
        &mut self,
        place: String,
        value: i64,
        min: i64,
        max: i64,
    ) -> Option<T> {
        if value < min || value > max {
            self.push(place, ErrorKind::OutOfRange { value, min, max });
            return None;
        }
        T::try_from(value).ok()
    }

    fn communities(
        &mut self,
        raw: Option<&BTreeMap<String, String>>,
    ) -> BTreeMap<String, Community> {
        let mut out = BTreeMap::new();
        for (name, value) in raw.into_iter().flatten() {
            let place = format!("bgp-communities {name:?}");
            match parse_community(value) {
                Some(c) => {
                    if parse_community(name).is_some_and(|own| own != c) {
                        self.warn(
                            place,
                            WarningKind::AliasShadowsValue {
                                name: name.clone(),
                                used: c.to_string(),
                            },
                        );
                    }
                    out.insert(name.clone(), c);
                }
                None => self.push(format!("{place} {value:?}"), ErrorKind::BadCommunity),
            }
        }
        out
    }

    fn bfd_profiles(&mut self, raw: &[RawBfdProfile]) -> Vec<BfdProfile> {
        let mut out = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let place = item_place("bfd-profiles", i, p.name.as_deref());
            let name = match p.name.as_deref() {
                None => {
                    self.push(place, ErrorKind::Missing("name"));
                    continue;
                }
                Some("") => {
                    self.push(format!("{place}: name"), ErrorKind::Empty);
                    continue;
                }
                Some(n) => n,
            };
            let errors_before = self.errors.len();
            let field = |v: &mut Self, key: &str, value: Option<i64>, min: i64, max: i64| {
                value.and_then(|x| v.ranged::<u32>(format!("{place}: {key}"), x, min, max))
            };
            let profile = BfdProfile {
                name: name.to_string(),
                receive_interval: field(self, "receive-interval", p.receive_interval, 10, 60_000),
                transmit_interval: field(
                    self,
                    "transmit-interval",
                    p.transmit_interval,
                    10,
                    60_000,
                ),
                detect_multiplier: field(self, "detect-multiplier", p.detect_multiplier, 2, 255),
                echo_interval: field(self, "echo-interval", p.echo_interval, 10, 60_000),
                echo_mode: p.echo_mode.unwrap_or(false),
                passive_mode: p.passive_mode.unwrap_or(false),
                minimum_ttl: field(self, "minimum-ttl", p.minimum_ttl, 1, 254),
            };
            if self.errors.len() == errors_before {
                out.push(profile);
            }
        }
        // Duplicates, reported against the first profile of each name.
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, p) in raw.iter().enumerate() {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                if let Some(&f) = first.get(name) {
                    self.push(
                        item_place("bfd-profiles", i, Some(name)),
                        ErrorKind::DuplicateBfdProfile(f),
                    );
                } else {
                    first.insert(name, i);
                }
            }
        }
        out
    }

    fn selectors(&mut self, place: &str, raw: Option<&[RawSelector]>) -> Vec<NodeSelector> {
        let mut out = Vec::new();
        for (k, sel) in raw.unwrap_or_default().iter().enumerate() {
            match validate_selector(sel) {
                Ok(s) => out.push(s),
                Err(errs) => {
                    for (suffix, kind) in errs {
                        self.push(format!("{place}: node-selectors[{k}]: {suffix}"), kind);
                    }
                }
            }
        }
        out
    }

    fn asn(&mut self, place: &str, key: &'static str, value: Option<i64>) -> Option<u32> {
        match value {
            None => {
                self.push(place, ErrorKind::Missing(key));
                None
            }
            Some(0) => {
                self.push(format!("{place}: {key}"), ErrorKind::ZeroAsn);
                None
            }
            Some(v) => self.ranged(format!("{place}: {key}"), v, 1, i64::from(u32::MAX)),
        }
    }

    /// An address as Go's `net.ParseIP` reads it: an IPv4-mapped IPv6 address is IPv4.
    fn ip(&mut self, place: &str, key: &str, value: &str) -> Option<IpAddr> {
        match value.parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_canonical()),
            Err(_) => {
                self.push(
                    format!("{place}: {key}"),
                    ErrorKind::BadIp(value.to_string()),
                );
                None
            }
        }
    }

    /// A BGP timer as MetalLB reads it: a Go duration, possibly negative, cut to whole
    /// seconds (towards zero). Returns whether it was negative, and its size.
    fn bgp_timer(&mut self, place: &str, key: &str, value: &str) -> Option<(bool, Duration)> {
        let (negative, body) = match value.strip_prefix('-') {
            Some(rest) if !rest.starts_with(['+', '-']) => (true, rest),
            _ => (false, value),
        };
        match parse_duration(body) {
            Ok(d) => {
                let cut = Duration::from_secs(d.as_secs());
                if cut != d {
                    self.warn(
                        format!("{place}: {key}"),
                        WarningKind::CutToSeconds {
                            written: value.to_string(),
                            used: cut,
                        },
                    );
                }
                Some((negative && !cut.is_zero(), cut))
            }
            Err(why) => {
                self.push(format!("{place}: {key}"), ErrorKind::BadDuration(why));
                None
            }
        }
    }

    fn peers(&mut self, raw: &[RawPeer], bfd_names: &HashSet<&str>) -> Vec<Peer> {
        let mut out = Vec::new();
        let mut seen: HashMap<Peer, usize> = HashMap::new();
        for (i, p) in raw.iter().enumerate() {
            let place = item_place("peers", i, p.peer_address.as_deref());
            if let Some(peer) = self.peer(&place, p, bfd_names) {
                match seen.get(&peer) {
                    Some(&first) => self.push(place, ErrorKind::DuplicatePeer(first)),
                    None => {
                        seen.insert(peer.clone(), i);
                        out.push(peer);
                    }
                }
            }
        }
        out
    }

    fn peer(&mut self, place: &str, p: &RawPeer, bfd_names: &HashSet<&str>) -> Option<Peer> {
        let before = self.errors.len();
        let my_asn = self.asn(place, "my-asn", p.my_asn);
        let peer_asn = self.asn(place, "peer-asn", p.peer_asn);
        let peer_address = match &p.peer_address {
            None => {
                self.push(place, ErrorKind::Missing("peer-address"));
                None
            }
            Some(a) => self.ip(place, "peer-address", a),
        };
        let peer_port = match p.peer_port {
            // MetalLB reads port 0 as "unset".
            None | Some(0) => Some(DEFAULT_PEER_PORT),
            Some(v) => self.ranged(format!("{place}: peer-port"), v, 1, 65535),
        };
        // MetalLB reads an empty string as "unset" in every optional string field.
        let source_address =
            non_empty(&p.source_address).map(|a| self.ip(place, "source-address", a));
        let hold_time = match non_empty(&p.hold_time) {
            None => Some(DEFAULT_HOLD_TIME),
            Some(h) => self
                .bgp_timer(place, "hold-time", h)
                .and_then(|(negative, d)| {
                    if !d.is_zero() && (negative || d < Duration::from_secs(3)) {
                        self.push(format!("{place}: hold-time {h:?}"), ErrorKind::HoldTooShort);
                        None
                    } else {
                        Some(d)
                    }
                }),
        };
        let keepalive_time = match (non_empty(&p.keepalive_time), hold_time) {
            (None, hold) => hold.map(|h| h / 3),
            (Some(k), hold) => {
                self.bgp_timer(place, "keepalive-time", k)
                    .and_then(|(negative, d)| match hold {
                        // Below any hold time, so MetalLB accepts it; it means nothing.
                        Some(h) if negative && !d.is_zero() => {
                            self.warn(
                                format!("{place}: keepalive-time"),
                                WarningKind::NegativeKeepalive {
                                    written: k.to_string(),
                                    used: h / 3,
                                },
                            );
                            Some(h / 3)
                        }
                        Some(h) if d > h => {
                            self.push(
                                place,
                                ErrorKind::KeepaliveAboveHold {
                                    keepalive: d,
                                    hold: h,
                                },
                            );
                            None
                        }
                        _ => Some(d),
                    })
            }
        };
        let router_id = match non_empty(&p.router_id) {
            None => Some(None),
            Some(r) => match r.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
                Ok(IpAddr::V4(ip)) => Some(Some(ip)),
                Ok(IpAddr::V6(_)) => {
                    self.warn(
                        format!("{place}: router-id"),
                        WarningKind::RouterIdNotIpv4(r.to_string()),
                    );
                    Some(None)
                }
                Err(_) => {
                    self.push(
                        format!("{place}: router-id"),
                        ErrorKind::BadRouterId(r.to_string()),
                    );
                    None
                }
            },
        };
        let node_selectors = self.selectors(place, p.node_selectors.as_deref());
        let bfd_profile = non_empty(&p.bfd_profile);
        if let Some(name) = bfd_profile
            && !bfd_names.contains(name)
        {
            self.push(
                format!("{place}: bfd-profile"),
                ErrorKind::UnknownBfdProfile(name.to_string()),
            );
        }
        let ebgp_multihop = p.ebgp_multihop.unwrap_or(false);
        if let (true, Some(m), Some(pa)) = (ebgp_multihop, my_asn, peer_asn)
            && m == pa
        {
            self.push(
                format!("{place}: ebgp-multihop"),
                ErrorKind::MultihopIbgp(m),
            );
        }
        let graceful_restart = self.graceful_restart(place, p);
        if self.errors.len() != before {
            return None;
        }
        Some(Peer {
            my_asn: my_asn?,
            peer_asn: peer_asn?,
            peer_address: peer_address?,
            peer_port: peer_port?,
            source_address: source_address.flatten(),
            hold_time: hold_time?,
            keepalive_time: keepalive_time?,
            router_id: router_id?,
            password: non_empty(&p.password).map(str::to_string),
            node_selectors,
            bfd_profile: bfd_profile.map(str::to_string),
            ebgp_multihop,
            graceful_restart: graceful_restart.flatten(),
        })
    }

    /// `enable-graceful-restart` and `graceful-restart-time`: `Some(None)` when off,
    /// `None` after an error.
    fn graceful_restart(&mut self, place: &str, p: &RawPeer) -> Option<Option<Duration>> {
        let key = "graceful-restart-time";
        let time = match non_empty(&p.graceful_restart_time) {
            None => Some(DEFAULT_GRACEFUL_RESTART_TIME),
            Some(t) => self.bgp_timer(place, key, t).and_then(|(negative, d)| {
                // Zero would tell the router to drop our routes at once: a restart time
                // that disables what the peer asked for, so it is refused, not "off".
                if negative || d < Duration::from_secs(1) || d > MAX_GRACEFUL_RESTART_TIME {
                    self.push(
                        format!("{place}: {key} {t:?}"),
                        ErrorKind::GracefulRestartTimeOutOfRange,
                    );
                    None
                } else {
                    Some(d)
                }
            }),
        };
        let enabled = p.enable_graceful_restart.unwrap_or(false);
        if !enabled && non_empty(&p.graceful_restart_time).is_some() && time.is_some() {
            self.warn(
                format!("{place}: {key}"),
                WarningKind::GracefulRestartTimeUnused,
            );
        }
        time.map(|t| enabled.then_some(t))
    }

    fn pools(&mut self, raw: &[RawPool], communities: &BTreeMap<String, Community>) -> Vec<Pool> {
        let mut out = Vec::new();
        let mut located = Vec::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, p) in raw.iter().enumerate() {
            let place = item_place("address-pools", i, p.name.as_deref());
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                match names.get(name) {
                    Some(&first) => {
                        self.push(format!("{place}: name"), ErrorKind::DuplicatePool { first })
                    }
                    None => {
                        names.insert(name, i);
                    }
                }
            }
            if let Some(pool) = self.pool(i, &place, p, communities, &mut located) {
                out.push(pool);
            }
        }
        let entry_place = |l: &Located| {
            let pool = &raw[l.pool];
            let text = pool
                .addresses
                .as_ref()
                .and_then(|a| a.get(l.entry))
                .map_or("", String::as_str);
            format!(
                "{}: addresses[{}] {text:?}",
                item_place("address-pools", l.pool, pool.name.as_deref()),
                l.entry
            )
        };
        for (first, later) in find_overlaps(&located) {
            self.push(
                entry_place(&later),
                ErrorKind::Overlap {
                    other: entry_place(&first),
                },
            );
        }
        out
    }

    fn pool(
        &mut self,
        i: usize,
        place: &str,
        p: &RawPool,
        communities: &BTreeMap<String, Community>,
        located: &mut Vec<Located>,
    ) -> Option<Pool> {
        let before = self.errors.len();
        let name = match p.name.as_deref() {
            None => {
                self.push(place, ErrorKind::Missing("name"));
                None
            }
            Some("") => {
                self.push(format!("{place}: name"), ErrorKind::Empty);
                None
            }
            Some(n) => Some(PoolName(n.to_string())),
        };
        let protocol = match p.protocol.as_deref() {
            None => {
                self.push(place, ErrorKind::Missing("protocol"));
                None
            }
            Some("layer2") => Some(Protocol::Layer2),
            Some("bgp") => Some(Protocol::Bgp),
            Some(other) => {
                self.push(
                    format!("{place}: protocol"),
                    ErrorKind::UnknownProtocol(other.to_string()),
                );
                None
            }
        };
        let mut entries: Vec<(usize, Entry)> = Vec::new();
        match p.addresses.as_deref() {
            None => self.push(place, ErrorKind::Missing("addresses")),
            Some([]) => self.push(format!("{place}: addresses"), ErrorKind::Empty),
            Some(list) => {
                for (j, text) in list.iter().enumerate() {
                    match parse_entry(text) {
                        Ok(e) => {
                            located.push(Located {
                                range: e.range,
                                pool: i,
                                entry: j,
                            });
                            entries.push((j, e));
                        }
                        // MetalLB accepts it as an entry of no address.
                        Err(ErrorKind::MixedFamilies) => self.warn(
                            format!("{place}: addresses[{j}] {text:?}"),
                            WarningKind::MixedFamilyRange,
                        ),
                        Err(kind) => self.push(format!("{place}: addresses[{j}] {text:?}"), kind),
                    }
                }
            }
        }
        let raw_ads = p.bgp_advertisements.as_deref().unwrap_or_default();
        let mut bgp_advertisements = Vec::new();
        if protocol == Some(Protocol::Layer2) && !raw_ads.is_empty() {
            self.push(format!("{place}: bgp-advertisements"), ErrorKind::BgpOnly);
        } else if protocol == Some(Protocol::Bgp) {
            let widest = if raw_ads.is_empty() {
                [None, None]
            } else {
                widest(&entries, p)
            };
            // MetalLB compares advertisements as written (an unset field differs from
            // its default, community order counts); what they announce may still be
            // the same, which is kept once.
            let mut written: HashMap<&RawAdvertisement, usize> = HashMap::new();
            let mut announced: HashMap<BgpAdvertisement, usize> = HashMap::new();
            for (j, raw) in raw_ads.iter().enumerate() {
                let ad_place = format!("{place}: bgp-advertisements[{j}]");
                if let Some(&first) = written.get(raw) {
                    self.push(ad_place, ErrorKind::DuplicateAdvertisement(first));
                    continue;
                }
                written.insert(raw, j);
                let Some(ad) = self.advertisement(&ad_place, raw, &widest, communities) else {
                    continue;
                };
                match announced.get(&ad) {
                    Some(&first) => self.warn(ad_place, WarningKind::SameAdvertisement(first)),
                    None => {
                        announced.insert(ad.clone(), j);
                        bgp_advertisements.push(ad);
                    }
                }
            }
            if raw_ads.is_empty() {
                bgp_advertisements.push(BgpAdvertisement {
                    aggregation_length: 32,
                    aggregation_length_v6: 128,
                    local_pref: None,
                    communities: Vec::new(),
                });
            }
        }
        let interfaces = p.interfaces.clone().unwrap_or_default();
        if protocol == Some(Protocol::Bgp) && !interfaces.is_empty() {
            self.push(format!("{place}: interfaces"), ErrorKind::Layer2Only);
        }
        self.names(
            place,
            "interfaces",
            &interfaces,
            is_interface_name,
            ErrorKind::BadInterface,
        );
        let namespaces = p.namespaces.clone().unwrap_or_default();
        self.names(
            place,
            "namespaces",
            &namespaces,
            is_namespace_name,
            ErrorKind::BadNamespace,
        );
        let node_selectors = self.selectors(place, p.node_selectors.as_deref());
        if self.errors.len() != before {
            return None;
        }
        Some(Pool {
            name: name?,
            protocol: protocol?,
            addresses: entries.into_iter().map(|(_, e)| e.range).collect(),
            avoid_buggy_ips: p.avoid_buggy_ips.unwrap_or(false),
            auto_assign: p.auto_assign.unwrap_or(true),
            bgp_advertisements,
            interfaces,
            node_selectors,
            namespaces,
        })
    }

    /// Checks a list of names for syntax and repeats.
    fn names(
        &mut self,
        place: &str,
        key: &str,
        names: &[String],
        valid: fn(&str) -> bool,
        bad: fn(String) -> ErrorKind,
    ) {
        let mut seen = HashSet::new();
        for (k, n) in names.iter().enumerate() {
            if !valid(n) {
                self.push(format!("{place}: {key}[{k}]"), bad(n.clone()));
            } else if !seen.insert(n.as_str()) {
                self.push(
                    format!("{place}: {key}[{k}]"),
                    ErrorKind::Repeated(n.clone()),
                );
            }
        }
    }

    fn advertisement(
        &mut self,
        place: &str,
        raw: &RawAdvertisement,
        widest: &[Option<Widest>; 2],
        communities: &BTreeMap<String, Community>,
    ) -> Option<BgpAdvertisement> {
        let before = self.errors.len();
        let v4 = self.aggregation(
            place,
            "aggregation-length",
            raw.aggregation_length,
            32,
            widest[0].as_ref(),
        );
        let v6 = self.aggregation(
            place,
            "aggregation-length-v6",
            raw.aggregation_length_v6,
            128,
            widest[1].as_ref(),
        );
        let local_pref = raw
            .localpref
            .map(|v| self.ranged::<u32>(format!("{place}: localpref"), v, 0, i64::from(u32::MAX)));
        let mut resolved: Vec<Community> = Vec::new();
        // As MetalLB: the same text twice is an error; two texts meaning the same
        // community (a value and an alias of it) are one community.
        let mut texts = HashSet::new();
        let mut seen = HashSet::new();
        for (k, text) in raw.communities.iter().flatten().enumerate() {
            let c_place = format!("{place}: communities[{k}] {text:?}");
            if !texts.insert(text.as_str()) {
                self.push(c_place, ErrorKind::DuplicateCommunity(text.clone()));
                continue;
            }
            // An alias wins over a value of the same spelling, as in MetalLB.
            match communities
                .get(text)
                .copied()
                .or_else(|| parse_community(text))
            {
                None => self.push(c_place, ErrorKind::BadCommunity),
                Some(c) if !seen.insert(c) => {
                    self.warn(c_place, WarningKind::RepeatedCommunity(c.to_string()));
                }
                Some(c) => resolved.push(c),
            }
        }
        resolved.sort_unstable();
        if self.errors.len() != before {
            return None;
        }
        Some(BgpAdvertisement {
            aggregation_length: v4?,
            aggregation_length_v6: v6?,
            local_pref: local_pref.flatten(),
            communities: resolved,
        })
    }

    /// Checks one aggregation length against the family's maximum and against the
    /// widest entry of that family (one comparison, however many entries).
    fn aggregation(
        &mut self,
        place: &str,
        key: &str,
        value: Option<i64>,
        max: u8,
        widest: Option<&Widest>,
    ) -> Option<u8> {
        let len = match value {
            None => max,
            Some(v) if v > i64::from(max) => {
                self.push(
                    format!("{place}: {key}"),
                    ErrorKind::AggregationTooLong { len: v, max },
                );
                return None;
            }
            // MetalLB checks a negative length only against the pool's addresses of
            // that family: with none, it is accepted and unused.
            Some(v) if v < 0 && widest.is_none() => {
                let family = if max == 32 { "IPv4" } else { "IPv6" };
                self.warn(
                    format!("{place}: {key}"),
                    WarningKind::UnusedAggregation { len: v, family },
                );
                max
            }
            Some(v) => self.ranged::<u8>(format!("{place}: {key}"), v, 0, i64::from(max))?,
        };
        match widest {
            Some(m) if len < m.prefix => {
                self.push(
                    format!("{place}: {key}"),
                    ErrorKind::AggregationTooShort {
                        len,
                        prefix: m.prefix,
                        entry: m.entry,
                        address: m.address.clone(),
                    },
                );
                None
            }
            _ => Some(len),
        }
    }
}

/// The entry of one family that bounds its aggregation length: an aggregation length
/// must be at least the prefix of each CIDR entry and, for a range, at least the
/// shortest prefix of the CIDRs that exactly cover it (MetalLB PR #1130: a range may
/// be a part of a block the user owns, so it is judged by its widest CIDR).
struct Widest {
    prefix: u8,
    entry: usize,
    address: String,
}

/// For IPv4 and IPv6, the entry whose bound (above) is the longest.
fn widest(entries: &[(usize, Entry)], pool: &RawPool) -> [Option<Widest>; 2] {
    let mut best: [Option<(u8, usize)>; 2] = [None, None];
    for (j, e) in entries {
        let prefix = e.prefix.unwrap_or_else(|| e.range.shortest_cover_prefix());
        let slot = &mut best[usize::from(!e.range.is_ipv4())];
        if slot.is_none_or(|(p, _)| prefix > p) {
            *slot = Some((prefix, *j));
        }
    }
    best.map(|b| {
        b.map(|(prefix, entry)| Widest {
            prefix,
            entry,
            address: pool
                .addresses
                .as_ref()
                .and_then(|a| a.get(entry))
                .cloned()
                .unwrap_or_default(),
        })
    })
}

/// An optional string field, with the empty string read as unset (as Go does).
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// A Linux interface name: 1-15 bytes, no '/', ':' or whitespace.
fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// A Kubernetes namespace name (DNS label): 1-63 of `[a-z0-9-]`, alphanumeric ends.
fn is_namespace_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}
