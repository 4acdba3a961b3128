"""The cases, and how each is run: servers started once per family, the one not under test
paused, a warm-up, then repetitions alternating the servers (A B A B ...)."""

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from . import clients, probes
from .common import log
from .machine import Placement
from .servers import (FILES_PREFIX, ExampleGatiod, Gatiod, GatiodProxy, H2o, Haproxy, Nginx, NginxStream, Redis,
                      check_files, check_http, check_resp)

# The io_uring switches of gatiod's [io_uring] table, each changed from its default in turn by
# the ablation: those on by default turned off, the waits and bundles (off by default) turned on.
ABLATION = [
    ("all on", {}),
    ("defer_taskrun off", {"defer_taskrun": False}),
    ("direct_descriptors off", {"direct_descriptors": False}),
    ("multishot_recv off", {"multishot_recv": False}),
    ("submit_batching off", {"submit_batching": False}),
    ("single_send off", {"single_send": False}),
    ("min_wait 20us", {"min_wait": "20us"}),
    ("min_wait 100us", {"min_wait": "100us"}),
    ("spin 50us", {"spin": "50us"}),
    ("recv_bundle on", {"recv_bundle": True}),
    ("pbuf_incremental on", {"pbuf_incremental": True}),
    ("recv_bundle + pbuf_incremental on", {"recv_bundle": True, "pbuf_incremental": True}),
]

# redis-benchmark's tests, each run at -P 1 and -P 16 on both servers: issue 15's list, and PING.
REDIS_TESTS = [("SET", "set"), ("GET", "get"), ("INCR", "incr"), ("LPUSH", "lpush"), ("RPUSH", "rpush"),
               ("LPOP", "lpop"), ("RPOP", "rpop"), ("SADD", "sadd"), ("HSET", "hset"), ("SPOP", "spop"),
               ("ZADD", "zadd"), ("LRANGE_100", "lrange_100"), ("MSET", "mset"), ("PING", "ping_mbulk")]


@dataclass
class Settings:
    reps: int
    seconds: float  # one measured run
    syscall_seconds: float  # the run perf is attached to
    warmup_seconds: float
    idle_counts: list
    idle_reps: int
    max_connections: int  # every server's connection limit
    fd_limit: int


@dataclass
class Case:
    id: str
    title: str
    pipelined: bool
    # (server, seconds, rate measured in the warm-up or None) -> ClientResult
    run: Callable
    calibrate: bool = False  # the tool runs a request count: a second warm-up sets it from the rate


@dataclass
class Context:
    placement: object
    build: object
    workdir: object
    settings: Settings
    syscalls: probes.SyscallCounter


def _metrics(delta, result):
    req = result.requests
    ticks = delta.user_s + delta.system_s
    return {
        "requests": req,
        "rps": result.rps,
        "cpu_us_per_req": delta.cpu_ns / req / 1000,
        "user_share": delta.user_s / ticks if ticks > 0 else None,
        "vol_cs_per_req": delta.voluntary / req,
        "invol_cs_per_req": delta.involuntary / req,
        "server_cpu": delta.cpu_ns / delta.t_ns,
        # The server's busiest thread, running or waiting for the CPU: near 1 means the server
        # never ran out of work, whatever took the CPU from it.
        "server_busy": delta.busiest(),
        "client_cpu": result.client_cpu_s / result.wall_s if result.wall_s > 0 else None,
        "p50_us": result.p50_us,
        "p99_us": result.p99_us,
    }


def measure(ctx, server, case, rate):
    """One repetition on one server: the measured run, then the run perf counts."""
    pids = server.pids()
    before = probes.usage(pids)
    result = case.run(server, ctx.settings.seconds, rate)
    delta = probes.usage(pids) - before
    m = _metrics(delta, result)
    if ctx.syscalls.available:
        ctx.syscalls.start(pids)
        try:
            counted = case.run(server, ctx.settings.syscall_seconds, rate)
        finally:
            calls = ctx.syscalls.stop()
        m["syscalls_per_req"] = calls / counted.requests
    else:
        m["syscalls_per_req"] = None
    return m


def summarize(runs):
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def run_family(ctx, name, servers, cases, check):
    """Runs every case on every server; returns the case records."""
    s = ctx.settings
    records = []
    answers = {}
    try:
        for server in servers:
            log(f"{name}: starting {server.name}")
            server.start()
            answers[server.name] = check(server) if check else None
            server.pause()
        for case in cases:
            rates = {}
            for server in servers:
                server.resume()
                warm = case.run(server, s.warmup_seconds, None)
                if case.calibrate:
                    warm = case.run(server, s.warmup_seconds, warm.rps)
                rates[server.name] = warm.rps
                server.pause()
            runs = {server.name: [] for server in servers}
            for rep in range(s.reps):
                for server in servers:
                    server.resume()
                    runs[server.name].append(measure(ctx, server, case, rates[server.name]))
                    server.pause()
                    r = runs[server.name][-1]
                    log(f"{case.id} rep {rep + 1}/{s.reps} {server.name}: {r['rps']:,.0f} req/s, "
                        f"{r['cpu_us_per_req']:.2f} us CPU/req, busy {r['server_busy']:.2f}")
            records.append({
                "id": case.id,
                "family": name,
                "title": case.title,
                "pipelined": case.pipelined,
                "sides": {srv.name: {"server": srv.kind, "runs": runs[srv.name], "summary": summarize(runs[srv.name])}
                          for srv in servers},
            })
    finally:
        for server in servers:
            server.stop()
    return records, answers


def http_family(ctx):
    s, pl = ctx.settings, ctx.placement
    servers = [Gatiod("gatiod-http", ctx.workdir, pl, ctx.build, "http", s.max_connections),
               Nginx("nginx", ctx.workdir, pl, s.max_connections, s.fd_limit),
               H2o("h2o", ctx.workdir, pl, s.max_connections)]
    cases = []
    for conns, depth in ((64, 1), (64, 16), (256, 16)):
        title = f"HTTP, {conns} connections, " + ("no pipelining" if depth == 1 else f"pipelined depth {depth}")
        cases.append(Case(f"http-c{conns}-d{depth}", title, depth > 1,
                          lambda srv, secs, rate, c=conns, d=depth: clients.wrk(pl, srv.port, c, d, secs)))
    return run_family(ctx, "http", servers, cases, check_http)


# The static-file cases: name and size of each file.
STATIC_FILES = [("4k.bin", 4096, "4 KiB"), ("1m.bin", 1 << 20, "1 MiB")]


def files_family(ctx):
    """Static files from gatiod's root route against nginx with sendfile, same folder."""
    s, pl = ctx.settings, ctx.placement
    www = ctx.workdir / "www"
    www.mkdir(exist_ok=True)
    contents = {}
    for name, size, _ in STATIC_FILES:
        contents[name] = os.urandom(size)
        (www / name).write_bytes(contents[name])
    # gatiod as configured by default (every request opens its file, as nginx's default does),
    # with its open-file cache on, and with lent buffers sent with SEND_ZC ([network] zerocopy_send).
    servers = [Gatiod("gatiod-files", ctx.workdir, pl, ctx.build, "http", s.max_connections, www=www),
               Gatiod("gatiod-files-cache", ctx.workdir, pl, ctx.build, "http", s.max_connections, www=www,
                      file_cache=64),
               Gatiod("gatiod-files-zerocopy", ctx.workdir, pl, ctx.build, "http", s.max_connections, www=www,
                      network={"zerocopy_send": True}),
               Nginx("nginx-files", ctx.workdir, pl, s.max_connections, s.fd_limit, www=www)]
    cases = []
    for name, size, label in STATIC_FILES:
        cases.append(Case(f"files-{name.split('.')[0]}", f"static file {label}, 64 connections, no pipelining", False,
                          lambda srv, secs, rate, p=FILES_PREFIX + name: clients.wrk(pl, srv.port, 64, 1, secs, p)))
    return run_family(ctx, "files", servers, cases, check_files(contents))


def resp_family(ctx):
    s, pl = ctx.settings, ctx.placement
    servers = [Gatiod("gatiod-resp", ctx.workdir, pl, ctx.build, "resp", s.max_connections),
               Redis("redis-server", ctx.workdir, pl, s.max_connections)]
    cases = []
    for pipeline in (1, 16):
        for label, test in REDIS_TESTS:
            def run(srv, secs, rate, t=test, p=pipeline):
                # redis-benchmark runs a request count, not a duration: the warm-up's rate
                # turns the duration into a count (the first warm-up guesses one).
                n = int(rate * secs) if rate else 20000 * p
                return clients.redis_benchmark(pl, srv.port, t, p, 50, max(n, 1000))
            title = f"RESP {label}, 50 connections, " + ("no pipelining" if pipeline == 1 else f"-P {pipeline}")
            cases.append(Case(f"resp-{label.lower()}-p{pipeline}", title, pipeline > 1, run, calibrate=True))
    return run_family(ctx, "resp", servers, cases, check_resp)


def echo_family(ctx):
    s, pl = ctx.settings, ctx.placement
    servers = [Gatiod("gatiod-echo", ctx.workdir, pl, ctx.build, "echo", s.max_connections)]
    cases = []
    for size in (64, 4096):
        for depth in (1, 16):
            title = f"echo {size} B, 100 connections, " + ("depth 1" if depth == 1 else f"depth {depth}")
            cases.append(Case(f"echo-{size}-d{depth}", title, depth > 1,
                              lambda srv, secs, rate, z=size, d=depth: clients.loadgen(pl, ctx.build, srv.port, 100,
                                                                                        z, d, secs)))
    return run_family(ctx, "echo", servers, cases, None)


def ablation_family(ctx):
    s, pl = ctx.settings, ctx.placement
    servers = []
    for label, switches in ABLATION:
        name = "gatiod " + label
        server = Gatiod(name.replace(" ", "-"), ctx.workdir, pl, ctx.build, "http", s.max_connections, switches)
        server.name = name
        servers.append(server)
    # The peer in the same alternation, so that each switch's latency sits beside nginx's.
    servers.append(Nginx("nginx", ctx.workdir, pl, s.max_connections, s.fd_limit))
    case = Case("ablation-http-c64-d1", "HTTP, 64 connections, no pipelining", False,
                lambda srv, secs, rate: clients.wrk(pl, srv.port, 64, 1, secs))
    records, _ = run_family(ctx, "ablation", servers, [case], check_http)
    return records


TRANSFER_BYTES = 1 << 30
PROXY_CONNECTIONS = 1024  # each proxy's connection limit: the cases use at most 64


def proxy_family(ctx):
    """gatiod's proxy handler, HAProxy (mode tcp, one thread) and nginx's stream module (one
    worker), each on the server CPU in front of the same backends: gatiod http and echo
    listeners on the load generator's CPU, so that the proxy alone is measured on its CPU."""
    s, pl = ctx.settings, ctx.placement
    backend_cpu = Placement(pl.client_cpu, pl.client_cpu, pl.realtime)
    http = Gatiod("proxy-backend-http", ctx.workdir, backend_cpu, ctx.build, "http", s.max_connections)
    echo = Gatiod("proxy-backend-echo", ctx.workdir, backend_cpu, ctx.build, "echo", s.max_connections)
    http.start()
    try:
        echo.start()
        try:
            args = (ctx.workdir, pl, http.port, echo.port, PROXY_CONNECTIONS)
            # gatiod-proxy-copy forwards as before send_received: every byte copied into the
            # output queue, beside the rest in the same run.
            servers = [GatiodProxy("gatiod-proxy", ctx.workdir, pl, ctx.build, http.port, echo.port,
                                   PROXY_CONNECTIONS),
                       GatiodProxy("gatiod-proxy-copy", ctx.workdir, pl, ctx.build, http.port, echo.port,
                                   PROXY_CONNECTIONS, network="receive_holds = 0"),
                       Haproxy("haproxy", *args), NginxStream("nginx-stream", *args)]
            cases = [Case("proxy-http-c64", "proxy, HTTP through it, 64 connections, no pipelining", False,
                          lambda srv, secs, rate: clients.wrk(pl, srv.port, 64, 1, secs)),
                     Case("proxy-transfer-1g", "proxy, 1 GiB echoed through it (per MiB moved)", False,
                          lambda srv, secs, rate: clients.transfer(pl, srv.echo_port, TRANSFER_BYTES))]
            return run_family(ctx, "proxy", servers, cases, check_http)
        finally:
            echo.stop()
    finally:
        http.stop()


SMALL_LIMIT = 1000  # connection limit of the reference process for memory reserved per slot


def _empty_rss(server):
    try:
        server.start()
        time.sleep(0.5)
        return server.rss()
    finally:
        server.stop()


def idle_family(ctx):
    """Resident memory per idle connection: a fresh server per measurement. Servers that
    reserve memory for their connection limit up front hold it in the empty process already;
    a second fresh process with a small limit tells how much that is per slot."""
    s, pl = ctx.settings, ctx.placement

    def gatiod(name, protocol, limit):
        # Each open connection holds a 4 KiB output reserve from half of the driver's
        # output_memory; the default 32 MiB holds 4,096, so the pool is sized for the limit.
        network = {"output_memory": f"{(2 * limit * 4096 + (1 << 20) - 1) >> 20}MiB"}
        return Gatiod(name, ctx.workdir, pl, ctx.build, protocol, limit, network=network)

    makers = [
        ("gatiod-http", "http", lambda m: gatiod("gatiod-http", "http", m)),
        ("nginx", "http", lambda m: Nginx("nginx", ctx.workdir, pl, m, s.fd_limit)),
        ("h2o", "http", lambda m: H2o("h2o", ctx.workdir, pl, m)),
        ("gatiod-resp", "resp", lambda m: gatiod("gatiod-resp", "resp", m)),
        ("redis-server", "resp", lambda m: Redis("redis-server", ctx.workdir, pl, m)),
    ]
    records = []
    for name, protocol, make in makers:
        small_empty = _empty_rss(make(SMALL_LIMIT))
        for count in s.idle_counts:
            samples = []
            for _ in range(s.idle_reps):
                server = make(s.max_connections)
                held = None
                try:
                    server.start()
                    time.sleep(0.5)
                    empty = server.rss()
                    held = clients.IdleConnections(pl, server.port, protocol, count)
                    held.wait_ready()
                    time.sleep(1.0)  # let the server finish whatever the last answers started
                    full = server.rss()
                finally:
                    if held is not None:
                        held.close()
                    server.stop()
                samples.append({"empty_rss": empty, "rss": full, "bytes_per_conn": (full - empty) / count})
            per = [x["bytes_per_conn"] for x in samples]
            empty = statistics.median(x["empty_rss"] for x in samples)
            reserved = (empty - small_empty) / (s.max_connections - SMALL_LIMIT)
            log(f"idle {name} {count}: {statistics.median(per):.0f} B per connection, {reserved:.0f} B reserved per slot")
            records.append({"server": name, "kind": server.kind, "protocol": protocol, "connections": count,
                            "sources": held.sources, "samples": samples,
                            "bytes_per_conn": {"median": statistics.median(per), "min": min(per), "max": max(per)},
                            "empty_rss": empty, "connection_limit": s.max_connections,
                            "empty_rss_small_limit": small_empty, "small_limit": SMALL_LIMIT,
                            "reserved_per_slot": reserved})
    return records


def example_start(ctx):
    """Resident memory of gatiod just started on gatio.toml.example, as a newcomer's first run
    starts it (issue 16's target: at most 32 MiB), over the idle case's repetitions."""
    samples = []
    for _ in range(ctx.settings.idle_reps):
        server = ExampleGatiod("gatiod-example", ctx.workdir, ctx.build)
        try:
            server.start()
            time.sleep(0.5)
            samples.append(server.rss())
        finally:
            server.stop()
    log(f"gatiod on gatio.toml.example: {statistics.median(samples) / 1048576:.1f} MiB at start")
    return {"server": "gatiod-example", "rss": {"median": statistics.median(samples), "min": min(samples),
                                                "max": max(samples)}}


FAMILIES = {
    "http": http_family,
    "files": files_family,
    "resp": resp_family,
    "echo": echo_family,
    "proxy": proxy_family,
    "ablation": ablation_family,
    "idle": idle_family,
}

