//! A misbehaving peer, as a table: scripted bytes in (through the [`Framer`] into the
//! [`Session`]), and the reaction RFC 4271 and RFC 7606 prescribe out.
//!
//! The speaker installs nothing a peer sends, so RFC 7606's "treat-as-withdraw" and
//! "attribute discard" both mean: keep the session, restart the hold timer, send
//! nothing. "Session reset" means: the NOTIFICATION with the right code and subcode,
//! close, and a reconnect after the backoff delay. Nothing may panic, and after a reset
//! the session must come back up and hold nothing from the old connection.

use std::net::Ipv4Addr;
use std::time::Duration;

use netgauze_bgp_pkt::BgpMessage;

use super::message::{Framer, notification_codes};
use super::session::{DownReason, Input, Output, Session, SessionConfig, State, Timer};
use super::wire_fixtures::*;

const LOCAL_AS: u32 = 64512;

fn cfg() -> SessionConfig {
    SessionConfig {
        local_asn: LOCAL_AS,
        peer_asn: PEER_AS,
        hold_time: Duration::from_secs(90),
        keepalive_time: Duration::from_secs(30),
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        next_hop_v4: None,
        next_hop_v6: None,
        retry_min: Duration::from_secs(1),
        retry_max: Duration::from_secs(8),
        graceful_restart: None,
    }
}

/// What the session did with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reaction {
    /// Kept: no NOTIFICATION, same state (treat-as-withdraw, attribute discard, or a
    /// valid message).
    Kept(State),
    /// Session reset with this NOTIFICATION (code, subcode), retry armed.
    Reset(u8, u8),
    /// Nothing happened at all (no connection to act on).
    Ignored,
}

/// Feeds `bytes` through a fresh framer into `s`, as the driver does: decoded messages as
/// [`Input::Received`], the first decode error as [`Input::DecodeError`] (then the
/// connection is gone).
fn feed(s: &mut Session, bytes: &[u8]) -> (Reaction, Vec<Output>) {
    let before = s.state();
    let mut f = Framer::new();
    f.extend(bytes);
    let mut out = Vec::new();
    loop {
        match f.next_message() {
            Ok(Some(m)) => out.extend(s.handle(Input::Received(m))),
            Ok(None) => break,
            Err(e) => {
                out.extend(s.handle(Input::DecodeError(e)));
                break;
            }
        }
    }
    let notification = out.iter().find_map(|o| match o {
        Output::Send(BgpMessage::Notification(n)) => Some(notification_codes(n)),
        _ => None,
    });
    let reaction = match notification {
        Some((code, sub)) => {
            assert!(out.contains(&Output::Close), "reset without close: {out:?}");
            assert!(
                out.iter()
                    .any(|o| matches!(o, Output::ArmTimer(Timer::ConnectRetry, _))),
                "reset without a retry: {out:?}"
            );
            assert!(out.contains(&Output::Down(DownReason::NotificationSent(code, sub))));
            assert_eq!(s.state(), State::Connect);
            Reaction::Reset(code, sub)
        }
        None if out.is_empty() && s.state() == before => Reaction::Ignored,
        None => Reaction::Kept(s.state()),
    };
    (reaction, out)
}

fn open_sent() -> Session {
    let mut s = Session::new(cfg());
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: "192.0.2.2"
            .parse()
            .unwrap_or(std::net::IpAddr::from([0u8; 4])),
    });
    assert_eq!(s.state(), State::OpenSent);
    s
}

fn established() -> Session {
    let mut s = open_sent();
    assert_eq!(
        feed(&mut s, &good_open()).0,
        Reaction::Kept(State::OpenConfirm)
    );
    assert_eq!(
        feed(&mut s, &message(4, &[])).0,
        Reaction::Kept(State::Established)
    );
    s
}

#[test]
fn bad_opens() {
    let unknown_cap = [usual_caps(), cap(200, &[1, 2, 3])].concat();
    let mut short = open(4, 90, &caps_param(&usual_caps()));
    short.truncate(19 + 6);
    short[16..18].copy_from_slice(&25u16.to_be_bytes());
    let mut overrun = open_body(4, 90, &caps_param(&usual_caps()));
    overrun[9] = 200; // optional parameters length past the message
    let table: Vec<(&str, Vec<u8>, Reaction)> = vec![
        ("valid", good_open(), Reaction::Kept(State::OpenConfirm)),
        // RFC 4271 6.2: Unsupported Version Number.
        (
            "version 3",
            open(3, 90, &caps_param(&usual_caps())),
            Reaction::Reset(2, 1),
        ),
        (
            "version 5",
            open(5, 90, &caps_param(&usual_caps())),
            Reaction::Reset(2, 1),
        ),
        // RFC 4271 6.2: hold time 1 or 2 s is Unacceptable Hold Time.
        (
            "hold 1 s",
            open(4, 1, &caps_param(&usual_caps())),
            Reaction::Reset(2, 6),
        ),
        (
            "hold 2 s",
            open(4, 2, &caps_param(&usual_caps())),
            Reaction::Reset(2, 6),
        ),
        (
            "hold 3 s",
            open(4, 3, &caps_param(&usual_caps())),
            Reaction::Kept(State::OpenConfirm),
        ),
        (
            "hold 0",
            open(4, 0, &caps_param(&usual_caps())),
            Reaction::Kept(State::OpenConfirm),
        ),
        // RFC 5492: a capability we do not know is ignored.
        (
            "unknown capability",
            open(4, 90, &caps_param(&unknown_cap)),
            Reaction::Kept(State::OpenConfirm),
        ),
        // RFC 4271 6.2: an optional parameter we do not know is Unsupported Optional Parameter.
        (
            "unknown optional parameter",
            open(
                4,
                90,
                &[[99, 2, 0, 0].as_slice(), &caps_param(&usual_caps())].concat(),
            ),
            Reaction::Reset(2, 4),
        ),
        // RFC 4271 6.1: a length too small for an OPEN is Bad Message Length.
        ("truncated", short, Reaction::Reset(1, 2)),
        (
            "parameters overrun",
            message(1, &overrun),
            Reaction::Reset(2, 0),
        ),
    ];
    let mut failed = Vec::new();
    for (name, bytes, want) in table {
        let mut s = open_sent();
        let (got, _) = feed(&mut s, &bytes);
        if got != want {
            failed.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

#[test]
fn malformed_updates() {
    let dup_mp = [good_attrs(), mp_reach_v6(&NLRI6), mp_reach_v6(&NLRI6)].concat();
    let mut long_as_path = as_path();
    long_as_path[2] = 200; // attribute length past the attributes
    let mut bad_update_len = update_body(&good_attrs(), &NLRI);
    bad_update_len[2..4].copy_from_slice(&500u16.to_be_bytes()); // total attribute length past the message
    let table: Vec<(&str, Vec<u8>, Reaction)> = vec![
        (
            "valid",
            update(&good_attrs(), &NLRI),
            Reaction::Kept(State::Established),
        ),
        (
            "keepalive",
            message(4, &[]),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 3(c): flags in conflict with a well-known attribute: treat-as-withdraw.
        (
            "ORIGIN flagged optional",
            update(
                &[attr(0xc0, 1, &[0]), as_path(), next_hop()].concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 7.1: ORIGIN of bad length or value: treat-as-withdraw.
        (
            "ORIGIN value 7",
            update(
                &[attr(0x40, 1, &[7]), as_path(), next_hop()].concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        (
            "ORIGIN length 2",
            update(
                &[attr(0x40, 1, &[0, 0]), as_path(), next_hop()].concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 4: an attribute overrunning the attributes: treat-as-withdraw.
        (
            "attribute length overflow",
            update(&[origin(), long_as_path].concat(), &NLRI),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 7.2: malformed AS_PATH: treat-as-withdraw.
        (
            "AS_PATH segment type 9",
            update(
                &[
                    origin(),
                    attr(0x40, 2, &[9, 1, 0, 0, 0xfb, 0xf4]),
                    next_hop(),
                ]
                .concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        (
            "AS_PATH segment overrun",
            update(
                &[
                    origin(),
                    attr(0x40, 2, &[2, 5, 0, 0, 0xfb, 0xf4]),
                    next_hop(),
                ]
                .concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 7.3: NEXT_HOP of bad length: treat-as-withdraw.
        (
            "NEXT_HOP length 3",
            update(
                &[origin(), as_path(), attr(0x40, 3, &[192, 0, 2])].concat(),
                &NLRI,
            ),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 3(g): a repeated attribute is discarded (all but the first).
        (
            "ORIGIN twice",
            update(&[origin(), origin(), as_path(), next_hop()].concat(), &NLRI),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 3(g): MP_REACH_NLRI twice: session reset, Malformed Attribute List.
        (
            "MP_REACH_NLRI twice",
            update(&dup_mp, &[]),
            Reaction::Reset(3, 1),
        ),
        // RFC 7606 3(d): a missing well-known mandatory attribute: treat-as-withdraw.
        (
            "NEXT_HOP missing",
            update(&[origin(), as_path()].concat(), &NLRI),
            Reaction::Kept(State::Established),
        ),
        (
            "ORIGIN missing",
            update(&[as_path(), next_hop()].concat(), &NLRI),
            Reaction::Kept(State::Established),
        ),
        // Without NLRI, nothing is mandatory.
        (
            "attributes without NLRI",
            update(&[origin()].concat(), &[]),
            Reaction::Kept(State::Established),
        ),
        // RFC 7606 5.3 / RFC 4271 6.3: NLRI syntax: session reset, Invalid Network Field.
        (
            "IPv4 prefix length 33",
            update(&good_attrs(), &[33, 198, 51, 100, 0, 0]),
            Reaction::Reset(3, 10),
        ),
        (
            "IPv4 NLRI truncated",
            update(&good_attrs(), &[24, 198]),
            Reaction::Reset(3, 10),
        ),
        // RFC 7606 7.11 / RFC 4760: MP_REACH_NLRI syntax: session reset.
        (
            "IPv6 prefix length 129",
            update(
                &[good_attrs(), mp_reach_v6(&[129, 0x20, 0x01])].concat(),
                &[],
            ),
            Reaction::Reset(3, 9),
        ),
        // RFC 7606 4: total attribute length past the message: session reset.
        (
            "total attribute length overflow",
            message(2, &bad_update_len),
            Reaction::Reset(3, 1),
        ),
        // RFC 4271 6.1: over 4096 bytes (no Extended Message): Bad Message Length.
        (
            "oversize",
            message(2, &vec![0u8; 5000]),
            Reaction::Reset(1, 2),
        ),
        // An unknown message type: Bad Message Type.
        ("type 9", message(9, &[]), Reaction::Reset(1, 3)),
    ];
    let mut failed = Vec::new();
    for (name, bytes, want) in table {
        let mut s = established();
        let (got, _) = feed(&mut s, &bytes);
        if got != want {
            failed.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

/// End-of-RIB markers (RFC 4724 section 2) are well-formed UPDATEs: kept and recorded,
/// never judged malformed; an UPDATE that RFC 7606 lets through is no marker.
#[test]
fn end_of_rib_markers_are_kept_and_recorded() {
    use netgauze_iana::address_family::AddressType::{Ipv4Unicast, Ipv6Unicast};
    let mp_unreach = |afi: u16| attr(0x80, 15, &[afi.to_be_bytes().as_slice(), &[1]].concat());
    let table: Vec<(&str, Vec<u8>, Vec<_>)> = vec![
        ("IPv4: an empty UPDATE", update(&[], &[]), vec![Ipv4Unicast]),
        (
            "IPv6: only an empty MP_UNREACH_NLRI",
            update(&mp_unreach(2), &[]),
            vec![Ipv6Unicast],
        ),
        (
            "IPv4 in MP_UNREACH_NLRI",
            update(&mp_unreach(1), &[]),
            vec![Ipv4Unicast],
        ),
        ("an ordinary UPDATE", update(&good_attrs(), &NLRI), vec![]),
        // Treat-as-withdraw (RFC 7606 7.1): passed on as a harmless UPDATE, not a marker.
        (
            "malformed ORIGIN",
            update(
                &[attr(0x40, 1, &[7]), as_path(), next_hop()].concat(),
                &NLRI,
            ),
            vec![],
        ),
    ];
    let mut failed = Vec::new();
    for (name, bytes, want) in table {
        let mut s = established();
        let (got, _) = feed(&mut s, &bytes);
        if got != Reaction::Kept(State::Established) || s.end_of_rib_received() != want {
            failed.push(format!(
                "{name}: got {got:?}, {:?}",
                s.end_of_rib_received()
            ));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

/// The peer's Graceful Restart capability (RFC 4724 section 3), as routers send it.
#[test]
fn the_peers_graceful_restart_capability_is_read() {
    // R bit, restart time 120; IPv4 unicast with F, IPv6 unicast without.
    let gr = cap(64, &[0x80, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0]);
    let mut s = open_sent();
    let (got, _) = feed(
        &mut s,
        &open(4, 90, &caps_param(&[usual_caps(), gr].concat())),
    );
    assert_eq!(got, Reaction::Kept(State::OpenConfirm));
    let peer = s.peer_graceful_restart().cloned();
    assert_eq!(
        peer.map(|p| (p.restart_time.as_secs(), p.restart_state, p.families.len())),
        Some((120, true, 2))
    );
    // A receiving-only speaker: flags and time, no family.
    let mut s = open_sent();
    let helper = cap(64, &[0x00, 0x78]);
    feed(
        &mut s,
        &open(4, 90, &caps_param(&[usual_caps(), helper].concat())),
    );
    assert_eq!(s.peer_graceful_restart().map(|p| p.families.len()), Some(0));
}

fn retry_delay(out: &[Output]) -> Option<Duration> {
    out.iter().find_map(|o| match o {
        Output::ArmTimer(Timer::ConnectRetry, d) => Some(*d),
        _ => None,
    })
}

#[test]
fn messages_after_a_notification_are_ignored_and_the_session_comes_back() {
    let mut s = established();
    // The peer says goodbye, then keeps talking on the dead connection.
    let cease = message(3, &[6, 2]);
    let (_, out) = feed(&mut s, &cease);
    assert!(out.contains(&Output::Down(DownReason::NotificationReceived(6, 2))));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Send(BgpMessage::Notification(_)))),
        "a NOTIFICATION is never answered with one"
    );
    assert_eq!(retry_delay(&out), Some(Duration::from_secs(1)));
    for after in [
        update(&good_attrs(), &NLRI),
        message(4, &[]),
        good_open(),
        message(3, &[6, 4]),
        update(&good_attrs(), &[33, 1, 2, 3, 4, 5]),
        vec![0u8; 40],
    ] {
        assert_eq!(feed(&mut s, &after).0, Reaction::Ignored, "{after:?}");
    }
    // The same after a reset we sent.
    let mut s = established();
    let (r, _) = feed(&mut s, &update(&good_attrs(), &[33, 1, 2, 3, 4, 5]));
    assert_eq!(r, Reaction::Reset(3, 10));
    assert_eq!(feed(&mut s, &message(4, &[])).0, Reaction::Ignored);
    // Then the retry timer dials again and the session comes up afresh.
    assert_eq!(
        s.handle(Input::TimerFired(Timer::ConnectRetry)),
        vec![Output::Connect]
    );
    s.handle(Input::Connected {
        local: "192.0.2.2"
            .parse()
            .unwrap_or(std::net::IpAddr::from([0u8; 4])),
    });
    assert_eq!(
        feed(&mut s, &good_open()).0,
        Reaction::Kept(State::OpenConfirm)
    );
    assert_eq!(
        feed(&mut s, &message(4, &[])).0,
        Reaction::Kept(State::Established)
    );
    assert_eq!(s.advertised_count(), 0);
}

#[test]
fn a_peer_that_misbehaves_after_every_establishment_is_retried_ever_more_slowly() {
    let mut s = established();
    let mut delays = Vec::new();
    for _ in 0..6 {
        let (r, out) = feed(
            &mut s,
            &update(&[mp_reach_v6(&NLRI6), mp_reach_v6(&NLRI6)].concat(), &[]),
        );
        assert_eq!(r, Reaction::Reset(3, 1));
        delays.extend(retry_delay(&out).map(|d| d.as_secs()));
        s.handle(Input::TimerFired(Timer::ConnectRetry));
        s.handle(Input::Connected {
            local: "192.0.2.2"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0u8; 4])),
        });
        feed(&mut s, &good_open());
        feed(&mut s, &message(4, &[]));
        assert_eq!(s.state(), State::Established);
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 8, 8]);
    // A session that lasts a keepalive interval is stable: the backoff starts over.
    s.handle(Input::TimerFired(Timer::Keepalive));
    let (_, out) = feed(&mut s, &message(9, &[]));
    assert_eq!(retry_delay(&out), Some(Duration::from_secs(1)));
}

proptest::proptest! {
    /// Whatever an Established peer sends, the session never panics, and it either stays
    /// Established or resets with a NOTIFICATION and a retry.
    #[test]
    fn any_bytes_keep_or_reset(chunks in proptest::collection::vec(
        proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..6), ty in 1u8..6) {
        let mut s = established();
        let mut bytes = Vec::new();
        for c in &chunks {
            bytes.extend(message(ty, c));
        }
        let (r, _) = feed(&mut s, &bytes);
        proptest::prop_assert!(matches!(r, Reaction::Kept(_) | Reaction::Reset(..) | Reaction::Ignored));
    }
}
