//! The gossip wire format: how foca's headers and member records are written, and the
//! speaker's identity. Pure: bytes in, values out. All integers are big-endian.
//!
//! ```text
//! identity  = name-len:u8 name:utf8 family:u8(4|6) ip:4|16 port:u16 bump:u16
//! header    = src:identity src-incarnation:u16 dst:identity message
//! message   = tag:u8 [fields]
//!     0 Ping probe:u8          1 Ack probe:u8
//!     2 PingReq target:identity probe:u8
//!     3 IndirectPing origin:identity probe:u8
//!     4 IndirectAck target:identity probe:u8
//!     5 ForwardedAck origin:identity probe:u8
//!     6 Announce   7 Feed   8 Gossip   9 Broadcast   10 TurnUndead
//! member    = id:identity incarnation:u16 state:u8(0 alive, 1 suspect, 2 down)
//! ```
#![forbid(unsafe_code)]

use bytes::{Buf, BufMut};
use foca::{Codec, Header, Identity, Member, Message, State};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// A speaker in the gossip cluster: its node name (the unique address), where it
/// listens, and a bump that lets it rejoin under the same name after being declared
/// down.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The Kubernetes node name. Shared, not owned: foca compares members by
    /// [`Identity::addr`] in a linear scan for every update it applies (one per member
    /// in each datagram), and an owned `String` cost two allocations per comparison.
    pub name: Arc<str>,
    /// UDP address of its gossip socket.
    pub addr: SocketAddr,
    /// Rejoin counter.
    pub bump: u16,
}

impl Identity for NodeId {
    type Addr = Arc<str>;

    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // Newer bump wins, accounting for wrap-around.
        self.bump.wrapping_sub(adversary.bump) < u16::MAX / 2
    }
}

/// Why bytes are not a gossip header or member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Ran out of bytes.
    #[error("truncated gossip message")]
    Truncated,
    /// A node name that is empty, too long or not UTF-8.
    #[error("bad node name")]
    Name,
    /// An address family other than 4 or 6.
    #[error("bad address family {0}")]
    Family(u8),
    /// An unknown message tag.
    #[error("unknown message tag {0}")]
    Tag(u8),
    /// An unknown member state.
    #[error("unknown member state {0}")]
    State(u8),
    /// Not enough room left in the buffer to write the item; nothing was written. Foca
    /// packs members into a datagram until this comes back.
    #[error("no room left in the gossip datagram")]
    NoRoom,
}

/// The codec foca uses to write and read messages.
#[derive(Debug, Default, Clone, Copy)]
pub struct WireCodec;

fn need(buf: &impl Buf, n: usize) -> Result<(), WireError> {
    if buf.remaining() < n {
        Err(WireError::Truncated)
    } else {
        Ok(())
    }
}

fn get_u8(buf: &mut impl Buf) -> Result<u8, WireError> {
    need(buf, 1)?;
    Ok(buf.get_u8())
}

fn get_u16(buf: &mut impl Buf) -> Result<u16, WireError> {
    need(buf, 2)?;
    Ok(buf.get_u16())
}

/// The encoded length of an identity.
fn id_len(id: &NodeId) -> usize {
    let ip = match id.addr.ip() {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    };
    1 + id.name.len() + 1 + ip + 2 + 2
}

/// Fails with [`WireError::NoRoom`], before anything is written, if `len` bytes do not
/// fit: `BufMut` panics on overflow, and foca hands the codec a buffer limited to the
/// datagram size, expecting an error when an item does not fit.
fn room(buf: &impl BufMut, len: usize) -> Result<(), WireError> {
    if buf.remaining_mut() < len {
        return Err(WireError::NoRoom);
    }
    Ok(())
}

/// Writes an identity. Names longer than 255 bytes cannot be written (Kubernetes node
/// names are at most 253).
pub fn put_id(id: &NodeId, buf: &mut impl BufMut) -> Result<(), WireError> {
    let len = u8::try_from(id.name.len()).map_err(|_| WireError::Name)?;
    room(&*buf, id_len(id))?;
    buf.put_u8(len);
    buf.put_slice(id.name.as_bytes());
    match id.addr.ip() {
        IpAddr::V4(a) => {
            buf.put_u8(4);
            buf.put_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            buf.put_u8(6);
            buf.put_slice(&a.octets());
        }
    }
    buf.put_u16(id.addr.port());
    buf.put_u16(id.bump);
    Ok(())
}

/// Reads an identity.
pub fn get_id(buf: &mut impl Buf) -> Result<NodeId, WireError> {
    let len = usize::from(get_u8(buf)?);
    if len == 0 {
        return Err(WireError::Name);
    }
    need(buf, len)?;
    let mut name = vec![0u8; len];
    buf.copy_to_slice(&mut name);
    let name = String::from_utf8(name).map_err(|_| WireError::Name)?;
    let ip = match get_u8(buf)? {
        4 => {
            need(buf, 4)?;
            let mut o = [0u8; 4];
            buf.copy_to_slice(&mut o);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        6 => {
            need(buf, 16)?;
            let mut o = [0u8; 16];
            buf.copy_to_slice(&mut o);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        f => return Err(WireError::Family(f)),
    };
    let port = get_u16(buf)?;
    let bump = get_u16(buf)?;
    Ok(NodeId {
        name: name.into(),
        addr: SocketAddr::new(ip, port),
        bump,
    })
}

impl Codec<NodeId> for WireCodec {
    type Error = WireError;

    fn encode_header(&mut self, h: &Header<NodeId>, mut buf: impl BufMut) -> Result<(), WireError> {
        let third = match &h.message {
            Message::PingReq { target: id, .. }
            | Message::IndirectPing { origin: id, .. }
            | Message::IndirectAck { target: id, .. }
            | Message::ForwardedAck { origin: id, .. } => id_len(id),
            _ => 0,
        };
        room(&buf, id_len(&h.src) + 2 + id_len(&h.dst) + 2 + third)?;
        put_id(&h.src, &mut buf)?;
        buf.put_u16(h.src_incarnation);
        put_id(&h.dst, &mut buf)?;
        match &h.message {
            Message::Ping(p) => buf.put_slice(&[0, *p]),
            Message::Ack(p) => buf.put_slice(&[1, *p]),
            Message::PingReq {
                target,
                probe_number,
            } => {
                buf.put_u8(2);
                put_id(target, &mut buf)?;
                buf.put_u8(*probe_number);
            }
            Message::IndirectPing {
                origin,
                probe_number,
            } => {
                buf.put_u8(3);
                put_id(origin, &mut buf)?;
                buf.put_u8(*probe_number);
            }
            Message::IndirectAck {
                target,
                probe_number,
            } => {
                buf.put_u8(4);
                put_id(target, &mut buf)?;
                buf.put_u8(*probe_number);
            }
            Message::ForwardedAck {
                origin,
                probe_number,
            } => {
                buf.put_u8(5);
                put_id(origin, &mut buf)?;
                buf.put_u8(*probe_number);
            }
            Message::Announce => buf.put_u8(6),
            Message::Feed => buf.put_u8(7),
            Message::Gossip => buf.put_u8(8),
            Message::Broadcast => buf.put_u8(9),
            Message::TurnUndead => buf.put_u8(10),
        }
        Ok(())
    }

    fn decode_header(&mut self, mut buf: impl Buf) -> Result<Header<NodeId>, WireError> {
        let src = get_id(&mut buf)?;
        let src_incarnation = get_u16(&mut buf)?;
        let dst = get_id(&mut buf)?;
        let message = match get_u8(&mut buf)? {
            0 => Message::Ping(get_u8(&mut buf)?),
            1 => Message::Ack(get_u8(&mut buf)?),
            2 => Message::PingReq {
                target: get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            3 => Message::IndirectPing {
                origin: get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            4 => Message::IndirectAck {
                target: get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            5 => Message::ForwardedAck {
                origin: get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            6 => Message::Announce,
            7 => Message::Feed,
            8 => Message::Gossip,
            9 => Message::Broadcast,
            10 => Message::TurnUndead,
            t => return Err(WireError::Tag(t)),
        };
        Ok(Header {
            src,
            src_incarnation,
            dst,
            message,
        })
    }

    fn encode_member(&mut self, m: &Member<NodeId>, mut buf: impl BufMut) -> Result<(), WireError> {
        room(&buf, id_len(m.id()) + 3)?;
        put_id(m.id(), &mut buf)?;
        buf.put_u16(m.incarnation());
        buf.put_u8(match m.state() {
            State::Alive => 0,
            State::Suspect => 1,
            State::Down => 2,
        });
        Ok(())
    }

    fn decode_member(&mut self, mut buf: impl Buf) -> Result<Member<NodeId>, WireError> {
        let id = get_id(&mut buf)?;
        let inc = get_u16(&mut buf)?;
        let state = match get_u8(&mut buf)? {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Down,
            s => return Err(WireError::State(s)),
        };
        Ok(Member::new(id, inc, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(name: &str, addr: &str, bump: u16) -> NodeId {
        NodeId {
            name: name.into(),
            addr: addr.parse().unwrap(),
            bump,
        }
    }

    #[test]
    fn an_item_that_does_not_fit_is_refused_and_nothing_written() {
        // Foca packs members into a datagram-sized `Limit` until one is refused; writing
        // past the limit used to panic (a speaker answering an Announce in a cluster of
        // more than a few dozen nodes).
        let m = Member::alive(id("node-a", "10.0.0.1:7946", 1));
        let mut full = Vec::new();
        WireCodec.encode_member(&m, &mut full).unwrap();
        for room in 0..full.len() {
            let mut out = Vec::new();
            let r = WireCodec.encode_member(&m, (&mut out).limit(room));
            assert_eq!(r, Err(WireError::NoRoom), "room {room}");
            assert!(out.is_empty(), "room {room}: wrote {out:?}");
        }
        let mut out = Vec::new();
        WireCodec
            .encode_member(&m, (&mut out).limit(full.len()))
            .unwrap();
        assert_eq!(out, full);
        let h = Header {
            src: id("a", "10.0.0.1:7946", 0),
            src_incarnation: 1,
            dst: id("b", "10.0.0.2:7946", 0),
            message: Message::PingReq {
                target: id("c", "[2001:db8::1]:7946", 0),
                probe_number: 3,
            },
        };
        let mut full = Vec::new();
        WireCodec.encode_header(&h, &mut full).unwrap();
        for room in 0..full.len() {
            let mut out = Vec::new();
            let r = WireCodec.encode_header(&h, (&mut out).limit(room));
            assert_eq!(r, Err(WireError::NoRoom), "room {room}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn identity_bytes() {
        let mut b = Vec::new();
        put_id(&id("n1", "192.0.2.11:7946", 3), &mut b).unwrap();
        assert_eq!(b, [2, b'n', b'1', 4, 192, 0, 2, 11, 0x1f, 0x0a, 0, 3]);
        assert_eq!(get_id(&mut &b[..]), Ok(id("n1", "192.0.2.11:7946", 3)));
        assert_eq!(get_id(&mut &b[..5]), Err(WireError::Truncated));
        let mut bad = b.clone();
        bad[3] = 5;
        assert_eq!(get_id(&mut &bad[..]), Err(WireError::Family(5)));
    }

    #[test]
    fn header_and_member_round_trip() {
        let a = id("node-a", "192.0.2.11:7946", 0);
        let b = id("node-b", "[2001:db8:1::12]:7946", 9);
        let messages = vec![
            Message::Ping(1),
            Message::Ack(2),
            Message::PingReq {
                target: b.clone(),
                probe_number: 3,
            },
            Message::IndirectPing {
                origin: a.clone(),
                probe_number: 4,
            },
            Message::IndirectAck {
                target: b.clone(),
                probe_number: 5,
            },
            Message::ForwardedAck {
                origin: a.clone(),
                probe_number: 6,
            },
            Message::Announce,
            Message::Feed,
            Message::Gossip,
            Message::Broadcast,
            Message::TurnUndead,
        ];
        for message in messages {
            let h = Header {
                src: a.clone(),
                src_incarnation: 7,
                dst: b.clone(),
                message,
            };
            let mut buf = Vec::new();
            WireCodec.encode_header(&h, &mut buf).unwrap();
            assert_eq!(WireCodec.decode_header(&buf[..]), Ok(h));
        }
        for state in [State::Alive, State::Suspect, State::Down] {
            let m = Member::new(b.clone(), 11, state);
            let mut buf = Vec::new();
            WireCodec.encode_member(&m, &mut buf).unwrap();
            assert_eq!(WireCodec.decode_member(&buf[..]), Ok(m));
        }
    }

    #[test]
    fn newer_bump_wins() {
        assert!(id("a", "192.0.2.1:1", 2).win_addr_conflict(&id("a", "192.0.2.1:1", 1)));
        assert!(!id("a", "192.0.2.1:1", 1).win_addr_conflict(&id("a", "192.0.2.1:1", 2)));
        assert!(id("a", "192.0.2.1:1", 0).win_addr_conflict(&id("a", "192.0.2.1:1", u16::MAX)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = WireCodec.decode_header(&bytes[..]);
            let _ = WireCodec.decode_member(&bytes[..]);
        }
    }
}
