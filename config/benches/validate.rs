//! Validation cost with 1k, 10k and 100k address entries (target: 100k under 100 ms),
//! and the lookup `pool_of` at 100k. Entries are spread over pools of 100, half IPv4,
//! half IPv6, CIDRs and ranges, listed in a scrambled order so that the overlap sort
//! does real work; every fourth pool is BGP with an aggregating advertisement, so the
//! aggregation checks run too.
//!
//! `validate` is the rule checking alone (from the serde document); `parse` adds the
//! YAML parsing of the text. 100k entries are ~2.5 MB of YAML, over the 1 MiB a
//! ConfigMap may hold, so that text is parsed with the size limit lifted.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ironlb_config::{parse::parse_document, validate::validate};

const PER_POOL: usize = 100;

/// A document with `n` address entries, none overlapping.
fn document(n: usize) -> String {
    let mut doc = String::from("address-pools:\n");
    for pool in 0..n.div_ceil(PER_POOL) {
        let bgp = pool % 4 == 0;
        doc += &format!(
            "- name: pool-{pool}\n  protocol: {}\n  addresses:\n",
            if bgp { "bgp" } else { "layer2" }
        );
        for k in pool * PER_POOL..((pool + 1) * PER_POOL).min(n) {
            let s = slot_of(k);
            let entry = match k % 4 {
                // A /28 of 10.0.0.0/4-ish space: slot s owns 16 addresses.
                0 => format!("{}/28", Ipv4Addr::from(0x1000_0000 | (s << 4))),
                1 => {
                    let base = 0x1000_0000 | (s << 4);
                    format!("{}-{}", Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 14))
                }
                2 => format!("'{}/124'", v6(s, 0)),
                _ => format!("'{}-{}'", v6(s, 8), v6(s, 15)),
            };
            doc += &format!("  - {entry}\n");
        }
        if bgp {
            doc += "  bgp-advertisements:\n  - aggregation-length: 32\n    aggregation-length-v6: 125\n    localpref: 100\n    communities: ['65535:65282']\n";
        }
    }
    doc
}

fn v6(slot: u32, low: u16) -> Ipv6Addr {
    Ipv6Addr::new(
        0xfd00,
        0,
        0,
        0,
        0,
        (slot >> 12) as u16,
        (slot & 0xfff) as u16,
        low,
    )
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("config");
    group.sample_size(10);
    for n in [1_000, 10_000, 100_000] {
        let text = document(n);
        let raw = match parse_document(&text, usize::MAX) {
            Ok(raw) => raw,
            Err(e) => panic!("bench document: {e}"),
        };
        if let Err(e) = validate(&raw) {
            panic!("bench document invalid: {e}");
        }
        group.bench_with_input(BenchmarkId::new("validate", n), &raw, |b, raw| {
            b.iter(|| validate(black_box(raw)))
        });
        group.bench_with_input(BenchmarkId::new("parse", n), &text, |b, text| {
            b.iter(|| parse_document(black_box(text), usize::MAX).map(|raw| validate(&raw)))
        });
        if n == 100_000 {
            let config = match validate(&raw) {
                Ok(c) => c,
                Err(e) => panic!("{e}"),
            };
            let probe = IpAddr::V4(Ipv4Addr::from(0x1000_0000 | (slot_of(77_777) << 4) | 3));
            assert!(config.pool_of(probe).is_some(), "probe is in a pool");
            group.bench_function("pool_of/100000", |b| {
                b.iter(|| config.pool_of(black_box(probe)))
            });
        }
    }
    group.finish();
}

/// Where entry `k` lives: an odd multiplier modulo 2^20 permutes 0..2^20, so entries
/// never collide but come in scrambled order.
fn slot_of(k: usize) -> u32 {
    (k.wrapping_mul(0x9E37_79B1) & 0xF_FFFF) as u32
}

criterion_group!(benches, bench);
criterion_main!(benches);
