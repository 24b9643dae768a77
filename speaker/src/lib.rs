//! IronLB speaker: decides per IP which node announces it, and announces it.
//!
//! ```text
//!  k8s/ (watches -> facts, index; Events; NodeAnnouncement writer; gossip setup)
//!    └──> run (driver) ──> orchestrator (pure) ──> election ──> plan (layer 2) / bgp::plan
//!              │                                   │                   │
//!              │                                   v                   v
//!              │                               l2/ (driver around the responder state
//!              │                                    machine; ARP, NDP, Ethernet)
//!              │                                                   bgp/ (handle + driver
//!              │                                                    around the session FSM)
//!              └──> view (pure: the announcement view) ──> k8s::node_announcement
//!  gossip/ ──> live members ──> run
//! ```

pub mod bgp;
pub(crate) mod election;
pub mod gossip;
pub mod k8s;
pub mod l2;
pub mod metrics;
pub(crate) mod orchestrator;
pub(crate) mod plan;
pub mod run;
pub mod view;
