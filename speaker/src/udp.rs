//! A UDP socket the runtime watches for reading only: it wakes the task for datagrams alone.
//!
//! tokio registers its sockets for writability too, and the kernel signals a UDP socket
//! writable again after every datagram it sent: each gossip send woke the task once more
//! for nothing (docs/PERFORMANCE.md, "Failure detection"). Here sends go straight out,
//! without waiting; a datagram the kernel cannot take at once (a full send buffer) is
//! lost, as on the wire.
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A non-blocking UDP socket in the runtime's epoll set for readability alone.
#[derive(Debug)]
pub(crate) struct QuietUdpSocket {
    fd: AsyncFd<UdpSocket>,
}

impl QuietUdpSocket {
    /// Binds `addr`; must be called inside a tokio runtime.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<QuietUdpSocket> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let fd = crate::readable::register(socket)?;
        Ok(QuietUdpSocket { fd })
    }

    /// Waits for a datagram and reads it into `buf`.
    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd
            .async_io(Interest::READABLE, |s| s.recv_from(buf))
            .await
    }

    /// Reads a datagram if one is waiting (`WouldBlock` if none); no system call when the
    /// runtime has not seen the socket readable since it was last emptied.
    pub(crate) fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.try_io(Interest::READABLE, |s| s.recv_from(buf))
    }

    /// Sends `datagram` to `to` now, or fails (`WouldBlock` if the send buffer is full).
    pub(crate) fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.fd.get_ref().send_to(datagram, to)
    }

    /// The address it is bound to.
    #[cfg(test)]
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sends_and_receives_and_says_when_nothing_waits() {
        let a = QuietUdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = QuietUdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let nothing = b.try_recv_from(&mut buf).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        // Readable again after it was emptied: the second datagram wakes it too.
        for datagram in [b"ping", b"pong"] {
            a.send_to(datagram, b.local_addr().unwrap()).unwrap();
            let (n, from) = tokio::time::timeout(Duration::from_secs(2), b.recv_from(&mut buf))
                .await
                .expect("the datagram arrives")
                .unwrap();
            assert_eq!(&buf[..n], datagram);
            assert_eq!(from, a.local_addr().unwrap());
        }
    }
}
