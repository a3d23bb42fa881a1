//! Where a load test's requests run: one single-threaded runtime per core (a lane), each with
//! its own connections, one client per source address.
//!
//! A stream is read on the thread that opened its connection. A work-stealing pool moves tasks
//! between threads, so the connection's task and the request's task of one stream wake each
//! other across cores, chunk after chunk, and the cost per token grows with the cores. Lanes
//! share nothing on the read path; requests are dealt to them in turn.

use super::http::{self, TlsOptions};
use std::net::IpAddr;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Workers sharing one client's connection pool at most: the pool scans its waiters when a
/// connection comes back, which grows with them (past some 20,000 a run stalls).
pub const WORKERS_PER_POOL: usize = 4_096;

pub struct Lanes {
    lanes: Vec<Lane>,
    sources: usize,
    pools_per_source: usize,
}

struct Lane {
    handle: Handle,
    /// One or more per source address (the system's choice without `--local-addr`): client
    /// `source + sources × pool`.
    clients: Vec<reqwest::Client>,
    /// Dropping it ends the lane's thread, and with it the tasks still on the lane.
    _stop: oneshot::Sender<()>,
}

impl Lanes {
    /// `count` lanes (at least one) for `workers` requests in flight, each lane with a client
    /// per source address, or more when its share of the workers would crowd one pool.
    pub fn start(count: usize, workers: usize, tls: &TlsOptions, local_addrs: &[IpAddr]) -> Result<Lanes, String> {
        let sources: Vec<Option<IpAddr>> =
            if local_addrs.is_empty() { vec![None] } else { local_addrs.iter().copied().map(Some).collect() };
        let pools_per_source = workers.div_ceil(count.max(1) * sources.len() * WORKERS_PER_POOL).max(1);
        let mut lanes = Vec::with_capacity(count.max(1));
        for n in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a request thread: {e}"))?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("llmspec-lane-{n}"))
                .spawn(move || {
                    // Tasks run while the lane waits for its end; then the runtime, and any task
                    // left on it, is dropped on this thread.
                    let _ = runtime.block_on(stopped);
                })
                .map_err(|e| format!("cannot start a request thread: {e}"))?;
            let clients = (0..sources.len() * pools_per_source)
                .map(|k| http::client_from(tls, sources[k % sources.len()]))
                .collect::<Result<_, _>>()?;
            lanes.push(Lane { handle, clients, _stop: stop });
        }
        Ok(Lanes { lanes, sources: sources.len(), pools_per_source })
    }

    /// One lane per core this process may run on.
    pub fn per_core(workers: usize, tls: &TlsOptions, local_addrs: &[IpAddr]) -> Result<Lanes, String> {
        Lanes::start(std::thread::available_parallelism().map_or(1, |n| n.get()), workers, tls, local_addrs)
    }

    /// Where request or worker `n` runs, and the client it sends with: the lanes and the
    /// source addresses are each taken in turn (a few workers already use every address), and
    /// the workers of one lane and address are spread over its pools.
    pub fn slot(&self, n: u64) -> (&Handle, &reqwest::Client) {
        let (lanes, sources) = (self.lanes.len() as u64, self.sources as u64);
        let source = n % sources;
        let pool = (n / lcm(lanes, sources)) % self.pools_per_source as u64;
        let lane = &self.lanes[(n % lanes) as usize];
        (&lane.handle, &lane.clients[(source + sources * pool) as usize])
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    let gcd = |mut a: u64, mut b: u64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b).max(1) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_take_the_lanes_and_the_source_addresses_in_turn() {
        let addrs: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3"].iter().map(|a| a.parse().unwrap()).collect();
        let lanes = Lanes::start(3, 10, &TlsOptions::default(), &addrs).unwrap();
        let lane_of = |n: u64| {
            let (handle, _) = lanes.slot(n);
            (0..3).find(|&i| std::ptr::eq(&lanes.lanes[i].handle, handle)).unwrap()
        };
        assert_eq!((0..7).map(lane_of).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2, 0]);
        for (n, expected) in [(0u64, 0usize), (1, 1), (2, 0), (3, 1), (5, 1), (6, 0)] {
            let (_, client) = lanes.slot(n);
            let lane = &lanes.lanes[lane_of(n)];
            let index = lane.clients.iter().position(|c| std::ptr::eq(c, client)).unwrap();
            assert_eq!(index, expected, "request {n}");
        }
    }

    #[test]
    fn many_workers_get_more_pools_still_taking_the_sources_in_turn() {
        let addrs: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3"].iter().map(|a| a.parse().unwrap()).collect();
        let lanes = Lanes::start(1, 5 * WORKERS_PER_POOL, &TlsOptions::default(), &addrs).unwrap();
        // 5 pools' worth over 2 sources: 3 pools per source.
        assert_eq!(lanes.lanes[0].clients.len(), 6);
        let client_of = |n: u64| lanes.lanes[0].clients.iter().position(|c| std::ptr::eq(c, lanes.slot(n).1)).unwrap();
        let used: Vec<usize> = (0..8).map(client_of).collect();
        assert_eq!(used, [0, 1, 2, 3, 4, 5, 0, 1], "sources in turn, then the next pool of each");
        let lanes = Lanes::start(2, 10, &TlsOptions::default(), &[]).unwrap();
        assert_eq!(lanes.lanes[1].clients.len(), 1);
    }

    #[test]
    fn a_task_runs_on_its_lane_and_the_lane_ends_with_them() {
        let lanes = Lanes::start(2, 2, &TlsOptions::default(), &[]).unwrap();
        let (handle, _) = lanes.slot(1);
        let name = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = name.clone();
        let done = handle.spawn(async move {
            *seen.lock().unwrap() = std::thread::current().name().map(str::to_string);
        });
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(done).unwrap();
        assert_eq!(name.lock().unwrap().as_deref(), Some("llmspec-lane-1"));
    }
}
