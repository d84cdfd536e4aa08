//! Tier 3: the client against a real kernel's IPVS (Debian's kernel in the
//! VM; this machine's kernel has none). Every op is applied through our
//! netlink code and checked with ipvsadm, the independent reader.

#[path = "../../tests/vm/harness.rs"]
mod harness;

use std::net::SocketAddr;

use harness::{sh, sorted_lines};
use ipvs::model::{Af, Scheduler, SvcFlags, TunCsum, Tunnel};
use ipvs::plan::apply_to;
use ipvs::{Client, Dest, DestKey, Fwd, Op, Service, ServiceKey, Table, plan};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// ipvsadm's view must equal ours, line for line (order aside).
fn assert_kernel_is(expected: &Table, what: &str) {
    let kernel = sh("ipvsadm -Sn");
    assert_eq!(
        sorted_lines(&kernel),
        sorted_lines(&expected.to_string()),
        "after {what}: ipvsadm -Sn disagrees\nkernel:\n{kernel}\nexpected:\n{expected}"
    );
}

async fn apply_one(client: &Client, mirror: &mut Table, op: Op) {
    let what = op.to_string();
    let r = client.apply(std::slice::from_ref(&op)).await;
    assert!(r[0].is_ok(), "{what}: {:?}", r[0]);
    assert!(apply_to(mirror, &op), "{what}: mirror refused it");
    assert_kernel_is(mirror, &what);
    let dumped = client.dump().await.expect("dump");
    assert!(
        plan(mirror, &dumped).is_empty(),
        "after {what}: the dump read back differs: {:?}",
        plan(mirror, &dumped)
    );
}

fn services() -> Vec<(ServiceKey, Service)> {
    let mut v = Vec::new();
    let scheds = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
    ];
    for (i, s) in scheds.iter().enumerate() {
        v.push((
            ServiceKey::tcp(sa(&format!("192.0.2.2:{}", 10001 + i))),
            Service::new(Scheduler::from_name(s)),
        ));
    }
    let mut persistent = Service::new(Scheduler::Rr).persistent(300);
    persistent.netmask = Some(0xffff_ff00);
    v.push((ServiceKey::tcp(sa("192.0.2.3:80")), persistent));
    let mut p6 = Service::new(Scheduler::Rr).persistent(60);
    p6.netmask = Some(64);
    v.push((ServiceKey::tcp(sa("[2001:db8::3]:80")), p6));
    let mut sip = Service::new(Scheduler::Rr).persistent(120);
    sip.pe_name = Some("sip".into());
    v.push((ServiceKey::udp(sa("192.0.2.4:5060")), sip));
    let mut sh_flags = Service::new(Scheduler::Sh);
    sh_flags.flags = SvcFlags::SH_FALLBACK | SvcFlags::SH_PORT;
    v.push((ServiceKey::tcp(sa("192.0.2.5:80")), sh_flags));
    let mut mh_flags = Service::new(Scheduler::Mh);
    mh_flags.flags = SvcFlags::MH_FALLBACK | SvcFlags::MH_PORT;
    v.push((ServiceKey::tcp(sa("192.0.2.6:80")), mh_flags));
    let mut ops = Service::new(Scheduler::Rr);
    ops.flags = SvcFlags::ONEPACKET;
    v.push((ServiceKey::udp(sa("192.0.2.8:53")), ops));
    v.push((
        ServiceKey::sctp(sa("192.0.2.1:5060")),
        Service::new(Scheduler::Lc),
    ));
    v.push((
        ServiceKey::fwmark(Af::Inet, 1),
        Service::new(Scheduler::Wlc),
    ));
    v.push((
        ServiceKey::fwmark(Af::Inet6, 2),
        Service::new(Scheduler::Rr),
    ));
    v.push((
        ServiceKey::udp(sa("[2001:db8::1]:53")),
        Service::new(Scheduler::Wlc),
    ));
    v
}

async fn every_op(client: &Client) {
    sh("ipvsadm -C");
    let mut mirror = Table::new();
    for (key, svc) in services() {
        apply_one(client, &mut mirror, Op::AddService { key, service: svc }).await;
    }
    let web = ServiceKey::tcp(sa("192.0.2.1:80"));
    apply_one(
        client,
        &mut mirror,
        Op::AddService {
            key: web,
            service: Service::new(Scheduler::Wrr),
        },
    )
    .await;
    let dests = [
        ("192.0.2.10:80", Dest::new(Fwd::Route, 1)),
        ("192.0.2.11:8080", Dest::new(Fwd::Masq, 2)),
        ("192.0.2.12:80", Dest::new(Fwd::Tunnel(Tunnel::Ipip), 3)),
        (
            "192.0.2.13:80",
            Dest::new(
                Fwd::Tunnel(Tunnel::Gue {
                    port: 6080,
                    csum: TunCsum::Csum,
                }),
                1,
            ),
        ),
        (
            "192.0.2.14:80",
            Dest::new(
                Fwd::Tunnel(Tunnel::Gue {
                    port: 6081,
                    csum: TunCsum::RemCsum,
                }),
                1,
            ),
        ),
        (
            "192.0.2.15:80",
            Dest::new(
                Fwd::Tunnel(Tunnel::Gre {
                    csum: TunCsum::Csum,
                }),
                1,
            ),
        ),
        (
            "192.0.2.16:80",
            Dest {
                fwd: Fwd::Masq,
                weight: 4,
                u_thresh: 100,
                l_thresh: 10,
            },
        ),
        ("192.0.2.17:80", Dest::new(Fwd::Route, 0)),
    ];
    for (a, d) in dests {
        apply_one(
            client,
            &mut mirror,
            Op::AddDest {
                service: web,
                key: DestKey::new(sa(a)),
                dest: d,
            },
        )
        .await;
    }
    let v6 = ServiceKey::udp(sa("[2001:db8::1]:53"));
    apply_one(
        client,
        &mut mirror,
        Op::AddDest {
            service: v6,
            key: DestKey::new(sa("[2001:db8::10]:53")),
            dest: Dest::new(Fwd::Masq, 1),
        },
    )
    .await;
    // IPv4 real server behind an IPv6 service: only tunnels may mix families
    apply_one(
        client,
        &mut mirror,
        Op::AddDest {
            service: v6,
            key: DestKey::new(sa("192.0.2.40:53")),
            dest: Dest::new(Fwd::Tunnel(Tunnel::Ipip), 1),
        },
    )
    .await;
    let fw = ServiceKey::fwmark(Af::Inet, 1);
    apply_one(
        client,
        &mut mirror,
        Op::AddDest {
            service: fw,
            key: DestKey::new(sa("192.0.2.20:0")),
            dest: Dest::new(Fwd::Route, 1),
        },
    )
    .await;
    let sctp = ServiceKey::sctp(sa("192.0.2.1:5060"));
    apply_one(
        client,
        &mut mirror,
        Op::AddDest {
            service: sctp,
            key: DestKey::new(sa("192.0.2.22:5060")),
            dest: Dest::new(Fwd::Masq, 1),
        },
    )
    .await;

    // in-place edits
    apply_one(
        client,
        &mut mirror,
        Op::EditService {
            key: web,
            service: Service::new(Scheduler::Wlc).persistent(60),
        },
    )
    .await;
    apply_one(
        client,
        &mut mirror,
        Op::EditDest {
            service: web,
            key: DestKey::new(sa("192.0.2.11:8080")),
            dest: Dest {
                fwd: Fwd::Masq,
                weight: 7,
                u_thresh: 50,
                l_thresh: 5,
            },
        },
    )
    .await;
    apply_one(
        client,
        &mut mirror,
        Op::EditDest {
            service: web,
            key: DestKey::new(sa("192.0.2.13:80")),
            dest: Dest::new(
                Fwd::Tunnel(Tunnel::Gue {
                    port: 7000,
                    csum: TunCsum::NoCsum,
                }),
                1,
            ),
        },
    )
    .await;
    apply_one(
        client,
        &mut mirror,
        Op::EditDest {
            service: web,
            key: DestKey::new(sa("192.0.2.10:80")),
            dest: Dest::new(Fwd::Masq, 1),
        },
    )
    .await;
    let thresholds = sh("ipvsadm -Ln --thresholds");
    assert!(
        thresholds.lines().any(|l| l.contains("192.0.2.11:8080")
            && l.split_whitespace().collect::<Vec<_>>()[2..4] == ["50", "5"]),
        "thresholds not in the kernel:\n{thresholds}"
    );
    let tun = sh("ipvsadm -Ln --tun-info");
    assert!(
        tun.contains("192.0.2.13:80") && tun.contains("7000"),
        "{tun}"
    );

    // deletions
    apply_one(
        client,
        &mut mirror,
        Op::DelDest {
            service: web,
            key: DestKey::new(sa("192.0.2.12:80")),
        },
    )
    .await;
    apply_one(
        client,
        &mut mirror,
        Op::DelDest {
            service: v6,
            key: DestKey::new(sa("[2001:db8::10]:53")),
        },
    )
    .await;
    apply_one(
        client,
        &mut mirror,
        Op::DelService {
            key: ServiceKey::fwmark(Af::Inet6, 2),
        },
    )
    .await;
    apply_one(client, &mut mirror, Op::DelService { key: web }).await;

    // a refused op keeps the kernel's errno: a missing service is ESRCH
    let r = client.apply(&[Op::DelService { key: web }]).await;
    assert_eq!(
        r[0].as_ref().err().and_then(|e| e.errno()),
        Some(ESRCH),
        "{:?}",
        r[0]
    );
    assert!(r[0].as_ref().is_err_and(|e| e.is_drift()));
    let r = client
        .apply(&[Op::AddService {
            key: ServiceKey::tcp(sa("192.0.2.9:80")),
            service: Service::new(Scheduler::Other("nosuchsched".into())),
        }])
        .await;
    assert!(
        r[0].as_ref().err().and_then(|e| e.errno()).is_some(),
        "{:?}",
        r[0]
    );
    println!(
        "every op: ok ({} services, {} dests at the end)",
        mirror.len(),
        mirror.dest_count()
    );
}

const ESRCH: i32 = 3;

/// A table built from ops, read back through a dump, equals the table.
async fn dump_round_trip(client: &Client) {
    sh("ipvsadm -C");
    let mut desired = Table::new();
    for (key, svc) in services() {
        desired.insert_service(key, svc);
        let (addr, port) = match key.af() {
            Af::Inet => ("192.0.2.50", 80),
            Af::Inet6 => ("2001:db8::50", 80),
        };
        for i in 0..3u16 {
            let ip: std::net::IpAddr = addr.parse().unwrap();
            desired.insert_dest(
                &key,
                DestKey::new(SocketAddr::new(ip, port + i)),
                Dest::new(Fwd::Masq, 1 + u32::from(i)),
            );
        }
    }
    let report = client.reconcile(&desired).await.expect("reconcile");
    assert!(report.is_complete(), "{:?}", report.failed);
    let dumped = client.dump().await.expect("dump");
    assert_eq!(
        dumped.to_string(),
        desired.to_string(),
        "the dump, displayed, differs"
    );
    assert!(plan(&desired, &dumped).is_empty());
    assert_kernel_is(&desired, "reconcile of a fresh table");
    println!("dump round trip: ok ({} dests)", dumped.dest_count());
}

/// Entries changed behind our back are put back by the next reconcile,
/// and a stale plan's EEXIST/ENOENT are reported as drift.
async fn drift(client: &Client) {
    sh("ipvsadm -C");
    let web = ServiceKey::tcp(sa("192.0.2.1:80"));
    let dns = ServiceKey::udp(sa("192.0.2.1:53"));
    let mut desired = Table::new();
    desired.insert_service(web, Service::new(Scheduler::Wrr));
    desired.insert_service(dns, Service::new(Scheduler::Rr));
    for i in 10..14 {
        desired.insert_dest(
            &web,
            DestKey::new(sa(&format!("192.0.2.{i}:80"))),
            Dest::new(Fwd::Route, 1),
        );
    }
    desired.insert_dest(
        &dns,
        DestKey::new(sa("192.0.2.30:53")),
        Dest::new(Fwd::Masq, 1),
    );
    assert!(client.reconcile(&desired).await.unwrap().is_complete());
    let stale = client.dump().await.unwrap();

    sh("ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.10:80");
    sh("ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 9");
    sh("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.99:80 -g -w 1");
    sh("ipvsadm -E -t 192.0.2.1:80 -s rr");
    sh("ipvsadm -D -u 192.0.2.1:53");
    sh("ipvsadm -A -t 198.51.100.1:443 -s rr"); // another tool's service

    // a plan made before the changes hits them: the errors are drift
    let mut moved = desired.clone();
    moved.remove_dest(&web, &DestKey::new(sa("192.0.2.10:80")));
    moved.insert_dest(
        &dns,
        DestKey::new(sa("192.0.2.31:53")),
        Dest::new(Fwd::Masq, 1),
    );
    let stale_ops = plan(&moved, &stale);
    let results = client.apply(&stale_ops).await;
    let drift: Vec<_> = stale_ops
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.as_ref().is_err_and(|e| e.is_drift()))
        .collect();
    assert!(
        !drift.is_empty(),
        "stale ops {stale_ops:?} gave {results:?}"
    );

    // owned scope: the other tool's service survives
    let owned = [web, dns];
    let report = client
        .reconcile_where(&desired, |k| owned.contains(k))
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failed);
    let mut with_foreign = desired.clone();
    with_foreign.insert_service(
        ServiceKey::tcp(sa("198.51.100.1:443")),
        Service::new(Scheduler::Rr),
    );
    assert_kernel_is(&with_foreign, "scoped reconcile after drift");
    // unscoped: the whole table becomes ours
    client.reconcile(&desired).await.unwrap();
    assert_kernel_is(&desired, "full reconcile after drift");

    // mirrored: one op without a dump, and a dump when the kernel disagrees
    let mut mirror = ipvs::Mirror::default();
    client
        .reconcile_mirrored(&desired, &mut mirror, |_| true)
        .await
        .unwrap();
    assert!(mirror.valid);
    let mut next = desired.clone();
    next.insert_dest(
        &web,
        DestKey::new(sa("192.0.2.11:80")),
        Dest::new(Fwd::Route, 4),
    );
    let r = client
        .reconcile_mirrored(&next, &mut mirror, |_| true)
        .await
        .unwrap();
    assert_eq!((r.applied, r.rounds), (1, 1), "{:?}", r.failed);
    assert_kernel_is(&next, "mirrored one-op change");
    sh("ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.12:80"); // behind the mirror's back
    let mut last = next.clone();
    last.insert_dest(
        &web,
        DestKey::new(sa("192.0.2.12:80")),
        Dest::new(Fwd::Route, 7),
    );
    let r = client
        .reconcile_mirrored(&last, &mut mirror, |_| true)
        .await
        .unwrap();
    assert!(r.is_complete(), "{:?}", r.failed);
    assert!(r.rounds > 1, "the failed edit should have forced a dump");
    assert_kernel_is(&last, "mirrored reconcile after drift");

    // a fresh mirror (a daemon's cold start): one dump, then the ops; the
    // mirror is what was dumped plus what was applied, not a second dump,
    // and the next change is again one op without a dump
    let mut cold = ipvs::Mirror::default();
    let mut bigger = last.clone();
    let extra = ServiceKey::tcp(sa("192.0.2.9:80"));
    bigger.insert_service(extra, Service::new(Scheduler::Wrr));
    for (i, rs) in ["192.0.2.91:80", "192.0.2.92:80"].into_iter().enumerate() {
        bigger.insert_dest(
            &extra,
            DestKey::new(sa(rs)),
            Dest::new(Fwd::Route, i as u32 + 1),
        );
    }
    let r = client
        .reconcile_mirrored(&bigger, &mut cold, |_| true)
        .await
        .unwrap();
    assert_eq!((r.applied, r.rounds), (3, 1), "{:?}", r.failed);
    assert!(cold.valid);
    assert!(
        ipvs::plan(&bigger, &cold.table).is_empty(),
        "mirror after a cold reconcile:\n{}",
        cold.table
    );
    assert_kernel_is(&bigger, "mirrored cold reconcile");
    let mut after = bigger.clone();
    after.insert_dest(
        &extra,
        DestKey::new(sa("192.0.2.91:80")),
        Dest::new(Fwd::Route, 9),
    );
    let r = client
        .reconcile_mirrored(&after, &mut cold, |_| true)
        .await
        .unwrap();
    assert_eq!((r.applied, r.rounds), (1, 1), "{:?}", r.failed);
    assert_kernel_is(&after, "mirrored change after a cold reconcile");
    println!(
        "drift: ok ({} stale ops refused as drift, {} rounds)",
        drift.len(),
        report.rounds
    );
}

/// A table programmed in parts (the daemon's cold start): each part is
/// planned against what the kernel held before, services outside every
/// part are left alone, and the mirror then needs no op for the whole table.
async fn parts(client: &Client) {
    sh("ipvsadm -C");
    // before: a service of another tool, and one of ours with a stale
    // real server and a different scheduler
    sh("ipvsadm -A -t 192.0.2.200:80 -s rr");
    sh("ipvsadm -a -t 192.0.2.200:80 -r 192.0.2.201:80 -g -w 1");
    sh("ipvsadm -A -t 192.0.2.2:80 -s rr");
    sh("ipvsadm -a -t 192.0.2.2:80 -r 192.0.2.99:80 -g -w 5");
    let mut desired = Table::new();
    let mut parts_of = vec![Table::new(), Table::new()];
    for i in 1..=4u8 {
        let key = ServiceKey::tcp(sa(&format!("192.0.2.{i}:80")));
        let part = &mut parts_of[usize::from(i > 2)];
        for t in [&mut desired, part] {
            t.insert_service(key, Service::new(Scheduler::Wrr));
            for r in 1..=3u8 {
                t.insert_dest(
                    &key,
                    DestKey::new(sa(&format!("198.51.100.{}:80", i * 10 + r))),
                    Dest::new(Fwd::Route, u32::from(r)),
                );
            }
        }
    }
    let mut state = client.begin_parts().await.expect("begin_parts");
    for part in parts_of {
        client
            .apply_part(part, &mut state)
            .await
            .expect("apply_part");
    }
    assert!(state.report.is_complete(), "{:?}", state.report.failed);
    assert!(state.mirror.valid);
    // 4 services x 3 real servers, one service edited (rr -> wrr) and its
    // stale real server deleted instead of added: 3 adds + 1 edit + 1 delete
    assert_eq!(state.report.applied, 3 + 12 + 1 + 1, "ops applied");
    let mut expected = desired.clone();
    let other = ServiceKey::tcp(sa("192.0.2.200:80"));
    expected.insert_service(other, Service::new(Scheduler::Rr));
    expected.insert_dest(
        &other,
        DestKey::new(sa("192.0.2.201:80")),
        Dest::new(Fwd::Route, 1),
    );
    assert_kernel_is(&expected, "a table programmed in two parts");
    assert!(
        plan(&desired, &state.mirror.table).is_empty(),
        "the mirror after the parts:\n{}",
        state.mirror.table
    );
    // and the whole table's reconcile from that mirror has nothing to do
    let mut mirror = state.mirror;
    let owned: std::collections::BTreeSet<ServiceKey> = desired.services.keys().copied().collect();
    let r = client
        .reconcile_mirrored(&desired, &mut mirror, |k| owned.contains(k))
        .await
        .unwrap();
    assert_eq!((r.applied, r.rounds), (0, 1), "{:?}", r.failed);
    assert_kernel_is(&expected, "the whole table's reconcile after the parts");
    sh("ipvsadm -C");
    println!("parts: ok");
}

/// Thousands of ops in batches: the kernel answers only the failures, and
/// each failure comes back at its op's index; the successes are all there.
async fn batch_errors(client: &Client) {
    sh("ipvsadm -C");
    let n = 1500u32;
    let mut ops = Vec::new();
    for i in 0..n {
        let vip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        let key = ServiceKey::tcp(SocketAddr::new(vip.into(), 80));
        let ghost = ServiceKey::udp(SocketAddr::new(vip.into(), 53));
        let add = Op::AddService {
            key,
            service: Service::new(Scheduler::Rr),
        };
        ops.push(add.clone());
        ops.push(Op::AddDest {
            service: ghost,
            key: DestKey::new(sa("192.0.2.9:53")),
            dest: Dest::new(Fwd::Masq, 1),
        });
        ops.push(add);
    }
    let results = client.apply(&ops).await;
    assert_eq!(results.len(), ops.len());
    for (i, r) in results.iter().enumerate() {
        let want = [None, Some(3), Some(17)][i % 3]; // ok, ESRCH, EEXIST
        assert_eq!(
            r.as_ref().err().and_then(|e| e.errno()),
            want,
            "op {i} ({}): {r:?}",
            ops[i]
        );
    }
    let dumped = client.dump().await.expect("dump");
    assert_eq!(dumped.len(), n as usize, "every service added once");
    sh("ipvsadm -C");
    println!("batch errors: ok ({} ops, {} refused)", ops.len(), 2 * n);
}

#[test]
fn kernel_tier() {
    if harness::run_in_vm(ROOT, "kernel_tier", 300) {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::connect()
            .await
            .expect("IPVS generic netlink family");
        every_op(&client).await;
        dump_round_trip(&client).await;
        drift(&client).await;
        batch_errors(&client).await;
        parts(&client).await;
        sh("ipvsadm -C");
    });
}
