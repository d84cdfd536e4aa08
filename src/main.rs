//! `keepalived`: the daemon binary.
//!
//! # Layout
//! - `main.rs`: the command line (keepalived's getopt table), `-t`, and the
//!   dispatch to the parent or a child role.
//! - [`daemon`]: process model: detach, pid files, the supervising parent.
//! - [`log`]: syslog/console/file output in keepalived's formats.
//! - [`check_map`]: the typed config -> the checkers' own config types.
//! - [`check_role`]: the checker child (`-C`): checkers -> IPVS.
//! - [`vrrp_role`]: the VRRP child (`-P`): config -> VRRP engine.
//! - [`syscheck`]: the system-dependent checks `-t` makes.

mod check_dump;
mod check_map;
mod check_role;
mod daemon;
mod log;
mod ready;
mod reload;
mod reload_timer;
mod sched;
mod smtp;
mod syscheck;
mod vrrp_role;

use clap::{ArgAction, Parser};
use std::io::Write;

/// Command-line options, as keepalived's getopt table spells them.
#[derive(Parser, Debug)]
#[command(
    name = "keepalived",
    version = env!("CARGO_PKG_VERSION"),
    disable_version_flag = true,
    disable_help_flag = true,
    about = "keepalived-rs: a drop-in replacement for keepalived"
)]
struct Cli {
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<String>,
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    #[arg(short = 'C', long = "check")]
    check: bool,
    #[arg(short = 'B', long = "no_bfd")]
    no_bfd: bool,
    #[arg(long = "all")]
    all: bool,
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    #[arg(short = 'D', long = "log-detail", action = ArgAction::Count)]
    log_detail: u8,
    #[arg(short = 'S', long = "log-facility")]
    log_facility: Option<String>,
    #[arg(short = 'g', long = "log-file", num_args = 0..=1, require_equals = false)]
    log_file: Option<Option<String>>,
    #[arg(short = 'G', long = "no-syslog")]
    no_syslog: bool,
    #[arg(short = 'u', long = "umask")]
    umask: Option<String>,
    #[arg(short = 'X', long = "release-vips")]
    release_vips: bool,
    #[arg(short = 'V', long = "dont-release-vrrp")]
    dont_release_vrrp: bool,
    #[arg(short = 'I', long = "dont-release-ipvs")]
    dont_release_ipvs: bool,
    #[arg(short = 'R', long = "dont-respawn")]
    dont_respawn: bool,
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    #[arg(short = 'd', long = "dump-conf")]
    dump_conf: bool,
    #[arg(short = 'p', long = "pid")]
    pid: Option<String>,
    #[arg(short = 'r', long = "vrrp_pid")]
    vrrp_pid: Option<String>,
    #[arg(short = 'c', long = "checkers_pid")]
    checkers_pid: Option<String>,
    #[arg(short = 'b', long = "bfd_pid")]
    bfd_pid: Option<String>,
    #[arg(short = 'a', long = "address-monitoring")]
    address_monitoring: bool,
    #[arg(short = 's', long = "namespace")]
    namespace: Option<String>,
    #[arg(short = 'e', long = "all-config")]
    all_config: bool,
    #[arg(short = 'i', long = "config-id")]
    config_id: Option<String>,
    #[arg(short = 'x', long = "snmp")]
    snmp: bool,
    #[arg(short = 'A', long = "snmp-agent-socket")]
    snmp_agent_socket: Option<String>,
    #[arg(short = 'm', long = "core-dump")]
    core_dump: bool,
    #[arg(short = 'M', long = "core-dump-pattern", num_args = 0..=1)]
    core_dump_pattern: Option<Option<String>>,
    /// Check the configuration and exit (optionally appending messages to LOGFILE).
    #[arg(short = 't', long = "config-test", num_args = 0..=1, value_name = "LOGFILE")]
    config_test: Option<Option<String>>,
    /// keepalived-rs: print the fully resolved configuration as JSON on stdout.
    #[arg(long = "dump-json")]
    dump_json: bool,
    /// keepalived-rs: print diagnostics as JSON lines (with phase and class) instead of text.
    #[arg(long = "diagnostics-json")]
    diagnostics_json: bool,
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: Option<bool>,
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

const DEFAULT_CONF: &str = "/etc/keepalived/keepalived.conf";

/// The keepalived release whose behaviour, files and log lines we match.
const KEEPALIVED_COMPAT: &str = "2.2.7";

fn main() {
    log::mark("start");
    if let Some(code) = genhash_mode() {
        std::process::exit(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(cli_error(e)),
    };
    log::mark("cli parsed");
    let file = cli
        .use_file
        .clone()
        .unwrap_or_else(|| DEFAULT_CONF.to_string());
    let mut opts = kaconf::Options {
        all_config: cli.all_config,
        ..kaconf::Options::default()
    };
    if let Some(id) = &cli.config_id {
        opts.config_id = id.clone();
    }
    if cli.config_test.is_some() || cli.dump_json {
        std::process::exit(config_test(&cli, &file, &opts));
    }
    opts.run_time = true;
    std::process::exit(run(&cli, &file, &opts));
}

/// `keepalived -T|--genhash ARGS`: keepalived's genhash mode. As keepalived,
/// the option should come first; options before it are ignored with a
/// warning, and everything after it is genhash's.
fn genhash_mode() -> Option<i32> {
    let argv: Vec<String> = std::env::args().collect();
    let pos = argv
        .iter()
        .skip(1)
        .position(|a| a == "-T" || a == "--genhash")?
        + 1;
    if pos > 1 {
        let name = if argv[pos] == "-T" { "-T" } else { "genhash" };
        eprintln!("Warning -- `{name}` not used as first option, previous options ignored");
    }
    Some(checkers::genhash::main(&argv[0], &argv[pos + 1..], false))
}

/// keepalived prints its version to stderr and names an unknown option as
/// "Unknown option -x" / "Unknown option --xyz" (exit 1); scripts parse both.
fn cli_error(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayVersion => {
            // Exporters and inventory tools match `Keepalived vX.Y.Z` to
            // learn which keepalived behaviour (signals, dump formats) to
            // expect: we give the version whose behaviour we implement.
            eprintln!(
                "Keepalived v{KEEPALIVED_COMPAT} (keepalived-rs {})",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        ErrorKind::UnknownArgument => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(a)) => a.clone(),
                _ => String::new(),
            };
            eprintln!("Unknown option {arg}");
            1
        }
        _ => {
            let _ = e.print();
            1
        }
    }
}

/// keepalived's "Command line:" lines: every argument in single quotes,
/// wrapped on a space before 100 columns, the continuation lines indented
/// under the first argument.
fn command_line_lines(args: &[std::ffi::OsString]) -> Vec<String> {
    use std::os::unix::ffi::OsStrExt;
    const OPTION: &str = "Command line";
    let max = 100 - OPTION.len();
    let mut joined = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            joined.push(b' ');
        }
        joined.push(b'\'');
        joined.extend_from_slice(a.as_bytes());
        joined.push(b'\'');
    }
    let mut out = Vec::new();
    let mut rest = joined.as_slice();
    loop {
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return out;
        }
        let end = if rest.len() <= max || rest[max] == b' ' {
            rest.len().min(max)
        } else {
            // the last space before the limit, else a hard cut
            rest[1..max]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(max, |i| i + 1)
        };
        let chunk = String::from_utf8_lossy(&rest[..end]);
        out.push(if out.is_empty() {
            format!("{OPTION}: {chunk}")
        } else {
            format!("{:w$}{chunk}", "", w = OPTION.len() + 2)
        });
        rest = &rest[end..];
    }
}

fn log_opts(cli: &Cli) -> log::LogOpts {
    log::LogOpts {
        // keepalived only logs to the console in the foreground
        console: cli.log_console && cli.dont_fork,
        detail: cli.log_detail > 0,
        no_syslog: cli.no_syslog,
        facility: cli.log_facility.as_deref().and_then(|f| {
            let code = log::parse_facility(f);
            if code.is_none() {
                eprintln!("Invalid log facility '{f}'");
            }
            code
        }),
        file: cli.log_file.clone(),
    }
}

/// The daemon proper: the parent, or the child named by the environment.
fn run(cli: &Cli, file: &str, opts: &kaconf::Options) -> i32 {
    let child = std::env::var(daemon::ROLE_ENV)
        .ok()
        .and_then(|v| daemon::Subsystem::from_env(&v));
    if child.is_none() {
        if std::env::var_os(daemon::DETACHED_ENV).is_some() {
            daemon::finish_detach();
        } else if !cli.dont_fork {
            daemon::detach();
        }
    }
    log::init(
        child.map_or(log::Role::Parent, |c| c.role()),
        &log_opts(cli),
    );
    log::mark("log init");
    if let Some(u) = cli.umask.as_deref().and_then(parse_umask) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(u));
    }
    log::mark("parse begin");
    let parsed = kaconf::parse_file(file, opts);
    checkers::memory::trim_heap();
    log::mark("parse end");
    if !parsed.found {
        tracing::error!("Unable to find configuration file {file}");
        return daemon::EXIT_NO_CONFIG;
    }
    let pids = daemon::PidFiles::new(
        &parsed.config.root,
        cli.pid.as_deref(),
        cli.vrrp_pid.as_deref(),
        cli.checkers_pid.as_deref(),
    );
    match child {
        None => {
            // the children, forked from here, keep it unless named too
            if let Some(name) = &parsed.config.global_defs.process_name {
                sched::set_name(name);
            }
            // a reload that a stopped daemon left half done
            reload::remove_reload_file(&parsed.config);
            let pid_file = match daemon::PidFile::create(&pids.parent) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!("{e}");
                    return daemon::EXIT_FATAL;
                }
            };
            tracing::info!("Starting {}", daemon::VERSION_LINE);
            if let Some(line) = daemon::running_on() {
                tracing::info!("{line}");
            }
            for line in command_line_lines(&std::env::args_os().collect::<Vec<_>>()) {
                tracing::info!("{line}");
            }
            // keepalived names each file it opens with -D: the first
            // before this line, the included ones while it reads on.
            let opened = &parsed.sources.files;
            let detail = cli.log_detail > 0;
            if detail && let Some(first) = opened.first() {
                tracing::info!("Opening file '{}'.", first.display());
            }
            tracing::info!("Configuration file {file}");
            if detail {
                for f in opened.iter().skip(1) {
                    tracing::info!("Opening file '{}'.", f.display());
                }
            }
            let children = daemon::wanted_children(&parsed.config, cli.vrrp, cli.check, cli.all);
            log::config_diagnostics(&parsed, kaconf::Process::Parent, false);
            let scripts = syscheck::load_lines(&parsed.config, syscheck::Loader::Parent, false);
            for line in [scripts.user, scripts.violation].into_iter().flatten() {
                tracing::info!("{line}");
            }
            // keepalived's hint, once, after the configuration is read
            if parsed.config.global_defs.max_auto_priority.unwrap_or(0) == 0 {
                tracing::info!(
                    "NOTICE: setting config option max_auto_priority should result in better keepalived performance"
                );
            }
            let choice = daemon::ChildChoice {
                only_vrrp: cli.vrrp,
                only_check: cli.check,
                all: cli.all,
            };
            match daemon::fork_children(&children) {
                Ok(daemon::Forked::Parent(started)) => {
                    // Not freed: the children share these pages copy-on-write,
                    // and freeing would write to (so copy) every one of them
                    // while the children start. A respawn parses the file anew.
                    let child_wait = parsed
                        .config
                        .root
                        .child_wait_time
                        .map_or(daemon::CHILD_WAIT, |s| {
                            std::time::Duration::from_secs(u64::from(s))
                        });
                    let parent_cfg = daemon::ParentConfig {
                        children: choice,
                        ns_override: cli.namespace.is_some(),
                        ..daemon::ParentConfig::new(
                            &parsed.config,
                            std::path::PathBuf::from(file),
                            opts.clone(),
                            cli.umask.as_deref().and_then(parse_umask),
                        )
                    };
                    std::mem::forget(parsed);
                    daemon::run_parent(
                        started,
                        cli.dont_respawn,
                        child_wait,
                        parent_cfg,
                        cli.log_detail > 0,
                    )
                }
                Ok(daemon::Forked::Child(sub)) => {
                    pid_file.abandon_in_child();
                    run_child(cli, sub, true, file, opts, &pids, parsed)
                }
                Err(e) => {
                    tracing::error!("Unable to start child process: {e}");
                    daemon::EXIT_FATAL
                }
            }
        }
        Some(sub) => run_child(cli, sub, false, file, opts, &pids, parsed),
    }
}

/// A child role, executed (`ROLE_ENV`) or forked from the parent.
fn run_child(
    cli: &Cli,
    sub: daemon::Subsystem,
    forked: bool,
    file: &str,
    opts: &kaconf::Options,
    pids: &daemon::PidFiles,
    parsed: kaconf::Parsed,
) -> i32 {
    if forked {
        log::init(sub.role(), &log_opts(cli));
    }
    // each child reads the file for its own blocks, as keepalived's do
    let process = match sub {
        daemon::Subsystem::Vrrp => kaconf::Process::Vrrp,
        daemon::Subsystem::Check => kaconf::Process::Check,
    };
    let mut parsed = parsed;
    // keepalived's VRRP process names each interface the configuration
    // needs and the system lacks, and then stops (CONFIG) before its
    // instance checks; probed here, where the lines can still be placed
    let mut missing_interfaces = None;
    if sub == daemon::Subsystem::Vrrp {
        let mut missing = kaconf::Diags::default();
        if syscheck::interfaces(&parsed.config, &syscheck::System::probe(), &mut missing) {
            syscheck::stopped_at_interfaces(&mut parsed.diags);
            missing_interfaces = Some(
                missing
                    .list
                    .iter()
                    .map(|d| d.render(&parsed.sources))
                    .collect(),
            );
        }
    }
    log::config_diagnostics(&parsed, process, false);
    let config = parsed.config;
    daemon::child_setup(forked);
    let path = match sub {
        daemon::Subsystem::Vrrp => &pids.vrrp,
        daemon::Subsystem::Check => &pids.check,
    };
    let _pid = match daemon::PidFile::create(path) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!("{e}");
            return daemon::EXIT_FATAL;
        }
    };
    let code = match sub {
        daemon::Subsystem::Check => check_role::run(
            std::path::Path::new(file),
            opts,
            config,
            &check_role::CheckRoleOpts {
                dont_release_ipvs: cli.dont_release_ipvs,
                log_detail: cli.log_detail > 0,
                umask: cli.umask.as_deref().and_then(parse_umask),
            },
        ),
        daemon::Subsystem::Vrrp => vrrp_role::run(
            std::path::Path::new(file),
            opts,
            config,
            &vrrp_role::VrrpRoleOpts {
                dont_release_vrrp: cli.dont_release_vrrp,
                log_detail: cli.log_detail > 0,
                umask: cli.umask.as_deref().and_then(parse_umask),
                missing_interfaces,
            },
        ),
    };
    daemon::log_stopped_child(cli.log_detail > 0);
    code
}

fn parse_umask(s: &str) -> Option<u32> {
    let t = s.trim();
    if let Some(oct) = t.strip_prefix('0') {
        u32::from_str_radix(if oct.is_empty() { "0" } else { oct }, 8).ok()
    } else {
        t.parse().ok()
    }
}

fn config_test(cli: &Cli, file: &str, opts: &kaconf::Options) -> i32 {
    let mut parsed = kaconf::parse_file(file, opts);
    if parsed.found {
        syscheck::check(
            &parsed.config,
            &syscheck::System::probe(),
            &mut parsed.diags,
        );
        check_map::regex_diags(&parsed.config, &mut parsed.diags);
    }
    let mut out: Box<dyn Write> = match &cli.config_test {
        Some(Some(log)) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("Unable to open config-test log file {log}: {e}");
                Box::new(std::io::stderr())
            }
        },
        _ => Box::new(std::io::stderr()),
    };
    if cli.diagnostics_json {
        for d in &parsed.diags.list {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let (Some(loc), Some(obj)) = (d.loc, v.as_object_mut()) {
                let file = parsed
                    .sources
                    .path(loc.file)
                    .map(|p| p.display().to_string());
                obj.insert("file".into(), file.into());
            }
            let _ = writeln!(out, "{v}");
        }
    } else {
        for line in parsed.render_diagnostics() {
            let _ = writeln!(out, "{line}");
        }
    }
    if cli.dump_json {
        match serde_json::to_string_pretty(&parsed.config) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("cannot serialise configuration: {e}"),
        }
    }
    let code = parsed.exit_code();
    // The process exits next: freeing a 200,000-real-server model piece by
    // piece would add about 5% to `-t` (issue 2 point 7's benchmark).
    std::mem::forget(parsed);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_line_wraps_as_keepalived() {
        // Debian's keepalived 2.2.7, from a test log.
        let args: Vec<std::ffi::OsString> = [
            "/usr/sbin/keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            "/tmp/kv-hangoa-7806/r1-ka.conf",
            "-p",
            "/tmp/kv-hangoa-7806/kv-r1-ka.pid",
            "-r",
            "/tmp/kv-hangoa-7806/kv-r1-ka-vrrp.pid",
        ]
        .iter()
        .map(Into::into)
        .collect();
        assert_eq!(
            command_line_lines(&args),
            [
                "Command line: '/usr/sbin/keepalived' '-n' '-l' '-D' '-P' '-f' '/tmp/kv-hangoa-7806/r1-ka.conf' '-p'",
                "              '/tmp/kv-hangoa-7806/kv-r1-ka.pid' '-r' '/tmp/kv-hangoa-7806/kv-r1-ka-vrrp.pid'",
            ]
        );
        assert_eq!(
            command_line_lines(&["/usr/sbin/keepalived".into(), "-n".into()]),
            ["Command line: '/usr/sbin/keepalived' '-n'"]
        );
        // One argument longer than a line is cut where the line ends.
        let long = "x".repeat(120);
        let lines = command_line_lines(&[long.clone().into()]);
        assert_eq!(lines[0].len(), "Command line: ".len() + 88);
        assert_eq!(lines[1].trim_start().len(), 122 - 88);
    }

    #[test]
    fn example_config_is_clean_for_both_directors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/keepalived.conf");
        for id in ["lb1", "lb2"] {
            let opts = kaconf::Options {
                config_id: id.into(),
                ..Default::default()
            };
            let parsed = kaconf::parse_file(path, &opts);
            assert!(parsed.found);
            assert_eq!(parsed.render_diagnostics(), Vec::<String>::new(), "{id}");
            assert_eq!(parsed.config.vrrp_instances.len(), 1);
            assert_eq!(parsed.config.virtual_servers.len(), 2);
        }
    }

    #[test]
    fn keepalived_argv_forms() {
        let c = Cli::try_parse_from(["keepalived", "-lnD", "-f", "/x.conf"]).unwrap();
        assert!(c.log_console && c.dont_fork && c.log_detail == 1);
        assert_eq!(c.use_file.as_deref(), Some("/x.conf"));
        let c = Cli::try_parse_from(["keepalived", "-t", "-f", "/y"]).unwrap();
        assert_eq!(c.config_test, Some(None));
        let c = Cli::try_parse_from(["keepalived", "-V", "-i", "h1"]).unwrap();
        assert!(c.dont_release_vrrp);
        assert_eq!(c.config_id.as_deref(), Some("h1"));
    }
}
