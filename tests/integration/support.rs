//! Starting the simulator, writing spec files, running the binary, normalising output.

use llmspec::sim::{SimConfig, SimHandle};
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
        let handle = rt.block_on(llmspec::sim::spawn(SimConfig { port: 0, ..config })).unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
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
