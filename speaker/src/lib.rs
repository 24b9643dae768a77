//! IronLB speaker: decides per IP which node announces it, and announces it.

pub mod announcement;
pub mod announcer;
pub mod arp;
pub mod bgp;
pub mod election;
pub mod ethernet;
pub mod events;
pub mod gossip;
pub mod http;
pub mod index;
pub mod l2;
pub mod metrics;
pub mod ndp;
pub mod state;
pub mod watch;
