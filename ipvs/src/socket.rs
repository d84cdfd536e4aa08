//! The blocking generic netlink socket under the client: neli's `NlSocket`
//! for opening, binding, sending and receiving byte buffers, plus the
//! socket options neli has no call for (set through nix).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

/// A blocking `NETLINK_GENERIC` socket bound to a kernel-chosen port id.
pub struct Socket {
    sock: NlSocket,
}

/// The descriptor of `sock`, for nix's socket option calls.
// unsafe: `BorrowedFd::borrow_raw` needs the descriptor to stay open for the
// borrow's lifetime. It is tied to `&NlSocket`, which owns the descriptor
// and closes it only when dropped, so that holds. neli exposes only
// `AsRawFd`, and nix's `setsockopt` wants `AsFd`: this is the one bridge.
#[allow(unsafe_code)]
fn fd(sock: &NlSocket) -> BorrowedFd<'_> {
    unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) }
}

impl Socket {
    /// Opens the socket with a receive buffer of (at least asked for)
    /// `rcvbuf` bytes and a receive timeout.
    pub fn open(rcvbuf: usize, sndbuf: usize, timeout: Duration) -> io::Result<Socket> {
        let sock = NlSocket::connect(NlFamily::Generic, None, Groups::empty())?;
        // Batches of writes answered only on failure can queue thousands of
        // errors before we read them; they must not overflow. Root may go
        // past net.core.rmem_max; otherwise take what is allowed (the
        // client sizes batches from what it got).
        if setsockopt(&fd(&sock), sockopt::RcvBufForce, &rcvbuf).is_err() {
            setsockopt(&fd(&sock), sockopt::RcvBuf, &rcvbuf).map_err(io::Error::from)?;
        }
        if setsockopt(&fd(&sock), sockopt::SndBufForce, &sndbuf).is_err() {
            setsockopt(&fd(&sock), sockopt::SndBuf, &sndbuf).map_err(io::Error::from)?;
        }
        let tv = TimeVal::new(
            timeout.as_secs().try_into().unwrap_or(i64::MAX),
            timeout.subsec_micros().into(),
        );
        setsockopt(&fd(&sock), sockopt::ReceiveTimeout, &tv).map_err(io::Error::from)?;
        Ok(Socket { sock })
    }

    /// Shrinks the receive buffer, to provoke overruns in tests.
    #[cfg(test)]
    pub fn force_rcvbuf(&self, bytes: usize) -> io::Result<()> {
        setsockopt(&fd(&self.sock), sockopt::RcvBufForce, &bytes).map_err(io::Error::from)
    }

    /// The receive buffer the kernel granted (its accounting size).
    pub fn rcvbuf(&self) -> io::Result<usize> {
        nix::sys::socket::getsockopt(&fd(&self.sock), sockopt::RcvBuf).map_err(io::Error::from)
    }

    /// The send buffer: one `sendmsg` may carry at most this minus a little.
    pub fn sndbuf(&self) -> io::Result<usize> {
        nix::sys::socket::getsockopt(&fd(&self.sock), sockopt::SndBuf).map_err(io::Error::from)
    }

    /// Sends one datagram: the kernel runs every request in it before
    /// `sendmsg` returns.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        let n = self.sock.send(buf, Msg::empty())?;
        if n != buf.len() {
            return Err(io::Error::other(format!(
                "netlink sendmsg took {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }

    /// Receives one datagram into `buf`; waits (up to the timeout) unless
    /// `dontwait`. `WouldBlock` means nothing arrived.
    pub fn recv(&self, buf: &mut [u8], dontwait: bool) -> io::Result<usize> {
        let flags = if dontwait {
            Msg::DONTWAIT
        } else {
            Msg::empty()
        };
        let (n, _groups) = self.sock.recv(buf, flags)?;
        Ok(n)
    }
}
