"""The machine: which CPU runs what, at which priority, descriptor limits, versions, build."""

import os
import platform
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .common import REPO, BenchError, log, run_checked

# The targets the suite runs; the Release preset's flags, built in the suite's own folder.
BUILD_TARGETS = ["gatiod", "gatio_plugin_echo", "gatio_plugin_http", "gatio_plugin_resp", "gatio_plugin_proxy",
                 "gatio-loadgen"]


@dataclass
class Placement:
    """Server under test (and its peer) on one CPU, load generator on another."""

    server_cpu: int
    client_cpu: int
    realtime: bool  # both sides run SCHED_RR priority 1, see prefix()

    def prefix(self, cpu):
        # On a machine shared with other work, a plain-priority server waits behind whatever
        # else is runnable on its CPU and its throughput measures the neighbours. A real-time
        # class gives both the server and the load generator their CPU whenever they are
        # runnable; the kernel still lends 5 % of each CPU to ordinary tasks, which shows in p99.
        # Round-robin rather than FIFO: threads of one priority on one CPU take turns every
        # time slice, so wrk's main thread, which ends the run, is not starved by its own
        # worker when the server answers so fast that the worker never waits.
        sched = ["chrt", "-r", "1"] if self.realtime else []
        return sched + ["taskset", "-c", str(cpu)]

    def server(self, cmd):
        return self.prefix(self.server_cpu) + [str(c) for c in cmd]

    def client(self, cmd):
        return self.prefix(self.client_cpu) + [str(c) for c in cmd]


def choose_placement(server_cpu, client_cpu, sched):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise BenchError(f"the suite needs two CPUs (server and load generator); this process may use {allowed}")
    server = allowed[-1] if server_cpu is None else server_cpu
    client = allowed[0] if client_cpu is None else client_cpu
    for name, cpu in (("server", server), ("client", client)):
        if cpu not in allowed:
            raise BenchError(f"--{name}-cpu {cpu} is not among the CPUs this process may use ({allowed})")
    if server == client:
        raise BenchError(f"server and client must use different CPUs, both are {server}")
    realtime = sched == "rr"
    if realtime and subprocess.run(["chrt", "-r", "1", "true"], capture_output=True).returncode != 0:
        log("SCHED_RR is not permitted here; running server and client at normal priority")
        realtime = False
    # The orchestrator itself stays off the server's CPU.
    os.sched_setaffinity(0, {client})
    return Placement(server, client, realtime)


def raise_fd_limit():
    """Raises the soft RLIMIT_NOFILE to the hard limit (inherited by every process started)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def numa_node_of(cpu):
    nodes = sorted(Path(f"/sys/devices/system/cpu/cpu{cpu}").glob("node[0-9]*"))
    return int(nodes[0].name[4:]) if nodes else 0


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def _first_line(cmd):
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def describe_host():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "kernel": platform.release(),
        "cpu_model": model,
        "cpus_online": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "fd_hard_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    }


def tool_versions(build):
    return {
        "gatiod": _first_line([build.gatiod, "--version"]),
        "nginx": _first_line(["nginx", "-v"]),
        "h2o": _first_line(["h2o", "--version"]),
        "redis-server": _first_line(["redis-server", "--version"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "redis-benchmark": _first_line(["redis-benchmark", "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
        "perf": _first_line(["perf", "--version"]),
    }


def source_revision():
    """The commit the binaries were built from, marked when the work tree had local changes."""
    rev = _first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return rev + (" with local changes" if dirty else "")


def install_packages():
    run_checked([REPO / "scripts" / "install-deps", "--bench"], "installing packages", timeout=1800)


@dataclass
class Build:
    root: Path

    @property
    def gatiod(self):
        return self.root / "daemon" / "gatiod"

    @property
    def plugins(self):
        return self.root / "plugins"

    @property
    def loadgen(self):
        return self.root / "bench" / "loadgen" / "gatio-loadgen"


def build_release(build_dir, skip):
    build = Build(Path(build_dir).resolve())
    if not skip:
        log(f"building the release preset in {build.root}")
        run_checked(["cmake", "--preset", "release", "-B", build.root, "-DGATIO_BUILD_TESTS=OFF"],
                    "configuring the release build", cwd=REPO, timeout=600)
        run_checked(["cmake", "--build", build.root, "--target", *BUILD_TARGETS], "building the release preset",
                    cwd=REPO, timeout=3600)
    for path in (build.gatiod, build.loadgen, build.plugins / "http.so", build.plugins / "resp.so",
                 build.plugins / "echo.so", build.plugins / "proxy.so"):
        if not path.exists():
            raise BenchError(f"{path} is missing: build the release preset first (drop --skip-build)")
    return build
