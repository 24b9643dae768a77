//! MetalLB's CRD-era objects read in place: with MetalLB's CRDs installed (from its Go module,
//! as a user who removed MetalLB's Deployment and DaemonSet keeps them) and an IPAddressPool
//! with an L2Advertisement in `metallb-system`, IronLB's controller and speakers serve a Service
//! from that pool beside the ConfigMap's pools. A pool both define is refused with both named,
//! and the last good config stays. Runs on the shared lab and leaves no MetalLB object behind.

use ironlb_tests::{Lab, apply_checkout_manifests, lab, ok};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// The MetalLB release whose CRDs are installed.
const METALLB: &str = "v0.16.2";
const NS: &str = "metallb-objects";
/// The kept pool, on the lab's LAN, outside the ConfigMap's 192.0.2.200-254.
const FIRST: u8 = 150;
const LAST: u8 = 159;

/// MetalLB's CRDs, from its module's manifest (downloaded through the Go module proxy once).
fn metallb_crds() -> Vec<Value> {
    let out = Command::new("go")
        .args([
            "mod",
            "download",
            "-json",
            &format!("go.universe.tf/metallb@{METALLB}"),
        ])
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("running go (on PATH?): {e}"));
    let info: Value = serde_json::from_str(&ok(&out)).expect("go mod download -json");
    let dir = info["Dir"].as_str().expect("the module's Dir");
    let manifest = std::fs::read_to_string(format!("{dir}/config/manifests/metallb-native.yaml"))
        .expect("MetalLB's manifest");
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&manifest).expect("MetalLB's manifest parses");
    docs.into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect()
}

fn metallb_object(kind: &str, name: &str, spec: Value) -> String {
    json!({"apiVersion": "metallb.io/v1beta1", "kind": kind,
           "metadata": {"name": name, "namespace": "metallb-system"}, "spec": spec})
    .to_string()
}

/// Takes MetalLB's objects, namespace and CRDs (by name) away on drop, even after a failed
/// assertion.
struct Cleanup(&'static Lab, Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let lab = self.0;
        let _ = lab.kubectl(&["delete", "namespace", NS, "--wait=false"]);
        let _ = lab.kubectl(&["delete", "namespace", "metallb-system", "--timeout=60s"]);
        for name in &self.1 {
            let _ = lab.kubectl(&["delete", "crd", name, "--ignore-not-found"]);
        }
    }
}

/// The Service's IP once it is one of the kept pool's.
fn kept_pool_ip(lab: &Lab) -> String {
    lab.wait_for(
        "an IP from the IPAddressPool (discovery looks every 60 s)",
        Duration::from_secs(150),
        || {
            lab.service_ips(NS, "kept").into_iter().find(|ip| {
                ip.strip_prefix("192.0.2.")
                    .and_then(|last| last.parse::<u8>().ok())
                    .is_some_and(|last| (FIRST..=LAST).contains(&last))
            })
        },
    )
}

#[test]
fn metallb_objects_kept_in_the_cluster_serve_a_service_beside_the_config_map() {
    let lab = lab();
    apply_checkout_manifests(lab);
    let ns = lab.env("IRONLB_LAB_NAMESPACE");
    let crds = metallb_crds();
    let names = crds
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let _cleanup = Cleanup(lab, names);
    assert!(crds.len() >= 6, "MetalLB's CRDs: {}", crds.len());
    // Too large for the last-applied annotation: applied server-side, as MetalLB's docs do.
    let file = std::env::temp_dir().join("ironlb-test-metallb-crds.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": crds});
    std::fs::write(&file, list.to_string()).expect("writing the CRDs");
    let file = file.to_string_lossy();
    ok(&lab.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", &file]));
    ok(&lab.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/ipaddresspools.metallb.io",
        "crd/l2advertisements.metallb.io",
        "--timeout=60s",
    ]));
    let _ = lab.kubectl(&["create", "namespace", "metallb-system"]);
    let range = format!("192.0.2.{FIRST}-192.0.2.{LAST}");
    lab.apply(&metallb_object(
        "IPAddressPool",
        "kept",
        json!({"addresses": [range]}),
    ));
    lab.apply(&metallb_object(
        "L2Advertisement",
        "kept",
        json!({"ipAddressPools": ["kept"]}),
    ));

    // A Service asking for that pool by MetalLB's annotation is served from it.
    let _ = lab.kubectl(&["create", "namespace", NS]);
    lab.apply(
        &json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kept", "namespace": NS,
                             "annotations": {"metallb.universe.tf/address-pool": "kept"}},
                "spec": {"type": "LoadBalancer", "selector": {"app": "kept"},
                         "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        .to_string(),
    );
    let node = lab.nodes()[0].clone();
    lab.endpoint_on(NS, "kept", &node);
    let ip = kept_pool_ip(lab);
    // The speakers read the pool too: a node answers for the IP and the client gets through.
    let reached = lab.wait_for(
        "the client to reach the kept pool's IP",
        Duration::from_secs(60),
        || lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), &ip, "2"),
    );
    assert!(lab.nodes().contains(&reached), "reached {reached:?}");

    // A pool named like the ConfigMap's ("default") is a clash: refused, naming both; the last
    // good config stays and the Service keeps its IP.
    lab.apply(&metallb_object(
        "IPAddressPool",
        "default",
        json!({"addresses": ["192.0.2.160-192.0.2.169"]}),
    ));
    let said = lab.wait_for("the clash refused", Duration::from_secs(60), || {
        let said = lab.event_messages(ns, "config", "InvalidConfig");
        said.contains("IPAddressPool").then_some(said)
    });
    assert!(said.contains("\"default\""), "{said}");
    assert_eq!(lab.service_ips(NS, "kept"), std::slice::from_ref(&ip));
    ok(&lab.kubectl(&["-n", "metallb-system", "delete", "ipaddresspool", "default"]));
    assert!(
        lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), &ip, "2")
            .is_some()
    );
}
