//! Fuzzing the spec loader: the files under specs/, mutated by a seeded generator, go through
//! the whole loader (parse, decode, interpolate, check). No case may panic, overflow the stack
//! or use unbounded memory.
//!
//! The cases run in a child process (this test binary, filtered to `fuzz_child`): a stack
//! overflow aborts a process, which no `catch_unwind` can report, and the child's peak memory
//! is its own. `LLMSPEC_FUZZ_CASES` (default 1500) and `LLMSPEC_FUZZ_SEED` (default 1) choose
//! the run, e.g. `LLMSPEC_FUZZ_CASES=200000 cargo test --release --test integration spec_fuzz
//! -- --nocapture`.

use llmspec_core::spec::diag::Source;
use llmspec_core::spec::load::{LoadOptions, load_suite};
use llmspec_vocab::random::SplitMix;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const CHILD: &str = "LLMSPEC_FUZZ_CHILD";
/// Peak resident memory allowed to the child, loader and test harness together.
const MAX_PEAK_MIB: u64 = 768;

#[test]
fn the_loader_survives_mutated_specs() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["spec_fuzz::fuzz_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().find(|l| l.starts_with("fuzz:")).unwrap_or("no summary");
    println!("{summary}");
    if !out.status.success() {
        let last = std::fs::read_to_string(current_case_path(out_pid(&stdout))).unwrap_or_default();
        panic!(
            "the fuzz child failed ({}):\n{summary}\n{}\nlast case:\n{}",
            out.status,
            stderr.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            last.chars().take(3000).collect::<String>()
        );
    }
    let _ = std::fs::remove_file(current_case_path(out_pid(&stdout)));
    assert!(summary.contains("panics: 0"), "{summary}");
}

/// Runs the cases; only in the child process started above.
#[test]
fn fuzz_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let cases: u64 = std::env::var("LLMSPEC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    let seed: u64 = std::env::var("LLMSPEC_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    println!("pid: {}", std::process::id());
    let seeds = seed_files();
    assert!(!seeds.is_empty(), "no spec files under specs/");
    let mut rng = SplitMix(seed);
    let no_env = |_: &str| None;
    let opts = LoadOptions {
        vars: &[],
        secrets: &[],
        base_url: Some("http://127.0.0.1:9"),
        timeout: None,
        tls: &Default::default(),
        env: &no_env,
        embedded: Default::default(),
    };
    let case_file = current_case_path(Some(std::process::id()));
    let (mut panics, mut accepted) = (vec![], 0u64);
    for case in 0..cases {
        let (path, text) = mutate(&seeds, &mut rng);
        // Written first, so a crash that ends the process leaves the case behind.
        std::fs::write(&case_file, &text).unwrap();
        let source = Arc::new(Source { path: path.display().to_string(), text });
        match catch_unwind(AssertUnwindSafe(|| load_suite(&source, &opts))) {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => assert!(!e.diagnostics.is_empty(), "case {case}: a failure without a diagnostic"),
            Err(_) => panics.push(case),
        }
    }
    let peak = peak_rss_mib();
    println!(
        "fuzz: executions: {cases}, seed: {seed}, accepted: {accepted}, panics: {}, peak RSS: {peak} MiB",
        panics.len()
    );
    assert!(panics.is_empty(), "cases that panicked: {panics:?}");
    assert!(peak < MAX_PEAK_MIB, "peak RSS {peak} MiB");
    let _ = std::fs::remove_file(&case_file);
}

fn out_pid(stdout: &str) -> Option<u32> {
    stdout.lines().find_map(|l| l.strip_prefix("pid: ")).and_then(|p| p.trim().parse().ok())
}

fn current_case_path(pid: Option<u32>) -> PathBuf {
    std::env::temp_dir().join(format!("llmspec-fuzz-{}.yaml", pid.unwrap_or(0)))
}

fn seed_files() -> Vec<(PathBuf, String)> {
    let mut files = vec![];
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kib / 1024
}

/// YAML and spec fragments that have broken loaders: aliases, merges, tags, nesting, numbers
/// out of range, odd characters, references.
const FRAGMENTS: &[&str] = &[
    "&a x",
    "*a",
    "&a [*a]",
    "<<: *a",
    "<<: {x: 1}",
    "!!binary aGVsbG8=",
    "!custom x",
    "!!map {a: 1}",
    "? [a, b]\n: c",
    "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\na3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\na4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\na5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\na6: [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]",
    "1e400",
    "-1e400",
    "99999999999999999999999",
    "-9223372036854775809",
    "9223372036854775807",
    ".inf",
    "-.inf",
    ".nan",
    "-0",
    "0x1F",
    "10000000000000000000s",
    "1e-20/s",
    "1e400s",
    "-5s",
    "0s",
    "NaN",
    "inf",
    "\t",
    "\u{feff}",
    "\u{202e}x",
    "\u{0}",
    "é",
    "😀",
    "\\",
    "\"unterminated",
    "'",
    "${",
    "${x",
    "${}",
    "${env.HOME}",
    "${env.NOPE:-${env.NOPE:-${env.NOPE:-x}}}",
    "$${x}",
    "${window}",
    "${window} >",
    "${window} > 5s",
    "{ timeout: 10000000000000000000s }",
    "{ rate: 1e-20/s, requests: 3 }",
    "{ requests: 9223372036854775807, concurrency: 9223372036854775807 }",
    "{ $fill: { tokens: 1e300 } }",
    "[\"${x} >\"]",
    "---",
    "...",
    "%YAML 1.2",
    "|\n  block",
    ">-\n  folded",
    "- - - - -",
];

fn fragment(rng: &mut SplitMix) -> String {
    match rng.below(8) {
        0 => "[".repeat(rng.below(300) as usize + 1),
        1 => "{a: ".repeat(rng.below(300) as usize + 1),
        2 => (0..rng.below(200) + 1).map(|i| format!("{}k:\n", " ".repeat(i as usize))).collect(),
        3 => format!("{}", rng.next_u64()),
        _ => FRAGMENTS[rng.below(FRAGMENTS.len() as u64) as usize].to_string(),
    }
}

/// One case: a seed file changed one to four times.
fn mutate(seeds: &[(PathBuf, String)], rng: &mut SplitMix) -> (PathBuf, String) {
    let (path, text) = &seeds[rng.below(seeds.len() as u64) as usize];
    let mut bytes = text.clone().into_bytes();
    for _ in 0..rng.below(4) + 1 {
        let lines = || -> Vec<Vec<u8>> { bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect() };
        match rng.below(8) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            1 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
            2 => {
                let mut l = lines();
                if !l.is_empty() {
                    let at = rng.below(l.len() as u64) as usize;
                    for _ in 0..rng.below(3) + 1 {
                        l.insert(at, l[at].clone());
                    }
                }
                bytes = l.concat();
            }
            3 => {
                let mut l = lines();
                if !l.is_empty() {
                    l.remove(rng.below(l.len() as u64) as usize);
                }
                bytes = l.concat();
            }
            4 => {
                let (_, other) = &seeds[rng.below(seeds.len() as u64) as usize];
                let mine = lines();
                let theirs: Vec<&str> = other.split_inclusive('\n').collect();
                let cut = rng.below(mine.len() as u64 + 1) as usize;
                let from = rng.below(theirs.len() as u64 + 1) as usize;
                bytes = mine[..cut].concat();
                bytes.extend(theirs[from..].concat().into_bytes());
            }
            5 => {
                // A fragment as a line of its own, indented like the line it goes before.
                let mut l = lines();
                let at = rng.below(l.len() as u64 + 1) as usize;
                let indent = l.get(at).map_or(0, |line| line.iter().take_while(|b| **b == b' ').count());
                let piece = fragment(rng);
                let key = if rng.below(2) == 0 { "x: " } else { "- " };
                l.insert(at, format!("{}{key}{piece}\n", " ".repeat(indent)).into_bytes());
                bytes = l.concat();
            }
            _ => {
                // A fragment as the value of a random `key: value` line.
                let mut l = lines();
                if !l.is_empty() {
                    let at = rng.below(l.len() as u64) as usize;
                    if let Some(colon) = l[at].windows(2).position(|w| w == b": ") {
                        let mut line = l[at][..colon + 2].to_vec();
                        line.extend(fragment(rng).into_bytes());
                        line.push(b'\n');
                        l[at] = line;
                    }
                }
                bytes = l.concat();
            }
        }
    }
    (path.clone(), String::from_utf8_lossy(&bytes).into_owned())
}
