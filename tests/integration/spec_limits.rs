//! Hostile or broken spec files with the real binary: each ends at once in a clear spec error
//! (exit 2) with a valid JUnit report, within bounded memory.

use crate::support::{TempDir, assert_valid_junit};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Virtual memory allowed to the binary: far above what loading any spec needs, far below what
/// an unbounded expansion takes (an alias bomb reached 1.9 GB).
const MAX_VIRTUAL_KIB: u64 = 1024 * 1024;
/// No case may take longer (a FIFO used to block forever).
const DEADLINE: Duration = Duration::from_secs(60);

struct Outcome {
    code: Option<i32>,
    stderr: String,
    peak_rss_kib: Option<u64>,
}

/// Runs the binary under a memory cap and a deadline, measuring its peak RSS when
/// /usr/bin/time is there to do it.
fn run_bounded(args: &[&str], dir: &TempDir) -> Outcome {
    let rss_file = dir.path("rss.txt");
    let time = Path::new("/usr/bin/time");
    let mut script = format!("ulimit -v {MAX_VIRTUAL_KIB} && exec ");
    if time.exists() {
        script.push_str(&format!("{} -f %M -o '{}' ", time.display(), rss_file.display()));
    }
    script.push_str("\"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_llmspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("llmspec {args:?} did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let peak_rss_kib = std::fs::read_to_string(&rss_file).ok().and_then(|t| t.lines().last()?.trim().parse().ok());
    let _ = std::fs::remove_file(&rss_file);
    Outcome { code: status.code(), stderr, peak_rss_kib }
}

/// `validate` and `run --junit` both end in a spec error that says `expected`; the JUnit file
/// is written and valid. Returns the larger peak RSS of the two runs, when measured.
fn assert_spec_error(dir: &TempDir, spec: &Path, expected: &[&str]) -> Option<u64> {
    let spec = spec.to_str().unwrap();
    let junit = dir.path("junit.xml");
    let _ = std::fs::remove_file(&junit);
    let validate = run_bounded(&["validate", spec], dir);
    let run = run_bounded(&["run", spec, "--junit", junit.to_str().unwrap()], dir);
    for (what, out) in [("validate", &validate), ("run", &run)] {
        assert_eq!(out.code, Some(2), "{what} {spec}: {}", out.stderr);
        for e in expected {
            assert!(out.stderr.contains(e), "{what} {spec}: expected `{e}` in:\n{}", out.stderr);
        }
        assert!(out.stderr.len() < 20_000, "{what}: {} bytes of errors", out.stderr.len());
    }
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file is written");
    assert!(xml.contains("spec errors"), "{xml}");
    assert_valid_junit(&junit);
    validate.peak_rss_kib.max(run.peak_rss_kib)
}

fn alias_bomb(levels: usize) -> String {
    let mut text =
        String::from("suite: bomb\ntests: []\nvars:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..levels {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        text.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn an_alias_bomb_stops_at_its_alias_in_bounded_memory() {
    let dir = TempDir::new();
    let spec = dir.write("bomb.yaml", &alias_bomb(9));
    let peak = assert_spec_error(
        &dir,
        &spec,
        &["error: this alias makes the file larger than 250000 YAML nodes", "bomb.yaml:9:"],
    );
    if let Some(kib) = peak {
        println!("peak RSS on the alias bomb: {} KiB", kib);
        assert!(kib < 200 * 1024, "peak RSS {kib} KiB");
    }
}

#[test]
fn deep_nesting_is_a_spec_error() {
    let dir = TempDir::new();
    let flow = dir.write("flow.yaml", &format!("suite: deep\ntests: {}\n", "[".repeat(100_000)));
    assert_spec_error(&dir, &flow, &["nested more than 128 levels", "flow.yaml:2:"]);
    let block: String = (0..1000).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
    let block = dir.write("block.yaml", &format!("suite: deep\ntests: []\nvars:\n{block}"));
    assert_spec_error(&dir, &block, &["nested more than 128 levels"]);
}

#[test]
fn a_huge_file_is_refused_unread() {
    let dir = TempDir::new();
    let spec = dir.path("huge.yaml");
    let file = std::fs::File::create(&spec).unwrap();
    file.set_len(9 * 1024 * 1024).unwrap();
    assert_spec_error(&dir, &spec, &["more than the 8 MiB a spec file may have", "huge.yaml"]);
}

#[test]
fn a_fifo_is_refused_at_once() {
    let dir = TempDir::new();
    let fifo = dir.path("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo is needed for this test");
    assert!(made.success());
    assert_spec_error(&dir, &fifo, &["this is a named pipe (FIFO), not a spec file", "pipe.yaml"]);
}

#[test]
fn a_symlink_loop_is_reported_once() {
    let dir = TempDir::new();
    dir.write("specs/sub/a.yaml", "suite: a\ntests:\n  - name: t\n    request: { GET: http://127.0.0.1:9/ }\n");
    std::os::unix::fs::symlink("..", dir.path("specs/sub/up")).unwrap();
    let specs = dir.path("specs");
    assert_spec_error(&dir, &specs, &["this symbolic link leads back to", "specs/sub/up\n"]);
    let out = run_bounded(&["validate", specs.to_str().unwrap()], &dir);
    assert_eq!(out.stderr.matches("leads back to").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("1 problem found"), "{}", out.stderr);
}

#[test]
fn binary_files_name_their_path_and_position() {
    let dir = TempDir::new();
    let nul = dir.path("nul.yaml");
    std::fs::write(&nul, b"suite: s\ntests: [\0\0]\n").unwrap();
    assert_spec_error(&dir, &nul, &["this file holds a NUL byte here", "nul.yaml:2:9"]);
    let latin = dir.path("latin.yaml");
    std::fs::write(&latin, b"suite: caf\xe9\ntests: []\n").unwrap();
    assert_spec_error(&dir, &latin, &["not UTF-8 text (byte 0xe9 here)", "latin.yaml:1:11"]);
    let unreadable = dir.write("dangling.yaml", "");
    std::fs::remove_file(&unreadable).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", &unreadable).unwrap();
    let out = run_bounded(&["validate", unreadable.to_str().unwrap()], &dir);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("cannot read this file") && !out.stderr.contains(":0:0"), "{}", out.stderr);
}

#[test]
fn extreme_durations_and_rates_are_spec_errors() {
    let dir = TempDir::new();
    let spec = dir.write(
        "extreme.yaml",
        r#"suite: extreme
defaults: { base_url: "http://127.0.0.1:9" }
tests:
  - name: wait forever
    steps:
      - wait_until:
          timeout: 10000000000000000000s
          request: { GET: /health }
  - name: slow rate
    request: { GET: /x }
    load: { requests: 3, rate: 1e-20/s }
  - name: overflow
    request: { GET: /x, timeout: 1e400s }
  - name: busy loop
    steps:
      - wait_until: { timeout: 5s, every: 0s, request: { GET: /health } }
"#,
    );
    assert_spec_error(
        &dir,
        &spec,
        &[
            "extreme.yaml:7:20",
            "too long a duration: the longest accepted is",
            "extreme.yaml:11:32",
            "`1e-20/s` is out of range",
            "extreme.yaml:13:34",
            "without an exponent",
            "extreme.yaml:16:43",
            "this duration must be longer than zero",
        ],
    );
}

#[test]
fn a_malformed_require_is_a_spec_error_not_a_skip() {
    let dir = TempDir::new();
    let spec = dir.write(
        "require.yaml",
        r#"suite: require
tests:
  - name: t
    require: ["${window} >"]
    request: { GET: "http://127.0.0.1:9/" }
  - name: u
    require: ["${window} => 5"]
    request: { GET: "http://127.0.0.1:9/" }
"#,
    );
    assert_spec_error(
        &dir,
        &spec,
        &["require.yaml:4:15", "in this expression", "require.yaml:7:15", "(column 11 of the expression)"],
    );
}
