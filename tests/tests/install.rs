//! IronLB as users install it: the lab's cluster runs the image under `deploy/`'s manifests
//! (kubelets, containerd, kube-proxy, real pods). What an operator does to it — diff the
//! manifests, roll the speakers to a new image, lose the controller leader, drain a node —
//! must keep every VIP served. Needs root; runs against the shared lab. The tests run one
//! at a time (they roll, delete and drain what the others rely on).

use ironlb_tests::{Lab, ServiceGuard, lab, lb_service, ok, repo_file};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS: &str = "install-test";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn lab_ns(lab: &Lab) -> &str {
    lab.env("IRONLB_LAB_NAMESPACE")
}

/// A Service in the lab's layer-2 pool asking for `vip`, with an echo pod on every node.
fn served(lab: &'static Lab, name: &str, vip: &str) -> ServiceGuard {
    let svc = lb_service(lab, NS, name, vip, serde_json::json!({}));
    let nodes = lab.nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    lab.endpoints_on(NS, name, &nodes);
    lab.wait_for(
        &format!("{vip} to answer from the client"),
        Duration::from_secs(30),
        || lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), vip, "1"),
    );
    svc
}

/// The nodes whose NodeAnnouncement lists `vip`.
fn announcers(lab: &Lab, vip: &str) -> BTreeSet<String> {
    let out = ok(&lab.kubectl(&["get", "nodeannouncements", "-o", "json"]));
    let list: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["status"]["announcements"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["ip"] == vip))
        })
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_installed_manifests_match_deploy_and_every_pod_is_ready() {
    let _serial = serial();
    let lab = lab();
    let ns = lab_ns(lab);
    let diff = lab.kubectl(&["diff", "-k", &repo_file("deploy")]);
    assert!(
        diff.status.success(),
        "kubectl diff -k deploy/ shows changes ({}):\n{}{}",
        diff.status,
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
    let jsonpath = |kind: &str, path: &str| {
        ok(&lab.kubectl(&["-n", ns, "get", kind, "-o", &format!("jsonpath={path}")]))
    };
    let nodes = lab.nodes().len().to_string();
    lab.wait_for(
        "every speaker and controller pod ready",
        Duration::from_secs(60),
        || {
            let ds = jsonpath(
                "daemonset/speaker",
                "{.status.desiredNumberScheduled} {.status.numberReady}",
            );
            let deploy = jsonpath(
                "deployment/controller",
                "{.spec.replicas} {.status.readyReplicas}",
            );
            let ds: Vec<&str> = ds.split_whitespace().collect();
            let deploy: Vec<&str> = deploy.split_whitespace().collect();
            (ds == [nodes.as_str(), nodes.as_str()] && deploy.len() == 2 && deploy[0] == deploy[1])
                .then_some(())
        },
    );
}

/// Sets the speaker DaemonSet's image back to the shipped one on drop, and waits for it.
struct ShippedImage(&'static Lab);

impl Drop for ShippedImage {
    fn drop(&mut self) {
        let lab = self.0;
        let _ = lab.kubectl(&["apply", "-k", &repo_file("deploy")]);
        let _ = lab.kubectl(&[
            "-n",
            lab_ns(lab),
            "rollout",
            "status",
            "daemonset/speaker",
            "--timeout=120s",
        ]);
    }
}

/// Polls `host` from the client every 50 ms until `stop`; returns the longest stretch
/// without an answer and the number of probes.
fn probe(lab: &'static Lab, host: &'static str, stop: Arc<AtomicBool>) -> (Duration, usize) {
    let mut longest = Duration::ZERO;
    let mut down_since: Option<Instant> = None;
    let mut probes = 0;
    while !stop.load(Ordering::Relaxed) {
        probes += 1;
        let up = lab
            .ingress_node(lab.env("IRONLB_LAB_CLIENT"), host, "0.3")
            .is_some();
        match (up, down_since) {
            (false, None) => down_since = Some(Instant::now()),
            (true, Some(t)) => {
                longest = longest.max(t.elapsed());
                down_since = None;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(t) = down_since {
        longest = longest.max(t.elapsed());
    }
    (longest, probes)
}

#[test]
fn rolling_the_speakers_to_a_new_image_keeps_the_vip_reachable() {
    let _serial = serial();
    let lab = lab();
    let vip = "192.0.2.245";
    let _svc = served(lab, "install-rollout", vip);
    // A "new" image: the same content under a new tag, in every node's runtime.
    let shipped = lab.env("IRONLB_LAB_IMAGE");
    let new = format!("{shipped}-rollout");
    for node in lab.nodes() {
        ok(&lab.node_ctr(&node, &["images", "tag", "--force", shipped, &new]));
    }
    let _back = ShippedImage(lab);
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || probe(lab, vip, stop))
    };
    let started = Instant::now();
    ok(&lab.kubectl(&[
        "-n",
        lab_ns(lab),
        "set",
        "image",
        "daemonset/speaker",
        &format!("speaker={}", new.trim_start_matches("docker.io/")),
    ]));
    ok(&lab.kubectl(&[
        "-n",
        lab_ns(lab),
        "rollout",
        "status",
        "daemonset/speaker",
        "--timeout=180s",
    ]));
    // The last speaker replaced may have been the announcer: keep probing a moment.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (longest, probes) = prober.join().expect("prober");
    eprintln!(
        "speaker rollout over {} nodes took {:?}: {probes} probes, longest outage {longest:?}",
        lab.nodes().len(),
        started.elapsed()
    );
    assert!(
        probes > 20,
        "too few probes ({probes}) to judge the rollout"
    );
    assert!(
        longest < Duration::from_secs(2),
        "{vip} was unreachable for {longest:?} during the speaker rollout"
    );
}

#[test]
fn deleting_the_controller_leaders_pod_lets_the_other_replica_go_on() {
    let _serial = serial();
    let lab = lab();
    let ns = lab_ns(lab);
    let holder = || {
        ok(&lab.kubectl(&[
            "-n",
            ns,
            "get",
            "lease",
            "ironlb-controller",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]))
        .trim()
        .to_owned()
    };
    let leader = lab.wait_for("a controller leader", Duration::from_secs(30), || {
        Some(holder()).filter(|h| !h.is_empty())
    });
    ok(&lab.kubectl(&["-n", ns, "delete", "pod", &leader, "--wait=false"]));
    let next = lab.wait_for("another replica to lead", Duration::from_secs(60), || {
        Some(holder()).filter(|h| !h.is_empty() && *h != leader)
    });
    // The new leader allocates.
    let vip = "192.0.2.246";
    let _svc = lb_service(lab, NS, "install-leader", vip, serde_json::json!({}));
    lab.wait_for(
        &format!("{next} to give the new Service {vip}"),
        Duration::from_secs(30),
        || (lab.service_ips(NS, "install-leader") == [vip]).then_some(()),
    );
    ok(&lab.kubectl(&[
        "-n",
        ns,
        "rollout",
        "status",
        "deployment/controller",
        "--timeout=120s",
    ]));
}

/// Uncordons a node on drop.
struct Uncordon(&'static Lab, String);

impl Drop for Uncordon {
    fn drop(&mut self) {
        let _ = self.0.kubectl(&["uncordon", &self.1]);
    }
}

#[test]
fn draining_the_announcing_node_moves_its_vip() {
    let _serial = serial();
    let lab = lab();
    let vip = "192.0.2.247";
    let _svc = served(lab, "install-drain", vip);
    let first = lab.wait_for(
        "one node to announce the VIP",
        Duration::from_secs(15),
        || {
            let a = announcers(lab, vip);
            (a.len() == 1).then(|| a.into_iter().next()).flatten()
        },
    );
    let _uncordon = Uncordon(lab, first.clone());
    ok(&lab.kubectl(&[
        "drain",
        &first,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--grace-period=1",
        "--timeout=90s",
    ]));
    let second = lab.wait_for(
        "another node to announce and take in the VIP's traffic",
        Duration::from_secs(30),
        || {
            let a = announcers(lab, vip);
            let took = lab.ingress_node(lab.env("IRONLB_LAB_CLIENT"), vip, "1")?;
            (a.len() == 1 && !a.contains(&first) && a.contains(&took)).then_some(took)
        },
    );
    assert_ne!(second, first);
}

/// Deletes the unprivileged speaker pod (and the NodeAnnouncement it may have made) on drop.
struct NoCapsPod(&'static Lab, &'static str);

impl Drop for NoCapsPod {
    fn drop(&mut self) {
        let ns = lab_ns(self.0);
        let _ = self
            .0
            .kubectl(&["-n", ns, "delete", "pod", self.1, "--grace-period=0"]);
        let _ = self
            .0
            .kubectl(&["delete", "nodeannouncement", self.1, "--ignore-not-found"]);
    }
}

#[test]
fn a_speaker_without_its_capabilities_is_visibly_not_ready() {
    let _serial = serial();
    let lab = lab();
    let ns = lab_ns(lab);
    let node = lab.nodes()[0].clone();
    // The speaker as the shipped manifest ran it before it ran as root: the image's user
    // (65534), for whom the added capabilities do nothing. A name of its own, so that it
    // never stands for a real node in the election.
    let name = "ironlb-test-no-caps";
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "nodeName": node, "hostNetwork": true, "serviceAccountName": "speaker",
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "speaker", "image": lab.env("IRONLB_LAB_IMAGE"),
                "command": ["/ironlb-speaker"],
                "args": [format!("--namespace={ns}"), "--metrics-addr=0.0.0.0:7473",
                         "--gossip-port=7947"],
                "env": [{"name": "NODE_NAME", "value": name}],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 7473},
                                   "periodSeconds": 1},
                "securityContext": {"allowPrivilegeEscalation": false,
                                    "capabilities": {"drop": ["ALL"],
                                                     "add": ["NET_RAW", "NET_ADMIN"]}},
            }],
        },
    });
    let _pod = NoCapsPod(lab, name);
    lab.apply(&pod.to_string());
    // /readyz says what is missing, and the kubelet keeps the pod out of Ready.
    let why = lab.wait_for(
        "the unprivileged speaker to say why it is not ready",
        Duration::from_secs(60),
        || {
            let out = lab.exec_in(
                &node,
                &[
                    "curl",
                    "-s",
                    "-m",
                    "2",
                    "-w",
                    " %{http_code}",
                    "http://127.0.0.1:7473/readyz",
                ],
            );
            let body = String::from_utf8_lossy(&out.stdout).into_owned();
            body.contains("packet socket").then_some(body)
        },
    );
    assert!(why.ends_with(" 503"), "/readyz: {why}");
    assert!(why.contains("NET_RAW"), "/readyz: {why}");
    std::thread::sleep(Duration::from_secs(3));
    let ready = ok(&lab.kubectl(&[
        "-n",
        ns,
        "get",
        "pod",
        name,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]));
    assert_eq!(ready.trim(), "False", "the pod looks ready: {why}");
    // The shipped speakers, meanwhile, are all ready.
    let shipped = ok(&lab.kubectl(&[
        "-n",
        ns,
        "get",
        "daemonset/speaker",
        "-o",
        "jsonpath={.status.numberReady}",
    ]));
    assert_eq!(shipped.trim(), lab.nodes().len().to_string());
}

/// The uids of IronLB's pods of `component` (`speaker`, `controller`), leaving out those
/// being deleted.
fn pod_uids(lab: &Lab, component: &str) -> BTreeSet<String> {
    let out = ok(&lab.kubectl(&[
        "-n",
        lab_ns(lab),
        "get",
        "pods",
        "-l",
        &format!("app.kubernetes.io/component={component}"),
        "-o",
        "json",
    ]));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn lab_rollout_restarts_ironlb_on_its_image() {
    let _serial = serial();
    let lab = lab();
    let speakers = pod_uids(lab, "speaker");
    let controllers = pod_uids(lab, "controller");
    ok(&lab.ironlb_lab(&["rollout"]));
    // `lab rollout` returns once the DaemonSet and the Deployment are rolled out and ready.
    let (new_speakers, new_controllers) = (pod_uids(lab, "speaker"), pod_uids(lab, "controller"));
    assert_eq!(
        new_speakers.len(),
        lab.nodes().len(),
        "one speaker per node"
    );
    assert!(
        new_speakers.is_disjoint(&speakers) && new_controllers.is_disjoint(&controllers),
        "some pod was not replaced: speakers {speakers:?} -> {new_speakers:?}, controllers {controllers:?} -> {new_controllers:?}"
    );
}
