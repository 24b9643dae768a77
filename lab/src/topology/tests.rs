//! The lab's values as `cli/lab/network.sh` and `lab.sh` wrote them, and the lab router's
//! configs as `cli/lab/routers.sh` wrote them (golden, byte for byte).
use super::*;

#[test]
fn names_come_from_the_prefix() {
    let t = Topology::new(Prefix::default(), 3).unwrap();
    assert_eq!(t.lan_ns(), "ilb-lan");
    assert_eq!(t.router_ns(), "ilb-router");
    assert_eq!(t.remote_ns(), "ilb-remote");
    assert_eq!(t.cp_ns(), "ilb-cp");
    assert_eq!(t.client_ns(), "ilb-client");
    let nodes: Vec<String> = t.nodes().map(|n| t.node_ns(n)).collect();
    assert_eq!(nodes, ["ilb-node1", "ilb-node2", "ilb-node3"]);
    let other = Topology::new(Prefix::new("ilb2-").unwrap(), 1).unwrap();
    assert_eq!(other.router_ns(), "ilb2-router");
}

#[test]
fn prefixes_and_node_counts_are_checked() {
    for ok in ["ilb-", "ab-", "x12345-"] {
        assert!(Prefix::new(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "ilb", "a-", "Ilb-", "1lb-", "ilb_-", "abcdefg-", "il-b-",
    ] {
        assert_eq!(
            Prefix::new(bad),
            Err(TopologyError::Prefix(bad.to_owned())),
            "{bad}"
        );
    }
    assert_eq!(
        Topology::new(Prefix::default(), 0),
        Err(TopologyError::Node(0))
    );
    assert_eq!(
        Topology::new(Prefix::default(), 9),
        Err(TopologyError::Node(9))
    );
    assert_eq!(
        Topology::new(Prefix::default(), 8).unwrap().nodes().count(),
        8
    );
}

#[test]
fn lan_hosts() {
    let s = |h: Host| (h.v4.to_string(), h.v6.to_string());
    assert_eq!(
        s(Topology::router()),
        ("192.0.2.1".into(), "2001:db8:1::1".into())
    );
    assert_eq!(
        s(Topology::control_plane()),
        ("192.0.2.2".into(), "2001:db8:1::2".into())
    );
    assert_eq!(
        s(Topology::client()),
        ("192.0.2.5".into(), "2001:db8:1::5".into())
    );
    let (v4, v6) = Topology::client().on_lan();
    assert_eq!(
        (v4.to_string(), v6.to_string()),
        ("192.0.2.5/24".into(), "2001:db8:1::5/64".into())
    );
    let (v4, v6) = Topology::lan();
    assert_eq!(
        (v4.to_string(), v6.to_string()),
        ("192.0.2.0/24".into(), "2001:db8:1::/64".into())
    );
}

#[test]
fn nodes_addresses_and_pod_ranges_as_network_sh_computes_them() {
    // node_v4, node_v6, pod_v4, pod_v6 of network.sh, for every node.
    for i in 1..=MAX_NODES {
        let n = Node::new(i).unwrap();
        let h = n.host();
        assert_eq!(h.v4.to_string(), format!("192.0.2.{}", 10 + u32::from(i)));
        assert_eq!(
            h.v6.to_string(),
            format!("2001:db8:1::{}", 10 + u32::from(i))
        );
        let (p4, p6) = n.pods();
        assert_eq!(
            p4.to_string(),
            format!("198.51.100.{}/28", 128 + 16 * (u32::from(i) - 1))
        );
        assert_eq!(p6.to_string(), format!("2001:db8:10:{i}::/64"));
        let (all4, all6) = Topology::pod_cidrs();
        assert!(all4.contains(&p4) && all6.contains(&p6));
    }
    assert_eq!(Node::new(9), Err(TopologyError::Node(9)));
    // The /28s do not overlap.
    let p: Vec<_> = (1..=MAX_NODES)
        .map(|i| Node::new(i).unwrap().pods().0)
        .collect();
    for (i, a) in p.iter().enumerate() {
        for b in &p[i + 1..] {
            assert!(!a.contains(b) && !b.contains(a), "{a} {b}");
        }
    }
}

#[test]
fn remote_link_cluster_ranges_asns_and_pools() {
    let s4 = |n: Ipv4Net| n.to_string();
    let s6 = |n: Ipv6Net| n.to_string();
    let (r4, r6) = Topology::remote_link();
    assert_eq!(
        (s4(r4), s6(r6)),
        ("198.51.100.0/26".into(), "2001:db8:3::/64".into())
    );
    assert_eq!(Topology::router_remote().v4.to_string(), "198.51.100.1");
    assert_eq!(Topology::router_remote().v6.to_string(), "2001:db8:3::1");
    assert_eq!(Topology::remote().v4.to_string(), "198.51.100.10");
    assert_eq!(Topology::remote().v6.to_string(), "2001:db8:3::10");
    let (p4, p6) = Topology::pod_cidrs();
    assert_eq!(
        (s4(p4), s6(p6)),
        ("198.51.100.128/25".into(), "2001:db8:10::/56".into())
    );
    let (c4, c6) = Topology::service_cidrs();
    assert_eq!(
        (s4(c4), s6(c6)),
        ("198.51.100.64/26".into(), "2001:db8:96::/112".into())
    );
    assert_eq!(
        Topology::kubernetes_service().v4.to_string(),
        "198.51.100.65"
    );
    assert_eq!(
        Topology::kubernetes_service().v6.to_string(),
        "2001:db8:96::1"
    );
    assert_eq!((ROUTER_ASN, NODE_ASN), (64500, 64512));
    let l2: Vec<String> = Topology::l2_pool()
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect();
    assert_eq!(
        l2,
        ["192.0.2.200-192.0.2.254", "2001:db8:1::200-2001:db8:1::2ff"]
    );
    let routed: Vec<String> = Topology::routed_pool()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(routed, ["203.0.113.0/24", "2001:db8:2::/64"]);
    // The pools stay off everything else.
    let (lan4, _) = Topology::lan();
    assert!(lan4.contains(&"192.0.2.254".parse::<Ipv4Addr>().unwrap()));
    for n in Topology::new(Prefix::default(), 8).unwrap().nodes() {
        assert!(n.host().v4 < Ipv4Addr::new(192, 0, 2, 200));
    }
}

/// `bird_conf` of cli/lab/routers.sh with STATE=/run/ironlb-lab, ROUTER_ASN=64500,
/// NODE_ASN=64512.
const BIRD_GOLDEN: &str = r#"# IronLB lab router: accepts eBGP from every node (AS 64512) and installs learned routes
# into the kernel with ECMP.
router id 192.0.2.1;
log "/run/ironlb-lab/logs/bird.log" all;
protocol device { scan time 10; }
protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol bfd {
  interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; passive on; };
}
template bgp lab_node {
  local as 64500;
  passive on;
  bfd on;
  ipv4 { import all; export none; extended next hop on; };
  ipv6 { import all; export none; };
}
protocol bgp nodes_v4 from lab_node { neighbor range 192.0.2.0/24 as 64512; dynamic name "node"; }
protocol bgp nodes_v6 from lab_node { neighbor range 2001:db8:1::/64 as 64512; dynamic name "node6_"; }
"#;

/// `gobgp_conf` of cli/lab/routers.sh.
const GOBGP_GOLDEN: &str = r#"# IronLB lab router (GoBGP): accepts eBGP from every node. GoBGP keeps routes in its RIB only.
[global.config]
  as = 64500
  router-id = "192.0.2.1"
  port = 179
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "nodes"
    peer-as = 64512
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "192.0.2.0/24"
    peer-group = "nodes"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "2001:db8:1::/64"
    peer-group = "nodes"
"#;

/// `frr_conf` of cli/lab/routers.sh with STATE=/run/ironlb-lab.
const FRR_GOLDEN: &str = "frr defaults traditional
hostname ilb-router
log file /run/ironlb-lab/logs/frr.log
!
bfd
 profile nodes
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
  passive-mode
!
router bgp 64500
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as 64512
 neighbor NODES bfd
 neighbor NODES bfd profile nodes
 bgp listen range 192.0.2.0/24 peer-group NODES
 bgp listen range 2001:db8:1::/64 peer-group NODES
 address-family ipv4 unicast
  neighbor NODES activate
  neighbor NODES route-map NOTHING out
  maximum-paths 16
 exit-address-family
 address-family ipv6 unicast
  neighbor NODES activate
  neighbor NODES route-map NOTHING out
  maximum-paths 16
 exit-address-family
!
route-map NOTHING deny 10
!
";

#[test]
fn lab_router_configs_are_what_routers_sh_wrote() {
    let state = Path::new("/run/ironlb-lab");
    assert_eq!(Topology::router_bird_conf(state), BIRD_GOLDEN);
    assert_eq!(Topology::router_gobgp_conf().unwrap(), GOBGP_GOLDEN);
    let t = Topology::new(Prefix::default(), 3).unwrap();
    assert_eq!(t.router_frr_conf(state).unwrap(), FRR_GOLDEN);
}

#[test]
fn lab_router_bird_config_parses() {
    let dir = std::env::temp_dir().join(format!("ironlb-lab-bird-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = Topology::router_bird_conf(&dir);
    crate::routers::tests::bird_parses(&conf);
    let _ = std::fs::remove_dir_all(&dir);
}

/// BFD towards the nodes where the router has it, passive, so only nodes whose peer names a
/// `bfd-profile` see any; GoBGP has none and its config says nothing of it.
#[test]
fn lab_router_runs_passive_bfd_where_it_can() {
    let bird = Topology::router_bird_conf(Path::new("/run/ironlb-lab"));
    assert!(bird.contains("passive on; };\n}\n"), "{bird}");
    assert_eq!(bird.matches("bfd on;").count(), 1, "{bird}");
    let t = Topology::new(Prefix::default(), 3).unwrap();
    let frr = t.router_frr_conf(Path::new("/run/ironlb-lab")).unwrap();
    assert!(frr.contains("  passive-mode\n"), "{frr}");
    assert!(frr.contains(" neighbor NODES bfd profile nodes\n"), "{frr}");
    // bgpd and zebra read the file too: no top-level `exit` to throw them out of config mode.
    assert!(!frr.lines().any(|l| l == "exit"), "{frr}");
    let gobgp = Topology::router_gobgp_conf().unwrap();
    assert!(!gobgp.to_lowercase().contains("bfd"), "{gobgp}");
    // The description itself keeps BFD on for the routers that have it.
    assert!(Topology::router_bgp().groups.iter().all(|g| g.session.bfd));
}
