//! The command line: parse, call the library, map the outcome to an exit code.

use clap::{Args, Parser, Subcommand, ValueEnum};
use llmspec_core::exit;
use llmspec_core::redact::Redactor;
use llmspec_core::report::console::Console;
use llmspec_core::report::html::Html;
use llmspec_core::report::json::JsonResults;
use llmspec_core::report::junit::Junit;
use llmspec_core::report::plot::Plots;
use llmspec_core::report::sanitize::Sanitizer;
use llmspec_core::report::{Reporter, Reporters};
use llmspec_core::run::event::{StopReason, Summary};
use llmspec_core::run::http::{ReadOptions, TlsOptions};
use llmspec_core::run::{RunOptions, run};
use llmspec_core::spec::{self, Diagnostic, LoadOptions, Plan, SpecErrors};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "llmspec", version, about = "Declarative YAML tests for OpenAI-compatible LLM servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run spec files (or directories of them) and report the verdicts.
    Run(RunArgs),
    /// Check spec files without sending anything.
    Validate(LoadArgs),
    /// Print the JSON Schema of spec files (for editors).
    Schema,
    /// Serve the built-in OpenAI-compatible simulator (vLLM's behaviour, deterministic).
    Sim(llmspec_sim::SimConfig),
}

#[derive(Args)]
struct LoadArgs {
    /// Spec files, or directories walked for *.yaml and *.yml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Set a variable, overriding the suite's `vars` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// Like --var, but the value is never printed (repeatable).
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = key_value)]
    secrets: Vec<(String, String)>,
    /// Send requests here instead of the suites' `defaults.base_url`.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Default time allowed per request (a test's own `timeout` still wins).
    #[arg(long, value_name = "DURATION", value_parser = llmspec_core::vocab::units::parse_positive_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    tls: TlsArgs,
}

/// TLS settings; each wins over a suite's `defaults.tls`.
#[derive(Args)]
struct TlsArgs {
    /// Trust the CA certificates of this PEM file instead of the system's.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; the file may hold the key too.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Accept any server certificate (test deployments only: the traffic can then be read and changed).
    #[arg(long)]
    insecure: bool,
}

impl TlsArgs {
    fn options(&self) -> TlsOptions {
        TlsOptions {
            cacert: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            insecure: self.insecure,
        }
    }
}

/// The most a hostile answer can make llmspec hold (see docs/security.md).
#[derive(Args)]
struct ReadLimitArgs {
    /// Longest line of an event stream (e.g. 1MiB); a longer one ends the stream as an error.
    #[arg(long, value_name = "SIZE", value_parser = llmspec_core::vocab::units::parse_size, default_value = "1MiB")]
    max_line_bytes: usize,
    /// Largest data of one streamed event.
    #[arg(long, value_name = "SIZE", value_parser = llmspec_core::vocab::units::parse_size, default_value = "1MiB")]
    max_event_bytes: usize,
    /// Memory the kept events of one streamed answer may take (for `expect.events`).
    #[arg(long, value_name = "SIZE", value_parser = llmspec_core::vocab::units::parse_size, default_value = "32MiB")]
    max_kept_events_bytes: usize,
    /// Reassembled text of one answer (content, reasoning, tool calls).
    #[arg(long, value_name = "SIZE", value_parser = llmspec_core::vocab::units::parse_size, default_value = "16MiB")]
    max_answer_bytes: usize,
    /// Largest non-streamed body (held and parsed whole).
    #[arg(long, value_name = "SIZE", value_parser = llmspec_core::vocab::units::parse_size, default_value = "16MiB")]
    max_body_bytes: usize,
}

impl ReadLimitArgs {
    fn options(&self) -> ReadOptions {
        ReadOptions {
            max_line_bytes: self.max_line_bytes,
            max_event_bytes: self.max_event_bytes,
            max_kept_events_bytes: self.max_kept_events_bytes,
            max_answer_bytes: self.max_answer_bytes,
            max_body_bytes: self.max_body_bytes,
            ..ReadOptions::default()
        }
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Run only tests with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Leave out tests with this tag (repeatable), e.g. another server's profile.
    #[arg(long = "skip-tag", value_name = "TAG")]
    skip_tags: Vec<String>,
    /// Run only tests whose name matches this regular expression.
    #[arg(long, value_name = "PATTERN")]
    name: Option<String>,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write every verdict and aggregate (with mergeable histograms) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, percentiles, every test) to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A previous run's --json report: expressions read it as `baseline`, and each metric's
    /// change against it is reported.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write an SVG plot of each soak or load test here (default: beside --junit or --json).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Stop at the first failed test; the rest are reported as skipped.
    #[arg(long)]
    fail_fast: bool,
    /// When to colour the console output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Start the built-in simulator on a free local port and run against it (no GPU needed).
    #[arg(long, conflicts_with = "base_url")]
    sim: bool,
    /// Let `exec` steps and `command` samples run commands.
    #[arg(long)]
    allow_exec: bool,
    /// Shorten every soak to at most this long (for CI).
    #[arg(long, value_name = "DURATION", value_parser = llmspec_core::vocab::units::parse_positive_duration)]
    soak_duration: Option<Duration>,
    #[command(flatten)]
    limits: ReadLimitArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// Runs the command line and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::SPEC_ERROR } else { exit::PASSED };
        }
    };
    match cli.command {
        Command::Schema => {
            println!("{}", llmspec_core::schema::generate());
            exit::PASSED
        }
        Command::Validate(args) => match load(&args) {
            Ok(plan) => {
                let tests: usize = plan.suites.iter().map(|s| s.tests.len()).sum();
                println!("ok: {} suites, {tests} tests", plan.suites.len());
                exit::PASSED
            }
            Err(errors) => {
                let redactor = Redactor::default();
                errors.secrets.iter().for_each(|s| redactor.add_header_value(s));
                let sanitizer = Sanitizer::new(Arc::new(redactor));
                print_diagnostics(&errors.diagnostics, &sanitizer);
                exit::SPEC_ERROR
            }
        },
        Command::Run(args) => runtime().map_or(exit::INTERNAL_ERROR, |rt| rt.block_on(run_command(args))),
        Command::Sim(config) => match llmspec_sim::run_blocking(config) {
            Ok(()) => exit::PASSED,
            Err(e) => {
                eprintln!("error: the simulator stopped: {e}");
                exit::INTERNAL_ERROR
            }
        },
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        // Expressions are evaluated recursively on these threads; their depth is capped at
        // load, and this leaves a wide margin under that cap in every build.
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .map_err(|e| eprintln!("error: cannot start the async runtime: {e}"))
        .ok()
}

fn load(args: &LoadArgs) -> Result<Plan, SpecErrors> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = LoadOptions {
        vars: &args.vars,
        secrets: &args.secrets,
        base_url: args.base_url.as_deref(),
        timeout: args.timeout,
        tls: &args.tls.options(),
        env: &env,
    };
    spec::load(&args.paths, &opts)
}

fn print_diagnostics(diagnostics: &[Diagnostic], sanitizer: &Sanitizer) {
    for d in diagnostics {
        eprintln!("{}", sanitizer.text(&d.render()));
    }
    eprintln!("{} problem{} found; nothing was sent", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" });
}

async fn run_command(mut args: RunArgs) -> u8 {
    // Kept alive until the run ends; dropping it stops the simulator.
    let _sim = if args.sim {
        match llmspec_sim::spawn(llmspec_sim::SimConfig { port: 0, ..Default::default() }).await {
            Ok(handle) => {
                args.load.base_url = Some(handle.base_url());
                eprintln!("llmspec sim listening on {}", handle.base_url());
                Some(handle)
            }
            Err(e) => {
                eprintln!("error: cannot start the simulator: {e}");
                return exit::INTERNAL_ERROR;
            }
        }
    } else {
        None
    };
    let redactor = Arc::new(Redactor::new(args.load.secrets.iter().map(|(_, v)| v.clone())));
    let sanitizer = Sanitizer::new(redactor.clone());
    let plan = match load(&args.load) {
        Ok(plan) => plan,
        Err(errors) => {
            for secret in &errors.secrets {
                redactor.add_header_value(secret);
            }
            print_diagnostics(&errors.diagnostics, &sanitizer);
            if let Some(path) = &args.junit {
                let mut junit = Junit::new(path.clone(), sanitizer.clone());
                junit.spec_errors(&errors.diagnostics);
                if let Err(e) = junit.finish() {
                    eprintln!("error: {}", sanitizer.text(&e));
                }
            }
            return exit::SPEC_ERROR;
        }
    };
    for secret in &plan.secrets {
        redactor.add_header_value(secret);
    }
    let name = args.name.as_deref().map(regex::Regex::new).transpose();
    let baseline = args.baseline.as_deref().map(llmspec_core::metrics::baseline::Baseline::read).transpose();
    let usage = check_tls(&plan, &sanitizer)
        .err()
        .or_else(|| name.as_ref().err().map(|e| format!("--name is not a valid regular expression: {e}")))
        .or_else(|| baseline.as_ref().err().cloned());
    if let Some(problem) = usage {
        return usage_error(&problem, args.junit.as_ref(), &sanitizer);
    }
    let name = name.ok().flatten();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let stop = match watch_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot watch for signals: {e}");
            return exit::INTERNAL_ERROR;
        }
    };
    let console =
        Console::new(std::io::stdout(), color, sanitizer.clone()).with_progress(std::io::stderr().is_terminal());
    let mut reporters = Reporters::default();
    reporters.add(console);
    if let Some(path) = &args.junit {
        reporters.add(Junit::new(path.clone(), sanitizer.clone()));
    }
    if let Some(path) = &args.json {
        reporters.add(JsonResults::new(path.clone(), sanitizer.clone()));
    }
    if let Some(path) = &args.html {
        reporters.add(Html::new(path.clone(), sanitizer.clone()));
    }
    let beside =
        |p: &PathBuf| p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
    let plot_dir = args
        .plots
        .clone()
        .or_else(|| args.junit.as_ref().and_then(beside))
        .or_else(|| args.json.as_ref().and_then(beside));
    if let Some(dir) = plot_dir {
        reporters.add(Plots::new(dir, sanitizer.clone()));
    }
    let options = RunOptions {
        tags: args.tags,
        skip_tags: args.skip_tags,
        name,
        fail_fast: args.fail_fast,
        stop,
        allow_exec: args.allow_exec,
        soak_cap: args.soak_duration,
        read: args.limits.options(),
        baseline: baseline.ok().flatten().map(Arc::new),
    };
    let summary = run(&plan, options, &mut reporters, &redactor).await;
    let finished = reporters.finish();
    for file in finished.written.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")) {
        eprintln!("plot: {}", sanitizer.name(&file.display().to_string()));
    }
    if let Some(page) = args.html.as_ref().filter(|p| finished.written.contains(p)) {
        eprintln!("html report: {}", sanitizer.name(&page.display().to_string()));
    }
    let code = exit_code(&summary);
    if !finished.errors.is_empty() {
        for e in &finished.errors {
            eprintln!("error: {}", sanitizer.text(e));
        }
        // A failed or interrupted run keeps its own code: CI must still see that tests failed.
        return if code == exit::PASSED { exit::INTERNAL_ERROR } else { code };
    }
    code
}

/// Each TLS setting is tried before anything is sent: a missing or invalid certificate file is
/// a usage error (exit 2), not a red test.
fn check_tls(plan: &Plan, sanitizer: &Sanitizer) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for suite in plan.suites.iter().filter(|s| seen.insert(s.tls.clone())) {
        llmspec_core::run::http::client(&suite.tls).map_err(|e| format!("{e} (suite {})", suite.source.path))?;
        if suite.tls.insecure {
            eprintln!(
                "warning: TLS certificates are NOT verified for {} (--insecure or defaults.tls.insecure): anyone on the path can read and change the traffic",
                sanitizer.name(&suite.source.path)
            );
        }
    }
    Ok(())
}

/// A problem found before anything is sent: told (masked), and the JUnit report still written,
/// red, so that CI shows why nothing ran.
fn usage_error(problem: &str, junit: Option<&PathBuf>, sanitizer: &Sanitizer) -> u8 {
    eprintln!("error: {}", sanitizer.text(problem));
    if let Some(path) = junit {
        let mut report = Junit::new(path.clone(), sanitizer.clone());
        report.usage_error(problem);
        if let Err(e) = report.finish() {
            eprintln!("error: {}", sanitizer.text(&e));
        }
    }
    exit::SPEC_ERROR
}

/// SIGINT and SIGTERM both stop the run the same way: the test in flight is abandoned, the
/// reports are written, and the exit code names the signal. A second signal ends the process
/// at once, so a run stuck while finishing can still be stopped.
fn watch_signals() -> std::io::Result<tokio::sync::watch::Receiver<Option<StopReason>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(None);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let reason = tokio::select! {
            _ = interrupt.recv() => StopReason::Interrupted,
            _ = terminate.recv() => StopReason::Terminated,
        };
        eprintln!("\n{reason}: finishing the reports");
        let _ = tx.send(Some(reason));
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("second signal: stopping without finishing the reports");
        std::process::exit(i32::from(if reason == StopReason::Terminated {
            exit::TERMINATED
        } else {
            exit::INTERRUPTED
        }));
    });
    Ok(rx)
}

pub fn exit_code(summary: &Summary) -> u8 {
    if summary.stopped_early == Some(StopReason::Interrupted) {
        exit::INTERRUPTED
    } else if summary.stopped_early == Some(StopReason::Terminated) {
        exit::TERMINATED
    } else if summary.errors > 0 {
        exit::RUNTIME_ERROR
    } else if summary.failed > 0 {
        exit::TEST_FAILED
    } else {
        exit::PASSED
    }
}
