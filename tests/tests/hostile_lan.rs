//! A hostile host on the LAN (issue 17), end to end in a private lab (`hst-`, two nodes, no
//! router) with the real speakers, kube-apiserver and client namespace. For [`FLOOD`] the
//! client runs `lan_flood` (`tests/src/bin/lan_flood.rs`): spoofed ARP replies and
//! unsolicited Neighbor Advertisements claiming an IPv4 and an IPv6 VIP for foreign MACs,
//! malformed ARP/NDP frames of every kind, and junk datagrams to both speakers' gossip port.
//! Meanwhile the client keeps asking: `arping`, `ndisc6` and `curl` must keep getting the
//! owner. Then:
//! - at most 10 `L2Conflict` Event objects per VIP per minute of flood, whose series count
//!   shows more occurrences than there are objects;
//! - the speakers counted the malformed frames by kind, the conflicts per VIP and the
//!   refused gossip datagrams by reason, and logged a bounded number of lines;
//! - no VIP moved, no speaker restarted, gossip still sees both speakers;
//! - the owners' speakers' RSS stays under [`RSS_LIMIT_KIB`]; their CPU time is printed.
//!
//! The figures are printed (`--nocapture`) for docs/PERFORMANCE.md. The private lab is
//! brought down at the end, even on failure; the shared `ilb-` lab is never touched. Needs
//! root, the built workspace (`cargo build --workspace`) and the IronLB image
//! (`IRONLB_IMAGE_LAYOUT`).

use ironlb_tests::{Lab, ironlb_bin, lb_service, metric_sample, ok, speaker_log};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the hostile host floods (the 60 s).
const FLOOD: Duration = Duration::from_secs(60);
/// ARP/NDP frames per second the flood sends, all kinds together (the attack sent
/// about 2,900/s).
const FRAME_RATE: u64 = 3_000;
/// Junk gossip datagrams per second, both nodes together (the issue's: about 7,700/s).
const GOSSIP_RATE: u64 = 8_000;
/// Event objects allowed per VIP per minute of flood (the bound).
const EVENTS_PER_VIP_MINUTE: usize = 10;
/// The bound on a speaker's resident memory after the flood: the speaker's target at 1,000
/// IPs (20 MB, docs/PERFORMANCE.md) with some slack; it rests near 9 MiB with two IPs, so a
/// leak of even 100 bytes per frame or datagram would cross it.
const RSS_LIMIT_KIB: u64 = 24 * 1024;
/// Log lines a speaker may write over the flood: first occurrences and 10 s summaries per
/// kind, not one per frame.
const LOG_LINES_LIMIT: usize = 300;

const PREFIX: &str = "hst-";
const NS: &str = "hostile";
const LAB_NS: &str = "ironlb-system";
const VIP4: &str = "192.0.2.210";
const VIP6: &str = "2001:db8:1::210";
const SVC4: &str = "hostile-v4";
const SVC6: &str = "hostile-v6";
const POOL: &str = "address-pools:\n- name: lab-l2\n  protocol: layer2\n  addresses:\n  - 192.0.2.200-192.0.2.254\n  - 2001:db8:1::200-2001:db8:1::2ff\n";
/// The malformed kinds the flood makes the speaker count (see `FrameKind::speaker_label`).
const MALFORMED: [&str; 5] = [
    "truncated",
    "arp_header",
    "arp_operation",
    "ndp_option",
    "checksum",
];
const REFUSED: [&str; 3] = ["short", "version", "auth"];

/// Brings the private lab down on drop, whether or not `lab up` finished.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        let out = Command::new(ironlb_bin())
            .env("IRONLB_LAB_STATE", state_dir())
            .env("IRONLB_LAB_PREFIX", PREFIX)
            .args(["lab", "down"])
            .output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!(
                "lab down of the private lab failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn state_dir() -> String {
    format!("/run/ironlb-lab-{}", PREFIX.trim_end_matches('-'))
}

/// MACs that answered `arping` for `ip` from the client (empty: no answer).
fn arping(lab: &Lab, ip: &str) -> BTreeSet<String> {
    let out = lab.exec_in(
        lab.env("IRONLB_LAB_CLIENT"),
        &[
            "timeout",
            "10",
            "arping",
            "-i",
            lab.env("IRONLB_LAB_CLIENT_IF"),
            "-c",
            "3",
            "-w",
            "3",
            ip,
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_lowercase))
        .collect()
}

/// The MAC of `node`'s `eth0`.
fn mac_of(lab: &Lab, node: &str) -> String {
    ok(&lab.exec_in(node, &["cat", "/sys/class/net/eth0/address"]))
        .trim()
        .to_lowercase()
}

/// The node whose `eth0` has `mac`.
fn node_of_mac(lab: &Lab, mac: &str) -> Option<String> {
    lab.nodes().into_iter().find(|n| mac_of(lab, n) == mac)
}

/// The node answering for `vip` (ARP or NDP) and reached by `curl`, once they agree.
fn owner(lab: &Lab, vip: &str) -> String {
    let v6 = vip.contains(':');
    let host = if v6 {
        format!("[{vip}]")
    } else {
        vip.to_owned()
    };
    lab.wait_for(
        &format!("{vip} to be announced and reachable"),
        Duration::from_secs(60),
        || {
            let by_l2 = if v6 {
                node_of_mac(lab, &lab.ndisc6(vip)?)?
            } else {
                let macs = arping(lab, vip);
                (macs.len() == 1).then_some(())?;
                node_of_mac(lab, macs.iter().next()?)?
            };
            let by_curl = lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), &host, "2")?;
            (by_l2 == by_curl).then_some(by_l2)
        },
    )
}

/// The speaker's metrics on `node`; panics if it does not answer.
fn metrics(lab: &Lab, node: &str) -> String {
    lab.speaker_metrics(node)
        .unwrap_or_else(|| panic!("the speaker on {node} does not serve its metrics"))
}

/// What the test reads of a speaker process from /proc: CPU ticks and VmRSS/VmHWM in KiB.
#[derive(Debug, Clone, Copy)]
struct Usage {
    ticks: u64,
    rss_kib: u64,
    hwm_kib: u64,
}

fn usage(pid: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    // Fields after "(comm) ": state is 0, utime 11, stime 12.
    let rest: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| -> u64 { rest.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        ticks: field(11) + field(12),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    }
}

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Restart counts of the speaker pods, by node.
fn speaker_restarts(lab: &Lab) -> BTreeMap<String, u64> {
    let out = ok(&lab.kubectl(&[
        "-n",
        LAB_NS,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/component=speaker",
        "-o",
        "json",
    ]));
    let pods: serde_json::Value = serde_json::from_str(&out).expect("pods JSON");
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let node = p["spec"]["nodeName"].as_str().unwrap_or("").to_owned();
            let restarts = p["status"]["containerStatuses"][0]["restartCount"]
                .as_u64()
                .unwrap_or(0);
            (node, restarts)
        })
        .collect()
}

/// The whole log of the speaker on `node` (its container's, as the kubelet keeps it).
fn speaker_logs(lab: &Lab, node: &str) -> String {
    lab.speaker_log(node, None)
        .unwrap_or_else(|| panic!("cannot read the log of the speaker on {node}"))
}

/// `L2Conflict` Events about `service`: (Event objects, occurrences they record).
fn conflict_events(lab: &Lab, service: &str) -> (usize, u64) {
    let out = ok(&lab.kubectl(&["-n", NS, "get", "events.v1.events.k8s.io", "-o", "json"]));
    let events: serde_json::Value = serde_json::from_str(&out).expect("events JSON");
    let mine: Vec<&serde_json::Value> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["reason"] == "L2Conflict" && e["regarding"]["name"] == service)
        .collect();
    let occurrences = mine
        .iter()
        .map(|e| {
            e["series"]["count"]
                .as_u64()
                .or_else(|| e["deprecatedCount"].as_u64().filter(|c| *c > 0))
                .unwrap_or(1)
        })
        .sum();
    (mine.len(), occurrences)
}

/// Probes from the client while the flood runs: rounds tried and answered by the owner.
#[derive(Debug, Default)]
struct Probes {
    arp: (u32, u32),
    ndp: (u32, u32),
    http4: (u32, u32),
    http6: (u32, u32),
    /// MACs other than the owner's that the client's arping saw.
    foreign_arp: BTreeSet<String>,
}

/// How often each message occurs among log lines, the timestamp cut off.
fn message_counts<'a>(lines: impl Iterator<Item = &'a &'a str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let plain = speaker_log::strip_ansi(line);
        let message = plain
            .split_once(' ')
            .map_or(plain.as_str(), |(_, m)| m.trim());
        *counts.entry(message.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn tally(slot: &mut (u32, u32), answered: bool) {
    slot.0 += 1;
    slot.1 += u32::from(answered);
}

#[test]
fn a_hostile_host_flooding_the_lan_changes_nothing_and_writes_few_events() {
    let _teardown = Teardown;
    // `lb_service` wants a lab that lives as long as the test binary.
    let lab: &'static Lab = Box::leak(Box::new(Lab::up_private(
        PREFIX,
        &["--nodes", "2", "--router", "none"],
    )));
    // A switch forwards whatever frame it gets; the lab's Linux bridge, with br_netfilter
    // loaded on this machine, would drop IPv6 packets whose payload length overruns the
    // frame before any node sees them. This LAN namespace is the private lab's own.
    let lan = format!("{PREFIX}lan");
    ok(&lab.exec_in(
        &lan,
        &["sysctl", "-w", "net.bridge.bridge-nf-call-ip6tables=0"],
    ));

    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": LAB_NS},
        "data": {"config": POOL},
    });
    lab.apply(&cm.to_string());
    let nodes = lab.nodes();
    let node_refs: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let _svc4 = lb_service(lab, NS, SVC4, VIP4, serde_json::json!({}));
    let _svc6 = lb_service(
        lab,
        NS,
        SVC6,
        VIP6,
        serde_json::json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"}),
    );
    lab.endpoints_on(NS, SVC4, &node_refs);
    lab.endpoints_on(NS, SVC6, &node_refs);
    let owner4 = owner(lab, VIP4);
    let owner6 = owner(lab, VIP6);
    let (mac4, mac6) = (mac_of(lab, &owner4), mac_of(lab, &owner6));
    eprintln!("{VIP4} is announced by {owner4} ({mac4}), {VIP6} by {owner6} ({mac6})");

    // Before: processes, restarts, metrics, Events.
    let pids: BTreeMap<String, String> = nodes
        .iter()
        .map(|n| {
            let pid = lab
                .speaker_pid(n)
                .unwrap_or_else(|| panic!("no speaker process on {n}"));
            (n.clone(), pid)
        })
        .collect();
    let restarts = speaker_restarts(lab);
    let before: BTreeMap<String, (Usage, String)> = nodes
        .iter()
        .map(|n| (n.clone(), (usage(&pids[n]), metrics(lab, n))))
        .collect();
    let events_before = (conflict_events(lab, SVC4), conflict_events(lab, SVC6));
    let log_lines: BTreeMap<String, usize> = nodes
        .iter()
        .map(|n| (n.clone(), speaker_logs(lab, n).lines().count()))
        .collect();

    // The flood, from the client's namespace.
    // Both gossip sockets: foca's (7946) and the heartbeats' (7947).
    let gossip: Vec<String> = nodes
        .iter()
        .flat_map(|n| {
            let addrs = ok(&lab.exec_in(
                n,
                &[
                    "ip", "-4", "-o", "addr", "show", "dev", "eth0", "scope", "global",
                ],
            ));
            let addr = addrs
                .split_whitespace()
                .find_map(|w| w.split_once('/').map(|(a, _)| a.to_owned()))
                .unwrap_or_else(|| panic!("{n} has no IPv4 address on eth0"));
            [7946, 7947].map(|port| format!("--gossip={addr}:{port}"))
        })
        .collect();
    let started = Instant::now();
    let flood = Command::new("ip")
        .args(["netns", "exec", lab.env("IRONLB_LAB_CLIENT")])
        .arg(env!("CARGO_BIN_EXE_lan_flood"))
        .args(["--iface", lab.env("IRONLB_LAB_CLIENT_IF")])
        .args(["--vip4", VIP4, "--vip6", VIP6])
        .args(["--rate", &FRAME_RATE.to_string()])
        .args(["--gossip-rate", &GOSSIP_RATE.to_string()])
        .args(["--seconds", &FLOOD.as_secs().to_string()])
        .args(&gossip)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lan_flood");

    // Legitimate requests meanwhile, round after round.
    let mut probes = Probes::default();
    while started.elapsed() < FLOOD {
        let macs = arping(lab, VIP4);
        tally(&mut probes.arp, macs.contains(&mac4));
        probes
            .foreign_arp
            .extend(macs.into_iter().filter(|m| *m != mac4));
        tally(
            &mut probes.ndp,
            lab.ndisc6(VIP6).as_deref() == Some(mac6.as_str()),
        );
        let client = lab.env("IRONLB_LAB_CLIENT");
        tally(
            &mut probes.http4,
            lab.ingress_node(client, VIP4, "2").as_deref() == Some(owner4.as_str()),
        );
        tally(
            &mut probes.http6,
            lab.ingress_node(client, &format!("[{VIP6}]"), "2")
                .as_deref()
                == Some(owner6.as_str()),
        );
    }
    let out = flood.wait_with_output().expect("lan_flood");
    let flood_secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "lan_flood failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("lan_flood's JSON report");
    eprintln!("flood sent: {sent}");
    eprintln!("probes during the flood (tried, answered by the owner): {probes:?}");

    // Legitimate requests were answered by the owner (a round may time out on a busy
    // machine; a starved responder would fail nearly all).
    for (what, (tried, answered)) in [
        ("arping", probes.arp),
        ("ndisc6", probes.ndp),
        ("curl v4", probes.http4),
        ("curl -6", probes.http6),
    ] {
        assert!(tried >= 3, "only {tried} {what} rounds in {FLOOD:?}");
        assert!(
            answered * 10 >= tried * 9,
            "{what}: the owner answered {answered} of {tried} rounds during the flood"
        );
    }

    // The CPU used over the flood, before the Events settle.
    let ticks = clock_ticks();
    let cpu: BTreeMap<String, f64> = nodes
        .iter()
        .map(|n| {
            let (was, _) = &before[n];
            let now = usage(&pids[n]);
            (n.clone(), (now.ticks - was.ticks) as f64 / ticks)
        })
        .collect();

    // The last series updates are written within an update interval (10 s) or two.
    std::thread::sleep(Duration::from_secs(25));
    let minutes = FLOOD.as_secs().div_ceil(60) as usize;
    let mut events = BTreeMap::new();
    for (svc, vip, was) in [(SVC4, VIP4, events_before.0), (SVC6, VIP6, events_before.1)] {
        let (objects, occurrences) = conflict_events(lab, svc);
        let (new_objects, new_occurrences) = (objects - was.0, occurrences - was.1);
        eprintln!(
            "{svc} ({vip}): {new_objects} L2Conflict Event objects recording {new_occurrences} \
             occurrences"
        );
        assert!(
            new_objects >= 1,
            "no L2Conflict Event on {svc} though {vip} was claimed"
        );
        assert!(
            new_objects <= EVENTS_PER_VIP_MINUTE * minutes,
            "{new_objects} L2Conflict Events on {svc} in {minutes} min of flood"
        );
        assert!(
            new_occurrences > new_objects as u64,
            "the Events on {svc} do not count the occurrences they stand for \
             ({new_objects} objects, {new_occurrences} occurrences)"
        );
        events.insert(svc, (new_objects, new_occurrences));
    }

    // What each speaker counted.
    let after: BTreeMap<String, String> =
        nodes.iter().map(|n| (n.clone(), metrics(lab, n))).collect();
    let delta = |n: &str, series: &str| {
        metric_sample(&after[n], series) - metric_sample(&before[n].1, series)
    };
    for kind in MALFORMED {
        let series = format!("ironlb_l2_malformed_frames_total{{kind=\"{kind}\"}}");
        for n in &nodes {
            let d = delta(n, &series);
            eprintln!("{n}: {series} +{d}");
            assert!(d > 0.0, "{n} counted no malformed frame of kind {kind}");
        }
    }
    for (vip, node) in [(VIP4, &owner4), (VIP6, &owner6)] {
        let series = format!("ironlb_l2_ip_conflicts_total{{ip=\"{vip}\"}}");
        let d = delta(node, &series);
        eprintln!("{node}: {series} +{d}");
        assert!(d > 0.0, "{node} counted no conflict for {vip}");
    }
    for n in &nodes {
        let c = delta(n, "ironlb_l2_conflicts_total");
        let r = delta(n, "ironlb_l2_conflict_reasserts_total");
        eprintln!("{n}: conflicts +{c}, re-assertion rounds +{r}");
    }
    for n in [&owner4, &owner6] {
        let r = delta(n, "ironlb_l2_conflict_reasserts_total");
        assert!(r > 0.0, "{n} never re-asserted the IP it owns");
        // At most one round a second per (IP, interface), whatever the flood.
        assert!(
            r <= 2.0 * (flood_secs + 30.0),
            "{n} re-asserted {r} times in {flood_secs:.0} s"
        );
    }
    let mut refused_total = 0.0;
    for reason in REFUSED {
        let series = format!("ironlb_gossip_refused_total{{reason=\"{reason}\"}}");
        for n in &nodes {
            let d = delta(n, &series);
            refused_total += d;
            eprintln!("{n}: {series} +{d}");
            assert!(d > 0.0, "{n} refused no gossip datagram as {reason}");
        }
    }
    // A flood at the heartbeat port must not make a member look silent.
    for state in ["suspect", "down"] {
        let series = format!("ironlb_gossip_heartbeat_verdicts_total{{state=\"{state}\"}}");
        for n in &nodes {
            assert!(after[n].contains(&series), "{n} does not export {series}");
            let d = delta(n, &series);
            eprintln!("{n}: {series} +{d}");
            assert_eq!(d, 0.0, "{n} took a member for {state} during the flood");
        }
    }
    for n in &nodes {
        let members = metric_sample(&after[n], "ironlb_gossip_members");
        assert_eq!(
            members,
            nodes.len() as f64,
            "{n} sees {members} gossip members after the flood"
        );
        let events_by_outcome: Vec<String> = after[n]
            .lines()
            .filter(|l| l.starts_with("ironlb_events_total{"))
            .map(str::to_owned)
            .collect();
        eprintln!("{n}: {}", events_by_outcome.join(", "));
    }

    // Nothing moved, nothing restarted.
    assert_eq!(owner(lab, VIP4), owner4, "{VIP4} moved during the flood");
    assert_eq!(owner(lab, VIP6), owner6, "{VIP6} moved during the flood");
    for n in &nodes {
        assert_eq!(
            lab.speaker_pid(n).as_deref(),
            Some(pids[n].as_str()),
            "the speaker process on {n} changed"
        );
    }
    assert_eq!(speaker_restarts(lab), restarts, "a speaker restarted");

    // Logs: first occurrences and summaries, not a line per frame.
    for n in &nodes {
        let logs = speaker_logs(lab, n);
        let lines: Vec<&str> = logs.lines().skip(log_lines[n]).collect();
        let summaries: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains(" in the last "))
            .collect();
        eprintln!(
            "{n}: {} log lines during and after the flood, {} of them summaries; the last:",
            lines.len(),
            summaries.len()
        );
        for l in summaries.iter().rev().take(4).rev() {
            eprintln!("  {}", speaker_log::strip_ansi(l));
        }
        let others = message_counts(lines.iter().filter(|l| !l.contains(" in the last ")));
        eprintln!("  and the other lines, by message: {others:?}");
        assert!(
            lines.len() <= LOG_LINES_LIMIT,
            "{n}'s speaker wrote {} log lines during the flood",
            lines.len()
        );
    }

    // Memory and CPU of every speaker (the owners had the most to do).
    for n in &nodes {
        let (was, _) = &before[n];
        let now = usage(&pids[n]);
        eprintln!(
            "{n}: speaker CPU {:.2} s over the {flood_secs:.0} s flood; VmRSS {} KiB before, \
             {} KiB after, VmHWM {} KiB",
            cpu[n], was.rss_kib, now.rss_kib, now.hwm_kib
        );
        assert!(
            now.rss_kib < RSS_LIMIT_KIB,
            "{n}'s speaker has {} KiB resident after the flood",
            now.rss_kib
        );
        // Generous: the machine is shared; a speaker spinning on the flood would use
        // about one core the whole time.
        assert!(
            cpu[n] < 0.75 * flood_secs,
            "{n}'s speaker used {:.1} s of CPU in {flood_secs:.0} s",
            cpu[n]
        );
    }
    eprintln!(
        "summary: {} frames and {} gossip datagrams in {flood_secs:.0} s; Events (objects, \
         occurrences) {events:?}; {refused_total} gossip datagrams refused",
        sent["frames_sent"], sent["gossip_sent"]
    );
}
