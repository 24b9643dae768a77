//! The election as it was before "Scale by simulation" (commit 5e91dde), kept verbatim
//! but for paths so that the bench measures before and after in one run. It filters
//! every node per IP, scores each candidate twice per comparison and hashes the whole
//! node name per (node, IP).

use ironlb_config::{Config, Protocol};
use ironlb_k8s::ServiceKey;
use ironlb_speaker::election::{NodeView, ServiceView, TrafficPolicy, Winner, score};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

fn rank_first<'a, I>(ip: IpAddr, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .max_by(|a, b| score(a, ip).cmp(&score(b, ip)).then_with(|| b.cmp(a)))
}

pub(crate) fn elect(
    config: &Config,
    nodes: &[NodeView],
    services: &[ServiceView],
) -> BTreeMap<IpAddr, Winner> {
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
    let mut out = BTreeMap::new();
    for (ip, holders) in by_ip {
        let Some(pool) = config.pool_of(ip) else {
            continue;
        };
        if pool.protocol != Protocol::Layer2 {
            continue;
        }
        let base: Vec<&NodeView> = nodes
            .iter()
            .filter(|n| n.can_announce() && pool.node_matches(&n.labels))
            .collect();
        let locals: Vec<&BTreeSet<String>> = holders
            .iter()
            .filter_map(|s| match &s.policy {
                TrafficPolicy::Local { ready_nodes } => Some(ready_nodes),
                TrafficPolicy::Cluster => None,
            })
            .collect();
        let eligible: Vec<&str> = if locals.is_empty() {
            base.iter().map(|n| n.name.as_str()).collect()
        } else {
            let all: Vec<&str> = base
                .iter()
                .filter(|n| locals.iter().all(|r| r.contains(&n.name)))
                .map(|n| n.name.as_str())
                .collect();
            if all.is_empty() {
                base.iter()
                    .filter(|n| locals.iter().any(|r| r.contains(&n.name)))
                    .map(|n| n.name.as_str())
                    .collect()
            } else {
                all
            }
        };
        if let Some(node) = rank_first(ip, eligible) {
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
