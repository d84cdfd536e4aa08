//! Sync groups (`vrrp_sync_group`): several instances that change state
//! together, so that e.g. the inside and outside VIPs of a router always
//! live on the same box.
//!
//! Like [`crate::fsm`], this is sans-IO: the group owns its member
//! [`Instance`]s, feeds them inputs and, after each one, applies
//! keepalived's transition matrix (vrrp_scheduler.c `VRRP_TSM`, vrrp_sync.c):
//! - any member entering FAULT pulls the whole group into FAULT;
//! - a member may only become MASTER when every other member wants to
//!   (otherwise it waits in BACKUP), and then all become MASTER;
//! - a MASTER member falling back to BACKUP, or the last faulty member
//!   recovering, moves the whole group to BACKUP.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::fsm::{Action, Input, Instance, LogLine, State, SyncGate};

/// One output of the group, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupOutput {
    /// An action of member `index`.
    Member { index: usize, action: Action },
    /// A group-level log line (`VRRP_Group(NAME) ...`).
    Log(LogLine),
    /// Run the group's notify scripts / FIFO for its new state.
    Notify { state: State },
}

/// A sync group and its members. See the module docs.
#[derive(Clone, Debug)]
pub struct SyncGroup {
    name: String,
    members: Vec<Instance>,
    /// INIT after startup means held: some member waits for a tracker's
    /// first result (keepalived `num_member_init`).
    state: State,
    prepared: bool,
    started: bool,
}

impl SyncGroup {
    pub fn new(name: &str, members: Vec<Instance>) -> Self {
        Self {
            name: name.to_owned(),
            members,
            state: State::Init,
            prepared: false,
            started: false,
        }
    }

    /// Reload: the group rebuilt from the new configuration with its
    /// members, those kept from the running configuration already started
    /// (see [`Instance::reconfigure`]), new ones not yet. As keepalived
    /// (`vrrp_complete_init`, `set_previous_sync_group_states`,
    /// `vrrp_init_state`): the group is MASTER if every member is a kept
    /// MASTER, FAULT if any member is faulty, else BACKUP, and kept members
    /// follow it; it notifies BACKUP or FAULT unless `previous` (the state
    /// of the old group of that name) was the same. New members start.
    pub fn reloaded(
        now: Instant,
        name: &str,
        members: Vec<Instance>,
        previous: Option<State>,
    ) -> (Self, Vec<GroupOutput>) {
        let mut g = Self::new(name, members);
        g.prepared = true;
        g.started = true;
        let mut out = Vec::new();
        g.state = if g
            .members
            .iter()
            .any(|m| m.is_faulted() || m.state() == State::Fault)
        {
            State::Fault
        } else if g.members.iter().any(Instance::is_pending) {
            // A script carried over without a result still holds (keepalived
            // keeps SCRIPT_INIT_STATE_INIT across a reload).
            State::Init
        } else if g
            .members
            .iter()
            .all(|m| m.started() && m.state() == State::Master)
        {
            State::Master
        } else {
            State::Backup
        };
        if matches!(g.state, State::Fault | State::Backup) && previous != Some(g.state) {
            out.push(GroupOutput::Notify { state: g.state });
        }
        for i in 0..g.members.len() {
            g.refresh_gates();
            let m = &g.members[i];
            let acts = if !m.started() {
                let mut o = Vec::new();
                g.run(now, i, Input::Startup, &mut o);
                out.extend(o);
                continue;
            } else if g.state == State::Fault && m.state() != State::Fault {
                g.members[i].sync_to_fault(now)
            } else if g.state == State::Backup && m.state() == State::Master {
                g.members[i].sync_to_backup(now)
            } else {
                Vec::new()
            };
            Self::push(&mut out, i, acts);
        }
        (g, out)
    }

    /// The members, for a reload to reuse.
    pub fn into_members(self) -> Vec<Instance> {
        self.members
    }

    pub(crate) fn member_mut(&mut self, i: usize) -> &mut Instance {
        &mut self.members[i]
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    pub fn clear_stats(&mut self) {
        self.members.iter_mut().for_each(Instance::clear_stats);
    }

    /// Earliest timer of any member.
    pub fn poll_at(&self) -> Option<Instant> {
        self.members.iter().filter_map(Instance::poll_at).min()
    }

    /// Feed an input to every member in turn: meant for
    /// [`Input::Startup`], [`Input::Tick`] and [`Input::Shutdown`].
    pub fn handle_all(&mut self, now: Instant, input: Input) -> Vec<GroupOutput> {
        let mut out = Vec::new();
        match input {
            Input::Prepare => self.prepare(now, &mut out),
            Input::Startup => self.startup(now, &mut out),
            Input::Shutdown => {
                for i in 0..self.members.len() {
                    self.run(now, i, Input::Shutdown, &mut out);
                }
                self.state = State::Stop;
                out.push(GroupOutput::Notify { state: State::Stop });
            }
            Input::Tick => {
                for i in 0..self.members.len() {
                    if self.members[i].poll_at().is_some_and(|t| t <= now) {
                        self.run(now, i, Input::Tick, &mut out);
                    }
                }
            }
            other => {
                for i in 0..self.members.len() {
                    self.run(now, i, other.clone(), &mut out);
                }
            }
        }
        out
    }

    /// Feed an input to one member (an advert, a tracker change, ...).
    ///
    /// # Panics
    /// If `index` is not a member index.
    pub fn handle(&mut self, now: Instant, index: usize, input: Input) -> Vec<GroupOutput> {
        let mut out = Vec::new();
        self.run(now, index, input, &mut out);
        out
    }

    fn gate_for(&self, i: usize) -> SyncGate {
        let others = || {
            self.members
                .iter()
                .enumerate()
                .filter(move |(j, _)| *j != i)
        };
        SyncGate {
            group_state: self.state,
            others_want_master: others().all(|(_, m)| m.wantstate() == State::Master),
            others_faulted: others().any(|(_, m)| m.is_faulted()),
            others_pending: others().any(|(_, m)| m.is_pending()),
        }
    }

    fn refresh_gates(&mut self) {
        for i in 0..self.members.len() {
            let g = self.gate_for(i);
            self.members[i].gate = Some(g);
        }
    }

    fn log(&self, out: &mut Vec<GroupOutput>, state: State) {
        out.push(GroupOutput::Log(LogLine {
            detail: false,
            text: format!(
                "VRRP_Group({}) Syncing instances to {} state",
                self.name,
                state.keyword()
            ),
        }));
    }

    fn push(out: &mut Vec<GroupOutput>, index: usize, actions: Vec<Action>) {
        out.extend(
            actions
                .into_iter()
                .map(|action| GroupOutput::Member { index, action }),
        );
    }

    /// The group's starting state, then [`Input::Prepare`] for every member
    /// (keepalived `vrrp_sync_set_group`, `initialise_tracking_priorities`
    /// and the end of `vrrp_complete_init`).
    fn prepare(&mut self, now: Instant, out: &mut Vec<GroupOutput>) {
        if self.prepared {
            return;
        }
        self.prepared = true;
        self.state = State::Backup;
        if self
            .members
            .iter()
            .all(|m| m.wantstate() == State::Master && m.cfg().priority.is_owner())
        {
            self.state = State::Master;
        }
        for m in &self.members {
            if m.is_faulted() && self.state != State::Fault {
                self.state = State::Fault;
                out.push(GroupOutput::Log(LogLine {
                    detail: false,
                    text: format!(
                        "VRRP_Group({}): Syncing {} to FAULT state",
                        self.name,
                        m.name()
                    ),
                }));
            }
        }
        if self.state != State::Fault && self.members.iter().any(Instance::is_pending) {
            // Held, silently: no group notify until a member leaves init.
            self.state = State::Init;
        }
        for i in 0..self.members.len() {
            self.run(now, i, Input::Prepare, out);
        }
    }

    /// keepalived `vrrp_init_state`: the group's notify, then its members.
    fn startup(&mut self, now: Instant, out: &mut Vec<GroupOutput>) {
        if self.started {
            return;
        }
        self.prepare(now, out);
        self.started = true;
        if matches!(self.state, State::Fault | State::Backup) {
            out.push(GroupOutput::Notify { state: self.state });
        }
        for i in 0..self.members.len() {
            self.run(now, i, Input::Startup, out);
        }
    }

    fn run(&mut self, now: Instant, i: usize, input: Input, out: &mut Vec<GroupOutput>) {
        self.refresh_gates();
        let prev = self.members[i].state();
        let was_faulted = self.members[i].is_faulted();
        let actions = self.members[i].handle(now, input);
        let lower_prio = actions.contains(&Action::NotifyMasterRxLowerPri);
        Self::push(out, i, actions);
        let new = self.members[i].state();
        if !self.started || self.state == State::Stop {
            return;
        }
        // A held member is in FAULT already; its own first fault still
        // pulls the group (keepalived `down_instance`: the first member
        // fault calls `vrrp_sync_fault`).
        // Startup into FAULT syncs nothing: the group chose its state first.
        let newly_faulted = !was_faulted && self.members[i].is_faulted();
        if new == State::Fault && (!matches!(prev, State::Fault | State::Init) || newly_faulted) {
            self.sync_fault(now, i, out);
        } else if new == State::Master {
            self.sync_master(now, i, out);
        } else if new == State::Backup && matches!(prev, State::Master | State::Fault) {
            self.sync_backup(now, i, out);
        }
        if lower_prio {
            // vrrp.c master_rx: a lower-priority master on one VRID means
            // the peer probably took every group member; refresh ARP caches
            // for all of them.
            for j in (0..self.members.len()).filter(|j| *j != i) {
                let acts = self.members[j].lower_prio_garp(now);
                Self::push(out, j, acts);
            }
        }
    }

    /// `vrrp_sync_master`.
    fn sync_master(&mut self, now: Instant, i: usize, out: &mut Vec<GroupOutput>) {
        if self.state == State::Master {
            return;
        }
        let gate = self.gate_for(i);
        if !(gate.group_state == State::Master || gate.others_want_master) {
            return;
        }
        self.log(out, State::Master);
        for j in (0..self.members.len()).filter(|j| *j != i) {
            if self.members[j].state() != State::Master {
                self.refresh_gates();
                let acts = self.members[j].sync_to_master(now);
                Self::push(out, j, acts);
            }
        }
        self.state = State::Master;
        out.push(GroupOutput::Notify {
            state: State::Master,
        });
    }

    /// `vrrp_sync_backup`.
    fn sync_backup(&mut self, now: Instant, i: usize, out: &mut Vec<GroupOutput>) {
        if self.state == State::Backup {
            return;
        }
        self.log(out, State::Backup);
        for j in (0..self.members.len()).filter(|j| *j != i) {
            if self.members[j].state() != State::Backup {
                self.refresh_gates();
                let acts = self.members[j].sync_to_backup(now);
                Self::push(out, j, acts);
            }
        }
        self.state = State::Backup;
        out.push(GroupOutput::Notify {
            state: State::Backup,
        });
    }

    /// `vrrp_sync_fault`.
    fn sync_fault(&mut self, now: Instant, i: usize, out: &mut Vec<GroupOutput>) {
        if self.state == State::Fault {
            return;
        }
        self.log(out, State::Fault);
        for j in (0..self.members.len()).filter(|j| *j != i) {
            if self.members[j].state() != State::Fault {
                self.refresh_gates();
                let acts = self.members[j].sync_to_fault(now);
                Self::push(out, j, acts);
            }
        }
        self.state = State::Fault;
        out.push(GroupOutput::Notify {
            state: State::Fault,
        });
    }
}
