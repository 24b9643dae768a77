//! Routes the speaker announces and the UPDATE messages that carry them
//! (RFC 4271 section 4.3, RFC 4760 for IPv6).
//!
//! IPv4 prefixes travel in the classic NLRI field with a NEXT_HOP attribute,
//! IPv6 prefixes in MP_REACH_NLRI / MP_UNREACH_NLRI. Prefixes that share the
//! same attributes are packed into as few UPDATEs as fit in 4096 bytes.
//! Invariant: every message built here encodes to at most
//! [`MAX_MESSAGE_LEN`](super::message::MAX_MESSAGE_LEN) bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use ironlb_config::{BgpAdvertisement, Community};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::community::{Community as WireCommunity, LargeCommunity};
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::path_attribute::{
    As2PathSegment, As4PathSegment, AsPath, AsPathSegmentType, Communities, LargeCommunities,
    LocalPreference, MpReach, MpUnreach, NextHop, Origin, PathAttribute, PathAttributeValue,
};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::WritablePdu;

use super::message::MAX_MESSAGE_LEN;

/// AS number used in 2-byte fields for an AS above 65535 (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// Path attributes we set on a route besides ORIGIN, AS_PATH and NEXT_HOP.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttrs {
    /// Classic and large communities.
    pub communities: BTreeSet<Community>,
    /// LOCAL_PREF, sent to iBGP peers only (RFC 4271 5.1.5).
    pub local_pref: Option<u32>,
}

/// One route to announce: a prefix and its attributes. The next hop is not
/// part of it: each session uses its own local address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// The prefix, host bits cleared.
    pub prefix: IpNet,
    /// Its attributes.
    pub attrs: RouteAttrs,
}

impl Route {
    /// A route for `prefix` (host bits are cleared) with `attrs`.
    pub fn new(prefix: IpNet, attrs: RouteAttrs) -> Self {
        Self {
            prefix: prefix.trunc(),
            attrs,
        }
    }

    /// A /32 or /128 route for one address with no extra attributes.
    pub fn host(ip: IpAddr) -> Self {
        Self::new(IpNet::from(ip), RouteAttrs::default())
    }
}

/// The routes announcing `ip` under a BGP pool's `bgp-advertisements`: one
/// per advertisement, the aggregate of `ip` at its `aggregation-length`
/// (`aggregation-length-v6` for IPv6), with its communities and LOCAL_PREF.
/// Advertisements that yield the same prefix are merged later by
/// [`by_prefix`].
pub fn routes_for(ip: IpAddr, advertisements: &[BgpAdvertisement]) -> Vec<Route> {
    advertisements
        .iter()
        .filter_map(|adv| {
            let len = match ip {
                IpAddr::V4(_) => adv.aggregation_length,
                IpAddr::V6(_) => adv.aggregation_length_v6,
            };
            let prefix = IpNet::new(ip, len).ok()?;
            Some(Route::new(
                prefix,
                RouteAttrs {
                    communities: adv.communities.iter().copied().collect(),
                    local_pref: adv.local_pref,
                },
            ))
        })
        .collect()
}

/// Folds a set of routes into one attribute set per prefix. Several
/// advertisements may yield the same prefix: their communities are merged
/// and the highest LOCAL_PREF wins, so the result does not depend on order.
pub fn by_prefix(routes: &BTreeSet<Route>) -> BTreeMap<IpNet, RouteAttrs> {
    let mut out: BTreeMap<IpNet, RouteAttrs> = BTreeMap::new();
    for r in routes {
        let prefix = r.prefix.trunc();
        match out.get_mut(&prefix) {
            None => {
                out.insert(prefix, r.attrs.clone());
            }
            Some(a) => {
                a.communities.extend(r.attrs.communities.iter().copied());
                a.local_pref = a.local_pref.max(r.attrs.local_pref);
            }
        }
    }
    out
}

/// What a session knows when it builds UPDATEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateParams {
    /// Our AS number.
    pub local_asn: u32,
    /// Same AS on both ends.
    pub ibgp: bool,
    /// Both sides announced the 4-octet AS capability.
    pub asn4: bool,
    /// NEXT_HOP for IPv4 routes; none: IPv4 routes are not sent.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Global next hop for IPv6 routes; none: IPv6 routes are not sent.
    pub next_hop_v6: Option<Ipv6Addr>,
}

impl UpdateParams {
    /// Whether this session can carry `prefix`: it has a next hop of that
    /// family and the prefix is unicast.
    pub fn carries(&self, prefix: &IpNet) -> bool {
        (match prefix {
            IpNet::V4(_) => self.next_hop_v4.is_some(),
            IpNet::V6(_) => self.next_hop_v6.is_some(),
        }) && is_unicast(prefix)
    }

    fn common_attrs(&self, attrs: &RouteAttrs) -> Vec<PathAttribute> {
        let mut out = Vec::new();
        push(&mut out, false, PathAttributeValue::Origin(Origin::IGP));
        let as_path = match (self.ibgp, self.asn4) {
            (true, true) => AsPath::As4PathSegments(Box::new([])),
            (true, false) => AsPath::As2PathSegments(Box::new([])),
            (false, true) => AsPath::As4PathSegments(Box::new([As4PathSegment::new(
                AsPathSegmentType::AsSequence,
                vec![self.local_asn],
            )])),
            (false, false) => AsPath::As2PathSegments(Box::new([As2PathSegment::new(
                AsPathSegmentType::AsSequence,
                vec![u16::try_from(self.local_asn).unwrap_or(AS_TRANS)],
            )])),
        };
        push(&mut out, false, PathAttributeValue::AsPath(as_path));
        if self.ibgp {
            // RFC 4271 5.1.5: always send LOCAL_PREF to internal peers.
            let pref = attrs.local_pref.unwrap_or(100);
            push(
                &mut out,
                false,
                PathAttributeValue::LocalPreference(LocalPreference::new(pref)),
            );
        }
        let classic: Vec<WireCommunity> = attrs
            .communities
            .iter()
            .filter_map(|c| match c {
                Community::Standard(v) => Some(WireCommunity::new(*v)),
                Community::Large(..) => None,
            })
            .collect();
        if !classic.is_empty() {
            push(
                &mut out,
                true,
                PathAttributeValue::Communities(Communities::new(classic)),
            );
        }
        let large: Vec<LargeCommunity> = attrs
            .communities
            .iter()
            .filter_map(|c| match c {
                Community::Large(a, b, d) => Some(LargeCommunity::new(*a, *b, *d)),
                Community::Standard(_) => None,
            })
            .collect();
        if !large.is_empty() {
            push(
                &mut out,
                true,
                PathAttributeValue::LargeCommunities(LargeCommunities::new(large)),
            );
        }
        out
    }

    /// UPDATEs announcing `routes` (prefixes this session cannot carry are skipped).
    pub fn announce(&self, routes: &BTreeMap<IpNet, RouteAttrs>) -> Vec<BgpMessage> {
        let mut groups: BTreeMap<&RouteAttrs, (Vec<Ipv4Net>, Vec<Ipv6Net>)> = BTreeMap::new();
        for (prefix, attrs) in routes.iter().filter(|(p, _)| self.carries(p)) {
            let g = groups.entry(attrs).or_default();
            match prefix {
                IpNet::V4(n) => g.0.push(*n),
                IpNet::V6(n) => g.1.push(*n),
            }
        }
        let mut out = Vec::new();
        for (attrs, (v4, v6)) in groups {
            let common = self.common_attrs(attrs);
            if let Some(nh) = self.next_hop_v4 {
                let mut base = common.clone();
                push(
                    &mut base,
                    false,
                    PathAttributeValue::NextHop(NextHop::new(nh)),
                );
                let build = |chunk: &[Ipv4Net]| {
                    BgpMessage::Update(BgpUpdateMessage::new(
                        vec![],
                        base.clone(),
                        chunk.iter().filter_map(|n| v4_nlri(*n)).collect::<Vec<_>>(),
                    ))
                };
                pack(&v4, v4_len, &build, &mut out);
            }
            if let Some(nh) = self.next_hop_v6 {
                let build = |chunk: &[Ipv6Net]| {
                    let mut attrs = common.clone();
                    push(
                        &mut attrs,
                        true,
                        PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                            next_hop_global: nh,
                            next_hop_local: None,
                            nlri: chunk.iter().filter_map(|n| v6_nlri(*n)).collect(),
                        }),
                    );
                    BgpMessage::Update(BgpUpdateMessage::new(vec![], attrs, vec![]))
                };
                pack(&v6, v6_len, &build, &mut out);
            }
        }
        out
    }

    /// UPDATEs withdrawing `prefixes` (prefixes this session cannot carry are skipped).
    pub fn withdraw<'a>(&self, prefixes: impl IntoIterator<Item = &'a IpNet>) -> Vec<BgpMessage> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for p in prefixes.into_iter().filter(|p| self.carries(p)) {
            match p {
                IpNet::V4(n) => v4.push(*n),
                IpNet::V6(n) => v6.push(*n),
            }
        }
        let mut out = Vec::new();
        let build4 = |chunk: &[Ipv4Net]| {
            BgpMessage::Update(BgpUpdateMessage::new(
                chunk.iter().filter_map(|n| v4_nlri(*n)).collect::<Vec<_>>(),
                vec![],
                vec![],
            ))
        };
        pack(&v4, v4_len, &build4, &mut out);
        let build6 = |chunk: &[Ipv6Net]| {
            let mut attrs = Vec::new();
            push(
                &mut attrs,
                true,
                PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast {
                    nlri: chunk.iter().filter_map(|n| v6_nlri(*n)).collect(),
                }),
            );
            BgpMessage::Update(BgpUpdateMessage::new(vec![], attrs, vec![]))
        };
        pack(&v6, v6_len, &build6, &mut out);
        out
    }
}

/// The End-of-RIB marker of `family` (RFC 4724 section 2): for IPv4 unicast an UPDATE
/// with nothing in it, for IPv6 unicast one with only an empty MP_UNREACH_NLRI. `None`
/// for a family we never negotiate.
pub fn end_of_rib(family: AddressType) -> Option<BgpMessage> {
    let attrs = match family {
        AddressType::Ipv4Unicast => vec![],
        AddressType::Ipv6Unicast => {
            let mut attrs = Vec::new();
            push(
                &mut attrs,
                false,
                PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri: Box::new([]) }),
            );
            attrs
        }
        _ => return None,
    };
    Some(BgpMessage::Update(BgpUpdateMessage::new(
        vec![],
        attrs,
        vec![],
    )))
}

/// Appends an attribute with the flags RFC 4271 prescribes for it.
fn push(out: &mut Vec<PathAttribute>, extended_length: bool, value: PathAttributeValue) {
    let (optional, transitive) = match &value {
        PathAttributeValue::Origin(_)
        | PathAttributeValue::AsPath(_)
        | PathAttributeValue::NextHop(_)
        | PathAttributeValue::LocalPreference(_) => (false, true),
        PathAttributeValue::Communities(_) | PathAttributeValue::LargeCommunities(_) => {
            (true, true)
        }
        _ => (true, false),
    };
    // The flags above are the ones netgauze checks, so this cannot fail; a
    // failure would drop the attribute rather than panic.
    if let Ok(a) = PathAttribute::from(optional, transitive, false, extended_length, value) {
        out.push(a);
    }
}

fn v4_nlri(n: Ipv4Net) -> Option<Ipv4UnicastAddress> {
    Ipv4Unicast::from_net(n)
        .ok()
        .map(Ipv4UnicastAddress::new_no_path_id)
}

fn v6_nlri(n: Ipv6Net) -> Option<Ipv6UnicastAddress> {
    Ipv6Unicast::from_net(n)
        .ok()
        .map(|u| Ipv6UnicastAddress::new(None, u))
}

/// Whether a prefix can be sent as unicast NLRI (not multicast or broadcast).
pub fn is_unicast(prefix: &IpNet) -> bool {
    match prefix {
        IpNet::V4(n) => v4_nlri(*n).is_some(),
        IpNet::V6(n) => v6_nlri(*n).is_some(),
    }
}

/// Wire size of one NLRI entry: length octet plus the prefix's significant bytes.
fn v4_len(n: &Ipv4Net) -> usize {
    1 + usize::from(n.prefix_len()).div_ceil(8)
}

fn v6_len(n: &Ipv6Net) -> usize {
    1 + usize::from(n.prefix_len()).div_ceil(8)
}

/// Splits `items` into chunks whose message fits in [`MAX_MESSAGE_LEN`].
fn pack<T>(
    items: &[T],
    size: fn(&T) -> usize,
    build: &dyn Fn(&[T]) -> BgpMessage,
    out: &mut Vec<BgpMessage>,
) {
    if items.is_empty() {
        return;
    }
    let base = build(&[]).len();
    let budget = MAX_MESSAGE_LEN.saturating_sub(base);
    let mut start = 0;
    let mut used = 0;
    for (i, item) in items.iter().enumerate() {
        let s = size(item);
        if used + s > budget && i > start {
            out.push(build(&items[start..i]));
            start = i;
            used = 0;
        }
        used += s;
    }
    out.push(build(&items[start..]));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4724 section 2's markers, byte for byte, and read back as End-of-RIB (not as a
    /// malformed UPDATE).
    #[test]
    fn end_of_rib_markers_match_their_wire_form() {
        let mut v4 = vec![0xff; 16];
        v4.extend_from_slice(&[0x00, 0x17, 0x02, 0x00, 0x00, 0x00, 0x00]);
        let mut v6 = vec![0xff; 16];
        v6.extend_from_slice(&[0x00, 0x1d, 0x02, 0x00, 0x00, 0x00, 0x06]);
        // Optional, non-transitive MP_UNREACH_NLRI: AFI 2, SAFI 1, no NLRI.
        v6.extend_from_slice(&[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01]);
        for (family, bytes) in [
            (AddressType::Ipv4Unicast, v4),
            (AddressType::Ipv6Unicast, v6),
        ] {
            let Some(msg) = end_of_rib(family) else {
                panic!("no marker for {family:?}");
            };
            assert_eq!(super::super::message::encode(&msg).unwrap(), bytes);
            let mut f = super::super::message::Framer::new();
            f.extend(&bytes);
            match f.next_message() {
                Ok(Some(BgpMessage::Update(u))) => assert_eq!(u.end_of_rib(), Some(family)),
                other => panic!("{family:?}: {other:?}"),
            }
        }
        assert_eq!(end_of_rib(AddressType::Ipv4Multicast), None);
    }

    fn adv(v4: u8, v6: u8, local_pref: Option<u32>, communities: &[Community]) -> BgpAdvertisement {
        BgpAdvertisement {
            aggregation_length: v4,
            aggregation_length_v6: v6,
            local_pref,
            communities: communities.to_vec(),
        }
    }

    #[test]
    fn each_advertisement_gives_one_route_at_its_aggregation_length() {
        let advs = [
            adv(32, 128, None, &[]),
            adv(24, 64, Some(200), &[Community::Standard(1)]),
        ];
        let v4 = routes_for("198.51.100.10".parse().unwrap(), &advs);
        assert_eq!(
            v4.iter().map(|r| r.prefix.to_string()).collect::<Vec<_>>(),
            ["198.51.100.10/32", "198.51.100.0/24"]
        );
        assert_eq!(v4[1].attrs.local_pref, Some(200));
        assert!(v4[1].attrs.communities.contains(&Community::Standard(1)));
        let v6 = routes_for("2001:db8::10".parse().unwrap(), &advs);
        assert_eq!(
            v6.iter().map(|r| r.prefix.to_string()).collect::<Vec<_>>(),
            ["2001:db8::10/128", "2001:db8::/64"]
        );
    }

    #[test]
    fn an_impossible_length_gives_no_route_rather_than_a_wrong_one() {
        assert!(
            routes_for("198.51.100.10".parse().unwrap(), &[adv(33, 128, None, &[])]).is_empty()
        );
    }
}
