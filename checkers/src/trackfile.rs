//! Tracked files (VRRP `track_file`, checker `FILE_CHECK`): the value a
//! file holds and when to read it again, as keepalived 2.2.7's
//! trackers/track_file.c decides both.
//!
//! - [`parse_value`] is pure: the file's leading integer the way C's
//!   `strtol(buf, NULL, 0)` reads it (so `0x10` is 16 and `010` is 8), and
//!   keepalived's range check.
//! - [`Watcher`] is the I/O: one inotify watch on the file's directory,
//!   woken by `IN_CLOSE_WRITE | IN_DELETE | IN_MOVE` for that name, as
//!   keepalived's. A write is only read once the writer closes the file,
//!   so `echo 1 > file` is never seen half done. Where inotify cannot watch
//!   (no such directory, no inotify), it polls once a second instead.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

/// keepalived reads at most this many bytes of the file.
const READ_MAX: usize = 127;

/// How often a file is read when it cannot be watched.
const POLL: Duration = Duration::from_secs(1);

/// The value of a file's contents: `Ok` with the leading integer (0 when
/// there is none), `Err` with the number read when keepalived refuses it
/// ("Invalid number %ld read from %s - ignoring": outside -2^31..=2^31, or
/// too large for a C `long`, reported as the saturated value).
pub fn parse_value(buf: &[u8]) -> Result<i64, i64> {
    let buf = &buf[..buf.len().min(READ_MAX)];
    let mut i = 0;
    // isspace() in the C locale
    while buf
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
    {
        i += 1;
    }
    let negative = match buf.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digit = |c: u8, base: u32| (c as char).to_digit(base);
    let base = match (buf.get(i), buf.get(i + 1), buf.get(i + 2)) {
        // "0x" only counts as a prefix when a hex digit follows
        (Some(b'0'), Some(b'x' | b'X'), Some(&c)) if digit(c, 16).is_some() => {
            i += 2;
            16
        }
        (Some(b'0'), _, _) => 8,
        _ => 10,
    };
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = buf.get(i).and_then(|&c| digit(c, base)) {
        match magnitude
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i += 1;
    }
    let value = if negative {
        if overflow || magnitude > i64::MIN.unsigned_abs() {
            return Err(i64::MIN);
        }
        0i64.wrapping_sub_unsigned(magnitude)
    } else {
        match i64::try_from(magnitude) {
            Ok(v) if !overflow => v,
            _ => return Err(i64::MAX),
        }
    };
    if value < i64::from(i32::MIN) || value > i64::from(i32::MAX) + 1 {
        return Err(value);
    }
    Ok(value)
}

/// Reads `path` as keepalived does: a file that cannot be opened or is
/// empty is 0.
pub fn read_value(path: &Path) -> Result<i64, i64> {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(0);
    };
    let mut buf = Vec::with_capacity(READ_MAX);
    match f.take(READ_MAX as u64).read_to_end(&mut buf) {
        Ok(_) => parse_value(&buf),
        Err(_) => Ok(0),
    }
}

/// What happened to a watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Written and closed, or moved in: read it again.
    Written,
    /// Deleted or moved away: keepalived takes its value as 0.
    Gone,
}

struct Fd(Inotify);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// The module's one unsafe call: `AsyncFd::register` is unsafe in tokio
/// 1.54 because tokio cannot check that the descriptor stays open while
/// registered. The inotify descriptor is owned by the `Inotify` moved into
/// the `AsyncFd`, so it is closed only when the `AsyncFd` drops, after
/// deregistration.
#[allow(unsafe_code)]
fn register(fd: Fd) -> std::io::Result<AsyncFd<Fd>> {
    // SAFETY: see above; `fd` is owned by the AsyncFd for its whole life.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// Waits for changes of one file (see the module's notes).
pub struct Watcher {
    inotify: Option<AsyncFd<Fd>>,
    name: OsString,
}

impl Watcher {
    /// Watches `path`'s directory for `path`'s name. Never fails: without
    /// a watch, [`Watcher::next`] answers [`Change::Written`] each second.
    /// Needs a tokio runtime with IO enabled.
    pub fn new(path: &Path) -> Watcher {
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .ok()
            .filter(|i| {
                let mask = AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVE;
                i.add_watch(&dir, mask).is_ok()
            })
            .and_then(|i| register(Fd(i)).ok());
        if inotify.is_none() {
            tracing::debug!("{}: not watchable, read every {POLL:?}", path.display());
        }
        Watcher { inotify, name }
    }

    /// Whether changes come from inotify (not from polling).
    pub fn watching(&self) -> bool {
        self.inotify.is_some()
    }

    /// The next change of the file; a queue overflow counts as a write.
    pub async fn next(&mut self) -> Change {
        let Some(fd) = self.inotify.as_ref() else {
            tokio::time::sleep(POLL).await;
            return Change::Written;
        };
        loop {
            let Ok(mut ready) = fd.readable().await else {
                // the descriptor broke: fall back to polling
                self.inotify = None;
                return Change::Written;
            };
            let events = match ready.try_io(|fd| fd.get_ref().0.read_events().map_err(Into::into)) {
                Ok(Ok(events)) => events,
                Ok(Err(_)) => continue,
                Err(_would_block) => continue,
            };
            let mut change = None;
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    change = Some(Change::Written);
                    continue;
                }
                if ev.mask.contains(AddWatchFlags::IN_ISDIR)
                    || ev.name.as_deref() != Some(self.name.as_os_str())
                {
                    continue;
                }
                // the last event of a batch decides, as reading them in
                // order one by one would leave it
                change = Some(
                    if ev
                        .mask
                        .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                    {
                        Change::Gone
                    } else {
                        Change::Written
                    },
                );
            }
            if let Some(c) = change {
                return c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_strtol_base_0_reads_them() {
        let cases: &[(&[u8], Result<i64, i64>)] = &[
            (b"", Ok(0)),
            (b"1\n", Ok(1)),
            (b"  \t42 apples", Ok(42)),
            (b"-7", Ok(-7)),
            (b"+3", Ok(3)),
            (b"0x10", Ok(16)),
            (b"0X1f\n", Ok(31)),
            (b"010", Ok(8)),
            (b"09", Ok(0)), // octal stops at the 9
            (b"0x", Ok(0)), // "0", then an x that is not a prefix
            (b"0xg", Ok(0)),
            (b"5abc", Ok(5)),
            (b"abc", Ok(0)),
            (b"-", Ok(0)),
            (b"2147483648", Ok(2_147_483_648)), // INT32_MAX + 1 is let through
            (b"-2147483648", Ok(-2_147_483_648)),
            (b"2147483649", Err(2_147_483_649)),
            (b"-2147483649", Err(-2_147_483_649)),
            (b"99999999999999999999", Err(i64::MAX)),
            (b"-99999999999999999999", Err(i64::MIN)),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_value(text),
                *want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn only_the_first_127_bytes_count() {
        let mut text = vec![b' '; 126];
        text.extend_from_slice(b"12");
        assert_eq!(parse_value(&text), Ok(1));
    }

    #[tokio::test]
    async fn writes_and_removals_are_seen_when_closed() {
        let dir = std::env::temp_dir().join(format!("kc-trackfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weight");
        assert_eq!(read_value(&path), Ok(0));
        let mut w = Watcher::new(&path);
        assert!(w.watching());
        // another file in the same directory is not ours
        std::fs::write(dir.join("other"), "5").unwrap();
        std::fs::write(&path, "0x20\n").unwrap();
        let c = tokio::time::timeout(Duration::from_secs(5), w.next()).await;
        assert_eq!(c, Ok(Change::Written));
        assert_eq!(read_value(&path), Ok(32));
        std::fs::remove_file(&path).unwrap();
        let c = tokio::time::timeout(Duration::from_secs(5), w.next()).await;
        assert_eq!(c, Ok(Change::Gone));
        // moved in, as `mv tmp weight` does
        std::fs::write(dir.join("tmp"), "3").unwrap();
        std::fs::rename(dir.join("tmp"), &path).unwrap();
        let c = tokio::time::timeout(Duration::from_secs(5), w.next()).await;
        assert_eq!(c, Ok(Change::Written));
        assert_eq!(read_value(&path), Ok(3));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_missing_directory_is_polled() {
        let mut w = Watcher::new(Path::new("/nonexistent-kc-dir/file"));
        assert!(!w.watching());
        let c = tokio::time::timeout(Duration::from_secs(3), w.next()).await;
        assert_eq!(c, Ok(Change::Written));
    }
}
