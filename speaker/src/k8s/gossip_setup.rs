//! Gossip's Kubernetes inputs: the shared key from the `memberlist` Secret and this node's
//! address from its Node object. Without either, gossip stays off and liveness is the
//! nodes' readiness.
#![forbid(unsafe_code)]

use super::facts;
use crate::gossip::{self, GossipHandle, GossipOptions};
use crate::run::Settings;
use ironlb_k8s::backoff::Backoff;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::{Api, Client};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tracing::{info, warn};

/// Starts gossip if the `memberlist` Secret (key `secretkey`) exists and this node has
/// an InternalIP; otherwise warns and returns `None` (liveness is node readiness then).
pub async fn start_gossip(
    client: &Client,
    settings: &Settings,
    metrics: gossip::GossipMetrics,
) -> Option<(GossipHandle, tokio::task::JoinHandle<()>)> {
    // Nothing can be announced before the API answers anyway, so API errors are
    // retried here; only a definite answer (no Secret, no key, no node) disables gossip.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let Some(secret) = retry("the memberlist Secret", || secrets.get_opt("memberlist")).await
    else {
        warn!("no memberlist Secret: liveness falls back to node readiness");
        return None;
    };
    let Some(key) = secret.data.as_ref().and_then(|d| d.get("secretkey")) else {
        warn!("memberlist Secret has no secretkey: liveness falls back to node readiness");
        return None;
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let Some(node) = retry("this node", || nodes.get_opt(&settings.node_name)).await else {
        warn!(node = %settings.node_name, "node not found: no gossip, liveness is node readiness");
        return None;
    };
    let Some(advertise) = facts::node_gossip_addr(&node, settings.gossip_port) else {
        warn!(node = %settings.node_name, "node has no InternalIP: no gossip, liveness is node readiness");
        return None;
    };
    let bind = SocketAddr::new(
        if advertise.is_ipv4() {
            IpAddr::from([0u8; 4])
        } else {
            IpAddr::from([0u16; 8])
        },
        settings.gossip_port,
    );
    let opts = GossipOptions {
        name: settings.node_name.clone(),
        bind,
        advertise,
        timing: settings.gossip_timing,
    };
    match gossip::spawn(opts, &key.0, metrics).await {
        Ok(g) => {
            info!(%advertise, "gossip started");
            Some(g)
        }
        Err(e) => {
            warn!(error = %e, "gossip not started: liveness falls back to node readiness");
            None
        }
    }
}

/// Runs `get` until the API answers, backing off from 0.5 s to 5 s between tries.
async fn retry<T, F, Fut>(what: &str, mut get: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, kube::Error>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
    loop {
        match get().await {
            Ok(v) => return v,
            Err(e) => {
                warn!(error = %e, "cannot read {what}, retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}
