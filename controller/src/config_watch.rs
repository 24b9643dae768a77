//! From the merged config (IronLB's ConfigMap, and MetalLB's objects read in place;
//! `ironlb_k8s::config_source`) to a state-machine input: the document parsed and validated by
//! `ironlb-config`, or the reason it was rejected.

use ironlb_k8s::config_source::Merged;

use crate::reconcile::Input;

/// What a merged config means. Neither a ConfigMap (with its `config` key) nor MetalLB
/// objects is treated like a deleted config: the last config is kept.
pub fn input(merged: &Merged) -> Input {
    match merged {
        Merged::Config { document, .. } => Input::ConfigApplied(
            document
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|text| ironlb_config::parse(text)),
        ),
        Merged::Nothing => Input::ConfigDeleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(document: Result<&str, ironlb_config::ConfigErrors>) -> Merged {
        Merged::Config {
            document: document.map(str::to_owned),
            not_carried: Vec::new(),
            config_map_uid: None,
        }
    }

    #[test]
    fn valid_invalid_and_missing_documents() {
        let ok = "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.0/30]\n";
        assert!(
            matches!(input(&config(Ok(ok))), Input::ConfigApplied(Ok(c)) if c.pools.len() == 1)
        );
        match input(&config(Ok(
            "address-pools:\n- name: p\n  protocol: layer9\n",
        ))) {
            Input::ConfigApplied(Err(e)) => assert!(!e.is_empty()),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(matches!(input(&Merged::Nothing), Input::ConfigDeleted));
        assert!(
            matches!(input(&config(Ok(""))), Input::ConfigApplied(Ok(c)) if c.pools.is_empty())
        );
    }

    #[test]
    fn an_error_of_the_merge_is_a_rejected_config() {
        let merge_error = ironlb_k8s_error();
        match input(&config(Err(merge_error.clone()))) {
            Input::ConfigApplied(Err(e)) => assert_eq!(e, merge_error),
            other => panic!("expected the merge's error, got {other:?}"),
        }
    }

    /// The error a pool defined on both sides gives.
    fn ironlb_k8s_error() -> ironlb_config::ConfigErrors {
        let pool = serde_json::json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": "p"}, "spec": {"addresses": ["10.0.0.0/30"]}});
        let doc = "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.4/30]\n";
        ironlb_config::metallb::merge_in_place(Some(doc), &[pool]).unwrap_err()
    }
}
