//! Host names resolved in Rust rather than by the C library.
//!
//! The release binary is linked statically, and a static glibc's `getaddrinfo` loads its NSS
//! modules at run time: in a container holding nothing but llmspec it cannot resolve even
//! `localhost`. This resolver reads /etc/hosts and /etc/resolv.conf itself, answers `localhost`
//! with the loopback addresses without asking anyone (RFC 6761), and without an
//! /etc/resolv.conf asks a name server on 127.0.0.1, as the C library does, rather than a
//! public one that would learn the names of private deployments.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

/// The resolver every request of a run goes through.
#[derive(Clone, Default)]
pub struct HostResolver {
    /// Built on first use: the hickory resolver wants a running tokio runtime, and a client may
    /// be built before one runs.
    resolver: Arc<OnceLock<Result<TokioResolver, String>>>,
}

impl Resolve for HostResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str();
            let addresses = this.lookup(host).await?;
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

impl HostResolver {
    /// The addresses of `host`, IPv4 first: servers started with `--host 0.0.0.0` (the usual
    /// way to run vLLM or llama-server) listen on IPv4 only.
    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let resolver = self.resolver.get_or_init(new_resolver).as_ref().map_err(|e| ResolveError(e.clone()))?;
        let found = resolver.lookup_ip(host).await.map_err(|e| {
            ResolveError(if e.is_no_records_found() {
                format!(
                    "cannot resolve host {host}: not in /etc/hosts, and the name servers of /etc/resolv.conf know no address for it"
                )
            } else {
                format!("cannot resolve host {host}: {e}")
            })
        })?;
        let addresses: Vec<IpAddr> = found.iter().collect();
        if addresses.is_empty() {
            return Err(ResolveError(format!("cannot resolve host {host}: no address")));
        }
        Ok(addresses)
    }
}

fn new_resolver() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|_| {
        let local = NameServerConfig::udp_and_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST));
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![local]),
            TokioRuntimeProvider::default(),
        )
    });
    // A name /etc/hosts knows is answered from it at once: asking for both families together
    // would also ask the name servers for the family the file lacks, and wait on them (15 s
    // when none answers, as in a container without resolv.conf).
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    builder.options_mut().use_hosts_file = ResolveHosts::Always;
    builder.build().map_err(|e| format!("cannot set up name resolution: {e}"))
}

/// Why a host name gave no address, as a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveError(pub String);

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResolveError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(HostResolver::default().lookup(host))
    }

    #[test]
    fn localhost_is_loopback_whatever_the_system_files_say() {
        let found = lookup("localhost").unwrap();
        assert!(!found.is_empty());
        assert!(found.iter().all(|ip| ip.is_loopback()), "{found:?}");
        assert_eq!(found[0], IpAddr::V4(Ipv4Addr::LOCALHOST), "IPv4 first: {found:?}");
    }

    #[test]
    fn addresses_are_taken_as_they_are() {
        assert_eq!(lookup("127.0.0.7").unwrap(), vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7))]);
        assert_eq!(lookup("[::1]").unwrap(), vec!["::1".parse::<IpAddr>().unwrap()]);
    }
}
