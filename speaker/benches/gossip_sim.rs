//! Gossip at scale, by simulation ([`ironlb_speaker::gossip::sim`]): for each size and
//! loss rate, the time from a speaker's death until the first and until every other
//! speaker declares it down (p50 / p99 over several deaths), the gossip bytes each
//! speaker sends per second at steady state, false "down"s, and the host CPU the
//! simulation took per simulated second (all nodes together). Then the memory foca holds
//! per 1,000 members and the cost of the driver's per-datagram member-set rebuild.
//!
//! `cargo bench -p ironlb-speaker --bench gossip_sim` (full: 100, 1,000, 5,000 nodes ×
//! 0 %, 1 %, 5 % loss). `IRONLB_SIM_NODES=100,1000 IRONLB_SIM_LOSS=0,0.05
//! IRONLB_SIM_DEATHS=5 IRONLB_SIM_DEADLINE_MS=3000 IRONLB_SIM_BEFORE=0` narrows it (the
//! last skips the rows with dissemination sized for 8). Prints Markdown tables.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use foca::{Foca, Member};
use ironlb_speaker::gossip::lan_config;
use ironlb_speaker::gossip::sim::{Sim, SimConfig, node_id};
use ironlb_speaker::gossip::wire::WireCodec;
use rand_core::SeedableRng;
use rand_xorshift::XorShiftRng;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

fn list<T>(var: &str, default: &[T]) -> Vec<T>
where
    T: std::str::FromStr + Clone,
{
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// How long to wait for every node to learn of a death (`IRONLB_SIM_DEADLINE_MS`, 5 s).
fn deadline() -> Duration {
    let ms = list("IRONLB_SIM_DEADLINE_MS", &[5000u64]);
    Duration::from_millis(ms.first().copied().unwrap_or(5000))
}

fn pct(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let sizes: Vec<usize> = list("IRONLB_SIM_NODES", &[100, 1000, 5000]);
    let losses: Vec<f64> = list("IRONLB_SIM_LOSS", &[0.0, 0.01, 0.05]);
    let deaths: Vec<usize> = list("IRONLB_SIM_DEATHS", &[10]);
    let deaths = deaths.first().copied().unwrap_or(10);
    let c = lan_config(8);
    println!(
        "foca config (gossip::lan_config(n)): probe {:?}, rtt {:?}, indirect {}, suspect→down {:?}, \
         gossip every {:?} to {}, max_transmissions {} (8 nodes; {} at 100, {} at 1,000, {} at 5,000), max packet {}",
        c.probe_period,
        c.probe_rtt,
        c.num_indirect_probes,
        c.suspect_to_down_after,
        c.periodic_gossip
            .as_ref()
            .map(|p| p.frequency)
            .unwrap_or_default(),
        c.periodic_gossip
            .as_ref()
            .map_or(0, |p| p.num_members.get()),
        c.max_transmissions,
        lan_config(100).max_transmissions,
        lan_config(1000).max_transmissions,
        lan_config(5000).max_transmissions,
        c.max_packet_size,
    );
    println!();
    println!(
        "| nodes | loss | updates sent | deaths | first down p50 / p99 (ms) | all down p50 / p99 (ms) | not all by the deadline | \
         bytes/node/s | datagrams/node/s | falsely down: members / observers | host CPU s per simulated s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        for &loss in &losses {
            // Before: dissemination sized for 8 speakers whatever the size.
            let skip_before = std::env::var("IRONLB_SIM_BEFORE").is_ok_and(|v| v == "0");
            for sized in [8, n] {
                if sized != n && skip_before {
                    continue;
                }
                run(n, loss, deaths, sized);
            }
        }
    }
    println!();
    members_memory(&sizes);
    println!();
    member_set_rebuild(&sizes);
    println!();
    addr_scan(&sizes);
}

/// Foca finds the member an update is about by a linear scan comparing
/// `Identity::addr()` of each member with the update's: the cost of that scan with the
/// node name as an owned `String` (two allocations per comparison, as before) and as an
/// `Arc<str>` (a reference count), measured in one run.
fn addr_scan(sizes: &[usize]) {
    println!(
        "| members | scan per applied update, String addr (µs) | Arc<str> addr (µs) | ratio |"
    );
    println!("|---|---|---|---|");
    for &n in sizes {
        let owned: Vec<String> = (0..n).map(|i| node_id(i).name.to_string()).collect();
        let shared: Vec<std::sync::Arc<str>> = (0..n).map(|i| node_id(i).name).collect();
        let rounds = (2_000_000 / n).max(10);
        let (t_owned, t_shared) = {
            let target = owned[n - 1].clone();
            let t = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(owned.iter().position(|m| m.clone() == target.clone()));
            }
            let a = t.elapsed();
            let target = std::sync::Arc::clone(&shared[n - 1]);
            let t = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(
                    shared
                        .iter()
                        .position(|m| std::sync::Arc::clone(m) == std::sync::Arc::clone(&target)),
                );
            }
            (a, t.elapsed())
        };
        let us = |d: Duration| d.as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} |",
            us(t_owned),
            us(t_shared),
            us(t_owned) / us(t_shared)
        );
    }
}

fn run(n: usize, loss: f64, deaths: usize, sized: usize) {
    let cpu = Instant::now();
    let mut config = SimConfig::lan(n, loss, 0x0001_e01b + n as u64);
    config.foca = lan_config(sized);
    let max_tx = config.foca.max_transmissions;
    let mut sim = Sim::new(config);
    let warm = Duration::from_secs(1);
    let window = Duration::from_secs(1);
    sim.run_until(warm);
    let before: Vec<(u64, u64)> = (0..n)
        .map(|i| (sim.bytes_sent_by(i), sim.sent_by(i)))
        .collect();
    sim.run_until(warm + window);
    let (bytes, dgrams) = (0..n).fold((0u64, 0u64), |(b, d), i| {
        (
            b + sim.bytes_sent_by(i) - before[i].0,
            d + sim.sent_by(i) - before[i].1,
        )
    });
    let per_s = |x: u64| x as f64 / n as f64 / window.as_secs_f64();
    let mut first = Vec::new();
    let mut all = Vec::new();
    let mut timeouts = 0;
    let mut victim = 1usize;
    for _ in 0..deaths.min(n.saturating_sub(2)) {
        victim = (victim * 7919 + 13) % n;
        while !sim.is_alive(victim) {
            victim = (victim + 1) % n;
        }
        let d = sim.kill_and_watch(victim, deadline());
        first.extend(d.first);
        match d.all {
            Some(t) => all.push(t),
            None => timeouts += 1,
        }
        let next = sim.now() + Duration::from_millis(300);
        sim.run_until(next);
    }
    first.sort();
    all.sort();
    let false_pairs: Vec<(usize, usize)> = sim
        .downs()
        .iter()
        .filter(|&&(o, m, _)| sim.is_alive(m) && sim.is_alive(o))
        .map(|&(o, m, _)| (o, m))
        .collect();
    let false_members: BTreeSet<usize> = false_pairs.iter().map(|p| p.1).collect();
    let show = |v: &[Duration]| match (pct(v, 0.5), pct(v, 0.99)) {
        (Some(a), Some(b)) => format!("{} / {}", ms(a), ms(b)),
        _ => "—".into(),
    };
    let cpu = cpu.elapsed().as_secs_f64() / sim.now().as_secs_f64();
    println!(
        "| {n} | {:.0} % | {max_tx}× | {} | {} | {} | {timeouts} | {:.0} | {:.0} | {} / {} | {cpu:.2} |",
        loss * 100.0,
        first.len().max(all.len() + timeouts),
        show(&first),
        show(&all),
        per_s(bytes),
        per_s(dgrams),
        false_members.len(),
        false_pairs.len(),
    );
}

/// Heap bytes one speaker's foca holds per 1,000 members (counting allocator).
fn members_memory(sizes: &[usize]) {
    println!("| members | foca heap (KiB) | per 1k members (KiB) |");
    println!("|---|---|---|");
    for &n in sizes {
        let (foca, bytes) = counting_alloc::heap_of(|| {
            let mut foca = Foca::new(
                node_id(0),
                lan_config(n),
                XorShiftRng::from_seed([7; 16]),
                WireCodec,
            );
            let mut rt = foca::AccumulatingRuntime::new();
            let _ = foca.apply_many((1..n).map(|j| Member::alive(node_id(j))), false, &mut rt);
            foca
        });
        println!(
            "| {n} | {:.0} | {:.0} |",
            bytes as f64 / 1024.0,
            bytes as f64 / 1024.0 / n as f64 * 1000.0
        );
        drop(foca);
    }
}

/// What the speaker's gossip task spends per event on publishing the member set: before
/// the fix it rebuilt a `BTreeSet<String>` of every member after every datagram and timer.
fn member_set_rebuild(sizes: &[usize]) {
    println!("| members | member-set rebuild per event (µs) |");
    println!("|---|---|");
    for &n in sizes {
        let mut foca = Foca::new(
            node_id(0),
            lan_config(n),
            XorShiftRng::from_seed([7; 16]),
            WireCodec,
        );
        let mut rt = foca::AccumulatingRuntime::new();
        let _ = foca.apply_many((1..n).map(|j| Member::alive(node_id(j))), false, &mut rt);
        let rounds = (2_000_000 / n).max(10);
        let t = Instant::now();
        for _ in 0..rounds {
            let live: BTreeSet<String> = foca
                .iter_members()
                .map(|m| m.id().name.to_string())
                .chain(std::iter::once("node-00000".to_string()))
                .collect();
            std::hint::black_box(live);
        }
        println!(
            "| {n} | {:.1} |",
            t.elapsed().as_secs_f64() * 1e6 / rounds as f64
        );
    }
}
