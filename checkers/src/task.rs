//! One tokio task per checker: wait, probe, decide (hysteresis), log the
//! way keepalived logs, report to the manager over a channel, sleep, again.
//! A `CheckerHandle` aborts its task when dropped, so a reload that drops a
//! checker's handle stops it, and a panic in one checker never reaches the
//! others (the driver logs it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{CheckKind, CheckerCfg, HttpCfg, MiscCfg};
use crate::hysteresis::{Hysteresis, RetryCfg};
use crate::manager::{CheckerId, Event, StartChecker};
use crate::probe;
use crate::script::Exit;

/// What a checker task sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A log line, exactly as keepalived words it.
    Log(String),
    Event(Event),
}

/// Process-wide options of the checker tasks.
#[derive(Debug, Clone, Copy)]
pub struct TaskEnv {
    /// keepalived's BOOTSTRAP_DELAY (1 s) before the first probe.
    pub bootstrap: Duration,
    /// global `checker_log_all_failures`.
    pub log_all_failures: bool,
}

impl Default for TaskEnv {
    fn default() -> Self {
        TaskEnv {
            bootstrap: Duration::from_secs(1),
            log_all_failures: false,
        }
    }
}

/// Owns a running checker; dropping it stops the checker.
#[derive(Debug)]
pub struct CheckerHandle {
    join: JoinHandle<()>,
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        self.join.abort();
    }
}

impl CheckerHandle {
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

/// Starts a checker task. A panicking checker is logged and restarted
/// (with fresh state) a second later; the others never notice.
pub fn spawn(start: StartChecker, env: TaskEnv, tx: mpsc::Sender<Msg>) -> CheckerHandle {
    use tracing::Instrument;
    // DEBUG: the span is for filtering with -D; at INFO it is disabled and
    // costs no allocation (2,000 checkers would hold 2,000 registry slots)
    let span = tracing::debug_span!(
        "checker",
        id = start.id.0,
        kind = start.cfg.kind.name(),
        rs = %start.rs_name,
        vs = %start.vs_name
    );
    let start = Arc::new(start);
    let join = tokio::spawn(
        async move {
            let mut first = true;
            loop {
                let ctx = Ctx {
                    start: Arc::clone(&start),
                    env,
                    tx: tx.clone(),
                    sent_retries: u64::MAX.into(),
                };
                let run = CatchPanic(run_checker(ctx, first));
                first = false;
                if run.await.is_ok() {
                    return;
                }
                tracing::error!("checker panicked, restarting");
                // boxed: this rare wait should not make every task bigger
                Box::pin(tokio::time::sleep(Duration::from_secs(1))).await;
            }
        }
        .instrument(span),
    );
    CheckerHandle { join }
}

/// Polls the checker inside `catch_unwind`, so a panic ends this run of
/// the checker, not its task (one task per checker, no supervisor task).
struct CatchPanic(BoxedRun);

impl std::future::Future for CatchPanic {
    type Output = Result<(), ()>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(())) => std::task::Poll::Ready(Ok(())),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

type BoxedRun = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One run of a checker as a single allocation sized for its own kind (a
/// task lives as long as its checker; an unboxed future would be as large
/// as the largest kind).
fn run_checker(ctx: Ctx, first: bool) -> BoxedRun {
    let delay = if first {
        ctx.env.bootstrap + random_below(ctx.start.cfg.warmup)
    } else {
        Duration::ZERO
    };
    match &ctx.start.cfg.kind {
        // FILE_CHECK is no probe: keepalived reads the file at start
        CheckKind::File(_) => Box::pin(async move { run_file(&ctx).await }),
        CheckKind::Http(_) => Box::pin(async move {
            tokio::time::sleep(delay).await;
            if let CheckKind::Http(h) = &ctx.start.cfg.kind {
                run_http(&ctx, h).await
            }
        }),
        CheckKind::Misc(_) => Box::pin(async move {
            tokio::time::sleep(delay).await;
            if let CheckKind::Misc(m) = &ctx.start.cfg.kind {
                run_misc(&ctx, m).await
            }
        }),
        _ => Box::pin(async move {
            tokio::time::sleep(delay).await;
            run_simple(&ctx).await
        }),
    }
}

fn random_below(d: Duration) -> Duration {
    if d.is_zero() {
        return d;
    }
    Duration::from_micros(rand::random_range(
        0..d.as_micros().min(u64::MAX as u128) as u64,
    ))
}

struct Ctx {
    start: Arc<StartChecker>,
    env: TaskEnv,
    tx: mpsc::Sender<Msg>,
    /// What [`Ctx::retries`] last sent (retry_it, failed url + 1), packed;
    /// `u64::MAX` before the first.
    sent_retries: std::sync::atomic::AtomicU64,
}

impl Ctx {
    fn cfg(&self) -> &CheckerCfg {
        &self.start.cfg
    }
    fn rs(&self) -> &str {
        &self.start.rs_name
    }
    fn log_all(&self) -> bool {
        self.env.log_all_failures || self.cfg().log_all_failures
    }
    async fn log(&self, line: String) {
        let _ = self.tx.send(Msg::Log(line)).await;
    }
    /// `note`: see [`Event::Checker`].
    async fn report(&self, up: bool, note: Option<String>) {
        let _ = self
            .tx
            .send(Msg::Event(Event::Checker {
                id: self.start.id,
                up,
                note,
            }))
            .await;
    }
    fn id(&self) -> CheckerId {
        self.start.id
    }
    /// Tells the manager the retry under way (and HTTP_GET's failed url)
    /// when it changed since the last time, for the SIGUSR1 dump.
    async fn retries(&self, retry_it: u32, failed_url: Option<usize>) {
        use std::sync::atomic::Ordering::Relaxed;
        let url = failed_url.map_or(0, |u| u64::try_from(u).unwrap_or(u32::MAX.into()) + 1);
        let now = (u64::from(retry_it) << 32) | (url & u64::from(u32::MAX));
        if self.sent_retries.swap(now, Relaxed) == now {
            return;
        }
        let _ = self
            .tx
            .send(Msg::Event(Event::Retries {
                id: self.start.id,
                retry_it,
                failed_url,
            }))
            .await;
    }
    /// ha_suspend: keepalived's disabled checker keeps its timer but skips
    /// the probe, waiting `delay_loop` again (the retry state stays).
    async fn suspended(&self) -> bool {
        if self.start.gate.as_ref().is_none_or(|g| g.is_open()) {
            return false;
        }
        tokio::time::sleep(self.cfg().delay_loop).await;
        true
    }
}

/// TCP, SMTP, DNS, UDP and PING: one probe per round.
async fn run_simple(ctx: &Ctx) {
    let cfg = ctx.cfg();
    let rc = cfg.retry_cfg();
    let mut h = Hysteresis::new(cfg.alpha, &rc);
    let ping = match cfg.kind {
        CheckKind::Ping => match probe::ping_client(&cfg.conn) {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.log(format!("ICMP CHECK: cannot open socket: {e}"))
                    .await;
                None
            }
        },
        _ => None,
    };
    let mut seq: u16 = 0;
    loop {
        if ctx.suspended().await {
            continue;
        }
        let (ok, detail) = match &cfg.kind {
            CheckKind::Tcp => match probe::tcp(&cfg.conn).await {
                Ok(()) => (true, None),
                Err(probe::ConnectError::Timeout) => (false, Some("timeout".to_owned())),
                Err(_) => (false, Some("failed".to_owned())),
            },
            CheckKind::Smtp(s) => {
                let mut r = Box::pin(probe::smtp(&cfg.conn, &s.helo_name)).await;
                for host in &s.extra_hosts {
                    if r.is_err() {
                        break;
                    }
                    r = Box::pin(probe::smtp(host, &s.helo_name)).await;
                }
                match r {
                    Ok(()) => (true, None),
                    Err(m) => (false, Some(m)),
                }
            }
            // probes other than TCP are boxed: only the running one costs memory
            CheckKind::Dns(d) => match Box::pin(probe::dns(&cfg.conn, d)).await {
                Ok(()) => (true, None),
                Err(m) => (false, Some(m)),
            },
            CheckKind::Udp(u) => match Box::pin(probe::udp(&cfg.conn, u)).await {
                Ok(()) => (true, None),
                Err(m) => (false, Some(m.to_owned())),
            },
            CheckKind::Ping => {
                seq = seq.wrapping_add(1);
                match &ping {
                    Some(c) => (Box::pin(probe::ping(c, &cfg.conn, seq)).await.is_ok(), None),
                    None => (false, None),
                }
            }
            _ => unreachable!("handled by their own loops"),
        };
        let before = h;
        let step = h.observe(ok, &rc);
        ctx.retries(h.retry_it, None).await;
        for line in simple_lines(
            ctx,
            &cfg.kind,
            &before,
            ok,
            detail.as_deref(),
            &step,
            rc.retry,
        ) {
            ctx.log(line).await;
        }
        if let Some(up) = step.report {
            // SMTP_CHECK's alert names the failure (check_smtp.c smtp_final)
            let note = match &cfg.kind {
                CheckKind::Smtp(_) if !up => detail,
                _ => None,
            };
            ctx.report(up, note).await;
        }
        tokio::time::sleep(step.next).await;
    }
}

/// The log lines keepalived writes for one probe outcome of the simple
/// checkers (check_tcp.c, check_smtp.c, check_dns.c, check_udp.c,
/// check_ping.c).
fn simple_lines(
    ctx: &Ctx,
    kind: &CheckKind,
    before: &Hysteresis,
    ok: bool,
    detail: Option<&str>,
    step: &crate::hysteresis::Step,
    retry: u32,
) -> Vec<String> {
    let rs = ctx.rs();
    let vs = &ctx.start.vs_name;
    let mut out = Vec::new();
    let failed_line = |tcp_like: &str| -> String {
        if step.retries_done > 0 {
            format!(
                "{tcp_like} on service {rs} failed after {} retries.",
                step.retries_done
            )
        } else {
            format!("{tcp_like} on service {rs} failed.")
        }
    };
    let matters = before.failure_matters();
    match kind {
        CheckKind::Tcp => {
            if !ok && before.is_up && ctx.log_all() {
                out.push(format!(
                    "TCP connection to {rs} {}.",
                    detail.unwrap_or("failed")
                ));
            }
            match step.report {
                Some(true) => out.push(format!("TCP connection to {rs} success.")),
                Some(false) => out.push(failed_line("TCP_CHECK")),
                None => {}
            }
        }
        CheckKind::Udp(_) => {
            if !ok && before.is_up && ctx.log_all() {
                if detail == Some("mismatch") {
                    out.push(format!("UDP check to {rs} reply data mismatch."));
                } else {
                    out.push(format!("UDP connection to {rs} failed."));
                }
            }
            match step.report {
                Some(true) => out.push(format!("UDP connection to {rs} success.")),
                Some(false) => out.push(failed_line("UDP_CHECK")),
                None => {}
            }
        }
        CheckKind::Ping => {
            if !ok && before.is_up && ctx.log_all() {
                out.push(format!("ICMP connection to {rs} of {vs} failed."));
            }
            match step.report {
                Some(true) => out.push(format!("ICMP connection to {rs} success.")),
                Some(false) if step.retries_done > 0 => out.push(format!(
                    "ICMP CHECK on service {rs} of {vs} failed after {} retries.",
                    step.retries_done
                )),
                Some(false) => out.push(format!("ICMP CHECK on service {rs} failed.")),
                None => {}
            }
        }
        CheckKind::Smtp(_) => {
            if !ok && matters && (ctx.log_all() || step.report == Some(false)) {
                out.push(format!("SMTP_CHECK {}", detail.unwrap_or("failed")));
            }
            if step.report == Some(true) {
                out.push(format!("Remote SMTP server {rs} succeed on service."));
            }
        }
        CheckKind::Dns(_) if !ok && matters && (ctx.log_all() || step.report == Some(false)) => {
            let mut m = detail.unwrap_or("failed").to_owned();
            if step.report == Some(false) && before.has_run {
                m.push_str(&format!(" after {retry} retries"));
            }
            out.push(format!("DNS_CHECK ({rs}) {m}"));
        }
        _ => {}
    }
    out
}

/// keepalived's HTTP_GET/SSL_GET walk over the url blocks
/// (check_http.c `epilog`/`timeout_epilog`). Pure; the task feeds it.
#[derive(Debug, Clone)]
pub struct HttpSeq {
    pub url_it: usize,
    pub failed_url: Option<usize>,
    pub h: Hysteresis,
}

/// What one url outcome leads to.
#[derive(Debug, Default, PartialEq)]
pub struct HttpStep {
    pub logs: Vec<String>,
    pub report: Option<bool>,
    pub next: Duration,
}

impl HttpSeq {
    pub fn new(alpha: bool, rc: &RetryCfg) -> HttpSeq {
        HttpSeq {
            url_it: 0,
            failed_url: None,
            h: Hysteresis::new(alpha, rc),
        }
    }

    /// `result`: Ok(success wording) or Err(failure wording) for url
    /// `url_it`, whose path is `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        result: Result<&str, &str>,
        nurls: usize,
        path: &str,
        rs: &str,
        rc: &RetryCfg,
        log_all: bool,
        fast_recovery: bool,
    ) -> HttpStep {
        let mut st = HttpStep::default();
        let h = &mut self.h;
        let mut delay;
        match result {
            Ok(msg) => {
                if !h.is_up {
                    st.logs.push(format!("{msg} success to {rs} url({path})"));
                }
                // REGISTER_CHECKER_NEW
                self.url_it += 1;
                let done = self.url_it >= nurls;
                h.retry_it = 0;
                if done && self.failed_url.is_none() {
                    if !h.is_up || !h.has_run {
                        st.logs
                            .push(format!("Remote Web server {rs} succeed on service."));
                        st.report = Some(true);
                        h.is_up = true;
                        h.has_run = true;
                    }
                    self.url_it = 0;
                } else if self.failed_url.is_some() {
                    self.failed_url = None;
                    self.url_it = 0;
                }
                delay = rc.delay_loop;
                if !h.has_run {
                    h.retry_it = rc.retry;
                }
            }
            Err(msg) => {
                if h.is_up || !h.has_run {
                    if log_all {
                        st.logs.push(format!("{msg} server {rs}."));
                    }
                    h.has_run = true;
                    // REGISTER_CHECKER_RETRY
                    h.retry_it += 1;
                    if h.retry_it > rc.retry {
                        if h.is_up {
                            st.logs.push(if rc.retry > 0 {
                                format!(
                                    "HTTP_CHECK on service {rs} failed after {} retries.",
                                    h.retry_it - 1
                                )
                            } else {
                                format!("HTTP_CHECK on service {rs} failed.")
                            });
                            st.report = Some(false);
                            h.is_up = false;
                        }
                        self.failed_url = Some(self.url_it);
                    }
                }
                // REGISTER_CHECKER_FAILED needs nothing more
                delay = if self.failed_url.is_some() {
                    rc.delay_before_retry.max(rc.delay_loop)
                } else {
                    rc.delay_before_retry
                };
            }
        }
        if fast_recovery && (!self.h.has_run || (!self.h.is_up && self.failed_url.is_none())) {
            delay = Duration::ZERO;
        }
        st.next = delay;
        st
    }
}

async fn run_http(ctx: &Ctx, hc: &HttpCfg) {
    let cfg = ctx.cfg();
    let rc = cfg.retry_cfg();
    if hc.urls.is_empty() {
        return;
    }
    let tls = match &hc.tls {
        Some(t) => match probe::tls_config(t) {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.log(format!("SSL error : {e}")).await;
                return;
            }
        },
        None => None,
    };
    let mut seq = HttpSeq::new(cfg.alpha, &rc);
    let mut mismatch: Vec<i64> = vec![0; hc.urls.len()];
    loop {
        if ctx.suspended().await {
            continue;
        }
        let i = seq.url_it.min(hc.urls.len() - 1);
        let url = &hc.urls[i];
        let resp = probe::http_fetch(hc, url, &cfg.conn, tls.as_ref(), None).await;
        if let Ok(r) = &resp
            && r.got_header
            && url.status_ok(r.status)
        {
            // reported once per distinct difference, as keepalived does
            let diff = r.content_len.map_or(0, |cl| cl as i64 - r.rx_bytes as i64);
            if diff != 0 && diff != mismatch[i] {
                ctx.log(format!(
                    "http_check for RS {} VS {} url {}{}: content_length ({}) does not match received bytes ({})",
                    ctx.rs(),
                    ctx.start.vs_name,
                    url.virtualhost.as_deref().unwrap_or(""),
                    url.path,
                    r.content_len.unwrap_or(0),
                    r.rx_bytes
                ))
                .await;
            }
            mismatch[i] = diff;
        }
        if let Ok(r) = &resp {
            for l in &r.regex_logs {
                ctx.log(l.clone()).await;
            }
        }
        let verdict = match &resp {
            Ok(r) => probe::judge(url, r),
            Err(m) => Err(*m),
        };
        let st = seq.observe(
            verdict,
            hc.urls.len(),
            &url.path,
            ctx.rs(),
            &rc,
            ctx.log_all(),
            hc.fast_recovery,
        );
        ctx.retries(seq.h.retry_it, seq.failed_url).await;
        for l in st.logs {
            ctx.log(l).await;
        }
        if let Some(up) = st.report {
            ctx.report(up, None).await;
        }
        tokio::time::sleep(st.next).await;
    }
}

/// The wording keepalived gives a MISC_CHECK run that did not succeed
/// (check_misc.c `misc_check_child_thread`).
pub fn misc_suffix(retry: u32, retry_it: u32) -> String {
    let word = |n: u32| if n == 1 { "retry" } else { "retries" };
    if retry == 0 {
        " with retry disabled".into()
    } else if retry_it == 1 {
        format!(", will do {retry} {}", word(retry))
    } else if retry_it > 1 {
        format!(" on retry {}/{retry}", retry_it - 1)
    } else {
        format!(" after {retry} {}", word(retry))
    }
}

async fn run_misc(ctx: &Ctx, m: &MiscCfg) {
    let cfg = ctx.cfg();
    let rc = cfg.retry_cfg();
    let mut h = Hysteresis::new(cfg.alpha, &rc);
    let mut last_exit: Option<u8> = None;
    let prog = m.script.argv().first().cloned().unwrap_or_default();
    let (rs, vs) = (ctx.rs().to_owned(), ctx.start.vs_name.clone());
    loop {
        if ctx.suspended().await {
            continue;
        }
        let started = tokio::time::Instant::now();
        let ran_at = std::time::SystemTime::now();
        let exit = match m.script.run(&[], Some(m.timeout)).await {
            Ok(e) => e,
            Err(_) => Exit::Status(127),
        };
        let mut exit_type: Option<&str> = None;
        let mut reason: Option<(&str, i32)> = None;
        let mut success = false;
        let mut message_only = false;
        let mut fail = |h: &mut Hysteresis, et: &'static str| {
            exit_type = Some(et);
            if h.retry_it < rc.retry {
                h.retry_it += 1;
                if ctx.log_all() {
                    message_only = true;
                } else {
                    exit_type = None;
                }
            } else {
                h.retry_it = 0;
            }
        };
        match exit {
            Exit::Status(s) if s == 0 || (m.dynamic && (2..=255).contains(&s)) => {
                let s = s as u8;
                if last_exit != Some(s) {
                    if m.dynamic {
                        let _ = ctx
                            .tx
                            .send(Msg::Event(Event::MiscStatus {
                                id: ctx.id(),
                                status: s,
                            }))
                            .await;
                    }
                    last_exit = Some(s);
                }
                if !h.is_up || !h.has_run {
                    exit_type = Some("succeeded");
                    success = true;
                }
                h.retry_it = 0;
            }
            Exit::Status(s) => {
                if h.is_up || !h.has_run {
                    reason = Some(("exited with status", s));
                    fail(&mut h, "failed");
                    if h.retry_it == 0 {
                        last_exit = Some(s as u8);
                    }
                }
            }
            Exit::TimedOut => {
                if h.is_up || !h.has_run {
                    fail(&mut h, "timed out");
                }
            }
            Exit::Signal(sig) => {
                if h.is_up || !h.has_run {
                    reason = Some(("due to signal", sig));
                    fail(&mut h, "failed");
                }
            }
        }
        if let Some(et) = exit_type {
            let msg = if success {
                String::new()
            } else {
                misc_suffix(rc.retry, h.retry_it)
            };
            ctx.log(match reason {
                Some((r, code)) => {
                    format!("Misc check for [{rs} VS {vs}] by [{prog}] {et}{msg} ({r} {code}).")
                }
                None => format!("Misc check for [{rs} VS {vs}] by [{prog}] {et}{msg}."),
            })
            .await;
            if !message_only {
                // update_svr_checker_state(success); the manager knows what
                // a repeated verdict means
                ctx.report(success, Some(et.to_owned())).await;
                h.is_up = success;
            }
        }
        h.has_run = true;
        ctx.retries(h.retry_it, None).await;
        let at_us = ran_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let _ = ctx
            .tx
            .send(Msg::Event(Event::MiscRan {
                id: ctx.id(),
                at_us,
                status: last_exit.map_or(0, u32::from),
            }))
            .await;
        let wait = if h.retry_it > 0 {
            rc.delay_before_retry
        } else {
            rc.delay_loop
        };
        tokio::time::sleep_until(started + wait).await;
    }
}

/// FILE_CHECK: watch the tracked file and report its value.
async fn run_file(ctx: &Ctx) {
    let CheckKind::File(f) = &ctx.cfg().kind else {
        return;
    };
    let path = std::path::Path::new(&f.path);
    let mut watcher = crate::trackfile::Watcher::new(path);
    let mut last: Option<i64> = None;
    let mut change = crate::trackfile::Change::Written;
    loop {
        let v = match change {
            crate::trackfile::Change::Gone => 0,
            crate::trackfile::Change::Written => match crate::trackfile::read_value(path) {
                Ok(v) => v,
                Err(v) => {
                    tracing::info!(
                        "Invalid number {v} read from {} - ignoring",
                        f.path.display()
                    );
                    change = watcher.next().await;
                    continue;
                }
            },
        };
        if last != Some(v) {
            last = Some(v);
            let _ = ctx
                .tx
                .send(Msg::Event(Event::FileValue {
                    id: ctx.id(),
                    value: v,
                }))
                .await;
        }
        change = watcher.next().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const RS: &str = "[10.0.0.2]:tcp:80";

    fn rc(retry: u32) -> RetryCfg {
        RetryCfg {
            retry,
            delay_loop: 10 * S,
            delay_before_retry: 3 * S,
        }
    }

    fn obs(seq: &mut HttpSeq, r: Result<&str, &str>, n: usize, retry: u32) -> HttpStep {
        seq.observe(r, n, "/p", RS, &rc(retry), false, false)
    }

    /// Input: non-alpha, two urls, both fine. Output: up after the second,
    /// one url per delay_loop.
    #[test]
    fn http_two_urls_then_up() {
        let mut s = HttpSeq::new(false, &rc(2));
        let a = obs(&mut s, Ok("HTTP status code"), 2, 2);
        assert_eq!((a.report, a.next), (None, 10 * S));
        assert!(a.logs.is_empty());
        let b = obs(&mut s, Ok("MD5 digest"), 2, 2);
        assert_eq!(b.report, Some(true));
        assert_eq!(
            b.logs,
            [format!("Remote Web server {RS} succeed on service.")]
        );
        assert_eq!(s.url_it, 0);
    }

    /// The first failure at start is final, and keepalived words it
    /// "after N retries" even then.
    #[test]
    fn http_first_failure_downs_with_retries_wording() {
        let mut s = HttpSeq::new(false, &rc(2));
        let st = obs(&mut s, Err("Connection failed"), 1, 2);
        assert_eq!(st.report, Some(false));
        assert_eq!(
            st.logs,
            [format!(
                "HTTP_CHECK on service {RS} failed after 2 retries."
            )]
        );
        assert_eq!(st.next, 10 * S, "max(delay_before_retry, delay_loop)");
    }

    #[test]
    fn http_retries_then_down_then_recovers() {
        let mut s = HttpSeq::new(false, &rc(1));
        obs(&mut s, Ok("HTTP status code"), 1, 1);
        let r1 = obs(&mut s, Err("Timeout HTTP read"), 1, 1);
        assert_eq!((r1.report, r1.next), (None, 3 * S));
        let r2 = obs(&mut s, Err("Timeout HTTP read"), 1, 1);
        assert_eq!(r2.report, Some(false));
        assert_eq!(
            r2.logs,
            [format!(
                "HTTP_CHECK on service {RS} failed after 1 retries."
            )]
        );
        // down: failures are quiet and spaced by delay_loop
        let r3 = obs(&mut s, Err("Timeout HTTP read"), 1, 1);
        assert_eq!((r3.report, r3.logs.len(), r3.next), (None, 0, 10 * S));
        // recovery: success on the failed url resets to the first url and
        // the whole list must pass again before up
        let ok1 = obs(&mut s, Ok("HTTP status code"), 1, 1);
        assert_eq!(
            ok1.logs,
            [format!("HTTP status code success to {RS} url(/p)")]
        );
        assert_eq!(ok1.report, None);
        let ok2 = obs(&mut s, Ok("HTTP status code"), 1, 1);
        assert_eq!(ok2.report, Some(true));
    }

    #[test]
    fn http_alpha_first_failure_is_silent() {
        let mut s = HttpSeq::new(true, &rc(1));
        let st = obs(&mut s, Err("Connection failed"), 1, 1);
        assert_eq!(st.report, None);
        assert!(st.logs.is_empty());
        // the failed url passing resets the walk; the list must pass again
        let st = obs(&mut s, Ok("HTTP status code"), 1, 1);
        assert_eq!(st.report, None);
        let st = obs(&mut s, Ok("HTTP status code"), 1, 1);
        assert_eq!(st.report, Some(true));
    }

    #[test]
    fn http_log_all_failures_line() {
        let mut s = HttpSeq::new(false, &rc(0));
        let st = s.observe(
            Err("HTTP status code error to"),
            1,
            "/",
            RS,
            &rc(0),
            true,
            false,
        );
        assert_eq!(
            st.logs,
            [
                format!("HTTP status code error to server {RS}."),
                format!("HTTP_CHECK on service {RS} failed."),
            ]
        );
    }

    #[tokio::test]
    async fn a_panicking_run_is_caught() {
        let boom = CatchPanic(Box::pin(async { panic!("probe bug") }));
        assert_eq!(boom.await, Err(()));
        let fine = CatchPanic(Box::pin(async {}));
        assert_eq!(fine.await, Ok(()));
    }

    #[test]
    fn misc_wording() {
        assert_eq!(misc_suffix(0, 0), " with retry disabled");
        assert_eq!(misc_suffix(3, 1), ", will do 3 retries");
        assert_eq!(misc_suffix(1, 1), ", will do 1 retry");
        assert_eq!(misc_suffix(3, 2), " on retry 1/3");
        assert_eq!(misc_suffix(3, 0), " after 3 retries");
        assert_eq!(misc_suffix(1, 0), " after 1 retry");
    }
}

#[cfg(test)]
mod size_probe {
    /// Thousands of checkers each keep one task alive: the per-task future
    /// must not grow with the largest probe (it was 5.7 KB unboxed).
    #[test]
    fn checker_futures_stay_small() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let start = crate::manager::StartChecker {
            id: crate::manager::CheckerId(1),
            cfg: std::sync::Arc::new(crate::config::CheckerCfg {
                kind: crate::config::CheckKind::Tcp,
                conn: crate::config::ConnOpts::new(
                    "127.0.0.1:1".parse().unwrap(),
                    std::time::Duration::from_secs(1),
                ),
                retry: 1,
                delay_loop: std::time::Duration::from_secs(1),
                delay_before_retry: std::time::Duration::from_secs(1),
                warmup: std::time::Duration::ZERO,
                alpha: false,
                log_all_failures: false,
            }),
            rs_name: String::new(),
            vs_name: String::new(),
            gate: None,
        };
        let ctx = super::Ctx {
            start: std::sync::Arc::new(start),
            env: super::TaskEnv::default(),
            tx,
            sent_retries: u64::MAX.into(),
        };
        let simple = std::mem::size_of_val(&super::run_simple(&ctx));
        assert!(simple <= 1024, "run_simple future is {simple} bytes");
        let boxed = super::run_checker(ctx, true);
        let size = std::mem::size_of_val(&*boxed);
        eprintln!("run_simple future {simple} B, boxed TCP run {size} B");
        assert!(size <= 1024, "a TCP checker's run is {size} bytes");
    }
}
