//! The VRRP dump files against Debian's keepalived 2.2.7: the same
//! configuration runs alone (MASTER) in one namespace under our daemon and in
//! another under keepalived; SIGUSR2 and SIGRTMIN+2 sent to each parent must
//! produce `keepalived.stats` and `keepalived.json` in its `$TMPDIR` that
//! differ only in what depends on time (`last_transition`, counters of
//! adverts sent so far). SIGUSR1's `keepalived.data`: every line we write in
//! its global section and VRRP topology is keepalived's, in keepalived's
//! order (keepalived writes more: sockets, interfaces); its sync group, script and track file
//! sections, for a configuration with all three once the scripts have run,
//! are keepalived's byte for byte, nothing masked (the tracked file is at
//! the same path for both daemons).
//!
//! Needs root and /usr/sbin/keepalived; fails with CI=true when they are
//! missing, skips with a message otherwise.

mod netns;

use std::path::Path;
use std::time::Duration;

use netns::{Daemon, Impl, Lab, require, wait_until};

fn conf(lab: &Lab) -> String {
    format!(
        "vrrp_instance VI_1 {{\n state MASTER\n interface kv-e0\n virtual_router_id 70\n \
         priority 150\n advert_int 1\n authentication {{\n  auth_type PASS\n  auth_pass kvdump\n }}\n \
         virtual_ipaddress {{\n  10.{n}.0.100/24\n  10.{n}.0.101/32 label kv-e0:1\n }}\n \
         virtual_ipaddress_excluded {{\n  10.{n}.0.102/32\n }}\n track_interface {{\n  kv-e0\n }}\n \
         notify_master \"/bin/true master\"\n}}\n\
         vrrp_instance VI_2 {{\n state BACKUP\n interface kv-e0\n virtual_router_id 71\n \
         priority 100\n advert_int 1\n nopreempt\n virtual_ipaddress {{\n  10.{n}.0.110/24\n }}\n}}\n",
        n = lab.net
    )
}

/// Runs `which` alone with the configuration, asks for both dumps and
/// returns (stats, JSON keys in file order, JSON) with the time-dependent
/// numbers masked.
fn dumps(tag: &str, net: u8, which: Impl) -> (String, Vec<String>, serde_json::Value, Vec<String>) {
    let lab = Lab::new(tag, net, 1);
    let tmp = lab.file("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let d = Daemon::start_with_tmpdir(&lab, 0, which, &conf(&lab), &tmp);
    let vip = format!("10.{net}.0.110");
    assert!(
        wait_until(Duration::from_secs(10), || lab.has_addr(0, &vip)),
        "{which:?} did not become master: {}",
        d.log_text()
    );
    let stats = tmp.join("keepalived.stats");
    let json = tmp.join("keepalived.json");
    let data = tmp.join("keepalived.data");
    d.signal_raw(libc::SIGUSR1);
    d.signal_raw(libc::SIGUSR2);
    d.signal_raw(libc::SIGRTMIN() + 2);
    let ready = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    assert!(
        wait_until(Duration::from_secs(5), || ready(&stats)
            && ready(&json)
            && ready(&data)),
        "{which:?} wrote no dumps: {}",
        d.log_text()
    );
    // Both files are complete once they exist (written and renamed, or
    // written before the next event); give a slow writer a moment anyway.
    std::thread::sleep(Duration::from_millis(200));
    let stats = std::fs::read_to_string(&stats).unwrap();
    let stats: String = stats
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("Sent:") || l.trim_start().starts_with("Received:") {
                let (k, _) = l.split_once(':').unwrap();
                format!("{k}: N\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let raw = std::fs::read_to_string(&json).unwrap();
    // Key order as written (serde_json's map would sort it).
    let order: Vec<String> = raw
        .split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0].to_string())
        .collect();
    let mut json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    for inst in json.as_array_mut().unwrap() {
        inst["data"]["last_transition"] = serde_json::Value::from(0);
        inst["stats"]["advert_sent"] = serde_json::Value::from(0);
        inst["stats"]["advert_rcvd"] = serde_json::Value::from(0);
    }
    let data = std::fs::read_to_string(&data).unwrap();
    let topology: Vec<String> = data
        .lines()
        .skip_while(|l| *l != "------< VRRP Topology >------")
        .skip(1)
        .take_while(|l| !l.starts_with("------<"))
        .map(|l| {
            if l.starts_with("   Last transition = ") {
                "   Last transition = T".to_string()
            } else if l.starts_with("   Read timeout = ") && l != "   Read timeout = DISABLED" {
                "   Read timeout = T".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    // the global section has no time in it: compared as it is
    let globals: Vec<String> = data
        .lines()
        .take_while(|l| *l != "------< VRRP Topology >------")
        .map(str::to_string)
        .collect();
    (stats, order, json, [globals, topology].concat())
}

#[test]
fn stats_and_json_dumps_as_keepalived() {
    if !require() {
        return;
    }
    let (ka_stats, ka_keys, ka_json, ka_data) = dumps("dpk", 170, Impl::Keepalived);
    let (our_stats, our_keys, our_json, our_data) = dumps("dpo", 170, Impl::Ours);
    // Our topology lines, in order, are a subsequence of keepalived's.
    let mut k = ka_data.iter();
    for line in &our_data {
        assert!(
            k.any(|l| l == line),
            "keepalived.data line {line:?} is not keepalived's (or out of order)\nours:\n{}\nkeepalived:\n{}",
            our_data.join("\n"),
            ka_data.join("\n")
        );
    }
    for needed in [
        "------< Global definitions >------",
        " Default interface = eth0",
        " VRRP Instance = VI_1",
        "   State = MASTER",
        "   Wantstate = MASTER",
        "   Number of interface and track script faults = 0",
        "   Read timeout = T",
        "   Master down timer = 3414062 usecs",
        "   Interface = kv-e0",
        "   Virtual Router ID = 70",
        "   Gratuitous ARP delay = 5",
        "   Virtual IP (2):",
    ] {
        assert!(
            our_data.iter().any(|l| l == needed),
            "no {needed:?} in keepalived.data"
        );
    }
    assert_eq!(our_stats, ka_stats, "keepalived.stats differs");
    assert_eq!(our_keys, ka_keys, "JSON keys or their order differ");
    assert_eq!(
        our_json, ka_json,
        "keepalived.json differs:\nours {our_json:#}\nkeepalived {ka_json:#}"
    );
}

/// A sync group, two vrrp_scripts (one succeeding, weighted reverse, rise 2
/// fall 3; one exiting with `down_exit` (failing unless 0), weight 0, rise 3
/// fall 1, on the group's first member) and a track_file tracked with its
/// own weight.
fn tracking_conf(lab: &Lab, file: &Path, down_exit: u8) -> String {
    format!(
        "vrrp_script kd_up {{\n script \"/bin/true\"\n interval 1\n weight 10 reverse\n rise 2\n fall 3\n}}\n\
         vrrp_script kd_down {{\n script \"/bin/sh -c 'exit {down_exit}'\"\n interval 1\n timeout 2\n weight 0\n rise 3\n fall 1\n}}\n\
         track_file kd_file {{\n file \"{file}\"\n weight 4\n}}\n\
         vrrp_sync_group G1 {{\n group {{\n  VI_1\n  VI_2\n }}\n{group_track}}}\n\
         vrrp_instance VI_1 {{\n state MASTER\n interface kv-e0\n virtual_router_id 80\n priority 150\n \
         advert_int 1\n virtual_ipaddress {{\n  10.{n}.0.120/24\n }}\n track_script {{\n  kd_down\n }}\n}}\n\
         vrrp_instance VI_2 {{\n state BACKUP\n interface kv-e0\n virtual_router_id 81\n priority 100\n \
         advert_int 1\n virtual_ipaddress {{\n  10.{n}.0.121/24\n }}\n}}\n\
         vrrp_instance VI_3 {{\n state BACKUP\n interface kv-e0\n virtual_router_id 82\n priority 100\n \
         advert_int 1\n virtual_ipaddress {{\n  10.{n}.0.122/24\n }}\n track_script {{\n  kd_up\n }}\n \
         track_file {{\n  kd_file weight 2 reverse\n }}\n}}\n",
        file = file.display(),
        n = lab.net,
        group_track = if down_exit == 0 {
            ""
        } else {
            " track_script {\n  kd_up weight 0\n }\n"
        }
    )
}

/// A file removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The sync group, script and track file sections of `which`'s
/// keepalived.data once the scripts have settled (and, with kd_down
/// succeeding, every instance is master). `file` is the tracked file, the
/// same path for both daemons (the section shows it).
fn tracking_sections(tag: &str, net: u8, which: Impl, file: &Path, down_exit: u8) -> Vec<String> {
    let lab = Lab::new(tag, net, 1);
    let tmp = lab.file("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(file, "3\n").unwrap();
    let conf = tracking_conf(&lab, file, down_exit);
    let d = Daemon::start_with_tmpdir(&lab, 0, which, &conf, &tmp);
    // kd_up needs two runs to rise; kd_down one failure to fail, three
    // successes to rise.
    let down = if down_exit == 0 {
        "VRRP_Script(kd_down) succeeded"
    } else {
        "VRRP_Script(kd_down) failed"
    };
    assert!(
        d.wait_log("VRRP_Script(kd_up) succeeded", Duration::from_secs(10))
            && d.wait_log(down, Duration::from_secs(10)),
        "{which:?}: scripts did not settle: {}",
        d.log_text()
    );
    if down_exit == 0 {
        for vip in [".120", ".121", ".122"] {
            let vip = format!("10.{net}.0{vip}");
            assert!(
                wait_until(Duration::from_secs(10), || lab.has_addr(0, &vip)),
                "{which:?}: {vip} not up: {}",
                d.log_text()
            );
        }
    }
    // Past the scripts' next runs: each result at its top or bottom.
    std::thread::sleep(Duration::from_millis(2500));
    let data = tmp.join("keepalived.data");
    d.signal_raw(libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::metadata(&data)
            .is_ok_and(|m| m.len() > 0)),
        "{which:?} wrote no keepalived.data: {}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&data).unwrap();
    let mut out = Vec::new();
    let mut on = false;
    for l in text.lines() {
        if l.starts_with("------<") {
            on = matches!(
                l,
                "------< VRRP Sync groups >------"
                    | "------< VRRP Scripts >------"
                    | "------< VRRP Track files >------"
            );
        }
        if on {
            out.push(l.to_string());
        }
    }
    out
}

fn compare_tracking_sections(tags: (&str, &str), net: u8, down_exit: u8, group_line: &str) {
    let file = TempFile(std::env::temp_dir().join(format!(
        "{}-dumps-track-{}-{net}",
        netns::prefix(),
        std::process::id()
    )));
    let ka = tracking_sections(tags.0, net, Impl::Keepalived, &file.0, down_exit);
    let ours = tracking_sections(tags.1, net, Impl::Ours, &file.0, down_exit);
    assert!(
        ka.iter().any(|l| l == " VRRP Script = kd_down") && ka.iter().any(|l| l == group_line),
        "keepalived did not write what this test expects: {ka:#?}"
    );
    assert_eq!(
        ours.join("\n"),
        ka.join("\n"),
        "keepalived.data sections differ"
    );
}

/// kd_down failing: VI_1 and with it its sync group in FAULT.
#[test]
fn script_file_and_group_sections_as_keepalived() {
    if !require() {
        return;
    }
    compare_tracking_sections(("dtk", "dto"), 171, 3, " VRRP Sync Group = G1, FAULT");
}

/// Every script succeeding: the sync group MASTER.
#[test]
fn script_file_and_group_sections_healthy_as_keepalived() {
    if !require() {
        return;
    }
    compare_tracking_sections(("dhk", "dho"), 172, 0, " VRRP Sync Group = G1, MASTER");
}
