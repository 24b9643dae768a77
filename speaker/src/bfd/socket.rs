//! The socket calls BFD needs and std/tokio/socket2 do not offer: asking the kernel
//! for the received TTL / hop limit (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`) and reading
//! it back from `recvmsg`'s control messages, for the GTSM check of RFC 5881
//! section 5 (and RFC 5883's minimum TTL).
//!
//! One of the speaker's three modules with `unsafe` code (with `bgp/socket.rs` and
//! `alarm.rs`); each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, size_of_val};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

fn set_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a live c_int and we pass its exact size; the kernel only
    // reads it during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for the TTL (IPv4) or hop limit (IPv6) of every received datagram.
pub(crate) fn set_recv_ttl(fd: &impl AsRawFd, v6: bool) -> io::Result<()> {
    if v6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
    }
}

/// One datagram: its length, sender and received TTL / hop limit (`None` if
/// the kernel did not say, which [`set_recv_ttl`] prevents). Non-blocking:
/// `WouldBlock` when nothing is queued.
pub(crate) fn recv_with_ttl(
    fd: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY: sockaddr_storage and msghdr are plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64s for the alignment cmsghdr needs.
    let mut control = [0u64; 16];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points to a live local buffer of the
    // length given next to it; they outlive the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: the CMSG_* macros walk `control` within `msg_controllen`, which
    // the kernel set to what it wrote; CMSG_FIRSTHDR/NXTHDR return null past
    // the end, and the data we read is an int, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            let h = &*c;
            let is_ttl = (h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_TTL)
                || (h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT);
            if is_ttl {
                let v: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    let from = match libc::c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read((&raw const addr).cast()) };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const addr).cast()) };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            ))
        }
        f => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("datagram from address family {f}"),
            ));
        }
    };
    let n = usize::try_from(n).unwrap_or(0);
    Ok((n, from, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_datagram_carries_its_ttl() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_recv_ttl(&rx, false).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_ttl(255).unwrap();
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        tx.set_ttl(17).unwrap();
        tx.send_to(b"again", rx.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..200 {
            match recv_with_ttl(&rx, &mut buf) {
                Ok((n, from, ttl)) => {
                    assert_eq!(from, tx.local_addr().unwrap());
                    got.push((buf[..n].to_vec(), ttl));
                    if got.len() == 2 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            got,
            vec![
                (b"hello".to_vec(), Some(255)),
                (b"again".to_vec(), Some(17))
            ]
        );
    }
}
