//! Interop with a real GoBGP (`gobgpd` from Debian), each test in namespaces
//! of its own (see `bgp_netns`). Asserts GoBGP's view through its CLI:
//! `gobgp neighbor`, `gobgp global rib`. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bgp_netns::{
    Lab, Names, OUR_AS, R4, R6, ROUTER_AS, S4, S6, T, V4, V6, always, child, eventually, peer,
    route, router, runtime, spec,
};
use ironlb_config::Community;
use ironlb_lab::{GobgpOptions, Neighbor};
use ironlb_speaker::bgp::{BgpSpeaker, PeerSpec, State};

/// GoBGP as the router: AS `local_as`, listening on [`R4`] and [`R6`], `neighbors`.
fn start_gobgpd(names: &Names, local_as: u32, neighbors: Vec<Neighbor>) {
    let conf = router(local_as, neighbors)
        .gobgp(&GobgpOptions {
            listen: vec![R4.parse().unwrap(), R6.parse().unwrap()],
            ..GobgpOptions::default()
        })
        .unwrap();
    let path = names.dir.join("gobgpd.toml");
    std::fs::write(&path, conf).unwrap();
    names.spawn_in_router(
        &[
            "gobgpd",
            "-f",
            path.to_str().unwrap(),
            "-p",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable",
        ],
        "gobgpd.pid",
        "gobgpd.log",
    );
    eventually(T, || {
        let out = names.in_router(&["gobgp", "global"]);
        out.contains("AS").then_some(()).ok_or(out)
    });
}

fn established(names: &Names, addr: &str) -> Result<(), String> {
    let out = names.in_router(&["gobgp", "neighbor", addr]);
    if out.to_lowercase().contains("bgp state = established") {
        Ok(())
    } else {
        Err(out)
    }
}

fn rib(names: &Names, prefix: &str) -> String {
    let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    names.in_router(&["gobgp", "global", "rib", "-a", fam, prefix])
}

fn route_has(names: &Names, prefix: &str, want: &[&str]) -> Result<String, String> {
    let out = rib(names, prefix);
    if out.contains(prefix) && want.iter().all(|w| out.contains(w)) {
        Ok(out)
    } else {
        Err(out)
    }
}

fn route_gone(names: &Names, prefix: &str) -> Result<(), String> {
    let out = rib(names, prefix);
    if out.contains(prefix) {
        Err(out)
    } else {
        Ok(())
    }
}

#[test]
fn gobgp_ebgp_ipv4_and_ipv6_announce_and_withdraw() {
    const TAG: &str = "ge";
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
                None,
            ),
            route(V6, &[Community::Standard((65000 << 16) | 6)], None),
        ]));
        eventually(T, || established(&names, S4));
        eventually(T, || established(&names, S6));
        eventually(T, || {
            route_has(&names, V4, &["192.0.2.2", "64512", "65000:1", "64512:1:2"])
        });
        eventually(T, || route_has(&names, V6, &["2001:db8:1::2", "65000:6"]));
        speaker.set_routes(BTreeSet::from([route(V6, &[], None)]));
        eventually(T, || route_gone(&names, V4));
        rt.block_on(speaker.shutdown());
        eventually(T, || route_gone(&names, V6));
        eventually(T, || {
            established(&names, S4).map_or(Ok(()), |()| Err("still up".into()))
        });
        return;
    }
    let lab = Lab::new(TAG);
    start_gobgpd(
        &lab.names,
        ROUTER_AS,
        vec![peer(S4, R4, S4), peer(S6, R6, S6)],
    );
    lab.run_child("gobgp_ebgp_ipv4_and_ipv6_announce_and_withdraw");
}

#[test]
fn gobgp_ibgp_with_md5_gets_local_pref() {
    const TAG: &str = "gi";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let mut s = spec(R4, S4, OUR_AS);
        s.password = Some("s3cret-pw".into());
        speaker.set_peers(vec![s]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], Some(300))]));
        eventually(T, || established(&names, S4));
        eventually(T, || {
            route_has(&names, V4, &["192.0.2.2", "LocalPref: 300"])
        });
        assert_eq!(speaker.status()[0].state, State::Established);
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    let mut p = peer(S4, R4, S4);
    p.session.password = Some("s3cret-pw".into());
    start_gobgpd(&lab.names, OUR_AS, vec![p]);
    lab.run_child("gobgp_ibgp_with_md5_gets_local_pref");
}

/// Our two sessions with graceful restart (restart time 10 s), announcing [`V4`] and [`V6`],
/// in a runtime of their own (shut down: a killed process, as the router sees it).
fn gr_speaker() -> (tokio::runtime::Runtime, BgpSpeaker) {
    let rt = runtime();
    let mut speaker = BgpSpeaker::new();
    {
        let _g = rt.enter();
        let with_gr = |mut s: PeerSpec| {
            s.graceful_restart = Some(Duration::from_secs(10));
            s
        };
        speaker.set_routes(BTreeSet::from([route(V4, &[], None), route(V6, &[], None)]));
        speaker.set_peers(vec![
            with_gr(spec(R4, S4, ROUTER_AS)),
            with_gr(spec(R6, S6, ROUTER_AS)),
        ]);
    }
    (rt, speaker)
}

/// The route as JSON, when GoBGP has it and its stale flag is `stale`.
fn route_stale(names: &Names, prefix: &str, stale: bool) -> Result<String, String> {
    let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let out = names.in_router(&["gobgp", "global", "rib", "-a", fam, prefix, "-j"]);
    let flagged = out.contains("\"stale\":true");
    if out.contains(prefix) && flagged == stale {
        Ok(out)
    } else {
        Err(out)
    }
}

/// GoBGP as the receiving speaker (helper only): a killed speaker's routes stay, stale,
/// until the next one's End-of-RIB; after a graceful stop they go when the restart time
/// runs out.
#[test]
fn gobgp_graceful_restart_keeps_routes_across_a_killed_speaker() {
    const TAG: &str = "gg";
    if let Some(names) = child(TAG) {
        let (rt, speaker) = gr_speaker();
        eventually(T, || established(&names, S4));
        eventually(T, || established(&names, S6));
        eventually(T, || route_stale(&names, V4, false));
        eventually(T, || route_stale(&names, V6, false));
        let nbr = names.in_router(&["gobgp", "neighbor", S4]);
        let gr: Vec<&str> = nbr
            .lines()
            .filter(|l| l.contains("raceful") || l.contains("restart"))
            .collect();
        println!("GoBGP, speaker up:\n{}", gr.join("\n"));
        let killed = Instant::now();
        rt.shutdown_timeout(Duration::from_secs(1));
        drop(speaker);
        let v4 = eventually(T, || route_stale(&names, V4, true));
        eventually(T, || route_stale(&names, V6, true));
        println!("GoBGP, speaker killed:\n{v4}");
        always(Duration::from_secs(2), || {
            route_stale(&names, V4, true).map(|_| ())
        });
        let (rt, speaker) = gr_speaker();
        eventually(T, || route_stale(&names, V4, false));
        eventually(T, || route_stale(&names, V6, false));
        println!(
            "GoBGP: route kept (stale) for {:?} across the kill",
            killed.elapsed()
        );
        rt.block_on(speaker.shutdown());
        let stopped = Instant::now();
        eventually(T, || route_stale(&names, V4, true));
        eventually(Duration::from_secs(30), || route_gone(&names, V4));
        let kept = stopped.elapsed();
        println!("GoBGP: route kept for {kept:?} after a graceful stop (restart time 10s)");
        assert!(
            kept >= Duration::from_secs(9) && kept < Duration::from_secs(15),
            "kept {kept:?}"
        );
        return;
    }
    let lab = Lab::new(TAG);
    let mut p4 = peer(S4, R4, S4);
    let mut p6 = peer(S6, R6, S6);
    p4.session.graceful_restart = true;
    p6.session.graceful_restart = true;
    start_gobgpd(&lab.names, ROUTER_AS, vec![p4, p6]);
    lab.run_child("gobgp_graceful_restart_keeps_routes_across_a_killed_speaker");
}
