"""What the suite reads about a server: CPU time, context switches, memory, system calls."""

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import BenchError

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """Totals over every thread of the server's processes at one instant."""

    t_ns: int = 0
    cpu_ns: int = 0  # schedstat: time on a CPU, exact
    wait_ns: int = 0  # schedstat: runnable but waiting for a CPU
    user_s: float = 0.0  # /proc stat utime and stime, in clock ticks: only for the user/kernel split
    system_s: float = 0.0
    voluntary: int = 0
    involuntary: int = 0
    busy_ns: dict = field(default_factory=dict)  # per thread: on a CPU or waiting for one

    def __sub__(self, other):
        d = Usage(*(getattr(self, f) - getattr(other, f) for f in self.__dataclass_fields__ if f != "busy_ns"))
        d.busy_ns = {t: ns - other.busy_ns.get(t, 0) for t, ns in self.busy_ns.items()}
        return d

    def busiest(self):
        """The largest share of the interval one thread spent running or runnable."""
        return max(self.busy_ns.values(), default=0) / self.t_ns if self.t_ns > 0 else 0.0


def _read(path):
    with open(path) as f:
        return f.read()


def usage(pids):
    """Sums /proc/PID/task/*/{schedstat,status,stat} over every thread of every process."""
    u = Usage(t_ns=time.monotonic_ns())
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            raise BenchError(f"server process {pid} is gone") from None
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                run_ns, wait_ns, _ = _read(f"{base}/schedstat").split()
                status = _read(f"{base}/status")
                stat = _read(f"{base}/stat")
            except FileNotFoundError:
                continue  # a thread that ended between listing and reading
            u.cpu_ns += int(run_ns)
            u.wait_ns += int(wait_ns)
            u.busy_ns[tid] = int(run_ns) + int(wait_ns)
            fields = stat.rsplit(")", 1)[1].split()
            u.user_s += int(fields[11]) / _TICKS
            u.system_s += int(fields[12]) / _TICKS
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    u.voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    u.involuntary += int(line.split()[1])
    return u


def rss_bytes(pids):
    total = 0
    for pid in pids:
        for line in _read(f"/proc/{pid}/status").splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def children(pid):
    """Processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = _read(f"/proc/{entry}/stat")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return sorted(out)


class SyscallCounter:
    """Counts raw_syscalls:sys_enter of a set of processes with `perf stat -p`.

    perf only counts while attached; the suite attaches it to a separate, shorter run than the
    one that measures CPU time, because the tracepoint makes every system call of the traced
    threads slower, which would weigh more on the side that makes more of them.
    """

    EVENT = "raw_syscalls:sys_enter"

    def __init__(self):
        self.reason = self._probe()
        self._proc = None
        self._dir = self._out = None
        self._ctl = self._ack = -1

    @property
    def available(self):
        return self.reason is None

    def _probe(self):
        try:
            done = subprocess.run(["perf", "stat", "-x,", "-e", self.EVENT, "--", "true"], capture_output=True,
                                  text=True, timeout=30)
        except FileNotFoundError:
            return "perf is not installed"
        except subprocess.TimeoutExpired:
            return "perf stat did not finish"
        counted = self._parse(done.stderr)
        if done.returncode != 0 or counted is None or counted <= 0:
            lines = done.stderr.strip().splitlines()
            return "perf stat cannot count " + self.EVENT + ": " + (lines[-1] if lines else f"status {done.returncode}")
        return None

    @staticmethod
    def _parse(text):
        for line in text.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2] == SyscallCounter.EVENT:
                if parts[0] == "<not counted>":
                    return 0  # the traced threads never ran while the counter was enabled
                return int(parts[0]) if parts[0].isdigit() else None
        return None

    def start(self, pids):
        self._dir = Path(tempfile.mkdtemp(prefix="gatio-bench-perf-"))
        ctl, ack = self._dir / "ctl", self._dir / "ack"
        os.mkfifo(ctl)
        os.mkfifo(ack)
        self._out = self._dir / "out"
        # Counters start disabled (-D -1) and are switched on and off through the control fifo,
        # whose acknowledgement tells when counting really began.
        self._proc = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", self.EVENT, "-o", str(self._out), "-D", "-1", "--control",
             f"fifo:{ctl},{ack}", "-p", ",".join(map(str, pids))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._ctl = os.open(ctl, os.O_RDWR)
        self._ack = os.open(ack, os.O_RDWR)
        self._command("enable")

    def _command(self, word):
        os.write(self._ctl, word.encode() + b"\n")
        ready, _, _ = select.select([self._ack], [], [], 10)
        if not ready:
            self._proc.kill()
            err = self._proc.communicate()[1]
            raise BenchError(f"perf stat did not acknowledge '{word}' within 10 s: {err.strip()}")
        os.read(self._ack, 64)

    def stop(self):
        self._command("disable")
        self._proc.send_signal(signal.SIGINT)
        _, err = self._proc.communicate(timeout=30)
        os.close(self._ctl)
        os.close(self._ack)
        text = self._out.read_text()
        shutil.rmtree(self._dir)
        count = self._parse(text)
        if count is None:
            raise BenchError(f"perf stat gave no count for {self.EVENT}: {text.strip()} {err.strip()}")
        return count
