//! Property tests: overlap detection agrees with brute force on random pools; parse →
//! serialize → parse is stable; `pool_of` agrees with a linear scan; and no input at
//! all — arbitrary bytes, YAML-like noise, mutated documents, deep nesting, alias
//! bombs — makes parsing panic or hang.

use ironlb_config::{ErrorKind, parse, parse_bytes, parse_manifest_or_document};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A random small entry: IPv4 or IPv6, a CIDR or a range, in a tiny address space so
/// that overlaps are common.
fn entry() -> impl Strategy<Value = (bool, bool, u8, u8)> {
    (any::<bool>(), any::<bool>(), 0u8..64, 0u8..64)
}

fn render((v6, cidr, a, b): (bool, bool, u8, u8)) -> (String, u128, u128) {
    let ip = |x: u8| -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, u16::from(x)))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, x))
        }
    };
    let base: u128 = if v6 { 1 << 64 } else { 0 };
    if cidr {
        // /30 (or /126) blocks: 4 addresses starting at a multiple of 4.
        let start = a & !3;
        let len = if v6 { 126 } else { 30 };
        (
            format!("'{}/{len}'", ip(start)),
            base + u128::from(start),
            base + u128::from(start) + 3,
        )
    } else {
        let (s, e) = (a.min(b), a.max(b));
        (
            format!("'{}-{}'", ip(s), ip(e)),
            base + u128::from(s),
            base + u128::from(e),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn overlap_errors_agree_with_brute_force(
        pools in prop::collection::vec(prop::collection::vec(entry(), 1..4), 1..4)
    ) {
        let mut doc = String::from("address-pools:\n");
        let mut spans = Vec::new();
        for (i, entries) in pools.iter().enumerate() {
            let rendered: Vec<(String, u128, u128)> = entries.iter().map(|e| render(*e)).collect();
            let list: Vec<&str> = rendered.iter().map(|(t, _, _)| t.as_str()).collect();
            doc.push_str(&format!("- {{name: p{i}, protocol: layer2, addresses: [{}]}}\n", list.join(", ")));
            spans.extend(rendered.iter().map(|(_, s, e)| (*s, *e)));
        }
        let brute = spans.iter().enumerate().any(|(i, a)| {
            spans.iter().skip(i + 1).any(|b| a.0 <= b.1 && b.0 <= a.1)
        });
        match parse(&doc) {
            Ok(c) => {
                prop_assert!(!brute, "missed an overlap in\n{doc}");
                let total: u128 = spans.iter().map(|(s, e)| e - s + 1).sum();
                prop_assert_eq!(c.pools.iter().map(|p| p.size()).sum::<u128>(), total);
            }
            Err(errs) => {
                prop_assert!(brute, "false overlap in\n{doc}\n{errs}");
                prop_assert!(errs.iter().all(|e| matches!(e.kind, ErrorKind::Overlap { .. })), "{errs}");
            }
        }
    }
}

/// A random document built from valid pieces (it may still break a rule, e.g. two
/// equal peers; those cases are skipped).
fn document() -> impl Strategy<Value = String> {
    let peer = (
        1u32..=u32::MAX,
        1u32..=u32::MAX,
        any::<[u8; 4]>(),
        prop::option::of(1u16..=65535),
        prop::option::of(prop::sample::select(vec![
            "0s", "3s", "90s", "1m30s", "4h", "3.5s",
        ])),
        prop::option::of(any::<[u8; 4]>()),
        prop::option::of("[a-zA-Z0-9 :#'\"-]{0,12}"),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            "[{match-labels: {rack: r1}}]",
            "[{match-expressions: [{key: zone, operator: In, values: [a, b]}]}, {}]",
            "[{match-expressions: [{key: x, operator: DoesNotExist}]}]",
        ])),
        // Graceful restart: on, with a restart time or the default.
        prop::option::of(prop::option::of(1u16..=4095)),
    )
        .prop_map(|(my, peer, addr, port, hold, rid, pw, multihop, sel, gr)| {
            let mut s = format!(
                "- my-asn: {my}\n  peer-asn: {peer}\n  peer-address: {}\n",
                Ipv4Addr::from(addr)
            );
            if let Some(p) = port {
                s += &format!("  peer-port: {p}\n");
            }
            if let Some(h) = hold {
                s += &format!("  hold-time: {h}\n");
            }
            if let Some(r) = rid {
                s += &format!("  router-id: {}\n", Ipv4Addr::from(r));
            }
            if let Some(pw) = pw {
                s += &format!(
                    "  password: {}\n",
                    serde_json::to_string(&pw).unwrap_or_default()
                );
            }
            if multihop && my != peer {
                s += "  ebgp-multihop: true\n";
            }
            if let Some(sel) = sel {
                s += &format!("  node-selectors: {sel}\n");
            }
            if let Some(time) = gr {
                s += "  enable-graceful-restart: true\n";
                if let Some(t) = time {
                    s += &format!("  graceful-restart-time: {t}s\n");
                }
            }
            s
        });
    let pool = (
        any::<bool>(),
        prop::collection::vec((any::<bool>(), 0u16..4096, 0u8..=16, any::<bool>()), 1..4),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec![
            "[{aggregation-length: 32, localpref: 100, communities: [na, '1:2']}, {communities: ['large:1:2:3']}]",
            "[{aggregation-length-v6: 128}]",
        ])),
        prop::option::of(prop::sample::select(vec!["[web]", "[a, b-c]"])),
    );
    let pools = prop::collection::vec(pool, 0..5).prop_map(|pools| {
        let mut s = String::new();
        for (i, (bgp, entries, buggy, auto, ads, ns)) in pools.into_iter().enumerate() {
            s += &format!(
                "- name: pool-{i}\n  protocol: {}\n  addresses:\n",
                if bgp { "bgp" } else { "layer2" }
            );
            for (j, (v6, block, extra, cidr)) in entries.into_iter().enumerate() {
                // Each (pool, entry, block) gets its own /24 (or /120): never overlapping.
                let n = (i * 4 + j) as u32 * 4096 + u32::from(block);
                let (a, b) = ((n >> 8) as u8, n as u8);
                let text = match (v6, cidr) {
                    (false, true) => format!("10.{a}.{b}.0/24"),
                    (false, false) => {
                        format!("10.{a}.{b}.{extra}-10.{a}.{b}.{}", u16::from(extra) + 200)
                    }
                    (true, true) => format!("'fd00::{a:x}:{b:x}:0/120'"),
                    (true, false) => format!("'fd00::{a:x}:{b:x}:{extra:x}-fd00::{a:x}:{b:x}:ff'"),
                };
                s += &format!("  - {text}\n");
            }
            if let Some(b) = buggy {
                s += &format!("  avoid-buggy-ips: {b}\n");
            }
            if let Some(a) = auto {
                s += &format!("  auto-assign: {a}\n");
            }
            if let (true, Some(ads)) = (bgp, ads) {
                s += &format!("  bgp-advertisements: {ads}\n");
            }
            if let Some(ns) = ns {
                s += &format!("  namespaces: {ns}\n");
            }
        }
        s
    });
    (prop::collection::vec(peer, 0..4), pools).prop_map(|(peers, pools)| {
        let mut doc = String::from("bgp-communities:\n  na: 65535:65282\n");
        if !peers.is_empty() {
            doc += "peers:\n";
            doc += &peers.concat();
        }
        if !pools.is_empty() {
            doc += "address-pools:\n";
            doc += &pools;
        }
        doc
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_serialize_parse_is_stable(doc in document()) {
        let first = match parse(&doc) {
            Ok(c) => c,
            Err(e) => {
                // Random peers can collide exactly; anything else is a generator bug.
                prop_assert!(e.iter().all(|e| matches!(e.kind, ErrorKind::DuplicatePeer(_))), "{doc}\n{e}");
                return Ok(());
            }
        };
        let text = first.to_document();
        let second = parse(&text);
        prop_assert_eq!(second.as_ref(), Ok(&first), "document:\n{}\nserialized:\n{}", doc, text);
        prop_assert_eq!(first.to_document(), text, "serialization is deterministic");
    }

    #[test]
    fn pool_of_agrees_with_linear_scan(doc in document(), probes in prop::collection::vec(any::<(bool, u32, u8)>(), 32)) {
        let Ok(c) = parse(&doc) else { return Ok(()) };
        let mut ips: Vec<IpAddr> = c.pools.iter().flat_map(|p| p.addresses.iter().flat_map(|r| [r.start, r.end])).collect();
        for (v6, hi, lo) in probes {
            ips.push(if v6 {
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (hi >> 16) as u16, u16::from(lo)))
            } else {
                IpAddr::V4(Ipv4Addr::from((0x0a00_0000 | (hi & 0x00ff_ff00)) | u32::from(lo)))
            });
        }
        for ip in ips {
            let linear = c.pools.iter().find(|p| p.contains(ip));
            prop_assert_eq!(c.pool_of(ip).map(|p| &p.name), linear.map(|p| &p.name), "{}", ip);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,256}") {
        let _ = parse(&text);
        let _ = parse_manifest_or_document(&text);
    }

    #[test]
    fn yaml_like_noise_never_panics(
        tokens in prop::collection::vec(prop::sample::select(vec![
            "address-pools:", "peers:", "- ", "name: a", "protocol: bgp", "addresses:", "[", "]", "{", "}",
            ", ", "\n", "  ", "10.0.0.0/24", "10.0.0.1-10.0.0.0", "fc00::/7", "&a ", "*a", "!!str ", "'", "\"",
            "my-asn: 1", "peer-address: ::1", "hold-time: 1s", "bgp-advertisements:", "communities: [x]",
            "kind: ConfigMap", "data:", "config: |", "#", "---", "? ", ": ", "|", ">",
        ]), 0..64)
    ) {
        let text = tokens.concat();
        let _ = parse(&text);
        let _ = parse_manifest_or_document(&text);
    }

    #[test]
    fn mutated_documents_never_panic(doc in document(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = doc.into_bytes();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = parse_bytes(&bytes);
    }
}

/// Runs `parse` and `parse_manifest_or_document` on `text` and checks both err quickly.
fn errs_fast(what: &str, text: &str) {
    let start = Instant::now();
    assert!(parse(text).is_err(), "{what} was accepted");
    assert!(
        parse_manifest_or_document(text).is_err(),
        "{what} was accepted as a manifest"
    );
    // A guard against hangs (unbounded expansion), not a speed target: debug builds on a
    // loaded machine take seconds here; the benchmarks measure speed.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(60), "{what} took {took:?}");
}

#[test]
fn deep_nesting_errs() {
    errs_fast(
        "deep flow nesting",
        &format!("peers: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let block: String = (0..5_000)
        .map(|i| format!("{}- \n", " ".repeat(i * 2)))
        .collect();
    errs_fast("deep block nesting", &format!("peers:\n{block}"));
    errs_fast(
        "deep mappings",
        &format!("peers: {}{}", "{a: ".repeat(50_000), "}".repeat(50_000)),
    );
    // A manifest's unknown parts are skipped, not typed: the depth budget must stop it.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let manifest =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {deep}\ndata: {{config: ''}}\n");
    let errs = parse_manifest_or_document(&manifest).unwrap_err();
    assert!(
        matches!(errs.errors()[0].kind, ErrorKind::Yaml { line: Some(3), .. }),
        "{errs}"
    );
    assert!(!errs.to_string().contains("apiVersion"), "{errs}");
}

#[test]
fn alias_bomb_errs() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        doc += &format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        );
    }
    errs_fast("billion laughs", &doc);
    errs_fast(
        "billion laughs in a manifest",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  {}",
            doc.replace('\n', "\n  ")
        ),
    );
}

#[test]
fn many_small_entries_just_under_the_limit_are_fine() {
    // Big but legal input: it parses, in bounded time.
    let mut doc = String::from("address-pools:\n- name: big\n  protocol: layer2\n  addresses:\n");
    let mut n = 0u32;
    while doc.len() < ironlb_config::MAX_INPUT_BYTES - 64 {
        doc += &format!("  - {}/32\n", Ipv4Addr::from(0x0a00_0000 + n));
        n += 1;
    }
    let start = Instant::now();
    let c = parse(&doc).unwrap_or_else(|e| panic!("{}", e.errors()[0]));
    assert_eq!(c.pools[0].size(), u128::from(n));
    assert!(start.elapsed() < Duration::from_secs(60), "a hang guard");
}

#[test]
fn advertisements_times_entries_stay_linear() {
    // 20k entries and 5k advertisements that all aggregate too short: the cost and the
    // number of errors must grow with their sum, not their product.
    let mut doc = String::from("address-pools:\n- name: p\n  protocol: bgp\n  addresses:\n");
    for n in 0..20_000u32 {
        doc += &format!("  - {}/32\n", Ipv4Addr::from(0x0a00_0000 + n));
    }
    doc += "  bgp-advertisements:\n";
    for n in 0..5_000 {
        doc += &format!("  - {{aggregation-length: 24, localpref: {n}}}\n");
    }
    let start = Instant::now();
    let errs = parse(&doc).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(errs.len(), 5_000, "one error per advertisement");
    assert!(errs.iter().all(|e| matches!(
        e.kind,
        ErrorKind::AggregationTooShort {
            len: 24,
            prefix: 32,
            ..
        }
    )));
}
