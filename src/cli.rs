//! The command line: parse, call the library, map the outcome to an exit code.

use clap::{Args, Parser, Subcommand, ValueEnum};
use llmspec_core::exit;
use llmspec_core::merge::ShardResults;
use llmspec_core::metrics::baseline::Baseline;
use llmspec_core::redact::Redactor;
use llmspec_core::report::console::Console;
use llmspec_core::report::github::GithubAnnotations;
use llmspec_core::report::html::Html;
use llmspec_core::report::json::JsonResults;
use llmspec_core::report::junit::Junit;
use llmspec_core::report::location::Locator;
use llmspec_core::report::openmetrics::OpenMetrics;
use llmspec_core::report::plot::Plots;
use llmspec_core::report::progress::{ProgressBars, Target};
use llmspec_core::report::sanitize::Sanitizer;
use llmspec_core::report::summary::MarkdownSummary;
use llmspec_core::report::{Reporter, Reporters};
use llmspec_core::run::event::{StopReason, Summary};
use llmspec_core::run::http::{ReadOptions, TlsOptions};
use llmspec_core::run::{RunOptions, run};
use llmspec_core::spec::shard::Shard;
use llmspec_core::spec::{self, Diagnostic, LoadOptions, Plan, SpecErrors};
use llmspec_core::vocab::units::format_duration;
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
    /// List the spec packs carried inside llmspec (run one with `llmspec run pack:NAME`).
    Packs(PacksArgs),
    /// Add up the --json results of a run's shards into the reports of one run: histograms
    /// merged exactly, thresholds judged again on the whole load.
    Merge(MergeArgs),
    /// Write a starter into a deployment repository: a pack's specs, their schema, a README and
    /// the GitLab and GitHub jobs. Existing files are never overwritten.
    Init(InitArgs),
}

#[derive(Args)]
struct PacksArgs {
    /// Print the packs as JSON (name, description, files, tests).
    #[arg(long, conflicts_with = "names")]
    json: bool,
    /// Print only the packs' names, one a line (for scripts).
    #[arg(long)]
    names: bool,
}

#[derive(Args)]
struct InitArgs {
    /// The repository to write into.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The pack to start from (`llmspec packs` lists them).
    #[arg(long, default_value = crate::packs::DEFAULT)]
    pack: String,
}

#[derive(Args)]
struct LoadArgs {
    /// Spec files, or directories walked for *.yaml and *.yml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    vars: VarArgs,
    /// Send requests here instead of the suites' `defaults.base_url`.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Default time allowed per request (a test's own `timeout` still wins).
    #[arg(long, value_name = "DURATION", value_parser = llmspec_core::vocab::units::parse_positive_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
struct VarArgs {
    /// Set a variable, overriding the suite's `vars` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// Like --var, but the value is never printed (repeatable).
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = key_value)]
    secrets: Vec<(String, String)>,
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
    #[command(flatten)]
    report: ReportArgs,
    /// Stop at the first failed test; the rest are reported as skipped.
    #[arg(long)]
    fail_fast: bool,
    /// When to draw a progress bar for load and soak tests (on stderr). `auto`: on a terminal,
    /// never in CI (when `CI` is set).
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
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
    #[command(flatten)]
    sharding: crate::shard::ShardArgs,
    /// Source addresses of the connections, taken in turn: `127.0.0.2,127.0.0.3`, or a range
    /// `127.0.0.2-127.0.0.9`. One address has some 28,000 ephemeral ports, one per connection
    /// to a server: more streams at once need more addresses.
    #[arg(long = "local-addr", value_name = "ADDRS", value_parser = parse_local_addrs)]
    local_addr: Option<LocalAddrs>,
}

#[derive(Clone, Debug)]
struct LocalAddrs(Vec<std::net::IpAddr>);

fn parse_local_addrs(text: &str) -> Result<LocalAddrs, String> {
    llmspec_core::run::sockets::parse_addresses(text).map(LocalAddrs)
}

/// The reports of a run, and of a merge of its shards: the same either way.
#[derive(Args)]
struct ReportArgs {
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
    /// Write the run as GitHub-flavoured Markdown to this file (also appended to
    /// $GITHUB_STEP_SUMMARY when that variable is set).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Write the key metrics as OpenMetrics text to this file (GitLab artifacts:reports:metrics).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Write an SVG plot of each soak or load test here (default: beside --junit or --json).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// When to colour the console output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Args)]
struct MergeArgs {
    /// The --json results of every shard of one run (`llmspec run --shard k/n --json ...`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    vars: VarArgs,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProgressChoice {
    Auto,
    Always,
    Never,
}

/// CI logs are files: a bar redrawn four times a second would fill them with noise, and most CI
/// runners set `CI` even when they give the job a pseudo-terminal.
fn progress_target(choice: ProgressChoice) -> Option<Target> {
    match choice {
        ProgressChoice::Never => None,
        ProgressChoice::Always => Some(Target::Stderr),
        ProgressChoice::Auto if std::env::var_os("CI").is_some() => None,
        ProgressChoice::Auto => Some(Target::StderrIfTerminal),
    }
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
        Command::Packs(args) => packs_command(&args),
        Command::Merge(args) => merge_command(&args),
        Command::Init(args) => init_command(&args),
        Command::Sim(config) => match {
            // Each stream served holds a connection: as many as the hard limit allows.
            llmspec_core::run::sockets::raise_open_file_limit();
            llmspec_sim::run_blocking(config)
        } {
            Ok(()) => exit::PASSED,
            Err(e) => {
                eprintln!("error: the simulator stopped: {e}");
                exit::INTERNAL_ERROR
            }
        },
    }
}

fn packs_command(args: &PacksArgs) -> u8 {
    use crate::packs::{PACKS, PREFIX};
    let no_env = |_: &str| None;
    let tls = Default::default();
    let opts = LoadOptions {
        vars: &[],
        secrets: &[],
        base_url: None,
        timeout: None,
        tls: &tls,
        env: &no_env,
        embedded: crate::packs::EMBEDDED,
    };
    // Counted with every variable at its default, as `llmspec validate pack:NAME` counts them.
    let tests = |name: &str| {
        spec::load(&[PathBuf::from(format!("{PREFIX}{name}"))], &opts)
            .map(|plan| plan.suites.iter().map(|s| s.tests.len()).sum::<usize>())
            .ok()
    };
    if args.names {
        PACKS.iter().for_each(|p| println!("{}", p.name));
    } else if args.json {
        let list: Vec<serde_json::Value> = PACKS
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "run_as": format!("{PREFIX}{}", p.name),
                    "description": p.description,
                    "files": crate::packs::files(p.name).iter().map(|(f, _)| *f).collect::<Vec<_>>(),
                    "tests": tests(p.name),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for p in PACKS {
            let count = tests(p.name).map_or("?".to_string(), |n| n.to_string());
            let files = crate::packs::files(p.name).len();
            println!("{PREFIX}{:<14} {files:>3} files {count:>4} tests  {}", p.name, p.description);
        }
        println!("\nrun one with `llmspec run pack:NAME`; `llmspec init --pack NAME` copies one into a repository");
    }
    exit::PASSED
}

fn init_command(args: &InitArgs) -> u8 {
    use crate::init::Refused;
    match crate::init::init(&args.dir, &args.pack) {
        Ok(written) => {
            print!("{}", crate::init::describe(&args.dir, &args.pack, &written));
            exit::PASSED
        }
        Err(Refused::UnknownPack(name)) => {
            let known: Vec<&str> = crate::packs::PACKS.iter().map(|p| p.name).collect();
            eprintln!("error: no pack `{name}`; the packs are {}", known.join(", "));
            exit::SPEC_ERROR
        }
        Err(Refused::Exists(files)) => {
            eprintln!("error: nothing was written, because these files exist (init never overwrites):");
            files.iter().for_each(|f| eprintln!("  {}", args.dir.join(f).display()));
            eprintln!("move them away, or run init in another folder");
            exit::SPEC_ERROR
        }
        Err(Refused::Io(message)) => {
            eprintln!("error: {message}");
            exit::INTERNAL_ERROR
        }
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
    load_specs(&args.paths, &args.vars, args.base_url.as_deref(), args.timeout, &args.tls.options())
}

fn load_specs(
    paths: &[PathBuf],
    vars: &VarArgs,
    base_url: Option<&str>,
    timeout: Option<Duration>,
    tls: &TlsOptions,
) -> Result<Plan, SpecErrors> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = LoadOptions {
        vars: &vars.vars,
        secrets: &vars.secrets,
        base_url,
        timeout,
        tls,
        env: &env,
        embedded: crate::packs::EMBEDDED,
    };
    spec::load(paths, &opts)
}

fn print_diagnostics(diagnostics: &[Diagnostic], sanitizer: &Sanitizer) {
    for d in diagnostics {
        eprintln!("{}", sanitizer.text(&d.render()));
    }
    eprintln!("{} problem{} found; nothing was sent", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" });
}

async fn run_command(mut args: RunArgs) -> u8 {
    // Thousands of streams need thousands of files; a refusal is reported by the load that
    // needs more.
    llmspec_core::run::sockets::raise_open_file_limit();
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
    let redactor = Arc::new(Redactor::new(args.load.vars.secrets.iter().map(|(_, v)| v.clone())));
    let sanitizer = Sanitizer::new(redactor.clone());
    let plan = match load(&args.load) {
        Ok(plan) => plan,
        Err(errors) => {
            for secret in &errors.secrets {
                redactor.add_header_value(secret);
            }
            return spec_errors(&errors, args.report.junit.as_ref(), &sanitizer);
        }
    };
    for secret in &plan.secrets {
        redactor.add_header_value(secret);
    }
    let name = args.name.as_deref().map(regex::Regex::new).transpose();
    let baseline = args.report.baseline.as_deref().map(Baseline::read).transpose();
    let shard = crate::shard::resolve(&args.sharding, &|name| std::env::var(name).ok());
    let now = std::time::SystemTime::now();
    let wait = args
        .sharding
        .start_at
        .as_deref()
        .map(|at| crate::shard::wait_for(crate::shard::start_time(at)?, now))
        .transpose();
    let usage = check_tls(&plan, &sanitizer)
        .err()
        .or_else(|| name.as_ref().err().map(|e| format!("--name is not a valid regular expression: {e}")))
        .or_else(|| baseline.as_ref().err().cloned())
        .or_else(|| shard.as_ref().err().cloned())
        .or_else(|| wait.as_ref().err().cloned());
    if let Some(problem) = usage {
        return usage_error(&problem, args.report.junit.as_ref(), &sanitizer);
    }
    let name = name.ok().flatten();
    let shard = shard.ok().flatten().map(|(shard, from)| {
        eprintln!("shard {}/{} (from {from}): functional tests divided by name, loads by their requests, concurrency and rate", shard.index + 1, shard.total);
        shard
    });
    let stop = match watch_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot watch for signals: {e}");
            return exit::INTERNAL_ERROR;
        }
    };
    let mut reporters = Reporters::default();
    // First, so that the bar is cleared before any other reporter prints a line.
    if let Some(target) = progress_target(args.progress) {
        reporters.add(ProgressBars::new(target, sanitizer.clone()));
    }
    let spec_paths: Vec<String> = args.load.paths.iter().map(|p| p.display().to_string()).collect();
    add_reports(&mut reporters, &args.report, &sanitizer, (&plan, &spec_paths, shard));
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
        shard,
        local_addrs: args.local_addr.map(|LocalAddrs(addrs)| addrs).unwrap_or_default(),
    };
    match wait.ok().flatten() {
        Some(Ok(wait)) => {
            eprintln!("waiting {} for --start-at", format_duration(wait));
            let mut stop = options.stop.clone();
            // A signal while waiting ends the wait; the run then reports every test as not run.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| s.is_some()) => {}
            }
        }
        Some(Err(late)) => eprintln!("warning: --start-at was {} ago: starting now", format_duration(late)),
        None => {}
    }
    let summary = run(&plan, options, &mut reporters, &redactor).await;
    finish(reporters, &summary, &sanitizer)
}

/// The console and the files the report options ask for. `run` names the run in the JSON
/// results: its plan, the spec paths given, its shard.
fn add_reports(
    reporters: &mut Reporters,
    args: &ReportArgs,
    sanitizer: &Sanitizer,
    run: (&Plan, &[String], Option<Shard>),
) {
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    reporters.add(Console::new(std::io::stdout(), color, sanitizer.clone()));
    let beside =
        |p: &PathBuf| p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
    let plot_dir = args
        .plots
        .clone()
        .or_else(|| args.junit.as_ref().and_then(beside))
        .or_else(|| args.json.as_ref().and_then(beside));
    let locator = Locator::from_env();
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        reporters.add(GithubAnnotations::new(std::io::stdout(), sanitizer.clone(), locator.clone()));
    }
    if let Some(path) = &args.junit {
        reporters.add(Junit::new(path.clone(), sanitizer.clone()).with_plots(plot_dir.clone()));
    }
    if let Some(path) = &args.json {
        let (plan, paths, shard) = run;
        reporters.add(JsonResults::new(path.clone(), sanitizer.clone()).with_run(plan, paths, shard));
    }
    if let Some(path) = &args.summary {
        let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()).map(PathBuf::from);
        reporters.add(MarkdownSummary::new(path.clone(), sanitizer.clone(), locator.clone(), step_summary));
    }
    if let Some(path) = &args.metrics {
        reporters.add(OpenMetrics::new(path.clone(), sanitizer.clone()));
    }
    if let Some(path) = &args.html {
        reporters.add(Html::new(path.clone(), sanitizer.clone()));
    }
    if let Some(dir) = plot_dir {
        reporters.add(Plots::new(dir, sanitizer.clone()));
    }
}

/// Writes what the reporters kept, tells what they could not write, and gives the exit code.
fn finish(reporters: Reporters, summary: &Summary, sanitizer: &Sanitizer) -> u8 {
    let finished = reporters.finish();
    for file in &finished.written {
        match file.extension().and_then(|e| e.to_str()) {
            Some("svg") => eprintln!("plot: {}", sanitizer.name(&file.display().to_string())),
            Some("html") => eprintln!("html report: {}", sanitizer.name(&file.display().to_string())),
            _ => {}
        }
    }
    let code = exit_code(summary);
    if !finished.errors.is_empty() {
        for e in &finished.errors {
            eprintln!("error: {}", sanitizer.text(e));
        }
        // A failed or interrupted run keeps its own code: CI must still see that tests failed.
        return if code == exit::PASSED { exit::INTERNAL_ERROR } else { code };
    }
    code
}

/// Spec problems: told on stderr and in the JUnit file, and nothing is sent.
fn spec_errors(errors: &SpecErrors, junit: Option<&PathBuf>, sanitizer: &Sanitizer) -> u8 {
    print_diagnostics(&errors.diagnostics, sanitizer);
    if let Some(path) = junit {
        let mut report = Junit::new(path.clone(), sanitizer.clone());
        report.spec_errors(&errors.diagnostics);
        if let Err(e) = report.finish() {
            eprintln!("error: {}", sanitizer.text(&e));
        }
    }
    exit::SPEC_ERROR
}

/// `llmspec merge`: the shards' results, added up into the reports of one run. The specs are
/// loaded again from the paths the shards were given, and must be the ones they ran.
fn merge_command(args: &MergeArgs) -> u8 {
    let redactor = Arc::new(Redactor::new(args.vars.secrets.iter().map(|(_, v)| v.clone())));
    let sanitizer = Sanitizer::new(redactor.clone());
    let shards: Result<Vec<ShardResults>, String> = args.files.iter().map(|f| ShardResults::read(f)).collect();
    let shards = match shards {
        Ok(shards) => shards,
        Err(e) => return usage_error(&e, args.report.junit.as_ref(), &sanitizer),
    };
    let paths: Vec<PathBuf> = shards.first().map(|s| s.paths.iter().map(PathBuf::from).collect()).unwrap_or_default();
    if paths.is_empty() {
        return usage_error(
            "the results name no spec paths to load the plan from",
            args.report.junit.as_ref(),
            &sanitizer,
        );
    }
    // Nothing is sent: a base URL (which wins over the specs', as --base-url does) lets every
    // spec load as it did on the shards; it is not part of the plan's digest.
    let unused = "http://merge.invalid";
    let plan = match load_specs(&paths, &args.vars, Some(unused), None, &TlsOptions::default()) {
        Ok(plan) => plan,
        Err(errors) => {
            errors.secrets.iter().for_each(|s| redactor.add_header_value(s));
            return spec_errors(&errors, args.report.junit.as_ref(), &sanitizer);
        }
    };
    plan.secrets.iter().for_each(|s| redactor.add_header_value(s));
    let baseline = match args.report.baseline.as_deref().map(Baseline::read).transpose() {
        Ok(b) => b,
        Err(e) => return usage_error(&e, args.report.junit.as_ref(), &sanitizer),
    };
    let mut reporters = Reporters::default();
    let spec_paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    add_reports(&mut reporters, &args.report, &sanitizer, (&plan, &spec_paths, None));
    let summary = llmspec_core::merge::merge(&plan, &shards, baseline.as_ref(), &mut reporters);
    finish(reporters, &summary, &sanitizer)
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
