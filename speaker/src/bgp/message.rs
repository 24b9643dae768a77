//! BGP message framing, decoding and encoding (RFC 4271 section 4), on top of
//! the `netgauze-bgp-pkt` codec.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker (16 x 0xff)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Invariant: [`Framer`] never panics on any byte sequence, and every
//! [`DecodeError`] carries the NOTIFICATION that RFC 4271 section 6 asks us to
//! send for it. The header (marker, length 19..=4096, and at least the minimum
//! of its type) is checked here before netgauze sees the frame, so an oversized
//! length is refused at once rather than waited for: we never advertise the
//! Extended Message capability. UPDATEs are judged by [`super::update_check`]
//! (RFC 7606) first: only a "session reset" verdict is an error; an UPDATE that
//! RFC 7606 treats as withdrawn or whose attribute it discards is kept as an
//! UPDATE with no routes when netgauze cannot decode it (the speaker installs nothing
//! it receives, so withdrawing and discarding both mean dropping the content); not as
//! an empty one, which would read as IPv4's End-of-RIB.

use super::update_check::{self, Verdict};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::notification::{
    BgpNotificationMessage, CeaseError, FiniteStateMachineError, HoldTimerExpiredError,
    MessageHeaderError, OpenMessageError, RouteRefreshError, UpdateMessageError,
};
use netgauze_bgp_pkt::path_attribute::{Origin, PathAttribute, PathAttributeValue};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;

/// Length of the fixed header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest message without the Extended Message capability (RFC 4271).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// A received byte sequence that is not a valid BGP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// What was wrong, for logs.
    pub reason: String,
    /// The NOTIFICATION to send before closing the connection.
    pub notification: BgpNotificationMessage,
}

/// A message that could not be encoded (a bug on our side, never peer input).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// netgauze refused the message.
    #[error("cannot encode BGP message: {0}")]
    Codec(String),
    /// The message is larger than [`MAX_MESSAGE_LEN`].
    #[error("BGP message of {0} bytes exceeds {MAX_MESSAGE_LEN}")]
    TooLong(usize),
}

/// Splits a TCP byte stream into BGP messages.
///
/// It tracks 4-octet AS support like RFC 6793 asks: AS numbers in received
/// UPDATEs are 4 bytes wide once the peer's OPEN carried the capability (we
/// always send it).
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    ctx: BgpParsingContext,
    tolerated: u64,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// UPDATEs that RFC 7606 keeps but the codec could not decode (passed on empty).
    pub fn tolerated(&self) -> u64 {
        self.tolerated
    }

    /// Appends bytes read from the connection.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are
    /// needed. After an error the stream is out of sync: drop the framer.
    pub fn next_message(&mut self) -> Result<Option<BgpMessage>, DecodeError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        if self.buf[..16].iter().any(|b| *b != 0xff) {
            return Err(DecodeError {
                reason: "connection not synchronized: marker is not all ones".into(),
                notification: BgpNotificationMessage::MessageHeaderError(
                    MessageHeaderError::ConnectionNotSynchronized {
                        value: Box::new([]),
                    },
                ),
            });
        }
        let length = u16::from_be_bytes([self.buf[16], self.buf[17]]);
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&usize::from(length)) {
            return Err(bad_length(length));
        }
        // RFC 4271 6.1: shorter than its type allows (or a KEEPALIVE with a body).
        let ty = self.buf[18];
        let fits = match ty {
            1 => length >= 29,
            2 => length >= 23,
            3 => length >= 21,
            4 => length == 19,
            5 => length == 23,
            _ => true,
        };
        if !fits {
            return Err(bad_length(length));
        }
        let length = usize::from(length);
        if self.buf.len() < length {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..length).collect();
        let mut update_verdict = None;
        if ty == 2 {
            match update_check::check(&frame[HEADER_LEN..], self.ctx.asn4()) {
                Verdict::SessionReset(why, notification) => {
                    return Err(DecodeError {
                        reason: format!("malformed UPDATE: {why}"),
                        notification,
                    });
                }
                v => update_verdict = Some(v),
            }
        }
        let mut reader = SliceReader::new(&frame);
        match BgpMessage::parse(&mut reader, &mut self.ctx) {
            Ok(msg) => {
                if let BgpMessage::Open(open) = &msg {
                    let asn4 = open
                        .capabilities()
                        .into_iter()
                        .any(|c| matches!(c, BgpCapability::FourOctetAs(_)));
                    self.ctx.set_asn4(asn4);
                }
                // Errors netgauze tolerated (RFC 7606 treat-as-withdraw) do
                // not matter: we install nothing the peer sends.
                let _ = self.ctx.reset_parsing_errors();
                Ok(Some(msg))
            }
            // RFC 7606 keeps the session for this UPDATE (treat-as-withdraw or attribute
            // discard): nothing of it is used, so it goes on as an UPDATE that means nothing.
            Err(_) if update_verdict.is_some() => {
                self.tolerated += 1;
                Ok(Some(BgpMessage::Update(tolerated_update())))
            }
            Err(e) => Err(DecodeError {
                reason: e.to_string(),
                notification: e.into(),
            }),
        }
    }
}

/// What a tolerated UPDATE becomes: no routes and a lone ORIGIN. Not an empty UPDATE,
/// which is IPv4's End-of-RIB (RFC 4724): a malformed UPDATE must not end a restart.
fn tolerated_update() -> BgpUpdateMessage {
    let origin = PathAttribute::from(
        false,
        true,
        false,
        false,
        PathAttributeValue::Origin(Origin::IGP),
    );
    // Well-known transitive flags are what netgauze checks ORIGIN against: this cannot fail.
    BgpUpdateMessage::new(vec![], origin.into_iter().collect::<Vec<_>>(), vec![])
}

fn bad_length(length: u16) -> DecodeError {
    DecodeError {
        reason: format!("bad message length {length}"),
        notification: BgpNotificationMessage::MessageHeaderError(
            MessageHeaderError::BadMessageLength {
                value: length.to_be_bytes().into(),
            },
        ),
    }
}

/// Encodes one message into its wire form.
pub fn encode(msg: &BgpMessage) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(msg.len());
    msg.write(&mut out)
        .map_err(|e| EncodeError::Codec(format!("{e:?}")))?;
    if out.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::TooLong(out.len()));
    }
    Ok(out)
}

/// The (code, subcode) pair of a NOTIFICATION (RFC 4271 section 4.5), for
/// logs, metrics and status.
pub fn notification_codes(n: &BgpNotificationMessage) -> (u8, u8) {
    use BgpNotificationMessage as N;
    match n {
        N::MessageHeaderError(e) => (
            1,
            match e {
                MessageHeaderError::Unspecific { .. } => 0,
                MessageHeaderError::ConnectionNotSynchronized { .. } => 1,
                MessageHeaderError::BadMessageLength { .. } => 2,
                MessageHeaderError::BadMessageType { .. } => 3,
            },
        ),
        N::OpenMessageError(e) => (
            2,
            match e {
                OpenMessageError::Unspecific { .. } => 0,
                OpenMessageError::UnsupportedVersionNumber { .. } => 1,
                OpenMessageError::BadPeerAs { .. } => 2,
                OpenMessageError::BadBgpIdentifier { .. } => 3,
                OpenMessageError::UnsupportedOptionalParameter { .. } => 4,
                OpenMessageError::UnacceptableHoldTime { .. } => 6,
                OpenMessageError::UnsupportedCapability { .. } => 7,
                OpenMessageError::RoleMismatch { .. } => 11,
            },
        ),
        N::UpdateMessageError(e) => (
            3,
            match e {
                UpdateMessageError::Unspecific { .. } => 0,
                UpdateMessageError::MalformedAttributeList { .. } => 1,
                UpdateMessageError::UnrecognizedWellKnownAttribute { .. } => 2,
                UpdateMessageError::MissingWellKnownAttribute { .. } => 3,
                UpdateMessageError::AttributeFlagsError { .. } => 4,
                UpdateMessageError::AttributeLengthError { .. } => 5,
                UpdateMessageError::InvalidOriginAttribute { .. } => 6,
                UpdateMessageError::InvalidNextHopAttribute { .. } => 8,
                UpdateMessageError::OptionalAttributeError { .. } => 9,
                UpdateMessageError::InvalidNetworkField { .. } => 10,
                UpdateMessageError::MalformedAsPath { .. } => 11,
            },
        ),
        N::HoldTimerExpiredError(HoldTimerExpiredError::Unspecific { sub_code, .. }) => {
            (4, *sub_code)
        }
        N::FiniteStateMachineError(e) => (
            5,
            match e {
                FiniteStateMachineError::Unspecific { .. } => 0,
                FiniteStateMachineError::ReceiveUnexpectedMessageInOpenSentState { .. } => 1,
                FiniteStateMachineError::ReceiveUnexpectedMessageInOpenConfirmState { .. } => 2,
                FiniteStateMachineError::ReceiveUnexpectedMessageInEstablishedState { .. } => 3,
            },
        ),
        N::CeaseError(e) => (
            6,
            match e {
                CeaseError::MaximumNumberOfPrefixesReached { .. } => 1,
                CeaseError::AdministrativeShutdown { .. } => 2,
                CeaseError::PeerDeConfigured { .. } => 3,
                CeaseError::AdministrativeReset { .. } => 4,
                CeaseError::ConnectionRejected { .. } => 5,
                CeaseError::OtherConfigurationChange { .. } => 6,
                CeaseError::ConnectionCollisionResolution { .. } => 7,
                CeaseError::OutOfResources { .. } => 8,
                CeaseError::HardReset { .. } => 9,
                CeaseError::BfdDown { .. } => 10,
            },
        ),
        N::RouteRefreshError(RouteRefreshError::InvalidMessageLength { .. }) => (7, 1),
    }
}

/// NOTIFICATION Hold Timer Expired (code 4).
pub fn hold_timer_expired() -> BgpNotificationMessage {
    BgpNotificationMessage::HoldTimerExpiredError(HoldTimerExpiredError::Unspecific {
        sub_code: 0,
        value: Box::new([]),
    })
}

/// NOTIFICATION Cease / Administrative Shutdown (RFC 4486), sent on shutdown.
pub fn cease_admin_shutdown() -> BgpNotificationMessage {
    BgpNotificationMessage::CeaseError(CeaseError::AdministrativeShutdown {
        value: Box::new([]),
    })
}

/// NOTIFICATION Cease / BFD Down (RFC 9384): BFD saw the path fail.
pub fn cease_bfd_down() -> BgpNotificationMessage {
    BgpNotificationMessage::CeaseError(CeaseError::BfdDown {
        value: Box::new([]),
    })
}

/// NOTIFICATION Cease / Peer De-configured (RFC 4486).
pub fn cease_peer_deconfigured() -> BgpNotificationMessage {
    BgpNotificationMessage::CeaseError(CeaseError::PeerDeConfigured {
        value: Box::new([]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPALIVE: [u8; 19] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x13, 0x04,
    ];

    #[test]
    fn keepalive_round_trips() {
        assert_eq!(encode(&BgpMessage::KeepAlive).unwrap(), KEEPALIVE);
        let mut f = Framer::new();
        f.extend(&KEEPALIVE[..10]);
        assert_eq!(f.next_message().unwrap(), None);
        f.extend(&KEEPALIVE[10..]);
        f.extend(&KEEPALIVE);
        assert_eq!(f.next_message().unwrap(), Some(BgpMessage::KeepAlive));
        assert_eq!(f.next_message().unwrap(), Some(BgpMessage::KeepAlive));
        assert_eq!(f.next_message().unwrap(), None);
    }

    #[test]
    fn bad_marker_is_connection_not_synchronized() {
        let mut bytes = KEEPALIVE;
        bytes[3] = 0;
        let mut f = Framer::new();
        f.extend(&bytes);
        let e = f.next_message().unwrap_err();
        assert_eq!(notification_codes(&e.notification), (1, 1));
    }

    #[test]
    fn oversized_length_is_refused_before_waiting_for_it() {
        let mut bytes = KEEPALIVE;
        bytes[16] = 0x20; // 8211 bytes
        let mut f = Framer::new();
        f.extend(&bytes);
        let e = f.next_message().unwrap_err();
        assert_eq!(notification_codes(&e.notification), (1, 2));
    }

    #[test]
    fn unknown_type_is_bad_message_type() {
        let mut bytes = KEEPALIVE;
        bytes[18] = 9;
        let mut f = Framer::new();
        f.extend(&bytes);
        let e = f.next_message().unwrap_err();
        assert_eq!(notification_codes(&e.notification), (1, 3));
    }

    #[test]
    fn cease_codes() {
        assert_eq!(notification_codes(&cease_admin_shutdown()), (6, 2));
        assert_eq!(notification_codes(&hold_timer_expired()), (4, 0));
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(chunks in proptest::collection::vec(
            proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8)) {
            let mut f = Framer::new();
            for c in &chunks {
                f.extend(c);
                while let Ok(Some(_)) = f.next_message() {}
            }
        }

        #[test]
        fn decoder_never_panics_behind_a_valid_header(
            len in 19u16..=4096, ty in 0u8..8,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            let mut bytes = vec![0xff; 16];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.push(ty);
            bytes.extend_from_slice(&body);
            let mut f = Framer::new();
            f.extend(&bytes);
            let _ = f.next_message();
        }
    }
}
