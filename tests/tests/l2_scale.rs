//! Layer 2 at scale on the real cluster: one node holds 3,000 IPv6 VIPs.
//!
//! - 3,000 `type: LoadBalancer` Services (IPv6 only, one echo pod behind them all) take their
//!   IPs from a layer-2 pool that only the first node may announce (`node-selectors`); that
//!   node's NodeAnnouncement lists every one of them, and NDP from the client is answered
//!   with its MAC for a sample spread over the pool;
//! - its speaker is stopped, the NodeAnnouncement deleted, and the speaker started again: the
//!   new speaker takes all 3,000 in one burst and lists every one again (before, the L2 part
//!   of the announcement came through a lossy 1,024-slot channel, so such a burst left IPs
//!   out for good), and answers the sample again.
//!
//! Uses the namespace `l2-scale` and adds the pool `l2-scale` (2001:db8:1::1000-1fff) to the
//! lab's ConfigMap; Services, namespace and config are put back and the speaker started at
//! the end, even on failure. Needs root and the built binaries.

use ironlb_tests::{Lab, lab, ok};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const NS: &str = "l2-scale";
const POOL: &str = "l2-scale";
const COUNT: usize = 3_000;
/// `kubectl create` processes run at once.
const CREATORS: usize = 6;

/// Puts the lab back: the speaker started, the Services and namespace deleted, the config
/// restored.
struct Restore {
    lab: &'static Lab,
    node: String,
    config: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = self.lab.ironlb_lab(&["start", "speaker", &self.node]);
        // The Services go before their pool does: a pool removed under them would have the
        // controller move 3,000 Services into the lab's other pools.
        let _ = self
            .lab
            .kubectl(&["delete", "namespace", NS, "--timeout=300s"]);
        let _ = self.lab.set_config_output(&self.config);
    }
}

/// `config` with the pool `l2-scale` added, announced by `node` only; written as JSON (which
/// is YAML).
fn with_scale_pool(config: &str, node: &str) -> String {
    let mut doc: serde_json::Value = if config.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_saphyr::from_str(config).expect("the lab's config is YAML")
    };
    let pool = serde_json::json!({
        "name": POOL, "protocol": "layer2", "auto-assign": false,
        "addresses": ["2001:db8:1::1000-2001:db8:1::1fff"],
        "node-selectors": [{"match-labels": {"kubernetes.io/hostname": node}}],
    });
    let pools = doc
        .as_object_mut()
        .expect("the config is a mapping")
        .entry("address-pools")
        .or_insert_with(|| serde_json::json!([]));
    let list = pools.as_array_mut().expect("address-pools is a list");
    list.retain(|p| p["name"] != POOL);
    list.push(pool);
    doc.to_string()
}

/// Services `first..last` as one List: IPv6 only, from the pool, selecting the pods
/// `app: scale`. kube-proxy leaves them alone (`service-proxy-name`): this test is about
/// announcing, and 3,000 Services in three kube-proxies' nftables cost minutes of CPU.
fn services(first: usize, last: usize) -> String {
    let items: Vec<serde_json::Value> = (first..last)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("s{i:04}"), "namespace": NS,
                             "labels": {"service.kubernetes.io/service-proxy-name": "none"},
                             "annotations": {"metallb.universe.tf/address-pool": POOL}},
                "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"],
                         "ipFamilyPolicy": "SingleStack",
                         "allocateLoadBalancerNodePorts": false,
                         "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
                         "selector": {"app": "scale"}},
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// Creates the Services with [`CREATORS`] `kubectl create` at once (each sends its
/// objects one by one).
fn create_services(lab: &Lab) {
    let chunk = COUNT.div_ceil(CREATORS);
    std::thread::scope(|scope| {
        let creators: Vec<_> = (0..CREATORS)
            .map(|c| {
                scope.spawn(move || {
                    let file = std::env::temp_dir()
                        .join(format!("ironlb-l2-scale-{}-{c}.json", std::process::id()));
                    let list = services(c * chunk, ((c + 1) * chunk).min(COUNT));
                    std::fs::write(&file, list).expect("writing a Service list");
                    let out = lab.kubectl(&["create", "-f", &file.to_string_lossy()]);
                    let _ = std::fs::remove_file(&file);
                    ok(&out);
                })
            })
            .collect();
        for c in creators {
            c.join().expect("a creator panicked");
        }
    });
}

/// The IPs in the Services' `status.loadBalancer.ingress`.
fn service_ips(lab: &Lab) -> BTreeSet<String> {
    let out = lab.kubectl(&["-n", NS, "get", "services", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["status"]["loadBalancer"]["ingress"].as_array().cloned())
        .flatten()
        .filter_map(|i| i["ip"].as_str().map(str::to_owned))
        .collect()
}

/// The IPs `node`'s NodeAnnouncement lists in layer 2 from this test's pool.
fn listed(lab: &Lab, node: &str) -> BTreeSet<String> {
    lab.node_announcements(node)
        .iter()
        .filter(|a| a["mode"] == "layer2")
        .filter_map(|a| a["ip"].as_str())
        .filter(|ip| ip.starts_with("2001:db8:1::1"))
        .map(str::to_owned)
        .collect()
}

/// Polls `check` every 2 s (each poll reads thousands of objects) until it holds, or panics
/// after `limit` with `what`; returns how long it took.
fn poll(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_secs(2));
    }
    start.elapsed()
}

/// Every `step`-th of `ips`, and the last.
fn sample(ips: &BTreeSet<String>, step: usize) -> Vec<String> {
    let mut picked: Vec<String> = ips.iter().step_by(step).cloned().collect();
    picked.extend(ips.iter().next_back().cloned());
    picked
}

fn assert_ndp_answers(lab: &Lab, ips: &[String], node: &str, when: &str) {
    for ip in ips {
        let mac = lab.ndisc6(ip);
        let by = mac.as_deref().and_then(|m| lab.node_of_mac(m));
        assert_eq!(by.as_deref(), Some(node), "NDP for {ip} {when}: {mac:?}");
    }
}

#[test]
fn one_node_lists_and_answers_3000_ipv6_vips_also_after_its_speaker_restarts() {
    let lab = lab();
    let node = lab.nodes()[0].clone();
    let restore = Restore {
        lab,
        node: node.clone(),
        config: lab.config_text().unwrap_or_default(),
    };
    let config = with_scale_pool(&restore.config, &node);
    lab.set_config(&config);
    let _ = lab.kubectl(&["create", "namespace", NS]);
    lab.endpoint_on(NS, "scale", &node);

    let created = Instant::now();
    create_services(lab);
    eprintln!("{COUNT} Services created in {:?}", created.elapsed());

    let mut ips = BTreeSet::new();
    let took = poll(
        "every Service to get an IP",
        Duration::from_secs(300),
        || {
            ips = service_ips(lab);
            ips.len() >= COUNT
        },
    );
    eprintln!("{COUNT} IPs allocated {took:?} after the Services were created");
    assert_eq!(ips.len(), COUNT, "each Service has its own IP");

    let took = poll(
        &format!("{node}'s NodeAnnouncement to list all {COUNT} IPs"),
        Duration::from_secs(300),
        || listed(lab, &node) == ips,
    );
    eprintln!("all {COUNT} listed {took:?} after the last IP was allocated");
    let probe = sample(&ips, COUNT / 8);
    assert_ndp_answers(lab, &probe, &node, "before the restart");

    ok(&lab.ironlb_lab(&["stop", "speaker", &node]));
    ok(&lab.kubectl(&["delete", "nodeannouncement", &node, "--ignore-not-found"]));
    let started = Instant::now();
    ok(&lab.ironlb_lab(&["start", "speaker", &node]));
    let took = poll(
        &format!("{node}'s restarted speaker to list all {COUNT} IPs"),
        Duration::from_secs(180),
        || listed(lab, &node) == ips,
    );
    eprintln!(
        "after the restart, all {COUNT} listed {:?} after `lab start speaker` ({took:?} after it returned)",
        started.elapsed()
    );
    assert_ndp_answers(lab, &probe, &node, "after the restart");
    drop(restore);
}
