//! `metallb::migrate`: MetalLB dumps (CRD-era objects, legacy ConfigMaps) become IronLB
//! config documents that validate, mean what MetalLB meant, and name what is lost.

use ironlb_config::metallb::{migrate, object_from_value};
use ironlb_config::{Community, Protocol, parse};
use std::time::Duration;

fn fixture(name: &str) -> String {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_kubectl_list_of_crd_objects_becomes_a_valid_config() {
    let m = migrate(&fixture("metallb-crds/kubectl-get-list.yaml")).unwrap();
    let config = parse(&m.document).unwrap_or_else(|e| panic!("{}\n{e}", m.document));
    let names: Vec<_> = config.pools.iter().map(|p| p.name.0.as_str()).collect();
    assert_eq!(names, ["first-pool", "l2-pool", "spare"]);

    let first = &config.pools[0];
    assert_eq!(first.protocol, Protocol::Bgp);
    assert!(first.avoid_buggy_ips && first.auto_assign);
    assert_eq!(first.addresses.len(), 2);
    // Selected by label (local) and by name (external): two advertisements.
    assert_eq!(first.bgp_advertisements.len(), 2);
    let local = &first.bgp_advertisements[0];
    assert_eq!(local.local_pref, Some(100));
    assert_eq!(
        local.communities,
        vec![Community::Standard((65535 << 16) | 65282)]
    );
    let external = &first.bgp_advertisements[1];
    assert_eq!(
        (external.aggregation_length, external.aggregation_length_v6),
        (24, 124)
    );
    assert_eq!(external.local_pref, None);
    assert!(
        external
            .communities
            .contains(&Community::Large(64500, 1, 2))
    );

    let l2 = &config.pools[1];
    assert_eq!(l2.protocol, Protocol::Layer2);
    assert!(!l2.auto_assign);
    assert_eq!(l2.interfaces, ["eth1"]);
    assert_eq!(l2.namespaces, ["web", "shop"]);
    assert_eq!(
        l2.node_selectors[0].match_labels["kubernetes.io/hostname"],
        "worker-1"
    );

    let spare = &config.pools[2];
    assert_eq!(spare.protocol, Protocol::Layer2);
    assert!(spare.interfaces.is_empty() && spare.node_selectors.is_empty());

    assert_eq!(config.peers.len(), 2);
    let upstream = &config.peers[0];
    assert_eq!((upstream.my_asn, upstream.peer_asn), (64500, 64501));
    assert!(upstream.ebgp_multihop);
    assert_eq!(upstream.bfd_profile.as_deref(), Some("fast"));
    assert_eq!(upstream.hold_time, Duration::from_secs(90));
    assert_eq!(upstream.node_selectors.len(), 1);
    let tor = &config.peers[1];
    assert_eq!(tor.peer_port, 1179);
    // A lone keepalive: the CRD era's hold time is three times it.
    assert_eq!(
        (tor.hold_time, tor.keepalive_time),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    assert_eq!(tor.password.as_deref(), Some("s3cret"));
    assert_eq!(tor.router_id, Some("10.10.10.10".parse().unwrap()));
    assert_eq!(config.bfd_profiles[0].detect_multiplier, Some(3));
    assert!(config.bfd_profiles[0].passive_mode);

    let lost: Vec<String> = m.not_carried.iter().map(ToString::to_string).collect();
    let has = |needle: &str| lost.iter().any(|l| l.contains(needle));
    assert!(
        has("IPAddressPool/l2-pool spec.serviceAllocation.priority"),
        "{lost:#?}"
    );
    assert!(
        has("IPAddressPool/spare: no L2Advertisement or BGPAdvertisement"),
        "{lost:#?}"
    );
    assert!(has("BGPPeer/upstream spec.passwordSecret"), "{lost:#?}");
    assert!(has("BGPAdvertisement/external peers"), "{lost:#?}");
    assert_eq!(lost.len(), 4, "{lost:#?}");
}

#[test]
fn a_legacy_configmap_is_carried_as_written() {
    let text = fixture("metallb-v0.12/example-layer2-config.yaml");
    let m = migrate(&text).unwrap();
    assert!(m.not_carried.is_empty());
    assert!(
        m.document
            .starts_with("address-pools:\n- name: my-ip-space"),
        "{}",
        m.document
    );
    parse(&m.document).unwrap();
    // A bare document too.
    let bare = "address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24]}\n";
    assert_eq!(migrate(bare).unwrap().document, bare);
}

#[test]
fn separate_documents_and_other_kinds() {
    let text = "\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
---
apiVersion: v1
kind: Secret
metadata: {name: memberlist}
";
    let m = migrate(text).unwrap();
    let config = parse(&m.document).unwrap();
    assert_eq!(config.pools[0].protocol, Protocol::Layer2);
    assert_eq!(m.not_carried.len(), 1);
    assert_eq!(m.not_carried[0].object, "Secret/memberlist");
}

#[test]
fn pools_announced_both_ways_and_differing_l2_advertisements_are_reported() {
    let text = "\
apiVersion: v1
kind: List
items:
- {apiVersion: metallb.io/v1beta1, kind: IPAddressPool, metadata: {name: a}, spec: {addresses: [10.0.0.0/24]}}
- {apiVersion: metallb.io/v1beta1, kind: L2Advertisement, metadata: {name: l2}}
- {apiVersion: metallb.io/v1beta1, kind: BGPAdvertisement, metadata: {name: b}}
- {apiVersion: metallb.io/v1beta1, kind: IPAddressPool, metadata: {name: c, labels: {x: east}}, spec: {addresses: [10.0.1.0/24]}}
- {apiVersion: metallb.io/v1beta1, kind: L2Advertisement, metadata: {name: n1}, spec: {ipAddressPools: [c], interfaces: [eth0], nodeSelectors: [{matchLabels: {r: '1'}}]}}
- {apiVersion: metallb.io/v1beta1, kind: L2Advertisement, metadata: {name: n2}, spec: {ipAddressPoolSelectors: [{matchLabels: {x: east}}], interfaces: [eth1], nodeSelectors: [{matchLabels: {r: '2'}}]}}
";
    let m = migrate(text).unwrap();
    let config = parse(&m.document).unwrap_or_else(|e| panic!("{}\n{e}", m.document));
    // `l2` and `b` select every pool: `a` and `c` are BGP pools, with `l2` lost.
    assert_eq!(config.pools[0].protocol, Protocol::Bgp);
    let lost: Vec<String> = m.not_carried.iter().map(ToString::to_string).collect();
    assert!(
        lost.iter()
            .any(|l| l.starts_with("IPAddressPool/a: also announced by L2Advertisement/l2")),
        "{lost:#?}"
    );
    assert_eq!(config.pools[1].protocol, Protocol::Bgp);

    // Without the catch-all advertisements, `c` is a layer2 pool announced by two
    // L2Advertisements with their own nodes and interfaces: the union, reported.
    let only_c: String = text
        .lines()
        .filter(|l| !l.contains("name: l2}") && !l.contains("name: b}") && !l.contains("name: a}"))
        .map(|l| format!("{l}\n"))
        .collect();
    let m = migrate(&only_c).unwrap();
    let config = parse(&m.document).unwrap_or_else(|e| panic!("{}\n{e}", m.document));
    let c = &config.pools[0];
    assert_eq!(c.protocol, Protocol::Layer2);
    assert_eq!(c.interfaces, ["eth0", "eth1"]);
    assert_eq!(c.node_selectors.len(), 2);
    assert_eq!(m.not_carried.len(), 1, "{:#?}", m.not_carried);
    assert!(
        m.not_carried[0]
            .why
            .contains("pair different nodes with different interfaces")
    );
}

#[test]
fn an_object_read_in_place_is_typed() {
    let value = serde_json::json!({
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "vrf": "red"},
    });
    let object = object_from_value(value).unwrap().unwrap();
    assert_eq!(object.reference(), "BGPPeer/p");
    let (doc, lost) = ironlb_config::metallb::from_objects(&[object]);
    assert_eq!(doc.peers.unwrap()[0].peer_asn, Some(2));
    assert_eq!(lost[0].field, "spec.vrf");
    let other =
        serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
    assert_eq!(object_from_value(other).unwrap(), None);
}

/// What each of MetalLB's own config samples loses in migration (by substring). Most
/// samples are one object, so an advertisement alone selects no pool.
const SAMPLES: &[(&str, &[&str])] = &[
    (
        "bgpadv_selectspool_by_label.yaml",
        &["selects no IPAddressPool"],
    ),
    (
        "bgpadv_selectspool_by_list.yaml",
        &["selects no IPAddressPool", "peers"],
    ),
    (
        "bgpadvertisement_communities_localpref.yaml",
        &["selects no IPAddressPool"],
    ),
    (
        "bgpadvertisement_community_alias.yaml",
        &["selects no IPAddressPool"],
    ),
    (
        "bgpadvertisement_with_node_selector.yaml",
        &["selects no IPAddressPool"],
    ),
    ("bgppeer_simple.yaml", &[]),
    ("bgppeer_with_bfdprofile.yaml", &[]),
    ("bgppeer_with_session_options.yaml", &["spec.connectTime"]),
    ("bgppeer_with_vrf.yaml", &["spec.vrf"]),
    ("bgppeer_withsecret.yaml", &["spec.passwordSecret"]),
    (
        "deployment_bgp.yaml",
        &[
            "Deployment/nginx: not a MetalLB",
            "Service/nginx: not a MetalLB",
        ],
    ),
    (
        "deployment_l2.yaml",
        &[
            "Deployment/nginx: not a MetalLB",
            "Service/nginx: not a MetalLB",
        ],
    ),
    (
        "ipaddresspool_simple.yaml",
        &["no L2Advertisement or BGPAdvertisement"],
    ),
    (
        "ipaddresspool_with_selector.yaml",
        &[
            "serviceAllocation.priority",
            "serviceAllocation.namespaceSelectors",
            "serviceAllocation.serviceSelectors",
            "no L2Advertisement or BGPAdvertisement",
        ],
    ),
    (
        "l2adv_selects_pools_by_list.yaml",
        &["selects no IPAddressPool"],
    ),
    (
        "l2adv_with_node_selector.yaml",
        &["selects no IPAddressPool"],
    ),
    ("simple_pool_adv_bgp.yaml", &[]),
    ("simple_pool_adv_l2.yaml", &[]),
];

#[test]
fn every_metallb_config_sample_migrates_to_a_valid_config() {
    let dir = format!(
        "{}/testdata/metallb-crds/configsamples",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = SAMPLES.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed);
    let mut wrong = Vec::new();
    for (file, lost) in SAMPLES {
        let m = migrate(&fixture(&format!("metallb-crds/configsamples/{file}"))).unwrap();
        if let Err(e) = parse(&m.document) {
            wrong.push(format!("{file}: invalid:\n{}\n{e}", m.document));
            continue;
        }
        let got: Vec<String> = m.not_carried.iter().map(ToString::to_string).collect();
        let explained = got.iter().all(|g| lost.iter().any(|l| g.contains(l)));
        let all_seen = lost.iter().all(|l| got.iter().any(|g| g.contains(l)));
        if !explained || !all_seen {
            wrong.push(format!("{file}: not carried {got:#?}, expected {lost:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_deprecated_address_pool_is_a_legacy_pool() {
    // The v1beta1 AddressPool example of MetalLB v0.12.1's configuration page, and
    // one with advertisements.
    let text = "\
apiVersion: metallb.io/v1beta1
kind: AddressPool
metadata:
  name: addresspool-sample1
  namespace: metallb-system
spec:
  protocol: layer2
  addresses:
    - 172.18.0.100-172.18.0.255
---
apiVersion: metallb.io/v1beta1
kind: AddressPool
metadata: {name: bgp}
spec:
  protocol: bgp
  addresses: [10.0.0.0/24]
  autoAssign: false
  bgpAdvertisements:
  - {aggregationLength: 24, localPref: 50, communities: ['65535:65282']}
";
    let m = migrate(text).unwrap();
    assert!(m.not_carried.is_empty(), "{:#?}", m.not_carried);
    let config = parse(&m.document).unwrap_or_else(|e| panic!("{}\n{e}", m.document));
    assert_eq!(config.pools[0].protocol, Protocol::Layer2);
    let bgp = &config.pools[1];
    assert_eq!((bgp.protocol, bgp.auto_assign), (Protocol::Bgp, false));
    assert_eq!(bgp.bgp_advertisements[0].aggregation_length, 24);
    assert_eq!(bgp.bgp_advertisements[0].local_pref, Some(50));
}

#[test]
fn a_bgp_peer_with_graceful_restart_keeps_it() {
    let value = serde_json::json!({
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "enableGracefulRestart": true},
    });
    let object = object_from_value(value).unwrap().unwrap();
    let (doc, lost) = ironlb_config::metallb::from_objects(&[object]);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        doc.peers.as_ref().unwrap()[0].enable_graceful_restart,
        Some(true)
    );
    let config = ironlb_config::validate::validate(&doc).unwrap();
    assert_eq!(
        config.peers[0].graceful_restart,
        Some(Duration::from_secs(120))
    );
}
