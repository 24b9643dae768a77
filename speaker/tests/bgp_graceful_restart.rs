//! Graceful restart (RFC 4724) in the BGP session state machine, as a specification:
//! the capability in our OPEN, End-of-RIB after the initial UPDATEs, the peer's
//! capability and markers read, and which stops keep the routes at the peer. Scripted
//! inputs, asserted outputs; no sockets, no clock.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ironlb_speaker::bgp::message::{encode, notification_codes};
use ironlb_speaker::bgp::session::{
    DownReason, GracefulRestart, Input, Output, PeerGracefulRestart, Session, SessionConfig, State,
    StopReason, Timer,
};
use ironlb_speaker::bgp::{Route, RouteAttrs};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, GracefulRestartAddressFamily, GracefulRestartCapability,
    MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute::{MpUnreach, PathAttributeValue};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_iana::address_family::AddressType;
use proptest::prelude::*;

const LOCAL: &str = "192.0.2.2";
const V4: AddressType = AddressType::Ipv4Unicast;
const V6: AddressType = AddressType::Ipv6Unicast;

fn cfg(gr: Option<(u64, bool)>) -> SessionConfig {
    SessionConfig {
        local_asn: 64512,
        peer_asn: 64500,
        hold_time: Duration::from_secs(90),
        keepalive_time: Duration::from_secs(30),
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        next_hop_v4: None,
        next_hop_v6: Some("2001:db8::2".parse().unwrap()),
        retry_min: Duration::from_secs(1),
        retry_max: Duration::from_secs(8),
        graceful_restart: gr.map(|(secs, restarted)| GracefulRestart {
            restart_time: Duration::from_secs(secs),
            restarted,
        }),
    }
}

/// The peer's OPEN: these MP families, and a Graceful Restart capability when `gr`.
fn peer_open(families: &[AddressType], gr: Option<GracefulRestartCapability>) -> BgpMessage {
    let mut caps: Vec<BgpCapability> = families
        .iter()
        .map(|f| BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(*f)))
        .collect();
    caps.push(BgpCapability::FourOctetAs(FourOctetAsCapability::new(
        64500,
    )));
    caps.extend(gr.map(BgpCapability::GracefulRestartCapability));
    BgpMessage::Open(BgpOpenMessage::new(
        64500,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![BgpOpenMessageParameter::new_capabilities(caps)],
    ))
}

/// A receiving-speaker capability as BIRD sends it: no restart, both families.
fn router_gr() -> GracefulRestartCapability {
    GracefulRestartCapability::new(
        false,
        false,
        120,
        [V4, V6].map(|f| GracefulRestartAddressFamily::new(false, f)),
    )
}

fn sent(out: &[Output]) -> Vec<&BgpMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The family of each End-of-RIB marker in `out`, in order.
fn eors(out: &[Output]) -> Vec<AddressType> {
    sent(out)
        .into_iter()
        .filter_map(|m| match m {
            BgpMessage::Update(u) => u.end_of_rib(),
            _ => None,
        })
        .collect()
}

fn our_open(out: &[Output]) -> &BgpOpenMessage {
    match sent(out).first() {
        Some(BgpMessage::Open(o)) => o,
        other => panic!("no OPEN first: {other:?}"),
    }
}

fn gr_cap(open: &BgpOpenMessage) -> Option<GracefulRestartCapability> {
    open.capabilities().into_iter().find_map(|c| match c {
        BgpCapability::GracefulRestartCapability(g) => Some(g.clone()),
        _ => None,
    })
}

/// Start, connect and send the peer's OPEN; returns our OPEN's outputs.
fn open_confirm(s: &mut Session, open: BgpMessage) -> Vec<Output> {
    s.handle(Input::Start);
    let out = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    s.handle(Input::Received(open));
    assert_eq!(s.state(), State::OpenConfirm);
    out
}

fn established(s: &mut Session, open: BgpMessage) -> Vec<Output> {
    open_confirm(s, open);
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(s.state(), State::Established);
    out
}

fn routes(ps: &[&str]) -> BTreeSet<Route> {
    ps.iter()
        .map(|p| Route::new(p.parse().unwrap(), RouteAttrs::default()))
        .collect()
}

#[test]
fn off_sends_no_capability_and_no_end_of_rib() {
    let mut s = Session::new(cfg(None));
    s.handle(Input::SetRoutes(routes(&["198.51.100.10/32"])));
    let open = open_confirm(&mut Session::new(cfg(None)), peer_open(&[V4], None));
    assert_eq!(gr_cap(our_open(&open)), None);
    let out = established(&mut s, peer_open(&[V4, V6], Some(router_gr())));
    assert_eq!(eors(&out), []);
    assert_eq!(sent(&out).len(), 1, "one UPDATE: {out:?}");
    // The peer's capability is read all the same, but nothing is negotiated.
    assert!(s.peer_graceful_restart().is_some());
    assert!(!s.graceful_restart_negotiated());
}

#[test]
fn open_carries_restart_time_restart_state_and_forwarding_for_both_families() {
    // (restart time configured, restarted) -> (time sent, R bit)
    let cases = [
        ((120, true), (120, true)),
        ((120, false), (120, false)),
        ((1, true), (1, true)),
        ((4095, false), (4095, false)),
        // Validation keeps it at 4095; the state machine never sends more.
        ((10_000, false), (4095, false)),
    ];
    for ((time, restarted), (want_time, want_r)) in cases {
        let mut s = Session::new(cfg(Some((time, restarted))));
        s.handle(Input::Start);
        let out = s.handle(Input::Connected {
            local: LOCAL.parse().unwrap(),
        });
        let cap = gr_cap(our_open(&out)).expect("Graceful Restart capability");
        assert_eq!(
            (cap.time(), cap.restart(), cap.graceful_notification()),
            (want_time, want_r, false),
            "{time} {restarted}"
        );
        let families: Vec<_> = cap
            .address_families()
            .iter()
            .map(|f| (f.address_type(), f.forwarding_state()))
            .collect();
        assert_eq!(families, [(V4, true), (V6, true)]);
    }
}

/// The capability on the wire (RFC 4724 section 3), inside our OPEN's bytes.
#[test]
fn capability_bytes_match_rfc_4724() {
    let mut s = Session::new(cfg(Some((120, true))));
    s.handle(Input::Start);
    let out = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let bytes = encode(sent(&out)[0]).unwrap();
    let cap: [u8; 12] = [
        64, 10, // code, length
        0x80, 0x78, // R bit, restart time 120
        0x00, 0x01, 0x01, 0x80, // IPv4 unicast, F bit
        0x00, 0x02, 0x01, 0x80, // IPv6 unicast, F bit
    ];
    assert!(
        bytes.windows(cap.len()).any(|w| w == cap),
        "{bytes:02x?} lacks {cap:02x?}"
    );
}

#[test]
fn restart_state_is_set_until_the_session_is_first_established() {
    let mut s = Session::new(cfg(Some((120, true))));
    let r_bit = |out: &[Output]| gr_cap(our_open(out)).map(|c| c.restart());
    s.handle(Input::Start);
    let first = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    assert_eq!(r_bit(&first), Some(true));
    // Lost before Established: the restart is not over, the next OPEN says so again.
    s.handle(Input::Closed);
    s.handle(Input::TimerFired(Timer::ConnectRetry));
    let second = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    assert_eq!(r_bit(&second), Some(true));
    s.handle(Input::Received(peer_open(&[V4, V6], Some(router_gr()))));
    s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(s.state(), State::Established);
    // A reconnect in the same process is no restart.
    s.handle(Input::Closed);
    s.handle(Input::TimerFired(Timer::ConnectRetry));
    let third = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    assert_eq!(r_bit(&third), Some(false));
}

#[test]
fn end_of_rib_follows_the_initial_updates_for_each_negotiated_family() {
    // (the peer's MP families) -> End-of-RIB families; no MP capability means IPv4 only.
    let cases: [(&[AddressType], &[AddressType]); 4] = [
        (&[], &[V4]),
        (&[V4], &[V4]),
        (&[V6], &[V6]),
        (&[V4, V6], &[V4, V6]),
    ];
    for (families, want) in cases {
        let mut s = Session::new(cfg(Some((120, true))));
        s.handle(Input::SetRoutes(routes(&[
            "198.51.100.10/32",
            "2001:db8:ffff::10/128",
        ])));
        let out = established(&mut s, peer_open(families, Some(router_gr())));
        assert_eq!(eors(&out), want, "{families:?}");
        // The markers come last, after every route of the initial update.
        let msgs = sent(&out);
        let (updates, markers) = msgs.split_at(msgs.len() - want.len());
        assert!(
            markers
                .iter()
                .all(|m| matches!(m, BgpMessage::Update(u) if u.end_of_rib().is_some()))
        );
        assert!(
            updates
                .iter()
                .all(|m| !matches!(m, BgpMessage::Update(u) if u.end_of_rib().is_some()))
        );
        assert_eq!(s.stats().end_of_rib_sent, want.len() as u64);
        // Only once per connection: later changes are plain UPDATEs.
        let later = s.handle(Input::SetRoutes(routes(&["198.51.100.11/32"])));
        assert_eq!(eors(&later), []);
    }
}

#[test]
fn end_of_rib_is_sent_even_with_nothing_to_announce() {
    let mut s = Session::new(cfg(Some((120, false))));
    let out = established(&mut s, peer_open(&[V4, V6], None));
    assert_eq!(eors(&out), [V4, V6]);
    assert_eq!(sent(&out).len(), 2);
}

#[test]
fn the_peers_capability_and_end_of_rib_markers_are_recorded() {
    let mut s = Session::new(cfg(Some((120, true))));
    let peer = GracefulRestartCapability::new(
        true,
        false,
        90,
        [GracefulRestartAddressFamily::new(true, V4)],
    );
    established(&mut s, peer_open(&[V4, V6], Some(peer)));
    assert!(s.graceful_restart_negotiated());
    assert_eq!(
        s.peer_graceful_restart(),
        Some(&PeerGracefulRestart {
            restart_time: Duration::from_secs(90),
            restart_state: true,
            families: vec![(V4, true)],
        })
    );
    let v4_eor = BgpMessage::Update(BgpUpdateMessage::new(vec![], vec![], vec![]));
    let v6_eor = match ironlb_speaker::bgp::route::end_of_rib(V6) {
        Some(m) => m,
        None => panic!("no IPv6 marker"),
    };
    // Built by hand too, to be sure the codec's view and ours agree.
    if let BgpMessage::Update(u) = &v6_eor {
        assert!(matches!(
            u.path_attributes()[0].value(),
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) if nlri.is_empty()
        ));
    }
    for m in [v4_eor, v6_eor] {
        let out = s.handle(Input::Received(m));
        // Not a malformed UPDATE: the session stays, only the hold timer restarts.
        assert_eq!(
            out,
            [Output::ArmTimer(Timer::Hold, Duration::from_secs(90))]
        );
    }
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.end_of_rib_received(), [V4, V6]);
    assert_eq!(s.stats().end_of_rib_received, 2);
    // Forgotten with the connection.
    s.handle(Input::Closed);
    assert_eq!(s.end_of_rib_received(), []);
    assert_eq!(s.peer_graceful_restart(), None);
}

/// What a stop sends: (withdrawal UPDATEs, the NOTIFICATION's codes).
fn stop_sends(out: &[Output]) -> (usize, Option<(u8, u8)>) {
    let msgs = sent(out);
    let withdrawals = msgs
        .iter()
        .filter(|m| matches!(m, BgpMessage::Update(_)))
        .count();
    let cease = msgs.iter().find_map(|m| match m {
        BgpMessage::Notification(n) => Some(notification_codes(n)),
        _ => None,
    });
    (withdrawals, cease)
}

#[derive(Debug, Clone, Copy)]
enum Reached {
    OpenSent,
    OpenConfirm,
    Established,
}

/// The table of stops: which keep the routes at the peer (nothing sent, only Close) and
/// which withdraw them.
#[test]
fn which_stops_keep_the_routes_and_which_withdraw_them() {
    use Reached::*;
    use StopReason::*;
    // (our GR, the peer's GR, state, why) -> (withdrawals, NOTIFICATION)
    let cases = [
        (true, true, Established, Shutdown, (0, None)),
        (true, true, OpenConfirm, Shutdown, (0, None)),
        // The peer's capability is not known yet; it may hold stale routes from the
        // previous process: silent too.
        (true, true, OpenSent, Shutdown, (0, None)),
        (true, true, Established, Deconfigured, (2, Some((6, 3)))),
        (true, false, Established, Shutdown, (2, Some((6, 2)))),
        (true, false, OpenConfirm, Shutdown, (0, Some((6, 2)))),
        (false, true, Established, Shutdown, (2, Some((6, 2)))),
        (false, true, OpenSent, Shutdown, (0, Some((6, 2)))),
        (false, false, Established, Deconfigured, (2, Some((6, 3)))),
    ];
    for (ours, theirs, reached, why, want) in cases {
        let mut s = Session::new(cfg(ours.then_some((120, true))));
        s.handle(Input::SetRoutes(routes(&[
            "198.51.100.10/32",
            "2001:db8:ffff::10/128",
        ])));
        let open = peer_open(&[V4, V6], theirs.then(router_gr));
        match reached {
            OpenSent => {
                s.handle(Input::Start);
                s.handle(Input::Connected {
                    local: LOCAL.parse().unwrap(),
                });
            }
            OpenConfirm => {
                open_confirm(&mut s, open);
            }
            Established => {
                established(&mut s, open);
            }
        }
        let out = s.handle(Input::Stop(why));
        let case = format!("ours {ours} theirs {theirs} {reached:?} {why:?}");
        assert_eq!(stop_sends(&out), want, "{case}: {out:?}");
        assert!(out.contains(&Output::Close), "{case}");
        assert!(out.contains(&Output::Down(DownReason::Stopped)), "{case}");
        assert_eq!(s.state(), State::Idle, "{case}");
        // Stopped means stopped: no retry.
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::ArmTimer(Timer::ConnectRetry, _)))
        );
    }
}

/// Failures we detect still end with their NOTIFICATION, graceful restart or not: the
/// session is broken, not restarting, and the peer must not keep routes on its account.
#[test]
fn errors_still_notify_with_graceful_restart() {
    let inputs = [
        (Input::TimerFired(Timer::Hold), (4, 0)),
        (Input::BfdDown, (6, 10)),
    ];
    for (input, want) in inputs {
        let mut s = Session::new(cfg(Some((120, true))));
        established(&mut s, peer_open(&[V4, V6], Some(router_gr())));
        let out = s.handle(input.clone());
        assert_eq!(stop_sends(&out).1, Some(want), "{input:?}");
    }
}

proptest! {
    /// Whatever the routes and families: the initial update is every carried route, then
    /// exactly one End-of-RIB per negotiated family, last; and a process stop with graceful
    /// restart negotiated sends nothing at all.
    #[test]
    fn initial_update_then_markers_and_a_silent_stop(
        hosts in proptest::collection::btree_set(0u8..40, 0..30),
        v4 in any::<bool>(), v6 in any::<bool>(), restarted in any::<bool>(),
    ) {
        let mut s = Session::new(cfg(Some((120, restarted))));
        let mut want: BTreeSet<Route> = BTreeSet::new();
        for h in &hosts {
            want.insert(Route::new(format!("198.51.100.{h}/32").parse().unwrap(), RouteAttrs::default()));
            want.insert(Route::new(format!("2001:db8:ffff::{h}/128").parse().unwrap(), RouteAttrs::default()));
        }
        s.handle(Input::SetRoutes(want));
        let families: Vec<AddressType> = [(v4, V4), (v6, V6)]
            .into_iter()
            .filter_map(|(on, f)| on.then_some(f))
            .collect();
        let out = established(&mut s, peer_open(&families, Some(router_gr())));
        let expected: Vec<AddressType> = if families.is_empty() { vec![V4] } else { families.clone() };
        prop_assert_eq!(eors(&out), expected.clone());
        let msgs = sent(&out);
        for m in &msgs[..msgs.len() - expected.len()] {
            let is_eor = matches!(m, BgpMessage::Update(u) if u.end_of_rib().is_some());
            prop_assert!(!is_eor);
        }
        let carried = if expected.contains(&V6) { hosts.len() } else { 0 };
        // IPv4 routes need a next hop of that family: this IPv4 session has one.
        let carried = carried + if expected.contains(&V4) { hosts.len() } else { 0 };
        prop_assert_eq!(s.advertised_count(), carried);
        let stop = s.handle(Input::Stop(StopReason::Shutdown));
        prop_assert!(sent(&stop).is_empty(), "{:?}", stop);
        prop_assert!(stop.contains(&Output::Close));
    }
}
