//! The VRRP state machine for one virtual router instance.
//!
//! Sans-IO: [`Instance::handle`] takes the current time and one [`Input`] and
//! returns the [`Action`]s the driver must carry out, in order;
//! [`Instance::poll_at`] says when the next timer is due. Nothing in here
//! reads a clock, opens a socket or spawns a task, so every scenario can be
//! replayed on a virtual clock.
//!
//! The behaviour follows keepalived (vrrp.c, vrrp_scheduler.c, vrrp_track.c)
//! rather than the RFC where the two differ, because operators rely on
//! keepalived's timings and log lines. Where this code deliberately departs
//! from keepalived, the comment says so.
//!
//! Timer arithmetic is in microseconds, with keepalived's integer
//! truncations, so that deadlines match keepalived's to the microsecond.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::types::{Centisecs, Family, Priority, Version, Vrid};
use crate::wire::{Addrs, Advert, Auth, Counter, DecodeError, Kind, RxConfig};

/// [`Instance::log_limited`] kinds. keepalived 2.2.7 logs every rejected
/// packet; only the later `owner_ignore_adverts` line is limited.
const RL_OWNER_IGNORE: u32 = 1;

/// Instance state. `Init` is before [`Input::Startup`]; `Stop` after
/// [`Input::Shutdown`]. Fault is keepalived's addition to the RFC machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    #[default]
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl State {
    /// The word keepalived uses in logs and notify arguments.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Init => "INIT",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
            Self::Stop => "STOP",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The `state` keyword: where the instance would like to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartState {
    Master,
    Backup,
}

/// Gratuitous ARP / unsolicited NA schedule (keepalived `garp_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpCfg {
    /// `garp_master_delay`: second burst after becoming master (0 = none).
    pub master_delay: Duration,
    /// `garp_master_repeat`: messages per VIP per burst.
    pub master_repeat: u32,
    /// `garp_master_refresh`: periodic bursts while master.
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`.
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_delay`: second burst after a lower-priority advert.
    pub lower_prio_delay: Duration,
    /// `garp_lower_prio_repeat` (0 = no burst on lower-priority adverts).
    pub lower_prio_repeat: u32,
    /// `garp_extra_if`: while master, this often one gratuitous ARP / NA on
    /// each of the VIPs' other interfaces ([`Action::SendExtraIfGarps`]).
    /// `None` when off, or when the instance has no such interface (the
    /// driver, which resolves the interfaces, clears it then, as keepalived
    /// does at configuration time).
    #[serde(default)]
    pub extra_if: Option<Duration>,
    /// `garp_extra_if all`: every other interface of the VIPs counts, not
    /// only VMACs. For the driver and the dump; the timer ignores it.
    #[serde(default)]
    pub extra_if_all: bool,
}

impl Default for GarpCfg {
    /// keepalived's defaults (vrrp.h VRRP_GARP_*; the lower-priority values
    /// default to the master ones).
    fn default() -> Self {
        Self {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            extra_if: None,
            extra_if_all: false,
        }
    }
}

/// One instance's configuration, already resolved by the daemon (defaults
/// applied, strict-mode rules enforced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCfg {
    /// The `vrrp_instance` name, which prefixes every log line as `(name)`.
    pub name: String,
    pub interface: String,
    pub vrid: Vrid,
    pub version: Version,
    /// Base priority; 255 makes this the address owner.
    pub priority: Priority,
    pub advert_int: Centisecs,
    pub state: StartState,
    /// Our source address: what peers see and what ties are broken on.
    pub primary_ip: IpAddr,
    /// The advertised VIPs (not the excluded ones).
    pub vips: Addrs,
    /// VRRPv2 over IPv4 only.
    pub auth: Auth,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    pub down_timer_adverts: u8,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub skip_check_adv_addr: bool,
    pub owner_ignore_adverts: bool,
    pub notify_priority_changes: bool,
    pub unicast: bool,
    pub v3_checksum_as_v2: bool,
    pub garp: GarpCfg,
}

impl InstanceCfg {
    /// A configuration with keepalived's defaults for everything not given.
    pub fn new(name: &str, interface: &str, vrid: Vrid, primary_ip: IpAddr, vips: Addrs) -> Self {
        let version = match vips.family() {
            Family::V4 => Version::V2,
            Family::V6 => Version::V3,
        };
        Self {
            name: name.to_owned(),
            interface: interface.to_owned(),
            vrid,
            version,
            priority: Priority::DEFAULT,
            advert_int: Centisecs::from_secs(1),
            state: StartState::Backup,
            primary_ip,
            vips,
            auth: Auth::None,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            skip_check_adv_addr: false,
            owner_ignore_adverts: false,
            notify_priority_changes: false,
            unicast: false,
            v3_checksum_as_v2: false,
            garp: GarpCfg::default(),
        }
    }

    /// What the codec must check received packets against.
    pub fn rx_config(&self) -> RxConfig {
        RxConfig {
            version: self.version,
            auth: self.auth.clone(),
            adver_int: self.advert_int,
            unicast: self.unicast,
            v3_checksum_as_v2: self.v3_checksum_as_v2,
        }
    }

    fn validate(&self) -> Result<(), CfgError> {
        match self.version {
            Version::V2 if self.advert_int.as_v2_secs().is_none() => {
                return Err(CfgError::AdvertInt(self.advert_int));
            }
            Version::V3 if self.advert_int.get() == 0 || self.advert_int > Centisecs::V3_MAX => {
                return Err(CfgError::AdvertInt(self.advert_int));
            }
            _ => {}
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(CfgError::DownTimerAdverts(self.down_timer_adverts));
        }
        if self.priority == Priority::STOP {
            return Err(CfgError::Priority);
        }
        let ip_family = if self.primary_ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        if ip_family != self.vips.family() {
            return Err(CfgError::FamilyMismatch);
        }
        if self.vips.len() > usize::from(u8::MAX) {
            return Err(CfgError::TooManyVips(self.vips.len()));
        }
        if self.auth != Auth::None && (self.version == Version::V3 || ip_family == Family::V6) {
            return Err(CfgError::Auth);
        }
        Ok(())
    }
}

/// A configuration the state machine cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CfgError {
    #[error("advert_int {} cs is not valid for this VRRP version", .0.get())]
    AdvertInt(Centisecs),
    #[error("down_timer_adverts {0} not in 1..=100")]
    DownTimerAdverts(u8),
    #[error("priority must be 1..=255")]
    Priority,
    #[error("VIP family differs from the source address family")]
    FamilyMismatch,
    #[error("{0} VIPs do not fit an advert")]
    TooManyVips(usize),
    #[error("authentication is only supported with VRRPv2 over IPv4")]
    Auth,
}

/// Something whose failure puts the instance in FAULT (weight 0 trackers
/// and the instance's own interface).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tracker {
    Interface(String),
    Script(String),
    File(String),
    Process(String),
    Bfd(String),
}

/// What happened, as seen by one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The end of keepalived's `vrrp_complete_init`: an instance already
    /// in FAULT (a fault given before, or its sync group's) logs
    /// "entering FAULT state" and notifies FAULT. [`Input::Startup`] does
    /// this itself when not done; a driver starting several instances sends
    /// this to all of them first, so that these lines come before any
    /// instance starts, in keepalived's order.
    Prepare,
    /// Leave Init (keepalived `vrrp_init_state`). Fault and weight inputs
    /// given before this set the starting conditions.
    Startup,
    /// Time passed; run whatever timers are due.
    Tick,
    /// A packet for this VRID, already decoded with [`InstanceCfg::rx_config`].
    Advert {
        src: IpAddr,
        pkt: Result<Advert, DecodeError>,
    },
    /// The instance's own interface went up / down.
    IfaceUp,
    IfaceDown,
    /// One of our VIPs/eVIPs (tracked, not `no_track`) was deleted behind
    /// our back (keepalived `set_vrrp_backup`): a master leaves MASTER,
    /// priority 0 sent and VIPs removed, and takes it back after its skew
    /// time unless another master advertises, so the VIP is put back.
    AddressRemoved,
    /// Before [`Input::Startup`] only: this weight-0 tracker has not
    /// reported yet and holds the instance until it does (keepalived
    /// `num_script_init`). The instance starts in FAULT silently (no log
    /// line, no notify, no adverts, no timer); the tracker's first
    /// [`Input::TrackerFault`] then brings it up ("Entering BACKUP STATE",
    /// or MASTER for an address owner wanting it) or reports the FAULT.
    /// A sync group waits for all its members' pending trackers.
    TrackerPending {
        tracker: Tracker,
    },
    /// A weight-0 tracker changed: `failed` puts the instance in FAULT.
    TrackerFault {
        tracker: Tracker,
        failed: bool,
    },
    /// A weighted tracker's current contribution to the priority (see
    /// [`tracker_contribution`]).
    TrackWeight {
        tracker: String,
        weight: i32,
    },
    /// A weighted track_file's status: its value × weight, clamped to
    /// -254..=253 as keepalived clamps it. -254 is a fault; leaving it adds
    /// the status back before the instance comes up (keepalived
    /// `process_update_vrrp_track_file_status`).
    TrackFile {
        file: String,
        status: i32,
    },
    /// The daemon is stopping.
    Shutdown,
}

/// A weighted track_file status at or below this is a fault.
pub const TRACK_FILE_FAULT: i32 = -254;

/// The key of a weighted track_file's share among the instance's weights.
pub fn file_weight_key(file: &str) -> String {
    format!("file {file}")
}

/// Why a transition happened, for notify scripts and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Startup,
    /// The master-down timer expired.
    MasterNoResponse,
    /// The master sent priority 0.
    Priority0,
    /// We discarded a lower-priority master's adverts and took over.
    Preempted,
    /// A higher-priority (or equal priority, higher IP) advert arrived.
    HigherPriority,
    Fault,
    FaultCleared,
    /// Moved by its sync group.
    SyncGroup,
    /// One of its addresses was deleted while MASTER.
    AddressRemoved,
    Shutdown,
}

/// A state change, with the priority keepalived passes to notify scripts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    pub priority: Priority,
}

/// A log line in keepalived's exact words. `detail` lines are only printed
/// by keepalived with `-D` (`LOG_DETAIL`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub detail: bool,
    pub text: String,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send this advert (to the multicast group or each unicast peer).
    SendAdvert(Advert),
    /// Add VIPs, eVIPs, virtual routes and rules.
    AddVips,
    /// Remove them.
    DelVips,
    /// Gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every VIP and
    /// eVIP, `repeat` times each.
    SendGratuitousArps {
        repeat: u32,
    },
    /// `garp_extra_if`: one gratuitous ARP (IPv4) / unsolicited NA (IPv6)
    /// on each of the instance's extra interfaces, for the first VIP or
    /// eVIP on it (keepalived `vrrp_send_vmac_update`). Which interfaces
    /// count is the driver's business: it resolves them.
    SendExtraIfGarps,
    /// Run notify scripts / FIFO for a state change.
    Notify(Transition),
    /// `notify_master_rx_lower_pri` / FIFO `MASTER_RX_LOWER_PRI`.
    NotifyMasterRxLowerPri,
    /// `notify_priority_changes`: FIFO MASTER/BACKUP_PRIORITY_CHANGE.
    NotifyPriority {
        state: State,
        priority: Priority,
    },
    Log(LogLine),
}

/// keepalived's per-instance statistics (`vrrp_stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
    pub chk_err: u64,
    pub vers_err: u64,
}

impl Stats {
    fn bump(&mut self, c: Counter) {
        let n = match c {
            Counter::PacketLenErr => &mut self.packet_len_err,
            Counter::IpTtlErr => &mut self.ip_ttl_err,
            Counter::VersErr => &mut self.vers_err,
            Counter::InvalidAuthtype => &mut self.invalid_authtype,
            Counter::AuthtypeMismatch => &mut self.authtype_mismatch,
            Counter::AuthFailure => &mut self.auth_failure,
            Counter::ChkErr => &mut self.chk_err,
            Counter::InvalidTypeRcvd => &mut self.invalid_type_rcvd,
            Counter::AddrListErr => &mut self.addr_list_err,
        };
        *n += 1;
    }
}

/// A weighted tracker's contribution to the priority, as keepalived counts
/// it: a positive weight adds while the tracker is up, a negative one
/// subtracts while it is down; `reverse` swaps up and down.
pub fn tracker_contribution(weight: i32, reverse: bool, up: bool) -> i32 {
    let up = up != reverse;
    match (weight > 0, up) {
        (true, true) | (false, false) => weight,
        _ => 0,
    }
}

/// The tracker state a reloaded instance starts from: failed weight-0
/// trackers and weighted trackers' contributions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerState {
    pub faults: BTreeSet<Tracker>,
    pub weights: BTreeMap<String, i32>,
}

impl TrackerState {
    /// Folds tracker inputs (as given before [`Input::Startup`]) into a
    /// state; `interface` is the instance's own interface.
    pub fn from_inputs<'a>(interface: &str, inputs: impl IntoIterator<Item = &'a Input>) -> Self {
        let mut s = Self::default();
        for i in inputs {
            match i {
                Input::IfaceDown => {
                    s.faults.insert(Tracker::Interface(interface.to_owned()));
                }
                Input::IfaceUp => {
                    s.faults.remove(&Tracker::Interface(interface.to_owned()));
                }
                Input::TrackerFault { tracker, failed } => {
                    if *failed {
                        s.faults.insert(tracker.clone());
                    } else {
                        s.faults.remove(tracker);
                    }
                }
                Input::TrackWeight { tracker, weight } => {
                    s.weights.insert(tracker.clone(), *weight);
                }
                Input::TrackFile { file, status } => {
                    let tracker = Tracker::File(file.clone());
                    if *status <= TRACK_FILE_FAULT {
                        s.faults.insert(tracker);
                        s.weights.remove(&file_weight_key(file));
                    } else {
                        s.faults.remove(&tracker);
                        s.weights.insert(file_weight_key(file), *status);
                    }
                }
                _ => {}
            }
        }
        s
    }
}

/// What a sync group tells a member before each input (keepalived reads the
/// same facts from the group while handling it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SyncGate {
    pub group_state: State,
    /// Every other member wants MASTER (`vrrp_sync_can_goto_master`).
    pub others_want_master: bool,
    /// Some other member has a fault of its own.
    pub others_faulted: bool,
    /// Some other member waits for a tracker's first result (keepalived
    /// `num_member_init`): the whole group is held.
    pub others_pending: bool,
}

impl SyncGate {
    fn can_goto_master(&self) -> bool {
        self.group_state == State::Master || self.others_want_master
    }
}

/// One VRRP instance. See the module docs.
#[derive(Clone, Debug)]
pub struct Instance {
    cfg: InstanceCfg,
    state: State,
    /// The state we would be in disregarding the sync group.
    wantstate: State,
    total_priority: i32,
    effective: Priority,
    weights: BTreeMap<String, i32>,
    faults: BTreeSet<Tracker>,
    /// Weight-0 trackers without a first result (see
    /// [`Input::TrackerPending`]).
    pending: BTreeSet<Tracker>,
    /// RFC 5798 Master_Adver_Interval.
    master_adver_int: Centisecs,
    /// keepalived `ms_down_timer`, µs: what the next backup deadline is
    /// computed from.
    ms_down_timer: u64,
    /// keepalived `sands`: master advert timer or backup down timer.
    sands: Option<Instant>,
    preempt_time: Option<Instant>,
    vipset: bool,
    master_saddr: Option<IpAddr>,
    master_priority: Priority,
    next_master_reason: Reason,
    rlflags: u32,
    garp_delay_at: Option<Instant>,
    garp_refresh_at: Option<Instant>,
    garp_lower_prio_at: Vec<Instant>,
    /// keepalived `vmac_garp_timer`: when the next `garp_extra_if` burst
    /// is due. Checked when an advert is sent, like the refresh, and never
    /// cleared (keepalived's dump shows the last value).
    garp_extra_at: Option<Instant>,
    /// Startup has run: Init/Fault before it only record conditions.
    started: bool,
    /// [`Input::Prepare`] has run.
    prepared: bool,
    /// Reload: this virtual router was in FAULT in the running
    /// configuration, so its FAULT is not announced again.
    fault_known: bool,
    /// Built by a reload: no start-up clean-up of addresses.
    reload_start: bool,
    notifies_sent: bool,
    /// keepalived `ipsecah_counter`: one AH sequence number for both
    /// directions. Sending counts it up; an accepted advert raises it to
    /// the sender's, so a pair follows whoever numbers higher. Kept across
    /// reloads.
    ah_seq: u32,
    /// The counter ran out while sending; the next MASTER restarts it.
    ah_cycle: bool,
    stats: Stats,
    pub(crate) gate: Option<SyncGate>,
}

impl Instance {
    /// Validate `cfg` and build the instance in Init. keepalived's
    /// run-time resets apply: `nopreempt` and `preempt_delay` do nothing for
    /// an address owner or an instance configured `state MASTER`.
    pub fn new(cfg: InstanceCfg) -> Result<Self, CfgError> {
        let cfg = Self::checked(cfg)?;
        let wantstate = match cfg.state {
            StartState::Master => State::Master,
            StartState::Backup => State::Backup,
        };
        Ok(Self {
            state: State::Init,
            wantstate,
            total_priority: i32::from(cfg.priority.get()),
            effective: cfg.priority,
            weights: BTreeMap::new(),
            faults: BTreeSet::new(),
            pending: BTreeSet::new(),
            master_adver_int: cfg.advert_int,
            ms_down_timer: 0,
            sands: None,
            preempt_time: None,
            vipset: false,
            master_saddr: None,
            master_priority: Priority::STOP,
            next_master_reason: Reason::MasterNoResponse,
            rlflags: 0,
            garp_delay_at: None,
            garp_refresh_at: None,
            garp_lower_prio_at: Vec::new(),
            garp_extra_at: None,
            started: false,
            prepared: false,
            fault_known: false,
            reload_start: false,
            notifies_sent: false,
            ah_seq: 0,
            ah_cycle: false,
            stats: Stats::default(),
            gate: None,
            cfg,
        })
    }

    fn checked(mut cfg: InstanceCfg) -> Result<InstanceCfg, CfgError> {
        cfg.validate()?;
        if cfg.priority.is_owner() || cfg.state == StartState::Master {
            cfg.nopreempt = false;
            cfg.preempt_delay = Duration::ZERO;
        }
        Ok(cfg)
    }

    pub fn cfg(&self) -> &InstanceCfg {
        &self.cfg
    }

    /// Whether the VIPs are up (keepalived `vipset`).
    pub fn vips_set(&self) -> bool {
        self.vipset
    }

    /// Reload: the instance this one replaces was in FAULT; a FAULT at
    /// startup is then not logged or notified again (keepalived
    /// `vrrp_complete_init` skips instances whose old state was FAULT).
    pub fn continues_fault(&mut self) {
        self.fault_known = true;
    }

    /// Reload: this instance starts with the new configuration. keepalived
    /// clears leftover addresses only when the daemon starts
    /// (`vrrp_restore_interfaces_startup`), not for an instance a reload
    /// brings in.
    pub fn started_by_reload(&mut self) {
        self.reload_start = true;
    }

    /// When the next `garp_extra_if` burst is due (keepalived
    /// `vmac_garp_timer`); `None` if never armed.
    pub fn garp_extra_at(&self) -> Option<Instant> {
        self.garp_extra_at
    }

    /// Whether [`Input::Startup`] has run.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Reload: take a new configuration of the same virtual router and keep
    /// the state (keepalived `vrrp_complete_init` copying the old state,
    /// `restore_vrrp_state`, then `vrrp_init_state` for a running instance).
    ///
    /// Meant for an instance in BACKUP or MASTER; the caller starts one in
    /// another state afresh. Tracker state is replaced by `trackers` (what
    /// the new configuration tracks, with current values), and the
    /// priority recomputed from it without a log line, as keepalived
    /// builds a new instance. A MASTER stays MASTER without an election,
    /// re-adds its (new) VIPs, sends gratuitous ARPs if `addrs_added`, and
    /// advertises at once with its new priority and addresses; a BACKUP
    /// restarts its down timer. A tracker now failed moves it to FAULT.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        cfg: InstanceCfg,
        trackers: TrackerState,
        addrs_added: bool,
    ) -> Result<Vec<Action>, CfgError> {
        let cfg = Self::checked(cfg)?;
        let mut out = Vec::new();
        self.cfg = cfg;
        self.weights = trackers.weights;
        self.faults = trackers.faults;
        self.total_priority =
            i32::from(self.cfg.priority.get()) + self.weights.values().sum::<i32>();
        self.effective = if self.cfg.priority.is_owner() {
            self.cfg.priority
        } else {
            // Clamped to 1..=254, so the cast cannot truncate.
            Priority(self.total_priority.clamp(1, 254) as u8)
        };
        self.master_adver_int = self.cfg.advert_int;
        self.rlflags = 0;
        self.preempt_time = None;
        self.gate = None;
        // The old instance's delayed bursts do not survive a reload.
        self.garp_delay_at = None;
        self.garp_lower_prio_at.clear();
        if !self.faults.is_empty() {
            self.wantstate = State::Fault;
            if self.state == State::Master {
                self.leave_master(now, &mut out, true, Reason::Fault);
            } else {
                let from = self.state;
                self.leave_fault(now, &mut out, from, Reason::Fault);
            }
            return Ok(out);
        }
        match self.state {
            State::Master => {
                self.wantstate = State::Master;
                if self.vipset {
                    out.push(Action::AddVips);
                    let garp = &self.cfg.garp;
                    if addrs_added && garp.master_repeat > 0 {
                        out.push(Action::SendGratuitousArps {
                            repeat: garp.master_repeat,
                        });
                    }
                }
                // keepalived's new instance has no refresh time yet, so its
                // first advert refreshes, unless addresses were just added.
                self.garp_refresh_at = self
                    .cfg
                    .garp
                    .master_refresh
                    .map(|r| if addrs_added { now + r } else { now });
                // Nor a garp_extra_if time (a zero `vmac_garp_timer`): its
                // first advert sends on the extra interfaces.
                self.garp_extra_at = self.cfg.garp.extra_if.map(|_| now);
                // `reload_master`: advertise now, with the new settings.
                self.sands = Some(now);
            }
            State::Backup => {
                self.wantstate = State::Backup;
                self.garp_extra_at = None;
                self.master_saddr = None;
                self.master_priority = Priority::STOP;
                self.next_master_reason = Reason::MasterNoResponse;
                self.ms_down_timer = self.master_down();
                self.init_sands(now);
            }
            State::Init | State::Fault | State::Stop => {}
        }
        Ok(out)
    }

    /// Reload removed this instance (keepalived `clear_diff_vrrp`): a
    /// MASTER sends a priority-0 advert and removes its addresses; the
    /// instance ends in Stop without a STOP notify (the caller notifies
    /// DELETED or FAULT as keepalived does).
    pub fn remove(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Master {
            self.restore_interface(&mut out, true);
        }
        self.state = State::Stop;
        self.sands = None;
        self.cancel_garps();
        out
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The state the instance wants, ignoring its sync group.
    pub fn wantstate(&self) -> State {
        self.wantstate
    }

    pub fn effective_priority(&self) -> Priority {
        self.effective
    }

    /// The interval the current master advertises (ours when master).
    pub fn master_adver_int(&self) -> Centisecs {
        self.master_adver_int
    }

    /// Address of the last master heard from.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_saddr
    }

    /// Priority of the last master heard from.
    pub fn master_priority(&self) -> Priority {
        self.master_priority
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// keepalived's "print and clear" stats signal.
    pub fn clear_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Whether the instance has a fault of its own (not just its group's).
    pub fn is_faulted(&self) -> bool {
        !self.faults.is_empty()
    }

    /// Whether a weight-0 tracker has not reported yet (see
    /// [`Input::TrackerPending`]).
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// How many trackers hold the instance in FAULT (keepalived's
    /// `num_script_if_fault`).
    pub fn fault_count(&self) -> usize {
        self.faults.len()
    }

    /// How many weight-0 trackers have not reported yet (keepalived's
    /// `num_script_init`).
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The instance's own timer: the next advert as MASTER, the master
    /// down deadline as BACKUP (keepalived's `sands`); `None` when off.
    pub fn read_timeout(&self) -> Option<Instant> {
        self.sands
    }

    /// The master down interval last armed, in microseconds (keepalived's
    /// `ms_down_timer`).
    pub fn master_down_timer(&self) -> u64 {
        self.ms_down_timer
    }

    /// The next instant at which [`Input::Tick`] has work to do.
    pub fn poll_at(&self) -> Option<Instant> {
        [self.sands, self.garp_delay_at]
            .into_iter()
            .chain(self.garp_lower_prio_at.iter().copied().map(Some))
            .flatten()
            .min()
    }

    /// Feed one input; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Prepare => self.prepare(&mut out),
            Input::Startup => self.startup(now, &mut out),
            Input::Tick => self.tick(now, &mut out),
            Input::Advert { src, pkt } => match self.state {
                State::Backup => self.backup_rx(now, src, pkt, &mut out),
                State::Master => self.master_rx(now, src, pkt, &mut out),
                // keepalived drops packets unseen while in FAULT or INIT.
                State::Init | State::Fault | State::Stop => {}
            },
            Input::IfaceUp => {
                let t = Tracker::Interface(self.cfg.interface.clone());
                self.tracker_up(now, t, &mut out);
            }
            Input::IfaceDown => {
                let t = Tracker::Interface(self.cfg.interface.clone());
                self.tracker_down(now, t, &mut out);
            }
            Input::AddressRemoved => {
                if self.state == State::Master {
                    self.wantstate = State::Backup;
                    self.leave_master(now, &mut out, true, Reason::AddressRemoved);
                    // "We want a quick transition back to master"
                    self.ms_down_timer = self.skew();
                    self.init_sands(now);
                }
            }
            Input::TrackerPending { tracker } => {
                // A starting condition only: once started, a tracker that
                // has not reported holds nothing (keepalived's reload state
                // SCRIPT_INIT_STATE_INIT_RELOAD).
                if !self.started && self.state != State::Stop {
                    self.pending.insert(tracker);
                }
            }
            Input::TrackerFault {
                tracker,
                failed: true,
            } => self.tracker_down(now, tracker, &mut out),
            Input::TrackerFault {
                tracker,
                failed: false,
            } => self.tracker_up(now, tracker, &mut out),
            Input::TrackWeight { tracker, weight } => {
                if self.state != State::Stop {
                    self.weights.insert(tracker, weight);
                    self.total_priority =
                        i32::from(self.cfg.priority.get()) + self.weights.values().sum::<i32>();
                    self.set_effective_priority(now, &mut out);
                }
            }
            Input::TrackFile { file, status } => self.track_file(now, file, status, &mut out),
            Input::Shutdown => self.shutdown(&mut out),
        }
        out
    }

    /// keepalived `process_update_vrrp_track_file_status`: into FAULT the
    /// file's share leaves the total but not the effective priority; out
    /// of it the share comes back and sets the effective priority silently
    /// before the instance is tried up; otherwise an ordinary weight change.
    fn track_file(&mut self, now: Instant, file: String, status: i32, out: &mut Vec<Action>) {
        if self.state == State::Stop {
            return;
        }
        let key = file_weight_key(&file);
        let tracker = Tracker::File(file);
        let faulted = self.faults.contains(&tracker);
        if status <= TRACK_FILE_FAULT {
            if !faulted {
                self.weights.remove(&key);
                self.total_priority =
                    i32::from(self.cfg.priority.get()) + self.weights.values().sum::<i32>();
                self.tracker_down(now, tracker, out);
            }
        } else if faulted {
            self.weights.insert(key, status);
            self.total_priority =
                i32::from(self.cfg.priority.get()) + self.weights.values().sum::<i32>();
            if !self.cfg.priority.is_owner() {
                // 1..=254, so the cast cannot truncate.
                self.effective = Priority(self.total_priority.clamp(1, 254) as u8);
            }
            self.tracker_up(now, tracker, out);
        } else {
            self.weights.insert(key, status);
            self.total_priority =
                i32::from(self.cfg.priority.get()) + self.weights.values().sum::<i32>();
            self.set_effective_priority(now, out);
        }
    }

    // ---- helpers ----------------------------------------------------------

    fn log(&self, out: &mut Vec<Action>, text: String) {
        out.push(Action::Log(LogLine {
            detail: false,
            text,
        }));
    }

    fn detail(&self, out: &mut Vec<Action>, text: String) {
        out.push(Action::Log(LogLine { detail: true, text }));
    }

    /// keepalived `log_rate_limited_error`: once per kind until the flags
    /// are cleared (on a master change or a state change).
    fn log_limited(&mut self, out: &mut Vec<Action>, kind: u32, text: String) {
        if self.rlflags & kind == 0 {
            self.rlflags |= kind;
            self.log(out, text);
        }
    }

    fn notify(&mut self, out: &mut Vec<Action>, from: State, reason: Reason) {
        // vrrp_notify.c: a member already in its group's state has been
        // notified through the group.
        if self.notifies_sent && self.gate.is_some_and(|g| g.group_state == self.state) {
            return;
        }
        self.notifies_sent = true;
        out.push(Action::Notify(Transition {
            from,
            to: self.state,
            reason,
            priority: self.effective,
        }));
    }

    fn advert(&self, priority: Priority) -> Advert {
        let auth = match &self.cfg.auth {
            Auth::Ah { key, .. } => Auth::Ah {
                key: *key,
                seq: self.ah_seq,
            },
            a => a.clone(),
        };
        let kind = match self.cfg.version {
            Version::V2 => Kind::V2 {
                // Validated in `new`.
                adver_int: self.cfg.advert_int.as_v2_secs().unwrap_or(1),
                auth,
            },
            Version::V3 => Kind::V3 {
                max_adver_int: self.cfg.advert_int,
            },
        };
        Advert {
            vrid: self.cfg.vrid,
            priority,
            kind,
            addrs: self.cfg.vips.clone(),
        }
    }

    fn send_advert(&mut self, out: &mut Vec<Action>, priority: Priority) {
        if self.cfg.auth.is_ah() {
            // keepalived stops counting just short of the top and marks the
            // counter cycled instead of wrapping (136 years at 1 s).
            if self.ah_seq > 0xFFFF_FFFD {
                self.ah_cycle = true;
            } else {
                self.ah_seq += 1;
            }
        }
        self.stats.advert_sent += 1;
        out.push(Action::SendAdvert(self.advert(priority)));
    }

    /// VRRP_TIMER_SKEW_CALC: v2 uses whole seconds, v3 the master's interval.
    fn skew_calc(&self, pri_val: u64) -> u64 {
        match self.cfg.version {
            Version::V3 => pri_val * (self.master_adver_int.as_micros() / 10_000) * 625 / 16,
            Version::V2 => pri_val * 1_000_000 / 256,
        }
    }

    /// RFC 3768 §6.1 / RFC 5798 §6.1 Skew_Time, from the effective priority
    /// (255 for an owner whatever its effective priority).
    fn skew(&self) -> u64 {
        let prio = if self.cfg.priority.is_owner() {
            255
        } else {
            self.effective.get()
        };
        self.skew_calc(256 - u64::from(prio))
    }

    /// RFC 3768 §6.1 / RFC 5798 §6.1 Master_Down_Interval.
    fn master_down(&self) -> u64 {
        u64::from(self.cfg.down_timer_adverts) * self.master_adver_int.as_micros() + self.skew()
    }

    /// keepalived `vrrp_init_instance_sands`.
    fn init_sands(&mut self, now: Instant) {
        self.sands = match self.state {
            State::Master => Some(now + self.cfg.advert_int.as_duration()),
            State::Backup => Some(now + Duration::from_micros(self.ms_down_timer)),
            State::Init | State::Fault | State::Stop => None,
        };
    }

    fn adopt_master_interval(&mut self, out: &mut Vec<Action>, advert: &Advert) {
        // RFC 5798 §6.4.2/§6.4.3: "Set Master_Adver_Interval to Adver
        // Interval contained in the ADVERTISEMENT".
        if self.cfg.version == Version::V3 && self.master_adver_int != advert.interval() {
            self.detail(
                out,
                format!(
                    "({}) advertisement interval updated from {}ms to {}ms by master",
                    self.cfg.name,
                    self.master_adver_int.as_micros() / 1000,
                    advert.interval().as_micros() / 1000
                ),
            );
            self.master_adver_int = advert.interval();
        }
    }

    fn cancel_garps(&mut self) {
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
        self.garp_lower_prio_at.clear();
    }

    // ---- RFC 3768 §6.4.1 / RFC 5798 §6.4.1: Initialize ---------------------

    /// keepalived `vrrp_complete_init`: every instance in FAULT, or in a
    /// sync group in FAULT, is set to FAULT, logged and notified.
    fn prepare(&mut self, out: &mut Vec<Action>) {
        if self.started || self.prepared || self.state == State::Stop {
            return;
        }
        self.prepared = true;
        let group_fault = self.gate.is_some_and(|g| g.group_state == State::Fault);
        if self.state != State::Fault && !group_fault {
            return;
        }
        self.state = State::Fault;
        if !self.fault_known {
            self.log(out, format!("({}) entering FAULT state", self.cfg.name));
            self.notify(out, State::Init, Reason::Fault);
        }
    }

    fn startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.prepare(out);
        self.started = true;
        let begin = self.state;
        if self.state == State::Fault {
            self.wantstate = State::Fault;
        }
        let new_state = self.gate.map_or(self.wantstate, |g| match g.group_state {
            State::Init => self.wantstate,
            s => s,
        });
        let is_up = self.faults.is_empty();
        // keepalived `vrrp_init_state` with `num_script_init` (or the sync
        // group's `num_member_init`): FAULT without a word; the log line
        // there compares the state before the assignment, so stays silent.
        let held = self.is_pending() || self.gate.is_some_and(|g| g.others_pending);
        if is_up
            && !held
            && new_state == State::Master
            && self.cfg.priority.is_owner()
            && self.wantstate == State::Master
        {
            // keepalived sets a 1 µs down timer and lets it expire; doing it
            // now gives the same actions without the extra wake-up.
            self.state = State::Backup;
            self.next_master_reason = Reason::Startup;
            self.master_down_expired(now, out);
            return;
        }
        self.ms_down_timer = if new_state == State::Backup && self.wantstate == State::Master {
            // A sync member wanting MASTER in a BACKUP group: wait one
            // advert interval to hear any existing master. A standalone
            // `state MASTER` instance (priority < 255) gets the full
            // Master_Down_Interval below. Measured against Debian's
            // keepalived 2.2.7 alone in a netns (2026-11-21): v2 prio 100
            // advert_int 1 went BACKUP (init) -> MASTER after 3.59 s
            // (3 x 1 s + skew 0.609 s; one interval + skew would be 1.6 s);
            // v3 prio 150 advert_int 0.1 after 314 ms (full interval: 341 ms;
            // one interval + skew: 141 ms); v3/IPv6 prio 200 after 302 ms
            // (full: 322 ms; one + skew: 122 ms).
            // So keepalived's man page ("3-4 intervals") holds for 2.2.7 and
            // the "one interval plus skew" reading does not.
            self.master_adver_int.as_micros() + self.skew_calc(1)
        } else {
            self.master_down()
        };
        self.next_master_reason = Reason::MasterNoResponse;
        // Remove anything left over from a previous run.
        if !self.reload_start {
            out.push(Action::DelVips);
        }
        if is_up && !held && new_state != State::Fault {
            self.log(
                out,
                format!("({}) Entering BACKUP STATE (init)", self.cfg.name),
            );
            self.state = State::Backup;
        } else {
            if begin != State::Fault && !held {
                self.log(
                    out,
                    format!("({}) Entering FAULT STATE (init)", self.cfg.name),
                );
            }
            self.state = State::Fault;
        }
        if begin != self.state && (self.state != State::Fault || !self.faults.is_empty()) {
            self.notify(out, State::Init, Reason::Startup);
        }
        self.init_sands(now);
    }

    // ---- timers ----------------------------------------------------------

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.sands.is_some_and(|t| t <= now) {
            match self.state {
                State::Backup => self.master_down_expired(now, out),
                State::Master => {
                    // RFC 3768 §6.4.3: "If the Adver_Timer fires ... Send an
                    // ADVERTISEMENT ... Reset the Adver_Timer".
                    self.master_tx(now, out, State::Master, Reason::MasterNoResponse);
                    self.init_sands(now);
                }
                State::Init | State::Fault | State::Stop => self.sands = None,
            }
        }
        if self.garp_delay_at.is_some_and(|t| t <= now) {
            self.garp_delay_at = None;
            if self.vipset && self.cfg.garp.master_repeat > 0 {
                out.push(Action::SendGratuitousArps {
                    repeat: self.cfg.garp.master_repeat,
                });
            }
        }
        let due = self
            .garp_lower_prio_at
            .iter()
            .filter(|t| **t <= now)
            .count();
        self.garp_lower_prio_at.retain(|t| *t > now);
        for _ in 0..due {
            if self.vipset {
                out.push(Action::SendGratuitousArps {
                    repeat: self.cfg.garp.lower_prio_repeat,
                });
            }
        }
    }

    /// RFC 3768 §6.4.2 / RFC 5798 §6.4.2: "If the Master_Down_Timer fires".
    fn master_down_expired(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.detail(
            out,
            format!("({}) Receive advertisement timeout", self.cfg.name),
        );
        self.wantstate = State::Master;
        let reason = self.next_master_reason;
        self.goto_master(now, out, reason);
    }

    /// keepalived `vrrp_state_goto_master`. A sync group can hold us in
    /// BACKUP until every member wants MASTER.
    fn goto_master(&mut self, now: Instant, out: &mut Vec<Action>, reason: Reason) {
        if let Some(g) = self.gate
            && !g.can_goto_master()
        {
            self.wantstate = State::Master;
            self.ms_down_timer = self.master_down();
            self.init_sands(now);
            return;
        }
        self.force_master(now, out, reason);
    }

    fn force_master(&mut self, now: Instant, out: &mut Vec<Action>, reason: Reason) {
        self.rlflags = 0;
        // keepalived `vrrp_state_goto_master`: a cycled AH counter restarts.
        if self.ah_cycle {
            self.ah_cycle = false;
            self.ah_seq = 0;
        }
        let from = self.state;
        self.state = State::Master;
        self.init_sands(now);
        self.master_tx(now, out, from, reason);
    }

    /// keepalived `vrrp_state_master_tx`: the advert goes first so that the
    /// old master drops the VIPs before our gratuitous ARPs.
    fn master_tx(&mut self, now: Instant, out: &mut Vec<Action>, from: State, reason: Reason) {
        self.send_advert(out, self.effective);
        if !self.vipset {
            self.log(out, format!("({}) Entering MASTER STATE", self.cfg.name));
            self.become_master(now, out, from, reason);
        } else {
            if self.garp_refresh_at.is_some_and(|t| t <= now) {
                // keepalived checks garp_master_refresh when it sends an
                // advert (vrrp_state_master_tx), so a refresh goes out with
                // the first advert at or after its time, and the next one
                // counts from then.
                self.garp_refresh_at = self.cfg.garp.master_refresh.map(|r| now + r);
                if self.cfg.garp.master_refresh_repeat > 0 {
                    out.push(Action::SendGratuitousArps {
                        repeat: self.cfg.garp.master_refresh_repeat,
                    });
                }
            }
            // garp_extra_if the same way, after the refresh. keepalived
            // re-arms its timer from the time after sending, a little
            // before the next advert's, so an advert due at the very
            // deadline sends (hence `<=` here).
            if let Some(every) = self.cfg.garp.extra_if
                && self.garp_extra_at.is_none_or(|t| t <= now)
            {
                self.garp_extra_at = Some(now + every);
                out.push(Action::SendExtraIfGarps);
            }
        }
    }

    /// RFC 3768 §6.4.2: "Transition to the {Master} state": VIPs, GARPs,
    /// notifies (keepalived `vrrp_state_become_master`).
    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>, from: State, reason: Reason) {
        self.stats.become_master += 1;
        if self.cfg.version == Version::V3 && self.master_adver_int != self.cfg.advert_int {
            // keepalived only resets this when run with -D (the assignment
            // sits inside its log statement's `if`); we always do, as the
            // master advertises its own interval.
            self.detail(
                out,
                format!(
                    "({}) changing advert interval from {}ms to locally configured {}ms",
                    self.cfg.name,
                    self.master_adver_int.as_micros() / 1000,
                    self.cfg.advert_int.as_micros() / 1000
                ),
            );
            self.master_adver_int = self.cfg.advert_int;
        }
        out.push(Action::AddVips);
        self.vipset = true;
        let garp = &self.cfg.garp;
        if garp.master_repeat > 0 {
            out.push(Action::SendGratuitousArps {
                repeat: garp.master_repeat,
            });
        }
        self.garp_delay_at = (!garp.master_delay.is_zero()).then(|| now + garp.master_delay);
        // The refresh period starts now, not after the delayed burst (keepalived
        // vrrp_state_become_master; verified by the netns GARP test).
        self.garp_refresh_at = garp.master_refresh.map(|r| now + r);
        // garp_extra_if: nothing extra now; the first burst comes with the
        // first advert one interval on (vrrp_state_become_master).
        self.garp_extra_at = garp.extra_if.map(|e| now + e);
        self.notify(out, from, reason);
    }

    /// keepalived `vrrp_restore_interface`.
    fn restore_interface(&mut self, out: &mut Vec<Action>, send_stop: bool) {
        if send_stop {
            // RFC 3768 §6.4.3: on shutdown "Send an ADVERTISEMENT with
            // Priority = 0".
            self.send_advert(out, Priority::STOP);
            self.stats.pri_zero_sent += 1;
            self.detail(out, format!("({}) sent 0 priority", self.cfg.name));
        }
        self.cancel_garps();
        if self.vipset {
            out.push(Action::DelVips);
            self.vipset = false;
        }
    }

    /// keepalived `vrrp_state_leave_master`, towards `wantstate`.
    fn leave_master(
        &mut self,
        now: Instant,
        out: &mut Vec<Action>,
        send_stop: bool,
        reason: Reason,
    ) {
        self.rlflags = 0;
        match self.wantstate {
            State::Backup => {
                self.log(out, format!("({}) Entering BACKUP STATE", self.cfg.name));
                self.preempt_time = None;
            }
            State::Fault => {
                self.log(out, format!("({}) Entering FAULT STATE", self.cfg.name));
                self.send_advert(out, Priority::STOP);
            }
            _ => return,
        }
        self.restore_interface(out, send_stop);
        self.state = self.wantstate;
        self.notify(out, State::Master, reason);
        self.ms_down_timer = self.master_down();
        self.init_sands(now);
        self.stats.release_master += 1;
    }

    /// keepalived `vrrp_state_leave_fault`, towards `wantstate`; `from` is
    /// the state reported to notify scripts.
    fn leave_fault(&mut self, now: Instant, out: &mut Vec<Action>, from: State, reason: Reason) {
        if self.wantstate == State::Master {
            self.goto_master(now, out, reason);
        } else {
            if self.state != self.wantstate {
                self.log(
                    out,
                    format!(
                        "({}) Entering {} STATE",
                        self.cfg.name,
                        self.wantstate.keyword()
                    ),
                );
            }
            if self.wantstate == State::Fault && self.state == State::Master {
                self.send_advert(out, Priority::STOP);
                self.restore_interface(out, false);
            }
            self.state = self.wantstate;
            self.notify(out, from, reason);
            if self.state == State::Backup {
                self.preempt_time = None;
            }
        }
        self.master_adver_int = self.cfg.advert_int;
        self.ms_down_timer = self.master_down();
        self.init_sands(now);
    }

    // ---- faults and priority (keepalived vrrp_track.c) ---------------------

    fn tracker_down(&mut self, now: Instant, tracker: Tracker, out: &mut Vec<Action>) {
        if self.state == State::Stop || self.faults.contains(&tracker) {
            return;
        }
        // A held instance is already in FAULT: its first failure notifies
        // FAULT without an "Entering" line (keepalived `down_instance` ->
        // `vrrp_state_leave_fault` with state == wantstate).
        self.pending.remove(&tracker);
        if !self.started {
            // Before startup keepalived only records the fault and logs why.
            match &tracker {
                Tracker::Interface(i) => self.log(
                    out,
                    format!(
                        "({}): entering FAULT state (interface {i} down)",
                        self.cfg.name
                    ),
                ),
                Tracker::Script(s) => self.log(
                    out,
                    format!(
                        "({}): entering FAULT state due to script {s}",
                        self.cfg.name
                    ),
                ),
                // keepalived reports a weight-0 file as status -254.
                Tracker::File(f) => self.log(
                    out,
                    format!(
                        "({}): entering FAULT state (tracked file {f} has status -254)",
                        self.cfg.name
                    ),
                ),
                Tracker::Process(_) | Tracker::Bfd(_) => {}
            }
            self.faults.insert(tracker);
            self.state = State::Fault;
            return;
        }
        if let Tracker::File(f) = &tracker {
            self.detail(
                out,
                format!("({}): tracked file {f} now FAULT state", self.cfg.name),
            );
        }
        let already_down = !self.faults.is_empty();
        self.faults.insert(tracker);
        if !already_down {
            self.wantstate = State::Fault;
            if self.state == State::Master {
                self.leave_master(now, out, true, Reason::Fault);
            } else {
                let from = self.state;
                self.leave_fault(now, out, from, Reason::Fault);
            }
        }
    }

    /// keepalived `try_up_instance`, and `process_script_update_priority`
    /// for a first result (`leaving_init`).
    fn tracker_up(&mut self, now: Instant, tracker: Tracker, out: &mut Vec<Action>) {
        let left_init = self.pending.remove(&tracker);
        if !left_init && !self.faults.remove(&tracker) {
            return;
        }
        if !self.started {
            if !left_init && self.faults.is_empty() {
                // Cleared before startup: back to Init.
                self.state = State::Init;
            }
            return;
        }
        if let Tracker::File(f) = &tracker {
            self.detail(
                out,
                format!("({}): tracked file {f} leaving FAULT state", self.cfg.name),
            );
        }
        if !self.faults.is_empty() {
            return;
        }
        if self.is_pending() {
            // Still held by another tracker: only the wish changes.
            if !left_init {
                self.wantstate = State::Backup;
            }
            return;
        }
        if self.state != State::Fault || (left_init && self.gate.is_some_and(|g| g.others_pending))
        {
            return;
        }
        self.wantstate = if self.wantstate == State::Master && self.cfg.priority.is_owner() {
            State::Master
        } else {
            State::Backup
        };
        self.master_adver_int = self.cfg.advert_int;
        self.ms_down_timer = self.master_down();
        if let Some(g) = self.gate {
            if g.others_faulted || g.others_pending {
                // The group stays in FAULT until its last faulty member
                // recovers, and held until its last member leaves init.
                return;
            }
            if self.wantstate == State::Master && !g.can_goto_master() {
                self.wantstate = State::Backup;
            }
        }
        self.leave_fault(now, out, State::Fault, Reason::FaultCleared);
    }

    /// keepalived `vrrp_set_effective_priority`: base + weights clamped to
    /// 1..=254; an owner's priority never changes.
    fn set_effective_priority(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.cfg.priority.is_owner() {
            return;
        }
        // Clamped to 1..=254, so the cast cannot truncate.
        let new = Priority(self.total_priority.clamp(1, 254) as u8);
        if new == self.effective {
            return;
        }
        self.log(
            out,
            format!(
                "({}) Changing effective priority from {} to {}",
                self.cfg.name, self.effective, new
            ),
        );
        self.effective = new;
        let old = self.ms_down_timer;
        self.ms_down_timer = self.master_down();
        if self.state == State::Backup
            && let Some(sands) = self.sands
        {
            // Move the running down timer by the change in skew.
            self.sands = Some(if self.ms_down_timer >= old {
                sands + Duration::from_micros(self.ms_down_timer - old)
            } else {
                sands
                    .checked_sub(Duration::from_micros(old - self.ms_down_timer))
                    .unwrap_or(now)
            });
        }
        if self.cfg.notify_priority_changes {
            out.push(Action::NotifyPriority {
                state: self.state,
                priority: self.effective,
            });
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Stop {
            return;
        }
        if self.state == State::Master {
            self.restore_interface(out, true);
        }
        let from = self.state;
        self.state = State::Stop;
        self.sands = None;
        self.cancel_garps();
        // keepalived notifies STOP even through a sync group.
        self.gate = None;
        self.notify(out, from, Reason::Shutdown);
    }

    // ---- receiving ---------------------------------------------------------

    /// The part of keepalived's `vrrp_check_packet` that needs the instance:
    /// counters and logs for decode errors, then the checks that only log.
    fn check_packet(
        &mut self,
        out: &mut Vec<Action>,
        src: IpAddr,
        pkt: Result<Advert, DecodeError>,
        check_vip_addr: bool,
    ) -> Option<Advert> {
        let advert = match pkt {
            Err(e) => {
                if let Some(c) = e.counter() {
                    self.stats.bump(c);
                }
                if let Some(line) = e.log_line(&self.cfg.name) {
                    self.log(out, line);
                }
                return None;
            }
            Ok(a) => a,
        };
        if advert.vrid != self.cfg.vrid {
            return None;
        }
        let name = self.cfg.name.clone();
        if let Kind::V2 {
            auth: Auth::Ah { seq, .. },
            ..
        } = advert.kind
        {
            // keepalived's anti-replay check (vrrp_in_chk_ipsecah), after
            // the ICV and SPI the decoder verified.
            if seq <= self.ah_seq {
                self.log(
                    out,
                    format!(
                        "({name}) IPSEC-AH : sequence number {seq} already processed. Packet dropped. Local({})",
                        self.ah_seq
                    ),
                );
                self.stats.bump(Counter::AuthFailure);
                return None;
            }
            self.ah_seq = seq;
            if self.state == State::Backup {
                self.ah_cycle = false;
            }
        }
        if self.cfg.owner_ignore_adverts && self.effective.is_owner() {
            let line = format!("({name}) Dropping packet(s) from {src} since we are address owner");
            self.log_limited(out, RL_OWNER_IGNORE, line);
            return None;
        }
        self.stats.advert_rcvd += 1;
        // RFC 3768 §7.1: "MAY verify that the IP Address(es) associated
        // with the VRID are valid". keepalived 2.2.7 drops such an advert,
        // which makes a backup whose VIP list differs from its master's a
        // second master; we log its lines and keep the advert, as later
        // keepalived versions do.
        if check_vip_addr && advert.addrs.len() != self.cfg.vips.len() {
            let line = format!(
                "({name}) received an unexpected ip number count {}, expected {}!",
                advert.addrs.len(),
                self.cfg.vips.len()
            );
            self.log(out, line);
            self.stats.addr_list_err += 1;
        } else if check_vip_addr {
            let missing = self.cfg.vips.iter().find(|v| !advert.addrs.contains(*v));
            if let Some(missing) = missing {
                let line = format!(
                    "({name}) ip address associated with VRID {} not present in MASTER advert: {missing}",
                    self.cfg.vrid
                );
                self.log(out, line);
                self.stats.addr_list_err += 1;
            }
        }
        if advert.priority == Priority::STOP {
            self.stats.pri_zero_rcvd += 1;
        }
        Some(advert)
    }

    /// RFC 3768 §6.4.2 / RFC 5798 §6.4.2: "If an ADVERTISEMENT is received"
    /// in Backup (keepalived `vrrp_state_backup`).
    fn backup_rx(
        &mut self,
        now: Instant,
        src: IpAddr,
        pkt: Result<Advert, DecodeError>,
        out: &mut Vec<Action>,
    ) {
        let master_change = self.master_saddr != Some(src);
        let check_vips = master_change || !self.cfg.skip_check_adv_addr;
        let Some(advert) = self.check_packet(out, src, pkt, check_vips) else {
            // An ignored advert leaves the down timer running.
            return;
        };
        if master_change {
            self.rlflags = 0;
        }
        let prio = advert.priority;
        let preempt_delay_running =
            !self.cfg.preempt_delay.is_zero() && self.preempt_time.is_none_or(|t| t > now);
        if prio == Priority::STOP {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the
            // Master_Down_Timer to Skew_Time".
            self.detail(
                out,
                format!(
                    "({}) Backup received priority 0 advertisement",
                    self.cfg.name
                ),
            );
            self.ms_down_timer = self.skew();
            self.next_master_reason = Reason::Priority0;
        } else if self.cfg.nopreempt || prio >= self.effective || preempt_delay_running {
            // "If Preempt_Mode is False, or if the Priority in the
            // ADVERTISEMENT is greater than or equal to the local Priority":
            // accept, and reset the Master_Down_Timer.
            self.adopt_master_interval(out, &advert);
            self.ms_down_timer = self.master_down();
            self.master_saddr = Some(src);
            self.master_priority = prio;
            self.next_master_reason = Reason::MasterNoResponse;
            if !self.cfg.preempt_delay.is_zero() {
                if prio >= self.effective {
                    if self.preempt_time.take().is_some() {
                        self.detail(out, format!("({}) stop preempt delay", self.cfg.name));
                    }
                } else if self.preempt_time.is_none() {
                    let d = self.cfg.preempt_delay;
                    self.detail(
                        out,
                        format!(
                            "({}) start preempt delay ({}.{:06})",
                            self.cfg.name,
                            d.as_secs(),
                            d.subsec_micros()
                        ),
                    );
                    self.preempt_time = Some(now + d);
                }
            }
            // A sync group may have held us in BACKUP wanting MASTER; a
            // better master means we no longer want it.
            self.wantstate = State::Backup;
        } else {
            // "Otherwise: Discard the ADVERTISEMENT" - our down timer keeps
            // running and we take over when it fires.
            self.log(
                out,
                format!(
                    "({}) received lower priority ({prio}) advert from {src} - discarding",
                    self.cfg.name
                ),
            );
            self.next_master_reason = Reason::Preempted;
            self.master_saddr = Some(src);
            return;
        }
        self.init_sands(now);
    }

    /// RFC 3768 §6.4.3 / RFC 5798 §6.4.3: "If an ADVERTISEMENT is received"
    /// in Master (keepalived `vrrp_state_master_rx`).
    fn master_rx(
        &mut self,
        now: Instant,
        src: IpAddr,
        pkt: Result<Advert, DecodeError>,
        out: &mut Vec<Action>,
    ) {
        let Some(advert) = self.check_packet(out, src, pkt, true) else {
            // keepalived also restarts its advert timer here; we do not, so
            // a stream of bad packets cannot silence the master.
            return;
        };
        let name = self.cfg.name.clone();
        let prio = advert.priority;
        let mut ours = self.effective;
        // Sources of another family never compare (keepalived returns 0).
        let cmp = if src.is_ipv4() == self.cfg.primary_ip.is_ipv4() {
            src.cmp(&self.cfg.primary_ip)
        } else {
            std::cmp::Ordering::Equal
        };
        let higher = prio > ours || (prio == ours && cmp.is_gt());
        let mut sent = false;
        if prio == Priority::STOP || (self.cfg.higher_prio_send_advert && higher) {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an
            // ADVERTISEMENT; Reset the Adver_Timer".
            self.send_advert(out, ours);
            sent = true;
            if prio == Priority::STOP {
                self.detail(out, format!("({name}) Master received priority 0 message"));
                self.init_sands(now);
                return;
            }
        }
        if prio == ours {
            if cmp.is_eq() {
                self.log(
                    out,
                    format!("({name}) WARNING - equal priority advert received from remote host with our IP address."),
                );
            } else if ours.is_owner() {
                // keepalived 2.2.7 stops being an owner until the next
                // reload: base and effective priority 254, so this very
                // advert makes it yield, and the two settle by address as
                // ordinary routers.
                self.log(
                    out,
                    format!("({name}) CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority"),
                );
                let reduced = Priority(Priority::OWNER.get() - 1);
                self.cfg.priority = reduced;
                self.total_priority = i32::from(reduced.get()) + self.weights.values().sum::<i32>();
                self.effective = reduced;
                ours = reduced;
            }
        }
        if prio < ours || (prio == ours && cmp.is_lt()) {
            // "If the Priority in the ADVERTISEMENT is less than the local
            // Priority ... Discard"; keepalived also re-asserts itself.
            let suffix = if self.cfg.lower_prio_no_advert {
                ""
            } else {
                ", forcing new election"
            };
            self.log(
                out,
                format!("({name}) Received advert from {src} with lower priority {prio}, ours {ours}{suffix}"),
            );
            if let Kind::V2 {
                auth: Auth::Ah { seq, .. },
                ..
            } = advert.kind
            {
                // keepalived jumps past the lower advert's number so that
                // its own next adverts are accepted there.
                self.log(
                    out,
                    format!("({name}) IPSEC-AH : Syncing seq_num - Increment seq"),
                );
                self.ah_seq = seq.wrapping_add(1);
                self.ah_cycle = false;
            }
            if !self.cfg.lower_prio_no_advert {
                self.send_advert(out, ours);
                sent = true;
            }
            if self.cfg.garp.lower_prio_repeat > 0 {
                out.push(Action::SendGratuitousArps {
                    repeat: self.cfg.garp.lower_prio_repeat,
                });
                if !self.cfg.garp.lower_prio_delay.is_zero() {
                    self.garp_lower_prio_at
                        .push(now + self.cfg.garp.lower_prio_delay);
                }
            }
            out.push(Action::NotifyMasterRxLowerPri);
        } else if prio > ours || (prio == ours && cmp.is_gt()) {
            // "If the Priority in the ADVERTISEMENT is greater than the local
            // Priority, or ... equal ... and the primary IP Address of the
            // sender is greater": become Backup.
            let line = if prio > ours && !self.cfg.priority.is_owner() {
                format!(
                    "({name}) Master received advert from {src} with higher priority {prio}, ours {ours}"
                )
            } else {
                format!(
                    "({name}) Master received advert from {src} with same priority {prio} but higher IP address than ours"
                )
            };
            self.log(out, line);
            self.ah_cycle = false;
            self.adopt_master_interval(out, &advert);
            self.ms_down_timer = self.master_down();
            self.master_saddr = Some(src);
            self.master_priority = prio;
            self.wantstate = State::Backup;
            self.leave_master(now, out, false, Reason::HigherPriority);
            return;
        }
        if sent {
            // "Reset the Adver_Timer" after sending.
            self.init_sands(now);
        }
    }

    // ---- sync group operations (keepalived vrrp_sync.c) --------------------

    /// `vrrp_sync_master` on a member other than the one that moved.
    pub(crate) fn sync_to_master(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != State::Master && matches!(self.state, State::Backup | State::Fault) {
            self.wantstate = State::Master;
            self.force_master(now, &mut out, Reason::SyncGroup);
        }
        out
    }

    /// `vrrp_sync_backup` on another member.
    pub(crate) fn sync_to_backup(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            State::Backup | State::Stop | State::Init => {}
            State::Fault => {
                self.wantstate = State::Backup;
                self.leave_fault(now, &mut out, State::Fault, Reason::SyncGroup);
            }
            State::Master => {
                self.wantstate = State::Backup;
                self.leave_master(now, &mut out, false, Reason::SyncGroup);
            }
        }
        out
    }

    /// `vrrp_sync_fault` on another member.
    pub(crate) fn sync_to_fault(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            State::Fault | State::Stop | State::Init => {}
            State::Master => {
                self.wantstate = State::Fault;
                self.leave_master(now, &mut out, false, Reason::SyncGroup);
            }
            State::Backup => {
                self.wantstate = State::Fault;
                // keepalived sets the state first, so no "Entering" line.
                self.state = State::Fault;
                self.leave_fault(now, &mut out, State::Backup, Reason::SyncGroup);
            }
        }
        out
    }

    /// The lower-priority GARP burst a sync group sends on every member
    /// when one of them hears a lower-priority master.
    pub(crate) fn lower_prio_garp(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.vipset && self.cfg.garp.lower_prio_repeat > 0 {
            out.push(Action::SendGratuitousArps {
                repeat: self.cfg.garp.lower_prio_repeat,
            });
            if !self.cfg.garp.lower_prio_delay.is_zero() {
                self.garp_lower_prio_at
                    .push(now + self.cfg.garp.lower_prio_delay);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contribution_follows_keepalived() {
        assert_eq!(tracker_contribution(10, false, true), 10);
        assert_eq!(tracker_contribution(10, false, false), 0);
        assert_eq!(tracker_contribution(-10, false, true), 0);
        assert_eq!(tracker_contribution(-10, false, false), -10);
        assert_eq!(tracker_contribution(10, true, true), 0);
        assert_eq!(tracker_contribution(10, true, false), 10);
    }

    #[test]
    fn config_validation() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let vips = Addrs::V4(vec!["10.0.0.100".parse().unwrap()]);
        let base = InstanceCfg::new("VI_1", "eth0", Vrid::new(1).unwrap(), ip, vips);
        assert!(Instance::new(base.clone()).is_ok());
        let bad = InstanceCfg {
            advert_int: Centisecs(150),
            ..base.clone()
        };
        assert_eq!(
            Instance::new(bad).err(),
            Some(CfgError::AdvertInt(Centisecs(150)))
        );
        let v3 = InstanceCfg {
            version: Version::V3,
            advert_int: Centisecs(150),
            ..base.clone()
        };
        assert!(Instance::new(v3).is_ok());
        let v3auth = InstanceCfg {
            version: Version::V3,
            auth: Auth::pass(b"x"),
            ..base.clone()
        };
        assert_eq!(Instance::new(v3auth).err(), Some(CfgError::Auth));
        let fam = InstanceCfg {
            primary_ip: "fe80::1".parse().unwrap(),
            ..base
        };
        assert_eq!(Instance::new(fam).err(), Some(CfgError::FamilyMismatch));
    }

    #[test]
    fn skew_matches_keepalived_macros() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let vips = Addrs::V4(vec!["10.0.0.100".parse().unwrap()]);
        let cfg = InstanceCfg::new("VI_1", "eth0", Vrid::new(1).unwrap(), ip, vips);
        let v2 = Instance::new(cfg.clone()).unwrap();
        // (256 - 100) * 1 s / 256 = 609375 µs.
        assert_eq!(v2.skew(), 609_375);
        assert_eq!(v2.master_down(), 3_609_375);
        assert_eq!(v2.skew_calc(1), 3_906);
        let v3 = Instance::new(InstanceCfg {
            version: Version::V3,
            advert_int: Centisecs(50),
            ..cfg
        })
        .unwrap();
        // 156 * 50 * 625 / 16 = 304687 µs (truncated like keepalived).
        assert_eq!(v3.skew(), 304_687);
        assert_eq!(v3.master_down(), 1_804_687);
    }
}
