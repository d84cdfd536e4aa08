//! vrrp_script and track_file: what they report to the instances that track
//! them. Scripts run through `checkers::script` (process groups, the
//! TERM/KILL ladder, credentials, no zombies).

use std::time::Duration;

use checkers::script::{Exit, Script};
use tokio::sync::mpsc;
use tracing::info;
use vrrp::driver::Command;
use vrrp::fsm::{Input, Tracker, tracker_contribution};

/// keepalived's rise/fall counter (vrrp_scheduler.c): `result` runs from 0 to
/// rise+fall-1 and the script is up while it is at least `rise`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    result: u32,
    /// Before the first result keepalived reports a failure at once.
    init: bool,
}

impl Hysteresis {
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        Self {
            rise,
            fall,
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
        }
    }

    /// Feed one run; `Some(up)` when the reported state changes.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        let was_init = std::mem::replace(&mut self.init, false);
        let top = self.rise + self.fall - 1;
        if ok {
            if self.result < self.rise - 1 {
                self.result += 1;
                None
            } else if self.result != top {
                let changed = self.result < self.rise;
                self.result = top;
                changed.then_some(true)
            } else {
                None
            }
        } else if self.result > self.rise {
            self.result -= 1;
            None
        } else {
            let changed = self.result == self.rise || was_init;
            self.result = 0;
            changed.then_some(false)
        }
    }
}

/// One instance tracking a script or file.
#[derive(Clone, Debug)]
pub struct Tracking {
    pub instance: usize,
    pub weight: i32,
    pub reverse: bool,
}

fn report(
    cmds: &mpsc::UnboundedSender<Command>,
    kind: &str,
    name: &str,
    who: &[Tracking],
    up: bool,
) {
    for t in who {
        let input = if t.weight == 0 {
            let tracker = if kind == "script" {
                Tracker::Script(name.to_owned())
            } else {
                Tracker::File(name.to_owned())
            };
            Input::TrackerFault {
                tracker,
                failed: !up,
            }
        } else {
            Input::TrackWeight {
                tracker: format!("{kind} {name}"),
                weight: tracker_contribution(t.weight, t.reverse, up),
            }
        };
        let _ = cmds.send(Command::Input {
            instance: t.instance,
            input,
        });
    }
}

pub struct ScriptTask {
    pub name: String,
    pub script: Script,
    pub interval: Duration,
    pub timeout: Duration,
    pub hysteresis: Hysteresis,
    pub trackers: Vec<Tracking>,
}

impl ScriptTask {
    pub async fn run(mut self, cmds: mpsc::UnboundedSender<Command>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_status = 0;
        loop {
            tick.tick().await;
            let exit = match self.script.run(&[], Some(self.timeout)).await {
                Ok(e) => e,
                Err(e) => {
                    info!("VRRP_Script({}) failed to start: {e}", self.name);
                    Exit::Status(127)
                }
            };
            let (word, reason) = match exit {
                Exit::Status(s) => {
                    if s != last_status {
                        info!("Script `{}` now returning {s}", self.name);
                    }
                    last_status = s;
                    if s == 0 {
                        ("succeeded", None)
                    } else {
                        ("failed", Some(("exited with status", s)))
                    }
                }
                Exit::Signal(sig) => ("failed", Some(("due to signal", sig))),
                Exit::TimedOut => ("timed_out", None),
            };
            if let Some(up) = self.hysteresis.observe(exit.success()) {
                match reason {
                    Some((r, code)) if !up => {
                        info!("VRRP_Script({}) {word} ({r} {code})", self.name)
                    }
                    _ => info!("VRRP_Script({}) {word}", self.name),
                }
                report(&cmds, "script", &self.name, &self.trackers, up);
            }
        }
    }
}

/// track_file: the file holds an integer; weight × value is added to the
/// priority, or with weight 0 any non-zero value is a fault. Polled, so a
/// change is seen within `POLL`.
pub struct FileTask {
    pub name: String,
    pub path: String,
    pub weight: i32,
    pub trackers: Vec<Tracking>,
}

const POLL: Duration = Duration::from_millis(200);

impl FileTask {
    pub async fn run(self, cmds: mpsc::UnboundedSender<Command>) {
        let mut last: Option<i64> = None;
        loop {
            let value = std::fs::read_to_string(&self.path)
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|w| w.parse::<i64>().ok())
                })
                .unwrap_or(0);
            if last != Some(value) {
                last = Some(value);
                for t in &self.trackers {
                    let weight = if t.weight != 0 { t.weight } else { self.weight };
                    let input = if weight == 0 {
                        if value != 0 {
                            info!(
                                "(instance {}): tracked file {} has status {value}",
                                t.instance, self.name
                            );
                        }
                        Input::TrackerFault {
                            tracker: Tracker::File(self.name.clone()),
                            failed: value != 0,
                        }
                    } else {
                        let w = if t.reverse { -weight } else { weight };
                        let total = (value.saturating_mul(i64::from(w))).clamp(-254, 254) as i32;
                        Input::TrackWeight {
                            tracker: format!("file {}", self.name),
                            weight: total,
                        }
                    };
                    let _ = cmds.send(Command::Input {
                        instance: t.instance,
                        input,
                    });
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_result_decides_without_init_fail() {
        let mut h = Hysteresis::new(3, 2, false);
        assert_eq!(h.observe(true), Some(true));
        let mut h = Hysteresis::new(3, 2, false);
        assert_eq!(h.observe(false), Some(false));
    }

    #[test]
    fn rise_and_fall_counts() {
        let mut h = Hysteresis::new(2, 3, true);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
    }
}
