//! IronLB controller: gives LoadBalancer Services their external IPs.
//!
//! The pure core ([`allocator`], [`sharing`], [`reconcile`], [`request`]) knows nothing of
//! the network; the edges ([`run`], [`status`], [`events`], [`leader`], [`http`]) watch
//! the API, write status and Events, elect a leader and serve metrics.
#![forbid(unsafe_code)]

pub mod allocator;
pub mod config_watch;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod request;
pub mod run;
pub mod sharing;
pub mod status;
