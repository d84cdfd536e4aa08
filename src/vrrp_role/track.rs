//! vrrp_script and track_file: what they report to the instances that track
//! them. Scripts run through `checkers::script` (process groups, the
//! TERM/KILL ladder, credentials, no zombies).

use std::sync::{Arc, Mutex};
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

    /// keepalived's `result`: 0 to rise+fall-1, up from `rise`.
    pub fn result(&self) -> u32 {
        self.result
    }

    /// No result yet and not `init_fail` (keepalived's INIT states).
    pub fn pending(&self) -> bool {
        self.init
    }

    /// The reported state: `None` before the first result.
    #[cfg(test)]
    pub fn up(&self) -> Option<bool> {
        (!self.init).then_some(self.result >= self.rise)
    }

    /// Reload (keepalived `clear_diff_script`): the script of the same name
    /// in the new configuration, with `rise`/`fall`, continues from this
    /// one's result, moved by the change of `rise`. Before the first result
    /// it starts afresh. The second value is the state carried over, which
    /// keepalived logs as "considered (un)successful on reload".
    pub fn carry(&self, rise: u32, fall: u32, init_fail: bool) -> (Self, Option<bool>) {
        let mut n = Self::new(rise, fall, init_fail);
        if self.init {
            return (n, None);
        }
        n.init = false;
        let (old_top, new_top) = (self.rise + self.fall - 1, n.rise + n.fall - 1);
        if self.result < self.rise {
            n.result = if self.result == 0 {
                0
            } else {
                n.rise.saturating_sub(self.rise - self.result)
            };
            (n, Some(false))
        } else {
            n.result = if self.result == old_top {
                new_top
            } else {
                (n.rise + (self.result - self.rise)).min(new_top)
            };
            (n, Some(true))
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

/// The inputs that `who`'s instances get for the state `up` of a tracked
/// script or file (`kind` "script" or "file").
pub fn inputs(kind: &str, name: &str, who: &[Tracking], up: bool) -> Vec<(usize, Input)> {
    who.iter()
        .map(|t| {
            let input = if t.weight == 0 {
                let tracker = if kind == "script" {
                    Tracker::Script(name.to_owned())
                } else {
                    Tracker::File(name.to_owned())
                };
                // keepalived `process_script_update_priority`: with weight 0,
                // `reverse` makes success the fault.
                Input::TrackerFault {
                    tracker,
                    failed: up == t.reverse,
                }
            } else {
                Input::TrackWeight {
                    tracker: format!("{kind} {name}"),
                    weight: tracker_contribution(t.weight, t.reverse, up),
                }
            };
            (t.instance, input)
        })
        .collect()
}

/// Before startup: the weight-0 trackers of a script that has not reported
/// hold their instances until it does (keepalived `num_script_init`);
/// weighted ones only move the priority once it reports, as
/// [`inputs`] does then.
pub fn pending(name: &str, who: &[Tracking]) -> Vec<(usize, Input)> {
    who.iter()
        .filter(|t| t.weight == 0)
        .map(|t| {
            let tracker = Tracker::Script(name.to_owned());
            (t.instance, Input::TrackerPending { tracker })
        })
        .collect()
}

fn send(cmds: &mpsc::UnboundedSender<Command>, epoch: u64, inputs: Vec<(usize, Input)>) {
    for (instance, input) in inputs {
        let _ = cmds.send(Command::Input {
            epoch,
            instance,
            input,
        });
    }
}

/// What survives a reload of a vrrp_script (shared with the daemon).
#[derive(Clone, Debug)]
pub struct ScriptState {
    pub hysteresis: Hysteresis,
    pub last_status: i32,
    /// Its first result still holds instances: true from the daemon's
    /// start until that result, across reloads (keepalived
    /// SCRIPT_INIT_STATE_INIT); false for a script a reload added
    /// (SCRIPT_INIT_STATE_INIT_RELOAD).
    pub holds: bool,
    /// A run is under way (keepalived.data's `State = running`).
    pub running: bool,
}

pub struct ScriptTask {
    pub name: String,
    pub script: Script,
    pub interval: Duration,
    pub timeout: Duration,
    pub state: Arc<Mutex<ScriptState>>,
    pub trackers: Vec<Tracking>,
    /// The configuration's number (see `vrrp::driver::Command::Input`).
    pub epoch: u64,
}

impl ScriptTask {
    /// keepalived 2.2.7's `vrrp_script_thread`: a run starts at every
    /// interval. One still going then gets "Track script NAME is already
    /// running, expect idle - skipping run" but, as in 2.2.7, the new run
    /// starts anyway; any run's end marks the script idle again. So the
    /// same lines come at the same times as keepalived's.
    pub async fn run(self, cmds: mpsc::UnboundedSender<Command>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut runs = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    if st.running {
                        info!(
                            "Track script {} is already running, expect idle - skipping run",
                            self.name
                        );
                    }
                    st.running = true;
                    drop(st);
                    let script = self.script.clone();
                    let timeout = self.timeout;
                    runs.spawn(async move { script.run(&[], Some(timeout)).await });
                }
                Some(done) = runs.join_next() => {
                    let exit = match done {
                        Ok(Ok(e)) => e,
                        Ok(Err(e)) => {
                            info!("VRRP_Script({}) failed to start: {e}", self.name);
                            Exit::Status(127)
                        }
                        // Aborted only when this task goes.
                        Err(_) => continue,
                    };
                    self.finished(exit, &cmds);
                }
            }
        }
    }

    fn finished(&self, exit: Exit, cmds: &mpsc::UnboundedSender<Command>) {
        // Updated under one lock, so that a reload that stops this task sees
        // either all of a run or none of it.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.running = false;
        let (word, reason) = match exit {
            Exit::Status(s) => {
                if s != st.last_status {
                    info!("Script `{}` now returning {s}", self.name);
                }
                st.last_status = s;
                if s == 0 {
                    ("succeeded", None)
                } else {
                    ("failed", Some(("exited with status", s)))
                }
            }
            Exit::Signal(sig) => ("failed", Some(("due to signal", sig))),
            Exit::TimedOut => ("timed_out", None),
        };
        st.holds = false;
        if let Some(up) = st.hysteresis.observe(exit.success()) {
            match reason {
                Some((r, code)) if !up => {
                    info!("VRRP_Script({}) {word} ({r} {code})", self.name)
                }
                _ => info!("VRRP_Script({}) {word}", self.name),
            }
            send(
                cmds,
                self.epoch,
                inputs("script", &self.name, &self.trackers, up),
            );
        }
    }
}

/// track_file: the file holds an integer; weight × value is added to the
/// priority, or with weight 0 any non-zero value is a fault. Watched with
/// inotify as keepalived watches it (`checkers::trackfile::Watcher`).
pub struct FileTask {
    pub name: String,
    pub path: String,
    pub weight: i32,
    pub trackers: Vec<Tracking>,
    pub epoch: u64,
}

impl FileTask {
    /// The file's value as keepalived reads it (`checkers::trackfile`);
    /// `None` for a number keepalived refuses, which it logs.
    pub fn read(&self) -> Option<i64> {
        match checkers::trackfile::read_value(std::path::Path::new(&self.path)) {
            Ok(v) => Some(v),
            Err(v) => {
                info!("Invalid number {v} read from {} - ignoring", self.path);
                None
            }
        }
    }

    /// What the tracking instances get for `value`. With weight 0 a
    /// non-zero value is a fault (a zero one with `reverse`, keepalived's
    /// weight multiplier -1); the FSM logs it as keepalived does.
    pub fn inputs(&self, value: i64) -> Vec<(usize, Input)> {
        self.trackers
            .iter()
            .map(|t| {
                let weight = if t.weight != 0 { t.weight } else { self.weight };
                let input = if weight == 0 {
                    Input::TrackerFault {
                        tracker: Tracker::File(self.name.clone()),
                        failed: (value != 0) != t.reverse,
                    }
                } else {
                    let w = if t.reverse { -weight } else { weight };
                    // keepalived's range for a file's share: -254 (a fault)
                    // to 253.
                    let status = value
                        .saturating_mul(i64::from(w))
                        .clamp(i64::from(vrrp::fsm::TRACK_FILE_FAULT), 253)
                        as i32;
                    Input::TrackFile {
                        file: self.name.clone(),
                        status,
                    }
                };
                (t.instance, input)
            })
            .collect()
    }

    /// Sends the value whenever it changes: read when the file is written
    /// and closed or moved in, 0 when it goes (keepalived's inotify
    /// events); a refused number leaves the last value.
    pub async fn run(self, cmds: mpsc::UnboundedSender<Command>) {
        use checkers::trackfile::{Change, Watcher};
        let mut watcher = Watcher::new(std::path::Path::new(&self.path));
        let mut last: Option<i64> = None;
        let mut change = Change::Written;
        loop {
            let value = match change {
                Change::Gone => Some(0),
                Change::Written => self.read(),
            };
            if let Some(value) = value
                && last != Some(value)
            {
                last = Some(value);
                send(&cmds, self.epoch, self.inputs(value));
            }
            change = watcher.next().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_weight_zero_trackers_are_held() {
        let who = [
            Tracking {
                instance: 0,
                weight: 0,
                reverse: false,
            },
            Tracking {
                instance: 1,
                weight: -20,
                reverse: false,
            },
            Tracking {
                instance: 2,
                weight: 0,
                reverse: true,
            },
        ];
        let p = pending("chk", &who);
        assert_eq!(
            p.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 2],
            "{p:?}"
        );
        assert!(p.iter().all(|(_, i)| *i
            == Input::TrackerPending {
                tracker: Tracker::Script("chk".into())
            }));
    }

    #[test]
    fn weight_zero_file_faults_on_non_zero_or_zero_reversed() {
        let f = FileTask {
            name: "tf".into(),
            path: String::new(),
            weight: 0,
            trackers: vec![
                Tracking {
                    instance: 0,
                    weight: 0,
                    reverse: false,
                },
                Tracking {
                    instance: 1,
                    weight: 0,
                    reverse: true,
                },
            ],
            epoch: 0,
        };
        let failed = |v| {
            f.inputs(v)
                .into_iter()
                .map(|(_, i)| match i {
                    Input::TrackerFault { failed, .. } => failed,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(failed(0), [false, true]);
        assert_eq!(failed(3), [true, false]);
    }

    #[test]
    fn first_result_decides_without_init_fail() {
        let mut h = Hysteresis::new(3, 2, false);
        assert_eq!(h.observe(true), Some(true));
        let mut h = Hysteresis::new(3, 2, false);
        assert_eq!(h.observe(false), Some(false));
    }

    #[test]
    fn carried_over_as_keepalived() {
        // No result yet: the new script starts afresh.
        let h = Hysteresis::new(3, 2, false);
        assert_eq!(h.carry(2, 2, false), (Hysteresis::new(2, 2, false), None));
        // Up at the top: up at the new top.
        let mut h = Hysteresis::new(2, 3, true);
        h.observe(true);
        h.observe(true);
        let (n, up) = h.carry(1, 2, false);
        assert_eq!(up, Some(true));
        assert_eq!(n.up(), Some(true));
        assert_eq!((n.result, n.init), (2, false));
        // One failure into a fall of 3 (result 3 of 0..=4): still up, one
        // failure counted.
        h.observe(false);
        let (mut n, up) = h.carry(2, 3, false);
        assert_eq!(up, Some(true));
        assert_eq!(n.result, 3);
        assert_eq!(n.observe(false), None);
        assert_eq!(n.observe(false), Some(false));
        // Down: stays down, the rise distance kept (clamped at 0).
        let mut h = Hysteresis::new(3, 1, true);
        h.observe(true);
        h.observe(true);
        assert_eq!(h.result, 2);
        let (mut n, up) = h.carry(2, 1, false);
        assert_eq!(up, Some(false));
        assert_eq!(n.up(), Some(false));
        assert_eq!(n.result, 1);
        assert_eq!(n.observe(true), Some(true));
        let (n, _) = h.carry(1, 1, false);
        assert_eq!(n.result, 0);
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
