//! Harness for the end-to-end tests: brings the lab up once per test binary and reads its exports.
//!
//! ```no_run
//! let lab = ironlb_tests::lab();                 // `ironlb lab up` (idempotent), once
//! let out = lab.kubectl(&["get", "nodes"]);      // admin kubectl
//! let out = lab.exec_in(&lab.nodes()[0], &["ip", "addr"]); // `ip netns exec NODE ...`
//! ```
//! The lab is shared: tests in one binary run in parallel against it, and several test binaries
//! reuse the same lab. Tests must clean up the objects they create. The lab needs root; without it
//! (or without the built `ironlb` binary) `lab()` panics with a message saying what to do.
#![forbid(unsafe_code)]

pub mod flood;
pub mod speaker_log;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use ironlb_lab::{BirdOptions, Export, Family, Import, Neighbor, Router, Session};

/// The running lab, as described by its `export` lines.
#[derive(Debug)]
pub struct Lab {
    env: BTreeMap<String, String>,
    ironlb: PathBuf,
}

static LAB: OnceLock<Lab> = OnceLock::new();

/// The lab, brought up on first use (`ironlb lab up`; a lab already up is reused).
///
/// Panics with a clear message when not root, when the `ironlb` binary is not built, or when
/// `lab up` fails.
pub fn lab() -> &'static Lab {
    LAB.get_or_init(|| {
        require_root();
        let ironlb = ironlb_bin();
        let out = Command::new(&ironlb)
            .args(["lab", "up"])
            .output()
            .unwrap_or_else(|e| panic!("running {} lab up: {e}", ironlb.display()));
        assert!(
            out.status.success(),
            "`{} lab up` failed ({}):\n{}",
            ironlb.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Lab {
            env: parse_exports(&String::from_utf8_lossy(&out.stdout)),
            ironlb,
        }
    })
}

/// A path inside this checkout, from its root (e.g. `deploy/rbac.yaml`).
pub fn repo_file(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Applies this checkout's CRD (and waits until it is served) and RBAC once per test binary: the lab may have been
/// started by an older binary. (Concurrent applies of a new object race: AlreadyExists.)
pub fn apply_checkout_manifests(lab: &Lab) {
    static APPLIED: OnceLock<()> = OnceLock::new();
    APPLIED.get_or_init(|| {
        ok(&lab.kubectl(&[
            "apply",
            "-f",
            &repo_file("deploy/crds/nodeannouncement.yaml"),
            "-f",
            &repo_file("deploy/rbac.yaml"),
        ]));
        ok(&lab.kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/nodeannouncements.ironlb.io",
            "--timeout=30s",
        ]));
    });
}

/// Panics with a "needs root" message unless the test runs as root.
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    assert!(
        uid == "0",
        "this test needs root (it drives the IronLB lab: network namespaces, BIRD, a real \
         kube-apiserver); run it as root, e.g. `sudo -E cargo test -p ironlb-tests`"
    );
}

/// The `ironlb` binary: `IRONLB_BIN`, else `target/<profile>/ironlb` next to the test's `deps/`.
pub fn ironlb_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("IRONLB_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // .../target/debug/deps/lab-HASH -> .../target/debug/ironlb
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ironlb"))
        .expect("test binary has no target directory");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`), or set IRONLB_BIN",
        bin.display()
    );
    bin
}

/// Parses `export NAME='VALUE'` lines (values as the lab script quotes them).
pub fn parse_exports(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

impl Lab {
    /// One export of the lab (`KUBECONFIG`, `IRONLB_LAB_ROUTER_CTL`, ...); panics if missing.
    pub fn env(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("the lab does not export {name}"))
    }

    /// All exports.
    pub fn exports(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Node names, which are also their network namespaces.
    pub fn nodes(&self) -> Vec<String> {
        self.env("IRONLB_LAB_NODES")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// The `ironlb` binary the lab was brought up with.
    pub fn ironlb(&self) -> &std::path::Path {
        &self.ironlb
    }

    /// Runs `ironlb lab ARGS...` on this lab (e.g. `["stop", "speaker", "ilb-node1"]`).
    pub fn ironlb_lab(&self, args: &[&str]) -> Output {
        run(Command::new(&self.ironlb)
            .env("IRONLB_LAB_STATE", self.env("IRONLB_LAB_STATE"))
            .env("IRONLB_LAB_PREFIX", self.env("IRONLB_LAB_PREFIX"))
            .arg("lab")
            .args(args))
    }

    /// Brings up a second, private lab beside the shared one (its own control plane, namespaces
    /// `PREFIX*` and state dir), with `ironlb lab up ARGS...`. Call [`Lab::down`] when done.
    pub fn up_private(prefix: &str, args: &[&str]) -> Lab {
        require_root();
        let ironlb = ironlb_bin();
        let state = format!("/run/ironlb-lab-{}", prefix.trim_end_matches('-'));
        let out = run(Command::new(&ironlb)
            .env("IRONLB_LAB_STATE", &state)
            .env("IRONLB_LAB_PREFIX", prefix)
            .args(["lab", "up"])
            .args(args));
        assert!(
            out.status.success(),
            "`ironlb lab up {args:?}` (private lab {prefix}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Lab {
            env: parse_exports(&String::from_utf8_lossy(&out.stdout)),
            ironlb,
        }
    }

    /// `ironlb lab down` for this lab.
    pub fn down(&self) {
        ok(&self.ironlb_lab(&["down"]));
    }

    /// Runs the lab's kubectl as admin with `args`.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        run(Command::new(self.env("IRONLB_LAB_KUBECTL"))
            .env("KUBECONFIG", self.env("KUBECONFIG"))
            .args(args))
    }

    /// `kubectl apply -f -` of `manifest` (JSON or YAML) as admin; panics with kubectl's error.
    pub fn apply(&self, manifest: &str) {
        let out = self.apply_output(manifest);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            manifest.chars().take(400).collect::<String>()
        );
    }

    /// `kubectl apply -f -` of `manifest` as admin; what kubectl said.
    pub fn apply_output(&self, manifest: &str) -> Output {
        let mut child = Command::new(self.env("IRONLB_LAB_KUBECTL"))
            .env("KUBECONFIG", self.env("KUBECONFIG"))
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(manifest.as_bytes());
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("kubectl: {e}"))
    }

    /// The IPs in Service `namespace/name`'s `status.loadBalancer.ingress` (empty if none or
    /// no such Service).
    pub fn service_ips(&self, namespace: &str, name: &str) -> Vec<String> {
        let out = self.kubectl(&[
            "-n",
            namespace,
            "get",
            "service",
            name,
            "-o",
            "jsonpath={.status.loadBalancer.ingress[*].ip}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// The messages of the Events with `reason` about object `name` in `namespace`, joined
    /// by spaces.
    pub fn event_messages(&self, namespace: &str, name: &str, reason: &str) -> String {
        let out = self.kubectl(&[
            "-n",
            namespace,
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={name},reason={reason}"),
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Gives Service `namespace/service` one ready endpoint on `node` (see
    /// [`Lab::endpoints_on`]): the endpoint moves there.
    pub fn endpoint_on(&self, namespace: &str, service: &str, node: &str) {
        self.endpoints_on(namespace, service, &[node]);
    }

    /// Gives Service `namespace/service` one ready endpoint on each of `nodes` and none
    /// elsewhere: echo pods (`IRONLB_LAB_ECHO_IMAGE`, labelled `app: SERVICE`, the selector
    /// [`lb_service`] sets) pinned to those nodes, waited for until ready; then the
    /// Service's pods on other nodes are deleted. The EndpointSlice controller makes the
    /// slices.
    pub fn endpoints_on(&self, namespace: &str, service: &str, nodes: &[&str]) {
        let pods: Vec<String> = nodes.iter().map(|n| format!("{service}-{n}")).collect();
        for (pod, node) in pods.iter().zip(nodes) {
            let manifest = serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": namespace, "labels": {"app": service}},
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "echo", "image": self.env("IRONLB_LAB_ECHO_IMAGE"),
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "NODE_NAME",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                           "periodSeconds": 1},
                    }],
                },
            });
            // A namespace made a moment ago may not have its ServiceAccount yet.
            self.wait_for(
                &format!("pod {pod} to be accepted"),
                Duration::from_secs(30),
                || {
                    let out = self.apply_output(&manifest.to_string());
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    assert!(
                        out.status.success() || err.contains("serviceaccount"),
                        "kubectl apply of pod {pod} failed: {err}"
                    );
                    out.status.success().then_some(())
                },
            );
        }
        for pod in &pods {
            ok(&self.kubectl(&[
                "-n",
                namespace,
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=60s",
            ]));
        }
        self.delete_endpoints(namespace, service, &pods);
    }

    /// Deletes every endpoint (echo pod) of Service `namespace/service` and waits until they
    /// are gone.
    pub fn remove_endpoints(&self, namespace: &str, service: &str) {
        self.delete_endpoints(namespace, service, &[]);
    }

    /// Deletes the echo pods of `namespace/service` but those named in `keep`, and waits.
    fn delete_endpoints(&self, namespace: &str, service: &str, keep: &[String]) {
        let label = format!("app={service}");
        let keep: Vec<String> = keep.iter().map(|p| format!("metadata.name!={p}")).collect();
        let keep = keep.join(",");
        let mut args = vec![
            "-n",
            namespace,
            "delete",
            "pod",
            "-l",
            &label,
            "--grace-period=0",
        ];
        if !keep.is_empty() {
            args.extend(["--field-selector", &keep]);
        }
        ok(&self.kubectl(&args));
    }

    /// The node that took in an HTTP request from network namespace `from` to `host` (an IP,
    /// `[v6]` for IPv6), if one accepted the connection within `seconds` and answered: asks
    /// the echo pod behind it who it is. kube-proxy masquerades external traffic it forwards
    /// (Cluster policy), so the echo sees the node's address; without that (Local policy) the
    /// echo pod's own node took it. The answer itself may take 2 s more (the echo forks a
    /// shell per request, slow on a busy machine); a dead node never accepts.
    pub fn ingress_node(&self, from: &str, host: &str, seconds: &str) -> Option<String> {
        let total = seconds.parse::<f64>().map_or(5.0, |s| s + 2.0).to_string();
        let out = self.exec_in(
            from,
            &[
                "curl",
                "-s",
                "--connect-timeout",
                seconds,
                "-m",
                &total,
                &format!("http://{host}/cgi-bin/who"),
            ],
        );
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = body.split_whitespace();
        let (_pod, node, peer) = (words.next()?, words.next()?, words.next()?);
        if !out.status.success() {
            return None;
        }
        Some(
            self.node_of_address(peer)
                .unwrap_or_else(|| node.to_owned()),
        )
    }

    /// The lab node owning `addr`: its LAN address or its pod bridge's (v4-mapped IPv6 too).
    pub fn node_of_address(&self, addr: &str) -> Option<String> {
        // busybox's httpd writes IPv6 peers in brackets, IPv4 ones v4-mapped.
        let addr = addr.trim_matches(['[', ']']).trim_start_matches("::ffff:");
        self.nodes().into_iter().find(|node| {
            let out = self.exec_in(node, &["ip", "-o", "addr", "show"]);
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(addr))
        })
    }

    /// The pid of the IronLB speaker running on `node` (in its network namespace), if any.
    pub fn speaker_pid(&self, node: &str) -> Option<String> {
        let pids = ok(&run(Command::new("ip").args(["netns", "pids", node])));
        pids.split_whitespace()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "ironlb-speaker")
            })
            .map(str::to_owned)
    }

    /// The speaker's metrics on `node` (its host-network port, scraped from inside the node's
    /// namespace); `None` if it does not answer within 5 s.
    pub fn speaker_metrics(&self, node: &str) -> Option<String> {
        let out = self.exec_in(
            node,
            &["curl", "-s", "-m", "5", "http://127.0.0.1:7472/metrics"],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits (90 s at most) until the lab is whole again after a test took a node out:
    /// every node is Ready, and every node's speaker answers and counts every node as a
    /// gossip member. A node coming back (a restarted speaker, a cable plugged in again, a
    /// kubelet thawed) takes back the IPs it ranks first for, so a test that started before
    /// that would see them move under it.
    pub fn wait_speakers_whole(&self) {
        let nodes = self.nodes();
        let whole = nodes.len() as f64;
        self.wait_for(
            "every node to be Ready and every speaker to count every node as a gossip member",
            Duration::from_secs(90),
            || {
                let members_all = |n: &String| {
                    self.speaker_metrics(n)
                        .is_some_and(|text| metric_sample(&text, "ironlb_gossip_members") == whole)
                };
                (self.ready_nodes() == nodes.len() && nodes.iter().all(members_all)).then_some(())
            },
        );
    }

    /// How many nodes the API shows with the `Ready` condition `True`.
    fn ready_nodes(&self) -> usize {
        let out = self.kubectl(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim() == "True")
            .count()
    }

    /// The log of the speaker pod on `node` (its container's, as the kubelet keeps it),
    /// all of it or `since` (a `kubectl logs --since` duration, e.g. `5m`); `None` if the
    /// node has no speaker pod or the log cannot be read.
    pub fn speaker_log(&self, node: &str, since: Option<&str>) -> Option<String> {
        let ns = self.env("IRONLB_LAB_NAMESPACE");
        let field = format!("spec.nodeName={node}");
        let pods = self.kubectl(&[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/component=speaker",
            "--field-selector",
            &field,
            "-o",
            "name",
        ]);
        let pod = String::from_utf8_lossy(&pods.stdout)
            .lines()
            .next()?
            .to_owned();
        let since = since.map(|s| format!("--since={s}"));
        let mut args = vec!["-n", ns, "logs", pod.as_str()];
        args.extend(since.as_deref());
        let log = self.kubectl(&args);
        log.status
            .success()
            .then(|| String::from_utf8_lossy(&log.stdout).into_owned())
    }

    /// How long after `fault` the first speaker other than `gone`'s logged that the gossip
    /// lost `gone` (its failure detection, by the speakers' own timestamps; the last five
    /// minutes of their logs). `None` if none has.
    pub fn detection_of(&self, gone: &str, fault: SystemTime) -> Option<(String, Duration)> {
        self.nodes()
            .into_iter()
            .filter(|n| n != gone)
            .filter_map(|node| {
                let log = self.speaker_log(&node, Some("5m"))?;
                let at = speaker_log::leave_time(&log, gone, fault)?;
                Some((node, at.duration_since(fault).ok()?))
            })
            .min_by_key(|(_, d)| *d)
    }

    /// Runs `ctr ARGS...` against `node`'s containerd (namespace `k8s.io`, the kubelet's).
    pub fn node_ctr(&self, node: &str, args: &[&str]) -> Output {
        let sock = format!(
            "{}/nodes/{node}/containerd.sock",
            self.env("IRONLB_LAB_STATE")
        );
        run(Command::new("ctr")
            .args(["-a", &sock, "-n", "k8s.io"])
            .args(args))
    }

    /// Freezes (`true`) or thaws the kubelet of `node`, so a test can set the Node's status
    /// without the kubelet writing it back.
    pub fn freeze_kubelet(&self, node: &str, frozen: bool) {
        let file = format!("{}/pids/kubelet-{node}.pid", self.env("IRONLB_LAB_STATE"));
        let pid = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let signal = if frozen { "-STOP" } else { "-CONT" };
        ok(&run(Command::new("kill").args([signal, pid.trim()])));
    }

    /// The text of IronLB's config in the lab (ConfigMap `config` in its namespace), or
    /// `None` when there is no such ConfigMap.
    pub fn config_text(&self) -> Option<String> {
        let out = self.kubectl(&[
            "-n",
            self.env("IRONLB_LAB_NAMESPACE"),
            "get",
            "configmap",
            "config",
            "-o",
            "jsonpath={.data.config}",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Applies `text` as IronLB's config in the lab (see [`Lab::config_text`]); kubectl's
    /// answer, for cleanup paths that must not panic.
    pub fn set_config_output(&self, text: &str) -> Output {
        let cm = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "config", "namespace": self.env("IRONLB_LAB_NAMESPACE")},
            "data": {"config": text},
        });
        self.apply_output(&cm.to_string())
    }

    /// Applies `text` as IronLB's config in the lab; panics with kubectl's error.
    pub fn set_config(&self, text: &str) {
        let out = self.set_config_output(text);
        assert!(
            out.status.success(),
            "setting the lab's config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The node whose `eth0` has `mac` (lower case, as `arping` and `ndisc6` print it).
    pub fn node_of_mac(&self, mac: &str) -> Option<String> {
        self.nodes().into_iter().find(|n| {
            let out = run(Command::new("ip").args(["-n", n, "-br", "link", "show", "eth0"]));
            String::from_utf8_lossy(&out.stdout)
                .to_lowercase()
                .contains(mac)
        })
    }

    /// The MAC `ndisc6` gets for `ip` from the client, if any node answers.
    pub fn ndisc6(&self, ip: &str) -> Option<String> {
        let out = self.exec_in(
            self.env("IRONLB_LAB_CLIENT"),
            &[
                "timeout",
                "10",
                "ndisc6",
                "-1",
                "-r",
                "3",
                "-w",
                "500",
                ip,
                self.env("IRONLB_LAB_CLIENT_IF"),
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.split_once("link-layer address:"))
            .map(|(_, mac)| mac.trim().to_lowercase())
    }

    /// The entries of node `node`'s NodeAnnouncement (IP, mode, interface, Services); empty
    /// when the node has none.
    pub fn node_announcements(&self, node: &str) -> Vec<serde_json::Value> {
        let out = self.kubectl(&["get", "nodeannouncement", node, "-o", "json"]);
        if !out.status.success() {
            return Vec::new();
        }
        let obj: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        obj["status"]["announcements"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `cmd` inside the network namespace `ns` (`ip netns exec ns cmd...`).
    pub fn exec_in(&self, ns: &str, cmd: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(cmd))
    }

    /// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The value of the sample `series` (name and labels, exactly as exported) in the
/// Prometheus text `text`; 0 if absent.
pub fn metric_sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Stdout of `out` as text; panics with stderr when the command failed.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Applies a `type: LoadBalancer` Service `namespace/name` (port 80) requesting `ips`
/// (comma-separated, `ironlb.io/loadBalancerIPs`), with `extra` merged into its spec; the
/// namespace is made if missing. Returns the guard that deletes it.
pub fn lb_service(
    lab: &'static Lab,
    namespace: &str,
    name: &str,
    ips: &str,
    extra: serde_json::Value,
) -> ServiceGuard {
    let _ = lab.kubectl(&["create", "namespace", namespace]);
    let mut svc = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace,
                     "annotations": {"ironlb.io/loadBalancerIPs": ips}},
        "spec": {"type": "LoadBalancer",
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
                 "allocateLoadBalancerNodePorts": false,
                 "selector": {"app": name}},
    });
    if let (Some(spec), Some(extra)) = (svc["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    lab.apply(&svc.to_string());
    ServiceGuard {
        lab,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// Deletes a Service and its endpoints (echo pods, see [`Lab::endpoint_on`]) on drop, even
/// after a failed assertion.
pub struct ServiceGuard {
    /// The lab.
    pub lab: &'static Lab,
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let (ns, name) = (self.namespace.as_str(), self.name.as_str());
        let _ = self
            .lab
            .kubectl(&["-n", ns, "delete", "service", name, "--wait=false"]);
        let _ = self.lab.kubectl(&[
            "-n",
            ns,
            "delete",
            "pod",
            "-l",
            &format!("app={name}"),
            "--grace-period=0",
            "--wait=false",
        ]);
    }
}

/// A BIRD 2 speaking eBGP to the lab router from inside a node namespace, announcing fixed
/// routes; stopped on drop. A stand-in for a BGP speaker when testing the lab itself.
pub struct NodeBird {
    child: std::process::Child,
    dir: PathBuf,
}

impl NodeBird {
    /// Starts BIRD in node `node` of `lab`, announcing `routes` (IPv4 and IPv6 prefixes).
    pub fn start(lab: &Lab, node: &str, routes: &[&str]) -> NodeBird {
        let addrs = ok(&lab.exec_in(
            node,
            &["ip", "-o", "addr", "show", "dev", "eth0", "scope", "global"],
        ));
        let addr = |v6: bool| {
            addrs
                .split_whitespace()
                .filter_map(|w| w.split_once('/').map(|(a, _)| a))
                .find(|a| {
                    a.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_ipv6() == v6)
                })
                .unwrap_or_else(|| panic!("{node} has no address (v6: {v6}) on eth0: {addrs}"))
                .to_owned()
        };
        let (v4, v6) = (addr(false), addr(true));
        let parse = |what: &str, v: &str| -> std::net::IpAddr {
            v.parse()
                .unwrap_or_else(|e| panic!("{what} {v:?} is not an address: {e}"))
        };
        let asn = |var: &str| -> u32 {
            let v = lab.env(var);
            v.parse()
                .unwrap_or_else(|e| panic!("{var}={v:?} is not an ASN: {e}"))
        };
        // Its static routes, exported to the lab router over one IPv4 session (IPv6 routes with
        // the node's IPv6 address as next hop).
        let mut session = Session::new(asn("IRONLB_LAB_ROUTER_ASN"), &[Family::Ipv4, Family::Ipv6]);
        session.hold_time = Some(9);
        for f in &mut session.families {
            f.import = Import::None;
            f.export = Export::Static;
        }
        session.families[1].extended_next_hop = true;
        session.families[1].next_hop = Some(parse("node address", &v6));
        let router = Router {
            asn: asn("IRONLB_LAB_NODE_ASN"),
            router_id: v4
                .parse()
                .unwrap_or_else(|e| panic!("node address {v4:?}: {e}")),
            groups: Vec::new(),
            neighbors: vec![Neighbor {
                name: "lab".to_owned(),
                address: parse("IRONLB_LAB_ROUTER_V4", lab.env("IRONLB_LAB_ROUTER_V4")),
                local: Some(parse("node address", &v4)),
                session,
            }],
        };
        let conf = router.bird(&BirdOptions {
            static_unreachable: routes
                .iter()
                .map(|r| {
                    r.parse()
                        .unwrap_or_else(|e| panic!("route {r:?} is not a prefix: {e}"))
                })
                .collect(),
            ..BirdOptions::default()
        });
        let dir =
            std::env::temp_dir().join(format!("ironlb-node-bird-{node}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("bird.conf"), conf).expect("write bird.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", node, "bird", "-f", "-c"])
            .arg(dir.join("bird.conf"))
            .arg("-s")
            .arg(dir.join("bird.ctl"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start bird in a node namespace");
        NodeBird { child, dir }
    }
}

impl Drop for NodeBird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
