//! Prometheus metrics of the controller: created and registered once, in one registry,
//! and handed to whoever updates or serves them. Labels are bounded: pool names come
//! from the config, families and results from fixed sets.

use prometheus::{GaugeVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::reconcile::{Outcome, Reconciler};

/// The controller's metrics and their registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pool_size: GaugeVec,
    pool_in_use: GaugeVec,
    config_loaded: IntGauge,
    config_stale: IntGauge,
    allocations: IntCounterVec,
    /// `ironlb_events_total{outcome}`, updated by the Event publisher.
    pub events: ironlb_k8s::events::EventMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let pool_size = GaugeVec::new(
            Opts::new("ironlb_address_pool_size", "Usable addresses in the pool"),
            &["pool", "family"],
        )?;
        let pool_in_use = GaugeVec::new(
            Opts::new(
                "ironlb_address_pool_in_use",
                "Addresses of the pool held by Services",
            ),
            &["pool", "family"],
        )?;
        let config_loaded =
            IntGauge::new("ironlb_config_loaded", "1 once a valid config is in force")?;
        let config_stale = IntGauge::new(
            "ironlb_config_stale",
            "1 when the ConfigMap's current config was rejected and the last good one is used",
        )?;
        let allocations = IntCounterVec::new(
            Opts::new("ironlb_allocations_total", "Allocation outcomes by result"),
            &["result"],
        )?;
        registry.register(Box::new(pool_size.clone()))?;
        registry.register(Box::new(pool_in_use.clone()))?;
        registry.register(Box::new(config_loaded.clone()))?;
        registry.register(Box::new(config_stale.clone()))?;
        registry.register(Box::new(allocations.clone()))?;
        let events = ironlb_k8s::events::EventMetrics::register(&registry)?;
        Ok(Self {
            events,
            registry,
            pool_size,
            pool_in_use,
            config_loaded,
            config_stale,
            allocations,
        })
    }

    /// Counts one allocation outcome.
    pub fn count(&self, outcome: Outcome) {
        self.allocations
            .with_label_values(&[outcome.as_str()])
            .inc();
    }

    /// Brings the gauges in line with the controller's state.
    pub fn observe(&self, state: &Reconciler) {
        self.config_loaded.set(i64::from(state.config_loaded()));
        self.config_stale.set(i64::from(state.config_stale()));
        // Pools may have disappeared with a config change: start from nothing.
        self.pool_size.reset();
        self.pool_in_use.reset();
        for u in state.allocator().usage() {
            let labels = [u.pool.0.as_str(), u.family.label()];
            self.pool_size.with_label_values(&labels).set(u.size as f64);
            self.pool_in_use
                .with_label_values(&labels)
                .set(u.in_use as f64);
        }
    }

    /// The registry every metric is in (served by [`ironlb_k8s::http`]).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        ironlb_k8s::http::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Input;

    #[test]
    fn exposes_pool_sizes_and_config_state() -> Result<(), Box<dyn std::error::Error>> {
        let m = Metrics::new()?;
        let mut r = Reconciler::new();
        let config = ironlb_config::parse(
            "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.0/30, 'fd00::/64']\n",
        )?;
        r.handle(Input::ConfigApplied(Ok(config)));
        r.handle(Input::ConfigApplied(Err(ironlb_config::parse(
            "address-pools: 3",
        )
        .unwrap_err())));
        m.observe(&r);
        m.count(Outcome::Ok);
        let text = m.encode()?;
        for line in [
            r#"ironlb_address_pool_size{family="ipv4",pool="p"} 4"#,
            r#"ironlb_address_pool_size{family="ipv6",pool="p"} 18446744073709552000"#,
            r#"ironlb_address_pool_in_use{family="ipv4",pool="p"} 0"#,
            "ironlb_config_loaded 1",
            "ironlb_config_stale 1",
            r#"ironlb_allocations_total{result="ok"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        Ok(())
    }
}
