//! The engine's one timer: a timerfd (CLOCK_MONOTONIC, the clock behind
//! `std::time::Instant`) armed for the next deadline of any instance.
//!
//! tokio's timer wheel has millisecond granularity and rounds deadlines up,
//! which alone costs up to 1 ms on every takeover and advert. A timerfd is
//! an hrtimer: it fires within the kernel's timer slack (50 µs), which is
//! what keeps our Master_Down_Interval as tight as keepalived's.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

pub struct Timer {
    fd: AsyncFd<Fd>,
}

impl Timer {
    pub fn new() -> io::Result<Self> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Self {
            fd: super::sys::async_fd_any(Fd(t))?,
        })
    }

    /// Completes at `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        // A zero one-shot would disarm the timer; `deadline > now` rules it out.
        let d = TimeSpec::from_duration(deadline - now);
        if let Err(e) = self
            .fd
            .get_ref()
            .0
            .set(Expiration::OneShot(d), TimerSetTimeFlags::empty())
        {
            tracing::warn!("timerfd_settime: {e}; falling back to the tokio timer");
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            return;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
                return;
            };
            let mut buf = [0u8; 8];
            // Setting the timer cleared any old expiry count, so a read that
            // succeeds is this deadline; EAGAIN is stale readiness.
            match guard.try_io(|fd| Ok(nix::unistd::read(fd.get_ref().0.as_fd(), &mut buf)?)) {
                Ok(Ok(_)) => return,
                Ok(Err(_)) | Err(_) => {
                    if Instant::now() >= deadline {
                        return;
                    }
                }
            }
        }
    }
}
