//! IronLB's config as the controller and the speakers run on it: the ConfigMap's document,
//! merged with MetalLB's `metallb.io` objects when those are kept in the cluster (MetalLB's
//! Deployment and DaemonSet removed, its CRDs and objects left in place), by
//! [`ironlb_config::metallb::merge_in_place`].
//!
//! ```text
//! ConfigMap watch ──────────────┐
//! discovery of metallb.io ──┐   ├──> Sources (pure) ──> ConfigUpdate stream
//! a watch per served kind ──┴───┘
//! ```

mod sources;
mod watch;

pub use sources::{METALLB_KINDS, Merged, Seen, Sources};
pub use watch::{ConfigPlace, ConfigUpdate, DISCOVERY_EVERY, config_updates};
