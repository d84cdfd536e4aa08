//! Benchmark helper: accepts TCP connections on every local address at
//! PORT, answers each with a minimal HTTP reply and closes, for SECS
//! seconds; then prints how many connections it served. With COUNT_FILE,
//! it also rewrites that file with the count so far every 100 ms, which is
//! how benches/checkers.sh counts the checks served in its window.
//!
//! Usage: bench_listener PORT SECS [COUNT_FILE]

use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(18080);
    let secs: u64 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(30);
    let l = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .unwrap();
    let count_file = args.get(3).cloned();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n: u64 = 0;
    let stop = tokio::time::sleep(Duration::from_secs(secs));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick(), if count_file.is_some() => {
                if let Some(f) = &count_file {
                    let _ = std::fs::write(f, format!("{n}\n"));
                }
            }
            Ok((mut s, _)) = l.accept() => {
                n += 1;
                tokio::spawn(async move {
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n").await;
                });
            }
        }
    }
    println!("connections {n}");
}
