//! The heartbeat port's socket and the sending schedule (docs/failure-detection.md):
//! what the gossip task reads its watched members' heartbeats from and sends its own with.
//!
//! The socket is read at the task's wake-ups, up to an interval after a heartbeat
//! arrived: each datagram carries the kernel's arrival time (`SO_TIMESTAMPNS`), so a
//! member's silence is counted from when its heartbeat came, not from when it was read.
#![forbid(unsafe_code)]

use super::GossipError;
use super::heartbeat;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt};
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tracing::{debug, warn};

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
/// The most a heartbeat's arrival time may lie before its reading: a wall clock stepped
/// forward meanwhile must not age every heartbeat into a suspicion.
pub(super) const MAX_AGE: Duration = Duration::from_millis(500);

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
    /// When a poke was last answered.
    pub(super) answered: Option<Instant>,
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
        // Without arrival times a heartbeat counts from when it is read: detection is up
        // to an interval slower, nothing else changes.
        if let Err(e) = setsockopt(
            &socket,
            nix::sys::socket::sockopt::ReceiveTimestampns,
            &true,
        ) {
            warn!(error = %e, "no arrival times on the heartbeat socket: detection is slower");
        }
        Ok(Beats {
            socket,
            port: advertise.port(),
            next: Instant::now(),
            seq: 0,
            backlog: false,
            flooded_until: None,
            answered: None,
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

    /// Reads a waiting datagram into `buf`: its length, sender, and how long ago it arrived
    /// (zero if the kernel did not say, at most [`MAX_AGE`]); `WouldBlock` if none waits.
    pub(super) fn recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr, Duration)> {
        let mut iov = [IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let msg = recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let from = msg
            .address
            .and_then(|a| match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
                (Some(v4), _) => Some(SocketAddr::V4((*v4).into())),
                (_, Some(v6)) => Some(SocketAddr::V6((*v6).into())),
                _ => None,
            })
            .ok_or_else(|| std::io::Error::other("a datagram without an IP source"))?;
        let mut age = Duration::ZERO;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let arrived = SystemTime::UNIX_EPOCH
                    + Duration::new(
                        u64::try_from(ts.tv_sec()).unwrap_or(0),
                        u32::try_from(ts.tv_nsec()).unwrap_or(0),
                    );
                // A wall clock stepped back reads as no age; one stepped forward is capped.
                age = SystemTime::now()
                    .duration_since(arrived)
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_AGE);
            }
        }
        Ok((msg.bytes, from, age))
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
