//! The speaker's watches: Services, EndpointSlices, Nodes and the config ConfigMap, merged
//! into one stream of [`Change`]s. Services and EndpointSlices are reduced to their facts
//! at the edge ([`super::facts`], [`super::index`]); Nodes (few) are kept whole in a
//! reflector store, trimmed of what the speaker never reads.
//!
//! Watch errors are items of the stream, not its end: the watchers retry with backoff
//! forever, so the indexes keep their last state while the API server is unreachable.
#![forbid(unsafe_code)]

use super::facts::{self, ServiceFacts, SliceFacts};
use super::index;
use crate::run::Settings;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use std::pin::Pin;

/// One change seen by the watches.
pub enum Change {
    /// A Node changed.
    Objects,
    /// The Node reflector finished a (re)list.
    Synced,
    /// A Service's facts changed.
    Service(index::Event<ServiceFacts>),
    /// An EndpointSlice's facts changed.
    Slice(index::Event<SliceFacts>),
    /// The ConfigMap watcher starts a (re)list.
    ConfigListStart,
    /// The ConfigMap now reads so (`None`: deleted).
    Config(Option<Box<ConfigMap>>),
    /// The ConfigMap watcher finished a (re)list.
    ConfigListDone,
}

/// The merged stream of changes; an error names the kind whose watch failed.
pub type Changes =
    Pin<Box<dyn Stream<Item = Result<Change, (&'static str, watcher::Error)>> + Send>>;

/// A reflector on `api` whose objects are trimmed by `trim` before they are stored
/// (the speaker reads few fields; managed fields and the like would dominate memory).
fn reflect<K>(api: Api<K>, what: &'static str, trim: fn(&mut K)) -> (Store<K>, Changes)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let source = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(move |obj: &mut K| {
            obj.meta_mut().managed_fields = None;
            obj.meta_mut().annotations = None;
            trim(obj);
        });
    let stream = reflector::reflector(writer, source).map(move |ev| match ev {
        Ok(watcher::Event::InitDone) => Ok(Change::Synced),
        Ok(_) => Ok(Change::Objects),
        Err(e) => Err((what, e)),
    });
    (reader, Box::pin(stream))
}

/// A watch on `api` turned into events of the facts `facts` keeps of each object: the
/// objects themselves are dropped as they arrive.
fn watch_facts<K, V>(
    api: Api<K>,
    what: &'static str,
    facts: impl Fn(&K) -> Option<V> + Send + 'static,
    change: fn(index::Event<V>) -> Change,
) -> Changes
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    V: Send + 'static,
{
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(move |ev| {
            let out = match ev {
                Ok(ev) => index::event(ev, &facts).map(|e| Ok(change(e))),
                Err(e) => Some(Err((what, e))),
            };
            std::future::ready(out)
        });
    Box::pin(stream)
}

/// Starts every watch: the Node store and the merged stream of changes.
pub fn changes(client: &Client, settings: &Settings) -> (Store<Node>, Changes) {
    let lb_class = settings.lb_class.clone();
    let svc_changes = watch_facts(
        Api::<Service>::all(client.clone()),
        "Service",
        move |s: &Service| facts::service_facts(s, &lb_class),
        Change::Service,
    );
    let slice_changes = watch_facts(
        Api::<EndpointSlice>::all(client.clone()),
        "EndpointSlice",
        facts::slice_facts,
        Change::Slice,
    );
    let (nodes, node_changes) =
        reflect(Api::<Node>::all(client.clone()), "Node", |n: &mut Node| {
            n.spec = None;
            if let Some(st) = n.status.as_mut() {
                st.images = None;
                st.node_info = None;
                st.volumes_attached = None;
                st.volumes_in_use = None;
                st.allocatable = None;
                st.capacity = None;
            }
        });
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), &settings.namespace);
    let cm_changes: Changes = Box::pin(
        watcher(
            cm_api,
            watcher::Config::default().fields(&format!("metadata.name={}", settings.config_name)),
        )
        .default_backoff()
        .map(|ev| match ev {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                Ok(Change::Config(Some(Box::new(cm))))
            }
            Ok(watcher::Event::Delete(_)) => Ok(Change::Config(None)),
            Ok(watcher::Event::Init) => Ok(Change::ConfigListStart),
            Ok(watcher::Event::InitDone) => Ok(Change::ConfigListDone),
            Err(e) => Err(("ConfigMap", e)),
        }),
    );
    let changes =
        futures::stream::select_all([svc_changes, slice_changes, node_changes, cm_changes]);

    (nodes, Box::pin(changes))
}
