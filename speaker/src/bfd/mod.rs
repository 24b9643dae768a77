//! BFD (RFC 5880 asynchronous mode; single hop RFC 5881, multihop RFC 5883) for BGP
//! peers that name a `bfd-profile`: a dead path is noticed in a detection time
//! (300 ms × 3 by default) instead of a BGP hold time.
//!
//! ```text
//!  bgp/driver.rs peer task ──BfdHandle::watch(peer spec)──> watch::Receiver<BfdStatus>
//!                                      │ Cmd (mpsc)
//!                                      v
//!  driver.rs: one task owning every Session, their timers (deadlines in its loop)
//!             and the UDP sockets (socket.rs: TTL 255, received TTL)
//!                                      │
//!  session.rs: pure state machine, handle(Input) -> Vec<Output>
//!  packet.rs:  control packet codec
//! ```
//! Echo mode is declined: see [`driver`].

pub mod driver;
pub mod packet;
pub mod session;
pub(crate) mod socket;

pub use driver::{BfdHandle, BfdKey, BfdMetrics, BfdStatus};
pub use session::{BfdConfig, Session};
