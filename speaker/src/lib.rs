//! IronLB speaker: decides per IP which node announces it, and announces it.
//!
//! ```text
//!  k8s/ watch ──(facts)──> run (driver) <──> orchestrator (pure: handle(Input) -> Vec<Output>)
//!  gossip/ members ───────────┘  │             ├─ election (pure) ──> plan (layer 2, pure)
//!                                │             ├─ bgp::plan (pure)
//!                                │             └─ view (pure: the announcement view)
//!   outputs: ────────────────────┼──> l2/  (driver around the responder state machine;
//!                                │          ARP, NDP, Ethernet codecs)
//!                                ├──> bgp/ (handle + driver around the session FSM)
//!                                ├──> k8s::announcement_writer (NodeAnnouncement)
//!                                └──> Events, metrics (ironlb-k8s, metrics)
//! ```
//! The Kubernetes glue shared with the controller and the CLI (CRD types, Service keys,
//! status IPs, Events, backoff, the metrics server) is the `ironlb-k8s` crate.

pub(crate) mod alarm;
pub mod bfd;
pub mod bgp;
pub mod election;
pub mod gossip;
pub mod k8s;
pub mod l2;
pub(crate) mod log_limit;
pub mod metrics;
pub(crate) mod orchestrator;
pub(crate) mod plan;
pub(crate) mod readable;
pub mod readiness;
pub mod run;
pub(crate) mod udp;
pub mod view;
