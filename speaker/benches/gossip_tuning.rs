//! Failure detection in a small cluster, by simulation ([`ironlb_speaker::gossip::sim`]):
//! for each way of timing the gossip, how long until a dead speaker is declared down
//! (p50 / p99 / max over many deaths), and how many live speakers are declared down
//! falsely over ten simulated minutes of packet loss, or of one speaker stalling (no CPU)
//! for a while every second; and what each costs at rest, in datagrams a speaker sends a
//! second (each one sent is one received, and a wake-up of both speakers: most of a
//! speaker's idle CPU). The rows are what the speaker's defaults were chosen from
//! (docs/PERFORMANCE.md, "Failure detection").
//!
//! `cargo bench -p ironlb-speaker --bench gossip_tuning`; `IRONLB_TUNE_NODES=3`,
//! `IRONLB_TUNE_DEATHS=200`, `IRONLB_TUNE_MINUTES=10` change the size, the number of
//! deaths and the simulated time of the false-down runs; `IRONLB_TUNE_ONLY=fixed` runs
//! only the variants whose name contains the text. Prints Markdown tables.

use foca::{Config, PeriodicParams};
use ironlb_speaker::gossip::detector::Timing;
use ironlb_speaker::gossip::lan_config_timed;
use ironlb_speaker::gossip::sim::{Sim, SimConfig};
use std::num::NonZeroUsize;
use std::time::Duration;

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One way of timing the gossip.
struct Variant {
    name: String,
    foca: Box<dyn Fn(usize) -> Config>,
    detector: Option<Duration>,
    heartbeat: Duration,
    fanout: usize,
}

fn variants() -> Vec<Variant> {
    let timed = |probe, suspicion, silence| {
        let t = Timing {
            heartbeat: Duration::ZERO,
            probe_interval: ms(probe),
            suspicion: ms(suspicion),
            silence: ms(silence),
            ..Timing::default()
        };
        Variant {
            name: format!(
                "detector: probe {probe} ms, suspicion {suspicion} ms, silence {silence} ms"
            ),
            foca: Box::new(move |n| lan_config_timed(n, &t)),
            detector: Some(t.silence),
            heartbeat: t.heartbeat,
            fanout: t.heartbeat_fanout,
        }
    };
    // Heartbeats every `beat` ms to `fanout` speakers, watched with `silence`, probing
    // every `probe` ms behind.
    let beats = |beat, fanout, probe, silence| {
        let t = Timing {
            heartbeat: ms(beat),
            heartbeat_fanout: fanout,
            probe_interval: ms(probe),
            silence: ms(silence),
            ..Timing::default()
        };
        Variant {
            name: format!(
                "heartbeat {beat} ms to {fanout}, silence {silence} ms, probe {probe} ms"
            ),
            foca: Box::new(move |n| lan_config_timed(n, &t)),
            detector: Some(t.silence),
            heartbeat: t.heartbeat,
            fanout: t.heartbeat_fanout,
        }
    };
    let probing_50 = Timing {
        heartbeat: Duration::ZERO,
        probe_interval: ms(50),
        ..Timing::default()
    };
    // As `timed`, but the suspicion stays `suspicion` at any size instead of growing with
    // the probe interval (4 × log10(size) intervals): news is pushed at once now, so a
    // refutation need not wait for probes to carry it.
    let fixed = |probe, suspicion: u64, silence| {
        let v = timed(probe, suspicion, silence);
        let scaled = v.foca;
        Variant {
            name: format!(
                "detector: probe {probe} ms, fixed suspicion {suspicion} ms, silence {silence} ms"
            ),
            foca: Box::new(move |n| {
                let mut c = scaled(n);
                c.suspect_to_down_after = ms(suspicion);
                c
            }),
            detector: v.detector,
            heartbeat: Duration::ZERO,
            fanout: v.fanout,
        }
    };
    let before = Variant {
        name: "before: foca alone, probe 50 ms, suspicion 250 ms".into(),
        foca: Box::new(move |n| {
            let mut c = lan_config_timed(n, &probing_50);
            c.suspect_to_down_after = ms(250);
            c.periodic_gossip = Some(PeriodicParams {
                frequency: ms(50),
                num_members: NonZeroUsize::MIN.saturating_add(2),
            });
            c
        }),
        detector: None,
        heartbeat: Duration::ZERO,
        fanout: 0,
    };
    let short = Variant {
        name: "foca alone, probe 50 ms, suspicion 100 ms".into(),
        foca: Box::new(move |n| lan_config_timed(n, &probing_50)),
        detector: None,
        heartbeat: Duration::ZERO,
        fanout: 0,
    };
    vec![
        before,
        short,
        timed(50, 100, 150),
        timed(50, 100, 200),
        timed(50, 100, 250),
        timed(50, 100, 300),
        timed(50, 50, 200),
        timed(75, 75, 250),
        timed(100, 50, 250),
        timed(100, 100, 250),
        fixed(75, 75, 250),
        fixed(100, 50, 250),
        fixed(100, 100, 250),
        beats(50, 3, 1000, 150),
        beats(50, 3, 1000, 200),
        beats(50, 3, 1000, 250),
        beats(25, 3, 1000, 150),
        beats(100, 3, 1000, 300),
        beats(50, 2, 1000, 200),
        beats(50, 1, 1000, 200),
        beats(50, 1, 1000, 250),
        beats(60, 1, 1000, 200),
        beats(75, 1, 1000, 200),
        beats(75, 1, 1000, 225),
        beats(100, 1, 1000, 200),
        beats(100, 1, 1000, 250),
    ]
}

fn config(v: &Variant, nodes: usize, loss: f64, seed: u64) -> SimConfig {
    SimConfig {
        foca: (v.foca)(nodes),
        detector: v.detector,
        heartbeat: v.heartbeat,
        heartbeat_fanout: v.fanout,
        ..SimConfig::lan(nodes, loss, seed)
    }
}

fn pct(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "—".into();
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    format!("{:.0}", sorted[i].as_secs_f64() * 1000.0)
}

/// Time to the first "down" after a death, over `deaths` fresh clusters (each killed at
/// a different phase of the probe cycle); and how many were never detected in 3 s.
fn detection(v: &Variant, nodes: usize, loss: f64, deaths: u64) -> (Vec<Duration>, u64) {
    let mut times = Vec::new();
    let mut missed = 0;
    for seed in 0..deaths {
        let mut sim = Sim::new(config(v, nodes, loss, seed + 1));
        sim.run_until(ms(1000 + (seed * 7) % 100));
        let d = sim.kill_and_watch(nodes - 1, ms(3000));
        match d.first {
            Some(t) => times.push(t),
            None => missed += 1,
        }
    }
    times.sort();
    (times, missed)
}

/// Datagrams each speaker sends a second at rest, no loss, over a simulated minute; its
/// wake-ups a second (estimated: [`Sim::wakes_by`]); and
/// the CPU time the pure core (foca, sealing, the detector; no sockets, no runtime) spends
/// per datagram, sender and receiver together, in µs.
fn idle_rate(v: &Variant, nodes: usize) -> (f64, f64, f64) {
    let mut sim = Sim::new(config(v, nodes, 0.0, 7));
    sim.run_until(Duration::from_secs(10));
    let before = sim.traffic().sent;
    let wakes = |sim: &Sim| (0..nodes).map(|i| sim.wakes_by(i)).sum::<u64>();
    let woke = wakes(&sim);
    let began = std::time::Instant::now();
    sim.run_until(Duration::from_secs(70));
    let sent = sim.traffic().sent - before;
    let per = began.elapsed().as_secs_f64() * 1e6 / sent.max(1) as f64;
    let per_node = |n: u64| n as f64 / 60.0 / nodes as f64;
    (per_node(sent), per_node(wakes(&sim) - woke), per)
}

/// Live speakers declared down (observer, member pairs) over `minutes` of simulated time.
fn false_downs(
    v: &Variant,
    nodes: usize,
    loss: f64,
    stall: Option<Duration>,
    minutes: u64,
) -> usize {
    let mut sim = Sim::new(config(v, nodes, loss, 42));
    let end = Duration::from_secs(60 * minutes);
    if let Some(len) = stall {
        // Speaker 0 stalls once a second, at a varying phase.
        for s in 1..60 * minutes {
            sim.stall_at(0, Duration::from_secs(s) + ms((s * 37) % 500), len);
        }
    }
    sim.run_until(end);
    sim.downs().len()
}

fn main() {
    let nodes = env_or("IRONLB_TUNE_NODES", 3) as usize;
    let deaths = env_or("IRONLB_TUNE_DEATHS", 200);
    let minutes = env_or("IRONLB_TUNE_MINUTES", 10);
    // IRONLB_TUNE_ONLY=text: only the variants whose name contains it.
    let only = std::env::var("IRONLB_TUNE_ONLY").unwrap_or_default();
    let variants: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| v.name.contains(&only))
        .collect();
    println!(
        "\n{nodes} speakers; detection over {deaths} deaths each (the first speaker to declare the dead one down), in ms\n"
    );
    println!("| timing | loss | p50 | p99 | max | not detected in 3 s |");
    println!("|---|---|--:|--:|--:|--:|");
    for v in &variants {
        for loss in [0.0, 0.05] {
            let (t, missed) = detection(v, nodes, loss, deaths);
            println!(
                "| {} | {:.0} % | {} | {} | {} | {missed} |",
                v.name,
                loss * 100.0,
                pct(&t, 0.5),
                pct(&t, 0.99),
                pct(&t, 1.0),
            );
        }
    }
    println!("\ndatagrams sent per speaker per second at rest\n");
    println!("| timing | datagrams/s | wake-ups/s (estimated) | core µs per datagram |");
    println!("|---|--:|--:|--:|");
    for v in &variants {
        let (rate, wakes, per) = idle_rate(v, nodes);
        println!("| {} | {rate:.1} | {wakes:.1} | {per:.1} |", v.name);
    }
    println!("\nfalse downs over {minutes} simulated minutes (observer, member pairs; 0 wanted)\n");
    println!(
        "| timing | 1 % loss | 5 % loss | 10 % loss | a 100 ms stall every s | 150 ms | 200 ms | 300 ms |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for v in &variants {
        let loss: Vec<String> = [0.01, 0.05, 0.10]
            .iter()
            .map(|l| false_downs(v, nodes, *l, None, minutes).to_string())
            .collect();
        let stalls: Vec<String> = [100, 150, 200, 300]
            .iter()
            .map(|s| false_downs(v, nodes, 0.0, Some(ms(*s)), minutes).to_string())
            .collect();
        println!(
            "| {} | {} | {} |",
            v.name,
            loss.join(" | "),
            stalls.join(" | ")
        );
    }
}
