//! IronLB speaker: decides per IP which node announces it, and announces it.

pub mod bgp;
pub mod election;
pub mod ethernet;
pub mod arp;
pub mod ndp;
pub mod announcer;
pub mod metrics;
pub mod l2;
pub mod state;
pub mod watch;
pub mod http;
pub mod gossip;
pub mod announcement;
