//! One BFD session in asynchronous mode (RFC 5880 section 6.8), with no
//! sockets and no clock: `handle(input) -> outputs`.
//!
//! ```text
//!            peer Down               peer Init or Up
//!   Down ─────────────────> Init ─────────────────────> Up
//!    │  └──── peer Init ─────────────────────────────────^
//!    ^                                                    │
//!    └── detection time expired, peer Down or AdminDown ──┘ (from Init or Up)
//!   AdminDown: after Stop; nothing brings it back (the driver drops the session).
//! ```
//!
//! Invariants: while not Up we advertise a Desired Min TX of at least one second
//! (section 6.8.3), and every change of the intervals we advertise while Up starts
//! a Poll Sequence, which lasts until the peer answers with Final; a passive
//! session sends nothing until it has heard from the peer; every dropped packet
//! is counted and reported once as [`Output::Dropped`]. Jitter on the transmit
//! timer is the driver's (see [`jittered`]): it needs randomness.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::packet::{DecodeError, Diag, Packet, State};

/// Desired Min TX advertised while the session is not Up (RFC 5880 6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);
/// `bfd.RemoteMinRxInterval` before the peer has said anything (RFC 5880 6.8.1).
const INITIAL_REMOTE_MIN_RX: Duration = Duration::from_micros(1);

/// The timers of a session. Arming one that is armed restarts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Time to send the next periodic packet (the driver adds jitter).
    Tx,
    /// The peer has been silent for a detection time.
    Detect,
}

/// What a session is configured with, resolved from a `bfd-profiles` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BfdConfig {
    /// `transmit-interval` (MetalLB's default 300 ms).
    pub desired_min_tx: Duration,
    /// `receive-interval` (default 300 ms).
    pub required_min_rx: Duration,
    /// `detect-multiplier` (default 3).
    pub detect_mult: u8,
    /// `passive-mode`: wait for the peer's first packet before sending.
    pub passive: bool,
    /// Multihop (RFC 5883, `ebgp-multihop` peers): accept `min_ttl` and up;
    /// single hop (RFC 5881): only 255.
    pub multihop: bool,
    /// Lowest TTL accepted on a multihop session (`minimum-ttl`, default 254).
    pub min_ttl: u8,
    /// `echo-mode` as asked; the driver declines it with a warning.
    pub echo_mode: bool,
}

impl Default for BfdConfig {
    fn default() -> Self {
        Self {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            multihop: false,
            min_ttl: 254,
            echo_mode: false,
        }
    }
}

impl BfdConfig {
    /// The configuration for a profile; `multihop` for `ebgp-multihop` peers.
    /// Echo mode is not part of it: the driver declines it (see its docs).
    pub fn from_profile(p: &ironlb_config::BfdProfile, multihop: bool) -> Self {
        let d = Self::default();
        let ms = |v: Option<u32>, default: Duration| {
            v.map_or(default, |v| Duration::from_millis(u64::from(v)))
        };
        Self {
            desired_min_tx: ms(p.transmit_interval, d.desired_min_tx),
            required_min_rx: ms(p.receive_interval, d.required_min_rx),
            detect_mult: p
                .detect_multiplier
                .and_then(|m| u8::try_from(m).ok())
                .filter(|m| *m > 0)
                .unwrap_or(d.detect_mult),
            passive: p.passive_mode,
            multihop,
            min_ttl: p
                .minimum_ttl
                .and_then(|t| u8::try_from(t).ok())
                .unwrap_or(d.min_ttl),
            echo_mode: p.echo_mode,
        }
    }
}

/// Why a packet was dropped (RFC 5880 6.8.6, RFC 5881 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not a valid control packet.
    Malformed(DecodeError),
    /// Received TTL / hop limit below what the session accepts.
    Ttl(u8),
    /// Your Discriminator is not ours, or is zero while the peer claims Init or Up.
    Discriminator,
    /// The A bit is set and we have no authentication configured.
    Auth,
}

impl DropReason {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DropReason::Malformed(e) => e.metric_label(),
            DropReason::Ttl(_) => "bad_ttl",
            DropReason::Discriminator => "bad_discriminator",
            DropReason::Auth => "auth",
        }
    }
}

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin (a passive session only waits).
    Start,
    /// Go AdminDown and tell the peer (the session is being removed).
    Stop,
    /// A packet from the peer's address, with the TTL / hop limit it came with.
    Received {
        /// The decoded packet.
        packet: Packet,
        /// IP TTL or IPv6 hop limit.
        ttl: u8,
    },
    /// Bytes from the peer's address that do not decode.
    Malformed(DecodeError),
    /// A timer ran out.
    TimerFired(Timer),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this packet to the peer.
    Send(Packet),
    /// (Re)start a timer; the driver jitters [`Timer::Tx`] with [`jittered`].
    ArmTimer(Timer, Duration),
    /// Stop a timer.
    CancelTimer(Timer),
    /// The state changed (with our diagnostic for a change to Down).
    StateChanged {
        /// Before.
        from: State,
        /// After.
        to: State,
        /// Why (for Down).
        diag: Diag,
    },
    /// A packet was dropped.
    Dropped(DropReason),
}

/// Counters for metrics and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BfdStats {
    /// Packets sent.
    pub sent: u64,
    /// Packets accepted.
    pub received: u64,
    /// Packets dropped, any reason.
    pub dropped: u64,
    /// State changes.
    pub state_changes: u64,
}

/// One session. See the module docs.
#[derive(Debug)]
pub struct Session {
    cfg: BfdConfig,
    state: State,
    remote_state: State,
    local_disc: u32,
    remote_disc: u32,
    diag: Diag,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_mult: u8,
    /// A Poll Sequence runs: every packet carries P until the peer's Final.
    polling: bool,
    stats: BfdStats,
}

impl Session {
    /// A Down session with our discriminator `local_disc` (non-zero, unique on
    /// this node: the driver's job).
    pub fn new(cfg: BfdConfig, local_disc: u32) -> Self {
        Self {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_disc,
            remote_disc: 0,
            diag: Diag::None,
            remote_min_rx: INITIAL_REMOTE_MIN_RX,
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            polling: false,
            stats: BfdStats::default(),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our discriminator.
    pub fn local_disc(&self) -> u32 {
        self.local_disc
    }

    /// The configuration.
    pub fn config(&self) -> &BfdConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &BfdStats {
        &self.stats
    }

    /// The detection time: the peer's multiplier times the agreed interval at
    /// which it sends (RFC 5880 6.8.4); zero before the peer is heard.
    pub fn detection_time(&self) -> Duration {
        self.cfg.required_min_rx.max(self.remote_desired_min_tx)
            * u32::from(self.remote_detect_mult)
    }

    /// The interval between our periodic packets, before jitter; `None` while
    /// the peer asks for none (Required Min RX 0).
    pub fn tx_interval(&self) -> Option<Duration> {
        if self.remote_min_rx.is_zero() {
            return None;
        }
        Some(self.advertised_min_tx().max(self.remote_min_rx))
    }

    fn advertised_min_tx(&self) -> Duration {
        if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX)
        }
    }

    /// Feeds one input, returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.transmit(&mut out),
            Input::Stop => {
                if self.state != State::AdminDown {
                    self.set_state(State::AdminDown, Diag::AdminDown, &mut out);
                    let p = self.packet(false);
                    self.send(p, &mut out);
                    out.push(Output::CancelTimer(Timer::Tx));
                    out.push(Output::CancelTimer(Timer::Detect));
                }
            }
            Input::Malformed(e) => self.drop_packet(DropReason::Malformed(e), &mut out),
            Input::Received { packet, ttl } => self.received(&packet, ttl, &mut out),
            Input::TimerFired(Timer::Tx) => self.transmit(&mut out),
            Input::TimerFired(Timer::Detect) => self.detection_expired(&mut out),
        }
        out
    }

    fn may_send(&self) -> bool {
        self.state != State::AdminDown && (!self.cfg.passive || self.remote_disc != 0)
    }

    /// A periodic packet, and the next one's timer.
    fn transmit(&mut self, out: &mut Vec<Output>) {
        if !self.may_send() {
            return;
        }
        let Some(interval) = self.tx_interval() else {
            return;
        };
        let p = self.packet(self.polling);
        self.send(p, out);
        out.push(Output::ArmTimer(Timer::Tx, interval));
    }

    fn packet(&self, poll: bool) -> Packet {
        Packet {
            diag: self.diag,
            state: self.state,
            poll,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: micros(self.advertised_min_tx()),
            required_min_rx: micros(self.cfg.required_min_rx),
            // We do not run the echo function: never ask for echo packets.
            required_min_echo_rx: 0,
            auth: Vec::new(),
        }
    }

    fn send(&mut self, p: Packet, out: &mut Vec<Output>) {
        self.stats.sent += 1;
        out.push(Output::Send(p));
    }

    fn drop_packet(&mut self, reason: DropReason, out: &mut Vec<Output>) {
        self.stats.dropped += 1;
        out.push(Output::Dropped(reason));
    }

    fn set_state(&mut self, to: State, diag: Diag, out: &mut Vec<Output>) {
        if to == self.state {
            return;
        }
        let from = self.state;
        self.state = to;
        self.diag = diag;
        self.stats.state_changes += 1;
        out.push(Output::StateChanged { from, to, diag });
        // Up advertises the configured Desired Min TX instead of the slow one:
        // a timer change, so a Poll Sequence (6.8.3). Leaving Up slows down at
        // once, which is always allowed.
        self.polling = to == State::Up && self.cfg.desired_min_tx < SLOW_TX;
    }

    fn received(&mut self, p: &Packet, ttl: u8, out: &mut Vec<Output>) {
        let ttl_ok = if self.cfg.multihop {
            ttl >= self.cfg.min_ttl
        } else {
            ttl == 255
        };
        if !ttl_ok {
            return self.drop_packet(DropReason::Ttl(ttl), out);
        }
        if p.your_disc != 0 && p.your_disc != self.local_disc {
            return self.drop_packet(DropReason::Discriminator, out);
        }
        if p.your_disc == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return self.drop_packet(DropReason::Discriminator, out);
        }
        if !p.auth.is_empty() {
            return self.drop_packet(DropReason::Auth, out);
        }
        if self.state == State::AdminDown {
            return;
        }
        self.stats.received += 1;
        let first = self.remote_disc == 0;
        let before = self.state;
        let interval_before = self.tx_interval();
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        self.remote_min_rx = p.required_min_rx();
        self.remote_desired_min_tx = p.desired_min_tx();
        self.remote_detect_mult = p.detect_mult;
        if p.final_ {
            self.polling = false;
        }
        match (self.state, p.state) {
            (_, State::AdminDown) => self.set_state(State::Down, Diag::NeighborDown, out),
            (State::Down, State::Down) => self.set_state(State::Init, Diag::None, out),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(State::Up, Diag::None, out);
            }
            (State::Up, State::Down) => self.set_state(State::Down, Diag::NeighborDown, out),
            _ => {}
        }
        out.push(Output::ArmTimer(Timer::Detect, self.detection_time()));
        if p.poll {
            // Answer at once, whatever the transmit timer says (6.8.7).
            let mut f = self.packet(false);
            f.final_ = true;
            self.send(f, out);
        } else if first || self.state != before {
            // Tell the peer our new state (or, passive, that we exist) now
            // rather than up to a slow second later.
            self.transmit(out);
            return;
        }
        // The peer asks for packets faster than the armed timer brings them (FRR
        // lowers its Required Min RX from a slow second once Up, in a Poll, and
        // times out a detection time after our Final): re-arm now, not up to a
        // second later.
        if let (Some(now), Some(was)) = (self.tx_interval(), interval_before)
            && now < was
            && self.may_send()
        {
            out.push(Output::ArmTimer(Timer::Tx, now));
        }
    }

    fn detection_expired(&mut self, out: &mut Vec<Output>) {
        self.remote_disc = 0;
        self.remote_state = State::Down;
        self.remote_detect_mult = 0;
        self.remote_desired_min_tx = Duration::ZERO;
        if matches!(self.state, State::Init | State::Up) {
            self.set_state(State::Down, Diag::DetectionTimeExpired, out);
            // Keep telling the peer (slowly) unless we are passive.
            if self.may_send() {
                out.push(Output::ArmTimer(
                    Timer::Tx,
                    self.tx_interval().unwrap_or(SLOW_TX),
                ));
            }
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The transmit interval with RFC 5880 6.8.7 jitter: reduced by 0-25% (by
/// 10-25% when the detect multiplier is 1); `r` is uniform in [0, 1).
pub fn jittered(interval: Duration, detect_mult: u8, r: f64) -> Duration {
    let r = r.clamp(0.0, 1.0);
    let cut = if detect_mult == 1 {
        0.10 + 0.15 * r
    } else {
        0.25 * r
    };
    interval.mul_f64(1.0 - cut)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
