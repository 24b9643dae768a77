//! Plain indexes of what the speaker keeps of watched objects: the few facts the election
//! reads (a Service's IPs and policy, the nodes with a ready endpoint of a slice), a few
//! hundred bytes each, where a whole object (even with managed fields dropped) is several
//! kilobytes and a thousand Services with their EndpointSlices cost megabytes.
//!
//! The watch layer turns each watcher event into an [`Event`] of facts at the edge
//! ([`event`]); the [`Index`] applies them with the relist rule of kube's reflector: a relist
//! is collected aside and replaces the index when it is complete, so the election never sees
//! a half-listed cluster.
#![forbid(unsafe_code)]

use kube::Resource;
use kube::runtime::watcher;
use std::collections::HashMap;

/// An object's namespace (empty for cluster-scoped objects) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    /// `metadata.namespace`, or empty.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

/// A watcher event reduced to the facts kept of the object (`None`: nothing kept, e.g. a
/// Service that is not a LoadBalancer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event<V> {
    /// A (re)list starts.
    Listing,
    /// An object of the (re)list.
    Listed(ObjectKey, Option<V>),
    /// The (re)list is complete.
    ListDone,
    /// An object was added or changed.
    Applied(ObjectKey, Option<V>),
    /// An object was deleted.
    Deleted(ObjectKey),
}

/// The event of facts for `ev`, with `facts` extracting them; `None` for an object without
/// a name (the API never sends one).
pub(crate) fn event<K: Resource, V>(
    ev: watcher::Event<K>,
    facts: impl Fn(&K) -> Option<V>,
) -> Option<Event<V>> {
    let key = |obj: &K| {
        Some(ObjectKey {
            namespace: obj.meta().namespace.clone().unwrap_or_default(),
            name: obj.meta().name.clone()?,
        })
    };
    Some(match ev {
        watcher::Event::Init => Event::Listing,
        watcher::Event::InitDone => Event::ListDone,
        watcher::Event::InitApply(obj) => Event::Listed(key(&obj)?, facts(&obj)),
        watcher::Event::Apply(obj) => Event::Applied(key(&obj)?, facts(&obj)),
        watcher::Event::Delete(obj) => Event::Deleted(key(&obj)?),
    })
}

/// The facts kept of every object of one kind.
#[derive(Debug, Clone)]
pub(crate) struct Index<V> {
    items: HashMap<ObjectKey, V>,
    /// A relist in progress.
    listing: Option<HashMap<ObjectKey, V>>,
}

impl<V> Default for Index<V> {
    fn default() -> Self {
        Self {
            items: HashMap::new(),
            listing: None,
        }
    }
}

impl<V> Index<V> {
    /// Applies `ev`; returns whether it completed a (re)list.
    pub(crate) fn apply(&mut self, ev: Event<V>) -> bool {
        match ev {
            Event::Listing => self.listing = Some(HashMap::new()),
            Event::Listed(key, facts) => {
                let listing = self.listing.get_or_insert_with(HashMap::new);
                if let Some(v) = facts {
                    listing.insert(key, v);
                }
            }
            Event::ListDone => {
                let mut items = self.listing.take().unwrap_or_default();
                items.shrink_to_fit();
                self.items = items;
                return true;
            }
            Event::Applied(key, Some(v)) => {
                self.items.insert(key, v);
            }
            Event::Applied(key, None) | Event::Deleted(key) => {
                self.items.remove(&key);
            }
        }
        false
    }

    /// The facts of the object `namespace`/`name`.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        // Rare (one lookup per Event sent): building the key is cheaper than a second map.
        self.items.get(&ObjectKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Every object's key and facts, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &V)> {
        self.items.iter()
    }

    /// How many objects have facts kept (for tests: the speaker only iterates).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no object has facts kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn contents(ix: &Index<u32>) -> Vec<(String, u32)> {
        let mut v: Vec<_> = ix.iter().map(|(k, v)| (k.name.clone(), *v)).collect();
        v.sort();
        v
    }

    /// Events, the contents expected after them, and whether the last completed a list.
    type Case = (Vec<Event<u32>>, Vec<(&'static str, u32)>, bool);

    #[test]
    fn applies_events_in_order() {
        use Event::*;
        let cases: Vec<Case> = vec![
            (vec![Applied(key("a"), Some(1))], vec![("a", 1)], false),
            (
                vec![Applied(key("a"), Some(1)), Applied(key("a"), Some(2))],
                vec![("a", 2)],
                false,
            ),
            // Facts gone (e.g. no longer a LoadBalancer): the object is dropped.
            (
                vec![Applied(key("a"), Some(1)), Applied(key("a"), None)],
                vec![],
                false,
            ),
            (
                vec![Applied(key("a"), Some(1)), Deleted(key("a"))],
                vec![],
                false,
            ),
            (vec![Deleted(key("never-seen"))], vec![], false),
            // A relist replaces everything once complete, dropping what it did not list.
            (
                vec![
                    Applied(key("a"), Some(1)),
                    Applied(key("b"), Some(2)),
                    Listing,
                    Listed(key("b"), Some(3)),
                    Listed(key("c"), None),
                    ListDone,
                ],
                vec![("b", 3)],
                true,
            ),
            // An incomplete relist is not seen yet.
            (
                vec![
                    Applied(key("a"), Some(1)),
                    Listing,
                    Listed(key("b"), Some(2)),
                ],
                vec![("a", 1)],
                false,
            ),
            // A watcher restarting mid-list starts the listing afresh.
            (
                vec![
                    Listing,
                    Listed(key("a"), Some(1)),
                    Listing,
                    Listed(key("b"), Some(2)),
                    ListDone,
                ],
                vec![("b", 2)],
                true,
            ),
            (vec![Listing, ListDone], vec![], true),
        ];
        for (events, want, listed) in cases {
            let mut ix = Index::default();
            let mut last = false;
            let shown = format!("{events:?}");
            for ev in events {
                last = ix.apply(ev);
            }
            let want: Vec<(String, u32)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            assert_eq!(contents(&ix), want, "{shown}");
            assert_eq!(last, listed, "{shown}");
            assert_eq!(ix.len(), want.len());
        }
    }

    #[test]
    fn watcher_events_become_facts() {
        let cm = |name: Option<&str>| ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: name.map(Into::into),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        let len = |c: &ConfigMap| c.metadata.name.as_ref().map(|n| n.len() as u32);
        assert_eq!(
            event(watcher::Event::Apply(cm(Some("abc"))), len),
            Some(Event::Applied(key("abc"), Some(3)))
        );
        assert_eq!(
            event(watcher::Event::InitApply(cm(Some("ab"))), len),
            Some(Event::Listed(key("ab"), Some(2)))
        );
        assert_eq!(
            event(watcher::Event::Delete(cm(Some("a"))), len),
            Some(Event::Deleted(key("a")))
        );
        assert_eq!(
            event(watcher::Event::<ConfigMap>::Init, len),
            Some(Event::Listing)
        );
        assert_eq!(
            event(watcher::Event::<ConfigMap>::InitDone, len),
            Some(Event::ListDone)
        );
        assert_eq!(event(watcher::Event::Apply(cm(None)), len), None);
        let mut ix = Index::default();
        ix.apply(Event::Applied(key("abc"), Some(3)));
        assert_eq!(ix.get("ns", "abc"), Some(&3));
        assert_eq!(ix.get("other", "abc"), None);
        assert!(!ix.is_empty());
    }
}
