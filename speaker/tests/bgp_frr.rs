//! Interop with a real FRR `bgpd` (Debian's `frr`, run without zebra), each
//! test in namespaces of its own (see `bgp_netns`). Asserts FRR's view
//! through `vtysh`. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bgp_netns::{
    Lab, Names, OUR_AS, R4, R6, S4, S6, S6B, T, V4, V6, always, child, eventually, peer, route,
    router, runtime, spec,
};
use ironlb_config::Community;
use ironlb_lab::{FrrBfd, FrrOptions};
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
            bfd: None,
        })
        .unwrap();
    start_frr(names, &conf, false);
}

/// Starts FRR with `conf`: bgpd alone (`-Z`), or with `bfd` zebra, bfdd and bgpd (bgpd asks
/// bfdd for its BFD sessions through zebra), every socket and pid file in the lab dir so
/// that two labs, or the shared lab's FRR, never meet.
fn start_frr(names: &Names, conf: &str, bfd: bool) {
    let path = names.dir.join("bgpd.conf");
    std::fs::write(&path, conf).unwrap();
    let vty = names.dir.join("vty");
    std::fs::create_dir_all(&vty).unwrap();
    let (path, vty) = (path.to_str().unwrap(), vty.to_str().unwrap());
    let zserv = names.dir.join("zserv.api");
    let zserv = zserv.to_str().unwrap();
    let own_pid = |d: &str| {
        let daemon = d.rsplit('/').next().unwrap_or(d);
        names
            .dir
            .join(format!("{daemon}.self.pid"))
            .display()
            .to_string()
    };
    let common = |d: &'static str| {
        let mut v: Vec<String> = [d, "-f", path, "--vty_socket", vty, "-P", "0", "-i"]
            .map(String::from)
            .to_vec();
        v.push(own_pid(d));
        v
    };
    let spawn = |args: Vec<String>, pidfile: &str, log: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        names.spawn_in_router(&args, pidfile, log);
    };
    if bfd {
        // zebra and bfdd have no `-S` (bgpd's "stay root"): they run as `frr`, as packaged,
        // so the lab dir is theirs; bgpd, root, reaches them all the same.
        bgp_netns::run(&["chown", "-R", "frr:frr", names.dir.to_str().unwrap()]);
        let mut zebra = common("/usr/lib/frr/zebra");
        zebra.extend(["-z", zserv].map(String::from));
        spawn(zebra, "zebra.pid", "zebra.out");
        eventually(T, || {
            std::path::Path::new(zserv)
                .exists()
                .then_some(())
                .ok_or_else(|| {
                    let out = std::fs::read_to_string(names.dir.join("zebra.out"));
                    format!("no zserv socket yet: {out:?}")
                })
        });
        let mut bfdd = common("/usr/lib/frr/bfdd");
        let ctl = names.dir.join("bfdd.sock").display().to_string();
        bfdd.extend([
            "-z".to_owned(),
            zserv.to_owned(),
            "--bfdctl".to_owned(),
            ctl,
        ]);
        spawn(bfdd, "bfdd.pid", "bfdd.out");
    }
    let mut bgpd = common("/usr/lib/frr/bgpd");
    bgpd.push("-S".to_owned());
    if bfd {
        bgpd.extend(["-z", zserv].map(String::from));
    } else {
        bgpd.push("-Z".to_owned());
    }
    spawn(bgpd, "frr.pid", "bgpd.out");
    eventually(T, || {
        let out = vtysh(names, "show bgp summary");
        out.contains("BGP router identifier")
            .then_some(())
            .ok_or(out)
    });
}

fn vtysh(names: &Names, cmd: &str) -> String {
    vtysh_to(names, "bgpd", cmd)
}

fn vtysh_to(names: &Names, daemon: &str, cmd: &str) -> String {
    let vty = names.dir.join("vty");
    names.in_router(&[
        "vtysh",
        "--vty_socket",
        vty.to_str().unwrap(),
        "-d",
        daemon,
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

/// `show bfd peers` when the session with `addr` is in `state` (`up`, `down`).
fn bfd_peer(names: &Names, addr: &str, state: &str) -> Result<String, String> {
    let out = vtysh_to(names, "bfdd", &format!("show bfd peer {addr}"));
    if out.contains(&format!("Status: {state}")) {
        Ok(out)
    } else {
        Err(out)
    }
}

/// BFD with FRR's bfdd, as the shared lab's FRR runs it: `neighbor X bfd` with a passive
/// profile at 100 ms × 3. Our IPv4 and IPv6 sessions with BFD bring it Up (FRR only
/// answers); a second IPv6 session without BFD is Established all the same, its BFD peer
/// Down.
/// When the path dies (our namespace drops every packet, the carrier stays), FRR drops the
/// BFD sessions' BGP sessions and their routes within a few detection times.
#[test]
fn frr_bfd_comes_up_and_path_loss_drops_bgp_fast() {
    const TAG: &str = "fb";
    if let Some(names) = child(TAG) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("ironlb_speaker=info")
            .with_writer(std::io::stdout)
            .try_init();
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        let bfd = Some(ironlb_speaker::bfd::BfdConfig {
            desired_min_tx: Duration::from_millis(100),
            required_min_rx: Duration::from_millis(100),
            detect_mult: 3,
            ..ironlb_speaker::bfd::BfdConfig::default()
        });
        let (mut v4, mut v6) = (spec(R4, S4, 64500), spec(R6, S6, 64500));
        v4.bfd = bfd.clone();
        v6.bfd = bfd;
        speaker.set_peers(vec![v4, v6, spec(R6, S6B, 64500)]);
        speaker.set_routes(BTreeSet::from([route(V4, &[], None), route(V6, &[], None)]));
        for s in [S4, S6, S6B] {
            eventually(T, || established(&names, s));
        }
        let up4 = eventually(T, || bfd_peer(&names, S4, "up"));
        eventually(T, || bfd_peer(&names, S6, "up"));
        println!("FRR's BFD peer {S4}:\n{up4}");
        eventually(T, || route_has(&names, V4, &["192.0.2.2 from 192.0.2.2"]));
        eventually(T, || {
            route_has(&names, V6, &["2001:db8:1::2 from 2001:db8:1::2"])
        });
        // Passive on both sides of this one: no BFD, and BGP does not wait for it.
        bfd_peer(&names, S6B, "down").unwrap();
        established(&names, S6B).unwrap();
        let start = Instant::now();
        bgp_netns::run(&[
            "nft",
            "add table inet ilbt_bfd; add chain inet ilbt_bfd in { type filter hook input priority 0; policy drop; }; add chain inet ilbt_bfd out { type filter hook output priority 0; policy drop; }",
        ]);
        let down = |s: &str| established(&names, s).map_or(Ok(()), |()| Err("Established".into()));
        eventually(Duration::from_secs(10), || down(S4));
        let took4 = start.elapsed();
        eventually(Duration::from_secs(10), || down(S6));
        let took6 = start.elapsed();
        eventually(T, || route_gone(&names, V4));
        // Still there from the session without BFD (until its hold time), but not from S6.
        eventually(T, || match route_has(&names, V6, &[]) {
            Ok(out) if out.contains("2001:db8:1::2 from") => Err(out),
            _ => Ok(()),
        });
        let gone = start.elapsed();
        println!(
            "FRR dropped the IPv4 session after {took4:?}, the IPv6 one after {took6:?}, \
             both routes gone after {gone:?} (BFD 100 ms x 3)"
        );
        let nbr = vtysh(&names, &format!("show bgp neighbors {S4}"));
        let last: Vec<&str> = nbr.lines().filter(|l| l.contains("Last reset")).collect();
        println!("FRR: {}", last.join("\n"));
        assert!(nbr.contains("BFD"), "{nbr}");
        assert!(took4 < Duration::from_secs(3), "took {took4:?}");
        assert!(took6 < Duration::from_secs(3), "took {took6:?}");
        established(&names, S6B).unwrap();
        rt.shutdown_timeout(Duration::from_secs(1));
        return;
    }
    let lab = Lab::new(TAG);
    let mut v4 = peer(S4, R4, S4);
    let mut v6 = peer(S6, R6, S6);
    let mut plain = peer(S6B, R6, S6B);
    v4.session.families.truncate(1);
    v6.session.families.remove(0);
    plain.session.families.remove(0);
    for n in [&mut v4, &mut v6, &mut plain] {
        n.local = None;
        n.session.bfd = true;
    }
    let conf = router(64500, vec![v4, v6, plain])
        .frr(&FrrOptions {
            hostname: "ilbt".into(),
            log_file: Some(lab.names.dir.join("bgpd.log").display().to_string()),
            multipath: None,
            bfd: Some(FrrBfd {
                profile: "nodes".into(),
                interval_ms: 100,
                multiplier: 3,
                passive: true,
            }),
        })
        .unwrap();
    start_frr(&lab.names, &conf, true);
    lab.run_child("frr_bfd_comes_up_and_path_loss_drops_bgp_fast");
}
