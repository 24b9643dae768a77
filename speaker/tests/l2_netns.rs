//! The layer-2 responder against real tools in real network namespaces.
//!
//! Two namespaces joined by a veth pair. The responder (this test binary, re-executed
//! inside the "node" namespace as the ignored `responder_child` test) announces
//! 192.0.2.200 and 2001:db8:1::200; from the "client" namespace, real `arping` and
//! `ndisc6` must get the responder interface's MAC for those, and nothing for
//! 192.0.2.201 / 2001:db8:1::201, which nobody owns. Needs root, `ip`, `arping`
//! (Habets) and `ndisc6`; everything it creates lives in its own namespaces (made with
//! `ironlb_lab::netns`) and is removed by Drop guards.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ironlb_lab::Netns;

const NODE_IF: &str = "ilbt-l2-n";
const CLIENT_IF: &str = "ilbt-l2-c";
const OWNED_V4: &str = "192.0.2.200";
const OWNED_V6: &str = "2001:db8:1::200";

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn must(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require_root() {
    let uid = must(&["id", "-u"]);
    assert_eq!(
        uid.trim(),
        "0",
        "needs root (network namespaces, raw sockets)"
    );
}

/// Two namespaces joined by a veth pair; the responder is killed and the namespaces deleted
/// on drop (their [`Netns`] guards), even after a panic.
struct Lab {
    node: String,
    client: String,
    responder: Option<Child>,
    namespaces: [Netns; 2],
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let pid = std::process::id();
        let node = Netns::add(&format!("ilbt-l2-{tag}-n-{pid}")).expect("node namespace");
        let client = Netns::add(&format!("ilbt-l2-{tag}-c-{pid}")).expect("client namespace");
        // Created inside the node namespace with its peer in the client namespace: the
        // root namespace never sees either end.
        node.veth(NODE_IF, &client, CLIENT_IF).expect("veth");
        for (ns, ifname, v4, v6) in [
            (&node, NODE_IF, "192.0.2.1/24", "2001:db8:1::1/64"),
            (&client, CLIENT_IF, "192.0.2.99/24", "2001:db8:1::99/64"),
        ] {
            ns.add_addr(ifname, v4.parse().unwrap())
                .expect("IPv4 address");
            ns.add_addr(ifname, v6.parse().unwrap())
                .expect("IPv6 address");
            ns.up(ifname).expect("link up");
        }
        Lab {
            node: node.name().to_owned(),
            client: client.name().to_owned(),
            responder: None,
            namespaces: [node, client],
        }
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut all = vec!["ip", "netns", "exec", ns];
        all.extend_from_slice(args);
        run(&all)
    }

    fn mac(&self, ifname: &str) -> String {
        self.namespaces[0].mac(ifname).expect("MAC")
    }

    /// Starts the responder inside the node namespace and waits until it announces.
    fn start_responder(&mut self, ips: &[&str]) {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.node])
            .arg(exe)
            .args(["--exact", "responder_child", "--ignored", "--nocapture"])
            .env("ILBT_L2_IFACE", NODE_IF)
            .env("ILBT_L2_IPS", ips.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn responder");
        let stdout = child.stdout.take().expect("piped stdout");
        self.responder = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ILBT-READY") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("responder did not announce within 20 s");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.responder.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn arping(lab: &Lab, ip: &str) -> (bool, String) {
    let out = lab.exec(
        &lab.client,
        &[
            "timeout", "10", "arping", "-i", CLIENT_IF, "-c", "2", "-w", "2", ip,
        ],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_lowercase(),
    )
}

fn ndisc6(lab: &Lab, ip: &str) -> (bool, String) {
    let out = lab.exec(
        &lab.client,
        &[
            "timeout", "10", "ndisc6", "-1", "-r", "3", "-w", "500", ip, CLIENT_IF,
        ],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_lowercase(),
    )
}

#[test]
fn arping_and_ndisc6_get_the_responder_mac_only_for_owned_ips() {
    require_root();
    let mut lab = Lab::new("a");
    // Let the client's kernel learn from gratuitous ARP, to see the takeover burst.
    must(&[
        "ip",
        "netns",
        "exec",
        &lab.client,
        "sysctl",
        "-qw",
        &format!("net.ipv4.conf.{CLIENT_IF}.arp_accept=1"),
    ]);
    lab.start_responder(&[OWNED_V4, OWNED_V6]);
    let mac = lab.mac(NODE_IF);

    // The takeover burst reached the client before anyone asked.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let neigh = must(&["ip", "-n", &lab.client, "neigh", "show", OWNED_V4]);
        if neigh.to_lowercase().contains(&mac) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no gratuitous ARP learnt: {neigh:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (ok, out) = arping(&lab, OWNED_V4);
    assert!(ok, "arping {OWNED_V4} got no answer: {out}");
    assert!(
        out.contains(&mac),
        "arping {OWNED_V4}: expected {mac} in {out}"
    );

    let (ok, out) = arping(&lab, "192.0.2.201");
    assert!(!ok, "arping 192.0.2.201 was answered: {out}");
    assert!(!out.contains(&mac), "{out}");

    let (ok, out) = ndisc6(&lab, OWNED_V6);
    assert!(ok, "ndisc6 {OWNED_V6} got no answer: {out}");
    assert!(
        out.contains(&mac),
        "ndisc6 {OWNED_V6}: expected {mac} in {out}"
    );

    let (ok, out) = ndisc6(&lab, "2001:db8:1::201");
    assert!(!ok, "ndisc6 2001:db8:1::201 was answered: {out}");
    assert!(!out.contains(&mac), "{out}");
}

#[test]
fn solicited_node_group_is_joined_for_each_ipv6_vip() {
    require_root();
    let mut lab = Lab::new("g");
    lab.start_responder(&["2001:db8:1::2ab"]);
    // The kernel lists memberships per interface in /proc/net/igmp6 (hex, no colons).
    let out = lab.exec(&lab.node, &["cat", "/proc/net/igmp6"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(NODE_IF) && l.contains("ff0200000000000000000001ff0002ab")),
        "solicited-node group ff02::1:ff00:2ab not joined on {NODE_IF}:\n{text}"
    );
}

/// Runs inside the node namespace, started by the tests above; not a test by itself.
#[test]
#[ignore = "helper process: started inside a namespace by the namespace tests"]
fn responder_child() {
    use ironlb_speaker::l2::IfaceSelection;
    use ironlb_speaker::l2::{self, L2Event, L2Options};
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::IpAddr;

    let iface = std::env::var("ILBT_L2_IFACE").expect("ILBT_L2_IFACE");
    let ips: BTreeSet<IpAddr> = std::env::var("ILBT_L2_IPS")
        .expect("ILBT_L2_IPS")
        .split(',')
        .map(|s| s.parse().expect("IP"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let metrics = ironlb_speaker::metrics::Metrics::new().expect("metrics");
        let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
        let opts = L2Options {
            interfaces: vec![iface.clone()],
            ..L2Options::default()
        };
        let (handle, _task) = l2::spawn(opts, metrics.l2.clone(), events_tx);
        let set: BTreeMap<IpAddr, IfaceSelection> = ips
            .iter()
            .map(|ip| (*ip, IfaceSelection::AllSuitable))
            .collect();
        handle.set_announced(set).expect("responder running");
        let mut taken = BTreeSet::new();
        while let Some(ev) = events.recv().await {
            if let L2Event::Took { ip, .. } = ev {
                taken.insert(ip);
                if taken == ips {
                    println!("ILBT-READY");
                    break;
                }
            }
        }
        // Serve until the parent kills us (bounded, in case it cannot).
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(handle);
    });
}
