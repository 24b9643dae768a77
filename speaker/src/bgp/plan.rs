//! What this node wants from BGP: the sessions it opens and the routes it
//! announces on them, computed from plain views of the cluster. Pure: no
//! client, no sockets, no timers.
//!
//! Unlike layer 2 there is no election: every eligible node announces every
//! IP it may, and the routers spread traffic across them (ECMP). A node
//! announces an IP of a `bgp` pool when
//!
//! * it [can announce](NodeView::can_announce) (Ready, live, not excluded),
//! * it matches the pool's node selectors, and
//! * some Service holding the IP has a ready endpoint: anywhere for
//!   `Cluster` policy, on this node for `Local`. A shared IP is announced
//!   when any of its Services qualifies (each Service's traffic is then
//!   handled by kube-proxy as for an unshared IP).
//!
//! Invariant: the result depends only on the inputs' contents, never on
//! their order, so a re-run over the same view announces the same set.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ironlb_config::{Config, Protocol};

use super::driver::PeerSpec;
use super::route::{Route, routes_for};
use crate::bfd::BfdConfig;
use crate::election::{NodeView, ServiceView, TrafficPolicy};

/// This node's wanted BGP state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BgpPlan {
    /// One session per configured peer whose node selectors match this node.
    pub peers: Vec<PeerSpec>,
    /// Every route to announce on those sessions.
    pub routes: BTreeSet<Route>,
    /// The Service IPs the routes stand for (an aggregate may cover several).
    pub ips: BTreeSet<IpAddr>,
    /// Peers left out because neither the peer sets `router-id` nor the node
    /// has an IPv4 address to default to (a BGP identifier is mandatory).
    pub without_router_id: Vec<SocketAddr>,
}

/// The sessions and routes of node `me`.
///
/// * `default_router_id`: the BGP identifier for peers without `router-id`,
///   normally the node's IPv4 InternalIP.
/// * `nodes`: every node; `me` must be among them, else nothing is wanted
///   (its labels, hence its peers and pools, are unknown).
/// * `services`: the LoadBalancer Services with their status IPs.
pub(crate) fn plan(
    me: &str,
    default_router_id: Option<Ipv4Addr>,
    config: &Config,
    nodes: &[NodeView],
    services: &[ServiceView],
) -> BgpPlan {
    let Some(node) = nodes.iter().find(|n| n.name == me) else {
        return BgpPlan::default();
    };
    let mut out = BgpPlan::default();
    for peer in config.peers_for_node(&node.labels) {
        match peer.router_id.or(default_router_id) {
            Some(id) => {
                let mut spec = PeerSpec::from_config(peer, id);
                spec.bfd = peer
                    .bfd_profile
                    .as_deref()
                    .and_then(|name| config.bfd_profiles.iter().find(|p| p.name == name))
                    .map(|p| BfdConfig::from_profile(p, peer.ebgp_multihop));
                out.peers.push(spec);
            }
            None => out
                .without_router_id
                .push(SocketAddr::new(peer.peer_address, peer.peer_port)),
        }
    }
    if !node.can_announce() {
        return out;
    }
    for svc in services {
        if !serves_from(svc, me) {
            continue;
        }
        for ip in &svc.ips {
            let Some(pool) = config.pool_of(*ip) else {
                continue;
            };
            if pool.protocol != Protocol::Bgp || !pool.node_matches(&node.labels) {
                continue;
            }
            if out.ips.insert(*ip) {
                out.routes.extend(routes_for(*ip, &pool.bgp_advertisements));
            }
        }
    }
    out
}

/// Whether traffic for `svc` may enter at node `me`: a ready endpoint
/// anywhere (`Cluster`) or on `me` (`Local`).
fn serves_from(svc: &ServiceView, me: &str) -> bool {
    match &svc.policy {
        TrafficPolicy::Cluster => svc.has_ready_endpoint,
        TrafficPolicy::Local { ready_nodes } => ready_nodes.contains(me),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::EXCLUDE_LABEL;
    use ipnet::IpNet;
    use ironlb_k8s::ServiceKey;
    use proptest::prelude::*;

    const CONFIG: &str = "\
peers:
- {peer-address: 192.0.2.1, my-asn: 64512, peer-asn: 64500}
- {peer-address: '2001:db8:1::1', my-asn: 64512, peer-asn: 64500, router-id: 192.0.2.99}
- peer-address: 192.0.2.2
  my-asn: 64512
  peer-asn: 64501
  node-selectors: [{match-labels: {rack: a}}]
address-pools:
- name: web
  protocol: bgp
  addresses: [203.0.113.0/24, '2001:db8:2::/64']
- name: agg
  protocol: bgp
  addresses: [198.51.100.0/24]
  bgp-advertisements:
  - {aggregation-length: 32, communities: ['64512:1']}
  - {aggregation-length: 24, localpref: 200}
- name: rack-a
  protocol: bgp
  addresses: [192.0.2.0/25]
  node-selectors: [{match-labels: {rack: a}}]
- name: l2
  protocol: layer2
  addresses: [192.0.2.200-192.0.2.254]
";

    fn config() -> Config {
        ironlb_config::parse(CONFIG).unwrap()
    }

    fn node(name: &str, labels: &[(&str, &str)]) -> NodeView {
        NodeView {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ready: true,
            live: true,
        }
    }

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_string()).collect()
    }

    fn svc(name: &str, ips: &[&str], local: Option<&[&str]>) -> ServiceView {
        ServiceView {
            key: key(name),
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
            policy: match local {
                None => TrafficPolicy::Cluster,
                Some(n) => TrafficPolicy::Local {
                    ready_nodes: set(n),
                },
            },
            has_ready_endpoint: local.is_none_or(|n| !n.is_empty()),
        }
    }

    fn prefixes(d: &BgpPlan) -> BTreeSet<String> {
        d.routes.iter().map(|r| r.prefix.to_string()).collect()
    }

    fn strs(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    const ROUTER_ID: Option<Ipv4Addr> = Some(Ipv4Addr::new(192, 0, 2, 11));

    #[test]
    fn peers_follow_node_selectors_and_default_the_router_id() {
        let c = config();
        let nodes = [node("n1", &[]), node("n2", &[("rack", "a")])];
        let d1 = plan("n1", ROUTER_ID, &c, &nodes, &[]);
        let ids: Vec<(String, Ipv4Addr)> = d1
            .peers
            .iter()
            .map(|p| (p.peer.to_string(), p.router_id))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("192.0.2.1:179".to_string(), Ipv4Addr::new(192, 0, 2, 11)),
                (
                    "[2001:db8:1::1]:179".to_string(),
                    Ipv4Addr::new(192, 0, 2, 99)
                ),
            ]
        );
        let d2 = plan("n2", ROUTER_ID, &c, &nodes, &[]);
        assert_eq!(d2.peers.len(), 3);
        assert_eq!(d2.peers[2].peer_asn, 64501);
    }

    #[test]
    fn a_peer_with_a_bfd_profile_gets_its_bfd_config() {
        let c = ironlb_config::parse(
            "\
peers:
- {peer-address: 192.0.2.1, my-asn: 64512, peer-asn: 64500, bfd-profile: fast}
- {peer-address: 192.0.2.3, my-asn: 64512, peer-asn: 64501, bfd-profile: fast, ebgp-multihop: true}
- {peer-address: 192.0.2.2, my-asn: 64512, peer-asn: 64500}
bfd-profiles:
- {name: fast, receive-interval: 100, transmit-interval: 100, detect-multiplier: 3}
",
        )
        .unwrap();
        let d = plan("n1", ROUTER_ID, &c, &[node("n1", &[])], &[]);
        let bfd: Vec<(String, Option<(u128, bool)>)> = d
            .peers
            .iter()
            .map(|p| {
                (
                    p.peer.ip().to_string(),
                    p.bfd
                        .as_ref()
                        .map(|b| (b.desired_min_tx.as_millis(), b.multihop)),
                )
            })
            .collect();
        assert_eq!(
            bfd,
            vec![
                ("192.0.2.1".to_string(), Some((100, false))),
                ("192.0.2.3".to_string(), Some((100, true))),
                ("192.0.2.2".to_string(), None),
            ]
        );
    }

    #[test]
    fn a_peer_with_graceful_restart_gets_its_restart_time() {
        let c = ironlb_config::parse(
            "\
peers:
- {peer-address: 192.0.2.1, my-asn: 64512, peer-asn: 64500, enable-graceful-restart: true}
- {peer-address: 192.0.2.2, my-asn: 64512, peer-asn: 64500, enable-graceful-restart: true, graceful-restart-time: 30s}
- {peer-address: 192.0.2.3, my-asn: 64512, peer-asn: 64500}
",
        )
        .unwrap();
        let d = plan("n1", ROUTER_ID, &c, &[node("n1", &[])], &[]);
        let gr: Vec<Option<u64>> = d
            .peers
            .iter()
            .map(|p| p.graceful_restart.map(|t| t.as_secs()))
            .collect();
        assert_eq!(gr, [Some(120), Some(30), None]);
    }

    #[test]
    fn a_peer_without_any_router_id_is_left_out_and_named() {
        let c = config();
        let d = plan("n1", None, &c, &[node("n1", &[])], &[]);
        assert_eq!(d.peers.len(), 1, "only the peer with its own router-id");
        assert_eq!(d.peers[0].router_id, Ipv4Addr::new(192, 0, 2, 99));
        assert_eq!(
            d.without_router_id,
            vec!["192.0.2.1:179".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn an_unknown_node_wants_nothing() {
        let c = config();
        let svcs = [svc("a", &["203.0.113.10"], None)];
        let d = plan("n9", ROUTER_ID, &c, &[node("n1", &[])], &svcs);
        assert_eq!(d, BgpPlan::default());
    }

    /// One row: the node asking, its labels and state, the Service's IPs,
    /// policy, and where its ready endpoints are; the prefixes expected.
    struct Row {
        what: &'static str,
        me: &'static str,
        labels: &'static [(&'static str, &'static str)],
        ready: bool,
        ips: &'static [&'static str],
        local: bool,
        endpoints: &'static [&'static str],
        expect: &'static [&'static str],
    }

    #[test]
    fn which_routes_a_node_announces() {
        let rows = [
            Row {
                what: "cluster, endpoint elsewhere",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10"],
                local: false,
                endpoints: &["n2"],
                expect: &["203.0.113.10/32"],
            },
            Row {
                what: "cluster, no endpoint",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10"],
                local: false,
                endpoints: &[],
                expect: &[],
            },
            Row {
                what: "local, endpoint here",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10"],
                local: true,
                endpoints: &["n1"],
                expect: &["203.0.113.10/32"],
            },
            Row {
                what: "local, endpoint elsewhere",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10"],
                local: true,
                endpoints: &["n2"],
                expect: &[],
            },
            Row {
                what: "local, no endpoint",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10"],
                local: true,
                endpoints: &[],
                expect: &[],
            },
            Row {
                what: "excluded node",
                me: "n1",
                labels: &[(EXCLUDE_LABEL, "")],
                ready: true,
                ips: &["203.0.113.10"],
                local: false,
                endpoints: &["n1"],
                expect: &[],
            },
            Row {
                what: "node not ready",
                me: "n1",
                labels: &[],
                ready: false,
                ips: &["203.0.113.10"],
                local: false,
                endpoints: &["n1"],
                expect: &[],
            },
            Row {
                what: "pool selector, not matching",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["192.0.2.5"],
                local: false,
                endpoints: &["n1"],
                expect: &[],
            },
            Row {
                what: "pool selector, matching",
                me: "n1",
                labels: &[("rack", "a")],
                ready: true,
                ips: &["192.0.2.5"],
                local: false,
                endpoints: &["n1"],
                expect: &["192.0.2.5/32"],
            },
            Row {
                what: "dual stack",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["203.0.113.10", "2001:db8:2::10"],
                local: false,
                endpoints: &["n3"],
                expect: &["203.0.113.10/32", "2001:db8:2::10/128"],
            },
            Row {
                what: "layer-2 pool is not BGP's",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["192.0.2.210"],
                local: false,
                endpoints: &["n1"],
                expect: &[],
            },
            Row {
                what: "IP in no pool",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["192.0.2.150"],
                local: false,
                endpoints: &["n1"],
                expect: &[],
            },
            Row {
                what: "aggregation: host route and /24",
                me: "n1",
                labels: &[],
                ready: true,
                ips: &["198.51.100.7"],
                local: false,
                endpoints: &["n1"],
                expect: &["198.51.100.7/32", "198.51.100.0/24"],
            },
        ];
        let c = config();
        for row in rows {
            let mut me = node(row.me, row.labels);
            me.ready = row.ready;
            let nodes = [me, node("n2", &[]), node("n3", &[])];
            let mut s = svc("a", row.ips, row.local.then_some(row.endpoints));
            s.has_ready_endpoint = !row.endpoints.is_empty();
            let d = plan(row.me, ROUTER_ID, &c, &nodes, &[s]);
            assert_eq!(prefixes(&d), strs(row.expect), "{}", row.what);
            assert_eq!(
                d.ips.is_empty(),
                row.expect.is_empty(),
                "{}: ips {:?}",
                row.what,
                d.ips
            );
        }
    }

    #[test]
    fn aggregation_merges_ips_into_one_route_with_its_attributes() {
        let c = config();
        let svcs = [
            svc("a", &["198.51.100.7"], None),
            svc("b", &["198.51.100.9"], None),
        ];
        let d = plan("n1", ROUTER_ID, &c, &[node("n1", &[])], &svcs);
        assert_eq!(
            prefixes(&d),
            strs(&["198.51.100.7/32", "198.51.100.9/32", "198.51.100.0/24"])
        );
        assert_eq!(d.ips.len(), 2);
        let agg: IpNet = "198.51.100.0/24".parse().unwrap();
        let agg_routes: Vec<&Route> = d.routes.iter().filter(|r| r.prefix == agg).collect();
        assert_eq!(agg_routes.len(), 1, "one aggregate for both IPs");
        assert_eq!(agg_routes[0].attrs.local_pref, Some(200));
        let host = d
            .routes
            .iter()
            .find(|r| r.prefix.to_string() == "198.51.100.7/32")
            .unwrap();
        assert_eq!(host.attrs.communities.len(), 1);
    }

    #[test]
    fn a_shared_ip_is_announced_when_any_holder_qualifies() {
        let c = config();
        let svcs = [
            svc("a", &["203.0.113.20"], Some(&["n2"])),
            svc("b", &["203.0.113.20"], Some(&["n1"])),
        ];
        let nodes = [node("n1", &[]), node("n2", &[]), node("n3", &[])];
        for (me, expect) in [("n1", 1), ("n2", 1), ("n3", 0)] {
            let d = plan(me, ROUTER_ID, &c, &nodes, &svcs);
            assert_eq!(d.routes.len(), expect, "{me}");
        }
    }

    #[test]
    fn an_unready_node_keeps_its_sessions_but_announces_nothing() {
        let c = config();
        let mut me = node("n1", &[]);
        me.live = false;
        let svcs = [svc("a", &["203.0.113.10"], None)];
        let d = plan("n1", ROUTER_ID, &c, &[me], &svcs);
        assert_eq!(d.peers.len(), 2);
        assert!(d.routes.is_empty());
    }

    fn arb_view() -> impl Strategy<Value = Vec<ServiceView>> {
        let names = ["n1", "n2", "n3"];
        let one = (
            0u8..6,
            proptest::collection::vec((0u8..4, 0u8..16), 1..3),
            any::<bool>(),
            proptest::collection::btree_set(0usize..3, 0..3),
        )
            .prop_map(move |(k, ips, local, eps)| {
                let eps: Vec<&str> = eps.into_iter().map(|i| names[i]).collect();
                let ips: Vec<IpAddr> = ips
                    .into_iter()
                    .map(|(pool, host)| match pool {
                        0 => IpAddr::from([203, 0, 113, host]),
                        1 => IpAddr::from([198, 51, 100, host]),
                        2 => IpAddr::from([192, 0, 2, 200 + host]),
                        _ => "2001:db8:2::1".parse::<IpAddr>().unwrap(),
                    })
                    .collect();
                ServiceView {
                    key: key(&format!("s{k}")),
                    ips,
                    policy: if local {
                        TrafficPolicy::Local {
                            ready_nodes: set(&eps),
                        }
                    } else {
                        TrafficPolicy::Cluster
                    },
                    has_ready_endpoint: !eps.is_empty(),
                }
            });
        proptest::collection::vec(one, 0..8)
    }

    proptest! {
        #[test]
        fn routes_cover_exactly_the_announced_ips_and_ignore_order(
            views in arb_view(),
            me in 0usize..3,
        ) {
            let c = config();
            let nodes = [node("n1", &[]), node("n2", &[]), node("n3", &[])];
            let me = ["n1", "n2", "n3"][me];
            let d = plan(me, ROUTER_ID, &c, &nodes, &views);
            // Same answer whatever the order of the Services and nodes.
            let mut rev_views = views.clone();
            rev_views.reverse();
            let mut rev_nodes = nodes.clone();
            rev_nodes.reverse();
            prop_assert_eq!(&d, &plan(me, ROUTER_ID, &c, &rev_nodes, &rev_views));
            // Every announced IP is a BGP pool IP of a Service this node may serve.
            for ip in &d.ips {
                let pool = c.pool_of(*ip).unwrap();
                prop_assert_eq!(pool.protocol, Protocol::Bgp);
                prop_assert!(views.iter().any(|v| v.ips.contains(ip) && serves_from(v, me)));
                prop_assert!(d.routes.iter().any(|r| r.prefix.contains(ip)));
            }
            // Every route covers an announced IP.
            for r in &d.routes {
                prop_assert!(d.ips.iter().any(|ip| r.prefix.contains(ip)), "{:?}", r);
            }
            // And every qualifying BGP IP is announced.
            for v in views.iter().filter(|v| serves_from(v, me)) {
                for ip in &v.ips {
                    if c.pool_of(*ip).is_some_and(|p| p.protocol == Protocol::Bgp) {
                        prop_assert!(d.ips.contains(ip));
                    }
                }
            }
        }
    }
}
