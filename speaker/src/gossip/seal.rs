//! Authenticated encryption of gossip datagrams with the cluster's shared secret
//! (the `memberlist` Secret's `secretkey`).
//!
//! ```text
//! datagram = version:u8(1) nonce:12 ciphertext tag:16      (ChaCha20-Poly1305)
//! key      = SHA-256("ironlb-gossip-v1" || secret)
//! ```
//! The version byte is authenticated as associated data. Nonces are random (96 bits
//! from the system RNG), which is safe for the number of datagrams a speaker sends in
//! a key's lifetime; they are drawn [`NONCES_PER_DRAW`] at a time, so a heartbeat does
//! not cost a `getrandom` call each. A datagram that fails to open is dropped: a speaker
//! with the wrong key is simply not part of the cluster. There is no replay protection
//! beyond what SWIM itself tolerates (replayed pings and acks carry stale probe numbers;
//! heartbeats carry sequence numbers, `heartbeat`).
#![forbid(unsafe_code)]

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Mutex;

/// The format version, the first byte of every sealed datagram.
pub(crate) const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Nonces taken from the system RNG in one call.
pub const NONCES_PER_DRAW: usize = 64;

/// Why a datagram could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The secret is empty.
    #[error("the gossip secret is empty")]
    EmptySecret,
    /// Shorter than version, nonce and tag.
    #[error("datagram too short")]
    Short,
    /// Unknown version byte.
    #[error("unknown gossip version {0}")]
    Version(u8),
    /// Authentication failed: wrong key or tampered datagram.
    #[error("datagram failed authentication (wrong key?)")]
    Auth,
    /// The system RNG failed.
    #[error("no randomness for a nonce")]
    Random,
}

/// Seals and opens datagrams with one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
    nonces: Mutex<Nonces>,
}

/// Random bytes for [`NONCES_PER_DRAW`] nonces, each handed out once.
struct Nonces {
    bytes: [u8; NONCE_LEN * NONCES_PER_DRAW],
    /// How many have been handed out since the last draw.
    used: usize,
}

impl Nonces {
    /// A fresh nonce, drawing the next batch from `rng` when this one is used up.
    fn next(&mut self, rng: &SystemRandom) -> Result<[u8; NONCE_LEN], SealError> {
        if self.used == NONCES_PER_DRAW {
            rng.fill(&mut self.bytes).map_err(|_| SealError::Random)?;
            self.used = 0;
        }
        let at = self.used * NONCE_LEN;
        self.used += 1;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.bytes[at..at + NONCE_LEN]);
        // Never handed out twice, even if the next draw fails.
        self.bytes[at..at + NONCE_LEN].fill(0);
        Ok(nonce)
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer keyed from the shared secret's bytes.
    pub fn new(secret: &[u8]) -> Result<Sealer, SealError> {
        if secret.is_empty() {
            return Err(SealError::EmptySecret);
        }
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"ironlb-gossip-v1");
        ctx.update(secret);
        let digest = ctx.finish();
        // A 32-byte key always fits ChaCha20-Poly1305.
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, digest.as_ref()).map_err(|_| SealError::Auth)?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
            nonces: Mutex::new(Nonces {
                bytes: [0; NONCE_LEN * NONCES_PER_DRAW],
                used: NONCES_PER_DRAW,
            }),
        })
    }

    /// Encrypts and authenticates `plain`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = self
            .nonces
            .lock()
            // Nothing in `next` panics while holding the lock; its state is whole.
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next(&self.rng)?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([VERSION]),
                &mut body,
            )
            .map_err(|_| SealError::Auth)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Checks and decrypts a datagram.
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, SealError> {
        if datagram.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(SealError::Short);
        }
        if datagram[0] != VERSION {
            return Err(SealError::Version(datagram[0]));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&datagram[1..1 + NONCE_LEN]);
        let mut body = datagram[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([VERSION]),
                &mut body,
            )
            .map_err(|_| SealError::Auth)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = Sealer::new(b"secret one").unwrap();
        let b = Sealer::new(b"secret two").unwrap();
        let d = a.seal(b"hello").unwrap();
        assert_eq!(d.len(), 1 + 12 + 5 + 16);
        assert_eq!(a.open(&d).unwrap(), b"hello");
        assert_eq!(b.open(&d), Err(SealError::Auth));
        assert_ne!(a.seal(b"hello").unwrap(), d, "fresh nonce each time");
    }

    #[test]
    fn tampering_is_detected() {
        let a = Sealer::new(b"k").unwrap();
        let d = a.seal(b"hello").unwrap();
        for i in 0..d.len() {
            let mut t = d.clone();
            t[i] ^= 1;
            assert!(a.open(&t).is_err(), "flip at {i} accepted");
        }
        assert_eq!(a.open(&d[..20]), Err(SealError::Short));
        assert_eq!(Sealer::new(b"").err(), Some(SealError::EmptySecret));
    }

    #[test]
    fn nonces_are_not_repeated_across_draws() {
        let a = Sealer::new(b"k").unwrap();
        let nonces: std::collections::BTreeSet<Vec<u8>> = (0..NONCES_PER_DRAW * 3 + 1)
            .map(|_| a.seal(b"x").unwrap()[1..1 + NONCE_LEN].to_vec())
            .collect();
        assert_eq!(nonces.len(), NONCES_PER_DRAW * 3 + 1);
        assert!(!nonces.contains(&vec![0u8; NONCE_LEN]));
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let a = Sealer::new(b"k").unwrap();
            prop_assert!(a.open(&bytes).is_err());
        }
    }
}
