//! The manifests in `deploy/` against the lab's real kube-apiserver: the kustomization is
//! accepted as a whole (server-side dry run), and each ServiceAccount may do what its component
//! needs and nothing it must not (`kubectl auth can-i`, impersonating it). Also, without a
//! cluster: no wildcard anywhere in the RBAC.

use std::collections::BTreeSet;

use ironlb_tests::{Lab, apply_checkout_manifests, lab, ok, repo_file};

const NS: &str = "ironlb-system";

/// This checkout's CRD and RBAC applied (the lab may have been started by an older binary).
fn setup() -> &'static Lab {
    let lab = lab();
    apply_checkout_manifests(lab);
    lab
}

#[test]
fn kustomization_is_accepted_by_the_api_server() {
    let lab = setup();
    let out = ok(&lab.kubectl(&["apply", "--dry-run=server", "-k", &repo_file("deploy")]));
    for kind in [
        "namespace/ironlb-system",
        "customresourcedefinition.apiextensions.k8s.io/nodeannouncements.ironlb.io",
        "deployment.apps/controller",
        "daemonset.apps/speaker",
        "clusterrole.rbac.authorization.k8s.io/ironlb:speaker",
    ] {
        assert!(out.contains(kind), "{kind} not in the dry run:\n{out}");
    }
}

/// `kubectl auth can-i ARGS --as=system:serviceaccount:ironlb-system:SA`: yes or no.
fn can(lab: &Lab, sa: &str, args: &[&str]) -> bool {
    let who = format!("--as=system:serviceaccount:{NS}:{sa}");
    let out = lab.kubectl(&[&["auth", "can-i"], args, &[who.as_str()]].concat());
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => panic!(
            "kubectl auth can-i {args:?} as {sa}: {answer} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Asserts every `must` is allowed and every `must_not` is denied for `sa`.
fn check(lab: &Lab, sa: &str, must: &[&[&str]], must_not: &[&[&str]]) {
    let mut wrong = Vec::new();
    for args in must {
        if !can(lab, sa, args) {
            wrong.push(format!("{sa} cannot {args:?} but must"));
        }
    }
    for args in must_not {
        if can(lab, sa, args) {
            wrong.push(format!("{sa} can {args:?} but must not"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What neither component may do.
const NOBODY: &[&[&str]] = &[
    &["create", "pods", "-n", NS],
    &["create", "pods", "-n", "default"],
    &["create", "pods/exec", "-n", NS],
    &["list", "secrets", "-A"],
    &["list", "secrets", "-n", NS],
    &["get", "secrets/other", "-n", NS],
    &["get", "secrets/memberlist", "-n", "default"],
    &["get", "secrets/memberlist", "-n", "kube-system"],
    &["delete", "services", "-n", "default"],
    &["create", "services", "-n", "default"],
    &["update", "nodes"],
    &["create", "clusterrolebindings"],
    &["*", "*"],
];

#[test]
fn controller_may_write_service_status_and_nothing_beyond_its_needs() {
    let lab = setup();
    check(
        lab,
        "controller",
        &[
            &[
                "update",
                "services",
                "--subresource=status",
                "-n",
                "default",
            ],
            &["patch", "services", "--subresource=status", "-n", "default"],
            &["list", "services", "-A"],
            &["watch", "services", "-A"],
            &["create", "events", "-n", "default"],
            &["get", "configmaps/config", "-n", NS],
            &["create", "leases.coordination.k8s.io", "-n", NS],
            &["update", "leases.coordination.k8s.io", "-n", NS],
        ],
        &[
            NOBODY,
            &[
                // The controller needs no Secret at all, not even the gossip key.
                &["get", "secrets/memberlist", "-n", NS],
                &["get", "configmaps", "-n", "default"],
                &["create", "leases.coordination.k8s.io", "-n", "default"],
                &["patch", "nodeannouncements.ironlb.io"],
            ],
        ]
        .concat(),
    );
}

#[test]
fn speaker_may_read_and_announce_but_not_write_service_status() {
    let lab = setup();
    check(
        lab,
        "speaker",
        &[
            &["list", "services", "-A"],
            &["watch", "nodes"],
            &["list", "endpointslices.discovery.k8s.io", "-A"],
            &["get", "configmaps/config", "-n", NS],
            &["get", "secrets/memberlist", "-n", NS],
            &["create", "events", "-n", "default"],
            &["create", "nodeannouncements.ironlb.io"],
            &["patch", "nodeannouncements.ironlb.io"],
            &[
                "patch",
                "nodeannouncements.ironlb.io",
                "--subresource=status",
            ],
        ],
        &[
            NOBODY,
            &[
                &[
                    "update",
                    "services",
                    "--subresource=status",
                    "-n",
                    "default",
                ],
                &["patch", "services", "--subresource=status", "-n", "default"],
                &["patch", "services", "-n", "default"],
                &["create", "leases.coordination.k8s.io", "-n", NS],
                &["delete", "nodeannouncements.ironlb.io"],
                &["update", "configmaps/config", "-n", NS],
            ],
        ]
        .concat(),
    );
}

/// Every string under `apiGroups`, `resources`, `verbs` or `resourceNames` of every rule.
fn rule_strings(doc: &serde_json::Value, out: &mut BTreeSet<String>) {
    for rule in doc["rules"].as_array().into_iter().flatten() {
        for key in [
            "apiGroups",
            "resources",
            "verbs",
            "resourceNames",
            "nonResourceURLs",
        ] {
            for v in rule[key].as_array().into_iter().flatten() {
                out.insert(v.as_str().unwrap_or("<not a string>").to_owned());
            }
        }
    }
}

#[test]
fn rbac_has_no_wildcards() {
    let text = std::fs::read_to_string(repo_file("deploy/rbac.yaml")).expect("read rbac.yaml");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("rbac.yaml");
    let roles = docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .count();
    assert!(
        roles >= 4,
        "expected the controller's and speaker's roles, found {roles}"
    );
    let mut strings = BTreeSet::new();
    for doc in &docs {
        rule_strings(doc, &mut strings);
    }
    assert!(strings.contains("services/status"));
    let wild: Vec<_> = strings.iter().filter(|s| s.contains('*')).collect();
    assert!(wild.is_empty(), "wildcards in deploy/rbac.yaml: {wild:?}");
}
