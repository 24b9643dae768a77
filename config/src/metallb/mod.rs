//! MetalLB's configuration in either of its forms, turned into IronLB's config
//! document: the legacy ConfigMap (accepted verbatim) and the CRD-era `metallb.io`
//! objects (IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer v1beta1/v1beta2,
//! Community, BFDProfile, and the deprecated AddressPool), whose meaning is translated
//! into the legacy format's.
//!
//! ```text
//! dump text ──read──> ConfigMap document  ─────────────────────┐
//!  (List, objects,     metallb.io objects ──translate (crd)──> RawDocument ──> document
//!   ---separated)      anything else ───────────────────────> not carried
//! ```
//!
//! Invariant: pure (no I/O, no Kubernetes client); what cannot be said in IronLB's
//! format is never dropped silently but listed in [`Migration::not_carried`]. The
//! CRD types are plain serde structs, so a watcher can feed objects read in place
//! from the cluster to [`from_objects`].

pub mod crd;
mod in_place;
mod translate;

pub use in_place::merge_in_place;

use crate::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::parse::{MAX_INPUT_BYTES, check_bytes};
use crd::{AnyObject, MetallbObject};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// Something of the input that IronLB's config cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarried {
    /// `Kind/name` of the object.
    pub object: String,
    /// The field, e.g. `spec.passwordSecret`; empty for the object as a whole.
    pub field: String,
    /// Why, and what IronLB does instead.
    pub why: String,
}

impl fmt::Display for NotCarried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.object, self.why)
        } else {
            write!(f, "{} {}: {}", self.object, self.field, self.why)
        }
    }
}

/// The result of a migration.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// IronLB's config document (the ConfigMap's `config` value). A legacy document
    /// alone is kept as written, comments included.
    pub document: String,
    /// What could not be carried over.
    pub not_carried: Vec<NotCarried>,
}

/// The API group of MetalLB's CRDs.
pub const METALLB_GROUP: &str = "metallb.io";

/// Translates `metallb.io` objects (e.g. read from the cluster) into a document.
pub fn from_objects(objects: &[MetallbObject]) -> (crate::raw::RawDocument, Vec<NotCarried>) {
    let mut not_carried = Vec::new();
    let doc = translate::translate(objects, &mut not_carried);
    (doc, not_carried)
}

/// Reads one object of group `metallb.io` from its JSON form; `None` for another
/// group or kind.
pub fn object_from_value(value: Value) -> Result<Option<MetallbObject>, String> {
    let any: AnyObject = serde_json::from_value(value).map_err(|e| e.to_string())?;
    read_object(any)
}

fn spec<T: DeserializeOwned>(any: &AnyObject) -> Result<T, String> {
    let spec = if any.spec.is_null() {
        Value::Object(Default::default())
    } else {
        any.spec.clone()
    };
    serde_json::from_value(spec)
        .map_err(|e| format!("{}/{}: spec: {e}", any.kind, any.metadata.name))
}

fn read_object(any: AnyObject) -> Result<Option<MetallbObject>, String> {
    let group = any.api_version.split('/').next().unwrap_or_default();
    if group != METALLB_GROUP {
        return Ok(None);
    }
    let meta = any.metadata.clone();
    Ok(Some(match any.kind.as_str() {
        "IPAddressPool" => MetallbObject::IpAddressPool(meta, spec(&any)?),
        "AddressPool" => MetallbObject::AddressPool(meta, spec(&any)?),
        "L2Advertisement" => MetallbObject::L2Advertisement(meta, spec(&any)?),
        "BGPAdvertisement" => MetallbObject::BgpAdvertisement(meta, spec(&any)?),
        "BGPPeer" => MetallbObject::BgpPeer(meta, spec(&any)?),
        "Community" => MetallbObject::Community(meta, spec(&any)?),
        "BFDProfile" => MetallbObject::BfdProfile(meta, spec(&any)?),
        _ => return Ok(None),
    }))
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_documents: 10_000,
            max_anchors: 1024,
            max_aliases: 1024,
            max_nodes: 2_000_000,
            max_events: 4_000_000,
        },
    }
}

fn error(message: impl Into<String>) -> ConfigErrors {
    ConfigErrors::one(ConfigError::new(
        "",
        ErrorKind::Yaml {
            line: None,
            column: None,
            message: message.into(),
        },
    ))
}

/// Turns a MetalLB dump into IronLB's config document: a legacy ConfigMap manifest
/// (or its bare `config` document), or `metallb.io` objects — a `kind: List` as
/// `kubectl get ... -o yaml` prints, single objects, or `---`-separated documents —
/// possibly together. The document is not validated here.
pub fn migrate(text: &str) -> Result<Migration, ConfigErrors> {
    check_bytes(text.as_bytes())?;
    if text.len() > MAX_INPUT_BYTES * 16 {
        return Err(error("input too large"));
    }
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| error(e.without_snippet().to_string()))?;
    let mut items = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if doc.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(Value::Array(list)) = doc.get("items") {
                items.extend(list.iter().cloned());
            }
        } else {
            items.push(doc);
        }
    }
    let mut legacy: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    let mut not_carried = Vec::new();
    let mut bare = false;
    for item in items {
        if item.get("apiVersion").is_none() && item.get("kind").is_none() {
            // A bare legacy config document.
            bare = true;
            continue;
        }
        let any: AnyObject = serde_json::from_value(item).map_err(|e| error(e.to_string()))?;
        let reference = format!("{}/{}", any.kind, any.metadata.name);
        if any.kind == "ConfigMap" {
            match any.data.get("config") {
                Some(config) => legacy.push(config.clone()),
                None => not_carried.push(NotCarried {
                    object: reference,
                    field: String::new(),
                    why: "a ConfigMap without a `config` key".into(),
                }),
            }
            continue;
        }
        match read_object(any).map_err(error)? {
            Some(o) => objects.push(o),
            None => not_carried.push(NotCarried {
                object: reference,
                field: String::new(),
                why: "not a MetalLB configuration object".into(),
            }),
        }
    }
    if bare {
        if !legacy.is_empty() || !objects.is_empty() || !not_carried.is_empty() {
            return Err(error(
                "a bare config document cannot be mixed with Kubernetes objects",
            ));
        }
        // The whole text is the document: keep it as written.
        return Ok(Migration {
            document: text.to_string(),
            not_carried,
        });
    }
    if legacy.len() > 1 {
        return Err(error("more than one ConfigMap with a `config` key"));
    }
    if objects.is_empty()
        && let Some(config) = legacy.pop()
    {
        return Ok(Migration {
            document: config,
            not_carried,
        });
    }
    let (mut doc, lost) = from_objects(&objects);
    not_carried.extend(lost);
    if let Some(config) = legacy.pop() {
        // Both forms: MetalLB v0.13+ reads only the objects, but both are the
        // user's intent; the merged document is validated as one.
        let old = crate::parse::parse_document(&config, MAX_INPUT_BYTES)
            .map_err(|e| e.prefixed("ConfigMap data.config"))?;
        merge(&mut doc, old);
    }
    let document = serde_saphyr::to_string(&doc).map_err(|e| error(e.to_string()))?;
    Ok(Migration {
        document,
        not_carried,
    })
}

/// Appends a legacy document's entries to a translated one.
fn merge(doc: &mut crate::raw::RawDocument, old: crate::raw::RawDocument) {
    fn extend<T>(into: &mut Option<Vec<T>>, from: Option<Vec<T>>) {
        if let Some(items) = from {
            into.get_or_insert_with(Vec::new).extend(items);
        }
    }
    extend(&mut doc.peers, old.peers);
    extend(&mut doc.address_pools, old.address_pools);
    extend(&mut doc.bfd_profiles, old.bfd_profiles);
    if let Some(c) = old.bgp_communities {
        let aliases = doc.bgp_communities.get_or_insert_with(Default::default);
        for (k, v) in c {
            aliases.entry(k).or_insert(v);
        }
    }
}
