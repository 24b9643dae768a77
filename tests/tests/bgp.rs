//! BGP end to end in the lab, with the lab's real controller, speakers, kube-apiserver,
//! BIRD router (AS 64500) and remote host:
//! - `Cluster` policy: once the Service has a ready endpoint, BIRD holds one path per
//!   node (IPv4 and IPv6) with each node's address as next hop; before, none; the remote
//!   host reaches the VIP through the router; host routes carry the advertisement's
//!   community and the /24 aggregate is announced too; the speakers export per-peer
//!   session metrics and show the IPs and sessions in their NodeAnnouncements (read
//!   back with `ironlb status --node`) and in `nodeAssigned` Events; deleting the Service withdraws the routes;
//! - `Local` policy: only the node with the endpoint announces, and the path follows the
//!   endpoint to another node.
//!
//! Endpoints are echo pods (`Lab::endpoint_on`); the EndpointSlice controller makes the slices.
//! The tests add the peers (the lab router, v4 and v6) and the pool `lab-bgp`
//! (203.0.113.0/24, 2001:db8:2::/64, not auto-assigned) to the lab's ConfigMap `config`,
//! keeping whatever it held (the layer-2 tests' pool stays), and put the original text
//! back at the end, even on failure; Services and their pods in the namespace `bgp-test` are
//! deleted too. The tests run one at a time. Needs root, the lab's BIRD router, and the
//! IronLB image of this checkout (`deploy/image/build.sh`; a lab started before the build
//! keeps the image it loaded until `ironlb lab down`).

use ironlb_tests::{Lab, ServiceGuard, lab, lb_service, ok};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const NS: &str = "bgp-test";
const LAB_NS: &str = "ironlb-system";
/// How long routes may take to show up in (or leave) BIRD: config and Service watch,
/// session establishment with a 1 s first retry, UPDATE.
const ROUTE_WAIT: Duration = Duration::from_secs(30);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The lab's config with the BGP peers and pool added; puts the original back on drop.
struct ConfigGuard {
    lab: &'static Lab,
    /// The ConfigMap's text before (`None`: there was no ConfigMap).
    original: Option<String>,
}

impl ConfigGuard {
    fn add_bgp(lab: &'static Lab) -> Self {
        let original = lab.config_text();
        let text = original.as_deref().unwrap_or("");
        // The config is YAML; JSON is YAML too, so the merged document is written as JSON.
        let mut doc: serde_json::Value = if text.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_saphyr::from_str(text).expect("the lab's config is YAML")
        };
        let map = doc.as_object_mut().expect("the lab's config is a mapping");
        let routers = [
            lab.env("IRONLB_LAB_ROUTER_V4"),
            lab.env("IRONLB_LAB_ROUTER_V6"),
        ];
        // A run killed before its cleanup left its additions: take them out (and restore
        // the config without them).
        let mut original = original;
        let mut leftover = false;
        if let Some(pools) = map.get_mut("address-pools").and_then(|p| p.as_array_mut()) {
            let before = pools.len();
            pools.retain(|p| p["name"] != "lab-bgp");
            leftover |= pools.len() != before;
        }
        if leftover && let Some(peers) = map.get_mut("peers").and_then(|p| p.as_array_mut()) {
            peers.retain(|p| !routers.iter().any(|r| p["peer-address"] == *r));
        }
        if leftover {
            original = Some(serde_json::Value::Object(map.clone()).to_string());
        }
        let router_asn: u32 = lab.env("IRONLB_LAB_ROUTER_ASN").parse().expect("ASN");
        let node_asn: u32 = lab.env("IRONLB_LAB_NODE_ASN").parse().expect("ASN");
        let peers = map.entry("peers").or_insert_with(|| serde_json::json!([]));
        for addr in routers {
            if let Some(list) = peers.as_array_mut() {
                list.push(serde_json::json!({
                    "peer-address": addr, "peer-asn": router_asn, "my-asn": node_asn,
                }));
            }
        }
        let pools = map
            .entry("address-pools")
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = pools.as_array_mut() {
            list.push(serde_json::json!({
                "name": "lab-bgp", "protocol": "bgp", "auto-assign": false,
                "addresses": ["203.0.113.0/24", "2001:db8:2::/64"],
                // Each IP as a host route with a community, plus the IPv4 /24 aggregate;
                // for IPv6 both give the /128, merged into one route.
                "bgp-advertisements": [
                    {"aggregation-length": 32, "communities": ["64512:100"]},
                    {"aggregation-length": 24},
                ],
            }));
        }
        lab.set_config(&doc.to_string());
        ConfigGuard { lab, original }
    }
}

impl Drop for ConfigGuard {
    fn drop(&mut self) {
        match &self.original {
            Some(text) => self.lab.set_config(text),
            None => {
                let _ = self
                    .lab
                    .kubectl(&["-n", LAB_NS, "delete", "configmap", "config"]);
            }
        }
    }
}

/// A LoadBalancer Service requesting `ips`, with `extra` merged into its spec; waits until
/// the controller has put every IP in its status.
fn service(lab: &'static Lab, name: &str, ips: &[&str], extra: serde_json::Value) -> ServiceGuard {
    let guard = lb_service(lab, NS, name, &ips.join(","), extra);
    lab.wait_for(
        &format!("the controller to give {NS}/{name} {ips:?}"),
        Duration::from_secs(30),
        || {
            let got = lab.service_ips(NS, name);
            ips.iter()
                .all(|ip| got.iter().any(|g| g == ip))
                .then_some(())
        },
    );
    guard
}

/// BIRD's `show route all PREFIX`.
fn bird_route(lab: &Lab, prefix: &str) -> String {
    assert_eq!(
        lab.env("IRONLB_LAB_ROUTER_KIND"),
        "bird",
        "these tests read the lab's BIRD router"
    );
    let ctl = lab.env("IRONLB_LAB_ROUTER_CTL");
    let out = Command::new("birdc")
        .args(["-s", ctl, "show", "route", "all", prefix])
        .output()
        .expect("birdc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The next hops of BIRD's paths for `prefix` (empty: BIRD has no route).
fn bird_next_hops(lab: &Lab, prefix: &str) -> BTreeSet<String> {
    bird_route(lab, prefix)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("BGP.next_hop:"))
        // IPv6 next hops may list the link-local address after the global one.
        .filter_map(|hops| hops.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Waits until BIRD's next hops for `prefix` are exactly `want`.
fn wait_next_hops(lab: &Lab, prefix: &str, want: &BTreeSet<String>, what: &str) {
    let mut last = BTreeSet::new();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lab.wait_for(what, ROUTE_WAIT, || {
            last = bird_next_hops(lab, prefix);
            (last == *want).then_some(())
        })
    }));
    assert!(
        found.is_ok(),
        "{what}: BIRD's next hops for {prefix} are {last:?}, want {want:?} (are the lab's \
         speakers built with BGP? `ironlb lab stop|start speaker NODE` restarts them)"
    );
}

/// Each node's InternalIP of the family of `v6`, by node name.
fn node_addresses(lab: &Lab, v6: bool) -> Vec<(String, String)> {
    lab.nodes()
        .into_iter()
        .map(|n| {
            let out = ok(&lab.kubectl(&[
                "get",
                "node",
                &n,
                "-o",
                "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
            ]));
            let addr = out
                .split_whitespace()
                .find(|a| a.contains(':') == v6)
                .unwrap_or_else(|| panic!("{n} has no InternalIP (v6: {v6}): {out}"))
                .to_owned();
            (n, addr)
        })
        .collect()
}

/// The node that took in a request from the remote host to `host` (`[v6]` for IPv6), or
/// what went wrong.
/// kube-proxy programs the IP about when IronLB announces it: a few tries.
fn curl_from_remote(lab: &Lab, host: &str) -> String {
    (0..10)
        .find_map(|_| {
            let took = lab.ingress_node(lab.env("IRONLB_LAB_REMOTE"), host, "2");
            if took.is_none() {
                std::thread::sleep(Duration::from_millis(500));
            }
            took
        })
        .unwrap_or_else(|| format!("no answer from {host}"))
}

#[test]
fn cluster_policy_every_node_announces_and_the_remote_reaches_the_vip() {
    let _serial = serial();
    let lab = lab();
    let _config = ConfigGuard::add_bgp(lab);
    let (vip4, vip6) = ("203.0.113.10", "2001:db8:2::10");
    let (route4, route6) = ("203.0.113.10/32", "2001:db8:2::10/128");
    let svc = service(
        lab,
        "bgp-cluster",
        &[vip4, vip6],
        serde_json::json!({"ipFamilies": ["IPv4", "IPv6"],
                           "ipFamilyPolicy": "RequireDualStack"}),
    );

    // No ready endpoint anywhere: nobody announces. Give the speakers time to (wrongly) act.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        bird_next_hops(lab, route4),
        BTreeSet::new(),
        "a Service without endpoints is announced"
    );

    lab.endpoint_on(NS, &svc.name, &lab.nodes()[0]);
    let all4: BTreeSet<String> = node_addresses(lab, false)
        .into_iter()
        .map(|a| a.1)
        .collect();
    let all6: BTreeSet<String> = node_addresses(lab, true).into_iter().map(|a| a.1).collect();
    wait_next_hops(lab, route4, &all4, "one IPv4 path per node");
    wait_next_hops(lab, route6, &all6, "one IPv6 path per node");
    wait_next_hops(
        lab,
        "203.0.113.0/24",
        &all4,
        "the /24 aggregate from every node",
    );
    // The host routes carry the advertisement's community (one per path), the aggregate none.
    for route in [route4, route6] {
        let text = bird_route(lab, route);
        assert_eq!(
            text.matches("BGP.community: (64512,100)").count(),
            3,
            "{route} in BIRD:\n{text}"
        );
    }
    let agg = bird_route(lab, "203.0.113.0/24");
    assert!(!agg.contains("BGP.community"), "the aggregate:\n{agg}");

    let nodes = lab.nodes();
    for url in [vip4.to_owned(), format!("[{vip6}]")] {
        let body = curl_from_remote(lab, &url);
        assert!(
            nodes.contains(&body),
            "{url} from the remote host answered {body:?}"
        );
    }

    // Each speaker reports its sessions up and the prefixes announced on each (the /32
    // and the /24 to the IPv4 peer, the /128 to the IPv6 one); metrics follow the
    // sessions within a second.
    let v4 = format!("{}:179", lab.env("IRONLB_LAB_ROUTER_V4"));
    let v6 = format!("[{}]:179", lab.env("IRONLB_LAB_ROUTER_V6"));
    for node in &nodes {
        let want = [
            format!("ironlb_bgp_session_up{{peer=\"{v4}\"}} 1"),
            format!("ironlb_bgp_session_up{{peer=\"{v6}\"}} 1"),
            format!("ironlb_bgp_prefixes_announced{{peer=\"{v4}\"}} 2"),
            format!("ironlb_bgp_prefixes_announced{{peer=\"{v6}\"}} 1"),
            format!("ironlb_announced_ips{{node=\"{node}\",protocol=\"bgp\"}} 2"),
        ];
        let mut text = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lab.wait_for("the BGP metrics", Duration::from_secs(5), || {
                text = ok(&lab.exec_in(
                    node,
                    &["curl", "-s", "-m", "5", "http://127.0.0.1:7472/metrics"],
                ));
                want.iter().all(|l| text.contains(l)).then_some(())
            })
        }));
        let missing: Vec<&String> = want.iter().filter(|l| !text.contains(*l)).collect();
        assert!(found.is_ok(), "{node}: metrics lack {missing:?}:\n{text}");
    }

    // Every node's NodeAnnouncement shows both sessions Established and each IP advertised to
    // the router's address of its family; `ironlb status --node` reads it back.
    let (peer4, peer6) = (
        lab.env("IRONLB_LAB_ROUTER_V4"),
        lab.env("IRONLB_LAB_ROUTER_V6"),
    );
    for node in &nodes {
        let mut last = serde_json::Value::Null;
        let shown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lab.wait_for(
                "the node's NodeAnnouncement",
                Duration::from_secs(15),
                || {
                    let out = Command::new(lab.ironlb())
                        .env("KUBECONFIG", lab.env("KUBECONFIG"))
                        .args(["status", "--node", node, "-o", "json"])
                        .output()
                        .expect("run ironlb status");
                    last = serde_json::from_slice(&out.stdout).unwrap_or_default();
                    let peers_of = |ip: &str| {
                        last["announcements"]
                            .as_array()?
                            .iter()
                            .find(|a| a["ip"] == ip && a["mode"] == "bgp")
                            .map(|a| a["peers"].clone())
                    };
                    let states: BTreeSet<String> = last["bgpSessions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| format!("{} {}", s["peer"].as_str().unwrap_or(""), s["state"]))
                        .collect();
                    (peers_of(vip4) == Some(serde_json::json!([peer4]))
                        && peers_of(vip6) == Some(serde_json::json!([peer6]))
                        && states
                            == BTreeSet::from([
                                format!("{peer4} \"Established\""),
                                format!("{peer6} \"Established\""),
                            ]))
                    .then_some(())
                },
            )
        }));
        assert!(
            shown.is_ok(),
            "{node}: `ironlb status --node` shows {last:#}"
        );
    }
    // And each node told the Service so in an Event.
    lab.wait_for(
        "a nodeAssigned Event from every node",
        Duration::from_secs(15),
        || {
            let text = lab.event_messages(NS, &svc.name, "nodeAssigned");
            nodes
                .iter()
                .all(|n| text.contains(&format!("{vip4} from node {n} over BGP to {peer4}")))
                .then_some(())
        },
    );

    drop(svc);
    wait_next_hops(lab, route4, &BTreeSet::new(), "the IPv4 route withdrawn");
    wait_next_hops(lab, route6, &BTreeSet::new(), "the IPv6 route withdrawn");
    wait_next_hops(
        lab,
        "203.0.113.0/24",
        &BTreeSet::new(),
        "the aggregate withdrawn",
    );
}

#[test]
fn local_policy_only_nodes_with_an_endpoint_announce() {
    let _serial = serial();
    let lab = lab();
    let _config = ConfigGuard::add_bgp(lab);
    let vip = "203.0.113.11";
    let route = "203.0.113.11/32";
    let svc = service(
        lab,
        "bgp-local",
        &[vip],
        serde_json::json!({"externalTrafficPolicy": "Local"}),
    );
    let addrs = node_addresses(lab, false);
    let addr_of = |node: &str| -> BTreeSet<String> {
        addrs
            .iter()
            .filter(|(n, _)| n == node)
            .map(|(_, a)| a.clone())
            .collect()
    };

    let nodes = lab.nodes();
    let (first, second) = (nodes[0].as_str(), nodes[1].as_str());
    lab.endpoint_on(NS, &svc.name, first);
    wait_next_hops(
        lab,
        route,
        &addr_of(first),
        "a path from the first node only",
    );
    // Other nodes had the same view: they must stay silent.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bird_next_hops(lab, route), addr_of(first));
    for _ in 0..3 {
        assert_eq!(curl_from_remote(lab, vip), first);
    }

    // The endpoint moves: so does the path.
    lab.endpoint_on(NS, &svc.name, second);
    wait_next_hops(
        lab,
        route,
        &addr_of(second),
        "the path moved to the second node",
    );
    assert_eq!(curl_from_remote(lab, vip), second);

    drop(svc);
    wait_next_hops(lab, route, &BTreeSet::new(), "the route withdrawn");
}
