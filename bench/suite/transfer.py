"""One bulk transfer through an echo path: sends --bytes in 1 MiB writes on one connection while
reading the echo back, checks that as much came back, and prints {"bytes", "seconds"} as JSON,
where bytes counts both directions (what a proxy in the path moved)."""

import argparse
import json
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    a = p.parse_args()
    block = bytes(range(256)) * (CHUNK // 256)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
    failed = []

    def send():
        try:
            left = a.bytes
            while left > 0:
                n = min(left, CHUNK)
                s.sendall(block[:n])
                left -= n
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            failed.append(e)

    start = time.monotonic()
    writer = threading.Thread(target=send)
    writer.start()
    buf = bytearray(CHUNK)
    got = 0
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    writer.join()
    seconds = time.monotonic() - start
    s.close()
    if failed or got != a.bytes:
        print(f"transfer: sent {a.bytes} bytes, {got} came back ({failed[0] if failed else 'closed early'})",
              file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"bytes": 2 * got, "seconds": seconds}))


if __name__ == "__main__":
    main()
