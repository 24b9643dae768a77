//! The kernel's word that a link changed (rtnetlink link notifications: added, removed,
//! up, down, carrier, address, master), so interfaces are rescanned when something
//! changed instead of every second: a rescan (a netlink dump, an ioctl per interface)
//! was a wake-up a second and a few percent of an idle speaker's CPU.
#![forbid(unsafe_code)]

use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::io;
use std::os::fd::OwnedFd;
use tokio::io::unix::AsyncFd;

/// `RTMGRP_LINK`: the multicast group of RTM_NEWLINK and RTM_DELLINK.
const RTMGRP_LINK: u32 = 1;

/// A netlink socket subscribed to link notifications.
#[derive(Debug)]
pub(crate) struct LinkWatch {
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
}

impl LinkWatch {
    /// Subscribes; must be called inside a tokio runtime.
    pub(crate) fn open() -> io::Result<LinkWatch> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, RTMGRP_LINK))?;
        Ok(LinkWatch {
            fd: crate::readable::register(fd)?,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Waits until some link changed, then takes every notification waiting: one rescan
    /// answers them all. A lost notification (the socket's buffer overran) counts as a
    /// change. An error means the watch is broken and the caller must poll instead.
    pub(crate) async fn changed(&mut self) -> io::Result<()> {
        let mut ready = self.fd.readable().await?;
        loop {
            match rustix::io::read(self.fd.get_ref(), &mut self.buf) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(_) | Err(Errno::NOBUFS) => {}
                Err(Errno::AGAIN) => {
                    ready.clear_ready();
                    return Ok(());
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Any link change wakes the watch, and nothing else does: a veth pair added in a
    /// network namespace of the test's own (removed with it). Needs root; skipped
    /// without.
    #[test]
    fn a_link_added_wakes_the_watch() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("skipped: needs root for a network namespace");
            return;
        }
        let name = format!("ilbt-lw{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
        let ns = std::fs::File::open(format!("/run/netns/{name}")).expect("netns file");
        // A thread of its own enters the namespace, and so does the `ip` it starts.
        let watched = std::thread::spawn(move || {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut watch = LinkWatch::open().expect("link watch");
                let quiet = tokio::time::timeout(Duration::from_millis(100), watch.changed()).await;
                let added = std::process::Command::new("ip")
                    .args(["link", "add", "lw0", "type", "veth", "peer", "name", "lw1"])
                    .status()
                    .is_ok_and(|s| s.success());
                let woke = tokio::time::timeout(Duration::from_secs(2), watch.changed()).await;
                (quiet.is_err(), added, matches!(woke, Ok(Ok(()))))
            })
        })
        .join();
        ip(&["netns", "del", &name]);
        let (quiet, added, woke) = watched.expect("the watching thread");
        assert!(quiet, "woke with no change");
        assert!(added, "ip link add in the namespace");
        assert!(woke, "no notification of the new link");
    }
}
