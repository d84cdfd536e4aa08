//! MISC_CHECK end to end: exit codes, misc_dynamic weights, the timeout
//! killing the whole process group, keepalived's log wording, and no
//! zombies after 10,000 runs.

use std::time::Duration;

use checkers::manager::{CheckerId, Event, StartChecker};
use checkers::script::Script;
use checkers::task::{self, Msg, TaskEnv};
use checkers::*;
use tokio::sync::mpsc;

const MS: Duration = Duration::from_millis(1);

fn misc(body: &str, timeout: Duration, dynamic: bool, retry: u32) -> CheckerCfg {
    CheckerCfg {
        kind: CheckKind::Misc(MiscCfg {
            script: Script::new(vec!["/bin/sh".into(), "-c".into(), body.into()]).unwrap(),
            timeout,
            dynamic,
        }),
        conn: ConnOpts::new("127.0.0.1:0".parse().unwrap(), timeout),
        retry,
        delay_loop: 50 * MS,
        delay_before_retry: 20 * MS,
        warmup: Duration::ZERO,
        alpha: false,
        log_all_failures: false,
    }
}

fn start(cfg: CheckerCfg, tx: mpsc::Sender<Msg>) -> task::CheckerHandle {
    task::spawn(
        StartChecker {
            id: CheckerId(7),
            cfg: cfg.into(),
            rs_name: "[10.0.0.2]:tcp:80".into(),
            vs_name: "[10.0.0.1]:tcp:80".into(),
            gate: None,
        },
        TaskEnv {
            bootstrap: Duration::ZERO,
            log_all_failures: false,
        },
        tx,
    )
}

async fn first(cfg: CheckerCfg, n: usize) -> Vec<Msg> {
    let (tx, mut rx) = mpsc::channel(64);
    let _h = start(cfg, tx);
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(m)) => out.push(m),
            _ => break,
        }
    }
    out
}

fn log(s: &str) -> Msg {
    Msg::Log(s.into())
}

/// A verdict, with the exit word the alert mail uses.
fn ev(up: bool) -> Msg {
    ev_as(up, if up { "succeeded" } else { "failed" })
}

fn ev_as(up: bool, exit: &str) -> Msg {
    Msg::Event(Event::Checker {
        id: CheckerId(7),
        up,
        note: Some(exit.to_owned()),
    })
}

#[tokio::test]
async fn success_and_failure_wording() {
    assert_eq!(
        first(misc("exit 0", Duration::from_secs(5), false, 0), 2).await,
        [
            log("Misc check for [[10.0.0.2]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/sh] succeeded."),
            ev(true)
        ]
    );
    assert_eq!(
        first(misc("exit 1", Duration::from_secs(5), false, 2), 2).await,
        [
            log(
                "Misc check for [[10.0.0.2]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/sh] failed after 2 retries (exited with status 1)."
            ),
            ev(false)
        ]
    );
    assert_eq!(
        first(misc("kill -9 $$", Duration::from_secs(5), false, 0), 2).await,
        [
            log(
                "Misc check for [[10.0.0.2]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/sh] failed with retry disabled (due to signal 9)."
            ),
            ev(false)
        ]
    );
}

#[tokio::test]
async fn dynamic_exit_status_sets_weight() {
    let m = first(misc("exit 12", Duration::from_secs(5), true, 0), 3).await;
    assert_eq!(
        m[0],
        Msg::Event(Event::MiscStatus {
            id: CheckerId(7),
            status: 12
        })
    );
    assert_eq!(m[2], ev(true));
}

fn group_alive(pgid: i32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    // also: a checker dropped mid-run takes its script's group with it
    let dir = std::env::temp_dir().join(format!("kc-misc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pgid");
    // only the first run records its group, later runs are stopped by the drop
    let body = format!(
        "test -e {p} || echo $$ > {p}; sleep 30 & sleep 30",
        p = pidfile.display()
    );
    let t0 = std::time::Instant::now();
    let m = first(misc(&body, 200 * MS, false, 0), 2).await;
    assert_eq!(
        m,
        [
            log(
                "Misc check for [[10.0.0.2]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/sh] timed out with retry disabled."
            ),
            ev_as(false, "timed out")
        ]
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "TERM was enough");
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while group_alive(pgid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(20 * MS).await;
    }
    assert!(
        !group_alive(pgid),
        "the backgrounded sleep of group {pgid} survived"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                return false;
            };
            let mut f = rest.split(' ');
            f.next() == Some("Z") && f.next() == Some(me.as_str())
        })
        .count()
}

/// 10,000 MISC_CHECK runs from 16 checker tasks (one of them always timing
/// out), then every task dropped: no zombie of ours remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_misc_runs_leave_no_zombies() {
    let dir = std::env::temp_dir().join(format!("kc-misc10k-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("runs");
    let (tx, mut rx) = mpsc::channel(1024);
    let mut handles = Vec::new();
    for i in 0..16 {
        let body = if i == 0 {
            "sleep 5 & sleep 5".to_owned()
        } else {
            format!("echo >> {}; exit {}", counter.display(), i % 2)
        };
        let mut c = misc(&body, 30 * MS, false, 1);
        c.delay_loop = Duration::ZERO;
        c.delay_before_retry = Duration::ZERO;
        handles.push(start(c, tx.clone()));
    }
    drop(tx);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let runs = std::fs::metadata(&counter).map(|m| m.len()).unwrap_or(0);
        if runs >= 10_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "only {runs} runs");
        tokio::time::sleep(100 * MS).await;
    }
    drop(handles);
    drain.await.unwrap();
    // an aborted run's child is reaped by tokio's orphan queue shortly after
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while zombies() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(50 * MS).await;
    }
    assert_eq!(zombies(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stopping a checker (reload, shutdown) while its script runs ends the
/// script's whole process group.
#[tokio::test]
async fn dropping_the_checker_ends_its_running_script() {
    let dir = std::env::temp_dir().join(format!("kc-miscdrop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pgid");
    let body = format!(
        "echo $$ > {}.tmp; mv {p}.tmp {p}; sleep 30 & sleep 30",
        pidfile.display(),
        p = pidfile.display()
    );
    let (tx, _rx) = mpsc::channel(64);
    let h = start(misc(&body, Duration::from_secs(60), false, 0), tx);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !pidfile.exists() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(10 * MS).await;
    }
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(pgid));
    drop(h);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while group_alive(pgid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(20 * MS).await;
    }
    assert!(
        !group_alive(pgid),
        "script group {pgid} outlived its checker"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
