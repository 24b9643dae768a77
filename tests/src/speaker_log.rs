//! Reading the speaker's log: when it logged something, by its own timestamps. The lab's
//! failover tests use it to tell detection (a peer declares the dead speaker gone) from the
//! rest of a failover (election, gratuitous ARP, the client's neighbour entry).
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime};

/// The first time at or after `since` that `log` (a speaker's output) says the gossip lost
/// `gone`: a "gossip membership changed" line with `gone` among those `left`.
pub fn leave_time(log: &str, gone: &str, since: SystemTime) -> Option<SystemTime> {
    let quoted = format!("\"{gone}\"");
    log.lines()
        .map(strip_ansi)
        .filter(|l| l.contains("gossip membership changed"))
        .filter(|l| {
            l.split("left=")
                .nth(1)
                .is_some_and(|left| left.split(']').next().is_some_and(|l| l.contains(&quoted)))
        })
        .filter_map(|l| parse_utc(l.split_whitespace().next()?))
        .find(|t| *t >= since)
}

/// `line` without ANSI colour sequences (the speaker's log is coloured).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters, up to the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An RFC 3339 UTC time as tracing writes it (`2026-12-02T13:00:09.123456Z`).
pub fn parse_utc(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days since 1970-01-01 from the civil date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let nanos: u64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    Some(
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(days * 86_400 + hh * 3600 + mm * 60 + ss)
            + Duration::from_nanos(nanos),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn utc_times_parse_to_the_epoch_seconds() {
        let table = [
            ("1970-01-01T00:00:00Z", Some(at(0, 0))),
            ("2000-03-01T00:00:00.5Z", Some(at(951_868_800, 500_000))),
            (
                "2026-12-02T13:00:09.123456Z",
                Some(at(1_796_216_409, 123_456)),
            ),
            ("2024-02-29T23:59:59Z", Some(at(1_709_251_199, 0))),
            ("2026-12-02T13:00:09", None),
            ("yesterday", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_utc(s), want, "{s}");
        }
    }

    #[test]
    fn the_leave_of_the_named_speaker_is_found_after_since() {
        let log = "\u{1b}[2m2026-12-02T13:00:08.000000Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m gossip membership changed \u{1b}[3mmembers\u{1b}[0m\u{1b}[2m=\u{1b}[0m2 \u{1b}[3mjoined\u{1b}[0m\u{1b}[2m=\u{1b}[0m[] \u{1b}[3mleft\u{1b}[0m\u{1b}[2m=\u{1b}[0m[\"n3\"]
2026-12-02T13:00:09.250000Z  INFO ironlb_speaker::gossip: gossip membership changed members=3 joined=[\"n2\"] left=[]
2026-12-02T13:00:09.500000Z  INFO ironlb_speaker::gossip: gossip membership changed members=2 joined=[] left=[\"n2\"]
2026-12-02T13:00:10.000000Z  INFO ironlb_speaker::gossip: gossip membership changed members=1 joined=[] left=[\"n3\"]";
        let since = at(1_796_216_409, 0);
        assert_eq!(
            leave_time(log, "n2", since),
            Some(at(1_796_216_409, 500_000))
        );
        assert_eq!(leave_time(log, "n3", since), Some(at(1_796_216_410, 0)));
        assert_eq!(
            leave_time(log, "n3", at(1_796_216_400, 0)),
            Some(at(1_796_216_408, 0))
        );
        assert_eq!(leave_time(log, "n4", since), None);
    }
}
