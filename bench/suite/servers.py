"""The servers under test: gatiod with a generated one-driver configuration, nginx, h2o and
redis-server with generated configurations, each started on the server CPU and stopped by the suite."""

import abc
import os
import pwd
import signal
import socket
import subprocess
import time
import tomllib
from pathlib import Path

from . import probes
from .common import REPO, BenchError, free_port, stop_process, wait_for_port
from .machine import numa_node_of

# The answer every HTTP server gives: same body, same type.
HTTP_BODY = "hello, world\n"
HTTP_TYPE = "text/plain; charset=utf-8"
# Where the static-file cases' folder is served.
FILES_PREFIX = "/f/"


def _toml_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Server(abc.ABC):
    """One server process tree, started on the server CPU; paused (SIGSTOP) while its rival runs."""

    kind = ""  # "gatiod", "nginx", "h2o" or "redis-server"
    stop_signal = signal.SIGTERM
    start_timeout = 15.0

    def __init__(self, name, workdir, placement):
        self.name = name
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.placement = placement
        self.port = free_port()
        self.proc = None
        self._log = None

    @abc.abstractmethod
    def command(self):
        """The server's command line, without the CPU placement."""

    def launch(self):
        """The command line as started, and a function the child runs first (or None)."""
        return self.placement.server(self.command()), None

    def start(self):
        self._log = open(self.dir / "output.log", "w")
        argv, preexec = self.launch()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True, preexec_fn=preexec)
        try:
            wait_for_port(self.port, self.proc, self.name, self.start_timeout)
            self.wait_ready()
        except BenchError as e:
            self.stop()
            raise BenchError(f"{e}\n--- {self.name} output ---\n{self.output()}") from None

    def wait_ready(self):
        pass

    # Files in the server's folder whose tails output() shows, after its console output.
    logs = ("output.log",)

    def output(self):
        text = ""
        for name in self.logs:
            try:
                text += (self.dir / name).read_text()[-4000:]
            except FileNotFoundError:
                pass
        return text

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"{self.name} is not running:\n{self.output()}")
        return [self.proc.pid]

    def signal_all(self, sig):
        for pid in self.pids():
            os.kill(pid, sig)

    def pause(self):
        self.signal_all(signal.SIGSTOP)

    def resume(self):
        self.signal_all(signal.SIGCONT)

    def stop(self, grace=15.0):
        if self.proc is not None and self.proc.poll() is None:
            pids = self.pids()
            self.resume()  # a paused worker could not act on its master's request to stop
            stop_process(self.proc, self.stop_signal, grace)
            for pid in pids[1:]:
                try:
                    os.kill(pid, signal.SIGKILL)  # a worker that outlived its master
                except ProcessLookupError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def rss(self):
        return probes.rss_bytes(self.pids())


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return _toml_string(v) if isinstance(v, str) else str(v)


class Gatiod(Server):
    kind = "gatiod"

    def __init__(self, name, workdir, placement, build, handler, max_connections, io_uring=None, www=None,
                 file_cache=0, network=None):
        super().__init__(name, workdir, placement)
        self.build = build
        self.handler = handler
        self.io_uring = io_uring or {}
        self.network = network or {}  # [network] keys, e.g. zerocopy_send
        self.www = www  # a folder served at FILES_PREFIX
        self.file_cache = file_cache  # the http plugin's open_file_cache (0: off, its default)
        self.max_connections = max_connections
        self.config = self.dir / "gatiod.toml"
        self.config.write_text(self._config_text())

    def _options(self):
        if self.handler == "http":
            files = (f"\n[[listener.options.route]]\npath = \"{FILES_PREFIX}\"\nroot = {_toml_string(str(self.www))}\n"
                     if self.www else "")
            cache = f"open_file_cache = {self.file_cache}\n" if self.file_cache else ""
            return (f"max_connections = {self.max_connections}\n{cache}\n[[listener.options.route]]\npath = \"/\"\n"
                    f"content_type = {_toml_string(HTTP_TYPE)}\nbody = {_toml_string(HTTP_BODY)}\n" + files)
        return ""

    def _config_text(self):
        cpu = self.placement.server_cpu
        switches = "".join(f"{k} = {_toml_value(v)}\n" for k, v in self.io_uring.items())
        network = "".join(f"{k} = {_toml_value(v)}\n" for k, v in self.network.items())
        options = self._options()
        return (
            "# Generated by bench/run: one io+exec driver on the server CPU.\n"
            "[daemon]\nlog_level = \"warn\"\nshutdown_grace = \"1s\"\n\n"
            "[topology]\nmode = \"manual\"\n\n"
            f"[[tpc]]\nname = \"bench\"\nnuma_node = {numa_node_of(cpu)}\n\n"
            f"[[tpc.driver]]\nname = \"cpu{cpu}\"\ncpu = {cpu}\nrole = \"io+exec\"\n\n"
            f"[io_uring]\n{switches}\n"
            + (f"[network]\n{network}\n" if network else "") +
            f"[[listener]]\nname = \"{self.handler}\"\naddress = \"127.0.0.1:{self.port}\"\n"
            f"handler = \"{self.handler}\"\nmax_connections = {self.max_connections}\nidle_timeout = \"1h\"\n"
            + (f"\n[listener.options]\n{options}" if options else ""))

    def command(self):
        return [self.build.gatiod, "-c", self.config, "--plugin-dir", self.build.plugins, "--log-target", "console"]


def _unplaced():
    """Undoes the suite's own placement in a child: every CPU, ordinary scheduling."""
    os.sched_setaffinity(0, range(os.cpu_count()))
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


class ExampleGatiod(Server):
    """gatiod on gatio.toml.example as scripts/run-example starts it: its own topology and
    ports, unpinned; ready once the example's last TCP listener answers."""
    kind = "gatiod"
    example = REPO / "gatio.toml.example"

    def __init__(self, name, workdir, build):
        super().__init__(name, workdir, None)
        self.build = build
        tcp = [l for l in tomllib.loads(self.example.read_text())["listener"] if l.get("transport", "tcp") == "tcp"]
        self.port = int(tcp[-1]["address"].rsplit(":", 1)[1])

    def command(self):
        return [self.build.gatiod, "-c", self.example, "--plugin-dir", self.build.plugins, "--log-target", "console"]

    def launch(self):
        return [str(c) for c in self.command()], _unplaced


class Nginx(Server):
    logs = ("output.log", "error.log")
    kind = "nginx"

    def __init__(self, name, workdir, placement, max_connections, fd_limit, www=None):
        super().__init__(name, workdir, placement)
        d = self.dir
        # The static-file cases: the folder at FILES_PREFIX, sent with sendfile. Started as root,
        # nginx's worker would run as nobody, which cannot read the run's private folder.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if www and os.geteuid() == 0 else ""
        files = (f"        location {FILES_PREFIX} {{\n            alias {www}/;\n            sendfile on;\n"
                 "            tcp_nopush on;\n            etag on;\n        }\n" if www else "")
        temp = "".join(f"    {k}_temp_path {d / k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        body = HTTP_BODY.replace("\n", "\\n")
        # One worker, no access log, keep-alive for as long as a run lasts, the same body and
        # Content-Type as gatiod's route (nginx adds Connection: keep-alive on its own).
        (d / "nginx.conf").write_text(
            "# Generated by bench/run.\n"
            "daemon off;\nmaster_process on;\nworker_processes 1;\n" + user +
            f"worker_rlimit_nofile {fd_limit};\npid {d / 'nginx.pid'};\nerror_log {d / 'error.log'} warn;\n"
            f"events {{\n    worker_connections {max_connections};\n}}\n"
            "http {\n    access_log off;\n    server_tokens off;\n"
            "    keepalive_requests 1000000000;\n    keepalive_timeout 3600s;\n    client_header_timeout 3600s;\n"
            f"{temp}"
            f"    server {{\n        listen 127.0.0.1:{self.port} backlog=4096;\n"
            f"        location / {{\n            default_type \"{HTTP_TYPE}\";\n"
            f"            return 200 \"{body}\";\n        }}\n{files}    }}\n}}\n")

    def command(self):
        return ["nginx", "-p", self.dir, "-c", self.dir / "nginx.conf", "-e", self.dir / "error.log"]

    def wait_ready(self):
        deadline = time.monotonic() + 10
        while len(probes.children(self.proc.pid)) != 1:
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: expected one worker process under master {self.proc.pid}")
            time.sleep(0.05)

    def pids(self):
        return super().pids() + probes.children(self.proc.pid)


class H2o(Server):
    logs = ("output.log", "error.log")
    kind = "h2o"

    def __init__(self, name, workdir, placement, max_connections):
        super().__init__(name, workdir, placement)
        d = self.dir
        (d / "www").mkdir(exist_ok=True)
        (d / "www" / "index.txt").write_text(HTTP_BODY)
        # Started as root, h2o drops to the account named by "user" (nobody when absent), which
        # could not read the run's private folder: it keeps the account it was started with.
        user = f"user: {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else ""
        # One worker thread, no access log, the body as a static file with gatiod's Content-Type;
        # keep-alive lasts as long as a run.
        (d / "h2o.conf").write_text(
            "# Generated by bench/run.\n"
            f"{user}num-threads: 1\nmax-connections: {max_connections}\nerror-log: {d / 'error.log'}\n"
            "http1-request-timeout: 3600\n"
            f"listen:\n  host: 127.0.0.1\n  port: {self.port}\n"
            f"file.mime.settypes:\n  \"{HTTP_TYPE}\": .txt\n"
            f"hosts:\n  default:\n    paths:\n      /:\n        file.dir: {d / 'www'}\n"
            "        file.index: [\"index.txt\"]\n")

    def command(self):
        return ["h2o", "-c", self.dir / "h2o.conf"]


class ProxyBase(Server):
    """A TCP proxy with two fronts: `port` to the HTTP backend, `echo_port` to the echo backend."""

    def __init__(self, name, workdir, placement, http_backend, echo_backend, max_connections):
        super().__init__(name, workdir, placement)
        self.echo_port = free_port()
        self.http_backend = http_backend
        self.echo_backend = echo_backend
        self.max_connections = max_connections


class GatiodProxy(ProxyBase):
    kind = "gatiod"

    def __init__(self, name, workdir, placement, build, http_backend, echo_backend, max_connections, network=""):
        super().__init__(name, workdir, placement, http_backend, echo_backend, max_connections)
        self.build = build
        self.config = self.dir / "gatiod.toml"
        cpu = placement.server_cpu
        fronts = ""
        for front, port, backend in (("http", self.port, http_backend), ("echo", self.echo_port, echo_backend)):
            fronts += (f"[[listener]]\nname = \"{front}\"\naddress = \"127.0.0.1:{port}\"\nhandler = \"proxy\"\n"
                       f"max_connections = {max_connections}\nmax_outbound = {max_connections}\n"
                       "idle_timeout = \"1h\"\n\n"
                       f"[listener.options]\nupstreams = [\"127.0.0.1:{backend}\"]\nhealth_interval = \"0s\"\n\n")
        self.config.write_text(
            "# Generated by bench/run: one io+exec driver on the server CPU.\n"
            "[daemon]\nlog_level = \"warn\"\nshutdown_grace = \"1s\"\n\n"
            "[topology]\nmode = \"manual\"\n\n"
            f"[[tpc]]\nname = \"bench\"\nnuma_node = {numa_node_of(cpu)}\n\n"
            f"[[tpc.driver]]\nname = \"cpu{cpu}\"\ncpu = {cpu}\nrole = \"io+exec\"\n\n"
            f"[network]\n{network}\n\n" + fronts)

    def command(self):
        return [self.build.gatiod, "-c", self.config, "--plugin-dir", self.build.plugins, "--log-target", "console"]


class Haproxy(ProxyBase):
    kind = "haproxy"

    def __init__(self, *args):
        super().__init__(*args)
        fronts = ""
        for front, port, backend in (("http", self.port, self.http_backend), ("echo", self.echo_port,
                                                                               self.echo_backend)):
            fronts += (f"frontend {front}_in\n    bind 127.0.0.1:{port}\n    default_backend {front}_out\n"
                       f"backend {front}_out\n    server s1 127.0.0.1:{backend}\n")
        # One thread, layer 4, no logging, timeouts that outlast a run.
        (self.dir / "haproxy.cfg").write_text(
            "# Generated by bench/run.\n"
            f"global\n    nbthread 1\n    maxconn {self.max_connections}\n\n"
            "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n\n"
            + fronts)

    def command(self):
        return ["haproxy", "-db", "-f", self.dir / "haproxy.cfg"]


# Debian's libnginx-mod-stream puts the stream module here.
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class NginxStream(ProxyBase):
    logs = ("output.log", "error.log")
    kind = "nginx"

    def __init__(self, *args):
        super().__init__(*args)
        d = self.dir
        servers = ""
        for port, backend in ((self.port, self.http_backend), (self.echo_port, self.echo_backend)):
            servers += (f"    server {{\n        listen 127.0.0.1:{port} backlog=4096;\n"
                        f"        proxy_pass 127.0.0.1:{backend};\n        proxy_timeout 1h;\n"
                        # Off by default: a client's FIN would close both sides at once and cut
                        # off what the backend still has to send.
                        "        proxy_half_close on;\n    }\n")
        (d / "nginx.conf").write_text(
            "# Generated by bench/run.\n"
            f"load_module {NGINX_STREAM_MODULE};\n"
            "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {d / 'nginx.pid'};\nerror_log {d / 'error.log'} warn;\n"
            f"events {{\n    worker_connections {2 * self.max_connections + 16};\n}}\n"
            f"stream {{\n{servers}}}\n")

    def command(self):
        if not Path(NGINX_STREAM_MODULE).exists():
            raise BenchError(f"{NGINX_STREAM_MODULE} is missing: install libnginx-mod-stream")
        return ["nginx", "-p", self.dir, "-c", self.dir / "nginx.conf", "-e", self.dir / "error.log"]

    def wait_ready(self):
        Nginx.wait_ready(self)

    def pids(self):
        return Server.pids(self) + probes.children(self.proc.pid)


class Redis(Server):
    kind = "redis-server"

    def __init__(self, name, workdir, placement, max_connections):
        super().__init__(name, workdir, placement)
        self.max_connections = max_connections

    def command(self):
        return ["redis-server", "--port", self.port, "--bind", "127.0.0.1", "--io-threads", "1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", self.dir,
                "--logfile", "", "--maxclients", self.max_connections, "--timeout", "0"]


def http_answer(port, path="/"):
    """Sends one GET and returns (status line, header names, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise BenchError(f"HTTP server on port {port} closed the connection before answering")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = [line.split(":", 1)[0] for line in lines[1:]]
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        return lines[0], headers, body.decode("latin-1"), len(head) + 4 + length


def resp_exchange(port, commands):
    """Sends RESP commands (lists of strings) one at a time; returns the raw replies."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for cmd in commands:
            s.sendall(("*%d\r\n" % len(cmd) + "".join(f"${len(a)}\r\n{a}\r\n" for a in cmd)).encode())
            data = b""
            while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2
                                                  and not data.startswith(b"$-1")):
                chunk = s.recv(4096)
                if not chunk:
                    raise BenchError(f"RESP server on port {port} closed the connection")
                data += chunk
            replies.append(data.decode())
    return replies


def check_http(server):
    status, headers, body, size = http_answer(server.port)
    if not status.startswith("HTTP/1.1 200") or body != HTTP_BODY:
        raise BenchError(f"{server.name}: unexpected answer {status!r} with body {body!r}")
    return {"status": status, "headers": headers, "header_count": len(headers), "bytes": size}


def check_files(files):
    """A check that each static file comes back whole (names and contents as bytes)."""
    def check(server):
        for name, content in files.items():
            status, headers, body, size = http_answer(server.port, FILES_PREFIX + name)
            if not status.startswith("HTTP/1.1 200") or body.encode("latin-1") != content:
                raise BenchError(f"{server.name}: {FILES_PREFIX}{name}: {status!r} with {len(body)} body bytes, "
                                 f"expected {len(content)}")
        return {"files": "every file whole"}
    return check


def check_resp(server):
    key = "bench:check"
    replies = resp_exchange(server.port, [["PING"], ["SET", key, "abc"], ["GET", key], ["INCR", key + ":n"],
                                          ["ZADD", key + ":z", "1.5", "m"], ["ZSCORE", key + ":z", "m"],
                                          ["DEL", key, key + ":n", key + ":z"]])
    expected = ["+PONG\r\n", "+OK\r\n", "$3\r\nabc\r\n", ":1\r\n", ":1\r\n", "$3\r\n1.5\r\n", ":3\r\n"]
    if replies != expected:
        raise BenchError(f"{server.name}: replies {replies!r}, expected {expected!r}")
    return {"replies": "PING SET GET INCR ZADD ZSCORE DEL as expected"}
