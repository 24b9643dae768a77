//! Frames and datagrams of a hostile host on the LAN, for the `lan_flood` binary and the
//! `hostile_lan` end-to-end test: spoofed ARP replies and unsolicited Neighbor
//! Advertisements claiming a VIP for a foreign MAC, malformed ARP and Neighbor Discovery
//! frames of each kind the speaker tells apart, and junk datagrams for the gossip port.
//!
//! Everything here is pure (bytes in, bytes out; the pacing is arithmetic on a duration),
//! so the wire layouts are unit-tested against an independent parser (pnet's) and against
//! the speaker's own decoders: each malformed kind is checked to be counted under the
//! speaker's label the test then expects. The socket and the clock are the binary's.
//!
//! ```text
//! ARP (28 bytes after Ethernet)         NA (40 IPv6 + 24 ICMPv6 + 8 option)
//!  htype:2 ptype:2 hlen:1 plen:1 op:2    ver/class/flow:4 paylen:2 next:1 hops:1 src:16 dst:16
//!  sha:6 spa:4 tha:6 tpa:4                type:1 code:1 sum:2 flags:1 rsvd:3 target:16
//!                                         opt type:1 len:1 (units of 8 bytes) mac:6
//! ```

use pnet::packet::ip::IpNextHeaderProtocols;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

/// An Ethernet hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// This MAC with its last byte changed by `n`, so a flood claims with a few MACs.
    pub fn varied(self, n: u8) -> Mac {
        let mut m = self.0;
        m[5] ^= n;
        Mac(m)
    }

    /// The link-local address a host with this MAC forms (modified EUI-64, RFC 4291).
    pub fn link_local(self) -> Ipv6Addr {
        let m = self.0;
        Ipv6Addr::from([
            0xfe,
            0x80,
            0,
            0,
            0,
            0,
            0,
            0,
            m[0] ^ 0x02,
            m[1],
            m[2],
            0xff,
            0xfe,
            m[3],
            m[4],
            m[5],
        ])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A MAC that is not six colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address (six hex bytes separated by ':')")]
pub struct BadMac(String);

impl FromStr for Mac {
    type Err = BadMac;

    fn from_str(s: &str) -> Result<Mac, BadMac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| BadMac(s.to_owned()))?;
            if part.len() != 2 {
                return Err(BadMac(s.to_owned()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| BadMac(s.to_owned()))?;
        }
        if parts.next().is_some() {
            return Err(BadMac(s.to_owned()));
        }
        Ok(Mac(out))
    }
}

/// One kind of frame the flood sends; the malformed ones are named after what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FrameKind {
    /// A gratuitous ARP reply (broadcast) saying the IPv4 VIP is at a foreign MAC.
    SpoofedArpReply,
    /// An unsolicited Neighbor Advertisement (override, to all nodes) saying the IPv6 VIP
    /// is at a foreign MAC.
    SpoofedNa,
    /// An ARP reply cut short after 16 bytes of ARP.
    ArpTruncated,
    /// An ARP reply whose hardware address length says 8.
    ArpWrongLengths,
    /// An ARP packet with operation 7.
    ArpBadOperation,
    /// A Neighbor Advertisement cut short inside its target address (the IPv6 header's
    /// payload length says so).
    NaTruncated,
    /// A Neighbor Advertisement whose IPv6 payload length is larger than the frame (a
    /// Linux bridge with `bridge-nf-call-ip6tables` drops these before they reach a node).
    NaWrongPayloadLength,
    /// A Neighbor Advertisement whose link-layer option has length 0.
    NdpZeroLengthOption,
    /// A Neighbor Advertisement whose ICMPv6 checksum is off by one.
    NdpBadChecksum,
}

impl FrameKind {
    /// Every kind, in the order a flood cycles through them.
    pub const ALL: [FrameKind; 9] = [
        FrameKind::SpoofedArpReply,
        FrameKind::SpoofedNa,
        FrameKind::ArpTruncated,
        FrameKind::ArpWrongLengths,
        FrameKind::ArpBadOperation,
        FrameKind::NaTruncated,
        FrameKind::NaWrongPayloadLength,
        FrameKind::NdpZeroLengthOption,
        FrameKind::NdpBadChecksum,
    ];

    /// The name in the flood's report.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameKind::SpoofedArpReply => "spoofed_arp_reply",
            FrameKind::SpoofedNa => "spoofed_na",
            FrameKind::ArpTruncated => "arp_truncated",
            FrameKind::ArpWrongLengths => "arp_wrong_lengths",
            FrameKind::ArpBadOperation => "arp_bad_operation",
            FrameKind::NaTruncated => "na_truncated",
            FrameKind::NaWrongPayloadLength => "na_wrong_payload_length",
            FrameKind::NdpZeroLengthOption => "ndp_zero_length_option",
            FrameKind::NdpBadChecksum => "ndp_bad_checksum",
        }
    }

    /// The `kind` label of `ironlb_l2_malformed_frames_total` the speaker counts this
    /// frame under; `None` for the well-formed spoofed claims (counted as conflicts).
    pub fn speaker_label(self) -> Option<&'static str> {
        match self {
            FrameKind::SpoofedArpReply | FrameKind::SpoofedNa => None,
            FrameKind::ArpTruncated | FrameKind::NaTruncated => Some("truncated"),
            FrameKind::NaWrongPayloadLength => Some("truncated"),
            FrameKind::ArpWrongLengths => Some("arp_header"),
            FrameKind::ArpBadOperation => Some("arp_operation"),
            FrameKind::NdpZeroLengthOption => Some("ndp_option"),
            FrameKind::NdpBadChecksum => Some("checksum"),
        }
    }
}

/// What the flood claims, and as whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The IPv4 VIP.
    pub vip4: Ipv4Addr,
    /// The IPv6 VIP.
    pub vip6: Ipv6Addr,
    /// The foreign MAC: the Ethernet source, and (varied in its last byte) the MAC claimed.
    pub mac: Mac,
}

const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const ARP_REPLY: u8 = 2;
const ICMPV6_NA: u8 = 136;
const NA_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LL: u8 = 2;
/// ff02::1, all nodes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// How many different MACs the flood claims with.
pub const CLAIMANTS: u8 = 16;

fn ethernet(dst: Mac, src: Mac, ethertype: [u8; 2], out: &mut Vec<u8>) {
    out.extend_from_slice(&dst.0);
    out.extend_from_slice(&src.0);
    out.extend_from_slice(&ethertype);
}

/// Pads to the 60-byte Ethernet minimum (without FCS), as a NIC would.
fn pad(out: &mut Vec<u8>) {
    if out.len() < 60 {
        out.resize(60, 0);
    }
}

/// A broadcast gratuitous ARP reply: `ip` is at `claimant`, sent from `src`.
pub fn arp_reply(src: Mac, claimant: Mac, ip: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::with_capacity(60);
    ethernet(Mac::BROADCAST, src, ETHERTYPE_ARP, &mut out);
    out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, ARP_REPLY]);
    out.extend_from_slice(&claimant.0);
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&claimant.0);
    out.extend_from_slice(&ip.octets());
    pad(&mut out);
    out
}

/// An unsolicited Neighbor Advertisement (override set) to all nodes: `target` is at
/// `claimant`, sent from `src` (and its link-local address), with a correct checksum.
pub fn neighbor_advert(src: Mac, claimant: Mac, target: Ipv6Addr) -> Vec<u8> {
    let from = src.link_local();
    let mut msg = vec![ICMPV6_NA, 0, 0, 0, NA_OVERRIDE, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    msg.extend_from_slice(&[OPT_TARGET_LL, 1]);
    msg.extend_from_slice(&claimant.0);
    let sum = pnet::util::ipv6_checksum(
        &msg,
        1,
        &[],
        &from,
        &ALL_NODES,
        IpNextHeaderProtocols::Icmpv6,
    );
    msg[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut out = Vec::with_capacity(14 + 40 + msg.len());
    let group = ALL_NODES.octets();
    let dst = Mac([0x33, 0x33, group[12], group[13], group[14], group[15]]);
    ethernet(dst, src, ETHERTYPE_IPV6, &mut out);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    // An NA with one option is 32 bytes.
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(&[58, 255]);
    out.extend_from_slice(&from.octets());
    out.extend_from_slice(&ALL_NODES.octets());
    out.extend_from_slice(&msg);
    out
}

/// Offsets in a frame from [`neighbor_advert`].
const NA_PAYLOAD_LEN: usize = 18;
const NA_CHECKSUM: usize = 56;
const NA_OPTION_LEN: usize = 79;

/// Recomputes the ICMPv6 checksum of a frame from [`neighbor_advert`] after an edit.
fn fix_na_checksum(frame: &mut [u8]) {
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&frame[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let (src, dst) = (addr(22), addr(38));
    let sum = pnet::util::ipv6_checksum(
        &frame[54..],
        1,
        &[],
        &src,
        &dst,
        IpNextHeaderProtocols::Icmpv6,
    );
    frame[NA_CHECKSUM..NA_CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Frame number `seq` of a flood of `kind` for `claim`. Claims rotate over
/// [`CLAIMANTS`] MACs derived from the foreign one; the Ethernet source is that MAC.
pub fn frame(kind: FrameKind, claim: &Claim, seq: u64) -> Vec<u8> {
    // `seq % CLAIMANTS` fits in a byte.
    let claimant = claim.mac.varied((seq % u64::from(CLAIMANTS)) as u8);
    let src = claim.mac;
    match kind {
        FrameKind::SpoofedArpReply => arp_reply(src, claimant, claim.vip4),
        FrameKind::SpoofedNa => neighbor_advert(src, claimant, claim.vip6),
        FrameKind::ArpTruncated => {
            let mut f = arp_reply(src, claimant, claim.vip4);
            f.truncate(14 + 16);
            f
        }
        FrameKind::ArpWrongLengths => {
            let mut f = arp_reply(src, claimant, claim.vip4);
            f[14 + 4] = 8;
            f
        }
        FrameKind::ArpBadOperation => {
            let mut f = arp_reply(src, claimant, claim.vip4);
            f[14 + 7] = 7;
            f
        }
        FrameKind::NaTruncated => {
            let mut f = neighbor_advert(src, claimant, claim.vip6);
            // Past the ICMPv6 type (so a receive filter keyed on it keeps the frame),
            // short of the end of the target address. The IPv6 payload length agrees, so
            // the packet is a sound IPv6 packet carrying a short NA: a Linux bridge with
            // br_netfilter drops IPv6 whose payload length overruns the frame, and this
            // one must reach the nodes on any LAN.
            f.truncate(14 + 40 + 16);
            f[NA_PAYLOAD_LEN..NA_PAYLOAD_LEN + 2].copy_from_slice(&16u16.to_be_bytes());
            f
        }
        FrameKind::NaWrongPayloadLength => {
            let mut f = neighbor_advert(src, claimant, claim.vip6);
            f[NA_PAYLOAD_LEN..NA_PAYLOAD_LEN + 2].copy_from_slice(&200u16.to_be_bytes());
            f
        }
        FrameKind::NdpZeroLengthOption => {
            let mut f = neighbor_advert(src, claimant, claim.vip6);
            f[NA_OPTION_LEN] = 0;
            fix_na_checksum(&mut f);
            f
        }
        FrameKind::NdpBadChecksum => {
            let mut f = neighbor_advert(src, claimant, claim.vip6);
            f[NA_CHECKSUM + 1] = f[NA_CHECKSUM + 1].wrapping_add(1);
            f
        }
    }
}

/// How many of something a paced sender at `per_second` should have sent `elapsed` after
/// it started (the first one at once).
pub fn due(per_second: u64, elapsed: Duration) -> u64 {
    if per_second == 0 {
        return 0;
    }
    let n = u128::from(per_second).saturating_mul(elapsed.as_micros()) / 1_000_000 + 1;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A small deterministic generator (xorshift64*), enough to make junk datagrams varied;
/// nothing here needs to be unpredictable.
#[derive(Debug, Clone)]
pub struct Junk(u64);

impl Junk {
    /// A generator from `seed` (0 is replaced, xorshift never leaves it).
    pub fn new(seed: u64) -> Junk {
        Junk(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Kinds of junk gossip datagram, after what a receiver should refuse them for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GossipJunk {
    /// Shorter than a sealed datagram's version, nonce and tag (29 bytes).
    Short,
    /// Long enough, with a version byte other than 1.
    Version,
    /// Version 1 and random bytes: fails authentication.
    Forged,
}

impl GossipJunk {
    /// Every kind, in the order a flood cycles through them.
    pub const ALL: [GossipJunk; 3] = [GossipJunk::Short, GossipJunk::Version, GossipJunk::Forged];
}

/// Gossip junk datagram number `seq`, of kind `GossipJunk::ALL[seq % 3]`.
pub fn gossip_datagram(seq: u64, rng: &mut Junk) -> (GossipJunk, Vec<u8>) {
    // `seq % 3` indexes a 3-array.
    let kind = GossipJunk::ALL[(seq % 3) as usize];
    let r = rng.next_u64();
    let bytes = match kind {
        GossipJunk::Short => rng.bytes((r % 29) as usize),
        GossipJunk::Version => {
            let mut b = rng.bytes(29 + (r % 1200) as usize);
            if b[0] == 1 {
                b[0] = 2;
            }
            b
        }
        GossipJunk::Forged => {
            let mut b = rng.bytes(29 + (r % 1200) as usize);
            b[0] = 1;
            b
        }
    };
    (kind, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlb_speaker::l2::arp::ArpFrame;
    use ironlb_speaker::l2::ndp::{NdpFrame, NdpMessage};
    use ironlb_speaker::l2::responder::Malformed;
    use pnet::packet::Packet;
    use pnet::packet::arp::{ArpOperations, ArpPacket};
    use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet::packet::icmpv6::ndp::{NdpOptionTypes, NeighborAdvertPacket};
    use pnet::packet::icmpv6::{Icmpv6Packet, Icmpv6Types};
    use pnet::packet::ipv6::Ipv6Packet;

    const FOREIGN: Mac = Mac([0x02, 0x00, 0x5e, 0x10, 0x66, 0x60]);

    fn claim() -> Claim {
        Claim {
            vip4: Ipv4Addr::new(192, 0, 2, 210),
            vip6: "2001:db8:1::210".parse().unwrap(),
            mac: FOREIGN,
        }
    }

    #[test]
    fn macs_parse_print_and_vary() {
        let m: Mac = "02:00:5e:10:66:60".parse().unwrap();
        assert_eq!(m, FOREIGN);
        assert_eq!(m.to_string(), "02:00:5e:10:66:60");
        for bad in [
            "",
            "02:00:5e:10:66",
            "02:00:5e:10:66:60:01",
            "zz:00:5e:10:66:60",
            "2:0:5e:10:66:60",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(m.varied(3).0[5], 0x63);
        assert_eq!(
            m.link_local(),
            "fe80::5eff:fe10:6660".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn spoofed_arp_reply_reads_as_a_gratuitous_reply_for_the_vip() {
        let f = frame(FrameKind::SpoofedArpReply, &claim(), 5);
        let eth = EthernetPacket::new(&f).unwrap();
        assert_eq!(eth.get_ethertype(), EtherTypes::Arp);
        assert_eq!(eth.get_destination().octets(), [0xff; 6]);
        assert_eq!(eth.get_source().octets(), FOREIGN.0);
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Reply);
        assert_eq!(arp.get_sender_proto_addr(), claim().vip4);
        assert_eq!(arp.get_target_proto_addr(), claim().vip4);
        assert_eq!(arp.get_sender_hw_addr().octets(), FOREIGN.varied(5).0);
        assert_eq!(f.len(), 60);
        // The speaker reads the same claim.
        let a = ArpFrame::decode(&f).unwrap();
        assert_eq!(a.sender_ip, claim().vip4);
        assert_eq!(a.sender_mac.0, FOREIGN.varied(5).0);
    }

    #[test]
    fn spoofed_na_is_a_valid_unsolicited_override_for_the_vip() {
        let f = frame(FrameKind::SpoofedNa, &claim(), 17);
        let eth = EthernetPacket::new(&f).unwrap();
        assert_eq!(eth.get_ethertype(), EtherTypes::Ipv6);
        assert_eq!(eth.get_destination().octets(), [0x33, 0x33, 0, 0, 0, 1]);
        let ip = Ipv6Packet::new(eth.payload()).unwrap();
        assert_eq!(ip.get_hop_limit(), 255);
        assert_eq!(ip.get_destination(), ALL_NODES);
        assert_eq!(ip.get_source(), FOREIGN.link_local());
        assert_eq!(usize::from(ip.get_payload_length()), ip.payload().len());
        let icmp = Icmpv6Packet::new(ip.payload()).unwrap();
        assert_eq!(icmp.get_icmpv6_type(), Icmpv6Types::NeighborAdvert);
        assert_eq!(
            pnet::packet::icmpv6::checksum(&icmp, &ip.get_source(), &ip.get_destination()),
            icmp.get_checksum()
        );
        let na = NeighborAdvertPacket::new(ip.payload()).unwrap();
        assert_eq!(na.get_target_addr(), claim().vip6);
        assert_eq!(na.get_flags() & NA_OVERRIDE, NA_OVERRIDE);
        let opts = na.get_options();
        assert_eq!(opts.len(), 1);
        assert_eq!(opts[0].option_type, NdpOptionTypes::TargetLLAddr);
        assert_eq!(opts[0].data, FOREIGN.varied(1).0);
        // And the speaker's decoder takes it as the same claim.
        match NdpFrame::decode(&f).unwrap().message {
            NdpMessage::Advertisement {
                target, target_ll, ..
            } => {
                assert_eq!(target, claim().vip6);
                assert_eq!(target_ll.map(|m| m.0), Some(FOREIGN.varied(1).0));
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    /// Each malformed kind is refused by the speaker's decoders with the kind the e2e test
    /// then expects in `ironlb_l2_malformed_frames_total`, and passes its receive filter.
    #[test]
    fn malformed_frames_are_what_the_speaker_counts_them_as() {
        for kind in FrameKind::ALL {
            let f = frame(kind, &claim(), 3);
            assert!(
                ironlb_speaker::l2::is_candidate(&f),
                "{kind:?} would not reach the responder"
            );
            let got = if f[12..14] == ETHERTYPE_ARP {
                ArpFrame::decode(&f).err().map(Malformed::from)
            } else {
                NdpFrame::decode(&f).err().map(Malformed::from)
            };
            assert_eq!(got.map(Malformed::as_str), kind.speaker_label(), "{kind:?}");
        }
    }

    #[test]
    fn malformed_frames_have_exactly_their_defect() {
        let c = claim();
        let ok_na = frame(FrameKind::SpoofedNa, &c, 0);
        let zero = frame(FrameKind::NdpZeroLengthOption, &c, 0);
        // Option length 0, yet a correct checksum: only the option is wrong.
        let ip = Ipv6Packet::new(&zero[14..]).unwrap();
        let icmp = Icmpv6Packet::new(ip.payload()).unwrap();
        assert_eq!(
            pnet::packet::icmpv6::checksum(&icmp, &ip.get_source(), &ip.get_destination()),
            icmp.get_checksum()
        );
        assert_eq!(zero[NA_OPTION_LEN], 0);
        let bad = frame(FrameKind::NdpBadChecksum, &c, 0);
        assert_eq!(bad.len(), ok_na.len());
        let differ: Vec<usize> = (0..bad.len()).filter(|&i| bad[i] != ok_na[i]).collect();
        assert_eq!(differ, vec![NA_CHECKSUM + 1]);
        let long = frame(FrameKind::NaWrongPayloadLength, &c, 0);
        assert_eq!(u16::from_be_bytes([long[18], long[19]]), 200);
        assert!(long.len() < 14 + 40 + 200);
        let short = frame(FrameKind::NaTruncated, &c, 0);
        assert_eq!(short.len(), 70);
        assert_eq!(u16::from_be_bytes([short[18], short[19]]), 16);
        assert_eq!(frame(FrameKind::ArpTruncated, &c, 0).len(), 30);
        assert_eq!(frame(FrameKind::ArpWrongLengths, &c, 0)[18], 8);
        assert_eq!(frame(FrameKind::ArpBadOperation, &c, 0)[21], 7);
    }

    #[test]
    fn claims_rotate_over_a_few_macs() {
        let c = claim();
        let macs: std::collections::BTreeSet<[u8; 6]> = (0..100)
            .map(|s| {
                ArpFrame::decode(&frame(FrameKind::SpoofedArpReply, &c, s))
                    .unwrap()
                    .sender_mac
                    .0
            })
            .collect();
        assert_eq!(macs.len(), usize::from(CLAIMANTS));
    }

    #[test]
    fn pacing_is_linear_and_starts_at_once() {
        assert_eq!(due(1000, Duration::ZERO), 1);
        assert_eq!(due(1000, Duration::from_millis(1)), 2);
        assert_eq!(due(1000, Duration::from_secs(60)), 60_001);
        assert_eq!(due(3, Duration::from_millis(999)), 3);
        assert_eq!(due(0, Duration::from_secs(60)), 0);
        assert_eq!(due(u64::MAX, Duration::from_secs(u64::MAX)), u64::MAX);
    }

    #[test]
    fn gossip_junk_has_the_shape_of_its_kind() {
        let mut rng = Junk::new(7);
        for seq in 0..300 {
            let (kind, d) = gossip_datagram(seq, &mut rng);
            match kind {
                GossipJunk::Short => assert!(d.len() < 29),
                GossipJunk::Version => assert!(d.len() >= 29 && d[0] != 1),
                GossipJunk::Forged => assert!(d.len() >= 29 && d[0] == 1),
            }
        }
        assert_ne!(Junk::new(0).next_u64(), 0);
    }
}
