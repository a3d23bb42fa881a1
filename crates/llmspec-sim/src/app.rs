//! What every handler shares: the configuration and the counters behind `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::SimConfig;

pub(crate) struct App {
    pub cfg: SimConfig,
    requests: AtomicU64,
    /// Generation responses not finished yet: a fault that holds a response open (a slow
    /// start, a stall, an endless answer) must let go of it when the client goes away.
    in_flight: Arc<AtomicU64>,
    /// Memory kept on purpose by `--leak-kb-per-request`, so that leak detection has a real
    /// leak to find.
    leaked: Mutex<Vec<Box<[u8]>>>,
}

impl App {
    pub fn new(cfg: SimConfig) -> Self {
        App { cfg, requests: AtomicU64::new(0), in_flight: Arc::new(AtomicU64::new(0)), leaked: Mutex::new(Vec::new()) }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn responses_in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn leaked_bytes(&self) -> usize {
        self.leaked.lock().map(|l| l.iter().map(|b| b.len()).sum()).unwrap_or(0)
    }

    /// Counts a generation request, and leaks if asked to. The request is in flight until
    /// the returned value, handed on to the response body, is dropped.
    pub fn on_generation(&self) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight::new(self.in_flight.clone());
        let kb = self.cfg.leak_kb_per_request as usize;
        if kb > 0 {
            // Written to, so the pages are really resident.
            let block = vec![0x5a_u8; kb * 1024].into_boxed_slice();
            if let Ok(mut l) = self.leaked.lock() {
                l.push(block);
            }
        }
        in_flight
    }
}

/// One generation response in progress, counted in `llmspec_sim:responses_in_flight`.
pub(crate) struct InFlight(Arc<AtomicU64>);

impl InFlight {
    fn new(count: Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
