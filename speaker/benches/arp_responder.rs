//! ARP answering of the layer-2 responder: sustained replies per second at offered
//! loads and reply latency, beside the node kernel answering ARP for its own address.
//!
//! Run as root: `cargo bench -p ironlb-speaker --bench arp_responder`.
//!
//! Two namespaces joined by a veth pair (`ilbt-l2-n` / `ilbt-l2-c`). This binary
//! re-executes itself inside them: as the responder (announcing 192.0.2.200) in the
//! node namespace, and as the load generator in the client namespace, which sends ARP
//! requests from a raw packet socket, each with a sequence number in its sender MAC,
//! and matches the replies. The kernel baseline is the same generator aimed at
//! 192.0.2.1, the node interface's own address. Everything lives in namespaces this
//! binary creates and deletes.

use ironlb_speaker::l2::arp::{ArpFrame, ArpOp};
use ironlb_speaker::l2::ethernet::MacAddr;
use pnet::datalink::{self, Channel};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODE_IF: &str = "ilbt-l2-n";
const CLIENT_IF: &str = "ilbt-l2-c";
const VIP: &str = "192.0.2.200";
const NODE_ADDR: &str = "192.0.2.1";
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
const RATES: &[u64] = &[10_000, 25_000, 50_000, 100_000, 200_000];

fn main() {
    match std::env::var("ILBT_ROLE").as_deref() {
        Ok("responder") => responder(),
        Ok("load") => load(),
        _ => orchestrate(),
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Namespaces {
    node: String,
    client: String,
    children: Vec<Child>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.node])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.client])
            .status();
    }
}

fn orchestrate() {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "needs root"
    );
    let pid = std::process::id();
    let mut ns = Namespaces {
        node: format!("ilbt-l2-b-n-{pid}"),
        client: format!("ilbt-l2-b-c-{pid}"),
        children: vec![],
    };
    sh(&["ip", "netns", "add", &ns.node]);
    sh(&["ip", "netns", "add", &ns.client]);
    sh(&[
        "ip", "-n", &ns.node, "link", "add", NODE_IF, "type", "veth", "peer", "name", CLIENT_IF,
        "netns", &ns.client,
    ]);
    for (n, i, a) in [
        (&ns.node, NODE_IF, "192.0.2.1/24"),
        (&ns.client, CLIENT_IF, "192.0.2.99/24"),
    ] {
        sh(&["ip", "-n", n, "addr", "add", a, "dev", i]);
        sh(&["ip", "-n", n, "link", "set", i, "up"]);
    }
    let exe = std::env::current_exe().expect("own path");

    let mut responder = Command::new("ip")
        .args(["netns", "exec", &ns.node])
        .arg(&exe)
        .env("ILBT_ROLE", "responder")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn responder");
    let stdout = responder.stdout.take().expect("stdout");
    ns.children.push(responder);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("READY") => break,
            Some(Ok(_)) => {}
            _ => panic!("responder exited before announcing"),
        }
    }

    println!("ARP answering, one veth pair, generator in its own namespace");
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>9}",
        "target", "offered/s", "sent", "answered", "ratio"
    );
    for (who, target) in [
        ("ironlb responder", VIP),
        ("kernel (node address)", NODE_ADDR),
    ] {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.client])
            .arg(&exe)
            .env("ILBT_ROLE", "load")
            .env("ILBT_TARGET", target)
            .env("ILBT_WHO", who)
            .output()
            .expect("run load generator");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn responder() {
    use ironlb_speaker::l2::IfaceSelection;
    use ironlb_speaker::l2::{self, L2Event, L2Options};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let metrics = ironlb_speaker::metrics::Metrics::new().expect("metrics");
        let (tx, mut events) = tokio::sync::mpsc::channel(16);
        let opts = L2Options {
            interfaces: vec![NODE_IF.into()],
            ..L2Options::default()
        };
        let (handle, _task) = l2::spawn(opts, metrics.l2.clone(), tx);
        let ip = VIP.parse().expect("VIP");
        handle
            .set_announced([(ip, IfaceSelection::AllSuitable)].into())
            .expect("running");
        while let Some(ev) = events.recv().await {
            if matches!(ev, L2Event::Took { .. }) {
                println!("READY");
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

fn seq_mac(seq: u32) -> MacAddr {
    let b = seq.to_be_bytes();
    MacAddr([0x02, 0x5e, b[0], b[1], b[2], b[3]])
}

fn seq_of(mac: MacAddr) -> Option<u32> {
    let m = mac.0;
    (m[0] == 0x02 && m[1] == 0x5e).then(|| u32::from_be_bytes([m[2], m[3], m[4], m[5]]))
}

/// Sends `count` requests paced at `rate` per second (in 1 ms batches); returns the send
/// time of each and the receive time of each answered one.
fn run_phase(target: Ipv4Addr, rate: u64, count: u32) -> (Vec<Instant>, Vec<Option<Instant>>) {
    let iface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == CLIENT_IF)
        .expect("client interface");
    let mac = MacAddr(iface.mac.expect("client MAC").octets());
    let config = datalink::Config {
        read_timeout: Some(Duration::from_millis(50)),
        promiscuous: true,
        read_buffer_size: 1 << 16,
        ..datalink::Config::default()
    };
    let (mut tx, mut rx) = match datalink::channel(&iface, config).expect("packet socket") {
        Channel::Ethernet(tx, rx) => (tx, rx),
        _ => panic!("not Ethernet"),
    };
    let n = count as usize;
    let receiver = std::thread::spawn(move || {
        let mut got: Vec<Option<Instant>> = vec![None; n];
        let mut quiet_since = Instant::now();
        loop {
            if let Ok(frame) = rx.next()
                && let Ok(a) = ArpFrame::decode(frame)
                && a.op == ArpOp::Reply
                && a.sender_ip == target
                && let Some(s) = seq_of(a.target_mac)
                && let Some(slot) = got.get_mut(s as usize)
                && slot.is_none()
            {
                *slot = Some(Instant::now());
                quiet_since = Instant::now();
            }
            if quiet_since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        got
    });
    let per_ms = (rate / 1000).max(1);
    let mut sent = Vec::with_capacity(n);
    let start = Instant::now();
    let mut seq = 0u32;
    let mut tick = 0u64;
    while seq < count {
        for _ in 0..per_ms {
            if seq >= count {
                break;
            }
            let sha = seq_mac(seq);
            let frame = ArpFrame {
                eth_dst: MacAddr::BROADCAST,
                eth_src: mac,
                op: ArpOp::Request,
                sender_mac: sha,
                sender_ip: CLIENT_ADDR,
                target_mac: MacAddr::ZERO,
                target_ip: target,
            }
            .encode();
            sent.push(Instant::now());
            let _ = tx.send_to(&frame, None);
            seq += 1;
        }
        tick += 1;
        let next = start + Duration::from_millis(tick);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let got = receiver.join().expect("receiver");
    (sent, got)
}

fn load() {
    let target: Ipv4Addr = std::env::var("ILBT_TARGET")
        .expect("ILBT_TARGET")
        .parse()
        .expect("IPv4 target");
    let who = std::env::var("ILBT_WHO").unwrap_or_default();
    for &rate in RATES {
        let count = u32::try_from(rate).expect("rate fits"); // one second of load
        let (sent, got) = run_phase(target, rate, count);
        let answered = got.iter().filter(|g| g.is_some()).count();
        println!(
            "{:<28} {:>10} {:>10} {:>10} {:>8.1}%",
            who,
            rate,
            sent.len(),
            answered,
            100.0 * answered as f64 / sent.len().max(1) as f64
        );
    }
    // Latency at a light load: 2,000 requests at 2,000/s.
    let (sent, got) = run_phase(target, 2_000, 2_000);
    let mut rtts: Vec<Duration> = sent
        .iter()
        .zip(&got)
        .filter_map(|(s, g)| g.map(|g| g.saturating_duration_since(*s)))
        .collect();
    rtts.sort();
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{:<28} latency at 2000/s: answered {}/{}  p50 {:?}  p99 {:?}  max {:?}",
        who,
        rtts.len(),
        sent.len(),
        pct(0.50),
        pct(0.99),
        rtts.last().copied().unwrap_or_default()
    );
}
