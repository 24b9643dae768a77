//! The watches behind [`Sources`]: IronLB's ConfigMap, and MetalLB's `metallb.io` objects in
//! MetalLB's namespace, one watch per kind the API serves. Which kinds are served is asked of
//! discovery at the start and every [`DISCOVERY_EVERY`]: a cluster without MetalLB's CRDs pays
//! that one question a minute per component, and one that gains or loses them follows.
//!
//! Watch errors are items of the stream, not its end: the watchers retry with backoff forever
//! and [`Sources`] keeps what it saw, so an API outage never empties the config.

use super::sources::{METALLB_KINDS, Merged, Seen, Sources};
use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use ironlb_config::metallb::METALLB_GROUP;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often discovery is asked which MetalLB kinds the API serves.
pub const DISCOVERY_EVERY: Duration = Duration::from_secs(60);

/// How soon discovery is asked again when its first answer failed.
const DISCOVERY_RETRY: Duration = Duration::from_secs(2);

/// Where a component's config comes from.
#[derive(Debug, Clone)]
pub struct ConfigPlace {
    /// IronLB's namespace.
    pub namespace: String,
    /// The ConfigMap's name there.
    pub config_name: String,
    /// MetalLB's namespace, whose `metallb.io` objects are read in place; `None`: never read.
    pub metallb_namespace: Option<String>,
}

/// What the stream of [`config_updates`] yields.
#[derive(Debug)]
pub enum ConfigUpdate {
    /// The merged config changed.
    Merged(Merged),
    /// A watch or discovery call failed; it is retried.
    Failed {
        /// What was watched: `ConfigMap`, a MetalLB kind, or `discovery`.
        source: String,
        /// The failure.
        error: String,
    },
}

/// Starts the watches in a task; the merged config comes on the returned stream, which ends
/// only if the task does (its ConfigMap watch cannot end).
pub fn config_updates(client: Client, place: ConfigPlace) -> impl Stream<Item = ConfigUpdate> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(client, place, tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|u| (u, rx)) })
}

/// One kind's watch events, tagged with the kind and the version watched.
type KindEvents = BoxStream<'static, (Kind, Result<Event<DynamicObject>, watcher::Error>)>;

/// A MetalLB kind and the `apiVersion` it is watched at.
#[derive(Debug, Clone)]
struct Kind {
    name: String,
    api_version: String,
}

async fn run(client: Client, place: ConfigPlace, tx: mpsc::Sender<ConfigUpdate>) {
    let config_maps = watcher::watcher(
        Api::<ConfigMap>::namespaced(client.clone(), &place.namespace),
        watcher::Config::default().fields(&format!("metadata.name={}", place.config_name)),
    )
    .backoff(crate::backoff::watch_backoff());
    futures::pin_mut!(config_maps);
    let mut sources = Sources::new();
    let mut kinds: SelectAll<KindEvents> = SelectAll::new();
    let mut served: Option<BTreeSet<String>> = None;
    let mut listing: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut discovery = tokio::time::interval(DISCOVERY_EVERY);
    discovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let seen = tokio::select! {
            ev = config_maps.next() => match ev {
                Some(Ok(Event::Apply(cm) | Event::InitApply(cm))) => Seen::ConfigMap {
                    text: cm.data.as_ref().and_then(|d| d.get("config")).cloned(),
                    uid: cm.metadata.uid.clone(),
                },
                Some(Ok(Event::Delete(_))) => Seen::ConfigMapDeleted,
                Some(Ok(Event::InitDone)) => Seen::ConfigMapListed,
                Some(Ok(Event::Init)) => continue,
                Some(Err(e)) => {
                    failed(&tx, "ConfigMap", e.to_string()).await;
                    continue;
                }
                None => return,
            },
            Some((kind, ev)) = kinds.next(), if !kinds.is_empty() => match ev {
                Ok(Event::Init) => {
                    listing.insert(kind.name, Vec::new());
                    continue;
                }
                Ok(Event::InitApply(o)) => {
                    listing.entry(kind.name.clone()).or_default().push(object_value(o, &kind));
                    continue;
                }
                Ok(Event::InitDone) => Seen::Listed {
                    objects: listing.remove(&kind.name).unwrap_or_default(),
                    kind: kind.name,
                },
                Ok(Event::Apply(o)) => Seen::Applied { object: object_value(o, &kind), kind: kind.name },
                Ok(Event::Delete(o)) => Seen::Deleted { name: o.name_any(), kind: kind.name },
                Err(e) => {
                    // A kind the API serves but will not list to us (RBAC without MetalLB's
                    // kinds) or has just stopped serving: read as empty rather than holding the
                    // whole config back; said loudly, and read again when the watch recovers.
                    let unreadable = matches!(&e, watcher::Error::InitialListFailed(kube::Error::Api(s))
                        if s.code == 403 || s.code == 404);
                    failed(&tx, &kind.name, e.to_string()).await;
                    if !unreadable || sources.has_listed(&kind.name) {
                        continue;
                    }
                    Seen::Listed { kind: kind.name, objects: Vec::new() }
                }
            },
            _ = discovery.tick() => match place.metallb_namespace.as_deref() {
                None if served.is_some() => continue,
                None => {
                    served = Some(BTreeSet::new());
                    Seen::Served(BTreeSet::new())
                }
                Some(ns) => match served_kinds(&client).await {
                    Ok(now) => {
                        let names: BTreeSet<String> = now.iter().map(|ar| ar.kind.clone()).collect();
                        if served.as_ref() == Some(&names) {
                            continue;
                        }
                        kinds = now.iter().map(|ar| kind_events(&client, ns, ar)).collect();
                        listing.clear();
                        served = Some(names.clone());
                        Seen::Served(names)
                    }
                    Err(e) => {
                        failed(&tx, "discovery", e.to_string()).await;
                        // Until discovery has answered once nothing is applied: ask again soon.
                        if served.is_none() {
                            discovery.reset_after(DISCOVERY_RETRY);
                        }
                        continue;
                    }
                },
            },
        };
        let Some(merged) = sources.see(seen) else {
            continue;
        };
        if let Merged::Config { not_carried, .. } = &merged {
            for lost in not_carried {
                tracing::warn!(%lost, "a MetalLB object says what IronLB's config cannot");
            }
        }
        if tx.send(ConfigUpdate::Merged(merged)).await.is_err() {
            return;
        }
    }
}

async fn failed(tx: &mpsc::Sender<ConfigUpdate>, source: &str, error: String) {
    let _ = tx
        .send(ConfigUpdate::Failed {
            source: source.to_owned(),
            error,
        })
        .await;
}

/// The MetalLB kinds IronLB reads that the API serves, each at its most stable version (none
/// when the group is not served).
async fn served_kinds(client: &Client) -> Result<Vec<ApiResource>, kube::Error> {
    let group = match kube::discovery::group(client, METALLB_GROUP).await {
        Ok(group) => group,
        Err(kube::Error::Discovery(kube::error::DiscoveryError::MissingApiGroup(_))) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    Ok(group
        .resources_by_stability()
        .into_iter()
        .map(|(ar, _)| ar)
        .filter(|ar| METALLB_KINDS.contains(&ar.kind.as_str()))
        .collect())
}

/// A watch on one MetalLB kind in `namespace`, its events tagged with the kind.
fn kind_events(client: &Client, namespace: &str, ar: &ApiResource) -> KindEvents {
    let kind = Kind {
        name: ar.kind.clone(),
        api_version: ar.api_version.clone(),
    };
    watcher::watcher(
        Api::<DynamicObject>::namespaced_with(client.clone(), namespace, ar),
        watcher::Config::default(),
    )
    .backoff(crate::backoff::watch_backoff())
    .map(move |ev| (kind.clone(), ev))
    .boxed()
}

/// An object as JSON, with `apiVersion` and `kind` (a listing's items may lack them).
fn object_value(object: DynamicObject, kind: &Kind) -> Value {
    let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.entry("kind")
            .or_insert_with(|| Value::from(kind.name.as_str()));
        map.entry("apiVersion")
            .or_insert_with(|| Value::from(kind.api_version.as_str()));
    }
    value
}
