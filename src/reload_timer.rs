//! `reload_time_file`: the parent reloads at a time written in a file, as
//! keepalived 2.2.7's reload monitor does.
//!
//! - [`parse_time`]: the file's line → the second it names, or the lines
//!   keepalived logs when it refuses it (pure: the clock and the zone are
//!   arguments).
//! - [`Schedule`]: the time armed, and what a new reading of the file logs
//!   and does to the timer.
//! - [`Monitor`]: watches the file, re-reads it when written, and wakes the
//!   parent when the time comes; the parent then reloads as on SIGHUP.
//!
//! The file holds `HH:MM:SS` (today, or tomorrow once passed),
//! `YY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS`, in local time, or in UTC
//! with a trailing `Z`. When the reload starts the file is removed, unless
//! `reload_repeat` is set and no date was given (then it fires daily).

use std::path::PathBuf;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use kaconf::model::GlobalDefs;
use tracing::info;

/// keepalived reads at most this much of the file's first line.
const LINE_MAX: usize = 20;

/// A reload time the file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// Seconds since the epoch.
    pub at: i64,
    /// A date was written (not only a time of day).
    pub date_specified: bool,
}

/// The time `text` names, relative to `now` in `zone`; `Err` holds the
/// lines keepalived logs for a time it ignores.
pub fn parse_time<Tz: TimeZone>(
    text: &str,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<When, Vec<String>> {
    let invalid = |first: String| {
        Err(vec![
            first,
            format!("Invalid reload time '{text}' specified - ignoring"),
        ])
    };
    let (body, utc) = match text.strip_suffix('Z') {
        Some(b) => (b, true),
        None => (text, false),
    };
    let len = body.len();
    if ![8, 17, 19].contains(&len) {
        return invalid(format!("Reload time {text} format is incorrect - ignoring"));
    }
    let today = if utc {
        now.date_naive()
    } else {
        now.with_timezone(zone).date_naive()
    };
    let Some(f) = fields(body, len, today) else {
        return invalid(format!("Reload date/time {text} invalid - ignoring"));
    };
    let not_valid = || invalid(format!("Reload time {text} is not valid - ignoring"));
    let Some(naive) = f.to_naive() else {
        return not_valid();
    };
    let Some(mut at) = epoch(naive, utc, zone) else {
        return not_valid();
    };
    if at <= now.timestamp() {
        if len != 8 {
            return Err(vec![
                format!("Reload time {text} is in the past - ignoring"),
                "Reload date/time is in the past - ignoring".to_owned(),
            ]);
        }
        // the time of day has passed: tomorrow
        let tomorrow = naive + chrono::Duration::days(1);
        at = epoch(tomorrow, utc, zone).unwrap_or(at + 86_400);
    }
    Ok(When {
        at,
        date_specified: len >= 17,
    })
}

/// A local (or UTC) date and time as an epoch second; a time that the
/// zone skips has none, one that it repeats takes the first.
fn epoch<Tz: TimeZone>(naive: NaiveDateTime, utc: bool, zone: &Tz) -> Option<i64> {
    if utc {
        return Some(Utc.from_utc_datetime(&naive).timestamp());
    }
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.timestamp()),
        LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
        LocalResult::None => None,
    }
}

/// The fields as strptime reads them, before any calendar check.
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
}

impl Fields {
    fn to_naive(&self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)?
            .and_hms_opt(self.hour, self.min, self.sec)
    }
}

/// Reads `%H:%M:%S`, `%y-%m-%d %H:%M:%S` or `%Y-%m-%d %H:%M:%S` (by the
/// length, as keepalived picks the format) the way glibc's strptime does:
/// numbers of up to their width after optional blanks, in range, and
/// nothing left over.
fn fields(s: &str, len: usize, today: NaiveDate) -> Option<Fields> {
    let mut rest = s;
    let mut f = Fields {
        year: today.year(),
        month: today.month(),
        day: today.day(),
        hour: 0,
        min: 0,
        sec: 0,
    };
    if len != 8 {
        f.year = if len == 17 {
            // %y: 69..99 is the 1900s, 00..68 the 2000s
            let y = number(&mut rest, 2, 0, 99)? as i32;
            if y >= 69 { 1900 + y } else { 2000 + y }
        } else {
            number(&mut rest, 4, 0, 9999)? as i32
        };
        literal(&mut rest, '-')?;
        f.month = number(&mut rest, 2, 1, 12)?;
        literal(&mut rest, '-')?;
        f.day = number(&mut rest, 2, 1, 31)?;
        // a blank in the format matches any run of blanks
        rest = rest.trim_start();
    }
    f.hour = number(&mut rest, 2, 0, 23)?;
    literal(&mut rest, ':')?;
    f.min = number(&mut rest, 2, 0, 59)?;
    literal(&mut rest, ':')?;
    f.sec = number(&mut rest, 2, 0, 61)?;
    rest.is_empty().then_some(f)
}

fn number(s: &mut &str, width: usize, lo: u32, hi: u32) -> Option<u32> {
    let t = s.trim_start();
    let digits = t.bytes().take(width).take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: u32 = t[..digits].parse().ok()?;
    *s = &t[digits..];
    (lo..=hi).contains(&v).then_some(v)
}

fn literal(s: &mut &str, c: char) -> Option<()> {
    *s = s.strip_prefix(c)?;
    Some(())
}

/// keepalived's `%Y-%m-%d %H:%M:%S` in `zone`.
pub fn format_time<Tz: TimeZone>(at: i64, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match zone.timestamp_opt(at, 0) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        LocalResult::None => at.to_string(),
    }
}

/// What a reading of the file does to the timer.
#[derive(Debug, PartialEq, Eq)]
pub enum Timer {
    Keep,
    Arm(i64),
    Cancel,
}

/// The reload time armed, as keepalived keeps it.
#[derive(Debug, Default)]
pub struct Schedule {
    pub at: Option<i64>,
    pub date_specified: bool,
}

impl Schedule {
    /// The file read again: `line` is its first line as keepalived reads
    /// it (see [`first_line`]), `None` if it could not be read or was
    /// empty. Returns the lines to log and what to do with the timer.
    pub fn read<Tz: TimeZone>(
        &mut self,
        line: Option<&str>,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> (Vec<String>, Timer)
    where
        Tz::Offset: std::fmt::Display,
    {
        let parsed = match line {
            None => return self.cancel(zone),
            Some(l) => parse_time(l, now, zone),
        };
        let when = match parsed {
            Ok(w) => w,
            Err(mut lines) => {
                let (more, timer) = self.cancel(zone);
                lines.extend(more);
                return (lines, timer);
            }
        };
        self.date_specified = when.date_specified;
        if self.at == Some(when.at) {
            return (Vec::new(), Timer::Keep);
        }
        let new = format_time(when.at, zone);
        let line = match self.at {
            Some(old) => format!(
                "Reload time updated from {} to {new}",
                format_time(old, zone)
            ),
            None => format!("Scheduling reload for {new}"),
        };
        self.at = Some(when.at);
        (vec![line], Timer::Arm(when.at))
    }

    fn cancel<Tz: TimeZone>(&mut self, zone: &Tz) -> (Vec<String>, Timer)
    where
        Tz::Offset: std::fmt::Display,
    {
        match self.at.take() {
            Some(at) => (
                vec![format!(
                    "Cancelling reload scheduled for {}",
                    format_time(at, zone)
                )],
                Timer::Cancel,
            ),
            None => (Vec::new(), Timer::Keep),
        }
    }
}

/// The file's first line as keepalived's `fgets` of 21 bytes takes it: at
/// most 20 bytes, without its newline; `None` for an empty or unreadable
/// file.
pub fn first_line(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let cut = &bytes[..bytes.len().min(LINE_MAX)];
    let line = match cut.iter().position(|b| *b == b'\n') {
        Some(n) => &cut[..n],
        None => cut,
    };
    Some(String::from_utf8_lossy(line).into_owned())
}

/// What [`Monitor::next`] reports.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The schedule changed (for the parent's data dump).
    Changed,
    /// The time has come: reload now. The monitor is spent.
    Due,
}

/// The running reload monitor of one configuration.
pub struct Monitor {
    path: PathBuf,
    repeat: bool,
    watcher: checkers::trackfile::Watcher,
    schedule: Schedule,
    deadline: Option<tokio::time::Instant>,
}

impl Monitor {
    /// Starts watching `reload_time_file`, if set, and reads it once.
    /// Needs the tokio runtime.
    pub fn start(g: &GlobalDefs) -> Option<Monitor> {
        let path = PathBuf::from(g.reload_time_file.as_ref()?);
        let watcher = checkers::trackfile::Watcher::new(&path);
        if !watcher.watching() {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
                _ => "/".to_owned(),
            };
            // sic: keepalived's line has no blank before the dash
            info!("Unable to monitor reload timer file directory {dir}- ignoring");
            return None;
        }
        let mut m = Monitor {
            path,
            repeat: g.reload_repeat,
            watcher,
            schedule: Schedule::default(),
            deadline: None,
        };
        m.read();
        Some(m)
    }

    /// The time armed and whether a date was given.
    pub fn scheduled(&self) -> Option<(i64, bool)> {
        self.schedule.at.map(|t| (t, self.schedule.date_specified))
    }

    fn read(&mut self) {
        let line = std::fs::read(&self.path).ok().and_then(|b| first_line(&b));
        self.apply(line.as_deref());
    }

    fn apply(&mut self, line: Option<&str>) {
        let (lines, timer) = self.schedule.read(line, Utc::now(), &chrono::Local);
        for l in lines {
            info!("{l}");
        }
        match timer {
            Timer::Keep => {}
            Timer::Cancel => self.deadline = None,
            Timer::Arm(at) => self.deadline = Some(deadline(at)),
        }
    }

    /// Waits for a change of the file or for the reload time.
    pub async fn next(&mut self) -> Event {
        let due = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            change = self.watcher.next() => {
                match change {
                    checkers::trackfile::Change::Written => self.read(),
                    checkers::trackfile::Change::Gone => self.apply(None),
                }
                Event::Changed
            }
            () = due => {
                self.deadline = None;
                if !self.repeat || self.schedule.date_specified {
                    let _ = std::fs::remove_file(&self.path);
                }
                Event::Due
            }
        }
    }
}

/// The monotonic instant of epoch second `at` (to the microsecond, as
/// keepalived arms its timer from the wall clock once).
fn deadline(at: i64) -> tokio::time::Instant {
    let now = std::time::SystemTime::now();
    let target = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    let wait = target.duration_since(now).unwrap_or_default();
    tokio::time::Instant::now() + wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn now() -> DateTime<Utc> {
        // 2026-11-21 12:00:00 UTC
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap().timestamp()
    }

    #[test]
    fn the_three_forms_and_utc() {
        let z = FixedOffset::east_opt(3600).unwrap();
        let p = |t: &str| parse_time(t, now(), &z);
        // local 13:30 is 12:30 UTC, still today
        assert_eq!(
            p("13:30:00"),
            Ok(When {
                at: at(2026, 11, 21, 12, 30, 0),
                date_specified: false
            })
        );
        assert_eq!(p("12:30:00Z").unwrap().at, at(2026, 11, 21, 12, 30, 0));
        assert_eq!(
            p("26-12-01 00:00:00"),
            Ok(When {
                at: at(2026, 11, 30, 23, 0, 0),
                date_specified: true
            })
        );
        assert_eq!(
            p("2027-01-02 03:04:05Z").unwrap().at,
            at(2027, 1, 2, 3, 4, 5)
        );
        // glibc's strptime takes one-digit fields and blanks before numbers
        assert_eq!(
            p("2027-1-02  03:04:05").unwrap().at,
            at(2027, 1, 2, 2, 4, 5)
        );
    }

    #[test]
    fn a_passed_time_of_day_is_tomorrow() {
        let p = parse_time("11:00:00", now(), &Utc).unwrap();
        assert_eq!(p.at, at(2026, 11, 22, 11, 0, 0));
        assert_eq!(
            parse_time("12:00:00", now(), &Utc).unwrap().at,
            at(2026, 11, 22, 12, 0, 0)
        );
    }

    #[test]
    fn refusals_with_keepalived_lines() {
        let p = |t: &str| parse_time(t, now(), &Utc).unwrap_err();
        assert_eq!(
            p("1:00:00"),
            [
                "Reload time 1:00:00 format is incorrect - ignoring",
                "Invalid reload time '1:00:00' specified - ignoring"
            ]
        );
        assert_eq!(
            p("24:00:00")[0],
            "Reload date/time 24:00:00 invalid - ignoring"
        );
        assert_eq!(
            p("12:00:0x")[0],
            "Reload date/time 12:00:0x invalid - ignoring"
        );
        assert_eq!(
            p("2027-02-30 00:00:00")[0],
            "Reload time 2027-02-30 00:00:00 is not valid - ignoring"
        );
        assert_eq!(
            p("12:00:60")[0],
            "Reload time 12:00:60 is not valid - ignoring"
        );
        assert_eq!(
            p("2020-01-01 00:00:00Z"),
            [
                "Reload time 2020-01-01 00:00:00Z is in the past - ignoring",
                "Reload date/time is in the past - ignoring"
            ]
        );
    }

    #[test]
    fn schedule_logs_each_change_once() {
        let mut s = Schedule::default();
        let (l, t) = s.read(Some("13:00:00"), now(), &Utc);
        assert_eq!(l, ["Scheduling reload for 2026-11-21 13:00:00"]);
        assert_eq!(t, Timer::Arm(at(2026, 11, 21, 13, 0, 0)));
        assert_eq!(s.read(Some("13:00:00"), now(), &Utc), (vec![], Timer::Keep));
        let (l, _) = s.read(Some("14:00:00"), now(), &Utc);
        assert_eq!(
            l,
            ["Reload time updated from 2026-11-21 13:00:00 to 2026-11-21 14:00:00"]
        );
        let (l, t) = s.read(Some("bad"), now(), &Utc);
        assert_eq!(
            l,
            [
                "Reload time bad format is incorrect - ignoring",
                "Invalid reload time 'bad' specified - ignoring",
                "Cancelling reload scheduled for 2026-11-21 14:00:00"
            ]
        );
        assert_eq!(t, Timer::Cancel);
        assert_eq!(s.read(None, now(), &Utc), (vec![], Timer::Keep));
    }

    #[test]
    fn first_line_as_fgets() {
        assert_eq!(first_line(b""), None);
        assert_eq!(first_line(b"12:00:00\n").as_deref(), Some("12:00:00"));
        assert_eq!(first_line(b"\n").as_deref(), Some(""));
        assert_eq!(
            first_line(b"2026-11-21 12:00:00Z and more").as_deref(),
            Some("2026-11-21 12:00:00Z")
        );
    }
}
