//! The one lookup of a Service annotation under IronLB's and MetalLB's spellings.
//!
//! Precedence: `ironlb.io/`, then `metallb.io/`, then `metallb.universe.tf/` ([`PREFIXES`]).
//! Values are trimmed. When two spellings are set to different values the lookup says so
//! ([`Disagreement`]): the controller refuses such a Service (and tells it with an Event)
//! rather than let one silently win; `ironlb status` shows the value of the spelling that
//! comes first.

use std::collections::BTreeMap;

/// Annotation prefixes read, in order of precedence.
pub const PREFIXES: [&str; 3] = ["ironlb.io/", "metallb.io/", "metallb.universe.tf/"];

/// The pool annotation's name (after the prefix).
pub const ADDRESS_POOL: &str = "address-pool";
/// The requested-IPs annotation's name.
pub const LOAD_BALANCER_IPS: &str = "loadBalancerIPs";
/// The sharing-key annotation's name.
pub const ALLOW_SHARED_IP: &str = "allow-shared-ip";

/// An annotation found: its full key and its trimmed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The full key, e.g. `metallb.io/address-pool`.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
}

/// Two spellings of one annotation with different values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The spelling that comes first, with its value.
    pub first: Found,
    /// The full key of the first spelling that disagrees with it.
    pub second: String,
}

/// The annotation `name` (e.g. [`ADDRESS_POOL`]) of an object with `annotations`, under
/// the first of [`PREFIXES`] that is set; `Err` if two spellings disagree.
pub fn lookup(
    annotations: Option<&BTreeMap<String, String>>,
    name: &str,
) -> Result<Option<Found>, Disagreement> {
    let mut found: Option<Found> = None;
    for prefix in PREFIXES {
        let key = format!("{prefix}{name}");
        let Some(value) = annotations.and_then(|a| a.get(&key)) else {
            continue;
        };
        let value = value.trim();
        match &found {
            Some(first) if first.value != value => {
                return Err(Disagreement {
                    first: first.clone(),
                    second: key,
                });
            }
            Some(_) => {}
            None => {
                found = Some(Found {
                    key,
                    value: value.to_owned(),
                })
            }
        }
    }
    Ok(found)
}

/// The value of annotation `name` by precedence alone, for display: when spellings
/// disagree, the first one's.
pub fn first(annotations: Option<&BTreeMap<String, String>>, name: &str) -> Option<String> {
    match lookup(annotations, name) {
        Ok(found) => found.map(|f| f.value),
        Err(d) => Some(d.first.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn precedence_is_ironlb_then_metallb_io_then_universe() {
        let m = map(&[
            ("metallb.universe.tf/address-pool", "c"),
            ("metallb.io/address-pool", "b"),
        ]);
        // Disagreeing: the lookup says so, display takes metallb.io (it comes first).
        let err = lookup(Some(&m), ADDRESS_POOL).unwrap_err();
        assert_eq!(err.first.key, "metallb.io/address-pool");
        assert_eq!(err.second, "metallb.universe.tf/address-pool");
        assert_eq!(first(Some(&m), ADDRESS_POOL).as_deref(), Some("b"));
        let m = map(&[
            ("metallb.universe.tf/address-pool", " p "),
            ("ironlb.io/address-pool", "p"),
        ]);
        let found = lookup(Some(&m), ADDRESS_POOL).unwrap().unwrap();
        assert_eq!(found.key, "ironlb.io/address-pool");
        assert_eq!(found.value, "p");
    }

    #[test]
    fn absent_is_none() {
        assert_eq!(lookup(None, ADDRESS_POOL), Ok(None));
        assert_eq!(lookup(Some(&map(&[])), ADDRESS_POOL), Ok(None));
        assert_eq!(first(None, ADDRESS_POOL), None);
    }
}
