//! The layer-2 responder as a state machine: which IPs this node answers for on which
//! interfaces, and what to send in reply to each frame. No sockets and no clocks:
//! [`Responder::handle`] takes an [`Input`] and returns the [`Output`]s a driver
//! performs (the driver is [`crate::l2`]).
//!
//! Invariants:
//! * An ARP request or Neighbor Solicitation is answered only if its target is an IP in
//!   the current desired set **and** the frame came in on an interface that IP is
//!   announced on; the answer carries that interface's MAC.
//! * The set is declarative: [`Input::SetAnnounced`] carries the whole desired set and
//!   the responder computes the difference, so repeating an input changes nothing.
//! * Every (IPv6 VIP, interface) pair it answers on has its solicited-node group
//!   joined, and a group is left only when no announced IP on that interface needs it.
//! * A takeover (an (IP, interface) pair that was not announced before) sends a burst
//!   of [`BURST_ROUNDS`] gratuitous ARP / unsolicited NA rounds, one per [`Input::Tick`].
//! * Conflicts are answered, rate-limited: when another MAC claims an IP answered here
//!   (its ARP request or reply, gratuitous or not, with that IP as sender; or a Neighbor
//!   Advertisement for it), the responder re-asserts at once with one gratuitous ARP /
//!   unsolicited NA round on that interface, then at most once per
//!   [`REASSERT_TICKS`] ticks per (IP, interface) however many frames claim it. Each
//!   conflicting frame is still reported ([`L2Event::Conflict`]) and counted per IP in
//!   [`Responder::conflicts`], which is reported ([`Output::ConflictsChanged`]) at most
//!   once per [`REPORT_TICKS`] ticks and forgotten when the IP is no longer answered.
#![forbid(unsafe_code)]

use super::arp::{ArpError, ArpFrame, ArpOp};
use super::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetHeader, MacAddr};
use super::ndp::{NdpError, NdpFrame, NdpMessage, solicited_node};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

/// Rounds of gratuitous announcements after a takeover (the first at once).
pub const BURST_ROUNDS: u8 = 3;

/// Ticks between two re-assertions of one (IP, interface) under conflict: 4 ticks of
/// 250 ms, so at most one round a second.
pub const REASSERT_TICKS: u8 = 4;

/// Ticks between two reports of changed conflict counts: 40 ticks of 250 ms, 10 s.
pub const REPORT_TICKS: u8 = 40;

/// What this node saw of other MACs claiming an IP it answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictSeen {
    /// The interface of the last claim.
    pub iface: String,
    /// The MAC of the last claim.
    pub mac: MacAddr,
    /// Claiming frames since this node answers for the IP.
    pub count: u64,
}

/// Conflicts per IP answered for now.
pub type Conflicts = BTreeMap<IpAddr, ConflictSeen>;

/// Interface index, as the kernel numbers them.
pub type IfIndex = u32;

/// Which interfaces an IP is announced on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IfaceSelection {
    /// Every suitable interface of the node.
    AllSuitable,
    /// Only those of these names that are suitable.
    Only(BTreeSet<String>),
}

/// A usable interface, as the driver found it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfaceInfo {
    /// Kernel index.
    pub index: IfIndex,
    /// Name.
    pub name: String,
    /// Hardware address used in answers.
    pub mac: MacAddr,
}

/// Everything the responder reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The whole desired set of IPs this node announces now.
    SetAnnounced(BTreeMap<IpAddr, IfaceSelection>),
    /// The whole set of suitable interfaces now.
    Interfaces(Vec<IfaceInfo>),
    /// A frame received on an interface.
    Frame {
        /// Where it came in.
        iface: IfIndex,
        /// The whole Ethernet frame.
        bytes: Vec<u8>,
    },
    /// Periodic tick: sends the next burst round of recent takeovers.
    Tick,
    /// Re-announce every IP once (optional periodic refresh).
    Refresh,
}

/// Countable things, mapped to metrics by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// An ARP request for an IP announced here.
    ArpRequest,
    /// An ARP reply sent.
    ArpReply,
    /// A Neighbor Solicitation for an IP announced here.
    NdpRequest,
    /// A Neighbor Advertisement sent in answer.
    NdpReply,
    /// A gratuitous ARP or unsolicited NA sent.
    Gratuitous,
    /// A re-assertion round sent because another MAC claimed an IP answered here.
    Reasserted,
    /// A frame that passed the receive filter (ARP, or ICMPv6 NS/NA) but did not decode.
    Malformed(Malformed),
}

/// What was wrong with a malformed frame: the bounded label of
/// `ironlb_l2_malformed_frames_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Malformed {
    /// Shorter than its headers or message.
    Truncated,
    /// ARP hardware or protocol type or address lengths not Ethernet/IPv4.
    ArpHeader,
    /// ARP operation neither request nor reply.
    ArpOperation,
    /// IPv6 version or next header wrong.
    Ipv6Header,
    /// ICMPv6 type or code not NS/NA with code 0.
    Icmpv6Header,
    /// Hop limit not 255 (may come from off-link).
    HopLimit,
    /// ICMPv6 checksum wrong.
    Checksum,
    /// An NDP option of length 0 or running past the message.
    NdpOption,
    /// A multicast target address.
    MulticastTarget,
    /// Anything else.
    Other,
}

impl Malformed {
    /// Every kind, for exporting zeros.
    pub const ALL: [Malformed; 10] = [
        Malformed::Truncated,
        Malformed::ArpHeader,
        Malformed::ArpOperation,
        Malformed::Ipv6Header,
        Malformed::Icmpv6Header,
        Malformed::HopLimit,
        Malformed::Checksum,
        Malformed::NdpOption,
        Malformed::MulticastTarget,
        Malformed::Other,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::ArpHeader => "arp_header",
            Malformed::ArpOperation => "arp_operation",
            Malformed::Ipv6Header => "ipv6_header",
            Malformed::Icmpv6Header => "icmpv6_header",
            Malformed::HopLimit => "hop_limit",
            Malformed::Checksum => "checksum",
            Malformed::NdpOption => "ndp_option",
            Malformed::MulticastTarget => "multicast_target",
            Malformed::Other => "other",
        }
    }
}

impl From<ArpError> for Malformed {
    fn from(e: ArpError) -> Self {
        match e {
            ArpError::Ethernet(_) | ArpError::Truncated(_) => Malformed::Truncated,
            ArpError::HardwareType(_)
            | ArpError::ProtocolType(_)
            | ArpError::AddressLengths { .. } => Malformed::ArpHeader,
            ArpError::Operation(_) => Malformed::ArpOperation,
            ArpError::NotArp(_) => Malformed::Other,
        }
    }
}

impl From<NdpError> for Malformed {
    fn from(e: NdpError) -> Self {
        match e {
            NdpError::Ethernet(_) | NdpError::Truncated { .. } => Malformed::Truncated,
            NdpError::NotIpv6(_) | NdpError::Version(_) | NdpError::NextHeader(_) => {
                Malformed::Ipv6Header
            }
            NdpError::NotNeighborDiscovery(_) | NdpError::Code(_) => Malformed::Icmpv6Header,
            NdpError::HopLimit(_) => Malformed::HopLimit,
            NdpError::Checksum { .. } => Malformed::Checksum,
            NdpError::Option(_) => Malformed::NdpOption,
            NdpError::MulticastTarget(_) => Malformed::MulticastTarget,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this frame on this interface.
    Send {
        /// Interface.
        iface: IfIndex,
        /// Whole Ethernet frame.
        frame: Vec<u8>,
    },
    /// Join an IPv6 multicast group on an interface.
    JoinGroup {
        /// Interface.
        iface: IfIndex,
        /// Group.
        group: Ipv6Addr,
    },
    /// Leave an IPv6 multicast group on an interface.
    LeaveGroup {
        /// Interface.
        iface: IfIndex,
        /// Group.
        group: Ipv6Addr,
    },
    /// Count one of these.
    Count(Counter),
    /// [`Responder::conflicts`] changed (at most once per [`REPORT_TICKS`]).
    ConflictsChanged,
    /// Something to report beyond this state machine (Events, logs).
    Event(L2Event),
}

/// Something the rest of the speaker may want to report (Events, logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Event {
    /// This node started answering for `ip` on `iface`.
    Took {
        /// The IP.
        ip: IpAddr,
        /// Interface name.
        iface: String,
    },
    /// This node stopped answering for `ip` on `iface`.
    Released {
        /// The IP.
        ip: IpAddr,
        /// Interface name.
        iface: String,
    },
    /// Another MAC claims an IP this node announces (split brain or a misconfigured
    /// host).
    Conflict {
        /// The IP.
        ip: IpAddr,
        /// Interface name.
        iface: String,
        /// The other claimant.
        mac: MacAddr,
    },
}

/// The responder's state.
#[derive(Debug, Default)]
pub struct Responder {
    desired: BTreeMap<IpAddr, IfaceSelection>,
    ifaces: BTreeMap<IfIndex, IfaceInfo>,
    /// Resolved: (IP, interface) pairs answered now.
    active: BTreeSet<(IpAddr, IfIndex)>,
    /// Joined groups and how many active IPv6 pairs need each.
    groups: BTreeMap<(IfIndex, Ipv6Addr), usize>,
    /// Remaining burst rounds per takeover.
    burst: BTreeMap<(IpAddr, IfIndex), u8>,
    /// Ticks left before a conflict may trigger another re-assertion.
    cooldown: BTreeMap<(IpAddr, IfIndex), u8>,
    /// Conflicts per IP answered for.
    conflicts: Conflicts,
    /// Conflicts changed since the last report.
    conflicts_dirty: bool,
    /// Ticks left before the next report may go out.
    report_wait: u8,
}

impl Responder {
    /// A responder with nothing to announce and no interfaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// The IPs answered now, each with the names of the interfaces it is answered on: the
    /// snapshot the driver publishes (the whole set, so a reader never misses a change).
    pub fn answered(&self) -> BTreeMap<IpAddr, BTreeSet<String>> {
        let mut out: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
        for (ip, index) in &self.active {
            let name = self
                .ifaces
                .get(index)
                .map_or_else(|| format!("if{index}"), |i| i.name.clone());
            out.entry(*ip).or_default().insert(name);
        }
        out
    }

    /// Conflicts seen per IP answered for now.
    pub fn conflicts(&self) -> &Conflicts {
        &self.conflicts
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::SetAnnounced(desired) => {
                self.desired = desired;
                self.reconcile(&BTreeMap::new(), &mut out);
            }
            Input::Interfaces(list) => {
                let new = list.into_iter().map(|i| (i.index, i)).collect();
                let old = std::mem::replace(&mut self.ifaces, new);
                self.reconcile(&old, &mut out);
            }
            Input::Frame { iface, bytes } => self.frame(iface, &bytes, &mut out),
            Input::Tick => {
                self.cooldown.retain(|_, left| {
                    *left = left.saturating_sub(1);
                    *left > 0
                });
                self.report_wait = self.report_wait.saturating_sub(1);
                self.report_conflicts(&mut out);
                let due: Vec<(IpAddr, IfIndex)> = self.burst.keys().copied().collect();
                for key in due {
                    self.announce(key, &mut out);
                    if let Some(left) = self.burst.get_mut(&key) {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            self.burst.remove(&key);
                        }
                    }
                }
            }
            Input::Refresh => {
                let all: Vec<(IpAddr, IfIndex)> = self.active.iter().copied().collect();
                for key in all {
                    self.announce(key, &mut out);
                }
            }
        }
        out
    }

    fn wanted(&self) -> BTreeSet<(IpAddr, IfIndex)> {
        let mut set = BTreeSet::new();
        for (ip, sel) in &self.desired {
            for i in self.ifaces.values() {
                let ok = match sel {
                    IfaceSelection::AllSuitable => true,
                    IfaceSelection::Only(names) => names.contains(&i.name),
                };
                if ok {
                    set.insert((*ip, i.index));
                }
            }
        }
        set
    }

    /// The name of `index`, looked up in the current interfaces, then in `old` (for
    /// interfaces that just went away).
    fn iface_name(&self, old: &BTreeMap<IfIndex, IfaceInfo>, index: IfIndex) -> String {
        self.ifaces
            .get(&index)
            .or_else(|| old.get(&index))
            .map_or_else(|| format!("if{index}"), |i| i.name.clone())
    }

    fn reconcile(&mut self, old: &BTreeMap<IfIndex, IfaceInfo>, out: &mut Vec<Output>) {
        let wanted = self.wanted();
        let gone: Vec<(IpAddr, IfIndex)> = self.active.difference(&wanted).copied().collect();
        let new: Vec<(IpAddr, IfIndex)> = wanted.difference(&self.active).copied().collect();
        let mut conflicts_gone = false;
        for (ip, iface) in gone {
            self.active.remove(&(ip, iface));
            self.burst.remove(&(ip, iface));
            self.cooldown.remove(&(ip, iface));
            if !self.active.iter().any(|(i, _)| *i == ip) {
                conflicts_gone |= self.conflicts.remove(&ip).is_some();
            }
            if let IpAddr::V6(v6) = ip {
                let key = (iface, solicited_node(v6));
                if let Some(n) = self.groups.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.groups.remove(&key);
                        out.push(Output::LeaveGroup {
                            iface,
                            group: key.1,
                        });
                    }
                }
            }
            out.push(Output::Event(L2Event::Released {
                ip,
                iface: self.iface_name(old, iface),
            }));
        }
        for (ip, iface) in new {
            self.active.insert((ip, iface));
            if let IpAddr::V6(v6) = ip {
                let key = (iface, solicited_node(v6));
                let n = self.groups.entry(key).or_insert(0);
                *n += 1;
                if *n == 1 {
                    out.push(Output::JoinGroup {
                        iface,
                        group: key.1,
                    });
                }
            }
            out.push(Output::Event(L2Event::Took {
                ip,
                iface: self.iface_name(old, iface),
            }));
            self.announce((ip, iface), out);
            self.burst.insert((ip, iface), BURST_ROUNDS - 1);
        }
        if conflicts_gone {
            // Released IPs drop out of the report at once (no wait: it only shrinks).
            out.push(Output::ConflictsChanged);
        }
    }

    /// Another MAC claims `ip`, answered here on `iface`: report and count it, and
    /// re-assert unless this pair did so less than [`REASSERT_TICKS`] ago.
    fn conflict(&mut self, ip: IpAddr, iface: IfIndex, mac: MacAddr, out: &mut Vec<Output>) {
        let name = self.iface_name(&BTreeMap::new(), iface);
        out.push(Output::Event(L2Event::Conflict {
            ip,
            iface: name.clone(),
            mac,
        }));
        let seen = self.conflicts.entry(ip).or_insert(ConflictSeen {
            iface: name.clone(),
            mac,
            count: 0,
        });
        seen.iface = name;
        seen.mac = mac;
        seen.count = seen.count.saturating_add(1);
        self.conflicts_dirty = true;
        self.report_conflicts(out);
        if let std::collections::btree_map::Entry::Vacant(e) = self.cooldown.entry((ip, iface)) {
            e.insert(REASSERT_TICKS);
            out.push(Output::Count(Counter::Reasserted));
            self.announce((ip, iface), out);
        }
    }

    fn report_conflicts(&mut self, out: &mut Vec<Output>) {
        if self.conflicts_dirty && self.report_wait == 0 {
            self.conflicts_dirty = false;
            self.report_wait = REPORT_TICKS;
            out.push(Output::ConflictsChanged);
        }
    }

    /// One round of gratuitous announcement of `ip` on `iface`.
    fn announce(&self, (ip, iface): (IpAddr, IfIndex), out: &mut Vec<Output>) {
        let Some(info) = self.ifaces.get(&iface) else {
            return;
        };
        match ip {
            IpAddr::V4(v4) => {
                for op in [ArpOp::Request, ArpOp::Reply] {
                    out.push(Output::Send {
                        iface,
                        frame: ArpFrame::gratuitous(info.mac, v4, op).encode(),
                    });
                    out.push(Output::Count(Counter::Gratuitous));
                }
            }
            IpAddr::V6(v6) => {
                out.push(Output::Send {
                    iface,
                    frame: NdpFrame::unsolicited(info.mac, v6).encode(),
                });
                out.push(Output::Count(Counter::Gratuitous));
            }
        }
    }

    fn frame(&mut self, iface: IfIndex, bytes: &[u8], out: &mut Vec<Output>) {
        let Some(info) = self.ifaces.get(&iface) else {
            return;
        };
        let mac = info.mac;
        let Ok((eth, _)) = EthernetHeader::decode(bytes) else {
            out.push(Output::Count(Counter::Malformed(Malformed::Truncated)));
            return;
        };
        // Our own transmissions come back on a packet socket.
        if eth.src == mac {
            return;
        }
        match eth.ethertype {
            ETHERTYPE_ARP => {
                let arp = match ArpFrame::decode(bytes) {
                    Ok(arp) => arp,
                    Err(e) => {
                        out.push(Output::Count(Counter::Malformed(e.into())));
                        return;
                    }
                };
                let target = IpAddr::V4(arp.target_ip);
                let sender = IpAddr::V4(arp.sender_ip);
                if self.active.contains(&(sender, iface)) && arp.sender_mac != mac {
                    self.conflict(sender, iface, arp.sender_mac, out);
                    return;
                }
                if arp.op == ArpOp::Request && self.active.contains(&(target, iface)) {
                    out.push(Output::Count(Counter::ArpRequest));
                    out.push(Output::Send {
                        iface,
                        frame: arp.reply(mac).encode(),
                    });
                    out.push(Output::Count(Counter::ArpReply));
                }
            }
            ETHERTYPE_IPV6 => {
                let ndp = match NdpFrame::decode(bytes) {
                    Ok(ndp) => ndp,
                    Err(e) => {
                        out.push(Output::Count(Counter::Malformed(e.into())));
                        return;
                    }
                };
                match ndp.message {
                    NdpMessage::Solicitation { target, .. } => {
                        if !self.active.contains(&(IpAddr::V6(target), iface)) {
                            return;
                        }
                        out.push(Output::Count(Counter::NdpRequest));
                        if let Some(na) = ndp.answer(mac) {
                            out.push(Output::Send {
                                iface,
                                frame: na.encode(),
                            });
                            out.push(Output::Count(Counter::NdpReply));
                        }
                    }
                    NdpMessage::Advertisement {
                        target, target_ll, ..
                    } => {
                        let claimant = target_ll.unwrap_or(eth.src);
                        if self.active.contains(&(IpAddr::V6(target), iface)) && claimant != mac {
                            self.conflict(IpAddr::V6(target), iface, claimant, out);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MAC1: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);
    const MAC2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x12]);
    const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn eth(index: IfIndex, name: &str, mac: MacAddr) -> IfaceInfo {
        IfaceInfo {
            index,
            name: name.into(),
            mac,
        }
    }

    fn desired(ips: &[&str]) -> Input {
        Input::SetAnnounced(
            ips.iter()
                .map(|s| (ip(s), IfaceSelection::AllSuitable))
                .collect(),
        )
    }

    fn arp_request(target: &str) -> Vec<u8> {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: CLIENT,
            op: ArpOp::Request,
            sender_mac: CLIENT,
            sender_ip: Ipv4Addr::new(192, 0, 2, 99),
            target_mac: MacAddr::ZERO,
            target_ip: target.parse().unwrap(),
        }
        .encode()
    }

    fn ns(target: &str) -> Vec<u8> {
        let t: Ipv6Addr = target.parse().unwrap();
        NdpFrame {
            eth_dst: crate::l2::ndp::multicast_mac(solicited_node(t)),
            eth_src: CLIENT,
            src: "2001:db8:1::99".parse().unwrap(),
            dst: solicited_node(t),
            message: NdpMessage::Solicitation {
                target: t,
                source_ll: Some(CLIENT),
            },
        }
        .encode()
    }

    fn sends(out: &[Output]) -> Vec<(IfIndex, Vec<u8>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { iface, frame } => Some((*iface, frame.clone())),
                _ => None,
            })
            .collect()
    }

    fn ready() -> Responder {
        let mut a = Responder::new();
        a.handle(Input::Interfaces(vec![eth(2, "eth0", MAC1)]));
        a
    }

    #[test]
    fn takeover_sends_gratuitous_and_joins_group() {
        let mut a = ready();
        let out = a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
        assert!(out.contains(&Output::JoinGroup {
            iface: 2,
            group: "ff02::1:ff00:200".parse().unwrap()
        }));
        let s = sends(&out);
        assert_eq!(s.len(), 3, "2 gratuitous ARP + 1 unsolicited NA");
        let g = ArpFrame::decode(&s[0].1).unwrap();
        assert!(g.is_gratuitous() && g.sender_mac == MAC1);
        assert!(out.contains(&Output::Event(L2Event::Took {
            ip: ip("192.0.2.200"),
            iface: "eth0".into()
        })));
    }

    #[test]
    fn answered_is_the_whole_set_after_a_large_takeover() {
        let mut a = Responder::new();
        a.handle(Input::Interfaces(vec![
            eth(2, "eth0", MAC1),
            eth(3, "eth1", MAC2),
        ]));
        // More IPs than any event channel would hold: the snapshot still has every one.
        let ips: BTreeMap<IpAddr, IfaceSelection> = (0..3000u32)
            .map(|n| {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + n));
                (ip, IfaceSelection::AllSuitable)
            })
            .collect();
        a.handle(Input::SetAnnounced(ips.clone()));
        let answered = a.answered();
        assert_eq!(answered.len(), 3000);
        let both: BTreeSet<String> = ["eth0".to_string(), "eth1".to_string()].into();
        assert!(answered.values().all(|names| *names == both));
        a.handle(Input::Interfaces(vec![eth(3, "eth1", MAC2)]));
        let only: BTreeSet<String> = ["eth1".to_string()].into();
        assert!(a.answered().values().all(|names| *names == only));
        a.handle(Input::SetAnnounced(BTreeMap::new()));
        assert!(a.answered().is_empty());
    }

    #[test]
    fn burst_repeats_then_stops() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200"]));
        for _ in 1..BURST_ROUNDS {
            assert_eq!(sends(&a.handle(Input::Tick)).len(), 2);
        }
        assert!(sends(&a.handle(Input::Tick)).is_empty());
    }

    #[test]
    fn same_set_twice_changes_nothing() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
        assert_eq!(
            a.handle(desired(&["192.0.2.200", "2001:db8:1::200"])),
            vec![]
        );
    }

    #[test]
    fn answers_arp_only_for_owned_ips() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200"]));
        let out = a.handle(Input::Frame {
            iface: 2,
            bytes: arp_request("192.0.2.200"),
        });
        let s = sends(&out);
        assert_eq!(s.len(), 1);
        let r = ArpFrame::decode(&s[0].1).unwrap();
        assert_eq!(
            (r.op, r.sender_mac, r.eth_dst),
            (ArpOp::Reply, MAC1, CLIENT)
        );
        assert_eq!(r.sender_ip, Ipv4Addr::new(192, 0, 2, 200));
        assert!(out.contains(&Output::Count(Counter::ArpReply)));

        for other in ["192.0.2.201", "192.0.2.99"] {
            let out = a.handle(Input::Frame {
                iface: 2,
                bytes: arp_request(other),
            });
            assert_eq!(out, vec![], "{other}");
        }
    }

    #[test]
    fn answers_only_on_the_selected_interface() {
        let mut a = Responder::new();
        a.handle(Input::Interfaces(vec![
            eth(2, "eth0", MAC1),
            eth(3, "eth1", MAC2),
        ]));
        a.handle(Input::SetAnnounced(BTreeMap::from([(
            ip("192.0.2.200"),
            IfaceSelection::Only(BTreeSet::from(["eth1".to_string()])),
        )])));
        let req = arp_request("192.0.2.200");
        assert!(
            sends(&a.handle(Input::Frame {
                iface: 2,
                bytes: req.clone()
            }))
            .is_empty()
        );
        let s = sends(&a.handle(Input::Frame {
            iface: 3,
            bytes: req,
        }));
        assert_eq!(ArpFrame::decode(&s[0].1).unwrap().sender_mac, MAC2);
    }

    #[test]
    fn answers_ns_only_for_owned_ips() {
        let mut a = ready();
        a.handle(desired(&["2001:db8:1::200"]));
        let s = sends(&a.handle(Input::Frame {
            iface: 2,
            bytes: ns("2001:db8:1::200"),
        }));
        assert_eq!(s.len(), 1);
        let na = NdpFrame::decode(&s[0].1).unwrap();
        assert!(matches!(
            na.message,
            NdpMessage::Advertisement {
                target_ll: Some(MAC1),
                ..
            }
        ));
        let out = a.handle(Input::Frame {
            iface: 2,
            bytes: ns("2001:db8:1::201"),
        });
        assert_eq!(out, vec![]);
    }

    #[test]
    fn release_leaves_group_and_stops_answering() {
        let mut a = ready();
        a.handle(desired(&["2001:db8:1::200", "2001:db8:2::200"]));
        // Both share ff02::1:ff00:200: leaving one keeps the group.
        let out = a.handle(desired(&["2001:db8:2::200"]));
        assert!(!out.iter().any(|o| matches!(o, Output::LeaveGroup { .. })));
        let out = a.handle(desired(&[]));
        assert!(out.contains(&Output::LeaveGroup {
            iface: 2,
            group: "ff02::1:ff00:200".parse().unwrap()
        }));
        assert_eq!(
            a.handle(Input::Frame {
                iface: 2,
                bytes: ns("2001:db8:2::200")
            }),
            vec![]
        );
    }

    #[test]
    fn interface_loss_releases_and_return_retakes() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200"]));
        let out = a.handle(Input::Interfaces(vec![]));
        assert_eq!(
            out,
            vec![Output::Event(L2Event::Released {
                ip: ip("192.0.2.200"),
                iface: "eth0".into()
            })]
        );
        let out = a.handle(Input::Interfaces(vec![eth(2, "eth0", MAC1)]));
        assert_eq!(sends(&out).len(), 2);
    }

    fn spoofed_arp(ip: &str, mac: MacAddr) -> Vec<u8> {
        let mut other = ArpFrame::gratuitous(mac, ip.parse().unwrap(), ArpOp::Reply);
        other.eth_src = mac;
        other.encode()
    }

    fn spoofed_na(ip: &str, mac: MacAddr) -> Vec<u8> {
        NdpFrame::unsolicited(mac, ip.parse().unwrap()).encode()
    }

    /// Short form of outputs for script tables: sends as `arp`/`na` with the sender MAC,
    /// other outputs by name.
    fn short(out: &[Output]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Output::Send { frame, .. } => match ArpFrame::decode(frame) {
                    Ok(a) => format!("arp {:?} {}", a.op, a.sender_mac),
                    Err(_) => format!("na {}", EthernetHeader::decode(frame).unwrap().0.src),
                },
                Output::Count(c) => format!("count {c:?}"),
                Output::Event(L2Event::Conflict { ip, mac, .. }) => format!("conflict {ip} {mac}"),
                Output::ConflictsChanged => "report".into(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn conflicts_are_reported_and_reasserted_rate_limited() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
        for _ in 1..BURST_ROUNDS {
            a.handle(Input::Tick);
        }
        let v4 = || spoofed_arp("192.0.2.200", MAC2);
        let v6 = || spoofed_na("2001:db8:1::200", CLIENT);
        let frame = |bytes: Vec<u8>| Input::Frame { iface: 2, bytes };
        // (input, expected outputs)
        let script: Vec<(Input, Vec<&str>)> = vec![
            // First claim: reported, counted, re-asserted at once with our MAC.
            (
                frame(v4()),
                vec![
                    "conflict 192.0.2.200 02:00:00:00:00:12",
                    "report",
                    "count Reasserted",
                    "arp Request 02:00:00:00:00:11",
                    "count Gratuitous",
                    "arp Reply 02:00:00:00:00:11",
                    "count Gratuitous",
                ],
            ),
            // A second claim within the cooldown: reported only.
            (frame(v4()), vec!["conflict 192.0.2.200 02:00:00:00:00:12"]),
            // The IPv6 VIP has its own cooldown (and the report waits).
            (
                frame(v6()),
                vec![
                    "conflict 2001:db8:1::200 02:00:00:00:00:99",
                    "count Reasserted",
                    "na 02:00:00:00:00:11",
                    "count Gratuitous",
                ],
            ),
            (Input::Tick, vec![]),
            (Input::Tick, vec![]),
            (Input::Tick, vec![]),
            (frame(v4()), vec!["conflict 192.0.2.200 02:00:00:00:00:12"]),
            // Four ticks after the first: re-asserts again.
            (Input::Tick, vec![]),
            (
                frame(v4()),
                vec![
                    "conflict 192.0.2.200 02:00:00:00:00:12",
                    "count Reasserted",
                    "arp Request 02:00:00:00:00:11",
                    "count Gratuitous",
                    "arp Reply 02:00:00:00:00:11",
                    "count Gratuitous",
                ],
            ),
        ];
        for (i, (input, want)) in script.into_iter().enumerate() {
            assert_eq!(short(&a.handle(input)), want, "step {i}");
        }
        assert_eq!(
            a.conflicts().get(&ip("192.0.2.200")),
            Some(&ConflictSeen {
                iface: "eth0".into(),
                mac: MAC2,
                count: 4
            })
        );
        assert_eq!(
            a.conflicts().get(&ip("2001:db8:1::200")).map(|c| c.count),
            Some(1)
        );
    }

    #[test]
    fn a_conflict_flood_sends_one_reassertion_per_second_and_one_report_per_10s() {
        let mut a = ready();
        a.handle(desired(&["2001:db8:1::200"]));
        let (mut sent, mut reports) = (0, 0);
        // 40 s of ticks, 1,000 spoofed NAs between two ticks (4,000 frames a second).
        for _ in 0..160 {
            for _ in 0..1000 {
                let out = a.handle(Input::Frame {
                    iface: 2,
                    bytes: spoofed_na("2001:db8:1::200", CLIENT),
                });
                sent += sends(&out).len();
                reports += out
                    .iter()
                    .filter(|o| **o == Output::ConflictsChanged)
                    .count();
            }
            let out = a.handle(Input::Tick);
            reports += out
                .iter()
                .filter(|o| **o == Output::ConflictsChanged)
                .count();
        }
        assert_eq!(sent, 40, "one re-assertion a second");
        assert_eq!(
            reports, 5,
            "one report every 10 s: at 0, 10, 20, 30 and 40 s"
        );
        assert_eq!(a.conflicts()[&ip("2001:db8:1::200")].count, 160_000);
        // Released: forgotten, reported at once.
        let out = a.handle(desired(&[]));
        assert!(out.contains(&Output::ConflictsChanged));
        assert!(a.conflicts().is_empty());
    }

    #[test]
    fn own_frames_and_garbage_are_ignored() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200"]));
        let own = ArpFrame::gratuitous(MAC1, Ipv4Addr::new(192, 0, 2, 200), ArpOp::Request);
        assert_eq!(
            a.handle(Input::Frame {
                iface: 2,
                bytes: own.encode()
            }),
            vec![]
        );
        assert_eq!(
            a.handle(Input::Frame {
                iface: 2,
                bytes: vec![1, 2, 3]
            }),
            vec![Output::Count(Counter::Malformed(Malformed::Truncated))]
        );
        assert_eq!(
            a.handle(Input::Frame {
                iface: 9,
                bytes: arp_request("192.0.2.200")
            }),
            vec![]
        );
    }

    #[test]
    fn malformed_frames_are_counted_by_kind() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
        let arp = arp_request("192.0.2.200");
        let na = NdpFrame::unsolicited(MAC2, "2001:db8:1::200".parse().unwrap()).encode();
        let with = |base: &[u8], at: usize, v: u8| {
            let mut b = base.to_vec();
            b[at] = v;
            b
        };
        // (frame, kind): byte offsets are Ethernet (14) + ARP, or + IPv6 (40) + ICMPv6.
        let table: Vec<(Vec<u8>, Malformed)> = vec![
            (arp[..30].to_vec(), Malformed::Truncated),
            (with(&arp, 15, 6), Malformed::ArpHeader),
            (with(&arp, 18, 8), Malformed::ArpHeader),
            (with(&arp, 21, 3), Malformed::ArpOperation),
            (na[..60].to_vec(), Malformed::Truncated),
            (with(&na, 14, 0x40), Malformed::Ipv6Header),
            (with(&na, 21, 64), Malformed::HopLimit),
            (with(&na, 55, 1), Malformed::Icmpv6Header),
            (with(&na, 56, na[56].wrapping_add(1)), Malformed::Checksum),
            (vec![0u8; 10], Malformed::Truncated),
        ];
        for (i, (bytes, kind)) in table.into_iter().enumerate() {
            let out = a.handle(Input::Frame { iface: 2, bytes });
            assert_eq!(
                out,
                vec![Output::Count(Counter::Malformed(kind))],
                "case {i}: {kind:?}"
            );
        }
    }

    #[test]
    fn refresh_reannounces_everything() {
        let mut a = ready();
        a.handle(desired(&["192.0.2.200", "2001:db8:1::200"]));
        assert_eq!(sends(&a.handle(Input::Refresh)).len(), 3);
    }
}
