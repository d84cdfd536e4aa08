//! The files keepalived writes on request, which exporters and monitoring
//! parse: `keepalived.stats` (SIGUSR2), `keepalived.json` (SIGRTMIN+2) and
//! the sync group, script and track file sections of `keepalived.data`
//! (SIGUSR1). Pure formatting: the caller gathers the values (the FSM's
//! state and counters, the configuration, the scripts' results) and writes
//! the file.
//!
//! All are byte for byte keepalived 2.2.7's: the same order of instances
//! and keys, the same number formats (`%g` for its floating fields, `%f`
//! for `last_transition`) and the same JSON escaping (`/` written as
//! `\/`).

use std::fmt::Write as _;

use crate::fsm::{Instance, InstanceCfg, State, Stats};
use crate::types::{Centisecs, Priority};

/// What the dump files need from one running instance, taken between two
/// inputs of its state machine.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cfg: InstanceCfg,
    pub state: State,
    pub wantstate: State,
    pub effective: Priority,
    pub master_priority: Priority,
    pub master_addr: Option<std::net::IpAddr>,
    pub master_adver_int: Centisecs,
    pub stats: Stats,
    /// When the next `garp_extra_if` burst is due, if ever armed.
    pub garp_extra_at: Option<std::time::Instant>,
    /// Trackers holding it in FAULT, and weight-0 ones yet to report.
    pub faults: usize,
    pub pending: usize,
    /// Its timer (next advert or master down deadline), if armed.
    pub read_timeout: Option<std::time::Instant>,
    /// The master down interval, in microseconds.
    pub master_down_timer: u64,
}

impl Snapshot {
    pub fn of(i: &Instance) -> Self {
        Snapshot {
            cfg: i.cfg().clone(),
            state: i.state(),
            wantstate: i.wantstate(),
            effective: i.effective_priority(),
            master_priority: i.master_priority(),
            master_addr: i.master_addr(),
            master_adver_int: i.master_adver_int(),
            stats: i.stats().clone(),
            garp_extra_at: i.garp_extra_at(),
            faults: i.fault_count(),
            pending: i.pending_count(),
            read_timeout: i.read_timeout(),
            master_down_timer: i.master_down_timer(),
        }
    }
}

/// keepalived's numeric state codes in the JSON dump.
pub fn state_code(s: State) -> u32 {
    match s {
        State::Init => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
        State::Stop => 98,
    }
}

/// `keepalived.stats`: one block per instance, in configuration order.
pub fn stats_text<'a>(instances: impl IntoIterator<Item = (&'a str, &'a Stats)>) -> String {
    let mut o = String::new();
    for (name, s) in instances {
        // keepalived 2.2.7 declares an advert-interval counter but never
        // increments it, so the line is always 0.
        let _ = write!(
            o,
            "VRRP Instance: {name}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  \
             Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    \
             TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: 0\n    Address List: {}\n  \
             Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    \
             Failure: {}\n  Priority Zero:\n    Received: {}\n    Sent: {}\n",
            s.advert_rcvd,
            s.advert_sent,
            s.become_master,
            s.release_master,
            s.packet_len_err,
            s.ip_ttl_err,
            s.invalid_type_rcvd,
            s.addr_list_err,
            s.invalid_authtype,
            s.authtype_mismatch,
            s.auth_failure,
            s.pri_zero_rcvd,
            s.pri_zero_sent,
        );
    }
    o
}

/// Everything `keepalived.json` says about one instance (its `data` object
/// and its `stats`). Times are in seconds.
/// `Default` is every value zero, false or empty, in INIT.
#[derive(Debug, Clone, Default)]
pub struct JsonInstance {
    pub iname: String,
    pub dont_track_primary: bool,
    pub skip_check_adv_addr: bool,
    pub strict_mode: bool,
    /// The VMAC interface's name; empty without `use_vmac`.
    pub vmac_ifname: String,
    /// `None` for a unicast instance without an interface.
    pub ifp_ifname: Option<String>,
    pub master_priority: u32,
    /// Seconds since the epoch of the last state change (or of the start).
    pub last_transition: f64,
    pub garp_delay: f64,
    pub garp_refresh: u64,
    pub garp_rep: u32,
    pub garp_refresh_rep: u32,
    pub garp_lower_prio_delay: u64,
    pub garp_lower_prio_rep: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub vrid: u32,
    pub base_priority: u32,
    pub effective_priority: u32,
    pub vipset: bool,
    pub promote_secondaries: bool,
    pub adver_int: f64,
    pub master_adver_int: f64,
    /// keepalived writes `accept` as a number (1 unless strict mode).
    pub accept: bool,
    pub nopreempt: bool,
    pub preempt_delay: u64,
    pub state: State,
    pub wantstate: State,
    pub version: u32,
    pub smtp_alert: bool,
    pub notify_deleted: bool,
    /// `script_backup`, `script_master`, … in keepalived's order, only the
    /// configured ones, each as its command line.
    pub scripts: Vec<(&'static str, String)>,
    /// `10.0.0.1/24 dev eth0 scope global`, as keepalived formats them.
    pub vips: Vec<String>,
    pub evips: Vec<String>,
    pub vroutes: Vec<String>,
    pub vrules: Vec<String>,
    pub track_ifp: Vec<String>,
    pub track_script: Vec<String>,
    /// 0 none, 1 PASS, 2 AH.
    pub auth_type: u32,
    /// The PASS password, as keepalived writes it.
    pub auth_data: Option<String>,
    pub stats: Stats,
}

/// keepalived's JSON string escaping (its json_writer): `"` `\` `/` and
/// control characters.
fn string(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '/' => o.push_str("\\/"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

/// C's `%g` for the values keepalived prints with it (seconds with at most
/// centisecond precision): shortest form, no trailing zeros.
fn g(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

struct Obj<'a> {
    o: &'a mut String,
    first: bool,
}

impl Obj<'_> {
    fn key(&mut self, k: &str) {
        if !self.first {
            self.o.push(',');
        }
        self.first = false;
        string(self.o, k);
        self.o.push(':');
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.o.push_str(v);
    }
    fn uint(&mut self, k: &str, v: u64) {
        self.raw(k, &v.to_string());
    }
    fn flag(&mut self, k: &str, v: bool) {
        self.uint(k, u64::from(v));
    }
    fn boolean(&mut self, k: &str, v: bool) {
        self.raw(k, if v { "true" } else { "false" });
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        string(self.o, v);
    }
    /// keepalived leaves an empty list out.
    fn list(&mut self, k: &str, v: &[String]) {
        if v.is_empty() {
            return;
        }
        self.key(k);
        self.o.push('[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                self.o.push(',');
            }
            string(self.o, s);
        }
        self.o.push(']');
    }
}

/// `keepalived.json` (`json_version 1`): an array with one object per
/// instance, `{"data":{…},"stats":{…}}`.
pub fn json(instances: &[JsonInstance]) -> String {
    let mut o = String::from("[");
    for (i, v) in instances.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"data\":{");
        let mut d = Obj {
            o: &mut o,
            first: true,
        };
        d.str("iname", &v.iname);
        d.flag("dont_track_primary", v.dont_track_primary);
        d.flag("skip_check_adv_addr", v.skip_check_adv_addr);
        d.flag("strict_mode", v.strict_mode);
        d.str("vmac_ifname", &v.vmac_ifname);
        if let Some(ifp) = &v.ifp_ifname {
            d.str("ifp_ifname", ifp);
        }
        d.uint("master_priority", u64::from(v.master_priority));
        d.raw("last_transition", &format!("{:.6}", v.last_transition));
        d.raw("garp_delay", &g(v.garp_delay));
        d.uint("garp_refresh", v.garp_refresh);
        d.uint("garp_rep", u64::from(v.garp_rep));
        d.uint("garp_refresh_rep", u64::from(v.garp_refresh_rep));
        d.uint("garp_lower_prio_delay", v.garp_lower_prio_delay);
        d.uint("garp_lower_prio_rep", u64::from(v.garp_lower_prio_rep));
        d.flag("lower_prio_no_advert", v.lower_prio_no_advert);
        d.flag("higher_prio_send_advert", v.higher_prio_send_advert);
        d.uint("vrid", u64::from(v.vrid));
        d.uint("base_priority", u64::from(v.base_priority));
        d.uint("effective_priority", u64::from(v.effective_priority));
        d.boolean("vipset", v.vipset);
        d.boolean("promote_secondaries", v.promote_secondaries);
        d.raw("adver_int", &g(v.adver_int));
        d.raw("master_adver_int", &g(v.master_adver_int));
        d.flag("accept", v.accept);
        d.boolean("nopreempt", v.nopreempt);
        d.uint("preempt_delay", v.preempt_delay);
        d.uint("state", u64::from(state_code(v.state)));
        d.uint("wantstate", u64::from(state_code(v.wantstate)));
        d.uint("version", u64::from(v.version));
        d.boolean("smtp_alert", v.smtp_alert);
        d.boolean("notify_deleted", v.notify_deleted);
        for (k, cmd) in &v.scripts {
            d.str(k, cmd);
        }
        d.list("vips", &v.vips);
        d.list("evips", &v.evips);
        d.list("vroutes", &v.vroutes);
        d.list("vrules", &v.vrules);
        d.list("track_ifp", &v.track_ifp);
        d.list("track_script", &v.track_script);
        d.uint("auth_type", u64::from(v.auth_type));
        if let Some(a) = &v.auth_data {
            d.str("auth_data", a);
        }
        o.push_str("},\"stats\":{");
        let s = &v.stats;
        let mut st = Obj {
            o: &mut o,
            first: true,
        };
        st.uint("advert_rcvd", s.advert_rcvd);
        st.uint("advert_sent", s.advert_sent);
        st.uint("become_master", s.become_master);
        st.uint("release_master", s.release_master);
        st.uint("packet_len_err", s.packet_len_err);
        st.uint("advert_interval_err", 0);
        st.uint("ip_ttl_err", s.ip_ttl_err);
        st.uint("invalid_type_rcvd", s.invalid_type_rcvd);
        st.uint("addr_list_err", s.addr_list_err);
        st.uint("invalid_authtype", s.invalid_authtype);
        st.uint("authtype_mismatch", s.authtype_mismatch);
        st.uint("auth_failure", s.auth_failure);
        st.uint("pri_zero_rcvd", s.pri_zero_rcvd);
        st.uint("pri_zero_sent", s.pri_zero_sent);
        o.push_str("}}");
    }
    o.push(']');
    o
}

/// One object tracked by, or tracking, another in `keepalived.data`: a
/// name, the weight (0: a failure is a fault) and whether it counts
/// against the priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackLine {
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
}

impl TrackLine {
    fn reverse(&self) -> &'static str {
        if self.reverse { " reverse" } else { "" }
    }
}

/// A sync group as `keepalived.data` shows it.
#[derive(Debug, Clone)]
pub struct SyncGroupData {
    pub name: String,
    pub state: State,
    /// Members in FAULT, members still in INIT.
    pub members_fault: u32,
    pub members_init: u32,
    pub members: Vec<String>,
    pub tracking_weight: bool,
    pub smtp_alert: bool,
    /// Only when the group sets it.
    pub notify_priority_changes: Option<bool>,
    pub track_interfaces: Vec<TrackLine>,
    pub track_scripts: Vec<TrackLine>,
    pub track_files: Vec<TrackLine>,
    /// ("Backup"/"Master"/"Fault"/"Stop"/"Generic", command line, uid, gid),
    /// in that order, the configured ones.
    pub notify: Vec<(&'static str, String, u32, u32)>,
}

/// keepalived's start-up state of a vrrp_script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptInit {
    /// No result yet; one success brings it up.
    Init,
    /// No result yet, `init_fail`: down until `rise` successes.
    Failed,
    /// New at a reload, no result yet.
    InitReload,
    /// It has a result.
    Done,
}

/// A vrrp_script as `keepalived.data` shows it.
#[derive(Debug, Clone)]
pub struct ScriptData {
    pub name: String,
    /// The command line as keepalived's `cmd_str` writes it.
    pub command: String,
    pub interval_secs: u64,
    pub timeout_secs: u64,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    /// The rise/fall counter, 0 to rise+fall-1; up from `rise`.
    pub result: u32,
    pub insecure: bool,
    pub init: ScriptInit,
    pub uid: u32,
    pub gid: u32,
    /// The instances tracking it, in keepalived's order.
    pub tracking: Vec<TrackLine>,
    pub running: bool,
}

/// A track_file as `keepalived.data` shows it.
#[derive(Debug, Clone)]
pub struct TrackFileData {
    pub name: String,
    pub path: String,
    /// The value last read from the file.
    pub status: i64,
    pub weight: i32,
    pub reverse: bool,
    pub tracking: Vec<TrackLine>,
}

/// keepalived's state names in `keepalived.data`'s sync group lines (STOP
/// has none there).
fn group_state(s: State) -> &'static str {
    match s {
        State::Init => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
        State::Stop => "unknown",
    }
}

/// The "Tracking instances :" block, left out when nothing tracks.
fn tracking_block(o: &mut String, l: &[TrackLine]) {
    if l.is_empty() {
        return;
    }
    o.push_str("   Tracking instances :\n");
    for t in l {
        let _ = writeln!(o, "     {}, weight {}{}", t.name, t.weight, t.reverse());
    }
}

/// The `------< VRRP Sync groups >------`, `------< VRRP Scripts >------`
/// and `------< VRRP Track files >------` sections of `keepalived.data`,
/// each only when it has something to show.
pub fn tracking_sections(
    groups: &[SyncGroupData],
    scripts: &[ScriptData],
    files: &[TrackFileData],
) -> String {
    let mut o = String::new();
    if !groups.is_empty() {
        o.push_str("------< VRRP Sync groups >------\n");
    }
    for g in groups {
        let _ = writeln!(o, " VRRP Sync Group = {}, {}", g.name, group_state(g.state));
        let _ = writeln!(
            o,
            "   Num member fault {}, num member init {}",
            g.members_fault, g.members_init
        );
        if !g.members.is_empty() {
            o.push_str("   VRRP member instances :\n");
            for m in &g.members {
                let _ = writeln!(o, "     {m}");
            }
        }
        if g.tracking_weight {
            o.push_str("   sync group tracking weight set\n");
        }
        let _ = writeln!(
            o,
            "   Using smtp notification = {}",
            if g.smtp_alert { "yes" } else { "no" }
        );
        if let Some(n) = g.notify_priority_changes {
            let _ = writeln!(
                o,
                "   Notify priority changes = {}",
                if n { "yes" } else { "no" }
            );
        }
        for (title, l) in [
            ("Tracked interfaces", &g.track_interfaces),
            ("Tracked scripts", &g.track_scripts),
            ("Tracked files", &g.track_files),
        ] {
            if l.is_empty() {
                continue;
            }
            let _ = writeln!(o, "   {title} :");
            for t in l {
                if title == "Tracked files" {
                    let _ = writeln!(o, "     {}, weight {}{}", t.name, t.weight, t.reverse());
                } else {
                    let _ = writeln!(o, "     {} weight {}{}", t.name, t.weight, t.reverse());
                }
            }
        }
        for (kind, cmd, uid, gid) in &g.notify {
            let _ = writeln!(
                o,
                "   {kind} state transition script = {cmd}, uid:gid {uid}:{gid}"
            );
        }
    }
    if !scripts.is_empty() {
        o.push_str("------< VRRP Scripts >------\n");
    }
    for s in scripts {
        let _ = writeln!(o, " VRRP Script = {}", s.name);
        let _ = writeln!(o, "   Command = {}", s.command);
        let _ = writeln!(o, "   Interval = {} sec", s.interval_secs);
        let _ = writeln!(o, "   Timeout = {} sec", s.timeout_secs);
        let _ = writeln!(
            o,
            "   Weight = {}{}",
            s.weight,
            if s.reverse { " reverse" } else { "" }
        );
        let _ = writeln!(o, "   Rise = {}", s.rise);
        let _ = writeln!(o, "   Fall = {}", s.fall);
        let _ = writeln!(o, "   Result = {}", s.result);
        let _ = writeln!(o, "   Insecure = {}", if s.insecure { "yes" } else { "no" });
        let _ = writeln!(
            o,
            "   Init state = {}",
            match s.init {
                ScriptInit::Init => "INIT",
                ScriptInit::Failed => "INIT/FAILED",
                ScriptInit::InitReload => "INIT/RELOAD",
                ScriptInit::Done => "unknown",
            }
        );
        let _ = writeln!(
            o,
            "   Status = {}",
            if s.result >= s.rise { "GOOD" } else { "BAD" }
        );
        let _ = writeln!(o, "   Script uid:gid = {}:{}", s.uid, s.gid);
        // keepalived writes this heading, then the tracking block with a
        // heading of its own.
        o.push_str("   VRRP instances :\n");
        tracking_block(&mut o, &s.tracking);
        let _ = writeln!(
            o,
            "   State = {}",
            if s.running { "running" } else { "idle" }
        );
    }
    if !files.is_empty() {
        o.push_str("------< VRRP Track files >------\n");
    }
    for f in files {
        let _ = writeln!(o, " Track file = {}", f.name);
        let _ = writeln!(o, "   File = {}", f.path);
        let _ = writeln!(o, "   Status = {}", f.status);
        let _ = writeln!(
            o,
            "   Weight = {}{}",
            f.weight,
            if f.reverse { " reverse" } else { "" }
        );
        tracking_block(&mut o, &f.tracking);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Debian's keepalived 2.2.7 (SIGUSR2) for two fresh instances.
    const KA_STATS: &str = "VRRP Instance: VI_1\n  Advertisements:\n    Received: 0\n    Sent: 0\n  \
Became master: 0\n  Released master: 0\n  Packet Errors:\n    Length: 0\n    TTL: 0\n    \
Invalid Type: 0\n    Advertisement Interval: 0\n    Address List: 0\n  Authentication Errors:\n    \
Invalid Type: 0\n    Type Mismatch: 0\n    Failure: 0\n  Priority Zero:\n    Received: 0\n    \
Sent: 0\nVRRP Instance: VI_2\n  Advertisements:\n    Received: 0\n    Sent: 0\n  \
Became master: 0\n  Released master: 0\n  Packet Errors:\n    Length: 0\n    TTL: 0\n    \
Invalid Type: 0\n    Advertisement Interval: 0\n    Address List: 0\n  Authentication Errors:\n    \
Invalid Type: 0\n    Type Mismatch: 0\n    Failure: 0\n  Priority Zero:\n    Received: 0\n    \
Sent: 0\n";

    /// Written by Debian's keepalived 2.2.7 (SIGRTMIN+2) for the first of
    /// those instances (state FAULT: its interface had no address).
    const KA_JSON: &str = r#"[{"data":{"iname":"VI_1","dont_track_primary":0,"skip_check_adv_addr":0,"strict_mode":0,"vmac_ifname":"","ifp_ifname":"kd0","master_priority":0,"last_transition":1795252717.595401,"garp_delay":5,"garp_refresh":0,"garp_rep":5,"garp_refresh_rep":1,"garp_lower_prio_delay":5,"garp_lower_prio_rep":5,"lower_prio_no_advert":0,"higher_prio_send_advert":0,"vrid":51,"base_priority":150,"effective_priority":150,"vipset":false,"promote_secondaries":false,"adver_int":1,"master_adver_int":1,"accept":1,"nopreempt":false,"preempt_delay":0,"state":3,"wantstate":3,"version":2,"smtp_alert":false,"notify_deleted":false,"vips":["10.9.9.1\/24 dev kd0 scope global"],"auth_type":1,"auth_data":"secret"},"stats":{"advert_rcvd":0,"advert_sent":0,"become_master":0,"release_master":0,"packet_len_err":0,"advert_interval_err":0,"ip_ttl_err":0,"invalid_type_rcvd":0,"addr_list_err":0,"invalid_authtype":0,"authtype_mismatch":0,"auth_failure":0,"pri_zero_rcvd":0,"pri_zero_sent":0}}]"#;

    #[test]
    fn stats_as_keepalived() {
        let s = Stats::default();
        assert_eq!(stats_text([("VI_1", &s), ("VI_2", &s)]), KA_STATS);
    }

    #[test]
    fn json_as_keepalived() {
        let v = JsonInstance {
            ifp_ifname: Some("kd0".into()),
            last_transition: 1_795_252_717.595_401,
            garp_delay: 5.0,
            garp_rep: 5,
            garp_refresh_rep: 1,
            garp_lower_prio_delay: 5,
            garp_lower_prio_rep: 5,
            vrid: 51,
            base_priority: 150,
            effective_priority: 150,
            adver_int: 1.0,
            master_adver_int: 1.0,
            accept: true,
            state: State::Fault,
            wantstate: State::Fault,
            version: 2,
            vips: vec!["10.9.9.1/24 dev kd0 scope global".into()],
            auth_type: 1,
            auth_data: Some("secret".into()),
            iname: "VI_1".into(),
            ..JsonInstance::default()
        };
        assert_eq!(json(&[v]), KA_JSON);
    }

    #[test]
    fn g_format() {
        assert_eq!(g(5.0), "5");
        assert_eq!(g(0.1), "0.1");
        assert_eq!(g(1.25), "1.25");
        assert_eq!(g(0.0), "0");
    }

    #[test]
    fn escaping() {
        let mut o = String::new();
        string(&mut o, "a/b\"c\\\n\u{1}");
        assert_eq!(o, r#""a\/b\"c\\\n\u0001""#);
    }

    /// Written by Debian's keepalived 2.2.7 (SIGUSR1, the sections after
    /// the topology) for tests/vrrp_dumps.rs's tracking configuration, once
    /// kd_up had risen and kd_down had failed.
    const KA_TRACKING: &str = "------< VRRP Sync groups >------
 VRRP Sync Group = G1, FAULT
   Num member fault 2, num member init 0
   VRRP member instances :
     VI_1
     VI_2
   Using smtp notification = no
   Tracked scripts :
     kd_up weight 0 reverse
------< VRRP Scripts >------
 VRRP Script = kd_up
   Command = '/usr/bin/true'
   Interval = 1 sec
   Timeout = 0 sec
   Weight = 10 reverse
   Rise = 2
   Fall = 3
   Result = 4
   Insecure = no
   Init state = unknown
   Status = GOOD
   Script uid:gid = 0:0
   VRRP instances :
   Tracking instances :
     VI_3, weight 10 reverse
     VI_1, weight 0 reverse
     VI_2, weight 0 reverse
   State = idle
 VRRP Script = kd_down
   Command = '/usr/bin/sh' '-c' 'exit 3'
   Interval = 1 sec
   Timeout = 2 sec
   Weight = 0
   Rise = 3
   Fall = 1
   Result = 0
   Insecure = no
   Init state = unknown
   Status = BAD
   Script uid:gid = 0:0
   VRRP instances :
   Tracking instances :
     VI_1, weight 0
   State = idle
------< VRRP Track files >------
 Track file = kd_file
   File = /tmp/kd-dtk-31842/kd-track
   Status = 3
   Weight = 4
   Tracking instances :
     VI_3, weight 2 reverse
";

    fn tl(name: &str, weight: i32, reverse: bool) -> TrackLine {
        TrackLine {
            name: name.into(),
            weight,
            reverse,
        }
    }

    #[test]
    fn tracking_sections_as_keepalived() {
        let group = SyncGroupData {
            name: "G1".into(),
            state: State::Fault,
            members_fault: 2,
            members_init: 0,
            members: vec!["VI_1".into(), "VI_2".into()],
            tracking_weight: false,
            smtp_alert: false,
            notify_priority_changes: None,
            track_interfaces: Vec::new(),
            track_scripts: vec![tl("kd_up", 0, true)],
            track_files: Vec::new(),
            notify: Vec::new(),
        };
        let up = ScriptData {
            name: "kd_up".into(),
            command: "'/usr/bin/true'".into(),
            interval_secs: 1,
            timeout_secs: 0,
            weight: 10,
            reverse: true,
            rise: 2,
            fall: 3,
            result: 4,
            insecure: false,
            init: ScriptInit::Done,
            uid: 0,
            gid: 0,
            tracking: vec![
                tl("VI_3", 10, true),
                tl("VI_1", 0, true),
                tl("VI_2", 0, true),
            ],
            running: false,
        };
        let down = ScriptData {
            name: "kd_down".into(),
            command: "'/usr/bin/sh' '-c' 'exit 3'".into(),
            interval_secs: 1,
            timeout_secs: 2,
            weight: 0,
            reverse: false,
            rise: 3,
            fall: 1,
            result: 0,
            tracking: vec![tl("VI_1", 0, false)],
            ..up.clone()
        };
        let file = TrackFileData {
            name: "kd_file".into(),
            path: "/tmp/kd-dtk-31842/kd-track".into(),
            status: 3,
            weight: 4,
            reverse: false,
            tracking: vec![tl("VI_3", 2, true)],
        };
        assert_eq!(
            tracking_sections(&[group], &[up, down], &[file]),
            KA_TRACKING
        );
        assert_eq!(tracking_sections(&[], &[], &[]), "");
    }

    #[test]
    fn group_extras_as_keepalived_writes_them() {
        let g = SyncGroupData {
            name: "G".into(),
            state: State::Master,
            members_fault: 0,
            members_init: 0,
            members: Vec::new(),
            tracking_weight: true,
            smtp_alert: true,
            notify_priority_changes: Some(false),
            track_interfaces: vec![tl("eth1", -5, false)],
            track_scripts: Vec::new(),
            track_files: vec![tl("f", 3, true)],
            notify: vec![("Master", "'/x' 'y'".into(), 0, 0)],
        };
        assert_eq!(
            tracking_sections(&[g], &[], &[]),
            "------< VRRP Sync groups >------\n VRRP Sync Group = G, MASTER\n   \
             Num member fault 0, num member init 0\n   sync group tracking weight set\n   \
             Using smtp notification = yes\n   Notify priority changes = no\n   \
             Tracked interfaces :\n     eth1 weight -5\n   Tracked files :\n     f, weight 3 reverse\n   \
             Master state transition script = '/x' 'y', uid:gid 0:0\n"
        );
    }
}
