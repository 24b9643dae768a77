//! The controller's state machine: Services and config in, status writes and Events out.
//!
//! [`Reconciler::handle`] takes one [`Input`] and returns the [`Output`]s a driver must
//! perform; it does no I/O. It owns the allocator and the compact view of every Service.
//!
//! Invariants:
//! - nothing is allocated before both the config and the full Service list are in; then
//!   every address recorded in a Service's status is re-claimed before any new one is
//!   handed out, so a restart never moves an IP;
//! - every replica computes; only the leader gets writes and Events in its outputs;
//! - a follower takes the leader's writes (Service status) as the record;
//! - an invalid config never replaces the last good one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ironlb_config::{Config, ConfigErrors};
use tracing::{info, warn};

use crate::allocator::{AllocError, Allocator, ClaimProblem, Reason as AllocReason, ServiceKey};
use crate::request::{Handling, ServiceView};
use ironlb_k8s::events::Reason;

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Input {
    /// A complete list of Services (at start, or after the watch had to re-list).
    ServicesListed(Vec<ServiceView>),
    /// A Service was created or changed.
    ServiceApplied(ServiceView),
    /// A Service was deleted.
    ServiceDeleted(ServiceKey),
    /// The ConfigMap holds this document: parsed, or the errors found in it.
    ConfigApplied(Result<Config, ConfigErrors>),
    /// The ConfigMap (or its `config` key) is gone.
    ConfigDeleted,
    /// This replica became (true) or stopped being (false) the leader.
    Leader(bool),
    /// Look at this Service again (after a failed write).
    Retry(ServiceKey),
}

/// What an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A Service (with its uid, which `kubectl describe` matches on).
    Service {
        /// The Service.
        key: ServiceKey,
        /// Its `metadata.uid`.
        uid: String,
    },
    /// The IronLB ConfigMap.
    ConfigMap,
}

/// An Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOut {
    /// What it is about.
    pub subject: Subject,
    /// Why (its kind says Warning or Normal).
    pub reason: Reason,
    /// PascalCase action. Events with the same subject, reason and action fold into one
    /// series (kube's Recorder), so the action carries the failure kind.
    pub action: &'static str,
    /// Human-readable message.
    pub note: String,
}

/// Why an allocation attempt failed: the `result` label of `ironlb_allocations_total` and
/// the action of the `AllocationFailed` Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The allocator refused (pool exhausted, unknown pool, address in use, ...).
    Alloc(AllocReason),
    /// The Service's request does not parse (annotations, and also families, ports).
    BadRequest,
}

impl Failure {
    /// The label: the allocator's reason, or `BadAnnotation` for a malformed request (the
    /// name dashboards and alerts already match).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Alloc(r) => r.as_str(),
            Failure::BadRequest => "BadAnnotation",
        }
    }
}

/// The outcome of one allocation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Addresses assigned.
    Ok,
    /// No addresses, for this reason.
    Failed(Failure),
}

impl Outcome {
    /// The `result` label: `ok`, or the failure's.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(f) => f.as_str(),
        }
    }
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Set `status.loadBalancer.ingress` of the Service to exactly these addresses.
    WriteStatus {
        /// The Service.
        key: ServiceKey,
        /// Its addresses (empty clears the status).
        ips: Vec<IpAddr>,
    },
    /// Publish an Event.
    Event(EventOut),
    /// Count one allocation attempt by its outcome.
    Counted(Outcome),
}

/// The state machine. See the module docs.
#[derive(Debug, Default)]
pub struct Reconciler {
    config: Option<Config>,
    config_stale: bool,
    allocator: Allocator,
    services: BTreeMap<ServiceKey, ServiceView>,
    synced: bool,
    leader: bool,
    /// Services whose allocation failed; retried when addresses free up or config changes.
    pending: BTreeSet<ServiceKey>,
    /// Last failure reported per Service, so a retry that fails the same way stays quiet.
    reported: HashMap<ServiceKey, String>,
    /// Why a Service is being moved (config orphaned its IP), for the next Event.
    moving: HashMap<ServiceKey, String>,
}

impl Reconciler {
    /// A fresh state: no config, no Services, not leader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a good config has been loaded.
    pub fn config_loaded(&self) -> bool {
        self.config.is_some()
    }

    /// Whether the ConfigMap's current document was rejected (the last good one is in use).
    pub fn config_stale(&self) -> bool {
        self.config_stale
    }

    /// Whether allocation is running (config and Service list both in).
    pub fn ready(&self) -> bool {
        self.synced && self.config.is_some()
    }

    /// The allocator, for metrics and inspection.
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::ServicesListed(list) => {
                self.services = list.into_iter().map(|v| (v.key.clone(), v)).collect();
                self.synced = true;
                self.rebuild(&mut out);
            }
            Input::ServiceApplied(view) => {
                let key = view.key.clone();
                self.services.insert(key.clone(), view);
                if self.ready() {
                    let before = self.in_use();
                    self.process(&key, true, &mut out);
                    self.retry_if_freed(before, &mut out);
                }
            }
            Input::ServiceDeleted(key) => {
                self.services.remove(&key);
                self.pending.remove(&key);
                self.reported.remove(&key);
                self.moving.remove(&key);
                if self.ready() {
                    let before = self.in_use();
                    let freed = self.allocator.release(&key);
                    if !freed.is_empty() {
                        info!(service = %key, ips = ?freed, "service deleted, addresses released");
                    }
                    self.retry_if_freed(before, &mut out);
                }
            }
            Input::ConfigApplied(Ok(config)) => {
                self.config_stale = false;
                if self.config.as_ref() == Some(&config) {
                    return out;
                }
                if !self.synced {
                    // Nothing is held yet: just the pools (for metrics) until the list is in.
                    info!("config loaded");
                    self.allocator = Allocator::new(&config);
                    self.config = Some(config);
                    return out;
                }
                match self.config.replace(config) {
                    None => {
                        info!("config loaded");
                        self.rebuild(&mut out);
                    }
                    Some(_) => {
                        info!("config changed");
                        let config = self.config.clone().unwrap_or_default();
                        for (key, ip) in self.allocator.set_config(&config) {
                            warn!(service = %key, %ip, "address is in no pool of the new config; re-allocating");
                            self.moving.insert(
                                key,
                                format!("{ip} is no longer in any pool of the config"),
                            );
                        }
                        self.process_all(&mut out);
                    }
                }
            }
            Input::ConfigApplied(Err(errors)) => {
                self.config_stale = true;
                warn!(%errors, "invalid config rejected; the last good config stays in force");
                if self.leader {
                    out.push(Output::Event(EventOut {
                        subject: Subject::ConfigMap,
                        reason: Reason::InvalidConfig,
                        action: "LoadConfig",
                        note: truncate(&format!(
                            "config rejected, last good config kept: {errors}"
                        )),
                    }));
                }
            }
            Input::ConfigDeleted => {
                warn!("config deleted; keeping the last config");
            }
            Input::Leader(leader) => {
                let was = std::mem::replace(&mut self.leader, leader);
                if leader && !was {
                    info!("became leader");
                    // Start over from the record (status, kept up to date as a follower, and
                    // what this replica computed for Services still without status), so
                    // conflicts and failures are reported and pending writes are made.
                    self.reported.clear();
                    if self.ready() {
                        self.rebuild(&mut out);
                    }
                } else if !leader && was {
                    info!("lost leadership");
                }
            }
            Input::Retry(key) => {
                if self.ready() && self.services.contains_key(&key) {
                    self.process(&key, true, &mut out);
                }
            }
        }
        out
    }

    fn in_use(&self) -> u128 {
        self.allocator.usage().iter().map(|u| u.in_use).sum()
    }

    fn retry_if_freed(&mut self, before: u128, out: &mut Vec<Output>) {
        if self.in_use() < before && !self.pending.is_empty() {
            let pending: Vec<_> = self.pending.iter().cloned().collect();
            for key in pending {
                self.process(&key, true, out);
            }
        }
    }

    /// Starts over from the Service list: re-claim every recorded address, then allocate.
    fn rebuild(&mut self, out: &mut Vec<Output>) {
        let Some(config) = self.config.as_ref() else {
            return;
        };
        let previous = std::mem::replace(&mut self.allocator, Allocator::new(config));
        self.pending.clear();
        let mut conflicts = Vec::new();
        for view in self.services.values() {
            let Ok(Handling::Ours(req)) = &view.handling else {
                continue;
            };
            if view.status_ips.is_empty() {
                continue;
            }
            for problem in self.allocator.claim(req, &view.status_ips) {
                match problem {
                    ClaimProblem::OutsidePools(ip) => {
                        warn!(service = %view.key, %ip, "recorded address is in no pool; re-allocating");
                        self.moving.insert(
                            view.key.clone(),
                            format!("{ip} is not in any pool of the config"),
                        );
                    }
                    ClaimProblem::Conflict { ip, other, why } => {
                        conflicts.push((view.key.clone(), ip, other, why));
                    }
                }
            }
        }
        // On a re-list, a write may still be in flight (or was computed as a follower):
        // keep what this replica already chose for Services whose status is still empty,
        // where no recorded holder contradicts it, so the in-flight value stays unique.
        for view in self.services.values() {
            let Ok(Handling::Ours(req)) = &view.handling else {
                continue;
            };
            if let Some(ips) = previous.assigned(&view.key)
                && view.status_ips.is_empty()
                && ips.iter().all(|ip| self.allocator.holders(*ip).is_empty())
            {
                self.allocator.claim(req, ips);
            }
        }
        for (key, ip, other, why) in conflicts {
            warn!(service = %key, %ip, other = %other, %why, "address held by two services that may not share");
            if self.leader {
                let note = format!(
                    "{ip} is also held by {other}, and they may not share it ({why}); neither is changed"
                );
                for (k, n) in [
                    (&key, note.clone()),
                    (&other, note.replace(&other.to_string(), &key.to_string())),
                ] {
                    if let Some(uid) = self.services.get(k).map(|v| v.uid.clone()) {
                        out.push(Output::Event(EventOut {
                            subject: Subject::Service {
                                key: k.clone(),
                                uid,
                            },
                            reason: Reason::IpConflict,
                            action: "Claim",
                            note: n,
                        }));
                    }
                }
            }
        }
        self.process_all(out);
    }

    fn process_all(&mut self, out: &mut Vec<Output>) {
        let keys: Vec<_> = self.services.keys().cloned().collect();
        for key in keys {
            self.process(&key, false, out);
        }
    }

    /// Brings one Service to its desired state.
    fn process(&mut self, key: &ServiceKey, follow_status: bool, out: &mut Vec<Output>) {
        let Some(view) = self.services.get(key) else {
            return;
        };
        let uid = view.uid.clone();
        let status_ips = view.status_ips.clone();
        let req = match &view.handling {
            Ok(Handling::Ours(req)) => req.clone(),
            Ok(Handling::NotLoadBalancer) => {
                self.pending.remove(key);
                let freed = self.allocator.release(key);
                if !freed.is_empty() {
                    info!(service = %key, ips = ?freed, "no longer a LoadBalancer, addresses released");
                }
                if self.leader && !status_ips.is_empty() {
                    out.push(Output::WriteStatus {
                        key: key.clone(),
                        ips: Vec::new(),
                    });
                }
                return;
            }
            Ok(Handling::OtherClass) => {
                self.pending.remove(key);
                self.allocator.release(key);
                return;
            }
            Err(e) => {
                // Keep whatever it holds; say what is wrong.
                let note = e.to_string();
                self.report(key, &uid, Failure::BadRequest, note, out);
                return;
            }
        };
        // A follower takes the leader's record as it appears.
        if follow_status
            && !self.leader
            && !status_ips.is_empty()
            && self.allocator.assigned(key) != Some(status_ips.as_slice())
        {
            self.allocator.claim(&req, &status_ips);
        }
        let previous = self.allocator.assigned(key).map(<[IpAddr]>::to_vec);
        match self.allocator.assign(&req) {
            Ok(ips) => {
                self.pending.remove(key);
                self.reported.remove(key);
                let moved_because = self.moving.remove(key);
                if previous.as_deref() != Some(ips.as_slice()) {
                    out.push(Output::Counted(Outcome::Ok));
                    info!(service = %key, ?ips, "addresses allocated");
                }
                if ips != status_ips && self.leader {
                    out.push(Output::WriteStatus {
                        key: key.clone(),
                        ips: ips.clone(),
                    });
                    let list = join(&ips);
                    // A move gets its own reason, so it is not folded into the first
                    // allocation's Event series and its message stays visible.
                    let (reason, note) = match (moved_because, status_ips.is_empty()) {
                        (Some(why), _) => {
                            (Reason::IpReallocated, format!("Assigned {list} ({why})"))
                        }
                        (None, true) => (Reason::IpAllocated, format!("Assigned {list}")),
                        (None, false) => (
                            Reason::IpReallocated,
                            format!("Assigned {list} (was {})", join(&status_ips)),
                        ),
                    };
                    out.push(Output::Event(EventOut {
                        subject: Subject::Service {
                            key: key.clone(),
                            uid,
                        },
                        reason,
                        action: "Allocate",
                        note,
                    }));
                }
            }
            Err(e) => {
                self.pending.insert(key.clone());
                self.fail(key, &uid, &e, out);
            }
        }
    }

    fn fail(&mut self, key: &ServiceKey, uid: &str, e: &AllocError, out: &mut Vec<Output>) {
        self.report(key, uid, Failure::Alloc(e.reason()), e.to_string(), out);
    }

    /// A Warning on the Service, once per distinct failure.
    fn report(
        &mut self,
        key: &ServiceKey,
        uid: &str,
        failure: Failure,
        note: String,
        out: &mut Vec<Output>,
    ) {
        if self.reported.get(key) == Some(&note) {
            return;
        }
        let reason = failure.as_str();
        warn!(service = %key, reason, %note, "allocation failed");
        out.push(Output::Counted(Outcome::Failed(failure)));
        self.reported.insert(key.clone(), note.clone());
        if self.leader {
            out.push(Output::Event(EventOut {
                subject: Subject::Service {
                    key: key.clone(),
                    uid: uid.to_owned(),
                },
                reason: Reason::AllocationFailed,
                action: reason,
                note: truncate(&format!("{reason}: {note}")),
            }));
        }
    }
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Event notes are limited to 1 kB.
fn truncate(s: &str) -> String {
    if s.len() <= 1000 {
        return s.to_owned();
    }
    let mut end = 1000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
