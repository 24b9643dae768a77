//! Node selectors: Kubernetes label selectors (`match-labels`, `match-expressions`)
//! as MetalLB's legacy config writes them, their validation and their matching.
//!
//! Invariant: a validated selector has well-formed label keys and values, a known
//! operator, values for `In`/`NotIn` and none for `Exists`/`DoesNotExist`. A list of
//! selectors matches a node when any one of them does; an empty list matches all.

use crate::error::ErrorKind;
use crate::model::{LabelOperator, LabelRequirement, NodeSelector};
use crate::raw::RawSelector;
use std::collections::BTreeMap;

impl NodeSelector {
    /// Whether a node with these labels is selected (every label and every
    /// requirement must hold; an empty selector selects every node).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl LabelRequirement {
    /// Whether the requirement holds for these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            LabelOperator::In(values) => value.is_some_and(|v| values.contains(v)),
            LabelOperator::NotIn(values) => !value.is_some_and(|v| values.contains(v)),
            LabelOperator::Exists => value.is_some(),
            LabelOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// Whether a list of selectors admits a node: empty admits all, else any must match.
pub fn any_matches(selectors: &[NodeSelector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// Validates one raw selector; errors are `(place suffix, kind)` relative to it.
pub fn validate_selector(raw: &RawSelector) -> Result<NodeSelector, Vec<(String, ErrorKind)>> {
    let mut errors = Vec::new();
    let mut selector = NodeSelector::default();
    for (key, value) in raw.match_labels.iter().flatten() {
        let place = format!("match-labels {key:?}");
        if let Err(why) = check_key(key) {
            errors.push((place.clone(), ErrorKind::BadSelector(why)));
        }
        if let Err(why) = check_value(value) {
            errors.push((place, ErrorKind::BadSelector(why)));
        }
        selector.match_labels.insert(key.clone(), value.clone());
    }
    for (i, req) in raw.match_expressions.iter().flatten().enumerate() {
        let place = format!("match-expressions[{i}]");
        match validate_requirement(req) {
            Ok(r) => selector.match_expressions.push(r),
            Err(why) => errors.push((place, ErrorKind::BadSelector(why))),
        }
    }
    if errors.is_empty() {
        Ok(selector)
    } else {
        Err(errors)
    }
}

fn validate_requirement(req: &crate::raw::RawRequirement) -> Result<LabelRequirement, String> {
    let key = req.key.clone().ok_or("key is missing")?;
    check_key(&key)?;
    let operator = req.operator.as_deref().ok_or("operator is missing")?;
    let values = req.values.clone().unwrap_or_default();
    for v in &values {
        check_value(v)?;
    }
    let operator = match operator {
        "In" | "NotIn" if values.is_empty() => {
            return Err(format!("operator {operator} needs at least one value"));
        }
        "In" => LabelOperator::In(values),
        "NotIn" => LabelOperator::NotIn(values),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            return Err(format!("operator {operator} takes no values"));
        }
        "Exists" => LabelOperator::Exists,
        "DoesNotExist" => LabelOperator::DoesNotExist,
        other => {
            return Err(format!(
                "unknown operator {other:?}; expected In, NotIn, Exists or DoesNotExist"
            ));
        }
    };
    Ok(LabelRequirement { key, operator })
}

/// A label name: 1-63 characters, alphanumeric at both ends, `-_.` inside.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// A DNS subdomain (the optional prefix of a label key).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn check_key(key: &str) -> Result<(), String> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "label key {key:?} is malformed (optional DNS prefix and '/', then 1-63 of [A-Za-z0-9-_.], alphanumeric at both ends)"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?} is malformed (empty, or 1-63 of [A-Za-z0-9-_.], alphanumeric at both ends)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::RawRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> RawRequirement {
        RawRequirement {
            key: Some(key.into()),
            operator: Some(op.into()),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn matching_follows_kubernetes_semantics() {
        let node = labels(&[("kubernetes.io/hostname", "n1"), ("rack", "r1")]);
        let cases: &[(RawSelector, bool)] = &[
            (RawSelector::default(), true),
            (
                RawSelector {
                    match_labels: Some(labels(&[("rack", "r1")])),
                    ..Default::default()
                },
                true,
            ),
            (
                RawSelector {
                    match_labels: Some(labels(&[("rack", "r2")])),
                    ..Default::default()
                },
                false,
            ),
            (
                RawSelector {
                    match_expressions: Some(vec![req(
                        "kubernetes.io/hostname",
                        "In",
                        &["n1", "n2"],
                    )]),
                    ..Default::default()
                },
                true,
            ),
            (
                RawSelector {
                    match_expressions: Some(vec![req("rack", "NotIn", &["r1"])]),
                    ..Default::default()
                },
                false,
            ),
            (
                RawSelector {
                    match_expressions: Some(vec![req("zone", "NotIn", &["z1"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                RawSelector {
                    match_expressions: Some(vec![req("rack", "Exists", &[])]),
                    ..Default::default()
                },
                true,
            ),
            (
                RawSelector {
                    match_expressions: Some(vec![req("rack", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (i, (raw, want)) in cases.iter().enumerate() {
            let sel = validate_selector(raw).unwrap_or_else(|e| panic!("case {i}: {e:?}"));
            assert_eq!(sel.matches(&node), *want, "case {i}");
        }
    }

    #[test]
    fn malformed_selectors_are_refused() {
        let cases: Vec<RawSelector> = vec![
            RawSelector {
                match_labels: Some(labels(&[("bad key!", "v")])),
                ..Default::default()
            },
            RawSelector {
                match_labels: Some(labels(&[("k", "-v")])),
                ..Default::default()
            },
            RawSelector {
                match_labels: Some(labels(&[("Example.COM/k", "v")])),
                ..Default::default()
            },
            RawSelector {
                match_expressions: Some(vec![req("k", "Maybe", &["v"])]),
                ..Default::default()
            },
            RawSelector {
                match_expressions: Some(vec![req("k", "In", &[])]),
                ..Default::default()
            },
            RawSelector {
                match_expressions: Some(vec![req("k", "Exists", &["v"])]),
                ..Default::default()
            },
            RawSelector {
                match_expressions: Some(vec![RawRequirement {
                    key: None,
                    operator: Some("Exists".into()),
                    values: None,
                }]),
                ..Default::default()
            },
        ];
        for (i, raw) in cases.iter().enumerate() {
            assert!(validate_selector(raw).is_err(), "case {i} accepted");
        }
    }

    #[test]
    fn empty_selector_list_admits_all() {
        let node = labels(&[("a", "b")]);
        assert!(any_matches(&[], &node));
        let only_c = NodeSelector {
            match_labels: labels(&[("c", "d")]),
            ..Default::default()
        };
        assert!(!any_matches(std::slice::from_ref(&only_c), &node));
        assert!(any_matches(&[only_c, NodeSelector::default()], &node));
    }
}
