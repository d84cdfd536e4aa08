//! Health checkers and the LVS manager for keepalived-rs's checker role.
//!
//! # Layout
//! - [`script`]: running operator scripts as keepalived does (resolution,
//!   credentials, process groups, timeout ladder, reaping). Shared with the
//!   daemon's VRRP role for vrrp_script and notify scripts.

pub mod script;
