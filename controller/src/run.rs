//! The driver: turns watch events into [`Input`]s for the one task that owns the
//! [`Reconciler`], and performs its [`Output`]s.
//!
//! ```text
//!  Service watcher ──┐
//!  config (ConfigMap ┼──> select! ──> Reconciler::handle ──> outputs
//!   + MetalLB objs) ─┤
//!  leader (Lease) ───┤        ^                              ├─ WriteStatus ──> Writer (tasks, ≤ 32 in flight,
//!  retry timers ─────┤        │                              │                  one per Service, latest wins)
//!  write results ────┘        └──── failed write: Retry ─────┤
//!                                                            ├─ Event ──> Publisher (bounded queue, ≤ 16 in flight)
//!                                                            └─ Counted ─> Metrics
//! ```
//! Writes run concurrently so a burst of Services is not serialised behind round trips;
//! a Service never has two writes in flight, so a late write cannot undo a newer one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::allocator::ServiceKey;
use crate::events::Publisher;
use crate::metrics::Metrics;
use crate::reconcile::{Input, Output, Reconciler};
use crate::{config_watch, request, status};
use ironlb_k8s::backoff::Backoff;
use ironlb_k8s::config_source::{ConfigPlace, ConfigUpdate, Merged, config_updates};

/// Most status writes in flight at once.
const MAX_WRITES: usize = 32;
/// Retry delays after a failed write: 0.5 s doubling per failure, up to 30 s.
const WRITE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Names and identity the controller runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// IronLB's namespace (ConfigMap, Lease).
    pub namespace: String,
    /// The ConfigMap's name.
    pub config_name: String,
    /// MetalLB's namespace, whose `metallb.io` objects are read in place (`None`: never).
    pub metallb_namespace: Option<String>,
    /// The `loadBalancerClass` values served.
    pub classes: request::Classes,
}

/// Everything the driver needs, built once in `main`.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// Metrics, registered once.
    pub metrics: Metrics,
    /// Event publisher.
    pub publisher: Publisher,
    /// Settings.
    pub settings: Settings,
    /// Set to true once allocation is running (serves `/readyz`).
    pub ready: watch::Sender<bool>,
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A watch stream ended (it never should).
    #[error("the {0} watch stream ended")]
    StreamEnded(&'static str),
    /// The leader-election task is gone.
    #[error("leader election stopped")]
    LeaderGone,
}

type WriteResult = (ServiceKey, Vec<IpAddr>, Result<(), kube::Error>);

/// Status writes: concurrent, at most one per Service, latest wins.
struct Writer {
    client: kube::Client,
    /// Service -> (ips being written, ips to write next).
    inflight: HashMap<ServiceKey, (Vec<IpAddr>, Option<Vec<IpAddr>>)>,
    waiting: VecDeque<ServiceKey>,
    waiting_ips: HashMap<ServiceKey, Vec<IpAddr>>,
    tasks: JoinSet<WriteResult>,
}

impl Writer {
    fn submit(&mut self, key: ServiceKey, ips: Vec<IpAddr>) {
        if let Some((current, next)) = self.inflight.get_mut(&key) {
            *next = (*current != ips).then_some(ips);
            return;
        }
        if self.tasks.len() >= MAX_WRITES {
            if self.waiting_ips.insert(key.clone(), ips).is_none() {
                self.waiting.push_back(key);
            }
            return;
        }
        let client = self.client.clone();
        self.inflight.insert(key.clone(), (ips.clone(), None));
        self.tasks.spawn(async move {
            let result = status::write(&client, &key, &ips).await;
            (key, ips, result)
        });
    }

    /// Bookkeeping after a write finished: send the queued next value, start waiting writes.
    fn finished(&mut self, key: &ServiceKey) {
        if let Some((_, Some(next))) = self.inflight.remove(key) {
            self.submit(key.clone(), next);
        }
        while self.tasks.len() < MAX_WRITES {
            let Some(k) = self.waiting.pop_front() else {
                break;
            };
            if let Some(ips) = self.waiting_ips.remove(&k) {
                self.submit(k, ips);
            }
        }
    }
}

/// Runs the controller until a stream fails for good.
pub async fn run(ctx: Context, mut leader: watch::Receiver<bool>) -> Result<(), RunError> {
    let Context {
        client,
        metrics,
        mut publisher,
        settings,
        ready,
    } = ctx;
    let services = watcher::watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .backoff(ironlb_k8s::backoff::watch_backoff());
    let config = config_updates(
        client.clone(),
        ConfigPlace {
            namespace: settings.namespace.clone(),
            config_name: settings.config_name.clone(),
            metallb_namespace: settings.metallb_namespace.clone(),
        },
    );
    futures::pin_mut!(services, config);

    let mut state = Reconciler::new();
    let mut writer = Writer {
        client: client.clone(),
        inflight: HashMap::new(),
        waiting: VecDeque::new(),
        waiting_ips: HashMap::new(),
        tasks: JoinSet::new(),
    };
    let mut listing: Vec<request::ServiceView> = Vec::new();
    // When to look at a Service again after a failed write, and how many writes failed.
    let mut retries: BTreeMap<ServiceKey, Instant> = BTreeMap::new();
    let mut attempts: HashMap<ServiceKey, u32> = HashMap::new();
    let mut is_leader = *leader.borrow_and_update();
    let mut pending_inputs: VecDeque<Input> = VecDeque::from([Input::Leader(is_leader)]);

    loop {
        let input = if let Some(input) = pending_inputs.pop_front() {
            input
        } else {
            let next_retry = retries.values().min().copied();
            tokio::select! {
                ev = services.next() => match ev {
                    Some(Ok(Event::Init)) => { listing.clear(); continue; }
                    Some(Ok(Event::InitApply(s))) => { listing.push(request::view(&s, &settings.classes)); continue; }
                    Some(Ok(Event::InitDone)) => Input::ServicesListed(std::mem::take(&mut listing)),
                    Some(Ok(Event::Apply(s))) => Input::ServiceApplied(request::view(&s, &settings.classes)),
                    Some(Ok(Event::Delete(s))) => Input::ServiceDeleted(request::view(&s, &settings.classes).key),
                    Some(Err(e)) => { warn!(error = %e, "service watch error; retrying"); continue; }
                    None => return Err(RunError::StreamEnded("Service")),
                },
                update = config.next() => match update {
                    Some(ConfigUpdate::Merged(merged)) => {
                        if let Merged::Config { config_map_uid, .. } = &merged {
                            publisher.set_config_map_uid(config_map_uid.clone());
                        }
                        config_watch::input(&merged)
                    }
                    Some(ConfigUpdate::Failed { source, error }) => {
                        warn!(%source, %error, "config watch error; retrying");
                        continue;
                    }
                    None => return Err(RunError::StreamEnded("config")),
                },
                changed = leader.changed() => match changed {
                    Ok(()) => {
                        is_leader = *leader.borrow_and_update();
                        Input::Leader(is_leader)
                    }
                    Err(_) => return Err(RunError::LeaderGone),
                },
                Some(done) = writer.tasks.join_next(), if !writer.tasks.is_empty() => {
                    match done {
                        Ok((key, ips, Ok(()))) => {
                            debug!(service = %key, ?ips, "status written");
                            attempts.remove(&key);
                            writer.finished(&key);
                        }
                        Ok((key, ips, Err(e))) => {
                            let attempt = attempts.entry(key.clone()).or_default();
                            *attempt += 1;
                            let attempt = *attempt;
                            let delay = WRITE_BACKOFF.after(attempt);
                            warn!(service = %key, ?ips, error = %e, ?delay, "status write failed; will retry");
                            retries.insert(key.clone(), Instant::now() + delay);
                            writer.finished(&key);
                        }
                        Err(e) => warn!(error = %e, "status write task failed"),
                    }
                    continue;
                },
                () = sleep_until(next_retry), if next_retry.is_some() => {
                    let now = Instant::now();
                    let due: Vec<_> = retries.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
                    for key in due {
                        retries.remove(&key);
                        pending_inputs.push_back(Input::Retry(key));
                    }
                    continue;
                },
            }
        };

        if let Input::Leader(false) = &input {
            // Queued writes were decided as leader: drop them (in-flight ones finish).
            writer.waiting.clear();
            writer.waiting_ips.clear();
        }
        if let Input::ServiceDeleted(key) = &input {
            retries.remove(key);
            attempts.remove(key);
        }
        for output in state.handle(input) {
            match output {
                Output::WriteStatus { key, ips } if is_leader => writer.submit(key, ips),
                Output::WriteStatus { .. } => {}
                // Queued, never awaited (≤ 16 in flight, 10,000 waiting).
                Output::Event(event) => publisher.publish(event),
                Output::Counted(result) => metrics.count(result),
            }
        }
        metrics.observe(&state);
        ready.send_if_modified(|r| std::mem::replace(r, state.ready()) != state.ready());
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
