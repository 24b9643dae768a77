//! The per-peer BGP metrics and the exporter that copies session snapshots into them.
//!
//! Invariant: counters only ever grow (a restarted session's counters start again from
//! zero and are added whole), and the series of a peer that is removed are deleted, so
//! labels stay bounded by the configured peers.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::driver::{PeerKey, PeerStatus};
use super::session::State;
use crate::bfd::BfdMetrics;

/// The per-peer BGP metrics, labelled by `peer` (`address:port`, bounded by
/// the configured peers). Series of a peer that is removed are deleted.
#[derive(Clone, Debug)]
pub struct BgpMetrics {
    /// `ironlb_bgp_session_up{peer}`: 1 while the session is Established.
    pub session_up: IntGaugeVec,
    /// `ironlb_bgp_updates_sent_total{peer}`: UPDATE messages sent.
    pub updates_sent: IntCounterVec,
    /// `ironlb_bgp_prefixes_announced{peer}`: prefixes the peer holds from us.
    pub prefixes_announced: IntGaugeVec,
    /// `ironlb_bgp_notifications_sent_total{peer}`.
    pub notifications_sent: IntCounterVec,
    /// `ironlb_bgp_notifications_received_total{peer}`.
    pub notifications_received: IntCounterVec,
    /// `ironlb_bgp_session_state_changes_total{peer}`: FSM state changes.
    pub state_changes: IntCounterVec,
    /// The BFD sessions' metrics (`ironlb_bfd_*`), kept by the BFD task.
    pub bfd: BfdMetrics,
}

impl BgpMetrics {
    /// Creates the metrics and registers them in `registry` (the speaker's,
    /// see [`crate::metrics::Metrics::registry`]).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), &["peer"])?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), &["peer"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        Ok(Self {
            session_up: gauge(
                "ironlb_bgp_session_up",
                "1 while the BGP session to the peer is Established",
            )?,
            updates_sent: counter(
                "ironlb_bgp_updates_sent_total",
                "BGP UPDATE messages sent to the peer",
            )?,
            prefixes_announced: gauge(
                "ironlb_bgp_prefixes_announced",
                "Prefixes the peer currently holds from this node",
            )?,
            notifications_sent: counter(
                "ironlb_bgp_notifications_sent_total",
                "BGP NOTIFICATION messages sent to the peer",
            )?,
            notifications_received: counter(
                "ironlb_bgp_notifications_received_total",
                "BGP NOTIFICATION messages received from the peer",
            )?,
            state_changes: counter(
                "ironlb_bgp_session_state_changes_total",
                "State changes of the BGP session to the peer",
            )?,
            bfd: BfdMetrics::register(registry)?,
        })
    }
}

/// A session's cumulative counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    updates_sent: u64,
    notifications_sent: u64,
    notifications_received: u64,
    state_changes: u64,
}

impl Totals {
    fn of(s: &PeerStatus) -> Self {
        Self {
            updates_sent: s.stats.updates_sent,
            notifications_sent: s.stats.notifications_sent,
            notifications_received: s.stats.notifications_received,
            state_changes: s.state_changes,
        }
    }

    /// What happened since `before`. A counter that went down belongs to a
    /// restarted session task (a changed peer spec): all of it is new.
    fn since(&self, before: &Totals) -> Totals {
        let d = |now: u64, then: u64| if now >= then { now - then } else { now };
        Totals {
            updates_sent: d(self.updates_sent, before.updates_sent),
            notifications_sent: d(self.notifications_sent, before.notifications_sent),
            notifications_received: d(self.notifications_received, before.notifications_received),
            state_changes: d(self.state_changes, before.state_changes),
        }
    }
}

/// Copies session snapshots into [`BgpMetrics`], remembering what it has
/// counted so that the counters only ever grow.
#[derive(Debug)]
pub(super) struct Exporter {
    metrics: BgpMetrics,
    seen: BTreeMap<PeerKey, Totals>,
    labels: BTreeSet<String>,
}

fn peer_label(key: &PeerKey) -> String {
    key.peer.to_string()
}

impl Exporter {
    pub(super) fn new(metrics: BgpMetrics) -> Self {
        Self {
            metrics,
            seen: BTreeMap::new(),
            labels: BTreeSet::new(),
        }
    }

    pub(super) fn bfd_metrics(&self) -> BfdMetrics {
        self.metrics.bfd.clone()
    }

    pub(super) fn export(&mut self, statuses: &[PeerStatus]) {
        let m = &self.metrics;
        // Two sessions may share a peer address (other source or AS): their
        // gauges add up under the one label.
        let mut gauges: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for s in statuses {
            let label = peer_label(&s.key);
            let g = gauges.entry(label.clone()).or_default();
            g.0 += i64::from(s.state == State::Established);
            g.1 += i64::try_from(s.prefixes_announced).unwrap_or(i64::MAX);
            let now = Totals::of(s);
            let before = self.seen.get(&s.key).copied().unwrap_or_default();
            let d = now.since(&before);
            let l = [label.as_str()];
            m.updates_sent.with_label_values(&l).inc_by(d.updates_sent);
            m.notifications_sent
                .with_label_values(&l)
                .inc_by(d.notifications_sent);
            m.notifications_received
                .with_label_values(&l)
                .inc_by(d.notifications_received);
            m.state_changes
                .with_label_values(&l)
                .inc_by(d.state_changes);
            seen.insert(s.key, now);
        }
        for (label, (up, prefixes)) in &gauges {
            m.session_up.with_label_values(&[label]).set(*up);
            m.prefixes_announced
                .with_label_values(&[label])
                .set(*prefixes);
        }
        let labels: BTreeSet<String> = gauges.into_keys().collect();
        for gone in self.labels.difference(&labels) {
            let l = [gone.as_str()];
            let _ = m.session_up.remove_label_values(&l);
            let _ = m.prefixes_announced.remove_label_values(&l);
            let _ = m.updates_sent.remove_label_values(&l);
            let _ = m.notifications_sent.remove_label_values(&l);
            let _ = m.notifications_received.remove_label_values(&l);
            let _ = m.state_changes.remove_label_values(&l);
        }
        self.labels = labels;
        self.seen = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::session::SessionStats;

    fn status(peer: &str, state: State, prefixes: usize, updates: u64, changes: u64) -> PeerStatus {
        PeerStatus {
            key: PeerKey {
                peer: peer.parse().unwrap(),
                source: None,
                local_asn: 64512,
                peer_asn: 64500,
            },
            state,
            prefixes_announced: prefixes,
            local_address: None,
            state_changes: changes,
            established_since: None,
            stats: SessionStats {
                updates_sent: updates,
                notifications_sent: 1,
                ..SessionStats::default()
            },
            last_error: None,
            graceful_restart: false,
        }
    }

    fn render(registry: &Registry) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn counters_follow_sessions_and_survive_a_restarted_session() {
        let registry = Registry::new();
        let mut e = Exporter::new(BgpMetrics::register(&registry).unwrap());
        e.export(&[status("192.0.2.1:179", State::Established, 3, 5, 4)]);
        e.export(&[status("192.0.2.1:179", State::Established, 4, 7, 4)]);
        let text = render(&registry);
        for line in [
            "ironlb_bgp_session_up{peer=\"192.0.2.1:179\"} 1",
            "ironlb_bgp_prefixes_announced{peer=\"192.0.2.1:179\"} 4",
            "ironlb_bgp_updates_sent_total{peer=\"192.0.2.1:179\"} 7",
            "ironlb_bgp_session_state_changes_total{peer=\"192.0.2.1:179\"} 4",
            "ironlb_bgp_notifications_sent_total{peer=\"192.0.2.1:179\"} 1",
            "ironlb_bgp_notifications_received_total{peer=\"192.0.2.1:179\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // The session task restarted (its counters start over): nothing is lost.
        e.export(&[status("192.0.2.1:179", State::Connect, 0, 2, 1)]);
        let text = render(&registry);
        assert!(text.contains("ironlb_bgp_updates_sent_total{peer=\"192.0.2.1:179\"} 9"));
        assert!(text.contains("ironlb_bgp_session_up{peer=\"192.0.2.1:179\"} 0"));
        assert!(text.contains("ironlb_bgp_session_state_changes_total{peer=\"192.0.2.1:179\"} 5"));
    }

    #[test]
    fn a_removed_peer_loses_its_series() {
        let registry = Registry::new();
        let mut e = Exporter::new(BgpMetrics::register(&registry).unwrap());
        e.export(&[
            status("192.0.2.1:179", State::Established, 1, 1, 4),
            status("[2001:db8:1::1]:179", State::OpenSent, 0, 0, 2),
        ]);
        assert!(render(&registry).contains("peer=\"[2001:db8:1::1]:179\""));
        e.export(&[status("192.0.2.1:179", State::Established, 1, 1, 4)]);
        let text = render(&registry);
        assert!(!text.contains("2001:db8:1::1"), "{text}");
        assert!(text.contains("ironlb_bgp_session_up{peer=\"192.0.2.1:179\"} 1"));
    }

    #[test]
    fn registering_twice_in_one_registry_fails() {
        let registry = Registry::new();
        assert!(BgpMetrics::register(&registry).is_ok());
        assert!(BgpMetrics::register(&registry).is_err());
    }
}
