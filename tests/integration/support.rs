//! Starting the simulator, writing spec files, running the binary, normalising output.

use llmspec_sim::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A simulator on a free port, served by its own runtime while the test thread blocks.
pub struct Sim {
    handle: Option<SimHandle>,
    rt: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start() -> Sim {
        Sim::with(SimConfig::default())
    }

    pub fn with(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let handle = rt.block_on(llmspec_sim::spawn(SimConfig { port: 0, ..config })).unwrap();
        Sim { handle: Some(handle), rt }
    }

    pub fn url(&self) -> String {
        self.handle.as_ref().unwrap().base_url()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        self.handle.take();
    }
}

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "llmspec-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary from the repository root (so spec paths in output are relative).
pub fn llmspec(args: &[&str]) -> Output {
    llmspec_env(args, &[])
}

pub fn llmspec_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    llmspec_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, env)
}

/// Runs the binary in `dir`: away from the repository, no spec file is at hand.
pub fn llmspec_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        // What a CI engine sets changes what llmspec does (shards): tests choose it themselves.
        .env_remove("CI_NODE_INDEX")
        .env_remove("CI_NODE_TOTAL")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("LLMSPEC_SHARD_TOTAL")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Replaces what changes from run to run: durations, ports, temporary folders.
pub fn normalize(text: &str, dir: Option<&Path>) -> String {
    let mut t = text.to_string();
    if let Some(d) = dir {
        t = t.replace(&d.display().to_string(), "[dir]");
    }
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    // Only measured durations: "(12ms)" after a verdict, "in 1.2s" in the summary, "actual: 3ms".
    let time = regex::Regex::new(r"(\(| in |actual: )\d+(\.\d+)?(µs|ms|s)\b").unwrap();
    let t = port.replace_all(&t, "127.0.0.1:PORT");
    let ids = regex::Regex::new(r"(chatcmpl-|cmpl-|chatcmpl-tool-)[0-9a-f]{8,}").unwrap();
    let t = ids.replace_all(&t, "${1}ID");
    let created = regex::Regex::new(r#"("created":)\d+"#).unwrap();
    let t = created.replace_all(&t, "${1}0");
    // The `date` header of a response, in a failure's transcript.
    let date = regex::Regex::new(r"(?m)^(\s+date: ).+$").unwrap();
    let t = date.replace_all(&t, "${1}[date]");
    time.replace_all(&t, "${1}[time]").into_owned()
}

/// Validates a JUnit file against the schema of what CI servers read (tests/data/junit.xsd).
pub fn assert_valid_junit(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint is needed to validate JUnit files: run scripts/test, which installs it");
    assert!(out.status.success(), "{} does not validate:\n{}", path.display(), String::from_utf8_lossy(&out.stderr));
}

/// A simulator in its own process, for tests that must not share its memory or its runtime
/// with the test binary. Killed when dropped.
pub struct SimProcess {
    pub port: u16,
    child: std::process::Child,
}

impl SimProcess {
    /// Starts `llmspec sim` on a free port with extra flags; the simulator says which port on
    /// its first line.
    pub fn start(args: &[&str]) -> SimProcess {
        let (child, port) = spawn_simulator(args);
        SimProcess { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One value of the simulator's `/metrics`, read with a plain HTTP/1.0 request.
    pub fn metric(&self, name: &str) -> f64 {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        tcp.write_all(b"GET /metrics HTTP/1.0\r\nhost: sim\r\n\r\n").unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text.lines()
            .find(|l| l.split(['{', ' ']).next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the simulator's metrics:\n{text}"))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary like [`llmspec`], and measures its peak resident memory (KiB) with GNU
/// time, which reads the kernel's count when the process ends (`wait4`): nothing is sampled,
/// so no short peak is missed and nothing races the process's exit.
pub fn llmspec_peak_rss(args: &[&str]) -> (Output, u64) {
    let dir = TempDir::new();
    let report = dir.path("rss");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_llmspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("GNU time (/usr/bin/time, Debian package `time`) is needed to measure peak memory");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    // A killed process makes GNU time write a line about the signal first.
    let kib =
        text.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no peak RSS: {text:?}"));
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (output, kib)
}

/// Starts `llmspec sim` as its own process on a port it picks, and returns it with that port.
pub fn spawn_simulator(args: &[&str]) -> (std::process::Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(["sim", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the simulator did not say where it listens: {line:?}"));
    (child, port)
}

/// What a run said after a signal stopped it.
pub struct Signalled {
    pub code: Option<i32>,
    /// Standard output after the line waited for.
    pub rest: String,
    /// How long the run took to end once signalled.
    pub stopped_in: std::time::Duration,
}

/// Runs the binary, waits until its standard output has shown `until` (a test that must be
/// under way first; nothing when empty), waits `settle` more, sends `signal` (`INT`, `TERM`),
/// and collects the rest.
pub fn signalled(args: &[&str], until: &str, settle: std::time::Duration, signal: &str) -> Signalled {
    use std::io::{BufRead, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("CI_NODE_INDEX")
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(until) {
        let before = seen.len();
        reader.read_line(&mut seen).unwrap();
        assert!(seen.len() > before, "the run ended before showing {until:?}: {seen}");
    }
    std::thread::sleep(settle);
    Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    let started = std::time::Instant::now();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let code = child.wait().unwrap().code();
    Signalled { code, rest, stopped_in: started.elapsed() }
}

/// A plain HTTP/1.1 server for `connections` connections, served one after the other: each
/// request is read whole (its headers and a `content-length` body), `answer(peer, body)` gives
/// the whole response, and the connection is closed.
pub fn http_server(
    connections: usize,
    answer: impl Fn(std::net::SocketAddr, &[u8]) -> Vec<u8> + Send + 'static,
) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(connections).flatten() {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let Ok(peer) = stream.peer_addr() else { continue };
            let mut seen = Vec::new();
            let mut buf = [0u8; 65536];
            let body = loop {
                let Ok(n) = stream.read(&mut buf) else { break vec![] };
                if n == 0 {
                    break vec![];
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).into_owned();
                if let Some(at) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if seen.len() >= at + 4 + length {
                        break seen[at + 4..at + 4 + length].to_vec();
                    }
                }
            };
            let _ = stream.write_all(&answer(peer, &body));
        }
    });
    url
}

/// A whole response for [`http_server`]: `status` is the status line's end (`200 OK`).
pub fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
