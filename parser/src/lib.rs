//! keepalived.conf → typed [`Config`], with keepalived's language and
//! diagnostics that carry file, line and column.
//!
//! Layout:
//! - [`reader`]: files, `include`, comments, `@id` lines, `$NAME` definitions,
//!   `~SEQ`/`~LST`, brace splitting and tokens (keepalived's `read_line`).
//! - [`schema`]: the keyword tables of every block, with tier and status.
//! - [`arity`]: keywords given without their argument, as keepalived treats them.
//! - [`engine`]: the block walk and keepalived's error recovery.
//! - [`builder`]: keyword handlers that fill the typed model.
//! - [`split`]: a large file parsed in two halves on two threads, merged
//!   only when that is provably the serial result.
//! - [`validate`]: post-parse checks and defaults, as keepalived applies them.
//! - [`model`]: the typed configuration (plain data, serde-serialisable).
//! - [`values`]: numbers, timers, booleans, addresses, command splitting.
//! - [`diag`]: diagnostics, keepalived's error classes and `-t` exit codes.
//!
//! The parser never touches the system beyond reading the files it is told
//! to read and resolving an `smtp_server` host name (keepalived resolves it
//! while reading, and rejects the line if that fails): checks that need the system (does `eth1` exist? is a script
//! safe?) are made by the daemon from the locations kept in the model.

pub mod arity;
pub mod builder;
pub mod diag;
pub mod engine;
pub mod model;
pub mod reader;
pub mod schema;
pub mod split;
pub mod validate;
pub mod values;

pub use diag::{Class, Diagnostic, Diags, Loc, Logger, Phase, Process, Scope, SourceMap};
pub use model::Config;

/// How to parse.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `-i/--config-id` value for `@id` lines (default: host name up
    /// to the first dot).
    pub config_id: String,
    /// `-e/--all-config`: every include must exist and be readable.
    pub all_config: bool,
    /// Parsing for a running daemon, not for `-t`: see `Diags::run_time`.
    pub run_time: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_id: default_config_id(),
            all_config: false,
            run_time: false,
        }
    }
}

/// The host name up to the first dot, as keepalived's default config id.
pub fn default_config_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// The result of a parse: the configuration (always produced, as keepalived
/// always runs with what it could read), the diagnostics and the files read.
#[derive(Debug)]
pub struct Parsed {
    pub config: Config,
    pub diags: Diags,
    pub sources: SourceMap,
    /// False if the top-level file could not be opened at all.
    pub found: bool,
    /// An include failed a check: keepalived stops after reading the files
    /// (no validation) and `-t` exits with 6.
    pub config_file_error: bool,
}

impl Parsed {
    /// The `keepalived -t` exit code.
    pub fn exit_code(&self) -> i32 {
        if !self.found {
            return 4;
        }
        if self.config_file_error {
            return 6;
        }
        self.diags.exit_code()
    }

    /// The lines `by` logs while reading (see [`Diags::log`]), for a
    /// process that logs only those.
    pub fn log_lines(&self, by: Logger) -> impl Iterator<Item = &str> {
        self.diags
            .list
            .iter()
            .filter(move |d| d.log == Some(by))
            .map(|d| d.message.as_str())
    }

    /// What process `p` logs as it reads the file, at start or (`reload`)
    /// again at a reload: the config errors of its own blocks and of the
    /// root level, with their location, and in their place the lines it
    /// only logs while running. keepalived's parent names the included
    /// files but not the main one; the children read the parent's copy,
    /// which names every file.
    pub fn process_lines(&self, p: Process, reload: bool) -> impl Iterator<Item = String> + '_ {
        self.diags
            .list
            .iter()
            .filter(move |d| d.scope.logged_by(p, reload))
            .map(move |d| match (d.log, d.loc) {
                (Some(_), _) | (None, None) => d.message.clone(),
                (None, Some(loc)) => {
                    d.render_named(&self.sources, p != Process::Parent || loc.file != 0)
                }
            })
    }

    pub fn render_diagnostics(&self) -> Vec<String> {
        self.diags
            .list
            .iter()
            .map(|d| d.render(&self.sources))
            .collect()
    }
}

/// Parses the file (or glob) `path` and validates the result. A large
/// file is read on two threads when that gives the same result (see
/// [`split`]).
pub fn parse_file(path: &str, opts: &Options) -> Parsed {
    split::parse_file_split(path, opts, split::Split::Auto).0
}

/// Parses configuration text (for tests and fuzzing): written to a private
/// temporary file, so includes resolve relative to the temporary directory.
pub fn parse_str(text: &str, opts: &Options) -> Parsed {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kaconf-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::create_dir_all(&dir);
    let f = dir.join("keepalived.conf");
    let _ = std::fs::write(&f, text);
    let p = parse_file(&f.to_string_lossy(), opts);
    let _ = std::fs::remove_dir_all(&dir);
    p
}
