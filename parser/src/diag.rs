//! Diagnostics: where they point, how severe they are, and which of
//! keepalived's `config_err_t` classes they belong to (the class decides the
//! `-t` exit code, exactly as keepalived computes it).

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// A position in a configuration file. Lines and columns are 1-based; a
/// column of 0 means "the whole line".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

/// keepalived's error classes (`config_err_t`, lib/parser.h). The order
/// matters: keepalived keeps the numerically largest class seen, so a
/// warning after a fatal error turns exit code 4 into 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Class {
    /// Reported for information only; does not change the exit code.
    Ok,
    FileNotFound,
    BadIf,
    Fatal,
    MultipleFiles,
    UnknownKeyword,
    UnexpectedBob,
    MissingBob,
    UnexpectedEob,
    MissingEob,
    UnmatchedQuote,
    InvalidNumber,
    GeneralError,
    Warning,
    Deprecated,
    SecurityError,
    /// A keyword without the argument keepalived reads unconditionally:
    /// keepalived aborts the parse (exit 2), whatever else was found.
    MissingParameter,
}

impl Class {
    /// The `keepalived -t` exit code for a run whose worst (largest) class is `self`.
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Ok => 0,
            Class::FileNotFound | Class::BadIf | Class::Fatal => 4,
            Class::SecurityError => 6,
            Class::MissingParameter => 2,
            _ => 5,
        }
    }
}

/// Where keepalived would print the message: during the parse (with a
/// `(FILE: Line N)` prefix) or afterwards, during validation (no prefix).
/// Our own diagnostics always carry a location when we know it; `phase`
/// records keepalived's behaviour so differential tests compare like with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    Parse,
    Validate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub loc: Option<Loc>,
    pub class: Class,
    pub phase: Phase,
    pub message: String,
    /// Our extensions (e.g. "not supported yet") that keepalived does not
    /// print. They never change the exit code.
    pub note: bool,
    /// A line keepalived only logs while it runs (never under `-t`), with
    /// no location, and that is not a config error; and which of its
    /// processes logs it.
    pub log: Option<Logger>,
    /// The part of the file it comes from, which decides the processes
    /// that log it when running.
    pub scope: Scope,
}

/// Where in the file a diagnostic comes from, as keepalived's processes
/// divide the file: each reads all of it but with only its own blocks'
/// keywords active, so each logs only the errors of its own blocks (and
/// of the root level itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum Scope {
    /// The root level: a stray keyword, an unmatched brace, an include.
    /// Every process logs these.
    #[default]
    Top,
    /// `global_defs` and the root-level global keywords: the parent, and
    /// the children only when they reload (at start they take the
    /// parent's global settings and skip the block).
    Global,
    /// The VRRP process's blocks (instances, scripts, sync groups, static
    /// addresses and routes, ...).
    Vrrp,
    /// The checker process's blocks (virtual servers and their groups, SSL).
    Check,
    /// `track_file`, which both children read.
    Children,
}

/// A keepalived process that logs what it finds while reading the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Parent,
    Vrrp,
    Check,
}

impl Scope {
    /// Whether `p` logs what comes from this scope, at start or (`reload`)
    /// when it reads the file again.
    pub fn logged_by(self, p: Process, reload: bool) -> bool {
        match (self, p) {
            (Scope::Top, _) | (Scope::Global, Process::Parent) => true,
            (Scope::Global, _) => reload,
            (Scope::Vrrp, Process::Vrrp) | (Scope::Check, Process::Check) => true,
            (Scope::Children, Process::Vrrp | Process::Check) => true,
            _ => false,
        }
    }
}

/// The keepalived processes that log a [`Diagnostic::log`] line as they
/// read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Logger {
    /// Whoever reads the global settings: the parent at start and at each
    /// reload, the children at a reload (deprecation notices).
    Global,
    /// The VRRP process, at start and at each reload (its instance checks).
    Vrrp,
}

/// The files a parse read, so that a `Loc` can be printed as a path.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SourceMap {
    pub files: Vec<PathBuf>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf) -> u32 {
        self.files.push(path);
        (self.files.len() - 1) as u32
    }

    pub fn path(&self, file: u32) -> Option<&PathBuf> {
        self.files.get(file as usize)
    }
}

impl Diagnostic {
    /// Renders the keepalived-style line with the column added:
    /// `(FILE: Line N:C) message`.
    pub fn render(&self, sources: &SourceMap) -> String {
        self.render_named(sources, true)
    }

    /// [`Diagnostic::render`], with the file named only if `named`:
    /// `(Line N:C) message` otherwise.
    pub fn render_named(&self, sources: &SourceMap, named: bool) -> String {
        let Some(loc) = self.loc else {
            return self.message.clone();
        };
        let mut place = String::from("(");
        if named {
            if let Some(p) = sources.path(loc.file) {
                place.push_str(&p.display().to_string());
            }
            place.push_str(": ");
        }
        if loc.col > 0 {
            format!("{place}Line {}:{}) {}", loc.line, loc.col, self.message)
        } else {
            format!("{place}Line {}) {}", loc.line, self.message)
        }
    }
}

/// Collects diagnostics and tracks the class that decides the exit code.
#[derive(Debug, Default)]
pub struct Diags {
    pub list: Vec<Diagnostic>,
    worst: Option<Class>,
    /// Parsing for a running daemon rather than `-t`: keepalived then
    /// takes the leading digits of some malformed numbers (with a
    /// "WARNING - " message) where `-t` rejects them.
    pub run_time: bool,
    /// The scope of what is pushed now (set by the block walk and the
    /// validation passes).
    pub scope: Scope,
}

impl Diags {
    pub fn push(&mut self, loc: Option<Loc>, class: Class, phase: Phase, message: String) {
        if class != Class::Ok {
            self.worst = Some(self.worst.map_or(class, |w| w.max(class)));
        }
        self.list.push(Diagnostic {
            loc,
            class,
            phase,
            message,
            note: false,
            log: None,
            scope: self.scope,
        });
    }

    /// A message at parse time, pointing at `loc`.
    pub fn at(&mut self, loc: Loc, class: Class, message: impl Into<String>) {
        self.push(Some(loc), class, Phase::Parse, message.into());
    }

    /// A validation-time message; keepalived prints these without a line.
    pub fn check(&mut self, loc: Option<Loc>, class: Class, message: impl Into<String>) {
        self.push(loc, class, Phase::Validate, message.into());
    }

    /// A note: one of our own messages, or one keepalived only logs (not a
    /// config error). Printed, never counted.
    pub fn note(&mut self, loc: Loc, message: impl Into<String>) {
        self.list.push(Diagnostic {
            loc: Some(loc),
            class: Class::Ok,
            phase: Phase::Parse,
            message: message.into(),
            note: true,
            log: None,
            scope: self.scope,
        });
    }

    /// A line keepalived logs as it reads the keyword when it runs, and
    /// not under `-t` (`log_message`, not `report_config_error`): no
    /// location, never counted. Dropped unless parsing for a running daemon.
    pub fn log(&mut self, by: Logger, message: impl Into<String>) {
        if !self.run_time {
            return;
        }
        self.list.push(Diagnostic {
            loc: None,
            class: Class::Ok,
            phase: Phase::Parse,
            message: message.into(),
            note: false,
            log: Some(by),
            scope: match by {
                Logger::Global => Scope::Global,
                Logger::Vrrp => Scope::Vrrp,
            },
        });
    }

    /// Adds `other`'s diagnostics after these, as if pushed here.
    pub fn append(&mut self, other: Diags) {
        if let Some(w) = other.worst {
            self.worst = Some(self.worst.map_or(w, |x| x.max(w)));
        }
        self.list.extend(other.list);
    }

    /// Keeps only the diagnostics `keep` accepts; the exit code follows.
    pub fn retain(&mut self, keep: impl FnMut(&Diagnostic) -> bool) {
        self.list.retain(keep);
        self.worst = self
            .list
            .iter()
            .map(|d| d.class)
            .filter(|&c| c != Class::Ok)
            .max();
    }

    pub fn worst(&self) -> Option<Class> {
        self.worst
    }

    pub fn exit_code(&self) -> i32 {
        self.worst.map_or(0, Class::exit_code)
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    fn opts(run_time: bool) -> crate::Options {
        crate::Options {
            config_id: "x".into(),
            all_config: false,
            run_time,
        }
    }

    /// keepalived 2.2.7 logs these while it runs (`log_message`), in file
    /// order among the config errors, and not under `-t`.
    #[test]
    fn deprecation_notices_only_when_running() {
        let conf = "global_defs {\n lvs_process_name lvs\n vrrp_rlimit_rtime 10000\n \
                    checker_rlimit_rttime 10000\n checker_rlimit_rtime x\n \
                    bfd_rlimit_rtime 10000\n bfd_rlimit_rttime 10000\n}\n";
        for run_time in [false, true] {
            let p = crate::parse_str(conf, &opts(run_time));
            let logged: Vec<_> = p.log_lines(super::Logger::Global).collect();
            let all: Vec<_> = p.diags.list.iter().map(|d| d.message.as_str()).collect();
            if run_time {
                assert_eq!(
                    logged,
                    [
                        "'lvs_process_name' is deprecated - please use 'checker_process_name'",
                        "Keyword 'vrrp_rlimit_rtime' is deprecated - please use 'vrrp_rlimit_rttime'",
                        "Keyword 'checker_rlimit_rtime' is deprecated - please use 'checker_rlimit_rttime'",
                        "Keyword 'bfd_rlimit_rtime' is deprecated - please use 'bfd_rlimit_rttime'",
                    ]
                );
                // the notice comes before the value's own error, as keepalived's
                let n = all
                    .iter()
                    .position(|m| m.contains("'checker_rlimit_rtime' is"))
                    .unwrap();
                assert!(all[n + 1].contains("invalid number 'x'"), "{all:?}");
                assert_eq!(p.render_diagnostics()[0], logged[0], "no location");
                assert_eq!(
                    p.config.global_defs.checker_process_name.as_deref(),
                    Some("lvs")
                );
            } else {
                assert!(logged.is_empty(), "{all:?}");
            }
            // never a config error
            assert!(
                p.diags
                    .list
                    .iter()
                    .filter(|d| d.log.is_some())
                    .all(|d| d.class == super::Class::Ok)
            );
        }
        let clean = "global_defs {\n lvs_process_name lvs\n}\n";
        assert_eq!(crate::parse_str(clean, &opts(true)).exit_code(), 0);
    }

    /// An IPv6 instance's first VIP not link-local: a config error in strict
    /// mode, else a line the VRRP process logs when it loads the file.
    #[test]
    fn first_ipv6_vip_not_link_local() {
        let inst = |strict: &str| {
            format!(
                "vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n {strict}\n \
                 virtual_ipaddress {{\n  fd00::1\n  fe80::1\n }}\n}}\n"
            )
        };
        let p = crate::parse_str(&inst(""), &opts(true));
        let line = "(V) the first IPv6 VIP address should be link local";
        assert_eq!(p.log_lines(super::Logger::Vrrp).collect::<Vec<_>>(), [line]);
        assert_eq!(p.log_lines(super::Logger::Global).count(), 0);
        assert_eq!(p.exit_code(), 0);
        let t = crate::parse_str(&inst(""), &opts(false));
        assert_eq!(t.log_lines(super::Logger::Vrrp).count(), 0, "not under -t");
        assert_eq!(t.exit_code(), 0);
        let p = crate::parse_str(&inst("strict_mode"), &opts(true));
        assert_eq!(p.log_lines(super::Logger::Vrrp).count(), 0);
        assert!(
            p.render_diagnostics()
                .iter()
                .any(|l| l.ends_with(") (V) the first IPv6 VIP address must be link local"))
        );
    }

    /// Each keepalived process logs the errors of its own blocks and of the
    /// root level; the children log global_defs' only at a reload, and the
    /// parent names no file when it read one (Debian's keepalived 2.2.7,
    /// whose processes log under their own syslog idents).
    #[test]
    fn each_process_logs_its_own_blocks() {
        use super::Process::{Check, Parent, Vrrp};
        let conf = "global_defs {\n bogus_global 1\n}\nbogus_top 5\n\
                    vrrp_script chk {\n script /bin/true\n bogus_script 1\n}\n\
                    track_file tf {\n file /tmp/tf\n bogus_tf 1\n}\n\
                    vrrp_instance VI {\n interface lo0\n virtual_router_id 1\n bogus_vrrp 1\n}\n\
                    virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_kind DR\n bogus_vs 1\n}\n";
        let p = crate::parse_str(conf, &opts(true));
        let file = p.sources.files[0].display().to_string();
        let lines = |who, reload| -> Vec<String> {
            p.process_lines(who, reload)
                .map(|l| l.replace(&file, "F"))
                .collect()
        };
        let top = "(F: Line 4:1) Unknown keyword 'bogus_top'";
        let global = "(F: Line 2:2) Unknown keyword 'bogus_global'";
        let tf = "(F: Line 11:2) Unknown keyword 'bogus_tf'";
        let vrrp = [
            "(F: Line 7:2) Unknown keyword 'bogus_script'",
            "(F: Line 16:2) Unknown keyword 'bogus_vrrp'",
            "(F: Line 13:1) (VI) No VIP specified; at least one is sensible",
            "Warning - script chk is not used",
        ];
        let vs = "(F: Line 21:2) Unknown keyword 'bogus_vs'";
        assert_eq!(
            lines(Parent, false),
            [
                "(Line 2:2) Unknown keyword 'bogus_global'",
                "(Line 4:1) Unknown keyword 'bogus_top'"
            ]
        );
        assert_eq!(lines(Parent, true), lines(Parent, false));
        let [script, inst, vip, unused] = vrrp;
        // (keepalived says the VIP line twice)
        assert_eq!(
            lines(Vrrp, false),
            [top, script, tf, inst, vip, vip, unused]
        );
        assert_eq!(
            lines(Vrrp, true),
            [global, top, script, tf, inst, vip, vip, unused]
        );
        let empty =
            "(F: Line 18:1) Virtual server [10.0.0.1]:tcp:80 has no real servers - ignoring";
        assert_eq!(lines(Check, false), [top, tf, vs, empty]);
        assert_eq!(lines(Check, true), [global, top, tf, vs, empty]);
        // -t prints everything once, every file named
        assert_eq!(p.render_diagnostics().len(), 10);
    }
}
