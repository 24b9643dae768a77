//! One valid and at least one invalid case per validation rule (design notes,
//! "Configuration", and issue 3), as a table: input, then either "valid" or the exact
//! place and kind of the one error expected.

use ironlb_config::{ErrorKind, parse};
use std::time::Duration;

enum Want {
    Valid,
    Error(&'static str, ErrorKind),
    /// A YAML-level error whose message contains this text.
    Yaml(&'static str),
    /// An unknown key at this place.
    Unknown(&'static str, &'static str),
}
use Want::{Error, Unknown, Valid, Yaml};

/// A layer2 pool document with `extra` keys added to the pool.
fn l2(extra: &str) -> String {
    format!("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.0/24]\n{extra}")
}

/// A bgp pool document with `extra` keys added to the pool.
fn bgp(extra: &str) -> String {
    format!(
        "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24, 'fc00::/120']\n{extra}"
    )
}

/// A peer document with `extra` keys added to the peer.
fn peer(extra: &str) -> String {
    format!("peers:\n- peer-address: 10.0.0.1\n  my-asn: 64500\n  peer-asn: 64501\n{extra}")
}

fn cases() -> Vec<(&'static str, String, Want)> {
    let s = |x: &str| x.to_string();
    vec![
        // YAML syntax, empty config.
        ("empty is valid", s(""), Valid),
        ("comments only is valid", s("# nothing\n"), Valid),
        ("bad yaml", s("address-pools: [\n"), Yaml("line 1")),
        ("tab indentation", s("address-pools:\n\t- name: p\n"), Yaml("line 2")),
        ("top level not a map", s("- a\n"), Error("", ErrorKind::WrongShape { expected: "a mapping", found: "a list" })),
        // Unknown keys, anywhere.
        ("unknown top key", s("adress-pools: []\n"), Unknown("", "adress-pools")),
        ("unknown pool key", l2("  auto-asign: true\n"), Unknown("address-pools[0] \"p\"", "auto-asign")),
        ("unknown peer key", peer("  holdtime: 90s\n"), Unknown("peers[0] \"10.0.0.1\"", "holdtime")),
        ("unknown advertisement key", bgp("  bgp-advertisements: [{aggregation-len: 24}]\n"), Unknown("address-pools[0] \"p\": bgp-advertisements[0]", "aggregation-len")),
        ("unknown selector key", peer("  node-selectors: [{matchLabels: {a: b}}]\n"), Unknown("peers[0] \"10.0.0.1\": node-selectors[0]", "matchLabels")),
        ("list where a value belongs", l2("  protocol: [bgp]\n").replace("  protocol: layer2\n", ""), Error("address-pools[0] \"p\": protocol", ErrorKind::WrongShape { expected: "a single value", found: "a list" })),
        ("value of the wrong type", peer("  peer-port: http\n"), Yaml("line 5")),
        ("duplicate yaml key", s("address-pools: []\naddress-pools: []\n"), Yaml("duplicate mapping key")),
        // Pool required fields, protocol.
        ("pool without name", s("address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n"), Error("address-pools[0]", ErrorKind::Missing("name"))),
        ("pool with empty name", s("address-pools:\n- name: ''\n  protocol: layer2\n  addresses: [10.0.0.0/24]\n"), Error("address-pools[0] \"\": name", ErrorKind::Empty)),
        ("pool without addresses", s("address-pools:\n- name: p\n  protocol: layer2\n"), Error("address-pools[0] \"p\"", ErrorKind::Missing("addresses"))),
        ("pool with no addresses", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: []\n"), Error("address-pools[0] \"p\": addresses", ErrorKind::Empty)),
        ("pool without protocol", s("address-pools:\n- name: p\n  addresses: [10.0.0.0/24]\n"), Error("address-pools[0] \"p\"", ErrorKind::Missing("protocol"))),
        ("unknown protocol", s("address-pools:\n- name: p\n  protocol: arp\n  addresses: [10.0.0.0/24]\n"), Error("address-pools[0] \"p\": protocol", ErrorKind::UnknownProtocol("arp".into()))),
        ("layer2 pool", l2(""), Valid),
        ("bgp pool", bgp(""), Valid),
        // CIDRs and ranges.
        ("prefix over 32", s("address-pools:\n- name: web\n  protocol: layer2\n  addresses: [192.0.2.0/33]\n"), Error("address-pools[0] \"web\": addresses[0] \"192.0.2.0/33\"", ErrorKind::PrefixTooLong { len: "33".into(), max: 32 })),
        ("prefix over 128", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: ['fc00::/129']\n"), Error("address-pools[0] \"p\": addresses[0] \"fc00::/129\"", ErrorKind::PrefixTooLong { len: "129".into(), max: 128 })),
        ("bad cidr ip", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.256/24]\n"), Error("address-pools[0] \"p\": addresses[0] \"10.0.0.256/24\"", ErrorKind::BadIp("10.0.0.256".into()))),
        ("bare ip", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.1]\n"), Error("address-pools[0] \"p\": addresses[0] \"10.0.0.1\"", ErrorKind::BadAddress)),
        ("start after end", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.9-10.0.0.1]\n"), Error("address-pools[0] \"p\": addresses[0] \"10.0.0.9-10.0.0.1\"", ErrorKind::StartAfterEnd { start: "10.0.0.9".into(), end: "10.0.0.1".into() })),
        // MetalLB: no CIDR between families, an entry of no address (a warning here).
        ("mixed family range", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: ['10.0.0.1-fc00::1']\n"), Valid),
        ("mixed family range backwards", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: ['fc00::1-10.0.0.1']\n"), Error("address-pools[0] \"p\": addresses[0] \"fc00::1-10.0.0.1\"", ErrorKind::StartAfterEnd { start: "fc00::1".into(), end: "10.0.0.1".into() })),
        ("single address range", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.1-10.0.0.1, 10.0.0.5/32]\n"), Valid),
        ("host bits accepted like Go", s("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.7/24]\n"), Valid),
        // Duplicate pool names.
        ("duplicate pool name", s("address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24]}\n- {name: p, protocol: layer2, addresses: [10.0.1.0/24]}\n"), Error("address-pools[1] \"p\": name", ErrorKind::DuplicatePool { first: 0 })),
        ("distinct pool names", s("address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24]}\n- {name: q, protocol: layer2, addresses: [10.0.1.0/24]}\n"), Valid),
        // Overlaps.
        ("overlap in one pool", s("address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24, 10.0.0.200-10.0.1.5]}\n"), Error("address-pools[0] \"p\": addresses[1] \"10.0.0.200-10.0.1.5\"", ErrorKind::Overlap { other: "address-pools[0] \"p\": addresses[0] \"10.0.0.0/24\"".into() })),
        ("overlap across pools", s("address-pools:\n- {name: a, protocol: layer2, addresses: ['fc00::/64']}\n- {name: b, protocol: bgp, addresses: ['fc00::1-fc00::2']}\n"), Error("address-pools[1] \"b\": addresses[0] \"fc00::1-fc00::2\"", ErrorKind::Overlap { other: "address-pools[0] \"a\": addresses[0] \"fc00::/64\"".into() })),
        ("identical entries overlap", s("address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.5/32]}\n- {name: b, protocol: layer2, addresses: [10.0.0.5-10.0.0.5]}\n"), Error("address-pools[1] \"b\": addresses[0] \"10.0.0.5-10.0.0.5\"", ErrorKind::Overlap { other: "address-pools[0] \"a\": addresses[0] \"10.0.0.5/32\"".into() })),
        ("adjacent ranges", s("address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/25, 10.0.0.128-10.0.0.255, '::a00:0/120']}\n"), Valid),
        // Advertisements.
        ("advertisements on layer2", l2("  bgp-advertisements: [{aggregation-length: 32}]\n"), Error("address-pools[0] \"p\": bgp-advertisements", ErrorKind::BgpOnly)),
        ("aggregation over 32", bgp("  bgp-advertisements: [{aggregation-length: 33}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length", ErrorKind::AggregationTooLong { len: 33, max: 32 })),
        ("aggregation over 128", bgp("  bgp-advertisements: [{aggregation-length-v6: 129}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length-v6", ErrorKind::AggregationTooLong { len: 129, max: 128 })),
        ("negative aggregation", bgp("  bgp-advertisements: [{aggregation-length: -1}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length", ErrorKind::OutOfRange { value: -1, min: 0, max: 32 })),
        ("aggregation shorter than prefix", bgp("  bgp-advertisements: [{aggregation-length: 23}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length", ErrorKind::AggregationTooShort { len: 23, prefix: 24, entry: 0, address: "10.0.0.0/24".into() })),
        ("aggregation v6 shorter than prefix", bgp("  bgp-advertisements: [{aggregation-length-v6: 64}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length-v6", ErrorKind::AggregationTooShort { len: 64, prefix: 120, entry: 1, address: "fc00::/120".into() })),
        // MetalLB PR #1130: a range is judged by the widest CIDR of its cover (10.0.0.0/31 here).
        ("aggregation within a range's widest cidr", s("address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0-10.0.0.2], bgp-advertisements: [{aggregation-length: 31}]}\n"), Valid),
        ("metallb #1130 example", s("address-pools:\n- {name: p, protocol: bgp, addresses: [3.3.3.2-3.3.3.254], bgp-advertisements: [{aggregation-length: 26}]}\n"), Valid),
        ("aggregation shorter than a range's widest cidr", s("address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0-10.0.0.2], bgp-advertisements: [{aggregation-length: 30}]}\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: aggregation-length", ErrorKind::AggregationTooShort { len: 30, prefix: 31, entry: 0, address: "10.0.0.0-10.0.0.2".into() })),
        ("aggregation equal to prefix", bgp("  bgp-advertisements: [{aggregation-length: 24, aggregation-length-v6: 120}]\n"), Valid),
        // MetalLB compares advertisements as written: an unset field is not its default.
        ("same announcement written differently", bgp("  bgp-advertisements: [{localpref: 100}, {localpref: 100, aggregation-length: 32}]\n"), Valid),
        ("duplicate advertisement", bgp("  bgp-advertisements: [{localpref: 100}, {localpref: 100}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[1]", ErrorKind::DuplicateAdvertisement(0))),
        ("bare advertisement twice", bgp("  bgp-advertisements:\n  -\n  -\n"), Error("address-pools[0] \"p\": bgp-advertisements[1]", ErrorKind::DuplicateAdvertisement(0))),
        ("distinct advertisements", bgp("  bgp-advertisements: [{localpref: 100}, {localpref: 200}]\n"), Valid),
        ("localpref out of range", bgp("  bgp-advertisements: [{localpref: 4294967296}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: localpref", ErrorKind::OutOfRange { value: 4_294_967_296, min: 0, max: 4_294_967_295 })),
        // Communities.
        // MetalLB compares communities as written: a value and its alias are one community.
        ("community and its alias", format!("bgp-communities: {{na: '65535:65282'}}\n{}", bgp("  bgp-advertisements: [{communities: [na, '65535:65282']}]\n")), Valid),
        ("duplicate community", bgp("  bgp-advertisements: [{communities: ['65535:65282', '65535:65282']}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: communities[1] \"65535:65282\"", ErrorKind::DuplicateCommunity("65535:65282".into()))),
        ("community half over 16 bits", bgp("  bgp-advertisements: [{communities: ['65536:1']}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: communities[0] \"65536:1\"", ErrorKind::BadCommunity)),
        ("undefined alias", bgp("  bgp-advertisements: [{communities: [no-export]}]\n"), Error("address-pools[0] \"p\": bgp-advertisements[0]: communities[0] \"no-export\"", ErrorKind::BadCommunity)),
        ("bad alias value", s("bgp-communities: {x: '1:2:3:4'}\n"), Error("bgp-communities \"x\" \"1:2:3:4\"", ErrorKind::BadCommunity)),
        ("large and standard communities", bgp("  bgp-advertisements: [{communities: ['64500:1', '4200000000:2:3', 'large:1:2:3']}]\n"), Valid),
        // Peers.
        ("peer without my-asn", s("peers:\n- {peer-address: 10.0.0.1, peer-asn: 1}\n"), Error("peers[0] \"10.0.0.1\"", ErrorKind::Missing("my-asn"))),
        ("peer without peer-asn", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 1}\n"), Error("peers[0] \"10.0.0.1\"", ErrorKind::Missing("peer-asn"))),
        ("peer asn 0", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 0}\n"), Error("peers[0] \"10.0.0.1\": peer-asn", ErrorKind::ZeroAsn)),
        ("asn over 32 bits", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 4294967296, peer-asn: 1}\n"), Error("peers[0] \"10.0.0.1\": my-asn", ErrorKind::OutOfRange { value: 4_294_967_296, min: 1, max: 4_294_967_295 })),
        ("4-byte asn", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 4200000000, peer-asn: 1}\n"), Valid),
        ("peer without address", s("peers:\n- {my-asn: 1, peer-asn: 2}\n"), Error("peers[0]", ErrorKind::Missing("peer-address"))),
        ("bad peer-address", s("peers:\n- {peer-address: router1, my-asn: 1, peer-asn: 2}\n"), Error("peers[0] \"router1\": peer-address", ErrorKind::BadIp("router1".into()))),
        ("bad source-address", peer("  source-address: 10.0.0\n"), Error("peers[0] \"10.0.0.1\": source-address", ErrorKind::BadIp("10.0.0".into()))),
        // MetalLB accepts any IP; its native speaker then uses the node's address.
        ("ipv6 router-id", peer("  router-id: 'fc00::1'\n"), Valid),
        ("bad router-id", peer("  router-id: '10.0.0'\n"), Error("peers[0] \"10.0.0.1\": router-id", ErrorKind::BadRouterId("10.0.0".into()))),
        ("ipv6 peer with router id", s("peers:\n- {peer-address: 'fc00::1', source-address: 'fc00::2', router-id: 1.2.3.4, my-asn: 1, peer-asn: 2}\n"), Valid),
        ("peer-port 0 is the default", peer("  peer-port: 0\n"), Valid),
        ("peer-port over 65535", peer("  peer-port: 65536\n"), Error("peers[0] \"10.0.0.1\": peer-port", ErrorKind::OutOfRange { value: 65536, min: 1, max: 65535 })),
        ("hold time under 3s", peer("  hold-time: 2s\n"), Error("peers[0] \"10.0.0.1\": hold-time \"2s\"", ErrorKind::HoldTooShort)),
        ("hold time 0", peer("  hold-time: 0s\n  keepalive-time: 0s\n"), Valid),
        ("hold time 3s", peer("  hold-time: 3s\n"), Valid),
        ("hold time without unit", peer("  hold-time: 90\n"), Error("peers[0] \"10.0.0.1\": hold-time", ErrorKind::BadDuration("\"90\" is not a duration (missing unit; e.g. \"90s\", \"1m30s\")".into()))),
        ("keepalive above hold", peer("  hold-time: 30s\n  keepalive-time: 31s\n"), Error("peers[0] \"10.0.0.1\"", ErrorKind::KeepaliveAboveHold { keepalive: Duration::from_secs(31), hold: Duration::from_secs(30) })),
        ("graceful restart on", peer("  enable-graceful-restart: true\n"), Valid),
        ("graceful restart time 1s", peer("  enable-graceful-restart: true\n  graceful-restart-time: 1s\n"), Valid),
        ("graceful restart time 4095s", peer("  enable-graceful-restart: true\n  graceful-restart-time: 68m15s\n"), Valid),
        ("graceful restart time 0", peer("  enable-graceful-restart: true\n  graceful-restart-time: 0s\n"), Error("peers[0] \"10.0.0.1\": graceful-restart-time \"0s\"", ErrorKind::GracefulRestartTimeOutOfRange)),
        ("graceful restart time under 1s", peer("  enable-graceful-restart: true\n  graceful-restart-time: 900ms\n"), Error("peers[0] \"10.0.0.1\": graceful-restart-time \"900ms\"", ErrorKind::GracefulRestartTimeOutOfRange)),
        ("graceful restart time 4096s", peer("  enable-graceful-restart: true\n  graceful-restart-time: 4096s\n"), Error("peers[0] \"10.0.0.1\": graceful-restart-time \"4096s\"", ErrorKind::GracefulRestartTimeOutOfRange)),
        ("graceful restart time negative", peer("  graceful-restart-time: -5s\n"), Error("peers[0] \"10.0.0.1\": graceful-restart-time \"-5s\"", ErrorKind::GracefulRestartTimeOutOfRange)),
        ("graceful restart time without unit", peer("  graceful-restart-time: 120\n"), Error("peers[0] \"10.0.0.1\": graceful-restart-time", ErrorKind::BadDuration("\"120\" is not a duration (missing unit; e.g. \"90s\", \"1m30s\")".into()))),
        ("keepalive equal to hold", peer("  hold-time: 30s\n  keepalive-time: 30s\n"), Valid),
        ("multihop with equal asns", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 7, peer-asn: 7, ebgp-multihop: true}\n"), Error("peers[0] \"10.0.0.1\": ebgp-multihop", ErrorKind::MultihopIbgp(7))),
        ("ibgp without multihop", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 7, peer-asn: 7}\n"), Valid),
        ("multihop ebgp", peer("  ebgp-multihop: true\n"), Valid),
        ("malformed selector operator", peer("  node-selectors: [{match-expressions: [{key: a, operator: Has, values: [b]}]}]\n"), Error("peers[0] \"10.0.0.1\": node-selectors[0]: match-expressions[0]", ErrorKind::BadSelector("unknown operator \"Has\"; expected In, NotIn, Exists or DoesNotExist".into()))),
        ("malformed selector label", l2("  node-selectors: [{match-labels: {'a b': c}}]\n"), Error("address-pools[0] \"p\": node-selectors[0]: match-labels \"a b\"", ErrorKind::BadSelector("label key \"a b\" is malformed (optional DNS prefix and '/', then 1-63 of [A-Za-z0-9-_.], alphanumeric at both ends)".into()))),
        ("In without values", peer("  node-selectors: [{match-expressions: [{key: a, operator: In}]}]\n"), Error("peers[0] \"10.0.0.1\": node-selectors[0]: match-expressions[0]", ErrorKind::BadSelector("operator In needs at least one value".into()))),
        ("good selectors", peer("  node-selectors: [{match-labels: {kubernetes.io/hostname: n1}}, {match-expressions: [{key: zone, operator: DoesNotExist}]}]\n"), Valid),
        ("unknown bfd profile", peer("  bfd-profile: fast\n"), Error("peers[0] \"10.0.0.1\": bfd-profile", ErrorKind::UnknownBfdProfile("fast".into()))),
        ("known bfd profile", format!("bfd-profiles: [{{name: fast}}]\n{}", peer("  bfd-profile: fast\n")), Valid),
        ("exact duplicate peer", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2}\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2, peer-port: 179, hold-time: 90s}\n"), Error("peers[1] \"10.0.0.1\"", ErrorKind::DuplicatePeer(0))),
        ("same router on another port", s("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2}\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2, peer-port: 1179}\n"), Valid),
        // BFD profiles.
        ("bfd profile without name", s("bfd-profiles: [{echo-mode: true}]\n"), Error("bfd-profiles[0]", ErrorKind::Missing("name"))),
        ("duplicate bfd profile", s("bfd-profiles: [{name: a}, {name: a}]\n"), Error("bfd-profiles[1] \"a\"", ErrorKind::DuplicateBfdProfile(0))),
        ("bfd multiplier out of range", s("bfd-profiles: [{name: a, detect-multiplier: 1}]\n"), Error("bfd-profiles[0] \"a\": detect-multiplier", ErrorKind::OutOfRange { value: 1, min: 2, max: 255 })),
        // IronLB additions.
        ("interfaces on bgp pool", bgp("  interfaces: [eth0]\n"), Error("address-pools[0] \"p\": interfaces", ErrorKind::Layer2Only)),
        ("bad interface name", l2("  interfaces: ['eth/0']\n"), Error("address-pools[0] \"p\": interfaces[0]", ErrorKind::BadInterface("eth/0".into()))),
        ("interface listed twice", l2("  interfaces: [eth0, eth0]\n"), Error("address-pools[0] \"p\": interfaces[1]", ErrorKind::Repeated("eth0".into()))),
        ("bad namespace", l2("  namespaces: [Web]\n"), Error("address-pools[0] \"p\": namespaces[0]", ErrorKind::BadNamespace("Web".into()))),
        ("good additions", l2("  interfaces: [eth0, vlan.10]\n  namespaces: [a, b-c]\n  node-selectors: [{match-labels: {x: y}}]\n"), Valid),
    ]
}

#[test]
fn each_rule_has_valid_and_invalid_cases() {
    let mut failures = Vec::new();
    for (name, doc, want) in cases() {
        let got = parse(&doc);
        let ok = match (&want, &got) {
            (Valid, Ok(_)) => true,
            (Error(place, kind), Err(e)) => {
                e.len() == 1 && e.errors()[0].place == *place && e.errors()[0].kind == *kind
            }
            (Yaml(text), Err(e)) => {
                e.len() == 1
                    && matches!(e.errors()[0].kind, ErrorKind::Yaml { .. })
                    && e.errors()[0].to_string().contains(text)
            }
            (Unknown(place, key), Err(e)) => {
                e.len() == 1
                    && e.errors()[0].place == *place
                    && matches!(&e.errors()[0].kind, ErrorKind::UnknownKey { key: k, .. } if k == key)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}:\n{doc}\n  got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn error_lines_name_place_value_and_reason() {
    let doc = "address-pools:\n- {name: ok, protocol: layer2, addresses: [10.0.0.0/24]}\n- {name: web, protocol: layer2, addresses: [192.0.2.0/33]}\n";
    assert_eq!(
        parse(doc).unwrap_err().to_string(),
        "address-pools[1] \"web\": addresses[0] \"192.0.2.0/33\": prefix length 33 is over 32"
    );
}

#[test]
fn over_one_mib_is_refused_before_parsing() {
    let doc = format!("# {}\n", "x".repeat(ironlb_config::MAX_INPUT_BYTES));
    let errs = parse(&doc).unwrap_err();
    assert!(matches!(errs.errors()[0].kind, ErrorKind::TooLarge { size, .. } if size == doc.len()));
    assert!(errs.to_string().contains("1 MiB"));
}

#[test]
fn every_unknown_key_is_reported_with_the_other_errors() {
    let doc = "address-pools:\n- name: a\n  protocol: layer2\n  adresses: [10.0.0.0/24]\n  avoid-bugy-ips: true\n- name: b\n  protocol: layer2\n  addresses: [10.0.1.0/33]\npeers:\n- peer-adress: 10.0.0.1\n  my-asn: 1\n  peer-asn: 2\n";
    let got: Vec<String> = parse(doc)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    let want = [
        "address-pools[0] \"a\": unknown key \"adresses\"; expected one of name, protocol, addresses, avoid-buggy-ips, auto-assign, bgp-advertisements, interfaces, node-selectors, namespaces",
        "address-pools[0] \"a\": unknown key \"avoid-bugy-ips\"; expected one of name, protocol, addresses, avoid-buggy-ips, auto-assign, bgp-advertisements, interfaces, node-selectors, namespaces",
        "peers[0]: unknown key \"peer-adress\"; expected one of my-asn, peer-asn, peer-address, peer-port, source-address, hold-time, keepalive-time, router-id, password, node-selectors, bfd-profile, ebgp-multihop, enable-graceful-restart, graceful-restart-time",
        // The rest of the document is still checked, with the same places.
        "peers[0]: peer-address is missing",
        "address-pools[0] \"a\": addresses is missing",
        "address-pools[1] \"b\": addresses[0] \"10.0.1.0/33\": prefix length 33 is over 32",
    ];
    assert_eq!(got, want);
}

#[test]
fn types_read_the_same_beside_an_unknown_key() {
    // With an unknown key, the rest of the document is read a second time (from the
    // parsed tree): each value must be judged exactly as on the first reading.
    let pool = |extra: &str| {
        format!(
            "address-pools:\n- {{name: p, protocol: layer2, addresses: [10.0.0.0/24], {extra}}}\n"
        )
    };
    let peer =
        |extra: &str| format!("peers:\n- {{peer-address: 10.0.0.1, peer-asn: 2, {extra}}}\n");
    let docs = [
        peer("my-asn: 1"),
        peer("my-asn: '1'"),
        peer("my-asn: \"1\""),
        peer("my-asn: abc"),
        peer("my-asn: 1.5"),
        peer("my-asn: 0x10"),
        peer("my-asn: 1, password: 12345"),
        peer("my-asn: 1, password: true"),
        peer("my-asn: 1, password: ~"),
        peer("my-asn: 1, hold-time: 90"),
        peer("my-asn: 1, ebgp-multihop: 'true'"),
        peer("my-asn: 1, ebgp-multihop: yes"),
        pool("auto-assign: false"),
        pool("auto-assign: 'false'"),
        pool("auto-assign: 0"),
        pool("namespaces: [123]"),
        "address-pools:\n- {name: 2024, protocol: layer2, addresses: [10.0.0.0/24]}\n".to_string(),
    ];
    for doc in docs {
        let alone = parse(&doc);
        let beside = parse(&format!("{doc}typo: 1\n")).unwrap_err();
        let rest: Vec<&ironlb_config::ConfigError> = beside
            .iter()
            .filter(|e| !matches!(e.kind, ErrorKind::UnknownKey { .. }))
            .collect();
        match &alone {
            Ok(_) => assert!(
                rest.is_empty(),
                "{doc}: valid alone, but beside a typo: {beside}"
            ),
            Err(e) if matches!(e.errors()[0].kind, ErrorKind::Yaml { .. }) => {
                // A type error stops both readings; it is still reported, with its line.
                assert_eq!(rest.len(), 1, "{doc}: {beside}");
                assert_eq!(rest[0], &e.errors()[0], "{doc}");
            }
            Err(e) => {
                let want: Vec<String> = e.iter().map(|e| e.to_string()).collect();
                let got: Vec<String> = rest.iter().map(|e| e.to_string()).collect();
                assert_eq!(got, want, "{doc}");
            }
        }
    }
}

#[test]
fn graceful_restart_is_off_by_default_and_its_time_defaults_to_120s() {
    let first = |doc: &str| parse(doc).unwrap().peers[0].graceful_restart;
    assert_eq!(first(&peer("")), None);
    assert_eq!(first(&peer("  enable-graceful-restart: false\n")), None);
    let cases = [
        ("", 120),
        ("  graceful-restart-time: 30s\n", 30),
        ("  graceful-restart-time: 1m30.9s\n", 90),
        ("  graceful-restart-time: ''\n", 120),
    ];
    for (extra, secs) in cases {
        let doc = peer(&format!("  enable-graceful-restart: true\n{extra}"));
        assert_eq!(first(&doc), Some(Duration::from_secs(secs)), "{extra}");
        // Written back, it reads the same.
        let config = parse(&doc).unwrap();
        assert_eq!(parse(&config.to_document()).unwrap().peers, config.peers);
    }
}

#[test]
fn graceful_restart_time_without_graceful_restart_is_a_warning() {
    let (config, warnings) =
        ironlb_config::parse_with_warnings(&peer("  graceful-restart-time: 30s\n")).unwrap();
    assert_eq!(config.peers[0].graceful_restart, None);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].to_string(),
        "peers[0] \"10.0.0.1\": graceful-restart-time: graceful-restart-time has no effect without enable-graceful-restart: true"
    );
}
