//! `lan_flood`: a hostile host on the LAN, for the `hostile_lan` end-to-end test. Sends, from
//! a raw packet socket on one interface, spoofed ARP replies and unsolicited Neighbor
//! Advertisements claiming a VIP for a foreign MAC plus malformed ARP/NDP frames of every
//! kind in [`ironlb_tests::flood::FrameKind`], and (from a UDP socket) junk datagrams to the
//! speakers' gossip port, each at a bounded rate for a given time. Prints one JSON object
//! with what it sent. Run it inside the lab's client namespace:
//!
//! ```text
//! ip netns exec hst-client lan_flood --iface eth0 --vip4 192.0.2.210 \
//!     --vip6 2001:db8:1::210 --gossip 192.0.2.3:7946 --seconds 60
//! ```
//! Needs CAP_NET_RAW. Only ever use it on a lab's own namespaces.
#![forbid(unsafe_code)]

use anyhow::{Context as _, bail};
use clap::Parser;
use ironlb_tests::flood::{self, Claim, FrameKind, GossipJunk, Junk, Mac};
use pnet::datalink::{self, Channel};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Flood a lab LAN with spoofed and malformed ARP/NDP frames and junk gossip datagrams.
#[derive(Parser)]
struct Flags {
    /// Interface to send the frames from.
    #[arg(long)]
    iface: String,
    /// IPv4 VIP the spoofed ARP replies claim.
    #[arg(long)]
    vip4: Ipv4Addr,
    /// IPv6 VIP the spoofed Neighbor Advertisements claim.
    #[arg(long)]
    vip6: Ipv6Addr,
    /// The foreign MAC (Ethernet source; claims rotate over 16 MACs derived from it).
    #[arg(long, default_value = "02:00:5e:10:66:60")]
    mac: Mac,
    /// ARP/NDP frames per second, all kinds together (they take turns).
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Gossip datagrams per second, all targets together.
    #[arg(long, default_value_t = 2000)]
    gossip_rate: u64,
    /// Gossip ports to send junk to (repeatable), e.g. 192.0.2.3:7946.
    #[arg(long)]
    gossip: Vec<SocketAddr>,
    /// How long to flood, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

/// Pacing granularity: a sender catches up with its schedule this often.
const TICK: Duration = Duration::from_millis(1);

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let length = Duration::from_secs(flags.seconds);
    let gossip = {
        let (targets, rate) = (flags.gossip.clone(), flags.gossip_rate);
        std::thread::spawn(move || gossip_flood(&targets, rate, length))
    };
    let frames = l2_flood(&flags, length)?;
    let gossip = match gossip.join() {
        Ok(g) => g?,
        Err(_) => bail!("the gossip sender panicked"),
    };
    let report = serde_json::json!({
        "seconds": frames.elapsed.as_secs_f64(),
        "frames_sent": frames.sent.values().sum::<u64>(),
        "frames": frames.sent.iter().map(|(k, n)| (k.as_str(), n)).collect::<BTreeMap<_, _>>(),
        "frame_errors": frames.errors,
        "gossip_sent": gossip.sent.values().sum::<u64>(),
        "gossip": gossip.sent.iter().map(|(k, n)| (format!("{k:?}").to_lowercase(), *n)).collect::<BTreeMap<_, _>>(),
        "gossip_errors": gossip.errors,
    });
    println!("{report}");
    Ok(())
}

/// What one sender did.
struct Sent<K> {
    sent: BTreeMap<K, u64>,
    errors: u64,
    elapsed: Duration,
}

fn l2_flood(flags: &Flags, length: Duration) -> anyhow::Result<Sent<FrameKind>> {
    let iface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == flags.iface)
        .with_context(|| format!("no interface {}", flags.iface))?;
    let config = datalink::Config {
        // Nothing is read: a small buffer the kernel may overflow.
        read_buffer_size: 4096,
        read_timeout: Some(Duration::from_millis(10)),
        ..datalink::Config::default()
    };
    let mut tx = match datalink::channel(&iface, config).context("packet socket")? {
        Channel::Ethernet(tx, _rx) => tx,
        _ => bail!("{} is not an Ethernet interface", flags.iface),
    };
    let claim = Claim {
        vip4: flags.vip4,
        vip6: flags.vip6,
        mac: flags.mac,
    };
    let mut out = Sent {
        sent: BTreeMap::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    let start = Instant::now();
    let mut seq = 0u64;
    while start.elapsed() < length {
        let due = flood::due(flags.rate, start.elapsed());
        while seq < due {
            // `seq % len` indexes the array.
            let kind = FrameKind::ALL[(seq % FrameKind::ALL.len() as u64) as usize];
            let frame = flood::frame(kind, &claim, seq / FrameKind::ALL.len() as u64);
            match tx.send_to(&frame, None) {
                Some(Ok(())) | None => *out.sent.entry(kind).or_default() += 1,
                // A full send queue under load: counted, not fatal.
                Some(Err(_)) => out.errors += 1,
            }
            seq += 1;
        }
        std::thread::sleep(TICK);
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

fn gossip_flood(
    targets: &[SocketAddr],
    rate: u64,
    length: Duration,
) -> anyhow::Result<Sent<GossipJunk>> {
    let mut out = Sent {
        sent: BTreeMap::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    if targets.is_empty() {
        return Ok(out);
    }
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("UDP socket")?;
    let mut rng = Junk::new(u64::from(std::process::id()));
    let start = Instant::now();
    let mut seq = 0u64;
    while start.elapsed() < length {
        let due = flood::due(rate, start.elapsed());
        while seq < due {
            // `seq % len` indexes the slice.
            let to = targets[(seq % targets.len() as u64) as usize];
            let (kind, datagram) = flood::gossip_datagram(seq / targets.len() as u64, &mut rng);
            match sock.send_to(&datagram, to) {
                Ok(_) => *out.sent.entry(kind).or_default() += 1,
                Err(_) => out.errors += 1,
            }
            seq += 1;
        }
        std::thread::sleep(TICK);
    }
    out.elapsed = start.elapsed();
    Ok(out)
}
