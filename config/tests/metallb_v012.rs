//! "Verbatim means verbatim": configs MetalLB v0.12 accepts are accepted here with the
//! same meaning. Three tables: the cases of MetalLB v0.12.1's own parser test
//! (`internal/config/config_test.go`, copied to `testdata/metallb-v0.12/`), its
//! published example manifests, and the corners of its parser (what Go's yaml.v2 and
//! `config.go` make of bare `-` items, empty strings, port 0, sub-second timers,
//! aliases, advertisement duplicates), each with what it means and the warning, if any,
//! IronLB adds.

use ironlb_config::{
    Community, Config, ConfigWarning, ErrorKind, WarningKind, parse, parse_manifest_or_document,
    parse_with_warnings,
};
use serde::Deserialize;
use std::net::IpAddr;
use std::time::Duration;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/testdata/metallb-v0.12/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Deserialize)]
struct Case {
    desc: String,
    accepted: bool,
    raw: String,
}

/// MetalLB's own TestParse cases where IronLB decides differently, each a deliberate
/// difference listed in docs/config.md. (None today.)
const DIFFERENT: &[&str] = &[];

#[test]
fn metallb_parser_test_cases_decide_the_same() {
    let cases: Vec<Case> = serde_saphyr::from_str(&fixture("parse-cases.yaml")).unwrap();
    assert!(cases.len() > 40, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for c in &cases {
        let got = parse(&c.raw);
        if got.is_ok() != c.accepted && !DIFFERENT.contains(&c.desc.as_str()) {
            wrong.push(format!(
                "{}: metallb accepts={} ironlb {:?}",
                c.desc,
                c.accepted,
                got.err()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn published_examples() {
    let layer2 = parse_manifest_or_document(&fixture("example-layer2-config.yaml")).unwrap();
    assert_eq!(layer2.pools[0].name.0, "my-ip-space");
    // The full example, as published, is refused by MetalLB v0.12.1 itself: `bfdProfile`
    // is not a key of its format (yaml.UnmarshalStrict), and `ebgp-multihop` is set
    // on an iBGP peer. IronLB refuses it for the same two reasons.
    let full = fixture("example-config.yaml");
    let errors = parse_manifest_or_document(&full).unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("unknown key \"bfdProfile\""), "{text}");
    assert!(text.contains("ebgp-multihop"), "{text}");
    // Written as the format has it, it is accepted, with its meaning.
    let fixed = full
        .replace(
            "bfdProfile: \"bfdProfile1\"",
            "bfd-profile: \"bfdprofilename\"",
        )
        .replace("ebgp-multihop: true", "ebgp-multihop: false");
    let config = parse_manifest_or_document(&fixed).unwrap();
    let peer = &config.peers[0];
    assert_eq!(peer.hold_time, Duration::from_secs(120));
    assert_eq!(peer.router_id, Some("1.2.3.4".parse().unwrap()));
    let pool = &config.pools[0];
    assert!(pool.avoid_buggy_ips && !pool.auto_assign);
    let ad = &pool.bgp_advertisements[0];
    assert_eq!((ad.aggregation_length, ad.aggregation_length_v6), (32, 64));
    assert_eq!(ad.local_pref, Some(100));
    assert_eq!(
        ad.communities,
        vec![
            Community::Standard((64512 << 16) | 1),
            Community::Standard((65535 << 16) | 65281)
        ]
    );
    assert_eq!(config.bfd_profiles[0].detect_multiplier, Some(200));
}

/// Every YAML example of MetalLB v0.12.1's configuration page (its website, copied
/// to testdata) that is a legacy ConfigMap or config document is accepted; its
/// `metallb.io` objects (the v0.12 operator's AddressPool, BGPPeer) migrate to a valid
/// config.
#[test]
fn website_configuration_examples() {
    let page = fixture("website-configuration.md");
    let (mut checked, mut migrated) = (0, 0);
    for block in page.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        if block.contains("apiVersion: metallb.io/") {
            let m = ironlb_config::metallb::migrate(block).unwrap();
            if let Err(e) = parse(&m.document) {
                panic!("{block}\nmigrated to\n{}\nrejected: {e}", m.document);
            }
            migrated += 1;
            continue;
        }
        // Fragments are shown as indented under `config: |`.
        let indent = block
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let text: String = block
            .lines()
            .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
            .collect();
        // One fragment names the alias `no-ad` defined elsewhere on the page.
        let text = text.replace("- no-ad\n", "- 65535:65282\n");
        if let Err(e) = parse_manifest_or_document(&text) {
            panic!("{text}\nrejected: {e}");
        }
        checked += 1;
    }
    assert_eq!((checked, migrated), (7, 2));
}

const PEER: &str = "peers:\n- peer-address: 10.0.0.1\n  my-asn: 64500\n  peer-asn: 64500\n";
const BGP_POOL: &str = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n";

fn accepted(text: &str) -> (Config, Vec<ConfigWarning>) {
    parse_with_warnings(text).unwrap_or_else(|e| panic!("{text}\nrejected: {e}"))
}

fn warnings(text: &str) -> Vec<String> {
    accepted(text).1.iter().map(ToString::to_string).collect()
}

fn rejected(text: &str) -> Vec<(String, ErrorKind)> {
    match parse(text) {
        Ok(c) => panic!("{text}\naccepted: {c:?}"),
        Err(e) => e
            .iter()
            .map(|e| (e.place.clone(), e.kind.clone()))
            .collect(),
    }
}

#[test]
fn a_bare_dash_is_an_item_with_every_field_unset() {
    // MetalLB: a pool, peer or profile without a name/ASN is refused...
    let errors = rejected("address-pools:\n-\n");
    assert!(errors.contains(&("address-pools[0]".into(), ErrorKind::Missing("name"))));
    assert!(
        rejected("address-pools: [ ~ ]\n")
            .contains(&("address-pools[0]".into(), ErrorKind::Missing("name")))
    );
    assert!(rejected("peers:\n-\n").contains(&("peers[0]".into(), ErrorKind::Missing("my-asn"))));
    assert!(
        rejected("bfd-profiles:\n-\n")
            .contains(&("bfd-profiles[0]".into(), ErrorKind::Missing("name")))
    );
    // ...an address or a community that is empty is not one...
    assert!(
        !rejected(&format!(
            "{}  - \n",
            BGP_POOL.replace("  addresses: [10.0.0.0/24]\n", "  addresses:\n")
        ))
        .is_empty()
    );
    assert!(
        !rejected(&format!(
            "{BGP_POOL}  bgp-advertisements:\n  - communities:\n    -\n"
        ))
        .is_empty()
    );
    // ...and a requirement without key and operator is refused by Kubernetes' parser.
    assert!(
        !rejected(&format!(
            "{PEER}  node-selectors:\n  - match-expressions:\n    -\n"
        ))
        .is_empty()
    );
    // But an advertisement with every default is the default advertisement,
    let (c, _) = accepted(&format!("{BGP_POOL}  bgp-advertisements:\n  -\n"));
    let ad = &c.pools[0].bgp_advertisements;
    assert_eq!(ad.len(), 1);
    assert_eq!(
        (
            ad[0].aggregation_length,
            ad[0].aggregation_length_v6,
            ad[0].local_pref
        ),
        (32, 128, None)
    );
    // an empty node selector selects every node,
    let (c, _) = accepted(&format!("{PEER}  node-selectors:\n  -\n"));
    assert!(
        c.peers[0]
            .node_selectors
            .iter()
            .all(|s| s.matches(&Default::default()))
    );
    // and a label written without a value is the empty value (valid in Kubernetes).
    let (c, _) = accepted(&format!(
        "{PEER}  node-selectors:\n  - match-labels:\n      rack:\n"
    ));
    assert_eq!(c.peers[0].node_selectors[0].match_labels["rack"], "");
    let (c, _) = accepted(&format!(
        "{PEER}  node-selectors:\n  - match-expressions:\n    - {{key: rack, operator: In, values: [ ~ ]}}\n"
    ));
    assert_eq!(c.peers[0].node_selectors.len(), 1);
}

#[test]
fn peer_corners_mean_what_they_mean_to_metallb() {
    let peer = |extra: &str| accepted(&format!("{PEER}{extra}")).0.peers[0].clone();
    assert_eq!(peer("  peer-port: 0\n").peer_port, 179);
    for empty in [
        "source-address",
        "router-id",
        "password",
        "bfd-profile",
        "hold-time",
        "keepalive-time",
    ] {
        let p = peer(&format!("  {empty}: ''\n"));
        assert_eq!(
            (
                p.source_address,
                p.router_id,
                p.password.as_deref(),
                p.bfd_profile.as_deref()
            ),
            (None, None, None, None),
            "{empty}"
        );
        assert_eq!(
            (p.hold_time, p.keepalive_time),
            (Duration::from_secs(90), Duration::from_secs(30)),
            "{empty}"
        );
    }
    // Timers are cut to whole seconds, towards zero.
    let p = peer("  hold-time: 3.7s\n");
    assert_eq!(
        (p.hold_time, p.keepalive_time),
        (Duration::from_secs(3), Duration::from_secs(1))
    );
    for zero in ["500ms", "-500ms", "0.9s"] {
        let p = peer(&format!("  hold-time: {zero}\n"));
        assert_eq!(
            (p.hold_time, p.keepalive_time),
            (Duration::ZERO, Duration::ZERO),
            "{zero}"
        );
    }
    assert_eq!(
        warnings(&format!("{PEER}  hold-time: 500ms\n")),
        vec!["peers[0] \"10.0.0.1\": hold-time: \"500ms\" is cut to whole seconds: 0s (disabled)"]
    );
    assert_eq!(
        peer("  keepalive-time: 1500ms\n").keepalive_time,
        Duration::from_secs(1)
    );
    // A negative keepalive is below any hold time: accepted, and the default used.
    assert_eq!(
        peer("  keepalive-time: -1s\n").keepalive_time,
        Duration::from_secs(30)
    );
    assert!(matches!(
        accepted(&format!("{PEER}  keepalive-time: -1s\n")).1[0].kind,
        WarningKind::NegativeKeepalive { .. }
    ));
    // Go's net.ParseIP: an IPv4-mapped address is IPv4; any IP is a router id, but
    // MetalLB's speaker uses a non-IPv4 one as "unset" (the node's address).
    let text = "peers: [{peer-address: '::ffff:10.0.0.1', router-id: '::ffff:1.2.3.4', my-asn: 1, peer-asn: 2}]\n";
    let p = accepted(text).0.peers[0].clone();
    assert_eq!(p.peer_address, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(p.router_id, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(peer("  router-id: 'fc00::1'\n").router_id, None);
    assert!(matches!(
        accepted(&format!("{PEER}  router-id: 'fc00::1'\n")).1[0].kind,
        WarningKind::RouterIdNotIpv4(_)
    ));
    // Scalars of other YAML types in string fields are their text; YAML 1.1 booleans.
    assert_eq!(
        peer("  password: 12345\n").password.as_deref(),
        Some("12345")
    );
    assert!(!peer("  ebgp-multihop: no\n").ebgp_multihop);
    // MetalLB refuses these too.
    rejected(&format!("{PEER}  hold-time: -5s\n"));
    rejected(&format!("{PEER}  hold-time: 2.9s\n"));
    rejected(&format!(
        "{PEER}  hold-time: 30s\n  keepalive-time: 31.5s\n"
    ));
}

#[test]
fn pool_and_advertisement_corners_mean_what_they_mean_to_metallb() {
    let (c, w) = accepted(
        "address-pools:\n- {name: 123, protocol: layer2, addresses: [10.0.0.0/24], auto-assign: no, avoid-buggy-ips: yes}\n",
    );
    assert!(w.is_empty());
    assert_eq!(c.pools[0].name.0, "123");
    assert!(!c.pools[0].auto_assign && c.pools[0].avoid_buggy_ips);
    // PR #1130: a range is judged by the widest CIDR of its cover.
    let (c, _) = accepted(
        "address-pools:\n- {name: p, protocol: bgp, addresses: [3.3.3.2-3.3.3.254], bgp-advertisements: [{aggregation-length: 26}]}\n",
    );
    assert_eq!(c.pools[0].bgp_advertisements[0].aggregation_length, 26);
    // A negative aggregation length for a family the pool has none of is not checked.
    let (c, w) = accepted(&format!(
        "{BGP_POOL}  bgp-advertisements: [{{aggregation-length-v6: -1}}]\n"
    ));
    assert_eq!(c.pools[0].bgp_advertisements[0].aggregation_length_v6, 128);
    assert!(matches!(
        w[0].kind,
        WarningKind::UnusedAggregation {
            len: -1,
            family: "IPv6"
        }
    ));
    // Advertisements are duplicates only as written; the same announcement is kept once.
    let (c, w) = accepted(&format!(
        "{BGP_POOL}  bgp-advertisements: [{{}}, {{aggregation-length: 32}}, {{communities: []}}]\n"
    ));
    assert_eq!(c.pools[0].bgp_advertisements.len(), 1);
    assert_eq!(w.len(), 2);
    // Communities: an alias wins over a value of its spelling; a value and its alias
    // are one community; an alias may be named "".
    let (c, w) = accepted(&format!(
        "bgp-communities: {{'1:1': '2:2', '': '3:3', ne: '65535:65281'}}\n{BGP_POOL}  bgp-advertisements: [{{communities: ['1:1', '', ne, '65535:65281']}}]\n"
    ));
    let communities = &c.pools[0].bgp_advertisements[0].communities;
    assert_eq!(
        communities,
        &vec![
            Community::Standard((2 << 16) | 2),
            Community::Standard((3 << 16) | 3),
            Community::Standard((65535 << 16) | 65281)
        ]
    );
    assert!(
        w.iter()
            .any(|w| matches!(w.kind, WarningKind::AliasShadowsValue { .. }))
    );
    assert!(
        w.iter()
            .any(|w| matches!(w.kind, WarningKind::RepeatedCommunity(_)))
    );
    // An IPv4-mapped range is IPv4; a range from IPv4 up to IPv6 holds no address.
    let (c, w) = accepted(
        "address-pools:\n- {name: p, protocol: layer2, addresses: ['::ffff:10.0.0.1-::ffff:10.0.0.5', '10.1.0.0-fc00::1']}\n",
    );
    assert_eq!(c.pools[0].addresses.len(), 1);
    assert_eq!(
        c.pools[0].addresses[0].start,
        "10.0.0.1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(w[0].kind, WarningKind::MixedFamilyRange);
    // A layer2 pool may say it has no advertisements.
    accepted(
        "address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24], bgp-advertisements: []}\n",
    );
}
