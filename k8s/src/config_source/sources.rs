//! The pure core of the config source: [`Sources`] takes what the watches saw ([`Seen`]) and
//! says when the merged config changed ([`Merged`]). It speaks only once every source has been
//! listed (the ConfigMap, and each MetalLB kind the API serves), so a component never runs on
//! half of its config, and it says nothing when nothing changed.

use ironlb_config::ConfigErrors;
use ironlb_config::metallb::{NotCarried, merge_in_place};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The `metallb.io` kinds IronLB reads in place (their plural resource names are the lower
/// case plus `es`/`s`; discovery gives them).
pub const METALLB_KINDS: [&str; 7] = [
    "IPAddressPool",
    "L2Advertisement",
    "BGPAdvertisement",
    "BGPPeer",
    "Community",
    "BFDProfile",
    "AddressPool",
];

/// What a watch saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The ConfigMap, as applied: its `config` text (`None` without that key) and its uid.
    ConfigMap {
        /// The text under `config`.
        text: Option<String>,
        /// `metadata.uid`, for Events about the config.
        uid: Option<String>,
    },
    /// The ConfigMap was deleted.
    ConfigMapDeleted,
    /// The ConfigMap's watch finished a listing (its object, if any, came before).
    ConfigMapListed,
    /// The MetalLB kinds the API serves now; what was seen of any other kind is dropped, and a
    /// newly served kind counts as unlisted until [`Seen::Listed`].
    Served(BTreeSet<String>),
    /// A kind's whole listing, replacing what was seen of it.
    Listed {
        /// The kind, e.g. `IPAddressPool`.
        kind: String,
        /// Its objects' JSON, as served.
        objects: Vec<Value>,
    },
    /// One object applied.
    Applied {
        /// The kind.
        kind: String,
        /// The object's JSON.
        object: Value,
    },
    /// One object deleted.
    Deleted {
        /// The kind.
        kind: String,
        /// Its `metadata.name`.
        name: String,
    },
}

/// The config the sources make together.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    /// A document to run on, or why the sources do not make one (each error naming its source).
    Config {
        /// The merged document.
        document: Result<String, ConfigErrors>,
        /// What MetalLB's objects say that IronLB's config cannot (the source logs it).
        not_carried: Vec<NotCarried>,
        /// The ConfigMap's uid, when there is one.
        config_map_uid: Option<String>,
    },
    /// Neither a ConfigMap nor any MetalLB object.
    Nothing,
}

/// What the watches have seen so far; see the module's doc.
#[derive(Debug, Default)]
pub struct Sources {
    config_map: Option<(Option<String>, Option<String>)>,
    config_map_listed: bool,
    served: Option<BTreeSet<String>>,
    listed: BTreeSet<String>,
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    last: Option<Merged>,
}

impl Sources {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one observation; returns the merged config when every source is listed and it
    /// differs from the last one returned.
    pub fn see(&mut self, seen: Seen) -> Option<Merged> {
        match seen {
            Seen::ConfigMap { text, uid } => self.config_map = Some((text, uid)),
            Seen::ConfigMapDeleted => self.config_map = None,
            Seen::ConfigMapListed => self.config_map_listed = true,
            Seen::Served(kinds) => {
                self.objects.retain(|k, _| kinds.contains(k));
                self.listed.retain(|k| kinds.contains(k));
                self.served = Some(kinds);
            }
            Seen::Listed { kind, objects } => {
                let by_name = objects.into_iter().map(|o| (name_of(&o), o)).collect();
                self.objects.insert(kind.clone(), by_name);
                self.listed.insert(kind);
            }
            Seen::Applied { kind, object } => {
                self.objects
                    .entry(kind)
                    .or_default()
                    .insert(name_of(&object), object);
            }
            Seen::Deleted { kind, name } => {
                if let Some(of_kind) = self.objects.get_mut(&kind) {
                    of_kind.remove(&name);
                }
            }
        }
        if !self.is_listed() {
            return None;
        }
        let merged = self.merged();
        if self.last.as_ref() == Some(&merged) {
            return None;
        }
        self.last = Some(merged.clone());
        Some(merged)
    }

    /// Whether `kind`'s listing has been seen (and it is still served).
    pub fn has_listed(&self, kind: &str) -> bool {
        self.listed.contains(kind)
    }

    /// Whether the ConfigMap and every served MetalLB kind have been listed.
    pub fn is_listed(&self) -> bool {
        self.config_map_listed
            && self
                .served
                .as_ref()
                .is_some_and(|kinds| kinds.iter().all(|k| self.listed.contains(k)))
    }

    fn merged(&self) -> Merged {
        let objects: Vec<Value> = self
            .objects
            .values()
            .flat_map(|of_kind| of_kind.values().cloned())
            .collect();
        let (text, uid) = match &self.config_map {
            Some((text, uid)) => (text.as_deref(), uid.clone()),
            None => (None, None),
        };
        if text.is_none() && objects.is_empty() {
            return Merged::Nothing;
        }
        match merge_in_place(text, &objects) {
            Ok(m) => Merged::Config {
                document: Ok(m.document),
                not_carried: m.not_carried,
                config_map_uid: uid,
            },
            Err(e) => Merged::Config {
                document: Err(e),
                not_carried: Vec::new(),
                config_map_uid: uid,
            },
        }
    }
}

/// An object's `metadata.name` (empty when it has none).
fn name_of(object: &Value) -> String {
    object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str =
        "address-pools:\n- name: cm\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n";

    fn pool(name: &str) -> Value {
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
               "metadata": {"name": name, "namespace": "metallb-system"},
               "spec": {"addresses": ["198.51.100.0/28"]}})
    }

    fn l2(name: &str, pool: &str) -> Value {
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
               "metadata": {"name": name, "namespace": "metallb-system"},
               "spec": {"ipAddressPools": [pool]}})
    }

    fn served(kinds: &[&str]) -> Seen {
        Seen::Served(kinds.iter().map(|k| (*k).to_owned()).collect())
    }

    fn config_map(text: &str) -> Seen {
        Seen::ConfigMap {
            text: Some(text.to_owned()),
            uid: Some("u1".to_owned()),
        }
    }

    /// The pool names of a merged config (panics on anything else).
    fn pools(m: Option<Merged>) -> Vec<String> {
        match m {
            Some(Merged::Config {
                document: Ok(doc), ..
            }) => ironlb_config::parse(&doc)
                .unwrap()
                .pools
                .into_iter()
                .map(|p| p.name.0)
                .collect(),
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn silent_until_every_source_is_listed() {
        let mut s = Sources::new();
        assert_eq!(s.see(config_map(DOC)), None);
        assert_eq!(s.see(Seen::ConfigMapListed), None);
        assert_eq!(s.see(served(&["IPAddressPool", "L2Advertisement"])), None);
        assert_eq!(
            s.see(Seen::Listed {
                kind: "IPAddressPool".into(),
                objects: vec![pool("p")],
            }),
            None
        );
        let m = s.see(Seen::Listed {
            kind: "L2Advertisement".into(),
            objects: vec![l2("a", "p")],
        });
        assert_eq!(pools(m), ["p", "cm"]);
    }

    #[test]
    fn without_metallb_the_config_map_alone_and_unchanged_says_nothing_again() {
        let mut s = Sources::new();
        s.see(served(&[]));
        s.see(config_map(DOC));
        let first = s.see(Seen::ConfigMapListed);
        assert_eq!(
            first,
            Some(Merged::Config {
                document: Ok(DOC.to_owned()),
                not_carried: vec![],
                config_map_uid: Some("u1".into()),
            })
        );
        assert_eq!(s.see(config_map(DOC)), None, "unchanged");
        assert_eq!(s.see(Seen::ConfigMapDeleted), Some(Merged::Nothing));
    }

    #[test]
    fn objects_come_and_go_and_a_kind_no_longer_served_is_dropped() {
        let mut s = Sources::new();
        s.see(Seen::ConfigMapListed);
        s.see(served(&["IPAddressPool", "L2Advertisement"]));
        s.see(Seen::Listed {
            kind: "IPAddressPool".into(),
            objects: vec![],
        });
        assert_eq!(
            s.see(Seen::Listed {
                kind: "L2Advertisement".into(),
                objects: vec![],
            }),
            Some(Merged::Nothing)
        );
        s.see(Seen::Applied {
            kind: "L2Advertisement".into(),
            object: l2("a", "p"),
        });
        let m = s.see(Seen::Applied {
            kind: "IPAddressPool".into(),
            object: pool("p"),
        });
        assert_eq!(pools(m), ["p"]);
        let gone = s.see(Seen::Deleted {
            kind: "IPAddressPool".into(),
            name: "p".into(),
        });
        assert!(matches!(
            gone,
            Some(Merged::Config {
                document: Ok(_),
                ..
            })
        ));
        // MetalLB's CRDs removed: nothing is left.
        assert_eq!(s.see(served(&[])), Some(Merged::Nothing));
    }

    #[test]
    fn a_newly_served_kind_waits_for_its_listing() {
        let mut s = Sources::new();
        s.see(Seen::ConfigMapListed);
        s.see(config_map(DOC));
        assert!(s.see(served(&[])).is_some());
        assert_eq!(s.see(served(&["IPAddressPool"])), None);
        assert!(!s.is_listed());
        s.see(Seen::Listed {
            kind: "IPAddressPool".into(),
            objects: vec![],
        });
        assert!(s.is_listed());
    }

    #[test]
    fn a_pool_on_both_sides_is_an_error_and_fixing_it_recovers() {
        let mut s = Sources::new();
        s.see(served(&["IPAddressPool", "L2Advertisement"]));
        s.see(Seen::Listed {
            kind: "L2Advertisement".into(),
            objects: vec![l2("a", "cm")],
        });
        s.see(Seen::Listed {
            kind: "IPAddressPool".into(),
            objects: vec![pool("cm")],
        });
        s.see(config_map(DOC));
        match s.see(Seen::ConfigMapListed) {
            Some(Merged::Config {
                document: Err(e), ..
            }) => assert!(e.to_string().contains("IPAddressPool"), "{e}"),
            other => panic!("expected the clash, got {other:?}"),
        }
        let fixed = s.see(config_map(
            "address-pools:\n- name: other\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n",
        ));
        assert_eq!(pools(fixed), ["cm", "other"]);
    }
}
