//! Layer 2 end to end in the lab, with the lab's real controller, speakers (gossip on),
//! kube-apiserver and client namespace:
//! - a Service gets its requested IP; `arping` from the client gets exactly one MAC,
//!   the elected node's; `curl` reaches that node; the Service carries the speaker's
//!   `nodeAssigned` Event naming it; an unallocated pool IP gets no answer;
//! - the same over IPv6 with `ndisc6` and `curl -6`;
//! - stopping the announcing speaker, or pulling its node's cable, moves the IP to
//!   another node (times printed; see docs/PERFORMANCE.md);
//! - labelling the node `exclude-from-external-load-balancers` moves it too;
//! - Local policy follows the endpoint from node to node; Services sharing an IP land on
//!   one node, which lists both; a NotReady node gives up its IPs; with the API server
//!   stopped, the IP stays announced and still moves when its speaker dies (gossip);
//! - the announcing node shows the IP in its NodeAnnouncement and in `ironlb status`, and
//!   once the Service has no ready endpoint nobody answers or shows it.
//!
//! Each Service gets a ready endpoint, an echo pod, on every node (a node that loses its
//! link must not take the only endpoint with it); which node took a request in is what the
//! echo saw (`Lab::ingress_node`: kube-proxy masquerades external traffic it forwards).
//!
//! Uses the lab's ConfigMap `config` (adding the layer-2 pool 192.0.2.200-192.0.2.254 /
//! 2001:db8:1::200-2001:db8:1::2ff if it has none) and the namespace `l2-test`;
//! Services are deleted, speakers restarted, cables plugged and labels removed at the
//! end, even on failure. The tests run one at a time (they move IPs). Needs root and
//! the built binaries (`cargo build --workspace`).

use ironlb_tests::{Lab, ServiceGuard, lab, lb_service, ok};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const NS: &str = "l2-test";

/// The tests here move IPs between nodes (stopping speakers, labelling nodes): they run
/// one at a time so that one's moves never show up in another's observations.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the lab for one test (tests share it, one at a time) once it is whole again: a
/// node that the previous test took out and put back (its speaker, its cable, its
/// readiness) rejoins within seconds and takes back the IPs it ranks first for.
fn begin() -> (std::sync::MutexGuard<'static, ()>, &'static Lab) {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let lab = lab();
    lab.wait_speakers_whole();
    (serial, lab)
}

const POOL: &str = "address-pools:\n- name: lab-l2\n  protocol: layer2\n  addresses:\n  - 192.0.2.200-192.0.2.254\n  - 2001:db8:1::200-2001:db8:1::2ff\n";

/// Makes sure the lab's config has the layer-2 pool (leaves a config that has it alone).
fn ensure_pool(lab: &Lab) {
    if lab
        .config_text()
        .is_some_and(|current| current.contains("192.0.2.200"))
    {
        return;
    }
    lab.set_config(POOL);
}

fn service(lab: &'static Lab, name: &str, ip: &str) -> ServiceGuard {
    service_with(lab, name, ip, serde_json::json!({}))
}

/// Like [`service`], with `extra` merged into the spec.
fn service_with(lab: &'static Lab, name: &str, ip: &str, extra: serde_json::Value) -> ServiceGuard {
    let guard = lb_service(lab, NS, name, ip, extra);
    let nodes = lab.nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    lab.endpoints_on(NS, name, &nodes);
    guard
}

/// MACs that answered `arping` for `ip` from the client (empty: no answer).
fn arping(lab: &Lab, ip: &str) -> BTreeSet<String> {
    let client = lab.env("IRONLB_LAB_CLIENT");
    let iface = lab.env("IRONLB_LAB_CLIENT_IF");
    let out = lab.exec_in(
        client,
        &[
            "timeout", "10", "arping", "-i", iface, "-c", "3", "-w", "3", ip,
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_lowercase))
        .collect()
}

#[test]
fn arping_gets_the_elected_nodes_mac_and_curl_reaches_it() {
    let (_serial, lab) = begin();
    ensure_pool(lab);
    let vip = "192.0.2.230";
    let _svc = service(lab, "l2-web", vip);

    lab.wait_for(
        "the controller to give l2-test/l2-web its requested IP",
        Duration::from_secs(30),
        || {
            lab.service_ips(NS, "l2-web")
                .contains(&vip.to_owned())
                .then_some(())
        },
    );

    let macs = lab.wait_for("an ARP answer for the VIP", Duration::from_secs(15), || {
        let m = arping(lab, vip);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(
        macs.len(),
        1,
        "more than one node answers for {vip}: {macs:?}"
    );
    let mac = macs.into_iter().next().unwrap_or_default();
    let node = lab
        .node_of_mac(&mac)
        .unwrap_or_else(|| panic!("{mac} is not the eth0 of any lab node"));

    // kube-proxy programs the IP about when IronLB announces it: give it a moment.
    let client = lab.env("IRONLB_LAB_CLIENT");
    let took = lab.wait_for("the VIP to answer HTTP", Duration::from_secs(15), || {
        lab.ingress_node(client, vip, "2")
    });
    assert_eq!(
        took, node,
        "curl reached another node than the one answering ARP"
    );

    lab.wait_for(
        "the speaker's nodeAssigned Event",
        Duration::from_secs(15),
        || {
            lab.event_messages(NS, "l2-web", "nodeAssigned")
                .contains(&format!("from node {node} on eth0"))
                .then_some(())
        },
    );

    // A pool address nobody holds gets no answer at all.
    let none = arping(lab, "192.0.2.231");
    assert!(
        none.is_empty(),
        "192.0.2.231 is held by nobody yet answered by {none:?}"
    );
}

/// Restarts a stopped speaker / removes a label on drop, so a failed test leaves the
/// lab as it found it.
struct Restore<'a> {
    lab: &'a Lab,
    speaker: Option<String>,
    unlabel: Option<String>,
    link: Option<String>,
}

/// Starts the lab's kube-apiserver again on drop (before anything else is restored: the
/// others need the API).
struct ApiserverBack<'a>(&'a Lab);

impl Drop for ApiserverBack<'_> {
    fn drop(&mut self) {
        let _ = self.0.ironlb_lab(&["start", "apiserver"]);
    }
}

/// Marks a node Ready again on drop.
struct ReadyAgain<'a>(&'a Lab, String);

impl Drop for ReadyAgain<'_> {
    fn drop(&mut self) {
        let _ = set_ready(self.0, &self.1, true);
    }
}

/// Sets node `node`'s Ready condition; its kubelet is frozen meanwhile (thawed when Ready
/// again) so that it does not write its own back.
fn set_ready(lab: &Lab, node: &str, ready: bool) -> std::process::Output {
    if !ready {
        lab.freeze_kubelet(node, true);
    }
    let status = if ready { "True" } else { "False" };
    let patch = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": status, "reason": "IronLBTest",
         "message": "set by the l2 tests", "lastHeartbeatTime": null}
    ]}});
    let out = lab.kubectl(&[
        "patch",
        "node",
        node,
        "--subresource=status",
        "--type=strategic",
        "-p",
        &patch.to_string(),
    ]);
    if ready {
        lab.freeze_kubelet(node, false);
    }
    out
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(n) = &self.speaker {
            let _ = self.lab.ironlb_lab(&["start", "speaker", n]);
        }
        if let Some(n) = &self.link {
            let _ = self.lab.ironlb_lab(&["link", n, "up"]);
        }
        if let Some(n) = &self.unlabel {
            let _ = self.lab.kubectl(&[
                "label",
                "node",
                n,
                "node.kubernetes.io/exclude-from-external-load-balancers-",
            ]);
        }
    }
}

/// The node `curl http://VIP/` reaches from the client, if any answers within 300 ms.
fn curl_node(lab: &Lab, vip: &str) -> Option<String> {
    curl_node_within(lab, vip, "0.3")
}

fn curl_node_within(lab: &Lab, vip: &str, seconds: &str) -> Option<String> {
    lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), vip, seconds)
}

/// Whether process `pid` still runs (a zombie counts as dead).
fn process_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Polls `cond` every 2 ms until it holds and returns that moment; panics after `limit`.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> std::time::Instant {
    let begin = std::time::Instant::now();
    loop {
        if cond() {
            return std::time::Instant::now();
        }
        assert!(
            begin.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls the VIP from the client every ~20 ms (each try gives up after 100 ms, so a
/// try sent to the dead node does not hide the new one for long) until a node other
/// than `old` answers; returns it and the time since `start`.
fn wait_for_move(lab: &Lab, vip: &str, old: &str, start: std::time::Instant) -> (String, Duration) {
    loop {
        if let Some(n) = curl_node_within(lab, vip, "0.1").filter(|n| n != old) {
            return (n, start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{vip} still not served by another node than {old} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Prints when a peer's gossip declared `dead` gone after `fault` (the failure detection
/// inside a failover; bench/failover.sh reports it), and asserts that one did: the move
/// must have come from the gossip, not from anything slower.
fn report_detection(lab: &Lab, what: &str, dead: &str, fault: std::time::SystemTime) {
    // The log line may reach the pod log a moment after the move.
    let (by, after) = lab.wait_for(
        &format!("a speaker to log that {dead} left the gossip"),
        Duration::from_secs(10),
        || lab.detection_of(dead, fault),
    );
    eprintln!("detection of the {what} on {dead}: {by} declared it down {after:?} after the fault");
}

/// Asserts that exactly one MAC answers ARP for `vip`, `node`'s (`when`: for the message).
fn assert_only_answerer(lab: &Lab, vip: &str, node: &str, when: &str) {
    let macs = arping(lab, vip);
    assert_eq!(macs.len(), 1, "{when}: {vip} answered by {macs:?}");
    assert_eq!(
        lab.node_of_mac(macs.iter().next().map(String::as_str).unwrap_or("")),
        Some(node.to_owned()),
        "{when}: {vip} answered by {macs:?}"
    );
}

/// Waits (10 s at most) until `curl` to `vip` reaches another node than `first`; returns it.
fn moved_from(lab: &Lab, vip: &str, first: &str, what: &str) -> String {
    lab.wait_for(what, Duration::from_secs(10), || {
        curl_node(lab, vip).filter(|n| n != first)
    })
}

/// Gives `name` the IP `vip` and returns the node announcing it.
fn announced(lab: &'static Lab, name: &str, vip: &str) -> (ServiceGuard, String) {
    ensure_pool(lab);
    let svc = service(lab, name, vip);
    // The node answering ARP and the node curl reaches must agree (the client's cache
    // may still point at a previous announcer for a moment).
    let node = lab.wait_for(
        &format!("{vip} to be announced and reachable"),
        Duration::from_secs(30),
        || {
            let by_curl = curl_node(lab, vip)?;
            let macs = arping(lab, vip);
            let by_arp = lab.node_of_mac(macs.iter().next()?)?;
            (macs.len() == 1 && by_arp == by_curl).then_some(by_curl)
        },
    );
    (svc, node)
}

#[test]
fn killing_the_announcing_speaker_moves_the_ip_in_about_a_second() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.232";
    let (_svc, first) = announced(lab, "l2-failover", vip);
    let mut restore = Restore {
        lab,
        speaker: None,
        unlabel: None,
        link: None,
    };
    // Timed from the speaker's death (the lab's `stop` may first wait for its lock):
    // the client polls while a thread stops the speaker.
    let pid = lab
        .speaker_pid(&first)
        .unwrap_or_else(|| panic!("no speaker process on {first}"));
    restore.speaker = Some(first.clone());
    let stopper = {
        let first = first.clone();
        std::thread::spawn(move || ok(&lab.ironlb_lab(&["stop", "speaker", &first])))
    };
    let start = wait_until(Duration::from_secs(10), || !process_alive(&pid));
    let (second, took) = wait_for_move(lab, vip, &first, start);
    stopper.join().expect("lab stop");
    eprintln!(
        "failover {first} -> {second}: client traffic reaches the new node {took:?} after the \
         speaker died"
    );
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    assert_only_answerer(lab, vip, &second, "after failover");
}

/// Thaws a node's kubelet on drop.
struct Thaw<'a>(&'a Lab, String);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.0.freeze_kubelet(&self.1, false);
    }
}

#[test]
fn a_crashed_speaker_is_detected_and_its_ip_moves() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.241";
    let (_svc, first) = announced(lab, "l2-crash", vip);
    // `start` replaces the crashed speaker's pod and waits until it is ready again.
    let _restore = Restore {
        lab,
        speaker: Some(first.clone()),
        unlabel: None,
        link: None,
    };
    // The kubelet would restart the container within a second or two, sometimes before the
    // others notice: frozen meanwhile, the speaker stays dead as on a hung node.
    lab.freeze_kubelet(&first, true);
    let _thaw = Thaw(lab, first.clone());
    let pid = lab
        .speaker_pid(&first)
        .unwrap_or_else(|| panic!("no speaker process on {first}"));
    // No goodbye: the others must notice the silence.
    ok(&Command::new("kill")
        .args(["-KILL", &pid])
        .output()
        .expect("kill"));
    let start = std::time::Instant::now();
    let fault = std::time::SystemTime::now();
    let (second, took) = wait_for_move(lab, vip, &first, start);
    eprintln!(
        "crash of the speaker on {first}: client traffic reaches {second} {took:?} after kill -9"
    );
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    report_detection(lab, "crash", &first, fault);
}

#[test]
fn an_excluded_node_gives_up_its_ips() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.233";
    let (_svc, first) = announced(lab, "l2-exclude", vip);
    let _restore = Restore {
        lab,
        speaker: None,
        unlabel: Some(first.clone()),
        link: None,
    };
    ok(&lab.kubectl(&[
        "label",
        "node",
        &first,
        "node.kubernetes.io/exclude-from-external-load-balancers=true",
    ]));
    let second = moved_from(lab, vip, &first, "the IP to leave the excluded node");
    assert_ne!(second, first);
}

#[test]
fn pulling_the_announcing_nodes_cable_moves_the_ip() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.234";
    let (_svc, first) = announced(lab, "l2-link", vip);
    let _restore = Restore {
        lab,
        speaker: None,
        unlabel: None,
        link: Some(first.clone()),
    };
    // Timed from the moment the node's eth0 loses its carrier.
    let puller = {
        let first = first.clone();
        std::thread::spawn(move || ok(&lab.ironlb_lab(&["link", &first, "down"])))
    };
    let start = wait_until(Duration::from_secs(10), || {
        let out = Command::new("ip")
            .args(["-n", &first, "-br", "link", "show", "eth0"])
            .output()
            .expect("ip link");
        !String::from_utf8_lossy(&out.stdout).contains(" UP ")
    });
    let fault = std::time::SystemTime::now() - start.elapsed();
    puller.join().expect("lab link");
    let (second, took) = wait_for_move(lab, vip, &first, start);
    eprintln!("link loss on {first}: client traffic reaches {second} {took:?} after carrier loss");
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    report_detection(lab, "link loss", &first, fault);
}

#[test]
fn ndisc6_gets_the_elected_nodes_mac_and_curl_reaches_it_over_ipv6() {
    let (_serial, lab) = begin();
    ensure_pool(lab);
    let vip = "2001:db8:1::232";
    let _svc = service_with(
        lab,
        "l2-web6",
        vip,
        serde_json::json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"}),
    );
    let mac = lab.wait_for("an NDP answer for the VIP", Duration::from_secs(30), || {
        lab.ndisc6(vip)
    });
    let node = lab
        .node_of_mac(&mac)
        .unwrap_or_else(|| panic!("{mac} is not the eth0 of any lab node"));
    let took = lab.wait_for("the VIP to answer HTTP", Duration::from_secs(15), || {
        lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), &format!("[{vip}]"), "2")
    });
    assert_eq!(
        took, node,
        "curl -6 reached another node than the one answering NDP"
    );
    assert_eq!(
        lab.ndisc6("2001:db8:1::2fe"),
        None,
        "an IP nobody holds was answered"
    );
}

/// The nodes whose NodeAnnouncement lists `vip`.
fn nodes_showing(lab: &Lab, vip: &str) -> BTreeSet<String> {
    lab.nodes()
        .into_iter()
        .filter(|n| lab.node_announcements(n).iter().any(|a| a["ip"] == vip))
        .collect()
}

#[test]
fn the_announcing_node_is_shown_and_a_service_without_endpoints_is_not_announced() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.236";
    let name = "l2-shown";
    let (_svc, node) = announced(lab, name, vip);

    // Its NodeAnnouncement says so, and no other node's does.
    let entry = lab.wait_for(
        "the announcing node's NodeAnnouncement to list the VIP",
        Duration::from_secs(15),
        || {
            let shown = nodes_showing(lab, vip);
            if shown != BTreeSet::from([node.clone()]) {
                return None;
            }
            lab.node_announcements(&node)
                .into_iter()
                .find(|a| a["ip"] == vip)
        },
    );
    assert_eq!(entry["mode"], "layer2");
    assert_eq!(entry["interface"], "eth0");
    assert_eq!(
        entry["services"],
        serde_json::json!([format!("{NS}/{name}")])
    );
    assert!(entry["since"].is_string(), "no since in {entry}");

    // `ironlb status` reads the same answer from the API.
    let out = Command::new(lab.ironlb())
        .env("KUBECONFIG", lab.env("KUBECONFIG"))
        .args(["status", "-o", "json"])
        .output()
        .expect("run ironlb status");
    let rows: serde_json::Value = serde_json::from_str(&ok(&out)).expect("status JSON");
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["namespace"] == NS && r["name"] == name))
        .unwrap_or_else(|| panic!("no row for {NS}/{name} in {rows}"));
    assert_eq!(row["ips"], serde_json::json!([vip]));
    assert_eq!(row["mode"], "layer2");
    assert_eq!(
        row["announcers"],
        serde_json::json!([{"node": node, "ip": vip, "mode": "layer2", "interface": "eth0"}])
    );

    // Without a ready endpoint the IP would only blackhole traffic: nobody announces it.
    lab.remove_endpoints(NS, name);
    lab.wait_for(
        "the VIP to be withdrawn once the Service has no endpoint",
        Duration::from_secs(15),
        || nodes_showing(lab, vip).is_empty().then_some(()),
    );
    let macs = arping(lab, vip);
    assert!(
        macs.is_empty(),
        "{vip} has no ready endpoint yet is answered by {macs:?}"
    );

    // An endpoint again: announced again.
    lab.endpoint_on(NS, name, &lab.nodes()[0]);
    lab.wait_for(
        "the VIP to be announced again with an endpoint",
        Duration::from_secs(15),
        || (!arping(lab, vip).is_empty()).then_some(()),
    );
}

#[test]
fn local_policy_follows_the_endpoints() {
    let (_serial, lab) = begin();
    ensure_pool(lab);
    let vip = "192.0.2.237";
    let name = "l2-local";
    let nodes = lab.nodes();
    let _svc = service_with(
        lab,
        name,
        vip,
        serde_json::json!({"externalTrafficPolicy": "Local"}),
    );
    for node in [&nodes[1], &nodes[2]] {
        lab.endpoint_on(NS, name, node);
        lab.wait_for(
            &format!("{vip} to be answered by {node}, the node with the endpoint"),
            Duration::from_secs(15),
            || {
                let macs = arping(lab, vip);
                let by_arp = lab.node_of_mac(macs.iter().next()?)?;
                (macs.len() == 1 && by_arp == *node && curl_node(lab, vip)? == *node).then_some(())
            },
        );
    }
}

#[test]
fn services_sharing_an_ip_land_on_one_node() {
    let (_serial, lab) = begin();
    ensure_pool(lab);
    let vip = "192.0.2.238";
    let share = serde_json::json!({"metadata": {"annotations": {
        "metallb.universe.tf/allow-shared-ip": "l2-shared", "ironlb.io/loadBalancerIPs": vip}}});
    let _a = service_with(lab, "l2-share-a", vip, serde_json::json!({}));
    let _b = service_with(
        lab,
        "l2-share-b",
        vip,
        serde_json::json!({"ports": [{"port": 8080, "protocol": "TCP"}]}),
    );
    for svc in ["l2-share-a", "l2-share-b"] {
        let patch = share.to_string();
        ok(&lab.kubectl(&["-n", NS, "patch", "service", svc, "-p", &patch]));
    }
    // Both get the IP, one node answers for it and lists both Services.
    for svc in ["l2-share-a", "l2-share-b"] {
        lab.wait_for(
            &format!("{svc} to get {vip}"),
            Duration::from_secs(30),
            || (lab.service_ips(NS, svc) == [vip]).then_some(()),
        );
    }
    let node = lab.wait_for(
        "one node to list both Services",
        Duration::from_secs(15),
        || {
            let shown = nodes_showing(lab, vip);
            let node = shown.iter().next()?.clone();
            let entry = lab
                .node_announcements(&node)
                .into_iter()
                .find(|a| a["ip"] == vip)?;
            let want = serde_json::json!([format!("{NS}/l2-share-a"), format!("{NS}/l2-share-b")]);
            (shown.len() == 1 && entry["services"] == want).then_some(node)
        },
    );
    assert_only_answerer(lab, vip, &node, "shared by two Services");
}

#[test]
fn a_not_ready_node_gives_up_its_ips() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.239";
    let (_svc, first) = announced(lab, "l2-notready", vip);
    let _ready = ReadyAgain(lab, first.clone());
    ok(&set_ready(lab, &first, false));
    let second = moved_from(lab, vip, &first, "the IP to leave the NotReady node");
    assert_only_answerer(lab, vip, &second, "after the move");
}

#[test]
fn failover_still_works_with_the_api_server_stopped() {
    let (_serial, lab) = begin();
    let vip = "192.0.2.240";
    let (_svc, first) = announced(lab, "l2-outage", vip);
    // Dropped last to first: the speaker starts once the API is back.
    let _restore = Restore {
        lab,
        speaker: Some(first.clone()),
        unlabel: None,
        link: None,
    };
    let _api = ApiserverBack(lab);
    ok(&lab.ironlb_lab(&["stop", "apiserver"]));
    assert!(
        !lab.kubectl(&["get", "nodes", "--request-timeout=2s"])
            .status
            .success(),
        "the API still answers after 'ironlb lab stop apiserver'"
    );
    // Announcing goes on from the last known state...
    assert_eq!(curl_node(lab, vip).as_deref(), Some(first.as_str()));
    // ...and gossip alone moves the IP when its speaker dies.
    ok(&lab.ironlb_lab(&["stop", "speaker", &first]));
    let second = moved_from(lab, vip, &first, "the IP to move with the API server down");
    assert_only_answerer(lab, vip, &second, "after failover without the API");
}
