"""Boots a Debian 12 root file system under systemd-nspawn with systemd as PID 1, runs commands
inside it and reads its journal; shared by prepare.py (which builds the root once) and
systemd_tests.py (one container per test).

Every container gets its own cgroup, created here and entered by nspawn's process before it
execs, so that two containers never share one; it is removed again, with whatever still runs in
it, when the container ends, whatever the test did.
"""

import glob
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid

SKIP = 77  # the suite's SKIP_RETURN_CODE

BOOT_TIMEOUT = 90  # seconds: systemd inside reaching running (or degraded)
STOP_TIMEOUT = 30  # seconds: nspawn ending after a signal, before the next one
COMMAND_TIMEOUT = 120  # seconds: one command inside


class Unavailable(Exception):
    """This machine cannot boot a container (not root, no systemd-nspawn, no cgroup file system)."""


def which(name):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        p = os.path.join(d, name)
        if d and os.access(p, os.X_OK):
            return p
    return None


def check_host():
    if os.geteuid() != 0:
        raise Unavailable("systemd-nspawn needs root")
    for tool in ("systemd-nspawn", "nsenter"):
        if which(tool) is None:
            raise Unavailable(f"{tool} not found (scripts/install-deps installs systemd-container)")
    if not cgroup_roots():
        raise Unavailable("no cgroup file system mounted under /sys/fs/cgroup")


def cgroup_roots():
    """The hierarchies a container's cgroup must exist in: the unified one, plus name=systemd
    when the host mounts the hybrid layout."""
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, where, kind, opts = line.split()[:4]
            mounts[where] = (kind, opts.split(","))
    if mounts.get("/sys/fs/cgroup", ("",))[0] == "cgroup2":
        return ["/sys/fs/cgroup"]
    roots = []
    for where, (kind, opts) in mounts.items():
        if not where.startswith("/sys/fs/cgroup/"):
            continue
        if kind == "cgroup2" or (kind == "cgroup" and "name=systemd" in opts):
            roots.append(where)
    return sorted(roots)


def name_prefix(work):
    """Containers and cgroups of one build tree's suite are named gatio-<tree>-...: the next test
    of the same tree reaps what a killed one left (a SIGKILL leaves no chance to clean up), and
    never touches another tree's."""
    return "gatio-" + hashlib.sha256(os.path.realpath(work).encode()).hexdigest()[:6] + "-"


def reap_stale(work):
    """Ends the containers and removes the cgroups a killed run of this tree's suite left."""
    prefix = name_prefix(work)
    for r in cgroup_roots():
        for cg in glob.glob(os.path.join(r, prefix + "*")):
            print(f"removing {cg}, left by an earlier run", flush=True)
            _remove_cgroup(cg)


def _pids_in(path):
    pids = []
    for procs in glob.glob(os.path.join(path, "**", "cgroup.procs"), recursive=True):
        try:
            with open(procs) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return pids


def _remove_cgroup(path):
    """Kills what still runs in the cgroup tree and removes it, deepest folders first."""
    if not os.path.isdir(path):
        return
    for _ in range(50):
        pids = _pids_in(path)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    dirs = sorted((d for d, _, _ in os.walk(path)), key=len, reverse=True)
    for d in dirs:
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def _nspid(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return line.split()[1:]
    except OSError:
        pass
    return []


class Container:
    """One booted container on `root` (read-only below a tmpfs overlay, so every container starts
    from the same prepared tree). Use as a context manager: leaving it always shuts it down."""

    def __init__(self, root, log_dir):
        self.root = root
        self.name = name_prefix(log_dir) + uuid.uuid4().hex[:8]
        self.log_path = os.path.join(log_dir, self.name + ".console")
        self.cgroups = [os.path.join(r, self.name) for r in cgroup_roots()]
        self.proc = None
        self.leader = None

    # ---- lifetime

    def __enter__(self):
        try:
            self.boot()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, kind, *_):
        self.shutdown()
        if kind is None:  # the console log is kept for failures only
            os.remove(self.log_path)
        return False

    def boot(self):
        for cg in self.cgroups:
            os.makedirs(cg, exist_ok=True)
        cgroups = self.cgroups

        def enter_cgroup():  # runs in nspawn's process, before exec
            for cg in cgroups:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write("0")

        self.console = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "-M", self.name, "--boot", "--register=no",
             "--keep-unit", "--volatile=overlay", "--private-network", "--console=read-only"],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
            preexec_fn=enter_cgroup)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while self.leader is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode} while booting; "
                                   f"see {self.log_path}:\n{self.console_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no systemd in the container after {BOOT_TIMEOUT} s; see {self.log_path}")
            self.leader = self._find_leader()
            if self.leader is None:
                time.sleep(0.1)
        # systemd answers systemctl once its private socket exists; before that the leader
        # may still be nspawn's own child about to exec it.
        while not os.path.exists(self.path("/run/systemd/private")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"systemd in the container never listened; see {self.log_path}:\n"
                                   f"{self.console_text()}")
            time.sleep(0.1)
        r = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=BOOT_TIMEOUT)
        state = r.stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"the container's systemd did not finish booting ({state!r}); "
                               f"see {self.log_path}:\n{self.console_text()}")
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            print(f"{self.name}: booted degraded, failed units:\n{failed}", flush=True)

    def _find_leader(self):
        """systemd, PID 1 of the container's PID namespace: the process in the container's
        cgroup whose innermost PID is 1."""
        for pid in _pids_in(self.cgroups[0]):
            ns = _nspid(pid)
            if len(ns) >= 2 and ns[-1] == "1":
                return pid
        return None

    def shutdown(self):
        """SIGTERM to nspawn makes the container's systemd power off; what is left after
        STOP_TIMEOUT is killed. The cgroups go in every case."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                # The first SIGTERM asks the container's systemd to power off, a second one
                # makes nspawn end it at once; SIGKILL and the cgroup removal below are the rest.
                for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
                    self.proc.send_signal(sig)
                    try:
                        self.proc.wait(STOP_TIMEOUT)
                        break
                    except subprocess.TimeoutExpired:
                        print(f"{self.name}: nspawn still running {STOP_TIMEOUT} s after signal {sig}", flush=True)
        finally:
            for cg in self.cgroups:
                _remove_cgroup(cg)
            if getattr(self, "console", None) is not None:
                self.console.close()
                self.console = None

    def console_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # ---- inside

    def run(self, argv, check=True, timeout=COMMAND_TIMEOUT, namespaces=("-a",), input=None):
        """A command in every namespace of the container (or only those in `namespaces`, e.g.
        ("-n",) to run a host client in its network namespace)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "",
               "SYSTEMD_COLORS": "0", "TERM": "dumb"}
        r = subprocess.run(["nsenter", "-t", str(self.leader), *namespaces, "--", *argv],
                           input=input, capture_output=True, text=True, timeout=timeout, env=env)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited with {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def net(self, argv, check=True, timeout=COMMAND_TIMEOUT, input=None):
        """A host program (curl, redis-cli, python3) in the container's network namespace."""
        return self.run(argv, check=check, timeout=timeout, namespaces=("-n",), input=input)

    def path(self, inside):
        """A file of the running container, as seen from outside."""
        return f"/proc/{self.leader}/root{inside}"

    def write(self, inside, text):
        with open(self.path(inside), "w") as f:
            f.write(text)

    def read(self, inside):
        with open(self.path(inside)) as f:
            return f.read()

    def systemctl(self, *args, check=True, timeout=COMMAND_TIMEOUT):
        return self.run(["systemctl", *args], check=check, timeout=timeout)

    def show(self, unit, *props):
        out = self.systemctl("show", unit, *[f"--property={p}" for p in props]).stdout
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return values if len(props) != 1 else values.get(props[0], "")

    def journal(self, *args):
        """Journal entries as JSON objects, read from outside through the container's root."""
        if which("journalctl") is not None:
            argv = ["journalctl", "-D", self.path("/var/log/journal")]
        else:  # a host without systemd: the container's own journalctl, in its mount namespace only
            argv = ["nsenter", "-t", str(self.leader), "-m", "--", "journalctl", "-D", "/var/log/journal"]
        r = subprocess.run([*argv, "--no-pager", "-o", "json", *args], capture_output=True, text=True,
                           timeout=COMMAND_TIMEOUT)
        if r.returncode != 0 and "No entries" not in r.stderr:
            raise AssertionError(f"journalctl {' '.join(args)} exited with {r.returncode}: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def wait_for_journal(self, match, *args, timeout=60):
        """The first entry satisfying `match` (journald may write an entry a moment after the
        command that logged it returned); fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.journal(*args):
                if match(e):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError(f"no journal entry as expected among: journalctl {' '.join(args)}")
            time.sleep(0.2)
