//! The only code that touches a socket: a tokio client for the kernel's
//! IPVS generic netlink family, over neli. It encodes with `wire`, sends,
//! and decodes; all decisions live in `plan` and the codec.
//!
//! ```text
//!  Client::apply(ops) ── encode ──► NlRouter::send ── sendmsg ──► kernel
//!        ▲   (up to WINDOW requests in flight, each with NLM_F_ACK)     │
//!        │                                                              │
//!        └── ack/errno per op ◄── receiver handle (by sequence number) ◄┘
//!                                 neli's background task reads the socket
//! ```
//!
//! The kernel runs one dump at a time per socket (a second one gets
//! `EBUSY`), so dumps are serialised; other requests are pipelined.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::Duration;

use neli::consts::nl::NlmF;
use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::nl::NlPayload;
use neli::router::asynchronous::{NlRouter, NlRouterReceiverHandle};
use neli::types::Buffer;
use neli::utils::Groups;
use tokio::sync::Mutex;
use tokio::time::timeout;
use tracing::{debug, warn};

use crate::model::{
    DestEntry, IpvsInfo, ServiceEntry, ServiceKey, SyncDaemon, SyncState, Table, Timeouts,
};
use crate::plan::{Op, plan};
use crate::wire::{self, DecodeError, EncodeError, IPVS_GENL_NAME, IpvsMessage};

/// Linux errno values the client interprets.
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;

/// Requests in flight at once in [`Client::apply`]: enough to hide the
/// round trip, few enough that replies never fill the socket buffer.
const WINDOW: usize = 128;

/// How long one request (or one message of a dump) may go unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Rounds of dump, plan and apply in [`Client::reconcile`].
pub const MAX_RECONCILE_ROUNDS: usize = 3;

/// Why a client call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "IPVS module not loaded: the kernel has no \"IPVS\" generic netlink family (modprobe ip_vs)"
    )]
    NotLoaded,
    #[error("{context}: {}", io::Error::from_raw_os_error(*errno))]
    Kernel { context: &'static str, errno: i32 },
    #[error("{context}: netlink: {message}")]
    Netlink {
        context: &'static str,
        message: String,
    },
    #[error("{context}: {source}")]
    Decode {
        context: &'static str,
        source: DecodeError,
    },
    #[error("{context}: {source}")]
    Encode {
        context: &'static str,
        source: EncodeError,
    },
    #[error("{context}: no answer from the kernel within {REQUEST_TIMEOUT:?}")]
    Timeout { context: &'static str },
}

impl ClientError {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ClientError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Why one op of [`Client::apply`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The kernel refused it with this errno.
    #[error("{}", io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    #[error("cannot encode: {0}")]
    Encode(EncodeError),
    #[error("netlink: {0}")]
    Transport(String),
}

impl OpError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            OpError::Kernel(e) => Some(*e),
            _ => None,
        }
    }

    /// The kernel's table was not what the plan assumed: something exists
    /// that we were about to add (`EEXIST`), or a service or real server we
    /// were about to edit or delete is gone (`ENOENT`, `ESRCH`). Re-dumping
    /// and re-planning fixes these.
    pub fn is_drift(&self) -> bool {
        matches!(self.errno(), Some(ENOENT | ESRCH | EEXIST))
    }
}

/// What [`Client::reconcile`] did.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Dump-plan-apply rounds run.
    pub rounds: usize,
    /// Ops the kernel accepted, over all rounds.
    pub applied: usize,
    /// Ops of the last round that the kernel refused; empty on success.
    pub failed: Vec<(Op, OpError)>,
}

impl ReconcileReport {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

type Handle = NlRouterReceiverHandle<u16, Buffer>;

/// A connection to the kernel's IPVS family, in the calling thread's
/// network namespace. Cheap to share by reference; needs a tokio runtime.
pub struct Client {
    router: NlRouter,
    family: u16,
    dump_lock: Mutex<()>,
}

fn router_error<T: fmt::Debug, P: fmt::Debug>(
    context: &'static str,
    e: RouterError<T, P>,
) -> ClientError {
    match e {
        RouterError::Nlmsgerr(m) => ClientError::Kernel {
            context,
            errno: m.error().saturating_neg(),
        },
        e => ClientError::Netlink {
            context,
            message: e.to_string(),
        },
    }
}

impl Client {
    /// Opens a generic netlink socket and resolves the "IPVS" family.
    /// [`ClientError::NotLoaded`] when the kernel doesn't have it.
    pub async fn connect() -> Result<Client, ClientError> {
        Client::connect_family(IPVS_GENL_NAME).await
    }

    /// [`Client::connect`] for another family name, so the transport can be
    /// tested on a kernel without IPVS.
    pub(crate) async fn connect_family(name: &str) -> Result<Client, ClientError> {
        let (router, _multicast) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .await
            .map_err(|e| router_error("opening a generic netlink socket", e))?;
        let family = match router.resolve_genl_family(name).await {
            Ok(id) => id,
            Err(RouterError::Nlmsgerr(m)) if *m.error() == -ENOENT && name == IPVS_GENL_NAME => {
                return Err(ClientError::NotLoaded);
            }
            Err(e) => return Err(router_error("resolving the generic netlink family", e)),
        };
        debug!(family, name, "resolved generic netlink family");
        Ok(Client {
            router,
            family,
            dump_lock: Mutex::new(()),
        })
    }

    /// The family's numeric id in this kernel.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    async fn send(
        &self,
        msg: &IpvsMessage,
        flags: NlmF,
        context: &'static str,
    ) -> Result<Handle, ClientError> {
        let bytes = msg
            .encode()
            .map_err(|source| ClientError::Encode { context, source })?;
        self.router
            .send::<u16, Buffer, u16, Buffer>(
                self.family,
                flags,
                NlPayload::Payload(Buffer::from(bytes)),
            )
            .await
            .map_err(|e| router_error(context, e))
    }

    /// Sends `msg` and collects the decoded messages the kernel answers
    /// with (none for a bare ack).
    async fn request(
        &self,
        msg: &IpvsMessage,
        flags: NlmF,
        context: &'static str,
    ) -> Result<Vec<IpvsMessage>, ClientError> {
        let mut handle = self.send(msg, flags, context).await?;
        let mut replies = Vec::new();
        loop {
            let next = timeout(REQUEST_TIMEOUT, handle.next::<u16, Buffer>())
                .await
                .map_err(|_| ClientError::Timeout { context })?;
            let Some(reply) = next else {
                return Ok(replies);
            };
            let reply = reply.map_err(|e| router_error(context, e))?;
            match reply.nl_payload() {
                NlPayload::Payload(buf) => replies.push(
                    IpvsMessage::decode(buf.as_ref())
                        .map_err(|source| ClientError::Decode { context, source })?,
                ),
                NlPayload::DumpExtAck(e) if *e.error() != 0 => {
                    return Err(ClientError::Kernel {
                        context,
                        errno: e.error().saturating_neg(),
                    });
                }
                // Ack, end of dump.
                _ => {}
            }
        }
    }

    async fn dump_request(
        &self,
        msg: &IpvsMessage,
        context: &'static str,
    ) -> Result<Vec<IpvsMessage>, ClientError> {
        let _one_dump_at_a_time = self.dump_lock.lock().await;
        self.request(msg, NlmF::DUMP, context).await
    }

    async fn query(
        &self,
        msg: &IpvsMessage,
        context: &'static str,
    ) -> Result<IpvsMessage, ClientError> {
        self.request(msg, NlmF::empty(), context)
            .await?
            .into_iter()
            .next()
            .ok_or(ClientError::Netlink {
                context,
                message: "no reply".into(),
            })
    }

    async fn execute(&self, msg: &IpvsMessage, context: &'static str) -> Result<(), ClientError> {
        self.request(msg, NlmF::ACK, context).await.map(drop)
    }

    /// IPVS version and connection table size (`ipvsadm --version`).
    pub async fn get_info(&self) -> Result<IpvsInfo, ClientError> {
        let context = "GET_INFO";
        let reply = self.query(&wire::get_info(), context).await?;
        wire::parse_info(&reply).map_err(|source| ClientError::Decode { context, source })
    }

    /// All services with their configuration and counters (`ipvsadm -Ln`).
    pub async fn list_services(&self) -> Result<Vec<ServiceEntry>, ClientError> {
        let context = "GET_SERVICE dump";
        self.dump_request(&wire::get_service(None), context)
            .await?
            .iter()
            .map(wire::parse_service)
            .collect::<Result<_, _>>()
            .map_err(|source| ClientError::Decode { context, source })
    }

    /// The real servers of one service; empty if the service is unknown
    /// (the kernel answers an empty dump).
    pub async fn list_dests(&self, service: &ServiceKey) -> Result<Vec<DestEntry>, ClientError> {
        let context = "GET_DEST dump";
        let af = service.af();
        self.dump_request(&wire::get_dests(service), context)
            .await?
            .iter()
            .map(|m| wire::parse_dest(m, af))
            .collect::<Result<_, _>>()
            .map_err(|source| ClientError::Decode { context, source })
    }

    /// The kernel's whole table: services, then each one's real servers.
    /// Not atomic: the kernel can change between the dumps, which the next
    /// reconciliation round catches.
    pub async fn dump(&self) -> Result<Table, ClientError> {
        self.dump_where(|_| true).await
    }

    /// The services `keep` selects, with their real servers. A daemon that
    /// shares the kernel table with other tools dumps only what it owns: the
    /// real-server dumps are the expensive part.
    pub async fn dump_where(
        &self,
        keep: impl Fn(&ServiceKey) -> bool,
    ) -> Result<Table, ClientError> {
        let mut table = Table::new();
        for entry in self.list_services().await? {
            if !keep(&entry.key) {
                continue;
            }
            let dests = self.list_dests(&entry.key).await?;
            let vs = table.insert_service(entry.key, entry.service);
            vs.dests = dests.into_iter().map(|d| (d.key, d.dest)).collect();
        }
        Ok(table)
    }

    async fn await_ack(&self, mut handle: Handle) -> Result<(), OpError> {
        match timeout(REQUEST_TIMEOUT, handle.next::<u16, Buffer>()).await {
            Err(_) => Err(OpError::Transport("no answer from the kernel".into())),
            Ok(None) => Err(OpError::Transport("no ack".into())),
            Ok(Some(Ok(_ack))) => Ok(()),
            Ok(Some(Err(RouterError::Nlmsgerr(m)))) => {
                Err(OpError::Kernel(m.error().saturating_neg()))
            }
            Ok(Some(Err(e))) => Err(OpError::Transport(e.to_string())),
        }
    }

    /// Runs the ops in order, pipelined, and returns each one's outcome at
    /// its index. The kernel handles requests in the order sent, so an add
    /// of a real server after the add of its service sees the service. A
    /// failed op doesn't stop the others.
    pub async fn apply(&self, ops: &[Op]) -> Vec<Result<(), OpError>> {
        let mut results: Vec<Option<Result<(), OpError>>> = (0..ops.len()).map(|_| None).collect();
        let mut in_flight: VecDeque<(usize, Handle)> = VecDeque::with_capacity(WINDOW);
        for (i, op) in ops.iter().enumerate() {
            if in_flight.len() >= WINDOW
                && let Some((j, handle)) = in_flight.pop_front()
            {
                results[j] = Some(self.await_ack(handle).await);
            }
            match self
                .send(&request_for(op), NlmF::ACK, "applying an op")
                .await
            {
                Ok(handle) => in_flight.push_back((i, handle)),
                Err(ClientError::Encode { source, .. }) => {
                    results[i] = Some(Err(OpError::Encode(source)))
                }
                Err(e) => results[i] = Some(Err(OpError::Transport(e.to_string()))),
            }
        }
        for (j, handle) in in_flight {
            results[j] = Some(self.await_ack(handle).await);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(OpError::Transport("not sent".into()))))
            .collect()
    }

    /// Makes the kernel's table equal `desired`: dump, plan, apply; when
    /// ops fail because the table changed underneath (see
    /// [`OpError::is_drift`]), dump and plan again, at most
    /// [`MAX_RECONCILE_ROUNDS`] rounds. Never flushes: services and real
    /// servers not in `desired` are deleted one by one. Refused ops are in
    /// the report; `Err` means a dump failed.
    pub async fn reconcile(&self, desired: &Table) -> Result<ReconcileReport, ClientError> {
        self.reconcile_where(desired, |_| true).await
    }

    /// [`Client::reconcile`] limited to the services `owned` selects (plus
    /// every service in `desired`): services of other tools are never seen,
    /// so never deleted.
    pub async fn reconcile_where(
        &self,
        desired: &Table,
        owned: impl Fn(&ServiceKey) -> bool,
    ) -> Result<ReconcileReport, ClientError> {
        let mut report = ReconcileReport::default();
        let scope = |k: &ServiceKey| owned(k) || desired.get(k).is_some();
        loop {
            report.rounds += 1;
            let actual = self.dump_where(scope).await?;
            let ops = plan(desired, &actual);
            debug!(round = report.rounds, ops = ops.len(), "ipvs reconcile");
            if ops.is_empty() {
                report.failed.clear();
                return Ok(report);
            }
            let results = self.apply(&ops).await;
            report.failed.clear();
            for (op, result) in ops.into_iter().zip(results) {
                match result {
                    Ok(()) => report.applied += 1,
                    Err(e) => report.failed.push((op, e)),
                }
            }
            let drift = report.failed.iter().any(|(_, e)| e.is_drift());
            if report.failed.is_empty() || !drift || report.rounds >= MAX_RECONCILE_ROUNDS {
                if drift {
                    warn!(
                        rounds = report.rounds,
                        "ipvs table kept changing underneath"
                    );
                }
                return Ok(report);
            }
        }
    }

    /// Removes every service (`ipvsadm -C`).
    pub async fn flush(&self) -> Result<(), ClientError> {
        self.execute(&wire::flush(), "FLUSH").await
    }

    /// Zeroes counters of one service or all (`ipvsadm -Z`).
    pub async fn zero(&self, service: Option<&ServiceKey>) -> Result<(), ClientError> {
        self.execute(&wire::zero(service), "ZERO").await
    }

    /// Connection timeouts (`ipvsadm -L --timeout`).
    pub async fn timeouts(&self) -> Result<Timeouts, ClientError> {
        let context = "GET_CONFIG";
        let reply = self.query(&wire::get_config(), context).await?;
        wire::parse_config(&reply).map_err(|source| ClientError::Decode { context, source })
    }

    /// Sets connection timeouts; 0 leaves one unchanged (`ipvsadm --set`).
    pub async fn set_timeouts(&self, t: &Timeouts) -> Result<(), ClientError> {
        self.execute(&wire::set_config(t), "SET_CONFIG").await
    }

    /// Running sync daemons (`ipvsadm -L --daemon`).
    pub async fn daemons(&self) -> Result<Vec<SyncDaemon>, ClientError> {
        let context = "GET_DAEMON dump";
        self.dump_request(&wire::get_daemon(), context)
            .await?
            .iter()
            .map(wire::parse_daemon)
            .collect::<Result<_, _>>()
            .map_err(|source| ClientError::Decode { context, source })
    }

    /// Starts a sync daemon (`ipvsadm --start-daemon`).
    pub async fn start_daemon(&self, d: &SyncDaemon) -> Result<(), ClientError> {
        self.execute(&wire::new_daemon(d), "NEW_DAEMON").await
    }

    /// Stops the sync daemon of that role (`ipvsadm --stop-daemon`).
    pub async fn stop_daemon(&self, state: SyncState) -> Result<(), ClientError> {
        self.execute(&wire::del_daemon(state), "DEL_DAEMON").await
    }
}

/// The request that carries out an op.
pub fn request_for(op: &Op) -> IpvsMessage {
    match op {
        Op::AddService { key, service } => wire::new_service(key, service),
        Op::EditService { key, service } => wire::set_service(key, service),
        Op::DelService { key } => wire::del_service(key),
        Op::AddDest { service, key, dest } => wire::new_dest(service, key, dest),
        Op::EditDest { service, key, dest } => wire::set_dest(service, key, dest),
        Op::DelDest { service, key } => wire::del_dest(service, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::wire::IpvsCmd;

    /// On a kernel without ip_vs (this machine: CONFIG_IP_VS is not set),
    /// resolving the family must say so plainly. Where IPVS exists, the
    /// same call succeeds.
    #[tokio::test]
    async fn connect_reports_missing_module() {
        match Client::connect().await {
            Err(ClientError::NotLoaded) => {
                let msg = ClientError::NotLoaded.to_string();
                assert!(msg.starts_with("IPVS module not loaded"), "{msg}");
            }
            Ok(c) => assert!(
                std::path::Path::new("/proc/net/ip_vs").exists(),
                "resolved IPVS (id {}) but /proc/net/ip_vs is missing",
                c.family_id()
            ),
            Err(e) => panic!("expected NotLoaded, got {e}"),
        }
    }

    /// The transport itself works: the controller family always exists
    /// (its id is 16, GENL_ID_CTRL), and an unknown name is a plain ENOENT.
    #[tokio::test]
    async fn transport_resolves_nlctrl() {
        let c = Client::connect_family("nlctrl").await.expect("nlctrl");
        assert_eq!(c.family_id(), 16);
        // (Names are at most 15 bytes; a longer one is EINVAL.)
        let err = Client::connect_family("nosuchfamily")
            .await
            .err()
            .expect("unknown family");
        assert_eq!(err.errno(), Some(ENOENT), "{err}");
    }

    #[test]
    fn drift_errors() {
        assert!(OpError::Kernel(EEXIST).is_drift());
        assert!(OpError::Kernel(ENOENT).is_drift());
        assert!(OpError::Kernel(ESRCH).is_drift());
        assert!(!OpError::Kernel(22).is_drift(), "EINVAL is a real error");
        assert!(!OpError::Transport("x".into()).is_drift());
        assert_eq!(
            OpError::Kernel(EEXIST).to_string(),
            "File exists (os error 17)"
        );
    }

    #[test]
    fn ops_map_to_commands() {
        let k = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let d = DestKey::new("10.0.0.1:80".parse().unwrap());
        let s = Service::new(Scheduler::Rr);
        let dest = Dest::new(Fwd::Route, 1);
        let cmds: Vec<IpvsCmd> = [
            Op::AddService {
                key: k,
                service: s.clone(),
            },
            Op::EditService { key: k, service: s },
            Op::DelService { key: k },
            Op::AddDest {
                service: k,
                key: d,
                dest,
            },
            Op::EditDest {
                service: k,
                key: d,
                dest,
            },
            Op::DelDest { service: k, key: d },
        ]
        .iter()
        .map(|op| request_for(op).cmd)
        .collect();
        assert_eq!(
            cmds,
            [
                IpvsCmd::NewService,
                IpvsCmd::SetService,
                IpvsCmd::DelService,
                IpvsCmd::NewDest,
                IpvsCmd::SetDest,
                IpvsCmd::DelDest
            ]
        );
    }
}
