//! Allocator specs: table-driven cases per rule, and random operation sequences checked
//! against a plain model.

use super::*;
use crate::sharing::{L4Protocol, PortSpec, TrafficPolicy};
use ironlb_config::{AddressRange, Pool, Protocol};
use proptest::prelude::*;

fn pool(name: &str, ranges: &[(&str, &str)]) -> Pool {
    Pool {
        name: PoolName(name.to_owned()),
        protocol: Protocol::Layer2,
        addresses: ranges
            .iter()
            .map(|(s, e)| AddressRange {
                start: s.parse().unwrap(),
                end: e.parse().unwrap(),
            })
            .collect(),
        avoid_buggy_ips: false,
        auto_assign: true,
        bgp_advertisements: vec![],
        interfaces: vec![],
        node_selectors: vec![],
        namespaces: vec![],
    }
}

fn config(pools: Vec<Pool>) -> Config {
    Config {
        pools,
        ..Config::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn req(name: &str, target: Target) -> Request {
    Request {
        service: ServiceKey::new("default", name),
        target,
        families: Families::single(Family::V4),
        sharing: Sharing {
            ports: [PortSpec {
                protocol: L4Protocol::Tcp,
                port: 80,
            }]
            .into(),
            ..Sharing::default()
        },
    }
}

fn shared(mut r: Request, key: &str, port: u16) -> Request {
    r.sharing.key = SharingKey::new(key);
    r.sharing.ports = [PortSpec {
        protocol: L4Protocol::Tcp,
        port,
    }]
    .into();
    r
}

fn dual(mut r: Request, require_all: bool) -> Request {
    r.families = Families {
        order: vec![Family::V4, Family::V6],
        require_all,
    };
    r
}

fn pool_target(name: &str) -> Target {
    Target::Pool(PoolName(name.to_owned()))
}

#[test]
fn auto_assign_takes_the_first_free_address_and_is_stable() {
    let mut a = Allocator::new(&config(vec![pool("p", &[("10.0.0.1", "10.0.0.3")])]));
    assert_eq!(a.assign(&req("a", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
    assert_eq!(a.assign(&req("b", Target::Auto)), Ok(vec![ip("10.0.0.2")]));
    // Asking again changes nothing.
    assert_eq!(a.assign(&req("a", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
}

#[test]
fn allocation_rules_table() {
    let base = || {
        let mut restricted = pool("team", &[("10.1.0.0", "10.1.0.255")]);
        restricted.namespaces = vec!["team-ns".to_owned()];
        let mut manual = pool("manual", &[("10.2.0.1", "10.2.0.1")]);
        manual.auto_assign = false;
        let mut buggy = pool("buggy", &[("10.3.0.255", "10.3.1.1")]);
        buggy.avoid_buggy_ips = true;
        buggy.auto_assign = false;
        let v6 = pool("v6", &[("fd00::", "fd00::ffff:ffff:ffff:ffff")]);
        config(vec![
            pool("main", &[("10.0.0.1", "10.0.0.2")]),
            restricted,
            manual,
            buggy,
            v6,
        ])
    };
    let in_ns = |mut r: Request, ns: &str| {
        r.service.namespace = ns.to_owned();
        r
    };
    let v6only = |mut r: Request| {
        r.families = Families::single(Family::V6);
        r
    };
    type Case = (&'static str, Request, Result<Vec<IpAddr>, Reason>);
    let cases: Vec<Case> = vec![
        ("auto", req("s", Target::Auto), Ok(vec![ip("10.0.0.1")])),
        (
            "requested ip ignores auto-assign",
            req("s", Target::Ips(vec![ip("10.2.0.1")])),
            Ok(vec![ip("10.2.0.1")]),
        ),
        (
            "named pool ignores auto-assign",
            req("s", pool_target("manual")),
            Ok(vec![ip("10.2.0.1")]),
        ),
        (
            "unknown pool",
            req("s", pool_target("nope")),
            Err(Reason::UnknownPool),
        ),
        (
            "requested ip outside pools",
            req("s", Target::Ips(vec![ip("192.0.2.1")])),
            Err(Reason::IpOutsidePools),
        ),
        (
            "requested ip of the wrong family",
            req("s", Target::Ips(vec![ip("fd00::1")])),
            Err(Reason::FamilyMismatch),
        ),
        (
            "two requested ips of one family",
            req("s", Target::Ips(vec![ip("10.0.0.1"), ip("10.0.0.2")])),
            Err(Reason::FamilyMismatch),
        ),
        (
            "restricted pool, other namespace",
            req("s", pool_target("team")),
            Err(Reason::PoolNotAllowed),
        ),
        (
            "restricted pool, its namespace",
            in_ns(req("s", pool_target("team")), "team-ns"),
            Ok(vec![ip("10.1.0.0")]),
        ),
        (
            "avoid-buggy-ips skips .255 and .0",
            req("s", pool_target("buggy")),
            Ok(vec![ip("10.3.1.1")]),
        ),
        (
            "avoid-buggy-ips refuses a requested .0",
            req("s", Target::Ips(vec![ip("10.3.1.0")])),
            Err(Reason::IpOutsidePools),
        ),
        (
            "v6 single stack from the v6 pool",
            v6only(req("s", Target::Auto)),
            Ok(vec![ip("fd00::")]),
        ),
        (
            "v6 from a v4-only pool",
            v6only(req("s", pool_target("main"))),
            Err(Reason::FamilyMismatch),
        ),
        (
            "require dual-stack with no dual-stack pool",
            dual(req("s", Target::Auto), true),
            Err(Reason::FamilyMismatch),
        ),
        (
            "prefer dual-stack falls back to one family",
            dual(req("s", Target::Auto), false),
            Ok(vec![ip("10.0.0.1")]),
        ),
        (
            "dual-stack requested ips",
            dual(
                req("s", Target::Ips(vec![ip("10.0.0.2"), ip("fd00::9")])),
                true,
            ),
            Ok(vec![ip("10.0.0.2"), ip("fd00::9")]),
        ),
        (
            "require dual-stack, one requested ip",
            dual(req("s", Target::Ips(vec![ip("10.0.0.2")])), true),
            Err(Reason::FamilyMismatch),
        ),
    ];
    for (name, r, want) in cases {
        let mut a = Allocator::new(&base());
        let got = a.assign(&r).map_err(|e| e.reason());
        assert_eq!(got, want, "{name}");
        if got.is_err() {
            assert_eq!(
                a.assigned(&r.service),
                None,
                "{name}: nothing held on error"
            );
        }
    }
}

#[test]
fn dual_stack_pool_gives_one_of_each_in_family_order() {
    let mut a = Allocator::new(&config(vec![pool(
        "ds",
        &[("10.0.0.1", "10.0.0.1"), ("fd00::1", "fd00::1")],
    )]));
    let mut r = dual(req("a", Target::Auto), true);
    r.families.order = vec![Family::V6, Family::V4];
    assert_eq!(a.assign(&r), Ok(vec![ip("fd00::1"), ip("10.0.0.1")]));
    // Nothing left: a second RequireDualStack fails and takes nothing.
    let r2 = dual(req("b", Target::Auto), true);
    assert_eq!(
        a.assign(&r2).map_err(|e| e.reason()),
        Err(Reason::PoolExhausted)
    );
    a.release(&r.service);
    assert_eq!(a.assign(&r2), Ok(vec![ip("10.0.0.1"), ip("fd00::1")]));
}

#[test]
fn require_dual_stack_gives_back_the_first_family_when_the_second_is_missing() {
    let mut a = Allocator::new(&config(vec![pool(
        "ds",
        &[("10.0.0.1", "10.0.0.1"), ("fd00::1", "fd00::1")],
    )]));
    let v6 = Request {
        families: Families::single(Family::V6),
        ..req("v6", Target::Auto)
    };
    assert_eq!(a.assign(&v6), Ok(vec![ip("fd00::1")]));
    assert!(a.assign(&dual(req("ds", Target::Auto), true)).is_err());
    // The v4 address taken during the failed attempt is free again.
    assert_eq!(a.assign(&req("v4", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
}

#[test]
fn exhausted_pool_fails_then_succeeds_after_a_release() {
    let mut a = Allocator::new(&config(vec![pool("p", &[("10.0.0.1", "10.0.0.1")])]));
    assert!(a.assign(&req("a", Target::Auto)).is_ok());
    let err = a.assign(&req("b", Target::Auto)).unwrap_err();
    assert_eq!(err.reason(), Reason::PoolExhausted);
    assert_eq!(
        err.to_string(),
        "no free IPv4 address in any auto-assign pool"
    );
    assert_eq!(
        a.release(&ServiceKey::new("default", "a")),
        vec![ip("10.0.0.1")]
    );
    assert_eq!(a.assign(&req("b", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
}

#[test]
fn sharing_joins_an_existing_ip_only_when_the_rules_allow() {
    let mut a = Allocator::new(&config(vec![pool("p", &[("10.0.0.1", "10.0.0.9")])]));
    let first = shared(req("a", Target::Auto), "k", 80);
    assert_eq!(a.assign(&first), Ok(vec![ip("10.0.0.1")]));
    // Same key, other port: same IP.
    assert_eq!(
        a.assign(&shared(req("b", Target::Auto), "k", 443)),
        Ok(vec![ip("10.0.0.1")])
    );
    // Same key, same port: a new IP.
    assert_eq!(
        a.assign(&shared(req("c", Target::Auto), "k", 80)),
        Ok(vec![ip("10.0.0.2")])
    );
    // Requesting a held IP without a key is refused, naming the holder.
    let err = a
        .assign(&req("d", Target::Ips(vec![ip("10.0.0.1")])))
        .unwrap_err();
    assert_eq!(err.reason(), Reason::IpInUse);
    // Local policy with another selector may not join.
    let mut local = shared(req("e", Target::Ips(vec![ip("10.0.0.2")])), "k", 8080);
    local.sharing.policy = TrafficPolicy::Local {
        selector: [("app".to_owned(), "x".to_owned())].into(),
    };
    assert_eq!(
        a.assign(&local).map_err(|e| e.reason()),
        Err(Reason::IpInUse)
    );
    // The shared IP stays in use until its last holder goes.
    a.release(&first.service);
    assert_eq!(a.holders(ip("10.0.0.1")).len(), 1);
    a.release(&ServiceKey::new("default", "b"));
    assert!(a.holders(ip("10.0.0.1")).is_empty());
    assert_eq!(a.assign(&req("f", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
}

#[test]
fn changing_the_target_reallocates_and_frees_the_old_ip() {
    let mut a = Allocator::new(&config(vec![
        pool("p", &[("10.0.0.1", "10.0.0.1")]),
        pool("q", &[("10.0.1.1", "10.0.1.1")]),
    ]));
    assert_eq!(a.assign(&req("a", Target::Auto)), Ok(vec![ip("10.0.0.1")]));
    assert_eq!(
        a.assign(&req("a", pool_target("q"))),
        Ok(vec![ip("10.0.1.1")])
    );
    assert_eq!(
        a.assign(&req("b", pool_target("p"))),
        Ok(vec![ip("10.0.0.1")])
    );
    // A failed change keeps what the Service has.
    assert!(a.assign(&req("a", pool_target("p"))).is_err());
    assert_eq!(
        a.assigned(&ServiceKey::new("default", "a")),
        Some(&[ip("10.0.1.1")][..])
    );
}

#[test]
fn claims_come_before_new_allocations_and_conflicts_stay_put() {
    let mut a = Allocator::new(&config(vec![pool("p", &[("10.0.0.1", "10.0.0.3")])]));
    assert!(
        a.claim(&req("held", Target::Auto), &[ip("10.0.0.1")])
            .is_empty()
    );
    assert_eq!(
        a.assign(&req("new", Target::Auto)),
        Ok(vec![ip("10.0.0.2")])
    );
    // A second holder that may not share: recorded, reported, both keep it.
    let problems = a.claim(&req("dup", Target::Auto), &[ip("10.0.0.1")]);
    assert!(matches!(
        problems.as_slice(),
        [ClaimProblem::Conflict { other, .. }] if other.name == "held"
    ));
    for name in ["held", "dup"] {
        let err = a.assign(&req(name, Target::Auto)).unwrap_err();
        assert_eq!(err.reason(), Reason::IpInUse, "{name}");
        assert_eq!(
            a.assigned(&ServiceKey::new("default", name)),
            Some(&[ip("10.0.0.1")][..])
        );
    }
    // Once one goes, the other is fine again, and keeps its IP.
    a.release(&ServiceKey::new("default", "held"));
    assert_eq!(
        a.assign(&req("dup", Target::Auto)),
        Ok(vec![ip("10.0.0.1")])
    );
    // An IP outside every pool is not claimed.
    assert_eq!(
        a.claim(&req("lost", Target::Auto), &[ip("192.0.2.1")]),
        vec![ClaimProblem::OutsidePools(ip("192.0.2.1"))]
    );
    assert_eq!(a.assigned(&ServiceKey::new("default", "lost")), None);
}

#[test]
fn config_change_keeps_ips_still_in_a_pool_and_reports_orphans() {
    let mut a = Allocator::new(&config(vec![pool("p", &[("10.0.0.1", "10.0.0.2")])]));
    a.assign(&req("a", Target::Auto)).unwrap();
    a.assign(&req("b", Target::Auto)).unwrap();
    let orphans = a.set_config(&config(vec![pool("p2", &[("10.0.0.2", "10.0.0.3")])]));
    assert_eq!(
        orphans,
        vec![(ServiceKey::new("default", "a"), ip("10.0.0.1"))]
    );
    assert_eq!(
        a.assigned(&ServiceKey::new("default", "b")),
        Some(&[ip("10.0.0.2")][..])
    );
    assert_eq!(a.assign(&req("a", Target::Auto)), Ok(vec![ip("10.0.0.3")]));
    let usage = a.usage();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].size, usage[0].in_use), (2, 2));
}

#[test]
fn usage_counts_per_family_and_saturates_on_huge_pools() {
    let mut a = Allocator::new(&config(vec![pool(
        "ds",
        &[
            ("10.0.0.0", "10.0.255.255"),
            ("fd00::", "fd00::ffff:ffff:ffff:ffff"),
        ],
    )]));
    a.assign(&dual(req("a", Target::Auto), true)).unwrap();
    let usage = a.usage();
    assert_eq!(usage[0].family, Family::V4);
    assert_eq!((usage[0].size, usage[0].in_use), (65536, 1));
    assert_eq!(usage[1].family, Family::V6);
    assert_eq!((usage[1].size, usage[1].in_use), (1 << 64, 1));
}

// ---- property tests -------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Service i asks for an address (auto, a requested one, or pool 0/1), maybe shared.
    Assign {
        svc: usize,
        target: u8,
        key: Option<u8>,
        port: u16,
    },
    Release(usize),
    Claim {
        svc: usize,
        ip: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12usize, 0..6u8, prop::option::of(0..2u8), 0..3u16)
            .prop_map(|(svc, target, key, port)| Op::Assign { svc, target, key, port }),
        2 => (0..12usize).prop_map(Op::Release),
        1 => (0..12usize, 0..8u8).prop_map(|(svc, ip)| Op::Claim { svc, ip }),
    ]
}

fn prop_request(svc: usize, target: u8, key: Option<u8>, port: u16) -> Request {
    let target = match target {
        0 | 1 => Target::Auto,
        2 => pool_target("a"),
        3 => pool_target("b"),
        n => Target::Ips(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))]),
    };
    let mut r = req(&format!("s{svc}"), target);
    r.sharing.key = key.and_then(|k| SharingKey::new(&format!("k{k}")));
    r.sharing.ports = [PortSpec {
        protocol: L4Protocol::Tcp,
        port,
    }]
    .into();
    r
}

proptest! {
    /// Random sequences of assign / release / claim on two small pools. After every step:
    /// no address is held by two Services that may not share (claims aside, which the
    /// test avoids by claiming only free addresses), every held address is in a pool, the
    /// in-use counters match, and an auto request succeeds whenever the model says an
    /// address is free.
    #[test]
    fn random_operations_never_hand_out_an_ip_twice(ops in prop::collection::vec(op(), 1..120)) {
        let cfg = config(vec![
            pool("a", &[("10.0.0.0", "10.0.0.3")]),
            pool("b", &[("10.0.0.4", "10.0.0.7")]),
        ]);
        let mut a = Allocator::new(&cfg);
        let mut requests: HashMap<usize, Request> = HashMap::new();
        for op in ops {
            match op {
                Op::Assign { svc, target, key, port } => {
                    let r = prop_request(svc, target, key, port);
                    let free_before = 8 - a.usage().iter().map(|u| u.in_use).sum::<u128>();
                    let had = a.assigned(&r.service).map(<[IpAddr]>::to_vec);
                    match a.assign(&r) {
                        Ok(ips) => {
                            prop_assert_eq!(ips.len(), 1);
                            requests.insert(svc, r);
                        }
                        Err(e) => {
                            // Auto never fails while a non-shared address is free.
                            if matches!(r.target, Target::Auto) {
                                prop_assert!(free_before == 0 || had.is_some(), "{e}");
                            }
                            // A failure leaves the Service's addresses as they were.
                            prop_assert_eq!(a.assigned(&r.service).map(<[IpAddr]>::to_vec), had);
                        }
                    }
                }
                Op::Release(svc) => {
                    a.release(&ServiceKey::new("default", format!("s{svc}")));
                    requests.remove(&svc);
                }
                Op::Claim { svc, ip } => {
                    let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip));
                    if a.holders(addr).is_empty() {
                        let r = prop_request(svc, 4 + ip % 2, None, 9);
                        let r = Request { target: Target::Ips(vec![addr]), ..r };
                        prop_assert!(a.claim(&r, &[addr]).is_empty());
                        requests.insert(svc, r);
                    }
                }
            }
            // Invariants.
            let mut in_use = 0u128;
            for n in 0..8u8 {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
                let holders = a.holders(addr);
                if !holders.is_empty() {
                    in_use += 1;
                }
                for (i, x) in holders.iter().enumerate() {
                    for y in &holders[i + 1..] {
                        let rx = &requests[&x.name[1..].parse::<usize>().unwrap()];
                        let ry = &requests[&y.name[1..].parse::<usize>().unwrap()];
                        prop_assert!(can_share(&rx.sharing, &ry.sharing).is_ok(),
                            "{} held by {} and {} which may not share", addr, x, y);
                    }
                    let held = a.assigned(x).unwrap_or_default();
                    prop_assert!(held.contains(&addr));
                }
            }
            prop_assert_eq!(in_use, a.usage().iter().map(|u| u.in_use).sum::<u128>());
        }
        // Everything released: the whole of both pools is reusable.
        for svc in 0..12 {
            a.release(&ServiceKey::new("default", format!("s{svc}")));
        }
        let mut got = BTreeSet::new();
        for n in 0..8 {
            let ips = a.assign(&req(&format!("z{n}"), Target::Auto));
            prop_assert!(ips.is_ok());
            got.extend(ips.unwrap_or_default());
        }
        prop_assert_eq!(got.len(), 8);
    }
}

#[test]
fn family_mismatch_messages_read_as_before() {
    let v4v6 = vec![Family::V4, Family::V6];
    let table = [
        (FamilyMismatch::NoAddressHeld, "no address held"),
        (
            FamilyMismatch::PoolLacks {
                pool: Some("blue".into()),
                family: Family::V6,
            },
            "pool blue has no IPv6 addresses",
        ),
        (
            FamilyMismatch::PoolLacks {
                pool: None,
                family: Family::V4,
            },
            "any auto-assign pool has no IPv4 addresses",
        ),
        (
            FamilyMismatch::NoDualStackPool {
                families: v4v6.clone(),
            },
            "dual-stack required but no pool has both IPv4,IPv6 addresses",
        ),
        (
            FamilyMismatch::WrongFamily {
                ip: "2001:db8::1".parse().unwrap(),
                family: Family::V6,
                families: vec![Family::V4],
            },
            "2001:db8::1 is IPv6 but the Service's families are IPv4",
        ),
        (
            FamilyMismatch::Repeated(Family::V4),
            "more than one IPv4 address requested",
        ),
        (
            FamilyMismatch::Missing {
                missing: Family::V6,
                families: v4v6,
            },
            "no IPv6 address requested but the Service requires IPv4,IPv6",
        ),
    ];
    for (problem, text) in table {
        assert_eq!(
            AllocError::FamilyMismatch(problem).to_string(),
            format!("family mismatch: {text}")
        );
    }
}
