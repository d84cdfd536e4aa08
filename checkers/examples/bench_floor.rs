//! Benchmark floor for the checker bench (issue 5, benches/checkers.sh):
//! the same TCP checks as N TCP_CHECKs at delay_loop 1 make (one connect a
//! second to each real server, spread evenly over the second, success =
//! the connect completes, then close), done with the fewest system calls:
//! mio over epoll, no runtime, no timers beyond one poll timeout, no
//! logging, no IPVS. Its CPU time is a lower bound on what any checker
//! process pays in the kernel for those connections, which is what tells
//! whether a target below it can be met at all.
//!
//! Usage: bench_floor N SECS PORT BASE_ADDR SAME
//!   real server i is BASE_ADDR + i, or BASE_ADDR for all when SAME is 1
//!   (benches/checkers.sh passes what its generated config uses).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, what: &str| -> String {
        a.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("usage: bench_floor N SECS PORT BASE_ADDR SAME ({what})"))
    };
    let n: u64 = arg(1, "N").parse().expect("N");
    let secs: u64 = arg(2, "SECS").parse().expect("SECS");
    let port: u16 = arg(3, "PORT").parse().expect("PORT");
    let base: Ipv4Addr = arg(4, "BASE_ADDR").parse().expect("BASE_ADDR");
    let same = arg(5, "SAME") == "1";
    let dst = |i: u64| {
        let ip = if same {
            base
        } else {
            Ipv4Addr::from(u32::from(base) + i as u32)
        };
        SocketAddr::from((ip, port))
    };

    let mut poll = Poll::new().expect("epoll");
    let mut events = Events::with_capacity(1024);
    // In flight: slot = token; FIFO of (deadline, token) for the timeout,
    // which is in start order because every check has the same timeout.
    let mut slots: Vec<Option<(u64, TcpStream)>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut deadlines: VecDeque<(Instant, usize, u64)> = VecDeque::new();
    let (mut ok, mut failed) = (0u64, 0u64);
    let total = n * secs;
    let t0 = Instant::now();
    let due = |k: u64| {
        t0 + Duration::from_secs(k / n) + Duration::from_secs(1) * (k % n) as u32 / n as u32
    };
    let mut next = 0u64;
    while next < total || !deadlines.is_empty() {
        let now = Instant::now();
        let mut wait = if next < total {
            due(next).saturating_duration_since(now)
        } else {
            CONNECT_TIMEOUT
        };
        if let Some(&(d, _, _)) = deadlines.front() {
            wait = wait.min(d.saturating_duration_since(now));
        }
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
        }
        for ev in events.iter() {
            let t = ev.token().0;
            if let Some((_, s)) = slots[t].take() {
                match s.take_error() {
                    Ok(None) => ok += 1,
                    _ => failed += 1,
                }
                free.push(t);
            }
        }
        let now = Instant::now();
        // An entry whose check already ended (its slot empty or reused by a
        // later check) is dropped without effect.
        while let Some(&(d, t, seq)) = deadlines.front() {
            let live = matches!(slots[t], Some((s, _)) if s == seq);
            if live && d > now {
                break;
            }
            deadlines.pop_front();
            if live {
                slots[t] = None;
                failed += 1;
                free.push(t);
            }
        }
        while next < total && due(next) <= now {
            let (i, seq) = (next % n, next);
            next += 1;
            let mut s = match TcpStream::connect(dst(i)) {
                Ok(s) => s,
                Err(_) => {
                    failed += 1;
                    continue;
                }
            };
            let t = free.pop().unwrap_or_else(|| {
                slots.push(None);
                slots.len() - 1
            });
            poll.registry()
                .register(&mut s, Token(t), Interest::WRITABLE)
                .expect("register");
            slots[t] = Some((seq, s));
            deadlines.push_back((now + CONNECT_TIMEOUT, t, seq));
        }
    }
    println!(
        "floor: {ok} checks up, {failed} failed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
