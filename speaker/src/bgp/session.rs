//! The BGP session state machine (RFC 4271 section 8), with no sockets, no
//! clock and no Kubernetes: `handle(input) -> outputs`.
//!
//! ```text
//!   Start            Connected/send OPEN     OPEN ok/send KEEPALIVE    KEEPALIVE
//! Idle ───> Connect ─────────────────> OpenSent ───────────────> OpenConfirm ───> Established
//!             ^  │ ConnectFailed                                                    │
//!             │  └── ConnectRetry timer (backoff) ──┘                              │
//!             └──── Closed, NOTIFICATION, hold expiry, bad message (any state) ───┘
//! ```
//!
//! We only dial out (like MetalLB), so there is no Active state and no
//! collision to resolve. Invariants: `advertised` is exactly what the peer
//! holds from us on the current connection (empty outside Established); every
//! teardown of a connection arms the ConnectRetry timer unless the session was
//! stopped; a stopped session withdraws its routes before its Cease, except a
//! [`StopReason::Shutdown`] with graceful restart (RFC 4724) negotiated, which
//! sends nothing and only closes, so the peer keeps the routes as stale.
//!
//! Graceful restart, when configured: the OPEN carries the capability (restart
//! time, Forwarding State for IPv4 and IPv6 unicast, Restart State until the
//! first Established of this session object, see [`GracefulRestart`]); once
//! Established, the initial UPDATEs are followed by End-of-RIB for each
//! negotiated family. The peer's capability and End-of-RIB markers are recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, GracefulRestartAddressFamily, GracefulRestartCapability,
    MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::notification::{
    BgpNotificationMessage, FiniteStateMachineError, OpenMessageError,
};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_iana::address_family::AddressType;

use super::message::{
    DecodeError, cease_admin_shutdown, cease_bfd_down, cease_peer_deconfigured, hold_timer_expired,
    notification_codes,
};
use super::route::{AS_TRANS, Route, RouteAttrs, UpdateParams, by_prefix, end_of_rib};

/// Hold timer while waiting for the peer's OPEN (RFC 4271 suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// The configuration of one session, already resolved for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_asn: u32,
    /// The AS the peer must announce.
    pub peer_asn: u32,
    /// Hold time we offer; zero: no keepalives and no hold timer.
    pub hold_time: Duration,
    /// Keepalive interval wanted; the one used is at most a third of the
    /// negotiated hold time.
    pub keepalive_time: Duration,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// NEXT_HOP for IPv4 routes when the session runs over IPv6.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Global NEXT_HOP for IPv6 routes when the session runs over IPv4, or
    /// when its local address is link-local.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// First reconnect delay; doubled on each failure up to `retry_max`.
    pub retry_min: Duration,
    /// Longest reconnect delay.
    pub retry_max: Duration,
    /// Graceful restart (RFC 4724) as the restarting speaker; `None`: off.
    pub graceful_restart: Option<GracefulRestart>,
}

/// Our side of graceful restart (RFC 4724).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// The restart time offered: how long the peer keeps our routes as stale after the
    /// connection is lost. Whole seconds, at most 4095 (more is sent as 4095).
    pub restart_time: Duration,
    /// Set the Restart State bit in this session's OPENs until it first reaches
    /// Established. The driver sets it for the first session to a peer in a process:
    /// RFC 4724 section 3 means the bit for "this speaker has restarted", and a speaker
    /// process that starts has always just (re)started (a first install only makes
    /// the peer skip waiting for our End-of-RIB before sending its routes, which we
    /// ignore anyway). Reconnects within the process are not restarts and clear it.
    pub restarted: bool,
}

/// The largest restart time the capability can carry (12 bits of seconds).
pub const MAX_RESTART_TIME_SECS: u16 = 4095;

/// The peer's Graceful Restart capability, as received in its OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// Its restart time.
    pub restart_time: Duration,
    /// Its Restart State bit: it has just restarted.
    pub restart_state: bool,
    /// The families it preserves forwarding state for, with its Forwarding State bit.
    pub families: Vec<(AddressType, bool)>,
}

impl SessionConfig {
    /// Same AS on both ends.
    pub fn ibgp(&self) -> bool {
        self.local_asn == self.peer_asn
    }
}

/// RFC 4271 states, less Active (we never listen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Stopped: no connection and none wanted.
    Idle,
    /// Connecting, or waiting for the ConnectRetry timer.
    Connect,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Routes flow.
    Established,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// The session's timers. Arming one that is armed restarts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Time to dial again.
    ConnectRetry,
    /// The peer has been silent too long.
    Hold,
    /// Time to send a KEEPALIVE.
    Keepalive,
}

/// Why the session is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The speaker process shuts down. Without graceful restart: withdraw, then Cease /
    /// Administrative Shutdown. With graceful restart negotiated (or not yet known, in
    /// OpenSent): close without any message, so the peer keeps our routes as stale until
    /// the next process reconnects (a restart cannot be told from a final stop here).
    Shutdown,
    /// The peer was removed from the configuration: withdraw, then Cease / Peer
    /// De-configured, also with graceful restart (the routes must go now).
    Deconfigured,
}

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin connecting.
    Start,
    /// Withdraw, send Cease and stay down.
    Stop(StopReason),
    /// The TCP connection is up; `local` is our end's address.
    Connected {
        /// Our address on the connection: the NEXT_HOP of its family.
        local: IpAddr,
    },
    /// The TCP connection could not be made.
    ConnectFailed,
    /// The peer closed the connection, or it broke.
    Closed,
    /// A message arrived.
    Received(BgpMessage),
    /// Bytes arrived that are not a valid message.
    DecodeError(DecodeError),
    /// A timer ran out.
    TimerFired(Timer),
    /// The peer's BFD session went Down after having been Up: the path is
    /// gone, so the connection is torn down at once (Cease / BFD Down) and
    /// retried as after any failure.
    BfdDown,
    /// The full set of routes wanted from now on.
    SetRoutes(BTreeSet<Route>),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The peer closed the TCP connection without a NOTIFICATION.
    PeerClosed,
    /// The peer sent a NOTIFICATION (code, subcode).
    NotificationReceived(u8, u8),
    /// We sent a NOTIFICATION (code, subcode): bad message, bad OPEN, hold expiry.
    NotificationSent(u8, u8),
    /// We were stopped.
    Stopped,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a TCP connection to the peer.
    Connect,
    /// Send a message on the current connection.
    Send(BgpMessage),
    /// (Re)start a timer.
    ArmTimer(Timer, Duration),
    /// Stop a timer.
    CancelTimer(Timer),
    /// Close the current connection (after the queued sends).
    Close,
    /// The session reached Established.
    Established,
    /// A connection that got past TCP ended.
    Down(DownReason),
}

/// Counters and facts for metrics and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// UPDATE messages sent.
    pub updates_sent: u64,
    /// NOTIFICATIONs sent.
    pub notifications_sent: u64,
    /// NOTIFICATIONs received.
    pub notifications_received: u64,
    /// Times the session reached Established.
    pub established_count: u64,
    /// End-of-RIB markers sent.
    pub end_of_rib_sent: u64,
    /// End-of-RIB markers received.
    pub end_of_rib_received: u64,
    /// The last reason a connection ended.
    pub last_down: Option<DownReason>,
}

/// One BGP session. See the module docs.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    /// Wanted routes, by prefix.
    desired: BTreeMap<IpNet, RouteAttrs>,
    /// Routes the peer holds from us on this connection.
    advertised: BTreeMap<IpNet, RouteAttrs>,
    /// Set on Connected, completed once the peer's OPEN is known.
    params: Option<UpdateParams>,
    local: Option<IpAddr>,
    negotiated_hold: Duration,
    next_retry: Duration,
    stats: SessionStats,
    /// Families both OPENs carry, on the current connection.
    families: Vec<AddressType>,
    /// The peer's Graceful Restart capability, on the current connection.
    peer_gr: Option<PeerGracefulRestart>,
    /// End-of-RIB markers received on the current connection, by family.
    eor_received: Vec<AddressType>,
    /// The Restart State bit of our next OPEN (see [`GracefulRestart::restarted`]).
    restarting: bool,
}

/// What a valid OPEN from the peer settles for the connection.
struct Negotiated {
    hold: Duration,
    params: UpdateParams,
    families: Vec<AddressType>,
    peer_gr: Option<PeerGracefulRestart>,
}

impl Session {
    /// A stopped session.
    pub fn new(cfg: SessionConfig) -> Self {
        let next_retry = cfg.retry_min;
        Self {
            state: State::Idle,
            desired: BTreeMap::new(),
            advertised: BTreeMap::new(),
            params: None,
            local: None,
            negotiated_hold: Duration::ZERO,
            next_retry,
            stats: SessionStats::default(),
            families: Vec::new(),
            peer_gr: None,
            eor_received: Vec::new(),
            restarting: cfg.graceful_restart.is_some_and(|g| g.restarted),
            cfg,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Number of prefixes the peer holds from us.
    pub fn advertised_count(&self) -> usize {
        self.advertised.len()
    }

    /// Counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Our address on the current connection.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.local
    }

    /// The peer's Graceful Restart capability on the current connection.
    pub fn peer_graceful_restart(&self) -> Option<&PeerGracefulRestart> {
        self.peer_gr.as_ref()
    }

    /// Both sides sent the Graceful Restart capability on the current connection: the
    /// peer keeps our routes if the connection is lost without a NOTIFICATION.
    pub fn graceful_restart_negotiated(&self) -> bool {
        self.cfg.graceful_restart.is_some() && self.peer_gr.is_some()
    }

    /// Families the peer has sent End-of-RIB for on the current connection.
    pub fn end_of_rib_received(&self) -> &[AddressType] {
        &self.eor_received
    }

    /// Feeds one input, returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => {
                if self.state == State::Idle {
                    self.state = State::Connect;
                    out.push(Output::Connect);
                }
            }
            Input::Stop(reason) => self.stop(reason, &mut out),
            Input::Connected { local } => {
                if self.state == State::Connect {
                    self.local = Some(local);
                    self.send(self.open(), &mut out);
                    out.push(Output::ArmTimer(Timer::Hold, OPEN_HOLD_TIME));
                    self.state = State::OpenSent;
                } else {
                    // A connection nobody waits for (stopped meanwhile).
                    out.push(Output::Close);
                }
            }
            Input::ConnectFailed => {
                if self.state == State::Connect {
                    self.arm_retry(&mut out);
                }
            }
            Input::Closed => {
                if self.connected() {
                    self.teardown(DownReason::PeerClosed, &mut out);
                }
            }
            Input::Received(msg) => self.received(msg, &mut out),
            Input::DecodeError(e) => {
                if self.connected() {
                    self.fail(e.notification, &mut out);
                }
            }
            Input::TimerFired(t) => self.timer(t, &mut out),
            Input::BfdDown => {
                if self.connected() {
                    self.fail(cease_bfd_down(), &mut out);
                }
            }
            Input::SetRoutes(routes) => {
                self.desired = by_prefix(&routes);
                if self.state == State::Established {
                    self.sync(&mut out);
                }
            }
        }
        out
    }

    fn connected(&self) -> bool {
        matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }

    fn open(&self) -> BgpMessage {
        let my_as = u16::try_from(self.cfg.local_asn).unwrap_or(AS_TRANS);
        let hold = u16::try_from(self.cfg.hold_time.as_secs()).unwrap_or(u16::MAX);
        let mut caps = vec![
            BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(
                AddressType::Ipv4Unicast,
            )),
            BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(
                AddressType::Ipv6Unicast,
            )),
            BgpCapability::FourOctetAs(FourOctetAsCapability::new(self.cfg.local_asn)),
        ];
        if let Some(gr) = &self.cfg.graceful_restart {
            let time = u16::try_from(gr.restart_time.as_secs())
                .unwrap_or(u16::MAX)
                .min(MAX_RESTART_TIME_SECS);
            // Forwarding State set: the node keeps forwarding (kube-proxy, the CNI)
            // while the speaker process is away; only the announcer restarts.
            let families = [AddressType::Ipv4Unicast, AddressType::Ipv6Unicast]
                .map(|f| GracefulRestartAddressFamily::new(true, f));
            caps.push(BgpCapability::GracefulRestartCapability(
                GracefulRestartCapability::new(self.restarting, false, time, families),
            ));
        }
        BgpMessage::Open(BgpOpenMessage::new(
            my_as,
            hold,
            self.cfg.router_id,
            vec![BgpOpenMessageParameter::new_capabilities(caps)],
        ))
    }

    fn send(&mut self, msg: BgpMessage, out: &mut Vec<Output>) {
        match &msg {
            BgpMessage::Update(_) => self.stats.updates_sent += 1,
            BgpMessage::Notification(_) => self.stats.notifications_sent += 1,
            _ => {}
        }
        out.push(Output::Send(msg));
    }

    fn received(&mut self, msg: BgpMessage, out: &mut Vec<Output>) {
        if !self.connected() {
            return;
        }
        match (self.state, msg) {
            (_, BgpMessage::Notification(n)) => {
                self.stats.notifications_received += 1;
                let (code, sub) = notification_codes(&n);
                out.push(Output::Close);
                self.teardown(DownReason::NotificationReceived(code, sub), out);
            }
            (State::OpenSent, BgpMessage::Open(open)) => match self.check_open(&open) {
                Ok(n) => {
                    self.params = Some(n.params);
                    self.families = n.families;
                    self.peer_gr = n.peer_gr;
                    self.send(BgpMessage::KeepAlive, out);
                    self.arm_hold_and_keepalive(n.hold, out);
                    self.state = State::OpenConfirm;
                }
                Err(n) => self.fail(n, out),
            },
            (State::OpenConfirm, BgpMessage::KeepAlive) => {
                self.state = State::Established;
                self.stats.established_count += 1;
                // The backoff starts again only once the session proved stable (its first
                // keepalive interval): a peer that resets every session right after
                // Established (a bad UPDATE each time) is retried ever more slowly. Without
                // keepalives there is no such moment, so at once.
                if self.negotiated_hold.is_zero() {
                    self.next_retry = self.cfg.retry_min;
                }
                self.restart_hold(out);
                out.push(Output::Established);
                self.sync(out);
                if self.cfg.graceful_restart.is_some() {
                    // RFC 4724 section 4.1: the initial update is complete. The
                    // marker goes even to a peer without the capability (section 2
                    // recommends it for convergence in general).
                    for f in self.families.clone() {
                        if let Some(m) = end_of_rib(f) {
                            self.stats.end_of_rib_sent += 1;
                            self.send(m, out);
                        }
                    }
                    // The restart is over once the peer has our full table again.
                    self.restarting = false;
                }
            }
            (State::Established, BgpMessage::Update(u)) => {
                // Received routes are ignored: the speaker only announces. An
                // End-of-RIB is noted (status), nothing more: we keep no stale
                // routes of the peer's to flush.
                if let Some(f) = u.end_of_rib() {
                    self.stats.end_of_rib_received += 1;
                    if !self.eor_received.contains(&f) {
                        self.eor_received.push(f);
                    }
                }
                self.restart_hold(out);
            }
            (State::Established, BgpMessage::KeepAlive) => self.restart_hold(out),
            (State::Established, BgpMessage::RouteRefresh(_)) => {
                // Not advertised, but harmless to honour: send everything again.
                self.restart_hold(out);
                let all = std::mem::take(&mut self.advertised);
                self.send_announce(&all, out);
                self.advertised = all;
            }
            (state, _) => {
                let value = Box::new([]);
                let e = match state {
                    State::OpenSent => {
                        FiniteStateMachineError::ReceiveUnexpectedMessageInOpenSentState { value }
                    }
                    State::OpenConfirm => {
                        FiniteStateMachineError::ReceiveUnexpectedMessageInOpenConfirmState {
                            value,
                        }
                    }
                    _ => FiniteStateMachineError::ReceiveUnexpectedMessageInEstablishedState {
                        value,
                    },
                };
                self.fail(BgpNotificationMessage::FiniteStateMachineError(e), out);
            }
        }
    }

    /// Validates the peer's OPEN (RFC 4271 6.2); returns the negotiated hold
    /// time and how to build UPDATEs, or the NOTIFICATION to send.
    fn check_open(&self, open: &BgpOpenMessage) -> Result<Negotiated, BgpNotificationMessage> {
        let bad = |e: OpenMessageError| BgpNotificationMessage::OpenMessageError(e);
        if open.my_asn4() != self.cfg.peer_asn {
            return Err(bad(OpenMessageError::BadPeerAs {
                value: open.my_as().to_be_bytes().into(),
            }));
        }
        let peer_hold = open.hold_time();
        if peer_hold == 1 || peer_hold == 2 {
            return Err(bad(OpenMessageError::UnacceptableHoldTime {
                value: peer_hold.to_be_bytes().into(),
            }));
        }
        let id = open.bgp_id();
        if id.is_unspecified()
            || id.is_multicast()
            || id.is_broadcast()
            || (self.cfg.ibgp() && id == self.cfg.router_id)
        {
            return Err(bad(OpenMessageError::BadBgpIdentifier {
                value: id.octets().into(),
            }));
        }
        let caps = open.capabilities();
        let asn4 = caps
            .iter()
            .any(|c| matches!(c, BgpCapability::FourOctetAs(_)));
        let families: Vec<AddressType> = caps
            .iter()
            .filter_map(|c| match c {
                BgpCapability::MultiProtocolExtensions(m) => Some(m.address_type()),
                _ => None,
            })
            .collect();
        // RFC 4760: a peer without any MP capability speaks IPv4 unicast only.
        let v4 = families.is_empty() || families.contains(&AddressType::Ipv4Unicast);
        let v6 = families.contains(&AddressType::Ipv6Unicast);
        let (local_v4, local_v6) = match self.local {
            Some(IpAddr::V4(a)) => (Some(a), None),
            Some(IpAddr::V6(a)) if !a.is_unicast_link_local() => (a.to_ipv4_mapped(), Some(a)),
            _ => (None, None),
        };
        let params = UpdateParams {
            local_asn: self.cfg.local_asn,
            ibgp: self.cfg.ibgp(),
            asn4,
            next_hop_v4: local_v4.or(self.cfg.next_hop_v4).filter(|_| v4),
            next_hop_v6: local_v6.or(self.cfg.next_hop_v6).filter(|_| v6),
        };
        let ours = self.cfg.hold_time.as_secs();
        let hold = Duration::from_secs(ours.min(u64::from(peer_hold)));
        let peer_gr = caps.iter().find_map(|c| match c {
            BgpCapability::GracefulRestartCapability(g) => Some(PeerGracefulRestart {
                restart_time: Duration::from_secs(u64::from(g.time())),
                restart_state: g.restart(),
                families: g
                    .address_families()
                    .iter()
                    .map(|f| (f.address_type(), f.forwarding_state()))
                    .collect(),
            }),
            _ => None,
        });
        let families = [
            (v4, AddressType::Ipv4Unicast),
            (v6, AddressType::Ipv6Unicast),
        ]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
        Ok(Negotiated {
            hold,
            params,
            families,
            peer_gr,
        })
    }

    fn arm_hold_and_keepalive(&mut self, hold: Duration, out: &mut Vec<Output>) {
        self.negotiated_hold = hold;
        if hold.is_zero() {
            out.push(Output::CancelTimer(Timer::Hold));
            out.push(Output::CancelTimer(Timer::Keepalive));
        } else {
            out.push(Output::ArmTimer(Timer::Hold, hold));
            out.push(Output::ArmTimer(
                Timer::Keepalive,
                self.keepalive_interval(),
            ));
        }
    }

    fn keepalive_interval(&self) -> Duration {
        let third = self.negotiated_hold / 3;
        let want = if self.cfg.keepalive_time.is_zero() {
            third
        } else {
            self.cfg.keepalive_time.min(third)
        };
        want.max(Duration::from_secs(1))
    }

    fn restart_hold(&mut self, out: &mut Vec<Output>) {
        if !self.negotiated_hold.is_zero() {
            out.push(Output::ArmTimer(Timer::Hold, self.negotiated_hold));
        }
    }

    fn timer(&mut self, t: Timer, out: &mut Vec<Output>) {
        match (t, self.state) {
            (Timer::ConnectRetry, State::Connect) => out.push(Output::Connect),
            (Timer::Hold, State::OpenSent | State::OpenConfirm | State::Established) => {
                self.fail(hold_timer_expired(), out);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                if self.state == State::Established {
                    self.next_retry = self.cfg.retry_min;
                }
                self.send(BgpMessage::KeepAlive, out);
                out.push(Output::ArmTimer(
                    Timer::Keepalive,
                    self.keepalive_interval(),
                ));
            }
            _ => {}
        }
    }

    /// Sends `n`, closes, and retries later.
    fn fail(&mut self, n: BgpNotificationMessage, out: &mut Vec<Output>) {
        let (code, sub) = notification_codes(&n);
        self.send(BgpMessage::Notification(n), out);
        out.push(Output::Close);
        self.teardown(DownReason::NotificationSent(code, sub), out);
    }

    /// Forgets the connection and schedules the next attempt.
    fn teardown(&mut self, reason: DownReason, out: &mut Vec<Output>) {
        if reason == DownReason::PeerClosed {
            out.push(Output::Close);
        }
        self.reset_connection(out);
        self.stats.last_down = Some(reason.clone());
        out.push(Output::Down(reason));
        self.state = State::Connect;
        self.arm_retry(out);
    }

    fn reset_connection(&mut self, out: &mut Vec<Output>) {
        self.advertised.clear();
        self.params = None;
        self.families.clear();
        self.peer_gr = None;
        self.eor_received.clear();
        self.local = None;
        self.negotiated_hold = Duration::ZERO;
        out.push(Output::CancelTimer(Timer::Hold));
        out.push(Output::CancelTimer(Timer::Keepalive));
    }

    fn arm_retry(&mut self, out: &mut Vec<Output>) {
        out.push(Output::ArmTimer(Timer::ConnectRetry, self.next_retry));
        self.next_retry = (self.next_retry * 2).min(self.cfg.retry_max);
    }

    fn stop(&mut self, reason: StopReason, out: &mut Vec<Output>) {
        if self.state == State::Idle {
            return;
        }
        // A process stop with graceful restart: no withdrawal and no NOTIFICATION (RFC
        // 4724 keeps the routes only when the connection ends without one), so the peer
        // keeps our routes, stale, until the next process sends End-of-RIB. In OpenSent
        // the peer's capability is not known yet; it may still hold stale routes from
        // the previous process, so the connection is closed silently too.
        let silent = reason == StopReason::Shutdown
            && self.cfg.graceful_restart.is_some()
            && (self.state == State::OpenSent || self.peer_gr.is_some());
        if silent {
            out.push(Output::Close);
            self.reset_connection(out);
            self.stats.last_down = Some(DownReason::Stopped);
            out.push(Output::Down(DownReason::Stopped));
            out.push(Output::CancelTimer(Timer::ConnectRetry));
            self.state = State::Idle;
            self.next_retry = self.cfg.retry_min;
            return;
        }
        if self.state == State::Established {
            let all: Vec<IpNet> = self.advertised.keys().copied().collect();
            if let Some(p) = &self.params {
                for m in p.withdraw(&all) {
                    self.send(m, out);
                }
            }
        }
        if self.connected() {
            let n = match reason {
                StopReason::Shutdown => cease_admin_shutdown(),
                StopReason::Deconfigured => cease_peer_deconfigured(),
            };
            self.send(BgpMessage::Notification(n), out);
            out.push(Output::Close);
            self.reset_connection(out);
            self.stats.last_down = Some(DownReason::Stopped);
            out.push(Output::Down(DownReason::Stopped));
        }
        out.push(Output::CancelTimer(Timer::ConnectRetry));
        self.state = State::Idle;
        self.next_retry = self.cfg.retry_min;
    }

    /// Brings the peer's copy (`advertised`) in line with `desired`.
    fn sync(&mut self, out: &mut Vec<Output>) {
        let Some(params) = self.params.clone() else {
            return;
        };
        let gone: Vec<IpNet> = self
            .advertised
            .keys()
            .filter(|p| !self.desired.contains_key(p))
            .copied()
            .collect();
        let changed: BTreeMap<IpNet, RouteAttrs> = self
            .desired
            .iter()
            .filter(|(p, a)| params.carries(p) && self.advertised.get(p) != Some(a))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for m in params.withdraw(&gone) {
            self.send(m, out);
        }
        for p in &gone {
            self.advertised.remove(p);
        }
        self.send_announce(&changed, out);
        self.advertised.extend(changed);
    }

    fn send_announce(&mut self, routes: &BTreeMap<IpNet, RouteAttrs>, out: &mut Vec<Output>) {
        if let Some(params) = self.params.clone() {
            for m in params.announce(routes) {
                self.send(m, out);
            }
        }
    }
}
