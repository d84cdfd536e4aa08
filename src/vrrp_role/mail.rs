//! Which VRRP transitions are mailed, as keepalived 2.2.7 decides it
//! (vrrp_notify.c `vrrp_smtp_notifier`, `vrrp_sync_smtp_notifier`; the
//! switches resolved in vrrp.c `vrrp_complete_instance` and
//! `vrrp_complete_init`): the object's `smtp_alert`, else the global
//! `smtp_alert_vrrp`, else `smtp_alert`, else off; never FAULT with
//! `no_email_faults`; never the state last mailed for that object (so a
//! state skipped as FAULT does not re-mail the state before it). Sans-IO:
//! it returns the alert, the caller sends it.

use std::sync::Arc;

use kaconf::model::{Config, GlobalDefs};

use crate::smtp::message::{About, vrrp_group_text, vrrp_instance_text};
use crate::smtp::{Alert, Mailer};

/// keepalived's default for a VRRP object's `smtp_alert`.
pub fn resolve(own: Option<bool>, g: &GlobalDefs) -> bool {
    own.or(g.smtp_alert_vrrp).or(g.smtp_alert).unwrap_or(false)
}

/// The mail settings of one configuration.
#[derive(Clone, Default)]
pub struct MailCfg {
    pub mailer: Option<Arc<Mailer>>,
    /// `smtp_alert` of each mapped instance, by instance number.
    pub inst: Vec<bool>,
    /// `smtp_alert` of each mapped sync group, by group number.
    pub group: Vec<bool>,
    pub no_email_faults: bool,
}

impl MailCfg {
    /// `inst` and `group` name the mapped instances and groups in the
    /// driver's numbering.
    pub fn new(
        config: &Config,
        mailer: Option<Arc<Mailer>>,
        inst: &[&str],
        group: &[&str],
    ) -> Self {
        let g = &config.global_defs;
        MailCfg {
            mailer,
            inst: inst
                .iter()
                .map(|n| {
                    let own = config.vrrp_instances.iter().find(|v| v.name == *n);
                    resolve(own.and_then(|v| v.smtp_alert), g)
                })
                .collect(),
            group: group
                .iter()
                .map(|n| {
                    let own = config.sync_groups.iter().find(|s| s.name == *n);
                    resolve(own.and_then(|s| s.smtp_alert), g)
                })
                .collect(),
            no_email_faults: g.no_email_faults,
        }
    }
}

/// The mail side of one running configuration: its settings and the
/// state last mailed for each object (keepalived's `last_email_state`,
/// which starts afresh with every configuration, as keepalived rebuilds
/// its objects at a reload).
pub struct Alerts {
    cfg: MailCfg,
    last_inst: Vec<Option<&'static str>>,
    last_group: Vec<Option<&'static str>>,
}

impl Alerts {
    pub fn new(cfg: MailCfg) -> Alerts {
        Alerts {
            last_inst: vec![None; cfg.inst.len()],
            last_group: vec![None; cfg.group.len()],
            cfg,
        }
    }

    pub fn mailer(&self) -> Option<&Arc<Mailer>> {
        self.cfg.mailer.as_ref()
    }

    /// Instance `i` (named `name`) entered `state` (keepalived's keyword:
    /// MASTER, BACKUP, FAULT, STOP, DELETED).
    pub fn instance(&mut self, i: usize, name: &str, state: &'static str) -> Option<Alert> {
        let on = self.cfg.inst.get(i).copied().unwrap_or(false);
        let last = self.last_inst.get_mut(i)?;
        let (what, body) = decide(
            on,
            self.cfg.no_email_faults,
            last,
            state,
            vrrp_instance_text,
        )?;
        let m = self.cfg.mailer.as_ref()?;
        Some(Alert::new(&m.router_id, About::Instance(name), what, body))
    }

    /// Sync group `g` (named `name`) entered `state`.
    pub fn group(&mut self, g: usize, name: &str, state: &'static str) -> Option<Alert> {
        let on = self.cfg.group.get(g).copied().unwrap_or(false);
        let last = self.last_group.get_mut(g)?;
        let (what, body) = decide(on, self.cfg.no_email_faults, last, state, vrrp_group_text)?;
        let m = self.cfg.mailer.as_ref()?;
        Some(Alert::new(&m.router_id, About::Group(name), what, body))
    }
}

fn decide(
    on: bool,
    no_email_faults: bool,
    last: &mut Option<&'static str>,
    state: &'static str,
    text: fn(&str) -> Option<(&'static str, &'static str)>,
) -> Option<(&'static str, &'static str)> {
    if !on || (no_email_faults && state == "FAULT") || *last == Some(state) {
        return None;
    }
    let t = text(state)?;
    *last = Some(state);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(text: &str) -> Config {
        kaconf::parse_str(text, &kaconf::Options::default()).config
    }

    fn mailer() -> Arc<Mailer> {
        Arc::new(Mailer {
            server: "127.0.0.1:25".parse().unwrap(),
            server_name: "[127.0.0.1]:25".into(),
            helo: "h".into(),
            from: "f@x".into(),
            to: vec!["t@x".into()],
            router_id: "R".into(),
            timeout: Duration::from_secs(1),
            log_detail: false,
        })
    }

    const INSTANCES: &str = "vrrp_sync_group G {\n group {\n A\n }\n SG_OPTS}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n A_OPTS}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.2\n }\n B_OPTS}\n";

    fn switches(global: &str, a: &str, b: &str, sg: &str) -> (Vec<bool>, Vec<bool>) {
        let text = format!("global_defs {{\n{global}}}\n")
            + &INSTANCES
                .replace("A_OPTS", a)
                .replace("B_OPTS", b)
                .replace("SG_OPTS", sg);
        let c = config(&text);
        let m = MailCfg::new(&c, None, &["A", "B"], &["G"]);
        (m.inst, m.group)
    }

    /// vrrp.c: own setting, else smtp_alert_vrrp, else smtp_alert, else off.
    #[test]
    fn switches_resolve_like_keepalived() {
        assert_eq!(switches("", "", "", ""), (vec![false, false], vec![false]));
        assert_eq!(
            switches(" smtp_alert\n", "", "", ""),
            (vec![true, true], vec![true])
        );
        assert_eq!(
            switches(
                " smtp_alert\n smtp_alert_vrrp off\n",
                "smtp_alert\n",
                "",
                ""
            ),
            (vec![true, false], vec![false])
        );
        assert_eq!(
            switches(" smtp_alert off\n", "", "smtp_alert on\n", "smtp_alert\n"),
            (vec![false, true], vec![true])
        );
        // smtp_alert_checker is not a VRRP switch.
        assert_eq!(
            switches(" smtp_alert_checker\n", "", "", ""),
            (vec![false, false], vec![false])
        );
    }

    fn alerts(no_email_faults: bool) -> Alerts {
        Alerts::new(MailCfg {
            mailer: Some(mailer()),
            inst: vec![true, false],
            group: vec![true],
            no_email_faults,
        })
    }

    #[test]
    fn each_state_once_and_only_when_switched_on() {
        let mut a = alerts(false);
        let m = a.instance(0, "A", "BACKUP").unwrap();
        assert_eq!(m.subject, "[R] VRRP Instance A - Entering BACKUP state");
        assert_eq!(a.instance(0, "A", "BACKUP"), None, "same state again");
        assert!(a.instance(0, "A", "MASTER").is_some());
        assert_eq!(a.instance(1, "B", "MASTER"), None, "switched off");
        assert_eq!(a.instance(7, "X", "MASTER"), None, "unknown instance");
        let g = a.group(0, "G", "FAULT").unwrap();
        assert_eq!(g.subject, "[R] VRRP Group G - Entering FAULT state");
        assert_eq!(
            g.body,
            "=> All VRRP group instances are now in FAULT state <="
        );
        assert_eq!(
            a.group(0, "G", "DELETED"),
            None,
            "groups have no DELETED mail"
        );
    }

    /// no_email_faults: FAULT is not mailed and not remembered, so coming
    /// back to the state mailed before it mails nothing either.
    #[test]
    fn no_email_faults_skips_fault_and_its_return() {
        let mut a = alerts(true);
        assert!(a.instance(0, "A", "BACKUP").is_some());
        assert_eq!(a.instance(0, "A", "FAULT"), None);
        assert_eq!(a.instance(0, "A", "BACKUP"), None);
        assert!(a.instance(0, "A", "MASTER").is_some());
    }

    #[test]
    fn nothing_without_a_mailer() {
        let mut a = Alerts::new(MailCfg {
            mailer: None,
            inst: vec![true],
            group: vec![],
            no_email_faults: false,
        });
        assert_eq!(a.instance(0, "A", "MASTER"), None);
    }
}
