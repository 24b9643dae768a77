//! The heartbeat port's socket and the sending schedule (docs/failure-detection.md):
//! what the gossip task reads its watched members' heartbeats from and sends its own with.
#![forbid(unsafe_code)]

use super::GossipError;
use super::heartbeat;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

/// Heartbeat-port datagrams read at most per wake-up; the rest are read at the next,
/// which comes at once. Verdicts wait until the socket is empty: a flood at the port must
/// not make a member look silent whose heartbeats wait unread behind the junk.
pub(super) const BEAT_SLICE: usize = 1024;
/// While junk arrives at the heartbeat port, the port is read this often, so the junk
/// between two heartbeats cannot fill the socket's buffer and push heartbeats out.
const FLOODED_POLL: Duration = Duration::from_millis(5);
/// How long after the last junk datagram the port is still read that often.
pub(super) const FLOODED_HOLD: Duration = Duration::from_secs(1);
/// The heartbeat socket's receive buffer: headroom for a flood between two reads. Only
/// what waits in it takes memory.
const BEAT_RCVBUF: usize = 1 << 20;

/// The heartbeat socket (not polled at rest: read at every wake-up, and at least once per
/// interval) and when to beat next.
pub(super) struct Beats {
    pub(super) socket: std::net::UdpSocket,
    /// This speaker's gossip port, which its heartbeats carry.
    pub(super) port: u16,
    pub(super) next: Instant,
    /// The last sequence number sent.
    pub(super) seq: u64,
    /// The last read stopped at [`BEAT_SLICE`] with datagrams left.
    pub(super) backlog: bool,
    /// Until when the port counts as flooded (junk arrived), read every [`FLOODED_POLL`].
    pub(super) flooded_until: Option<Instant>,
}

impl Beats {
    /// Binds the heartbeat port beside the gossip address `bind`.
    pub(super) fn bind(bind: SocketAddr, advertise: SocketAddr) -> Result<Beats, GossipError> {
        let addr = heartbeat::beat_addr(bind).ok_or_else(|| {
            GossipError::Config(format!(
                "no heartbeat port after gossip port {}",
                bind.port()
            ))
        })?;
        let socket = std::net::UdpSocket::bind(addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| GossipError::Bind { addr, source })?;
        // Beyond net.core.rmem_max only with CAP_NET_ADMIN (the speaker has it); the
        // kernel's default buffer otherwise, which the flooded polling still protects.
        if let Err(e) =
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, BEAT_RCVBUF).or_else(
                |_| rustix::net::sockopt::set_socket_recv_buffer_size(&socket, BEAT_RCVBUF),
            )
        {
            debug!(error = %e, "heartbeat socket keeps its default receive buffer");
        }
        Ok(Beats {
            socket,
            port: advertise.port(),
            next: Instant::now(),
            seq: 0,
            backlog: false,
            flooded_until: None,
        })
    }

    /// When the socket must be read next, at the latest (a heartbeat is due at `next`).
    pub(super) fn next_wake(&self, now: Instant) -> Instant {
        if self.backlog {
            return now;
        }
        match self.flooded_until {
            Some(until) if until > now => self.next.min(now + FLOODED_POLL),
            _ => self.next,
        }
    }

    /// The next sequence number: the wall clock in nanoseconds, so a restarted speaker
    /// continues above its previous life, and always above the last one sent.
    pub(super) fn next_seq(&mut self) -> u64 {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.seq = clock.max(self.seq.saturating_add(1));
        self.seq
    }
}
