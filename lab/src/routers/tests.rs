//! Golden configs for the shapes the interop tests use, and BIRD's own parser on each.
use super::*;

/// Asserts that BIRD (`bird -p`, parse only) accepts `conf`. bird2 is a test dependency of the
/// workspace (`ironlb lab install`): a missing `bird` fails, it does not skip.
pub(crate) fn bird_parses(conf: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ironlb-lab-bird-parse-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let file = dir.join("bird.conf");
    std::fs::write(&file, conf).unwrap();
    let out = std::process::Command::new("bird")
        .arg("-p")
        .arg("-c")
        .arg(&file)
        .output()
        .expect("bird (Debian's bird2) is installed: `ironlb lab install`");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "bird -p rejected:\n{conf}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What the BIRD interop tests run: one passive peer per family, one with a password and a
/// short error wait.
fn test_router() -> Router {
    let v4 = Session::new(64512, &[Family::Ipv4, Family::Ipv6]).passive();
    let md5 = Session {
        password: Some("s3cret-pw".into()),
        error_wait: Some((1, 5)),
        ..v4.clone()
    };
    Router {
        asn: 64500,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        groups: Vec::new(),
        neighbors: vec![
            Neighbor {
                name: "ironlb4".into(),
                address: ip("192.0.2.2"),
                local: Some(ip("192.0.2.1")),
                session: md5,
            },
            Neighbor {
                name: "ironlb6".into(),
                address: ip("2001:db8:1::2"),
                local: Some(ip("2001:db8:1::1")),
                session: v4,
            },
        ],
    }
}

#[test]
fn bird_fixed_neighbors() {
    let conf = test_router().bird(&BirdOptions {
        log: Some("/tmp/x/bird.log".into()),
        direct_interfaces: Some("ilbt-bgp-*".into()),
        timeformat_ms: true,
        ..BirdOptions::default()
    });
    assert_eq!(
        conf,
        r#"router id 192.0.2.1;
log "/tmp/x/bird.log" all;
timeformat protocol iso long ms;
timeformat route iso long ms;
protocol device {}
protocol direct { ipv4; ipv6; interface "ilbt-bgp-*"; }
protocol bgp ironlb4 {
  local 192.0.2.1 as 64500;
  neighbor 192.0.2.2 as 64512;
  passive on;
  password "s3cret-pw";
  error wait time 1, 5;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
protocol bgp ironlb6 {
  local 2001:db8:1::1 as 64500;
  neighbor 2001:db8:1::2 as 64512;
  passive on;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
"#
    );
    bird_parses(&conf);
}

/// The shape of a node's BIRD in the end-to-end tests: static routes exported over one IPv4
/// session, IPv6 with an IPv6 next hop.
#[test]
fn bird_static_exporter() {
    let mut s = Session::new(64500, &[Family::Ipv4, Family::Ipv6]);
    s.hold_time = Some(9);
    s.multihop = Some(2);
    s.shutdown = true;
    for p in &mut s.families {
        p.import = Import::None;
        p.export = Export::Static;
    }
    s.families[1].extended_next_hop = true;
    s.families[1].next_hop = Some(ip("2001:db8:1::11"));
    let r = Router {
        asn: 64512,
        router_id: Ipv4Addr::new(192, 0, 2, 11),
        groups: Vec::new(),
        neighbors: vec![Neighbor {
            name: "lab".into(),
            address: ip("192.0.2.1"),
            local: Some(ip("192.0.2.11")),
            session: s,
        }],
    };
    let conf = r.bird(&BirdOptions {
        static_unreachable: vec![
            "203.0.113.7/32".parse().unwrap(),
            "2001:db8:2::7/128".parse().unwrap(),
        ],
        ..BirdOptions::default()
    });
    assert_eq!(
        conf,
        "router id 192.0.2.11;
protocol device {}
protocol static { ipv4; route 203.0.113.7/32 unreachable; }
protocol static { ipv6; route 2001:db8:2::7/128 unreachable; }
protocol bgp lab {
  local 192.0.2.11 as 64512;
  neighbor 192.0.2.1 as 64500;
  disabled on;
  hold time 9;
  multihop 2;
  ipv4 { import none; export where source = RTS_STATIC; };
  ipv6 { import none; export where source = RTS_STATIC; extended next hop on; next hop address 2001:db8:1::11; };
}
"
    );
    bird_parses(&conf);
    let err = r.gobgp(&GobgpOptions::default()).unwrap_err();
    assert_eq!(
        err,
        RenderError::Unsupported {
            dialect: "gobgp",
            what: "an import policy other than all",
            session: "lab".into()
        }
    );
    assert!(matches!(
        r.frr(&FrrOptions::default()),
        Err(RenderError::Unsupported { dialect: "frr", .. })
    ));
}

#[test]
fn gobgp_fixed_neighbors() {
    let mut r = test_router();
    r.neighbors[1].local = None;
    r.neighbors[1].session.shutdown = true;
    r.neighbors[1].session.hold_time = Some(9);
    r.neighbors[1].session.multihop = Some(3);
    let conf = r
        .gobgp(&GobgpOptions {
            listen: vec![ip("192.0.2.1"), ip("2001:db8:1::1")],
            ..GobgpOptions::default()
        })
        .unwrap();
    assert_eq!(
        conf,
        r#"[global.config]
  as = 64500
  router-id = "192.0.2.1"
  local-address-list = ["192.0.2.1", "2001:db8:1::1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 64512
    auth-password = "s3cret-pw"
  [neighbors.transport.config]
    passive-mode = true
    local-address = "192.0.2.1"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:1::2"
    peer-as = 64512
    admin-down = true
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 9
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#
    );
}

#[test]
fn frr_fixed_neighbors_one_family_each() {
    let mut r = test_router();
    r.neighbors[0].session.families.truncate(1);
    r.neighbors[1].session.families.remove(0);
    r.neighbors[1].session.hold_time = Some(9);
    r.neighbors[1].local = None;
    let conf = r
        .frr(&FrrOptions {
            hostname: "ilbt".into(),
            log_file: Some("/tmp/x/bgpd.log".into()),
            multipath: None,
            bfd: None,
        })
        .unwrap();
    assert_eq!(
        conf,
        "frr defaults traditional
hostname ilbt
log file /tmp/x/bgpd.log
!
router bgp 64500
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.0.2.2 remote-as 64512
 neighbor 192.0.2.2 passive
 neighbor 192.0.2.2 update-source 192.0.2.1
 neighbor 192.0.2.2 password s3cret-pw
 neighbor 2001:db8:1::2 remote-as 64512
 neighbor 2001:db8:1::2 passive
 neighbor 2001:db8:1::2 timers 3 9
 address-family ipv4 unicast
  neighbor 192.0.2.2 activate
  neighbor 192.0.2.2 route-map NOTHING out
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::2 activate
  neighbor 2001:db8:1::2 route-map NOTHING out
 exit-address-family
!
route-map NOTHING deny 10
!
"
    );
}

#[test]
fn a_comment_is_commented_line_by_line() {
    let r = Router {
        asn: 1,
        router_id: Ipv4Addr::LOCALHOST,
        groups: Vec::new(),
        neighbors: Vec::new(),
    };
    let conf = r.bird(&BirdOptions {
        comment: Some("a\nb".into()),
        ..BirdOptions::default()
    });
    assert!(
        conf.starts_with("# a\n# b\nrouter id 127.0.0.1;\n"),
        "{conf}"
    );
    bird_parses(&conf);
}

/// Graceful restart on one session, in every dialect (BIRD also parses it).
#[test]
fn graceful_restart_in_every_dialect() {
    let mut r = test_router();
    r.neighbors[0].session.password = None;
    r.neighbors[0].session.graceful_restart = true;
    let conf = r.bird(&BirdOptions::default());
    assert!(
        conf.contains("  error wait time 1, 5;\n  graceful restart on;\n  ipv4 {"),
        "{conf}"
    );
    assert_eq!(conf.matches("graceful restart").count(), 1, "{conf}");
    bird_parses(&conf);
    let gobgp = r.gobgp(&GobgpOptions::default()).unwrap();
    let first = &gobgp[..gobgp.find("neighbor-address = \"2001:db8:1::2\"").unwrap()];
    assert!(
        first.ends_with(
            r#"  [neighbors.graceful-restart.config]
    enabled = true
    helper-only = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
[[neighbors]]
  [neighbors.config]
    "#
        ),
        "{gobgp}"
    );
    assert_eq!(gobgp.matches("graceful-restart").count(), 3, "{gobgp}");
    let frr = r.frr(&FrrOptions::default()).unwrap();
    assert!(
        frr.contains(" neighbor 192.0.2.2 graceful-restart-helper\n"),
        "{frr}"
    );
    assert_eq!(frr.matches("graceful-restart").count(), 1, "{frr}");
}

/// BFD on one session: BIRD's `bfd on` with its (passive) `protocol bfd`, parsed by BIRD;
/// FRR's profile with `neighbor X bfd profile`; GoBGP refuses.
#[test]
fn bfd_in_every_dialect() {
    let mut r = test_router();
    r.neighbors[1].session.bfd = true;
    let conf = r.bird(&BirdOptions {
        bfd: Some(BirdBfd {
            interfaces: "ilbt-*".into(),
            interval_ms: 100,
            multiplier: 3,
            neighbors: Vec::new(),
            passive: true,
        }),
        ..BirdOptions::default()
    });
    assert!(
        conf.contains(
            "protocol bfd {\n  interface \"ilbt-*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; passive on; };\n}\n"
        ),
        "{conf}"
    );
    assert_eq!(conf.matches("bfd on;").count(), 1, "{conf}");
    bird_parses(&conf);
    let frr = r
        .frr(&FrrOptions {
            bfd: Some(FrrBfd {
                profile: "fast".into(),
                interval_ms: 50,
                multiplier: 5,
                passive: false,
            }),
            ..FrrOptions::default()
        })
        .unwrap();
    assert!(
        frr.contains(
            "!\nbfd\n profile fast\n  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 5\n!\nrouter bgp 64500\n"
        ),
        "{frr}"
    );
    assert!(
        frr.contains(" neighbor 2001:db8:1::2 bfd\n neighbor 2001:db8:1::2 bfd profile fast\n"),
        "{frr}"
    );
    assert_eq!(frr.matches("bfd profile").count(), 1, "{frr}");
    // Without a profile: bfdd's defaults.
    let frr = r.frr(&FrrOptions::default()).unwrap();
    assert!(!frr.contains("profile"), "{frr}");
    assert!(frr.contains(" neighbor 2001:db8:1::2 bfd\n"), "{frr}");
    assert!(matches!(
        r.gobgp(&GobgpOptions::default()),
        Err(RenderError::Unsupported { what: "BFD", .. })
    ));
}
