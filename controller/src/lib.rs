//! IronLB controller: gives LoadBalancer Services their external IPs.
//!
//! The pure core ([`allocator`], [`sharing`], [`reconcile`], [`request`]) knows nothing of
//! the network; the edges ([`run`], [`status`], [`events`], [`leader`]) watch the API,
//! write status and Events and elect a leader; `main` serves metrics with the server
//! shared with the speaker ([`ironlb_k8s::http`]).
#![forbid(unsafe_code)]

pub mod allocator;
pub mod config_watch;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod request;
pub mod run;
pub mod sharing;
pub mod status;
