//! The controller against the lab's real kube-apiserver.
//!
//! Each test runs its own `ironlb-controller` (the built binary, with the lab's `controller`
//! ServiceAccount kubeconfig, so RBAC is exercised) on its own ConfigMap, Lease and
//! `loadBalancerClass`, so tests run in parallel and never touch the lab's own controller
//! or other suites' Services. Services live in the namespace `ctl-test` and are deleted at
//! the end. Needs `cargo build -p ironlb-controller -p ironlb-cli` first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironlb_tests::{Lab, lab};

mod audit;
use audit::Auditor;

const NS: &str = "ctl-test";
const LAB_NS: &str = "ironlb-system";

/// One test's controller and the names it owns.
struct Ctl {
    lab: &'static Lab,
    name: String,
    children: Vec<Child>,
    /// Base URL of each replica's metrics endpoint.
    urls: Vec<String>,
    services: BTreeSet<String>,
}

impl Ctl {
    /// Namespaces and ConfigMap ready, config `config` applied, one controller started.
    fn new(name: &str, config: &str) -> Self {
        let lab = lab();
        let _ = lab.kubectl(&["create", "namespace", NS]);
        let mut ctl = Ctl {
            lab,
            name: name.to_owned(),
            children: Vec::new(),
            urls: Vec::new(),
            services: BTreeSet::new(),
        };
        ctl.set_config(config);
        ctl.start();
        ctl.wait_leader(0);
        ctl
    }

    fn class(&self) -> String {
        format!("ctl.ironlb.io/{}", self.name)
    }

    fn config_name(&self) -> String {
        format!("ctl-{}", self.name)
    }

    /// Starts one more replica.
    fn start(&mut self) {
        let bin = controller_bin(self.lab);
        let port = free_port();
        let log = std::fs::File::create(format!(
            "/tmp/ctl-test-{}-{}.log",
            self.name,
            self.children.len()
        ))
        .unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(&bin)
            .env(
                "KUBECONFIG",
                format!("{}/controller.kubeconfig", self.lab.env("IRONLB_LAB_STATE")),
            )
            .env(
                "POD_NAME",
                format!("ctl-{}-{}", self.name, self.children.len()),
            )
            .env("RUST_LOG", "info")
            .args([
                "--namespace",
                LAB_NS,
                "--config-name",
                &self.config_name(),
                "--lb-class",
                &self.class(),
                "--only-lb-class",
                "--lease-name",
                &self.config_name(),
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        self.children.push(child);
        self.urls.push(format!("http://127.0.0.1:{port}"));
    }

    /// Stops replica `i` with SIGTERM (it releases its Lease).
    fn stop(&mut self, i: usize) {
        // Already exited (and reaped): its pid may belong to someone else now.
        if matches!(self.children[i].try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.children[i].id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.children[i].wait();
    }

    /// Waits until replica `i` holds the Lease.
    fn wait_leader(&self, i: usize) {
        let want = format!("ctl-{}-{i}", self.name);
        self.lab
            .wait_for(&format!("{want} to lead"), Duration::from_secs(30), || {
                let out = self.lab.kubectl(&[
                    "-n",
                    LAB_NS,
                    "get",
                    "lease",
                    &self.config_name(),
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ]);
                (String::from_utf8_lossy(&out.stdout) == want).then_some(())
            });
    }

    /// Kills replica `i` (SIGKILL: no graceful Lease release).
    fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    fn set_config(&self, config: &str) {
        let cm = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.config_name(), "namespace": LAB_NS},
            "data": {"config": config}
        });
        self.lab.apply(&cm.to_string());
    }

    /// Creates (or updates) a LoadBalancer Service of this test's class.
    fn service(&mut self, name: &str, annotations: &[(&str, &str)], spec: serde_json::Value) {
        let mut s = serde_json::json!({
            "type": "LoadBalancer",
            "loadBalancerClass": self.class(),
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": name},
        });
        if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            s.extend(extra.clone());
        }
        let ann: BTreeMap<_, _> = annotations.iter().copied().collect();
        let svc = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS, "annotations": ann},
            "spec": s
        });
        self.lab.apply(&svc.to_string());
        self.services.insert(name.to_owned());
    }

    fn delete(&mut self, name: &str) {
        let out = self
            .lab
            .kubectl(&["-n", NS, "delete", "service", name, "--wait=false"]);
        assert!(
            out.status.success(),
            "delete {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.services.remove(name);
    }

    /// The Service's status IPs (empty if none or missing).
    fn ips(&self, name: &str) -> Vec<String> {
        self.lab.service_ips(NS, name)
    }

    fn wait_ips(&self, name: &str, n: usize) -> Vec<String> {
        self.lab.wait_for(
            &format!("{n} IP(s) on {name}"),
            Duration::from_secs(20),
            || {
                let ips = self.ips(name);
                (ips.len() == n).then_some(ips)
            },
        )
    }

    /// Reasons of Events about an object (`kind/name` in `ns`).
    fn events(&self, ns: &str, name: &str) -> Vec<(String, String)> {
        let out = self.lab.kubectl(&[
            "-n",
            ns,
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={name}"),
            "-o",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        (
                            e["reason"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wait_event(&self, ns: &str, name: &str, reason: &str, text: &str) -> String {
        self.lab.wait_for(
            &format!("event {reason} ({text}) on {name}"),
            Duration::from_secs(20),
            || {
                self.events(ns, name)
                    .into_iter()
                    .find(|(r, m)| r == reason && m.contains(text))
                    .map(|(_, m)| m)
            },
        )
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.services) {
            let _ = self
                .lab
                .kubectl(&["-n", NS, "delete", "service", &name, "--wait=false"]);
        }
        let _ = self
            .lab
            .kubectl(&["-n", LAB_NS, "delete", "configmap", &self.config_name()]);
        for i in 0..self.children.len() {
            self.stop(i);
        }
    }
}

/// `IRONLB_CONTROLLER_BIN`, else `ironlb-controller` next to the lab's `ironlb`.
fn controller_bin(lab: &Lab) -> PathBuf {
    if let Some(p) = std::env::var_os("IRONLB_CONTROLLER_BIN") {
        return PathBuf::from(p);
    }
    let bin = lab
        .ironlb()
        .parent()
        .map(|d| d.join("ironlb-controller"))
        .unwrap_or_default();
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p ironlb-controller` first",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

/// HTTP status code of GET `url` (0 if unreachable).
fn http_code(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metrics(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", &format!("{url}/metrics")])
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn allocates_on_create_reports_exhaustion_and_reuses_released_ips() {
    let mut c = Ctl::new(
        "basic",
        "address-pools:\n- name: small\n  protocol: layer2\n  addresses: [198.51.100.1-198.51.100.2]\n",
    );
    let t0 = Instant::now();
    c.service("basic-a", &[], serde_json::json!({}));
    let a = c.wait_ips("basic-a", 1);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "IP took {took:?}");
    assert_eq!(a, ["198.51.100.1"]);
    let mode = c.lab.kubectl(&[
        "-n",
        NS,
        "get",
        "service",
        "basic-a",
        "-o",
        "jsonpath={.status.loadBalancer.ingress[0].ipMode}",
    ]);
    assert_eq!(String::from_utf8_lossy(&mode.stdout), "VIP");
    c.wait_event(NS, "basic-a", "IPAllocated", "198.51.100.1");

    c.service("basic-b", &[], serde_json::json!({}));
    assert_eq!(c.wait_ips("basic-b", 1), ["198.51.100.2"]);
    c.service("basic-c", &[], serde_json::json!({}));
    c.wait_event(NS, "basic-c", "AllocationFailed", "PoolExhausted");
    assert!(c.ips("basic-c").is_empty());

    // Releasing a's IP lets the waiting Service have it.
    c.delete("basic-a");
    assert_eq!(c.wait_ips("basic-c", 1), ["198.51.100.1"]);
    // Changing type away from LoadBalancer releases and clears the status.
    c.service(
        "basic-b",
        &[],
        serde_json::json!({"type": "ClusterIP", "loadBalancerClass": null}),
    );
    c.lab
        .wait_for("basic-b status cleared", Duration::from_secs(20), || {
            c.ips("basic-b").is_empty().then_some(())
        });
}

#[test]
fn requested_ips_named_pools_sharing_and_dual_stack() {
    let mut c = Ctl::new(
        "rules",
        "address-pools:\n\
         - name: auto\n  protocol: layer2\n  addresses: [198.51.100.0/29]\n\
         - name: manual\n  protocol: layer2\n  auto-assign: false\n  addresses: [203.0.113.0/29, '2001:db8:202:1::/120']\n",
    );
    // Requested IP, by spec and by each annotation spelling.
    c.service(
        "rules-spec",
        &[],
        serde_json::json!({"loadBalancerIP": "203.0.113.5"}),
    );
    assert_eq!(c.wait_ips("rules-spec", 1), ["203.0.113.5"]);
    c.service(
        "rules-ann",
        &[("metallb.universe.tf/loadBalancerIPs", "198.51.100.6")],
        serde_json::json!({}),
    );
    assert_eq!(c.wait_ips("rules-ann", 1), ["198.51.100.6"]);
    // Named non-auto-assign pool.
    c.service(
        "rules-pool",
        &[("ironlb.io/address-pool", "manual")],
        serde_json::json!({}),
    );
    let ip = c.wait_ips("rules-pool", 1);
    assert!(ip[0].starts_with("203.0.113."), "{ip:?}");
    // Outside every pool, and held by another: Warning, nothing assigned.
    c.service(
        "rules-out",
        &[("ironlb.io/loadBalancerIPs", "192.0.2.99")],
        serde_json::json!({}),
    );
    c.wait_event(NS, "rules-out", "AllocationFailed", "IPOutsidePools");
    c.service(
        "rules-taken",
        &[("ironlb.io/loadBalancerIPs", "203.0.113.5")],
        serde_json::json!({}),
    );
    c.wait_event(
        NS,
        "rules-taken",
        "AllocationFailed",
        "in use by ctl-test/rules-spec",
    );
    c.service(
        "rules-bad",
        &[("ironlb.io/loadBalancerIPs", "203.0.113.999")],
        serde_json::json!({}),
    );
    c.wait_event(NS, "rules-bad", "AllocationFailed", "not an IP address");
    c.service(
        "rules-family",
        &[("metallb.io/loadBalancerIPs", "2001:db8:202:1::7")],
        serde_json::json!({}),
    );
    c.wait_event(NS, "rules-family", "AllocationFailed", "FamilyMismatch");
    assert!(c.ips("rules-out").is_empty() && c.ips("rules-taken").is_empty());

    // Sharing: same key, distinct ports -> one IP; overlapping port -> another.
    let key = [("ironlb.io/allow-shared-ip", "k")];
    c.service(
        "rules-sh1",
        &key,
        serde_json::json!({"ports": [{"port": 80}]}),
    );
    let sh1 = c.wait_ips("rules-sh1", 1);
    c.service(
        "rules-sh2",
        &key,
        serde_json::json!({"ports": [{"port": 443}]}),
    );
    assert_eq!(c.wait_ips("rules-sh2", 1), sh1);
    c.service(
        "rules-sh3",
        &key,
        serde_json::json!({"ports": [{"port": 443}]}),
    );
    assert_ne!(c.wait_ips("rules-sh3", 1), sh1);

    // Dual-stack from the pool that has both families.
    c.service(
        "rules-ds",
        &[("ironlb.io/address-pool", "manual")],
        serde_json::json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]}),
    );
    let ds = c.wait_ips("rules-ds", 2);
    assert!(
        ds[0].starts_with("2001:db8:202:1::") && ds[1].starts_with("203.0.113."),
        "{ds:?}"
    );

    // Changing the pool annotation re-allocates from the new pool.
    c.service(
        "rules-pool",
        &[("ironlb.io/address-pool", "auto")],
        serde_json::json!({}),
    );
    c.lab
        .wait_for("rules-pool moved to auto", Duration::from_secs(20), || {
            let ips = c.ips("rules-pool");
            (ips.len() == 1 && ips[0].starts_with("198.51.100.")).then_some(())
        });
}

#[test]
fn restart_keeps_every_ip_and_reclaims_before_allocating() {
    let mut c = Ctl::new(
        "restart",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.0/24]\n",
    );
    for i in 0..20 {
        c.service(&format!("restart-{i}"), &[], serde_json::json!({}));
    }
    let before: BTreeMap<String, Vec<String>> = (0..20)
        .map(|i| format!("restart-{i}"))
        .map(|n| (n.clone(), c.wait_ips(&n, 1)))
        .collect();
    c.kill(0);
    // While it is down: some go, new ones come (their IPs must not collide on restart).
    for i in 0..5 {
        c.delete(&format!("restart-{i}"));
    }
    for i in 20..30 {
        c.service(&format!("restart-{i}"), &[], serde_json::json!({}));
    }
    c.start();
    let mut seen = BTreeSet::new();
    for i in 5..30 {
        let name = format!("restart-{i}");
        let ips = c.wait_ips(&name, 1);
        if let Some(old) = before.get(&name) {
            assert_eq!(&ips, old, "{name} moved across a restart");
        }
        assert!(seen.insert(ips[0].clone()), "{} handed out twice", ips[0]);
    }
}

#[test]
fn invalid_config_keeps_the_last_good_one_and_says_so() {
    let mut c = Ctl::new(
        "stale",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.0/30]\n",
    );
    let url = c.urls[0].clone();
    c.service("stale-a", &[], serde_json::json!({}));
    assert_eq!(c.wait_ips("stale-a", 1), ["198.51.100.0"]);
    assert_eq!(http_code(&format!("{url}/healthz")), "200");
    assert_eq!(http_code(&format!("{url}/readyz")), "200");
    c.set_config("address-pools:\n- name: p\n  protocol: layer9\n  addresses: [198.51.100.4/30]\n");
    c.wait_event(LAB_NS, &c.config_name(), "InvalidConfig", "layer9");
    c.lab
        .wait_for("ironlb_config_stale 1", Duration::from_secs(20), || {
            metrics(&url)
                .contains("ironlb_config_stale 1")
                .then_some(())
        });
    // The old pool still serves.
    c.service("stale-b", &[], serde_json::json!({}));
    assert_eq!(c.wait_ips("stale-b", 1), ["198.51.100.1"]);
    assert_eq!(c.ips("stale-a"), ["198.51.100.0"]);
    // A valid config that drops a's address moves it, with an Event saying why.
    c.set_config(
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.1-198.51.100.3]\n",
    );
    c.lab
        .wait_for("stale-a re-allocated", Duration::from_secs(20), || {
            let ips = c.ips("stale-a");
            (ips.len() == 1 && ips[0] != "198.51.100.0").then_some(())
        });
    c.wait_event(NS, "stale-a", "IPReallocated", "no longer in any pool");
    assert_eq!(c.ips("stale-b"), ["198.51.100.1"]);
    assert!(metrics(&url).contains("ironlb_config_stale 0"));
    assert!(metrics(&url).contains(r#"ironlb_address_pool_in_use{family="ipv4",pool="p"} 2"#));
    // A deleted ConfigMap: the last config stays in force.
    let out = c
        .lab
        .kubectl(&["-n", LAB_NS, "delete", "configmap", &c.config_name()]);
    assert!(out.status.success());
    std::thread::sleep(Duration::from_secs(1));
    c.service("stale-c", &[], serde_json::json!({}));
    assert_eq!(c.wait_ips("stale-c", 1), ["198.51.100.3"]);
    assert!(metrics(&url).contains("ironlb_config_loaded 1"));
}

/// Two Services recorded with one IP (a manual status edit while the controller was down):
/// on start both get a Warning, neither loses the IP; once one goes the other is fine.
#[test]
fn conflicting_holders_on_start_are_reported_and_left_alone() {
    let mut c = Ctl::new(
        "conflict",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.32/29]\n",
    );
    c.service("conflict-a", &[], serde_json::json!({}));
    let a = c.wait_ips("conflict-a", 1);
    c.service("conflict-b", &[], serde_json::json!({}));
    c.wait_ips("conflict-b", 1);
    c.kill(0);
    let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": a[0], "ipMode": "VIP"}]}}});
    let out = c.lab.kubectl(&[
        "-n",
        NS,
        "patch",
        "service",
        "conflict-b",
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.start();
    for name in ["conflict-a", "conflict-b"] {
        c.wait_event(NS, name, "IPConflict", &a[0]);
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.ips("conflict-a"), a);
    assert_eq!(c.ips("conflict-b"), a);
    // Deleting one resolves it: the other keeps the IP, and a new Service gets another one.
    c.delete("conflict-a");
    c.service("conflict-c", &[], serde_json::json!({}));
    let cc = c.wait_ips("conflict-c", 1);
    assert_ne!(cc, a);
    assert_eq!(c.ips("conflict-b"), a);
}

#[test]
fn a_follower_takes_over_when_the_leader_dies() {
    let mut c = Ctl::new(
        "ha",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.16/28]\n",
    );
    c.start();
    c.service("ha-a", &[], serde_json::json!({}));
    let a = c.wait_ips("ha-a", 1);
    let (lab, lease) = (c.lab, c.config_name());
    let holder = move || -> String {
        let out = lab.kubectl(&[
            "-n",
            LAB_NS,
            "get",
            "lease",
            &lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let leader = holder();
    let idx = match leader
        .rsplit('-')
        .next()
        .and_then(|i| i.parse::<usize>().ok())
    {
        Some(i) if i < 2 => i,
        _ => panic!("unexpected lease holder {leader:?}"),
    };
    c.kill(idx);
    let t0 = Instant::now();
    c.service("ha-b", &[], serde_json::json!({}));
    let b = c.wait_ips("ha-b", 1);
    let took = t0.elapsed();
    assert_ne!(a, b);
    assert!(took < Duration::from_secs(20), "takeover took {took:?}");
    assert_ne!(holder(), leader);
    assert_eq!(c.ips("ha-a"), a);
}

/// Peak RSS (kB) and CPU seconds of a process.
fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (hwm, (ticks(11) + ticks(12)) / 100.0)
}

/// Burst: N Services created at once (`IRONLB_BURST`, default 1000), IPv6 single-stack
/// because the lab's IPv4 Service CIDR is a /26 (62 ClusterIPs), and without NodePorts
/// (the NodePort range holds 2,768). Prints time from
/// each Service's first appearance in a watch to its IP (p50, p99, max), the total, and
/// the controller's CPU seconds and peak RSS. Heavy: `--ignored`.
#[test]
#[ignore]
fn burst_of_services_gets_ips_quickly() {
    use std::io::BufRead;
    let n: usize = std::env::var("IRONLB_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let c = Ctl::new(
        "burst",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: ['2001:db8:210::/64']\n",
    );
    let pid = c.children[0].id();
    let (_, cpu0) = usage(pid);
    let mut watch = Command::new(c.lab.env("IRONLB_LAB_KUBECTL"))
        .env("KUBECONFIG", c.lab.env("KUBECONFIG"))
        .args([
            "-n",
            NS,
            "get",
            "services",
            "-w",
            "-o",
            r#"jsonpath={.metadata.name} {.status.loadBalancer.ingress[0].ip}{"\n"}"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("kubectl watch: {e}"));
    let stdout = watch
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no watch stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let class = c.class();
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("burst-{i}"), "namespace": NS, "labels": {"ironlb-test": "burst"}},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": class,
                         "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                         "allocateLoadBalancerNodePorts": false,
                         "ports": [{"port": 80}], "selector": {"app": "burst"}}
            })
        })
        .collect();
    let lab = c.lab;
    let _cleanup = Cleanup(move || {
        let _ = lab.kubectl(&[
            "-n",
            NS,
            "delete",
            "services",
            "-l",
            "ironlb-test=burst",
            "--wait=false",
        ]);
    });
    let t0 = Instant::now();
    c.lab.apply(
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    let applied = t0.elapsed();
    let mut seen: BTreeMap<String, Instant> = BTreeMap::new();
    let mut got: BTreeMap<String, Duration> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while got.len() < n && Instant::now() < deadline {
        let Ok((at, line)) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let mut parts = line.split_whitespace();
        let Some(name) = parts.next().filter(|s| s.starts_with("burst-")) else {
            continue;
        };
        let first = *seen.entry(name.to_owned()).or_insert(at);
        if parts.next().is_some() && !got.contains_key(name) {
            got.insert(name.to_owned(), at - first);
        }
    }
    let total = t0.elapsed();
    let _ = watch.kill();
    let _ = watch.wait();
    let (rss_kb, cpu1) = usage(pid);
    let mut lat: Vec<Duration> = got.values().copied().collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "burst {n}: apply {applied:?}, all IPs after {total:?}; create->IP p50 {:?} p99 {:?} max {:?}; \
         controller CPU {:.2} s, peak RSS {} MB",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        cpu1 - cpu0,
        rss_kb / 1024
    );
    assert_eq!(got.len(), n, "only {} of {n} Services got an IP", got.len());
    let out = c.lab.kubectl(&[
        "-n",
        NS,
        "get",
        "services",
        "-l",
        "ironlb-test=burst",
        "-o",
        r#"jsonpath={range .items[*]}{.status.loadBalancer.ingress[*].ip}{"\n"}{end}"#,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let ips: BTreeSet<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ips.len(), n, "an IP was handed out twice (or is missing)");
}

/// Runs a closure on drop (cleanup that must happen even when an assertion fails).
struct Cleanup<F: FnMut()>(F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn service_list(class: &str, label: &str, names: &[String]) -> String {
    let items: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": NS, "labels": {"ironlb-test": label}},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": class,
                         "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                         "ports": [{"port": 80}], "selector": {"app": label}}
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// 500 Services created and deleted in rounds while the controller is killed and restarted:
/// a watch audits every event (no IP held twice, no held IP changed), and at the end every
/// live Service has an IP. IPv6, because the lab's IPv4 Service CIDR holds only 62.
#[test]
fn restart_during_churn_never_duplicates_or_moves_an_ip() {
    let mut c = Ctl::new(
        "churn",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: ['2001:db8:211::/119']\n",
    );
    let lab = c.lab;
    let _cleanup = Cleanup(move || {
        let _ = lab.kubectl(&[
            "-n",
            NS,
            "delete",
            "services",
            "-l",
            "ironlb-test=churn",
            "--wait=false",
        ]);
    });
    let audit = Auditor::start(c.lab, NS, "churn");
    let class = c.class();
    let mut live: BTreeMap<String, bool> = BTreeMap::new();
    let mut next = 0;
    let mut create = |live: &mut BTreeMap<String, bool>, n: usize| {
        let names: Vec<String> = (next..next + n).map(|i| format!("churn-{i}")).collect();
        next += n;
        lab.apply(&service_list(&class, "churn", &names));
        live.extend(names.into_iter().map(|n| (n, false)));
    };
    create(&mut live, 150);
    audit.wait_all(&mut live, Duration::from_secs(60));
    for round in 0..7 {
        if round == 2 {
            c.kill(0);
        }
        if round == 5 {
            c.start();
        }
        create(&mut live, 50);
        let doomed: Vec<String> = live.keys().take(30).cloned().collect();
        let mut args = vec!["-n", NS, "delete", "services", "--wait=false"];
        args.extend(doomed.iter().map(String::as_str));
        let out = c.lab.kubectl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for d in &doomed {
            live.remove(d);
        }
    }
    audit.wait_all(&mut live, Duration::from_secs(60));
    // Let late events through the audit too.
    std::thread::sleep(Duration::from_secs(2));
    while let Ok(v) = audit.rx.try_recv() {
        if let Err(violation) = v {
            panic!("{violation}");
        }
    }
    assert_eq!(next, 500);
    assert_eq!(live.len(), 150 + 7 * 20);
}

/// A ValidatingAdmissionPolicy refusing status writes of Services named `refused-*` in the
/// test namespace: the real API server answers the controller's write with an error.
/// Removed on drop, also when the test fails.
struct RefuseStatusWrites(&'static Lab);

const REFUSE_POLICY: &str = "ironlb-test-refuse-status";

impl RefuseStatusWrites {
    fn install(lab: &'static Lab) -> Self {
        let policy = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": REFUSE_POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["UPDATE"], "resources": ["services/status"],
                }]},
                "validations": [{
                    "expression": "!object.metadata.name.startsWith('refused-')",
                    "message": "status writes refused by the test",
                }],
            },
        });
        let binding = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": REFUSE_POLICY},
            "spec": {
                "policyName": REFUSE_POLICY,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": NS,
                }}},
            },
        });
        lab.apply(&policy.to_string());
        lab.apply(&binding.to_string());
        RefuseStatusWrites(lab)
    }

    fn remove(&self) {
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            let _ = self
                .0
                .kubectl(&["delete", kind, REFUSE_POLICY, "--ignore-not-found"]);
        }
    }
}

impl Drop for RefuseStatusWrites {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn a_refused_status_write_is_retried_until_it_lands() {
    let mut c = Ctl::new(
        "refused",
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.40/30]\n",
    );
    let refuse = RefuseStatusWrites::install(c.lab);
    // The API server loads policies asynchronously: probe with a Service the controller
    // does not serve until a status write of it is refused.
    let probe = "refused-probe";
    c.lab.apply(
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": probe, "namespace": NS},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}]},
        })
        .to_string(),
    );
    c.services.insert(probe.to_owned());
    let patch = serde_json::json!({"status": {"conditions": []}}).to_string();
    c.lab.wait_for(
        "the policy to refuse writes",
        Duration::from_secs(30),
        || {
            let out = c.lab.kubectl(&[
                "-n",
                NS,
                "patch",
                "service",
                probe,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ]);
            String::from_utf8_lossy(&out.stderr)
                .contains("status writes refused by the test")
                .then_some(())
        },
    );

    c.service("refused-a", &[], serde_json::json!({}));
    // The controller is told no, says so, and keeps the IP for the Service to retry.
    let log = "/tmp/ctl-test-refused-0.log";
    c.lab.wait_for(
        "a refused write in the log",
        Duration::from_secs(20),
        || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            (text.contains("status write failed") && text.contains("refused-a")).then_some(())
        },
    );
    assert!(c.ips("refused-a").is_empty());
    // Another Service is not given the IP the refused one was offered.
    c.service("other-b", &[], serde_json::json!({}));
    let b = c.wait_ips("other-b", 1);

    refuse.remove();
    let a = c.lab.wait_for(
        "refused-a's IP once writes are allowed",
        Duration::from_secs(45),
        || {
            let ips = c.ips("refused-a");
            (!ips.is_empty()).then_some(ips)
        },
    );
    assert_eq!(a.len(), 1);
    assert_ne!(a, b, "two Services hold one IP");
    assert!(a[0].starts_with("198.51.100.4"), "{a:?}");
}
