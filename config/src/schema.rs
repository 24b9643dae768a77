//! The document's shape: which keys exist at each level, and which hold a list or a
//! map. Used after the strict (serde) parse has failed, to report *every* unknown key
//! and misplaced list or map at once, each with its place, instead of only the first.
//!
//! Invariant: the key lists here are exactly the fields of the structs in `raw` (a
//! test serializes each raw struct and compares), so this walk and the strict parse
//! never disagree on what is known.

use crate::error::{ConfigError, ErrorKind};
use serde_json::Value;

/// What a key holds.
#[derive(Clone, Copy)]
enum Shape {
    /// A string, number or boolean.
    Scalar,
    /// A list of scalars.
    Scalars,
    /// A map of scalars.
    ScalarMap,
    /// A list of mappings of these fields; `label` names an item in places.
    Items {
        fields: &'static [Field],
        label: Option<&'static str>,
    },
}

/// One known key.
#[derive(Clone, Copy)]
struct Field {
    key: &'static str,
    shape: Shape,
}

const fn f(key: &'static str, shape: Shape) -> Field {
    Field { key, shape }
}

use Shape::{Scalar, ScalarMap, Scalars};

const REQUIREMENT: &[Field] = &[
    f("key", Scalar),
    f("operator", Scalar),
    f("values", Scalars),
];

const SELECTOR: &[Field] = &[
    f("match-labels", ScalarMap),
    f(
        "match-expressions",
        Shape::Items {
            fields: REQUIREMENT,
            label: None,
        },
    ),
];

const SELECTORS: Shape = Shape::Items {
    fields: SELECTOR,
    label: None,
};

const PEER: &[Field] = &[
    f("my-asn", Scalar),
    f("peer-asn", Scalar),
    f("peer-address", Scalar),
    f("peer-port", Scalar),
    f("source-address", Scalar),
    f("hold-time", Scalar),
    f("keepalive-time", Scalar),
    f("router-id", Scalar),
    f("password", Scalar),
    f("node-selectors", SELECTORS),
    f("bfd-profile", Scalar),
    f("ebgp-multihop", Scalar),
    f("enable-graceful-restart", Scalar),
    f("graceful-restart-time", Scalar),
];

const ADVERTISEMENT: &[Field] = &[
    f("aggregation-length", Scalar),
    f("aggregation-length-v6", Scalar),
    f("localpref", Scalar),
    f("communities", Scalars),
];

const POOL: &[Field] = &[
    f("name", Scalar),
    f("protocol", Scalar),
    f("addresses", Scalars),
    f("avoid-buggy-ips", Scalar),
    f("auto-assign", Scalar),
    f(
        "bgp-advertisements",
        Shape::Items {
            fields: ADVERTISEMENT,
            label: None,
        },
    ),
    f("interfaces", Scalars),
    f("node-selectors", SELECTORS),
    f("namespaces", Scalars),
];

const BFD_PROFILE: &[Field] = &[
    f("name", Scalar),
    f("receive-interval", Scalar),
    f("transmit-interval", Scalar),
    f("detect-multiplier", Scalar),
    f("echo-interval", Scalar),
    f("echo-mode", Scalar),
    f("passive-mode", Scalar),
    f("minimum-ttl", Scalar),
];

const DOCUMENT: &[Field] = &[
    f(
        "peers",
        Shape::Items {
            fields: PEER,
            label: Some("peer-address"),
        },
    ),
    f("bgp-communities", ScalarMap),
    f(
        "address-pools",
        Shape::Items {
            fields: POOL,
            label: Some("name"),
        },
    ),
    f(
        "bfd-profiles",
        Shape::Items {
            fields: BFD_PROFILE,
            label: Some("name"),
        },
    ),
];

/// Every unknown key and misplaced list or map in a document, in document order
/// within each mapping (keys sorted).
pub fn check_shape(doc: &Value) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    match doc {
        Value::Null => {}
        Value::Object(_) => check_fields(doc, DOCUMENT, "", &mut errors),
        other => errors.push(ConfigError::new("", wrong("a mapping", other))),
    }
    errors
}

/// Removes every unknown key, so that the rest of a document whose only shape
/// errors are unknown keys can still be validated (indices and names unchanged).
pub fn remove_unknown_keys(doc: &mut Value) {
    strip(doc, DOCUMENT);
}

fn strip(obj: &mut Value, fields: &[Field]) {
    let Value::Object(map) = obj else { return };
    map.retain(|key, _| fields.iter().any(|f| f.key == key));
    for field in fields {
        if let (Shape::Items { fields, .. }, Some(Value::Array(items))) =
            (field.shape, map.get_mut(field.key))
        {
            for item in items {
                strip(item, fields);
            }
        }
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) | Value::Number(_) | Value::String(_) => "a single value",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn wrong(expected: &'static str, found: &Value) -> ErrorKind {
    ErrorKind::WrongShape {
        expected,
        found: describe(found),
    }
}

fn join(place: &str, suffix: &str) -> String {
    if place.is_empty() {
        suffix.to_string()
    } else {
        format!("{place}: {suffix}")
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn check_fields(obj: &Value, fields: &[Field], place: &str, errors: &mut Vec<ConfigError>) {
    let Value::Object(map) = obj else {
        errors.push(ConfigError::new(place, wrong("a mapping", obj)));
        return;
    };
    for (key, value) in map {
        let Some(field) = fields.iter().find(|f| f.key == key) else {
            let expected = fields.iter().map(|f| f.key).collect::<Vec<_>>().join(", ");
            errors.push(ConfigError::new(
                place,
                ErrorKind::UnknownKey {
                    key: key.clone(),
                    expected,
                },
            ));
            continue;
        };
        let here = join(place, key);
        if value.is_null() {
            continue;
        }
        match field.shape {
            Scalar if !is_scalar(value) => {
                errors.push(ConfigError::new(here, wrong("a single value", value)));
            }
            Scalar => {}
            Scalars => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if !is_scalar(item) {
                            let at = format!("{here}[{i}]");
                            errors.push(ConfigError::new(at, wrong("a single value", item)));
                        }
                    }
                }
                other => errors.push(ConfigError::new(here, wrong("a list", other))),
            },
            ScalarMap => match value {
                Value::Object(m) => {
                    for (k, v) in m {
                        if !is_scalar(v) {
                            let at = format!("{here} {k:?}");
                            errors.push(ConfigError::new(at, wrong("a single value", v)));
                        }
                    }
                }
                other => errors.push(ConfigError::new(here, wrong("a mapping", other))),
            },
            Shape::Items { fields, label } => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        // A bare `-` is an item with every field unset (see `raw`).
                        if item.is_null() {
                            continue;
                        }
                        let name = label.and_then(|l| item.get(l)).and_then(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        });
                        let at = match name {
                            Some(n) => format!("{here}[{i}] {n:?}"),
                            None => format!("{here}[{i}]"),
                        };
                        check_fields(item, fields, &at, errors);
                    }
                }
                other => errors.push(ConfigError::new(here, wrong("a list", other))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::{
        RawAdvertisement, RawBfdProfile, RawDocument, RawPeer, RawPool, RawRequirement, RawSelector,
    };
    use std::collections::BTreeSet;

    /// The keys a raw struct serializes when every field is set.
    fn keys_of<T: serde::Serialize>(value: &T) -> BTreeSet<String> {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn keys(fields: &[Field]) -> BTreeSet<String> {
        fields.iter().map(|f| f.key.to_string()).collect()
    }

    #[test]
    fn key_lists_match_the_raw_structs() {
        let doc = RawDocument {
            peers: Some(vec![]),
            bgp_communities: Some(Default::default()),
            address_pools: Some(vec![]),
            bfd_profiles: Some(vec![]),
        };
        assert_eq!(keys_of(&doc), keys(DOCUMENT));
        let s = || Some(String::new());
        let peer = RawPeer {
            my_asn: Some(1),
            peer_asn: Some(1),
            peer_address: s(),
            peer_port: Some(1),
            source_address: s(),
            hold_time: s(),
            keepalive_time: s(),
            router_id: s(),
            password: s(),
            node_selectors: Some(vec![]),
            bfd_profile: s(),
            ebgp_multihop: Some(true),
            enable_graceful_restart: Some(true),
            graceful_restart_time: s(),
        };
        assert_eq!(keys_of(&peer), keys(PEER));
        let pool = RawPool {
            name: s(),
            protocol: s(),
            addresses: Some(vec![]),
            avoid_buggy_ips: Some(true),
            auto_assign: Some(true),
            bgp_advertisements: Some(vec![]),
            interfaces: Some(vec![]),
            node_selectors: Some(vec![]),
            namespaces: Some(vec![]),
        };
        assert_eq!(keys_of(&pool), keys(POOL));
        let ad = RawAdvertisement {
            aggregation_length: Some(1),
            aggregation_length_v6: Some(1),
            localpref: Some(1),
            communities: Some(vec![]),
        };
        assert_eq!(keys_of(&ad), keys(ADVERTISEMENT));
        let sel = RawSelector {
            match_labels: Some(Default::default()),
            match_expressions: Some(vec![]),
        };
        assert_eq!(keys_of(&sel), keys(SELECTOR));
        let req = RawRequirement {
            key: s(),
            operator: s(),
            values: Some(vec![]),
        };
        assert_eq!(keys_of(&req), keys(REQUIREMENT));
        let bfd = RawBfdProfile {
            name: s(),
            receive_interval: Some(1),
            transmit_interval: Some(1),
            detect_multiplier: Some(1),
            echo_interval: Some(1),
            echo_mode: Some(true),
            passive_mode: Some(true),
            minimum_ttl: Some(1),
        };
        assert_eq!(keys_of(&bfd), keys(BFD_PROFILE));
    }

    #[test]
    fn reports_every_unknown_key_and_misplaced_value() {
        let doc = serde_json::json!({
            "address-pools": [
                {"name": "a", "protocol": "layer2", "adresses": ["10.0.0.0/24"]},
                {"name": "b", "addresses": "10.0.1.0/24",
                 "bgp-advertisements": [{"comunities": []}]},
            ],
            "peers": [{"peer-address": "10.0.0.1", "node-selectors": [{"matchLabels": {}}]}],
            "bgp-communitys": {},
        });
        let got: Vec<String> = check_shape(&doc).iter().map(|e| e.to_string()).collect();
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(
            got[0].starts_with("address-pools[0] \"a\": unknown key \"adresses\""),
            "{got:#?}"
        );
        assert_eq!(
            got[1],
            "address-pools[1] \"b\": addresses: expected a list, found a single value"
        );
        assert!(got[2].starts_with(
            "address-pools[1] \"b\": bgp-advertisements[0]: unknown key \"comunities\""
        ));
        assert_eq!(
            got[3],
            "unknown key \"bgp-communitys\"; expected one of peers, bgp-communities, address-pools, bfd-profiles"
        );
        assert!(
            got[4].starts_with(
                "peers[0] \"10.0.0.1\": node-selectors[0]: unknown key \"matchLabels\""
            )
        );
    }

    #[test]
    fn removing_unknown_keys_leaves_a_clean_shape() {
        let mut doc = serde_json::json!({
            "address-pools": [{"name": "a", "adresses": [], "node-selectors": [{"x": 1}]}],
            "peers": [{"peer-address": "10.0.0.1", "port": 179}],
            "typo": {},
        });
        assert_eq!(check_shape(&doc).len(), 4);
        remove_unknown_keys(&mut doc);
        assert!(check_shape(&doc).is_empty());
        assert_eq!(doc["address-pools"][0]["name"], "a");
        assert_eq!(doc["peers"][0]["peer-address"], "10.0.0.1");
    }

    #[test]
    fn a_valid_shape_has_no_errors() {
        let doc = serde_json::json!({
            "address-pools": [{"name": "a", "protocol": "bgp", "addresses": ["10.0.0.0/24"],
                "bgp-advertisements": [{"communities": ["1:1"], "localpref": 1}],
                "node-selectors": [{"match-labels": {"a": "b"},
                    "match-expressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}],
            "bgp-communities": {"x": "1:2"},
            "peers": null,
        });
        assert!(check_shape(&doc).is_empty());
    }
}
