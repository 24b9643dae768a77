//! Durations in Go's `time.ParseDuration` syntax, as MetalLB reads `hold-time` and
//! `keepalive-time`: `90s`, `1m30s`, `1.5h`, `300ms`, `0`.
//!
//! Invariant: every accepted string is non-negative and fits a `Duration`; a bare number
//! other than `0` is refused (Go refuses it: "missing unit").

use std::time::Duration;

const NANOS_PER: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration. The error is a sentence saying why.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{text:?} is not a duration ({why}; e.g. \"90s\", \"1m30s\")");
    let mut rest = text;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(bad("negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("expected a number"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(bad("missing unit"));
        }
        let Some(&(_, scale)) = NANOS_PER.iter().find(|(u, _)| *u == unit) else {
            return Err(bad(&format!("unknown unit {unit:?}")));
        };
        let too_big = || bad("too large");
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| too_big())?
        };
        let mut nanos = int.checked_mul(scale).ok_or_else(too_big)?;
        // Fraction digits beyond nanosecond precision cannot matter: keep at most 19.
        let mut frac_scale = scale;
        for d in frac_part.bytes().take(19) {
            frac_scale /= 10;
            nanos = nanos
                .checked_add(u128::from(d - b'0') * frac_scale)
                .ok_or_else(too_big)?;
        }
        total = total.checked_add(nanos).ok_or_else(too_big)?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too large"))?;
    // The remainder is under 10^9 and fits u32.
    let sub = u32::try_from(total % 1_000_000_000).map_err(|_| bad("too large"))?;
    Ok(Duration::new(secs, sub))
}

/// Formats a duration so that [`parse_duration`] reads it back exactly.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_string()
    } else if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_go_syntax() {
        let cases: &[(&str, Duration)] = &[
            ("90s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("1.5h", Duration::from_secs(5400)),
            ("300ms", Duration::from_millis(300)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("1us", Duration::from_micros(1)),
            ("1µs", Duration::from_micros(1)),
            (".5s", Duration::from_millis(500)),
            ("+3s", Duration::from_secs(3)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in [
            "",
            "90",
            "-1s",
            "1x",
            "s",
            "1.s.",
            "1e3s",
            "99999999999999999999999h",
            " 1s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(90),
            Duration::from_millis(1500),
            Duration::new(7, 1),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
