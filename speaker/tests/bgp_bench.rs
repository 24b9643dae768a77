//! Benchmark (ignored by default): time until 10,000 prefixes from one
//! IronLB speaker are all in BIRD's table, beside gobgpd announcing the same
//! 10,000 to the same BIRD, in one run; plus session establishment time and
//! the speaker's memory per 10,000 prefixes. Needs root.
//!
//! Run: `cargo test --release -p ironlb-speaker --test bgp_bench -- --ignored --nocapture`
//!
//! Both speakers sit in the speaker namespace (IronLB on 2001:db8:1::2,
//! gobgpd on 2001:db8:1::3), BIRD in the router namespace; 10,000 IPv6 /128s. gobgpd's 10,000 routes are
//! loaded beforehand (`gobgp mrt inject`, MRT written here) with its neighbor
//! admin-down; at t0
//! the neighbor is enabled and IronLB's peer is set (its routes are set
//! before). Times come from BIRD's own clock: the protocol's `Since`
//! (Established) and the newest route import timestamp, both with ms.

mod bgp_netns;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::Ipv6Net;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use bgp_netns::{Lab, Names, R6, S4B, S6, S6B, child, eventually, peer, router, runtime};
use ironlb_lab::{BirdOptions, Export, Family, GobgpOptions, Neighbor, Router, Session};
use ironlb_speaker::bgp::{BgpSpeaker, PeerSpec, Route, State};

const N: u32 = 10_000;

/// 10,000 /128s in 2001:db8:ffff::/112: the IPv4 documentation ranges are
/// too small for 10,000 prefixes, so the benchmark runs on IPv6 (MP-BGP).
fn prefixes() -> Vec<Ipv6Net> {
    let base = u128::from("2001:db8:ffff::".parse::<Ipv6Addr>().unwrap());
    (1..=u128::from(N))
        .map(|i| Ipv6Net::new(Ipv6Addr::from(base + i), 128).unwrap())
        .collect()
}

/// An MRT TABLE_DUMP_V2 file (RFC 6396) with one route per prefix, for
/// `gobgp mrt inject global`.
fn mrt(prefixes: &[Ipv6Net]) -> Vec<u8> {
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&13u16.to_be_bytes());
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    let nh = "2001:db8:1::3".parse::<Ipv6Addr>().unwrap().octets();
    let mut out = Vec::new();
    // PEER_INDEX_TABLE: collector id, empty view name, one IPv6 AS4 peer.
    let mut b = vec![192, 0, 2, 3, 0, 0, 0, 1, 0x03, 192, 0, 2, 3];
    b.extend_from_slice(&nh);
    b.extend_from_slice(&64513u32.to_be_bytes());
    record(&mut out, 1, &b);
    for (seq, p) in prefixes.iter().enumerate() {
        let bytes = usize::from(p.prefix_len()).div_ceil(8);
        let nlri = &p.network().octets()[..bytes];
        // ORIGIN IGP, empty AS_PATH, MP_REACH_NLRI (the full form: gobgp 3.10
        // does not read RFC 6396's next-hop-only form).
        let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x80, 14];
        attrs.push((5 + 16 + 1 + bytes) as u8);
        attrs.extend_from_slice(&[0, 2, 1, 16]);
        attrs.extend_from_slice(&nh);
        attrs.push(0);
        attrs.push(p.prefix_len());
        attrs.extend_from_slice(nlri);
        let mut b = Vec::new();
        b.extend_from_slice(&(seq as u32).to_be_bytes());
        b.push(p.prefix_len());
        b.extend_from_slice(nlri);
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&attrs);
        // RIB_IPV6_UNICAST
        record(&mut out, 4, &b);
    }
    out
}

fn count(names: &Names, proto: &str) -> u32 {
    let out = names.birdc(&format!("show route protocol {proto} count"));
    // "10000 of 10000 routes for 10000 networks in table master4"
    out.lines()
        .find_map(|l| l.split(" of ").next()?.trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds since the epoch of a BIRD `iso long ms` time, via date(1).
fn epoch(ts: &str) -> f64 {
    let out = Command::new("date")
        .args(["-u", "-d", ts, "+%s.%N"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// When `proto` last changed state (Established), by BIRD's clock.
fn since(names: &Names, proto: &str) -> f64 {
    let out = names.birdc(&format!("show protocols {proto}"));
    let line = out.lines().find(|l| l.starts_with(proto)).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    // name proto table state DATE TIME info
    epoch(&format!("{} {}", f[4], f[5]))
}

/// The newest import time of `proto`'s routes, by BIRD's clock.
fn last_import(names: &Names, proto: &str) -> f64 {
    let out = names.birdc(&format!("show route protocol {proto}"));
    let mut best = String::new();
    for l in out.lines() {
        // "198.51.100.0/24  unicast [ironlb 2026-11-23 18:00:00.123] * (100) [AS64512i]"
        if let Some(i) = l.find(&format!("[{proto} ")) {
            let rest = &l[i + proto.len() + 2..];
            if let Some(end) = rest.find(']') {
                let ts = &rest[..end];
                if ts > best.as_str() {
                    best = ts.to_string();
                }
            }
        }
    }
    epoch(&best)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_10k_prefixes_into_bird_ironlb_vs_gobgp() {
    const TAG: &str = "bb";
    let ps = prefixes();
    assert!(ps.len() >= N as usize, "{} prefixes", ps.len());
    if let Some(names) = child(TAG) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("ironlb_speaker=info")
            .try_init();
        let rt = runtime();
        let _g = rt.enter();
        let rss0 = rss_kib();
        let mut speaker = BgpSpeaker::new();
        let routes: BTreeSet<Route> = ps
            .iter()
            .map(|p| Route::new(ipnet::IpNet::V6(*p), Default::default()))
            .collect();
        speaker.set_routes(routes);
        let mut spec = PeerSpec::new(
            64512,
            64500,
            SocketAddr::new(R6.parse().unwrap(), 179),
            Ipv4Addr::new(192, 0, 2, 2),
        );
        spec.source = Some(S6.parse::<IpAddr>().unwrap());
        // t0: both start at once (gobgp's CLI is not waited for).
        let t0 = SystemTime::now();
        let start = Instant::now();
        let mut enable = Command::new("gobgp")
            .args(["neighbor", R6, "enable"])
            .spawn()
            .unwrap();
        speaker.set_peers(vec![spec]);
        eventually(Duration::from_secs(180), || {
            let (a, b) = (count(&names, "ironlb"), count(&names, "gobgp"));
            if a == N && b == N {
                Ok(())
            } else {
                Err(format!("ironlb {a}, gobgp {b}"))
            }
        });
        let wall = start.elapsed();
        assert!(enable.wait().unwrap().success());
        let st = speaker.status();
        assert_eq!(st[0].state, State::Established);
        assert_eq!(st[0].prefixes_announced, N as usize);
        let rss1 = rss_kib();
        let t0 = t0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let est_ours = since(&names, "ironlb");
        let est_gobgp = since(&names, "gobgp");
        let done_ours = last_import(&names, "ironlb");
        let done_gobgp = last_import(&names, "gobgp");
        let ours = done_ours - est_ours;
        let theirs = done_gobgp - est_gobgp;
        println!("STATUS {st:?}");
        println!("RESULT prefixes={N}");
        println!("RESULT ironlb_establish_after_t0_s={:.3}", est_ours - t0);
        println!("RESULT gobgp_establish_after_t0_s={:.3}", est_gobgp - t0);
        println!("RESULT ironlb_established_to_all_in_bird_s={ours:.3}");
        println!("RESULT gobgp_established_to_all_in_bird_s={theirs:.3}");
        println!(
            "RESULT ratio_ironlb_over_gobgp={:.2}",
            ours / theirs.max(0.001)
        );
        println!("RESULT ironlb_t0_to_all_s={:.3}", done_ours - t0);
        println!("RESULT gobgp_t0_to_all_s={:.3}", done_gobgp - t0);
        println!("RESULT wall_until_both_counted_s={:.3}", wall.as_secs_f64());
        println!("RESULT speaker_rss_delta_kib={}", rss1.saturating_sub(rss0));
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    let n = &lab.names;
    // BIRD: one passive IPv6 session for IronLB (AS 64512), one for gobgpd (AS 64513).
    let v6_only = |name: &str, addr: &str, asn: u32| {
        let mut p = peer(name, R6, addr);
        p.session.peer_asn = asn;
        p.session.families.remove(0);
        p
    };
    n.start_bird(
        &router(
            64500,
            vec![v6_only("ironlb", S6, 64512), v6_only("gobgp", S6B, 64513)],
        )
        .bird(&BirdOptions {
            log: Some(n.dir.join("bird.log").display().to_string()),
            timeformat_ms: true,
            ..BirdOptions::default()
        }),
    );
    // gobgpd beside our speaker: AS 64513, not listening, dialling BIRD from S6B once enabled,
    // sending its whole RIB.
    let mut session = Session::new(64500, &[Family::Ipv6]);
    session.shutdown = true;
    session.families[0].export = Export::All;
    let gobgp = Router {
        asn: 64513,
        router_id: S4B.parse().unwrap(),
        groups: Vec::new(),
        neighbors: vec![Neighbor {
            name: "bird".into(),
            address: R6.parse().unwrap(),
            local: Some(S6B.parse().unwrap()),
            session,
        }],
    };
    let conf = gobgp
        .gobgp(&GobgpOptions {
            port: Some(-1),
            ..GobgpOptions::default()
        })
        .unwrap();
    let path = n.dir.join("gobgpd.toml");
    std::fs::write(&path, conf).unwrap();
    n.spawn_in(
        &n.speaker_ns,
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
    let in_speaker = |args: &[&str]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &n.speaker_ns, "gobgp"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    eventually(Duration::from_secs(30), || {
        let out = in_speaker(&["global"]);
        out.contains("AS").then_some(()).ok_or(out)
    });
    // `gobgp mrt inject` (3.10) exits before its last batch of paths is in,
    // so inject the routes forwards and then backwards: the union is all.
    let file = n.dir.join("routes.mrt");
    std::fs::write(&file, mrt(&ps)).unwrap();
    let rev = n.dir.join("routes-rev.mrt");
    let mut backwards = ps.clone();
    backwards.reverse();
    std::fs::write(&rev, mrt(&backwards)).unwrap();
    for f in [&file, &rev] {
        in_speaker(&["mrt", "inject", "global", f.to_str().unwrap()]);
    }
    eventually(Duration::from_secs(60), || {
        let sum = in_speaker(&["global", "rib", "summary", "-a", "ipv6"]);
        sum.contains(&format!("Destination: {N},"))
            .then_some(())
            .ok_or(sum)
    });
    lab.run_child("bench_10k_prefixes_into_bird_ironlb_vs_gobgp");
}
