//! What every handler shares: the configuration and the counters behind `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::SimConfig;

/// Pieces of text `/detokenize` can give back: the ones `/tokenize` has seen. Bounded, so that
/// tokenizing long prompts cannot grow the simulator without end.
const MAX_LEARNED_PIECES: usize = 65_536;

pub(crate) struct App {
    pub cfg: SimConfig,
    requests: AtomicU64,
    /// Tokens of the prompts and of the answers, as vLLM's `vllm:prompt_tokens_total` and
    /// `vllm:generation_tokens_total` count them.
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    /// The text of token ids `/tokenize` has given out. The simulator's ids are hashes, so it
    /// can only give back what it was shown.
    pieces: Mutex<HashMap<u64, String>>,
    /// Generation responses not finished yet: a fault that holds a response open (a slow
    /// start, a stall, an endless answer) must let go of it when the client goes away.
    in_flight: Arc<AtomicU64>,
    /// Memory kept on purpose by `--leak-kb-per-request`, so that leak detection has a real
    /// leak to find.
    leaked: Mutex<Vec<Box<[u8]>>>,
}

impl App {
    pub fn new(cfg: SimConfig) -> Self {
        App {
            cfg,
            requests: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            pieces: Mutex::new(HashMap::new()),
            in_flight: Arc::new(AtomicU64::new(0)),
            leaked: Mutex::new(Vec::new()),
        }
    }

    pub fn prompt_tokens(&self) -> u64 {
        self.prompt_tokens.load(Ordering::Relaxed)
    }

    pub fn generation_tokens(&self) -> u64 {
        self.generation_tokens.load(Ordering::Relaxed)
    }

    /// Counts the tokens of an answer that is going to be generated.
    pub fn on_tokens(&self, prompt: u64, generated: u64) {
        self.prompt_tokens.fetch_add(prompt, Ordering::Relaxed);
        self.generation_tokens.fetch_add(generated, Ordering::Relaxed);
    }

    /// Remembers the text of token ids, for `/detokenize`. A later text with the same id
    /// replaces the earlier one (ids ignore case and surrounding spaces).
    pub fn learn_pieces<'a>(&self, pieces: impl Iterator<Item = (u64, &'a str)>) {
        if let Ok(mut known) = self.pieces.lock() {
            for (id, piece) in pieces {
                if known.len() < MAX_LEARNED_PIECES || known.contains_key(&id) {
                    known.insert(id, piece.to_string());
                }
            }
        }
    }

    /// The text of a token id `/tokenize` gave out, if it is remembered.
    pub fn piece(&self, id: u64) -> Option<String> {
        self.pieces.lock().ok().and_then(|known| known.get(&id).cloned())
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
