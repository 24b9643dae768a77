//! The Helm chart's static parts (deploy/helm/ironlb), without Helm: its copies of the
//! kustomize manifests' CRD and alert rules match their sources, its YAML and JSON
//! parse, and values.yaml and values.schema.json name the same keys. Rendering is
//! checked by deploy/helm/test.sh, which needs helm (not run by default).

use serde_json::Value;
use std::path::PathBuf;

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn chart_crd_is_the_kustomize_crd() {
    assert_eq!(
        read("deploy/helm/ironlb/crds/nodeannouncement.yaml"),
        read("deploy/crds/nodeannouncement.yaml")
    );
}

#[test]
fn chart_rules_are_deploy_monitoring_rules() {
    let source = yaml("deploy/monitoring/prometheus-rules.yaml");
    let chart = yaml("deploy/helm/ironlb/files/prometheus-rules-groups.yaml");
    assert_eq!(chart, source["spec"]);
}

#[test]
fn static_files_parse() {
    let chart = yaml("deploy/helm/ironlb/Chart.yaml");
    assert_eq!(chart["name"], "ironlb");
    assert_eq!(chart["apiVersion"], "v2");
    let _: Value = serde_json::from_str(&read("deploy/helm/ironlb/values.schema.json")).unwrap();
    for template in std::fs::read_dir(path("deploy/helm/ironlb/templates")).unwrap() {
        let template = template.unwrap().path();
        let text = std::fs::read_to_string(&template).unwrap();
        // A template action ends in ` }}`, `-}}` or `*/}}`; a YAML flow mapping's
        // `...}}` (e.g. `{fieldRef: {fieldPath: x}}`) is not one.
        let closes = [" }}", "-}}", "/}}"]
            .iter()
            .map(|c| text.matches(c).count())
            .sum::<usize>();
        assert_eq!(
            text.matches("{{").count(),
            closes,
            "unbalanced braces in {}",
            template.display()
        );
    }
}

/// Every key of `values` is a property of `schema`, and every object property of the
/// schema that has properties of its own is in `values` (the defaults document all).
fn same_keys(values: &Value, schema: &Value, place: &str) {
    let props = &schema["properties"];
    let Value::Object(values) = values else {
        return;
    };
    for (key, value) in values {
        let sub = &props[key];
        assert!(
            !sub.is_null(),
            "values key {place}.{key} is not in values.schema.json"
        );
        if sub.get("properties").is_some() {
            same_keys(value, sub, &format!("{place}.{key}"));
        }
    }
    if let Value::Object(props) = props {
        for key in props.keys() {
            let optional = [
                "imagePullSecrets",
                "affinity",
                "claims",
                "requests",
                "limits",
            ];
            assert!(
                values.contains_key(key)
                    || optional.contains(&key.as_str())
                    || place.ends_with("resources"),
                "schema property {place}.{key} has no default in values.yaml"
            );
        }
    }
}

#[test]
fn values_and_schema_name_the_same_keys() {
    let values = yaml("deploy/helm/ironlb/values.yaml");
    let schema: Value =
        serde_json::from_str(&read("deploy/helm/ironlb/values.schema.json")).unwrap();
    same_keys(&values, &schema, "");
}

#[test]
fn chart_test_script_is_executable() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path("deploy/helm/test.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0);
}
