//! Email alerts (`global_defs` `notification_email`, `smtp_server`,
//! `smtp_alert`...), sent the way keepalived 2.2.7 sends them (core/smtp.c):
//! one SMTP connection per alert, no ESMTP, no TLS, no retry; a failure is
//! only logged. Both roles use it: the VRRP child for instance and sync
//! group transitions, the checker child for real and virtual servers.
//!
//! Layout:
//! - [`message`]: the alert's text (subject, body, headers, To list, Date)
//!   and the configuration it needs. No I/O.
//! - [`session`]: the SMTP dialogue as a sans-IO state machine: bytes in,
//!   bytes to send and log lines out, exactly keepalived's stages, reply
//!   parsing and log lines.
//! - [`client`]: the tokio driver: connect with `smtp_connect_timeout`, feed
//!   the session, and [`client::spawn`] so that sending never delays the
//!   VRRP or checker loops.

pub mod client;
pub mod message;
pub mod session;

pub use message::{Alert, Mailer};
