//! The BGP session state machine as a specification: scripted inputs,
//! asserted outputs. No sockets, no clock.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use ironlb_config::Community;
use ironlb_speaker::bgp::message::{Framer, encode, notification_codes};
use ironlb_speaker::bgp::session::{
    DownReason, Input, Output, Session, SessionConfig, State, StopReason, Timer,
};
use ironlb_speaker::bgp::{Route, RouteAttrs};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute::{AsPath, MpReach, MpUnreach, PathAttributeValue};
use netgauze_iana::address_family::AddressType;

const LOCAL: &str = "192.0.2.2";

fn cfg(local_asn: u32, peer_asn: u32) -> SessionConfig {
    SessionConfig {
        local_asn,
        peer_asn,
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

fn peer_open(asn: u32, hold: u16, families: &[AddressType]) -> BgpMessage {
    let mut caps: Vec<BgpCapability> = families
        .iter()
        .map(|f| BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(*f)))
        .collect();
    caps.push(BgpCapability::FourOctetAs(FourOctetAsCapability::new(asn)));
    BgpMessage::Open(BgpOpenMessage::new(
        u16::try_from(asn).unwrap_or(23456),
        hold,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![BgpOpenMessageParameter::new_capabilities(caps)],
    ))
}

const BOTH: [AddressType; 2] = [AddressType::Ipv4Unicast, AddressType::Ipv6Unicast];

fn route(p: &str, communities: &[Community], local_pref: Option<u32>) -> Route {
    Route::new(
        p.parse().unwrap(),
        RouteAttrs {
            communities: communities.iter().copied().collect(),
            local_pref,
        },
    )
}

fn established(s: &mut Session, local: &str) -> Vec<Output> {
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: local.parse().unwrap(),
    });
    let peer_asn = s.config().peer_asn;
    s.handle(Input::Received(peer_open(peer_asn, 90, &BOTH)));
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(s.state(), State::Established);
    out
}

fn sent(out: &[Output]) -> Vec<&BgpMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Announced and withdrawn prefixes of the UPDATEs in `out`.
fn nlri(out: &[Output]) -> (BTreeSet<IpNet>, BTreeSet<IpNet>) {
    let mut ann = BTreeSet::new();
    let mut wd = BTreeSet::new();
    for m in sent(out) {
        let BgpMessage::Update(u) = m else { continue };
        ann.extend(u.nlri().iter().map(|n| IpNet::V4(n.network().address())));
        wd.extend(
            u.withdraw_routes()
                .iter()
                .map(|n| IpNet::V4(n.network().address())),
        );
        for a in u.path_attributes() {
            match a.value() {
                PathAttributeValue::MpReach(MpReach::Ipv6Unicast { nlri, .. }) => {
                    ann.extend(nlri.iter().map(|n| IpNet::V6(n.network().address())))
                }
                PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => {
                    wd.extend(nlri.iter().map(|n| IpNet::V6(n.network().address())))
                }
                _ => {}
            }
        }
    }
    (ann, wd)
}

fn set(ps: &[&str]) -> BTreeSet<IpNet> {
    ps.iter().map(|p| p.parse().unwrap()).collect()
}

fn notification_sent(out: &[Output]) -> Option<(u8, u8)> {
    sent(out).into_iter().find_map(|m| match m {
        BgpMessage::Notification(n) => Some(notification_codes(n)),
        _ => None,
    })
}

#[test]
fn start_connects() {
    let mut s = Session::new(cfg(64512, 64500));
    assert_eq!(s.handle(Input::Start), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn connected_sends_open_and_goes_to_open_sent() {
    let mut s = Session::new(cfg(4_200_000_000, 64500));
    s.handle(Input::Start);
    let out = s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    assert_eq!(s.state(), State::OpenSent);
    let BgpMessage::Open(open) = sent(&out)[0] else {
        panic!("no OPEN in {out:?}")
    };
    assert_eq!(open.my_as(), 23456, "AS_TRANS for a 4-byte AS");
    assert_eq!(open.my_asn4(), 4_200_000_000);
    assert_eq!(open.hold_time(), 90);
    assert_eq!(open.bgp_id(), Ipv4Addr::new(192, 0, 2, 2));
    let caps = open.capabilities();
    for f in BOTH {
        assert!(caps.contains(&&BgpCapability::MultiProtocolExtensions(
            MultiProtocolExtensionsCapability::new(f)
        )));
    }
    assert!(out.contains(&Output::ArmTimer(Timer::Hold, Duration::from_secs(240))));
}

#[test]
fn connect_failure_retries_with_doubling_backoff_up_to_the_maximum() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let out = s.handle(Input::ConnectFailed);
        for o in &out {
            if let Output::ArmTimer(Timer::ConnectRetry, d) = o {
                delays.push(d.as_secs());
            }
        }
        assert_eq!(
            s.handle(Input::TimerFired(Timer::ConnectRetry)),
            vec![Output::Connect]
        );
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 8, 8]);
}

#[test]
fn valid_open_sends_keepalive_and_negotiates_the_smaller_hold_time() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(peer_open(64500, 9, &BOTH)));
    assert_eq!(s.state(), State::OpenConfirm);
    assert_eq!(sent(&out), vec![&BgpMessage::KeepAlive]);
    assert!(out.contains(&Output::ArmTimer(Timer::Hold, Duration::from_secs(9))));
    assert!(out.contains(&Output::ArmTimer(Timer::Keepalive, Duration::from_secs(3))));
}

#[test]
fn open_from_the_wrong_as_is_refused_with_bad_peer_as() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(peer_open(64999, 90, &BOTH)));
    assert_eq!(notification_sent(&out), Some((2, 2)));
    assert!(out.contains(&Output::Close));
    assert!(out.contains(&Output::Down(DownReason::NotificationSent(2, 2))));
    assert!(out.contains(&Output::ArmTimer(
        Timer::ConnectRetry,
        Duration::from_secs(1)
    )));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn hold_time_of_two_seconds_is_unacceptable() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(peer_open(64500, 2, &BOTH)));
    assert_eq!(notification_sent(&out), Some((2, 6)));
}

#[test]
fn ibgp_peer_with_our_router_id_is_refused() {
    let mut c = cfg(64512, 64512);
    c.router_id = Ipv4Addr::new(192, 0, 2, 1);
    let mut s = Session::new(c);
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(peer_open(64512, 90, &BOTH)));
    assert_eq!(notification_sent(&out), Some((2, 3)));
}

#[test]
fn keepalive_in_open_confirm_establishes_and_announces_the_routes() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("2001:db8::10/128", &[], None),
        ]
        .into(),
    ));
    // No routes before Established.
    assert!(nlri(&s.handle(Input::Start)).0.is_empty());
    let out = established(&mut s, LOCAL);
    assert!(out.contains(&Output::Established));
    // IPv6 needs a global next hop: an IPv4 session without one sends IPv4 only.
    assert_eq!(nlri(&out).0, set(&["198.51.100.10/32"]));
    assert_eq!(s.advertised_count(), 1);
}

#[test]
fn ebgp_update_carries_origin_as_path_next_hop_and_communities_but_no_local_pref() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [route(
            "198.51.100.10/32",
            &[
                Community::Standard(0xfde8_0001),
                Community::Large(64512, 1, 2),
            ],
            Some(300),
        )]
        .into(),
    ));
    let out = established(&mut s, LOCAL);
    let BgpMessage::Update(u) = sent(&out)
        .into_iter()
        .find(|m| matches!(m, BgpMessage::Update(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let mut kinds = Vec::new();
    for a in u.path_attributes() {
        match a.value() {
            PathAttributeValue::Origin(o) => kinds.push(format!("origin {o:?}")),
            PathAttributeValue::AsPath(p) => {
                kinds.push(format!("as_path {:?}", Vec::<u32>::from(p.clone())))
            }
            PathAttributeValue::NextHop(n) => kinds.push(format!("next_hop {}", n.next_hop())),
            PathAttributeValue::LocalPreference(_) => kinds.push("local_pref".into()),
            PathAttributeValue::Communities(c) => {
                kinds.push(format!("communities {}", c.communities().len()))
            }
            PathAttributeValue::LargeCommunities(c) => {
                kinds.push(format!("large {}", c.communities().len()))
            }
            other => kinds.push(format!("{other:?}")),
        }
    }
    assert_eq!(
        kinds,
        vec![
            "origin IGP",
            "as_path [64512]",
            "communities 1",
            "large 1",
            "next_hop 192.0.2.2"
        ]
    );
    // And it survives the wire.
    let mut f = Framer::new();
    f.extend(&encode(&peer_open(64500, 90, &BOTH)).unwrap());
    f.next_message().unwrap();
    f.extend(&encode(&BgpMessage::Update(u.clone())).unwrap());
    assert_eq!(
        f.next_message().unwrap(),
        Some(BgpMessage::Update(u.clone()))
    );
}

#[test]
fn ibgp_update_has_an_empty_as_path_and_local_pref() {
    let mut s = Session::new(cfg(64512, 64512));
    s.handle(Input::SetRoutes(
        [route("198.51.100.10/32", &[], Some(300))].into(),
    ));
    let out = established(&mut s, LOCAL);
    let BgpMessage::Update(u) = sent(&out)
        .into_iter()
        .find(|m| matches!(m, BgpMessage::Update(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let mut saw_pref = false;
    for a in u.path_attributes() {
        match a.value() {
            PathAttributeValue::AsPath(AsPath::As4PathSegments(segs)) => assert!(segs.is_empty()),
            PathAttributeValue::LocalPreference(p) => {
                assert_eq!(p.metric(), 300);
                saw_pref = true;
            }
            _ => {}
        }
    }
    assert!(saw_pref);
}

#[test]
fn ipv6_session_announces_ipv6_in_mp_reach_with_the_local_global_address() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("2001:db8::10/128", &[], None),
        ]
        .into(),
    ));
    let out = established(&mut s, "2001:db8:1::2");
    assert_eq!(nlri(&out).0, set(&["2001:db8::10/128"]));
    let hop = sent(&out).into_iter().find_map(|m| match m {
        BgpMessage::Update(u) => u.path_attributes().iter().find_map(|a| match a.value() {
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global, ..
            }) => Some(*next_hop_global),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(hop, Some("2001:db8:1::2".parse().unwrap()));
}

#[test]
fn configured_next_hops_let_one_session_carry_both_families() {
    let mut c = cfg(64512, 64500);
    c.next_hop_v6 = Some("2001:db8:1::2".parse().unwrap());
    let mut s = Session::new(c);
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("2001:db8::10/128", &[], None),
        ]
        .into(),
    ));
    let out = established(&mut s, LOCAL);
    assert_eq!(nlri(&out).0, set(&["198.51.100.10/32", "2001:db8::10/128"]));
}

#[test]
fn set_routes_while_established_sends_only_the_difference() {
    let mut c = cfg(64512, 64500);
    c.next_hop_v6 = Some("2001:db8:1::2".parse().unwrap());
    let mut s = Session::new(c);
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("2001:db8::10/128", &[], None),
        ]
        .into(),
    ));
    established(&mut s, LOCAL);
    let out = s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("198.51.100.11/32", &[], None),
        ]
        .into(),
    ));
    assert_eq!(
        nlri(&out),
        (set(&["198.51.100.11/32"]), set(&["2001:db8::10/128"]))
    );
    // Same set again: nothing to say.
    let out = s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("198.51.100.11/32", &[], None),
        ]
        .into(),
    ));
    assert!(sent(&out).is_empty());
    // Changed attributes: re-announced, not withdrawn.
    let out = s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[Community::Standard(1)], None),
            route("198.51.100.11/32", &[], None),
        ]
        .into(),
    ));
    assert_eq!(nlri(&out), (set(&["198.51.100.10/32"]), set(&[])));
}

#[test]
fn ten_thousand_prefixes_pack_into_messages_under_4096_bytes() {
    let mut s = Session::new(cfg(64512, 64500));
    let routes: BTreeSet<Route> = (0..10_000u32)
        .map(|i| Route::host(IpAddr::V4(Ipv4Addr::from(0xc633_0000 + i)))) // 198.51.0.0 + i
        .collect();
    s.handle(Input::SetRoutes(routes));
    let out = established(&mut s, LOCAL);
    let msgs = sent(&out);
    assert!(msgs.len() < 20, "{} messages", msgs.len());
    for m in &msgs {
        assert!(encode(m).unwrap().len() <= 4096);
    }
    assert_eq!(nlri(&out).0.len(), 10_000);
}

#[test]
fn bfd_down_tears_the_session_down_at_once_and_retries() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [route("198.51.100.10/32", &[], None)].into(),
    ));
    established(&mut s, LOCAL);
    let out = s.handle(Input::BfdDown);
    // Cease / BFD Down (RFC 9384), in case the peer can still hear us.
    assert_eq!(notification_sent(&out), Some((6, 10)));
    assert!(out.contains(&Output::Close));
    assert!(out.contains(&Output::ArmTimer(
        Timer::ConnectRetry,
        Duration::from_secs(1)
    )));
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.advertised_count(), 0);
    // Not connected: nothing to tear down.
    assert!(s.handle(Input::BfdDown).is_empty());
}

#[test]
fn silent_peer_is_dropped_at_hold_expiry() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [route("198.51.100.10/32", &[], None)].into(),
    ));
    established(&mut s, LOCAL);
    let out = s.handle(Input::TimerFired(Timer::Hold));
    assert_eq!(notification_sent(&out), Some((4, 0)));
    assert!(out.contains(&Output::Close));
    assert!(out.contains(&Output::ArmTimer(
        Timer::ConnectRetry,
        Duration::from_secs(1)
    )));
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.advertised_count(), 0);
}

#[test]
fn every_message_in_established_restarts_the_hold_timer() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(
        out,
        vec![Output::ArmTimer(Timer::Hold, Duration::from_secs(90))]
    );
}

#[test]
fn keepalive_timer_sends_a_keepalive_and_rearms() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let out = s.handle(Input::TimerFired(Timer::Keepalive));
    assert_eq!(
        out,
        vec![
            Output::Send(BgpMessage::KeepAlive),
            Output::ArmTimer(Timer::Keepalive, Duration::from_secs(30))
        ]
    );
}

#[test]
fn zero_hold_time_means_no_keepalives_and_no_hold_timer() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(peer_open(64500, 0, &BOTH)));
    assert!(out.contains(&Output::CancelTimer(Timer::Hold)));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::ArmTimer(Timer::Keepalive | Timer::Hold, _)))
    );
}

#[test]
fn notification_from_the_peer_closes_without_an_answer_and_retries() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let n = ironlb_speaker::bgp::message::cease_admin_shutdown();
    let out = s.handle(Input::Received(BgpMessage::Notification(n)));
    assert!(sent(&out).is_empty());
    assert!(out.contains(&Output::Close));
    assert!(out.contains(&Output::Down(DownReason::NotificationReceived(6, 2))));
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.stats().notifications_received, 1);
}

#[test]
fn decode_error_sends_its_notification() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let mut f = Framer::new();
    f.extend(&[0u8; 19]);
    let e = f.next_message().unwrap_err();
    let out = s.handle(Input::DecodeError(e));
    assert_eq!(notification_sent(&out), Some((1, 1)));
    assert!(out.contains(&Output::Close));
}

#[test]
fn open_in_established_is_a_finite_state_machine_error() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let out = s.handle(Input::Received(peer_open(64500, 90, &BOTH)));
    assert_eq!(notification_sent(&out), Some((5, 3)));
}

#[test]
fn update_in_open_sent_is_a_finite_state_machine_error() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(notification_sent(&out), Some((5, 1)));
}

#[test]
fn stop_withdraws_everything_then_sends_cease_and_stays_idle() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [route("198.51.100.10/32", &[], None)].into(),
    ));
    established(&mut s, LOCAL);
    let out = s.handle(Input::Stop(StopReason::Shutdown));
    let msgs = sent(&out);
    assert_eq!(nlri(&out).1, set(&["198.51.100.10/32"]));
    assert!(matches!(msgs[0], BgpMessage::Update(_)), "withdraw first");
    assert_eq!(notification_sent(&out), Some((6, 2)));
    let close = out.iter().position(|o| *o == Output::Close).unwrap();
    let cease = out
        .iter()
        .position(|o| matches!(o, Output::Send(BgpMessage::Notification(_))))
        .unwrap();
    assert!(cease < close);
    assert!(out.contains(&Output::CancelTimer(Timer::ConnectRetry)));
    assert_eq!(s.state(), State::Idle);
    assert!(s.handle(Input::TimerFired(Timer::ConnectRetry)).is_empty());
}

#[test]
fn removed_peer_gets_cease_peer_deconfigured() {
    let mut s = Session::new(cfg(64512, 64500));
    established(&mut s, LOCAL);
    let out = s.handle(Input::Stop(StopReason::Deconfigured));
    assert_eq!(notification_sent(&out), Some((6, 3)));
}

#[test]
fn after_the_peer_restarts_everything_is_announced_again() {
    let mut s = Session::new(cfg(64512, 64500));
    s.handle(Input::SetRoutes(
        [route("198.51.100.10/32", &[], None)].into(),
    ));
    established(&mut s, LOCAL);
    let out = s.handle(Input::Closed);
    assert!(out.contains(&Output::Down(DownReason::PeerClosed)));
    assert_eq!(s.advertised_count(), 0);
    assert_eq!(
        s.handle(Input::TimerFired(Timer::ConnectRetry)),
        vec![Output::Connect]
    );
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    s.handle(Input::Received(peer_open(64500, 90, &BOTH)));
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(nlri(&out).0, set(&["198.51.100.10/32"]));
    assert_eq!(s.stats().established_count, 2);
}

#[test]
fn peer_without_mp_capabilities_gets_ipv4_only() {
    let mut c = cfg(64512, 64500);
    c.next_hop_v6 = Some("2001:db8:1::2".parse().unwrap());
    let mut s = Session::new(c);
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.10/32", &[], None),
            route("2001:db8::10/128", &[], None),
        ]
        .into(),
    ));
    s.handle(Input::Start);
    s.handle(Input::Connected {
        local: LOCAL.parse().unwrap(),
    });
    s.handle(Input::Received(peer_open(64500, 90, &[])));
    let out = s.handle(Input::Received(BgpMessage::KeepAlive));
    assert_eq!(nlri(&out).0, set(&["198.51.100.10/32"]));
}

#[test]
fn host_bits_are_cleared_and_duplicate_prefixes_merge() {
    let mut s = Session::new(cfg(64512, 64512));
    s.handle(Input::SetRoutes(
        [
            route("198.51.100.17/28", &[Community::Standard(1)], Some(100)),
            route("198.51.100.16/28", &[Community::Standard(2)], Some(200)),
        ]
        .into(),
    ));
    let out = established(&mut s, LOCAL);
    assert_eq!(nlri(&out).0, set(&["198.51.100.16/28"]));
    let BgpMessage::Update(u) = sent(&out)
        .into_iter()
        .find(|m| matches!(m, BgpMessage::Update(_)))
        .unwrap()
    else {
        unreachable!()
    };
    for a in u.path_attributes() {
        match a.value() {
            PathAttributeValue::Communities(c) => assert_eq!(c.communities().len(), 2),
            PathAttributeValue::LocalPreference(p) => assert_eq!(p.metric(), 200),
            _ => {}
        }
    }
}
