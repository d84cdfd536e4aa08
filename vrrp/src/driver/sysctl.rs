//! Carries out [`crate::ifconf`] decisions: reads /proc/sys, writes
//! `all`/`default` there, and per-interface entries over rtnetlink.

use std::collections::HashMap;

use crate::ifconf::{Global, Op, Param, Read};

use super::netlink::{LinkInfo, Netlink};

/// /proc/sys/net/ipv4/conf as it is now.
pub struct ProcSys;

fn read_u32(path: &str) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Read for ProcSys {
    fn iface(&self, ifname: &str, p: Param) -> Option<u32> {
        read_u32(&format!("/proc/sys/net/ipv4/conf/{ifname}/{}", p.name()))
    }

    fn global(&self, scope: Global) -> Option<u32> {
        read_u32(&format!(
            "/proc/sys/net/ipv4/conf/{}/rp_filter",
            scope.name()
        ))
    }
}

/// `net.ipv6.conf.IF.disable_ipv6`: keepalived has no netlink way either.
pub fn set_disable_ipv6(ifname: &str, disable: bool) -> std::io::Result<()> {
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        if disable { "1" } else { "0" },
    )
}

/// Runs `ops` in order. Failures are logged and do not stop the rest: a
/// parameter that cannot be set must not keep VRRP from running.
pub async fn apply(nl: &Netlink, links: &HashMap<u32, LinkInfo>, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::Log(l) => tracing::info!("{l}"),
            Op::RpFilter { scope, value } => {
                let path = format!("/proc/sys/net/ipv4/conf/{}/rp_filter", scope.name());
                if let Err(e) = std::fs::write(&path, value.to_string()) {
                    tracing::warn!(
                        "Unable to set sysctl net.ipv4.conf.{}.rp_filter: {e}",
                        scope.name()
                    );
                }
            }
            Op::Dev {
                ifname,
                set,
                on_error,
            } => {
                let Some(l) = links.values().find(|l| l.name == ifname) else {
                    continue;
                };
                if let Err(e) = nl.set_inet_conf(l.index, &set).await {
                    tracing::debug!("setting {set:?} on {ifname}: {e}");
                    for line in on_error {
                        tracing::info!("{line}");
                    }
                }
            }
        }
    }
}
