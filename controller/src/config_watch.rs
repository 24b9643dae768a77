//! From the IronLB ConfigMap to a state-machine input: the `config` key parsed and
//! validated by `ironlb-config`, or the reason it was rejected.

use k8s_openapi::api::core::v1::ConfigMap;

use crate::reconcile::Input;

/// The ConfigMap key holding the document.
pub const KEY: &str = "config";

/// What a ConfigMap (as applied) means. A ConfigMap without the key is treated like a
/// deleted one: the last config is kept.
pub fn input(cm: &ConfigMap) -> Input {
    match cm.data.as_ref().and_then(|d| d.get(KEY)) {
        Some(text) => Input::ConfigApplied(ironlb_config::parse(text)),
        None => Input::ConfigDeleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Option<&str>) -> ConfigMap {
        ConfigMap {
            data: data.map(|d| [(KEY.to_owned(), d.to_owned())].into()),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn valid_invalid_and_missing_documents() {
        let ok = "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.0/30]\n";
        assert!(matches!(input(&cm(Some(ok))), Input::ConfigApplied(Ok(c)) if c.pools.len() == 1));
        match input(&cm(Some("address-pools:\n- name: p\n  protocol: layer9\n"))) {
            Input::ConfigApplied(Err(e)) => assert!(!e.is_empty()),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(matches!(input(&cm(None)), Input::ConfigDeleted));
        assert!(matches!(input(&cm(Some(""))), Input::ConfigApplied(Ok(c)) if c.pools.is_empty()));
    }
}
