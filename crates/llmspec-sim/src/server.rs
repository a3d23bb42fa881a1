//! The HTTP server: routes, the informational endpoints, and the ways to run it.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::app::App;
use super::chat::chat_completions;
use super::completions::completions;
use super::config::SimConfig;
use super::conn::{ConnControl, SimListener};
use super::errors::detail;
use super::gate;
use super::tokenize::{detokenize, tokenize};

/// `created` of the model listing; fixed so that answers stay reproducible.
const MODEL_CREATED: u64 = 1_735_689_600;
/// Request bodies up to this size are read; long-context specs send large prompts.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

fn router(cfg: SimConfig) -> Router {
    let app = Arc::new(App::new(cfg));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/ping", get(health).post(health))
        .route("/version", get(version))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .fallback(|| async { detail(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async { detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // The last layer wraps the others: a refused request still gets its X-Request-Id.
        .layer(middleware::from_fn_with_state(app.clone(), gate::api_key))
        .layer(middleware::from_fn_with_state(app.clone(), gate::request_id))
        .with_state(app)
}

/// The process's resident memory, from the `VmRSS:` line (in kB) of /proc/self/status.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// A Prometheus text exposition with the process's real resident memory, and vLLM's token
/// counters under their vLLM names.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let rss = resident_bytes().unwrap_or(0);
    // vLLM's default `max_num_seqs` when no capacity is set.
    let slots = if app.cfg.capacity == 0 { 256 } else { u64::from(app.cfg.capacity) };
    let in_flight = app.responses_in_flight();
    let (running, waiting) = (in_flight.min(slots), in_flight.saturating_sub(slots));
    let kv_usage = running as f64 / slots as f64;
    let leaked = app.leaked_bytes();
    let text = format!(
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes {rss}\n\
         # HELP llmspec_sim:requests_total Generation requests received.\n\
         # TYPE llmspec_sim:requests_total counter\n\
         llmspec_sim:requests_total{{model_name=\"{model}\"}} {requests}\n\
         # HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n\
         # TYPE vllm:prompt_tokens_total counter\n\
         vllm:prompt_tokens_total{{engine=\"0\",model_name=\"{model}\"}} {prompt_tokens}.0\n\
         # HELP vllm:generation_tokens_total Number of generation tokens processed.\n\
         # TYPE vllm:generation_tokens_total counter\n\
         vllm:generation_tokens_total{{engine=\"0\",model_name=\"{model}\"}} {generation_tokens}.0\n\
         # HELP llmspec_sim:leaked_bytes Memory kept on purpose (--leak-kb-per-request).\n\
         # TYPE llmspec_sim:leaked_bytes gauge\n\
         llmspec_sim:leaked_bytes {leaked}\n\
         # HELP llmspec_sim:responses_in_flight Generation responses not finished yet.\n\
         # TYPE llmspec_sim:responses_in_flight gauge\n\
         llmspec_sim:responses_in_flight {in_flight}\n\
         # HELP vllm:num_requests_running Number of requests in model execution batches.\n\
         # TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{engine=\"0\",model_name=\"{model}\"}} {running}.0\n\
         # HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n\
         # TYPE vllm:num_requests_waiting gauge\n\
         vllm:num_requests_waiting{{engine=\"0\",model_name=\"{model}\"}} {waiting}.0\n\
         # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n\
         # TYPE vllm:kv_cache_usage_perc gauge\n\
         vllm:kv_cache_usage_perc{{engine=\"0\",model_name=\"{model}\"}} {kv_usage}\n",
        model = app.cfg.model,
        requests = app.requests(),
        prompt_tokens = app.prompt_tokens(),
        generation_tokens = app.generation_tokens(),
    );
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn version() -> Response {
    Json(json!({"version": concat!("llmspec-sim ", env!("CARGO_PKG_VERSION"))})).into_response()
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let cfg = &app.cfg;
    Json(json!({
        "object": "list",
        "data": [{
            "id": cfg.model,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": "llmspec-sim",
            "root": cfg.model,
            "parent": null,
            "max_model_len": cfg.max_model_len,
        }],
    }))
    .into_response()
}

/// Serves the simulator on `listener` until this future is dropped.
pub async fn serve(listener: TcpListener, cfg: SimConfig) -> io::Result<()> {
    let app = router(cfg).into_make_service_with_connect_info::<ConnControl>();
    axum::serve(SimListener(listener), app).await
}

/// A simulator running on the current runtime; dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    pub addr: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl SimHandle {
    /// `http://HOST:PORT`, with a wildcard host replaced by loopback.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connections waiting to be accepted. tokio's default, 1,024, overflows when a load test
/// opens thousands of connections at once: the kernel then drops SYNs, and each dropped one
/// costs the client a 1 s retransmit inside its TTFT. The kernel caps it at
/// `net.core.somaxconn` (4,096 on recent kernels).
const LISTEN_BACKLOG: u32 = 65_535;

/// Listens on `host:port` (port 0 picks a free one) with [`LISTEN_BACKLOG`].
pub async fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{host} resolves to no address"));
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        // As `TcpListener::bind` does: a restarted simulator may reuse its port at once.
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Binds `cfg.host:cfg.port` (port 0 picks a free one) and serves in a spawned task.
pub async fn spawn(cfg: SimConfig) -> io::Result<SimHandle> {
    let listener = listen(&cfg.host, cfg.port).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, cfg));
    Ok(SimHandle { addr, task })
}

/// Runs the simulator on a new multi-threaded runtime until Ctrl-C. Prints one line,
/// `llmspec sim listening on http://ADDR (model MODEL)`, once it accepts connections.
pub fn run_blocking(cfg: SimConfig) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = listen(&cfg.host, cfg.port).await?;
        let addr = listener.local_addr()?;
        {
            let mut out = io::stdout().lock();
            writeln!(out, "llmspec sim listening on http://{addr} (model {})", cfg.model)?;
            out.flush()?;
        }
        tokio::select! {
            served = serve(listener, cfg) => served,
            stop = tokio::signal::ctrl_c() => stop,
        }
    })
}
