//! The BGP routers' configs, written once: a typed [`Router`] (local ASN and router id, fixed
//! [`Neighbor`]s, [`PeerGroup`]s that accept any peer from address ranges) rendered as a BIRD 2
//! config ([`Router::bird`]), a GoBGP toml ([`Router::gobgp`]) or an FRR config
//! ([`Router::frr`]).
//!
//! Invariant: the same description means the same sessions in every dialect; what a dialect
//! cannot say is an error ([`RenderError`]), never a silently different router. The exceptions
//! are knobs only one daemon has, each documented where it is declared (BIRD's `error wait time`,
//! its naming of dynamic protocols, its kernel and direct protocols).
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// An address family the router exchanges unicast routes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl Family {
    fn bird(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    fn gobgp(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4-unicast",
            Family::Ipv6 => "ipv6-unicast",
        }
    }

    fn frr(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4 unicast",
            Family::Ipv6 => "ipv6 unicast",
        }
    }
}

/// What the router accepts from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// Every route.
    All,
    /// Nothing.
    None,
}

/// What the router sends a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Nothing: a router that only listens (what every test router and the lab's router do).
    None,
    /// Every route it has.
    All,
    /// Its static routes ([`BirdOptions::static_unreachable`]); BIRD only.
    Static,
}

/// One address family of a session and its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyPolicy {
    /// The family.
    pub family: Family,
    /// Import policy.
    pub import: Import,
    /// Export policy.
    pub export: Export,
    /// RFC 8950 extended next hop (IPv4 routes with IPv6 next hops). BIRD only: GoBGP and FRR
    /// configs leave it out.
    pub extended_next_hop: bool,
    /// The next hop address to send instead of the session's own. BIRD only.
    pub next_hop: Option<IpAddr>,
}

impl FamilyPolicy {
    /// `family`, importing everything, exporting nothing.
    pub fn listen(family: Family) -> Self {
        FamilyPolicy {
            family,
            import: Import::All,
            export: Export::None,
            extended_next_hop: false,
            next_hop: None,
        }
    }
}

/// The settings of a session, for one neighbor or a whole group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The peer's ASN (equal to the router's: iBGP).
    pub peer_asn: u32,
    /// Never dial out, only accept. A group's members are only ever accepted, so GoBGP and FRR
    /// leave it out for groups.
    pub passive: bool,
    /// Families, in this order.
    pub families: Vec<FamilyPolicy>,
    /// TCP-MD5 password.
    pub password: Option<String>,
    /// Hold time in seconds (FRR's keepalive is a third of it).
    pub hold_time: Option<u16>,
    /// eBGP multihop TTL.
    pub multihop: Option<u8>,
    /// BIRD's `error wait time MIN, MAX` (seconds before it takes a peer back after an error);
    /// GoBGP and FRR have no such knob and leave it out.
    pub error_wait: Option<(u32, u32)>,
    /// Configured but administratively down.
    pub shutdown: bool,
    /// BFD for the session (BIRD: `bfd on`, with [`BirdOptions::bfd`]; FRR: `neighbor X bfd`);
    /// GoBGP has none.
    pub bfd: bool,
    /// Graceful restart (RFC 4724) on, so the router keeps a restarting peer's routes as
    /// stale (BIRD: `graceful restart on`; FRR: `neighbor X graceful-restart-helper` and
    /// GoBGP: `graceful-restart` with `helper-only`, the receiving role only, with
    /// `mp-graceful-restart` on each family). Off leaves the daemon's default, which for
    /// BIRD (`aware`) and FRR (global helper mode) keeps a restarting peer's routes too,
    /// and for GoBGP does not.
    pub graceful_restart: bool,
}

impl Session {
    /// A session with `peer_asn` for `families`, each [`FamilyPolicy::listen`], dialling out.
    pub fn new(peer_asn: u32, families: &[Family]) -> Self {
        Session {
            peer_asn,
            passive: false,
            families: families.iter().map(|f| FamilyPolicy::listen(*f)).collect(),
            password: None,
            hold_time: None,
            multihop: None,
            error_wait: None,
            shutdown: false,
            bfd: false,
            graceful_restart: false,
        }
    }

    /// The same, passive.
    pub fn passive(self) -> Self {
        Session {
            passive: true,
            ..self
        }
    }

    fn family(&self, f: Family) -> Option<&FamilyPolicy> {
        self.families.iter().find(|p| p.family == f)
    }
}

/// One fixed peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Name of the session (BIRD's protocol name; a comment-free identifier).
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// The router's own address for this session.
    pub local: Option<IpAddr>,
    /// The session.
    pub session: Session,
}

/// Peers accepted from address ranges, all with one session's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGroup {
    /// The group's name (GoBGP's peer group; FRR's, upper-cased as FRR's docs write them).
    pub name: String,
    /// BIRD's template for the group's protocols.
    pub bird_template: String,
    /// The ranges peers are accepted from.
    pub ranges: Vec<Range>,
    /// The session every member gets.
    pub session: Session,
}

/// One range of a [`PeerGroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The addresses accepted.
    pub prefix: IpNet,
    /// BIRD's protocol for the range (BIRD needs one per range).
    pub bird_protocol: String,
    /// BIRD's `dynamic name` prefix of the sessions it spawns.
    pub bird_dynamic_name: String,
}

/// A BGP router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Local ASN.
    pub asn: u32,
    /// Router id.
    pub router_id: Ipv4Addr,
    /// Groups of dynamic peers.
    pub groups: Vec<PeerGroup>,
    /// Fixed peers.
    pub neighbors: Vec<Neighbor>,
}

/// What a dialect cannot say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The description asks for something this dialect's config (as we write it) cannot say.
    #[error("{dialect} config cannot say {what} (session {session})")]
    Unsupported {
        /// `gobgp` or `frr`.
        dialect: &'static str,
        /// What it cannot say.
        what: &'static str,
        /// The neighbor or group.
        session: String,
    },
}

/// Options of the BIRD config beyond the sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BirdOptions {
    /// A comment at the top (each line gets `# `).
    pub comment: Option<String>,
    /// Log file (`log "FILE" all`).
    pub log: Option<String>,
    /// Protocol and route times with milliseconds (`timeformat ... iso long ms`).
    pub timeformat_ms: bool,
    /// The device protocol's scan time in seconds (BIRD's default when `None`).
    pub device_scan: Option<u32>,
    /// Install BGP routes into the kernel, with ECMP (`merge paths`).
    pub kernel_ecmp: bool,
    /// A `protocol direct` on interfaces matching this pattern.
    pub direct_interfaces: Option<String>,
    /// Static unreachable routes, for [`Export::Static`].
    pub static_unreachable: Vec<IpNet>,
    /// BIRD's `protocol bfd`, for sessions with [`Session::bfd`].
    pub bfd: Option<BirdBfd>,
}

/// BIRD's BFD protocol: the timers on some interfaces and the neighbors it runs BFD with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdBfd {
    /// Interfaces matching this pattern get these timers.
    pub interfaces: String,
    /// Minimum receive and transmit interval, in milliseconds.
    pub interval_ms: u32,
    /// Detection multiplier.
    pub multiplier: u8,
    /// Neighbors BFD runs with even without a BGP request (`neighbor ADDR;`).
    pub neighbors: Vec<IpAddr>,
    /// `passive on`: send nothing until the peer's first packet, so a peer without BFD sees
    /// no BFD traffic (its BGP session is not held up either way: BIRD's `bfd on` only tears
    /// a session down when BFD goes from Up to Down).
    pub passive: bool,
}

/// FRR's BFD (`bfdd`, which needs zebra: bgpd asks for BFD sessions through it): one
/// profile for every session with [`Session::bfd`] (`neighbor X bfd profile NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrBfd {
    /// The profile's name.
    pub profile: String,
    /// Receive and transmit interval, in milliseconds.
    pub interval_ms: u32,
    /// Detection multiplier.
    pub multiplier: u8,
    /// `passive-mode`: send nothing until the peer's first packet.
    pub passive: bool,
}

/// Options of the GoBGP config beyond the sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GobgpOptions {
    /// A comment at the top (each line gets `# `).
    pub comment: Option<String>,
    /// Listening port (`-1`: do not listen).
    pub port: Option<i32>,
    /// Addresses to listen on (`local-address-list`).
    pub listen: Vec<IpAddr>,
}

/// Options of the FRR config beyond the sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrrOptions {
    /// `hostname`.
    pub hostname: String,
    /// Log file.
    pub log_file: Option<String>,
    /// ECMP over this many paths, across AS paths (`multipath-relax`).
    pub multipath: Option<u16>,
    /// The BFD profile of sessions with [`Session::bfd`]; without it they get bfdd's
    /// defaults (300 ms × 3).
    pub bfd: Option<FrrBfd>,
}

fn comment(out: &mut String, c: Option<&str>) {
    for line in c.into_iter().flat_map(str::lines) {
        let _ = writeln!(out, "# {line}");
    }
}

impl Router {
    /// The BIRD 2 config.
    pub fn bird(&self, o: &BirdOptions) -> String {
        let mut out = String::new();
        comment(&mut out, o.comment.as_deref());
        let _ = writeln!(out, "router id {};", self.router_id);
        if let Some(log) = &o.log {
            let _ = writeln!(out, "log \"{log}\" all;");
        }
        if o.timeformat_ms {
            out.push_str("timeformat protocol iso long ms;\ntimeformat route iso long ms;\n");
        }
        match o.device_scan {
            Some(s) => {
                let _ = writeln!(out, "protocol device {{ scan time {s}; }}");
            }
            None => out.push_str("protocol device {}\n"),
        }
        if o.kernel_ecmp {
            for (name, f) in [("kernel4", "ipv4"), ("kernel6", "ipv6")] {
                let _ = writeln!(
                    out,
                    "protocol kernel {name} {{ {f} {{ import none; export where source = RTS_BGP; }}; merge paths on; }}"
                );
            }
        }
        if let Some(pattern) = &o.direct_interfaces {
            let _ = writeln!(
                out,
                "protocol direct {{ ipv4; ipv6; interface \"{pattern}\"; }}"
            );
        }
        for r in &o.static_unreachable {
            let f = match r {
                IpNet::V4(_) => "ipv4",
                IpNet::V6(_) => "ipv6",
            };
            let _ = writeln!(out, "protocol static {{ {f}; route {r} unreachable; }}");
        }
        if let Some(b) = &o.bfd {
            let _ = writeln!(
                out,
                "protocol bfd {{\n  interface \"{}\" {{ min rx interval {ms} ms; min tx interval {ms} ms; multiplier {};{} }};",
                b.interfaces,
                b.multiplier,
                if b.passive { " passive on;" } else { "" },
                ms = b.interval_ms
            );
            for n in &b.neighbors {
                let _ = writeln!(out, "  neighbor {n};");
            }
            out.push_str("}\n");
        }
        for g in &self.groups {
            let _ = writeln!(out, "template bgp {} {{", g.bird_template);
            let _ = writeln!(out, "  local as {};", self.asn);
            bird_session(&mut out, &g.session);
            out.push_str("}\n");
            for r in &g.ranges {
                let _ = writeln!(
                    out,
                    "protocol bgp {} from {} {{ neighbor range {} as {}; dynamic name \"{}\"; }}",
                    r.bird_protocol,
                    g.bird_template,
                    r.prefix,
                    g.session.peer_asn,
                    r.bird_dynamic_name
                );
            }
        }
        for n in &self.neighbors {
            let _ = writeln!(out, "protocol bgp {} {{", n.name);
            match n.local {
                Some(l) => {
                    let _ = writeln!(out, "  local {l} as {};", self.asn);
                }
                None => {
                    let _ = writeln!(out, "  local as {};", self.asn);
                }
            }
            let _ = writeln!(out, "  neighbor {} as {};", n.address, n.session.peer_asn);
            bird_session(&mut out, &n.session);
            out.push_str("}\n");
        }
        out
    }

    /// The GoBGP toml. Import and export policies stay GoBGP's defaults (accept), so only
    /// [`Import::All`] and [`Export::None`]/[`Export::All`] can be said; [`Export::None`] is
    /// honoured only in that GoBGP has no routes of its own to send (it passes on learned ones).
    pub fn gobgp(&self, o: &GobgpOptions) -> Result<String, RenderError> {
        let mut out = String::new();
        comment(&mut out, o.comment.as_deref());
        out.push_str("[global.config]\n");
        let _ = writeln!(out, "  as = {}", self.asn);
        let _ = writeln!(out, "  router-id = \"{}\"", self.router_id);
        if let Some(p) = o.port {
            let _ = writeln!(out, "  port = {p}");
        }
        if !o.listen.is_empty() {
            let list: Vec<String> = o.listen.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(out, "  local-address-list = [{}]", list.join(", "));
        }
        for g in &self.groups {
            gobgp_check(&g.name, &g.session)?;
            out.push_str("[[peer-groups]]\n  [peer-groups.config]\n");
            let _ = writeln!(out, "    peer-group-name = \"{}\"", g.name);
            gobgp_session(&mut out, "peer-groups", &g.session, None, false);
        }
        for g in &self.groups {
            for r in &g.ranges {
                out.push_str("[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n");
                let _ = writeln!(out, "    prefix = \"{}\"", r.prefix);
                let _ = writeln!(out, "    peer-group = \"{}\"", g.name);
            }
        }
        for n in &self.neighbors {
            gobgp_check(&n.name, &n.session)?;
            out.push_str("[[neighbors]]\n  [neighbors.config]\n");
            let _ = writeln!(out, "    neighbor-address = \"{}\"", n.address);
            gobgp_session(
                &mut out,
                "neighbors",
                &n.session,
                n.local,
                n.session.passive,
            );
        }
        Ok(out)
    }

    /// The FRR config (for `bgpd -f`, with or without zebra). A family a peer does not list
    /// is not activated for it (`no bgp default ipv4-unicast`).
    pub fn frr(&self, o: &FrrOptions) -> Result<String, RenderError> {
        let mut out = String::new();
        out.push_str("frr defaults traditional\n");
        let _ = writeln!(out, "hostname {}", o.hostname);
        if let Some(log) = &o.log_file {
            let _ = writeln!(out, "log file {log}");
        }
        out.push_str("!\n");
        if let Some(b) = &o.bfd {
            let _ = writeln!(
                out,
                "bfd\n profile {}\n  receive-interval {ms}\n  transmit-interval {ms}\n  detect-multiplier {}",
                b.profile,
                b.multiplier,
                ms = b.interval_ms
            );
            if b.passive {
                out.push_str("  passive-mode\n");
            }
            // No `exit` lines: bgpd and zebra read this file too, skip the lines they do not
            // know, and would take an `exit` at the top level as leaving config mode.
            out.push_str("!\n");
        }
        let _ = writeln!(out, "router bgp {}", self.asn);
        let _ = writeln!(out, " bgp router-id {}", self.router_id);
        out.push_str(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n");
        if o.multipath.is_some() {
            out.push_str(" bgp bestpath as-path multipath-relax\n");
        }
        // (FRR name, session) of every group and neighbor, in order.
        let mut members: Vec<(String, &Session)> = Vec::new();
        for g in &self.groups {
            let name = g.name.to_uppercase();
            let _ = writeln!(out, " neighbor {name} peer-group");
            frr_session(&mut out, &name, &g.session, None, false, o)?;
            for r in &g.ranges {
                let _ = writeln!(out, " bgp listen range {} peer-group {name}", r.prefix);
            }
            members.push((name, &g.session));
        }
        for n in &self.neighbors {
            let name = n.address.to_string();
            frr_session(&mut out, &name, &n.session, n.local, n.session.passive, o)?;
            members.push((name, &n.session));
        }
        let mut nothing = false;
        for f in [Family::Ipv4, Family::Ipv6] {
            let active: Vec<_> = members
                .iter()
                .filter_map(|(name, s)| s.family(f).map(|p| (name, p)))
                .collect();
            if active.is_empty() {
                continue;
            }
            let _ = writeln!(out, " address-family {}", f.frr());
            for (name, p) in active {
                let _ = writeln!(out, "  neighbor {name} activate");
                if p.export == Export::None {
                    let _ = writeln!(out, "  neighbor {name} route-map NOTHING out");
                    nothing = true;
                }
                if p.import == Import::None {
                    let _ = writeln!(out, "  neighbor {name} route-map NOTHING in");
                    nothing = true;
                }
            }
            if let Some(m) = o.multipath {
                let _ = writeln!(out, "  maximum-paths {m}");
            }
            out.push_str(" exit-address-family\n");
        }
        out.push_str("!\n");
        if nothing {
            out.push_str("route-map NOTHING deny 10\n!\n");
        }
        Ok(out)
    }
}

fn bird_session(out: &mut String, s: &Session) {
    if s.passive {
        out.push_str("  passive on;\n");
    }
    if s.shutdown {
        out.push_str("  disabled on;\n");
    }
    if let Some(p) = &s.password {
        let _ = writeln!(out, "  password \"{p}\";");
    }
    if let Some(h) = s.hold_time {
        let _ = writeln!(out, "  hold time {h};");
    }
    if let Some(m) = s.multihop {
        let _ = writeln!(out, "  multihop {m};");
    }
    if let Some((min, max)) = s.error_wait {
        let _ = writeln!(out, "  error wait time {min}, {max};");
    }
    if s.bfd {
        out.push_str("  bfd on;\n");
    }
    if s.graceful_restart {
        out.push_str("  graceful restart on;\n");
    }
    for p in &s.families {
        let import = match p.import {
            Import::All => "all",
            Import::None => "none",
        };
        let export = match p.export {
            Export::None => "none",
            Export::All => "all",
            Export::Static => "where source = RTS_STATIC",
        };
        let _ = write!(
            out,
            "  {} {{ import {import}; export {export};",
            p.family.bird()
        );
        if p.extended_next_hop {
            out.push_str(" extended next hop on;");
        }
        if let Some(nh) = p.next_hop {
            let _ = write!(out, " next hop address {nh};");
        }
        out.push_str(" };\n");
    }
}

fn gobgp_check(name: &str, s: &Session) -> Result<(), RenderError> {
    let unsupported = |what| RenderError::Unsupported {
        dialect: "gobgp",
        what,
        session: name.to_owned(),
    };
    for p in &s.families {
        if p.import == Import::None {
            return Err(unsupported("an import policy other than all"));
        }
        if p.export == Export::Static {
            return Err(unsupported("static routes"));
        }
    }
    if s.bfd {
        return Err(unsupported("BFD"));
    }
    Ok(())
}

/// The rest of a `[[neighbors]]` or `[[peer-groups]]` entry, after its name line.
fn gobgp_session(out: &mut String, t: &str, s: &Session, local: Option<IpAddr>, passive: bool) {
    let _ = writeln!(out, "    peer-as = {}", s.peer_asn);
    if let Some(p) = &s.password {
        let _ = writeln!(out, "    auth-password = \"{p}\"");
    }
    if s.shutdown {
        out.push_str("    admin-down = true\n");
    }
    if passive || local.is_some() {
        let _ = writeln!(out, "  [{t}.transport.config]");
        if passive {
            out.push_str("    passive-mode = true\n");
        }
        if let Some(l) = local {
            let _ = writeln!(out, "    local-address = \"{l}\"");
        }
    }
    if let Some(h) = s.hold_time {
        let _ = writeln!(out, "  [{t}.timers.config]\n    hold-time = {h}");
    }
    if let Some(m) = s.multihop {
        let _ = writeln!(
            out,
            "  [{t}.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = {m}"
        );
    }
    if s.graceful_restart {
        let _ = writeln!(
            out,
            "  [{t}.graceful-restart.config]\n    enabled = true\n    helper-only = true"
        );
    }
    for p in &s.families {
        let _ = writeln!(
            out,
            "  [[{t}.afi-safis]]\n    [{t}.afi-safis.config]\n      afi-safi-name = \"{}\"",
            p.family.gobgp()
        );
        if s.graceful_restart {
            let _ = writeln!(
                out,
                "    [{t}.afi-safis.mp-graceful-restart.config]\n      enabled = true"
            );
        }
    }
}

/// The `neighbor NAME ...` lines of a group (`peer-group` already said) or a neighbor.
fn frr_session(
    out: &mut String,
    name: &str,
    s: &Session,
    local: Option<IpAddr>,
    passive: bool,
    o: &FrrOptions,
) -> Result<(), RenderError> {
    if s.families.iter().any(|p| p.export == Export::Static) {
        return Err(RenderError::Unsupported {
            dialect: "frr",
            what: "static routes",
            session: name.to_owned(),
        });
    }

    let _ = writeln!(out, " neighbor {name} remote-as {}", s.peer_asn);
    if passive {
        let _ = writeln!(out, " neighbor {name} passive");
    }
    if let Some(l) = local {
        let _ = writeln!(out, " neighbor {name} update-source {l}");
    }
    if let Some(p) = &s.password {
        let _ = writeln!(out, " neighbor {name} password {p}");
    }
    if let Some(h) = s.hold_time {
        let _ = writeln!(out, " neighbor {name} timers {} {h}", (h / 3).max(1));
    }
    if let Some(m) = s.multihop {
        let _ = writeln!(out, " neighbor {name} ebgp-multihop {m}");
    }
    if s.bfd {
        let _ = writeln!(out, " neighbor {name} bfd");
        if let Some(b) = &o.bfd {
            let _ = writeln!(out, " neighbor {name} bfd profile {}", b.profile);
        }
    }
    if s.graceful_restart {
        let _ = writeln!(out, " neighbor {name} graceful-restart-helper");
    }
    if s.shutdown {
        let _ = writeln!(out, " neighbor {name} shutdown");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
