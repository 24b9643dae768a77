//! Real MetalLB legacy examples (from its documentation's style) and IronLB's own keys,
//! from `testdata/`: they parse, mean what MetalLB means, and answer the lookups the
//! controller and speaker make.

use ironlb_config::{
    Community, ErrorKind, LabelOperator, Protocol, parse, parse_manifest_or_document,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

fn fixture(name: &str) -> String {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn layer2_range_pools() {
    let c = parse(&fixture("metallb-layer2.yaml")).unwrap();
    let names: Vec<&str> = c.pools.iter().map(|p| p.name.0.as_str()).collect();
    assert_eq!(names, ["default", "lab"], "config order kept");
    let default = c.pool("default").unwrap();
    assert_eq!(default.protocol, Protocol::Layer2);
    assert_eq!(default.size(), 11, ".240 to .250 inclusive");
    assert!(default.auto_assign, "auto-assign defaults to true");
    assert!(default.bgp_advertisements.is_empty());
    let lab = c.pool("lab").unwrap();
    assert!(!lab.auto_assign);
    assert_eq!(
        lab.size(),
        254,
        "a /24 less .0 and .255 with avoid-buggy-ips"
    );
    assert_eq!(
        c.pool_of(ip("192.168.1.245")).map(|p| &p.name.0[..]),
        Some("default")
    );
    assert_eq!(
        c.pool_of(ip("192.168.144.0")).map(|p| &p.name.0[..]),
        Some("lab")
    );
    assert!(c.pool_of(ip("192.168.1.251")).is_none());
    assert!(c.pool("nope").is_none());
}

#[test]
fn bgp_with_communities() {
    let c = parse(&fixture("metallb-bgp-communities.yaml")).unwrap();
    let first = &c.peers[0];
    assert_eq!(
        (first.my_asn, first.peer_asn, first.peer_port),
        (64500, 64501, 179)
    );
    assert_eq!(
        first.hold_time,
        Duration::from_secs(90),
        "MetalLB default hold time"
    );
    assert_eq!(
        first.keepalive_time,
        Duration::from_secs(30),
        "hold time / 3"
    );
    assert!(!first.ebgp_multihop);
    let second = &c.peers[1];
    assert_eq!(second.peer_port, 1179);
    assert_eq!(second.hold_time, Duration::from_secs(90));
    assert_eq!(second.keepalive_time, Duration::from_secs(20));
    assert_eq!(second.router_id, Some("10.0.0.100".parse().unwrap()));
    assert_eq!(second.source_address, Some(ip("10.0.0.10")));
    assert_eq!(second.password.as_deref(), Some("yourPassword"));
    assert!(second.ebgp_multihop);

    let no_advertise = Community::Standard((65535 << 16) | 65282);
    assert_eq!(c.bgp_communities.get("no-advertise"), Some(&no_advertise));
    let pool = c.pool("default").unwrap();
    assert_eq!(pool.bgp_advertisements.len(), 2);
    let ad = &pool.bgp_advertisements[0];
    assert_eq!(ad.aggregation_length, 32);
    assert_eq!(ad.aggregation_length_v6, 128, "default");
    assert_eq!(ad.local_pref, Some(100));
    let mut want = vec![no_advertise, Community::Standard((64500 << 16) | 10)];
    want.sort();
    assert_eq!(ad.communities, want, "alias resolved, sorted");
    assert_eq!(pool.bgp_advertisements[1].aggregation_length, 24);
    assert_eq!(pool.bgp_advertisements[1].local_pref, None);

    let plain = c.pool("plain").unwrap();
    assert_eq!(
        plain.bgp_advertisements.len(),
        1,
        "a bgp pool gets one default advertisement"
    );
    assert_eq!(plain.bgp_advertisements[0].aggregation_length, 32);
    assert_eq!(plain.size(), 11);
}

#[test]
fn peers_by_node_selectors() {
    let c = parse(&fixture("metallb-node-selectors.yaml")).unwrap();
    let sel = &c.peers[0].node_selectors;
    assert_eq!(sel.len(), 2);
    assert_eq!(
        sel[0].match_expressions[0].operator,
        LabelOperator::NotIn(vec!["slow".into()])
    );
    let peers_of = |l: &BTreeMap<String, String>| -> Vec<IpAddr> {
        c.peers_for_node(l).map(|p| p.peer_address).collect()
    };
    let both = vec![ip("10.0.0.1"), ip("10.0.0.2")];
    let only_second = vec![ip("10.0.0.2")];
    assert_eq!(peers_of(&labels(&[("rack", "frontend")])), both);
    assert_eq!(
        peers_of(&labels(&[("rack", "frontend"), ("network-speed", "slow")])),
        only_second
    );
    assert_eq!(
        peers_of(&labels(&[("kubernetes.io/hostname", "hostB")])),
        both
    );
    assert_eq!(
        peers_of(&labels(&[("kubernetes.io/hostname", "hostC")])),
        only_second
    );
    assert_eq!(peers_of(&BTreeMap::new()), only_second);
}

#[test]
fn ipv6_and_dual_stack() {
    let c = parse(&fixture("metallb-ipv6.yaml")).unwrap();
    let v6 = c.pool("v6").unwrap();
    assert_eq!(v6.size(), 256 + 17);
    assert!(v6.contains(ip("fc00:f853:ccd:e799::1a")));
    let dual = c.pool("dual").unwrap();
    assert_eq!(dual.size(), 64 + (1u128 << 64));
    assert_eq!(
        c.pool_of(ip("2001:db8:2::abcd")).map(|p| &p.name.0[..]),
        Some("dual")
    );
    assert_eq!(
        c.pool_of(ip("192.0.2.63")).map(|p| &p.name.0[..]),
        Some("dual")
    );
    assert!(c.pool_of(ip("192.0.2.64")).is_none());
    let ad = &dual.bgp_advertisements[0];
    assert_eq!((ad.aggregation_length, ad.aggregation_length_v6), (26, 64));
    assert_eq!(ad.communities, vec![Community::Large(4_200_000_000, 1, 1)]);
}

#[test]
fn bfd_profiles() {
    let c = parse(&fixture("metallb-bfd.yaml")).unwrap();
    assert_eq!(c.bfd_profiles.len(), 2);
    assert_eq!(c.bfd_profiles[0].receive_interval, Some(179));
    assert_eq!(c.bfd_profiles[0].minimum_ttl, Some(254));
    assert_eq!(c.bfd_profiles[1].receive_interval, None);
    assert_eq!(c.peers[0].bfd_profile.as_deref(), Some("full1"));
}

#[test]
fn ironlb_additions() {
    let c = parse(&fixture("ironlb-additions.yaml")).unwrap();
    let p = c.pool("dmz").unwrap();
    assert_eq!(p.interfaces, ["eth1", "bond0.100"]);
    assert!(p.namespace_allowed("web"));
    assert!(!p.namespace_allowed("default"));
    assert!(p.node_matches(&labels(&[("ironlb.io/dmz", "true")])));
    assert!(!p.node_matches(&labels(&[("ironlb.io/dmz", "false")])));
    // Without the keys a pool means what it means to MetalLB: every node, every namespace.
    let l2 = parse(&fixture("metallb-layer2.yaml")).unwrap();
    let d = l2.pool("default").unwrap();
    assert!(d.namespace_allowed("anything") && d.node_matches(&BTreeMap::new()));
    assert!(d.interfaces.is_empty());
}

#[test]
fn configmap_manifest_or_bare_document() {
    let from_manifest = parse_manifest_or_document(&fixture("configmap.yaml")).unwrap();
    let bare = "address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - 192.168.1.240-192.168.1.250\n";
    assert_eq!(from_manifest, parse(bare).unwrap());
    assert_eq!(parse_manifest_or_document(bare).unwrap(), from_manifest);

    let bad = fixture("configmap.yaml").replace("protocol: layer2", "protocol: layer3");
    let errs = parse_manifest_or_document(&bad).unwrap_err();
    assert_eq!(
        errs.errors()[0].place,
        "data.config: address-pools[0] \"default\": protocol"
    );

    let no_key = "apiVersion: v1\nkind: ConfigMap\ndata:\n  other: x\n";
    assert_eq!(
        parse_manifest_or_document(no_key).unwrap_err().errors()[0].kind,
        ErrorKind::NoConfigKey
    );
    let secret = "apiVersion: v1\nkind: Secret\ndata: {}\n";
    assert_eq!(
        parse_manifest_or_document(secret).unwrap_err().errors()[0].kind,
        ErrorKind::NotConfigMap("Secret".into())
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let errs = parse(&fixture("invalid-many.yaml")).unwrap_err();
    let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let want = [
        "peers[0] \"10.0.0.300\": my-asn is missing",
        "peers[0] \"10.0.0.300\": peer-asn: 0 is not a valid ASN",
        "peers[0] \"10.0.0.300\": peer-address: \"10.0.0.300\" is not an IP address",
        "peers[0] \"10.0.0.300\": hold-time \"2s\": hold time must be 0 or at least 3s",
        "address-pools[0] \"web\": addresses[1] \"192.0.2.0/33\": prefix length 33 is over 32",
        "address-pools[1] \"web\": name: duplicate pool name, first used by address-pools[0]",
        "address-pools[1] \"web\": protocol: unknown protocol \"bgpp\"; expected \"layer2\" or \"bgp\"",
        "address-pools[1] \"web\": addresses[0] \"192.0.2.128/25\": overlaps address-pools[0] \"web\": addresses[0] \"192.0.2.0/24\"",
    ];
    assert_eq!(lines, want);
    assert_eq!(
        errs.to_string(),
        want.join("\n"),
        "Display prints one per line"
    );
}
