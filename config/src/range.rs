//! Address entries: a CIDR (`192.0.2.0/24`, `2001:db8::/64`) or an inclusive
//! `start-end` range, normalised to an [`AddressRange`].
//!
//! Invariant: a parsed range has both ends in one family and `start <= end`. A CIDR
//! with host bits set is accepted and truncated, as Go's `net.ParseCIDR` (and so
//! MetalLB) does.

use crate::error::ErrorKind;
use crate::model::AddressRange;
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use std::net::IpAddr;

/// A parsed address entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The addresses.
    pub range: AddressRange,
    /// The prefix length when written as a CIDR.
    pub prefix: Option<u8>,
}

/// Parses one `addresses[]` entry.
pub fn parse_entry(text: &str) -> Result<Entry, ErrorKind> {
    if let Some((start, end)) = text.split_once('-') {
        // As Go's net.ParseIP: an IPv4-mapped IPv6 address is IPv4.
        let start = parse_ip(start.trim())?.to_canonical();
        let end = parse_ip(end.trim())?.to_canonical();
        if start.is_ipv4() != end.is_ipv4() {
            // MetalLB compares the 16-byte forms (start after end: refused), then
            // finds no CIDR between families: an entry of no address.
            let wide = |ip: IpAddr| match ip {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            if wide(start) > wide(end) {
                return Err(ErrorKind::StartAfterEnd {
                    start: start.to_string(),
                    end: end.to_string(),
                });
            }
            return Err(ErrorKind::MixedFamilies);
        }
        if start > end {
            return Err(ErrorKind::StartAfterEnd {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        return Ok(Entry {
            range: AddressRange { start, end },
            prefix: None,
        });
    }
    let Some((ip, len)) = text.split_once('/') else {
        return Err(ErrorKind::BadAddress);
    };
    let ip = parse_ip(ip)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ErrorKind::BadPrefix(len.to_string()));
    }
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let too_long = || ErrorKind::PrefixTooLong {
        len: len.to_string(),
        max,
    };
    // All digits: only overflow can fail, and any overflow is over the maximum.
    let prefix = len
        .parse::<u8>()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(too_long)?;
    let net = IpNet::new(ip, prefix).map_err(|_| too_long())?;
    Ok(Entry {
        range: AddressRange {
            start: net.network(),
            end: net.broadcast(),
        },
        prefix: Some(prefix),
    })
}

fn parse_ip(text: &str) -> Result<IpAddr, ErrorKind> {
    text.parse().map_err(|_| ErrorKind::BadIp(text.to_string()))
}

impl AddressRange {
    /// Whether `ip` is in the range (always false for the other family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.start <= ip && ip <= self.end && ip.is_ipv4() == self.start.is_ipv4()
    }

    /// Number of addresses, saturating at `u128::MAX` (only `::/0` saturates).
    pub fn size(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Whether this is an IPv4 range.
    pub fn is_ipv4(&self) -> bool {
        self.start.is_ipv4()
    }

    /// The shortest prefix length among the CIDRs that exactly cover the range (its
    /// widest block), the bound MetalLB (since PR #1130) puts on a BGP aggregation length.
    pub fn shortest_cover_prefix(&self) -> u8 {
        let lens: Box<dyn Iterator<Item = u8>> = match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                Box::new(Ipv4Subnets::new(s, e, 0).map(|n| n.prefix_len()))
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                Box::new(Ipv6Subnets::new(s, e, 0).map(|n| n.prefix_len()))
            }
            _ => Box::new(std::iter::empty()),
        };
        lens.min().unwrap_or(0)
    }

    /// Renders the range as written in a document: a CIDR when it is exactly one,
    /// otherwise `start-end`.
    pub fn to_entry_string(&self) -> String {
        let single = match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                let mut it = Ipv4Subnets::new(s, e, 0);
                match (it.next(), it.next()) {
                    (Some(n), None) => Some(IpNet::V4(n)),
                    _ => None,
                }
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                let mut it = Ipv6Subnets::new(s, e, 0);
                match (it.next(), it.next()) {
                    (Some(n), None) => Some(IpNet::V6(n)),
                    _ => None,
                }
            }
            _ => None,
        };
        match single {
            Some(net) => net.to_string(),
            None => format!("{}-{}", self.start, self.end),
        }
    }
}

/// An address as an integer within its family.
pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Number of IPv4 addresses in `[start, end]` whose last octet is 0 or 255
/// (the ones `avoid-buggy-ips` skips).
pub(crate) fn buggy_count(range: &AddressRange) -> u128 {
    if !range.is_ipv4() {
        return 0;
    }
    let (s, e) = (to_u128(range.start), to_u128(range.end));
    // Count of x in [s, e] with x % 256 == r.
    let count = |r: u128| {
        let upto = |n: u128| n / 256 + u128::from(n % 256 >= r);
        upto(e) - if s == 0 { 0 } else { upto(s - 1) }
    };
    count(0) + count(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, e: &str) -> AddressRange {
        AddressRange {
            start: s.parse().unwrap(),
            end: e.parse().unwrap(),
        }
    }

    #[test]
    fn parses_cidrs_and_ranges() {
        let cases: &[(&str, AddressRange, Option<u8>)] = &[
            (
                "192.168.1.0/24",
                r("192.168.1.0", "192.168.1.255"),
                Some(24),
            ),
            (
                "192.168.1.7/24",
                r("192.168.1.0", "192.168.1.255"),
                Some(24),
            ),
            ("10.0.0.5/32", r("10.0.0.5", "10.0.0.5"), Some(32)),
            ("0.0.0.0/0", r("0.0.0.0", "255.255.255.255"), Some(0)),
            (
                "192.168.10.0-192.168.10.40",
                r("192.168.10.0", "192.168.10.40"),
                None,
            ),
            (
                "192.168.10.0 - 192.168.10.0",
                r("192.168.10.0", "192.168.10.0"),
                None,
            ),
            (
                "2001:db8::/64",
                r("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"),
                Some(64),
            ),
            ("fc00::1-fc00::ff", r("fc00::1", "fc00::ff"), None),
        ];
        for (text, range, prefix) in cases {
            assert_eq!(
                parse_entry(text),
                Ok(Entry {
                    range: *range,
                    prefix: *prefix
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_bad_entries() {
        let cases: &[(&str, ErrorKind)] = &[
            (
                "192.0.2.0/33",
                ErrorKind::PrefixTooLong {
                    len: "33".into(),
                    max: 32,
                },
            ),
            (
                "2001:db8::/129",
                ErrorKind::PrefixTooLong {
                    len: "129".into(),
                    max: 128,
                },
            ),
            (
                "192.0.2.0/99999999999",
                ErrorKind::PrefixTooLong {
                    len: "99999999999".into(),
                    max: 32,
                },
            ),
            ("192.0.2.0/x", ErrorKind::BadPrefix("x".into())),
            ("192.0.2.0/", ErrorKind::BadPrefix(String::new())),
            ("192.0.2.1", ErrorKind::BadAddress),
            ("192.0.2.300/24", ErrorKind::BadIp("192.0.2.300".into())),
            ("10.0.0.1-fc00::1", ErrorKind::MixedFamilies),
            (
                "fc00::1-10.0.0.1",
                ErrorKind::StartAfterEnd {
                    start: "fc00::1".into(),
                    end: "10.0.0.1".into(),
                },
            ),
            (
                "10.0.0.9-10.0.0.1",
                ErrorKind::StartAfterEnd {
                    start: "10.0.0.9".into(),
                    end: "10.0.0.1".into(),
                },
            ),
            ("10.0.0.1-", ErrorKind::BadIp(String::new())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_entry(text), Err(want.clone()), "{text}");
        }
    }

    #[test]
    fn size_contains_and_cover() {
        let a = r("10.0.0.0", "10.0.1.255");
        assert_eq!(a.size(), 512);
        assert!(a.contains("10.0.1.9".parse().unwrap()));
        assert!(!a.contains("10.0.2.0".parse().unwrap()));
        assert!(!a.contains("::a00:1".parse().unwrap()));
        assert_eq!(
            r("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").size(),
            u128::MAX
        );
        assert_eq!(a.shortest_cover_prefix(), 23);
        assert_eq!(r("10.0.0.1", "10.0.0.6").shortest_cover_prefix(), 31);
        assert_eq!(r("3.3.3.2", "3.3.3.254").shortest_cover_prefix(), 26);
        assert_eq!(a.to_entry_string(), "10.0.0.0/23");
        assert_eq!(
            r("10.0.0.1", "10.0.0.6").to_entry_string(),
            "10.0.0.1-10.0.0.6"
        );
    }

    #[test]
    fn buggy_count_matches_brute_force() {
        for (s, e) in [
            ("10.0.0.0", "10.0.2.255"),
            ("10.0.0.1", "10.0.0.254"),
            ("0.0.0.0", "0.0.1.0"),
        ] {
            let range = r(s, e);
            let brute = (to_u128(range.start)..=to_u128(range.end))
                .filter(|x| x % 256 == 0 || x % 256 == 255)
                .count() as u128;
            assert_eq!(buggy_count(&range), brute, "{s}-{e}");
        }
    }
}
