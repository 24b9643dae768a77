//! The config document exactly as written: serde structs mirroring MetalLB's legacy
//! ConfigMap format plus IronLB's optional keys.
//!
//! Invariant: every struct denies unknown keys, so a typo is an error, never ignored.
//! Fields are optional and loosely typed (strings, wide integers) so that a missing or
//! out-of-range value becomes a precise validation error that names its place, rather
//! than a generic deserialization failure. The same structs serialize a `Config` back.
//!
//! A list item or map value written as nothing (a bare `-`, `key:` with no value) is
//! read as its type's empty value, as MetalLB (Go's yaml.v2 decoding into zero
//! values) reads it: a bare `-` under `address-pools` is a pool with every field
//! unset, which validation then judges as MetalLB does (no name: rejected); under
//! `bgp-advertisements` it is an advertisement with all defaults (accepted).

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The whole document (the ConfigMap's `config` key).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDocument {
    /// `peers`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub peers: Option<Vec<RawPeer>>,
    /// `bgp-communities`: alias name to community value.
    #[serde(
        default,
        deserialize_with = "map",
        skip_serializing_if = "Option::is_none"
    )]
    pub bgp_communities: Option<BTreeMap<String, String>>,
    /// `address-pools`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub address_pools: Option<Vec<RawPool>>,
    /// `bfd-profiles`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub bfd_profiles: Option<Vec<RawBfdProfile>>,
}

/// One `peers[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPeer {
    /// `my-asn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_asn: Option<i64>,
    /// `peer-asn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_asn: Option<i64>,
    /// `peer-address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// `peer-port` (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_port: Option<i64>,
    /// `source-address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// `hold-time`, a Go duration (default `90s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    /// `keepalive-time`, a Go duration (default hold-time / 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<String>,
    /// `router-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// `password` (TCP-MD5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `node-selectors`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selectors: Option<Vec<RawSelector>>,
    /// `bfd-profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
    /// `ebgp-multihop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multihop: Option<bool>,
    /// IronLB addition `enable-graceful-restart` (MetalLB's CRD `enableGracefulRestart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_graceful_restart: Option<bool>,
    /// IronLB addition `graceful-restart-time`, a Go duration (default `120s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart_time: Option<String>,
}

/// A node selector (`match-labels`, `match-expressions`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSelector {
    /// `match-labels`.
    #[serde(
        default,
        deserialize_with = "map",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `match-expressions`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_expressions: Option<Vec<RawRequirement>>,
}

/// One `match-expressions[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRequirement {
    /// `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `operator`: `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// `values`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub values: Option<Vec<String>>,
}

/// One `address-pools[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPool {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `protocol`: `layer2` or `bgp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `addresses`: CIDRs or `start-end` ranges.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub addresses: Option<Vec<String>>,
    /// `avoid-buggy-ips` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avoid_buggy_ips: Option<bool>,
    /// `auto-assign` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    /// `bgp-advertisements`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub bgp_advertisements: Option<Vec<RawAdvertisement>>,
    /// IronLB: `interfaces`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub interfaces: Option<Vec<String>>,
    /// IronLB: `node-selectors`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selectors: Option<Vec<RawSelector>>,
    /// IronLB: `namespaces`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespaces: Option<Vec<String>>,
}

/// One `bgp-advertisements[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAdvertisement {
    /// `aggregation-length` (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_length: Option<i64>,
    /// `aggregation-length-v6` (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_length_v6: Option<i64>,
    /// `localpref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localpref: Option<i64>,
    /// `communities`: values or aliases.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    pub communities: Option<Vec<String>>,
}

/// One `bfd-profiles[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBfdProfile {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `receive-interval` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_interval: Option<i64>,
    /// `transmit-interval` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmit_interval: Option<i64>,
    /// `detect-multiplier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect_multiplier: Option<i64>,
    /// `echo-interval` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_interval: Option<i64>,
    /// `echo-mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    /// `passive-mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// `minimum-ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_ttl: Option<i64>,
}

/// A list whose null items (a bare `-`) read as the item type's empty value.
fn list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let items: Option<Vec<Option<T>>> = Option::deserialize(d)?;
    Ok(items.map(|v| v.into_iter().map(Option::unwrap_or_default).collect()))
}

/// A map of strings whose null values (`key:` alone) read as the empty string.
fn map<'de, D>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let entries: Option<BTreeMap<String, Option<String>>> = Option::deserialize(d)?;
    Ok(entries.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }))
}
