//! The speaker's watches: Services, EndpointSlices, Nodes and the config ConfigMap, merged
//! into one stream of the orchestrator's [`Input`]s. Every object is reduced to the facts
//! the speaker reads at the edge ([`super::facts`]) and dropped: nothing of an object
//! outlives its watch event.
//!
//! Watch errors are items of the stream, not its end: the watchers retry with backoff
//! forever, so the orchestrator keeps its last view while the API server is unreachable.
#![forbid(unsafe_code)]

use super::facts;
use super::index;
use crate::orchestrator::Input;
use crate::run::Settings;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use std::pin::Pin;

/// A failed watch call; the watcher retries it with backoff.
#[derive(Debug)]
pub(crate) struct WatchFailure {
    /// The kind watched, e.g. `Service`.
    pub kind: &'static str,
    /// What failed.
    pub error: watcher::Error,
}

/// The merged stream of inputs from every watch.
pub(crate) type Changes = Pin<Box<dyn Stream<Item = Result<Input, WatchFailure>> + Send>>;

/// A watch on `api` turned into inputs of the facts `facts` keeps of each object: the
/// objects themselves are dropped as they arrive.
fn watch_facts<K, V>(
    api: Api<K>,
    kind: &'static str,
    facts: impl Fn(&K) -> Option<V> + Send + 'static,
    input: fn(index::Event<V>) -> Input,
) -> Changes
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    V: Send + 'static,
{
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .backoff(ironlb_k8s::backoff::watch_backoff())
        .filter_map(move |ev| {
            let out = match ev {
                Ok(ev) => index::event(ev, &facts).map(|e| Ok(input(e))),
                Err(error) => Some(Err(WatchFailure { kind, error })),
            };
            std::future::ready(out)
        });
    Box::pin(stream)
}

/// The text under the key `config` of the ConfigMap (empty when the key is absent).
fn config_text(cm: &ConfigMap) -> String {
    cm.data
        .as_ref()
        .and_then(|d| d.get("config"))
        .cloned()
        .unwrap_or_default()
}

/// Starts every watch; their inputs come merged in one stream.
pub(crate) fn changes(client: &Client, settings: &Settings) -> Changes {
    let lb_class = settings.lb_class.clone();
    let services = watch_facts(
        Api::<Service>::all(client.clone()),
        "Service",
        move |s: &Service| facts::service_facts(s, &lb_class),
        Input::Services,
    );
    let slices = watch_facts(
        Api::<EndpointSlice>::all(client.clone()),
        "EndpointSlice",
        facts::slice_facts,
        Input::Slices,
    );
    let nodes = watch_facts(
        Api::<Node>::all(client.clone()),
        "Node",
        facts::node_facts,
        Input::Nodes,
    );
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), &settings.namespace);
    let config: Changes = Box::pin(
        watcher(
            cm_api,
            watcher::Config::default().fields(&format!("metadata.name={}", settings.config_name)),
        )
        .backoff(ironlb_k8s::backoff::watch_backoff())
        .map(|ev| match ev {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                Ok(Input::Config(Some(config_text(&cm))))
            }
            Ok(watcher::Event::Delete(_)) => Ok(Input::Config(None)),
            Ok(watcher::Event::Init) => Ok(Input::ConfigListing),
            Ok(watcher::Event::InitDone) => Ok(Input::ConfigListed),
            Err(error) => Err(WatchFailure {
                kind: "ConfigMap",
                error,
            }),
        }),
    );
    Box::pin(futures::stream::select_all([
        services, slices, nodes, config,
    ]))
}
