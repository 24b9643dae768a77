//! Interop with a real FRR `bgpd` (Debian's `frr`, run without zebra), each
//! test in namespaces of its own (see `bgp_netns`). Asserts FRR's view
//! through `vtysh`. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bgp_netns::{
    Lab, Names, OUR_AS, R4, R6, S4, S6, T, V4, V6, always, child, eventually, peer, route, router,
    runtime, spec,
};
use ironlb_config::Community;
use ironlb_lab::FrrOptions;
use ironlb_speaker::bgp::{BgpSpeaker, PeerSpec};

fn start_bgpd(names: &Names, local_as: u32, password: Option<&str>, graceful_restart: bool) {
    // The router's side: one IPv4 and one IPv6 session, each for its own family.
    let mut v4 = peer(S4, R4, S4);
    v4.session.families.truncate(1);
    let mut v6 = peer(S6, R6, S6);
    v6.session.families.remove(0);
    for n in [&mut v4, &mut v6] {
        n.local = None;
        n.session.password = password.map(Into::into);
        n.session.graceful_restart = graceful_restart;
    }
    let conf = router(local_as, vec![v4, v6])
        .frr(&FrrOptions {
            hostname: "ilbt".into(),
            log_file: Some(names.dir.join("bgpd.log").display().to_string()),
            multipath: None,
        })
        .unwrap();
    let path = names.dir.join("bgpd.conf");
    std::fs::write(&path, conf).unwrap();
    let vty = names.dir.join("vty");
    std::fs::create_dir_all(&vty).unwrap();
    names.spawn_in_router(
        &[
            "/usr/lib/frr/bgpd",
            "-Z",
            "-S",
            "-f",
            path.to_str().unwrap(),
            "--vty_socket",
            vty.to_str().unwrap(),
            "-P",
            "0",
            // Its own pid file: the default one would clash with another lab's bgpd.
            "-i",
            names.dir.join("bgpd.pid").to_str().unwrap(),
        ],
        "frr.pid",
        "bgpd.out",
    );
    eventually(T, || {
        let out = vtysh(names, "show bgp summary");
        out.contains("BGP router identifier")
            .then_some(())
            .ok_or(out)
    });
}

fn vtysh(names: &Names, cmd: &str) -> String {
    let vty = names.dir.join("vty");
    names.in_router(&[
        "vtysh",
        "--vty_socket",
        vty.to_str().unwrap(),
        "-d",
        "bgpd",
        "-c",
        cmd,
    ])
}

fn established(names: &Names, addr: &str) -> Result<(), String> {
    let out = vtysh(names, &format!("show bgp neighbors {addr}"));
    if out.contains("BGP state = Established") {
        Ok(())
    } else {
        Err(out)
    }
}

fn route_has(names: &Names, prefix: &str, want: &[&str]) -> Result<String, String> {
    let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let out = vtysh(names, &format!("show bgp {fam} unicast {prefix}"));
    if out.contains(prefix) && !out.contains("not in table") && want.iter().all(|w| out.contains(w))
    {
        Ok(out)
    } else {
        Err(out)
    }
}

fn route_gone(names: &Names, prefix: &str) -> Result<(), String> {
    route_has(names, prefix, &[]).map_or(Ok(()), Err)
}

#[test]
fn frr_ebgp_ipv4_and_ipv6_announce_and_withdraw() {
    const TAG: &str = "fe";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        speaker.set_peers(vec![spec(R4, S4, 64500), spec(R6, S6, 64500)]);
        speaker.set_routes(BTreeSet::from([
            route(
                V4,
                &[
                    Community::Standard((65000 << 16) | 1),
                    Community::Large(64512, 1, 2),
                ],
                None,
            ),
            route(V6, &[], None),
        ]));
        eventually(T, || established(&names, S4));
        eventually(T, || established(&names, S6));
        eventually(T, || {
            route_has(
                &names,
                V4,
                &[
                    "192.0.2.2 from 192.0.2.2",
                    "Community: 65000:1",
                    "Large Community: 64512:1:2",
                    "64512",
                ],
            )
        });
        eventually(T, || route_has(&names, V6, &["2001:db8:1::2"]));
        speaker.set_routes(BTreeSet::from([route(V6, &[], None)]));
        eventually(T, || route_gone(&names, V4));
        rt.block_on(speaker.shutdown());
        eventually(T, || route_gone(&names, V6));
        return;
    }
    let lab = Lab::new(TAG);
    start_bgpd(&lab.names, 64500, None, false);
    lab.run_child("frr_ebgp_ipv4_and_ipv6_announce_and_withdraw");
}

#[test]
fn frr_ibgp_with_md5_gets_local_pref() {
    const TAG: &str = "fi";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let mut s = spec(R4, S4, OUR_AS);
        s.password = Some("s3cret-pw".into());
        speaker.set_peers(vec![s]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], Some(300))]));
        eventually(T, || established(&names, S4));
        eventually(T, || route_has(&names, V4, &["localpref 300", "Local"]));
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    start_bgpd(&lab.names, OUR_AS, Some("s3cret-pw"), false);
    lab.run_child("frr_ibgp_with_md5_gets_local_pref");
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
            with_gr(spec(R4, S4, 64500)),
            with_gr(spec(R6, S6, 64500)),
        ]);
    }
    (rt, speaker)
}

fn stale(names: &Names, prefix: &str) -> Result<String, String> {
    route_has(names, prefix, &["(stale)"])
}

fn fresh(names: &Names, prefix: &str) -> Result<String, String> {
    let out = route_has(names, prefix, &[])?;
    if out.contains("stale") {
        Err(out)
    } else {
        Ok(out)
    }
}

/// FRR as the receiving speaker (helper): a killed speaker's routes stay, marked stale,
/// until the next one's End-of-RIB; after a graceful stop they go when the restart time
/// runs out.
#[test]
fn frr_graceful_restart_keeps_routes_across_a_killed_speaker() {
    const TAG: &str = "fg";
    if let Some(names) = child(TAG) {
        let (rt, speaker) = gr_speaker();
        eventually(T, || established(&names, S4));
        eventually(T, || established(&names, S6));
        eventually(T, || fresh(&names, V4));
        eventually(T, || fresh(&names, V6));
        let nbr = vtysh(&names, &format!("show bgp neighbors {S4}"));
        let gr: Vec<&str> = nbr.lines().filter(|l| l.contains("raceful")).collect();
        println!("FRR, speaker up:\n{}", gr.join("\n"));
        assert!(
            nbr.contains("Graceful Restart Capability: advertised and received"),
            "{nbr}"
        );
        let killed = Instant::now();
        rt.shutdown_timeout(Duration::from_secs(1));
        drop(speaker);
        let v4 = eventually(T, || stale(&names, V4));
        eventually(T, || stale(&names, V6));
        println!("FRR, speaker killed:\n{v4}");
        always(Duration::from_secs(2), || stale(&names, V4).map(|_| ()));
        let (rt, speaker) = gr_speaker();
        eventually(T, || fresh(&names, V4));
        eventually(T, || fresh(&names, V6));
        println!(
            "FRR: route kept (stale) for {:?} across the kill",
            killed.elapsed()
        );
        rt.block_on(speaker.shutdown());
        let stopped = Instant::now();
        eventually(T, || stale(&names, V4));
        eventually(Duration::from_secs(30), || route_gone(&names, V4));
        let kept = stopped.elapsed();
        println!("FRR: route kept for {kept:?} after a graceful stop (restart time 10s)");
        assert!(
            kept >= Duration::from_secs(9) && kept < Duration::from_secs(15),
            "kept {kept:?}"
        );
        return;
    }
    let lab = Lab::new(TAG);
    start_bgpd(&lab.names, 64500, None, true);
    lab.run_child("frr_graceful_restart_keeps_routes_across_a_killed_speaker");
}
