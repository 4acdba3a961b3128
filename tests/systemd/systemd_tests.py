#!/usr/bin/env python3
"""gatiod under a real systemd: each test boots a fresh container on the root prepare.py made
(the shipped units, installed by `cmake --install`), drives it with systemctl, talks to the
listeners from inside the container's network namespace with real clients, and reads the
journal. The container is shut down and its cgroups removed however the test ends.

Usage: systemd_tests.py --work DIR --config PATH --plugin-dir PATH TEST
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

import nspawn

UNIT = "gatiod.service"
BOUND = 90  # seconds: the longest any single wait in a test may take

# A TCP client for the echo and test-handler listeners, run in the container's network
# namespace: sends each argument as one line on its own connection, all connections at once,
# and prints one JSON list of what came back (or the error).
CLIENT = r"""
import json, socket, sys, threading
port = int(sys.argv[1]); lines = sys.argv[2:]; out = [None] * len(lines)
def one(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(lines[i].encode() + b"\n")
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(4096)
            if not b: break
            got += b
        out[i] = got.decode()
        s.close()
    except OSError as e:
        out[i] = "error: " + str(e)
ts = [threading.Thread(target=one, args=(i,)) for i in range(len(lines))]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps(out))
"""

# Connects, sends a line and reads its echo over and over until its stdin closes; prints how
# many round trips it made and every one that failed.
LOOP = r"""
import json, socket, sys, threading
port = int(sys.argv[1]); done = threading.Event(); made = 0; failed = []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"loop\n")
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(4096)
            if not b: break
            got += b
        s.close()
        if got != b"loop\n":
            failed.append(repr(got))
    except OSError as e:
        failed.append(str(e))
    made += 1
print(json.dumps({"made": made, "failed": failed}))
"""

# Holds one idle connection open until killed: prints "connected" once it is.
HOLDER = r"""
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
print("connected", flush=True)
time.sleep(300)
"""


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_until(what, fn, timeout=BOUND):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


class Suite:
    def __init__(self, c, config, plugin_dir, test_plugin_dir):
        self.c = c
        self.config = config
        self.plugin_dir = plugin_dir
        self.test_plugin = test_plugin_dir + "/service.so"
        self.example = c.read(config)

    # ---- clients inside

    def tcp(self, port, *lines):
        r = self.c.net(["python3", "-c", CLIENT, str(port), *lines])
        return json.loads(r.stdout)

    def http(self, port, path="/"):
        r = self.c.net(["curl", "-sS", "--max-time", "30", f"http://127.0.0.1:{port}{path}"], check=False)
        return r.stdout if r.returncode == 0 else f"curl {r.returncode}: {r.stderr}"

    def redis(self, *args):
        return self.c.net(["redis-cli", "-h", "127.0.0.1", "-p", "6380", *args]).stdout.strip()

    def udp(self, port, text):
        r = self.c.net(["python3", "-c",
                        "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(30);"
                        "s.sendto(sys.argv[2].encode(),('127.0.0.1',int(sys.argv[1]))); print(s.recv(65536).decode())",
                        str(port), text])
        return r.stdout.strip()

    def answers(self):
        """Every listener of the example configuration answers, at the first try."""
        expect(self.tcp(7000, "hello") == ["hello\n"], "echo-tcp answers")
        expect(self.udp(7001, "datagram") == "datagram", "echo-udp answers")
        expect(self.http(8080) == "Hello from Gatio\n", f"web answers: {self.http(8080)!r}")
        expect(self.redis("PING") == "PONG", "kv answers PING")
        expect(self.redis("SET", "k", "v") == "OK" and self.redis("GET", "k") == "v", "kv stores")
        expect(self.http(9100, "/healthz").startswith("ok"), f"admin /healthz: {self.http(9100, '/healthz')!r}")

    # ---- helpers

    def start(self):
        self.c.systemctl("start", UNIT, timeout=BOUND)
        p = self.c.show(UNIT, "ActiveState", "SubState", "MainPID")
        expect(p["ActiveState"] == "active" and p["SubState"] == "running", f"gatiod active: {p}")
        return int(p["MainPID"])

    # ---- tests

    def test_start(self):
        # tmpfiles.d made the runtime folder at boot, before gatiod ever ran.
        st = self.c.run(["stat", "-c", "%U:%G %a", "/run/gatio"]).stdout.split()
        expect(st == ["gatio:gatio", "750"], f"/run/gatio from tmpfiles.d: {st}")
        expect(self.c.show(UNIT, "Type") == "notify", "Type=notify")
        # At debug level systemd logs each notification it gets and each state change.
        self.c.run(["systemd-analyze", "log-level", "debug"])
        pid = self.start()
        self.c.wait_for_journal(lambda e: e.get("MESSAGE") == "gatiod.service: Changed start -> running",
                                "-u", UNIT, "_PID=1")
        states = [e["MESSAGE"] for e in self.c.journal("-u", UNIT, "_PID=1")
                  if re.match(r"gatiod\.service: (Changed \S+ -> \S+|Got notification message)", e.get("MESSAGE", ""))]
        ready = next((i for i, m in enumerate(states)
                      if m.startswith(f"gatiod.service: Got notification message from PID {pid} (READY=1")), None)
        expect(ready is not None and ready > 0 and states[ready - 1] == "gatiod.service: Changed start-pre -> start"
               and states[ready + 1] == "gatiod.service: Changed start -> running",
               f"activating until gatiod's READY=1, running from it: {states}")
        # So `systemctl start` returned once gatiod said READY=1, which it does after every
        # listener is serving: each answers right away.
        self.answers()
        text = self.c.show(UNIT, "StatusText")
        expect(re.match(r"drivers 2/2 up, \d+ connections open", text), f"STATUS= text: {text!r}")
        status = self.c.systemctl("status", UNIT, "--no-pager", "--lines=0", check=False).stdout
        expect(f"Status: \"{text.split(',')[0]}" in status, f"systemctl status shows STATUS=:\n{status}")

    def test_journal(self):
        self.start()
        want = {"echo-tcp": ("echo", "d0"), "echo-udp": ("echo", "d1"), "web": ("http", "d0"), "kv": ("resp", "d0")}
        for listener, (plugin, driver) in want.items():
            e = self.c.wait_for_journal(lambda e: "serving on driver" in e.get("MESSAGE", ""), "-u", UNIT,
                                        f"GATIO_LISTENER={listener}")
            expect(e.get("GATIO_PLUGIN") == plugin and e.get("GATIO_DRIVER") == driver
                   and e.get("GATIO_TPC") == "node0" and e.get("PRIORITY") == "6",
                   f"listener {listener}: {e}")
        for driver, cpu in (("d0", 0), ("d1", 1)):
            e = self.c.wait_for_journal(lambda e: "running on CPU" in e.get("MESSAGE", ""), "-u", UNIT,
                                        f"GATIO_DRIVER={driver}")
            expect(e["MESSAGE"].startswith(f"driver {driver} running on CPU {cpu}") and e.get("GATIO_TPC") == "node0"
                   and "GATIO_LISTENER" not in e and e.get("PRIORITY") == "6", f"driver {driver}: {e}")
        # Process-wide messages carry no context field.
        e = self.c.wait_for_journal(lambda e: " running; SIGTERM" in e.get("MESSAGE", ""), "-u", UNIT)
        expect(not any(k.startswith("GATIO_") for k in e) and e.get("PRIORITY") == "6", f"process-wide: {e}")
        expect(e.get("SYSLOG_IDENTIFIER") == "gatiod", f"identifier: {e}")
        # Through the journal's native protocol, not stderr: systemd's stream would set _TRANSPORT=stdout.
        expect(e.get("_TRANSPORT") == "journal", f"transport: {e.get('_TRANSPORT')}")
        # A warning: steer_to_cpu cannot apply to a socket systemd passed (see test_socket for
        # activation itself).
        self.c.systemctl("stop", UNIT)
        # And debug lines, at log_level = "debug". (Errors, PRIORITY=3: test_reload, test_watchdog.)
        steered = self.example.replace("\nsteer_to_cpu = false", "\nsteer_to_cpu = true", 1)
        steered = steered.replace('\nlog_level = "info"', '\nlog_level = "debug"', 1)
        expect(steered.count("steer_to_cpu = true") == 1 and 'log_level = "debug"' in steered,
               "the example has echo-tcp's steer_to_cpu and log_level")
        self.c.write(self.config, steered)
        self.c.systemctl("start", "gatiod.socket")
        expect(self.tcp(7000, "warn") == ["warn\n"], "socket-activated echo answers")
        e = self.c.wait_for_journal(lambda e: "steer_to_cpu ignored" in e.get("MESSAGE", ""), "-u", UNIT)
        expect(e.get("PRIORITY") == "4", f"a warning has PRIORITY=4: {e}")
        e = self.c.wait_for_journal(lambda e: e.get("MESSAGE", "").startswith("driver d1 on CPU 1: ring"), "-u", UNIT)
        expect(e.get("PRIORITY") == "7" and e.get("GATIO_DRIVER") == "d1", f"a debug line has PRIORITY=7: {e}")

    def test_reload(self):
        pid = self.start()
        expect(self.http(8080) == "Hello from Gatio\n", "the example's route")
        changed = self.example.replace('body = "Hello from Gatio\\n"', 'body = "Reloaded route\\n"')
        expect(changed != self.example, "the example has the route this test changes")
        self.c.write(self.config, changed)
        self.c.systemctl("reload", UNIT, timeout=BOUND)
        wait_until("the changed route served", lambda: self.http(8080) == "Reloaded route\n")
        expect(int(self.c.show(UNIT, "MainPID")) == pid, "reload keeps the process")

        # A broken file: ExecReload's check refuses it, the running config stays.
        lines = changed.splitlines(keepends=True)
        at = next(i for i, l in enumerate(lines) if l.startswith("backlog = 4096"))
        lines[at] = "backlog = \"many\"\n"
        self.c.write(self.config, "".join(lines))
        r = self.c.systemctl("reload", UNIT, check=False, timeout=BOUND)
        expect(r.returncode != 0, "systemctl reload fails on a broken file")
        p = self.c.show(UNIT, "ActiveState", "MainPID")
        expect(p["ActiveState"] == "active" and int(p["MainPID"]) == pid, f"still active on the old config: {p}")
        where = re.compile(re.escape(self.config) + rf":{at + 1}:\d+: ")
        self.c.wait_for_journal(lambda e: where.search(e.get("MESSAGE", "")), "-u", UNIT)
        expect(self.http(8080) == "Reloaded route\n", "the old configuration still serves")

        # SIGHUP straight to gatiod (past ExecReload's check): gatiod itself refuses the file,
        # logs FILE:LINE:COLUMN at error priority and keeps serving.
        since = self.c.journal("-u", UNIT, "-n", "1")[-1]["__CURSOR"]
        self.c.systemctl("kill", "--kill-whom=main", "--signal=SIGHUP", UNIT)
        e = self.c.wait_for_journal(lambda e: where.search(e.get("MESSAGE", "")) and e.get("_PID") == str(pid),
                                    "-u", UNIT, f"--after-cursor={since}")
        expect(e.get("PRIORITY") == "3", f"the reload error is an error: {e}")
        p = self.c.show(UNIT, "ActiveState", "MainPID")
        expect(p["ActiveState"] == "active" and int(p["MainPID"]) == pid, f"still active after SIGHUP: {p}")
        expect(self.http(8080) == "Reloaded route\n", "the old configuration still serves after SIGHUP")

    def test_watchdog(self):
        stall = (f'\n[[listener]]\nname = "stall"\naddress = "127.0.0.1:7100"\nhandler = "{self.test_plugin}"\n'
                 'drivers = ["d1"]\n')
        self.c.write(self.config, self.example + stall)
        pid = self.start()
        expect(self.c.show(UNIT, "NRestarts") == "0", "no restart yet")
        expect(self.tcp(7100, "ping") == ["pong\n"], "the test handler answers")
        # The handler blocks driver d1 far longer than WatchdogSec.
        blocker = subprocess.Popen(["nsenter", "-t", str(self.c.leader), "-n", "--", "python3", "-c", CLIENT,
                                    "7100", "stall 600000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            e = self.c.wait_for_journal(lambda e: "stalled" in e.get("MESSAGE", "") and e.get("GATIO_DRIVER") == "d1",
                                        "-u", UNIT, timeout=BOUND)
            expect(e.get("PRIORITY") == "3", f"a stalled driver is an error: {e}")
            wait_until("systemd restarted gatiod",
                       lambda: self.c.show(UNIT, "NRestarts") != "0" and self.c.show(UNIT, "ActiveState") == "active")
        finally:
            blocker.kill()
            blocker.wait()
        self.c.wait_for_journal(lambda e: "Watchdog timeout" in e.get("MESSAGE", ""), "-u", UNIT)
        p = self.c.show(UNIT, "NRestarts", "MainPID", "SubState")
        expect(int(p["NRestarts"]) >= 1 and int(p["MainPID"]) != pid, f"a new process: {p}")
        wait_until("the restarted gatiod is running", lambda: self.c.show(UNIT, "SubState") == "running")
        self.answers()

    def test_stop(self):
        pid = self.start()
        holder = subprocess.Popen(["nsenter", "-t", str(self.c.leader), "-n", "--", "python3", "-c", HOLDER, "7000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            expect(holder.stdout.readline().strip() == "connected", "an open connection")
            self.c.systemctl("stop", "--no-block", UNIT)
            wait_until("gatiod draining", lambda: self.c.show(UNIT, "ActiveState") == "deactivating")
            # A second stop while draining joins the first: no second signal, the same end.
            self.c.systemctl("stop", UNIT, timeout=BOUND)
        finally:
            holder.kill()
            holder.wait()
        p = self.c.show(UNIT, "ActiveState", "Result", "ExecMainStatus")
        expect(p == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, f"a clean stop: {p}")
        msgs = [e.get("MESSAGE", "") for e in self.c.journal("-u", UNIT, f"_PID={pid}")]
        expect(sum("SIGTERM received: stopping" in m for m in msgs) == 1, f"one drain: {msgs[-8:]}")
        expect(not any("received again" in m for m in msgs), "no forced exit")
        # The open connection was closed by the drain, not by the holder going away.
        expect(any(re.search(r"network counters: accepted=1 closed=1\b", m) for m in msgs), f"drained: {msgs[-8:]}")
        expect(any(m == "stopped" for m in msgs), f"gatiod finished its drain: {msgs[-8:]}")

    def listening_inodes(self, port):
        inodes = []
        with open(f"/proc/{self.c.leader}/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[1] == f"0100007F:{port:04X}" and cols[3] == "0A":
                    inodes.append(cols[9])
        return inodes

    def socket_inodes(self, pid):
        r = self.c.run(["find", f"/proc/{pid}/fd", "-lname", "socket:*", "-printf", "%l\n"])
        return {l[len("socket:["):-1] for l in r.stdout.split()}

    def test_socket(self):
        expect(self.c.show(UNIT, "ActiveState") == "inactive", "gatiod not started")
        self.c.systemctl("start", "gatiod.socket")
        expect(self.c.show(UNIT, "ActiveState") == "inactive", "the socket alone does not start gatiod")
        held = self.listening_inodes(7000)
        expect(len(held) == 1, f"systemd holds 127.0.0.1:7000: {held}")
        # The first connections start gatiod; they wait in the backlog, none is refused.
        got = self.tcp(7000, *[f"first {i}" for i in range(16)])
        expect(got == [f"first {i}\n" for i in range(16)], f"every first connection answered: {got}")
        expect(self.c.show(UNIT, "ActiveState") == "active", "started by its socket")
        pid = int(self.c.show(UNIT, "MainPID"))
        self.c.wait_for_journal(lambda e: 'listener "echo-tcp" serves the socket passed as fd' in e.get("MESSAGE", ""),
                                "-u", UNIT)
        expect(held[0] in self.socket_inodes(pid), "gatiod serves systemd's socket")
        self.answers()

        # A reload keeps the inherited socket: connections made during and after it are answered.
        self.c.write(self.config, self.example.replace('body = "Hello from Gatio\\n"', 'body = "Socket reload\\n"'))
        during = subprocess.Popen(["nsenter", "-t", str(self.c.leader), "-n", "--", "python3", "-c", LOOP, "7000"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.c.systemctl("reload", UNIT, timeout=BOUND)
            wait_until("the reload applied", lambda: self.http(8080) == "Socket reload\n")
            out, _ = during.communicate("", timeout=BOUND)
        finally:
            during.kill()
            during.wait()
        loop = json.loads(out)
        expect(loop["made"] > 0 and not loop["failed"], f"connections during the reload: {loop}")
        expect(int(self.c.show(UNIT, "MainPID")) == pid, "same process")
        expect(self.listening_inodes(7000) == held, "still the one socket systemd made")
        expect(held[0] in self.socket_inodes(pid), "gatiod still serves systemd's socket")
        expect(self.tcp(7000, "after") == ["after\n"], "answered after the reload")

        # Stopped again, the service is started again by the next connection to its socket.
        self.c.systemctl("stop", UNIT, timeout=BOUND)
        expect(self.c.show(UNIT, "ActiveState") == "inactive", "stopped")
        expect(self.listening_inodes(7000) == held, "systemd still holds the socket")
        expect(self.tcp(7000, "again") == ["again\n"], "a connection to the stopped service is answered")
        again = self.c.show(UNIT, "ActiveState", "MainPID")
        expect(again["ActiveState"] == "active" and int(again["MainPID"]) != pid, f"started anew: {again}")

    def test_security(self):
        r = self.c.run(["systemd-analyze", "security", "--no-pager", UNIT], check=False)
        m = re.search(r"Overall exposure level for gatiod\.service: (\d+\.\d+)", r.stdout)
        expect(m is not None, f"systemd-analyze security:\n{r.stdout}{r.stderr}")
        print(f"exposure {m.group(1)}", flush=True)
        expect(float(m.group(1)) <= 1.5, f"exposure {m.group(1)} > 1.5:\n{r.stdout}")
        r = self.c.run(["systemd-analyze", "verify", UNIT, "gatiod.socket"], check=False)
        expect(r.returncode == 0 and "gatiod" not in r.stderr, f"systemd-analyze verify:\n{r.stdout}{r.stderr}")

    def test_user(self):
        # Port 80: only CAP_NET_BIND_SERVICE, which the unit grants as its one ambient capability.
        self.c.write(self.config, self.example.replace('address = "127.0.0.1:8080"', 'address = "127.0.0.1:80"'))
        pid = self.start()
        expect(self.http(80) == "Hello from Gatio\n", "web on port 80")
        uid = self.c.run(["id", "-u", "gatio"]).stdout.strip()
        status = self.c.run(["cat", f"/proc/{pid}/status"]).stdout
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        expect(fields["Uid"].split() == [uid] * 4 and uid != "0", f"runs as gatio ({uid}): {fields['Uid']}")
        expect(int(fields["CapEff"], 16) == 1 << 10 and int(fields["CapBnd"], 16) == 1 << 10,
               f"CAP_NET_BIND_SERVICE only: {fields['CapEff']} {fields['CapBnd']}")
        expect(fields["NoNewPrivs"].strip() == "1", "NoNewPrivileges")
        user = self.c.run(["ps", "-o", "user=", "-p", str(pid)]).stdout.strip()
        expect(user == "gatio", f"ps: {user}")
        # The plugin folder as installed: root's, written by nobody else, so the loader takes it.
        st = self.c.run(["stat", "-c", "%U %a", self.plugin_dir]).stdout.split()
        expect(st[0] == "root" and int(st[1], 8) & 0o022 == 0, f"{self.plugin_dir}: {st}")
        # The same check, as the unit runs it, refuses the folder once others may write to it.
        self.c.systemctl("stop", UNIT)
        self.c.run(["chmod", "0775", self.plugin_dir])
        r = self.c.systemctl("start", UNIT, check=False, timeout=BOUND)
        expect(r.returncode != 0, "gatiod refuses a group-writable plugin folder")
        refusal = f"folder {self.plugin_dir} is writable by group or others"
        self.c.wait_for_journal(lambda e: refusal in e.get("MESSAGE", ""), "-u", UNIT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--plugin-dir", required=True)
    ap.add_argument("test")
    args = ap.parse_args()
    # CTest's timeout sends SIGTERM: unwind so that the container still goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    try:
        with open(os.path.join(args.work, "state.json")) as f:
            state = json.load(f)
    except OSError:
        sys.exit(f"{args.work}/state.json missing: the systemd.prepare test did not run or failed")
    if "unavailable" in state:
        print(f"skipped: {state['unavailable']}")
        sys.exit(nspawn.SKIP)

    test = getattr(Suite, "test_" + args.test, None)
    if test is None:
        sys.exit(f"no test {args.test}")
    nspawn.reap_stale(args.work)  # the suite's tests run one at a time (RESOURCE_LOCK)
    with nspawn.Container(state["root"], args.work) as c:
        suite = Suite(c, args.config, args.plugin_dir, state["test_plugin_dir"])
        try:
            test(suite)
        except BaseException:
            print("---- journal of gatiod.service", flush=True)
            for e in c.journal("-u", UNIT, "-n", "60"):
                print(f"{e.get('PRIORITY', '?')} {e.get('_PID', '')}: {e.get('MESSAGE', '')}")
            raise
    print(f"{args.test}: passed")


if __name__ == "__main__":
    main()
