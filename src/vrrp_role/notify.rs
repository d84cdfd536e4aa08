//! Notify scripts and the notify FIFO, run for the driver's events in
//! keepalived's order: `notify_<state>`, then `notify` with the appended
//! `INSTANCE|GROUP name STATE priority`, then the FIFO line.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use checkers::script::Script;
use tracing::warn;
use vrrp::fsm::State;

/// The scripts of one instance or sync group.
#[derive(Default)]
pub struct Notifies {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub notify: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
    /// `notify_deleted` given (with or without a script).
    pub notify_deleted: bool,
    pub deleted: Option<Script>,
}

/// STOP notifies get keepalived's 1 s; the others are not limited.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

impl Notifies {
    /// Starts the scripts for `state`. STOP scripts are waited for (at most
    /// keepalived's 1 s), since the process exits right after them and a
    /// script still running then would get its parent-death SIGTERM.
    pub async fn run(&self, kind: &str, name: &str, state: State, priority: u8) {
        let specific = match state {
            State::Master => &self.master,
            State::Backup => &self.backup,
            State::Fault => &self.fault,
            State::Stop => &self.stop,
            State::Init => &None,
        };
        let prio = priority.to_string();
        let args = [kind, name, state.keyword(), prio.as_str()];
        if state == State::Stop {
            let one = async {
                if let Some(s) = specific
                    && let Err(e) = s.run(&[], Some(STOP_TIMEOUT)).await
                {
                    warn!("Failed to run notify script {}: {e}", s.program().display());
                }
            };
            let all = async {
                if let Some(s) = &self.notify
                    && let Err(e) = s.run(&args, Some(STOP_TIMEOUT)).await
                {
                    warn!("Failed to run notify script {}: {e}", s.program().display());
                }
            };
            tokio::join!(one, all);
            return;
        }
        if let Some(s) = specific
            && let Err(e) = s.notify(&[], None)
        {
            warn!("Failed to run notify script {}: {e}", s.program().display());
        }
        if let Some(s) = &self.notify
            && let Err(e) = s.notify(&args, None)
        {
            warn!("Failed to run notify script {}: {e}", s.program().display());
        }
    }
}

impl Notifies {
    /// A reload removed the instance (keepalived `clear_diff_vrrp` and
    /// `send_instance_notifies`): DELETED with `notify_deleted`, else FAULT
    /// as keepalived always did, but nothing for an instance already in
    /// FAULT. Returns the state word for the FIFO line.
    pub fn run_deleted(&self, name: &str, priority: u8, was_fault: bool) -> Option<&'static str> {
        let (word, specific) = if self.notify_deleted {
            ("DELETED", &self.deleted)
        } else if was_fault {
            return None;
        } else {
            ("FAULT", &self.fault)
        };
        let prio = priority.to_string();
        for (s, args) in [
            (specific, Vec::new()),
            (&self.notify, vec!["INSTANCE", name, word, prio.as_str()]),
        ] {
            if let Some(s) = s
                && let Err(e) = s.notify(&args, None)
            {
                warn!("Failed to run notify script {}: {e}", s.program().display());
            }
        }
        Some(word)
    }
}

/// keepalived's notify FIFO: created if absent, opened non-blocking read-write
/// so that writes never block and never fail for lack of a reader.
pub struct Fifo {
    file: std::fs::File,
}

impl Fifo {
    pub fn open(path: &str) -> std::io::Result<Self> {
        if std::fs::metadata(path).is_err() {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644))
                .map_err(std::io::Error::from)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc_nonblock())
            .open(path)?;
        Ok(Self { file })
    }

    /// `INSTANCE "VI_1" MASTER 100` / `GROUP "G1" BACKUP 0`.
    pub fn line(&mut self, kind: &str, name: &str, what: &str, priority: u8) {
        let line = format!("{kind} \"{name}\" {what} {priority}\n");
        // A full pipe drops the line, as in keepalived.
        let _ = self.file.write_all(line.as_bytes());
    }
}

fn libc_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}
