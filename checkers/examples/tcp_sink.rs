//! A TCP server that accepts and closes every connection: the "real server"
//! for TCP_CHECK benchmarks (`tcp_sink PORT`).

use std::net::TcpListener;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let l = listener.try_clone().expect("clone listener");
            std::thread::spawn(move || {
                for conn in l.incoming() {
                    drop(conn);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
