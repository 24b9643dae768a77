//! The plan of what this node announces over layer 2, from the election's winners and the
//! config. Pure: no Kubernetes types, no sockets (BGP's plan is [`crate::bgp::plan`]).
//!
//! Invariant: an IP is planned only if this node won it and its pool is a `layer2` pool of
//! the config in force; the interfaces are the pool's, or every suitable one.
#![forbid(unsafe_code)]

use crate::election::Winner;
use crate::l2::IfaceSelection;
use ironlb_config::{Config, Protocol};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The IPs `me` won, with the interfaces their pool names (empty: all suitable).
pub(crate) fn layer2_set(
    me: &str,
    config: &Config,
    winners: &BTreeMap<IpAddr, Winner>,
) -> BTreeMap<IpAddr, IfaceSelection> {
    winners
        .iter()
        .filter(|(_, w)| w.node == me)
        .filter_map(|(ip, w)| {
            let pool = config.pool(&w.pool.0)?;
            if pool.protocol != Protocol::Layer2 {
                return None;
            }
            let sel = if pool.interfaces.is_empty() {
                IfaceSelection::AllSuitable
            } else {
                IfaceSelection::Only(pool.interfaces.iter().cloned().collect())
            };
            Some((*ip, sel))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn layer2_set_uses_pool_interfaces() {
        let mut config = ironlb_config::parse(
            "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.200-192.0.2.254]\n",
        )
        .unwrap();
        let w = |node: &str| Winner {
            node: node.into(),
            pool: ironlb_config::PoolName("l2".into()),
            services: vec![],
        };
        let winners = BTreeMap::from([
            ("192.0.2.200".parse().unwrap(), w("me")),
            ("192.0.2.201".parse().unwrap(), w("other")),
        ]);
        let set = layer2_set("me", &config, &winners);
        assert_eq!(set.len(), 1);
        assert_eq!(set.values().next(), Some(&IfaceSelection::AllSuitable));
        config.pools[0].interfaces = vec!["eth1".into()];
        let set = layer2_set("me", &config, &winners);
        assert_eq!(
            set.values().next(),
            Some(&IfaceSelection::Only(BTreeSet::from(["eth1".to_string()])))
        );
    }
}
