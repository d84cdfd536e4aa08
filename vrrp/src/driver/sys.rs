//! The few system calls the safe crates do not wrap.
//!
//! Why unsafe is allowed here, and only here:
//! - `AsyncFd::register` is `unsafe` in tokio 1.54 because tokio cannot check
//!   that the descriptor stays open while registered. Every socket we
//!   register is owned by the `AsyncFd` itself (a `socket2::Socket` moved in),
//!   so it is closed only when the `AsyncFd` is dropped, after deregistration.
//! - `sockaddr_ll` (AF_PACKET destination for gratuitous ARPs and NAs) has no
//!   safe constructor in socket2 or nix. We fill a zeroed `sockaddr_storage`
//!   with plain integer fields and tell socket2 its exact length.
//! - `IPV6_CHECKSUM` on a raw socket is a plain `int` option that neither
//!   socket2 nor nix exposes.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockAddrStorage, Socket};
use tokio::io::unix::AsyncFd;

/// Register a socket we own with the tokio reactor.
pub fn async_fd(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `sock` is moved into the AsyncFd, which owns it until drop;
    // the descriptor therefore stays valid for the whole registration.
    unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)
}

/// Register any other descriptor we own (the engine's timerfd).
pub fn async_fd_any<T: std::os::fd::AsRawFd>(fd: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: as above, the AsyncFd owns `fd` for the whole registration.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// `struct sockaddr_ll` for sending a whole Ethernet frame out of `ifindex`.
pub fn sockaddr_ll(ifindex: u32, protocol: u16, dst_mac: [u8; 6]) -> io::Result<SockAddr> {
    let mut ll: libc::sockaddr_ll = {
        // SAFETY: sockaddr_ll is a plain C struct of integers and arrays, for
        // which all-zero bytes are a valid value.
        unsafe { mem::zeroed() }
    };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = i32::try_from(ifindex).map_err(|_| io::ErrorKind::InvalidInput)?;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst_mac);
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_storage is at least as large and as aligned as
    // sockaddr_ll; we copy exactly size_of::<sockaddr_ll>() bytes into it.
    unsafe {
        let dst = storage.view_as::<libc::sockaddr_ll>();
        *dst = ll;
    }
    let len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds an initialised AF_PACKET address of `len` bytes.
    Ok(unsafe { SockAddr::new(storage, len) })
}

/// `setsockopt(IPPROTO_IPV6, IPV6_CHECKSUM, offset)`: the kernel fills in
/// (and verifies on receive) the checksum at `offset` of the payload.
pub fn set_ipv6_checksum(sock: &Socket, offset: i32) -> io::Result<()> {
    // SAFETY: IPV6_CHECKSUM takes an int; we pass a pointer to a live int
    // and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_CHECKSUM,
            (&offset as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
