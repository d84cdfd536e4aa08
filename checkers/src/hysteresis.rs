//! The retry and up/down decision of one checker, as keepalived makes it.
//! Pure: no clock, no I/O. The caller feeds probe outcomes and gets back
//! what to report and how long to wait before the next probe.
//!
//! keepalived's rules (check_tcp.c `tcp_epilog`, shared in spirit by every
//! checker):
//! - a checker starts "up" (non-alpha) or "down" (alpha), with its retry
//!   counter already exhausted, so the very first failure counts at once;
//! - a failure while up is retried `retry` times, `delay_before_retry`
//!   apart, before the checker is reported down;
//! - a success reports up if the checker was down or has never run;
//! - after a verdict (or a success) the next probe is `delay_loop` away.

use std::time::Duration;

/// Timing and retry parameters, already defaulted from RS/VS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryCfg {
    pub retry: u32,
    pub delay_loop: Duration,
    pub delay_before_retry: Duration,
}

/// What one probe outcome leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// `Some(up)` when keepalived would call `update_svr_checker_state`.
    pub report: Option<bool>,
    /// Failure verdict after this many retries (0: failed at once, which
    /// keepalived logs without the "after N retries" suffix).
    pub retries_done: u32,
    /// True when this failure only schedules a retry.
    pub retrying: bool,
    /// Wait before the next probe.
    pub next: Duration,
}

/// Per-checker decision state (keepalived's `is_up`, `has_run`, `retry_it`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    pub is_up: bool,
    pub has_run: bool,
    pub retry_it: u32,
}

impl Hysteresis {
    /// A fresh checker: alpha ones start down; either way the retries are
    /// spent, so one failure is enough initially (check_data.c).
    pub fn new(alpha: bool, cfg: &RetryCfg) -> Hysteresis {
        Hysteresis {
            is_up: !alpha,
            has_run: false,
            retry_it: cfg.retry,
        }
    }

    /// Carries state over a reload to a checker whose new parameters
    /// compare equal (ipwrapper.c `migrate_checkers`): a checker that was
    /// part-way through its retries needs at most one more failure.
    pub fn migrate(old: &Hysteresis, new_cfg: &RetryCfg) -> Hysteresis {
        let mut h = *old;
        if old.retry_it > 0 && new_cfg.retry > 0 && old.retry_it >= new_cfg.retry {
            h.retry_it = new_cfg.retry - 1;
        }
        h
    }

    /// Feeds one probe outcome.
    pub fn observe(&mut self, ok: bool, cfg: &RetryCfg) -> Step {
        let mut step = Step {
            report: None,
            retries_done: 0,
            retrying: false,
            next: cfg.delay_loop,
        };
        if ok || self.retry_it >= cfg.retry {
            self.retry_it = 0;
            if ok && (!self.is_up || !self.has_run) {
                step.report = Some(true);
                self.is_up = true;
            } else if !ok && (self.is_up || !self.has_run) {
                step.report = Some(false);
                if cfg.retry > 0 && self.has_run {
                    step.retries_done = cfg.retry;
                }
                self.is_up = false;
            }
        } else {
            step.next = cfg.delay_before_retry;
            step.retrying = true;
            self.retry_it += 1;
        }
        self.has_run = true;
        step
    }

    /// keepalived's condition for logging a failure line at all: the
    /// checker is (or may be) up.
    pub fn failure_matters(&self) -> bool {
        self.is_up || !self.has_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn cfg(retry: u32) -> RetryCfg {
        RetryCfg {
            retry,
            delay_loop: 6 * S,
            delay_before_retry: 2 * S,
        }
    }

    /// Input: non-alpha checker, retry 3. First failure is immediate down.
    #[test]
    fn first_failure_downs_at_once() {
        let c = cfg(3);
        let mut h = Hysteresis::new(false, &c);
        let s = h.observe(false, &c);
        assert_eq!(s.report, Some(false));
        assert_eq!(s.retries_done, 0);
        assert_eq!(s.next, 6 * S);
        assert!(!h.is_up);
    }

    /// Input: up checker, retry 2: fail, fail, fail.
    /// Output: two retries at delay_before_retry, then down "after 2 retries".
    #[test]
    fn retries_before_down() {
        let c = cfg(2);
        let mut h = Hysteresis::new(false, &c);
        assert_eq!(h.observe(true, &c).report, Some(true)); // first success confirms
        assert_eq!(h.observe(true, &c).report, None);
        let s1 = h.observe(false, &c);
        assert!(s1.retrying && s1.report.is_none() && s1.next == 2 * S);
        let s2 = h.observe(false, &c);
        assert!(s2.retrying && s2.report.is_none());
        let s3 = h.observe(false, &c);
        assert_eq!(s3.report, Some(false));
        assert_eq!(s3.retries_done, 2);
        assert_eq!(s3.next, 6 * S);
        // down stays down quietly (keepalived still paces it by
        // delay_before_retry, retry times, then delay_loop)
        let s4 = h.observe(false, &c);
        assert_eq!(s4.report, None);
        assert!(s4.retrying);
        assert_eq!(h.observe(true, &c).report, Some(true));
    }

    #[test]
    fn success_during_retries_resets() {
        let c = cfg(1);
        let mut h = Hysteresis::new(false, &c);
        h.observe(true, &c);
        assert!(h.observe(false, &c).retrying);
        assert_eq!(h.observe(true, &c).report, None);
        assert!(h.observe(false, &c).retrying, "counter was reset");
    }

    #[test]
    fn alpha_starts_down_and_reports_first_result() {
        let c = cfg(1);
        let mut h = Hysteresis::new(true, &c);
        assert!(!h.is_up);
        // first failure of an alpha checker is still reported (notify_down runs)
        assert_eq!(h.observe(false, &c).report, Some(false));
        assert_eq!(h.observe(true, &c).report, Some(true));
    }

    #[test]
    fn retry_zero_downs_without_suffix() {
        let c = cfg(0);
        let mut h = Hysteresis::new(false, &c);
        h.observe(true, &c);
        let s = h.observe(false, &c);
        assert_eq!((s.report, s.retries_done), (Some(false), 0));
    }

    #[test]
    fn migrate_caps_spent_retries() {
        let old = Hysteresis {
            is_up: true,
            has_run: true,
            retry_it: 3,
        };
        let h = Hysteresis::migrate(&old, &cfg(2));
        assert_eq!(h.retry_it, 1);
        let h = Hysteresis::migrate(&old, &cfg(5));
        assert_eq!(h.retry_it, 3);
    }
}
