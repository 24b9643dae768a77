//! The lab itself: control plane, nodes (kubelet, containerd, kube-proxy), LAN, router, RBAC,
//! lab commands.
//! Needs root; runs against the shared lab (`ironlb_tests::lab()`).

use ironlb_tests::{NodeBird, lab, ok};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("kubectl printed JSON")
}

#[test]
fn api_server_answers_from_root_namespace_and_from_a_node() {
    let lab = lab();
    assert_eq!(ok(&lab.kubectl(&["get", "--raw", "/readyz"])).trim(), "ok");
    // Inside a node, over the LAN, with the speaker's own ServiceAccount token (least
    // privilege).
    let state = lab.env("IRONLB_LAB_STATE");
    let kubeconfig = format!("{state}/speaker.kubeconfig");
    let node = &lab.nodes()[0];
    let out = lab.exec_in(
        node,
        &[
            lab.env("IRONLB_LAB_KUBECTL"),
            "--kubeconfig",
            &kubeconfig,
            "--server",
            lab.env("IRONLB_LAB_APISERVER"),
            "get",
            "nodes",
            "-o",
            "name",
        ],
    );
    let names = ok(&out);
    assert!(
        names.contains(&format!("node/{node}")),
        "nodes seen from {node}: {names}"
    );
}

#[test]
fn nodes_exist_with_lan_addresses_and_are_ready() {
    let lab = lab();
    let nodes = json(&lab.kubectl(&["get", "nodes", "-o", "json"]));
    for (i, name) in lab.nodes().iter().enumerate() {
        let node = nodes["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|n| n["metadata"]["name"] == name.as_str())
            })
            .unwrap_or_else(|| panic!("no Node {name}"));
        let ready = node["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"].clone());
        assert_eq!(ready, Some(Value::from("True")), "{name} is not Ready");
        let internal: Vec<&str> = node["status"]["addresses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|a| a["type"] == "InternalIP")
                    .filter_map(|a| a["address"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let v4 = format!("192.0.2.{}", 11 + i);
        let v6 = format!("2001:db8:1::{}", 11 + i);
        assert_eq!(
            internal,
            [v4.as_str(), v6.as_str()],
            "InternalIPs of {name}"
        );
        assert_eq!(
            node["metadata"]["labels"]["kubernetes.io/hostname"],
            name.as_str()
        );
        // The node's namespace really holds that address.
        let addrs = ok(&lab.exec_in(name, &["ip", "-o", "addr", "show", "dev", "eth0"]));
        assert!(
            addrs.contains(&format!("{v4}/24")) && addrs.contains(&format!("{v6}/64")),
            "{addrs}"
        );
    }
}

fn mac_of(ns: &str, iface: &str) -> String {
    let out = ok(&lab().exec_in(ns, &["cat", &format!("/sys/class/net/{iface}/address")]));
    out.trim().to_owned()
}

#[test]
fn client_resolves_a_node_address_over_the_lan() {
    let lab = lab();
    let client = lab.env("IRONLB_LAB_CLIENT");
    let iface = lab.env("IRONLB_LAB_CLIENT_IF");
    let node = &lab.nodes()[0];
    let out = lab.exec_in(
        client,
        &["arping", "-c", "1", "-w", "3", "-I", iface, "192.0.2.11"],
    );
    let text = ok(&out);
    let mac = mac_of(node, "eth0");
    assert!(
        text.to_lowercase().contains(&mac),
        "arping answer {text:?} is not from {node} ({mac})"
    );
    // IPv6: neighbour discovery through the kernel.
    ok(&lab.exec_in(
        client,
        &["ping", "-6", "-c", "1", "-W", "3", "2001:db8:1::11"],
    ));
    let neigh = ok(&lab.exec_in(
        client,
        &["ip", "-6", "neigh", "show", "2001:db8:1::11", "dev", iface],
    ));
    assert!(
        neigh.contains(&mac),
        "neighbour entry {neigh:?} is not {node}'s MAC {mac}"
    );
}

#[test]
fn pool_address_delivered_to_a_node_is_served_by_kube_proxy_but_never_owned_by_it() {
    let lab = lab();
    let client = lab.env("IRONLB_LAB_CLIENT");
    let iface = lab.env("IRONLB_LAB_CLIENT_IF");
    let nodes = lab.nodes();
    let node = nodes.last().cloned().expect("nodes");
    let mac = mac_of(&node, "eth0");
    // A Service with the pool addresses as its load-balancer IPs, its one endpoint on the
    // first node: kube-proxy on every node forwards them.
    let (vip4, vip6) = ("192.0.2.253", "2001:db8:1::2fe");
    let svc = ironlb_tests::lb_service(
        lab,
        "lab-test",
        "lab-kube-proxy",
        &format!("{vip4},{vip6}"),
        serde_json::json!({"ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack"}),
    );
    lab.endpoint_on(&svc.namespace, &svc.name, &nodes[0]);
    lab.wait_for(
        "both IPs in the Service's status",
        Duration::from_secs(30),
        || (lab.service_ips(&svc.namespace, &svc.name).len() == 2).then_some(()),
    );
    // The node's kernel owns no pool address (strict ARP): nothing in its address list.
    let addrs = ok(&lab.exec_in(&node, &["ip", "-o", "addr"]));
    assert!(!addrs.contains(vip4) && !addrs.contains(vip6), "{addrs}");
    // Deliver the pool addresses to the last node by hand, whoever announces them.
    for (vip, host) in [(vip4, vip4.to_owned()), (vip6, format!("[{vip6}]"))] {
        ok(&lab.exec_in(
            client,
            &[
                "ip",
                "neigh",
                "replace",
                vip,
                "lladdr",
                &mac,
                "dev",
                iface,
                "nud",
                "permanent",
            ],
        ));
        let took = lab.ingress_node(client, &host, "5");
        ok(&lab.exec_in(client, &["ip", "neigh", "del", vip, "dev", iface]));
        assert_eq!(took.as_deref(), Some(node.as_str()), "answer from {host}");
    }
}

#[test]
fn router_accepts_bgp_from_nodes_and_installs_routes_with_ecmp() {
    let lab = lab();
    assert_eq!(
        lab.env("IRONLB_LAB_ROUTER_KIND"),
        "bird",
        "this test drives the BIRD router"
    );
    let ctl = lab.env("IRONLB_LAB_ROUTER_CTL");
    let router = lab.env("IRONLB_LAB_ROUTER");
    let nodes = lab.nodes();
    assert!(nodes.len() >= 2, "needs two nodes");
    // The last two nodes announce the same /32 and /128.
    let (route4, route6) = ("203.0.113.250/32", "2001:db8:2::250/128");
    let speakers: Vec<(String, NodeBird)> = nodes[nodes.len() - 2..]
        .iter()
        .map(|n| {
            let i = nodes.iter().position(|m| m == n).expect("node index") + 11;
            (
                format!("192.0.2.{i}"),
                NodeBird::start(lab, n, &[route4, route6]),
            )
        })
        .collect();
    let birdc = |args: &[&str]| {
        ok(&Command::new("birdc")
            .arg("-s")
            .arg(ctl)
            .args(args)
            .output()
            .expect("birdc"))
    };
    lab.wait_for(
        "two Established BGP sessions on the router",
        Duration::from_secs(60),
        || {
            let protocols = birdc(&["show", "protocols", "all"]);
            let established = speakers
                .iter()
                .filter(|(v4, _)| {
                    protocols.split("\n\n").any(|p| {
                        p.contains("Established")
                            && p.contains(&format!("Neighbor address: {v4}\n"))
                    })
                })
                .count();
            (established == speakers.len()).then_some(())
        },
    );
    let kernel = lab.wait_for(
        "an ECMP route to 203.0.113.250 in the router's kernel",
        Duration::from_secs(30),
        || {
            let r = ok(&lab.exec_in(router, &["ip", "route", "show", "203.0.113.250"]));
            (r.matches("nexthop via").count() == 2).then_some(r)
        },
    );
    assert!(birdc(&["show", "route", "for", "203.0.113.250"]).contains("203.0.113.250/32"));
    for (v4, _) in &speakers {
        assert!(kernel.contains(&format!("via {v4} ")), "{kernel}");
    }
    let kernel6 = lab.wait_for(
        "an IPv6 route to 2001:db8:2::250",
        Duration::from_secs(30),
        || {
            let r = ok(&lab.exec_in(router, &["ip", "-6", "route", "show", "2001:db8:2::250"]));
            r.contains("via 2001:db8:1::").then_some(r)
        },
    );
    assert!(
        kernel6.contains("nexthop") || kernel6.contains("via"),
        "{kernel6}"
    );
    drop(speakers);
    lab.wait_for(
        "the route to go once the sessions close",
        Duration::from_secs(30),
        || {
            ok(&lab.exec_in(router, &["ip", "route", "show", "203.0.113.250"]))
                .trim()
                .is_empty()
                .then_some(())
        },
    );
}

#[test]
fn rbac_gives_components_what_they_need_and_no_more() {
    let lab = lab();
    let ns = lab.env("IRONLB_LAB_NAMESPACE");
    let can = |sa: &str, args: &[&str]| {
        let who = format!("system:serviceaccount:{ns}:{sa}");
        let mut full = vec!["auth", "can-i", "--as", &who];
        full.extend_from_slice(args);
        let out = lab.kubectl(&full);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let yes: &[(&str, &[&str])] = &[
        (
            "controller",
            &["patch", "services", "--subresource=status", "-A"],
        ),
        ("controller", &["watch", "services", "-A"]),
        (
            "controller",
            &["create", "events.events.k8s.io", "-n", "default"],
        ),
        (
            "controller",
            &["update", "leases.coordination.k8s.io", "-n", ns],
        ),
        ("controller", &["list", "configmaps", "-n", ns]),
        (
            "speaker",
            &["watch", "endpointslices.discovery.k8s.io", "-A"],
        ),
        ("speaker", &["list", "nodes"]),
        ("speaker", &["get", "secrets/memberlist", "-n", ns]),
        ("speaker", &["create", "events", "-n", "default"]),
    ];
    let no: &[(&str, &[&str])] = &[
        ("controller", &["delete", "services", "-A"]),
        ("controller", &["list", "configmaps", "-n", "default"]),
        ("controller", &["get", "secrets", "-n", ns]),
        (
            "speaker",
            &["patch", "services", "--subresource=status", "-A"],
        ),
        ("speaker", &["get", "secrets/other", "-n", ns]),
        ("speaker", &["list", "secrets", "-n", ns]),
        ("speaker", &["update", "nodes"]),
    ];
    for (sa, args) in yes {
        assert!(can(sa, args), "{sa} should be allowed: {args:?}");
    }
    for (sa, args) in no {
        assert!(!can(sa, args), "{sa} should be denied: {args:?}");
    }
    // MetalLB's kinds, read in place, whether or not its CRDs are installed (`can-i` needs
    // them served; a SubjectAccessReview does not).
    let reviewed = |sa: &str, verb: &str, resource: &str| {
        let review = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": format!("system:serviceaccount:{ns}:{sa}"),
                     "groups": ["system:serviceaccounts", "system:authenticated"],
                     "resourceAttributes": {"group": "metallb.io", "resource": resource,
                                            "verb": verb, "namespace": "metallb-system"}}});
        let file =
            std::env::temp_dir().join(format!("ironlb-test-review-{sa}-{verb}-{resource}.json"));
        std::fs::write(&file, review.to_string()).expect("writing the review");
        let out = lab.kubectl(&["create", "-f", &file.to_string_lossy(), "-o", "json"]);
        json(&out)["status"]["allowed"] == true
    };
    for sa in ["controller", "speaker"] {
        for resource in [
            "ipaddresspools",
            "l2advertisements",
            "bgppeers",
            "bfdprofiles",
        ] {
            assert!(
                reviewed(sa, "watch", resource),
                "{sa} should watch {resource}"
            );
            assert!(
                !reviewed(sa, "update", resource),
                "{sa} should not update {resource}"
            );
        }
    }
    let secret = json(&lab.kubectl(&["-n", ns, "get", "secret", "memberlist", "-o", "json"]));
    assert!(
        secret["data"]["secretkey"]
            .as_str()
            .is_some_and(|k| k.len() >= 64),
        "memberlist secretkey"
    );
}

#[test]
fn link_down_pulls_the_nodes_cable_and_up_restores_it() {
    let lab = lab();
    let node = lab.nodes().last().cloned().expect("nodes");
    let carrier = || {
        ok(&lab.exec_in(&node, &["cat", "/sys/class/net/eth0/carrier"]))
            .trim()
            .to_owned()
    };
    ok(&lab.ironlb_lab(&["link", &node, "down"]));
    let down = carrier();
    ok(&lab.ironlb_lab(&["link", &node, "up"]));
    assert_eq!(down, "0", "{node} still has carrier after `lab link down`");
    lab.wait_for("carrier back", Duration::from_secs(5), || {
        (carrier() == "1").then_some(())
    });
    ok(&lab.exec_in(&node, &["ping", "-c", "1", "-W", "3", "192.0.2.1"]));
}

#[test]
fn bad_lab_arguments_give_one_clear_line() {
    let lab = lab();
    let out = lab.ironlb_lab(&["link", "no-such-node", "down"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no node no-such-node"), "{err}");
}

#[test]
fn up_again_is_idempotent_and_prints_the_same_exports() {
    let lab = lab();
    let again = ok(&lab.ironlb_lab(&["up"]));
    let env = ironlb_tests::parse_exports(&again);
    assert_eq!(&env, lab.exports());
    let printed = ironlb_tests::parse_exports(&ok(&lab.ironlb_lab(&["env"])));
    assert_eq!(&printed, lab.exports());
    for name in [
        "KUBECONFIG",
        "IRONLB_LAB_NAMESPACE",
        "IRONLB_LAB_NODES",
        "IRONLB_LAB_CLIENT",
        "IRONLB_LAB_CLIENT_IF",
        "IRONLB_LAB_REMOTE",
        "IRONLB_LAB_ROUTER",
        "IRONLB_LAB_ROUTER_KIND",
        "IRONLB_LAB_ROUTER_CTL",
        "IRONLB_LAB_ROUTER_V4",
        "IRONLB_LAB_ROUTER_V6",
        "IRONLB_LAB_ROUTER_ASN",
        "IRONLB_LAB_NODE_ASN",
        "IRONLB_LAB_CONTROLLER_METRICS",
        "IRONLB_LAB_HELM",
    ] {
        assert!(!lab.env(name).is_empty(), "{name} is empty");
    }
    assert_eq!(lab.env("IRONLB_LAB_INSTALL"), "kustomize");
    let helm = Command::new(lab.env("IRONLB_LAB_HELM"))
        .arg("version")
        .output()
        .unwrap_or_else(|e| panic!("running the lab's helm: {e}"));
    let helm = ok(&helm);
    assert!(helm.contains("v3."), "{helm}");
}
