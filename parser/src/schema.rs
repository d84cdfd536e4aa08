//! The keyword tables: for every block context, which keywords keepalived
//! installs there, whether each opens a sub-block, a value block (one entry
//! per line) or takes its arguments on the line, its tier in
//! keepalived-reference.md, and how far we support it.
//!
//! This table is the single source of truth for the keyword status document
//! (`parser/KEYWORDS.md`, regenerated and checked by a test).

use crate::diag::Scope;
use serde::Serialize;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Ctx {
    Root,
    GlobalDefs,
    TrackGroup,
    SyncGroup,
    GarpGroup,
    Instance,
    Authentication,
    AuthHmac,
    VrrpScript,
    TrackProcess,
    TrackFile,
    Ssl,
    VirtualServer,
    RealServer,
    TcpCheck,
    HttpGet,
    Url,
    MiscCheck,
    SmtpCheck,
    SmtpHost,
    DnsCheck,
    PingCheck,
    UdpCheck,
    FileCheck,
    BfdCheck,
    BfdInstance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// Arguments on the keyword's own line.
    Leaf,
    /// `{ entry \n entry ... }`: every inner line is one entry.
    Values,
    /// A `{ }` block with its own keywords.
    Block(Ctx),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Tier {
    Core,
    Common,
    Advanced,
}

/// Ordered from least to most supported: a status may only move up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Status {
    /// Accepted and kept verbatim in the model with a "not supported yet" note.
    Accepted,
    /// Parsed and validated into typed fields of the model.
    Typed,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Kw {
    pub name: &'static str,
    pub kind: Kind,
    pub tier: Tier,
    pub status: Status,
}

use Kind::{Block, Leaf, Values};
use Status::{Accepted as A, Typed as T};
use Tier::{Advanced as Adv, Common as Com, Core};

const fn k(name: &'static str, kind: Kind, tier: Tier, status: Status) -> Kw {
    Kw {
        name,
        kind,
        tier,
        status,
    }
}

/// Keywords that keepalived 2.2.7 does not know (added up to 2.4.x). We
/// accept them; keepalived 2.2.7 reports "Unknown keyword".
pub const SINCE_227: &[&str] = &[
    "active_key",
    "anti_replay",
    "auth_hmac",
    "dbus_no_interface_name",
    "iproute_etc_dir",
    "iproute_usr_dir",
    "json_dump_file",
    "json_version",
    "mode",
    "multihop",
    "no_virtual_ipaddress",
    "owner_ignore_adverts",
    "set_supplementary_groups",
    "sni_name",
    "snmp_rs_stats_update_interval",
    "snmp_vs_stats_update_interval",
    "state_dump_file",
    "stats_dump_file",
    "thread_timer_expired",
    "time_window",
    "timer_expired_backup",
    "tls_compliant",
    "use_symlink_paths",
    "v3_checksum_as_v2",
    "vrrp_delay_after_boot",
    "vrrp_owner_ignore_adverts",
];

const ROOT: &[Kw] = &[
    k("global_defs", Block(Ctx::GlobalDefs), Core, T),
    k("vrrp_instance", Block(Ctx::Instance), Core, T),
    k("vrrp_script", Block(Ctx::VrrpScript), Core, T),
    k("virtual_server", Block(Ctx::VirtualServer), Core, T),
    k("vrrp_sync_group", Block(Ctx::SyncGroup), Com, T),
    k("virtual_server_group", Values, Com, T),
    k("static_ipaddress", Values, Adv, T),
    k("static_routes", Values, Adv, T),
    k("static_rules", Values, Adv, T),
    k("track_group", Block(Ctx::TrackGroup), Adv, T),
    k("garp_group", Block(Ctx::GarpGroup), Adv, T),
    k("linkbeat_interfaces", Values, Adv, T),
    k("interface_up_down_delays", Values, Adv, T),
    k("vrrp_track_process", Block(Ctx::TrackProcess), Adv, T),
    k("track_file", Block(Ctx::TrackFile), Adv, T),
    k("vrrp_track_file", Block(Ctx::TrackFile), Adv, T),
    k("SSL", Block(Ctx::Ssl), Adv, T),
    k("bfd_instance", Block(Ctx::BfdInstance), Adv, A),
    k("net_namespace", Leaf, Adv, T),
    k("net_namespace_ipvs", Leaf, Adv, T),
    k("namespace_with_ipsets", Leaf, Adv, T),
    k("use_pid_dir", Leaf, Adv, T),
    k("instance", Leaf, Adv, T),
    k("child_wait_time", Leaf, Adv, T),
    k("linkbeat_use_polling", Leaf, Adv, T),
];

/// The scope of a root-level keyword's block or line: which of
/// keepalived's processes have it active (global_parser.c, vrrp_parser.c,
/// check_parser.c, track_file.c). `bfd_instance` is logged by the parent:
/// there is no BFD process here to log it.
pub fn root_scope(name: &str) -> Scope {
    match name {
        "vrrp_instance"
        | "vrrp_script"
        | "vrrp_sync_group"
        | "static_ipaddress"
        | "static_routes"
        | "static_rules"
        | "track_group"
        | "garp_group"
        | "linkbeat_interfaces"
        | "interface_up_down_delays"
        | "vrrp_track_process" => Scope::Vrrp,
        "virtual_server" | "virtual_server_group" | "SSL" => Scope::Check,
        "track_file" | "vrrp_track_file" => Scope::Children,
        _ => Scope::Global,
    }
}

const GLOBAL_DEFS: &[Kw] = &[
    k("router_id", Leaf, Core, T),
    k("notification_email", Values, Core, T),
    k("notification_email_from", Leaf, Core, T),
    k("smtp_server", Leaf, Core, T),
    k("smtp_connect_timeout", Leaf, Core, T),
    k("smtp_helo_name", Leaf, Adv, T),
    k("smtp_alert", Leaf, Com, T),
    k("smtp_alert_vrrp", Leaf, Adv, T),
    k("smtp_alert_checker", Leaf, Adv, T),
    k("no_email_faults", Leaf, Adv, T),
    k("no_checker_emails", Leaf, Adv, T),
    k("checker_log_all_failures", Leaf, Adv, T),
    k("rs_init_notifies", Leaf, Adv, T),
    k("enable_script_security", Leaf, Com, T),
    k("script_user", Leaf, Com, T),
    k("set_supplementary_groups", Leaf, Adv, T),
    k("use_symlink_paths", Leaf, Adv, T),
    k("startup_script", Leaf, Adv, T),
    k("startup_script_timeout", Leaf, Adv, T),
    k("shutdown_script", Leaf, Adv, T),
    k("shutdown_script_timeout", Leaf, Adv, T),
    k("process_names", Leaf, Adv, T),
    k("process_name", Leaf, Adv, T),
    k("vrrp_process_name", Leaf, Adv, T),
    k("checker_process_name", Leaf, Adv, T),
    k("bfd_process_name", Leaf, Adv, A),
    k("lvs_process_name", Leaf, Adv, T),
    k("default_interface", Leaf, Adv, T),
    k("dynamic_interfaces", Leaf, Adv, A),
    k("vrrp_mcast_group4", Leaf, Adv, T),
    k("vrrp_mcast_group6", Leaf, Adv, T),
    k("vrrp_version", Leaf, Com, T),
    k("vrrp_strict", Leaf, Com, T),
    k("vrrp_skip_check_adv_addr", Leaf, Com, T),
    k("vrrp_check_unicast_src", Leaf, Adv, T),
    k("vrrp_garp_interval", Leaf, Com, T),
    k("vrrp_gna_interval", Leaf, Com, T),
    k("vrrp_garp_master_delay", Leaf, Adv, T),
    k("vrrp_garp_master_repeat", Leaf, Adv, T),
    k("vrrp_garp_master_refresh", Leaf, Adv, T),
    k("vrrp_garp_master_refresh_repeat", Leaf, Adv, T),
    k("vrrp_garp_lower_prio_delay", Leaf, Adv, T),
    k("vrrp_garp_lower_prio_repeat", Leaf, Adv, T),
    k("vrrp_min_garp", Leaf, Adv, T),
    k("vrrp_garp_extra_if", Leaf, Adv, T),
    k("vrrp_vmac_garp_intvl", Leaf, Adv, T),
    k("vrrp_down_timer_adverts", Leaf, Adv, T),
    k("vrrp_lower_prio_no_advert", Leaf, Adv, T),
    k("vrrp_higher_prio_send_advert", Leaf, Adv, T),
    k("vrrp_owner_ignore_adverts", Leaf, Adv, T),
    k("v3_checksum_as_v2", Leaf, Adv, T),
    k("vrrp_iptables", Leaf, Adv, T),
    k("vrrp_ipsets", Leaf, Adv, A),
    k("nftables", Leaf, Adv, T),
    k("nftables_priority", Leaf, Adv, T),
    k("nftables_ifindex", Leaf, Adv, T),
    k("nftables_counters", Leaf, Adv, T),
    k("nftables_ipvs", Leaf, Adv, A),
    k("nftables_ipvs_priority", Leaf, Adv, A),
    k("nftables_ipvs_start_fwmark", Leaf, Adv, A),
    k("disable_local_igmp", Leaf, Adv, T),
    k("lvs_sync_daemon", Leaf, Adv, T),
    k("lvs_timeouts", Leaf, Adv, T),
    k("lvs_flush", Leaf, Com, T),
    k("lvs_flush_on_stop", Leaf, Adv, T),
    k("lvs_flush_onstop", Leaf, Adv, T),
    k("notify_fifo", Leaf, Adv, T),
    k("notify_fifo_script", Leaf, Adv, T),
    k("vrrp_notify_fifo", Leaf, Adv, T),
    k("vrrp_notify_fifo_script", Leaf, Adv, T),
    k("lvs_notify_fifo", Leaf, Adv, T),
    k("lvs_notify_fifo_script", Leaf, Adv, T),
    k("vrrp_notify_priority_changes", Leaf, Adv, T),
    k("fifo_write_vrrp_states_on_reload", Leaf, Adv, T),
    k("max_auto_priority", Leaf, Adv, T),
    k("min_auto_priority_delay", Leaf, Adv, T),
    k("vrrp_priority", Leaf, Adv, T),
    k("checker_priority", Leaf, Adv, T),
    k("bfd_priority", Leaf, Adv, A),
    k("vrrp_no_swap", Leaf, Adv, T),
    k("checker_no_swap", Leaf, Adv, T),
    k("bfd_no_swap", Leaf, Adv, A),
    k("vrrp_rt_priority", Leaf, Adv, T),
    k("checker_rt_priority", Leaf, Adv, T),
    k("bfd_rt_priority", Leaf, Adv, A),
    k("vrrp_cpu_affinity", Leaf, Adv, T),
    k("checker_cpu_affinity", Leaf, Adv, T),
    k("bfd_cpu_affinity", Leaf, Adv, A),
    k("vrrp_rlimit_rttime", Leaf, Adv, T),
    k("checker_rlimit_rttime", Leaf, Adv, T),
    k("bfd_rlimit_rttime", Leaf, Adv, A),
    k("vrrp_rlimit_rtime", Leaf, Adv, T),
    k("checker_rlimit_rtime", Leaf, Adv, T),
    k("bfd_rlimit_rtime", Leaf, Adv, A),
    k("snmp_socket", Leaf, Adv, A),
    k("enable_traps", Leaf, Adv, A),
    k("enable_snmp_vrrp", Leaf, Adv, A),
    k("enable_snmp_keepalived", Leaf, Adv, A),
    k("enable_snmp_checker", Leaf, Adv, A),
    k("enable_snmp_rfc", Leaf, Adv, A),
    k("enable_snmp_rfcv2", Leaf, Adv, A),
    k("enable_snmp_rfcv3", Leaf, Adv, A),
    k("snmp_vs_stats_update_interval", Leaf, Adv, A),
    k("snmp_rs_stats_update_interval", Leaf, Adv, A),
    k("enable_dbus", Leaf, Adv, A),
    k("dbus_service_name", Leaf, Adv, A),
    k("dbus_no_interface_name", Leaf, Adv, A),
    k("vrrp_netlink_cmd_rcv_bufs", Leaf, Adv, A),
    k("vrrp_netlink_cmd_rcv_bufs_force", Leaf, Adv, A),
    k("vrrp_netlink_monitor_rcv_bufs", Leaf, Adv, A),
    k("vrrp_netlink_monitor_rcv_bufs_force", Leaf, Adv, A),
    k("process_monitor_rcv_bufs", Leaf, Adv, A),
    k("process_monitor_rcv_bufs_force", Leaf, Adv, A),
    k("lvs_netlink_cmd_rcv_bufs", Leaf, Adv, A),
    k("lvs_netlink_cmd_rcv_bufs_force", Leaf, Adv, A),
    k("lvs_netlink_monitor_rcv_bufs", Leaf, Adv, A),
    k("lvs_netlink_monitor_rcv_bufs_force", Leaf, Adv, A),
    k("vrrp_rx_bufs_policy", Leaf, Adv, A),
    k("vrrp_rx_bufs_multiplier", Leaf, Adv, A),
    k("vrrp_startup_delay", Leaf, Adv, T),
    k("vrrp_delay_after_boot", Leaf, Adv, T),
    k("log_unknown_vrids", Leaf, Adv, T),
    k("vmac_prefix", Leaf, Adv, A),
    k("vmac_addr_prefix", Leaf, Adv, A),
    k("umask", Leaf, Adv, A),
    k("random_seed", Leaf, Adv, T),
    k("reload_check_config", Leaf, Adv, T),
    k("reload_time_file", Leaf, Adv, T),
    k("reload_repeat", Leaf, Adv, T),
    k("reload_file", Leaf, Adv, T),
    k("include_check", Leaf, Adv, T),
    k("config_save_dir", Leaf, Adv, A),
    k("tmp_config_directory", Leaf, Adv, A),
    k("data_use_instance", Leaf, Adv, A),
    k("state_dump_file", Leaf, Adv, A),
    k("stats_dump_file", Leaf, Adv, A),
    k("json_dump_file", Leaf, Adv, A),
    k("json_version", Leaf, Adv, A),
    k("iproute_usr_dir", Leaf, Adv, A),
    k("iproute_etc_dir", Leaf, Adv, A),
];

const TRACK_GROUP: &[Kw] = &[k("group", Values, Adv, T)];

const SYNC_GROUP: &[Kw] = &[
    k("group", Values, Com, T),
    k("notify_master", Leaf, Com, T),
    k("notify_backup", Leaf, Com, T),
    k("notify_fault", Leaf, Com, T),
    k("notify_stop", Leaf, Com, T),
    k("notify", Leaf, Com, T),
    k("smtp_alert", Leaf, Adv, T),
    k("notify_priority_changes", Leaf, Adv, T),
    k("track_interface", Values, Adv, T),
    k("track_script", Values, Adv, T),
    k("track_file", Values, Adv, T),
    k("track_process", Values, Adv, T),
    k("track_bfd", Values, Adv, T),
    k("sync_group_tracking_weight", Leaf, Adv, T),
    k("global_tracking", Leaf, Adv, T),
];

const GARP_GROUP: &[Kw] = &[
    k("garp_interval", Leaf, Adv, A),
    k("gna_interval", Leaf, Adv, A),
    k("interface", Leaf, Adv, A),
    k("interfaces", Values, Adv, A),
];

const INSTANCE: &[Kw] = &[
    k("state", Leaf, Core, T),
    k("interface", Leaf, Core, T),
    k("virtual_router_id", Leaf, Core, T),
    k("priority", Leaf, Core, T),
    k("advert_int", Leaf, Core, T),
    k("authentication", Block(Ctx::Authentication), Core, T),
    k("virtual_ipaddress", Values, Core, T),
    k("track_script", Values, Core, T),
    k("virtual_ipaddress_excluded", Values, Com, T),
    k("no_virtual_ipaddress", Leaf, Adv, T),
    k("nopreempt", Leaf, Com, T),
    k("preempt", Leaf, Adv, T),
    k("preempt_delay", Leaf, Com, T),
    k("track_interface", Values, Com, T),
    k("track_file", Values, Adv, T),
    k("track_process", Values, Adv, T),
    k("track_bfd", Values, Adv, T),
    k("dont_track_primary", Leaf, Adv, T),
    k("notify_master", Leaf, Com, T),
    k("notify_backup", Leaf, Com, T),
    k("notify_fault", Leaf, Com, T),
    k("notify_stop", Leaf, Com, T),
    k("notify", Leaf, Com, T),
    k("notify_deleted", Leaf, Adv, T),
    k("notify_master_rx_lower_pri", Leaf, Adv, T),
    k("notify_priority_changes", Leaf, Adv, T),
    k("smtp_alert", Leaf, Com, T),
    k("unicast_peer", Values, Com, T),
    k("unicast_src_ip", Leaf, Com, T),
    k("mcast_src_ip", Leaf, Com, T),
    k("mcast_dst_ip", Leaf, Adv, T),
    k("unicast_ttl", Leaf, Adv, T),
    k("unicast_fault_no_peer", Leaf, Adv, T),
    k("check_unicast_src", Leaf, Adv, T),
    k("old_unicast_checksum", Leaf, Adv, A),
    k("track_src_ip", Leaf, Adv, T),
    k("version", Leaf, Com, T),
    k("native_ipv6", Leaf, Adv, T),
    k("v3_checksum_as_v2", Leaf, Adv, T),
    k("accept", Leaf, Adv, T),
    k("no_accept", Leaf, Adv, T),
    k("strict_mode", Leaf, Adv, T),
    k("skip_check_adv_addr", Leaf, Adv, T),
    k("virtual_routes", Values, Com, T),
    k("virtual_rules", Values, Adv, T),
    k("use_vmac", Leaf, Com, T),
    k("use_vmac_addr", Leaf, Adv, T),
    k("vmac_xmit_base", Leaf, Adv, T),
    k("use_ipvlan", Leaf, Adv, A),
    k("vrf", Leaf, Adv, A),
    k("promote_secondaries", Leaf, Adv, T),
    k("garp_master_delay", Leaf, Com, T),
    k("garp_master_repeat", Leaf, Com, T),
    k("garp_master_refresh", Leaf, Com, T),
    k("garp_master_refresh_repeat", Leaf, Com, T),
    k("garp_lower_prio_delay", Leaf, Com, T),
    k("garp_lower_prio_repeat", Leaf, Com, T),
    k("garp_extra_if", Leaf, Adv, T),
    k("vmac_garp_intvl", Leaf, Adv, T),
    k("down_timer_adverts", Leaf, Adv, T),
    k("lower_prio_no_advert", Leaf, Adv, T),
    k("higher_prio_send_advert", Leaf, Adv, T),
    k("owner_ignore_adverts", Leaf, Adv, T),
    k("timer_expired_backup", Leaf, Adv, A),
    k("thread_timer_expired", Leaf, Adv, A),
    k("kernel_rx_buf_size", Leaf, Adv, A),
    k("debug", Leaf, Adv, T),
    k("linkbeat_use_polling", Leaf, Adv, T),
    k("lvs_sync_daemon_interface", Leaf, Adv, T),
    k("auth_hmac", Block(Ctx::AuthHmac), Adv, A),
];

const AUTHENTICATION: &[Kw] = &[k("auth_type", Leaf, Core, T), k("auth_pass", Leaf, Core, T)];

const AUTH_HMAC: &[Kw] = &[
    k("key", Leaf, Adv, A),
    k("active_key", Leaf, Adv, A),
    k("time_window", Leaf, Adv, A),
    k("anti_replay", Leaf, Adv, A),
    k("mode", Leaf, Adv, A),
];

const VRRP_SCRIPT: &[Kw] = &[
    k("script", Leaf, Core, T),
    k("interval", Leaf, Core, T),
    k("weight", Leaf, Core, T),
    k("rise", Leaf, Core, T),
    k("fall", Leaf, Core, T),
    k("timeout", Leaf, Com, T),
    k("user", Leaf, Com, T),
    k("init_fail", Leaf, Adv, T),
];

const TRACK_PROCESS: &[Kw] = &[
    k("process", Leaf, Adv, T),
    k("param_match", Leaf, Adv, A),
    k("weight", Leaf, Adv, T),
    k("quorum", Leaf, Adv, T),
    k("quorum_max", Leaf, Adv, T),
    k("delay", Leaf, Adv, A),
    k("terminate_delay", Leaf, Adv, A),
    k("fork_delay", Leaf, Adv, A),
    k("full_command", Leaf, Adv, A),
];

const TRACK_FILE: &[Kw] = &[
    k("file", Leaf, Adv, T),
    k("weight", Leaf, Adv, T),
    k("init_file", Leaf, Adv, T),
];

const SSL: &[Kw] = &[
    k("password", Leaf, Adv, T),
    k("ca", Leaf, Adv, T),
    k("certificate", Leaf, Adv, T),
    k("key", Leaf, Adv, T),
];

const VIRTUAL_SERVER: &[Kw] = &[
    k("delay_loop", Leaf, Core, T),
    k("lb_algo", Leaf, Core, T),
    k("lvs_sched", Leaf, Core, T),
    k("lb_kind", Leaf, Core, T),
    k("lvs_method", Leaf, Core, T),
    k("persistence_timeout", Leaf, Core, T),
    k("protocol", Leaf, Core, T),
    k("real_server", Block(Ctx::RealServer), Core, T),
    k("persistence_granularity", Leaf, Adv, T),
    k("persistence_engine", Leaf, Adv, T),
    k("ops", Leaf, Adv, T),
    k("flag-1", Leaf, Adv, T),
    k("flag-2", Leaf, Adv, T),
    k("flag-3", Leaf, Adv, T),
    k("sh-port", Leaf, Adv, T),
    k("sh-fallback", Leaf, Adv, T),
    k("mh-port", Leaf, Adv, T),
    k("mh-fallback", Leaf, Adv, T),
    k("hashed", Leaf, Adv, T),
    k("ip_family", Leaf, Adv, T),
    k("sorry_server", Leaf, Com, T),
    k("sorry_server_inhibit", Leaf, Adv, T),
    k("sorry_server_lvs_method", Leaf, Adv, T),
    k("quorum", Leaf, Com, T),
    k("hysteresis", Leaf, Com, T),
    k("quorum_up", Leaf, Com, T),
    k("quorum_down", Leaf, Com, T),
    k("alpha", Leaf, Com, T),
    k("omega", Leaf, Com, T),
    k("inhibit_on_failure", Leaf, Com, T),
    k("ha_suspend", Leaf, Adv, T),
    k("virtualhost", Leaf, Com, T),
    k("smtp_alert", Leaf, Adv, T),
    k("snmp_name", Leaf, Adv, T),
    k("weight", Leaf, Adv, T),
    k("connect_timeout", Leaf, Com, T),
    k("retry", Leaf, Com, T),
    k("delay_before_retry", Leaf, Com, T),
    k("warmup", Leaf, Adv, T),
];

/// The checker keywords, valid inside `real_server`.
const CHECKERS: &[Kw] = &[
    k("TCP_CHECK", Block(Ctx::TcpCheck), Core, T),
    k("HTTP_GET", Block(Ctx::HttpGet), Core, T),
    k("MISC_CHECK", Block(Ctx::MiscCheck), Core, T),
    k("SSL_GET", Block(Ctx::HttpGet), Com, T),
    k("SMTP_CHECK", Block(Ctx::SmtpCheck), Com, T),
    k("PING_CHECK", Block(Ctx::PingCheck), Com, T),
    k("UDP_CHECK", Block(Ctx::UdpCheck), Com, T),
    k("DNS_CHECK", Block(Ctx::DnsCheck), Adv, T),
    k("FILE_CHECK", Block(Ctx::FileCheck), Adv, T),
    k("BFD_CHECK", Block(Ctx::BfdCheck), Adv, T),
];

const REAL_SERVER: &[Kw] = &[
    k("weight", Leaf, Core, T),
    k("lvs_method", Leaf, Adv, T),
    k("inhibit_on_failure", Leaf, Com, T),
    k("notify_up", Leaf, Com, T),
    k("notify_down", Leaf, Com, T),
    k("uthreshold", Leaf, Adv, T),
    k("lthreshold", Leaf, Adv, T),
    k("alpha", Leaf, Adv, T),
    k("smtp_alert", Leaf, Adv, T),
    k("virtualhost", Leaf, Adv, T),
    k("snmp_name", Leaf, Adv, T),
    k("retry", Leaf, Com, T),
    k("delay_before_retry", Leaf, Com, T),
    k("warmup", Leaf, Com, T),
    k("connect_timeout", Leaf, Com, T),
    k("delay_loop", Leaf, Com, T),
];

/// Options shared by the network checkers (check_api.c).
const CHECKER_COMMON: &[Kw] = &[
    k("connect_ip", Leaf, Com, T),
    k("connect_port", Leaf, Core, T),
    k("bindto", Leaf, Adv, T),
    k("bind_port", Leaf, Adv, T),
    k("bind_if", Leaf, Adv, T),
    k("connect_timeout", Leaf, Core, T),
    k("fwmark", Leaf, Adv, T),
    k("retry", Leaf, Core, T),
    k("delay_before_retry", Leaf, Core, T),
    k("warmup", Leaf, Adv, T),
    k("delay_loop", Leaf, Com, T),
    k("alpha", Leaf, Adv, T),
    k("log_all_failures", Leaf, Adv, T),
];

/// MISC_CHECK takes only the timing subset of the common options.
const MISC_COMMON: &[Kw] = CHECKER_COMMON.split_at(7).1;

const HTTP_GET: &[Kw] = &[
    k("url", Block(Ctx::Url), Core, T),
    k("nb_get_retry", Leaf, Com, T),
    k("virtualhost", Leaf, Com, T),
    k("http_protocol", Leaf, Adv, T),
    k("enable_sni", Leaf, Adv, T),
    k("sni_name", Leaf, Adv, T),
    k("fast_recovery", Leaf, Adv, T),
    k("tls_compliant", Leaf, Adv, T),
];

const URL: &[Kw] = &[
    k("path", Leaf, Core, T),
    k("digest", Leaf, Core, T),
    k("status_code", Leaf, Com, T),
    k("virtualhost", Leaf, Adv, T),
    k("regex", Leaf, Adv, T),
    k("regex_no_match", Leaf, Adv, T),
    k("regex_options", Leaf, Adv, T),
    k("regex_min_offset", Leaf, Adv, T),
    k("regex_max_offset", Leaf, Adv, T),
    k("regex_stack", Leaf, Adv, T),
    k("tls_compliant", Leaf, Adv, T),
];

const MISC_CHECK: &[Kw] = &[
    k("misc_path", Leaf, Core, T),
    k("misc_timeout", Leaf, Com, T),
    k("misc_dynamic", Leaf, Com, T),
    k("user", Leaf, Adv, T),
];

const SMTP_CHECK: &[Kw] = &[
    k("helo_name", Leaf, Com, T),
    k("host", Block(Ctx::SmtpHost), Com, T),
];

const DNS_CHECK: &[Kw] = &[k("type", Leaf, Adv, T), k("name", Leaf, Adv, T)];

const UDP_CHECK: &[Kw] = &[
    k("payload", Leaf, Adv, T),
    k("require_reply", Leaf, Adv, T),
    k("min_reply_length", Leaf, Adv, T),
    k("max_reply_length", Leaf, Adv, T),
];

const FILE_CHECK: &[Kw] = &[k("track_file", Leaf, Adv, T), k("weight", Leaf, Adv, T)];

const BFD_CHECK: &[Kw] = &[k("name", Leaf, Adv, T), k("alpha", Leaf, Adv, T)];

const BFD_INSTANCE: &[Kw] = &[
    k("source_ip", Leaf, Adv, A),
    k("neighbor_ip", Leaf, Adv, A),
    k("neighbour_ip", Leaf, Adv, A),
    k("min_rx", Leaf, Adv, A),
    k("min_tx", Leaf, Adv, A),
    k("idle_tx", Leaf, Adv, A),
    k("multiplier", Leaf, Adv, A),
    k("passive", Leaf, Adv, A),
    k("ttl", Leaf, Adv, A),
    k("hoplimit", Leaf, Adv, A),
    k("max_hops", Leaf, Adv, A),
    k("multihop", Leaf, Adv, A),
    k("weight", Leaf, Adv, A),
    k("vrrp", Leaf, Adv, A),
    k("checker", Leaf, Adv, A),
];

/// The keyword tables of a context, in lookup order. A context can be the
/// union of several tables (a checker's own keywords plus the common ones).
pub fn tables(ctx: Ctx) -> &'static [&'static [Kw]] {
    match ctx {
        Ctx::Root => &[ROOT],
        Ctx::GlobalDefs => &[GLOBAL_DEFS],
        Ctx::TrackGroup => &[TRACK_GROUP],
        Ctx::SyncGroup => &[SYNC_GROUP],
        Ctx::GarpGroup => &[GARP_GROUP],
        Ctx::Instance => &[INSTANCE],
        Ctx::Authentication => &[AUTHENTICATION],
        Ctx::AuthHmac => &[AUTH_HMAC],
        Ctx::VrrpScript => &[VRRP_SCRIPT],
        Ctx::TrackProcess => &[TRACK_PROCESS],
        Ctx::TrackFile => &[TRACK_FILE],
        Ctx::Ssl => &[SSL],
        Ctx::VirtualServer => &[VIRTUAL_SERVER],
        Ctx::RealServer => &[REAL_SERVER, CHECKERS],
        Ctx::TcpCheck | Ctx::PingCheck | Ctx::SmtpHost => &[CHECKER_COMMON],
        Ctx::HttpGet => &[CHECKER_COMMON, HTTP_GET],
        Ctx::Url => &[URL],
        Ctx::MiscCheck => &[MISC_CHECK, MISC_COMMON],
        Ctx::SmtpCheck => &[SMTP_CHECK, CHECKER_COMMON],
        Ctx::DnsCheck => &[CHECKER_COMMON, DNS_CHECK],
        Ctx::UdpCheck => &[CHECKER_COMMON, UDP_CHECK],
        Ctx::FileCheck => &[FILE_CHECK],
        Ctx::BfdCheck => &[BFD_CHECK],
        Ctx::BfdInstance => &[BFD_INSTANCE],
    }
}

/// The keyword `name` in `ctx` (the first one in lookup order).
pub fn lookup(ctx: Ctx, name: &str) -> Option<&'static Kw> {
    // Every line of the configuration is looked up: an open-addressing
    // index hashed on the length and the first and last 8 bytes, instead
    // of a walk through up to 80 names.
    static INDEX: OnceLock<Vec<KwIndex>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut v: Vec<KwIndex> = Vec::new();
        for ctx in ALL_CTX {
            let i = *ctx as usize;
            if v.len() <= i {
                v.resize_with(i + 1, KwIndex::default);
            }
            v[i] = KwIndex::new(tables(*ctx).iter().flat_map(|t| t.iter()));
        }
        v
    });
    match index.get(ctx as usize) {
        Some(ix) if !ix.slots.is_empty() => ix.get(name),
        // A context missing from ALL_CTX (the keyword tests catch that).
        _ => tables(ctx)
            .iter()
            .flat_map(|t| t.iter())
            .find(|k| k.name == name),
    }
}

#[derive(Default)]
struct KwIndex {
    /// Power-of-two sized, at most half full.
    slots: Vec<Option<(KwKey, &'static Kw)>>,
}

impl KwIndex {
    /// Indexes `kws`; the first of several with the same name wins.
    fn new<'a>(kws: impl Iterator<Item = &'static Kw> + 'a) -> KwIndex {
        let kws: Vec<&'static Kw> = kws.collect();
        let size = (kws.len() * 2).next_power_of_two().max(8);
        let mut ix = KwIndex {
            slots: vec![None; size],
        };
        for kw in kws {
            if ix.get(kw.name).is_some() {
                continue;
            }
            let key = KwKey::of(kw.name);
            let mask = ix.slots.len() - 1;
            let mut i = key.hash() & mask;
            while ix.slots[i].is_some() {
                i = (i + 1) & mask;
            }
            ix.slots[i] = Some((key, kw));
        }
        ix
    }

    fn get(&self, name: &str) -> Option<&'static Kw> {
        let key = KwKey::of(name);
        let mask = self.slots.len() - 1;
        let mut i = key.hash() & mask;
        loop {
            match self.slots[i] {
                // Equal keys are equal names up to 16 bytes.
                Some((k, kw)) if k == key && (name.len() <= 16 || kw.name == name) => {
                    return Some(kw);
                }
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }
}

/// A name's length and its first and last 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KwKey {
    len: usize,
    head: u64,
    tail: u64,
}

impl KwKey {
    fn of(name: &str) -> KwKey {
        let b = name.as_bytes();
        let n = b.len();
        let word = |s: &[u8]| match <[u8; 8]>::try_from(s) {
            Ok(w) => u64::from_le_bytes(w),
            Err(_) => s
                .iter()
                .enumerate()
                .fold(0, |w, (i, c)| w | u64::from(*c) << (8 * i)),
        };
        KwKey {
            len: n,
            head: word(&b[..n.min(8)]),
            tail: word(&b[n.saturating_sub(8)..]),
        }
    }

    fn hash(self) -> usize {
        let h = (self.head ^ self.tail.rotate_left(29) ^ self.len as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 40) as usize
    }
}

pub const ALL_CTX: &[Ctx] = &[
    Ctx::Root,
    Ctx::GlobalDefs,
    Ctx::TrackGroup,
    Ctx::SyncGroup,
    Ctx::GarpGroup,
    Ctx::Instance,
    Ctx::Authentication,
    Ctx::AuthHmac,
    Ctx::VrrpScript,
    Ctx::TrackProcess,
    Ctx::TrackFile,
    Ctx::Ssl,
    Ctx::VirtualServer,
    Ctx::RealServer,
    Ctx::TcpCheck,
    Ctx::HttpGet,
    Ctx::Url,
    Ctx::MiscCheck,
    Ctx::SmtpCheck,
    Ctx::SmtpHost,
    Ctx::DnsCheck,
    Ctx::PingCheck,
    Ctx::UdpCheck,
    Ctx::FileCheck,
    Ctx::BfdCheck,
    Ctx::BfdInstance,
];

/// The keyword status document: one row per (context, keyword).
pub fn keyword_table_markdown() -> String {
    let mut out = String::from(
        "# keepalived.conf keywords and their status in keepalived-rs\n\n\
         Generated from `parser/src/schema.rs` by `cargo test -p keepalived-parser` \
         (test `keyword_table_is_current`). A status may only move up: \
         `Accepted` (kept verbatim in the model with a \"not supported yet\" note) < \
         `Typed` (parsed and validated into the typed model). Keywords marked \
         *since 2.3+* are not known to keepalived 2.2.7.\n\n\
         | Context | Keyword | Kind | Tier | Status |\n|---|---|---|---|---|\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for ctx in ALL_CTX {
        for t in tables(*ctx) {
            for kw in t.iter() {
                let shared_common =
                    std::ptr::eq(*t, CHECKER_COMMON) || std::ptr::eq(*t, MISC_COMMON);
                let ctx_name = if shared_common {
                    "checker (common)".to_string()
                } else {
                    format!("{ctx:?}")
                };
                if !seen.insert((ctx_name.clone(), kw.name)) {
                    continue;
                }
                let kind = match kw.kind {
                    Kind::Leaf => "value".to_string(),
                    Kind::Values => "list block".to_string(),
                    Kind::Block(c) => format!("block ({c:?})"),
                };
                let since = if SINCE_227.contains(&kw.name) {
                    " *since 2.3+*"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "| {ctx_name} | `{}`{since} | {kind} | {:?} | {:?} |\n",
                    kw.name, kw.tier, kw.status
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash index finds what a walk through the tables finds.
    #[test]
    fn index_matches_tables() {
        for ctx in ALL_CTX {
            let walk = |name: &str| {
                tables(*ctx)
                    .iter()
                    .flat_map(|t| t.iter())
                    .find(|k| k.name == name)
            };
            for kw in tables(*ctx).iter().flat_map(|t| t.iter()) {
                let (a, b) = (lookup(*ctx, kw.name), walk(kw.name));
                assert!(std::ptr::eq(a.unwrap(), b.unwrap()), "{ctx:?} {}", kw.name);
            }
            for name in ["", "x", "TCP_CHECKS", "real_serve", "}"] {
                assert_eq!(lookup(*ctx, name).is_some(), walk(name).is_some());
            }
        }
    }
}
