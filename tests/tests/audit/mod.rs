//! The churn test's audit: a watch on the test's Services that checks every event.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironlb_tests::Lab;

/// Watches Services with label `ironlb-test=<label>` and checks, on every event, that no
/// Service's IPs ever change once set and that no IP is held by two live Services.
///
/// `kubectl get -w` ends when its watch does; the audit then watches again (the new watch
/// starts with the current list, checked against what was seen before), at most
/// [`Auditor::REWATCHES`] times, each said on stderr.
pub(crate) struct Auditor {
    pub(crate) rx: std::sync::mpsc::Receiver<Result<(String, Vec<String>), String>>,
    child: std::sync::Arc<std::sync::Mutex<Option<Child>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    lab: &'static Lab,
    namespace: &'static str,
    label: String,
}

/// What the audit remembers across watches: each Service's first IPs and each IP's holder.
#[derive(Default)]
struct AuditState {
    first: BTreeMap<String, Vec<String>>,
    holder: BTreeMap<String, String>,
}

impl AuditState {
    /// The verdict on one watch event.
    fn check(&mut self, ev: &serde_json::Value) -> Result<(String, Vec<String>), String> {
        let obj = &ev["object"];
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut ips = ingress_ips(obj);
        ips.sort();
        if ev["type"] == "DELETED" {
            self.holder.retain(|_, n| *n != name);
            self.first.remove(&name);
            return Ok((name, Vec::new()));
        }
        if ips.is_empty() {
            return Ok((name, ips));
        }
        if self.first.get(&name).is_some_and(|f| *f != ips) {
            return Err(format!(
                "{name} moved from {:?} to {ips:?}",
                self.first[&name]
            ));
        }
        if let Some((ip, other)) = ips
            .iter()
            .find_map(|ip| self.holder.get(ip).filter(|o| **o != name).map(|o| (ip, o)))
        {
            return Err(format!("{ip} held by {other} and {name}"));
        }
        self.first.insert(name.clone(), ips.clone());
        for ip in &ips {
            self.holder.insert(ip.clone(), name.clone());
        }
        Ok((name, ips))
    }
}

/// The IPs in a Service object's `status.loadBalancer.ingress`.
fn ingress_ips(svc: &serde_json::Value) -> Vec<String> {
    svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["ip"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Auditor {
    const REWATCHES: usize = 5;

    pub(crate) fn start(lab: &'static Lab, namespace: &'static str, label: &str) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let child = std::sync::Arc::new(std::sync::Mutex::new(None::<Child>));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (slot, stopped, selector) =
            (child.clone(), stop.clone(), format!("ironlb-test={label}"));
        std::thread::spawn(move || {
            let mut state = AuditState::default();
            for watch in 0..=Self::REWATCHES {
                let mut kubectl = Command::new(lab.env("IRONLB_LAB_KUBECTL"))
                    .env("KUBECONFIG", lab.env("KUBECONFIG"))
                    .args(["-n", namespace, "get", "services", "-l", &selector])
                    .args(["-w", "--output-watch-events", "-o", "json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("kubectl watch: {e}"));
                let (Some(stdout), Some(mut stderr)) =
                    (kubectl.stdout.take(), kubectl.stderr.take())
                else {
                    panic!("no watch output");
                };
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(kubectl);
                let stream = serde_json::Deserializer::from_reader(std::io::BufReader::new(stdout))
                    .into_iter::<serde_json::Value>();
                for ev in stream.map_while(Result::ok) {
                    if tx.send(state.check(&ev)).is_err() {
                        return;
                    }
                }
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let mut said = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut said);
                eprintln!(
                    "audit watch {watch} ended ({}); watching again",
                    said.trim()
                );
            }
            let _ = tx.send(Err(format!(
                "the audit watch ended {} times",
                Self::REWATCHES + 1
            )));
        });
        Auditor {
            rx,
            child,
            stop,
            lab,
            namespace,
            label: label.to_owned(),
        }
    }

    /// Drains events until every name in `want` has IPs (or `timeout`); panics on a violation.
    pub(crate) fn wait_all(&self, live: &mut BTreeMap<String, bool>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while live.values().any(|has| !has) {
            if Instant::now() >= deadline {
                let missing: Vec<&String> =
                    live.iter().filter(|(_, h)| !**h).map(|(n, _)| n).collect();
                panic!(
                    "timed out: {} without IP in the audit ({:?}...); in the API: {}",
                    missing.len(),
                    missing.iter().take(5).collect::<Vec<_>>(),
                    self.api_view(live)
                );
            }
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Ok((name, ips))) => {
                    if let Some(has) = live.get_mut(&name) {
                        *has = !ips.is_empty();
                    }
                }
                Ok(Err(violation)) => panic!("{violation}"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the audit stopped: {}", self.api_view(live))
                }
            }
        }
    }

    /// How many of the `live` Services the API shows without IPs (to tell a late audit from
    /// a controller that did not write).
    fn api_view(&self, live: &BTreeMap<String, bool>) -> String {
        let out = self.lab.kubectl(&[
            "-n",
            self.namespace,
            "get",
            "services",
            "-l",
            &format!("ironlb-test={}", self.label),
            "-o",
            "json",
        ]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let without: Vec<&str> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| ingress_ips(s).is_empty())
            .filter_map(|s| s["metadata"]["name"].as_str())
            .filter(|n| live.contains_key(*n))
            .collect();
        format!(
            "{} without IP {:?}",
            without.len(),
            &without[..without.len().min(5)]
        )
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
