//! The Kubernetes side of the speaker: watches turned into plain facts, the indexes that
//! keep them, the writer of this node's `NodeAnnouncement` and gossip's inputs. What the
//! controller and the CLI share (CRD types, Service keys, status IPs, Events, backoff, the
//! metrics server) is in the `ironlb-k8s` crate. Nothing here decides anything: the
//! orchestrator, the election and the plans are pure modules fed by it.

pub mod announcement_writer;
pub(crate) mod facts;
pub mod gossip_setup;
pub(crate) mod index;
pub(crate) mod watch;
