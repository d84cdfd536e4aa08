//! The nfnetlink socket that carries [`crate::nft`]'s batches. Requests are
//! few (a master's VIPs going in or out), so the exchange is synchronous
//! with a short timeout.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use crate::nft::Batch;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

pub struct NftSocket(OwnedFd);

fn io_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl NftSocket {
    pub fn open() -> io::Result<NftSocket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(io_err)?;
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 500_000)).map_err(io_err)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(io_err)?;
        Ok(NftSocket(fd))
    }

    fn send(&self, b: &[u8]) -> io::Result<()> {
        send(self.0.as_raw_fd(), b, MsgFlags::empty()).map_err(io_err)?;
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self.0.as_raw_fd(), buf, MsgFlags::empty()).map_err(io_err)
    }

    /// Sends the batch; Ok once every acked request succeeded, else the
    /// first error (errno, sequence number): the kernel then applied none
    /// of the batch.
    pub fn exchange(&self, b: &Batch) -> Result<(), (i32, u32)> {
        let os = |e: io::Error| (e.raw_os_error().unwrap_or(0), 0);
        self.send(&b.bytes).map_err(os)?;
        let mut pending: std::collections::BTreeSet<u32> = b.seqs.iter().copied().collect();
        let mut buf = vec![0u8; 65536];
        while !pending.is_empty() {
            let n = self.recv(&mut buf).map_err(os)?;
            // answers to an earlier batch (after its error) are not ours
            for (ty, seq, errno) in messages(&buf[..n]) {
                if ty == NLMSG_ERROR && b.seqs.contains(&seq) {
                    if errno != 0 {
                        return Err((errno, seq));
                    }
                    pending.remove(&seq);
                }
            }
        }
        Ok(())
    }

    /// Whether the table exists (a GETTABLE request): its description
    /// comes back, or ENOENT.
    pub fn has_table(&self, request: &[u8]) -> io::Result<bool> {
        self.send(request)?;
        let want = request
            .get(8..12)
            .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
        let mut buf = vec![0u8; 65536];
        let mut found = false;
        loop {
            let n = self.recv(&mut buf)?;
            for (ty, seq, _) in messages(&buf[..n]) {
                if seq != want {
                    continue;
                }
                match ty {
                    NLMSG_ERROR | NLMSG_DONE => return Ok(found),
                    _ => found = true,
                }
            }
        }
    }
}

/// (type, sequence, errno of an NLMSG_ERROR) of each message.
fn messages(mut b: &[u8]) -> Vec<(u16, u32, i32)> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        let errno = if ty == NLMSG_ERROR && len >= 20 {
            -i32::from_ne_bytes([b[16], b[17], b[18], b[19]])
        } else {
            0
        };
        out.push((ty, seq, errno));
        b = &b[(len + 3) & !3..];
        if b.len() < 16 {
            break;
        }
    }
    out
}
