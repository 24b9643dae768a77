//! BGP: one outgoing session per configured peer, announcing the routes the rest of the
//! speaker plans for this node.
//!
//! ```text
//!  orchestrator ──plan.rs (pure: sessions and routes of this node)──> BgpPlan
//!        │ BgpHandle::set(BgpPlan) / shutdown()
//!        v
//!  BgpHandle task (driver.rs) ── metrics.rs (per-peer series), sessions watch
//!        │ set_peers(Vec<PeerSpec>) / set_routes(BTreeSet<Route>)
//!        v
//!  BgpSpeaker (driver.rs) ── one tokio task per peer, fed by one mpsc of PeerEvent
//!        │                     ├─ connect task (socket.rs: source address, TCP-MD5, TTL)
//!        │                     ├─ reader task  (message.rs Framer) ── PeerEvent::Received
//!        │                     └─ writer task  (bytes out, then close)
//!        v
//!  Session (session.rs): pure state machine, handle(Input) -> Vec<Output>
//!        └─ UPDATE building (route.rs), wire codec (message.rs over netgauze),
//!           received UPDATEs judged per RFC 7606 (update_check.rs)
//! ```
//!
//! Nothing here knows Kubernetes: peers and routes arrive as plain values,
//! state leaves as [`PeerStatus`] snapshots.

#![deny(unsafe_code)]

pub mod driver;
pub mod message;
pub mod metrics;
pub(crate) mod plan;
pub mod route;
pub mod session;
pub mod socket;
pub mod update_check;

#[cfg(test)]
mod misbehaving_peer;
#[cfg(test)]
mod wire_fixtures;

pub use driver::{BgpError, BgpHandle, BgpSpeaker, PeerKey, PeerSpec, PeerStatus, spawn};
pub use metrics::BgpMetrics;
pub use plan::BgpPlan;
pub(crate) use plan::plan;
pub use route::{Route, RouteAttrs, routes_for};
pub use session::{GracefulRestart, Session, SessionConfig, State};
