//! The simulator's settings: the flags of `llmspec sim`, also used in-process.

use std::time::Duration;

use clap::Args;

use llmspec_vocab::units::parse_duration;

/// Settings of the simulator. `Default` equals the flag defaults.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free port.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Served model id; requests naming another model get 404.
    #[arg(long, default_value = "sim-model")]
    pub model: String,

    /// Context length in tokens (prompt + completion).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_model_len: u32,

    /// Extra delay before a non-streaming answer.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub latency: Duration,

    /// Delay before the first chunk of a stream.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub ttft: Duration,

    /// Delay between two chunks of a stream.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub chunk_delay: Duration,

    /// Tokens carried by one stream chunk.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub tokens_per_chunk: u32,

    /// Natural answer length in tokens, when max_tokens and the context allow it.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub output_tokens: u32,

    /// Answer with a short reasoning text before the content.
    #[arg(long)]
    pub reasoning: bool,

    /// Always send the usage chunk at the end of a stream.
    #[arg(long)]
    pub force_usage: bool,

    /// Never call a tool, whatever `tool_choice` says (as a base model does).
    #[arg(long)]
    pub no_tool_calls: bool,

    /// Misbehave on every completion request, as `x-sim-fault` does for one: reset-mid-stream,
    /// stall, no-done, error-event, malformed-chunk, status-500, drop, huge-body, invalid-utf8,
    /// endless, huge-line, slow-headers, non-json-200 or empty-200.
    #[arg(long, value_parser = super::fault::Fault::from_name)]
    pub fault: Option<super::fault::Fault>,

    /// Add `"sim_sent_us"` to every streamed chunk: the wall-clock time (µs since the Unix
    /// epoch) at which the chunk is handed to the connection. A client on the same machine can
    /// compare its own arrival times with it.
    #[arg(long)]
    pub stamp: bool,

    /// Keep this many KB of memory for good at every generation request: a leak, for testing
    /// leak detection. 0 (the default) keeps memory steady.
    #[arg(long, default_value_t = 0)]
    pub leak_kb_per_request: u32,

    /// Refuse requests to /v1/… that lack `Authorization: Bearer KEY` with a 401, as vLLM's
    /// --api-key does; /health, /metrics, /tokenize and the other routes stay open.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,

    /// Send an X-Request-Id header with every response: the request's own, or a new one, as
    /// vLLM's --enable-request-id-headers does. (A chat or completion's `id` is built from the
    /// request's X-Request-Id either way.)
    #[arg(long)]
    pub enable_request_id_headers: bool,

    /// Generation requests served at full speed at once, like a server's batch slots. Beyond
    /// them every request slows in proportion: with 8 slots and 12 requests in flight, each
    /// delay (latency, TTFT, chunk delay) is 12/8 of its setting. 0 (the default): no limit.
    /// `/metrics` reports the slots as vLLM's running, waiting and KV-cache gauges.
    #[arg(long, default_value_t = 0)]
    pub capacity: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            model: "sim-model".into(),
            max_model_len: 4096,
            latency: Duration::ZERO,
            ttft: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            tokens_per_chunk: 1,
            output_tokens: 16,
            reasoning: false,
            force_usage: false,
            no_tool_calls: false,
            fault: None,
            stamp: false,
            leak_kb_per_request: 0,
            api_key: None,
            enable_request_id_headers: false,
            capacity: 0,
        }
    }
}
