//! `NodeAnnouncement` (`ironlb.io/v1alpha1`, cluster-scoped): who announces what, readable with
//! `kubectl get nodeannouncements` and `ironlb status`.
//!
//! One object per node, named after the node, written by that node's speaker only. Its status
//! lists the IPs the node announces (Services, mode, interface or BGP peers, since when) and the
//! states of its BGP sessions. These are the types and the CRD; the speaker writes the object,
//! the CLI reads it.

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of a [`NodeAnnouncement`]: only the node it describes (also its name).
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "ironlb.io",
    version = "v1alpha1",
    kind = "NodeAnnouncement",
    plural = "nodeannouncements",
    singular = "nodeannouncement",
    shortname = "nodeann",
    category = "ironlb",
    doc = "What one node announces (IPs, Services, mode, interface or BGP peers) and its BGP sessions; written by that node's speaker.",
    status = "NodeAnnouncementStatus",
    printcolumn = r#"{"name":"IPs","type":"string","jsonPath":".status.announcements[*].ip"}"#,
    printcolumn = r#"{"name":"BGP-Peers","type":"string","jsonPath":".status.bgpSessions[*].peer"}"#,
    printcolumn = r#"{"name":"BGP-States","type":"string","jsonPath":".status.bgpSessions[*].state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NodeAnnouncementSpec {
    /// The node whose announcements the status lists (equal to the object's name).
    pub node_name: String,
}

/// What a node announces and the state of its BGP sessions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeAnnouncementStatus {
    /// IPs this node announces, sorted by IP.
    #[serde(default)]
    pub announcements: Vec<Announcement>,
    /// This node's BGP sessions, sorted by peer.
    #[serde(default)]
    pub bgp_sessions: Vec<BgpSession>,
    /// Layer 2: IPs this node answers for that another MAC claimed (split brain, or a host
    /// spoofing or misconfigured), sorted by IP; updated at most every 10 s while claims
    /// go on, and an IP leaves the list when this node stops answering for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<L2Conflict>,
}

/// Another MAC claiming an IP this node answers for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct L2Conflict {
    /// The IP.
    #[schemars(schema_with = "ip_schema")]
    pub ip: IpAddr,
    /// The interface the last claim came in on.
    pub interface: String,
    /// The MAC of the last claim, e.g. `02:00:00:00:00:01`.
    pub last_mac: String,
    /// Claiming frames seen since this node answers for the IP.
    #[schemars(schema_with = "count_schema")]
    pub count: u64,
    /// When the count last changed (to the write, at most 10 s late).
    #[schemars(schema_with = "time_schema")]
    pub last_seen: Time,
}

/// One IP announced by the node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    /// The announced IP.
    #[schemars(schema_with = "ip_schema")]
    pub ip: IpAddr,
    /// Services holding this IP, as `namespace/name`, sorted.
    #[serde(default)]
    pub services: Vec<String>,
    /// How the IP is announced.
    pub mode: AnnounceMode,
    /// Layer 2: the interface answering ARP/NDP for the IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// BGP: the peers the route is advertised to, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "ip_list_schema")]
    pub peers: Vec<IpAddr>,
    /// Since when this node announces the IP this way.
    #[schemars(schema_with = "time_schema")]
    pub since: Time,
}

/// How an IP is announced.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AnnounceMode {
    /// ARP / NDP answers on a LAN interface.
    Layer2,
    /// Routes to BGP peers.
    Bgp,
}

/// One BGP session of the node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpSession {
    /// The peer's address.
    #[schemars(schema_with = "ip_schema")]
    pub peer: IpAddr,
    /// The session's state (RFC 4271).
    pub state: BgpSessionState,
    /// Since when the session is in this state.
    #[schemars(schema_with = "time_schema")]
    pub since: Time,
}

/// States of a BGP session (RFC 4271 section 8; we only dial out, so no Active).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum BgpSessionState {
    /// Not trying (stopped, or waiting to retry).
    Idle,
    /// Dialling the peer.
    Connect,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Up: routes exchanged.
    Established,
}

fn ip_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string"})
}

fn ip_list_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "array", "items": {"type": "string"}})
}

fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "integer", "format": "int64", "minimum": 0})
}

fn time_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "format": "date-time"})
}

/// The CRD of [`NodeAnnouncement`] as YAML, as committed at `deploy/crds/nodeannouncement.yaml`.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    Ok(format!(
        "# Generated from k8s/src/node_announcement.rs (do not edit); see docs/announcements.md.\n{}",
        serde_saphyr::to_string(&NodeAnnouncement::crd())?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed CRD must be the generated one; `IRONLB_BLESS=1` rewrites it.
    #[test]
    fn committed_crd_yaml_is_generated_one() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/crds/nodeannouncement.yaml"
        );
        let generated = crd_yaml().unwrap();
        if std::env::var_os("IRONLB_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is out of date: run `IRONLB_BLESS=1 cargo test -p ironlb-k8s \
             committed_crd_yaml` and commit it"
        );
        // And it is YAML meaning exactly the CRD.
        let parsed: serde_json::Value = serde_saphyr::from_str(&committed).unwrap();
        assert_eq!(
            parsed,
            serde_json::to_value(NodeAnnouncement::crd()).unwrap()
        );
    }
}
