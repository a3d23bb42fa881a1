#!/usr/bin/env python3
"""Run one command and record the CPU time and memory of its whole process tree.

    proctree.py --out RUN.json --log RUN.log [--interval 0.1] [--timeout 600] -- CMD ARGS...

Every `interval` seconds it sums, over the command and all its descendants (worker processes
included), utime + stime + cutime + cstime from /proc/PID/stat, and the resident set sizes.
The sum is cumulative: a worker that exits and is reaped hands its time to its parent's
cutime, and this process is a child subreaper, so orphaned workers stay in the tree.
The timeline lets a caller take the CPU time spent inside any wall-clock window (the load
phase of a benchmark, leaving start-up and data generation out). At the end, the total comes
from getrusage(RUSAGE_CHILDREN), which counts every process of the tree once reaped.

Each line the command prints goes to --log prefixed with the wall-clock time it was read
(seconds since the Unix epoch), so a caller can date the command's own progress messages.
The command is killed (its process group) after --timeout seconds; the exit code is recorded.
"""

import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read_stat(pid):
    """(ppid, cpu seconds incl. reaped children, rss bytes) of one process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = s[s.rfind(")") + 2 :].split()
    # fields after the command name: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
    ppid = int(rest[1])
    cpu = (int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])) / CLK
    rss = int(rest[21]) * PAGE
    return ppid, cpu, rss


def tree_sample(root):
    """CPU seconds and RSS bytes summed over every descendant of `root` (root excluded)."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st:
                stats[int(name)] = st
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    cpu = rss = 0.0
    count = 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        _, c, r = stats[pid]
        cpu += c
        rss += r
        count += 1
        stack.extend(children.get(pid, []))
    return cpu, rss, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")

    # PR_SET_CHILD_SUBREAPER: orphaned grandchildren are re-parented to us, not to init.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    me = os.getpid()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, bufsize=0,
    )

    def pump():
        with open(a.log, "w") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(f"{time.time():.6f}\t{raw.decode(errors='replace').rstrip()}\n")
                log.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    samples = []
    peak_rss = 0.0
    timed_out = False
    deadline = t0 + a.timeout
    while True:
        now = time.time()
        cpu, rss, n = tree_sample(me)
        samples.append([round(now, 4), round(cpu, 3), round(rss / 2**20, 1), n])
        peak_rss = max(peak_rss, rss)
        if proc.poll() is not None:
            break
        if now > deadline:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(a.interval)
    rc = proc.returncode
    # Reap what is left of the tree (workers that outlived the main process), bounded.
    end_wait = time.time() + 30
    while time.time() < end_wait:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reader.join(timeout=5)
    t1 = time.time()
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    samples.append([round(t1, 4), round(total_cpu, 3), 0.0, 0])
    out = {
        "cmd": cmd,
        "rc": rc,
        "timed_out": timed_out,
        "start": t0,
        "end": t1,
        "wall_s": t1 - t0,
        "cpu_total_s": total_cpu,
        # largest RSS of a single process of the tree (from the kernel), and of the sampled sum
        "peak_rss_max_child_mb": usage1.ru_maxrss / 1024,
        "peak_tree_rss_mb": peak_rss / 2**20,
        "samples": samples,
    }
    with open(a.out, "w") as f:
        json.dump(out, f)
    sys.exit(124 if timed_out else (rc if rc >= 0 else 128 - rc))


if __name__ == "__main__":
    main()
