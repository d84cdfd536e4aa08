//! Reload cost with a big kernel table (issue 3's benchmark; run as root
//! where IPVS exists, i.e. inside the test VM):
//!
//! `reload_bench [SERVICES] [DESTS_PER_SERVICE] [ROUNDS]`
//!
//! Programs SERVICES × DESTS real servers, then repeatedly reconciles to a
//! desired table that differs in one real server's weight: each round is a
//! full dump, a plan and the apply, and must issue exactly one write op.
//! Prints the cold programming time and every round's time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use ipvs::model::Scheduler;
use ipvs::{Client, Dest, DestKey, Fwd, Service, ServiceKey, Table};

fn table(services: u32, dests: u32) -> (Table, ServiceKey, DestKey) {
    let mut t = Table::new();
    let mut first = None;
    for s in 0..services {
        let vip = Ipv4Addr::from(0x0a00_0000 + s);
        let key = ServiceKey::tcp(SocketAddr::new(IpAddr::V4(vip), 80));
        t.insert_service(key, Service::new(Scheduler::Wrr));
        for d in 0..dests {
            let rip = Ipv4Addr::from(0xac10_0000 + s * dests + d);
            let dk = DestKey::new(SocketAddr::new(IpAddr::V4(rip), 80));
            t.insert_dest(&key, dk, Dest::new(Fwd::Route, 1));
            first.get_or_insert((key, dk));
        }
    }
    let (k, d) = first.expect("at least one real server");
    (t, k, d)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>().ok());
    let services = args.next().flatten().unwrap_or(4_000);
    let dests = args.next().flatten().unwrap_or(10);
    let rounds = args.next().flatten().unwrap_or(9);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::connect().await.expect("IPVS (run inside the VM)");
        client.flush().await.expect("flush");
        let (base, svc, dest) = table(services, dests);
        let t0 = Instant::now();
        let report = client.reconcile(&base).await.expect("reconcile");
        assert!(
            report.is_complete(),
            "{:?}",
            &report.failed[..report.failed.len().min(3)]
        );
        println!(
            "cold: {} services, {} real servers programmed in {:.1} ms ({} ops)",
            base.len(),
            base.dest_count(),
            t0.elapsed().as_secs_f64() * 1e3,
            report.applied
        );
        let mut times = Vec::new();
        for round in 0..rounds {
            let mut desired = base.clone();
            desired.insert_dest(&svc, dest, Dest::new(Fwd::Route, 2 + round));
            let t = Instant::now();
            let owned = |_: &ServiceKey| true;
            let report = client
                .reconcile_where(&desired, owned)
                .await
                .expect("reconcile");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(report.is_complete(), "{:?}", report.failed);
            assert_eq!(
                report.applied, 1,
                "round {round}: {} write ops",
                report.applied
            );
            assert_eq!(report.rounds, 1);
            println!("reload round {round}: dump+plan+apply {ms:.1} ms, 1 write op");
            times.push(ms);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        if !times.is_empty() {
            println!(
                "reload median {:.1} ms, min {:.1} ms, max {:.1} ms over {} rounds",
                times[times.len() / 2],
                times[0],
                times[times.len() - 1],
                times.len()
            );
        }
        client.flush().await.expect("flush");
    });
}
