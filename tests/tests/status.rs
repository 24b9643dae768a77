//! `ironlb status` and the NodeAnnouncement publisher against the lab's real kube-apiserver.
//!
//! Objects are made by hand (kubectl) so these tests do not depend on a running speaker: a
//! Service of a foreign `loadBalancerClass` (so no controller touches it) with an IP written into
//! its status, and a NodeAnnouncement for a made-up node. The publisher test writes as the lab's
//! `speaker` ServiceAccount, so its RBAC is exercised. Bad input: an API on a closed port, an
//! identity without RBAC, IronLB's namespace absent. Needs `cargo build -p ironlb-cli` first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use ironlb_k8s::node_announcement::{AnnounceMode, BgpSessionState, NodeAnnouncement};
use ironlb_speaker::k8s::announcement_writer::NodeAnnouncementWriter;
use ironlb_speaker::view::{Announced, AnnouncementView};
use ironlb_tests::{Lab, apply_checkout_manifests, lab, ok};

const NS: &str = "status-test";

/// The CRD and the RBAC of this checkout applied (the lab may have been started by an older
/// binary), and the test namespace made.
fn setup() -> &'static Lab {
    static SETUP: std::sync::Once = std::sync::Once::new();
    let lab = lab();
    SETUP.call_once(|| {
        apply_checkout_manifests(lab);
        let _ = lab.kubectl(&["create", "namespace", NS]);
    });
    lab
}

/// `ironlb status ARGS` with `kubeconfig`.
fn status(lab: &Lab, kubeconfig: &str, args: &[&str]) -> Output {
    Command::new(lab.ironlb())
        .env("KUBECONFIG", kubeconfig)
        .arg("status")
        .args(args)
        .output()
        .expect("run ironlb status")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ironlb-status-{}-{name}", std::process::id()));
    std::fs::write(&p, text).expect("write temp file");
    p
}

/// A kubeconfig for the lab's API server with `user` (YAML lines under `user:`).
fn kubeconfig(lab: &Lab, server: Option<&str>, user: &str) -> PathBuf {
    let view = |path: &str| {
        ok(&lab.kubectl(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            &format!("jsonpath={path}"),
        ]))
    };
    let server = server.map_or_else(|| view("{.clusters[0].cluster.server}"), str::to_owned);
    let ca = view("{.clusters[0].cluster.certificate-authority-data}");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n{user}\ncontexts:\n- name: c\n  \
         context: {{cluster: lab, user: u}}\ncurrent-context: c\n"
    );
    temp_file(&format!("kubeconfig-{}", server.len() + user.len()), &text)
}

#[test]
fn table_and_json_show_service_ips_pool_and_announcing_node() {
    let lab = setup();
    let svc = "status-web";
    let node = "status-test-node";
    ok(&lab.kubectl(&["apply", "-f", temp_file("svc.yaml", &format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {NS}\n  annotations:\n    \
         ironlb.io/address-pool: status-pool\nspec:\n  type: LoadBalancer\n  loadBalancerClass: \
         example.com/not-ironlb\n  ports: [{{port: 80}}]\n")).to_str().unwrap()]));
    ok(&lab.kubectl(&[
        "-n",
        NS,
        "patch",
        "service",
        svc,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.77","ipMode":"VIP"}]}}}"#,
    ]));
    ok(&lab.kubectl(&["apply", "-f", temp_file("na.yaml", &format!(
        "apiVersion: ironlb.io/v1alpha1\nkind: NodeAnnouncement\nmetadata:\n  name: {node}\nspec:\n  \
         nodeName: {node}\n")).to_str().unwrap()]));
    ok(&lab.kubectl(&[
        "patch", "nodeannouncement", node, "--subresource=status", "--type=merge", "-p",
        &format!(r#"{{"status":{{"announcements":[{{"ip":"203.0.113.77","services":["{NS}/{svc}"],
          "mode":"layer2","interface":"eth0","since":"2026-11-23T10:00:00Z"}}],
          "bgpSessions":[{{"peer":"192.0.2.1","state":"Established","since":"2026-11-23T09:00:00Z"}}]}}}}"#),
    ]));
    // kubectl shows it too (printer columns).
    let got = ok(&lab.kubectl(&["get", "nodeann", node]));
    assert!(
        got.contains("203.0.113.77") && got.contains("Established"),
        "{got}"
    );

    let admin = lab.env("KUBECONFIG");
    let table = ok(&status(lab, admin, &[]));
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{NS}/{svc} ")))
        .unwrap_or_else(|| panic!("no row for {svc}:\n{table}"));
    assert!(line.contains("203.0.113.77"), "{line}");
    assert!(line.contains("status-pool"), "{line}");
    assert!(line.contains("layer2"), "{line}");
    assert!(
        line.contains(&format!("{node}(203.0.113.77 eth0)")),
        "{line}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&status(lab, admin, &["--output", "json"]))).expect("JSON output");
    let row = json
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["name"] == svc && r["namespace"] == NS)
        })
        .unwrap_or_else(|| panic!("no row for {svc} in {json}"));
    assert_eq!(row["ips"], serde_json::json!(["203.0.113.77"]));
    assert_eq!(row["pool"], "status-pool");
    assert_eq!(row["announcers"][0]["node"], node);
    assert_eq!(row["announcers"][0]["interface"], "eth0");

    let view = ok(&status(lab, admin, &["--node", node]));
    assert!(
        view.contains("203.0.113.77") && view.contains(&format!("{NS}/{svc}")),
        "{view}"
    );
    assert!(
        view.contains("192.0.2.1") && view.contains("Established"),
        "{view}"
    );
    let unknown = status(lab, admin, &["--node", "status-no-such-node"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("has no NodeAnnouncement"),
        "{}",
        stderr(&unknown)
    );

    let _ = lab.kubectl(&["-n", NS, "delete", "service", svc, "--wait=false"]);
    let _ = lab.kubectl(&["delete", "nodeannouncement", node, "--wait=false"]);
}

#[test]
fn pending_service_shows_its_latest_warning_event() {
    let lab = setup();
    let svc = "status-pending";
    ok(&lab.kubectl(&["apply", "-f", temp_file("pending.yaml", &format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {NS}\nspec:\n  type: \
         LoadBalancer\n  loadBalancerClass: example.com/not-ironlb\n  ports: [{{port: 80}}]\n---\n\
         apiVersion: v1\nkind: Event\nmetadata:\n  name: {svc}.test\n  namespace: {NS}\n\
         involvedObject: {{kind: Service, namespace: {NS}, name: {svc}, apiVersion: v1}}\n\
         type: Warning\nreason: AllocationFailed\nmessage: no addresses left in pool lan\n\
         lastTimestamp: \"2026-11-23T10:00:00Z\"\nfirstTimestamp: \"2026-11-23T10:00:00Z\"\n\
         source: {{component: ironlb-controller}}\n")).to_str().unwrap()]));
    let table = ok(&status(lab, lab.env("KUBECONFIG"), &[]));
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{NS}/{svc} ")))
        .unwrap_or_else(|| panic!("no row for {svc}:\n{table}"));
    assert!(line.contains("<pending>"), "{line}");
    assert!(
        line.contains("AllocationFailed: no addresses left in pool lan"),
        "{line}"
    );
    let _ = lab.kubectl(&["-n", NS, "delete", "service", svc, "--wait=false"]);
    let _ = lab.kubectl(&[
        "-n",
        NS,
        "delete",
        "event",
        &format!("{svc}.test"),
        "--wait=false",
    ]);
}

#[test]
fn unreachable_api_is_one_line_and_fails() {
    let lab = setup();
    // Port 1 on loopback: nothing listens there.
    let cfg = kubeconfig(lab, Some("https://127.0.0.1:1"), "    token: x");
    let out = status(lab, cfg.to_str().unwrap(), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach the Kubernetes API at https://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn identity_without_rbac_is_told_permission_denied() {
    let lab = setup();
    let _ = lab.kubectl(&["-n", NS, "create", "serviceaccount", "status-nobody"]);
    let token = ok(&lab.kubectl(&["-n", NS, "create", "token", "status-nobody"]));
    let cfg = kubeconfig(lab, None, &format!("    token: {}", token.trim()));
    let out = status(lab, cfg.to_str().unwrap(), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("permission denied: cannot list nodeannouncements.ironlb.io"),
        "{err}"
    );
}

#[test]
fn missing_namespace_is_told_not_installed() {
    let lab = setup();
    let out = status(
        lab,
        lab.env("KUBECONFIG"),
        &["--namespace", "status-test-absent"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("IronLB is not installed: namespace status-test-absent not found"),
        "{err}"
    );
}

/// The publisher, as the `speaker` ServiceAccount: creates the object, then writes only when
/// the content changes, keeping `since` of what did not change.
#[test]
fn publisher_writes_only_on_change() {
    let lab = setup();
    let node = "status-publisher-node";
    let _ = lab.kubectl(&["delete", "nodeannouncement", node, "--ignore-not-found"]);
    let speaker_cfg = format!("{}/speaker.kubeconfig", lab.env("IRONLB_LAB_STATE"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = kube::config::KubeConfigOptions::default();
        let kc = kube::config::Kubeconfig::read_from(&speaker_cfg).expect("speaker kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("config");
        let client = kube::Client::try_from(cfg).expect("client");
        let api: kube::Api<NodeAnnouncement> = kube::Api::all(client.clone());
        let mut publisher = NodeAnnouncementWriter::new(client, node, None);

        let mut desired = AnnouncementView {
            announcements: BTreeMap::from([(
                "203.0.113.88".parse().unwrap(),
                Announced {
                    services: BTreeSet::from([format!("{NS}/a")]),
                    mode: AnnounceMode::Layer2,
                    interface: Some("eth0".to_owned()),
                    peers: BTreeSet::new(),
                },
            )]),
            bgp_sessions: BTreeMap::from([(
                "192.0.2.1".parse().unwrap(),
                BgpSessionState::Connect,
            )]),
            conflicts: Default::default(),
        };
        assert!(publisher.publish(&desired).await.expect("first publish"));
        let first = api.get(node).await.expect("object exists");
        let status = first.status.clone().expect("status written");
        assert_eq!(status.announcements.len(), 1);
        assert_eq!(status.announcements[0].interface.as_deref(), Some("eth0"));

        // Same content: no write at all (resourceVersion unchanged).
        assert!(!publisher.publish(&desired).await.expect("second publish"));
        let same = api.get(node).await.expect("object exists");
        assert_eq!(
            same.metadata.resource_version,
            first.metadata.resource_version
        );

        // A fresh publisher (a restarted speaker) starts from the API: still nothing to write.
        let client2 = api.clone().into_client();
        let mut restarted = NodeAnnouncementWriter::new(client2, node, None);
        assert!(
            !restarted
                .publish(&desired)
                .await
                .expect("publish after restart")
        );

        // A change is written; the unchanged announcement keeps its since.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        desired
            .bgp_sessions
            .insert("192.0.2.1".parse().unwrap(), BgpSessionState::Established);
        assert!(restarted.publish(&desired).await.expect("publish change"));
        let changed = api
            .get(node)
            .await
            .expect("object exists")
            .status
            .expect("status");
        assert_eq!(changed.bgp_sessions[0].state, BgpSessionState::Established);
        assert_eq!(
            changed.announcements[0].since,
            status.announcements[0].since
        );
        assert!(changed.bgp_sessions[0].since.0 > status.bgp_sessions[0].since.0);

        // A stopping speaker clears its object; a node without one gets none.
        assert!(restarted.clear().await.expect("clear"));
        let cleared = api.get(node).await.expect("object exists").status;
        assert_eq!(cleared, Some(Default::default()));
        let other = "status-publisher-no-object";
        let mut fresh = NodeAnnouncementWriter::new(api.clone().into_client(), other, None);
        assert!(!fresh.clear().await.expect("clear without object"));
        assert!(api.get_opt(other).await.expect("get").is_none());
    });
    // The speaker may not delete; the admin cleans up.
    let _ = lab.kubectl(&["delete", "nodeannouncement", node, "--wait=false"]);
}
