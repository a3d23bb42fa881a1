//! The client's own resource use, to tell when llmspec itself limits a run.

use std::collections::HashMap;
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

/// The highest resident memory this process has had, in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("self", "VmHWM:").map(|kb| kb * 1024)
}

/// A field in kB (`VmRSS:`, `VmHWM:`) of /proc/<pid>/status.
fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory in MB of a process (or of every process whose name or command line holds
/// `name`) and all their descendants. The server may be a tree: vLLM runs an API server, an
/// engine and workers.
pub fn process_tree_rss_mb(pid: Option<u32>, name: Option<&str>) -> Option<f64> {
    let me = std::process::id();
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut roots = vec![];
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        if let Some(pp) = after.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
            parent.insert(p, pp);
        }
        if let Some(n) = name {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if p != me && cmdline.contains(n) && !cmdline.contains("llmspec") {
                roots.push(p);
            }
        }
    }
    if let Some(p) = pid {
        roots.push(p);
    }
    if roots.is_empty() {
        return None;
    }
    let in_tree = |mut p: u32| loop {
        if roots.contains(&p) {
            return true;
        }
        match parent.get(&p) {
            Some(&pp) if pp != 0 && pp != p => p = pp,
            _ => return false,
        }
    };
    let mut kb = 0u64;
    let mut any = false;
    for &p in parent.keys() {
        if in_tree(p) {
            if let Some(v) = status_kb(&p.to_string(), "VmRSS:") {
                kb += v;
                any = true;
            }
        }
    }
    any.then(|| kb as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_usage() {
        assert!(super::cpu_time().is_some());
        assert!(super::peak_rss_bytes().unwrap() > 1024 * 1024);
    }
}
