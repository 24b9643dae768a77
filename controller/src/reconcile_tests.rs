//! Scripted inputs, asserted outputs, for the controller state machine.

use super::*;
use crate::allocator::{Families, Family, Request, Target};
use crate::sharing::Sharing;
use ironlb_config::{AddressRange, Pool, PoolName, Protocol};

fn config(ranges: &[(&str, &str)]) -> Config {
    Config {
        pools: vec![Pool {
            name: PoolName("p".to_owned()),
            protocol: Protocol::Layer2,
            addresses: ranges
                .iter()
                .map(|(s, e)| AddressRange {
                    start: ip(s),
                    end: ip(e),
                })
                .collect(),
            avoid_buggy_ips: false,
            auto_assign: true,
            bgp_advertisements: vec![],
            interfaces: vec![],
            node_selectors: vec![],
            namespaces: vec![],
        }],
        ..Config::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

fn svc(name: &str, status: &[&str]) -> ServiceView {
    ServiceView {
        key: key(name),
        uid: format!("uid-{name}"),
        handling: Ok(Handling::Ours(Request {
            service: key(name),
            target: Target::Auto,
            families: Families::single(Family::V4),
            sharing: Sharing::default(),
        })),
        status_ips: status.iter().map(|s| ip(s)).collect(),
    }
}

fn writes(out: &[Output]) -> Vec<(String, Vec<IpAddr>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::WriteStatus { key, ips } => Some((key.name.clone(), ips.clone())),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<(&'static str, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some((e.reason.as_str(), e.note.clone())),
            _ => None,
        })
        .collect()
}

/// The errors of a document that does not validate (an unknown protocol).
fn bad_config() -> ironlb_config::ConfigErrors {
    ironlb_config::parse(
        "address-pools:\n- name: x\n  protocol: layer9\n  addresses: [10.0.0.0/30]\n",
    )
    .unwrap_err()
}

fn leader_with(cfg: Config) -> Reconciler {
    let mut r = Reconciler::new();
    r.handle(Input::Leader(true));
    r.handle(Input::ConfigApplied(Ok(cfg)));
    r
}

#[test]
fn nothing_is_allocated_before_config_and_list_are_in() {
    let mut r = Reconciler::new();
    r.handle(Input::Leader(true));
    assert!(r.handle(Input::ServiceApplied(svc("a", &[]))).is_empty());
    assert!(
        r.handle(Input::ServicesListed(vec![svc("a", &[])]))
            .is_empty()
    );
    assert!(!r.ready());
    let out = r.handle(Input::ConfigApplied(Ok(config(&[(
        "10.0.0.1", "10.0.0.9",
    )]))));
    assert_eq!(writes(&out), vec![("a".to_owned(), vec![ip("10.0.0.1")])]);
    assert_eq!(
        events(&out),
        vec![("IPAllocated", "Assigned 10.0.0.1".to_owned())]
    );
}

#[test]
fn restart_reclaims_recorded_ips_before_allocating_new_ones() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.3")]));
    // "a" (sorted first) has nothing; "b" holds .1 from before the restart.
    let out = r.handle(Input::ServicesListed(vec![
        svc("a", &[]),
        svc("b", &["10.0.0.1"]),
    ]));
    assert_eq!(writes(&out), vec![("a".to_owned(), vec![ip("10.0.0.2")])]);
}

#[test]
fn conflicting_holders_are_reported_on_both_and_left_alone() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.3")]));
    let out = r.handle(Input::ServicesListed(vec![
        svc("a", &["10.0.0.1"]),
        svc("b", &["10.0.0.1"]),
    ]));
    assert!(writes(&out).is_empty(), "nothing taken away: {out:?}");
    let conflicts: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Event(EventOut {
                subject: Subject::Service { key, .. },
                reason: Reason::IpConflict,
                ..
            }) => Some(key.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(conflicts, vec!["b".to_owned(), "a".to_owned()]);
    // Deleting one clears the other's conflict without moving it.
    let out = r.handle(Input::ServiceDeleted(key("a")));
    assert!(writes(&out).is_empty());
    assert_eq!(
        r.allocator().assigned(&key("b")),
        Some(&[ip("10.0.0.1")][..])
    );
}

#[test]
fn followers_compute_but_never_write_then_write_on_promotion() {
    let mut r = Reconciler::new();
    r.handle(Input::ConfigApplied(Ok(config(&[(
        "10.0.0.1", "10.0.0.3",
    )]))));
    let out = r.handle(Input::ServicesListed(vec![svc("a", &[])]));
    assert!(writes(&out).is_empty() && events(&out).is_empty());
    // The leader gave "a" .3: the follower adopts the record.
    r.handle(Input::ServiceApplied(svc("a", &["10.0.0.3"])));
    assert_eq!(
        r.allocator().assigned(&key("a")),
        Some(&[ip("10.0.0.3")][..])
    );
    r.handle(Input::ServiceApplied(svc("b", &[])));
    let out = r.handle(Input::Leader(true));
    assert_eq!(writes(&out), vec![("b".to_owned(), vec![ip("10.0.0.1")])]);
}

#[test]
fn invalid_config_keeps_the_last_good_one() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.1")]));
    r.handle(Input::ServicesListed(vec![svc("a", &[])]));
    let out = r.handle(Input::ConfigApplied(Err(bad_config())));
    assert!(r.config_stale() && r.config_loaded());
    assert_eq!(out.len(), 1);
    assert!(matches!(
        &out[0],
        Output::Event(EventOut {
            subject: Subject::ConfigMap,
            reason,
            ..
        }) if reason.is_warning()
    ));
    assert_eq!(
        r.allocator().assigned(&key("a")),
        Some(&[ip("10.0.0.1")][..])
    );
    r.handle(Input::ConfigDeleted);
    assert_eq!(
        r.allocator().assigned(&key("a")),
        Some(&[ip("10.0.0.1")][..])
    );
}

#[test]
fn orphaning_config_reallocates_with_an_event() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.1")]));
    r.handle(Input::ServicesListed(vec![svc("a", &["10.0.0.1"])]));
    let out = r.handle(Input::ConfigApplied(Ok(config(&[(
        "10.0.1.1", "10.0.1.1",
    )]))));
    assert_eq!(writes(&out), vec![("a".to_owned(), vec![ip("10.0.1.1")])]);
    assert_eq!(
        events(&out),
        vec![(
            "IPReallocated",
            "Assigned 10.0.1.1 (10.0.0.1 is no longer in any pool of the config)".to_owned()
        )]
    );
}

#[test]
fn exhausted_pool_reports_once_and_retries_when_an_ip_frees() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.1")]));
    r.handle(Input::ServicesListed(vec![svc("a", &["10.0.0.1"])]));
    let out = r.handle(Input::ServiceApplied(svc("b", &[])));
    assert_eq!(events(&out).len(), 1);
    assert_eq!(events(&out)[0].0, "AllocationFailed");
    assert!(events(&out)[0].1.starts_with("PoolExhausted: "));
    // Same failure again: no new Event.
    assert!(events(&r.handle(Input::ServiceApplied(svc("b", &[])))).is_empty());
    let out = r.handle(Input::ServiceDeleted(key("a")));
    assert_eq!(writes(&out), vec![("b".to_owned(), vec![ip("10.0.0.1")])]);
}

#[test]
fn leaving_loadbalancer_releases_and_clears_status() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.1")]));
    r.handle(Input::ServicesListed(vec![svc("a", &["10.0.0.1"])]));
    let mut v = svc("a", &["10.0.0.1"]);
    v.handling = Ok(Handling::NotLoadBalancer);
    let out = r.handle(Input::ServiceApplied(v));
    assert_eq!(writes(&out), vec![("a".to_owned(), vec![])]);
    assert_eq!(r.allocator().assigned(&key("a")), None);
}

#[test]
fn invalid_then_shrinking_config_moves_only_the_orphan() {
    let mut r = leader_with(config(&[("10.0.0.0", "10.0.0.3")]));
    r.handle(Input::ServicesListed(vec![svc("a", &["10.0.0.0"])]));
    let out = r.handle(Input::ServiceApplied(svc("b", &[])));
    assert_eq!(writes(&out), vec![("b".to_owned(), vec![ip("10.0.0.1")])]);
    r.handle(Input::ServiceApplied(svc("b", &["10.0.0.1"])));
    r.handle(Input::ConfigApplied(Err(bad_config())));
    let out = r.handle(Input::ConfigApplied(Ok(config(&[(
        "10.0.0.1", "10.0.0.3",
    )]))));
    assert_eq!(writes(&out), vec![("a".to_owned(), vec![ip("10.0.0.2")])]);
    assert!(!r.config_stale());
}

#[test]
fn relist_keeps_choices_whose_writes_are_still_in_flight() {
    let mut r = leader_with(config(&[("10.0.0.1", "10.0.0.9")]));
    r.handle(Input::ServicesListed(vec![svc("a", &[]), svc("b", &[])]));
    // Writes (a=.1, b=.2) not yet seen; the watch re-lists; "a" disappeared meanwhile.
    let out = r.handle(Input::ServicesListed(vec![svc("b", &[]), svc("c", &[])]));
    assert_eq!(
        writes(&out),
        vec![
            ("b".to_owned(), vec![ip("10.0.0.2")]),
            ("c".to_owned(), vec![ip("10.0.0.1")]),
        ]
    );
}
