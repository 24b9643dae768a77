//! From a validated `Config` back to a document that `parse` reads as the same
//! `Config`: every default written out, every community literal, durations in Go
//! syntax, address ranges as CIDRs where they are exactly one.

use crate::duration::format_duration;
use crate::model::{
    BfdProfile, BgpAdvertisement, Config, LabelOperator, NodeSelector, Peer, Pool, Protocol,
};
use crate::raw::{
    RawAdvertisement, RawBfdProfile, RawDocument, RawPeer, RawPool, RawRequirement, RawSelector,
};

impl Config {
    /// The document, as the raw structs.
    pub fn to_raw(&self) -> RawDocument {
        RawDocument {
            peers: non_empty(self.peers.iter().map(raw_peer).collect()),
            bgp_communities: (!self.bgp_communities.is_empty()).then(|| {
                self.bgp_communities
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()
            }),
            address_pools: non_empty(self.pools.iter().map(raw_pool).collect()),
            bfd_profiles: non_empty(self.bfd_profiles.iter().map(raw_bfd).collect()),
        }
    }

    /// The document as YAML text; `parse` of it gives back an equal `Config`.
    pub fn to_document(&self) -> String {
        // Serializing plain structs of strings, numbers and maps cannot fail; fall
        // back to JSON (also valid YAML) rather than panic if it ever did.
        let raw = self.to_raw();
        serde_saphyr::to_string(&raw)
            .or_else(|_| serde_json::to_string(&raw))
            .unwrap_or_default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn raw_peer(p: &Peer) -> RawPeer {
    RawPeer {
        my_asn: Some(i64::from(p.my_asn)),
        peer_asn: Some(i64::from(p.peer_asn)),
        peer_address: Some(p.peer_address.to_string()),
        peer_port: Some(i64::from(p.peer_port)),
        source_address: p.source_address.map(|a| a.to_string()),
        hold_time: Some(format_duration(p.hold_time)),
        keepalive_time: Some(format_duration(p.keepalive_time)),
        router_id: p.router_id.map(|a| a.to_string()),
        password: p.password.clone(),
        node_selectors: non_empty(p.node_selectors.iter().map(raw_selector).collect()),
        bfd_profile: p.bfd_profile.clone(),
        ebgp_multihop: Some(p.ebgp_multihop),
        enable_graceful_restart: p.graceful_restart.is_some().then_some(true),
        graceful_restart_time: p.graceful_restart.map(format_duration),
    }
}

fn raw_selector(s: &NodeSelector) -> RawSelector {
    RawSelector {
        match_labels: (!s.match_labels.is_empty()).then(|| s.match_labels.clone()),
        match_expressions: non_empty(
            s.match_expressions
                .iter()
                .map(|r| {
                    let (op, values) = match &r.operator {
                        LabelOperator::In(v) => ("In", Some(v.clone())),
                        LabelOperator::NotIn(v) => ("NotIn", Some(v.clone())),
                        LabelOperator::Exists => ("Exists", None),
                        LabelOperator::DoesNotExist => ("DoesNotExist", None),
                    };
                    RawRequirement {
                        key: Some(r.key.clone()),
                        operator: Some(op.to_string()),
                        values,
                    }
                })
                .collect(),
        ),
    }
}

fn raw_pool(p: &Pool) -> RawPool {
    RawPool {
        name: Some(p.name.0.clone()),
        protocol: Some(
            match p.protocol {
                Protocol::Layer2 => "layer2",
                Protocol::Bgp => "bgp",
            }
            .to_string(),
        ),
        addresses: Some(p.addresses.iter().map(|r| r.to_entry_string()).collect()),
        avoid_buggy_ips: Some(p.avoid_buggy_ips),
        auto_assign: Some(p.auto_assign),
        bgp_advertisements: non_empty(p.bgp_advertisements.iter().map(raw_advertisement).collect()),
        interfaces: non_empty(p.interfaces.clone()),
        node_selectors: non_empty(p.node_selectors.iter().map(raw_selector).collect()),
        namespaces: non_empty(p.namespaces.clone()),
    }
}

fn raw_advertisement(a: &BgpAdvertisement) -> RawAdvertisement {
    RawAdvertisement {
        aggregation_length: Some(i64::from(a.aggregation_length)),
        aggregation_length_v6: Some(i64::from(a.aggregation_length_v6)),
        localpref: a.local_pref.map(i64::from),
        communities: non_empty(a.communities.iter().map(|c| c.to_string()).collect()),
    }
}

fn raw_bfd(b: &BfdProfile) -> RawBfdProfile {
    RawBfdProfile {
        name: Some(b.name.clone()),
        receive_interval: b.receive_interval.map(i64::from),
        transmit_interval: b.transmit_interval.map(i64::from),
        detect_multiplier: b.detect_multiplier.map(i64::from),
        echo_interval: b.echo_interval.map(i64::from),
        echo_mode: Some(b.echo_mode),
        passive_mode: Some(b.passive_mode),
        minimum_ttl: b.minimum_ttl.map(i64::from),
    }
}
