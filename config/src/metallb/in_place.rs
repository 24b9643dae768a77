//! MetalLB's objects read in place from the cluster, merged with IronLB's ConfigMap into the
//! one document the controller and the speakers run on: what a user gets who removes MetalLB's
//! Deployment and DaemonSet but keeps its CRDs and objects.
//!
//! Invariant: pure. A name both sides define (a pool, a BFD profile, a community alias with
//! another value) is an error naming both sources, never a silent choice; an object that does
//! not read is an error naming it. Without objects the ConfigMap's document is kept as written.

use super::{Migration, NotCarried, error, from_objects, merge, object_from_value};
use crate::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::parse::{MAX_INPUT_BYTES, parse_document};
use crate::raw::RawDocument;
use serde_json::Value;

/// Where the ConfigMap's document is named in errors.
const CONFIG_MAP: &str = "ConfigMap data.config";

/// One document from the ConfigMap's `config` text (if any) and the `metallb.io` objects read
/// from the cluster (their JSON, as the API serves them; other kinds are ignored).
pub fn merge_in_place(
    config_map: Option<&str>,
    objects: &[Value],
) -> Result<Migration, ConfigErrors> {
    let mut read = Vec::new();
    let mut errors = Vec::new();
    for value in objects {
        match object_from_value(value.clone()) {
            Ok(Some(o)) => read.push(o),
            Ok(None) => {}
            Err(message) => errors.push(ConfigError::new(
                reference(value),
                ErrorKind::Yaml {
                    line: None,
                    column: None,
                    message,
                },
            )),
        }
    }
    if let Some(errors) = ConfigErrors::from_vec(errors) {
        return Err(errors);
    }
    if read.is_empty() {
        return Ok(Migration {
            document: config_map.unwrap_or_default().to_owned(),
            not_carried: Vec::new(),
        });
    }
    let (mut doc, not_carried): (RawDocument, Vec<NotCarried>) = from_objects(&read);
    if let Some(text) = config_map.filter(|t| !t.trim().is_empty()) {
        let old = parse_document(text, MAX_INPUT_BYTES).map_err(|e| e.prefixed(CONFIG_MAP))?;
        if let Some(errors) = ConfigErrors::from_vec(clashes(&doc, &old)) {
            return Err(errors);
        }
        merge(&mut doc, old);
    }
    let document = serde_saphyr::to_string(&doc).map_err(|e| error(e.to_string()))?;
    Ok(Migration {
        document,
        not_carried,
    })
}

/// `Kind/name` of an object's JSON, as far as it says.
fn reference(value: &Value) -> String {
    let field = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("?").to_owned();
    format!(
        "{}/{}",
        field(value.get("kind")),
        field(value.get("metadata").and_then(|m| m.get("name")))
    )
}

/// Names defined by both the objects' translation (`objects`) and the ConfigMap (`config_map`).
fn clashes(objects: &RawDocument, config_map: &RawDocument) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let pools = pool_names(objects);
    for name in pool_names(config_map) {
        if pools.contains(&name) {
            out.push(twice("address pool", name, "IPAddressPool"));
        }
    }
    let profiles = profile_names(objects);
    for name in profile_names(config_map) {
        if profiles.contains(&name) {
            out.push(twice("BFD profile", name, "BFDProfile"));
        }
    }
    let aliases = objects.bgp_communities.as_ref();
    for (alias, value) in config_map.bgp_communities.iter().flatten() {
        if aliases
            .and_then(|a| a.get(alias))
            .is_some_and(|v| v != value)
        {
            out.push(twice("community alias", alias, "a Community"));
        }
    }
    out
}

fn pool_names(doc: &RawDocument) -> Vec<&String> {
    doc.address_pools
        .iter()
        .flatten()
        .filter_map(|p| p.name.as_ref())
        .collect()
}

fn profile_names(doc: &RawDocument) -> Vec<&String> {
    doc.bfd_profiles
        .iter()
        .flatten()
        .filter_map(|p| p.name.as_ref())
        .collect()
}

fn twice(what: &'static str, name: &str, kind: &'static str) -> ConfigError {
    ConfigError::new(
        CONFIG_MAP,
        ErrorKind::DefinedTwice {
            what,
            name: name.to_owned(),
            kind,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(name: &str, addresses: &[&str]) -> Value {
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
               "metadata": {"name": name, "namespace": "metallb-system"},
               "spec": {"addresses": addresses}})
    }

    fn l2(name: &str, pools: &[&str]) -> Value {
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
               "metadata": {"name": name, "namespace": "metallb-system"},
               "spec": {"ipAddressPools": pools}})
    }

    const LEGACY: &str = "# kept as written\naddress-pools:\n- name: old\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n";

    #[test]
    fn without_objects_the_config_maps_document_is_kept_as_written() {
        let m = merge_in_place(Some(LEGACY), &[]).unwrap();
        assert_eq!(m.document, LEGACY);
        assert_eq!(merge_in_place(None, &[]).unwrap().document, "");
        // Objects of other kinds are not MetalLB's configuration.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert_eq!(
            merge_in_place(Some(LEGACY), &[cm]).unwrap().document,
            LEGACY
        );
    }

    #[test]
    fn objects_and_the_config_map_make_one_valid_config() {
        let objects = [pool("kept", &["198.51.100.0/28"]), l2("kept", &["kept"])];
        let m = merge_in_place(Some(LEGACY), &objects).unwrap();
        let config = crate::parse(&m.document).unwrap();
        let names: Vec<&str> = config.pools.iter().map(|p| p.name.0.as_str()).collect();
        assert_eq!(names, ["kept", "old"]);
        // The objects alone.
        let alone = crate::parse(&merge_in_place(None, &objects).unwrap().document).unwrap();
        assert_eq!(alone.pools.len(), 1);
    }

    #[test]
    fn a_name_on_both_sides_is_an_error_naming_both() {
        let objects = [pool("old", &["198.51.100.0/28"]), l2("old", &["old"])];
        let err = merge_in_place(Some(LEGACY), &objects).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ConfigMap data.config"), "{text}");
        assert!(text.contains("address pool \"old\""), "{text}");
        assert!(text.contains("IPAddressPool"), "{text}");
    }

    #[test]
    fn an_object_that_does_not_read_is_an_error_naming_it() {
        let bad = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                         "metadata": {"name": "bad"}, "spec": {"addresses": "not a list"}});
        let err = merge_in_place(Some(LEGACY), &[bad]).unwrap_err();
        assert!(err.to_string().contains("IPAddressPool/bad"), "{err}");
    }

    #[test]
    fn a_bad_config_map_is_an_error_naming_it() {
        let err = merge_in_place(Some("address-pools: {"), &[pool("p", &["198.51.100.0/28"])])
            .unwrap_err();
        assert!(err.to_string().contains("ConfigMap data.config"), "{err}");
    }
}
