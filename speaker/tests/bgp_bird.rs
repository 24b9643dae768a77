//! Interop with a real BIRD 2 (Debian's `bird2`), each test in namespaces of
//! its own (see `bgp_netns`). Asserts BIRD's view: `show protocols`,
//! `show route all`. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;
use std::time::Duration;

use bgp_netns::{
    Lab, Names, OUR_AS, R4, R6, ROUTER_AS, S4, S4B, S6, T, V4, V6, always, child, eventually, peer,
    route, router, runtime, spec,
};
use ironlb_config::Community;
use ironlb_lab::{BirdBfd, BirdOptions, Neighbor};
use ironlb_speaker::bgp::session::DownReason;
use ironlb_speaker::bgp::{BgpSpeaker, State};

/// BIRD as the router: AS `asn`, `peers`, logging into the lab dir, with the test link's
/// connected routes.
fn bird_conf(names: &Names, asn: u32, peers: Vec<Neighbor>) -> String {
    router(asn, peers).bird(&BirdOptions {
        log: Some(names.dir.join("bird.log").display().to_string()),
        direct_interfaces: Some("ilbt-bgp-*".into()),
        ..BirdOptions::default()
    })
}

/// `n` with a TCP-MD5 password.
fn md5(mut n: Neighbor, password: &str) -> Neighbor {
    n.session.password = Some(password.into());
    n
}

fn established(names: &Names, proto: &str) -> Result<(), String> {
    let out = names.birdc(&format!("show protocols {proto}"));
    if out.contains("Established") {
        Ok(())
    } else {
        Err(out)
    }
}

/// `show route all <prefix>`, when it has the route and every `want` line.
fn route_has(names: &Names, prefix: &str, want: &[&str]) -> Result<String, String> {
    let out = names.birdc(&format!("show route all {prefix}"));
    if out.contains(prefix) && want.iter().all(|w| out.contains(w)) {
        Ok(out)
    } else {
        Err(out)
    }
}

fn route_gone(names: &Names, prefix: &str) -> Result<(), String> {
    let out = names.birdc(&format!("show route {prefix}"));
    if out.contains(prefix) {
        Err(out)
    } else {
        Ok(())
    }
}

#[test]
fn bird_ebgp_ipv4_and_ipv6_announce_withdraw_and_cease() {
    const TAG: &str = "be";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        speaker.set_peers(vec![spec(R4, S4, ROUTER_AS), spec(R6, S6, ROUTER_AS)]);
        speaker.set_routes(BTreeSet::from([
            route(
                V4,
                &[
                    Community::Standard((65000 << 16) | 1),
                    Community::Large(64512, 1, 2),
                ],
                Some(300),
            ),
            route(V6, &[Community::Standard((65000 << 16) | 6)], None),
        ]));
        eventually(T, || established(&names, "ironlb4"));
        eventually(T, || established(&names, "ironlb6"));
        let v4 = eventually(T, || {
            route_has(
                &names,
                V4,
                &[
                    "via 192.0.2.2",
                    "BGP.as_path: 64512",
                    "BGP.origin: IGP",
                    "BGP.community: (65000,1)",
                    "BGP.large_community: (64512, 1, 2)",
                ],
            )
        });
        // eBGP: our LOCAL_PREF is not sent; BIRD shows its default 100.
        assert!(!v4.contains("BGP.local_pref: 300"), "{v4}");
        // The IPv4 session has no IPv6 next hop, so the /128 comes from ironlb6 only.
        let v6 = eventually(T, || {
            route_has(
                &names,
                V6,
                &["via 2001:db8:1::2", "ironlb6", "BGP.community: (65000,6)"],
            )
        });
        assert!(!v6.contains("ironlb4"), "{v6}");
        let status = speaker.status();
        assert_eq!(status.len(), 2);
        for s in &status {
            assert_eq!(s.state, State::Established, "{s:?}");
            assert_eq!(s.prefixes_announced, 1, "{s:?}");
        }
        // The Service is gone: its route is withdrawn, the other stays.
        speaker.set_routes(BTreeSet::from([route(V6, &[], None)]));
        eventually(T, || route_gone(&names, V4));
        eventually(T, || route_has(&names, V6, &["via 2001:db8:1::2"]));
        // Shutdown: withdraw, then Cease.
        rt.block_on(speaker.shutdown());
        eventually(T, || route_gone(&names, V6));
        eventually(T, || {
            let out = names.birdc("show protocols all ironlb6");
            if out.contains("Administrative shutdown") && !out.contains("Established") {
                Ok(())
            } else {
                Err(out)
            }
        });
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&bird_conf(
        &lab.names,
        ROUTER_AS,
        vec![peer("ironlb4", R4, S4), peer("ironlb6", R6, S6)],
    ));
    lab.run_child("bird_ebgp_ipv4_and_ipv6_announce_withdraw_and_cease");
}

#[test]
fn bird_ibgp_gets_local_pref_and_an_empty_as_path() {
    const TAG: &str = "bi";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        speaker.set_peers(vec![spec(R4, S4, OUR_AS), spec(R6, S6, OUR_AS)]);
        speaker.set_routes(BTreeSet::from([
            route(V4, &[Community::Standard((65000 << 16) | 1)], Some(300)),
            route(V6, &[], Some(250)),
        ]));
        eventually(T, || established(&names, "ibgp4"));
        eventually(T, || established(&names, "ibgp6"));
        let v4 = eventually(T, || {
            route_has(
                &names,
                V4,
                &[
                    "BGP.local_pref: 300",
                    "BGP.next_hop: 192.0.2.2",
                    "BGP.community: (65000,1)",
                ],
            )
        });
        assert!(
            v4.contains("BGP.as_path: \n") || v4.contains("BGP.as_path:\n"),
            "{v4}"
        );
        eventually(T, || {
            route_has(
                &names,
                V6,
                &["BGP.local_pref: 250", "BGP.next_hop: 2001:db8:1::2"],
            )
        });
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&bird_conf(
        &lab.names,
        OUR_AS,
        vec![peer("ibgp4", R4, S4), peer("ibgp6", R6, S6)],
    ));
    lab.run_child("bird_ibgp_gets_local_pref_and_an_empty_as_path");
}

#[test]
fn bird_md5_right_password_establishes_and_wrong_one_does_not() {
    const TAG: &str = "bm";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let mut good = spec(R4, S4, ROUTER_AS);
        good.password = Some("s3cret-pw".into());
        let mut bad = spec(R4, S4B, ROUTER_AS);
        bad.password = Some("wrong-pw".into());
        speaker.set_peers(vec![good, bad]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], None)]));
        eventually(T, || established(&names, "md5good"));
        eventually(T, || route_has(&names, V4, &["via 192.0.2.2"]));
        always(Duration::from_secs(6), || {
            established(&names, "md5bad").map_or(Ok(()), |()| Err("md5bad established".into()))
        });
        let status = speaker.status();
        let bad = status
            .iter()
            .find(|s| s.key.source == Some(S4B.parse().unwrap()))
            .unwrap();
        assert_ne!(bad.state, State::Established, "{bad:?}");
        let good = status
            .iter()
            .find(|s| s.key.source == Some(S4.parse().unwrap()))
            .unwrap();
        assert_eq!(good.state, State::Established, "{good:?}");
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&bird_conf(
        &lab.names,
        ROUTER_AS,
        vec![
            md5(peer("md5good", R4, S4), "s3cret-pw"),
            md5(peer("md5bad", R4, S4B), "s3cret-pw"),
        ],
    ));
    lab.run_child("bird_md5_right_password_establishes_and_wrong_one_does_not");
}

#[test]
fn bird_restart_ends_in_a_reestablished_session_and_full_table() {
    const TAG: &str = "br";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        speaker.set_peers(vec![spec(R4, S4, ROUTER_AS), spec(R6, S6, ROUTER_AS)]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], None), route(V6, &[], None)]));
        eventually(T, || route_has(&names, V4, &["via 192.0.2.2"]));
        eventually(T, || route_has(&names, V6, &["via 2001:db8:1::2"]));
        let conf = std::fs::read_to_string(names.dir.join("bird.conf")).unwrap();
        names.stop_bird();
        eventually(T, || {
            let st = speaker.status();
            if st.iter().all(|s| s.state != State::Established) {
                Ok(())
            } else {
                Err(format!("{st:?}"))
            }
        });
        names.start_bird(&conf);
        eventually(T, || established(&names, "ironlb4"));
        eventually(T, || established(&names, "ironlb6"));
        eventually(T, || route_has(&names, V4, &["via 192.0.2.2"]));
        eventually(T, || route_has(&names, V6, &["via 2001:db8:1::2"]));
        assert!(
            speaker
                .status()
                .iter()
                .all(|s| s.stats.established_count == 2)
        );
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&bird_conf(
        &lab.names,
        ROUTER_AS,
        vec![peer("ironlb4", R4, S4), peer("ironlb6", R6, S6)],
    ));
    lab.run_child("bird_restart_ends_in_a_reestablished_session_and_full_table");
}

#[test]
fn bird_gone_silent_is_dropped_at_hold_expiry() {
    const TAG: &str = "bh";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let mut s = spec(R4, S4, ROUTER_AS);
        s.hold_time = Duration::from_secs(3);
        s.keepalive_time = Duration::from_secs(1);
        speaker.set_peers(vec![s]);
        eventually(T, || established(&names, "ironlb4"));
        eventually(T, || {
            let st = speaker.status();
            (st[0].state == State::Established)
                .then_some(())
                .ok_or(format!("{st:?}"))
        });
        // Freeze BIRD: the TCP connection stays up but nothing more arrives.
        names.kill_pidfile("bird.pid", "STOP");
        let started = std::time::Instant::now();
        eventually(Duration::from_secs(10), || {
            let st = speaker.status();
            (st[0].stats.last_down == Some(DownReason::NotificationSent(4, 0)))
                .then_some(())
                .ok_or(format!("{st:?}"))
        });
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2),
            "dropped after {took:?}, before the hold time"
        );
        names.kill_pidfile("bird.pid", "CONT");
        // BIRD reads our Hold Timer Expired, then (error wait time 1 s) takes us back.
        eventually(T, || {
            let out = names.birdc("show protocols all ironlb4");
            if out.contains("Received: Hold timer expired") {
                Ok(())
            } else {
                Err(out)
            }
        });
        eventually(T, || established(&names, "ironlb4"));
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&bird_conf(
        &lab.names,
        ROUTER_AS,
        vec![{
            let mut p = peer("ironlb4", R4, S4);
            p.session.error_wait = Some((1, 5));
            p
        }],
    ));
    lab.run_child("bird_gone_silent_is_dropped_at_hold_expiry");
}

/// BFD with BIRD's `protocol bfd` and `bfd on` in its BGP protocol: our session
/// comes Up at 100 ms × 3, and when the path dies (our namespace drops every
/// packet, the carrier stays), BIRD drops the BGP session
/// within a few detection times (the target, ~1 s, is for benches, not tests).
#[test]
fn bird_bfd_comes_up_and_path_loss_drops_bgp_fast() {
    const TAG: &str = "bf";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let mut s = spec(R4, S4, ROUTER_AS);
        s.bfd = Some(ironlb_speaker::bfd::BfdConfig {
            desired_min_tx: Duration::from_millis(100),
            required_min_rx: Duration::from_millis(100),
            detect_mult: 3,
            ..ironlb_speaker::bfd::BfdConfig::default()
        });
        speaker.set_peers(vec![s]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], None)]));
        eventually(T, || established(&names, "ironlb4"));
        eventually(T, || {
            let out = names.birdc("show bfd sessions");
            if out.contains(S4) && out.contains("Up") {
                Ok(out)
            } else {
                Err(out)
            }
        });
        eventually(T, || route_has(&names, V4, &["via 192.0.2.2"]));
        // The path dies without the carrier going (which BIRD would see by
        // itself, "Link down"): every packet of this namespace is dropped.
        let start = std::time::Instant::now();
        bgp_netns::run(&[
            "nft",
            "add table inet ilbt_bfd; add chain inet ilbt_bfd in { type filter hook input priority 0; policy drop; }; add chain inet ilbt_bfd out { type filter hook output priority 0; policy drop; }",
        ]);
        eventually(Duration::from_secs(10), || {
            established(&names, "ironlb4").map_or(Ok(()), |()| Err("still Established".into()))
        });
        let took = start.elapsed();
        println!(
            "BIRD dropped the session after {took:?}: {}",
            names.birdc("show protocols all ironlb4")
        );
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let why = names.birdc("show protocols all ironlb4");
        assert!(why.contains("BFD session down"), "{why}");
        eventually(T, || route_gone(&names, V4));
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    let mut ours = peer("ironlb4", R4, S4);
    ours.session.bfd = true;
    lab.names
        .start_bird(&router(ROUTER_AS, vec![ours]).bird(&BirdOptions {
            log: Some(lab.names.dir.join("bird.log").display().to_string()),
            direct_interfaces: Some("ilbt-bgp-*".into()),
            bfd: Some(BirdBfd {
                interfaces: "ilbt-bgp-*".into(),
                interval_ms: 100,
                multiplier: 3,
                neighbors: vec![S4.parse().expect("address")],
            }),
            ..BirdOptions::default()
        }));
    lab.run_child("bird_bfd_comes_up_and_path_loss_drops_bgp_fast");
}
