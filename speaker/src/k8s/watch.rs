//! The speaker's watches: Services, EndpointSlices, Nodes and the config (the ConfigMap, with
//! MetalLB's objects read in place: `ironlb_k8s::config_source`), merged into one stream of the
//! orchestrator's [`Input`]s. Every object is reduced to the facts
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
use ironlb_k8s::config_source::{ConfigPlace, ConfigUpdate, Merged, config_updates};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use std::pin::Pin;

/// A failed watch call; the watcher retries it with backoff.
#[derive(Debug)]
pub(crate) struct WatchFailure {
    /// The kind watched, e.g. `Service`.
    pub kind: String,
    /// What failed.
    pub error: String,
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
                Err(error) => Some(Err(WatchFailure {
                    kind: kind.to_owned(),
                    error: error.to_string(),
                })),
            };
            std::future::ready(out)
        });
    Box::pin(stream)
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
    let place = ConfigPlace {
        namespace: settings.namespace.clone(),
        config_name: settings.config_name.clone(),
        metallb_namespace: settings.metallb_namespace.clone(),
    };
    let config: Changes = Box::pin(config_updates(client.clone(), place).map(
        |update| match update {
            ConfigUpdate::Merged(Merged::Config { document, .. }) => {
                Ok(Input::Config(document.map(Some)))
            }
            ConfigUpdate::Merged(Merged::Nothing) => Ok(Input::Config(Ok(None))),
            ConfigUpdate::Failed { source, error } => Err(WatchFailure {
                kind: source,
                error,
            }),
        },
    ));
    Box::pin(futures::stream::select_all([
        services, slices, nodes, config,
    ]))
}
