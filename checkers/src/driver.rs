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
use tokio::sync::{mpsc, watch};

use crate::config::LvsCfg;
use crate::manager::{CheckerId, Effect, Manager};
use crate::task::{self, CheckerHandle, Msg, TaskEnv};

/// Options of the driver.
#[derive(Debug, Clone, Default)]
pub struct DriverOpts {
    pub env: TaskEnv,
    /// `lvs_notify_fifo` and `notify_fifo` paths (already created).
    pub fifos: Vec<PathBuf>,
    /// Also forward every log line here (tests, dumps).
    pub log_tap: Option<mpsc::UnboundedSender<String>>,
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
}

impl Driver {
    /// Builds the manager; the checker tasks start with [`Driver::run`]. The
    /// receiver already holds the startup table.
    pub fn new(cfg: LvsCfg, opts: DriverOpts) -> (Driver, watch::Receiver<Table>) {
        let (manager, effects) = Manager::new(cfg);
        let (table, table_rx) = watch::channel(manager.desired());
        let (tx, rx) = mpsc::channel(1024);
        let fifos = opts.fifos.iter().filter_map(|p| open_fifo(p)).collect();
        let mut d = Driver {
            manager,
            tasks: HashMap::new(),
            tx,
            rx,
            table,
            opts,
            fifos,
            pending: Vec::new(),
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
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(cfg) = reload.recv() => {
                    let fx = self.manager.reload(cfg);
                    self.apply(fx);
                }
                Some(msg) = self.rx.recv() => {
                    match msg {
                        Msg::Log(line) => self.log(line),
                        Msg::Event(ev) => {
                            let fx = self.manager.handle(ev);
                            self.apply(fx);
                        }
                    }
                }
            }
        }
        let fx = self.manager.shutdown();
        self.apply(fx);
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
                Effect::Notify(s) => {
                    if let Err(err) = s.notify(&[], None) {
                        tracing::warn!(script = ?s.argv(), %err, "notify script failed to start");
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
        self.table.send_if_modified(|t| {
            let new = self.manager.desired();
            if *t == new {
                false
            } else {
                *t = new;
                true
            }
        });
    }

    /// Where outside events enter, e.g. `Msg::Event(Event::VsAddress { .. })`
    /// from the daemon's address monitor for `ha_suspend`.
    pub fn sender(&self) -> mpsc::Sender<Msg> {
        self.tx.clone()
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Number of checker tasks alive.
    pub fn task_count(&self) -> usize {
        self.tasks.values().filter(|h| !h.is_finished()).count()
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
