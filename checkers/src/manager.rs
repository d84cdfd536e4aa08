//! The LVS manager: turns checker verdicts into the IPVS table keepalived
//! would program, plus the log lines, notify scripts and FIFO lines it
//! would produce on the way. Sans-IO: `handle(event) -> Vec<Effect>` and
//! `desired() -> ipvs::Table`; the driver (crate::driver) runs the effects.
//!
//! The table is derived from state rather than edited, so it can never
//! drift from what the state says. The state follows keepalived's
//! ipwrapper.c: a real server is alive iff none of its checkers is failed;
//! it is in the pool iff alive and the VS's sorry server is not in use;
//! with `inhibit_on_failure` it stays in the table with weight 0 instead of
//! leaving it. Quorum (with hysteresis) swaps the sorry server in and out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ipvs::{Dest, DestKey, Fwd, ServiceKey, Table};

use crate::config::{CheckKind, CheckerCfg, LvsCfg, RsCfg, VsCfg};
use crate::ha_suspend::{self, AddrEvent, LocalAddrs};
use crate::script::Script;

/// Identifies one checker for the whole life of its task; kept over a
/// reload when the checker is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckerId(pub u64);

/// What the checker tasks report.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// keepalived's `update_svr_checker_state(up)`. `note` is what the
    /// checker's alert mail says beyond its kind: SMTP_CHECK's failure
    /// (`Connection timeout to server [..]:25`), MISC_CHECK's exit
    /// (`succeeded`, `failed`, `timed out`).
    Checker {
        id: CheckerId,
        up: bool,
        note: Option<String>,
    },
    /// MISC_CHECK with `misc_dynamic` exited 0 or 2..=255 with a status
    /// different from its last one.
    MiscStatus { id: CheckerId, status: u8 },
    /// FILE_CHECK read a new value from its file.
    FileValue { id: CheckerId, value: i64 },
    /// ha_suspend: an address was added to or removed from an interface
    /// of this host (the address monitor's RTM_NEWADDR/RTM_DELADDR).
    LocalAddr(AddrEvent),
    /// A checker's retry under way changed (keepalived's `retry_it`), and
    /// for HTTP_GET the url that failed; sent only on a change. Only the
    /// SIGUSR1 dump shows them.
    Retries {
        id: CheckerId,
        retry_it: u32,
        failed_url: Option<usize>,
    },
    /// MISC_CHECK ran its script: when it started (µs since the epoch) and
    /// the exit status keepalived keeps (`last_exit_code`). For the dump.
    MiscRan {
        id: CheckerId,
        at_us: u64,
        status: u32,
    },
}

/// What should happen, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A log line at INFO, text exactly as keepalived's.
    Log(String),
    /// A log line keepalived writes only with `-D` (LOG_DETAIL_BIT).
    Detail(String),
    /// Run a notify/quorum script (status ignored).
    Notify(Script),
    /// Write these bytes to the LVS notify FIFO(s).
    Fifo(Vec<u8>),
    /// Start a checker task.
    Start(Box<StartChecker>),
    /// Stop (drop) a checker task.
    Stop(CheckerId),
    /// Send an email alert (`smtp_alert`).
    Mail(Mail),
}

/// An email alert keepalived would send; the daemon adds the router id,
/// the headers and the SMTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// Subject `[ID] Realserver RS of virtual server VS - UP|DOWN` (the
    /// real server's state, whatever the checker said).
    RealServer {
        rs: String,
        vs: String,
        up: bool,
        body: String,
    },
    /// Subject `[ID] Virtualserver VS - UP|DOWN` (its quorum).
    VirtualServer { vs: String, up: bool, body: String },
}

/// The body of a checker's alert (check_tcp.c, check_http.c, check_smtp.c,
/// check_dns.c, check_udp.c, check_ping.c, check_misc.c); FILE_CHECK never
/// mails.
pub fn checker_mail_body(kind: &CheckKind, up: bool, note: Option<&str>) -> Option<String> {
    let sf = if up { "succeed" } else { "failed" };
    Some(match kind {
        CheckKind::Tcp => format!("=> TCP CHECK {sf} on service <="),
        CheckKind::Udp(_) => format!("=> UDP CHECK {sf} on service <="),
        CheckKind::Ping => format!("=> ICMP CHECK {sf} on service <="),
        CheckKind::Dns(_) => format!("=> DNS_CHECK: {sf} on service <="),
        CheckKind::Http(_) if up => "=> CHECK succeed on service <=".to_owned(),
        CheckKind::Http(_) => "=> CHECK failed on service : HTTP request failed <=".to_owned(),
        CheckKind::Smtp(_) => match note {
            _ if up => "=> CHECK succeed on service <=".to_owned(),
            Some(n) => format!("=> CHECK failed on service : {n} <="),
            None => "=> CHECK failed on service <=".to_owned(),
        },
        CheckKind::Misc(_) => format!(
            "=> MISC CHECK {} on service <=",
            note.unwrap_or(if up { "succeeded" } else { "failed" })
        ),
        CheckKind::File(_) => return None,
    })
}

/// Everything a checker task needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StartChecker {
    pub id: CheckerId,
    /// Shared with the manager's state: one copy per checker.
    pub cfg: Arc<CheckerCfg>,
    /// `FMT_RS`, used in the checker's log lines.
    pub rs_name: String,
    pub vs_name: String,
    /// ha_suspend's switch for this checker's probes; None when its
    /// virtual server has no ha_suspend (always probing).
    pub gate: Option<Gate>,
}

/// keepalived's `checker->enabled` as shared with a running checker task:
/// the task keeps its timer and its state while the gate is shut, but
/// skips the probes (check_tcp.c `tcp_connect_thread`: "Register a new
/// checker thread & return if checker is disabled").
#[derive(Debug, Clone)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    pub fn new(open: bool) -> Gate {
        Gate(Arc::new(AtomicBool::new(open)))
    }
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        self.is_open() == other.is_open()
    }
}

#[derive(Debug, Clone)]
struct CheckerSt {
    id: CheckerId,
    cfg: Arc<CheckerCfg>,
    is_up: bool,
    has_run: bool,
    /// keepalived's `checker->enabled` (ha_suspend).
    enabled: bool,
    /// Shared with the task when the VS has ha_suspend.
    gate: Option<Gate>,
    /// misc_dynamic / FILE_CHECK offset added to the RS weight.
    cur_weight: i64,
    /// keepalived's `retry_it` (for the dump; the task keeps its own).
    retry_it: u32,
}

/// What the dump shows of a few checker kinds, kept aside so that the
/// many TCP_CHECKs do not carry it.
#[derive(Debug, Clone, Copy, Default)]
struct DumpExtra {
    failed_url: Option<usize>,
    last_ran_us: u64,
    last_status: u32,
    file_value: i64,
}

#[derive(Debug, Clone)]
struct RsSt {
    cfg: RsCfg,
    alive: bool,
    /// Kept through a reload (keepalived's `rs->reloaded`, for the dump).
    reloaded: bool,
    effective_weight: i64,
    /// The effective weight when the last reload kept it
    /// (`peffective_weight`, for the dump; 0 before any).
    prev_weight: i64,
    checkers: Vec<CheckerSt>,
}

impl RsSt {
    fn failed(&self) -> usize {
        self.checkers.iter().filter(|c| !c.is_up).count()
    }
}

#[derive(Debug, Clone)]
struct VsSt {
    cfg: VsCfg,
    quorum_up: bool,
    sorry_alive: bool,
    /// Kept through a reload (`vs->reloaded`, for the dump).
    reloaded: bool,
    /// Which of `cfg.services` the last reload kept (empty before any):
    /// the dump's group entry `reloaded`.
    kept_services: Vec<bool>,
    rs: Vec<RsSt>,
}

/// Checker id → (vs, rs, checker) positions. Ids are handed out in
/// sequence, so a vector from the smallest live id does it in 12 bytes a
/// checker (a hash map takes 40 and more).
#[derive(Debug, Default)]
struct Index {
    base: u64,
    pos: Vec<[u32; 3]>,
}

impl Index {
    const NONE: [u32; 3] = [u32::MAX; 3];

    fn build(vss: &[VsSt]) -> Index {
        let ids = || {
            vss.iter()
                .flat_map(|v| v.rs.iter())
                .flat_map(|r| r.checkers.iter())
                .map(|c| c.id.0)
        };
        let (Some(lo), Some(hi)) = (ids().min(), ids().max()) else {
            return Index::default();
        };
        let mut pos = vec![Index::NONE; (hi - lo + 1) as usize];
        for (v, vs) in vss.iter().enumerate() {
            for (r, rs) in vs.rs.iter().enumerate() {
                for (c, ck) in rs.checkers.iter().enumerate() {
                    pos[(ck.id.0 - lo) as usize] = [v as u32, r as u32, c as u32];
                }
            }
        }
        Index { base: lo, pos }
    }

    fn get(&self, id: CheckerId) -> Option<(usize, usize, usize)> {
        let i = id.0.checked_sub(self.base)?;
        let p = *self.pos.get(usize::try_from(i).ok()?)?;
        (p != Index::NONE).then(|| (p[0] as usize, p[1] as usize, p[2] as usize))
    }
}

/// The IPVS entries of one virtual server in its present state.
fn vs_entries(vs: &VsSt, t: &mut Table) {
    for (key, svc) in &vs.cfg.services {
        // the service's own entry, not one table lookup per real
        // server: at 10,000 real servers those lookups were most
        // of a cold start's table building. A service two virtual
        // servers configure keeps the first one's settings and gets the
        // real servers of both: keepalived's second add of the service
        // fails (EEXIST), the adds of its real servers do not.
        let dests = &mut t
            .services
            .entry(*key)
            .or_insert_with(|| ipvs::model::VirtualService::new(svc.clone()))
            .dests;
        for rs in &vs.rs {
            let in_pool = rs.alive && !vs.sorry_alive;
            let weight = if in_pool {
                real_weight(rs.effective_weight)
            } else if rs.cfg.inhibit_on_failure {
                0
            } else {
                continue;
            };
            dests.insert(
                dest_key(key, rs.cfg.key, &rs.cfg.dest),
                Dest {
                    weight,
                    ..rs.cfg.dest
                },
            );
        }
        if let Some(s) = &vs.cfg.sorry_server {
            let dk = dest_key(key, s.key, &s.dest);
            if vs.sorry_alive {
                dests.insert(dk, s.dest);
            } else if s.inhibit {
                dests.insert(
                    dk,
                    Dest {
                        weight: 0,
                        ..s.dest
                    },
                );
            }
        }
    }
}

/// [`Manager::startup`]'s steps: virtual servers are added in order, each
/// step giving the IPVS entries of the ones it added; [`Startup::finish`]
/// starts the checkers. The effects are those of [`Manager::with_addrs`],
/// in its order.
pub struct Startup {
    m: Manager,
    out: Vec<Effect>,
}

impl Startup {
    /// Adds virtual servers as at start (`init_service_rs` and the quorum's
    /// first state) and returns their IPVS entries: what keepalived programs
    /// for them before it registers any checker.
    pub fn add(&mut self, vss: Vec<VsCfg>) -> Table {
        let m = &mut self.m;
        let first = m.vss.len();
        m.starting = true;
        for vs in vss {
            let st = m.fresh_vs(vs);
            m.vss.push(st);
        }
        m.starting = false;
        let mut t = Table::new();
        for v in first..m.vss.len() {
            m.init_vs(v, &mut self.out);
            vs_entries(&m.vss[v], &mut t);
        }
        t
    }

    /// The manager, and its start effects: the quorum lines of every
    /// virtual server, then every checker's start.
    pub fn finish(self) -> (Manager, Vec<Effect>) {
        let Startup { mut m, mut out } = self;
        m.reindex();
        for v in 0..m.vss.len() {
            m.start_all(v, None, &mut out);
        }
        (m, out)
    }
}

/// keepalived's `real_weight`: clamp to what IPVS accepts.
pub fn real_weight(w: i64) -> u32 {
    w.clamp(0, i32::MAX as i64) as u32
}

/// An LVS FIFO line: `VS <vs> <UP|DOWN>\n` or `RS <rs> <vs> <UP|DOWN>\n`,
/// with keepalived master's trailing NUL when asked for.
pub fn fifo_line(text: &str, trailing_nul: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(text.len() + 2);
    v.extend_from_slice(text.as_bytes());
    v.push(b'\n');
    if trailing_nul {
        v.push(0);
    }
    v
}

pub struct Manager {
    vss: Vec<VsSt>,
    /// Something `desired()` depends on changed since `take_changed`.
    changed: bool,
    rs_init_notifies: bool,
    no_checker_emails: bool,
    fifo_nul: bool,
    next_id: u64,
    /// id → (vs index, rs index, checker index).
    index: Index,
    /// What ha_suspend looks at: the addresses of this host.
    local: LocalAddrs,
    /// Building the first state (not a reload).
    starting: bool,
    /// Per checker, what only the dump shows (HTTP_GET, MISC_CHECK,
    /// FILE_CHECK).
    extras: std::collections::HashMap<CheckerId, DumpExtra>,
}

impl Manager {
    /// Builds the state for `cfg` and returns what keepalived does at start:
    /// add the VS and its healthy real servers, settle quorum, start the
    /// checkers.
    pub fn new(cfg: LvsCfg) -> (Manager, Vec<Effect>) {
        Manager::with_addrs(cfg, &[])
    }

    /// As [`Manager::new`], with the addresses the monitor's first dump
    /// found (keepalived reads them before it starts the checkers, so a
    /// virtual server with ha_suspend whose address is there starts
    /// "Activating").
    pub fn with_addrs(cfg: LvsCfg, addrs: &[AddrEvent]) -> (Manager, Vec<Effect>) {
        Manager::startup(cfg, addrs).finish()
    }

    /// The start of [`Manager::with_addrs`] in steps, so that a large
    /// configuration's first IPVS table can be programmed in parts while
    /// the rest is still being built: `cfg`'s global settings (its virtual
    /// servers, if any, are added first).
    pub fn startup(cfg: LvsCfg, addrs: &[AddrEvent]) -> Startup {
        let mut m = Manager {
            vss: Vec::new(),
            changed: true,
            rs_init_notifies: cfg.rs_init_notifies,
            no_checker_emails: cfg.no_checker_emails,
            fifo_nul: cfg.fifo_trailing_nul,
            next_id: 0,
            index: Index::default(),
            local: LocalAddrs::new(),
            starting: true,
            extras: Default::default(),
        };
        let mut out = Vec::new();
        // the dump goes through the same filter as later events
        for ev in addrs {
            m.local.apply(ev);
            m.reflector_line(&cfg.virtual_servers, ev, &mut out);
        }
        let mut b = Startup { m, out };
        if !cfg.virtual_servers.is_empty() {
            b.add(cfg.virtual_servers);
        }
        b
    }

    fn alloc(&mut self) -> CheckerId {
        self.next_id += 1;
        CheckerId(self.next_id)
    }

    /// `suspended`: the VS has ha_suspend and its address is not here.
    fn fresh_checker(&mut self, cfg: CheckerCfg, ha_suspend: bool, suspended: bool) -> CheckerSt {
        // FILE_CHECK has no probe thread: register_checkers_thread never
        // disables it, only the address events do (and nothing reads it)
        let file = matches!(cfg.kind, CheckKind::File(_));
        let enabled = file || !suspended;
        CheckerSt {
            id: self.alloc(),
            is_up: !cfg.alpha,
            has_run: false,
            enabled,
            gate: (ha_suspend && !file).then(|| Gate::new(enabled)),
            cur_weight: 0,
            // check_data.c: at start (not at a reload) every checker's
            // retry_it is its retry count
            retry_it: if self.starting { cfg.retry } else { 0 },
            cfg: Arc::new(cfg),
        }
    }

    /// The state keeps one copy of each config: the real servers move out of
    /// the `VsCfg` and the checkers out of each `RsCfg`.
    fn fresh_vs(&mut self, mut cfg: VsCfg) -> VsSt {
        let (ha, suspended) = (cfg.ha_suspend, ha_suspend::suspended(&cfg, &self.local));
        let rs = std::mem::take(&mut cfg.real_servers)
            .into_iter()
            .map(|mut r| {
                // a fresh allocation: collecting in place would keep the
                // config's (larger) buffer for the daemon's whole life
                let cfgs = std::mem::take(&mut r.checkers);
                let mut checkers = Vec::with_capacity(cfgs.len());
                checkers.extend(
                    cfgs.into_iter()
                        .map(|c| self.fresh_checker(c, ha, suspended)),
                );
                RsSt {
                    alive: false,
                    reloaded: false,
                    effective_weight: r.dest.weight as i64,
                    prev_weight: 0,
                    checkers,
                    cfg: r,
                }
            })
            .collect();
        VsSt {
            cfg,
            quorum_up: false,
            sorry_alive: false,
            reloaded: false,
            kept_services: Vec::new(),
            rs,
        }
    }

    fn reindex(&mut self) {
        self.index = Index::build(&self.vss);
        // checkers a reload removed
        let index = &self.index;
        self.extras.retain(|id, _| index.get(*id).is_some());
    }

    /// `init_service_rs` + `update_quorum_state(init)` for a new VS.
    fn init_vs(&mut self, v: usize, out: &mut Vec<Effect>) {
        let init_notifies = self.rs_init_notifies;
        for r in 0..self.vss[v].rs.len() {
            let rs = &mut self.vss[v].rs[r];
            if rs.failed() == 0 && !rs.alive {
                rs.alive = true;
                if init_notifies {
                    self.rs_notifies(v, r, out);
                }
            }
        }
        self.update_quorum(v, true, out);
    }

    /// Starts the checkers of virtual server `v` (only those in `only_new`
    /// at a reload). Every checker gets keepalived's "Activating" (or, when
    /// suspended, "Deactivating") line, the kept ones too: keepalived
    /// registers all its checkers again at a reload.
    fn start_all(&mut self, v: usize, only_new: Option<&[CheckerId]>, out: &mut Vec<Effect>) {
        let vs = &self.vss[v];
        for rs in &vs.rs {
            for ck in &rs.checkers {
                let start = only_new.is_none_or(|ids| ids.contains(&ck.id));
                if matches!(ck.cfg.kind, crate::config::CheckKind::File(_)) {
                    // FILE_CHECK has no probe thread in keepalived, hence no
                    // "Activating" line; we still run a watcher task.
                    if start {
                        out.push(start_effect(ck, rs, vs));
                    }
                    continue;
                }
                // one line per checker at start: joined, not formatted
                out.push(Effect::Log(
                    [
                        if ck.enabled { "A" } else { "Dea" },
                        "ctivating healthchecker for service ",
                        &rs.cfg.name,
                        " for VS ",
                        &vs.cfg.name,
                    ]
                    .concat(),
                ));
                // a deactivated checker runs too, gated: its timer keeps
                // keepalived's phase for when the address comes
                if start {
                    out.push(start_effect(ck, rs, vs));
                }
            }
        }
    }

    fn weight_sum(&self, v: usize) -> i64 {
        self.vss[v]
            .rs
            .iter()
            .filter(|r| r.alive)
            .map(|r| real_weight(r.effective_weight) as i64)
            .sum()
    }

    fn rs_notifies(&self, v: usize, r: usize, out: &mut Vec<Effect>) {
        let vs = &self.vss[v];
        let rs = &vs.rs[r];
        let script = if rs.alive {
            &rs.cfg.notify_up
        } else {
            &rs.cfg.notify_down
        };
        if let Some(s) = script {
            out.push(Effect::Notify(s.clone()));
        }
        out.push(Effect::Fifo(fifo_line(
            &format!(
                "RS {} {} {}",
                rs.cfg.name,
                vs.cfg.name,
                if rs.alive { "UP" } else { "DOWN" }
            ),
            self.fifo_nul,
        )));
    }

    fn vs_notifies(&self, v: usize, out: &mut Vec<Effect>) {
        let vs = &self.vss[v];
        let script = if vs.quorum_up {
            &vs.cfg.quorum_up
        } else {
            &vs.cfg.quorum_down
        };
        if let Some(s) = script {
            out.push(Effect::Notify(s.clone()));
        }
        out.push(Effect::Fifo(fifo_line(
            &format!(
                "VS {} {}",
                vs.cfg.name,
                if vs.quorum_up { "UP" } else { "DOWN" }
            ),
            self.fifo_nul,
        )));
    }

    /// ipwrapper.c `do_vs_notifies`' alert, after a quorum change.
    fn vs_mail(&self, v: usize, body: String, out: &mut Vec<Effect>) {
        let vs = &self.vss[v];
        if vs.cfg.smtp_alert {
            out.push(Effect::Mail(Mail::VirtualServer {
                vs: vs.cfg.name.clone(),
                up: vs.quorum_up,
                body,
            }));
        }
    }

    /// ipwrapper.c `update_quorum_state`.
    fn update_quorum(&mut self, v: usize, init: bool, out: &mut Vec<Effect>) {
        let sum = self.weight_sum(v);
        let vs = &mut self.vss[v];
        let (q, h) = (vs.cfg.quorum as i64, vs.cfg.hysteresis as i64);
        let threshold = if vs.quorum_up { q - h } else { q + h };
        if !vs.quorum_up && sum >= threshold {
            vs.quorum_up = true;
            out.push(Effect::Log(format!(
                "Gained quorum {q}+{h}={threshold} <= {sum} for VS {}",
                vs.cfg.name
            )));
            if let Some(sorry) = &vs.cfg.sorry_server
                && vs.sorry_alive
            {
                out.push(Effect::Log(format!(
                    "{} sorry server {} from VS {}",
                    if sorry.inhibit {
                        "Disabling"
                    } else {
                        "Removing"
                    },
                    sorry.name,
                    vs.cfg.name
                )));
                vs.sorry_alive = false;
                self.changed = true;
                out.push(Effect::Log(format!(
                    "Adding alive servers to the pool for VS {}",
                    vs.cfg.name
                )));
            }
            self.vs_notifies(v, out);
            let what = if init {
                "Starting with quorum up"
            } else {
                "Gained quorum"
            };
            self.vs_mail(v, format!("=> {what} {q}+{h}={threshold} <= {sum} <="), out);
        } else if (vs.quorum_up && (sum == 0 || sum < threshold))
            || (init && !vs.quorum_up && vs.cfg.sorry_server.is_some() && !vs.sorry_alive)
        {
            vs.quorum_up = false;
            out.push(Effect::Log(format!(
                "{} {q}-{h}={threshold} > {sum} for VS {}",
                if init {
                    "Starting with quorum down"
                } else {
                    "Lost quorum"
                },
                vs.cfg.name
            )));
            if let Some(sorry) = &vs.cfg.sorry_server
                && !vs.sorry_alive
            {
                out.push(Effect::Log(format!(
                    "{} sorry server {} to VS {}",
                    if sorry.inhibit { "Enabling" } else { "Adding" },
                    sorry.name,
                    vs.cfg.name
                )));
                out.push(Effect::Log(format!(
                    "Removing alive servers from the pool for VS {}",
                    vs.cfg.name
                )));
                vs.sorry_alive = true;
                self.changed = true;
            }
            self.vs_notifies(v, out);
            // keepalived formats both directions alike ("+", "<=")
            let what = if init {
                "Starting with quorum down"
            } else {
                "Lost quorum"
            };
            self.vs_mail(v, format!("=> {what} {q}+{h}={threshold} <= {sum} <="), out);
        }
    }

    /// ipwrapper.c `perform_svr_state`.
    fn set_rs_alive(&mut self, v: usize, r: usize, alive: bool, out: &mut Vec<Effect>) {
        let vs = &mut self.vss[v];
        let rs = &mut vs.rs[r];
        if rs.alive == alive {
            return;
        }
        let inhibit = rs.cfg.inhibit_on_failure;
        let verb = match (alive, inhibit) {
            (true, true) => "Enabl",
            (true, false) => "Add",
            (false, true) => "Disabl",
            (false, false) => "Remov",
        };
        let prep = if inhibit {
            "of"
        } else if alive {
            "to"
        } else {
            "from"
        };
        out.push(Effect::Log(format!(
            "{verb}ing service {} {prep} VS {}",
            rs.cfg.name, vs.cfg.name
        )));
        rs.alive = alive;
        self.changed = true;
        self.rs_notifies(v, r, out);
        self.update_quorum(v, false, out);
    }

    /// ipwrapper.c `update_svr_wgt`.
    fn set_weight(&mut self, v: usize, r: usize, weight: i64, out: &mut Vec<Effect>) {
        let vs = &mut self.vss[v];
        let rs = &mut vs.rs[r];
        let (old, new) = (real_weight(rs.effective_weight), real_weight(weight));
        rs.effective_weight = weight;
        if old != new {
            self.changed = true;
            out.push(Effect::Log(format!(
                "Changing weight from {old} to {new} for {}active service {} of VS {}",
                if rs.alive { "" } else { "in" },
                rs.cfg.name,
                vs.cfg.name
            )));
            self.update_quorum(v, false, out);
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, ev: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        match ev {
            Event::Checker { id, up, note } => {
                if let Some((v, r, c)) = self.index.get(id) {
                    let checker_was_up = self.vss[v].rs[r].checkers[c].is_up;
                    let rs_was_alive = self.vss[v].rs[r].alive;
                    self.checker_state(v, r, c, up, &mut out);
                    self.checker_mail(v, r, c, up, checker_was_up, rs_was_alive, note, &mut out);
                }
            }
            Event::MiscStatus { id, status } => {
                if let Some((v, r, c)) = self.index.get(id) {
                    let rs = &mut self.vss[v].rs[r];
                    let iweight = rs.cfg.dest.weight as i64;
                    let ck = &mut rs.checkers[c];
                    let mut w = rs.effective_weight - ck.cur_weight;
                    ck.cur_weight = if status == 0 {
                        0
                    } else {
                        status as i64 - 2 - iweight
                    };
                    w += ck.cur_weight;
                    self.set_weight(v, r, w, &mut out);
                }
            }
            Event::FileValue { id, value } => {
                if let Some((v, r, c)) = self.index.get(id) {
                    self.file_value(v, r, c, value, &mut out);
                }
            }
            Event::LocalAddr(ev) => self.local_addr(ev, &mut out),
            Event::Retries {
                id,
                retry_it,
                failed_url,
            } => {
                if let Some((v, r, c)) = self.index.get(id) {
                    self.vss[v].rs[r].checkers[c].retry_it = retry_it;
                    if failed_url.is_some() || self.extras.contains_key(&id) {
                        self.extras.entry(id).or_default().failed_url = failed_url;
                    }
                }
            }
            Event::MiscRan { id, at_us, status } => {
                if self.index.get(id).is_some() {
                    let e = self.extras.entry(id).or_default();
                    (e.last_ran_us, e.last_status) = (at_us, status);
                }
            }
        }
        out
    }

    /// The alert after a verdict (the checkers' `smtp_alert(SMTP_MSG_RS, ...)`
    /// calls): with the real server's `smtp_alert`, when the checker changed
    /// state (MISC_CHECK: whenever it reported), and only if the real server
    /// changed too or `no_checker_emails` is off.
    #[allow(clippy::too_many_arguments)]
    fn checker_mail(
        &self,
        v: usize,
        r: usize,
        c: usize,
        up: bool,
        checker_was_up: bool,
        rs_was_alive: bool,
        note: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let vs = &self.vss[v];
        let rs = &vs.rs[r];
        let kind = &rs.checkers[c].cfg.kind;
        let changed = matches!(kind, CheckKind::Misc(_)) || checker_was_up != up;
        if !rs.cfg.smtp_alert || !changed || (rs_was_alive == rs.alive && self.no_checker_emails) {
            return;
        }
        if let Some(body) = checker_mail_body(kind, up, note.as_deref()) {
            out.push(Effect::Mail(Mail::RealServer {
                rs: rs.cfg.name.clone(),
                vs: vs.cfg.name.clone(),
                up: rs.alive,
                body,
            }));
        }
    }

    fn file_value(&mut self, v: usize, r: usize, c: usize, value: i64, out: &mut Vec<Effect>) {
        let crate::config::CheckKind::File(f) = &self.vss[v].rs[r].checkers[c].cfg.kind else {
            return;
        };
        let (weight, reverse) = (f.weight, f.reverse);
        let id = self.vss[v].rs[r].checkers[c].id;
        self.extras.entry(id).or_default().file_value = value;
        // track_file.c: weight 0 means "non-zero is down"; otherwise the
        // value times the weight adds to the RS weight, and reaching
        // IPVS_WEIGHT_FAULT (i32::MIN) is down.
        let (up, delta) = if weight == 0 {
            (value == 0, 0)
        } else {
            let d = value
                .saturating_mul(weight)
                .saturating_mul(if reverse { -1 } else { 1 });
            (d > i32::MIN as i64, d)
        };
        let rs = &mut self.vss[v].rs[r];
        let ck = &mut rs.checkers[c];
        let w = rs.effective_weight - ck.cur_weight + if up { delta } else { 0 };
        ck.cur_weight = if up { delta } else { 0 };
        self.set_weight(v, r, w, out);
        self.checker_state(v, r, c, up, out);
    }

    /// keepalived logs each address event that concerns a virtual server
    /// with ha_suspend, once, with `-D`.
    fn reflector_line(&self, vss: &[VsCfg], ev: &AddrEvent, out: &mut Vec<Effect>) {
        if vss.iter().any(|v| ha_suspend::watched(v) == Some(ev.addr)) {
            out.push(Effect::Detail(format!(
                "Netlink reflector reports IP {} {}",
                ev.addr,
                if ev.present { "added" } else { "removed" }
            )));
        }
    }

    /// The addresses the monitor's first dump found, for a manager built
    /// without them whose start effects are not applied yet: the checkers
    /// of virtual servers whose address is here are enabled silently (as
    /// if built with [`Manager::with_addrs`]). Returns the `-D` lines and
    /// the virtual servers switched on; the caller rewrites their pending
    /// "Deactivating" lines.
    pub fn preset_addrs(&mut self, addrs: &[AddrEvent]) -> (Vec<Effect>, Vec<String>) {
        let mut out = Vec::new();
        for ev in addrs {
            self.local.apply(ev);
            let vss: Vec<VsCfg> = self.vss.iter().map(|v| v.cfg.clone()).collect();
            self.reflector_line(&vss, ev, &mut out);
        }
        let mut on = Vec::new();
        for vs in &mut self.vss {
            if !vs.cfg.ha_suspend || ha_suspend::suspended(&vs.cfg, &self.local) {
                continue;
            }
            on.push(vs.cfg.name.clone());
            for ck in vs.rs.iter_mut().flat_map(|r| r.checkers.iter_mut()) {
                ck.enabled = true;
                if let Some(g) = &ck.gate {
                    g.set(true);
                }
            }
        }
        (out, on)
    }

    /// check_api.c `update_checker_activity`.
    fn local_addr(&mut self, ev: AddrEvent, out: &mut Vec<Effect>) {
        self.local.apply(&ev);
        let mut logged = false;
        for v in 0..self.vss.len() {
            if ha_suspend::watched(&self.vss[v].cfg) != Some(ev.addr) {
                continue;
            }
            if !logged {
                let vss = [self.vss[v].cfg.clone()];
                self.reflector_line(&vss, &ev, out);
                logged = true;
            }
            let target = !ha_suspend::suspended(&self.vss[v].cfg, &self.local);
            // keepalived enables on any add, but disables only when the
            // address is gone from every interface
            if ev.present == target {
                self.set_enabled(v, target, out);
            }
        }
    }

    /// Turns every checker of VS `v` on or off, logging each change as
    /// keepalived does.
    fn set_enabled(&mut self, v: usize, enable: bool, out: &mut Vec<Effect>) {
        let vs = &mut self.vss[v];
        for r in 0..vs.rs.len() {
            for c in 0..vs.rs[r].checkers.len() {
                let ck = &mut vs.rs[r].checkers[c];
                if ck.enabled == enable {
                    continue;
                }
                ck.enabled = enable;
                if let Some(g) = &ck.gate {
                    g.set(enable);
                }
                out.push(Effect::Log(format!(
                    "{}ing healthchecker for service {} for VS {}",
                    if enable { "Activat" } else { "Suspend" },
                    vs.rs[r].cfg.name,
                    vs.cfg.name
                )));
            }
        }
    }

    /// ipwrapper.c `update_svr_checker_state`.
    fn checker_state(&mut self, v: usize, r: usize, c: usize, up: bool, out: &mut Vec<Effect>) {
        let (is_up, has_run, alpha) = {
            let ck = &self.vss[v].rs[r].checkers[c];
            (ck.is_up, ck.has_run, ck.cfg.alpha)
        };
        if is_up == up {
            if !has_run {
                if alpha || !up {
                    self.rs_notifies(v, r, out);
                }
                self.vss[v].rs[r].checkers[c].has_run = true;
            }
            return;
        }
        self.vss[v].rs[r].checkers[c].has_run = true;
        let failed = self.vss[v].rs[r].failed();
        if up && failed <= 1 {
            self.set_rs_alive(v, r, true, out);
        } else if !up && failed == 0 {
            self.set_rs_alive(v, r, false, out);
        }
        let rs = &mut self.vss[v].rs[r];
        let ck = &mut rs.checkers[c];
        ck.is_up = up;
        if !up && ck.cur_weight != 0 {
            // a failed dynamic checker gives its weight offset back, silently
            rs.effective_weight -= ck.cur_weight;
            ck.cur_weight = 0;
        }
    }

    /// Whether `desired()` may differ from when this was last called
    /// (so a driver rebuilds the table only when it has to).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The table keepalived would have programmed.
    pub fn desired(&self) -> Table {
        let mut t = Table::new();
        for vs in &self.vss {
            vs_entries(vs, &mut t);
        }
        t
    }

    /// Applies a new configuration (SIGHUP), keeping the state of virtual
    /// servers, real servers and checkers that are still there, as
    /// ipwrapper.c `clear_diff_services` does. Unchanged checkers keep
    /// running: no Stop/Start is emitted for them.
    pub fn reload(&mut self, cfg: LvsCfg) -> Vec<Effect> {
        let mut out = Vec::new();
        self.rs_init_notifies = cfg.rs_init_notifies;
        self.no_checker_emails = cfg.no_checker_emails;
        self.fifo_nul = cfg.fifo_trailing_nul;
        let mut old: Vec<Option<VsSt>> = std::mem::take(&mut self.vss)
            .into_iter()
            .map(Some)
            .collect();
        let mut new_vss = Vec::new();
        let mut fresh_ids: Vec<CheckerId> = Vec::new();
        let mut fresh_vs: Vec<bool> = Vec::new();
        for vcfg in cfg.virtual_servers {
            let found = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.cfg.name == vcfg.name));
            match found.and_then(|i| old[i].take()) {
                None => {
                    let st = self.fresh_vs(vcfg);
                    fresh_ids.extend(st.rs.iter().flat_map(|r| r.checkers.iter().map(|c| c.id)));
                    new_vss.push(st);
                    fresh_vs.push(true);
                }
                Some(mut o) => {
                    let st = self.migrate_vs(&mut o, vcfg, &mut fresh_ids, &mut out);
                    new_vss.push(st);
                    fresh_vs.push(false);
                }
            }
        }
        // whatever is left of the old config goes away
        for o in old.into_iter().flatten() {
            out.push(Effect::Log(match o.cfg.name.strip_prefix('[') {
                Some(rest) if o.cfg.name.contains("]:") && !is_addr_name(&o.cfg.name) => {
                    let group = rest.split("]:").next().unwrap_or(rest);
                    format!("Removing Virtual Server Group [{group}]")
                }
                _ => format!("Removing Virtual Server {}", o.cfg.name),
            }));
            let tmp = Manager {
                vss: vec![o],
                changed: false,
                rs_init_notifies: false,
                no_checker_emails: false,
                fifo_nul: self.fifo_nul,
                next_id: 0,
                index: Index::default(),
                local: LocalAddrs::new(),
                starting: false,
                extras: Default::default(),
            };
            for r in 0..tmp.vss[0].rs.len() {
                tmp.clear_rs(0, r, &mut out);
            }
            for rs in &tmp.vss[0].rs {
                out.extend(rs.checkers.iter().map(|c| Effect::Stop(c.id)));
            }
        }
        self.vss = new_vss;
        self.changed = true;
        self.reindex();
        for (v, fresh) in fresh_vs.iter().enumerate() {
            if *fresh {
                self.init_vs(v, &mut out);
            } else {
                self.reinit_vs(v, &mut out);
            }
        }
        for v in 0..self.vss.len() {
            self.start_all(v, Some(&fresh_ids), &mut out);
        }
        out
    }

    /// An old real server leaves (`clear_service_rs`, not stopping).
    fn clear_rs(&self, v: usize, r: usize, out: &mut Vec<Effect>) {
        let vs = &self.vss[v];
        let rs = &vs.rs[r];
        let set = rs.alive && !vs.sorry_alive || rs.cfg.inhibit_on_failure;
        if set {
            out.push(Effect::Log(format!(
                "Removing {}service {} from VS {}",
                if rs.cfg.inhibit_on_failure && !rs.alive {
                    "(inhibited) "
                } else {
                    ""
                },
                rs.cfg.name,
                vs.cfg.name
            )));
        }
        if rs.alive {
            let mut gone = self.vss[v].rs[r].clone();
            gone.alive = false;
            let script = &gone.cfg.notify_down;
            if let Some(s) = script {
                out.push(Effect::Notify(s.clone()));
            }
            out.push(Effect::Fifo(fifo_line(
                &format!("RS {} {} DOWN", gone.cfg.name, vs.cfg.name),
                self.fifo_nul,
            )));
            // clear_service_rs: only a server that was in the table
            if set && rs.cfg.smtp_alert {
                out.push(Effect::Mail(Mail::RealServer {
                    rs: rs.cfg.name.clone(),
                    vs: vs.cfg.name.clone(),
                    up: false,
                    body: "=> Removing <=".to_owned(),
                }));
            }
        }
    }

    fn migrate_vs(
        &mut self,
        old: &mut VsSt,
        mut cfg: VsCfg,
        fresh_ids: &mut Vec<CheckerId>,
        out: &mut Vec<Effect>,
    ) -> VsSt {
        let (ha, suspended) = (cfg.ha_suspend, ha_suspend::suspended(&cfg, &self.local));
        let mut rs_out = Vec::new();
        let mut used = vec![false; old.rs.len()];
        let new_rs = std::mem::take(&mut cfg.real_servers);
        for mut rcfg in new_rs {
            let rchecks = std::mem::take(&mut rcfg.checkers);
            let found = old
                .rs
                .iter()
                .enumerate()
                .position(|(i, o)| !used[i] && o.cfg.key == rcfg.key);
            let Some(i) = found else {
                let mut checkers = Vec::with_capacity(rchecks.len());
                checkers.extend(
                    rchecks
                        .into_iter()
                        .map(|c| self.fresh_checker(c, ha, suspended)),
                );
                fresh_ids.extend(checkers.iter().map(|c| c.id));
                rs_out.push(RsSt {
                    alive: false,
                    reloaded: false,
                    effective_weight: rcfg.dest.weight as i64,
                    prev_weight: 0,
                    checkers,
                    cfg: rcfg,
                });
                continue;
            };
            used[i] = true;
            let o = &mut old.rs[i];
            let mut taken = vec![false; o.checkers.len()];
            let mut checkers = Vec::with_capacity(rchecks.len());
            for ccfg in rchecks {
                let m = o
                    .checkers
                    .iter()
                    .enumerate()
                    .position(|(j, oc)| !taken[j] && *oc.cfg == ccfg);
                match m {
                    Some(j) => {
                        taken[j] = true;
                        let mut c = o.checkers[j].clone();
                        let file = matches!(c.cfg.kind, CheckKind::File(_));
                        if ha && c.gate.is_none() && !file {
                            // ha_suspend was just turned on: the running
                            // task has no gate, so a gated one replaces it
                            // (it keeps the manager's state)
                            out.push(Effect::Stop(c.id));
                            c.id = self.alloc();
                            c.enabled = !suspended;
                            c.gate = Some(Gate::new(c.enabled));
                            fresh_ids.push(c.id);
                        } else if !ha && !c.enabled {
                            // ha_suspend was just turned off ("Activating"
                            // comes with the others at the end of the reload)
                            c.enabled = true;
                            if let Some(g) = &c.gate {
                                g.set(true);
                            }
                        }
                        checkers.push(c);
                    }
                    None => {
                        let c = self.fresh_checker(ccfg, ha, suspended);
                        fresh_ids.push(c.id);
                        checkers.push(c);
                    }
                }
            }
            for (j, oc) in o.checkers.iter().enumerate() {
                if !taken[j] {
                    out.push(Effect::Stop(oc.id));
                }
            }
            // migrate_checkers: with a failed checker (or nothing known yet),
            // new alpha checkers start down
            let any_run = checkers.iter().any(|c| c.has_run);
            let any_failed = checkers.iter().any(|c| c.has_run && !c.is_up);
            for c in &mut checkers {
                if !c.has_run {
                    c.is_up = !(c.cfg.alpha && (any_failed || (!o.alive && !any_run)));
                }
            }
            rs_out.push(RsSt {
                alive: o.alive,
                reloaded: true,
                effective_weight: o.effective_weight,
                prev_weight: o.effective_weight,
                checkers,
                cfg: rcfg,
            });
        }
        for (i, o) in old.rs.iter().enumerate() {
            if used[i] {
                continue;
            }
            out.push(Effect::Log(format!(
                "service {} no longer exist",
                o.cfg.name
            )));
            out.extend(o.checkers.iter().map(|c| Effect::Stop(c.id)));
        }
        // log the removals with the old VS's view, then settle its quorum
        let gone: Vec<usize> = (0..old.rs.len()).filter(|i| !used[*i]).collect();
        if !gone.is_empty() {
            let tmp = Manager {
                vss: vec![old.clone()],
                changed: false,
                rs_init_notifies: false,
                no_checker_emails: false,
                fifo_nul: self.fifo_nul,
                next_id: 0,
                index: Index::default(),
                local: LocalAddrs::new(),
                starting: false,
                extras: Default::default(),
            };
            for r in gone {
                tmp.clear_rs(0, r, out);
            }
        }
        let sorry_alive = match (&old.cfg.sorry_server, &cfg.sorry_server) {
            (Some(a), Some(b)) if a.key == b.key => old.sorry_alive,
            (Some(a), _) => {
                if old.sorry_alive {
                    out.push(Effect::Log(format!(
                        "Removing sorry server {} from VS {}",
                        a.name, old.cfg.name
                    )));
                }
                false
            }
            _ => false,
        };
        let kept_services = cfg
            .services
            .iter()
            .map(|(k, _)| old.cfg.services.iter().any(|(o, _)| o == k))
            .collect();
        VsSt {
            cfg,
            quorum_up: old.quorum_up,
            sorry_alive,
            reloaded: true,
            kept_services,
            rs: rs_out,
        }
    }

    /// `init_service_vs` on reload for a VS that existed before.
    fn reinit_vs(&mut self, v: usize, out: &mut Vec<Effect>) {
        for r in 0..self.vss[v].rs.len() {
            let rs = &self.vss[v].rs[r];
            let target =
                rs.cfg.dest.weight as i64 + rs.checkers.iter().map(|c| c.cur_weight).sum::<i64>();
            if rs.has_history() {
                if target != rs.effective_weight {
                    self.set_weight(v, r, target, out);
                }
                let failed = self.vss[v].rs[r].failed();
                if failed == 0 && !self.vss[v].rs[r].alive {
                    self.set_rs_alive(v, r, true, out);
                } else if failed > 0 && self.vss[v].rs[r].alive {
                    self.set_rs_alive(v, r, false, out);
                }
            } else {
                let rs = &mut self.vss[v].rs[r];
                if rs.failed() == 0 && !rs.alive {
                    rs.alive = true;
                    if self.rs_init_notifies {
                        self.rs_notifies(v, r, out);
                    }
                }
            }
        }
        self.update_quorum(v, true, out);
    }

    /// Stopping (SIGTERM): keepalived removes every real server ("Shutting
    /// down service %s from VS %s") and, with `omega`, runs the down
    /// notifies. Returns the effects; `desired()` is empty afterwards.
    pub fn shutdown(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        for v in 0..self.vss.len() {
            let omega = self.vss[v].cfg.omega;
            for r in 0..self.vss[v].rs.len() {
                let vs = &self.vss[v];
                let rs = &vs.rs[r];
                let set = rs.alive && !vs.sorry_alive || rs.cfg.inhibit_on_failure;
                out.push(Effect::Log(format!(
                    "Shutting down {}service {} from VS {}",
                    if rs.cfg.inhibit_on_failure && !rs.alive {
                        "(inhibited) "
                    } else {
                        ""
                    },
                    rs.cfg.name,
                    vs.cfg.name
                )));
                let _ = set;
                if rs.alive {
                    self.vss[v].rs[r].alive = false;
                    if omega {
                        self.rs_notifies(v, r, &mut out);
                    }
                }
            }
            let vs = &mut self.vss[v];
            vs.quorum_up = false;
            vs.sorry_alive = false;
            if omega {
                self.vs_notifies(v, &mut out);
            }
            for rs in &self.vss[v].rs {
                out.extend(rs.checkers.iter().map(|c| Effect::Stop(c.id)));
            }
        }
        self.vss.clear();
        self.changed = true;
        self.index = Index::default();
        out
    }

    /// Ids of every checker that should be running.
    pub fn running(&self) -> Vec<CheckerId> {
        let mut ids: Vec<_> = self
            .vss
            .iter()
            .flat_map(|v| v.rs.iter())
            .flat_map(|r| r.checkers.iter())
            .filter(|c| c.enabled)
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    /// Whether some virtual server has ha_suspend (the address monitor is
    /// needed).
    pub fn uses_ha_suspend(&self) -> bool {
        self.vss.iter().any(|v| v.cfg.ha_suspend)
    }

    /// Whether a real server is alive (for dumps and tests).
    pub fn rs_alive(&self, vs: &str, rs: &str) -> Option<bool> {
        let v = self.vss.iter().find(|v| v.cfg.name == vs)?;
        v.rs.iter().find(|r| r.cfg.name == rs).map(|r| r.alive)
    }

    pub fn quorum_up(&self, vs: &str) -> Option<bool> {
        self.vss
            .iter()
            .find(|v| v.cfg.name == vs)
            .map(|v| v.quorum_up)
    }

    fn extra(&self, id: CheckerId) -> DumpExtra {
        self.extras.get(&id).copied().unwrap_or_default()
    }

    /// The state keepalived's SIGUSR1 dump shows, in configuration order
    /// (plain data: the daemon formats it, see its `check_dump`).
    pub fn view(&self) -> Vec<VsView> {
        let table = self.desired();
        self.vss
            .iter()
            .map(|vs| {
                let in_table = |key: DestKey, dest: &Dest| {
                    vs.cfg.services.iter().any(|(k, _)| {
                        table
                            .services
                            .get(k)
                            .is_some_and(|s| s.dests.contains_key(&dest_key(k, key, dest)))
                    })
                };
                VsView {
                    cfg: vs.cfg.clone(),
                    quorum_up: vs.quorum_up,
                    reloaded: vs.reloaded,
                    sorry_set: vs
                        .cfg
                        .sorry_server
                        .as_ref()
                        .is_some_and(|s| in_table(s.key, &s.dest)),
                    set: vs
                        .cfg
                        .services
                        .iter()
                        .any(|(k, _)| table.services.contains_key(k)),
                    dests: vs
                        .cfg
                        .services
                        .iter()
                        .map(|(k, _)| (*k, table.services.get(k).map_or(0, |s| s.dests.len())))
                        .collect(),
                    kept: (0..vs.cfg.services.len())
                        .map(|i| vs.kept_services.get(i).copied().unwrap_or(false))
                        .collect(),
                    rs: vs
                        .rs
                        .iter()
                        .map(|rs| RsView {
                            cfg: rs.cfg.clone(),
                            alive: rs.alive,
                            reloaded: rs.reloaded,
                            effective_weight: rs.effective_weight,
                            prev_weight: rs.prev_weight,
                            failed: rs.failed(),
                            set: in_table(rs.cfg.key, &rs.cfg.dest),
                            checkers: rs
                                .checkers
                                .iter()
                                .map(|c| CheckerView {
                                    cfg: Arc::clone(&c.cfg),
                                    enabled: c.enabled,
                                    is_up: c.is_up,
                                    has_run: c.has_run,
                                    cur_weight: c.cur_weight,
                                    retry_it: c.retry_it,
                                    failed_url: self.extra(c.id).failed_url,
                                    last_ran_us: self.extra(c.id).last_ran_us,
                                    last_status: self.extra(c.id).last_status,
                                    file_value: self.extra(c.id).file_value,
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// One virtual server as [`Manager::view`] shows it.
#[derive(Debug, Clone)]
pub struct VsView {
    /// Its configuration (`real_servers` empty: see `rs`).
    pub cfg: VsCfg,
    pub quorum_up: bool,
    /// Kept through the last reload.
    pub reloaded: bool,
    /// Its services are in the table (keepalived's `vs->alive`).
    pub set: bool,
    /// The sorry server is in the table (with weight 0 when inhibited).
    pub sorry_set: bool,
    /// Real servers in each of its services' tables.
    pub dests: Vec<(ServiceKey, usize)>,
    /// Per service (as `dests`): kept through the last reload.
    pub kept: Vec<bool>,
    pub rs: Vec<RsView>,
}

#[derive(Debug, Clone)]
pub struct RsView {
    /// Its configuration (`checkers` empty: see `checkers`).
    pub cfg: RsCfg,
    pub alive: bool,
    /// Kept through the last reload.
    pub reloaded: bool,
    pub effective_weight: i64,
    /// keepalived's `peffective_weight`: the effective weight when the last
    /// reload kept it, 0 before.
    pub prev_weight: i64,
    /// Checkers currently failed.
    pub failed: usize,
    /// In the table (keepalived's `rs->set`).
    pub set: bool,
    pub checkers: Vec<CheckerView>,
}

#[derive(Debug, Clone)]
pub struct CheckerView {
    pub cfg: Arc<CheckerCfg>,
    pub enabled: bool,
    pub is_up: bool,
    pub has_run: bool,
    pub cur_weight: i64,
    /// keepalived's `retry_it`: the retry under way, 0 when none.
    pub retry_it: u32,
    /// HTTP_GET: the url that failed, while it has not succeeded again.
    pub failed_url: Option<usize>,
    /// MISC_CHECK: when the script last started (µs since the epoch, 0
    /// never) and its last exit status as keepalived keeps it.
    pub last_ran_us: u64,
    pub last_status: u32,
    /// FILE_CHECK: the value last read from its file.
    pub file_value: i64,
}

impl RsSt {
    /// True when this RS came through a reload with some checker state.
    fn has_history(&self) -> bool {
        self.alive || self.checkers.iter().any(|c| c.has_run)
    }
}

/// ipvswrapper.c `ipvs_cmd`: a non-NAT real server takes the service's
/// port (0 for fwmark services), whatever the configuration said, so one
/// real server serves every service of a group.
fn dest_key(svc: &ServiceKey, key: DestKey, dest: &Dest) -> DestKey {
    if dest.fwd == Fwd::Masq {
        return key;
    }
    let port = match svc {
        ServiceKey::Inet { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    };
    DestKey { port, ..key }
}

fn is_addr_name(name: &str) -> bool {
    // "[addr]:proto:port" has two colons after the bracket; "[GROUP]:port" one
    name.rsplit_once("]:")
        .is_some_and(|(_, tail)| tail.contains(':'))
}

fn start_effect(ck: &CheckerSt, rs: &RsSt, vs: &VsSt) -> Effect {
    Effect::Start(Box::new(StartChecker {
        id: ck.id,
        cfg: Arc::clone(&ck.cfg),
        rs_name: rs.cfg.name.clone(),
        vs_name: vs.cfg.name.clone(),
        gate: ck.gate.clone(),
    }))
}

#[cfg(test)]
mod tests {
    //! Scenarios on the pure manager: Input = checker verdicts, Output = log
    //! lines, notifies, FIFO bytes and the `ipvsadm -Sn` form of the table.
    use super::*;
    use crate::config::*;
    use ipvs::model::{Fwd, Scheduler};
    use ipvs::{DestKey, Service, ServiceKey};
    use std::time::Duration;

    const VS: &str = "[10.0.0.1]:tcp:80";

    fn checker(alpha: bool) -> CheckerCfg {
        CheckerCfg {
            kind: CheckKind::Tcp,
            conn: ConnOpts::new("192.168.1.2:80".parse().unwrap(), Duration::from_secs(3)),
            retry: 1,
            delay_loop: Duration::from_secs(6),
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha,
            log_all_failures: false,
        }
    }

    fn script(tag: &str) -> Script {
        Script::new(vec!["/bin/echo".into(), tag.into()]).unwrap()
    }

    fn rs(last: u8, weight: u32, ncheckers: usize, alpha: bool) -> RsCfg {
        let addr = format!("192.168.1.{last}:80").parse().unwrap();
        RsCfg {
            key: DestKey::new(addr),
            dest: Dest::new(Fwd::Masq, weight),
            name: format!("[192.168.1.{last}]:tcp:80"),
            inhibit_on_failure: false,
            smtp_alert: false,
            notify_up: Some(script(&format!("up{last}"))),
            notify_down: Some(script(&format!("down{last}"))),
            checkers: (0..ncheckers).map(|_| checker(alpha)).collect(),
        }
    }

    fn vs(rss: Vec<RsCfg>) -> VsCfg {
        VsCfg {
            name: VS.into(),
            services: vec![(
                ServiceKey::tcp("10.0.0.1:80".parse().unwrap()),
                Service::new(Scheduler::Wlc),
            )],
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            omega: false,
            smtp_alert: false,
            ha_suspend: false,
            addr: Some("10.0.0.1".parse().unwrap()),
            quorum_up: Some(script("qup")),
            quorum_down: Some(script("qdown")),
            real_servers: rss,
        }
    }

    fn cfg(v: VsCfg) -> LvsCfg {
        LvsCfg {
            virtual_servers: vec![v],
            ..LvsCfg::default()
        }
    }

    /// Built in steps, the manager is the one `Manager::new` builds: the
    /// steps' tables add up to its table, and the effects are the same, in
    /// the same order.
    #[test]
    fn startup_in_steps_is_new() {
        let many = || {
            let mut vss = Vec::new();
            for i in 0..5u8 {
                let mut v = vs(vec![
                    rs(2, 3, 1, false),
                    rs(3, 1, 1, i % 2 == 0),
                    rs(4, 2, 0, false),
                ]);
                let key = ServiceKey::tcp(format!("10.0.1.{i}:80").parse().unwrap());
                v.services = vec![(key, Service::new(Scheduler::Wlc))];
                v.name = format!("[10.0.1.{i}]:tcp:80");
                v.real_servers[2].inhibit_on_failure = true;
                if i == 3 {
                    // a quorum the start can't reach: the sorry server stands in
                    v.quorum = 100;
                    v.sorry_server = Some(SorryCfg {
                        key: DestKey::new("192.168.1.9:80".parse().unwrap()),
                        dest: Dest::new(Fwd::Masq, 1),
                        inhibit: false,
                        name: "[192.168.1.9]:tcp:80".into(),
                    });
                }
                vss.push(v);
            }
            LvsCfg {
                virtual_servers: vss,
                rs_init_notifies: true,
                ..LvsCfg::default()
            }
        };
        let (whole, fx) = Manager::new(many());
        let mut vss = many().virtual_servers;
        let mut b = Manager::startup(LvsCfg::default(), &[]);
        b.m.rs_init_notifies = true;
        let mut sum = Table::new();
        for part in [
            vss.drain(..2).collect::<Vec<_>>(),
            vss.drain(..1).collect(),
            vss,
        ] {
            let t = b.add(part);
            for (k, svc) in t.services {
                assert!(sum.services.insert(k, svc).is_none(), "{k} in two steps");
            }
        }
        let (stepped, fx2) = b.finish();
        assert_eq!(sum, whole.desired());
        assert_eq!(stepped.desired(), whole.desired());
        assert_eq!(format!("{fx:?}"), format!("{fx2:?}"));
        assert_eq!(
            format!("{:?}", stepped.view()),
            format!("{:?}", whole.view())
        );
    }

    /// Two virtual servers on one service: the first one's settings, the
    /// real servers of both (keepalived's second service add fails).
    #[test]
    fn a_service_configured_twice_keeps_the_first_settings() {
        let first = vs(vec![rs(2, 3, 1, false)]);
        let mut second = vs(vec![rs(3, 1, 1, false)]);
        second.services[0].1 = Service::new(Scheduler::Rr);
        let (m, _) = Manager::new(LvsCfg {
            virtual_servers: vec![first, second],
            ..LvsCfg::default()
        });
        let t = m.desired();
        let svc = &t.services[&ServiceKey::tcp("10.0.0.1:80".parse().unwrap())];
        assert_eq!(svc.service.sched, Scheduler::Wlc);
        assert_eq!(svc.dests.len(), 2);
    }

    /// The dump's view: keepalived's `retry_it` starts at the retry count
    /// (not for a checker a reload adds), the tasks' counters show
    /// through, and `set` follows the table.
    #[test]
    fn view_counters_and_set() {
        let (mut m, _) = Manager::new(cfg(vs(vec![rs(2, 3, 1, false)])));
        let v = m.view();
        assert_eq!(v[0].rs[0].checkers[0].retry_it, 1);
        assert!(v[0].set && v[0].rs[0].set && v[0].rs[0].alive);
        let id = CheckerId(1);
        m.handle(Event::Retries {
            id,
            retry_it: 0,
            failed_url: Some(1),
        });
        m.handle(Event::MiscRan {
            id,
            at_us: 5,
            status: 7,
        });
        m.handle(Event::Checker {
            id,
            up: false,
            note: None,
        });
        let v = m.view();
        let (r, k) = (&v[0].rs[0], &v[0].rs[0].checkers[0]);
        assert_eq!(
            (k.retry_it, k.failed_url, k.last_ran_us, k.last_status),
            (0, Some(1), 5, 7)
        );
        assert_eq!((k.is_up, k.has_run), (false, true));
        assert_eq!((r.alive, r.set, r.failed), (false, false, 1));
        // a reload adding a real server: its checker starts at 0; the kept
        // ones are marked
        assert!(!v[0].reloaded && !v[0].rs[0].reloaded);
        m.reload(cfg(vs(vec![rs(2, 3, 1, false), rs(3, 1, 1, false)])));
        let v = m.view();
        assert_eq!(v[0].rs[1].checkers[0].retry_it, 0);
        assert!(v[0].reloaded && v[0].rs[0].reloaded && !v[0].rs[1].reloaded);
        assert_eq!((v[0].rs[0].prev_weight, v[0].rs[1].prev_weight), (3, 0));
    }

    fn logs(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Log(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    fn notifies(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notify(s) => Some(s.argv()[1].clone()),
                _ => None,
            })
            .collect()
    }

    fn fifo(effects: &[Effect]) -> Vec<Vec<u8>> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Fifo(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    fn ids(effects: &[Effect]) -> Vec<CheckerId> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Start(s) => Some(s.id),
                _ => None,
            })
            .collect()
    }

    fn mails(effects: &[Effect]) -> Vec<Mail> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Mail(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn rs_mail(last: u8, up: bool, body: &str) -> Mail {
        Mail::RealServer {
            rs: format!("[192.168.1.{last}]:tcp:80"),
            vs: VS.into(),
            up,
            body: body.into(),
        }
    }

    fn vs_mail(up: bool, body: &str) -> Mail {
        Mail::VirtualServer {
            vs: VS.into(),
            up,
            body: body.into(),
        }
    }

    /// Real servers with `smtp_alert` (two TCP checkers on .2), a VS with it.
    fn mail_manager(no_checker_emails: bool) -> (Manager, Vec<CheckerId>, Vec<Effect>) {
        let mut a = rs(2, 1, 2, false);
        a.smtp_alert = true;
        let mut b = rs(3, 1, 1, false);
        b.smtp_alert = true;
        let mut v = vs(vec![a, b]);
        v.smtp_alert = true;
        v.quorum = 2;
        let (m, fx) = Manager::new(LvsCfg {
            virtual_servers: vec![v],
            no_checker_emails,
            ..LvsCfg::default()
        });
        let id = ids(&fx);
        (m, id, fx)
    }

    /// check_tcp.c / ipwrapper.c: the checker's mail carries the real
    /// server's state; quorum changes mail the VS ("+" and "<=" both ways).
    #[test]
    fn mails_follow_keepalived_checkers_and_quorum() {
        let (mut m, id, start) = mail_manager(false);
        assert_eq!(
            mails(&start),
            [vs_mail(true, "=> Starting with quorum up 2+0=2 <= 2 <=")]
        );
        let fx = down(&mut m, id[0]);
        assert_eq!(
            mails(&fx),
            [
                vs_mail(false, "=> Lost quorum 2+0=2 <= 1 <="),
                rs_mail(2, false, "=> TCP CHECK failed on service <="),
            ]
        );
        // The second checker of the same (already down) server still mails.
        let fx = down(&mut m, id[1]);
        assert_eq!(
            mails(&fx),
            [rs_mail(2, false, "=> TCP CHECK failed on service <=")]
        );
        assert_eq!(mails(&down(&mut m, id[1])), [], "no change, no mail");
        // One checker back: the server is still down, and says so.
        assert_eq!(
            mails(&up(&mut m, id[0])),
            [rs_mail(2, false, "=> TCP CHECK succeed on service <=")]
        );
        assert_eq!(
            mails(&up(&mut m, id[1])),
            [
                vs_mail(true, "=> Gained quorum 2+0=2 <= 2 <="),
                rs_mail(2, true, "=> TCP CHECK succeed on service <="),
            ]
        );
    }

    /// `no_checker_emails`: only verdicts that change the real server mail.
    #[test]
    fn no_checker_emails_mails_only_server_changes() {
        let (mut m, id, _) = mail_manager(true);
        assert_eq!(mails(&down(&mut m, id[0])).len(), 2);
        assert_eq!(mails(&down(&mut m, id[1])), []);
        assert_eq!(mails(&up(&mut m, id[0])), []);
        assert_eq!(
            mails(&up(&mut m, id[1])),
            [
                vs_mail(true, "=> Gained quorum 2+0=2 <= 2 <="),
                rs_mail(2, true, "=> TCP CHECK succeed on service <="),
            ]
        );
    }

    #[test]
    fn no_mail_without_smtp_alert() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false)])));
        let id = ids(&fx);
        assert!(mails(&fx).is_empty());
        assert!(mails(&down(&mut m, id[0])).is_empty());
    }

    /// MISC_CHECK mails every verdict it reports (no "was up" test in
    /// check_misc.c), with its exit word; a reload that drops a live
    /// server mails "Removing".
    #[test]
    fn misc_mails_each_report_and_reload_removal() {
        let mut a = rs(2, 1, 1, false);
        a.smtp_alert = true;
        a.checkers[0].kind = CheckKind::Misc(MiscCfg {
            script: script("misc"),
            timeout: Duration::from_secs(5),
            dynamic: false,
        });
        let (mut m, fx) = Manager::new(cfg(vs(vec![a, rs(3, 1, 1, false)])));
        let id = ids(&fx);
        let fx = m.handle(Event::Checker {
            id: id[0],
            up: true,
            note: Some("succeeded".into()),
        });
        assert_eq!(
            mails(&fx),
            [rs_mail(2, true, "=> MISC CHECK succeeded on service <=")]
        );
        let fx = m.handle(Event::Checker {
            id: id[0],
            up: false,
            note: Some("timed out".into()),
        });
        assert_eq!(
            mails(&fx),
            [rs_mail(2, false, "=> MISC CHECK timed out on service <=")]
        );
        up(&mut m, id[0]);
        let mut keep = vs(vec![rs(3, 1, 1, false)]);
        keep.real_servers[0].smtp_alert = true;
        let fx = m.reload(cfg(keep));
        assert_eq!(mails(&fx), [rs_mail(2, false, "=> Removing <=")]);
    }

    #[test]
    fn checker_bodies() {
        let b = |k: &CheckKind, up, note| checker_mail_body(k, up, note).unwrap();
        assert_eq!(
            b(&CheckKind::Ping, false, None),
            "=> ICMP CHECK failed on service <="
        );
        assert_eq!(
            b(
                &CheckKind::Smtp(SmtpCfg {
                    helo_name: "h".into(),
                    extra_hosts: vec![],
                }),
                false,
                Some("Connection timeout to server [10.0.0.2]:25")
            ),
            "=> CHECK failed on service : Connection timeout to server [10.0.0.2]:25 <="
        );
        assert_eq!(
            b(
                &CheckKind::Smtp(SmtpCfg {
                    helo_name: "h".into(),
                    extra_hosts: vec![],
                }),
                true,
                None
            ),
            "=> CHECK succeed on service <="
        );
        assert_eq!(
            b(
                &CheckKind::Dns(DnsCfg {
                    qtype: "SOA".into(),
                    name: String::new(),
                }),
                true,
                None
            ),
            "=> DNS_CHECK: succeed on service <="
        );
        assert_eq!(
            b(
                &CheckKind::Udp(UdpCfg {
                    payload: None,
                    require_reply: None,
                    min_reply_length: 0,
                    max_reply_length: 0,
                }),
                false,
                None
            ),
            "=> UDP CHECK failed on service <="
        );
    }

    fn down(m: &mut Manager, id: CheckerId) -> Vec<Effect> {
        m.handle(Event::Checker {
            id,
            up: false,
            note: None,
        })
    }

    fn up(m: &mut Manager, id: CheckerId) -> Vec<Effect> {
        m.handle(Event::Checker {
            id,
            up: true,
            note: None,
        })
    }

    #[test]
    fn non_alpha_start_adds_real_servers_and_gains_quorum() {
        let (m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 2, 1, false)])));
        assert_eq!(
            logs(&fx),
            [
                "Gained quorum 1+0=1 <= 3 for VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.3]:tcp:80 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(notifies(&fx), ["qup"]);
        assert_eq!(fifo(&fx), [b"VS [10.0.0.1]:tcp:80 UP\n".to_vec()]);
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s wlc\n\
             -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1\n\
             -a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 2\n"
        );
        assert_eq!(ids(&fx).len(), 2);
    }

    #[test]
    fn rs_init_notifies_runs_notify_up_at_start() {
        let mut c = cfg(vs(vec![rs(2, 1, 1, false)]));
        c.rs_init_notifies = true;
        let (_, fx) = Manager::new(c);
        assert_eq!(notifies(&fx), ["up2", "qup"]);
    }

    #[test]
    fn alpha_starts_down_and_first_success_adds() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, true)])));
        assert_eq!(
            logs(&fx),
            ["Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
        assert_eq!(m.desired().to_string(), "-A -t 10.0.0.1:80 -s wlc\n");
        let id = ids(&fx)[0];
        let fx = up(&mut m, id);
        assert_eq!(
            logs(&fx),
            [
                "Adding service [192.168.1.2]:tcp:80 to VS [10.0.0.1]:tcp:80",
                "Gained quorum 1+0=1 <= 1 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(notifies(&fx), ["up2", "qup"]);
        assert_eq!(
            fifo(&fx),
            [
                b"RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP\n".to_vec(),
                b"VS [10.0.0.1]:tcp:80 UP\n".to_vec()
            ]
        );
        assert!(
            m.desired()
                .to_string()
                .contains("-r 192.168.1.2:80 -m -w 1")
        );
    }

    #[test]
    fn alpha_first_failure_runs_notify_down_without_state_change() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, true)])));
        let fx = down(&mut m, ids(&fx)[0]);
        assert!(logs(&fx).is_empty());
        assert_eq!(notifies(&fx), ["down2"]);
        assert_eq!(
            fifo(&fx),
            [b"RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n".to_vec()]
        );
    }

    #[test]
    fn failure_removes_and_loses_quorum() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false)])));
        let id = ids(&fx)[0];
        assert!(up(&mut m, id).is_empty(), "confirming success is silent");
        let fx = down(&mut m, id);
        assert_eq!(
            logs(&fx),
            [
                "Removing service [192.168.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80",
                "Lost quorum 1-0=1 > 0 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(notifies(&fx), ["down2", "qdown"]);
        assert_eq!(m.desired().to_string(), "-A -t 10.0.0.1:80 -s wlc\n");
        assert_eq!(m.rs_alive(VS, "[192.168.1.2]:tcp:80"), Some(false));
        assert_eq!(m.quorum_up(VS), Some(false));
    }

    /// The driver rebuilds the table only after a change: a confirming
    /// first success (thousands at start) is not one.
    #[test]
    fn changed_only_when_the_table_can_differ() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 1, 1, false)])));
        assert!(m.take_changed());
        assert!(!m.take_changed());
        let id = ids(&fx);
        up(&mut m, id[0]);
        assert!(!m.take_changed(), "confirmation changes nothing");
        down(&mut m, id[0]);
        assert!(m.take_changed());
        down(&mut m, id[0]);
        assert!(!m.take_changed());
        m.handle(Event::MiscStatus {
            id: id[1],
            status: 9,
        });
        assert!(m.take_changed(), "weight change");
        m.reload(cfg(vs(vec![rs(2, 1, 1, false)])));
        assert!(m.take_changed());
    }

    #[test]
    fn inhibit_on_failure_sets_weight_zero() {
        let mut r = rs(2, 5, 1, false);
        r.inhibit_on_failure = true;
        let (mut m, fx) = Manager::new(cfg(vs(vec![r, rs(3, 1, 1, false)])));
        let id = ids(&fx)[0];
        let fx = down(&mut m, id);
        assert_eq!(
            logs(&fx),
            ["Disabling service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80"]
        );
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s wlc\n\
             -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 0\n\
             -a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 1\n"
        );
        let fx = up(&mut m, id);
        assert_eq!(
            logs(&fx),
            ["Enabling service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80"]
        );
        assert!(m.desired().to_string().contains("192.168.1.2:80 -m -w 5"));
    }

    #[test]
    fn inhibited_alpha_server_is_in_the_table_with_weight_zero_from_start() {
        let mut r = rs(2, 5, 1, true);
        r.inhibit_on_failure = true;
        let (m, _) = Manager::new(cfg(vs(vec![r])));
        assert!(m.desired().to_string().contains("192.168.1.2:80 -m -w 0"));
    }

    #[test]
    fn alive_iff_all_checkers_up() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 2, false)])));
        let (a, b) = (ids(&fx)[0], ids(&fx)[1]);
        assert_eq!(logs(&down(&mut m, a)).len(), 2); // removed + lost quorum
        assert!(logs(&down(&mut m, b)).is_empty());
        assert!(logs(&up(&mut m, a)).is_empty(), "b still failing");
        assert_eq!(m.rs_alive(VS, "[192.168.1.2]:tcp:80"), Some(false));
        let fx = up(&mut m, b);
        assert_eq!(
            logs(&fx)[0],
            "Adding service [192.168.1.2]:tcp:80 to VS [10.0.0.1]:tcp:80"
        );
        assert_eq!(m.rs_alive(VS, "[192.168.1.2]:tcp:80"), Some(true));
    }

    fn sorry_vs(inhibit: bool) -> VsCfg {
        let mut v = vs(vec![
            rs(2, 1, 1, false),
            rs(3, 1, 1, false),
            rs(4, 1, 1, false),
        ]);
        v.quorum = 2;
        v.hysteresis = 1;
        v.sorry_server = Some(SorryCfg {
            key: DestKey::new("192.168.9.9:80".parse().unwrap()),
            dest: Dest::new(Fwd::Masq, 1),
            inhibit,
            name: "[192.168.9.9]:tcp:80".into(),
        });
        v
    }

    /// quorum 2, hysteresis 1: gain at >= 3, lose below 1 (or at 0).
    #[test]
    fn quorum_hysteresis_swaps_the_sorry_server() {
        let (mut m, fx) = Manager::new(cfg(sorry_vs(false)));
        assert_eq!(
            logs(&fx)[0],
            "Gained quorum 2+1=3 <= 3 for VS [10.0.0.1]:tcp:80"
        );
        let id = ids(&fx);
        assert_eq!(logs(&down(&mut m, id[0])).len(), 1, "2 >= 1: quorum holds");
        assert_eq!(logs(&down(&mut m, id[1])).len(), 1, "1 >= 1: quorum holds");
        let fx = down(&mut m, id[2]);
        assert_eq!(
            logs(&fx),
            [
                "Removing service [192.168.1.4]:tcp:80 from VS [10.0.0.1]:tcp:80",
                "Lost quorum 2-1=1 > 0 for VS [10.0.0.1]:tcp:80",
                "Adding sorry server [192.168.9.9]:tcp:80 to VS [10.0.0.1]:tcp:80",
                "Removing alive servers from the pool for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.9.9:80 -m -w 1\n"
        );
        // one and two back: still below 3, sorry server stays, RS not in pool
        let fx = up(&mut m, id[0]);
        assert_eq!(
            logs(&fx),
            ["Adding service [192.168.1.2]:tcp:80 to VS [10.0.0.1]:tcp:80"]
        );
        up(&mut m, id[1]);
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.9.9:80 -m -w 1\n"
        );
        let fx = up(&mut m, id[2]);
        assert_eq!(
            logs(&fx),
            [
                "Adding service [192.168.1.4]:tcp:80 to VS [10.0.0.1]:tcp:80",
                "Gained quorum 2+1=3 <= 3 for VS [10.0.0.1]:tcp:80",
                "Removing sorry server [192.168.9.9]:tcp:80 from VS [10.0.0.1]:tcp:80",
                "Adding alive servers to the pool for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(m.desired().dest_count(), 3);
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_weight_zero() {
        let (mut m, fx) = Manager::new(cfg(sorry_vs(true)));
        assert!(m.desired().to_string().contains("192.168.9.9:80 -m -w 0"));
        let id = ids(&fx);
        for i in &id {
            down(&mut m, *i);
        }
        let t = m.desired().to_string();
        assert!(t.contains("192.168.9.9:80 -m -w 1"), "{t}");
    }

    #[test]
    fn alpha_with_sorry_server_starts_with_quorum_down() {
        let mut v = sorry_vs(false);
        for r in &mut v.real_servers {
            r.checkers[0].alpha = true;
        }
        let (m, fx) = Manager::new(cfg(v));
        assert_eq!(
            logs(&fx)[..3],
            [
                "Starting with quorum down 2-1=3 > 0 for VS [10.0.0.1]:tcp:80",
                "Adding sorry server [192.168.9.9]:tcp:80 to VS [10.0.0.1]:tcp:80",
                "Removing alive servers from the pool for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(notifies(&fx), ["qdown"]);
        assert_eq!(m.desired().dest_count(), 1);
    }

    #[test]
    fn misc_dynamic_sets_weight() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 10, 1, false)])));
        let id = ids(&fx)[0];
        let fx = m.handle(Event::MiscStatus { id, status: 7 });
        assert_eq!(
            logs(&fx),
            [
                "Changing weight from 10 to 5 for active service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80"
            ]
        );
        assert!(m.desired().to_string().contains("-w 5"));
        // exit 0 restores the configured weight
        let fx = m.handle(Event::MiscStatus { id, status: 0 });
        assert_eq!(
            logs(&fx),
            [
                "Changing weight from 5 to 10 for active service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80"
            ]
        );
    }

    #[test]
    fn fifo_trailing_nul_when_asked() {
        let mut c = cfg(vs(vec![rs(2, 1, 1, false)]));
        c.fifo_trailing_nul = true;
        let (_, fx) = Manager::new(c);
        assert_eq!(fifo(&fx), [b"VS [10.0.0.1]:tcp:80 UP\n\0".to_vec()]);
        assert_eq!(fifo_line("RS a b DOWN", false), b"RS a b DOWN\n");
    }

    #[test]
    fn reload_keeps_unchanged_checkers_and_state() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 1, 1, false)])));
        let id = ids(&fx);
        down(&mut m, id[1]);
        let before = m.desired();
        // same config: nothing restarts; keepalived's activation lines,
        // which it logs for every checker at a reload
        let fx = m.reload(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 1, 1, false)])));
        assert!(
            fx.iter()
                .all(|e| !matches!(e, Effect::Start(_) | Effect::Stop(_))),
            "{fx:?}"
        );
        assert_eq!(
            logs(&fx),
            [
                "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.3]:tcp:80 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(m.desired(), before);
        assert_eq!(m.running(), {
            let mut v = id.clone();
            v.sort();
            v
        });
        // the failed one is still failed: one success brings it back
        let fx = up(&mut m, id[1]);
        assert_eq!(
            logs(&fx),
            ["Adding service [192.168.1.3]:tcp:80 to VS [10.0.0.1]:tcp:80"]
        );
    }

    #[test]
    fn reload_changed_checker_restarts_only_that_one() {
        let (mut m, fx) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 1, 1, false)])));
        let id = ids(&fx);
        let mut r3 = rs(3, 1, 1, false);
        r3.checkers[0].retry = 5;
        let fx = m.reload(cfg(vs(vec![rs(2, 1, 1, false), r3])));
        let started = ids(&fx);
        assert_eq!(started.len(), 1);
        assert!(fx.contains(&Effect::Stop(id[1])));
        assert!(!fx.contains(&Effect::Stop(id[0])));
        assert_eq!(
            logs(&fx),
            [
                "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.3]:tcp:80 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(m.desired().dest_count(), 2, "no flap");
    }

    #[test]
    fn reload_removes_real_server_and_vs() {
        let (mut m, _) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false), rs(3, 1, 1, false)])));
        let fx = m.reload(cfg(vs(vec![rs(2, 1, 1, false)])));
        assert_eq!(
            logs(&fx),
            [
                "service [192.168.1.3]:tcp:80 no longer exist",
                "Removing service [192.168.1.3]:tcp:80 from VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert_eq!(notifies(&fx), ["down3"]);
        assert_eq!(m.desired().dest_count(), 1);
        let fx = m.reload(LvsCfg::default());
        assert_eq!(
            logs(&fx),
            [
                "Removing Virtual Server [10.0.0.1]:tcp:80",
                "Removing service [192.168.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80",
            ]
        );
        assert!(m.desired().is_empty());
        assert!(m.running().is_empty());
    }

    #[test]
    fn reload_weight_change_is_logged_and_applied() {
        let (mut m, _) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false)])));
        let fx = m.reload(cfg(vs(vec![rs(2, 4, 1, false)])));
        assert_eq!(
            logs(&fx),
            [
                "Changing weight from 1 to 4 for active service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80",
                "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
            ]
        );
        assert!(m.desired().to_string().contains("-w 4"));
    }

    #[test]
    fn group_expands_to_every_service() {
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.name = "[G1]:80".into();
        v.services.push((
            ServiceKey::tcp("10.0.0.2:80".parse().unwrap()),
            Service::new(Scheduler::Wlc),
        ));
        let (mut m, _) = Manager::new(cfg(v));
        assert_eq!(m.desired().dest_count(), 2);
        let fx = m.reload(LvsCfg::default());
        assert_eq!(logs(&fx)[0], "Removing Virtual Server Group [G1]");
    }

    #[test]
    fn shutdown_with_omega_runs_down_notifies() {
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.omega = true;
        let (mut m, _) = Manager::new(cfg(v));
        let fx = m.shutdown();
        assert_eq!(
            logs(&fx),
            ["Shutting down service [192.168.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80"]
        );
        assert_eq!(notifies(&fx), ["down2", "qdown"]);
        assert!(m.desired().is_empty());
        let (mut m, _) = Manager::new(cfg(vs(vec![rs(2, 1, 1, false)])));
        assert!(notifies(&m.shutdown()).is_empty(), "no omega: no notifies");
    }

    fn addr_ev(ifindex: u32, addr: &str, present: bool) -> Event {
        Event::LocalAddr(AddrEvent {
            ifindex,
            addr: addr.parse().unwrap(),
            present,
        })
    }

    fn details(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Detail(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    fn gates(effects: &[Effect]) -> Vec<Option<bool>> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Start(s) => Some(s.gate.as_ref().map(Gate::is_open)),
                _ => None,
            })
            .collect()
    }

    const RS2: &str = "[192.168.1.2]:tcp:80";

    #[test]
    fn ha_suspend_without_the_address_starts_deactivated() {
        // Input: VS with ha_suspend, 10.0.0.1 not on this host.
        // Output: "Deactivating", the checker task runs gated shut; the real
        // server is in the table as keepalived's init_services puts it.
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        let (mut m, fx) = Manager::new(cfg(v));
        assert_eq!(
            logs(&fx),
            [
                "Gained quorum 1+0=1 <= 1 for VS [10.0.0.1]:tcp:80",
                "Deactivating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"
            ]
        );
        assert_eq!(gates(&fx), [Some(false)]);
        assert!(m.running().is_empty());
        assert_eq!(m.desired().dest_count(), 1);

        // an unrelated address changes nothing and logs nothing
        let fx = m.handle(addr_ev(2, "10.0.0.9", true));
        assert!(fx.is_empty(), "{fx:?}");

        let fx = m.handle(addr_ev(2, "10.0.0.1", true));
        assert_eq!(
            details(&fx),
            ["Netlink reflector reports IP 10.0.0.1 added"]
        );
        assert_eq!(
            logs(&fx),
            ["Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
        assert!(
            ids(&fx).is_empty(),
            "the running task is ungated, not restarted"
        );
        assert_eq!(m.running().len(), 1);

        let fx = m.handle(addr_ev(2, "10.0.0.1", false));
        assert_eq!(
            details(&fx),
            ["Netlink reflector reports IP 10.0.0.1 removed"]
        );
        assert_eq!(
            logs(&fx),
            ["Suspending healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
        assert!(m.running().is_empty());
    }

    #[test]
    fn ha_suspend_gate_follows_the_manager() {
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        let (mut m, fx) = Manager::new(cfg(v));
        let Some(Effect::Start(s)) = fx.iter().find(|e| matches!(e, Effect::Start(_))) else {
            panic!("no start: {fx:?}");
        };
        let gate = s.gate.clone().unwrap();
        assert!(!gate.is_open());
        m.handle(addr_ev(2, "10.0.0.1", true));
        assert!(gate.is_open());
        m.handle(addr_ev(2, "10.0.0.1", false));
        assert!(!gate.is_open());
    }

    #[test]
    fn ha_suspend_with_the_address_starts_activated() {
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        let dump = [AddrEvent {
            ifindex: 1,
            addr: "10.0.0.1".parse().unwrap(),
            present: true,
        }];
        let (m, fx) = Manager::with_addrs(cfg(v), &dump);
        // the dump's line comes before the checkers start, as in keepalived
        assert!(
            matches!(&fx[0], Effect::Detail(l) if l == "Netlink reflector reports IP 10.0.0.1 added")
        );
        assert_eq!(
            logs(&fx)[1],
            "Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"
        );
        assert_eq!(gates(&fx), [Some(true)]);
        assert_eq!(m.running().len(), 1);
    }

    #[test]
    fn ha_suspend_preset_equals_building_with_the_addresses() {
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        let dump = [AddrEvent {
            ifindex: 1,
            addr: "10.0.0.1".parse().unwrap(),
            present: true,
        }];
        let (mut m, fx) = Manager::new(cfg(v.clone()));
        assert!(m.uses_ha_suspend());
        let (details, on) = m.preset_addrs(&dump);
        assert_eq!(on, [VS]);
        assert_eq!(details.len(), 1);
        assert_eq!(gates(&fx), [Some(true)], "the task's gate opened");
        let (built, _) = Manager::with_addrs(cfg(v), &dump);
        assert_eq!(m.running().len(), built.running().len());
        // later events behave alike
        let fx = m.handle(addr_ev(1, "10.0.0.1", false));
        assert_eq!(logs(&fx).len(), 1);
        assert!(logs(&fx)[0].starts_with("Suspending"));
    }

    #[test]
    fn ha_suspend_real_server_state_is_frozen_while_suspended() {
        // a verdict still in flight when the checker is suspended counts,
        // as in keepalived (only the next probe is skipped); the table
        // does not change by itself on suspension
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        let (mut m, fx) = Manager::with_addrs(
            cfg(v),
            &[AddrEvent {
                ifindex: 1,
                addr: "10.0.0.1".parse().unwrap(),
                present: true,
            }],
        );
        let id = ids(&fx)[0];
        down(&mut m, id);
        assert_eq!(m.rs_alive(VS, RS2), Some(false));
        let before = m.desired();
        let fx = m.handle(addr_ev(1, "10.0.0.1", false));
        assert_eq!(logs(&fx).len(), 1);
        assert_eq!(m.desired(), before);
        assert_eq!(m.rs_alive(VS, RS2), Some(false));
        up(&mut m, id);
        assert_eq!(m.rs_alive(VS, RS2), Some(true));
    }

    #[test]
    fn ha_suspend_needs_the_address_gone_from_every_interface() {
        let mut v = vs(vec![rs(2, 1, 2, false)]);
        v.ha_suspend = true;
        let (mut m, _) = Manager::new(cfg(v));
        assert_eq!(logs(&m.handle(addr_ev(2, "10.0.0.1", true))).len(), 2);
        // second interface: reported, nothing to switch
        let fx = m.handle(addr_ev(3, "10.0.0.1", true));
        assert_eq!(details(&fx).len(), 1);
        assert!(logs(&fx).is_empty());
        let fx = m.handle(addr_ev(2, "10.0.0.1", false));
        assert!(logs(&fx).is_empty(), "still on ifindex 3: {fx:?}");
        assert_eq!(m.running().len(), 2);
        let fx = m.handle(addr_ev(3, "10.0.0.1", false));
        assert_eq!(
            logs(&fx),
            [
                "Suspending healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
                "Suspending healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"
            ]
        );
    }

    #[test]
    fn ha_suspend_on_a_group_never_activates() {
        // keepalived 2.2.7 addr_matches() is false for any group
        let mut v = vs(vec![rs(2, 1, 1, false)]);
        v.ha_suspend = true;
        v.addr = None;
        v.name = "[G]:80".into();
        let (mut m, fx) = Manager::with_addrs(
            cfg(v),
            &[AddrEvent {
                ifindex: 1,
                addr: "10.0.0.1".parse().unwrap(),
                present: true,
            }],
        );
        assert!(details(&fx).is_empty());
        assert!(logs(&fx)[1].starts_with("Deactivating"));
        assert!(m.handle(addr_ev(2, "10.0.0.1", true)).is_empty());
        assert!(m.running().is_empty());
    }

    #[test]
    fn ha_suspend_file_check_is_switched_but_never_deactivated_at_start() {
        // FILE_CHECK has no probe thread: keepalived neither logs it at
        // start nor disables it there, but the address events toggle it
        let mut r = rs(2, 1, 0, false);
        let mut f = checker(false);
        f.kind = CheckKind::File(FileCfg {
            path: "/nonexistent".into(),
            weight: 0,
            reverse: false,
        });
        r.checkers.push(f);
        let mut v = vs(vec![r]);
        v.ha_suspend = true;
        let (mut m, fx) = Manager::new(cfg(v));
        assert!(!logs(&fx).iter().any(|l| l.contains("ctivating")));
        assert_eq!(gates(&fx), [None]);
        assert!(logs(&m.handle(addr_ev(2, "10.0.0.1", true))).is_empty());
        assert_eq!(
            logs(&m.handle(addr_ev(2, "10.0.0.1", false))),
            ["Suspending healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
        assert_eq!(
            logs(&m.handle(addr_ev(2, "10.0.0.1", true))),
            ["Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
    }

    #[test]
    fn ha_suspend_reload_uses_the_addresses_known_now() {
        let plain = vs(vec![rs(2, 1, 1, false)]);
        let (mut m, fx) = Manager::new(cfg(plain.clone()));
        let old = ids(&fx)[0];
        m.handle(addr_ev(2, "10.0.0.9", true));
        // ha_suspend turned on, address absent: the ungated task is
        // replaced by a gated, shut one
        let mut ha = plain.clone();
        ha.ha_suspend = true;
        let fx = m.reload(cfg(ha.clone()));
        assert!(fx.contains(&Effect::Stop(old)));
        assert_eq!(gates(&fx), [Some(false)]);
        assert!(logs(&fx).iter().any(|l| l.starts_with("Deactivating")));
        assert!(m.running().is_empty());
        // the address comes; a reload keeps the (open) gated task
        m.handle(addr_ev(2, "10.0.0.1", true));
        let fx = m.reload(cfg(ha));
        assert!(ids(&fx).is_empty() && !fx.iter().any(|e| matches!(e, Effect::Stop(_))));
        assert_eq!(m.running().len(), 1);
        // suspended, then ha_suspend turned off: activated again
        m.handle(addr_ev(2, "10.0.0.1", false));
        assert!(m.running().is_empty());
        let fx = m.reload(cfg(plain));
        assert_eq!(
            logs(&fx),
            ["Activating healthchecker for service [192.168.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80"]
        );
        assert_eq!(m.running().len(), 1);
    }

    #[test]
    fn direct_routing_dests_take_each_service_port() {
        let mut r = rs(2, 1, 1, false);
        r.dest.fwd = Fwd::Route;
        r.key.port = 0;
        let mut v = vs(vec![r]);
        v.services.push((
            ServiceKey::tcp("10.0.0.2:443".parse().unwrap()),
            Service::new(Scheduler::Wlc),
        ));
        v.services.push((
            ipvs::ServiceKey::fwmark(ipvs::model::Af::Inet, 9),
            Service::new(Scheduler::Wlc),
        ));
        let (m, _) = Manager::new(cfg(v));
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 1\n\
             -A -t 10.0.0.2:443 -s wlc\n-a -t 10.0.0.2:443 -r 192.168.1.2:443 -g -w 1\n\
             -A -f 9 -s wlc\n-a -f 9 -r 192.168.1.2:0 -g -w 1\n"
        );
    }
}
