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
                passive: false,
            }),
            ..BirdOptions::default()
        }));
    lab.run_child("bird_bfd_comes_up_and_path_loss_drops_bgp_fast");
}

/// A second IPv4 host route, announced by the first speaker only.
const V4B: &str = "198.51.100.11/32";

/// Our sessions to BIRD's `ironlb4` and `ironlb6` with graceful restart (`restart_time`) or
/// without, announcing [`V4`] and [`V6`] and `more`, in a runtime of their own: shutting
/// that runtime down drops every task and socket at once, as the kernel does for a killed
/// process (no withdrawal, no NOTIFICATION; FIN or RST).
fn gr_speaker(
    restart_time: Option<Duration>,
    more: &[&str],
) -> (tokio::runtime::Runtime, BgpSpeaker) {
    let rt = runtime();
    let mut speaker = BgpSpeaker::new();
    {
        let _g = rt.enter();
        let peers = [spec(R4, S4, ROUTER_AS), spec(R6, S6, ROUTER_AS)].map(|mut s| {
            s.graceful_restart = restart_time;
            s
        });
        let mut routes = BTreeSet::from([route(V4, &[], None), route(V6, &[], None)]);
        routes.extend(more.iter().map(|p| route(p, &[], None)));
        speaker.set_routes(routes);
        speaker.set_peers(peers.to_vec());
    }
    (rt, speaker)
}

/// A kill -9 of the speaker process, as far as the router can tell.
fn kill(rt: tokio::runtime::Runtime, speaker: BgpSpeaker) {
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(speaker);
}

fn both_routes_up(names: &Names) {
    eventually(T, || established(names, "ironlb4"));
    eventually(T, || established(names, "ironlb6"));
    eventually(T, || route_has(names, V4, &["via 192.0.2.2"]));
    eventually(T, || route_has(names, V6, &["via 2001:db8:1::2"]));
}

/// BIRD holds our routes as stale: the session is down and graceful restart is active.
fn gr_active(names: &Names, proto: &str) -> Result<String, String> {
    let out = names.birdc(&format!("show protocols all {proto}"));
    if out.contains("Neighbor graceful restart active") && !out.contains("Established") {
        Ok(out)
    } else {
        Err(out)
    }
}

fn gr_done(names: &Names, proto: &str) -> Result<String, String> {
    let out = names.birdc(&format!("show protocols all {proto}"));
    if out.contains("Established") && !out.contains("graceful restart active") {
        Ok(out)
    } else {
        Err(out)
    }
}

fn gr_bird_conf(names: &Names) -> String {
    let mut p4 = peer("ironlb4", R4, S4);
    let mut p6 = peer("ironlb6", R6, S6);
    p4.session.graceful_restart = true;
    p6.session.graceful_restart = true;
    p4.session.error_wait = Some((1, 5));
    p6.session.error_wait = Some((1, 5));
    router(ROUTER_AS, vec![p4, p6]).bird(&BirdOptions {
        log: Some(names.dir.join("bird.log").display().to_string()),
        direct_interfaces: Some("ilbt-bgp-*".into()),
        ..BirdOptions::default()
    })
}

/// Graceful restart with BIRD as the receiving speaker: a killed speaker's routes stay
/// (stale) until a new one reconnects and sends End-of-RIB; a stopping one (SIGTERM) leaves
/// them too, until the restart time runs out; a de-configured peer withdraws at once.
#[test]
fn bird_graceful_restart_keeps_routes_across_a_killed_speaker() {
    const TAG: &str = "gr";
    const RESTART: Duration = Duration::from_secs(10);
    if let Some(names) = child(TAG) {
        // 1. A speaker with graceful restart announces; BIRD sees the capability.
        let (rt, speaker) = gr_speaker(Some(RESTART), &[V4B]);
        both_routes_up(&names);
        eventually(T, || route_has(&names, V4B, &["via 192.0.2.2"]));
        let caps = names.birdc("show protocols all ironlb4");
        println!("BIRD, speaker up:\n{caps}");
        assert!(caps.contains("Graceful restart"), "{caps}");
        assert!(caps.contains("Restart time: 10"), "{caps}");
        // The R bit (a fresh process) and the F bit for both families.
        assert!(caps.contains("Restart recovery"), "{caps}");
        assert!(caps.contains("AF preserved: ipv4 ipv6"), "{caps}");
        eventually(T, || {
            let st = speaker.status();
            st.iter()
                .all(|s| s.graceful_restart && s.stats.end_of_rib_sent == 2)
                .then_some(())
                .ok_or(format!("{st:?}"))
        });
        // 2. Killed: no NOTIFICATION, the routes stay, stale.
        let killed = std::time::Instant::now();
        kill(rt, speaker);
        let active = eventually(T, || gr_active(&names, "ironlb4"));
        println!("BIRD, speaker killed:\n{active}");
        eventually(T, || gr_active(&names, "ironlb6"));
        // BIRD 2.0 shows no per-route stale flag: the routes are stale while the
        // protocol shows "Neighbor graceful restart active" and its restart timer.
        println!(
            "BIRD's routes while the speaker is away:\n{}{}",
            names.birdc(&format!("show route all {V4}")),
            names.birdc(&format!("show route all {V6}")),
        );
        always(Duration::from_secs(3), || {
            route_has(&names, V4, &["via 192.0.2.2"])?;
            route_has(&names, V6, &["via 2001:db8:1::2"]).map(|_| ())
        });
        // 3. A new process reconnects, sends its routes and End-of-RIB: the restart ends,
        // and the stale route it no longer announces goes with the End-of-RIB, long
        // before the restart time.
        let (rt, speaker) = gr_speaker(Some(RESTART), &[]);
        eventually(T, || gr_done(&names, "ironlb4"));
        eventually(T, || gr_done(&names, "ironlb6"));
        let recovered = killed.elapsed();
        println!(
            "route kept for {recovered:?} across the kill, until the new speaker's End-of-RIB"
        );
        both_routes_up(&names);
        route_gone(&names, V4B).unwrap_or_else(|e| panic!("stale {V4B} outlived End-of-RIB: {e}"));
        assert!(recovered < RESTART, "{recovered:?}");
        println!(
            "BIRD's routes after the restart:\n{}",
            names.birdc(&format!("show route all {V4}"))
        );
        // 4. SIGTERM (a rollout): no withdrawal, no Cease; the routes stay for the restart
        // time, then BIRD drops them.
        rt.block_on(speaker.shutdown());
        let stopped = std::time::Instant::now();
        eventually(T, || gr_active(&names, "ironlb4"));
        eventually(Duration::from_secs(30), || route_gone(&names, V4));
        let kept = stopped.elapsed();
        eventually(T, || route_gone(&names, V6));
        println!("route kept for {kept:?} after a graceful stop (restart time {RESTART:?})");
        assert!(
            kept >= RESTART - Duration::from_secs(1) && kept < RESTART + Duration::from_secs(5),
            "kept {kept:?}"
        );
        let after = names.birdc("show protocols all ironlb4");
        assert!(!after.contains("Administrative shutdown"), "{after}");
        // 5. Peer de-configured: withdrawn at once, Cease / Peer De-configured.
        let (rt, mut speaker) = gr_speaker(Some(RESTART), &[]);
        both_routes_up(&names);
        {
            let _g = rt.enter();
            speaker.set_peers(vec![]);
        }
        let start = std::time::Instant::now();
        eventually(T, || route_gone(&names, V4));
        println!(
            "route gone {:?} after the peer was de-configured",
            start.elapsed()
        );
        let out = eventually(T, || {
            let out = names.birdc("show protocols all ironlb4");
            (out.contains("Peer de-configured") && !out.contains("graceful restart active"))
                .then_some(out.clone())
                .ok_or(out)
        });
        println!("{out}");
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&gr_bird_conf(&lab.names));
    lab.run_child("bird_graceful_restart_keeps_routes_across_a_killed_speaker");
}

/// Without graceful restart on our side (BIRD has it on), a killed speaker's routes go as
/// soon as BIRD sees the connection close.
#[test]
fn bird_without_graceful_restart_drops_a_killed_speakers_routes_at_once() {
    const TAG: &str = "gn";
    if let Some(names) = child(TAG) {
        let (rt, speaker) = gr_speaker(None, &[]);
        both_routes_up(&names);
        assert!(speaker.status().iter().all(|s| !s.graceful_restart));
        let killed = std::time::Instant::now();
        kill(rt, speaker);
        eventually(T, || route_gone(&names, V4));
        let gone = killed.elapsed();
        eventually(T, || route_gone(&names, V6));
        println!("route gone after {gone:?} without graceful restart");
        assert!(gone < Duration::from_secs(3), "{gone:?}");
        let out = names.birdc("show protocols all ironlb4");
        assert!(!out.contains("graceful restart active"), "{out}");
        return;
    }
    let lab = Lab::new(TAG);
    lab.names.start_bird(&gr_bird_conf(&lab.names));
    lab.run_child("bird_without_graceful_restart_drops_a_killed_speakers_routes_at_once");
}
