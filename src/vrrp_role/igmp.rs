//! `disable_local_igmp`: while the VRRP process runs, the kernel sends no
//! IGMP reports for link-local groups (224.0.0.0/24, the VRRP group among
//! them), which some switches mishandle. The setting is the namespace's;
//! what it was is put back at stop.

use tracing::info;

const REPORTS: &str = "/proc/sys/net/ipv4/igmp_link_local_mcast_reports";

/// Holds the setting off from [`LocalIgmp::disable`] until dropped.
pub struct LocalIgmp {
    /// Set when this process turned the reports off.
    restore: bool,
}

impl LocalIgmp {
    /// Turns the reports off if they are on; keepalived's lines when the
    /// file cannot be used.
    pub fn disable() -> LocalIgmp {
        LocalIgmp {
            restore: turn_off(REPORTS),
        }
    }
}

impl Drop for LocalIgmp {
    fn drop(&mut self) {
        if self.restore
            && let Err(e) = std::fs::write(REPORTS, "1")
        {
            info!(
                "Unable to write {REPORTS} - errno {}",
                e.raw_os_error().unwrap_or(0)
            );
        }
    }
}

/// True when the file read "1" and now reads "0".
fn turn_off(path: &str) -> bool {
    use std::io::{Read, Seek, Write};
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            info!("Unable to open {path} - errno {}", errno(e));
            return false;
        }
    };
    let mut was = [0u8; 1];
    if let Err(e) = f.read_exact(&mut was) {
        info!("Unable to read {path} - errno {}", errno(e));
        return false;
    }
    if was[0] != b'1' {
        return false;
    }
    if let Err(e) = f.rewind().and_then(|()| f.write_all(b"0")) {
        info!("Unable to write {path} - errno {}", errno(e));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_off_only_what_was_on() {
        let dir = std::env::temp_dir().join(format!("kv-igmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let on = dir.join("on");
        std::fs::write(&on, "1\n").unwrap();
        assert!(turn_off(on.to_str().unwrap()));
        assert_eq!(std::fs::read_to_string(&on).unwrap(), "0\n");
        let off = dir.join("off");
        std::fs::write(&off, "0\n").unwrap();
        assert!(!turn_off(off.to_str().unwrap()));
        assert!(!turn_off(dir.join("missing").to_str().unwrap()));
        std::fs::remove_dir_all(&dir).ok();
    }
}
