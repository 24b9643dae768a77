//! The lab's other routers (`--router gobgp`, `--router frr`) accept BGP from the nodes.
//! Each runs in a private lab beside the shared one, brought down at the end.

use ironlb_tests::{Lab, NodeBird, ok};
use std::time::Duration;

const ROUTE4: &str = "203.0.113.251/32";
const ROUTE6: &str = "2001:db8:2::251/128";

/// Brings up a private lab with `router`, has both nodes announce the same routes, and returns
/// once `established(lab)` and `learned(lab)` hold; then checks the remote reaches a Service
/// on that address through the router when the router installs the route in its kernel.
fn check_router(prefix: &str, router: &str, established: impl Fn(&Lab) -> bool, installs: bool) {
    let lab = Lab::up_private(prefix, &["--nodes", "2", "--router", router]);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(lab.env("IRONLB_LAB_ROUTER_KIND"), router);
        let nodes = lab.nodes();
        let _peers: Vec<NodeBird> = nodes
            .iter()
            .map(|n| NodeBird::start(&lab, n, &[ROUTE4, ROUTE6]))
            .collect();
        lab.wait_for(
            &format!("{router}: both nodes Established with the route"),
            Duration::from_secs(60),
            || established(&lab).then_some(()),
        );
        if installs {
            let r = lab.env("IRONLB_LAB_ROUTER");
            lab.wait_for(
                "an ECMP route in the router's kernel",
                Duration::from_secs(30),
                || {
                    let out = ok(&lab.exec_in(r, &["ip", "route", "show", "203.0.113.251"]));
                    (out.matches("nexthop via").count() == 2).then_some(())
                },
            );
            // A Service answering on that address (kube-proxy forwards a Service's
            // external IPs on every node): the remote reaches it through the router.
            let _ = lab.kubectl(&["create", "namespace", "routers-test"]);
            lab.apply(
                &serde_json::json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "routed", "namespace": "routers-test"},
                    "spec": {"selector": {"app": "routed"},
                             "externalIPs": [ROUTE4.trim_end_matches("/32")],
                             "ports": [{"port": 80, "targetPort": 8080}]},
                })
                .to_string(),
            );
            lab.endpoint_on("routers-test", "routed", &nodes[0]);
            let took = lab.wait_for(
                "the remote to reach the routed address",
                Duration::from_secs(30),
                || lab.ingress_node(lab.env("IRONLB_LAB_REMOTE"), "203.0.113.251", "2"),
            );
            assert!(nodes.contains(&took), "remote reached {took:?}");
        }
    }));
    lab.down();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn gobgp_router_accepts_sessions_from_every_node() {
    check_router(
        "ilg-",
        "gobgp",
        |lab| {
            let r = lab.env("IRONLB_LAB_ROUTER");
            let neighbors = ok(&lab.exec_in(r, &["gobgp", "neighbor"]));
            let rib4 = ok(&lab.exec_in(r, &["gobgp", "global", "rib"]));
            let rib6 = ok(&lab.exec_in(r, &["gobgp", "global", "rib", "-a", "ipv6"]));
            neighbors.matches("Establ").count() == 2
                && rib4.contains(ROUTE4)
                && rib6.contains(ROUTE6)
        },
        false,
    );
}

#[test]
fn frr_router_accepts_sessions_from_every_node_and_installs_ecmp() {
    check_router(
        "ilf-",
        "frr",
        |lab| {
            let ctl = lab.env("IRONLB_LAB_ROUTER_CTL");
            let vtysh = |cmd: &str| {
                ok(&lab.exec_in(
                    lab.env("IRONLB_LAB_ROUTER"),
                    &["vtysh", "--vty_socket", ctl, "-c", cmd],
                ))
            };
            let summary = vtysh("show bgp ipv4 unicast summary json");
            let v: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
            let up = v["peers"]
                .as_object()
                .map(|p| p.values().filter(|p| p["state"] == "Established").count())
                .unwrap_or(0);
            up == 2 && vtysh("show bgp ipv6 unicast").contains("2001:db8:2::251/128")
        },
        true,
    );
}
