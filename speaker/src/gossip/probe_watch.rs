//! Which direct probe has been answered, read off the datagrams going out and coming in.
//!
//! foca arms an indirect-probe timer with every ping and checks, when it fires half a probe
//! interval later, whether the ack came. On a healthy LAN it always has, so the timer is a
//! wake-up for nothing: with a probe every 50 ms, a fifth of the gossip task's wake-ups at
//! rest. The driver drops the timer once the ack for that very ping (same member, same probe
//! number) is in; a ping left unanswered keeps it, and foca's indirect probe runs as before.
//! (foca only counts a probe cycle whose indirect stage was skipped as incomplete and
//! starts the next one afresh: a probe that succeeded is forgotten either way.)
#![forbid(unsafe_code)]

use super::wire::{NodeId, WireCodec};
use foca::{Codec, Message, ProbeNumber};
use std::net::SocketAddr;

/// The last ping sent, until its ack comes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeWatch {
    pinged: Option<(SocketAddr, ProbeNumber)>,
}

impl ProbeWatch {
    /// A datagram (opened, foca's encoding) is going out.
    pub fn sent(&mut self, plain: &[u8]) {
        let mut buf = plain;
        if let Ok(h) = WireCodec.decode_header(&mut buf)
            && let Message::Ping(n) = h.message
        {
            self.pinged = Some((h.dst.addr, n));
        }
    }

    /// A datagram (opened) came in: the address of the member whose ping it answers, if it
    /// is the ack of the last ping.
    pub fn answered(&mut self, plain: &[u8]) -> Option<SocketAddr> {
        let mut buf = plain;
        let h = WireCodec.decode_header(&mut buf).ok()?;
        let Message::Ack(n) = h.message else {
            return None;
        };
        let src: &NodeId = &h.src;
        (self.pinged == Some((src.addr, n))).then(|| {
            self.pinged = None;
            src.addr
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Header;

    fn id(last: u8) -> NodeId {
        NodeId {
            name: format!("n{last}").as_str().into(),
            addr: SocketAddr::from(([192, 0, 2, last], 7946)),
            bump: 0,
        }
    }

    fn datagram(src: u8, dst: u8, message: Message<NodeId>) -> Vec<u8> {
        let mut buf = bytes::BytesMut::new();
        WireCodec
            .encode_header(
                &Header {
                    src: id(src),
                    src_incarnation: 0,
                    dst: id(dst),
                    message,
                },
                &mut buf,
            )
            .unwrap();
        buf.to_vec()
    }

    /// A script of datagrams out and in, with what each ack answers.
    #[test]
    fn only_the_ack_of_the_last_ping_answers_it() {
        let mut w = ProbeWatch::default();
        // Nothing pinged yet: an ack answers nothing.
        assert_eq!(w.answered(&datagram(2, 1, Message::Ack(7))), None);
        w.sent(&datagram(1, 2, Message::Ping(7)));
        // An ack of another probe number, or from another member, or not an ack: no.
        assert_eq!(w.answered(&datagram(2, 1, Message::Ack(6))), None);
        assert_eq!(w.answered(&datagram(3, 1, Message::Ack(7))), None);
        assert_eq!(w.answered(&datagram(2, 1, Message::Ping(7))), None);
        assert_eq!(
            w.answered(&datagram(2, 1, Message::Ack(7))),
            Some(id(2).addr)
        );
        // Answered once: a duplicate answers nothing.
        assert_eq!(w.answered(&datagram(2, 1, Message::Ack(7))), None);
        // Other datagrams going out leave the last ping alone.
        w.sent(&datagram(1, 3, Message::Ping(8)));
        w.sent(&datagram(1, 2, Message::Ack(40)));
        w.sent(&datagram(1, 2, Message::Gossip));
        assert_eq!(
            w.answered(&datagram(3, 1, Message::Ack(8))),
            Some(id(3).addr)
        );
        // Garbage is no answer.
        assert_eq!(w.answered(&[1, 2, 3]), None);
    }
}
