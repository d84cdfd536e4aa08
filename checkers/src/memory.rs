//! The checker process's resources: glibc allocator settings, giving back
//! what only start-up needed (the config parser's code, the freed
//! start-up heap), and the open-file limit thousands of checkers need.
//! Linux/glibc specific; elsewhere the memory calls do nothing.
//!
//! Why it matters: keepalived's checker process for 2,000 real servers is
//! about 6 MB resident; ours must not be more (BENCHMARKS.md, issue 5).

// The calls below are plain libc calls (mallopt, malloc_trim, madvise)
// with no memory handed over to Rust; each states why it is sound.
#![allow(unsafe_code)]

/// glibc gives each thread that allocates an arena of its own (64 MiB
/// reserved, a few hundred KiB touched, never returned). The checker
/// process's only other threads are tokio's blocking pool (the IPVS
/// netlink calls), which allocate little: one arena is enough. Call it
/// before any thread starts.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// keepalived's check_daemon.c `set_checker_max_fds`: 17 descriptors of
/// its own, one per checker that opens a socket (all but MISC_CHECK and
/// FILE_CHECK), 10 spare.
pub fn fds_needed(cfg: &crate::config::LvsCfg) -> u64 {
    fds_for_sockets(cfg.virtual_servers.iter().map(checker_sockets).sum())
}

/// The descriptors [`fds_needed`] asks for `sockets` network checkers.
pub fn fds_for_sockets(sockets: u64) -> u64 {
    17 + sockets + 10
}

/// The checkers of `vs` that hold a socket while they run.
pub fn checker_sockets(vs: &crate::config::VsCfg) -> u64 {
    use crate::config::CheckKind;
    vs.real_servers
        .iter()
        .flat_map(|r| r.checkers.iter())
        .filter(|c| !matches!(c.kind, CheckKind::Misc(_) | CheckKind::File(_)))
        .count() as u64
}

/// The open-file limit after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdLimit {
    /// The limit was high enough.
    Unchanged,
    /// Raised to (soft, hard): keepalived logs "Set open file limit to
    /// %lu:%lu." with -D.
    Raised(u64, u64),
    /// setrlimit failed with this errno: keepalived logs "Failed to set
    /// open file limit to %lu:%lu failed - errno %d".
    Failed(u64, u64, i32),
}

/// lib/process.c `set_max_file_limit`: soft and hard limits are raised to
/// `needed` when below it (the first checks of 2,000 real servers are all
/// in flight at once; at the default 1,024 the rest fail with EMFILE).
pub fn raise_fd_limit(needed: u64) -> FdLimit {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return FdLimit::Unchanged;
    };
    if needed <= soft {
        return FdLimit::Unchanged;
    }
    let (soft, hard) = (needed, hard.max(needed));
    match setrlimit(Resource::RLIMIT_NOFILE, soft, hard) {
        Ok(()) => FdLimit::Raised(soft, hard),
        Err(e) => FdLimit::Failed(soft, hard, e as i32),
    }
}

/// What [`shed_startup`] gave back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// Bytes of the executable's read-only mappings no longer mapped in.
    pub text_bytes: usize,
    /// Whether malloc_trim released anything.
    pub heap_trimmed: bool,
}

/// Hands the free pages of every malloc arena back to the kernel. The
/// parent calls it once the file is parsed, before it forks: what the
/// parse freed (its read buffers, a second parse thread's arena) would
/// otherwise stay resident in the parent and, copied at the fork, in
/// every child.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only hands free pages of the allocator's
        // own heaps back to the kernel.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Once the checkers run: returns the free heap pages to the kernel
/// (`malloc_trim`), and unmaps the pages of this executable's read-only
/// mappings (code, constants) that were read in so far. The page cache
/// keeps them; whatever code still runs faults its pages back in (a minor
/// fault each), so what stays resident is the code the checkers use, not
/// the parser's and the start-up's.
///
/// Only mappings with no private (copy-on-write) page are touched:
/// dropping such a page would lose its contents (relocated data).
pub fn shed_startup() -> Shed {
    let mut shed = Shed::default();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        shed.heap_trimmed = trim_heap();
        for (start, len) in clean_exe_mappings() {
            // SAFETY: the range is a whole read-only, file-backed private
            // mapping of our executable without any anonymous page, so
            // every page equals the file's and comes back on access.
            let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            if r == 0 {
                shed.text_bytes += len;
            }
        }
    }
    shed
}

/// The read-only mappings of our executable with no anonymous page, from
/// /proc/self/smaps.
#[cfg(target_os = "linux")]
fn clean_exe_mappings() -> Vec<(usize, usize)> {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return Vec::new();
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    parse_clean(&smaps, &exe.to_string_lossy())
}

/// Pure part of [`clean_exe_mappings`]: `(start, len)` of each mapping of
/// `path` without `w` permission and with `Anonymous: 0 kB`.
pub fn parse_clean(smaps: &str, path: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut words = line.split_ascii_whitespace();
        let first = words.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            // "start-end perms offset dev inode path"
            let perms = words.next().unwrap_or("");
            let name = words.nth(3).unwrap_or("");
            cur = (name == path && !perms.contains('w') && b > a).then_some((a, b - a));
            continue;
        }
        if first == "Anonymous:"
            && let Some(m) = cur.take()
            && words.next() == Some("0")
        {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55a0000000-55a0001000 r--p 00000000 fd:01 123 /usr/sbin/keepalived
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
55a0001000-55a0005000 r-xp 00001000 fd:01 123 /usr/sbin/keepalived
Rss:                  12 kB
Anonymous:             0 kB
55a0005000-55a0006000 r--p 00005000 fd:01 123 /usr/sbin/keepalived
Rss:                   4 kB
Anonymous:             4 kB
55a0006000-55a0007000 rw-p 00006000 fd:01 123 /usr/sbin/keepalived
Anonymous:             0 kB
7f00000000-7f00001000 r-xp 00000000 fd:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f00001000-7f00002000 rw-p 00000000 00:00 0
Anonymous:             4 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable() {
        assert_eq!(
            parse_clean(SMAPS, "/usr/sbin/keepalived"),
            [(0x55a0000000, 0x1000), (0x55a0001000, 0x4000)]
        );
    }

    #[test]
    fn one_descriptor_per_network_checker() {
        use crate::config::*;
        use std::time::Duration;
        let ck = |kind| CheckerCfg {
            kind,
            conn: ConnOpts::new("10.0.0.2:80".parse().unwrap(), Duration::from_secs(1)),
            retry: 1,
            delay_loop: Duration::from_secs(1),
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        };
        let file = CheckKind::File(FileCfg {
            path: "/x".into(),
            weight: 0,
            reverse: false,
        });
        let rs = RsCfg {
            key: ipvs::DestKey::new("10.0.0.2:80".parse().unwrap()),
            dest: ipvs::Dest::new(ipvs::Fwd::Masq, 1),
            name: "rs".into(),
            inhibit_on_failure: false,
            smtp_alert: false,
            notify_up: None,
            notify_down: None,
            checkers: vec![ck(CheckKind::Tcp), ck(CheckKind::Ping), ck(file)],
        };
        let vs = VsCfg {
            name: "vs".into(),
            addr: None,
            services: vec![],
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            omega: false,
            smtp_alert: false,
            ha_suspend: false,
            quorum_up: None,
            quorum_down: None,
            real_servers: vec![rs.clone(), rs],
        };
        let cfg = LvsCfg {
            virtual_servers: vec![vs],
            ..LvsCfg::default()
        };
        assert_eq!(fds_needed(&cfg), 17 + 4 + 10);
    }

    #[test]
    fn nothing_for_another_path() {
        assert!(parse_clean(SMAPS, "/usr/sbin/other").is_empty());
    }

    #[test]
    fn shedding_keeps_the_process_working() {
        let before = std::hint::black_box(parse_clean(SMAPS, "x").len());
        let shed = shed_startup();
        // code and constants fault back in: this runs, and allocates
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert_eq!(before, 0);
        let _ = shed;
    }
}
