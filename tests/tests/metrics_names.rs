//! Every metric the alerts (`deploy/monitoring/prometheus-rules.yaml`) and the Grafana dashboard
//! (`deploy/monitoring/grafana-dashboard.json`) use is really exported: its name is a string
//! literal in the controller's or the speaker's source, where metrics are registered. Pure: no
//! lab, no cluster.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ironlb_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("ironlb_") {
        // A name starts at a word boundary (not inside another identifier).
        let boundary = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if boundary {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// Every string literal `"ironlb_..."` in the `.rs` files under `dir`.
fn registered_names(dir: &Path, out: &mut BTreeSet<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            registered_names(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            for piece in text.split("\"ironlb_").skip(1) {
                if let Some((name, _)) = piece.split_once('"')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    out.insert(format!("ironlb_{name}"));
                }
            }
        }
    }
}

fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    registered_names(&repo().join("controller/src"), &mut names);
    registered_names(&repo().join("speaker/src"), &mut names);
    // Shared metrics (the Event publisher's) are registered by both binaries.
    registered_names(&repo().join("k8s/src"), &mut names);
    names
}

/// (alert name, expr) of every rule in the PrometheusRule.
fn alert_rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/prometheus-rules.yaml"))
        .expect("read prometheus-rules.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("rules are YAML");
    assert_eq!(doc["kind"], "PrometheusRule");
    let groups = doc["spec"]["groups"].as_array().expect("spec.groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| {
            let alert = r["alert"].as_str().expect("alert name").to_owned();
            assert!(
                r["labels"]["severity"].is_string(),
                "{alert}: no severity label"
            );
            assert!(
                r["annotations"]["summary"].is_string(),
                "{alert}: no summary"
            );
            (alert, r["expr"].as_str().expect("expr").to_owned())
        })
        .collect()
}

/// Every `expr` of the dashboard's panels.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/grafana-dashboard.json"))
        .expect("read grafana-dashboard.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    doc["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").iter())
        .map(|t| t["expr"].as_str().expect("expr").to_owned())
        .collect()
}

#[test]
fn name_scanner_finds_whole_names_only() {
    let got =
        metric_names("sum(rate(ironlb_a_total[5m])) / ironlb_b{x=\"ironlb_not\"} + my_ironlb_c");
    // Inside a label value the scanner still sees a boundary (`"`): over-reporting is safe,
    // since it can only make the check stricter.
    assert_eq!(
        got,
        BTreeSet::from([
            "ironlb_a_total".into(),
            "ironlb_b".into(),
            "ironlb_not".into()
        ])
    );
}

#[test]
fn alerts_cover_the_issue_and_use_exported_metrics() {
    let rules = alert_rules();
    let alerts: BTreeSet<&str> = rules.iter().map(|(a, _)| a.as_str()).collect();
    for wanted in [
        "IronLBConfigStale",
        "IronLBPoolUsageHigh",
        "IronLBPoolUsageCritical",
        "IronLBPoolExhausted",
        "IronLBAssignedIPNotAnnounced",
        "IronLBSplitBrain",
    ] {
        assert!(alerts.contains(wanted), "missing alert {wanted}");
    }
    let exported = exported();
    for (alert, expr) in &rules {
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{alert} uses no IronLB metric: {expr}");
        for name in used {
            assert!(
                exported.contains(&name),
                "alert {alert} uses {name}, which neither the controller nor the speaker \
                 registers (exported: {exported:?})"
            );
        }
    }
}

#[test]
fn dashboard_uses_exported_metrics() {
    let exprs = dashboard_exprs();
    assert!(
        exprs.len() >= 8,
        "dashboard has only {} queries",
        exprs.len()
    );
    let exported = exported();
    for expr in &exprs {
        let used = metric_names(expr);
        assert!(
            !used.is_empty(),
            "panel query uses no IronLB metric: {expr}"
        );
        for name in used {
            assert!(
                exported.contains(&name),
                "dashboard query `{expr}` uses {name}, which is not registered \
                 (exported: {exported:?})"
            );
        }
    }
}
