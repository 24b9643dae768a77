//! The Kubernetes side of the speaker: watches turned into plain facts, the indexes that
//! keep them, Events on Services, this node's `NodeAnnouncement` and gossip's inputs.
//! Nothing here decides anything: the election and the plans are pure modules fed by it.

pub mod events;
pub mod facts;
pub mod gossip_setup;
pub mod index;
pub mod node_announcement;
pub mod watch;
