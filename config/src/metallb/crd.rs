//! MetalLB's CRD-era objects (`metallb.io`), as plain serde types mirroring the CRD
//! fields (MetalLB v0.13 to v0.15: `api/v1beta1/*_types.go`, `api/v1beta2/bgppeer_types.go`).
//!
//! Invariant: reading is lenient where the API server already validated (every field
//! optional), and nothing is dropped unseen: a spec field these types do not know is
//! kept in `other`, so the translation can report it as not carried.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `metadata`: only what the translation uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `labels`, matched by `ipAddressPoolSelectors`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A Kubernetes label selector (`metav1.LabelSelector`; v1beta1 BGPPeer's
/// `NodeSelector` has the same shape).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// `key`.
    #[serde(default)]
    pub key: String,
    /// `operator`.
    #[serde(default)]
    pub operator: String,
    /// `values`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Spec fields these types do not know, by name.
pub type Other = BTreeMap<String, Value>;

/// `IPAddressPool.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressPoolSpec {
    /// `addresses`: CIDRs or ranges.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// `autoAssign` (default true).
    #[serde(default)]
    pub auto_assign: Option<bool>,
    /// `avoidBuggyIPs`.
    #[serde(default, rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: bool,
    /// `serviceAllocation`.
    #[serde(default)]
    pub service_allocation: Option<ServiceAllocation>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// `IPAddressPool.spec.serviceAllocation`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// `priority`.
    #[serde(default)]
    pub priority: i64,
    /// `namespaces`.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// `namespaceSelectors`.
    #[serde(default)]
    pub namespace_selectors: Vec<LabelSelector>,
    /// `serviceSelectors`.
    #[serde(default)]
    pub service_selectors: Vec<LabelSelector>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// `L2Advertisement.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L2AdvertisementSpec {
    /// `ipAddressPools`.
    #[serde(default)]
    pub ip_address_pools: Vec<String>,
    /// `ipAddressPoolSelectors`.
    #[serde(default)]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// `nodeSelectors`.
    #[serde(default)]
    pub node_selectors: Vec<LabelSelector>,
    /// `interfaces`.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// `serviceSelectors`.
    #[serde(default)]
    pub service_selectors: Vec<LabelSelector>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// `BGPAdvertisement.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpAdvertisementSpec {
    /// `aggregationLength` (default 32).
    #[serde(default)]
    pub aggregation_length: Option<i64>,
    /// `aggregationLengthV6` (default 128).
    #[serde(default, rename = "aggregationLengthV6")]
    pub aggregation_length_v6: Option<i64>,
    /// `localPref` (0: unset).
    #[serde(default)]
    pub local_pref: i64,
    /// `communities`: values or names of `Community` aliases.
    #[serde(default)]
    pub communities: Vec<String>,
    /// `ipAddressPools`.
    #[serde(default)]
    pub ip_address_pools: Vec<String>,
    /// `ipAddressPoolSelectors`.
    #[serde(default)]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// `nodeSelectors`.
    #[serde(default)]
    pub node_selectors: Vec<LabelSelector>,
    /// `peers`: names of BGPPeer objects.
    #[serde(default)]
    pub peers: Vec<String>,
    /// `serviceSelectors`.
    #[serde(default)]
    pub service_selectors: Vec<LabelSelector>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// `BGPPeer.spec`, v1beta1 and v1beta2 (v1beta2 only adds fields).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerSpec {
    /// `myASN`.
    #[serde(default, rename = "myASN")]
    pub my_asn: Option<i64>,
    /// `peerASN`.
    #[serde(default, rename = "peerASN")]
    pub peer_asn: Option<i64>,
    /// `peerAddress`.
    #[serde(default)]
    pub peer_address: Option<String>,
    /// `sourceAddress`.
    #[serde(default)]
    pub source_address: Option<String>,
    /// `peerPort`.
    #[serde(default)]
    pub peer_port: Option<i64>,
    /// `holdTime`, a Go duration.
    #[serde(default)]
    pub hold_time: Option<String>,
    /// `keepaliveTime`, a Go duration.
    #[serde(default)]
    pub keepalive_time: Option<String>,
    /// `routerID`.
    #[serde(default, rename = "routerID")]
    pub router_id: Option<String>,
    /// `nodeSelectors`.
    #[serde(default)]
    pub node_selectors: Vec<LabelSelector>,
    /// `password`.
    #[serde(default)]
    pub password: Option<String>,
    /// `bfdProfile`.
    #[serde(default)]
    pub bfd_profile: Option<String>,
    /// `ebgpMultiHop`.
    #[serde(default)]
    pub ebgp_multi_hop: bool,
    /// `enableGracefulRestart` (v1beta2): RFC 4724 with the default restart time, as
    /// MetalLB's FRR mode does.
    #[serde(default)]
    pub enable_graceful_restart: bool,
    /// Unknown fields (v1beta2's `passwordSecret`, `dynamicASN`, `interface`,
    /// `vrf`, ... are reported from here).
    #[serde(flatten)]
    pub other: Other,
}

/// `Community.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunitySpec {
    /// `communities`.
    #[serde(default)]
    pub communities: Vec<CommunityAlias>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// One `Community.spec.communities[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CommunityAlias {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `value`.
    #[serde(default)]
    pub value: String,
}

/// `BFDProfile.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BfdProfileSpec {
    /// `receiveInterval` (ms).
    #[serde(default)]
    pub receive_interval: Option<i64>,
    /// `transmitInterval` (ms).
    #[serde(default)]
    pub transmit_interval: Option<i64>,
    /// `detectMultiplier`.
    #[serde(default)]
    pub detect_multiplier: Option<i64>,
    /// `echoInterval` (ms).
    #[serde(default)]
    pub echo_interval: Option<i64>,
    /// `echoMode`.
    #[serde(default)]
    pub echo_mode: Option<bool>,
    /// `passiveMode`.
    #[serde(default)]
    pub passive_mode: Option<bool>,
    /// `minimumTtl`.
    #[serde(default)]
    pub minimum_ttl: Option<i64>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// `AddressPool.spec` (v1beta1, deprecated in MetalLB v0.13 and removed in v0.14):
/// the legacy format's pool as an object.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressPoolSpec {
    /// `protocol`: `layer2` or `bgp`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `addresses`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// `autoAssign`.
    #[serde(default)]
    pub auto_assign: Option<bool>,
    /// `avoidBuggyIPs` (the v0.12 operator's field).
    #[serde(default, rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: bool,
    /// `bgpAdvertisements`.
    #[serde(default)]
    pub bgp_advertisements: Vec<LegacyBgpAdvertisement>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// One `AddressPool.spec.bgpAdvertisements[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyBgpAdvertisement {
    /// `aggregationLength`.
    #[serde(default)]
    pub aggregation_length: Option<i64>,
    /// `aggregationLengthV6`.
    #[serde(default, rename = "aggregationLengthV6")]
    pub aggregation_length_v6: Option<i64>,
    /// `localPref` (0: unset).
    #[serde(default)]
    pub local_pref: i64,
    /// `communities`.
    #[serde(default)]
    pub communities: Vec<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub other: Other,
}

/// One `metallb.io` object, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum MetallbObject {
    /// `IPAddressPool`.
    IpAddressPool(ObjectMeta, IpAddressPoolSpec),
    /// `AddressPool` (deprecated).
    AddressPool(ObjectMeta, AddressPoolSpec),
    /// `L2Advertisement`.
    L2Advertisement(ObjectMeta, L2AdvertisementSpec),
    /// `BGPAdvertisement`.
    BgpAdvertisement(ObjectMeta, BgpAdvertisementSpec),
    /// `BGPPeer` (v1beta1 or v1beta2).
    BgpPeer(ObjectMeta, BgpPeerSpec),
    /// `Community`.
    Community(ObjectMeta, CommunitySpec),
    /// `BFDProfile`.
    BfdProfile(ObjectMeta, BfdProfileSpec),
}

impl MetallbObject {
    /// `Kind/name`, as users and `kubectl` name an object.
    pub fn reference(&self) -> String {
        let (kind, meta) = match self {
            MetallbObject::IpAddressPool(m, _) => ("IPAddressPool", m),
            MetallbObject::AddressPool(m, _) => ("AddressPool", m),
            MetallbObject::L2Advertisement(m, _) => ("L2Advertisement", m),
            MetallbObject::BgpAdvertisement(m, _) => ("BGPAdvertisement", m),
            MetallbObject::BgpPeer(m, _) => ("BGPPeer", m),
            MetallbObject::Community(m, _) => ("Community", m),
            MetallbObject::BfdProfile(m, _) => ("BFDProfile", m),
        };
        format!("{kind}/{}", meta.name)
    }
}

/// Any object of a dump: `apiVersion`, `kind`, `metadata`, and the rest kept raw.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnyObject {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Value,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}
