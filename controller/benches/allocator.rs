//! Time per allocation with 1k, 10k and 100k addresses already in use, in an IPv4 /16
//! (which holds 65,536, so its top size is 60k) and an IPv6 /64. Each iteration assigns
//! one new Service and releases it again, so the state stays at the named size.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ironlb_config::{AddressRange, Config, Pool, PoolName, Protocol};
use ironlb_controller::allocator::{Allocator, Families, Family, Request, ServiceKey, Target};
use ironlb_controller::sharing::Sharing;

fn allocator(start: &str, end: &str, avoid_buggy_ips: bool) -> Allocator {
    let (Ok(start), Ok(end)) = (start.parse(), end.parse()) else {
        panic!("bad bench range");
    };
    let config = Config {
        pools: vec![Pool {
            name: PoolName("bench".to_owned()),
            protocol: Protocol::Layer2,
            addresses: vec![AddressRange { start, end }],
            avoid_buggy_ips,
            auto_assign: true,
            bgp_advertisements: vec![],
            interfaces: vec![],
            node_selectors: vec![],
            namespaces: vec![],
        }],
        ..Config::default()
    };
    Allocator::new(&config)
}

fn request(n: usize, family: Family) -> Request {
    Request {
        service: ServiceKey::new("bench", format!("svc-{n}")),
        target: Target::Auto,
        families: Families::single(family),
        sharing: Sharing::default(),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocate");
    let cases = [
        (
            "v4-/16",
            "10.0.0.0",
            "10.0.255.255",
            Family::V4,
            [1_000, 10_000, 60_000],
        ),
        (
            "v6-/64",
            "fd00::",
            "fd00::ffff:ffff:ffff:ffff",
            Family::V6,
            [1_000, 10_000, 100_000],
        ),
    ];
    for (name, start, end, family, sizes) in cases {
        for used in sizes {
            let mut a = allocator(start, end, true);
            for n in 0..used {
                if a.assign(&request(n, family)).is_err() {
                    panic!("prefill failed at {n}");
                }
            }
            // Free a scattered tenth, so both the free list and the cursor are exercised.
            for n in (0..used).step_by(10) {
                a.release(&request(n, family).service);
            }
            for n in (0..used).step_by(10) {
                let _ = a.assign(&request(n, family));
            }
            let probe = request(usize::MAX, family);
            group.bench_with_input(BenchmarkId::new(name, used), &used, |b, _| {
                b.iter(|| {
                    let ips = a.assign(black_box(&probe));
                    black_box(&ips);
                    a.release(&probe.service);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
