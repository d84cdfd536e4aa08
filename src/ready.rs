//! keepalived's "configuration read" notice (its config_notify.c): every
//! child tells the parent when it has loaded a configuration, at start and
//! after each reload. Once all have, the parent logs "Startup complete" or
//! "Reload complete" and tells systemd READY=1, so `systemctl start`
//! returns when the daemon really runs and deployment tooling can wait for
//! the line.
//!
//! keepalived shares an eventfd across fork; our respawned children are
//! executed afresh, so the notice is instead a datagram to an abstract Unix
//! socket named after the parent's pid. The parent reads the sender's pid
//! from the kernel's credentials (SO_PASSCRED), so the notice says which
//! child sent it and no other process can fake one.

use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::unistd::Pid;
use tokio::io::Interest;

/// The parent's socket, bound before the children are forked.
static LISTENER: Mutex<Option<UnixDatagram>> = Mutex::new(None);

fn address(parent: Pid) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("keepalived-rs-ready-{parent}"))
}

/// In the parent, before the children start. Without it (the name is
/// taken, say) the parent reports ready at once, as before.
pub fn listen() {
    let bound = address(nix::unistd::getpid()).and_then(|a| {
        let s = UnixDatagram::bind_addr(&a)?;
        setsockopt(&s, sockopt::PassCred, &true)?;
        s.set_nonblocking(true)?;
        Ok(s)
    });
    match bound {
        Ok(s) => *LISTENER.lock().unwrap_or_else(|e| e.into_inner()) = Some(s),
        Err(e) => tracing::debug!("no configuration-read notices: {e}"),
    }
}

/// In a forked child: the parent's socket is not ours to keep.
pub fn forget() {
    LISTENER.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// In the parent, within its runtime: the bound socket.
pub fn take() -> Option<tokio::net::UnixDatagram> {
    let s = LISTENER.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    tokio::net::UnixDatagram::from_std(s).ok()
}

/// The pid of the next child that reports a configuration read.
pub async fn next(sock: &tokio::net::UnixDatagram) -> io::Result<Pid> {
    loop {
        sock.readable().await?;
        let got = sock.try_io(Interest::READABLE, || {
            let mut byte = [0u8; 1];
            let mut iov = [IoSliceMut::new(&mut byte)];
            let mut cmsg = nix::cmsg_space!(libc::ucred);
            let msg = recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::empty(),
            )?;
            let pid = msg.cmsgs()?.find_map(|c| match c {
                ControlMessageOwned::ScmCredentials(cred) => Some(Pid::from_raw(cred.pid())),
                _ => None,
            });
            Ok(pid)
        });
        match got {
            Ok(Some(pid)) => return Ok(pid),
            // no credentials: cannot say who sent it
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// In a child: this configuration (the first, or a reload's) is loaded.
pub fn notify() {
    let sent = address(nix::unistd::getppid()).and_then(|a| {
        let s = UnixDatagram::unbound()?;
        s.send_to_addr(b"1", &a)
    });
    if let Err(e) = sent {
        tracing::debug!("configuration-read notice not sent: {e}");
    }
}
