//! Health checkers and the LVS manager for keepalived-rs's checker role.
//!
//! # Layout
//! - [`config`]: the role's own config types (`LvsCfg` → `VsCfg` → `RsCfg` →
//!   `CheckerCfg`), filled by the daemon; no config-language knowledge.
//! - [`ha_suspend`]: pure: which virtual servers have their checkers
//!   suspended, given the addresses configured on this host.
//! - [`addr_monitor`]: rtnetlink address dump and notifications feeding
//!   `ha_suspend` (RTNLGRP_IPV4_IFADDR / RTNLGRP_IPV6_IFADDR).
//! - [`hysteresis`]: pure retry/up/down decision of one checker.
//! - [`manager`]: pure LVS manager: checker verdicts in, desired
//!   `ipvs::Table`, log lines, notifies and FIFO lines out.
//! - [`pcre`]: the PCRE2 calls (FFI over `pcre2-sys`) keepalived's regex
//!   check makes: any compile options, hard partial matching, JIT stack.
//! - [`bodyregex`]: pure: keepalived's HTTP_GET/SSL_GET `regex` check over
//!   the response as it is read (its 4 KiB buffer, offsets, partial matches).
//! - [`http`]: hand-written HTTP/1.x request and response reader, byte for
//!   byte keepalived's (MD5 over the raw body, no de-chunking).
//! - [`probe`]: one probe of each checker kind (TCP, HTTP/SSL, SMTP, DNS,
//!   PING, UDP, MISC, FILE): sockets and timeouts, no retry logic.
//! - [`task`]: one tokio task per checker (probe + hysteresis + log lines),
//!   reporting over a channel; its handle aborts it on drop.
//! - [`driver`]: runs the manager with the checker tasks and publishes each
//!   new desired table.
//! - [`memory`]: the checker process's allocator settings, and giving
//!   back start-up memory (parser code, freed heap) once checkers run.
//! - [`genhash`]: the `genhash` tool (options, output, exit codes of Debian's).
//! - [`script`]: running operator scripts as keepalived does (resolution,
//!   credentials, process groups, timeout ladder, reaping). Shared with the
//!   daemon's VRRP role for vrrp_script and notify scripts.
//! - [`trackfile`]: tracked files (FILE_CHECK, and the VRRP role's
//!   track_file): keepalived's reading of the value, inotify watching.

pub mod addr_monitor;
pub mod bodyregex;
pub mod config;
pub mod driver;
pub mod genhash;
pub mod ha_suspend;
pub mod http;
pub mod hysteresis;
pub mod manager;
pub mod memory;
pub mod pcre;
pub mod probe;
pub mod script;
pub mod task;
pub mod trackfile;

pub use config::*;
pub use manager::{CheckerId, Effect, Event, Manager, StartChecker};
