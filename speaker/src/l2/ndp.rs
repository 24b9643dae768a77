//! IPv6 Neighbor Discovery (RFC 4861) over Ethernet: decode Neighbor Solicitations and
//! Advertisements, encode solicited and unsolicited Advertisements with the ICMPv6
//! checksum and the target link-layer address option. Pure: bytes in, values out.
//!
//! IPv6 header (RFC 8200 §3), after a 14-byte Ethernet header (EtherType 0x86dd):
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Source Address (16 octets)                   |
//! |               Destination Address (16 octets)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Neighbor Solicitation (type 135) and Advertisement (type 136), RFC 4861 §4.3–4.4:
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved (NS: all 32 bits)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Target Address (16 octets)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options: Type | Length (units of 8 octets) | Value ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Source (1) and target (2) link-layer address options are 8 bytes: type, length 1,
//! and the MAC. Validation follows RFC 4861 §7.1: hop limit 255, code 0, a correct
//! checksum, no zero-length option, a non-multicast target. Extension headers are not
//! followed (a solicitation carrying them is refused as `NextHeader`).
#![forbid(unsafe_code)]

use super::ethernet::{self, ETHERTYPE_IPV6, EthernetError, EthernetHeader, MacAddr};
use std::net::Ipv6Addr;

const IPV6_HEADER_LEN: usize = 40;
const NEXT_HEADER_ICMPV6: u8 = 58;
const TYPE_NS: u8 = 135;
const TYPE_NA: u8 = 136;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// Hop limit of every Neighbor Discovery packet (RFC 4861 §7.1).
pub const NDP_HOP_LIMIT: u8 = 255;
/// ff02::1, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Flags of a Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
}

/// A Neighbor Discovery message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpMessage {
    /// Who has `target`?
    Solicitation {
        /// Target address.
        target: Ipv6Addr,
        /// Source link-layer address option, if present.
        source_ll: Option<MacAddr>,
    },
    /// `target` is at `target_ll`.
    Advertisement {
        /// R, S, O flags.
        flags: NaFlags,
        /// Target address.
        target: Ipv6Addr,
        /// Target link-layer address option, if present.
        target_ll: Option<MacAddr>,
    },
}

/// A Neighbor Discovery message with the IPv6 and Ethernet addresses that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source (`::` for a duplicate address detection probe).
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// The message.
    pub message: NdpMessage,
}

/// Why bytes are not a valid Neighbor Solicitation or Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    /// Not even an Ethernet header.
    #[error(transparent)]
    Ethernet(#[from] EthernetError),
    /// The EtherType is not IPv6.
    #[error("EtherType {0:#06x} is not IPv6")]
    NotIpv6(u16),
    /// Shorter than the header or message it claims to be.
    #[error("truncated: {have} bytes, need {need}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// IP version field is not 6.
    #[error("IP version {0}, expected 6")]
    Version(u8),
    /// Next header is not ICMPv6 (extension headers are not followed).
    #[error("next header {0} is not ICMPv6")]
    NextHeader(u8),
    /// An ICMPv6 type other than NS and NA.
    #[error("ICMPv6 type {0} is not a neighbor solicitation or advertisement")]
    NotNeighborDiscovery(u8),
    /// Code is not 0.
    #[error("ICMPv6 code {0}, expected 0")]
    Code(u8),
    /// Hop limit is not 255: the packet may come from off-link.
    #[error("hop limit {0}, expected 255")]
    HopLimit(u8),
    /// The ICMPv6 checksum does not match.
    #[error("ICMPv6 checksum {got:#06x}, expected {expected:#06x}")]
    Checksum {
        /// In the packet.
        got: u16,
        /// Computed.
        expected: u16,
    },
    /// An option with length 0 or running past the message.
    #[error("malformed option at offset {0}")]
    Option(usize),
    /// The target address is multicast.
    #[error("target {0} is multicast")]
    MulticastTarget(Ipv6Addr),
}

/// The solicited-node multicast address of `ip`: ff02::1:ffXX:XXXX (RFC 4291 §2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet multicast MAC for an IPv6 multicast address: 33:33 + last 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The ICMPv6 checksum of `message` (with its checksum field as zero or as sent)
/// between `src` and `dst`: one's complement sum over the pseudo-header (RFC 8200 §8.1)
/// and the message. A message with a correct checksum in place sums to zero.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // Upper-layer length as 32 bits, then three zero bytes and the next header.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // `sum` now fits in 16 bits.
    !(sum as u16)
}

impl NdpFrame {
    /// Decodes and validates an Ethernet frame holding an NS or NA.
    pub fn decode(frame: &[u8]) -> Result<NdpFrame, NdpError> {
        let (eth, ip) = EthernetHeader::decode(frame)?;
        if eth.ethertype != ETHERTYPE_IPV6 {
            return Err(NdpError::NotIpv6(eth.ethertype));
        }
        let hdr: &[u8; IPV6_HEADER_LEN] = ip
            .get(..IPV6_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(NdpError::Truncated {
                have: ip.len(),
                need: IPV6_HEADER_LEN,
            })?;
        if hdr[0] >> 4 != 6 {
            return Err(NdpError::Version(hdr[0] >> 4));
        }
        if hdr[6] != NEXT_HEADER_ICMPV6 {
            return Err(NdpError::NextHeader(hdr[6]));
        }
        let payload_len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
        let src = addr(&hdr[8..24]);
        let dst = addr(&hdr[24..40]);
        // Ethernet padding may follow the payload: trust the payload length.
        let msg = ip
            .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len)
            .ok_or(NdpError::Truncated {
                have: ip.len(),
                need: IPV6_HEADER_LEN + payload_len,
            })?;
        // Type, code, checksum, 4 bytes of flags/reserved, 16 bytes of target.
        if msg.len() < 24 {
            let ty = msg.first().copied().unwrap_or(0);
            if !msg.is_empty() && ty != TYPE_NS && ty != TYPE_NA {
                return Err(NdpError::NotNeighborDiscovery(ty));
            }
            return Err(NdpError::Truncated {
                have: msg.len(),
                need: 24,
            });
        }
        let ty = msg[0];
        if ty != TYPE_NS && ty != TYPE_NA {
            return Err(NdpError::NotNeighborDiscovery(ty));
        }
        if hdr[7] != NDP_HOP_LIMIT {
            return Err(NdpError::HopLimit(hdr[7]));
        }
        if msg[1] != 0 {
            return Err(NdpError::Code(msg[1]));
        }
        if icmpv6_checksum(src, dst, msg) != 0 {
            let got = u16::from_be_bytes([msg[2], msg[3]]);
            let mut zeroed = msg.to_vec();
            zeroed[2] = 0;
            zeroed[3] = 0;
            return Err(NdpError::Checksum {
                got,
                expected: icmpv6_checksum(src, dst, &zeroed),
            });
        }
        let target = addr(&msg[8..24]);
        if target.is_multicast() {
            return Err(NdpError::MulticastTarget(target));
        }
        let (source_ll, target_ll) = link_layer_options(&msg[24..])?;
        let message = if ty == TYPE_NS {
            NdpMessage::Solicitation { target, source_ll }
        } else {
            NdpMessage::Advertisement {
                flags: NaFlags {
                    router: msg[4] & 0x80 != 0,
                    solicited: msg[4] & 0x40 != 0,
                    override_: msg[4] & 0x20 != 0,
                },
                target,
                target_ll,
            }
        };
        Ok(NdpFrame {
            eth_dst: eth.dst,
            eth_src: eth.src,
            src,
            dst,
            message,
        })
    }

    /// Encodes the frame with hop limit 255 and a correct checksum, padded to 60 bytes
    /// (NDP frames are always longer). A link-layer option is written when present.
    pub fn encode(&self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(32);
        match self.message {
            NdpMessage::Solicitation { target, source_ll } => {
                msg.extend_from_slice(&[TYPE_NS, 0, 0, 0, 0, 0, 0, 0]);
                msg.extend_from_slice(&target.octets());
                if let Some(mac) = source_ll {
                    msg.extend_from_slice(&[OPT_SOURCE_LL, 1]);
                    msg.extend_from_slice(&mac.0);
                }
            }
            NdpMessage::Advertisement {
                flags,
                target,
                target_ll,
            } => {
                let f = (u8::from(flags.router) << 7)
                    | (u8::from(flags.solicited) << 6)
                    | (u8::from(flags.override_) << 5);
                msg.extend_from_slice(&[TYPE_NA, 0, 0, 0, f, 0, 0, 0]);
                msg.extend_from_slice(&target.octets());
                if let Some(mac) = target_ll {
                    msg.extend_from_slice(&[OPT_TARGET_LL, 1]);
                    msg.extend_from_slice(&mac.0);
                }
            }
        }
        let sum = icmpv6_checksum(self.src, self.dst, &msg);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());

        let mut out = Vec::with_capacity(ethernet::HEADER_LEN + IPV6_HEADER_LEN + msg.len());
        EthernetHeader {
            dst: self.eth_dst,
            src: self.eth_src,
            ethertype: ETHERTYPE_IPV6,
        }
        .encode(&mut out);
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        // Messages built here are at most 32 bytes.
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(&[NEXT_HEADER_ICMPV6, NDP_HOP_LIMIT]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(&msg);
        ethernet::pad(&mut out);
        out
    }

    /// The advertisement answering this solicitation for its target, from `mac`.
    ///
    /// Unicast to the soliciting node with S and O set; for a duplicate address
    /// detection probe (source `::`) multicast to all nodes with S clear (RFC 4861
    /// §7.2.4). The source address is the target itself. `None` if `self` is not a
    /// solicitation.
    pub fn answer(&self, mac: MacAddr) -> Option<NdpFrame> {
        let NdpMessage::Solicitation { target, source_ll } = self.message else {
            return None;
        };
        let dad = self.src.is_unspecified();
        let (eth_dst, dst) = if dad {
            (multicast_mac(ALL_NODES), ALL_NODES)
        } else {
            (source_ll.unwrap_or(self.eth_src), self.src)
        };
        Some(NdpFrame {
            eth_dst,
            eth_src: mac,
            src: target,
            dst,
            message: NdpMessage::Advertisement {
                flags: NaFlags {
                    router: false,
                    solicited: !dad,
                    override_: true,
                },
                target,
                target_ll: Some(mac),
            },
        })
    }

    /// An unsolicited advertisement of `ip` at `mac` to all nodes, override flag set
    /// (RFC 4861 §7.2.6), sent on takeover.
    pub fn unsolicited(mac: MacAddr, ip: Ipv6Addr) -> NdpFrame {
        NdpFrame {
            eth_dst: multicast_mac(ALL_NODES),
            eth_src: mac,
            src: ip,
            dst: ALL_NODES,
            message: NdpMessage::Advertisement {
                flags: NaFlags {
                    router: false,
                    solicited: false,
                    override_: true,
                },
                target: ip,
                target_ll: Some(mac),
            },
        }
    }
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    Ipv6Addr::from(o)
}

/// The source and target link-layer options among `opts` (last one of each wins);
/// other options are skipped. Every option must have a non-zero length that fits.
fn link_layer_options(opts: &[u8]) -> Result<(Option<MacAddr>, Option<MacAddr>), NdpError> {
    let (mut source, mut target) = (None, None);
    let mut at = 0;
    while at < opts.len() {
        let (Some(&ty), Some(&len)) = (opts.get(at), opts.get(at + 1)) else {
            return Err(NdpError::Option(at));
        };
        let end = at + usize::from(len) * 8;
        if len == 0 || end > opts.len() {
            return Err(NdpError::Option(at));
        }
        if (ty == OPT_SOURCE_LL || ty == OPT_TARGET_LL) && len == 1 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&opts[at + 2..at + 8]);
            if ty == OPT_SOURCE_LL {
                source = Some(MacAddr(m));
            } else {
                target = Some(MacAddr(m));
            }
        }
        at = end;
    }
    Ok((source, target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINE: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// `ndisc6 2001:db8:1::200 eth0` from 2001:db8:1::99 (MAC 02:00:00:00:00:99).
    #[rustfmt::skip]
    const SOLICITATION: [u8; 86] = [
        // Ethernet: to 33:33:ff:00:02:00, from the client.
        0x33, 0x33, 0xff, 0x00, 0x02, 0x00, 0x02, 0, 0, 0, 0, 0x99, 0x86, 0xdd,
        // IPv6: payload 32, ICMPv6, hop limit 255.
        0x60, 0, 0, 0, 0x00, 0x20, 58, 255,
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x00, 0x02, 0x00,
        // ICMPv6 NS with checksum 0x16f9 (checked with an independent Python sum).
        135, 0, 0x16, 0xf9, 0, 0, 0, 0,
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00,
        // Source link-layer address option.
        1, 1, 0x02, 0, 0, 0, 0, 0x99,
    ];

    #[test]
    fn decodes_a_solicitation_fixture() {
        let f = NdpFrame::decode(&SOLICITATION).unwrap();
        assert_eq!(f.src, v6("2001:db8:1::99"));
        assert_eq!(f.dst, solicited_node(v6("2001:db8:1::200")));
        assert_eq!(
            f.message,
            NdpMessage::Solicitation {
                target: v6("2001:db8:1::200"),
                source_ll: Some(CLIENT)
            }
        );
        assert_eq!(f.eth_dst, multicast_mac(f.dst));
        assert_eq!(f.encode(), SOLICITATION);
    }

    #[test]
    fn answer_is_unicast_solicited_override() {
        let na = NdpFrame::decode(&SOLICITATION)
            .unwrap()
            .answer(MINE)
            .unwrap();
        let bytes = na.encode();
        assert_eq!(
            &bytes[0..12],
            &[0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x11]
        );
        assert_eq!(bytes[14 + 7], 255);
        assert_eq!(bytes[14 + 40], 136);
        assert_eq!(bytes[14 + 44], 0x60, "S and O set, R clear");
        assert_eq!(&bytes[14 + 64..14 + 72], &[2, 1, 0x02, 0, 0, 0, 0, 0x11]);
        assert_eq!(NdpFrame::decode(&bytes), Ok(na));
        assert_eq!(na.dst, v6("2001:db8:1::99"));
    }

    #[test]
    fn answer_to_dad_goes_to_all_nodes() {
        let mut ns = NdpFrame::decode(&SOLICITATION).unwrap();
        ns.src = Ipv6Addr::UNSPECIFIED;
        ns.message = NdpMessage::Solicitation {
            target: v6("2001:db8:1::200"),
            source_ll: None,
        };
        let na = NdpFrame::decode(&ns.encode())
            .unwrap()
            .answer(MINE)
            .unwrap();
        assert_eq!(na.dst, ALL_NODES);
        assert_eq!(na.eth_dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert!(matches!(
            na.message,
            NdpMessage::Advertisement {
                flags: NaFlags {
                    solicited: false,
                    override_: true,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn unsolicited_round_trip() {
        let na = NdpFrame::unsolicited(MINE, v6("2001:db8:1::2ff"));
        assert_eq!(NdpFrame::decode(&na.encode()), Ok(na));
        assert!(na.answer(MINE).is_none());
    }

    #[test]
    fn solicited_node_and_mac() {
        let g = solicited_node(v6("2001:db8:1::12:3456"));
        assert_eq!(g, v6("ff02::1:ff12:3456"));
        assert_eq!(
            multicast_mac(g),
            MacAddr([0x33, 0x33, 0xff, 0x12, 0x34, 0x56])
        );
    }

    #[test]
    fn structured_errors() {
        let e = |b: &[u8]| NdpFrame::decode(b).unwrap_err();
        assert_eq!(
            e(&SOLICITATION[..5]),
            NdpError::Ethernet(EthernetError::Truncated(5))
        );
        let mut b = SOLICITATION;
        b[13] = 0x00;
        assert_eq!(e(&b), NdpError::NotIpv6(0x8600));
        assert_eq!(
            e(&SOLICITATION[..30]),
            NdpError::Truncated { have: 16, need: 40 }
        );
        assert_eq!(
            e(&SOLICITATION[..80]),
            NdpError::Truncated { have: 66, need: 72 }
        );
        let mut b = SOLICITATION;
        b[14] = 0x40;
        assert_eq!(e(&b), NdpError::Version(4));
        let mut b = SOLICITATION;
        b[20] = 0;
        assert_eq!(e(&b), NdpError::NextHeader(0));
        let mut b = SOLICITATION;
        b[21] = 64;
        assert_eq!(e(&b), NdpError::HopLimit(64));
        let mut b = SOLICITATION;
        b[54] = 128;
        assert_eq!(e(&b), NdpError::NotNeighborDiscovery(128));
        let mut b = SOLICITATION;
        b[55] = 1;
        assert!(matches!(e(&b), NdpError::Code(1)));
        let mut b = SOLICITATION;
        b[57] ^= 0xff;
        assert_eq!(
            e(&b),
            NdpError::Checksum {
                got: 0x1606,
                expected: 0x16f9
            }
        );
    }

    #[test]
    fn zero_length_option_is_refused() {
        let ns = NdpFrame::decode(&SOLICITATION).unwrap();
        let mut b = ns.encode();
        // Make the option's length 0 and fix the checksum so only the option is wrong.
        b[14 + 40 + 25] = 0;
        b[14 + 42] = 0;
        b[14 + 43] = 0;
        let sum = icmpv6_checksum(ns.src, ns.dst, &b[54..86]);
        b[56..58].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(NdpFrame::decode(&b), Err(NdpError::Option(0)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            let _ = NdpFrame::decode(&bytes);
        }

        #[test]
        fn arbitrary_icmp_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..80), fix in any::<bool>()) {
            // A valid Ethernet + IPv6 header, a random ICMPv6 body, optionally with a
            // correct checksum so validation reaches the options.
            let src = v6("2001:db8:1::99");
            let dst = v6("ff02::1:ff00:200");
            let mut body = body;
            if fix && body.len() >= 4 {
                body[2] = 0;
                body[3] = 0;
                let s = icmpv6_checksum(src, dst, &body);
                body[2..4].copy_from_slice(&s.to_be_bytes());
            }
            let mut b = SOLICITATION[..14].to_vec();
            b.extend_from_slice(&[0x60, 0, 0, 0]);
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(&[58, 255]);
            b.extend_from_slice(&src.octets());
            b.extend_from_slice(&dst.octets());
            b.extend_from_slice(&body);
            if let Ok(f) = NdpFrame::decode(&b) {
                prop_assert!(NdpFrame::decode(&f.encode()).is_ok());
            }
        }

        #[test]
        fn round_trip(mac in any::<[u8; 6]>(), t in any::<u128>(), s in any::<u128>(), ns in any::<bool>(), r in any::<bool>(), so in any::<bool>(), o in any::<bool>()) {
            let target = Ipv6Addr::from(t & !(0xff << 120)); // never multicast
            let message = if ns {
                NdpMessage::Solicitation { target, source_ll: Some(MacAddr(mac)) }
            } else {
                NdpMessage::Advertisement {
                    flags: NaFlags { router: r, solicited: so, override_: o },
                    target,
                    target_ll: Some(MacAddr(mac)),
                }
            };
            let f = NdpFrame {
                eth_dst: CLIENT, eth_src: MacAddr(mac),
                src: Ipv6Addr::from(s), dst: solicited_node(target), message,
            };
            prop_assert_eq!(NdpFrame::decode(&f.encode()), Ok(f));
        }
    }
}
