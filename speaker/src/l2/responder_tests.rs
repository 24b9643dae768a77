//! Scripted tests of the responder state machine.
use super::*;
use std::net::Ipv4Addr;

const MAC1: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);
const MAC2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x12]);
const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn eth(index: IfIndex, name: &str, mac: MacAddr) -> IfaceInfo {
    IfaceInfo {
        index,
        name: name.into(),
        mac,
    }
}

fn desired(ips: &[&str]) -> Input {
    Input::SetAnnounced(
        ips.iter()
            .map(|s| (ip(s), IfaceSelection::AllSuitable))
            .collect(),
    )
}

fn arp_request(target: &str) -> Vec<u8> {
    ArpFrame {
        eth_dst: MacAddr::BROADCAST,
        eth_src: CLIENT,
        op: ArpOp::Request,
        sender_mac: CLIENT,
        sender_ip: Ipv4Addr::new(192, 0, 2, 99),
        target_mac: MacAddr::ZERO,
        target_ip: target.parse().unwrap(),
    }
    .encode()
}

fn ns(target: &str) -> Vec<u8> {
    let t: Ipv6Addr = target.parse().unwrap();
    NdpFrame {
        eth_dst: crate::l2::ndp::multicast_mac(solicited_node(t)),
        eth_src: CLIENT,
        src: "2001:db8:1::99".parse().unwrap(),
        dst: solicited_node(t),
        message: NdpMessage::Solicitation {
            target: t,
            source_ll: Some(CLIENT),
        },
    }
    .encode()
}

fn sends(out: &[Output]) -> Vec<(IfIndex, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { iface, frame } => Some((*iface, frame.clone())),
            _ => None,
        })
        .collect()
}

fn ready() -> Responder {
    let mut a = Responder::new();
    a.handle(Input::Interfaces(vec![eth(2, "eth0", MAC1)]));
    a
}

#[test]
fn takeover_sends_gratuitous_and_joins_group() {
    let mut a = ready();
    let out = a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
    assert!(out.contains(&Output::JoinGroup {
        iface: 2,
        group: "ff02::1:ff00:200".parse().unwrap()
    }));
    let s = sends(&out);
    assert_eq!(s.len(), 3, "2 gratuitous ARP + 1 unsolicited NA");
    let g = ArpFrame::decode(&s[0].1).unwrap();
    assert!(g.is_gratuitous() && g.sender_mac == MAC1);
    assert!(out.contains(&Output::Event(L2Event::Took {
        ip: ip("192.0.2.200"),
        iface: "eth0".into()
    })));
}

#[test]
fn ticks_are_wanted_only_while_a_burst_or_conflict_is_pending() {
    let mut a = ready();
    assert!(!a.wants_tick(), "nothing announced");
    a.handle(desired(&["192.0.2.200"]));
    assert!(a.wants_tick(), "a burst has started");
    for _ in 1..BURST_ROUNDS {
        assert_eq!(sends(&a.handle(Input::Tick)).len(), 2);
    }
    assert!(!a.wants_tick(), "the burst is over");
    // An idle tick changes nothing.
    assert!(a.handle(Input::Tick).is_empty());
    let out = a.handle(Input::Frame {
        iface: 2,
        bytes: spoofed_arp("192.0.2.200", MAC2),
    });
    assert!(!sends(&out).is_empty(), "re-asserted");
    assert!(a.wants_tick(), "cooldown and report running");
    for _ in 0..REPORT_TICKS {
        a.handle(Input::Tick);
    }
    assert!(!a.wants_tick(), "all settled");
}

#[test]
fn answered_is_the_whole_set_after_a_large_takeover() {
    let mut a = Responder::new();
    a.handle(Input::Interfaces(vec![
        eth(2, "eth0", MAC1),
        eth(3, "eth1", MAC2),
    ]));
    // More IPs than any event channel would hold: the snapshot still has every one.
    let ips: BTreeMap<IpAddr, IfaceSelection> = (0..3000u32)
        .map(|n| {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + n));
            (ip, IfaceSelection::AllSuitable)
        })
        .collect();
    a.handle(Input::SetAnnounced(ips.clone()));
    let answered = a.answered();
    assert_eq!(answered.len(), 3000);
    let both: BTreeSet<String> = ["eth0".to_string(), "eth1".to_string()].into();
    assert!(answered.values().all(|names| *names == both));
    a.handle(Input::Interfaces(vec![eth(3, "eth1", MAC2)]));
    let only: BTreeSet<String> = ["eth1".to_string()].into();
    assert!(a.answered().values().all(|names| *names == only));
    a.handle(Input::SetAnnounced(BTreeMap::new()));
    assert!(a.answered().is_empty());
}

#[test]
fn burst_repeats_then_stops() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200"]));
    for _ in 1..BURST_ROUNDS {
        assert_eq!(sends(&a.handle(Input::Tick)).len(), 2);
    }
    assert!(sends(&a.handle(Input::Tick)).is_empty());
}

#[test]
fn same_set_twice_changes_nothing() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
    assert_eq!(
        a.handle(desired(&["192.0.2.200", "2001:db8:1::200"])),
        vec![]
    );
}

#[test]
fn answers_arp_only_for_owned_ips() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200"]));
    let out = a.handle(Input::Frame {
        iface: 2,
        bytes: arp_request("192.0.2.200"),
    });
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    let r = ArpFrame::decode(&s[0].1).unwrap();
    assert_eq!(
        (r.op, r.sender_mac, r.eth_dst),
        (ArpOp::Reply, MAC1, CLIENT)
    );
    assert_eq!(r.sender_ip, Ipv4Addr::new(192, 0, 2, 200));
    assert!(out.contains(&Output::Count(Counter::ArpReply)));

    for other in ["192.0.2.201", "192.0.2.99"] {
        let out = a.handle(Input::Frame {
            iface: 2,
            bytes: arp_request(other),
        });
        assert_eq!(out, vec![], "{other}");
    }
}

#[test]
fn answers_only_on_the_selected_interface() {
    let mut a = Responder::new();
    a.handle(Input::Interfaces(vec![
        eth(2, "eth0", MAC1),
        eth(3, "eth1", MAC2),
    ]));
    a.handle(Input::SetAnnounced(BTreeMap::from([(
        ip("192.0.2.200"),
        IfaceSelection::Only(BTreeSet::from(["eth1".to_string()])),
    )])));
    let req = arp_request("192.0.2.200");
    assert!(
        sends(&a.handle(Input::Frame {
            iface: 2,
            bytes: req.clone()
        }))
        .is_empty()
    );
    let s = sends(&a.handle(Input::Frame {
        iface: 3,
        bytes: req,
    }));
    assert_eq!(ArpFrame::decode(&s[0].1).unwrap().sender_mac, MAC2);
}

#[test]
fn answers_ns_only_for_owned_ips() {
    let mut a = ready();
    a.handle(desired(&["2001:db8:1::200"]));
    let s = sends(&a.handle(Input::Frame {
        iface: 2,
        bytes: ns("2001:db8:1::200"),
    }));
    assert_eq!(s.len(), 1);
    let na = NdpFrame::decode(&s[0].1).unwrap();
    assert!(matches!(
        na.message,
        NdpMessage::Advertisement {
            target_ll: Some(MAC1),
            ..
        }
    ));
    let out = a.handle(Input::Frame {
        iface: 2,
        bytes: ns("2001:db8:1::201"),
    });
    assert_eq!(out, vec![]);
}

#[test]
fn release_leaves_group_and_stops_answering() {
    let mut a = ready();
    a.handle(desired(&["2001:db8:1::200", "2001:db8:2::200"]));
    // Both share ff02::1:ff00:200: leaving one keeps the group.
    let out = a.handle(desired(&["2001:db8:2::200"]));
    assert!(!out.iter().any(|o| matches!(o, Output::LeaveGroup { .. })));
    let out = a.handle(desired(&[]));
    assert!(out.contains(&Output::LeaveGroup {
        iface: 2,
        group: "ff02::1:ff00:200".parse().unwrap()
    }));
    assert_eq!(
        a.handle(Input::Frame {
            iface: 2,
            bytes: ns("2001:db8:2::200")
        }),
        vec![]
    );
}

#[test]
fn interface_loss_releases_and_return_retakes() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200"]));
    let out = a.handle(Input::Interfaces(vec![]));
    assert_eq!(
        out,
        vec![Output::Event(L2Event::Released {
            ip: ip("192.0.2.200"),
            iface: "eth0".into()
        })]
    );
    let out = a.handle(Input::Interfaces(vec![eth(2, "eth0", MAC1)]));
    assert_eq!(sends(&out).len(), 2);
}

fn spoofed_arp(ip: &str, mac: MacAddr) -> Vec<u8> {
    let mut other = ArpFrame::gratuitous(mac, ip.parse().unwrap(), ArpOp::Reply);
    other.eth_src = mac;
    other.encode()
}

fn spoofed_na(ip: &str, mac: MacAddr) -> Vec<u8> {
    NdpFrame::unsolicited(mac, ip.parse().unwrap()).encode()
}

/// Short form of outputs for script tables: sends as `arp`/`na` with the sender MAC,
/// other outputs by name.
fn short(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Send { frame, .. } => match ArpFrame::decode(frame) {
                Ok(a) => format!("arp {:?} {}", a.op, a.sender_mac),
                Err(_) => format!("na {}", EthernetHeader::decode(frame).unwrap().0.src),
            },
            Output::Count(c) => format!("count {c:?}"),
            Output::Event(L2Event::Conflict { ip, mac, .. }) => format!("conflict {ip} {mac}"),
            Output::ConflictsChanged => "report".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn conflicts_are_reported_and_reasserted_rate_limited() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
    for _ in 1..BURST_ROUNDS {
        a.handle(Input::Tick);
    }
    let v4 = || spoofed_arp("192.0.2.200", MAC2);
    let v6 = || spoofed_na("2001:db8:1::200", CLIENT);
    let frame = |bytes: Vec<u8>| Input::Frame { iface: 2, bytes };
    // (input, expected outputs)
    let script: Vec<(Input, Vec<&str>)> = vec![
        // First claim: reported, counted, re-asserted at once with our MAC.
        (
            frame(v4()),
            vec![
                "conflict 192.0.2.200 02:00:00:00:00:12",
                "report",
                "count Reasserted",
                "arp Request 02:00:00:00:00:11",
                "count Gratuitous",
                "arp Reply 02:00:00:00:00:11",
                "count Gratuitous",
            ],
        ),
        // A second claim within the cooldown: reported only.
        (frame(v4()), vec!["conflict 192.0.2.200 02:00:00:00:00:12"]),
        // The IPv6 VIP has its own cooldown (and the report waits).
        (
            frame(v6()),
            vec![
                "conflict 2001:db8:1::200 02:00:00:00:00:99",
                "count Reasserted",
                "na 02:00:00:00:00:11",
                "count Gratuitous",
            ],
        ),
        (Input::Tick, vec![]),
        (Input::Tick, vec![]),
        (Input::Tick, vec![]),
        (frame(v4()), vec!["conflict 192.0.2.200 02:00:00:00:00:12"]),
        // Four ticks after the first: re-asserts again.
        (Input::Tick, vec![]),
        (
            frame(v4()),
            vec![
                "conflict 192.0.2.200 02:00:00:00:00:12",
                "count Reasserted",
                "arp Request 02:00:00:00:00:11",
                "count Gratuitous",
                "arp Reply 02:00:00:00:00:11",
                "count Gratuitous",
            ],
        ),
    ];
    for (i, (input, want)) in script.into_iter().enumerate() {
        assert_eq!(short(&a.handle(input)), want, "step {i}");
    }
    assert_eq!(
        a.conflicts().get(&ip("192.0.2.200")),
        Some(&ConflictSeen {
            iface: "eth0".into(),
            mac: MAC2,
            count: 4
        })
    );
    assert_eq!(
        a.conflicts().get(&ip("2001:db8:1::200")).map(|c| c.count),
        Some(1)
    );
}

#[test]
fn a_conflict_flood_sends_one_reassertion_per_second_and_one_report_per_10s() {
    let mut a = ready();
    a.handle(desired(&["2001:db8:1::200"]));
    let (mut sent, mut reports) = (0, 0);
    // 40 s of ticks, 1,000 spoofed NAs between two ticks (4,000 frames a second).
    for _ in 0..160 {
        for _ in 0..1000 {
            let out = a.handle(Input::Frame {
                iface: 2,
                bytes: spoofed_na("2001:db8:1::200", CLIENT),
            });
            sent += sends(&out).len();
            reports += out
                .iter()
                .filter(|o| **o == Output::ConflictsChanged)
                .count();
        }
        let out = a.handle(Input::Tick);
        reports += out
            .iter()
            .filter(|o| **o == Output::ConflictsChanged)
            .count();
    }
    assert_eq!(sent, 40, "one re-assertion a second");
    assert_eq!(
        reports, 5,
        "one report every 10 s: at 0, 10, 20, 30 and 40 s"
    );
    assert_eq!(a.conflicts()[&ip("2001:db8:1::200")].count, 160_000);
    // Released: forgotten, reported at once.
    let out = a.handle(desired(&[]));
    assert!(out.contains(&Output::ConflictsChanged));
    assert!(a.conflicts().is_empty());
}

#[test]
fn own_frames_and_garbage_are_ignored() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200"]));
    let own = ArpFrame::gratuitous(MAC1, Ipv4Addr::new(192, 0, 2, 200), ArpOp::Request);
    assert_eq!(
        a.handle(Input::Frame {
            iface: 2,
            bytes: own.encode()
        }),
        vec![]
    );
    assert_eq!(
        a.handle(Input::Frame {
            iface: 2,
            bytes: vec![1, 2, 3]
        }),
        vec![Output::Count(Counter::Malformed(Malformed::Truncated))]
    );
    assert_eq!(
        a.handle(Input::Frame {
            iface: 9,
            bytes: arp_request("192.0.2.200")
        }),
        vec![]
    );
}

#[test]
fn malformed_frames_are_counted_by_kind() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
    let arp = arp_request("192.0.2.200");
    let na = NdpFrame::unsolicited(MAC2, "2001:db8:1::200".parse().unwrap()).encode();
    let with = |base: &[u8], at: usize, v: u8| {
        let mut b = base.to_vec();
        b[at] = v;
        b
    };
    // (frame, kind): byte offsets are Ethernet (14) + ARP, or + IPv6 (40) + ICMPv6.
    let table: Vec<(Vec<u8>, Malformed)> = vec![
        (arp[..30].to_vec(), Malformed::Truncated),
        (with(&arp, 15, 6), Malformed::ArpHeader),
        (with(&arp, 18, 8), Malformed::ArpHeader),
        (with(&arp, 21, 3), Malformed::ArpOperation),
        (na[..60].to_vec(), Malformed::Truncated),
        (with(&na, 14, 0x40), Malformed::Ipv6Header),
        (with(&na, 21, 64), Malformed::HopLimit),
        (with(&na, 55, 1), Malformed::Icmpv6Header),
        (with(&na, 56, na[56].wrapping_add(1)), Malformed::Checksum),
        (vec![0u8; 10], Malformed::Truncated),
    ];
    for (i, (bytes, kind)) in table.into_iter().enumerate() {
        let out = a.handle(Input::Frame { iface: 2, bytes });
        assert_eq!(
            out,
            vec![Output::Count(Counter::Malformed(kind))],
            "case {i}: {kind:?}"
        );
    }
}

#[test]
fn refresh_reannounces_everything() {
    let mut a = ready();
    a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
    assert_eq!(sends(&a.handle(Input::Refresh)).len(), 3);
}
