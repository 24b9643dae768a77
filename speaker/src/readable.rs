//! Descriptors in tokio's epoll set for readability alone, so that only input wakes a
//! task (a timer's expiry, a datagram, a kernel notification), never a socket turning
//! writable. Registering them is the crate's one `unsafe` call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A type that owns one descriptor for its whole life and always returns it from
/// `as_raw_fd`: what makes registering it sound.
pub(crate) trait OwnsOneFd: AsRawFd {}

impl OwnsOneFd for OwnedFd {}
impl OwnsOneFd for std::net::UdpSocket {}

/// Registers `inner` with the current tokio runtime for readability; must be called
/// inside one.
pub(crate) fn register<T: OwnsOneFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: the AsyncFd owns `inner`, whose descriptor (by `OwnsOneFd`) stays open and
    // the same until the AsyncFd is dropped, as `register_with_interest` requires.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(io::Error::from)
}
