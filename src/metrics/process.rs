//! The client's own resource use, to tell when llmspec itself limits a run.

use std::time::Duration;

/// CPU time (user + system) this process has used, from /proc on Linux.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident memory of this process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_kb("VmRSS:").map(|kb| kb * 1024)
}

/// The highest resident memory this process has had, in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("VmHWM:").map(|kb| kb * 1024)
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_usage() {
        assert!(super::cpu_time().is_some());
        assert!(super::rss_bytes().unwrap() > 1024 * 1024);
        assert!(super::peak_rss_bytes().unwrap() >= super::rss_bytes().unwrap() / 2);
    }
}
