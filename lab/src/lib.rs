//! IronLB's lab as a library: what `ironlb lab`, the end-to-end tests, the speaker's interop
//! tests and `bench/` build their networks and routers from.
//!
//! ```text
//!   topology  the lab's addresses, ASNs, pool ranges and names, as values
//!       │
//!       ▼
//!   routers   one typed BGP router description ──> BIRD 2 | GoBGP (toml) | FRR config text
//!
//!   netns     namespaces, veths, bridges, addresses (by running `ip`), removed on drop
//! ```
//!
//! `topology` and `routers` are pure (values in, text out) and tested with golden strings;
//! `netns` is the only module that touches the system.
#![forbid(unsafe_code)]

pub mod netns;
pub mod routers;
pub mod topology;

pub use netns::{Netns, NetnsError};
pub use routers::{
    BirdBfd, BirdOptions, Export, Family, FamilyPolicy, FrrBfd, FrrOptions, GobgpOptions, Import,
    Neighbor, PeerGroup, Range, RenderError, Router, Session,
};
pub use topology::{Host, Prefix, Topology, TopologyError};
