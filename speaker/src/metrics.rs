//! The speaker's Prometheus metrics: created once, registered in one registry and
//! passed to the tasks that update them (never globals). Labels are bounded: node name
//! and protocol only.
#![forbid(unsafe_code)]

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The layer-2 counters, cheap to clone (each is a shared handle).
#[derive(Clone, Debug)]
pub struct L2Counters {
    /// `ironlb_arp_requests_total`: ARP requests for IPs this node announces.
    pub arp_requests: IntCounter,
    /// `ironlb_arp_replies_total`: ARP replies sent.
    pub arp_replies: IntCounter,
    /// `ironlb_ndp_requests_total`: Neighbor Solicitations for IPs this node announces.
    pub ndp_requests: IntCounter,
    /// `ironlb_ndp_replies_total`: Neighbor Advertisements sent in answer.
    pub ndp_replies: IntCounter,
    /// `ironlb_gratuitous_sent_total`: gratuitous ARPs and unsolicited NAs sent.
    pub gratuitous: IntCounter,
    /// `ironlb_l2_conflicts_total`: frames in which another MAC claimed an owned IP.
    pub conflicts: IntCounter,
    /// `ironlb_l2_conflict_reasserts_total`: re-assertion rounds (gratuitous ARP /
    /// unsolicited NA) sent because another MAC claimed an IP this node answers for.
    pub reasserts: IntCounter,
    /// `ironlb_l2_ip_conflicts_total{ip}`: the same per IP; only IPs this node answers
    /// for now carry a series (removed when it stops), so the label stays bounded.
    pub ip_conflicts: IntCounterVec,
    /// `ironlb_l2_malformed_frames_total{kind}`: ARP or NS/NA frames that did not decode,
    /// by [`crate::l2::responder::Malformed`] kind.
    pub malformed: IntCounterVec,
}

/// Every metric of the speaker and the registry that serves them.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// `ironlb_announced_ips{node,protocol}`: IPs this node announces.
    pub announced_ips: IntGaugeVec,
    /// `ironlb_election_changes_total`: times this node's set of won IPs changed.
    pub election_changes: IntCounter,
    /// `ironlb_config_stale`: 1 while the last config seen was rejected.
    pub config_stale: IntGauge,
    /// `ironlb_gossip_members`: live speakers seen by gossip, this one included.
    pub gossip_members: IntGauge,
    /// `ironlb_gossip_refused_total{reason}`: gossip datagrams refused, by
    /// [`crate::gossip::Refused`] reason.
    pub gossip_refused: IntCounterVec,
    /// `ironlb_gossip_heartbeat_verdicts_total{state}`: members suspected or declared
    /// down because their heartbeats stopped.
    pub gossip_verdicts: IntCounterVec,
    /// Layer-2 counters.
    pub l2: L2Counters,
    /// `ironlb_events_total{outcome}`, updated by the Event publisher.
    pub events: ironlb_k8s::events::EventMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let vec =
            |name: &str, help: &str, label: &str| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let l2 = L2Counters {
            reasserts: counter(
                "ironlb_l2_conflict_reasserts_total",
                "Gratuitous ARP / unsolicited NA rounds sent to re-assert an IP another MAC claimed",
            )?,
            ip_conflicts: vec(
                "ironlb_l2_ip_conflicts_total",
                "Frames in which another MAC claimed this IP, for IPs this node answers for",
                "ip",
            )?,
            malformed: vec(
                "ironlb_l2_malformed_frames_total",
                "ARP and Neighbor Discovery frames that did not decode, by kind",
                "kind",
            )?,
            arp_requests: counter(
                "ironlb_arp_requests_total",
                "ARP requests received for IPs this node announces",
            )?,
            arp_replies: counter("ironlb_arp_replies_total", "ARP replies sent")?,
            ndp_requests: counter(
                "ironlb_ndp_requests_total",
                "Neighbor Solicitations received for IPs this node announces",
            )?,
            ndp_replies: counter(
                "ironlb_ndp_replies_total",
                "Neighbor Advertisements sent in answer to solicitations",
            )?,
            gratuitous: counter(
                "ironlb_gratuitous_sent_total",
                "Gratuitous ARPs and unsolicited Neighbor Advertisements sent",
            )?,
            conflicts: counter(
                "ironlb_l2_conflicts_total",
                "Frames in which another MAC claimed an IP this node announces",
            )?,
        };
        let election_changes = counter(
            "ironlb_election_changes_total",
            "Changes of the set of IPs this node won",
        )?;
        let announced_ips = IntGaugeVec::new(
            Opts::new("ironlb_announced_ips", "IPs announced by this node"),
            &["node", "protocol"],
        )?;
        registry.register(Box::new(announced_ips.clone()))?;
        let config_stale = IntGauge::new(
            "ironlb_config_stale",
            "1 while the latest config was rejected and the last good one is in force",
        )?;
        registry.register(Box::new(config_stale.clone()))?;
        let gossip_members = IntGauge::new(
            "ironlb_gossip_members",
            "Live speakers seen by gossip, this one included",
        )?;
        registry.register(Box::new(gossip_members.clone()))?;
        let gossip_refused = vec(
            "ironlb_gossip_refused_total",
            "Gossip datagrams refused, by reason",
            "reason",
        )?;
        for r in crate::gossip::Refused::ALL {
            gossip_refused.with_label_values(&[r.as_str()]);
        }
        let gossip_verdicts = vec(
            "ironlb_gossip_heartbeat_verdicts_total",
            "Members this speaker suspected or declared down because their heartbeats stopped",
            "state",
        )?;
        for state in [foca::State::Suspect, foca::State::Down] {
            gossip_verdicts.with_label_values(&[crate::gossip::verdict_label(state)]);
        }
        for k in crate::l2::responder::Malformed::ALL {
            l2.malformed.with_label_values(&[k.as_str()]);
        }
        let events = ironlb_k8s::events::EventMetrics::register(&registry)?;
        Ok(Metrics {
            events,
            registry,
            announced_ips,
            election_changes,
            config_stale,
            gossip_members,
            gossip_refused,
            gossip_verdicts,
            l2,
        })
    }

    /// The registry, for other parts of the speaker to register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_named_metric() {
        let m = Metrics::new().unwrap();
        m.announced_ips
            .with_label_values(&["node1", "layer2"])
            .set(3);
        m.l2.arp_replies.inc();
        let text = ironlb_k8s::http::encode(m.registry()).unwrap();
        for name in [
            "ironlb_announced_ips{node=\"node1\",protocol=\"layer2\"} 3",
            "ironlb_arp_requests_total 0",
            "ironlb_arp_replies_total 1",
            "ironlb_ndp_requests_total 0",
            "ironlb_ndp_replies_total 0",
            "ironlb_gratuitous_sent_total 0",
            "ironlb_election_changes_total 0",
            "ironlb_l2_conflicts_total 0",
            "ironlb_l2_malformed_frames_total{kind=\"checksum\"} 0",
            "ironlb_gossip_refused_total{reason=\"auth\"} 0",
            "ironlb_events_total{outcome=\"ceiling\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
