//! The tokio driver around the manager: runs one task per checker, feeds
//! their reports to the manager, carries out its effects (log lines,
//! notify scripts, FIFO lines) and publishes every new desired table on a
//! `watch` channel, from which the daemon's IPVS side runs `ipvs::plan`.
//!
//! ```no_run
//! # async fn f(cfg: checkers::LvsCfg) {
//! let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
//! let (mut driver, mut tables) = checkers::driver::Driver::new(cfg, Default::default());
//! tokio::spawn(async move {
//!     while tables.changed().await.is_ok() {
//!         let desired = tables.borrow_and_update().clone();
//!         // ipvs client: reconcile(&desired)
//!         # let _ = desired;
//!     }
//! });
//! driver.run(reload_rx, std::future::pending::<()>()).await;
//! # drop(reload_tx);
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;

use ipvs::Table;
use tokio::sync::{mpsc, oneshot, watch};

use crate::addr_monitor::AddrMonitor;
use crate::config::LvsCfg;
use crate::ha_suspend::{self, AddrEvent};
use crate::manager::{CheckerId, Effect, Event, Manager};
use crate::task::{self, CheckerHandle, Msg, TaskEnv};

/// Options of the driver.
#[derive(Debug, Clone, Default)]
pub struct DriverOpts {
    pub env: TaskEnv,
    /// `lvs_notify_fifo` and `notify_fifo` paths (already created).
    pub fifos: Vec<PathBuf>,
    /// Also forward every log line here (tests, dumps).
    pub log_tap: Option<mpsc::UnboundedSender<String>>,
    /// Where the manager's email alerts go (the daemon sends them); None
    /// drops them.
    pub mail: Option<mpsc::UnboundedSender<crate::manager::Mail>>,
    /// Watch this host's addresses for `ha_suspend` (opened only while a
    /// virtual server uses it). Off: ha_suspend virtual servers stay
    /// suspended unless `Event::LocalAddr` comes through [`Driver::sender`].
    pub watch_addrs: bool,
    /// Once the checkers are started, give start-up memory back
    /// (crate::memory::shed_startup): the process is the checker process.
    pub release_startup_memory: bool,
}

pub struct Driver {
    manager: Manager,
    tasks: HashMap<CheckerId, CheckerHandle>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    table: watch::Sender<Table>,
    opts: DriverOpts,
    fifos: Vec<std::fs::File>,
    pending: Vec<Effect>,
    addrs: Option<AddrMonitor>,
    /// Requests for the manager's state (the SIGUSR1 dump); the driver
    /// keeps a sender so the channel never closes.
    views_tx: mpsc::UnboundedSender<ViewRequest>,
    views_rx: mpsc::UnboundedReceiver<ViewRequest>,
}

/// Where [`Driver::run`] answers with `Manager::view()`.
pub type ViewRequest = oneshot::Sender<Vec<crate::manager::VsView>>;

impl Driver {
    /// Builds the manager; the checker tasks start with [`Driver::run`]. The
    /// receiver already holds the startup table.
    pub fn new(cfg: LvsCfg, opts: DriverOpts) -> (Driver, watch::Receiver<Table>) {
        Driver::with_addrs(cfg, opts, None, &[])
    }

    /// As [`Driver::new`], but when `opts.watch_addrs` and some virtual
    /// server has ha_suspend, first opens the address monitor and reads
    /// the addresses, so those virtual servers start as keepalived's do.
    pub async fn start(cfg: LvsCfg, opts: DriverOpts) -> (Driver, watch::Receiver<Table>) {
        let (mon, dump) = if opts.watch_addrs && ha_suspend::needed(&cfg.virtual_servers) {
            open_monitor().await
        } else {
            (None, Vec::new())
        };
        Driver::with_addrs(cfg, opts, mon, &dump)
    }

    /// For a driver built with [`Driver::new`] (e.g. on another thread,
    /// without a runtime), before [`Driver::run`]: when some virtual server
    /// has ha_suspend and `opts.watch_addrs`, opens the address monitor and
    /// applies its first dump as [`Driver::start`] would have, start lines
    /// included ("Activating" for a virtual server whose address is here).
    pub async fn watch_local_addrs(&mut self) {
        if !self.opts.watch_addrs || self.addrs.is_some() || !self.manager.uses_ha_suspend() {
            return;
        }
        let (mon, dump) = open_monitor().await;
        self.addrs = mon;
        let (details, on) = self.manager.preset_addrs(&dump);
        // start_all put each checker's "Deactivating" line right before
        // its Start: those of the virtual servers now on become "Activating"
        for e in &mut self.pending {
            if let Effect::Log(l) = e
                && let Some(rest) = l.strip_prefix("Deactivating healthchecker for service ")
                && on.iter().any(|vs| rest.ends_with(&format!(" for VS {vs}")))
            {
                *l = format!("Activating healthchecker for service {rest}");
            }
        }
        self.pending.splice(0..0, details);
    }

    fn with_addrs(
        cfg: LvsCfg,
        opts: DriverOpts,
        addrs: Option<AddrMonitor>,
        dump: &[AddrEvent],
    ) -> (Driver, watch::Receiver<Table>) {
        let (manager, effects) = Manager::with_addrs(cfg, dump);
        Driver::from_manager(manager, effects, opts, addrs)
    }

    /// A driver for a manager built in steps ([`Manager::startup`]): the
    /// receiver holds its table, `effects` are its start effects.
    pub fn from_startup(
        startup: crate::manager::Startup,
        opts: DriverOpts,
    ) -> (Driver, watch::Receiver<Table>) {
        let (manager, effects) = startup.finish();
        Driver::from_manager(manager, effects, opts, None)
    }

    fn from_manager(
        mut manager: Manager,
        effects: Vec<Effect>,
        opts: DriverOpts,
        addrs: Option<AddrMonitor>,
    ) -> (Driver, watch::Receiver<Table>) {
        manager.take_changed();
        let (table, table_rx) = watch::channel(manager.desired());
        let (tx, rx) = mpsc::channel(1024);
        let fifos = opts.fifos.iter().filter_map(|p| open_fifo(p)).collect();
        let (views_tx, views_rx) = mpsc::unbounded_channel();
        let mut d = Driver {
            manager,
            tasks: HashMap::new(),
            tx,
            rx,
            table,
            opts,
            fifos,
            pending: Vec::new(),
            addrs,
            views_tx,
            views_rx,
        };
        d.pending = effects;
        (d, table_rx)
    }

    /// Runs until `shutdown` completes; then applies keepalived's stop
    /// sequence (down notifies with omega) and publishes an empty table.
    /// A new `LvsCfg` on `reload` is applied as a diff.
    pub async fn run(
        &mut self,
        mut reload: mpsc::Receiver<LvsCfg>,
        shutdown: impl Future<Output = ()>,
    ) {
        let first = std::mem::take(&mut self.pending);
        self.apply(first);
        if self.opts.release_startup_memory {
            // the code that logged and spawned thousands of checkers goes
            // before the IPVS side brings in its own
            crate::memory::shed_startup();
        }
        self.publish();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(cfg) = reload.recv() => {
                    if self.opts.watch_addrs
                        && self.addrs.is_none()
                        && ha_suspend::needed(&cfg.virtual_servers)
                    {
                        // keepalived opens its reflector on the reload that
                        // first brings ha_suspend, and reads the addresses
                        let (mon, dump) = open_monitor().await;
                        self.addrs = mon;
                        for ev in dump {
                            let fx = self.manager.handle(Event::LocalAddr(ev));
                            self.apply(fx);
                        }
                    }
                    let fx = self.manager.reload(cfg);
                    self.apply(fx);
                }
                evs = next_addrs(&mut self.addrs) => match evs {
                    Some(evs) => {
                        for ev in evs {
                            let fx = self.manager.handle(Event::LocalAddr(ev));
                            self.apply(fx);
                        }
                    }
                    None => {
                        tracing::warn!("Netlink reflector: socket closed, ha_suspend no longer follows addresses");
                        self.addrs = None;
                    }
                },
                Some(reply) = self.views_rx.recv() => {
                    let _ = reply.send(self.manager.view());
                }
                Some(msg) = self.rx.recv() => {
                    self.message(msg);
                    // whatever else is already queued goes into the same
                    // table (thousands of checkers report at start)
                    for _ in 0..4096 {
                        match self.rx.try_recv() {
                            Ok(msg) => self.message(msg),
                            Err(_) => break,
                        }
                    }
                }
            }
            self.publish();
        }
        let fx = self.manager.shutdown();
        self.apply(fx);
        self.publish();
    }

    fn message(&mut self, msg: Msg) {
        match msg {
            Msg::Log(line) => self.log(line),
            Msg::Event(ev) => {
                let fx = self.manager.handle(ev);
                self.apply(fx);
            }
        }
    }

    /// Sends the desired table if the manager's state changed.
    fn publish(&mut self) {
        if !self.manager.take_changed() {
            return;
        }
        let new = self.manager.desired();
        self.table.send_if_modified(|t| {
            if *t == new {
                false
            } else {
                *t = new;
                true
            }
        });
    }

    fn log(&self, line: String) {
        tracing::info!("{line}");
        if let Some(tap) = &self.opts.log_tap {
            let _ = tap.send(line);
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Log(l) => self.log(l),
                Effect::Detail(l) => {
                    tracing::debug!("{l}");
                    if let Some(tap) = &self.opts.log_tap {
                        let _ = tap.send(l);
                    }
                }
                Effect::Notify(s) => {
                    if let Err(err) = s.notify(&[], None) {
                        tracing::warn!(script = ?s.argv(), %err, "notify script failed to start");
                    }
                }
                Effect::Mail(m) => {
                    if let Some(tx) = &self.opts.mail {
                        let _ = tx.send(m);
                    }
                }
                Effect::Fifo(bytes) => {
                    use std::io::Write;
                    for f in &mut self.fifos {
                        // non-blocking: a full FIFO drops the line, as in keepalived
                        let _ = f.write(&bytes);
                    }
                }
                Effect::Start(s) => {
                    let id = s.id;
                    let h = task::spawn(*s, self.opts.env, self.tx.clone());
                    self.tasks.insert(id, h);
                }
                Effect::Stop(id) => {
                    self.tasks.remove(&id);
                }
            }
        }
    }

    /// Where outside events enter, e.g. `Msg::Event(Event::LocalAddr(..))`
    /// when addresses come from elsewhere than the built-in monitor.
    pub fn sender(&self) -> mpsc::Sender<Msg> {
        self.tx.clone()
    }

    /// Asks the running driver for the manager's state: send a oneshot
    /// sender, [`Driver::run`] answers between two events.
    pub fn view_requests(&self) -> mpsc::UnboundedSender<ViewRequest> {
        self.views_tx.clone()
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Number of checker tasks alive.
    pub fn task_count(&self) -> usize {
        self.tasks.values().filter(|h| !h.is_finished()).count()
    }
}

/// Opens the monitor, or logs keepalived's line and goes on without one.
async fn open_monitor() -> (Option<AddrMonitor>, Vec<AddrEvent>) {
    match AddrMonitor::open().await {
        Ok((m, dump)) => (Some(m), dump),
        Err(e) => {
            tracing::info!("Error while registering Kernel netlink reflector channel");
            tracing::warn!("address monitor: {e}");
            (None, Vec::new())
        }
    }
}

async fn next_addrs(m: &mut Option<AddrMonitor>) -> Option<Vec<AddrEvent>> {
    match m {
        Some(m) => m.next().await,
        None => std::future::pending().await,
    }
}

fn open_fifo(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| tracing::warn!(path = %path.display(), %e, "cannot open notify FIFO"))
        .ok()
}
