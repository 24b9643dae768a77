//! From MetalLB's CRD-era objects to IronLB's config document, with everything that
//! cannot be said in it listed.
//!
//! ```text
//! IPAddressPool ─┬─ selected by L2Advertisements  ──> pool, protocol layer2
//!                └─ selected by BGPAdvertisements ──> pool, protocol bgp, one
//!                                                     bgp-advertisement per object
//! BGPPeer ──> peers[]   Community ──> bgp-communities   BFDProfile ──> bfd-profiles[]
//! ```
//!
//! Invariant: pure and total. Every object and every field either lands in the
//! document with the meaning MetalLB gives it, or is named in `not_carried` (with what
//! IronLB does instead, when it does something).

use super::NotCarried;
use super::crd::{
    AddressPoolSpec, BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec, CommunitySpec,
    IpAddressPoolSpec, L2AdvertisementSpec, LabelSelector, MetallbObject, ObjectMeta, Other,
};
use crate::duration::{format_duration, parse_duration};
use crate::raw::{
    RawAdvertisement, RawBfdProfile, RawDocument, RawPeer, RawPool, RawRequirement, RawSelector,
};
use crate::selector::validate_selector;
use std::collections::BTreeMap;

/// Translates objects into a document; `not_carried` gets what is lost.
pub(crate) fn translate(
    objects: &[MetallbObject],
    not_carried: &mut Vec<NotCarried>,
) -> RawDocument {
    let mut t = Translator {
        not_carried,
        doc: RawDocument::default(),
    };
    let mut pools = Vec::new();
    let mut l2 = Vec::new();
    let mut bgp = Vec::new();
    for o in objects {
        let reference = o.reference();
        match o {
            MetallbObject::IpAddressPool(m, s) => pools.push((m, s)),
            MetallbObject::L2Advertisement(m, s) => l2.push((m, s)),
            MetallbObject::BgpAdvertisement(m, s) => bgp.push((m, s)),
            MetallbObject::AddressPool(m, s) => t.address_pool(&reference, m, s),
            MetallbObject::BgpPeer(_, s) => t.peer(&reference, s),
            MetallbObject::Community(_, s) => t.community(&reference, s),
            MetallbObject::BfdProfile(m, s) => t.bfd_profile(&reference, m, s),
        }
    }
    pools.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (meta, spec) in &pools {
        t.pool(meta, spec, &l2, &bgp);
    }
    for (meta, spec) in &l2 {
        let reference = format!("L2Advertisement/{}", meta.name);
        t.other(&reference, "spec", &spec.other);
        t.unless_empty(
            &reference,
            "serviceSelectors",
            spec.service_selectors.len(),
            "IronLB announces every Service of the selected pools",
        );
        if !pools
            .iter()
            .any(|(pm, _)| selects(&spec.ip_address_pools, &spec.ip_address_pool_selectors, pm))
        {
            t.lost(&reference, "", "selects no IPAddressPool in the dump");
        }
    }
    for (meta, spec) in &bgp {
        let reference = format!("BGPAdvertisement/{}", meta.name);
        t.other(&reference, "spec", &spec.other);
        t.unless_empty(
            &reference,
            "peers",
            spec.peers.len(),
            "IronLB announces to every peer of the node",
        );
        t.unless_empty(
            &reference,
            "serviceSelectors",
            spec.service_selectors.len(),
            "IronLB announces every Service of the selected pools",
        );
        if !pools
            .iter()
            .any(|(pm, _)| selects(&spec.ip_address_pools, &spec.ip_address_pool_selectors, pm))
        {
            t.lost(&reference, "", "selects no IPAddressPool in the dump");
        }
    }
    t.doc
}

struct Translator<'a> {
    not_carried: &'a mut Vec<NotCarried>,
    doc: RawDocument,
}

/// Whether an advertisement selects a pool: by name, by label selector, or (with
/// neither) every pool, as MetalLB does.
fn selects(names: &[String], selectors: &[LabelSelector], pool: &ObjectMeta) -> bool {
    if names.is_empty() && selectors.is_empty() {
        return true;
    }
    names.contains(&pool.name)
        || selectors
            .iter()
            .any(|s| validate_selector(&raw_selector(s)).is_ok_and(|s| s.matches(&pool.labels)))
}

/// A Kubernetes label selector in the legacy format's spelling.
fn raw_selector(s: &LabelSelector) -> RawSelector {
    RawSelector {
        match_labels: (!s.match_labels.is_empty()).then(|| s.match_labels.clone()),
        match_expressions: (!s.match_expressions.is_empty()).then(|| {
            s.match_expressions
                .iter()
                .map(|r| RawRequirement {
                    key: Some(r.key.clone()),
                    operator: Some(r.operator.clone()),
                    values: (!r.values.is_empty()).then(|| r.values.clone()),
                })
                .collect()
        }),
    }
}

fn raw_selectors(s: &[LabelSelector]) -> Option<Vec<RawSelector>> {
    (!s.is_empty()).then(|| s.iter().map(raw_selector).collect())
}

impl Translator<'_> {
    fn lost(&mut self, object: &str, field: &str, why: impl Into<String>) {
        self.not_carried.push(NotCarried {
            object: object.to_string(),
            field: field.to_string(),
            why: why.into(),
        });
    }

    fn other(&mut self, object: &str, parent: &str, other: &Other) {
        for key in other.keys() {
            self.lost(
                object,
                &format!("{parent}.{key}"),
                "not a field IronLB knows",
            );
        }
    }

    fn unless_empty(&mut self, object: &str, field: &str, len: usize, why: &str) {
        if len > 0 {
            self.lost(object, field, why);
        }
    }

    fn community(&mut self, reference: &str, spec: &CommunitySpec) {
        self.other(reference, "spec", &spec.other);
        let aliases = self.doc.bgp_communities.get_or_insert_with(BTreeMap::new);
        let mut clashes = Vec::new();
        for alias in &spec.communities {
            match aliases.get(&alias.name) {
                Some(v) if v != &alias.value => clashes.push(alias.name.clone()),
                _ => {
                    aliases.insert(alias.name.clone(), alias.value.clone());
                }
            }
        }
        for name in clashes {
            self.lost(reference, &format!("communities {name:?}"), "the alias is defined with another value by an earlier Community; the earlier one is kept");
        }
    }

    /// The deprecated AddressPool is a legacy pool, field for field.
    fn address_pool(&mut self, reference: &str, meta: &ObjectMeta, spec: &AddressPoolSpec) {
        self.other(reference, "spec", &spec.other);
        let ads: Vec<RawAdvertisement> = spec
            .bgp_advertisements
            .iter()
            .enumerate()
            .map(|(i, a)| {
                self.other(reference, &format!("spec.bgpAdvertisements[{i}]"), &a.other);
                RawAdvertisement {
                    aggregation_length: a.aggregation_length,
                    aggregation_length_v6: a.aggregation_length_v6,
                    localpref: (a.local_pref != 0).then_some(a.local_pref),
                    communities: (!a.communities.is_empty()).then(|| a.communities.clone()),
                }
            })
            .collect();
        self.doc
            .address_pools
            .get_or_insert_with(Vec::new)
            .push(RawPool {
                name: Some(meta.name.clone()),
                protocol: spec.protocol.clone(),
                addresses: Some(spec.addresses.clone()),
                avoid_buggy_ips: spec.avoid_buggy_ips.then_some(true),
                auto_assign: spec.auto_assign,
                bgp_advertisements: (!ads.is_empty()).then_some(ads),
                ..RawPool::default()
            });
    }

    fn bfd_profile(&mut self, reference: &str, meta: &ObjectMeta, spec: &BfdProfileSpec) {
        self.other(reference, "spec", &spec.other);
        self.doc
            .bfd_profiles
            .get_or_insert_with(Vec::new)
            .push(RawBfdProfile {
                name: Some(meta.name.clone()),
                receive_interval: spec.receive_interval,
                transmit_interval: spec.transmit_interval,
                detect_multiplier: spec.detect_multiplier,
                echo_interval: spec.echo_interval,
                echo_mode: spec.echo_mode,
                passive_mode: spec.passive_mode,
                minimum_ttl: spec.minimum_ttl,
            });
    }

    fn peer(&mut self, reference: &str, spec: &BgpPeerSpec) {
        for key in spec.other.keys() {
            let why = match key.as_str() {
                "passwordSecret" => "a password read from a Secret; write it as `password`",
                "dynamicASN" => "IronLB needs the peer's AS number in `peer-asn`",
                "interface" => "unnumbered BGP (peering over an interface) is not supported",
                "vrf" => "VRFs are not supported",
                "connectTime" => "the connect retry time is not configurable",
                "disableMP" | "dualStackAddressFamily" => "IronLB always uses multiprotocol BGP",
                _ => "not a field IronLB knows",
            };
            self.lost(reference, &format!("spec.{key}"), why);
        }
        let (mut hold_time, keepalive_time) = (spec.hold_time.clone(), spec.keepalive_time.clone());
        // The CRD era derives the hold time from a lone keepalive (x3); the legacy
        // format would default it to 90s, so write it out.
        if hold_time.is_none()
            && let Some(k) = keepalive_time.as_deref()
            && let Ok(d) = parse_duration(k)
        {
            hold_time = Some(format_duration(d * 3));
        }
        let some = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        self.doc.peers.get_or_insert_with(Vec::new).push(RawPeer {
            my_asn: spec.my_asn,
            peer_asn: spec.peer_asn,
            peer_address: spec.peer_address.clone(),
            peer_port: spec.peer_port.filter(|p| *p != 0),
            source_address: some(&spec.source_address),
            hold_time,
            keepalive_time,
            router_id: some(&spec.router_id),
            password: some(&spec.password),
            node_selectors: raw_selectors(&spec.node_selectors),
            bfd_profile: some(&spec.bfd_profile),
            ebgp_multihop: spec.ebgp_multi_hop.then_some(true),
            enable_graceful_restart: spec.enable_graceful_restart.then_some(true),
            graceful_restart_time: None,
        });
    }

    fn pool(
        &mut self,
        meta: &ObjectMeta,
        spec: &IpAddressPoolSpec,
        l2: &[(&ObjectMeta, &L2AdvertisementSpec)],
        bgp: &[(&ObjectMeta, &BgpAdvertisementSpec)],
    ) {
        let reference = format!("IPAddressPool/{}", meta.name);
        self.other(&reference, "spec", &spec.other);
        let l2: Vec<_> = l2
            .iter()
            .filter(|(_, s)| selects(&s.ip_address_pools, &s.ip_address_pool_selectors, meta))
            .collect();
        let bgp: Vec<_> = bgp
            .iter()
            .filter(|(_, s)| selects(&s.ip_address_pools, &s.ip_address_pool_selectors, meta))
            .collect();
        let mut pool = RawPool {
            name: Some(meta.name.clone()),
            addresses: Some(spec.addresses.clone()),
            avoid_buggy_ips: spec.avoid_buggy_ips.then_some(true),
            auto_assign: spec.auto_assign,
            ..RawPool::default()
        };
        if let Some(a) = &spec.service_allocation {
            self.other(&reference, "spec.serviceAllocation", &a.other);
            pool.namespaces = (!a.namespaces.is_empty()).then(|| a.namespaces.clone());
            if a.priority != 0 {
                self.lost(&reference, "spec.serviceAllocation.priority", "IronLB takes the first auto-assign pool in config order (pools are written by name)");
            }
            self.unless_empty(
                &reference,
                "spec.serviceAllocation.namespaceSelectors",
                a.namespace_selectors.len(),
                "only a list of `namespaces` is supported",
            );
            self.unless_empty(
                &reference,
                "spec.serviceAllocation.serviceSelectors",
                a.service_selectors.len(),
                "any Service may use the pool",
            );
        }
        if bgp.is_empty() {
            pool.protocol = Some("layer2".into());
            if l2.is_empty() {
                self.lost(&reference, "", "no L2Advertisement or BGPAdvertisement selects it, so MetalLB assigns its addresses without announcing them; IronLB announces them by layer 2");
            }
            self.layer2(&reference, &mut pool, &l2);
        } else {
            pool.protocol = Some("bgp".into());
            for (m, _) in &l2 {
                self.lost(&reference, "", format!("also announced by L2Advertisement/{}: IronLB announces a pool one way, here by BGP", m.name));
            }
            self.bgp(&reference, &mut pool, &bgp);
        }
        self.doc
            .address_pools
            .get_or_insert_with(Vec::new)
            .push(pool);
    }

    fn layer2(
        &mut self,
        reference: &str,
        pool: &mut RawPool,
        ads: &[&(&ObjectMeta, &L2AdvertisementSpec)],
    ) {
        // Several advertisements: a node may announce if any lets it, on the union of
        // their interfaces (an advertisement without interfaces allows all).
        let all_nodes = ads.iter().any(|(_, s)| s.node_selectors.is_empty());
        let all_interfaces = ads.iter().any(|(_, s)| s.interfaces.is_empty());
        if !all_nodes {
            let selectors: Vec<LabelSelector> = ads
                .iter()
                .flat_map(|(_, s)| s.node_selectors.clone())
                .collect();
            pool.node_selectors = raw_selectors(&selectors);
        }
        if !all_interfaces {
            let mut interfaces: Vec<String> =
                ads.iter().flat_map(|(_, s)| s.interfaces.clone()).collect();
            interfaces.sort();
            interfaces.dedup();
            pool.interfaces = Some(interfaces);
        }
        let distinct = ads.windows(2).any(|w| {
            w[0].1.interfaces != w[1].1.interfaces || w[0].1.node_selectors != w[1].1.node_selectors
        });
        if distinct {
            let names: Vec<_> = ads
                .iter()
                .map(|(m, _)| format!("L2Advertisement/{}", m.name))
                .collect();
            self.lost(reference, "", format!("{} pair different nodes with different interfaces; IronLB lets every selected node use every listed interface", names.join(", ")));
        }
    }

    fn bgp(
        &mut self,
        reference: &str,
        pool: &mut RawPool,
        ads: &[&(&ObjectMeta, &BgpAdvertisementSpec)],
    ) {
        let same_nodes = ads
            .windows(2)
            .all(|w| w[0].1.node_selectors == w[1].1.node_selectors);
        if same_nodes {
            pool.node_selectors = raw_selectors(&ads[0].1.node_selectors);
        } else {
            // Any node any advertisement allows; per-advertisement nodes are lost.
            let all = ads.iter().any(|(_, s)| s.node_selectors.is_empty());
            if !all {
                let selectors: Vec<LabelSelector> = ads
                    .iter()
                    .flat_map(|(_, s)| s.node_selectors.clone())
                    .collect();
                pool.node_selectors = raw_selectors(&selectors);
            }
            self.lost(reference, "", "its BGPAdvertisements select different nodes; IronLB sends all of them from every node any of them selects");
        }
        let mut out: Vec<RawAdvertisement> = Vec::new();
        for (m, s) in ads {
            let ad = RawAdvertisement {
                aggregation_length: s.aggregation_length,
                aggregation_length_v6: s.aggregation_length_v6,
                localpref: (s.local_pref != 0).then_some(s.local_pref),
                communities: (!s.communities.is_empty()).then(|| s.communities.clone()),
            };
            // Two objects that differ only in what IronLB does not carry.
            if out.contains(&ad) {
                self.lost(reference, "", format!("BGPAdvertisement/{} announces the same as an earlier one here; written once", m.name));
            } else {
                out.push(ad);
            }
        }
        pool.bgp_advertisements = Some(out);
    }
}
