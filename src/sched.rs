//! How keepalived's children are scheduled: `vrrp_*` / `checker_*`
//! `priority` (nice), `no_swap` (locked in memory), `rt_priority` (SCHED_RR,
//! with `rlimit_rttime` as RLIMIT_RTTIME), `cpu_affinity`, and the process
//! names (`process_name`, `vrrp_process_name`, `checker_process_name`).
//!
//! keepalived is single-threaded; here the role's engine runs on the main
//! thread, and that thread gets the settings. Helper threads started later
//! (the runtime's blocking pool: parsing at reload, IPVS, dumps) go back
//! to the normal scheduler as they start ([`normal_thread`]), so that a
//! long parse can never hit the real-time CPU limit.
//!
//! As keepalived, a role applies the settings after loading the
//! configuration and drops back to normal scheduling while it reloads.

use kaconf::model::ProcessSched;
use tracing::{info, warn};

/// keepalived's `RT_RLIMIT_DEFAULT`, microseconds.
pub const RLIMIT_RTTIME_DEFAULT: u64 = 10_000;

/// The process a setting is for: names its keywords in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Vrrp,
    Checker,
}

impl Role {
    fn keyword(self) -> &'static str {
        match self {
            Role::Vrrp => "vrrp",
            Role::Checker => "checker",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Role::Vrrp => "VRRP",
            Role::Checker => "Checker",
        }
    }
}

/// The real-time priority and RLIMIT_RTTIME this process runs with now
/// (keepalived's data dump shows them); 0 when not real-time.
static CURRENT_RT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static CURRENT_RTTIME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`CURRENT_RT`]: `(priority, rlimit)`.
pub fn current_realtime() -> (u32, u64) {
    use std::sync::atomic::Ordering;
    (
        CURRENT_RT.load(Ordering::Relaxed),
        CURRENT_RTTIME.load(Ordering::Relaxed),
    )
}

/// What [`apply`] changed, to undo it at a reload.
#[derive(Debug, Default)]
pub struct Applied {
    nice: Option<i32>,
    locked: bool,
}

/// Sets the calling thread's scheduling from `s`, with keepalived's lines
/// when the kernel refuses.
pub fn apply(s: &ProcessSched, role: Role) -> Applied {
    let mut a = Applied::default();
    if s.rt_priority > 0 {
        if set_scheduler(
            libc::SCHED_RR | libc::SCHED_RESET_ON_FORK,
            s.rt_priority as i32,
        ) {
            CURRENT_RT.store(s.rt_priority, std::sync::atomic::Ordering::Relaxed);
            let limit = s.rlimit_rttime.unwrap_or(RLIMIT_RTTIME_DEFAULT);
            if limit > 0 {
                watch_sigxcpu(role);
                use nix::sys::resource::{Resource, setrlimit};
                // the soft limit warns (SIGXCPU) halfway to the hard one
                match setrlimit(Resource::RLIMIT_RTTIME, limit / 2, limit) {
                    Ok(()) => CURRENT_RTTIME.store(limit, std::sync::atomic::Ordering::Relaxed),
                    Err(_) => warn!("child process cannot set realtime rlimit"),
                }
            }
        } else {
            warn!("child process: cannot raise priority");
        }
    } else if s.priority != 0 {
        let before = get_nice();
        match set_nice(s.priority) {
            Ok(()) => a.nice = Some(before),
            Err(e) => info!(
                "Unable to set process priority to {} - {}",
                s.priority,
                e.desc()
            ),
        }
    }
    if s.no_swap {
        use nix::sys::mman::{MlockAllFlags, mlockall};
        let flags = MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE;
        // MCL_ONFAULT (Linux 4.4): pages are locked as they are touched
        let onfault = MlockAllFlags::from_bits_retain(libc::MCL_ONFAULT);
        match mlockall(flags | onfault) {
            Ok(()) => a.locked = true,
            Err(e) => info!("Unable to lock process in memory - {}", e.desc()),
        }
    }
    if !s.cpu_affinity.is_empty() {
        let mut set = nix::sched::CpuSet::new();
        for cpu in &s.cpu_affinity {
            let _ = set.set(*cpu as usize);
        }
        if let Err(e) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set) {
            warn!(
                "unable to set cpu affinity to {} process ({})",
                role.keyword(),
                e.desc()
            );
        }
    }
    a
}

/// keepalived's `reset_process_priorities`: normal scheduling while a
/// reload runs (also after [`raise`] made the process real-time).
/// RLIMIT_RTTIME stays as it is: it does not apply to the normal
/// scheduler, and putting it back up would need CAP_SYS_RESOURCE
/// (keepalived 2.2.7 sets it to 0 here, and its real-time process is
/// killed once real-time again).
pub fn reset(a: Applied) {
    // CURRENT_RT also covers what `raise` set
    if current_realtime().0 != 0 {
        if set_scheduler(libc::SCHED_OTHER, 0) {
            CURRENT_RT.store(0, std::sync::atomic::Ordering::Relaxed);
            CURRENT_RTTIME.store(0, std::sync::atomic::Ordering::Relaxed);
        } else {
            warn!("child process: cannot reset realtime scheduling");
        }
    }
    if let Some(n) = a.nice
        && let Err(e) = set_nice(n)
    {
        info!("Unable to reset process priority - {}", e.desc());
    }
    if a.locked {
        let _ = nix::sys::mman::munlockall();
    }
}

/// keepalived's `increment_process_priority`, for a timer that fired too
/// late: real-time at the lowest priority, or one higher, up to `max`
/// (`max_auto_priority`; 0 never raises). `rlimit`: RLIMIT_RTTIME to set
/// if none is yet.
pub fn raise(max: u32, rlimit: Option<u64>, role: Role) {
    use std::sync::atomic::Ordering;
    if max == 0 {
        return;
    }
    let cur = CURRENT_RT.load(Ordering::Relaxed);
    if cur >= max {
        return;
    }
    // sched_get_priority_min(SCHED_RR)
    let next = if cur == 0 { 1 } else { cur + 1 };
    let s = ProcessSched {
        rt_priority: next,
        // a limit already in place stays
        rlimit_rttime: if CURRENT_RTTIME.load(Ordering::Relaxed) != 0 {
            Some(0)
        } else {
            rlimit
        },
        ..ProcessSched::default()
    };
    let _ = apply(&s, role);
    info!("Set realtime priority {next}");
}

/// keepalived's scheduler line for a timer that fired `late`, then
/// [`raise`].
pub fn timer_late(
    late: std::time::Duration,
    max_auto: Option<i32>,
    rlimit: Option<u64>,
    role: Role,
) {
    info!(
        "A thread timer expired {}.{:06} seconds ago",
        late.as_secs(),
        late.subsec_micros()
    );
    let max = max_auto.filter(|m| *m > 0).unwrap_or(0) as u32;
    raise(max, rlimit, role);
}

/// For a process whose work has no single timer to watch (the checker,
/// one task per check): a tick each second stands for its timers, and one
/// that comes later than `settings().0` (`min_auto_priority_delay`) is a
/// late timer. `settings` gives the running configuration's delay,
/// `max_auto_priority` and real-time limit.
pub async fn watch_late(
    settings: impl Fn() -> (std::time::Duration, Option<i32>, Option<u64>),
    role: Role,
) {
    const TICK: std::time::Duration = std::time::Duration::from_secs(1);
    loop {
        let due = tokio::time::Instant::now() + TICK;
        tokio::time::sleep_until(due).await;
        let late = tokio::time::Instant::now().saturating_duration_since(due);
        let (delay, max, rlimit) = settings();
        if late > delay {
            timer_late(late, max, rlimit, role);
        }
    }
}

/// For the runtime's `on_thread_start`: helper threads run under the
/// normal scheduler whatever the main thread has.
pub fn normal_thread() {
    set_scheduler(libc::SCHED_OTHER, 0);
}

/// `prctl(PR_SET_NAME)`: the name `ps` and `top` show.
pub fn set_name(name: &str) {
    let ok = std::ffi::CString::new(name)
        .ok()
        .is_some_and(|c| nix::sys::prctl::set_name(&c).is_ok());
    if !ok {
        info!("Failed to set process name '{name}'");
    }
}

/// RLIMIT_RTTIME's soft limit sends SIGXCPU, whose default action would
/// kill the process: keepalived logs it instead.
fn watch_sigxcpu(role: Role) {
    use tokio::signal::unix::{SignalKind, signal};
    static WATCHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WATCHING.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Ok(mut s) = signal(SignalKind::from_raw(libc::SIGXCPU)) else {
        return;
    };
    tokio::spawn(async move {
        while s.recv().await.is_some() {
            info!(
                "{} process has used too much CPU time, {}_rlimit_rttime may need to be increased",
                role.title(),
                role.keyword()
            );
        }
    });
}

/// sched_setscheduler(2) on the calling thread.
#[allow(unsafe_code)]
fn set_scheduler(policy: i32, priority: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0
    // is the calling thread.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

/// The calling thread's nice value.
#[allow(unsafe_code)]
fn get_nice() -> i32 {
    // SAFETY: getpriority only reads the scheduler's value for this thread.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

#[allow(unsafe_code)]
fn set_nice(n: i32) -> Result<(), nix::errno::Errno> {
    // SAFETY: setpriority takes integers only; who 0 is this thread.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) };
    if r == -1 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run on a thread of its own: the test harness's threads are shared.
    #[test]
    fn nice_is_applied_and_reset() {
        std::thread::spawn(|| {
            let before = get_nice();
            let s = ProcessSched {
                priority: 5,
                ..ProcessSched::default()
            };
            let a = apply(&s, Role::Vrrp);
            assert_eq!(get_nice(), 5);
            reset(a);
            assert_eq!(get_nice(), before);
        })
        .join()
        .unwrap();
    }
}
