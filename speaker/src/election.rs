//! Per-IP election: which node announces a layer-2 IP.
//!
//! Every speaker runs the same pure function over the same view (config, Services with
//! their assigned IPs, nodes, live speakers, ready endpoints) and so reaches the same
//! answer without writing anything to the API. The ranking is rendezvous hashing
//! (highest random weight): each eligible node scores `hash(node name, IP)` and the
//! highest score wins. That gives the two properties the failover story rests on:
//!
//! * removing a node moves only the IPs that node held, and
//! * adding a node only takes IPs to that node.
//!
//! The hash is FNV-1a 64 with a fixed offset basis followed by a 64-bit finaliser, so
//! it is identical on every node, every process and every build (never `RandomState`).
//! Election is per IP, not per Service: Services sharing an IP land on one node.
#![forbid(unsafe_code)]

use ironlb_config::{Config, PoolName, Protocol};
use ironlb_k8s::ServiceKey;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The node label that removes a node from external load balancing.
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// What the election needs to know about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// `metadata.name`.
    pub name: String,
    /// The node's labels (for pool node selectors and the exclude label).
    pub labels: BTreeMap<String, String>,
    /// The node's `Ready` condition is `True`.
    pub ready: bool,
    /// A speaker runs on it and is alive (gossip, or node readiness as a fallback).
    pub live: bool,
}

impl NodeView {
    /// Whether the node may announce anything at all (before pool and endpoint rules).
    pub fn can_announce(&self) -> bool {
        self.ready && self.live && !self.labels.contains_key(EXCLUDE_LABEL)
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficPolicy {
    /// Any eligible node may announce.
    Cluster,
    /// Only nodes in this set (those with a ready endpoint of the Service) may announce.
    Local {
        /// Names of nodes with at least one ready endpoint.
        ready_nodes: BTreeSet<String>,
    },
}

/// What the election needs to know about one LoadBalancer Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// The Service.
    pub key: ServiceKey,
    /// The IPs in its `status.loadBalancer.ingress`.
    pub ips: Vec<IpAddr>,
    /// Its traffic policy and, for `Local`, where its ready endpoints are.
    pub policy: TrafficPolicy,
    /// Some endpoint of it is ready, on any node. A Service with none is not announced at
    /// all: its traffic would only be dropped (MetalLB behaves alike).
    pub has_ready_endpoint: bool,
}

/// The outcome for one IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Winner {
    /// The node that announces the IP.
    pub node: String,
    /// The pool holding the IP.
    pub pool: PoolName,
    /// Every Service holding the IP (more than one when shared), sorted.
    pub services: Vec<ServiceKey>,
}

/// The score of `node` for `ip`: the highest score among eligible nodes wins.
///
/// Stable across processes, platforms and releases: FNV-1a 64 over the node name, a
/// separator byte that cannot occur in a node name, and the address octets, then a
/// 64-bit finaliser so that similar names do not get similar scores.
pub fn score(node: &str, ip: IpAddr) -> u64 {
    score_from(name_state(node), ip)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
}

/// The FNV state after the node name and the separator: the part of [`score`] that
/// does not depend on the IP, computed once per node and election rather than once per
/// (node, IP).
fn name_state(node: &str) -> u64 {
    fnv(node.bytes().fold(FNV_OFFSET, fnv), 0)
}

/// [`score`] from a node's [`name_state`].
fn score_from(state: u64, ip: IpAddr) -> u64 {
    let h = match ip {
        IpAddr::V4(a) => a.octets().into_iter().fold(fnv(state, 4), fnv),
        IpAddr::V6(a) => a.octets().into_iter().fold(fnv(state, 6), fnv),
    };
    fmix64(h)
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A node that may announce a pool's IPs, with its [`name_state`].
#[derive(Clone, Copy)]
struct Candidate<'a> {
    name: &'a str,
    state: u64,
}

/// The winner among `candidates` for `ip`: highest score, ties broken by the smaller
/// name so that the answer never depends on iteration order. Each score is computed once.
fn best<'a>(ip: IpAddr, candidates: impl IntoIterator<Item = Candidate<'a>>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (score_from(c.state, ip), std::cmp::Reverse(c.name)))
        .max()
        .map(|(_, std::cmp::Reverse(name))| name)
}

/// The winner among `candidates` for `ip`: highest [`score`], ties broken by the
/// smaller name so that the answer never depends on iteration order.
pub fn rank_first<'a, I>(ip: IpAddr, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    best(
        ip,
        candidates.into_iter().map(|name| Candidate {
            name,
            state: name_state(name),
        }),
    )
}

/// The nodes that may announce one pool's IPs before endpoint rules: those that [can
/// announce](NodeView::can_announce) and match its node selectors. The same for every IP
/// of the pool, so computed once per pool and election.
struct PoolNodes<'a> {
    all: Vec<Candidate<'a>>,
    by_name: BTreeMap<&'a str, u64>,
}

impl<'a> PoolNodes<'a> {
    fn new(pool: &ironlb_config::Pool, nodes: &'a [NodeView]) -> Self {
        let all: Vec<Candidate<'a>> = nodes
            .iter()
            .filter(|n| n.can_announce() && pool.node_matches(&n.labels))
            .map(|n| Candidate {
                name: n.name.as_str(),
                state: name_state(&n.name),
            })
            .collect();
        let by_name = all.iter().map(|c| (c.name, c.state)).collect();
        PoolNodes { all, by_name }
    }

    fn get(&self, name: &'a str) -> Option<Candidate<'a>> {
        self.by_name
            .get_key_value(name)
            .map(|(name, state)| Candidate {
                name,
                state: *state,
            })
    }

    /// The winner for `ip` when Services holding it have `Local` policy with these
    /// ready-endpoint sets: a node in all of them, else a node in any. Walks the ready
    /// sets (endpoints are few) rather than every node of the pool.
    fn best_local(&self, ip: IpAddr, locals: &[&'a BTreeSet<String>]) -> Option<&'a str> {
        let smallest = locals.iter().min_by_key(|r| r.len())?;
        let in_all = smallest
            .iter()
            .filter(|n| locals.iter().all(|r| r.contains(*n)))
            .filter_map(|n| self.get(n));
        if let Some(w) = best(ip, in_all) {
            return Some(w);
        }
        best(
            ip,
            locals
                .iter()
                .flat_map(|r| r.iter())
                .filter_map(|n| self.get(n)),
        )
    }
}

/// Elects a node for every layer-2 IP held by a Service.
///
/// An IP is considered only if it is inside a pool of `config` with protocol
/// `layer2`. A node is eligible for it when it [can announce](NodeView::can_announce),
/// matches the pool's node selectors and, if any Service holding the IP has
/// `Local` policy, has a ready endpoint of every such Service — or, when no node has
/// endpoints of all of them, of at least one (so a shared IP is still served). IPs with
/// no eligible node are absent from the result: nobody announces them.
///
/// Cost: O(IPs × eligible nodes) hashes for `Cluster` IPs (rendezvous hashing scores
/// every candidate), O(IPs × ready endpoints' nodes) for `Local` ones, plus one pass
/// over the nodes per pool (docs/PERFORMANCE.md, "Scale by simulation").
pub fn elect(
    config: &Config,
    nodes: &[NodeView],
    services: &[ServiceView],
) -> BTreeMap<IpAddr, Winner> {
    // Group Services by IP first: a shared IP is one election.
    let mut by_ip: BTreeMap<IpAddr, Vec<&ServiceView>> = BTreeMap::new();
    for svc in services {
        if !svc.has_ready_endpoint {
            continue;
        }
        for ip in &svc.ips {
            let holders = by_ip.entry(*ip).or_default();
            if !holders.iter().any(|s| s.key == svc.key) {
                holders.push(svc);
            }
        }
    }
    let mut per_pool: BTreeMap<&str, PoolNodes<'_>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (ip, holders) in by_ip {
        let Some(pool) = config.pool_of(ip) else {
            continue;
        };
        if pool.protocol != Protocol::Layer2 {
            continue;
        }
        let base = per_pool
            .entry(pool.name.0.as_str())
            .or_insert_with(|| PoolNodes::new(pool, nodes));
        let locals: Vec<&BTreeSet<String>> = holders
            .iter()
            .filter_map(|s| match &s.policy {
                TrafficPolicy::Local { ready_nodes } => Some(ready_nodes),
                TrafficPolicy::Cluster => None,
            })
            .collect();
        let winner = if locals.is_empty() {
            best(ip, base.all.iter().copied())
        } else {
            base.best_local(ip, &locals)
        };
        if let Some(node) = winner {
            let mut services: Vec<ServiceKey> = holders.iter().map(|s| s.key.clone()).collect();
            services.sort();
            out.insert(
                ip,
                Winner {
                    node: node.to_owned(),
                    pool: pool.name.clone(),
                    services,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlb_config::{AddressRange, NodeSelector, Pool};
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(name: &str, protocol: Protocol, start: &str, end: &str) -> Pool {
        Pool {
            name: PoolName(name.into()),
            protocol,
            addresses: vec![AddressRange {
                start: ip(start),
                end: ip(end),
            }],
            avoid_buggy_ips: false,
            auto_assign: true,
            bgp_advertisements: vec![],
            interfaces: vec![],
            node_selectors: vec![],
            namespaces: vec![],
        }
    }

    fn config() -> Config {
        let mut c = Config {
            pools: vec![
                pool("l2", Protocol::Layer2, "192.0.2.200", "192.0.2.254"),
                pool(
                    "l2v6",
                    Protocol::Layer2,
                    "2001:db8:1::200",
                    "2001:db8:1::2ff",
                ),
                pool("bgp", Protocol::Bgp, "198.51.100.0", "198.51.100.255"),
            ],
            ..Config::default()
        };
        c.reindex();
        c
    }

    fn node(name: &str) -> NodeView {
        NodeView {
            name: name.into(),
            labels: BTreeMap::new(),
            ready: true,
            live: true,
        }
    }

    fn svc(name: &str, ips: &[&str]) -> ServiceView {
        ServiceView {
            key: ServiceKey {
                namespace: "default".into(),
                name: name.into(),
            },
            ips: ips.iter().map(|s| ip(s)).collect(),
            policy: TrafficPolicy::Cluster,
            has_ready_endpoint: true,
        }
    }

    fn winner_of(r: &BTreeMap<IpAddr, Winner>, s: &str) -> Option<String> {
        r.get(&ip(s)).map(|w| w.node.clone())
    }

    #[test]
    fn a_service_with_no_ready_endpoint_is_not_announced_unless_a_sharer_has_one() {
        let idle = ServiceView {
            has_ready_endpoint: false,
            ..svc("idle", &["192.0.2.200", "192.0.2.201"])
        };
        let busy = svc("busy", &["192.0.2.201"]);
        let r = elect(&config(), &[node("a"), node("b")], &[idle, busy]);
        assert_eq!(winner_of(&r, "192.0.2.200"), None);
        assert!(winner_of(&r, "192.0.2.201").is_some());
        let holders: Vec<String> = r[&ip("192.0.2.201")]
            .services
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(holders, ["default/busy"]);
    }

    #[test]
    fn score_is_a_fixed_function() {
        // Pinned values: a change here would make speakers of two releases disagree.
        assert_eq!(
            score("node1", ip("192.0.2.200")),
            score("node1", ip("192.0.2.200"))
        );
        assert_ne!(
            score("node1", ip("192.0.2.200")),
            score("node2", ip("192.0.2.200"))
        );
        assert_ne!(
            score("node1", ip("192.0.2.200")),
            score("node1", ip("192.0.2.201"))
        );
        assert_eq!(score("", ip("0.0.0.0")), fmix64(FNV_EMPTY_V4));
        // Literal values, computed outside this code (FNV-1a 64 then MurmurHash3's fmix64,
        // in Python): the function, not only its determinism, is pinned.
        let pinned = [
            ("node1", "192.0.2.200", 0x5dca_b238_5b1a_6846_u64),
            ("node2", "192.0.2.200", 0xddfd_791f_6001_fff8),
            ("node1", "192.0.2.201", 0x708f_bd1e_746c_62f9),
            ("node1", "2001:db8::1", 0xd6de_e49b_5246_b910),
            ("", "0.0.0.0", 0x2e03_e2a1_f6fa_9870),
        ];
        for (node, addr, want) in pinned {
            assert_eq!(score(node, ip(addr)), want, "score({node:?}, {addr})");
        }
    }
    // FNV-1a 64 of [0, 4, 0, 0, 0, 0], computed by hand from the algorithm.
    const FNV_EMPTY_V4: u64 = {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let bytes = [0u8, 4, 0, 0, 0, 0];
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        h
    };

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            nodes: Vec<NodeView>,
            services: Vec<ServiceView>,
            ip: &'static str,
            expect: Expect,
        }
        enum Expect {
            Nobody,
            Node(&'static str),
            OneOf(&'static [&'static str]),
        }
        let excluded = NodeView {
            labels: BTreeMap::from([(EXCLUDE_LABEL.to_string(), String::new())]),
            ..node("b")
        };
        let local = |name: &str, ready: &[&str]| ServiceView {
            policy: TrafficPolicy::Local {
                ready_nodes: ready.iter().map(|s| s.to_string()).collect(),
            },
            has_ready_endpoint: !ready.is_empty(),
            ..svc(name, &["192.0.2.210"])
        };
        let cases = vec![
            Case {
                name: "single ready node wins",
                nodes: vec![node("a")],
                services: vec![svc("s", &["192.0.2.200"])],
                ip: "192.0.2.200",
                expect: Expect::Node("a"),
            },
            Case {
                name: "no nodes, nobody",
                nodes: vec![],
                services: vec![svc("s", &["192.0.2.200"])],
                ip: "192.0.2.200",
                expect: Expect::Nobody,
            },
            Case {
                name: "not ready node is skipped",
                nodes: vec![
                    NodeView {
                        ready: false,
                        ..node("a")
                    },
                    node("b"),
                ],
                services: vec![svc("s", &["192.0.2.200"])],
                ip: "192.0.2.200",
                expect: Expect::Node("b"),
            },
            Case {
                name: "dead speaker is skipped",
                nodes: vec![
                    node("a"),
                    NodeView {
                        live: false,
                        ..node("b")
                    },
                ],
                services: vec![svc("s", &["192.0.2.200"])],
                ip: "192.0.2.200",
                expect: Expect::Node("a"),
            },
            Case {
                name: "excluded node is skipped",
                nodes: vec![node("a"), excluded.clone()],
                services: vec![svc("s", &["192.0.2.200"])],
                ip: "192.0.2.200",
                expect: Expect::Node("a"),
            },
            Case {
                name: "bgp pool IP is not elected",
                nodes: vec![node("a")],
                services: vec![svc("s", &["198.51.100.1"])],
                ip: "198.51.100.1",
                expect: Expect::Nobody,
            },
            Case {
                name: "IP outside every pool is not elected",
                nodes: vec![node("a")],
                services: vec![svc("s", &["203.0.113.1"])],
                ip: "203.0.113.1",
                expect: Expect::Nobody,
            },
            Case {
                name: "local policy follows endpoints",
                nodes: vec![node("a"), node("b"), node("c")],
                services: vec![local("s", &["c"])],
                ip: "192.0.2.210",
                expect: Expect::Node("c"),
            },
            Case {
                name: "local policy without ready endpoints: nobody",
                nodes: vec![node("a"), node("b")],
                services: vec![local("s", &[])],
                ip: "192.0.2.210",
                expect: Expect::Nobody,
            },
            Case {
                name: "local endpoint on a not-ready node: nobody",
                nodes: vec![
                    node("a"),
                    NodeView {
                        ready: false,
                        ..node("b")
                    },
                ],
                services: vec![local("s", &["b"])],
                ip: "192.0.2.210",
                expect: Expect::Nobody,
            },
            Case {
                name: "shared local IP prefers nodes serving every Service",
                nodes: vec![node("a"), node("b"), node("c")],
                services: vec![local("s1", &["a", "b"]), local("s2", &["b", "c"])],
                ip: "192.0.2.210",
                expect: Expect::Node("b"),
            },
            Case {
                name: "shared local IP falls back to any Service's nodes",
                nodes: vec![node("a"), node("b"), node("c")],
                services: vec![local("s1", &["a"]), local("s2", &["c"])],
                ip: "192.0.2.210",
                expect: Expect::OneOf(&["a", "c"]),
            },
            Case {
                name: "ipv6 is elected too",
                nodes: vec![node("a")],
                services: vec![svc("s", &["2001:db8:1::200"])],
                ip: "2001:db8:1::200",
                expect: Expect::Node("a"),
            },
        ];
        for c in cases {
            let r = elect(&config(), &c.nodes, &c.services);
            let got = winner_of(&r, c.ip);
            match c.expect {
                Expect::Nobody => assert_eq!(got, None, "{}", c.name),
                Expect::Node(n) => assert_eq!(got.as_deref(), Some(n), "{}", c.name),
                Expect::OneOf(ns) => {
                    let g = got.unwrap_or_default();
                    assert!(ns.contains(&g.as_str()), "{}: got {g:?}", c.name)
                }
            }
        }
    }

    #[test]
    fn pool_node_selector_restricts_candidates() {
        let mut cfg = config();
        cfg.pools[0].node_selectors = vec![NodeSelector {
            match_labels: BTreeMap::from([("zone".to_string(), "east".to_string())]),
            match_expressions: vec![],
        }];
        let east = NodeView {
            labels: BTreeMap::from([("zone".to_string(), "east".to_string())]),
            ..node("zz-east")
        };
        let ips: Vec<String> = (200..=254).map(|i| format!("192.0.2.{i}")).collect();
        let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        let r = elect(&cfg, &[node("a"), node("b"), east], &[svc("s", &refs)]);
        assert_eq!(r.len(), ips.len());
        assert!(r.values().all(|w| w.node == "zz-east"));
    }

    #[test]
    fn shared_ip_is_one_election_listing_every_service() {
        let nodes: Vec<NodeView> = ["a", "b", "c", "d"].iter().map(|n| node(n)).collect();
        let r = elect(
            &config(),
            &nodes,
            &[svc("web", &["192.0.2.220"]), svc("dns", &["192.0.2.220"])],
        );
        let w = r.get(&ip("192.0.2.220")).unwrap();
        assert_eq!(w.services.len(), 2);
        assert_eq!(w.services[0].name, "dns");
        assert_eq!(w.pool.0, "l2");
    }

    #[test]
    fn load_spreads_over_nodes() {
        let nodes: Vec<NodeView> = (0..4).map(|i| node(&format!("node{i}"))).collect();
        let ips: Vec<String> = (200..=254).map(|i| format!("192.0.2.{i}")).collect();
        let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        let r = elect(&config(), &nodes, &[svc("s", &refs)]);
        for n in &nodes {
            let held = r.values().filter(|w| w.node == n.name).count();
            assert!(held >= 4, "{} holds only {held} of 55 IPs", n.name);
        }
    }

    fn arb_view() -> impl Strategy<Value = (Vec<NodeView>, Vec<ServiceView>)> {
        let nodes = proptest::collection::btree_set("[a-z]{1,6}", 1..8)
            .prop_map(|names| names.into_iter().map(|n| node(&n)).collect::<Vec<_>>());
        let ips = proptest::collection::vec(
            prop_oneof![
                (200u8..=254).prop_map(|i| IpAddr::from([192, 0, 2, i])),
                (0x200u16..=0x2ff).prop_map(|i| IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, i])),
            ],
            1..20,
        );
        (nodes, ips).prop_map(|(nodes, ips)| {
            let services = ips
                .chunks(3)
                .enumerate()
                .map(|(i, c)| ServiceView {
                    key: ServiceKey {
                        namespace: "ns".into(),
                        name: format!("s{i}"),
                    },
                    ips: c.to_vec(),
                    policy: TrafficPolicy::Cluster,
                    has_ready_endpoint: true,
                })
                .collect();
            (nodes, services)
        })
    }

    proptest! {
        #[test]
        fn every_speaker_agrees_whatever_the_order((nodes, services) in arb_view(), seed in any::<u64>()) {
            let a = elect(&config(), &nodes, &services);
            let mut shuffled_nodes = nodes.clone();
            let mut shuffled_svcs = services.clone();
            let k = (seed as usize) % shuffled_nodes.len();
            shuffled_nodes.rotate_left(k);
            shuffled_nodes.reverse();
            shuffled_svcs.reverse();
            let b = elect(&config(), &shuffled_nodes, &shuffled_svcs);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn removing_a_node_moves_only_its_ips((nodes, services) in arb_view(), which in any::<usize>()) {
            let before = elect(&config(), &nodes, &services);
            let gone = nodes[which % nodes.len()].name.clone();
            let rest: Vec<NodeView> = nodes.iter().filter(|n| n.name != gone).cloned().collect();
            let after = elect(&config(), &rest, &services);
            for (ip, w) in &before {
                if w.node != gone {
                    prop_assert_eq!(after.get(ip).map(|w| &w.node), Some(&w.node));
                } else {
                    prop_assert_ne!(after.get(ip).map(|w| &w.node), Some(&gone));
                }
            }
        }

        #[test]
        fn adding_a_node_only_takes_ips_to_itself((nodes, services) in arb_view(), newcomer in "[A-Z]{1,6}") {
            let before = elect(&config(), &nodes, &services);
            let mut more = nodes.clone();
            more.push(node(&newcomer));
            let after = elect(&config(), &more, &services);
            for (ip, w) in &after {
                let old = before.get(ip).map(|w| &w.node);
                prop_assert!(old == Some(&w.node) || w.node == newcomer,
                    "{} moved from {:?} to {}", ip, old, w.node);
            }
        }

        #[test]
        fn local_winners_follow_the_rule_stated_on_elect(
            (nodes, services) in arb_view(),
            ready in proptest::collection::vec(proptest::collection::btree_set(0usize..8, 0..4), 1..8),
        ) {
            // Give Services Local policy with arbitrary ready sets (some empty, some naming
            // no known node), then check each winner against the rule by brute force over
            // every node: in all holders' sets if any node is, else in any.
            let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            let services: Vec<ServiceView> = services
                .into_iter()
                .enumerate()
                .map(|(i, mut s)| {
                    if let Some(set) = ready.get(i) {
                        s.policy = TrafficPolicy::Local {
                            ready_nodes: set
                                .iter()
                                .map(|k| names.get(*k).cloned().unwrap_or_else(|| format!("gone{k}")))
                                .collect(),
                        };
                    }
                    s
                })
                .collect();
            let r = elect(&config(), &nodes, &services);
            let mut by_ip: BTreeMap<IpAddr, Vec<&ServiceView>> = BTreeMap::new();
            for s in &services {
                for ip in &s.ips {
                    by_ip.entry(*ip).or_default().push(s);
                }
            }
            for (ip, holders) in by_ip {
                let locals: Vec<&BTreeSet<String>> = holders
                    .iter()
                    .filter_map(|s| match &s.policy {
                        TrafficPolicy::Local { ready_nodes } => Some(ready_nodes),
                        TrafficPolicy::Cluster => None,
                    })
                    .collect();
                let all: Vec<&str> = names
                    .iter()
                    .filter(|n| locals.iter().all(|l| l.contains(*n)))
                    .map(String::as_str)
                    .collect();
                let eligible: Vec<&str> = if all.is_empty() {
                    names
                        .iter()
                        .filter(|n| locals.iter().any(|l| l.contains(*n)))
                        .map(String::as_str)
                        .collect()
                } else {
                    all
                };
                let want = eligible
                    .iter()
                    .copied()
                    .max_by(|a, b| score(a, ip).cmp(&score(b, ip)).then_with(|| b.cmp(a)));
                prop_assert_eq!(r.get(&ip).map(|w| w.node.as_str()), want, "{}", ip);
            }
        }

        #[test]
        fn all_services_ips_in_layer2_pools_get_a_winner((nodes, services) in arb_view()) {
            let r = elect(&config(), &nodes, &services);
            for s in &services {
                for ip in &s.ips {
                    prop_assert!(r.contains_key(ip));
                }
            }
        }
    }
}
