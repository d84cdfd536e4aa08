//! Kernel IPVS (LVS) for keepalived-rs: what the tables should hold, how to
//! get there, and the generic netlink messages that do it.
//!
//! # Layout
//! - [`model`]: plain values (`ServiceKey`, `Service`, `DestKey`, `Dest`,
//!   `Table`, …) with no netlink types; `Table` displays as `ipvsadm -Sn`.
//! - [`wire`]: the IPVS generic netlink codec (constants as in
//!   `linux/ip_vs.h`, attribute encode/decode, request builders, reply
//!   parsers); no I/O.
//! - [`plan`](mod@plan): `plan(desired, actual) -> Vec<Op>`, the pure reconciler.
//! - [`netlink`]: `nlmsghdr` framing of requests and the walk over a
//!   received datagram; no I/O.
//! - `socket`: the blocking neli socket and its options (the crate's one
//!   `unsafe` line, justified there).
//! - [`client`]: the tokio client: dump, apply ops in batches, reconcile
//!   (against a dump, or against a mirror of the kernel), a large table in
//!   parts at start-up, timeouts, sync daemons, info, flush. With
//!   `socket`, the only I/O.
//!
//! ```no_run
//! # async fn example() -> Result<(), ipvs::client::ClientError> {
//! use ipvs::model::{Dest, DestKey, Fwd, Scheduler, Service, ServiceKey, Table};
//!
//! let mut desired = Table::new();
//! let vip = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
//! // Equivalent to `ipvsadm -A -t 192.0.2.1:80 -s wlc -p 300`.
//! desired.insert_service(vip, Service::new(Scheduler::Wlc).persistent(300));
//! // Equivalent to `ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1`.
//! desired.insert_dest(&vip, DestKey::new("10.0.0.2:80".parse().unwrap()), Dest::new(Fwd::Route, 1));
//!
//! let client = ipvs::client::Client::connect().await?;
//! let report = client.reconcile(&desired).await?;
//! for (op, err) in &report.failed {
//!     eprintln!("ipvsadm {op}: {err}");
//! }
//! # Ok(()) }
//! ```

pub mod client;
pub mod model;
pub mod netlink;
pub mod plan;
mod socket;
pub mod wire;

pub use client::{Client, ClientError, Mirror, OpError, Parts, ReconcileReport};
pub use model::{Dest, DestKey, Fwd, Service, ServiceKey, Table};
pub use plan::{Op, plan};
