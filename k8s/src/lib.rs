//! IronLB's Kubernetes glue, one copy shared by the controller, the speaker and the `ironlb`
//! CLI:
//!
//! * [`node_announcement`]: the `NodeAnnouncement` CRD (the speaker writes it, the CLI
//!   reads it);
//! * [`service`]: a Service's identity ([`ServiceKey`]) and the IPs its status records;
//! * [`annotations`]: the one lookup of IronLB's and MetalLB's annotation spellings, with
//!   one documented precedence;
//! * [`events`]: Event reasons as an enum, Event building, and a bounded publisher that
//!   folds similar Events into series and rate-limits them;
//! * [`backoff`]: the retry delays after API failures;
//! * [`config_source`]: the config the components run on, the ConfigMap's document merged
//!   with MetalLB's `metallb.io` objects when those are kept in the cluster;
//! * [`http`]: the `/metrics` and `/healthz` (and `/readyz`) server.
//!
//! Nothing here decides anything about allocation or announcement: it only turns Kubernetes
//! objects into plain values and back.
#![forbid(unsafe_code)]

pub mod annotations;
pub mod backoff;
pub mod config_source;
pub mod events;
pub mod http;
pub mod node_announcement;
pub mod service;

pub use service::ServiceKey;
