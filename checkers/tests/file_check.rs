//! FILE_CHECK through the driver: the tracked file's value downs the real
//! server (weight 0) or shifts its weight (weight N).

mod common;

use std::time::Duration;

use checkers::driver::{Driver, DriverOpts};
use checkers::*;
use ipvs::model::Fwd;
use ipvs::{Dest, DestKey};
use tokio::sync::mpsc;

fn lvs(path: &std::path::Path, weight: i64) -> LvsCfg {
    let addr = "192.168.1.2:80".parse().unwrap();
    common::one_vs(vec![RsCfg {
        key: DestKey::new(addr),
        dest: Dest::new(Fwd::Masq, 1),
        name: "[192.168.1.2]:tcp:80".into(),
        inhibit_on_failure: false,
        smtp_alert: false,
        notify_up: None,
        notify_down: None,
        checkers: vec![CheckerCfg {
            kind: CheckKind::File(FileCfg {
                path: path.to_owned(),
                weight,
                reverse: false,
            }),
            conn: ConnOpts::new(addr, Duration::from_secs(1)),
            retry: 0,
            delay_loop: Duration::from_secs(60),
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::from_secs(60),
            alpha: false,
            log_all_failures: false,
        }],
    }])
}

async fn wait_for(rx: &mut mpsc::UnboundedReceiver<String>, want: &str) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(l)) if l == want => return,
            Ok(Some(l)) => seen.push(l),
            _ => panic!("no {want:?}; saw {seen:?}"),
        }
    }
}

#[tokio::test]
async fn tracked_file_downs_and_weighs_the_real_server() {
    let dir = std::env::temp_dir().join(format!("kc-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("track");
    std::fs::write(&f, "0\n").unwrap();
    for (weight, value, want) in [
        (
            0,
            "1",
            "Removing service [192.168.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80",
        ),
        (
            2,
            "3",
            "Changing weight from 1 to 7 for active service [192.168.1.2]:tcp:80 of VS [10.0.0.1]:tcp:80",
        ),
    ] {
        std::fs::write(&f, "0\n").unwrap();
        let (tap, mut logs) = mpsc::unbounded_channel();
        let opts = DriverOpts {
            log_tap: Some(tap),
            mail: None,
            ..DriverOpts::default()
        };
        let (mut driver, tables) = Driver::new(lvs(&f, weight), opts);
        let (_reload_tx, reload_rx) = mpsc::channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            driver
                .run(reload_rx, async {
                    let _ = stopped.await;
                })
                .await
        });
        // no warmup for FILE_CHECK: its first read comes at once
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(tables.borrow().dest_count(), 1);
        std::fs::write(&f, format!("{value}\n")).unwrap();
        wait_for(&mut logs, want).await;
        stop.send(()).unwrap();
        run.await.unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
