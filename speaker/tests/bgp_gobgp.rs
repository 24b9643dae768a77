//! Interop with a real GoBGP (`gobgpd` from Debian), each test in namespaces
//! of its own (see `bgp_netns`). Asserts GoBGP's view through its CLI:
//! `gobgp neighbor`, `gobgp global rib`. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;

use bgp_netns::{
    Lab, Names, OUR_AS, R4, R6, ROUTER_AS, S4, S6, T, V4, V6, child, eventually, peer, route,
    router, runtime, spec,
};
use ironlb_config::Community;
use ironlb_lab::{GobgpOptions, Neighbor};
use ironlb_speaker::bgp::{BgpSpeaker, State};

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
