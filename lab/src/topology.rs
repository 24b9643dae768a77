//! The lab's network as values: names, addresses, ASNs, pool ranges, and the lab router's
//! BGP description. Documentation addresses only (RFC 5737, RFC 3849).
//!
//! ```text
//!   <p>lan:  bridge br0 ── <p>router   eth0 192.0.2.1     2001:db8:1::1   (BIRD | GoBGP | FRR)
//!                      │               eth1 198.51.100.1/26, 2001:db8:3::1 ── <p>remote .10 / ::10
//!                      ├─ <p>cp        eth0 192.0.2.2     2001:db8:1::2   (control plane)
//!                      ├─ <p>client    eth0 192.0.2.5     2001:db8:1::5
//!                      └─ <p>nodeN     eth0 192.0.2.1N    2001:db8:1::1N  (N = 1..8)
//!                                      pods 198.51.100.128+16(N-1)/28, 2001:db8:10:N::/64
//! ```
//! Services' ClusterIPs: 198.51.100.64/26 and 2001:db8:96::/112. The LAN is a /24 and a /64;
//! every other link is as drawn.
//!
//! Invariant: these are the values `cli/lab/network.sh` and `lab.sh` use; the tests below pin
//! them, so a change here is a change of the lab.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::routers::{
    BirdBfd, BirdOptions, Family, FrrBfd, FrrOptions, GobgpOptions, PeerGroup, Range, Router,
    Session,
};

/// The lab router's ASN.
pub const ROUTER_ASN: u32 = 64500;
/// The nodes' ASN (IronLB's speakers peer from it).
pub const NODE_ASN: u32 = 64512;
/// At most this many nodes: each takes a /28 of the pods' 198.51.100.128/25.
pub const MAX_NODES: u8 = 8;
/// The lab router's BFD interval (receive and transmit), in milliseconds: the shortest a
/// node's `bfd-profile` may ask for, so the node's profile sets the pace (RFC 5880 takes
/// the slower of one side's transmit and the other's receive interval).
pub const ROUTER_BFD_INTERVAL_MS: u32 = 100;
/// The lab router's BFD detection multiplier.
pub const ROUTER_BFD_MULTIPLIER: u8 = 3;

/// A bad name prefix or node number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Not like `ilb-`: a lower-case letter, 1 to 5 lower-case letters or digits, a dash.
    #[error("lab prefix {0:?} is not like 'ilb-' (a letter, 1-5 letters or digits, a dash)")]
    Prefix(String),
    /// A node number outside 1..=8.
    #[error("node {0} is outside 1..={MAX_NODES}")]
    Node(u8),
}

/// The prefix of every namespace (and node name) of one lab, `ilb-` by default; a second lab
/// runs beside the first with another one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prefix(String);

impl Prefix {
    /// `p`, if it is like `ilb-` (what `lab.sh` accepts: `^[a-z][a-z0-9]{1,5}-$`).
    pub fn new(p: &str) -> Result<Prefix, TopologyError> {
        let b = p.as_bytes();
        let ok = (3..=7).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b[1..b.len() - 1]
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && b[b.len() - 1] == b'-';
        if ok {
            Ok(Prefix(p.to_owned()))
        } else {
            Err(TopologyError::Prefix(p.to_owned()))
        }
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Prefix("ilb-".to_owned())
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host's two addresses on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// IPv4.
    pub v4: Ipv4Addr,
    /// IPv6.
    pub v6: Ipv6Addr,
}

impl Host {
    /// The host's addresses with the LAN's prefix lengths (/24, /64).
    pub fn on_lan(self) -> (Ipv4Net, Ipv6Net) {
        (net4(self.v4, 24), net6(self.v6, 64))
    }
}

fn net4(a: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(a, len)
}

fn net6(a: Ipv6Addr, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(a, len)
}

const fn lan6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, last)
}

/// A node of the lab, 1..=[`MAX_NODES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node(u8);

impl Node {
    /// Node `i`, if it is in 1..=[`MAX_NODES`].
    pub fn new(i: u8) -> Result<Node, TopologyError> {
        if (1..=MAX_NODES).contains(&i) {
            Ok(Node(i))
        } else {
            Err(TopologyError::Node(i))
        }
    }

    /// Its number.
    pub fn index(self) -> u8 {
        self.0
    }

    /// Its LAN addresses: 192.0.2.(10+i), 2001:db8:1::(10+i) (decimal digits, as in the
    /// scripts: node 1 is `::11`).
    pub fn host(self) -> Host {
        let last = 10 + self.0;
        Host {
            v4: Ipv4Addr::new(192, 0, 2, last),
            v6: lan6(decimal_as_hex(last)),
        }
    }

    /// Its pods' ranges: the i-th /28 of 198.51.100.128/25, and 2001:db8:10:i::/64.
    pub fn pods(self) -> (Ipv4Net, Ipv6Net) {
        (
            net4(Ipv4Addr::new(198, 51, 100, 128 + 16 * (self.0 - 1)), 28),
            net6(
                Ipv6Addr::new(0x2001, 0xdb8, 0x10, decimal_as_hex(self.0), 0, 0, 0, 0),
                64,
            ),
        )
    }
}

/// `n` written in decimal, read as hex: the scripts write `2001:db8:1::$((10 + i))`.
fn decimal_as_hex(n: u8) -> u16 {
    let (h, t, o) = (
        u16::from(n / 100),
        u16::from(n / 10 % 10),
        u16::from(n % 10),
    );
    (h << 8) | (t << 4) | o
}

/// One lab: its name prefix and number of nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Prefix of its namespace names.
    pub prefix: Prefix,
    nodes: u8,
}

impl Topology {
    /// A lab with `nodes` nodes (1..=[`MAX_NODES`]).
    pub fn new(prefix: Prefix, nodes: u8) -> Result<Topology, TopologyError> {
        Node::new(nodes)?;
        Ok(Topology { prefix, nodes })
    }

    /// Its nodes, in order.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + use<> {
        (1..=self.nodes).map(Node)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The namespace holding the LAN's bridge `br0`.
    pub fn lan_ns(&self) -> String {
        self.ns("lan")
    }

    /// The router's namespace.
    pub fn router_ns(&self) -> String {
        self.ns("router")
    }

    /// The remote host's namespace (behind the router).
    pub fn remote_ns(&self) -> String {
        self.ns("remote")
    }

    /// The control-plane host's namespace.
    pub fn cp_ns(&self) -> String {
        self.ns("cp")
    }

    /// The client's namespace.
    pub fn client_ns(&self) -> String {
        self.ns("client")
    }

    /// A node's namespace, also its Node name: `ilb-node1`.
    pub fn node_ns(&self, n: Node) -> String {
        self.ns(&format!("node{}", n.0))
    }

    /// The LAN: 192.0.2.0/24 and 2001:db8:1::/64.
    pub fn lan() -> (Ipv4Net, Ipv6Net) {
        (net4(Ipv4Addr::new(192, 0, 2, 0), 24), net6(lan6(0), 64))
    }

    /// The router on the LAN: .1, ::1.
    pub fn router() -> Host {
        Host {
            v4: Ipv4Addr::new(192, 0, 2, 1),
            v6: lan6(1),
        }
    }

    /// The control-plane host: .2, ::2.
    pub fn control_plane() -> Host {
        Host {
            v4: Ipv4Addr::new(192, 0, 2, 2),
            v6: lan6(2),
        }
    }

    /// The client: .5, ::5.
    pub fn client() -> Host {
        Host {
            v4: Ipv4Addr::new(192, 0, 2, 5),
            v6: lan6(5),
        }
    }

    /// The link between the router and the remote host: 198.51.100.0/26, 2001:db8:3::/64.
    pub fn remote_link() -> (Ipv4Net, Ipv6Net) {
        (
            net4(Ipv4Addr::new(198, 51, 100, 0), 26),
            net6(Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0), 64),
        )
    }

    /// The router on the remote link: .1, ::1.
    pub fn router_remote() -> Host {
        Host {
            v4: Ipv4Addr::new(198, 51, 100, 1),
            v6: Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 1),
        }
    }

    /// The remote host: .10, ::10.
    pub fn remote() -> Host {
        Host {
            v4: Ipv4Addr::new(198, 51, 100, 10),
            v6: Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x10),
        }
    }

    /// All pods: 198.51.100.128/25 and 2001:db8:10::/56.
    pub fn pod_cidrs() -> (Ipv4Net, Ipv6Net) {
        (
            net4(Ipv4Addr::new(198, 51, 100, 128), 25),
            net6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0), 56),
        )
    }

    /// Services' ClusterIPs: 198.51.100.64/26 and 2001:db8:96::/112.
    pub fn service_cidrs() -> (Ipv4Net, Ipv6Net) {
        (
            net4(Ipv4Addr::new(198, 51, 100, 64), 26),
            net6(Ipv6Addr::new(0x2001, 0xdb8, 0x96, 0, 0, 0, 0, 0), 112),
        )
    }

    /// The `kubernetes` Service's ClusterIPs: the first of each range.
    pub fn kubernetes_service() -> Host {
        Host {
            v4: Ipv4Addr::new(198, 51, 100, 65),
            v6: Ipv6Addr::new(0x2001, 0xdb8, 0x96, 0, 0, 0, 0, 1),
        }
    }

    /// The layer-2 pool's ranges, on the LAN: 192.0.2.200-192.0.2.254 and
    /// 2001:db8:1::200-2001:db8:1::2ff (`deploy/examples/config-layer2.yaml`).
    pub fn l2_pool() -> [(IpAddr, IpAddr); 2] {
        [
            (
                Ipv4Addr::new(192, 0, 2, 200).into(),
                Ipv4Addr::new(192, 0, 2, 254).into(),
            ),
            (lan6(0x200).into(), lan6(0x2ff).into()),
        ]
    }

    /// The routed (BGP) pool, off the LAN: 203.0.113.0/24 and 2001:db8:2::/64.
    pub fn routed_pool() -> [IpNet; 2] {
        [
            net4(Ipv4Addr::new(203, 0, 113, 0), 24).into(),
            net6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0), 64).into(),
        ]
    }

    /// The lab router: AS [`ROUTER_ASN`], accepting eBGP from any LAN address in AS
    /// [`NODE_ASN`], both families (IPv4 also with IPv6 next hops), learning, telling nothing,
    /// with BFD towards every node (passive: [`Self::router_bird_conf`],
    /// [`Self::router_frr_conf`]; GoBGP has none).
    pub fn router_bgp() -> Router {
        let (lan4, lan6) = Self::lan();
        let mut session = Session::new(NODE_ASN, &[Family::Ipv4, Family::Ipv6]).passive();
        session.families[0].extended_next_hop = true;
        session.bfd = true;
        Router {
            asn: ROUTER_ASN,
            router_id: Self::router().v4,
            groups: vec![PeerGroup {
                name: "nodes".to_owned(),
                bird_template: "lab_node".to_owned(),
                ranges: vec![
                    Range {
                        prefix: lan4.into(),
                        bird_protocol: "nodes_v4".to_owned(),
                        bird_dynamic_name: "node".to_owned(),
                    },
                    Range {
                        prefix: lan6.into(),
                        bird_protocol: "nodes_v6".to_owned(),
                        bird_dynamic_name: "node6_".to_owned(),
                    },
                ],
                session,
            }],
            neighbors: Vec::new(),
        }
    }

    /// The lab router's BIRD config; it logs to `STATE/logs/bird.log` and installs learned
    /// routes into its kernel with ECMP. BFD on its LAN side is passive: a node whose peer
    /// names a `bfd-profile` brings a BFD session up (and its going Down drops that node's
    /// BGP session); a node without one gets no BFD packets and keeps its BGP session, as
    /// BIRD's `bfd on` only acts on a BFD session going from Up to Down.
    pub fn router_bird_conf(state: &Path) -> String {
        Self::router_bgp().bird(&BirdOptions {
            comment: Some(format!(
                "IronLB lab router: accepts eBGP from every node (AS {NODE_ASN}) and installs learned routes\n\
                 into the kernel with ECMP."
            )),
            log: Some(state.join("logs/bird.log").display().to_string()),
            device_scan: Some(10),
            kernel_ecmp: true,
            bfd: Some(BirdBfd {
                interfaces: "eth0".to_owned(),
                interval_ms: ROUTER_BFD_INTERVAL_MS,
                multiplier: ROUTER_BFD_MULTIPLIER,
                neighbors: Vec::new(),
                passive: true,
            }),
            ..BirdOptions::default()
        })
    }

    /// The lab router's GoBGP config (routes stay in GoBGP's RIB). GoBGP has no BFD: nodes
    /// with a `bfd-profile` see their BFD session stay Down and keep their BGP session.
    pub fn router_gobgp_conf() -> Result<String, crate::RenderError> {
        let mut router = Self::router_bgp();
        for g in &mut router.groups {
            g.session.bfd = false;
        }
        router.gobgp(&GobgpOptions {
            comment: Some(
                "IronLB lab router (GoBGP): accepts eBGP from every node. GoBGP keeps routes in its RIB only."
                    .to_owned(),
            ),
            port: Some(179),
            listen: Vec::new(),
        })
    }

    /// The lab router's FRR config, logging to `STATE/logs/frr.log`, with ECMP, and BFD
    /// towards the nodes in a passive profile (bfdd must run beside zebra and bgpd): as with
    /// BIRD, a node with a `bfd-profile` gets BFD, one without keeps its BGP session (FRR
    /// drops a session only when its BFD goes from Up to Down).
    pub fn router_frr_conf(&self, state: &Path) -> Result<String, crate::RenderError> {
        Self::router_bgp().frr(&FrrOptions {
            hostname: self.router_ns(),
            log_file: Some(state.join("logs/frr.log").display().to_string()),
            multipath: Some(16),
            bfd: Some(FrrBfd {
                profile: "nodes".to_owned(),
                interval_ms: ROUTER_BFD_INTERVAL_MS,
                multiplier: ROUTER_BFD_MULTIPLIER,
                passive: true,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
