"""Holds idle connections for bench/run's memory cases.

Opens --count connections to 127.0.0.1:--port from --source, makes one request on each and reads
its whole answer (so the server has accepted and served it), prints "ready N", then keeps every
connection open and silent until its standard input closes.
"""

import argparse
import resource
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # linux/in.h

REQUESTS = {
    "http": b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n",
    "resp": b"*1\r\n$4\r\nPING\r\n",
}


def read_answer(sock, protocol):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the server closed the connection")
        data += chunk
        if protocol == "resp":
            if data.endswith(b"\r\n"):
                return data
        elif b"\r\n\r\n" in data:
            head, body = data.split(b"\r\n\r\n", 1)
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(body) >= int(value):
                    return data


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--protocol", choices=sorted(REQUESTS), required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--source", required=True)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if a.count + 64 > hard:
        sys.exit(f"idle_hold: {a.count} connections need more descriptors than the hard limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            # The port is chosen at connect(), unique per (source, destination) pair, rather than
            # at bind(), where every port still in TIME_WAIT from an earlier run is off limits.
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((a.source, 0))
            s.connect(("127.0.0.1", a.port))
            s.sendall(REQUESTS[a.protocol])
            read_answer(s, a.protocol)
        except OSError as e:
            sys.exit(f"idle_hold: connection {i + 1} of {a.count} from {a.source} to port {a.port}: {e}")
        held.append(s)
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
