//! BGP community values: classic `NN:NN` (RFC 1997, two 16-bit halves) and large
//! `N:N:N` (RFC 8092, three 32-bit parts, optionally written `large:N:N:N` as newer
//! MetalLB does). Aliases from `bgp-communities` are resolved by the validator.

use crate::model::Community;
use std::fmt;

/// Parses a literal community value; `None` when it is not one (it may be an alias).
pub fn parse_community(text: &str) -> Option<Community> {
    let body = text.strip_prefix("large:").unwrap_or(text);
    let parts: Vec<&str> = body.split(':').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !parts.iter().all(|p| digits(p)) {
        return None;
    }
    match parts.as_slice() {
        [hi, lo] if body.len() == text.len() => {
            let hi: u16 = hi.parse().ok()?;
            let lo: u16 = lo.parse().ok()?;
            Some(Community::Standard((u32::from(hi) << 16) | u32::from(lo)))
        }
        [a, b, c] => Some(Community::Large(
            a.parse().ok()?,
            b.parse().ok()?,
            c.parse().ok()?,
        )),
        _ => None,
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xffff),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standard_and_large() {
        let cases: &[(&str, Community)] = &[
            ("65535:65282", Community::Standard(0xffff_ff02)),
            ("0:0", Community::Standard(0)),
            ("64512:100", Community::Standard((64512 << 16) | 100)),
            ("4200000000:1:2", Community::Large(4_200_000_000, 1, 2)),
            ("large:1:2:3", Community::Large(1, 2, 3)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_community(text), Some(*want), "{text}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for text in [
            "65536:1",
            "1:65536",
            "1",
            "a:b",
            "1::2",
            ":1",
            "1:2:3:4",
            "4294967296:1:1",
            "large:1:2",
            "-1:2",
            "1:+2",
            "",
        ] {
            assert_eq!(parse_community(text), None, "{text:?}");
        }
    }

    #[test]
    fn display_parses_back() {
        for c in [Community::Standard(0x0001_0002), Community::Large(7, 8, 9)] {
            assert_eq!(parse_community(&c.to_string()), Some(c));
        }
    }
}
