//! The BFD control packet (RFC 5880 section 4.1): encode and decode, nothing else.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |  (only with A)
//! ```
//! Decoding applies the checks of RFC 5880 section 6.8.6 that need no session
//! (version, lengths, detect multiplier, multipoint, zero My Discriminator);
//! the checks that need one (discriminator match, authentication, TTL) are the
//! session's. Decoding never panics on any input (property-tested below).
#![forbid(unsafe_code)]

use std::time::Duration;

/// UDP port of single-hop BFD control packets (RFC 5881).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// UDP port of multihop BFD control packets (RFC 5883).
pub const MULTI_HOP_PORT: u16 = 4784;
/// Length of a control packet without authentication.
pub const LEN: usize = 24;
/// The protocol version we speak.
pub const VERSION: u8 = 1;

/// Session state as carried in the packet (`Sta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// 0: administratively down.
    AdminDown,
    /// 1.
    Down,
    /// 2.
    Init,
    /// 3.
    Up,
}

impl State {
    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic codes (RFC 5880 section 4.1), as far as we set or log them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Diag {
    /// 0.
    None,
    /// 1: Control Detection Time Expired.
    DetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved.
    Reserved(u8),
}

impl Diag {
    fn from_bits(b: u8) -> Self {
        match b & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            n => Diag::Reserved(n),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(n) => n & 0x1f,
        }
    }
}

/// One control packet. Intervals are carried in microseconds on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// `Diag`.
    pub diag: Diag,
    /// `Sta`.
    pub state: State,
    /// `P`: Poll.
    pub poll: bool,
    /// `F`: Final.
    pub final_: bool,
    /// `C`: Control Plane Independent.
    pub cpi: bool,
    /// `D`: Demand.
    pub demand: bool,
    /// `Detect Mult` (never 0 in a decoded packet).
    pub detect_mult: u8,
    /// `My Discriminator` (never 0 in a decoded packet).
    pub my_disc: u32,
    /// `Your Discriminator`.
    pub your_disc: u32,
    /// `Desired Min TX Interval`, µs.
    pub desired_min_tx: u32,
    /// `Required Min RX Interval`, µs.
    pub required_min_rx: u32,
    /// `Required Min Echo RX Interval`, µs.
    pub required_min_echo_rx: u32,
    /// The authentication section, kept opaque; non-empty exactly when `A` is set.
    pub auth: Vec<u8>,
}

impl Packet {
    /// `Desired Min TX Interval` as a duration.
    pub fn desired_min_tx(&self) -> Duration {
        Duration::from_micros(u64::from(self.desired_min_tx))
    }

    /// `Required Min RX Interval` as a duration.
    pub fn required_min_rx(&self) -> Duration {
        Duration::from_micros(u64::from(self.required_min_rx))
    }
}

/// Why bytes are not a control packet we accept (RFC 5880 section 6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the fixed part, or than `Length` says.
    #[error("{got} bytes, {need} needed")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// `Vers` is not 1.
    #[error("version {0}, expected 1")]
    Version(u8),
    /// `Length` below 24 (26 with authentication).
    #[error("length field {0} too small")]
    Length(u8),
    /// `Detect Mult` is zero.
    #[error("detect multiplier 0")]
    ZeroDetectMult,
    /// `M` (multipoint) is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// `My Discriminator` is zero.
    #[error("my discriminator 0")]
    ZeroMyDiscriminator,
    /// `A` set with an authentication section shorter than its own header.
    #[error("authentication section of length {0}")]
    AuthLength(u8),
}

impl DecodeError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } | DecodeError::Length(_) | DecodeError::AuthLength(_) => {
                "bad_length"
            }
            DecodeError::Version(_) => "bad_version",
            DecodeError::ZeroDetectMult
            | DecodeError::Multipoint
            | DecodeError::ZeroMyDiscriminator => "bad_field",
        }
    }
}

/// Why `encode` refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The authentication section does not fit the one-byte `Length`.
    #[error("authentication section of {0} bytes")]
    AuthTooLong(usize),
}

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

/// The packet's bytes.
pub fn encode(p: &Packet) -> Result<Vec<u8>, EncodeError> {
    let len =
        u8::try_from(LEN + p.auth.len()).map_err(|_| EncodeError::AuthTooLong(p.auth.len()))?;
    let mut b = Vec::with_capacity(usize::from(len));
    b.push((VERSION << 5) | p.diag.bits());
    let mut flags = p.state.bits() << 6;
    for (on, bit) in [
        (p.poll, FLAG_P),
        (p.final_, FLAG_F),
        (p.cpi, FLAG_C),
        (!p.auth.is_empty(), FLAG_A),
        (p.demand, FLAG_D),
    ] {
        if on {
            flags |= bit;
        }
    }
    b.push(flags);
    b.push(p.detect_mult);
    b.push(len);
    for w in [
        p.my_disc,
        p.your_disc,
        p.desired_min_tx,
        p.required_min_rx,
        p.required_min_echo_rx,
    ] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b.extend_from_slice(&p.auth);
    Ok(b)
}

fn word(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_be_bytes(w)
}

/// Decodes one UDP payload.
pub fn decode(b: &[u8]) -> Result<Packet, DecodeError> {
    let [vd, flags, detect_mult, len, ..] = *b else {
        return Err(DecodeError::Truncated {
            got: b.len(),
            need: LEN,
        });
    };
    let version = vd >> 5;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let auth = flags & FLAG_A != 0;
    let min = if auth { LEN + 2 } else { LEN };
    if usize::from(len) < min {
        return Err(DecodeError::Length(len));
    }
    if b.len() < usize::from(len) {
        return Err(DecodeError::Truncated {
            got: b.len(),
            need: usize::from(len),
        });
    }
    if detect_mult == 0 {
        return Err(DecodeError::ZeroDetectMult);
    }
    if flags & FLAG_M != 0 {
        return Err(DecodeError::Multipoint);
    }
    let my_disc = word(b, 4);
    if my_disc == 0 {
        return Err(DecodeError::ZeroMyDiscriminator);
    }
    let auth_bytes = b.get(LEN..usize::from(len)).unwrap_or_default().to_vec();
    if auth {
        // Auth Type, Auth Len, then data; Auth Len counts all of it.
        let auth_len = auth_bytes.get(1).copied().unwrap_or(0);
        if usize::from(auth_len) < 2 || usize::from(auth_len) > auth_bytes.len() {
            return Err(DecodeError::AuthLength(auth_len));
        }
    }
    Ok(Packet {
        diag: Diag::from_bits(vd),
        state: State::from_bits(flags >> 6),
        poll: flags & FLAG_P != 0,
        final_: flags & FLAG_F != 0,
        cpi: flags & FLAG_C != 0,
        demand: flags & FLAG_D != 0,
        detect_mult,
        my_disc,
        your_disc: word(b, 8),
        desired_min_tx: word(b, 12),
        required_min_rx: word(b, 16),
        required_min_echo_rx: word(b, 20),
        // Without A, bytes past the fixed part are not ours to keep.
        auth: if auth { auth_bytes } else { Vec::new() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Up packet with Poll, as BIRD sends after a timer change: discriminators
    /// 0x11223344 / 0x55667788, 300 ms TX, 200 ms RX, no echo, detect mult 3.
    const UP_POLL: [u8; 24] = [
        0x20, 0xe0, 0x03, 0x18, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x00, 0x04, 0x93,
        0xe0, 0x00, 0x03, 0x0d, 0x40, 0x00, 0x00, 0x00, 0x00,
    ];

    fn up_poll() -> Packet {
        Packet {
            diag: Diag::None,
            state: State::Up,
            poll: true,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc: 0x1122_3344,
            your_disc: 0x5566_7788,
            desired_min_tx: 300_000,
            required_min_rx: 200_000,
            required_min_echo_rx: 0,
            auth: Vec::new(),
        }
    }

    #[test]
    fn fixture_decodes() {
        assert_eq!(decode(&UP_POLL), Ok(up_poll()));
    }

    #[test]
    fn fixture_encodes() {
        assert_eq!(encode(&up_poll()).unwrap(), UP_POLL.to_vec());
    }

    #[test]
    fn down_with_diag_and_final_round_trips() {
        // Down, diag 1 (detection time expired), Final, your discriminator 0.
        let bytes = [
            0x21, 0x50, 0x05, 0x18, 0, 0, 0, 7, 0, 0, 0, 0, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x0f,
            0x42, 0x40, 0, 0, 0, 0,
        ];
        let p = decode(&bytes).unwrap();
        assert_eq!(p.state, State::Down);
        assert_eq!(p.diag, Diag::DetectionTimeExpired);
        assert!(p.final_ && !p.poll);
        assert_eq!(p.detect_mult, 5);
        assert_eq!(p.desired_min_tx(), Duration::from_secs(1));
        assert_eq!(encode(&p).unwrap(), bytes.to_vec());
    }

    #[test]
    fn auth_section_is_kept_and_sets_a() {
        // Simple password auth (type 1), length 7, key id 1, "abcd".
        let mut bytes = UP_POLL.to_vec();
        bytes[1] |= FLAG_A;
        bytes[3] = 31;
        bytes.extend_from_slice(&[1, 7, 1, b'a', b'b', b'c', b'd']);
        let p = decode(&bytes).unwrap();
        assert_eq!(p.auth, vec![1, 7, 1, b'a', b'b', b'c', b'd']);
        assert_eq!(encode(&p).unwrap(), bytes);
    }

    #[test]
    fn bad_packets_have_their_error() {
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = UP_POLL.to_vec();
            f(&mut b);
            decode(&b)
        };
        assert_eq!(
            decode(&UP_POLL[..23]),
            Err(DecodeError::Truncated { got: 23, need: 24 })
        );
        assert_eq!(
            decode(&[]),
            Err(DecodeError::Truncated { got: 0, need: 24 })
        );
        assert_eq!(with(&|b| b[0] = 0x40), Err(DecodeError::Version(2)));
        assert_eq!(with(&|b| b[3] = 20), Err(DecodeError::Length(20)));
        assert_eq!(
            with(&|b| b[3] = 30),
            Err(DecodeError::Truncated { got: 24, need: 30 })
        );
        assert_eq!(with(&|b| b[2] = 0), Err(DecodeError::ZeroDetectMult));
        assert_eq!(with(&|b| b[1] |= FLAG_M), Err(DecodeError::Multipoint));
        assert_eq!(
            with(&|b| b[4..8].fill(0)),
            Err(DecodeError::ZeroMyDiscriminator)
        );
        // A set but Length leaves no room for the auth header.
        assert_eq!(with(&|b| b[1] |= FLAG_A), Err(DecodeError::Length(24)));
        assert_eq!(
            with(&|b| {
                b[1] |= FLAG_A;
                b[3] = 26;
                b.extend_from_slice(&[1, 9]);
            }),
            Err(DecodeError::AuthLength(9))
        );
    }

    #[test]
    fn trailing_bytes_past_length_are_ignored() {
        let mut b = UP_POLL.to_vec();
        b.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(decode(&b), Ok(up_poll()));
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoder_never_panics_behind_a_valid_header(
            flags in proptest::num::u8::ANY, len in proptest::num::u8::ANY,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut b = vec![0x20, flags, 3, len];
            b.extend_from_slice(&body);
            if let Ok(p) = decode(&b) {
                // What decodes encodes back to the bytes it was read from
                // (but for a Length beyond 24 without authentication, which
                // is accepted and not kept).
                let again = encode(&p).unwrap();
                if p.auth.is_empty() {
                    b[3] = 24;
                }
                proptest::prop_assert_eq!(&again[..], &b[..again.len()]);
            }
        }
    }
}
