//! Keywords given without their argument: which ones make keepalived 2.2.7
//! abort the parse, and what the others say. Both tables were measured by
//! running Debian's `keepalived -t` on every keyword alone in its block; the
//! root crate's `tests/keyword_oracle.rs` re-checks every keyword against it.

use crate::schema::Ctx;

/// Keywords whose first argument keepalived 2.2.7 reads without checking
/// that it is there. Given none, keepalived reports "*** Configuration line
/// starting `KW` is missing a parameter after keyword `KW` at word position
/// 2" and stops the whole parse with exit code 2. Measured by running
/// `keepalived -t` on every keyword alone in its block; the test
/// `keyword_alone_matches_keepalived` re-checks it.
pub fn needs_param(ctx: Ctx, name: &str) -> bool {
    let list: &[&str] = match ctx {
        Ctx::Root => &[
            "vrrp_script",
            "virtual_server",
            "virtual_server_group",
            "vrrp_track_process",
            "track_file",
            "vrrp_track_file",
            "child_wait_time",
        ],
        Ctx::GlobalDefs => &[
            "smtp_server",
            "smtp_connect_timeout",
            "process_name",
            "vrrp_process_name",
            "checker_process_name",
            "bfd_process_name",
            "lvs_process_name",
            "vrrp_mcast_group4",
            "vrrp_mcast_group6",
            "vrrp_version",
            "vrrp_garp_interval",
            "vrrp_gna_interval",
            "vrrp_garp_master_delay",
            "vrrp_garp_master_repeat",
            "vrrp_garp_master_refresh",
            "vrrp_garp_master_refresh_repeat",
            "vrrp_garp_lower_prio_delay",
            "vrrp_garp_lower_prio_repeat",
            "vrrp_down_timer_adverts",
            "nftables_priority",
            "nftables_ipvs_priority",
            "nftables_ipvs_start_fwmark",
            "vrrp_rlimit_rttime",
            "checker_rlimit_rttime",
            "bfd_rlimit_rttime",
            "vrrp_rlimit_rtime",
            "checker_rlimit_rtime",
            "bfd_rlimit_rtime",
            "vrrp_startup_delay",
            "vmac_prefix",
            "vmac_addr_prefix",
            "umask",
            "random_seed",
            "config_save_dir",
        ],
        Ctx::SyncGroup => &[
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
        ],
        Ctx::GarpGroup => &["garp_interval", "gna_interval", "interface"],
        Ctx::Instance => &[
            "state",
            "interface",
            "virtual_router_id",
            "priority",
            "advert_int",
            "preempt_delay",
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "notify_master_rx_lower_pri",
            "unicast_src_ip",
            "mcast_src_ip",
            "mcast_dst_ip",
            "unicast_ttl",
            "version",
            "vrf",
            "garp_master_delay",
            "garp_master_repeat",
            "garp_master_refresh",
            "garp_master_refresh_repeat",
            "garp_lower_prio_delay",
            "garp_lower_prio_repeat",
            "down_timer_adverts",
            "debug",
            "lvs_sync_daemon_interface",
        ],
        Ctx::Authentication => &["auth_type", "auth_pass"],
        Ctx::VrrpScript => &["interval", "weight", "rise", "fall", "timeout", "user"],
        Ctx::TrackProcess => &[
            "process",
            "quorum",
            "quorum_max",
            "delay",
            "terminate_delay",
            "fork_delay",
        ],
        Ctx::VirtualServer => &[
            "delay_loop",
            "lb_algo",
            "lvs_sched",
            "lb_kind",
            "lvs_method",
            "protocol",
            "real_server",
            "persistence_granularity",
            "persistence_engine",
            "ip_family",
            "sorry_server",
            "quorum",
            "hysteresis",
            "quorum_up",
            "quorum_down",
            "weight",
            "connect_timeout",
            "retry",
            "delay_before_retry",
            "warmup",
        ],
        Ctx::RealServer => &[
            "weight",
            "lvs_method",
            "notify_up",
            "notify_down",
            "uthreshold",
            "lthreshold",
            "retry",
            "delay_before_retry",
            "warmup",
            "connect_timeout",
            "delay_loop",
        ],
        Ctx::HttpGet => &["nb_get_retry"],
        Ctx::Url => &["path", "digest"],
        Ctx::MiscCheck => &["misc_timeout"],
        Ctx::DnsCheck => &["type", "name"],
        Ctx::UdpCheck => &["min_reply_length", "max_reply_length"],
        Ctx::FileCheck => &["track_file"],
        Ctx::BfdInstance => &[
            "source_ip",
            "min_rx",
            "min_tx",
            "idle_tx",
            "multiplier",
            "ttl",
            "hoplimit",
            "max_hops",
            "weight",
        ],
        _ => &[],
    };
    let checker = matches!(
        ctx,
        Ctx::TcpCheck
            | Ctx::PingCheck
            | Ctx::SmtpHost
            | Ctx::HttpGet
            | Ctx::MiscCheck
            | Ctx::SmtpCheck
            | Ctx::DnsCheck
            | Ctx::UdpCheck
    );
    list.contains(&name) || (checker && CHECKER_NEEDS_PARAM.contains(&name))
}

/// The shared checker options of [`needs_param`].
const CHECKER_NEEDS_PARAM: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "connect_timeout",
    "fwmark",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
];

/// What keepalived 2.2.7 reports for a keyword given without its argument,
/// where its handler checks for one (it then ignores the line: exit 5).
/// `{name}` stands for the enclosing block's name. Measured with
/// `keepalived -t` like [`needs_param`].
pub fn missing_arg_messages(ctx: Ctx, name: &str) -> Option<&'static [&'static str]> {
    let list: &[(&str, &[&str])] = match ctx {
        Ctx::Root => &[
            ("net_namespace", &["net_namespace name missing - ignoring"]),
            ("instance", &["instance name missing - ignoring"]),
        ],
        Ctx::GlobalDefs => &[
            ("router_id", &["routerid name missing - ignoring"]),
            ("notification_email_from", &["emailfrom missing - ignoring"]),
            ("script_user", &["No script username specified"]),
            ("startup_script", &["startup script missing"]),
            (
                "startup_script_timeout",
                &["startup_script_timeout requires value"],
            ),
            ("shutdown_script", &["shutdown script missing"]),
            (
                "shutdown_script_timeout",
                &["shutdown_script_timeout requires value"],
            ),
            (
                "default_interface",
                &["default_interface requires interface name"],
            ),
            (
                "vrrp_garp_extra_if",
                &["vrrp_garp_extra_if specified without time - ignoring"],
            ),
            (
                "vrrp_vmac_garp_intvl",
                &[
                    "Keyword \"vrrp_vmac_garp_intvl\" is deprecated - please use \"vrrp_garp_extra_if\"",
                    "vrrp_vmac_garp_intvl specified without time - ignoring",
                ],
            ),
            ("lvs_sync_daemon", &["lvs_sync_daemon requires interface"]),
            ("notify_fifo", &["No notify_fifo name specified"]),
            ("notify_fifo_script", &["No notify_fifo_script specified"]),
            ("vrrp_notify_fifo", &["No vrrp_notify_fifo name specified"]),
            (
                "vrrp_notify_fifo_script",
                &["No vrrp_notify_fifo_script specified"],
            ),
            ("lvs_notify_fifo", &["No lvs_notify_fifo name specified"]),
            (
                "lvs_notify_fifo_script",
                &["No lvs_notify_fifo_script specified"],
            ),
            (
                "min_auto_priority_delay",
                &["min_auto_priority_delay requires delay time"],
            ),
            ("vrrp_priority", &["No vrrp process priority specified"]),
            (
                "checker_priority",
                &["No checker process priority specified"],
            ),
            ("bfd_priority", &["No bfd process priority specified"]),
            (
                "vrrp_rt_priority",
                &["No vrrp process real-time priority specified"],
            ),
            (
                "checker_rt_priority",
                &["No checker process real-time priority specified"],
            ),
            (
                "bfd_rt_priority",
                &["No bfd process real-time priority specified"],
            ),
            ("vrrp_cpu_affinity", &["No vrrp cpu_id set specified"]),
            ("checker_cpu_affinity", &["No checker cpu_id set specified"]),
            ("bfd_cpu_affinity", &["No bfd cpu_id set specified"]),
            ("snmp_socket", &["SNMP error : snmp socket name missing"]),
            (
                "dbus_service_name",
                &["dbus_service_name missing - ignoring"],
            ),
            (
                "vrrp_netlink_cmd_rcv_bufs",
                &["vrrp_netlink_cmd_rcv_bufs size missing"],
            ),
            (
                "vrrp_netlink_monitor_rcv_bufs",
                &["vrrp_netlink_monitor_rcv_bufs size missing"],
            ),
            (
                "process_monitor_rcv_bufs",
                &["process_monitor_rcv_bufs size missing"],
            ),
            (
                "lvs_netlink_cmd_rcv_bufs",
                &["lvs_netlink_cmd_rcv_bufs size missing"],
            ),
            (
                "lvs_netlink_monitor_rcv_bufs",
                &["lvs_netlink_monitor_rcv_bufs size missing"],
            ),
            ("vrrp_rx_bufs_policy", &["vrrp_rx_bufs_policy missing"]),
            (
                "vrrp_rx_bufs_multiplier",
                &["Invalid vrrp_rx_bufs_multiplier"],
            ),
            ("reload_time_file", &["reload_time_file invalid"]),
            (
                "tmp_config_directory",
                &["tmp_config_directory missing directory name"],
            ),
        ],
        Ctx::Instance => &[
            (
                "garp_extra_if",
                &["({name}): garp_extra_if specified without time - ignoring"],
            ),
            (
                "vmac_garp_intvl",
                &[
                    "Keyword \"vmac_garp_intvl\" is deprecated - please use \"garp_extra_if\"",
                    "({name}): vmac_garp_intvl specified without time - ignoring",
                ],
            ),
            (
                "kernel_rx_buf_size",
                &["({name}) invalid kernel_rx_buf_size specified"],
            ),
        ],
        Ctx::TrackProcess => &[(
            "weight",
            &["No weight specified for track process {name} - ignoring"],
        )],
        Ctx::TrackFile => &[
            ("file", &["track file file name missing"]),
            (
                "weight",
                &["No weight specified for track file {name} - ignoring"],
            ),
        ],
        Ctx::Ssl => &[
            ("password", &["SSL password missing"]),
            ("ca", &["SSL cafile missing"]),
            ("certificate", &["SSL certfile missing"]),
            ("key", &["SSL keyfile missing"]),
        ],
        Ctx::VirtualServer => &[
            ("virtualhost", &["virtual server virtualhost missing"]),
            (
                "snmp_name",
                &["virtual server snmp_name missing or extra parameters"],
            ),
        ],
        Ctx::RealServer => &[
            ("virtualhost", &["real server virtualhost missing"]),
            (
                "snmp_name",
                &["real server snmp_name missing or extra parameters"],
            ),
        ],
        Ctx::SmtpCheck => &[("helo_name", &["SMTP_CHECK helo name missing"])],
        Ctx::UdpCheck => &[("payload", &["UDP_CHECK payload requires a payload"])],
        Ctx::FileCheck => &[("weight", &["track file weight missing"])],
        _ => &[],
    };
    list.iter().find(|(k, _)| *k == name).map(|(_, m)| *m)
}
