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
//!   Ticks matter only while [`Responder::wants_tick`]: with nothing pending they change
//!   nothing.
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

    /// Whether [`Input::Tick`] has anything to do: a burst or a re-assertion cooldown
    /// running, or a conflict report waiting. The driver ticks only then, so an idle
    /// speaker is not woken four times a second for nothing.
    pub fn wants_tick(&self) -> bool {
        !self.burst.is_empty()
            || !self.cooldown.is_empty()
            || self.conflicts_dirty
            || self.report_wait > 0
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
#[path = "responder_tests.rs"]
mod tests;
