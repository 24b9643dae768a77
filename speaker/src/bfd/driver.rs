//! The tokio side of BFD: one task owns every [`Session`] of the node, their
//! timers (deadlines kept in its loop, so a re-armed timer simply never fires
//! twice) and the UDP sockets; everything reaches it as one [`Event`] enum.
//!
//! ```text
//!  BfdHandle::watch(key, cfg) ──Event::Watch──┐
//!  listener tasks (UDP 3784 / 4784, v4 / v6) ──Event::Datagram(from, ttl, bytes)──┐
//!                                             v                                 v
//!                      task: sessions by key ── Session::handle ── outputs:
//!                            Send     -> the session's own UDP socket (source port
//!                                        49152-65535, TTL / hop limit 255)
//!                            ArmTimer -> deadline (Tx jittered, RFC 5880 6.8.7)
//!                            StateChanged -> watch::Sender<BfdStatus>, metrics, log
//!                            Dropped  -> metric, log (first of each reason per session)
//! ```
//! A session lives as long as someone holds its status receiver: once every
//! receiver is gone, the session sends AdminDown and is removed (checked each
//! second), so the BGP peer task that asked for it needs no explicit removal.
//!
//! Echo mode (`echo-mode: true`) is declined with a warning: the echo function
//! needs the peer to loop our echo packets back through its forwarding plane
//! (packets addressed to ourselves, sent to its MAC), which routers do for
//! routers on a shared segment but the lab's routers (BIRD, GoBGP, FRR on Linux)
//! do not do for a host, and asynchronous mode alone meets the issue's goal.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::packet::{self, Diag, MULTI_HOP_PORT, SINGLE_HOP_PORT, State};
use super::session::{BfdConfig, BfdStats, Input, Output, Session, Timer, jittered};
use super::socket;

/// How often sessions nobody watches any more are removed.
const SWEEP: Duration = Duration::from_secs(1);

/// Which session: the peer's address and our source address (`None`: the
/// kernel's choice by route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BfdKey {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address, if configured.
    pub local: Option<IpAddr>,
}

/// A session's state for its watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdStatus {
    /// Current state.
    pub state: State,
    /// Our diagnostic of the last change.
    pub diag: Diag,
    /// Whether the session has been Up since it was created.
    pub was_up: bool,
    /// Counters.
    pub stats: BfdStats,
}

/// The BFD metrics, labelled by `peer` (the peer's address, bounded by the
/// configured peers); series of a removed session are deleted.
#[derive(Clone, Debug)]
pub struct BfdMetrics {
    /// `ironlb_bfd_session_up{peer}`: 1 while the session is Up.
    pub session_up: IntGaugeVec,
    /// `ironlb_bfd_state_changes_total{peer}`.
    pub state_changes: IntCounterVec,
    /// `ironlb_bfd_packets_dropped_total{peer,reason}`: packets dropped (bad
    /// TTL, discriminator, length, version, field, authentication).
    pub dropped: IntCounterVec,
}

impl BfdMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let session_up = IntGaugeVec::new(
            Opts::new(
                "ironlb_bfd_session_up",
                "1 while the BFD session to the peer is Up",
            ),
            &["peer"],
        )?;
        let state_changes = IntCounterVec::new(
            Opts::new(
                "ironlb_bfd_state_changes_total",
                "State changes of the BFD session to the peer",
            ),
            &["peer"],
        )?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "ironlb_bfd_packets_dropped_total",
                "BFD packets from the peer dropped, by reason",
            ),
            &["peer", "reason"],
        )?;
        registry.register(Box::new(session_up.clone()))?;
        registry.register(Box::new(state_changes.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        Ok(Self {
            session_up,
            state_changes,
            dropped,
        })
    }
}

/// Everything the task reacts to.
#[derive(Debug)]
enum Event {
    Watch(BfdKey, BfdConfig, watch::Sender<BfdStatus>),
    Datagram {
        port: u16,
        from: SocketAddr,
        ttl: Option<u8>,
        bytes: Vec<u8>,
    },
}

/// What the rest of the speaker holds. Cloning is cheap; the task stops when
/// every handle is gone.
#[derive(Clone, Debug)]
pub struct BfdHandle {
    tx: mpsc::UnboundedSender<Event>,
}

impl BfdHandle {
    /// Starts the task; it must run inside a tokio runtime.
    pub fn spawn(metrics: Option<BfdMetrics>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            tx: tx.downgrade(),
            rx,
            sessions: BTreeMap::new(),
            timers: BTreeMap::new(),
            listeners: BTreeSet::new(),
            discs: BTreeSet::new(),
            rng: Rng::seeded(),
            metrics,
        };
        tokio::spawn(task.run());
        Self { tx }
    }

    /// A receiver of the session `key` configured by `cfg`, created if needed
    /// (a session with another configuration is replaced). The session lives
    /// while a receiver does.
    pub fn watch(&self, key: BfdKey, cfg: BfdConfig) -> watch::Receiver<BfdStatus> {
        let (tx, rx) = watch::channel(BfdStatus {
            state: State::Down,
            diag: Diag::None,
            was_up: false,
            stats: BfdStats::default(),
        });
        let _ = self.tx.send(Event::Watch(key, cfg, tx));
        rx
    }
}

struct Entry {
    session: Session,
    status: watch::Sender<BfdStatus>,
    socket: Option<Arc<UdpSocket>>,
    logged: BTreeSet<&'static str>,
}

struct Task {
    /// For the listener tasks; weak so that the task ends with its handles.
    tx: mpsc::WeakUnboundedSender<Event>,
    rx: mpsc::UnboundedReceiver<Event>,
    sessions: BTreeMap<BfdKey, Entry>,
    timers: BTreeMap<(BfdKey, Timer), Instant>,
    /// (IPv6, port) pairs with a listener.
    listeners: BTreeSet<(bool, u16)>,
    discs: BTreeSet<u32>,
    rng: Rng,
    metrics: Option<BfdMetrics>,
}

impl Task {
    async fn run(mut self) {
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self
                .timers
                .iter()
                .min_by_key(|(_, d)| **d)
                .map(|(k, d)| (*k, *d));
            let sleep = async {
                match next {
                    Some((_, d)) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    None => break,
                    Some(Event::Watch(key, cfg, status)) => self.add(key, cfg, status),
                    Some(Event::Datagram { port, from, ttl, bytes }) => {
                        self.datagram(port, from, ttl, &bytes);
                    }
                },
                () = sleep => {
                    if let Some(((key, t), _)) = next {
                        self.timers.remove(&(key, t));
                        self.feed(key, Input::TimerFired(t));
                    }
                }
                // No sessions, nothing to sweep: an idle speaker is not woken every second.
                _ = sweep.tick(), if !self.sessions.is_empty() => self.sweep(),
            }
        }
        let keys: Vec<BfdKey> = self.sessions.keys().copied().collect();
        for k in keys {
            self.remove(k);
        }
    }

    fn add(&mut self, key: BfdKey, cfg: BfdConfig, status: watch::Sender<BfdStatus>) {
        if let Some(e) = self.sessions.get_mut(&key)
            && *e.session.config() == cfg
        {
            // Same session, new watcher (e.g. the BGP peer task restarted).
            let now = e.status.borrow().clone();
            status.send_replace(now);
            e.status = status;
            return;
        }
        if self.sessions.contains_key(&key) {
            self.remove(key);
        }
        if cfg.echo_mode {
            warn!(peer = %key.peer, "BFD echo-mode declined: the echo function needs the peer \
                   to loop our packets back in its forwarding plane, which the routers we \
                   peer with do not do for a host; running asynchronous mode only");
        }
        let port = if cfg.multihop {
            MULTI_HOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        self.listen(key.peer.is_ipv6(), port);
        let socket = match self.send_socket(key) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                warn!(peer = %key.peer, error = %e, "BFD: no socket to send from; the session stays Down");
                None
            }
        };
        let disc = self.new_disc();
        info!(peer = %key.peer, local = ?key.local, multihop = cfg.multihop,
              tx_ms = cfg.desired_min_tx.as_millis(), rx_ms = cfg.required_min_rx.as_millis(),
              mult = cfg.detect_mult, passive = cfg.passive, "BFD session added");
        if let Some(m) = &self.metrics {
            m.session_up
                .with_label_values(&[&key.peer.to_string()])
                .set(0);
        }
        self.sessions.insert(
            key,
            Entry {
                session: Session::new(cfg, disc),
                status,
                socket,
                logged: BTreeSet::new(),
            },
        );
        self.feed(key, Input::Start);
    }

    fn remove(&mut self, key: BfdKey) {
        self.feed(key, Input::Stop);
        if let Some(e) = self.sessions.remove(&key) {
            self.discs.remove(&e.session.local_disc());
            info!(peer = %key.peer, "BFD session removed");
        }
        self.timers.retain(|(k, _), _| *k != key);
        if let Some(m) = &self.metrics
            && !self.sessions.keys().any(|k| k.peer == key.peer)
        {
            let peer = key.peer.to_string();
            let _ = m.session_up.remove_label_values(&[&peer]);
            let _ = m.state_changes.remove_label_values(&[&peer]);
            for r in [
                "bad_length",
                "bad_version",
                "bad_field",
                "bad_ttl",
                "bad_discriminator",
                "auth",
            ] {
                let _ = m.dropped.remove_label_values(&[&peer, r]);
            }
        }
    }

    fn sweep(&mut self) {
        let gone: Vec<BfdKey> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.status.is_closed())
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.remove(k);
        }
    }

    fn new_disc(&mut self) -> u32 {
        loop {
            let d = self.rng.next_u32();
            if d != 0 && self.discs.insert(d) {
                return d;
            }
        }
    }

    /// The session's own socket: source port in 49152-65535 (RFC 5881 section
    /// 4), TTL / hop limit 255 (section 5), connected to the peer's port.
    fn send_socket(&mut self, key: BfdKey) -> io::Result<UdpSocket> {
        let local_ip = key.local.unwrap_or(match key.peer {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let mut last = io::Error::other("no free source port");
        for _ in 0..32 {
            let port = 49152 + u16::try_from(self.rng.next_u32() % 16384).unwrap_or(0);
            match std::net::UdpSocket::bind(SocketAddr::new(local_ip, port)) {
                Ok(s) => {
                    let s2 = socket2::SockRef::from(&s);
                    if key.peer.is_ipv6() {
                        s2.set_unicast_hops_v6(255)?;
                    } else {
                        s2.set_ttl_v4(255)?;
                    }
                    s.set_nonblocking(true)?;
                    return UdpSocket::from_std(s);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Starts a listener on `port` of the family, once; a failure is logged
    /// and retried with the next session that needs it.
    fn listen(&mut self, v6: bool, port: u16) {
        if self.listeners.contains(&(v6, port)) {
            return;
        }
        let sock = (|| -> io::Result<UdpSocket> {
            let domain = if v6 {
                socket2::Domain::IPV6
            } else {
                socket2::Domain::IPV4
            };
            let s =
                socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
            let any: SocketAddr = if v6 {
                s.set_only_v6(true)?;
                (Ipv6Addr::UNSPECIFIED, port).into()
            } else {
                (Ipv4Addr::UNSPECIFIED, port).into()
            };
            s.set_reuse_address(true)?;
            socket::set_recv_ttl(&s, v6)?;
            s.set_nonblocking(true)?;
            s.bind(&any.into())?;
            UdpSocket::from_std(s.into())
        })();
        match sock {
            Ok(s) => {
                self.listeners.insert((v6, port));
                let tx = self.tx.clone();
                tokio::spawn(listen_loop(s, port, tx));
                debug!(port, v6, "BFD listening");
            }
            Err(e) => warn!(port, v6, error = %e, "BFD: cannot listen; sessions on it stay Down"),
        }
    }

    fn datagram(&mut self, port: u16, from: SocketAddr, ttl: Option<u8>, bytes: &[u8]) {
        let multihop = port == MULTI_HOP_PORT;
        let decoded = packet::decode(bytes);
        // Sessions with this peer on this port; with several (one per source
        // address), the discriminator picks.
        let candidates: Vec<BfdKey> = self
            .sessions
            .iter()
            .filter(|(k, e)| k.peer == from.ip() && e.session.config().multihop == multihop)
            .map(|(k, _)| *k)
            .collect();
        let key = match &decoded {
            Ok(p) if p.your_disc != 0 => candidates
                .iter()
                .find(|k| {
                    self.sessions
                        .get(k)
                        .is_some_and(|e| e.session.local_disc() == p.your_disc)
                })
                .or(candidates.first())
                .copied(),
            _ => candidates.first().copied(),
        };
        let Some(key) = key else {
            debug!(%from, port, "BFD packet from no configured peer: dropped");
            return;
        };
        let input = match decoded {
            Ok(packet) => Input::Received {
                packet,
                // Without the kernel's word, assume the worst: the check fails.
                ttl: ttl.unwrap_or(0),
            },
            Err(e) => Input::Malformed(e),
        };
        self.feed(key, input);
    }

    fn feed(&mut self, key: BfdKey, input: Input) {
        let Some(e) = self.sessions.get_mut(&key) else {
            return;
        };
        let out = e.session.handle(input);
        let peer = key.peer.to_string();
        for o in out {
            match o {
                Output::Send(p) => match (packet::encode(&p), &e.socket) {
                    (Ok(bytes), Some(s)) => {
                        let port = if e.session.config().multihop {
                            MULTI_HOP_PORT
                        } else {
                            SINGLE_HOP_PORT
                        };
                        if let Err(err) = s.try_send_to(&bytes, SocketAddr::new(key.peer, port)) {
                            debug!(peer = %key.peer, error = %err, "BFD send failed");
                        }
                    }
                    (Err(err), _) => warn!(error = %err, "BFD packet not encodable"),
                    (_, None) => {}
                },
                Output::ArmTimer(t, d) => {
                    let d = match t {
                        Timer::Tx => jittered(d, e.session.config().detect_mult, self.rng.unit()),
                        Timer::Detect => d,
                    };
                    self.timers.insert((key, t), Instant::now() + d);
                }
                Output::CancelTimer(t) => {
                    self.timers.remove(&(key, t));
                }
                Output::StateChanged { from, to, diag } => {
                    if to == State::Up {
                        info!(peer = %key.peer, %from, "BFD session Up");
                    } else {
                        warn!(peer = %key.peer, %from, %to, ?diag, "BFD session left {from}");
                    }
                    if let Some(m) = &self.metrics {
                        m.state_changes.with_label_values(&[&peer]).inc();
                        m.session_up
                            .with_label_values(&[&peer])
                            .set(i64::from(to == State::Up));
                    }
                }
                Output::Dropped(r) => {
                    let label = r.metric_label();
                    if e.logged.insert(label) {
                        warn!(peer = %key.peer, reason = ?r, "BFD packet dropped (later ones of this kind are only counted)");
                    }
                    if let Some(m) = &self.metrics {
                        m.dropped.with_label_values(&[&peer, label]).inc();
                    }
                }
            }
        }
        let state = e.session.state();
        let stats = e.session.stats().clone();
        e.status.send_if_modified(|s| {
            let new = BfdStatus {
                state,
                diag: s.diag,
                was_up: s.was_up || state == State::Up,
                stats,
            };
            if *s == new {
                return false;
            }
            *s = new;
            true
        });
    }
}

async fn listen_loop(sock: UdpSocket, port: u16, tx: mpsc::WeakUnboundedSender<Event>) {
    let mut buf = vec![0u8; 512];
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        let got = sock.try_io(tokio::io::Interest::READABLE, || {
            socket::recv_with_ttl(&sock, &mut buf)
        });
        match got {
            Ok((n, from, ttl)) => {
                let Some(tx) = tx.upgrade() else { return };
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                if tx
                    .send(Event::Datagram {
                        port,
                        from,
                        ttl,
                        bytes,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                debug!(error = %e, "BFD receive failed");
                if tx.upgrade().is_none() {
                    return;
                }
            }
        }
    }
}

/// xorshift64*: jitter and discriminators need spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self(t ^ u64::from(std::process::id()).rotate_left(32) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BfdConfig {
        BfdConfig {
            desired_min_tx: Duration::from_millis(50),
            required_min_rx: Duration::from_millis(50),
            ..BfdConfig::default()
        }
    }

    /// Two sessions over loopback (127.0.0.1 to 127.0.0.2 and back, both on
    /// the node's listener): the pair comes Up, and the watcher sees it.
    #[tokio::test]
    async fn two_sessions_over_loopback_come_up_and_go_away_when_unwatched() {
        let registry = Registry::new();
        let h = BfdHandle::spawn(Some(BfdMetrics::register(&registry).unwrap()));
        let a = BfdKey {
            peer: "127.0.0.2".parse().unwrap(),
            local: Some("127.0.0.1".parse().unwrap()),
        };
        let b = BfdKey {
            peer: "127.0.0.1".parse().unwrap(),
            local: Some("127.0.0.2".parse().unwrap()),
        };
        let mut wa = h.watch(a, cfg());
        let wb = h.watch(b, cfg());
        let up = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if wa.borrow().state == State::Up && wb.borrow().state == State::Up {
                    return;
                }
                let _ = wa.changed().await;
            }
        })
        .await;
        if up.is_err() {
            // Port 3784 busy on this machine (another speaker): nothing to test.
            if std::net::UdpSocket::bind("0.0.0.0:3784").is_err() && wa.borrow().stats.received == 0
            {
                eprintln!("skipped: UDP 3784 in use");
                return;
            }
            panic!("not Up: {:?} {:?}", *wa.borrow(), *wb.borrow());
        }
        assert!(wa.borrow().was_up);
        drop(wb);
        // A detection time after b is removed (its AdminDown arrives first), a goes Down.
        tokio::time::timeout(Duration::from_secs(5), async {
            while wa.borrow().state == State::Up {
                let _ = wa.changed().await;
            }
        })
        .await
        .expect("a stays Up with its peer gone");
        assert_eq!(wa.borrow().state, State::Down);
    }
}
