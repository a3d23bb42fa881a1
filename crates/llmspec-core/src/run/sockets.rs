//! Whether this machine lets one process hold a load's connections: the open-file limit and
//! the ephemeral ports. Checked before the load starts, so that 30,000 streams fail with a
//! sentence saying what to raise, not with 10,000 "too many open files" errors in the results.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Files the process holds besides its connections: reports, the spec, samplers, the runtime.
const SPARE_FILES: u64 = 64;

/// Raises the soft open-file limit to the hard one, as a server does at start-up: the soft
/// limit (1,024 on many systems) is a default for programs that never need more. Returns the
/// soft limit now in force, when there is one.
pub fn raise_open_file_limit() -> Option<u64> {
    if let Rlimit { current: Some(soft), maximum: Some(hard) } = getrlimit(Resource::Nofile)
        && soft < hard
    {
        // A refusal leaves the old limit, which `check` reports if the load needs more.
        let _ = setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) });
    }
    getrlimit(Resource::Nofile).current
}

/// What the machine allows, as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    /// Soft and hard open-file limits; `None`: unlimited.
    pub open_files: (Option<u64>, Option<u64>),
    /// `net.ipv4.ip_local_port_range`, when readable.
    pub ports: Option<(u32, u32)>,
}

impl Allowance {
    pub fn of_this_process() -> Allowance {
        let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
        let ports = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok().and_then(|text| {
            let mut bounds = text.split_whitespace().filter_map(|n| n.parse::<u32>().ok());
            Some((bounds.next()?, bounds.next()?))
        });
        Allowance { open_files: (current, maximum), ports }
    }

    /// Whether `connections` at once to one server fit, from `sources` source addresses (0:
    /// the system's choice, one address). The error says what to raise, and to what.
    pub fn check(&self, connections: u64, sources: usize) -> Result<(), String> {
        let needed = connections + SPARE_FILES;
        if let (Some(soft), hard) = self.open_files
            && needed > soft
        {
            let how = match hard {
                Some(hard) if hard < needed => format!(
                    "the hard limit is {hard} too: raise it (`nofile` in /etc/security/limits.conf, `LimitNOFILE=` of a systemd unit, `--ulimit nofile={needed}` for a container), then `ulimit -n {needed}`"
                ),
                _ => format!("raise it with `ulimit -n {needed}` before running"),
            };
            return Err(format!(
                "this load holds up to {connections} connections at once, but this process may open only {soft} files (its open-file limit, `ulimit -n`): {how}"
            ));
        }
        if let Some((low, high)) = self.ports {
            let per_source = u64::from(high.saturating_sub(low)) + 1;
            let sources = sources.max(1) as u64;
            if connections > per_source * sources {
                let wanted = connections.div_ceil(per_source);
                return Err(format!(
                    "this load holds up to {connections} connections at once to one server, but a source address has only {per_source} ephemeral ports (net.ipv4.ip_local_port_range is {low}-{high}){}: give {wanted} source addresses with --local-addr (for example --local-addr 127.0.0.2-127.0.0.{} against a server on 127.0.0.1), or widen the range with `sysctl net.ipv4.ip_local_port_range`",
                    if sources > 1 { format!(" and {sources} source addresses are given") } else { String::new() },
                    wanted + 1
                ));
            }
        }
        Ok(())
    }
}

/// Most source addresses `--local-addr` takes: each one's client and pools are kept for
/// a load, and 256 of them already hold seven million connections.
pub const MAX_SOURCE_ADDRESSES: usize = 256;

/// `--local-addr`: addresses and ranges, comma-separated: `127.0.0.2,127.0.0.3`,
/// `127.0.0.2-127.0.0.9`, `::1`.
pub fn parse_addresses(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut addrs = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let address = |a: &str| a.trim().parse::<IpAddr>().map_err(|_| format!("`{}` is not an IP address", a.trim()));
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (address(a)?, address(b)?),
            None => (address(item)?, address(item)?),
        };
        let range = match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b))),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
            _ => return Err(format!("`{item}` mixes IPv4 and IPv6")),
        };
        if range.0 > range.1 {
            return Err(format!("`{item}` ends before it starts"));
        }
        if range.1 - range.0 >= (MAX_SOURCE_ADDRESSES - addrs.len().min(MAX_SOURCE_ADDRESSES)) as u128 {
            return Err(format!("more than {MAX_SOURCE_ADDRESSES} source addresses"));
        }
        for n in range.0..=range.1 {
            addrs.push(match first {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
            });
        }
    }
    if addrs.is_empty() {
        return Err("no address given".into());
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ranges_are_listed_in_order() {
        let addrs = parse_addresses("127.0.0.2-127.0.0.4, 127.0.1.255-127.0.2.0,::1").unwrap();
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.255", "127.0.2.0", "::1"]);
        for (bad, why) in [
            ("127.0.0.9-127.0.0.2", "ends before it starts"),
            ("127.0.0.1-::1", "mixes IPv4"),
            ("localhost", "not an IP address"),
            ("", "no address"),
            ("10.0.0.0-10.0.1.0", "more than 256"),
        ] {
            let e = parse_addresses(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    const MACHINE: Allowance = Allowance { open_files: (Some(20_000), Some(20_000)), ports: Some((32_768, 60_999)) };

    #[test]
    fn connections_within_the_limits_pass() {
        assert_eq!(MACHINE.check(19_000, 0), Ok(()));
        assert_eq!(Allowance { open_files: (None, None), ..MACHINE }.check(28_000, 0), Ok(()));
    }

    #[test]
    fn too_few_files_says_what_to_raise() {
        let soft_only = Allowance { open_files: (Some(1_024), Some(1_048_576)), ..MACHINE };
        let e = soft_only.check(5_000, 0).unwrap_err();
        assert!(e.contains("only 1024 files") && e.contains("ulimit -n 5064"), "{e}");
        let e = MACHINE.check(50_000, 0).unwrap_err();
        assert!(e.contains("hard limit is 20000") && e.contains("LimitNOFILE"), "{e}");
    }

    #[test]
    fn too_few_ports_asks_for_source_addresses() {
        let plenty = Allowance { open_files: (None, None), ..MACHINE };
        let e = plenty.check(100_000, 0).unwrap_err();
        assert!(e.contains("28232 ephemeral ports") && e.contains("give 4 source addresses"), "{e}");
        assert!(e.contains("--local-addr 127.0.0.2-127.0.0.5"), "{e}");
        assert_eq!(plenty.check(100_000, 4), Ok(()));
        let e = plenty.check(100_000, 3).unwrap_err();
        assert!(e.contains("and 3 source addresses are given"), "{e}");
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (_, hard) = Allowance::of_this_process().open_files;
        let now = raise_open_file_limit();
        assert_eq!(now, hard);
    }
}
