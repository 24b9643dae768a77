//! BGP announcer: one outgoing session per configured peer, announcing the
//! routes the rest of the speaker asks for.
//!
//! ```text
//!  speaker (election, watches)
//!        │ set_peers(Vec<PeerSpec>) / set_routes(BTreeSet<Route>) / shutdown()
//!        v
//!  BgpSpeaker (driver.rs) ── one tokio task per peer, fed by one mpsc of PeerEvent
//!        │                     ├─ connect task (socket.rs: source address, TCP-MD5, TTL)
//!        │                     ├─ reader task  (message.rs Framer) ── PeerEvent::Received
//!        │                     └─ writer task  (bytes out, then close)
//!        v
//!  Session (session.rs): pure state machine, handle(Input) -> Vec<Output>
//!        └─ UPDATE building (route.rs), wire codec (message.rs over netgauze)
//! ```
//!
//! Nothing here knows Kubernetes: peers and routes arrive as plain values,
//! state leaves as [`PeerStatus`] snapshots.

#![deny(unsafe_code)]

pub mod announcer;
pub mod desired;
pub mod driver;
pub mod message;
pub mod route;
pub mod session;
pub mod socket;

pub use announcer::{BgpError, BgpHandle, BgpMetrics};
pub use desired::{Desired, desired};
pub use driver::{BgpSpeaker, PeerKey, PeerSpec, PeerStatus};
pub use route::{Route, RouteAttrs, routes_for};
pub use session::{Session, SessionConfig, State};
