//! Received UPDATEs checked per RFC 7606 ("Revised Error Handling for BGP UPDATE
//! Messages"), before any codec sees them, so that the reaction to a malformed UPDATE is
//! the one the RFC prescribes and not whatever a parser happens to do.
//!
//! ```text
//!  +-----------------------------------------------------+
//!  |   Withdrawn Routes Length (2 octets)                |
//!  |   Withdrawn Routes (variable)                       |
//!  |   Total Path Attribute Length (2 octets)            |
//!  |   Path Attributes (variable): flags, type, length,  |
//!  |                               value                 |
//!  |   Network Layer Reachability Information (variable) |
//!  +-----------------------------------------------------+
//! ```
//!
//! The speaker installs nothing a peer sends, so "treat-as-withdraw" and "attribute
//! discard" both mean keeping the session and dropping the content; only "session
//! reset" ends it, with the NOTIFICATION returned here. Invariant: [`check`] never panics
//! and reads only inside `body`.

use netgauze_bgp_pkt::notification::{BgpNotificationMessage, UpdateMessageError};

/// What RFC 7606 makes of an UPDATE, the most severe finding first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed.
    Valid,
    /// An attribute is discarded (RFC 7606 section 2); the rest stands.
    AttributeDiscard(&'static str),
    /// The UPDATE's routes are withdrawn, the session stays (RFC 7606 section 2).
    TreatAsWithdraw(&'static str),
    /// The session is reset with this NOTIFICATION (RFC 7606 section 2, RFC 4271 6.3).
    SessionReset(&'static str, BgpNotificationMessage),
}

impl Verdict {
    fn rank(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::AttributeDiscard(_) => 1,
            Verdict::TreatAsWithdraw(_) => 2,
            Verdict::SessionReset(..) => 3,
        }
    }

    /// Keeps the more severe of the two.
    fn worst(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

const ORIGIN: u8 = 1;
const AS_PATH: u8 = 2;
const NEXT_HOP: u8 = 3;
const MED: u8 = 4;
const LOCAL_PREF: u8 = 5;
const ATOMIC_AGGREGATE: u8 = 6;
const AGGREGATOR: u8 = 7;
const COMMUNITIES: u8 = 8;
const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;

const OPTIONAL: u8 = 0x80;
const TRANSITIVE: u8 = 0x40;
const EXTENDED: u8 = 0x10;

fn reset(why: &'static str, e: UpdateMessageError) -> Verdict {
    Verdict::SessionReset(why, BgpNotificationMessage::UpdateMessageError(e))
}

fn malformed_list(why: &'static str) -> Verdict {
    reset(
        why,
        UpdateMessageError::MalformedAttributeList {
            value: Box::new([]),
        },
    )
}

fn invalid_network(why: &'static str) -> Verdict {
    reset(
        why,
        UpdateMessageError::InvalidNetworkField {
            value: Box::new([]),
        },
    )
}

fn optional_attribute(why: &'static str) -> Verdict {
    reset(
        why,
        UpdateMessageError::OptionalAttributeError {
            value: Box::new([]),
        },
    )
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// Whether `nlri` is a well-formed sequence of (length, prefix) with lengths at most
/// `max_bits` (RFC 4271 4.3; RFC 7606 5.3).
fn nlri_ok(nlri: &[u8], max_bits: u8) -> bool {
    let mut i = 0;
    while i < nlri.len() {
        let bits = nlri[i];
        if bits > max_bits {
            return false;
        }
        i += 1 + usize::from(bits).div_ceil(8);
    }
    i == nlri.len()
}

/// The verdict on an UPDATE's body (after the 19-octet header). `asn4`: AS numbers in
/// AS_PATH are four octets (both OPENs carried the capability).
pub fn check(body: &[u8], asn4: bool) -> Verdict {
    let Some(wlen) = u16_at(body, 0) else {
        return malformed_list("no withdrawn routes length");
    };
    let Some(withdrawn) = body.get(2..2 + wlen) else {
        return malformed_list("withdrawn routes length past the message");
    };
    let Some(alen) = u16_at(body, 2 + wlen) else {
        return malformed_list("no total path attribute length");
    };
    let start = 4 + wlen;
    // RFC 7606 4: the attributes running past the message leave the NLRI unlocatable.
    let Some(attrs) = body.get(start..start + alen) else {
        return malformed_list("total path attribute length past the message");
    };
    let nlri = &body[start + alen..];
    if !nlri_ok(withdrawn, 32) {
        return invalid_network("malformed withdrawn routes");
    }
    if !nlri_ok(nlri, 32) {
        return invalid_network("malformed NLRI");
    }
    let mut verdict = Verdict::Valid;
    let mut seen = [false; 256];
    let mut i = 0;
    while i < attrs.len() {
        let (Some(&flags), Some(&ty)) = (attrs.get(i), attrs.get(i + 1)) else {
            verdict = verdict.worst(Verdict::TreatAsWithdraw("truncated attribute header"));
            break;
        };
        let (len, hdr) = if flags & EXTENDED != 0 {
            (u16_at(attrs, i + 2), 4)
        } else {
            (attrs.get(i + 2).map(|l| usize::from(*l)), 3)
        };
        let Some(value) = len.and_then(|len| attrs.get(i + hdr..i + hdr + len)) else {
            // RFC 7606 4: an attribute overrunning the attribute list.
            let v = if seen[usize::from(MP_REACH)] || seen[usize::from(MP_UNREACH)] {
                malformed_list("attribute length past the attributes, after MP_(UN)REACH_NLRI")
            } else {
                Verdict::TreatAsWithdraw("attribute length past the attributes")
            };
            verdict = verdict.worst(v);
            break;
        };
        i += hdr + value.len();
        if std::mem::replace(&mut seen[usize::from(ty)], true) {
            // RFC 7606 3(g).
            let v = if ty == MP_REACH || ty == MP_UNREACH {
                malformed_list("MP_REACH_NLRI or MP_UNREACH_NLRI repeated")
            } else {
                Verdict::AttributeDiscard("attribute repeated")
            };
            verdict = verdict.worst(v);
            continue;
        }
        verdict = verdict.worst(attribute(flags, ty, value, asn4));
    }
    // RFC 7606 3(d): well-known mandatory attributes, needed only with reachable routes.
    let reach = !nlri.is_empty() || seen[usize::from(MP_REACH)];
    let missing = !seen[usize::from(ORIGIN)]
        || !seen[usize::from(AS_PATH)]
        || (!nlri.is_empty() && !seen[usize::from(NEXT_HOP)]);
    if reach && missing {
        verdict = verdict.worst(Verdict::TreatAsWithdraw(
            "missing well-known mandatory attribute",
        ));
    }
    verdict
}

/// One attribute's verdict (RFC 7606 sections 3 and 7).
fn attribute(flags: u8, ty: u8, v: &[u8], asn4: bool) -> Verdict {
    let kind = flags & (OPTIONAL | TRANSITIVE);
    let taw = Verdict::TreatAsWithdraw;
    match ty {
        ORIGIN if kind != TRANSITIVE => taw("ORIGIN flags"),
        ORIGIN if v.len() != 1 || v[0] > 2 => taw("ORIGIN length or value"),
        AS_PATH if kind != TRANSITIVE => taw("AS_PATH flags"),
        AS_PATH if !as_path_ok(v, if asn4 { 4 } else { 2 }) => taw("malformed AS_PATH"),
        NEXT_HOP if kind != TRANSITIVE => taw("NEXT_HOP flags"),
        NEXT_HOP if v.len() != 4 => taw("NEXT_HOP length"),
        MED if kind != OPTIONAL || v.len() != 4 => taw("MULTI_EXIT_DISC flags or length"),
        LOCAL_PREF if kind != TRANSITIVE || v.len() != 4 => taw("LOCAL_PREF flags or length"),
        ATOMIC_AGGREGATE if kind != TRANSITIVE || !v.is_empty() => {
            Verdict::AttributeDiscard("ATOMIC_AGGREGATE flags or length")
        }
        AGGREGATOR if kind != (OPTIONAL | TRANSITIVE) || v.len() != if asn4 { 8 } else { 6 } => {
            Verdict::AttributeDiscard("AGGREGATOR flags or length")
        }
        COMMUNITIES
            if kind != (OPTIONAL | TRANSITIVE) || v.is_empty() || !v.len().is_multiple_of(4) =>
        {
            taw("COMMUNITIES flags or length")
        }
        MP_REACH => mp(v, true),
        MP_UNREACH => mp(v, false),
        // RFC 4271 6.3: a well-known attribute we do not know.
        t if flags & OPTIONAL == 0 && !matches!(t, ORIGIN..=COMMUNITIES) => reset(
            "unrecognized well-known attribute",
            UpdateMessageError::UnrecognizedWellKnownAttribute {
                value: Box::new([]),
            },
        ),
        _ => Verdict::Valid,
    }
}

/// AS_PATH segments: type 1..=4, at least one AS, all inside (RFC 7606 7.2).
fn as_path_ok(v: &[u8], as_len: usize) -> bool {
    let mut i = 0;
    while i < v.len() {
        let (Some(ty), Some(n)) = (v.get(i), v.get(i + 1)) else {
            return false;
        };
        if !(1..=4).contains(ty) || *n == 0 {
            return false;
        }
        i += 2 + usize::from(*n) * as_len;
    }
    i == v.len()
}

/// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760); any syntax error resets the session
/// (RFC 7606 7.11: the NLRI cannot be trusted).
fn mp(v: &[u8], reach: bool) -> Verdict {
    let (Some(afi), Some(_safi)) = (u16_at(v, 0), v.get(2)) else {
        return optional_attribute("MP attribute too short");
    };
    let max_bits = match afi {
        1 => 32,
        2 => 128,
        // Another family: not ours to judge (we never negotiated it).
        _ => return Verdict::Valid,
    };
    let nlri = if reach {
        let Some(nh_len) = v.get(3).map(|l| usize::from(*l)) else {
            return optional_attribute("MP_REACH_NLRI too short");
        };
        // Next hop, then one reserved octet.
        match v.get(4 + nh_len + 1..) {
            Some(rest) => rest,
            None => return optional_attribute("MP_REACH_NLRI next hop past the attribute"),
        }
    } else {
        &v[3..]
    };
    if nlri_ok(nlri, max_bits) {
        Verdict::Valid
    } else {
        optional_attribute("malformed NLRI in MP_REACH_NLRI or MP_UNREACH_NLRI")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nlri_syntax() {
        assert!(nlri_ok(&[], 32));
        assert!(nlri_ok(&[0], 32));
        assert!(nlri_ok(&[24, 1, 2, 3, 32, 1, 2, 3, 4], 32));
        assert!(!nlri_ok(&[33, 1, 2, 3, 4, 5], 32));
        assert!(!nlri_ok(&[24, 1, 2], 32));
        assert!(nlri_ok(&[128; 17], 128));
        assert!(!nlri_ok(&[129; 18], 128));
    }

    #[test]
    fn worst_wins() {
        let r = malformed_list("x");
        assert_eq!(Verdict::Valid.worst(r.clone()), r);
        assert_eq!(
            Verdict::TreatAsWithdraw("a").worst(Verdict::AttributeDiscard("b")),
            Verdict::TreatAsWithdraw("a")
        );
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..600), asn4 in any::<bool>()) {
            let _ = check(&body, asn4);
        }
    }
}
