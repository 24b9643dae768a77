//! IronLB installed with its Helm chart, as users install it: a private lab brought up with
//! `ironlb lab up --install helm` (the namespace labelled, then `helm install` of
//! `deploy/helm/ironlb` with the example config as its `config` value), then `helm upgrade` and
//! `helm uninstall` with the lab's Helm (`IRONLB_LAB_HELM`, built from its Go module).

use ironlb_tests::{Lab, ok, repo_file};
use std::process::{Command, Output};
use std::time::Duration;

const TEST_NS: &str = "helm-test";

/// Runs the lab's Helm with `args` against the lab's cluster.
fn helm(lab: &Lab, args: &[&str]) -> Output {
    Command::new(lab.env("IRONLB_LAB_HELM"))
        .env("KUBECONFIG", lab.env("KUBECONFIG"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running helm: {e}"))
}

/// The ready replicas of the controller Deployment (0 when it has none or is gone).
fn controller_ready(lab: &Lab) -> u32 {
    let out = lab.kubectl(&[
        "-n",
        lab.env("IRONLB_LAB_NAMESPACE"),
        "get",
        "deployment",
        "controller",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A LoadBalancer Service `web` in [`TEST_NS`] with an echo pod on `node`; returns its IP once
/// it has one.
fn served_service(lab: &Lab, node: &str) -> String {
    ok(&lab.kubectl(&["create", "namespace", TEST_NS]));
    lab.apply(
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": TEST_NS},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                     "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]},
        })
        .to_string(),
    );
    lab.endpoint_on(TEST_NS, "web", node);
    lab.wait_for("the Service's IP", Duration::from_secs(60), || {
        lab.service_ips(TEST_NS, "web").into_iter().next()
    })
}

/// The client's HTTP request to `ip` is answered through a node of the lab (60 s at most).
fn reachable(lab: &Lab, ip: &str) {
    let node = lab.wait_for(
        &format!("the client to reach {ip}"),
        Duration::from_secs(60),
        || lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), ip, "2"),
    );
    assert!(lab.nodes().contains(&node), "reached {node:?}");
}

fn install_upgrade_uninstall(lab: &Lab) {
    let ns = lab.env("IRONLB_LAB_NAMESPACE");
    let chart = repo_file("deploy/helm/ironlb");
    assert_eq!(lab.env("IRONLB_LAB_INSTALL"), "helm");

    // Installed by Helm: the release is deployed and owns the workloads.
    let status = ok(&helm(lab, &["status", "ironlb", "-n", ns]));
    assert!(status.contains("STATUS: deployed"), "{status}");
    let managed = ok(&lab.kubectl(&[
        "-n",
        ns,
        "get",
        "daemonset",
        "speaker",
        "-o",
        r"jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}",
    ]));
    assert_eq!(managed, "Helm");

    // The config given as the chart's value serves a Service: an IP from its pool, answered.
    let ip = served_service(lab, &lab.nodes()[0]);
    assert!(
        ip.starts_with("192.0.2."),
        "IP {ip} is not from the example pool"
    );
    reachable(lab, &ip);

    // An upgrade that changes a value: three controller replicas; nothing else moves.
    ok(&helm(
        lab,
        &[
            "upgrade",
            "ironlb",
            &chart,
            "-n",
            ns,
            "--reuse-values",
            "--set",
            "controller.replicas=3",
            "--wait",
            "--timeout",
            "3m",
        ],
    ));
    let status = ok(&helm(lab, &["status", "ironlb", "-n", ns]));
    assert!(status.contains("REVISION: 2"), "{status}");
    lab.wait_for(
        "three controller replicas ready",
        Duration::from_secs(120),
        || (controller_ready(lab) == 3).then_some(()),
    );
    assert_eq!(lab.service_ips(TEST_NS, "web"), std::slice::from_ref(&ip));
    reachable(lab, &ip);

    // Uninstalled: IronLB's pods go; the CRD stays (Helm never deletes crds/).
    ok(&helm(lab, &["uninstall", "ironlb", "-n", ns, "--wait"]));
    lab.wait_for("IronLB's pods gone", Duration::from_secs(120), || {
        let out = lab.kubectl(&[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=ironlb",
            "-o",
            "name",
        ]);
        (out.status.success() && out.stdout.is_empty()).then_some(())
    });
    ok(&lab.kubectl(&["get", "crd", "nodeannouncements.ironlb.io"]));
}

#[test]
fn helm_installs_upgrades_and_uninstalls_ironlb_on_the_real_cluster() {
    let lab = Lab::up_private(
        "hlm-",
        &["--nodes", "2", "--router", "none", "--install", "helm"],
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        install_upgrade_uninstall(&lab)
    }));
    lab.down();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
