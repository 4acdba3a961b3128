"""`bench/run --profile CASE`: where one case's CPU time goes.

Two passes. callgrind runs gatiod while the case's load runs and gives exact user-space
instruction counts per function and per request. perf record then samples gatiod and its peers,
each at full speed under the same load, for the share of kernel and user time and the hottest
symbols on both sides of the system call boundary."""

import re
import subprocess
import threading
import time
from dataclasses import replace

from . import clients
from .common import BenchError, log, run_checked
from .servers import Gatiod, H2o, Nginx, Redis

# name: (handler, description, load(placement, build, port, seconds, rate)); rate is the
# request rate to expect, for redis-benchmark, which runs a request count.
PROFILES = {
    "http": ("http", "wrk, 64 connections, no pipelining",
             lambda pl, build, port, secs, rate: clients.wrk(pl, port, 64, 1, secs)),
    "http-d16": ("http", "wrk, 64 connections, pipelined depth 16",
                 lambda pl, build, port, secs, rate: clients.wrk(pl, port, 64, 16, secs)),
    "resp": ("resp", "redis-benchmark -t get, 50 connections, no pipelining",
             lambda pl, build, port, secs, rate: clients.redis_benchmark(pl, port, "get", 1, 50, int(secs * rate))),
    "resp-p16": ("resp", "redis-benchmark -t get -P 16, 50 connections",
                 lambda pl, build, port, secs, rate: clients.redis_benchmark(pl, port, "get", 16, 50,
                                                                             int(secs * rate * 10))),
    **{f"resp-p16-{test}": ("resp", f"redis-benchmark -t {test} -P 16, 50 connections",
                            lambda pl, build, port, secs, rate, test=test: clients.redis_benchmark(
                                pl, port, test, 16, 50, int(secs * rate * 10)))
       for test in ("set", "incr", "lpush", "rpush", "lpop", "rpop", "sadd", "hset", "spop", "zadd", "lrange_100",
                    "mset")},
    "echo": ("echo", "gatio-loadgen, 100 connections, 64 B, depth 1",
             lambda pl, build, port, secs, rate: clients.loadgen(pl, build, port, 100, 64, 1, secs)),
}
UNDER_VALGRIND_RATE = 3000
FULL_SPEED_RATE = 150000


class ProfiledGatiod(Gatiod):
    start_timeout = 120.0  # valgrind takes seconds to start

    def __init__(self, *args, out, **kwargs):
        super().__init__(*args, **kwargs)
        self.out = out

    def command(self):
        # Counting starts only when the load does (callgrind_control -i on), so start-up and
        # the preallocation of every slot stay out of the figures.
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}",
                *super().command()]


def callgrind_pass(ctx, name, seconds, top):
    handler, what, load = PROFILES[name]
    placement = replace(ctx.placement, realtime=False)  # valgrind runs one thread at a time anyway
    out = ctx.build.root / f"bench-callgrind-{name}.out"
    server = ProfiledGatiod(f"callgrind-{name}", ctx.workdir, placement, ctx.build, handler,
                            ctx.settings.max_connections, out=out)
    dump = out.with_name(out.name + ".1")
    dump.unlink(missing_ok=True)
    log(f"callgrind: gatiod ({handler}) with {what} for {seconds:g} s")
    try:
        server.start()
        pid = str(server.proc.pid)
        load(placement, ctx.build, server.port, 1, UNDER_VALGRIND_RATE)  # past every first-time path
        run_checked(["callgrind_control", "-i", "on", pid], "starting callgrind's count")
        result = load(placement, ctx.build, server.port, seconds, UNDER_VALGRIND_RATE)
        # Dump rather than wait for the exit: under valgrind gatiod's sigtimedwait does not see
        # SIGTERM promptly, and the server is killed afterwards.
        run_checked(["callgrind_control", "-d", pid], "dumping callgrind's count")
    finally:
        server.stop(grace=5)
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", str(dump)], capture_output=True, text=True).stdout
    total = re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M)
    if total is None:
        raise BenchError(f"callgrind_annotate gave no totals for {dump}")
    instructions = int(total.group(1).replace(",", ""))
    lines = [f"callgrind, gatiod {handler}, {what}: {result.requests:,} requests, {instructions:,} user-space "
             f"instructions, {instructions / result.requests:,.0f} per request", "",
             "  share   per req  function (self instructions)"]
    for m in re.finditer(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(?!PROGRAM TOTALS)(\S.*)$", text, re.M):
        count, share, where = m.groups()
        func = re.sub(r" \[[^\]]*\]$", "", where.split(":", 1)[1] if ":" in where else where)
        lines.append(f"{share:>6}%  {int(count.replace(',', '')) / result.requests:>8.1f}  {func}")
        if len(lines) >= top + 3:
            break
    return lines


def _perf_table(data, sort, top):
    text = run_checked(["perf", "report", "-i", data, "--stdio", "--sort", sort], f"perf report --sort {sort}")
    rows = [line.strip() for line in text.splitlines() if re.match(r"^\s+[\d.]+%", line)]
    return rows[:top]


def perf_pass(ctx, name, seconds, top):
    handler, what, load = PROFILES[name]
    pl = ctx.placement
    s = ctx.settings
    servers = [Gatiod(f"perf-gatiod-{name}", ctx.workdir, pl, ctx.build, handler, s.max_connections)]
    if handler == "http":
        servers.append(Nginx(f"perf-nginx-{name}", ctx.workdir, pl, s.max_connections, s.fd_limit))
        servers.append(H2o(f"perf-h2o-{name}", ctx.workdir, pl, s.max_connections))
    elif handler == "resp":
        servers.append(Redis(f"perf-redis-{name}", ctx.workdir, pl, s.max_connections))
    lines = []
    for server in servers:
        data = ctx.workdir / f"{server.name}.perf.data"
        log(f"perf record: {server.kind} with {what}")
        failure = []
        try:
            server.start()

            def drive():
                try:
                    load(pl, ctx.build, server.port, seconds + 2, FULL_SPEED_RATE)
                except BenchError as e:
                    failure.append(e)

            driver = threading.Thread(target=drive)
            driver.start()
            time.sleep(1)
            run_checked(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-o", data, "-p",
                         ",".join(map(str, server.pids())), "--", "sleep", seconds], "perf record")
            driver.join()
        finally:
            server.stop()
        if failure:
            raise failure[0]
        lines += ["", f"perf record, {server.kind}, {what}: share of samples by object",
                  *_perf_table(data, "dso", 6), "", "hottest symbols ([k] kernel, [.] user):",
                  *_perf_table(data, "sym", top)]
    return lines


def run_profile(ctx, name, seconds, top=20, perf=True):
    lines = callgrind_pass(ctx, name, seconds, top)
    if perf:
        lines += perf_pass(ctx, name, seconds, top)
    path = ctx.build.root / f"bench-profile-{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    log(f"profile written to {path}")
