#!/usr/bin/env python3
"""The load-generator benchmark: llmspec, GuideLLM and vLLM's `bench serve` client, driving the
same streaming workloads against two servers (llmspec's simulator and GuideLLM's mock server).

Started by scripts/bench/run.sh (which installs the peers and builds llmspec first); reads only
the standard library. Every server listens on 127.0.0.1, every run is bounded in time, and every
process started here is stopped here. Results: OUT/results.json, OUT/summary.md, and one folder
per run under OUT/runs/ (the tool's own output, its log with arrival times, its CPU timeline).

How each number is taken:
  - CPU of a client: its whole process tree (workers included) is sampled every 0.1 s by
    proctree.py; the CPU spent inside the tool's own load window (its first to its last request,
    as the tool reports it) is divided by the output tokens it counted in that window. Start-up,
    imports and data generation are left out. llmspec reports the same quantity itself
    (`client_cpu_s`, /proc/self/stat around the load); that figure is the one used for it, and the
    tree measurement of its whole process is recorded beside it.
  - req/s: requests completed in the load window / the window.
  - TTFT overstatement: p50 and p99 of the TTFT the tool reports, minus the TTFT the server is
    configured with. The chunk-gap overstatement is taken the same way from the inter-token gaps.
  - Cores: the servers run on the first core this process may use (taskset -c), every client on
    the others, so that client and server never compete for a core; llmspec also runs on one
    client core only, and (with a single client core) on every core, shared with the server.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCTREE = HERE / "proctree.py"
TOKENS = 128
PACED_TTFT_MS = 100
PACED_GAP_MS = 20
CLK = os.sysconf("SC_CLK_TCK")
PHASES = ("zero", "paced", "coldstart", "memory", "mock", "profile", "timing")
QUIET_CORES = 0.15   # other work tolerated on the machine before a run starts
QUIET_WAIT_S = 120   # the longest wait for that before one run
QUIET_BUDGET_S = 300.0  # and over the whole benchmark
RETRY_CORES = 0.25   # other work during a run above which it is run again
RETRIES = 2          # at most this many times
TIMING_STREAMS = (1000, 4000)  # streams at once in the timing_accuracy bench


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# Cores: the server on one, the clients on the others.


def core_plan():
    """The cores this process may use, split into the server's (the first) and the clients'
    (the rest). With one core, or without taskset, nothing is pinned and the plan says why."""
    allowed = sorted(os.sched_getaffinity(0))
    plan = {"allowed": allowed, "server": allowed, "client": allowed, "pinned": False}
    if len(allowed) < 2:
        plan["note"] = f"only one core ({allowed[0]}) may be used: client and server run unpinned on it"
    elif not shutil.which("taskset"):
        plan["note"] = "taskset is missing: client and server run unpinned"
    else:
        plan.update(server=allowed[:1], client=allowed[1:], pinned=True)
    return plan


def cpulist(cores):
    return ",".join(str(c) for c in cores)


def pinned(cmd, cores):
    """`cmd` run on `cores` (taskset execs it: the process and its pid stay the same)."""
    if not CORES["pinned"] or not cores:
        return list(cmd)
    return ["taskset", "-c", cpulist(cores), *cmd]


def client_variants():
    """The core sets llmspec's scaling rows run on, besides all client cores: one client core
    (when there are several), or every core shared with the server (when there is only one)."""
    if not CORES["pinned"]:
        return {}
    if len(CORES["client"]) > 1:
        return {"1core": CORES["client"][:1]}
    return {"shared": CORES["allowed"]}


# ------------------------------------------------------------------------------------------
# Machine-wide CPU, to notice other work on the machine during a run.


def machine_busy_s():
    """(CPU seconds the machine spent busy outside interrupts, in irq + softirq) so far."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    irq = v[5] + v[6]
    return (v[0] + v[1] + v[2] + v[7]) / CLK, irq / CLK


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0.0
    r = s[s.rfind(")") + 2 :].split()
    return sum(int(x) for x in r[11:15]) / CLK


# ------------------------------------------------------------------------------------------
# Servers.


class Server:
    def __init__(self, name, cmd, port, ready, env=None, timeout=90):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.logf = open(OUT / "servers" / f"{name}.log", "w")
        self.cores = CORES["server"] if CORES["pinned"] else None
        self.proc = subprocess.Popen(
            pinned(cmd, self.cores), stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start (see {self.logf.name})")
            try:
                with urllib.request.urlopen(self.url + ready, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} not ready after {timeout} s")

    def cpu_s(self):
        # the server's own process; its workers, if any, are children of it
        total = proc_cpu_s(self.proc.pid)
        try:
            for line in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
                total += proc_cpu_s(int(line))
        except OSError:
            pass
        return total

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


def sim(name, port, *extra, tokens=TOKENS):
    return Server(
        name,
        [str(A.llmspec), "sim", "--port", str(port), "--output-tokens", str(tokens), *extra],
        port, "/v1/models",
    )


def mock(name, port, ttft_ms, itl_ms):
    return Server(
        name,
        [str(A.guidellm_venv / "bin" / "guidellm"), "mock-server", "--host", "127.0.0.1",
         "--port", str(port), "--model", "sim-model", "--ttft-ms", str(ttft_ms),
         "--itl-ms", str(itl_ms), "--output-tokens", str(TOKENS)],
        port, "/health", env=peer_env(), timeout=120,
    )


def peer_env():
    e = dict(os.environ)
    e.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
             VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
             TOKENIZERS_PARALLELISM="false")
    return e


# ------------------------------------------------------------------------------------------
# Running one client under proctree.py.


def foreign_cores(server, seconds=1.0):
    """Cores busy over `seconds` with work that is neither the server's nor interrupts."""
    b0, s0, t0 = machine_busy_s(), server.cpu_s() if server else 0.0, time.time()
    time.sleep(seconds)
    b1, s1, t1 = machine_busy_s(), server.cpu_s() if server else 0.0, time.time()
    return max(0.0, (b1[0] - b0[0]) - (s1 - s0)) / (t1 - t0)


def wait_quiet(server, label):
    """Wait (bounded) until nothing else keeps the machine busy, so that runs do not share the
    2 cores with unrelated work; the run goes ahead after QUIET_WAIT_S either way."""
    global QUIET_BUDGET_S
    t0 = time.time()
    deadline = t0 + min(QUIET_WAIT_S, QUIET_BUDGET_S)
    busy = foreign_cores(server)
    if busy > QUIET_CORES:
        log(f"{label}: the machine is busy with other work ({busy:.2f} cores); waiting for it")
    while busy > QUIET_CORES and time.time() < deadline:
        busy = foreign_cores(server, 2.0)
    QUIET_BUDGET_S -= time.time() - t0 - 1.0
    return round(busy, 3)


def run_measured(label, cmd, server, timeout, env=None, cwd=None, cores=None):
    """Run on `cores` (default: the client cores); while other work on the machine took more than
    RETRY_CORES during the run, run again (at most RETRIES times) and keep the quietest attempt.
    cores=False: run unpinned (a command that pins itself)."""
    if cores is None:
        cores = CORES["client"]
    cmd = pinned(cmd, cores) if cores else list(cmd)
    best = run_once(label, cmd, server, timeout, env, cwd)
    attempts = 1
    while best[0]["other_cpu_cores"] > RETRY_CORES and best[0]["rc"] == 0 and attempts <= RETRIES:
        log(f"{label}: other work took {best[0]['other_cpu_cores']} cores during the run; running it again")
        keep = OUT / "runs" / f"{label}.kept"
        if keep.exists():
            shutil.rmtree(keep)
        best[2].rename(keep)
        attempt = run_once(label, cmd, server, timeout, env, cwd)
        attempts += 1
        if attempt[0]["rc"] == 0 and attempt[0]["other_cpu_cores"] < best[0]["other_cpu_cores"]:
            shutil.rmtree(keep)
            best = attempt
        else:
            shutil.rmtree(attempt[2])
            keep.rename(best[2])
    best[0]["attempts"] = attempts
    best[0]["client_cores"] = cpulist(cores) if cores and CORES["pinned"] else None
    return best


def run_once(label, cmd, server, timeout, env=None, cwd=None):
    quiet_before = wait_quiet(server, label)
    d = OUT / "runs" / label
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    busy0, srv0, t0 = machine_busy_s(), server.cpu_s() if server else 0.0, time.time()
    log(f"{label}: {' '.join(str(c) for c in cmd[:6])} ...")
    p = subprocess.run(
        [sys.executable, str(PROCTREE), "--out", str(d / "proctree.json"), "--log", str(d / "log.txt"),
         "--timeout", str(timeout), "--", *map(str, cmd)],
        env=env, cwd=cwd or d,
    )
    busy1, srv1, t1 = machine_busy_s(), server.cpu_s() if server else 0.0, time.time()
    tree = json.loads((d / "proctree.json").read_text())
    server_cpu = srv1 - srv0
    # CPU used on the machine by neither this client nor the server: the sampler (about 0.02
    # core) and anything else running; interrupt time (loopback packets) apart.
    other = (busy1[0] - busy0[0]) - tree["cpu_total_s"] - server_cpu
    irq = busy1[1] - busy0[1]
    info = {
        "label": label, "dir": str(d), "rc": p.returncode, "timed_out": tree["timed_out"],
        "wall_s": round(tree["wall_s"], 3), "tree_cpu_total_s": round(tree["cpu_total_s"], 3),
        "tree_peak_rss_mb": round(tree["peak_tree_rss_mb"], 1),
        "server_cpu_s": round(server_cpu, 3),
        "other_cpu_cores": round(max(other, 0.0) / max(t1 - t0, 1e-9), 3),
        "irq_cpu_cores": round(irq / max(t1 - t0, 1e-9), 3),
        "other_cpu_cores_before": quiet_before,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
    }
    if p.returncode != 0:
        tail = (d / "log.txt").read_text().splitlines()[-15:]
        info["error"] = f"exit {p.returncode}: " + " | ".join(l.split("\t", 1)[-1] for l in tail)
        log(f"{label}: FAILED ({info['error'][:300]})")
    return info, tree, d


def cpu_at(samples, t):
    """Cumulative tree CPU at wall-clock t, interpolated between samples."""
    prev = samples[0]
    if t <= prev[0]:
        return prev[1]
    for s in samples[1:]:
        if s[0] >= t:
            f = (t - prev[0]) / max(s[0] - prev[0], 1e-9)
            return prev[1] + f * (s[1] - prev[1])
        prev = s
    return samples[-1][1]


def per_million(cpu, tokens):
    return round(cpu / tokens * 1e6, 2) if tokens else None


def q(x, nd=3):
    return None if x is None else round(float(x), nd)


# ------------------------------------------------------------------------------------------
# The three clients.


def llmspec_cmd(spec, server, vars_):
    cmd = [A.llmspec, "run", HERE / "specs" / spec, "--base-url", server.url, "--color", "never",
           "--json", "result.json"]
    for k, v in vars_.items():
        cmd += ["--var", f"{k}={v}"]
    return cmd


def llmspec_run(label, spec, server, vars_, timeout=300, cores=None):
    info, tree, d = run_measured(label, llmspec_cmd(spec, server, vars_), server, timeout, cores=cores)
    info["tool"] = "llmspec"
    try:
        t = json.loads((d / "result.json").read_text())["suites"][0]["tests"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        info.setdefault("error", f"no result: {e}")
        return info
    a, p = t["aggregate"], t["properties"]
    sc = a["scalars"]
    fp = lambda k: q(p.get(k)) if p.get(k) is not None else None
    info.update(
        verdict=t["verdict"], count=a["count"], errors=a["errors"], failed=a["failed"],
        window_s=q(a["duration_s"]), req_per_s=q(sc["req_per_s"], 1),
        output_tokens=a["output_tokens"], output_tokens_per_s=q(sc["output_tokens_per_s"], 0),
        client_cpu_s=sc.get("client_cpu_s"), peak_rss_mb=q(sc.get("client_peak_rss_mb"), 1),
        cpu_per_1m_tokens=per_million(sc.get("client_cpu_s") or 0, a["output_tokens"]),
        ttft_p50_ms=fp("p50_ttft_ms"), ttft_p99_ms=fp("p99_ttft_ms"), ttft_max_ms=fp("max_ttft_ms"),
        # time spent opening connections, when this llmspec reports it
        connect_p50_ms=fp("p50_connect_ms"), connect_p99_ms=fp("p99_connect_ms"),
        connect_max_ms=fp("max_connect_ms"),
        gap_p50_ms=fp("p50_chunk_gap_ms"), gap_p99_ms=fp("p99_chunk_gap_ms"),
        tokens_per_request=q(a["output_tokens"] / a["count"], 2) if a["count"] else None,
    )
    return info


def guidellm_run(label, server, streams, seconds, timeout=420):
    cmd = [A.guidellm_venv / "bin" / "guidellm", "run",
           "--backend", f"kind=openai_http,target={server.url},model=sim-model",
           "--profile", f"kind=concurrent,streams={streams}",
           "--data", f"kind=synthetic_text,prompt_tokens=32,output_tokens={TOKENS}",
           "--tokenizer", f"kind=hf_auto,model={A.tokenizer}",
           "--constraint", f"kind=max_duration,seconds={seconds}",
           "--output", "kind=json,path=result.json", "--disable-progress"]
    info, tree, d = run_measured(label, cmd, server, timeout, env=peer_env())
    info["tool"] = "guidellm"
    try:
        b = json.loads((d / "result.json").read_text())["benchmarks"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        info.setdefault("error", f"no result: {e}")
        return info
    sm, m = b["scheduler_metrics"], b["metrics"]
    w0, w1 = sm["request_start_time"], sm["request_end_time"]
    cpu = cpu_at(tree["samples"], w1) - cpu_at(tree["samples"], w0)
    tok = m["output_token_count"]["total"]["total_sum"]
    ok = m["request_totals"]["successful"]
    pct = lambda k, p: q(m[k]["successful"]["percentiles"][p])
    info.update(
        count=ok, errors=m["request_totals"]["errored"], incomplete=m["request_totals"]["incomplete"],
        window_s=q(w1 - w0), req_per_s=q(ok / (w1 - w0), 1), output_tokens=tok,
        output_tokens_per_s=q(tok / (w1 - w0), 0), window_cpu_s=q(cpu),
        cpu_per_1m_tokens=per_million(cpu, tok),
        ttft_p50_ms=pct("time_to_first_token_ms", "p50"), ttft_p99_ms=pct("time_to_first_token_ms", "p99"),
        gap_p50_ms=pct("inter_token_latency_ms", "p50"), gap_p99_ms=pct("inter_token_latency_ms", "p99"),
        tokens_per_request=q(m["output_token_count"]["successful"]["mean"], 2),
        worker_processes=b["config"]["strategy"].get("worker_count"),
    )
    return info


def vllm_run(label, server, concurrency, prompts, timeout=420):
    code = ("from vllm.benchmarks.serve import add_cli_args, main\n"
            "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
            "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args())\n")
    cmd = [A.vllm_python, "-c", code, "--backend", "openai-chat", "--base-url", server.url,
           "--endpoint", "/v1/chat/completions", "--model", "sim-model", "--tokenizer", A.tokenizer,
           "--dataset-name", "random", "--random-input-len", "32", "--random-output-len", str(TOKENS),
           "--ignore-eos", "--num-prompts", str(prompts), "--max-concurrency", str(concurrency),
           "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
           "--disable-tqdm", "--save-result", "--result-dir", ".", "--result-filename", "result.json"]
    info, tree, d = run_measured(label, cmd, server, timeout, env=peer_env())
    info["tool"] = "vllm bench serve"
    try:
        r = json.loads((d / "result.json").read_text())
    except (OSError, ValueError) as e:
        info.setdefault("error", f"no result: {e}")
        return info
    # The load starts right after it prints "Maximum request concurrency: N" (serve.py), and
    # lasts `duration` (its own perf_counter span over all requests).
    w0 = None
    for line in (d / "log.txt").read_text().splitlines():
        ts, _, text = line.partition("\t")
        if text.startswith("Maximum request concurrency:"):
            w0 = float(ts)
            break
    w1 = w0 + r["duration"] if w0 else None
    cpu = cpu_at(tree["samples"], w1) - cpu_at(tree["samples"], w0) if w0 else None
    tok = r["total_output_tokens"]
    info.update(
        count=r["completed"], errors=r["failed"], window_s=q(r["duration"]),
        req_per_s=q(r["request_throughput"], 1), output_tokens=tok,
        output_tokens_per_s=q(r["output_throughput"], 0), window_cpu_s=q(cpu),
        cpu_per_1m_tokens=per_million(cpu, tok) if cpu is not None else None,
        ttft_p50_ms=q(r["p50_ttft_ms"]), ttft_p99_ms=q(r["p99_ttft_ms"]),
        gap_p50_ms=q(r["p50_itl_ms"]), gap_p99_ms=q(r["p99_itl_ms"]),
        tokens_per_request=q(tok / r["completed"], 2) if r["completed"] else None,
    )
    return info


def whole_run(run):
    """CPU of the whole run (start-up, data generation and reporting included) per 1M tokens."""
    if run.get("output_tokens"):
        run["cpu_per_1m_tokens_whole_run"] = per_million(run["tree_cpu_total_s"], run["output_tokens"])
    return run


def overstatement(run, ttft_ms, gap_ms):
    if run.get("ttft_p50_ms") is None:
        return run
    run["ttft_over_p50_ms"] = q(run["ttft_p50_ms"] - ttft_ms)
    run["ttft_over_p99_ms"] = q(run["ttft_p99_ms"] - ttft_ms)
    if run.get("ttft_max_ms") is not None:
        run["ttft_over_max_ms"] = q(run["ttft_max_ms"] - ttft_ms)
    if run.get("gap_p50_ms") is not None:
        run["gap_over_p50_ms"] = q(run["gap_p50_ms"] - gap_ms)
        run["gap_over_p99_ms"] = q(run["gap_p99_ms"] - gap_ms)
    return run


# ------------------------------------------------------------------------------------------
# Profile: where llmspec's CPU goes, from perf samples with call stacks.

PROFILE_SECONDS = 6
# (name, what it stands for, pattern in a frame's symbol, "incl": anywhere on the stack / "self":
# the sampled frame itself)
BUCKETS = [
    ("`run::stream::Sink::absorb`", "chunk parsing and reassembly", "run::stream::Sink::absorb", "incl"),
    ("`serde_json`", "JSON", "serde_json", "incl"),
    ("`run::sse::SseParser::push`", "SSE split", "run::sse::SseParser::push", "incl"),
    ("`hyper::`", "HTTP/1.1", "hyper::", "incl"),
    ("`reqwest::`", "reqwest's body and client layers", "reqwest::", "incl"),
    ("`tokio::runtime` (self)", "tokio's scheduler, its own code only", "tokio::runtime", "self"),
    ("`do_syscall_64`", "kernel: system calls", "do_syscall_64", "incl"),
    ("`tokio::time`", "tokio's timers", "tokio::time", "incl"),
]
ALLOC_SYMBOLS = ("malloc", "_int_malloc", "_int_free", "cfree", "free", "realloc", "_int_realloc",
                 "malloc_consolidate", "__libc_malloc", "__libc_free", "__rust_alloc", "__rust_dealloc")


def perf_usable():
    """(True, "") when perf can count and sample here, else (False, why)."""
    if not shutil.which("perf"):
        return False, "perf is not installed"
    try:
        r = subprocess.run(["perf", "stat", "-e", "instructions", "true"], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"`perf stat -e instructions true` failed: {e}"
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"`perf stat -e instructions true` failed (exit {r.returncode}: {last})"
    return True, ""


def perf_stacks(script_text):
    """The call stacks of `perf script -F ip,sym` output, innermost frame first; each frame is
    (is_kernel, symbol)."""
    stacks, cur = [], []
    for line in script_text.splitlines():
        parts = line.split(None, 1)
        if not parts:
            if cur:
                stacks.append(cur)
            cur = []
            continue
        addr, sym = parts[0], (parts[1] if len(parts) > 1 else "[unknown]")
        cur.append((len(addr) == 16 and addr.startswith("ffff"), sym.strip()))
    if cur:
        stacks.append(cur)
    return stacks


def perf_top_self(report_text, limit=1.0):
    """(percent, symbol) rows of `perf report --no-children --sort symbol` text, at least `limit` %."""
    rows = []
    for line in report_text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or line.startswith("#") or not parts[0].endswith("%") or not parts[1].startswith("["):
            continue
        pct = float(parts[0].rstrip("%"))
        sym = parts[2].rstrip()
        while sym.endswith("-"):  # the IPC columns perf adds when it has no hardware counters
            sym = sym[:-1].rstrip()
        if pct >= limit:
            rows.append((pct, f"{parts[1]} {sym}"))
    return rows


def profile_run(server):
    """perf record of llmspec's zero-delay 64-stream closed loop on the client cores; the raw
    reports go to runs/profile/, the digest to OUT/profile.md and into the results."""
    d = OUT / "runs" / "profile"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    data = d / "perf.data"
    vars_ = {"c": 64, "duration": f"{PROFILE_SECONDS}s"}
    target = pinned(llmspec_cmd("closed.yaml", server, vars_), CORES["client"])
    cmd = ["perf", "record", "-F", "499", "--call-graph", "dwarf,32768", "-o", str(data), "--", *map(str, target)]
    quiet = wait_quiet(server, "profile")
    log(f"profile: perf record -F 499 --call-graph dwarf,32768 -- {' '.join(map(str, target[:6]))} ...")
    with open(d / "log.txt", "w") as logf:
        try:
            p = subprocess.run(cmd, cwd=d, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               timeout=PROFILE_SECONDS + 120)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    info = {"command": " ".join(map(str, cmd)), "client_cores": cpulist(CORES["client"]) if CORES["pinned"] else None,
            "server_cores": cpulist(CORES["server"]) if CORES["pinned"] else None, "rc": rc,
            "other_cpu_cores_before": quiet}
    if rc != 0 or not data.exists():
        info["error"] = f"perf record exited {rc} (see {d / 'log.txt'})"
        log(f"profile: FAILED: {info['error']}")
        return info
    try:
        t = json.loads((d / "result.json").read_text())["suites"][0]["tests"][0]
        sc = t["aggregate"]["scalars"]
        info.update(req_per_s=q(sc["req_per_s"], 1),
                    cpu_per_1m_tokens=per_million(sc.get("client_cpu_s") or 0, t["aggregate"]["output_tokens"]))
    except (OSError, ValueError, KeyError, IndexError):
        pass

    def perf_text(*args):
        r = subprocess.run(["perf", *args, "-i", str(data)], capture_output=True, text=True, timeout=900)
        return r.stdout

    log("profile: perf report and perf script (about a minute)")
    self_txt = perf_text("report", "--stdio", "--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "0.5")
    children_txt = perf_text("report", "--stdio", "--children", "--no-inline", "--sort", "symbol", "-g", "none",
                             "--percent-limit", "0.5")
    (d / "perf-report-self.txt").write_text(self_txt)
    (d / "perf-report-children.txt").write_text(children_txt)
    # Inlined frames are left out: perf names them without their module path, and resolving
    # them takes a minute; a function inlined into its caller counts as its caller.
    stacks = perf_stacks(perf_text("script", "-F", "ip,sym", "--no-inline"))
    n = len(stacks)
    info["samples"] = n
    info["top_self"] = [{"percent": pc, "symbol": sym} for pc, sym in perf_top_self(self_txt)]
    buckets = []
    for name, what, pattern, how in BUCKETS:
        if how == "self":
            hit = sum(1 for st in stacks if pattern in st[0][1])
        else:
            hit = sum(1 for st in stacks if any(pattern in f[1] for f in st))
        if hit:
            buckets.append({"bucket": name, "what": what, "kind": how, "percent": round(100 * hit / max(n, 1), 1)})
    kernel = sum(1 for st in stacks if st[0][0])
    alloc = sum(1 for st in stacks if st[0][1] in ALLOC_SYMBOLS)
    buckets.append({"bucket": "kernel (self)", "what": "every sample taken in the kernel", "kind": "self",
                    "percent": round(100 * kernel / max(n, 1), 1)})
    buckets.append({"bucket": "malloc / free (self)", "what": "the allocator's own code", "kind": "self",
                    "percent": round(100 * alloc / max(n, 1), 1)})
    info["buckets"] = buckets
    return info


def render_profile(pr):
    out = ["# Where llmspec's CPU goes", ""]
    if pr.get("skipped"):
        return "\n".join(out + [f"No profile: {pr['skipped']}.", ""])
    if pr.get("error"):
        return "\n".join(out + [f"Profile failed: {pr['error']}", ""])
    cores = (f"llmspec on core(s) {pr['client_cores']}, the simulator on core {pr['server_cores']}"
             if pr.get("client_cores") else "client and simulator unpinned")
    out += [f"`perf record -F 499 --call-graph dwarf,32768` of `llmspec run scripts/bench/specs/closed.yaml "
            f"--var c=64 --var duration={PROFILE_SECONDS}s` against the zero-delay simulator (128-token streams), "
            f"{cores}: {pr.get('samples', 0):,} samples of the whole process (start-up and report included). "
            f"Under perf it ran {fmt(pr.get('req_per_s'))} req/s at {fmt(pr.get('cpu_per_1m_tokens'), 2)} "
            f"client CPU-s per 1M tokens.", "",
            "## Where the time goes", "",
            "Share of the samples with the function on the call stack (inclusive), or, marked self, "
            "taken in it. The rows overlap (JSON is parsed inside `Sink::absorb`, system calls are made "
            "from hyper and tokio): they do not add up to 100 %. Inlined functions count as their "
            "caller.", "",
            "| bucket | what | share of samples |", "|---|---|---|"]
    for b in pr.get("buckets", []):
        out.append(f"| {b['bucket']} | {b['what']} | {b['percent']:.1f} % |")
    out += ["", "## Top self-time symbols (≥ 1 %)", "", "| self | symbol |", "|---|---|"]
    for r in pr.get("top_self", []):
        sym = r["symbol"].replace("|", "\\|")
        out.append(f"| {r['percent']:.2f} % | `{sym}` |")
    out += ["", "Raw reports: `runs/profile/perf-report-self.txt` (`perf report --no-children`), "
            "`runs/profile/perf-report-children.txt` (`perf report --children --no-inline`), "
            "`runs/profile/perf.data`.", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------


def main():
    global A, OUT, CORES
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmspec", type=Path, required=True)
    ap.add_argument("--timing-bench", type=Path, help="the compiled timing_accuracy bench")
    ap.add_argument("--guidellm-venv", type=Path)
    ap.add_argument("--vllm-python", type=Path)
    ap.add_argument("--tokenizer", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--port", type=int, default=18180, help="first of the ports used")
    ap.add_argument("--quick", action="store_true", help="short runs, to try the script")
    ap.add_argument("--meta", type=Path, help="JSON of versions and machine facts to embed")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated subset of " + ",".join(PHASES) + "; the others are kept from OUT/results.json")
    ap.add_argument("--render", action="store_true", help="only redo summary.md from OUT/results.json")
    A = ap.parse_args()
    OUT = A.out
    if A.render:
        res = json.loads((OUT / "results.json").read_text())
        for r in res["runs"].values():
            whole_run(r)
        res["summary"] = summarize(res["runs"], res.get("timing_accuracy"))
        (OUT / "results.json").write_text(json.dumps(res, indent=2))
        md = render(res)
        (OUT / "summary.md").write_text(md)
        if res.get("profile"):
            (OUT / "profile.md").write_text(render_profile(res["profile"]))
        print(md)
        return
    CORES = core_plan()
    if CORES["pinned"]:
        log(f"servers on core {cpulist(CORES['server'])}, clients on core(s) {cpulist(CORES['client'])}")
    else:
        log(f"not pinned: {CORES['note']}")
    (OUT / "servers").mkdir(parents=True, exist_ok=True)
    (OUT / "runs").mkdir(parents=True, exist_ok=True)
    quick = A.quick
    dur = "3s" if quick else "8s"          # llmspec closed loops (it needs no warm-up of its own)
    pdur = "5s" if quick else "15s"        # llmspec closed loops against paced servers
    gl_s = 8 if quick else 20              # GuideLLM max_duration
    vllm_sat = 1500 if quick else 6000     # vLLM prompts against a zero-delay server
    vllm_paced = 200 if quick else 800     # vLLM prompts at 100 streams x 2.64 s
    have_gl = A.guidellm_venv is not None and A.tokenizer is not None
    have_vllm = A.vllm_python is not None and A.tokenizer is not None
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": quick,
           "tokens_per_stream": TOKENS, "paced_server": {"ttft_ms": PACED_TTFT_MS, "gap_ms": PACED_GAP_MS},
           "meta": json.loads(A.meta.read_text()) if A.meta else {}, "cores": CORES, "runs": {}}
    phases = set(A.phases.split(","))
    unknown = phases - set(PHASES)
    if unknown:
        sys.exit(f"unknown phase(s) {','.join(sorted(unknown))}; the phases are {','.join(PHASES)}")
    if phases != set(PHASES) and (OUT / "results.json").exists():
        # a partial run: keep the other phases' runs of the last full one
        old = json.loads((OUT / "results.json").read_text())
        res["runs"] = old.get("runs", {})
        for key, phase in (("timing_accuracy", "timing"), ("profile", "profile")):
            if phase not in phases and key in old:
                res[key] = old[key]
        res["phases_rerun"] = sorted(phases)
        res["meta_of_kept_runs"] = old.get("meta_of_kept_runs", old.get("meta"))
        res["started_first"] = old.get("started_first", old.get("started"))
    runs = res["runs"]
    t_start = time.time()
    port = A.port
    servers = []

    def start(srv):
        servers.append(srv)
        return srv

    def stop(srv):
        srv.stop()
        servers.remove(srv)

    try:
        # 1. Zero-delay simulator: saturated throughput.
        if "zero" in phases:
            s = start(sim("sim-zero", port))
            llmspec_run("warmup", "closed.yaml", s, {"c": 64, "duration": "2s"})
            for c in (16, 64, 256):
                runs[f"llmspec/sim-zero/c{c}"] = llmspec_run(f"llmspec-sim-zero-c{c}", "closed.yaml", s,
                                                             {"c": c, "duration": dur})
            for variant, cores in client_variants().items():
                runs[f"llmspec@{variant}/sim-zero/c64"] = llmspec_run(
                    f"llmspec-sim-zero-c64-{variant}", "closed.yaml", s, {"c": 64, "duration": dur}, cores=cores)
            if have_gl:
                runs["guidellm/sim-zero/c64"] = guidellm_run("guidellm-sim-zero-c64", s, 64, gl_s)
            if have_vllm:
                runs["vllm/sim-zero/c64"] = vllm_run("vllm-sim-zero-c64", s, 64, vllm_sat)
            stop(s)

        # 2. Paced simulator (TTFT 100 ms, 20 ms between chunks): TTFT and gap overstatement.
        if "paced" in phases:
            s = start(sim("sim-paced", port + 1, "--ttft", f"{PACED_TTFT_MS}ms", "--chunk-delay", f"{PACED_GAP_MS}ms"))
            for c in (100, 1000):
                runs[f"llmspec/sim-paced/c{c}"] = overstatement(
                    llmspec_run(f"llmspec-sim-paced-c{c}", "closed.yaml", s, {"c": c, "duration": pdur}),
                    PACED_TTFT_MS, PACED_GAP_MS)
                for variant, cores in client_variants().items():
                    runs[f"llmspec@{variant}/sim-paced/c{c}"] = overstatement(
                        llmspec_run(f"llmspec-sim-paced-c{c}-{variant}", "closed.yaml", s,
                                    {"c": c, "duration": pdur}, cores=cores),
                        PACED_TTFT_MS, PACED_GAP_MS)
            if have_gl:
                runs["guidellm/sim-paced/c100"] = overstatement(
                    guidellm_run("guidellm-sim-paced-c100", s, 100, gl_s), PACED_TTFT_MS, PACED_GAP_MS)
            if have_vllm:
                runs["vllm/sim-paced/c100"] = overstatement(
                    vllm_run("vllm-sim-paced-c100", s, 100, vllm_paced), PACED_TTFT_MS, PACED_GAP_MS)
            stop(s)

        # Cold start: 1,000 streams opened at once against a fresh paced simulator, by a fresh
        # llmspec: the connection storm (a lost SYN is retried after 1 s) shows in the TTFT.
        if "coldstart" in phases:
            for i in range(1 if quick else 3):
                s = start(sim(f"sim-coldstart-{i + 1}", port + 5, "--ttft", f"{PACED_TTFT_MS}ms",
                              "--chunk-delay", f"{PACED_GAP_MS}ms"))
                runs[f"llmspec/coldstart/n1000/{i + 1}"] = overstatement(
                    llmspec_run(f"llmspec-coldstart-n1000-{i + 1}", "burst.yaml", s,
                                {"n": 1000, "max_tokens": TOKENS}),
                    PACED_TTFT_MS, PACED_GAP_MS)
                stop(s)

        # 3. Memory: 1,000 and 10,000 streams in flight at once (each lasts about 5 s).
        if "memory" in phases:
            s = start(sim("sim-long", port + 2, "--ttft", "2s", "--chunk-delay", "200ms", tokens=16))
            for n in (1000, 10000):
                runs[f"llmspec/sim-long/n{n}"] = llmspec_run(f"llmspec-sim-long-n{n}", "burst.yaml", s,
                                                             {"n": n, "max_tokens": 16})
            stop(s)

        # 4. GuideLLM's own mock server, zero-delay and paced.
        if "mock" in phases:
            if have_gl:
                s = start(mock("mock-zero", port + 3, 0, 0))
                runs["llmspec/mock-zero/c64"] = llmspec_run("llmspec-mock-zero-c64", "closed.yaml", s,
                                                            {"c": 64, "duration": dur})
                runs["guidellm/mock-zero/c64"] = guidellm_run("guidellm-mock-zero-c64", s, 64, gl_s)
                if have_vllm:
                    runs["vllm/mock-zero/c64"] = vllm_run("vllm-mock-zero-c64", s, 64, 600 if quick else 2000)
                stop(s)
                s = start(mock("mock-paced", port + 4, PACED_TTFT_MS, PACED_GAP_MS))
                runs["llmspec/mock-paced/c100"] = overstatement(
                    llmspec_run("llmspec-mock-paced-c100", "closed.yaml", s, {"c": 100, "duration": pdur}),
                    PACED_TTFT_MS, PACED_GAP_MS)
                runs["guidellm/mock-paced/c100"] = overstatement(
                    guidellm_run("guidellm-mock-paced-c100", s, 100, gl_s), PACED_TTFT_MS, PACED_GAP_MS)
                if have_vllm:
                    runs["vllm/mock-paced/c100"] = overstatement(
                        vllm_run("vllm-mock-paced-c100", s, 100, vllm_paced), PACED_TTFT_MS, PACED_GAP_MS)
                stop(s)

        # Profile of the zero-delay 64-stream closed loop.
        if "profile" in phases:
            ok, why = perf_usable()
            if not ok:
                log(f"profile: skipped: {why}")
                res["profile"] = {"skipped": why}
            else:
                s = start(sim("sim-profile", port + 6))
                llmspec_run("warmup-profile", "closed.yaml", s, {"c": 64, "duration": "2s"})
                res["profile"] = profile_run(s)
                stop(s)
    finally:
        for srv in list(servers):
            srv.stop()

    # 5. Instrument accuracy: the timing_accuracy bench (its own simulator with --stamp), three
    #    times, each on a quiet machine when possible; the median p99 is the one reported.
    if A.timing_bench and "timing" in phases:
        reps = []
        # The bench pins itself and its simulator (core plan printed first); its descriptors: the
        # soft limit raised to the hard one (4,000 streams need 4,000+ in each process).
        cmd = ["bash", "-c", 'ulimit -n "$(ulimit -Hn)"; exec "$@"', "bash", A.timing_bench, "--bench",
               *map(str, TIMING_STREAMS)]
        for i in range(1 if quick else 3):
            info, _, d = run_measured(f"timing-accuracy-{i + 1}", cmd, None, 900, cwd=HERE, cores=False)
            text = "\n".join(l.split("\t", 1)[-1] for l in (d / "log.txt").read_text().splitlines())
            info["stdout"] = text
            info["table"] = parse_timing_table(text)
            reps.append(info)
        res["timing_accuracy"] = {"runs": reps}

    for r in runs.values():
        whole_run(r)
    res["wall_s"] = round(time.time() - t_start, 1)
    if res.get("profile"):
        (OUT / "profile.md").write_text(render_profile(res["profile"]))
        log(f"profile: {OUT / 'profile.md'}")
    res["summary"] = summarize(runs, res.get("timing_accuracy"))
    (OUT / "results.json").write_text(json.dumps(res, indent=2))
    md = render(res)
    (OUT / "summary.md").write_text(md)
    print(md)
    log(f"done in {res['wall_s']} s; results in {OUT / 'results.json'}")


# ------------------------------------------------------------------------------------------
# Summary and tables.


def parse_timing_table(stdout):
    rows = {}
    for line in (stdout or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0].isdigit():
            n = int(cells[0])
            v = [float(c) for c in cells[1:7]]
            rows[n] = {"ttft_err_p50_us": v[0], "ttft_err_p99_us": v[1], "ttft_err_max_us": v[2],
                       "gap_err_p50_us": v[3], "gap_err_p99_us": v[4], "gap_err_max_us": v[5],
                       "streams_measured": int(cells[7])}
    return rows


def summarize(runs, timing):
    s = {}
    zero = [runs.get(f"llmspec/sim-zero/c{c}") for c in (16, 64, 256)]
    zero = [r for r in zero if r and r.get("req_per_s")]
    if zero:
        best = max(zero, key=lambda r: r["req_per_s"])
        s["llmspec_best"] = {
            "label": best["label"], "req_per_s": best["req_per_s"],
            # output-carrying chunks/s (one token per chunk), and all SSE events/s
            # (role chunk + 128 content chunks + usage chunk per stream; [DONE] not counted)
            "content_chunks_per_s": best["output_tokens_per_s"],
            "events_per_s": round(best["req_per_s"] * (TOKENS + 2)),
            "cpu_per_1m_tokens": best["cpu_per_1m_tokens"],
        }
    c64 = runs.get("llmspec/sim-zero/c64")
    for n in (1000, 10000):
        r = runs.get(f"llmspec/sim-long/n{n}")
        if r:
            s[f"llmspec_peak_rss_mb_{n}"] = r.get("peak_rss_mb")
    ratios = {}
    for server in ("sim-zero", "sim-paced", "mock-zero", "mock-paced"):
        mine = next((v for k, v in runs.items() if k.startswith(f"llmspec/{server}/") and
                     k.split("/")[2] in ("c64", "c100")), None)
        if not mine or not mine.get("cpu_per_1m_tokens"):
            continue
        for tool in ("guidellm", "vllm"):
            peer = next((v for k, v in runs.items() if k.startswith(f"{tool}/{server}/")), None)
            if peer and peer.get("cpu_per_1m_tokens"):
                ratios[f"{tool}/{server}"] = round(peer["cpu_per_1m_tokens"] / mine["cpu_per_1m_tokens"], 1)
    s["peer_cpu_ratio_vs_llmspec"] = ratios
    if c64:
        peers = [v["cpu_per_1m_tokens"] for k, v in runs.items()
                 if k.split("/")[1] == "sim-zero" and not k.startswith("llmspec") and v.get("cpu_per_1m_tokens")]
        if peers:
            s["target_cpu"] = {"llmspec": c64["cpu_per_1m_tokens"], "best_peer": min(peers),
                               "ratio": round(min(peers) / c64["cpu_per_1m_tokens"], 1),
                               "met": c64["cpu_per_1m_tokens"] <= min(peers) / 10}
    if s.get("llmspec_peak_rss_mb_10000") is not None:
        s["target_rss_10k"] = {"mb": s["llmspec_peak_rss_mb_10000"], "met": s["llmspec_peak_rss_mb_10000"] < 1024}
    scaling = []
    for server, c in (("sim-zero", 64), ("sim-paced", 100), ("sim-paced", 1000)):
        base = runs.get(f"llmspec/{server}/c{c}")
        if not base:
            continue
        one = runs.get(f"llmspec@1core/{server}/c{c}")
        row = {"server": server, "streams": c, "all_client_cores": base.get("client_cores"),
               "all": base.get("cpu_per_1m_tokens"), "all_req_per_s": base.get("req_per_s")}
        if one:
            row.update(one_core=one.get("client_cores"), one=one.get("cpu_per_1m_tokens"),
                       one_req_per_s=one.get("req_per_s"))
        else:  # a single client core: the run on all client cores is the run on one
            row.update(one_core=base.get("client_cores"), one=base.get("cpu_per_1m_tokens"),
                       one_req_per_s=base.get("req_per_s"), same_run=True)
        if row.get("one") and row.get("all"):
            row["ratio_all_over_one"] = round(row["all"] / row["one"], 2)
        shared = runs.get(f"llmspec@shared/{server}/c{c}")
        if shared:
            row.update(shared_cores=shared.get("client_cores"), shared=shared.get("cpu_per_1m_tokens"),
                       shared_req_per_s=shared.get("req_per_s"))
            if row.get("one") and row.get("shared"):
                row["ratio_shared_over_one"] = round(row["shared"] / row["one"], 2)
        scaling.append(row)
    if scaling:
        s["core_scaling"] = scaling
    cold = [r for k, r in sorted(runs.items()) if k.startswith("llmspec/coldstart/")]
    if cold:
        maxes = [r["ttft_max_ms"] for r in cold if r.get("ttft_max_ms") is not None]
        s["coldstart"] = {"runs": len(cold), "worst_ttft_max_ms": max(maxes) if maxes else None,
                          "any_ttft_1s": any(m >= 1000 for m in maxes)}
    # (keys are numbers when fresh, strings once read back from results.json)
    reps = [{int(k): v for k, v in r["table"].items()} for r in (timing or {}).get("runs", []) if r.get("table")]
    if reps:
        # the repetition whose TTFT p99 at 1,000 streams is the median one
        key = lambda t: t.get(1000, t.get(max(t)))["ttft_err_p99_us"]
        reps_sorted = sorted(reps, key=key)
        t = reps_sorted[len(reps_sorted) // 2]
        s["timing_accuracy"] = t
        s["timing_accuracy_p99_ttft_1000_all"] = [key(r) for r in reps]
        if 1000 in t:
            s["target_ttft_err_1000"] = {"p99_us": t[1000]["ttft_err_p99_us"], "met": t[1000]["ttft_err_p99_us"] < 1000}
        if 4000 in t:
            s["ttft_err_4000"] = {"p99_us": t[4000]["ttft_err_p99_us"]}
    return s


def fmt(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, float) and abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}" if isinstance(x, float) else f"{x:,}"


def render(res):
    runs, s = res["runs"], res["summary"]
    out = ["# Load-generator benchmark results", ""]
    out.append(f"Started {res['started']}, {res['wall_s']} s{' (quick mode)' if res['quick'] else ''}.")
    if res.get("phases_rerun"):
        out.append(f"Phases {', '.join(res['phases_rerun'])} of this run; the others from the run started "
                   f"{res.get('started_first')}.")
    cores = res.get("cores")
    if cores and cores.get("pinned"):
        out.append(f"Cores: this machine allows {cpulist(cores['allowed'])}; servers pinned to core "
                   f"{cpulist(cores['server'])} (`taskset -c {cpulist(cores['server'])}`), clients to "
                   f"{cpulist(cores['client'])}: client and server never share a core, except in the rows "
                   "marked shared.")
    elif cores:
        out.append(f"Cores: not pinned ({cores.get('note')}).")
    else:
        out.append("Cores: not pinned (a run from before the benchmark pinned its processes).")
    out += ["", "## llmspec against `llmspec sim` (zero delay, 128-token streams)", "",
            "| concurrency | req/s | output tokens/s | client CPU-s per 1M tokens | whole run CPU-s per 1M | peak RSS MB | TTFT p50 / p99 ms | errors |",
            "|---|---|---|---|---|---|---|---|"]
    for c in (16, 64, 256):
        r = runs.get(f"llmspec/sim-zero/c{c}")
        if r:
            out.append(f"| {c} | {fmt(r.get('req_per_s'))} | {fmt(r.get('output_tokens_per_s'))} | "
                       f"{fmt(r.get('cpu_per_1m_tokens'), 2)} | {fmt(r.get('cpu_per_1m_tokens_whole_run'), 2)} | "
                       f"{fmt(r.get('peak_rss_mb'))} | {fmt(r.get('ttft_p50_ms'), 2)} / {fmt(r.get('ttft_p99_ms'), 2)} | "
                       f"{r.get('errors', '—')} |")
    sc = s.get("core_scaling")
    if sc:
        out += ["", "## llmspec's CPU per token on one client core and on all of them", "",
                "| server | streams | llmspec on | cores | req/s | client CPU-s per 1M tokens | / the 1-core figure |",
                "|---|---|---|---|---|---|---|"]
        for r in sc:
            head = f"| {r['server']} | {r['streams']:,} |"
            out.append(f"{head} 1 client core | {r.get('one_core')} | {fmt(r.get('one_req_per_s'))} | {fmt(r.get('one'), 2)} | 1 |")
            same = " (the same run: there is one client core)" if r.get("same_run") else ""
            out.append(f"{head} all client cores{same} | {r.get('all_client_cores')} | {fmt(r.get('all_req_per_s'))} | "
                       f"{fmt(r.get('all'), 2)} | {fmt(r.get('ratio_all_over_one'), 2)} |")
            if r.get("shared_cores"):
                out.append(f"{head} all cores, sharing core {cpulist(res['cores']['server'])} with the server "
                           f"(**not disjoint**) | {r['shared_cores']} | {fmt(r.get('shared_req_per_s'))} | "
                           f"{fmt(r.get('shared'), 2)} | {fmt(r.get('ratio_shared_over_one'), 2)} |")
    cold = [(k, r) for k, r in sorted(runs.items()) if k.startswith("llmspec/coldstart/")]
    if cold:
        out += ["", f"## Cold start: 1,000 streams opened at once (sim --ttft {PACED_TTFT_MS}ms --chunk-delay "
                f"{PACED_GAP_MS}ms --output-tokens {TOKENS}, fresh server and client each run)", "",
                "| run | TTFT over p50 / p99 / max ms | any TTFT ≥ 1 s | connect p50 / p99 / max ms | requests | errors | client cores |",
                "|---|---|---|---|---|---|---|"]
        for k, r in cold:
            conn = (f"{fmt(r.get('connect_p50_ms'), 2)} / {fmt(r.get('connect_p99_ms'), 2)} / {fmt(r.get('connect_max_ms'), 2)}"
                    if r.get("connect_p50_ms") is not None else "not reported")
            any1s = "—" if r.get("ttft_max_ms") is None else ("**yes**" if r["ttft_max_ms"] >= 1000 else "no")
            out.append(f"| {k.rsplit('/', 1)[-1]} | {fmt(r.get('ttft_over_p50_ms'), 1)} / {fmt(r.get('ttft_over_p99_ms'), 1)} / "
                       f"{fmt(r.get('ttft_over_max_ms'), 1)} | {any1s} | {conn} | {r.get('count', '—')} | "
                       f"{r.get('errors', '—')}{' (FAILED)' if r.get('error') else ''} | {r.get('client_cores') or 'unpinned'} |")
    out += ["", "## llmspec: memory with many streams in flight (sim --ttft 2s --chunk-delay 200ms --output-tokens 16)", "",
            "| streams at once | peak RSS MB | requests | errors | wall s |", "|---|---|---|---|---|"]
    for n in (1000, 10000):
        r = runs.get(f"llmspec/sim-long/n{n}")
        if r:
            out.append(f"| {n:,} | {fmt(r.get('peak_rss_mb'))} | {r.get('count', '—')} | {r.get('errors', '—')} | {fmt(r.get('wall_s'))} |")
    out += ["", f"## Every client against every server (128-token streams; paced = TTFT {PACED_TTFT_MS} ms, "
            f"{PACED_GAP_MS} ms between chunks)", "",
            "| server | client | streams | req/s | output tok/s | client CPU-s per 1M tokens | × llmspec | whole run CPU-s per 1M | TTFT over p50 / p99 ms | chunk gap over p50 / p99 ms | client peak RSS MB | errors | other / irq CPU (cores) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for server in ("sim-zero", "sim-paced", "mock-zero", "mock-paced"):
        mine = next((v for k, v in runs.items() if k.startswith(f"llmspec/{server}/") and k.split("/")[2] in ("c64", "c100")), None)
        for k, r in runs.items():
            parts = k.split("/")
            if parts[1] != server or "@" in parts[0]:
                continue
            ratio = "1"
            if not k.startswith("llmspec"):
                ratio = (f"{r['cpu_per_1m_tokens'] / mine['cpu_per_1m_tokens']:.0f}×"
                         if mine and r.get("cpu_per_1m_tokens") and mine.get("cpu_per_1m_tokens") else "—")
            elif r is not mine:
                ratio = ""
            over = (f"{fmt(r.get('ttft_over_p50_ms'), 2)} / {fmt(r.get('ttft_over_p99_ms'), 2)}"
                    if "ttft_over_p50_ms" in r else "")
            gover = (f"{fmt(r.get('gap_over_p50_ms'), 2)} / {fmt(r.get('gap_over_p99_ms'), 2)}"
                     if "gap_over_p50_ms" in r else "")
            err = r.get("error")
            out.append(f"| {server} | {r['tool']} | {parts[2][1:]} | {fmt(r.get('req_per_s'))} | "
                       f"{fmt(r.get('output_tokens_per_s'))} | {fmt(r.get('cpu_per_1m_tokens'), 2)} | {ratio} | "
                       f"{fmt(r.get('cpu_per_1m_tokens_whole_run'), 2)} | {over} | {gover} | {fmt(r.get('tree_peak_rss_mb'), 0)} | "
                       f"{r.get('errors', '—')}{' (FAILED)' if err else ''} | {fmt(r.get('other_cpu_cores'), 2)} / {fmt(r.get('irq_cpu_cores'), 2)} |")
    b = s.get("llmspec_best")
    if b:
        out += ["", f"Best: {fmt(b['req_per_s'])} streamed req/s, {fmt(b['content_chunks_per_s'])} content chunks/s "
                f"({fmt(b['events_per_s'])} SSE events/s), {b['cpu_per_1m_tokens']} client CPU-s per 1M tokens ({b['label']})."]
    pr = res.get("profile") or {}
    if pr.get("buckets"):
        out += ["", f"## Where llmspec's CPU goes (zero delay, 64 streams, {pr.get('samples', 0):,} perf samples; "
                "details in profile.md)", "", "| bucket | what | share of samples |", "|---|---|---|"]
        out += [f"| {b['bucket']} | {b['what']} | {b['percent']:.1f} % |" for b in pr["buckets"]]
    elif pr.get("skipped") or pr.get("error"):
        out += ["", f"No profile: {pr.get('skipped') or pr.get('error')}."]
    ta = res.get("timing_accuracy")
    if ta:
        out += ["", "## Instrument accuracy (`timing_accuracy` bench)", ""]
        for i, r in enumerate(ta.get("runs", []), 1):
            out += ["", f"Repetition {i} (other CPU on the machine: {fmt(r.get('other_cpu_cores'), 2)} cores):", ""]
            out += [l for l in (r.get("stdout") or r.get("error", "")).splitlines() if l.strip()]
    out += ["", "## Targets", ""]
    tc = s.get("target_cpu")
    if tc:
        out.append(f"- CPU per token ≤ 1/10 of the best peer's (zero-delay sim, 64 streams): llmspec {tc['llmspec']} vs "
                   f"{tc['best_peer']} CPU-s per 1M tokens, {tc['ratio']}× less: {'met' if tc['met'] else 'MISSED'}")
    tr = s.get("target_rss_10k")
    if tr:
        out.append(f"- 10,000 streams under 1 GiB: {tr['mb']} MB: {'met' if tr['met'] else 'MISSED'}")
    tt = s.get("target_ttft_err_1000")
    if tt:
        out.append(f"- TTFT error p99 < 1 ms at 1,000 streams: {tt['p99_us']:.0f} µs: {'met' if tt['met'] else 'MISSED'}")
    t4 = s.get("ttft_err_4000")
    if t4:
        out.append(f"- (TTFT error p99 at 4,000 streams: {t4['p99_us']:.0f} µs)")
    cs = s.get("coldstart")
    if cs:
        out.append(f"- Cold start, 1,000 streams at once: longest TTFT {fmt(cs['worst_ttft_max_ms'], 1)} ms (server TTFT "
                   f"{PACED_TTFT_MS} ms) over {cs['runs']} run(s); a TTFT of 1 s or more: "
                   f"{'YES' if cs['any_ttft_1s'] else 'none'}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
