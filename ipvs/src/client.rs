//! The only code that touches a socket: a tokio client for the kernel's
//! IPVS generic netlink family. neli opens the socket and resolves the
//! family; `netlink` frames the requests, `wire` encodes their payloads.
//!
//! ```text
//!  Client::apply(ops) ─ spawn_blocking ─► one sendmsg per batch of ~1000
//!        ▲                                 requests, only the last with
//!        │                                 NLM_F_ACK (the fence)      │
//!        │                                                            ▼
//!        └─ errno per op ◄─ recv: NLMSG_ERROR of failed ops (by seq), then
//!                           the fence's ack: the batch is done
//! ```
//!
//! The kernel runs every request of a datagram in order, inside `sendmsg`,
//! and answers a request without `NLM_F_ACK` only if it fails. So a batch
//! costs one `sendmsg` and, when all goes well, one `recvmsg`.
//!
//! The kernel runs one dump at a time per socket, and a dump with answers
//! only finishes in the `recvmsg` after its first one (IPVS's dump
//! callbacks return the buffer length, so `NLMSG_DONE` never rides in the
//! first datagram): a second dump request in the same datagram would get
//! `EBUSY`. So real-server dumps go one after the other, three syscalls
//! each. Measured in the VM, that is not the cost: the kernel spends
//! ~25 µs (qemu TCG) filling each entry's ~35 attributes, and dumping over
//! two sockets in parallel doubled its CPU time (IPVS's mutex) without
//! shortening the dump.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::router::asynchronous::NlRouter;
use neli::utils::Groups;
use tracing::{debug, warn};

use crate::model::{
    DestEntry, IpvsInfo, Service, ServiceEntry, ServiceKey, SyncDaemon, SyncState, Table, Timeouts,
};
use crate::netlink::{self, NLM_F_ACK, NLM_F_DUMP, Reply};
use crate::plan::{Op, apply_to, plan};
use crate::socket::Socket;
use crate::wire::{self, DecodeError, EncodeError, IPVS_GENL_NAME, IpvsMessage};

/// Linux errno values the client interprets.
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;
const ENOBUFS: i32 = 105;

/// How long one request (or one message of a dump) may go unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Rounds of dump, plan and apply in [`Client::reconcile`].
pub const MAX_RECONCILE_ROUNDS: usize = 3;

/// Receive buffer asked for: room for the error answers of a whole batch
/// (root gets it whatever net.core.rmem_max says).
const RCVBUF: usize = 8 << 20;
/// Send buffer asked for; a batch stays below what was granted.
const SNDBUF: usize = 1 << 20;
/// Upper bound of one batch's datagram.
const MAX_BATCH_BYTES: usize = 256 << 10;
/// What one error answer may cost in the receive buffer besides the echoed
/// request: the kernel's skb overhead, rounded up generously.
const ERROR_OVERHEAD: usize = 1024;
/// Receive buffer of one `recvmsg`. The kernel sizes each datagram of a
/// dump by the largest buffer the socket has read with (up to 32 KiB), and
/// allocates that much even for the lone `NLMSG_DONE`: 8 KiB holds a
/// service with 10 real servers in one datagram while keeping those
/// allocations small (in the VM, 64 KiB dumped slowest of 4, 8, 16 and
/// 64 KiB, though host load made the runs noisy).
const RECV_BYTES: usize = 8 << 10;

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
    /// The kernel's answer was lost (the socket's receive buffer overran):
    /// the op may or may not have been done.
    #[error("outcome unknown: the kernel's answer was lost (receive buffer overrun)")]
    Unknown,
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

    /// Drift, or an outcome we never heard: a fresh dump and plan sort it out.
    pub fn needs_redump(&self) -> bool {
        self.is_drift() || matches!(self, OpError::Unknown)
    }
}

/// What the kernel holds, as far as this client knows: see
/// [`Client::reconcile_mirrored`].
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    pub table: Table,
    /// False until a dump filled `table`, and after any doubt.
    pub valid: bool,
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

/// A table programmed in parts, at start-up: see [`Client::begin_parts`].
#[derive(Debug, Default)]
pub struct Parts {
    /// The services the kernel held when programming began, with their
    /// configuration, until a part takes them over.
    before: BTreeMap<ServiceKey, Service>,
    /// What the kernel holds for the services of the parts so far.
    pub mirror: Mirror,
    /// The ops of every part; `failed` keeps the refused ones.
    pub report: ReconcileReport,
}

/// A connection to the kernel's IPVS family, in the network namespace of
/// the thread that called [`Client::connect`]. Cheap to share by reference;
/// needs a tokio runtime (the socket work runs on its blocking pool).
/// Concurrent calls are served one after the other.
pub struct Client {
    family: u16,
    conn: Arc<Mutex<Conn>>,
}

fn router_error<T: std::fmt::Debug, P: std::fmt::Debug>(
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

fn io_error(context: &'static str, e: &io::Error) -> ClientError {
    if e.kind() == io::ErrorKind::WouldBlock {
        ClientError::Timeout { context }
    } else {
        ClientError::Netlink {
            context,
            message: e.to_string(),
        }
    }
}

fn lock(conn: &Mutex<Conn>) -> std::sync::MutexGuard<'_, Conn> {
    // A panic mid-request leaves at worst unread answers behind, which
    // carry old sequence numbers and are skipped.
    conn.lock().unwrap_or_else(PoisonError::into_inner)
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
        let family = {
            let (router, _multicast) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
                .await
                .map_err(|e| router_error("opening a generic netlink socket", e))?;
            match router.resolve_genl_family(name).await {
                Ok(id) => id,
                Err(RouterError::Nlmsgerr(m))
                    if *m.error() == -ENOENT && name == IPVS_GENL_NAME =>
                {
                    return Err(ClientError::NotLoaded);
                }
                Err(e) => return Err(router_error("resolving the generic netlink family", e)),
            }
        };
        debug!(family, name, "resolved generic netlink family");
        // Opened here, on the caller's thread: a socket belongs to the
        // network namespace it was created in.
        let conn = Conn::open(family)?;
        Ok(Client {
            family,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The family's numeric id in this kernel.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Runs `f` on the blocking pool: the kernel does a request's work
    /// inside our `sendmsg`, which for a batch takes a while.
    async fn blocking<R: Send + 'static>(
        &self,
        context: &'static str,
        f: impl FnOnce(&mut Conn) -> R + Send + 'static,
    ) -> Result<R, ClientError> {
        let conn = Arc::clone(&self.conn);
        match tokio::task::spawn_blocking(move || f(&mut lock(&conn))).await {
            Ok(r) => Ok(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(ClientError::Netlink {
                context,
                message: e.to_string(),
            }),
        }
    }

    /// Sends one request (`NLM_F_ACK` or `NLM_F_DUMP`) and decodes the
    /// answers.
    async fn request(
        &self,
        msg: &IpvsMessage,
        flags: u16,
        context: &'static str,
    ) -> Result<Vec<IpvsMessage>, ClientError> {
        let payload = msg
            .encode()
            .map_err(|source| ClientError::Encode { context, source })?;
        self.blocking(context, move |conn| {
            let mut replies = Vec::new();
            conn.exchange(&payload, flags, context, &mut |p| {
                replies.push(
                    IpvsMessage::decode(p)
                        .map_err(|source| ClientError::Decode { context, source })?,
                );
                Ok(())
            })?;
            Ok(replies)
        })
        .await?
    }

    async fn query(
        &self,
        msg: &IpvsMessage,
        context: &'static str,
    ) -> Result<IpvsMessage, ClientError> {
        self.request(msg, NLM_F_ACK, context)
            .await?
            .into_iter()
            .next()
            .ok_or(ClientError::Netlink {
                context,
                message: "no reply".into(),
            })
    }

    async fn execute(&self, msg: &IpvsMessage, context: &'static str) -> Result<(), ClientError> {
        self.request(msg, NLM_F_ACK, context).await.map(drop)
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
        let payload = wire::get_service(None)
            .encode()
            .map_err(|source| ClientError::Encode { context, source })?;
        self.blocking(context, move |conn| {
            let mut services = Vec::new();
            conn.exchange(&payload, NLM_F_DUMP, context, &mut |p| {
                services.push(
                    wire::parse_service_payload(p)
                        .map_err(|source| ClientError::Decode { context, source })?,
                );
                Ok(())
            })?;
            Ok(services)
        })
        .await?
    }

    /// The real servers of one service; empty if the service is unknown
    /// (the kernel answers an empty dump).
    pub async fn list_dests(&self, service: &ServiceKey) -> Result<Vec<DestEntry>, ClientError> {
        let keys = vec![*service];
        let mut all = self
            .blocking("GET_DEST dump", move |conn| conn.dump_dests(&keys))
            .await??;
        Ok(all.pop().unwrap_or_default())
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
        let services: Vec<ServiceEntry> = self
            .list_services()
            .await?
            .into_iter()
            .filter(|e| keep(&e.key))
            .collect();
        let keys: Vec<ServiceKey> = services.iter().map(|e| e.key).collect();
        let dests = self
            .blocking("GET_DEST dump", move |conn| conn.dump_dests(&keys))
            .await??;
        let mut table = Table::new();
        for (entry, dests) in services.into_iter().zip(dests) {
            let vs = table.insert_service(entry.key, entry.service);
            vs.dests = dests.into_iter().map(|d| (d.key, d.dest)).collect();
        }
        Ok(table)
    }

    /// Runs the ops in order, in batches, and returns each one's outcome at
    /// its index. The kernel handles requests in the order sent, so an add
    /// of a real server after the add of its service sees the service. A
    /// failed op doesn't stop the others.
    pub async fn apply(&self, ops: &[Op]) -> Vec<Result<(), OpError>> {
        let n = ops.len();
        match self.apply_owned(ops.to_vec()).await {
            Ok((_, results)) => results,
            Err(e) => vec![Err(OpError::Transport(e.to_string())); n],
        }
    }

    /// [`Client::apply`] without copying the ops: they travel to the
    /// blocking thread and back (a cold start's 11,000 ops cost a visible
    /// share of start-up under the test VM). `Err` only if that thread was
    /// lost, with the ops' outcomes unknown.
    async fn apply_owned(
        &self,
        ops: Vec<Op>,
    ) -> Result<(Vec<Op>, Vec<Result<(), OpError>>), ClientError> {
        self.blocking("applying ops", move |conn| {
            let results = conn.apply(&ops);
            (ops, results)
        })
        .await
    }

    /// Makes the kernel's table equal `desired`: dump, plan, apply; when
    /// ops fail because the table changed underneath (see
    /// [`OpError::is_drift`]) or their outcome was lost, dump and plan
    /// again, at most [`MAX_RECONCILE_ROUNDS`] rounds. Never flushes:
    /// services and real servers not in `desired` are deleted one by one.
    /// Refused ops are in the report; `Err` means a dump failed.
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
            let retry = report.failed.iter().any(|(_, e)| e.needs_redump());
            if report.failed.is_empty() || !retry || report.rounds >= MAX_RECONCILE_ROUNDS {
                if retry {
                    warn!(
                        rounds = report.rounds,
                        "ipvs table kept changing underneath"
                    );
                }
                return Ok(report);
            }
        }
    }

    /// Like [`Client::reconcile_where`], but plans against `mirror`, this
    /// client's record of what the kernel holds, instead of dumping first.
    /// A change of one real server then costs one write op and no dump. The
    /// kernel is only dumped when it disagrees with the mirror (an op fails
    /// with EEXIST/ENOENT/ESRCH or its outcome is unknown): then the mirror
    /// is rebuilt from a scoped dump and the remaining difference applied.
    /// Start with an empty mirror and `dumped = false`: the first call dumps.
    pub async fn reconcile_mirrored(
        &self,
        desired: &Table,
        mirror: &mut Mirror,
        owned: impl Fn(&ServiceKey) -> bool,
    ) -> Result<ReconcileReport, ClientError> {
        let scope = |k: &ServiceKey| owned(k) || desired.get(k).is_some();
        if !mirror.valid {
            // One dump, then the mirrored path: the ops that succeed are
            // applied to the dumped table, which spares a second dump of
            // everything just programmed (a cold start's whole table).
            mirror.table = self.dump_where(scope).await?;
            mirror.valid = true;
        }
        let ops = plan(desired, &mirror.table);
        let mut report = ReconcileReport {
            rounds: 1,
            ..Default::default()
        };
        if ops.is_empty() {
            return Ok(report);
        }
        let (ops, results) = match self.apply_owned(ops).await {
            Ok(done) => done,
            Err(e) => {
                mirror.valid = false;
                return Err(e);
            }
        };
        if results.iter().all(Result::is_ok) {
            // Every op of plan(desired, mirror) took: the kernel now holds
            // `desired` (plan's contract, property-tested), so the mirror
            // is a copy, not 11,000 replayed ops at a cold start.
            report.applied = ops.len();
            mirror.table = desired.clone();
            return Ok(report);
        }
        for (op, result) in ops.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    report.applied += 1;
                    apply_to(&mut mirror.table, &op);
                }
                Err(e) => report.failed.push((op, e)),
            }
        }
        if report.failed.iter().any(|(_, e)| e.needs_redump()) {
            // the kernel changed behind our back: back to dump-and-plan
            debug!("ipvs mirror out of date: dumping");
            let mut again = self.reconcile_where(desired, scope).await?;
            again.applied += report.applied;
            again.rounds += report.rounds;
            mirror.table = self.dump_where(scope).await?;
            mirror.valid = again.is_complete();
            return Ok(again);
        }
        Ok(report)
    }

    /// Starts programming a large table in parts, each applied as soon as
    /// it is known ([`Client::apply_part`]), so that building the rest of
    /// the table overlaps the kernel's work. Lists the services the kernel
    /// already holds (one dump, without their real servers).
    pub async fn begin_parts(&self) -> Result<Parts, ClientError> {
        let before = self
            .list_services()
            .await?
            .into_iter()
            .map(|e| (e.key, e.service))
            .collect();
        Ok(Parts {
            before,
            mirror: Mirror {
                table: Table::new(),
                valid: true,
            },
            report: ReconcileReport {
                rounds: 1,
                ..Default::default()
            },
        })
    }

    /// Makes the kernel hold `part`'s services as `part` has them, as
    /// [`Client::reconcile_where`] limited to those services would, and
    /// records them in `parts.mirror`. Services of earlier parts must not
    /// come again: a service is planned against what the kernel held at
    /// [`Client::begin_parts`]. `parts.mirror` can then seed
    /// [`Client::reconcile_mirrored`] for the whole table; a refused op
    /// that shows drift marks it invalid, so that call dumps.
    pub async fn apply_part(&self, part: Table, parts: &mut Parts) -> Result<(), ClientError> {
        let mut actual = Table::new();
        for key in part.services.keys() {
            if let Some(service) = parts.before.remove(key) {
                let dests = self.list_dests(key).await?;
                actual.insert_service(*key, service).dests =
                    dests.into_iter().map(|d| (d.key, d.dest)).collect();
            }
        }
        let ops = plan(&part, &actual);
        if ops.is_empty() {
            parts.mirror.table.services.extend(part.services);
            return Ok(());
        }
        let (ops, results) = match self.apply_owned(ops).await {
            Ok(done) => done,
            Err(e) => {
                parts.mirror.valid = false;
                return Err(e);
            }
        };
        if results.iter().all(Result::is_ok) {
            parts.report.applied += ops.len();
            parts.mirror.table.services.extend(part.services);
            return Ok(());
        }
        parts.mirror.table.services.extend(actual.services);
        for (op, result) in ops.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    parts.report.applied += 1;
                    apply_to(&mut parts.mirror.table, &op);
                }
                Err(e) => {
                    if e.needs_redump() {
                        parts.mirror.valid = false;
                    }
                    parts.report.failed.push((op, e));
                }
            }
        }
        Ok(())
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
        self.request(&wire::get_daemon(), NLM_F_DUMP, context)
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

/// One socket with its buffers and sequence numbers, used from one
/// blocking thread at a time.
struct Conn {
    sock: Socket,
    family: u16,
    seq: u32,
    sbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Bytes of error answers one batch may leave queued.
    reply_budget: usize,
    /// Bytes of one batch's datagram.
    max_batch: usize,
}

impl Conn {
    fn open(family: u16) -> Result<Conn, ClientError> {
        let context = "opening a generic netlink socket";
        let sock =
            Socket::open(RCVBUF, SNDBUF, REQUEST_TIMEOUT).map_err(|e| io_error(context, &e))?;
        let rcvbuf = sock.rcvbuf().map_err(|e| io_error(context, &e))?;
        let sndbuf = sock.sndbuf().map_err(|e| io_error(context, &e))?;
        // Half the receive buffer: the kernel's accounting of an skb is
        // only estimated here.
        let reply_budget = rcvbuf / 2;
        let max_batch = MAX_BATCH_BYTES.min(sndbuf.saturating_sub(4096)).max(4096);
        debug!(rcvbuf, sndbuf, max_batch, "ipvs netlink socket");
        Ok(Conn {
            sock,
            family,
            seq: 1,
            sbuf: Vec::with_capacity(max_batch),
            rbuf: vec![0; RECV_BYTES],
            reply_budget,
            max_batch,
        })
    }

    /// Reserves `n` sequence numbers, returns the first.
    fn seqs(&mut self, n: usize) -> u32 {
        let base = self.seq;
        self.seq = self.seq.wrapping_add(u32::try_from(n).unwrap_or(u32::MAX));
        base
    }

    /// Sends one request and feeds `on_data` the payload of each answer
    /// until the ack, the error or the end of the dump. Answers to older
    /// requests (a timed-out one) are skipped by sequence number.
    fn exchange(
        &mut self,
        payload: &[u8],
        flags: u16,
        context: &'static str,
        on_data: &mut dyn FnMut(&[u8]) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let seq = self.seqs(1);
        self.sbuf.clear();
        netlink::put_request(&mut self.sbuf, self.family, flags, seq, payload);
        self.sock
            .send(&self.sbuf)
            .map_err(|e| io_error(context, &e))?;
        // A bad answer is remembered, but the dump is read to its end so
        // that the socket is free for the next one.
        let mut failed = None;
        loop {
            let n = self
                .sock
                .recv(&mut self.rbuf, false)
                .map_err(|e| io_error(context, &e))?;
            for m in netlink::messages(&self.rbuf[..n]) {
                let m = m.map_err(|e| ClientError::Netlink {
                    context,
                    message: e.to_string(),
                })?;
                if m.seq != seq {
                    continue;
                }
                match m.reply {
                    Reply::Data(p) => {
                        if failed.is_none()
                            && let Err(e) = on_data(p)
                        {
                            failed = Some(e);
                        }
                    }
                    Reply::Error(0) | Reply::Done(0) => return failed.map_or(Ok(()), Err),
                    Reply::Error(code) | Reply::Done(code) => {
                        return Err(ClientError::Kernel {
                            context,
                            errno: code.saturating_neg(),
                        });
                    }
                    Reply::Other(_) => {}
                }
            }
        }
    }

    /// The real servers of each service in `keys`, in order. Decoding
    /// runs on a second thread while this one waits for the kernel: the
    /// two cost about the same order of CPU, and the kernel's share runs
    /// in our syscalls.
    fn dump_dests(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestEntry>>, ClientError> {
        let context = "GET_DEST dump";
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Vec<u8>>)>(64);
        std::thread::scope(|scope| {
            let decoder = scope.spawn(move || {
                let mut all: Vec<Vec<DestEntry>> = keys.iter().map(|_| Vec::new()).collect();
                for (i, messages) in rx {
                    let af = keys.get(i).map_or(crate::model::Af::Inet, ServiceKey::af);
                    let dests = messages
                        .iter()
                        .map(|p| wire::parse_dest_payload(p, af))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|source| ClientError::Decode { context, source })?;
                    if let Some(slot) = all.get_mut(i) {
                        *slot = dests;
                    }
                }
                Ok::<_, ClientError>(all)
            });
            let mut io = || {
                for (i, key) in keys.iter().enumerate() {
                    let payload = wire::get_dests(key)
                        .encode()
                        .map_err(|source| ClientError::Encode { context, source })?;
                    let mut messages = Vec::new();
                    self.exchange(&payload, NLM_F_DUMP, context, &mut |p| {
                        messages.push(p.to_vec());
                        Ok(())
                    })?;
                    if tx.send((i, messages)).is_err() {
                        // The decoder stopped on an error, which it returns.
                        break;
                    }
                }
                Ok::<_, ClientError>(())
            };
            let io = io();
            drop(tx);
            let decoded = decoder
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            io.and(decoded)
        })
    }

    /// Encodes the ops into batches and runs each (see [`Conn::run_batch`]).
    fn apply(&mut self, ops: &[Op]) -> Vec<Result<(), OpError>> {
        let mut results: Vec<Result<(), OpError>> = vec![Ok(()); ops.len()];
        let mut batch: Vec<usize> = Vec::new();
        let mut next = 0;
        // The op whose request is in `payload`, left for the next batch.
        let mut pending: Option<usize> = None;
        let mut payload = Vec::new();
        loop {
            self.sbuf.clear();
            batch.clear();
            let base = self.seq;
            let mut budget = self.reply_budget;
            let mut fence_at = 0;
            loop {
                let i = match pending.take() {
                    Some(i) => i,
                    None => {
                        let Some(op) = ops.get(next) else { break };
                        next += 1;
                        payload.clear();
                        match wire::encode_op(op, &mut payload) {
                            Ok(()) => next - 1,
                            Err(e) => {
                                results[next - 1] = Err(OpError::Encode(e));
                                continue;
                            }
                        }
                    }
                };
                let bytes = netlink::align(netlink::NLMSG_HDRLEN + payload.len());
                // An error answer echoes the request.
                let cost = ERROR_OVERHEAD + bytes;
                if !batch.is_empty() && (cost > budget || self.sbuf.len() + bytes > self.max_batch)
                {
                    pending = Some(i);
                    break;
                }
                budget = budget.saturating_sub(cost);
                fence_at = self.sbuf.len();
                let seq = base.wrapping_add(u32::try_from(batch.len()).unwrap_or(u32::MAX));
                netlink::put_request(&mut self.sbuf, self.family, 0, seq, &payload);
                batch.push(i);
            }
            if batch.is_empty() {
                return results;
            }
            // The last request asks for an ack: once it arrives, every
            // request before it has been handled and any error is read.
            if let Some(flags) = self.sbuf.get_mut(fence_at + 6..fence_at + 8) {
                let f = u16::from_ne_bytes([flags[0], flags[1]]) | NLM_F_ACK;
                flags.copy_from_slice(&f.to_ne_bytes());
            }
            self.seqs(batch.len());
            self.run_batch(base, &batch, &mut results);
        }
    }

    /// Sends the framed batch in `sbuf` (sequence numbers `base..`, one per
    /// op index in `batch`) and records each failed op's errno. If answers
    /// were lost (receive buffer overrun), the ops not heard of are
    /// [`OpError::Unknown`]: never silently taken as done.
    fn run_batch(&mut self, base: u32, batch: &[usize], results: &mut [Result<(), OpError>]) {
        if let Err(e) = self.sock.send(&self.sbuf) {
            for &i in batch {
                results[i] = Err(OpError::Transport(format!("sendmsg: {e}")));
            }
            return;
        }
        let fence = batch.len() - 1;
        let mut heard = vec![false; batch.len()];
        let mut lost = false;
        let mut done = false;
        while !done {
            // The kernel ran the whole batch inside sendmsg: after an
            // overrun, whatever survived is already queued.
            let n = match self.sock.recv(&mut self.rbuf, lost) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    warn!(ops = batch.len(), "ipvs: netlink answers lost (ENOBUFS)");
                    lost = true;
                    continue;
                }
                Err(e) if lost && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    for (k, &i) in batch.iter().enumerate() {
                        if !heard[k] {
                            results[i] = Err(OpError::Transport(format!("recvmsg: {e}")));
                        }
                    }
                    return;
                }
            };
            for m in netlink::messages(&self.rbuf[..n]) {
                let Ok(m) = m else {
                    lost = true;
                    break;
                };
                let k = m.seq.wrapping_sub(base) as usize;
                if k >= batch.len() {
                    continue;
                }
                if let Reply::Error(code) = m.reply {
                    heard[k] = true;
                    if code != 0 {
                        results[batch[k]] = Err(OpError::Kernel(code.saturating_neg()));
                    }
                    done |= k == fence;
                }
            }
        }
        if lost {
            for (k, &i) in batch.iter().enumerate() {
                if !heard[k] {
                    results[i] = Err(OpError::Unknown);
                }
            }
        }
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

/// The batching machinery against a family every kernel has: nlctrl
/// knows none of IPVS's commands' payloads, so every op fails, with an
/// errno that depends on the command. Each must come back at its index.
#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::model::*;

    /// `wire::encode_op` writes what the message of `request_for` encodes
    /// to, for every kind of op, service and real server.
    #[test]
    fn encode_op_is_the_messages_bytes() {
        use crate::model::{Af, Scheduler, SvcFlags, TunCsum, Tunnel};
        let sa = |s: &str| -> std::net::SocketAddr { s.parse().unwrap() };
        let mut services = Vec::new();
        for (i, name) in [
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
            "twos",
        ]
        .iter()
        .enumerate()
        {
            services.push((
                ServiceKey::tcp(sa(&format!("192.0.2.2:{}", 10001 + i))),
                Service::new(Scheduler::from_name(name)),
            ));
        }
        let mut p4 = Service::new(Scheduler::Rr).persistent(300);
        p4.netmask = Some(0xffff_ff00);
        services.push((ServiceKey::tcp(sa("192.0.2.3:80")), p4));
        let mut p6 = Service::new(Scheduler::Rr).persistent(60);
        p6.netmask = Some(64);
        services.push((ServiceKey::tcp(sa("[2001:db8::3]:80")), p6));
        let mut sip = Service::new(Scheduler::Rr).persistent(120);
        sip.pe_name = Some("sip".into());
        services.push((ServiceKey::udp(sa("192.0.2.4:5060")), sip));
        let mut empty_pe = Service::new(Scheduler::Rr);
        empty_pe.pe_name = Some(String::new());
        services.push((ServiceKey::udp(sa("192.0.2.4:5061")), empty_pe));
        let mut flags = Service::new(Scheduler::Sh);
        flags.flags = SvcFlags::SH_FALLBACK | SvcFlags::SH_PORT | SvcFlags::ONEPACKET;
        services.push((ServiceKey::sctp(sa("192.0.2.5:80")), flags));
        services.push((
            ServiceKey::fwmark(Af::Inet, 1),
            Service::new(Scheduler::Wlc),
        ));
        services.push((
            ServiceKey::fwmark(Af::Inet6, 2),
            Service::new(Scheduler::Rr),
        ));
        let mut thresholds = Dest::new(Fwd::Masq, 7);
        thresholds.u_thresh = 100;
        thresholds.l_thresh = 10;
        let dests = [
            (DestKey::new(sa("192.0.2.10:80")), Dest::new(Fwd::Route, 1)),
            (DestKey::new(sa("192.0.2.11:8080")), thresholds),
            (
                DestKey::new(sa("192.0.2.12:80")),
                Dest::new(Fwd::Tunnel(Tunnel::Ipip), 3),
            ),
            (
                DestKey::new(sa("192.0.2.13:80")),
                Dest::new(
                    Fwd::Tunnel(Tunnel::Gue {
                        port: 6080,
                        csum: TunCsum::RemCsum,
                    }),
                    0,
                ),
            ),
            (
                DestKey::new(sa("[2001:db8::14]:0")),
                Dest::new(
                    Fwd::Tunnel(Tunnel::Gre {
                        csum: TunCsum::Csum,
                    }),
                    2,
                ),
            ),
            (DestKey::new(sa("192.0.2.15:0")), Dest::new(Fwd::Local, 1)),
            (DestKey::new(sa("192.0.2.16:80")), Dest::new(Fwd::Bypass, 1)),
        ];
        let mut ops = Vec::new();
        for (key, service) in &services {
            ops.push(Op::AddService {
                key: *key,
                service: service.clone(),
            });
            ops.push(Op::EditService {
                key: *key,
                service: service.clone(),
            });
            ops.push(Op::DelService { key: *key });
            for (dk, dest) in &dests {
                ops.push(Op::AddDest {
                    service: *key,
                    key: *dk,
                    dest: *dest,
                });
                ops.push(Op::EditDest {
                    service: *key,
                    key: *dk,
                    dest: *dest,
                });
                ops.push(Op::DelDest {
                    service: *key,
                    key: *dk,
                });
            }
        }
        let mut direct = vec![1, 2, 3];
        for op in &ops {
            let mut want = vec![1, 2, 3];
            request_for(op).encode_into(&mut want).unwrap();
            direct.truncate(3);
            crate::wire::encode_op(op, &mut direct).unwrap();
            assert_eq!(direct, want, "{op}");
        }
    }

    #[tokio::test]
    async fn every_error_returns_at_its_index() {
        let c = Client::connect_family("nlctrl").await.expect("nlctrl");
        let k = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let add = Op::AddService {
            key: k,
            service: Service::new(Scheduler::Rr),
        };
        let del = Op::DelService { key: k };
        // The two commands' errnos, one at a time.
        let one = |op: &Op| {
            let op = op.clone();
            let c = &c;
            async move { c.apply(&[op]).await.remove(0) }
        };
        let add_err = one(&add).await.expect_err("nlctrl has no NEW_SERVICE");
        let del_err = one(&del).await.expect_err("nlctrl's GETFAMILY refuses it");
        assert!(add_err.errno().is_some(), "{add_err:?}");
        assert!(del_err.errno().is_some(), "{del_err:?}");
        assert_ne!(add_err, del_err, "the test needs two different errnos");
        // Thousands of ops: several batches, errors only, all accounted for.
        let ops: Vec<Op> = (0..6000)
            .map(|i| if i % 3 == 0 { del.clone() } else { add.clone() })
            .collect();
        let results = c.apply(&ops).await;
        assert_eq!(results.len(), ops.len());
        for (i, r) in results.iter().enumerate() {
            let want = if i % 3 == 0 { &del_err } else { &add_err };
            assert_eq!(r.as_ref().err(), Some(want), "op {i}");
        }
        // The socket is still in step: a plain request works.
        assert!(c.apply(&[]).await.is_empty());
        assert_eq!(one(&add).await.err(), Some(add_err));
    }

    /// A receive buffer too small for a batch's errors (as if our estimate
    /// of their size were wrong): the kernel drops answers and says
    /// ENOBUFS. No op may then pass for done.
    #[test]
    fn overrun_never_passes_for_success() {
        const GENL_ID_CTRL: u16 = 16;
        let mut conn = Conn::open(GENL_ID_CTRL).expect("socket");
        if conn.sock.force_rcvbuf(4096).is_err() {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "needs root");
            eprintln!("skipped: shrinking the receive buffer needs root");
            return;
        }
        conn.reply_budget = usize::MAX;
        let k = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let ops = vec![Op::DelService { key: k }; 2000];
        let results = conn.apply(&ops);
        let unknown = results
            .iter()
            .filter(|r| **r == Err(OpError::Unknown))
            .count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(OpError::Kernel(_))))
            .count();
        assert!(unknown > 0, "4 KiB can't hold 2000 errors");
        assert_eq!(unknown + refused, ops.len(), "{results:?}");
        assert!(results.iter().all(|r| {
            r.as_ref()
                .is_err_and(|e| e.needs_redump() || e.errno().is_some())
        }));
        // The socket stays in step: with room again, every answer arrives.
        conn.sock.force_rcvbuf(RCVBUF).unwrap();
        conn.reply_budget = RCVBUF / 2;
        let again = conn.apply(&ops[..10]);
        assert!(
            again.iter().all(|r| matches!(r, Err(OpError::Kernel(_)))),
            "{again:?}"
        );
    }
}
