//! The announcement view: what this node shows as announced, gathered from what the
//! layer-2 responder answers for, the IPs offered to BGP and the sessions' states. Pure;
//! [`crate::k8s::announcement_writer`] writes it into the node's `NodeAnnouncement`.
//!
//! Invariant: an IP is shown only where someone outside can hear of it: answered on an
//! interface, or advertised over an Established session of its family.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ironlb_k8s::node_announcement::{AnnounceMode, BgpSessionState};

/// One IP the node should be shown announcing (input of the writer; no timestamps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// Services holding the IP, as `namespace/name`.
    pub services: BTreeSet<String>,
    /// How it is announced.
    pub mode: AnnounceMode,
    /// Layer 2: the answering interface.
    pub interface: Option<String>,
    /// BGP: the peers it is advertised to.
    pub peers: BTreeSet<IpAddr>,
}

/// The full desired content of this node's [`NodeAnnouncement`] status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnouncementView {
    /// Announced IPs.
    pub announcements: BTreeMap<IpAddr, Announced>,
    /// BGP sessions by peer.
    pub bgp_sessions: BTreeMap<IpAddr, BgpSessionState>,
    /// Layer 2: other MACs claiming IPs this node answers for.
    pub conflicts: crate::l2::Conflicts,
}

impl From<crate::bgp::State> for BgpSessionState {
    fn from(s: crate::bgp::State) -> Self {
        use crate::bgp::State;
        match s {
            State::Idle => BgpSessionState::Idle,
            State::Connect => BgpSessionState::Connect,
            State::OpenSent => BgpSessionState::OpenSent,
            State::OpenConfirm => BgpSessionState::OpenConfirm,
            State::Established => BgpSessionState::Established,
        }
    }
}

/// One BGP session as [`gather`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionView {
    /// The peer's address.
    pub peer: IpAddr,
    /// The session's state.
    pub state: BgpSessionState,
    /// Our address on the connection, when connected.
    pub local: Option<IpAddr>,
}

/// What this node announces, from what layer 2 and BGP report.
///
/// * `l2`: the IPs the layer-2 responder answers for, with the interfaces it answers on;
/// * `bgp_ips`: the Service IPs whose routes BGP offers;
/// * `sessions`: the BGP sessions. A route counts as announced to the Established sessions of
///   its family (a session carries the routes of its connection's family only), and an IP with
///   no such session is not shown: nobody outside hears of it;
/// * `services`: the Services holding each IP, as `namespace/name`.
pub(crate) fn gather(
    l2: &BTreeMap<IpAddr, BTreeSet<String>>,
    bgp_ips: &BTreeSet<IpAddr>,
    sessions: &[SessionView],
    services: &BTreeMap<IpAddr, BTreeSet<impl std::fmt::Display>>,
) -> AnnouncementView {
    let holders = |ip: &IpAddr| -> BTreeSet<String> {
        services
            .get(ip)
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect()
    };
    let mut announcements = BTreeMap::new();
    for ip in bgp_ips {
        let peers: BTreeSet<IpAddr> = sessions
            .iter()
            .filter(|s| s.state == BgpSessionState::Established)
            .filter(|s| s.local.unwrap_or(s.peer).is_ipv4() == ip.is_ipv4())
            .map(|s| s.peer)
            .collect();
        if !peers.is_empty() {
            let entry = Announced {
                services: holders(ip),
                mode: AnnounceMode::Bgp,
                interface: None,
                peers,
            };
            announcements.insert(*ip, entry);
        }
    }
    // An IP is in one pool, hence one mode; should both report it, layer 2 is what answers.
    for (ip, ifaces) in l2.iter().filter(|(_, i)| !i.is_empty()) {
        let entry = Announced {
            services: holders(ip),
            mode: AnnounceMode::Layer2,
            interface: Some(ifaces.iter().cloned().collect::<Vec<_>>().join(",")),
            peers: BTreeSet::new(),
        };
        announcements.insert(*ip, entry);
    }
    AnnouncementView {
        announcements,
        bgp_sessions: sessions.iter().map(|s| (s.peer, s.state)).collect(),
        conflicts: crate::l2::Conflicts::new(),
    }
}

/// A change in whether this node advertises a BGP IP (for Events on its Services).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BgpChange {
    /// The IP is now advertised to these peers (it was not before).
    Advertised {
        /// The IP.
        ip: IpAddr,
        /// The peers.
        peers: BTreeSet<IpAddr>,
    },
    /// The IP is still wanted but no longer advertised: no Established session of its family.
    Lost {
        /// The IP.
        ip: IpAddr,
    },
}

/// The BGP changes from `before` to `after`; `wanted` are the IPs offered to BGP now (an IP
/// no longer wanted, e.g. its Service deleted, is withdrawn on purpose: no change reported).
pub(crate) fn bgp_changes(
    before: &AnnouncementView,
    after: &AnnouncementView,
    wanted: &BTreeSet<IpAddr>,
) -> Vec<BgpChange> {
    let bgp = |d: &AnnouncementView| -> BTreeMap<IpAddr, BTreeSet<IpAddr>> {
        d.announcements
            .iter()
            .filter(|(_, a)| a.mode == AnnounceMode::Bgp)
            .map(|(ip, a)| (*ip, a.peers.clone()))
            .collect()
    };
    let (was, now) = (bgp(before), bgp(after));
    let mut out: Vec<BgpChange> = now
        .iter()
        .filter(|(ip, _)| !was.contains_key(ip))
        .map(|(ip, peers)| BgpChange::Advertised {
            ip: *ip,
            peers: peers.clone(),
        })
        .collect();
    out.extend(
        was.keys()
            .filter(|ip| !now.contains_key(ip) && wanted.contains(ip))
            .map(|ip| BgpChange::Lost { ip: *ip }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn session(peer: &str, state: BgpSessionState, local: Option<&str>) -> SessionView {
        SessionView {
            peer: ip(peer),
            state,
            local: local.map(ip),
        }
    }

    fn names(list: &[(&str, &[&str])]) -> BTreeMap<IpAddr, BTreeSet<String>> {
        list.iter()
            .map(|(i, n)| (ip(i), n.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn gather_shows_layer2_ips_with_their_interfaces_and_services() {
        let l2 = names(&[("192.0.2.200", &["eth1", "eth0"]), ("192.0.2.201", &[])]);
        let services = names(&[("192.0.2.200", &["a/x", "b/y"])]);
        let d = gather(&l2, &BTreeSet::new(), &[], &services);
        // An IP with no interface left is not answered anywhere: not shown.
        assert_eq!(d.announcements.len(), 1);
        let a = &d.announcements[&ip("192.0.2.200")];
        assert_eq!(a.mode, AnnounceMode::Layer2);
        assert_eq!(a.interface.as_deref(), Some("eth0,eth1"));
        assert_eq!(a.services, ["a/x".to_owned(), "b/y".to_owned()].into());
    }

    #[test]
    fn gather_shows_bgp_ips_only_to_established_sessions_of_their_family() {
        use BgpSessionState::*;
        let sessions = [
            session("192.0.2.1", Established, Some("192.0.2.10")),
            session("192.0.2.2", Connect, None),
            session("2001:db8:1::1", Established, Some("2001:db8:1::10")),
        ];
        let bgp: BTreeSet<IpAddr> = [ip("203.0.113.5"), ip("2001:db8:2::5")].into();
        let d = gather(&BTreeMap::new(), &bgp, &sessions, &names(&[]));
        assert_eq!(
            d.announcements[&ip("203.0.113.5")].peers,
            [ip("192.0.2.1")].into()
        );
        assert_eq!(
            d.announcements[&ip("2001:db8:2::5")].peers,
            [ip("2001:db8:1::1")].into()
        );
        assert_eq!(d.bgp_sessions.len(), 3);
        assert_eq!(d.bgp_sessions[&ip("192.0.2.2")], Connect);
    }

    #[test]
    fn gather_hides_bgp_ips_while_no_session_is_up() {
        let sessions = [session("192.0.2.1", BgpSessionState::OpenSent, None)];
        let bgp: BTreeSet<IpAddr> = [ip("203.0.113.5")].into();
        let d = gather(&BTreeMap::new(), &bgp, &sessions, &names(&[]));
        assert!(d.announcements.is_empty());
        assert_eq!(d.bgp_sessions.len(), 1);
    }

    #[test]
    fn bgp_changes_report_new_and_lost_advertisements_but_not_withdrawals() {
        use BgpSessionState::*;
        let up = [session("192.0.2.1", Established, Some("192.0.2.10"))];
        let down = [session("192.0.2.1", Idle, None)];
        let ips: BTreeSet<IpAddr> = [ip("203.0.113.5"), ip("203.0.113.6")].into();
        let none = BTreeMap::new();
        let before = gather(&none, &ips, &down, &none);
        let after = gather(&none, &ips, &up, &none);
        let peers: BTreeSet<IpAddr> = [ip("192.0.2.1")].into();
        assert_eq!(
            bgp_changes(&before, &after, &ips),
            vec![
                BgpChange::Advertised {
                    ip: ip("203.0.113.5"),
                    peers: peers.clone()
                },
                BgpChange::Advertised {
                    ip: ip("203.0.113.6"),
                    peers
                },
            ]
        );
        assert_eq!(bgp_changes(&after, &after, &ips), vec![]);
        // The session drops: both IPs are lost.
        assert_eq!(bgp_changes(&after, &before, &ips).len(), 2);
        // One Service goes away: its IP is withdrawn on purpose, nothing to report.
        let fewer: BTreeSet<IpAddr> = [ip("203.0.113.5")].into();
        let later = gather(&none, &fewer, &up, &none);
        assert_eq!(bgp_changes(&after, &later, &fewer), vec![]);
    }
}
