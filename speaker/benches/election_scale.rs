//! Cost of a full re-election after one node dies, at 100 / 1,000 / 5,000 nodes and
//! 10k / 100k Services (one IPv4 layer-2 IP each), and the memory of the election's
//! inputs and outputs, counted by a counting global allocator (heap bytes) plus
//! `size_of` of the containers' elements where they are inline.
//!
//! `cargo bench -p ironlb-speaker --bench election_scale`; `IRONLB_SCALE=small` runs the
//! smallest sizes only (for development). The election before the fixes of "Scale by
//! simulation" runs beside the current one as `before/...`.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/election_before.rs"]
mod election_before;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ironlb_config::{AddressRange, Config, Pool, PoolName, Protocol};
use ironlb_k8s::ServiceKey;
use ironlb_speaker::election::{self, NodeView, ServiceView, TrafficPolicy};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

fn config() -> Config {
    let mut c = Config {
        pools: vec![Pool {
            name: PoolName("l2".into()),
            protocol: Protocol::Layer2,
            addresses: vec![AddressRange {
                start: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                end: IpAddr::V4(Ipv4Addr::new(10, 255, 255, 255)),
            }],
            avoid_buggy_ips: false,
            auto_assign: true,
            bgp_advertisements: vec![],
            interfaces: vec![],
            node_selectors: vec![],
            namespaces: vec![],
        }],
        ..Config::default()
    };
    c.reindex();
    c
}

fn node_name(i: usize) -> String {
    format!("worker-{i:05}.example.internal")
}

fn nodes(n: usize) -> Vec<NodeView> {
    (0..n)
        .map(|i| NodeView {
            name: node_name(i),
            labels: BTreeMap::from([
                ("kubernetes.io/hostname".to_string(), node_name(i)),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]),
            ready: true,
            live: true,
        })
        .collect()
}

/// `count` Services with one IP each; `local` gives each `Local` policy with ready
/// endpoints on three nodes.
fn services(count: usize, nodes: usize, local: bool) -> Vec<ServiceView> {
    (0..count)
        .map(|i| ServiceView {
            key: ServiceKey {
                namespace: format!("team-{}", i % 100),
                name: format!("service-{i:06}"),
            },
            ips: vec![IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32))],
            policy: if local {
                TrafficPolicy::Local {
                    ready_nodes: (0..3)
                        .map(|k| node_name((i * 7 + k * 13) % nodes))
                        .collect(),
                }
            } else {
                TrafficPolicy::Cluster
            },
            has_ready_endpoint: true,
        })
        .collect()
}

fn small() -> bool {
    std::env::var("IRONLB_SCALE").is_ok_and(|v| v == "small")
}

fn memory() {
    let (n, n_heap) = counting_alloc::heap_of(|| nodes(1000));
    let n_bytes = n_heap + n.capacity() * size_of::<NodeView>();
    let (s, s_heap) = counting_alloc::heap_of(|| services(10_000, 1000, false));
    let s_bytes = s_heap + s.capacity() * size_of::<ServiceView>();
    let (sl, sl_heap) = counting_alloc::heap_of(|| services(10_000, 1000, true));
    let sl_bytes = sl_heap + sl.capacity() * size_of::<ServiceView>();
    let c = config();
    let (w, w_bytes) = counting_alloc::heap_of(|| election::elect(&c, &n, &s));
    println!("election memory (heap bytes by counting allocator + inline Vec elements):");
    println!("  nodes input, per 1k nodes (2 labels each):        {n_bytes} B");
    println!("  services input, per 10k Services (Cluster):       {s_bytes} B");
    println!("  services input, per 10k Services (Local, 3 nodes): {sl_bytes} B");
    println!("  winners output, per 10k IPs:                      {w_bytes} B");
    drop((n, s, sl, w));
}

fn bench(c: &mut Criterion) {
    memory();
    let cfg = config();
    let sizes: &[(usize, usize)] = if small() {
        &[(100, 10_000)]
    } else {
        &[
            (100, 10_000),
            (1000, 10_000),
            (5000, 10_000),
            (100, 100_000),
            (1000, 100_000),
            (5000, 100_000),
        ]
    };
    let mut g = c.benchmark_group("reelect_one_dead");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &(n, s) in sizes {
        let mut ns = nodes(n);
        // One node has died: the full re-election the orchestrator runs on the change.
        ns[n / 2].live = false;
        let id = format!("{n}n/{}k", s / 1000);
        for local in [false, true] {
            if local && s > 10_000 {
                continue;
            }
            let svcs = services(s, n, local);
            let policy = if local { "local" } else { "cluster" };
            assert_eq!(
                election::elect(&cfg, &ns, &svcs),
                election_before::elect(&cfg, &ns, &svcs),
                "the fixes changed an answer"
            );
            g.bench_with_input(
                BenchmarkId::new(format!("after/{policy}"), &id),
                &svcs,
                |b, svcs| b.iter(|| black_box(election::elect(&cfg, &ns, svcs))),
            );
            // Before is linear in Services: measured at 10k only to keep the run short.
            if s <= 10_000 {
                g.bench_with_input(
                    BenchmarkId::new(format!("before/{policy}"), &id),
                    &svcs,
                    |b, svcs| b.iter(|| black_box(election_before::elect(&cfg, &ns, svcs))),
                );
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
