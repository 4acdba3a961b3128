"""Load generators on the client CPU: wrk, redis-benchmark, gatio-loadgen, and idle-connection
holders. Each run returns what the tool measured plus the CPU time the tool itself used."""

import csv
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import REPO, BenchError

WRK_SCRIPT = REPO / "bench" / "wrk" / "report.lua"
HOLDER = Path(__file__).resolve().parent / "idle_hold.py"
TRANSFER = Path(__file__).resolve().parent / "transfer.py"


@dataclass
class ClientResult:
    requests: int
    seconds: float  # the tool's own measurement window
    p50_us: float = None  # None: the tool's figure is not meaningful for this run
    p99_us: float = None
    client_cpu_s: float = 0.0  # user + system time of the tool
    wall_s: float = 0.0  # from start to exit of the tool
    notes: dict = field(default_factory=dict)

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def run_tool(cmd, what, timeout):
    """Runs a load tool to completion; returns (stdout, stderr, cpu seconds, wall seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise BenchError(f"{what}: {' '.join(map(str, cmd))} did not finish within {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-10:])
        raise BenchError(f"{what}: {' '.join(map(str, cmd))} exited with {proc.returncode}:\n{tail}")
    return stdout, stderr, ru.ru_utime + ru.ru_stime, wall


def wrk(placement, port, connections, depth, seconds, path="/"):
    what = f"wrk ({connections} connections, depth {depth}, {path})"
    seconds = max(1, round(seconds))  # wrk takes whole seconds
    cmd = placement.client(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", WRK_SCRIPT,
                            f"http://127.0.0.1:{port}{path}", "--", depth])
    stdout, _, cpu, wall = run_tool(cmd, what, seconds + 60)
    line = next((x for x in stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise BenchError(f"{what}: no report line in its output:\n{stdout[-2000:]}")
    r = json.loads(line)
    bad = {k: v for k, v in r["errors"].items() if v}
    if bad or r["requests"] == 0:
        raise BenchError(f"{what}: {r['requests']} requests, errors {bad}")
    # wrk corrects its latency histogram for coordinated omission assuming one request per
    # round trip; with pipelining that correction is wrong, so only depth 1 keeps its figures.
    p50, p99 = (r["p50_us"], r["p99_us"]) if depth == 1 else (None, None)
    return ClientResult(r["requests"], r["duration_us"] / 1e6, p50, p99, cpu, wall)


def redis_benchmark(placement, port, test, pipeline, connections, requests):
    what = f"redis-benchmark -t {test} -P {pipeline}"
    cmd = placement.client(["redis-benchmark", "-h", "127.0.0.1", "-p", port, "-c", connections, "-n", requests,
                            "-P", pipeline, "-r", 100000, "-t", test, "--csv"])
    stdout, _, cpu, wall = run_tool(cmd, what, 600)
    rows = [r for r in csv.DictReader(io.StringIO(stdout))]
    # The lrange tests fill their list first with as many LPUSHes (a row of its own): the server
    # answered both, so both count, and the latency is the LRANGE row's.
    filling = test.startswith("lrange")
    if len(rows) != (2 if filling else 1) or any(float(r["rps"]) <= 0 for r in rows):
        raise BenchError(f"{what}: expected {2 if filling else 1} CSV row(s) with a rate, got:\n{stdout[-2000:]}")
    row = rows[-1]
    return ClientResult(requests * len(rows), sum(requests / float(r["rps"]) for r in rows),
                        float(row["p50_latency_ms"]) * 1000, float(row["p99_latency_ms"]) * 1000, cpu, wall)


def loadgen(placement, build, port, connections, size, depth, seconds):
    what = f"gatio-loadgen ({connections} connections, {size} B, depth {depth})"
    cmd = placement.client([build.loadgen, "-a", f"127.0.0.1:{port}", "-c", connections, "-s", size, "-p", depth,
                            "-d", seconds, "-w", 0, "-t", 1, "--json"])
    stdout, _, cpu, wall = run_tool(cmd, what, seconds + 60)
    r = json.loads(stdout.strip().splitlines()[-1])
    if r["requests"] == 0:
        raise BenchError(f"{what}: no message came back")
    return ClientResult(r["requests"], r["duration_s"], r["p50_us"], r["p99_us"], cpu, wall)


def transfer(placement, port, total):
    """`total` bytes sent through an echo path and read back on one connection. Counted in MiB
    moved (both directions), so that CPU per "request" is CPU per MiB through the path."""
    what = f"transfer of {total >> 20} MiB"
    stdout, _, cpu, wall = run_tool(placement.client([sys.executable, TRANSFER, "--port", port, "--bytes", total]),
                                    what, 600)
    r = json.loads(stdout.strip().splitlines()[-1])
    return ClientResult(r["bytes"] >> 20, r["seconds"], None, None, cpu, wall)


class IdleConnections:
    """Holds `count` connections open from several 127.x source addresses, spread over holder
    processes (each within the per-process descriptor limit). Each connection makes one request,
    reads the answer, then stays silent."""

    PER_HOLDER = 10000
    _sources = itertools.count()  # every holder of the run gets its own source address

    def __init__(self, placement, port, protocol, count):
        self.procs = []
        sizes = [min(self.PER_HOLDER, count - i) for i in range(0, count, self.PER_HOLDER)]
        for size in sizes:
            n = next(self._sources) % 62500
            source = f"127.{1 + n // 250 // 250}.{n // 250 % 250}.{1 + n % 250}"
            cmd = placement.client([sys.executable, HOLDER, "--port", port, "--protocol", protocol, "--count", size,
                                    "--source", source])
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True))
        self.sources = len(sizes)

    def wait_ready(self):
        for proc in self.procs:
            # The holder prints "ready N", or exits with an error (its sockets time out).
            line = proc.stdout.readline()
            if not line.startswith("ready"):
                proc.wait()
                raise BenchError(f"idle connection holder failed: {proc.stderr.read().strip()}")

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
