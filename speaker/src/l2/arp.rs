//! ARP over Ethernet for IPv4 (RFC 826): decode requests and replies, encode replies
//! and gratuitous announcements (RFC 5227 §3). Pure: bytes in, values out.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Hardware type (1=Ethernet)  |   Protocol type (0x0800)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HLEN (6)     |  PLEN (4)     |   Operation (1 req, 2 reply)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Sender hardware address (6) ...                     |
//! |  ... | Sender protocol address (4) ...                        |
//! |           Target hardware address (6) ...                     |
//! |  ... | Target protocol address (4)                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The packet is 28 bytes, after a 14-byte Ethernet header (EtherType 0x0806). Any
//! trailing bytes (Ethernet padding) are ignored.
#![forbid(unsafe_code)]

use super::ethernet::{self, ETHERTYPE_ARP, EthernetError, EthernetHeader, MacAddr};
use std::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    /// 1: who has `target_ip`?
    Request,
    /// 2: `sender_ip` is at `sender_mac`.
    Reply,
}

/// An ARP packet for IPv4 over Ethernet, with the Ethernet addresses that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// Operation.
    pub op: ArpOp,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// Why bytes are not an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    /// Not even an Ethernet header.
    #[error(transparent)]
    Ethernet(#[from] EthernetError),
    /// The EtherType is not ARP.
    #[error("EtherType {0:#06x} is not ARP")]
    NotArp(u16),
    /// Fewer than 28 bytes after the Ethernet header.
    #[error("ARP packet of {0} bytes, need 28")]
    Truncated(usize),
    /// Hardware type other than Ethernet.
    #[error("ARP hardware type {0} is not Ethernet")]
    HardwareType(u16),
    /// Protocol type other than IPv4.
    #[error("ARP protocol type {0:#06x} is not IPv4")]
    ProtocolType(u16),
    /// Address lengths other than 6 and 4.
    #[error("ARP address lengths {hlen}/{plen}, expected 6/4")]
    AddressLengths {
        /// HLEN.
        hlen: u8,
        /// PLEN.
        plen: u8,
    },
    /// Operation other than request or reply (RARP and others).
    #[error("ARP operation {0} is not request or reply")]
    Operation(u16),
}

impl ArpFrame {
    /// Decodes an Ethernet frame holding an ARP packet.
    pub fn decode(frame: &[u8]) -> Result<ArpFrame, ArpError> {
        let (eth, p) = EthernetHeader::decode(frame)?;
        if eth.ethertype != ETHERTYPE_ARP {
            return Err(ArpError::NotArp(eth.ethertype));
        }
        let p: &[u8; ARP_LEN] = p
            .get(..ARP_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ArpError::Truncated(p.len()))?;
        let be16 = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
        let mac = |i: usize| MacAddr([p[i], p[i + 1], p[i + 2], p[i + 3], p[i + 4], p[i + 5]]);
        let ip = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
        if be16(0) != HTYPE_ETHERNET {
            return Err(ArpError::HardwareType(be16(0)));
        }
        if be16(2) != PTYPE_IPV4 {
            return Err(ArpError::ProtocolType(be16(2)));
        }
        if p[4] != 6 || p[5] != 4 {
            return Err(ArpError::AddressLengths {
                hlen: p[4],
                plen: p[5],
            });
        }
        let op = match be16(6) {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            other => return Err(ArpError::Operation(other)),
        };
        Ok(ArpFrame {
            eth_dst: eth.dst,
            eth_src: eth.src,
            op,
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// Encodes the frame, padded to the Ethernet minimum of 60 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ethernet::MIN_FRAME_LEN);
        EthernetHeader {
            dst: self.eth_dst,
            src: self.eth_src,
            ethertype: ETHERTYPE_ARP,
        }
        .encode(&mut out);
        out.extend_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        out.extend_from_slice(&PTYPE_IPV4.to_be_bytes());
        out.extend_from_slice(&[6, 4]);
        let op: u16 = match self.op {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        };
        out.extend_from_slice(&op.to_be_bytes());
        out.extend_from_slice(&self.sender_mac.0);
        out.extend_from_slice(&self.sender_ip.octets());
        out.extend_from_slice(&self.target_mac.0);
        out.extend_from_slice(&self.target_ip.octets());
        ethernet::pad(&mut out);
        out
    }

    /// Whether this is a gratuitous ARP (sender and target IP equal): someone
    /// announcing that `sender_ip` is at `sender_mac`.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// The reply to this request, from `mac`, saying `target_ip` is at `mac`; sent
    /// unicast to the requester.
    pub fn reply(&self, mac: MacAddr) -> ArpFrame {
        ArpFrame {
            eth_dst: self.sender_mac,
            eth_src: mac,
            op: ArpOp::Reply,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// A gratuitous ARP announcing `ip` at `mac`, broadcast (RFC 5227 §3 "ARP
    /// Announcement"). `op` Request updates caches of every stack; Reply is what
    /// `arping -A` sends; the takeover burst sends both.
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr, op: ArpOp) -> ArpFrame {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            op,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: match op {
                ArpOp::Request => MacAddr::ZERO,
                ArpOp::Reply => MacAddr::BROADCAST,
            },
            target_ip: ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINE: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

    /// `arping -I eth0 192.0.2.200` from 192.0.2.99, as captured (padding included).
    const REQUEST: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x06, // eth
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // htype ptype hlen plen op
        0x02, 0, 0, 0, 0, 0x99, 192, 0, 2, 99, // sender
        0, 0, 0, 0, 0, 0, 192, 0, 2, 200, // target
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    #[test]
    fn decodes_a_captured_request() {
        let f = ArpFrame::decode(&REQUEST).unwrap();
        assert_eq!(f.op, ArpOp::Request);
        assert_eq!(f.sender_mac, CLIENT);
        assert_eq!(f.sender_ip, Ipv4Addr::new(192, 0, 2, 99));
        assert_eq!(f.target_ip, Ipv4Addr::new(192, 0, 2, 200));
        assert_eq!(f.eth_dst, MacAddr::BROADCAST);
        assert!(!f.is_gratuitous());
        assert_eq!(f.encode(), REQUEST);
    }

    #[test]
    fn reply_bytes() {
        let r = ArpFrame::decode(&REQUEST).unwrap().reply(MINE).encode();
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02,
            0x02, 0, 0, 0, 0, 0x11, 192, 0, 2, 200,
            0x02, 0, 0, 0, 0, 0x99, 192, 0, 2, 99,
        ];
        assert_eq!(&r[..42], &expected);
        assert_eq!(r.len(), 60);
        assert!(r[42..].iter().all(|b| *b == 0));
    }

    #[test]
    fn gratuitous_round_trip() {
        for op in [ArpOp::Request, ArpOp::Reply] {
            let g = ArpFrame::gratuitous(MINE, Ipv4Addr::new(192, 0, 2, 201), op);
            assert!(g.is_gratuitous());
            assert_eq!(ArpFrame::decode(&g.encode()), Ok(g));
        }
    }

    #[test]
    fn structured_errors() {
        assert_eq!(
            ArpFrame::decode(&REQUEST[..10]),
            Err(ArpError::Ethernet(EthernetError::Truncated(10)))
        );
        assert_eq!(
            ArpFrame::decode(&REQUEST[..30]),
            Err(ArpError::Truncated(16))
        );
        let mut b = REQUEST;
        b[13] = 0x00;
        assert_eq!(ArpFrame::decode(&b), Err(ArpError::NotArp(0x0800)));
        let mut b = REQUEST;
        b[15] = 6;
        assert_eq!(ArpFrame::decode(&b), Err(ArpError::HardwareType(6)));
        let mut b = REQUEST;
        b[17] = 0xdd;
        assert_eq!(ArpFrame::decode(&b), Err(ArpError::ProtocolType(0x08dd)));
        let mut b = REQUEST;
        b[19] = 16;
        assert_eq!(
            ArpFrame::decode(&b),
            Err(ArpError::AddressLengths { hlen: 6, plen: 16 })
        );
        let mut b = REQUEST;
        b[21] = 3;
        assert_eq!(ArpFrame::decode(&b), Err(ArpError::Operation(3)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = ArpFrame::decode(&bytes);
        }

        #[test]
        fn arbitrary_arp_tails_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = REQUEST[..14].to_vec();
            b.extend_from_slice(&tail);
            if let Ok(f) = ArpFrame::decode(&b) {
                // Whatever decodes re-encodes to the same first 42 bytes.
                prop_assert_eq!(&f.encode()[..42], &b[..42]);
            }
        }

        #[test]
        fn round_trip(s in any::<[u8; 6]>(), t in any::<[u8; 6]>(), si in any::<u32>(), ti in any::<u32>(), req in any::<bool>()) {
            let f = ArpFrame {
                eth_dst: MacAddr(t), eth_src: MacAddr(s),
                op: if req { ArpOp::Request } else { ArpOp::Reply },
                sender_mac: MacAddr(s), sender_ip: Ipv4Addr::from(si),
                target_mac: MacAddr(t), target_ip: Ipv4Addr::from(ti),
            };
            prop_assert_eq!(ArpFrame::decode(&f.encode()), Ok(f));
        }
    }
}
