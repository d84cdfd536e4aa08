//! VRRP (RFC 3768 v2, RFC 5798 v3) for keepalived-rs.
//!
//! # Layout
//! - [`types`]: small checked values (VRID, priority, centiseconds, version).
//! - [`wire`]: advert codec, checksums and keepalived's receive checks; no I/O.
//! - [`fsm`]: one sans-IO state machine per instance: `handle(now, input) -> actions`.
//! - [`sync`]: sync groups moving several instances together, also sans-IO.
//! - [`reload`]: SIGHUP as a diff: which instances continue, stop, start,
//!   and which addresses, routes and rules go; also sans-IO.
//! - [`dump`]: `keepalived.stats` and `keepalived.json`, as keepalived writes them.
//! - [`ifconf`]: per-interface IPv4 parameters for VMACs and
//!   `promote_secondaries`, saved and put back; also sans-IO.
//! - [`nft`]: the nftables drop rules for masters without accept mode, as
//!   nfnetlink batches; also sans-IO.
//! - [`driver`]: the tokio driver: raw sockets, rtnetlink, GARP/NA, timers.

pub mod driver;
pub mod dump;
pub mod fsm;
pub mod ifconf;
pub mod nft;
pub mod reload;
pub mod sync;
pub mod types;
pub mod wire;

pub use types::{Centisecs, Family, Priority, Version, Vrid};
