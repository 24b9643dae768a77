//! Socket options the BGP driver needs and std/tokio do not offer: TCP-MD5
//! signatures (RFC 2385, Linux `TCP_MD5SIG`) and the outgoing TTL / hop limit
//! for eBGP multihop.
//!
//! One of the speaker's three modules with `unsafe` code (with `bfd/socket.rs` and
//! `alarm.rs`): each block passes a pointer to a live, correctly sized value to `setsockopt`.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// Linux `TCP_MD5SIG` (include/uapi/linux/tcp.h).
const TCP_MD5SIG: libc::c_int = 14;
/// Longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from include/uapi/linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

fn sockaddr_storage(addr: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in; we write one whole value into its start.
            unsafe { std::ptr::write((&raw mut ss).cast::<libc::sockaddr_in>(), sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut ss).cast::<libc::sockaddr_in6>(), sin6) };
        }
    }
    ss
}

fn setsockopt<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is a live reference to a `T` of exactly `len` bytes for
    // the duration of the call; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the TCP-MD5 key for segments to and from `peer` (set before connect).
pub fn set_md5(fd: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP-MD5 password longer than {MD5_MAX_KEY_LEN} bytes"),
        ));
    }
    let mut sig = TcpMd5Sig {
        addr: sockaddr_storage(peer),
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16, // <= 80, checked above
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(fd, libc::IPPROTO_TCP, TCP_MD5SIG, &sig)
}

/// Sets the TTL (IPv4) or unicast hop limit (IPv6) of outgoing packets.
pub fn set_ttl(fd: &impl AsRawFd, peer: &SocketAddr, ttl: u8) -> io::Result<()> {
    let v = libc::c_int::from(ttl);
    match peer {
        SocketAddr::V4(_) => setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &v),
        SocketAddr::V6(_) => setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_struct_matches_the_kernel_layout() {
        // 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn options_apply_to_a_fresh_socket() {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        set_ttl(&s, &"192.0.2.1:179".parse().unwrap(), 255).unwrap();
        set_md5(&s, "192.0.2.1".parse().unwrap(), b"secret").unwrap();
        assert!(set_md5(&s, "192.0.2.1".parse().unwrap(), &[b'x'; 81]).is_err());
        let s6 = tokio::net::TcpSocket::new_v6().unwrap();
        set_ttl(&s6, &"[2001:db8::1]:179".parse().unwrap(), 255).unwrap();
        set_md5(&s6, "2001:db8::1".parse().unwrap(), b"secret").unwrap();
    }
}
