#!/usr/bin/env python3
"""An application's workload through a real client library (redis-py, Debian's python3-redis)
against gatiod's resp listener on two io+exec drivers: several threads at once on strings with
expiry, hashes, lists, sets, sorted sets and pipelines, and pub/sub with a listener thread.
Every result is checked against what the application expects. Exits 77 (skipped) without the
redis module."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:
    import redis
except ImportError:
    print("skipped: the redis module (Debian's python3-redis) is not installed")
    sys.exit(77)

THREADS = 4
ROUNDS = 60
PUBLISHERS = 3
MESSAGES = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gatiod(gatiod, plugin_dir, work):
    port = free_port()
    config = os.path.join(work, "gatio.toml")
    with open(config, "w") as f:
        f.write('[daemon]\nlog_level = "info"\nshutdown_grace = "2s"\n'
                '[topology]\nmode = "manual"\n[[tpc]]\nname = "node0"\nnuma_node = 0\n')
        for d in range(2):
            f.write(f'[[tpc.driver]]\nname = "d{d}"\ncpu = {d}\nrole = "io+exec"\n')
        f.write(f'[[listener]]\nname = "kv"\ntransport = "tcp"\naddress = "127.0.0.1:{port}"\n'
                'handler = "resp"\nmax_connections = 1024\n')
    log = open(os.path.join(work, "gatiod.log"), "w+")
    proc = subprocess.Popen([gatiod, "-c", config, "--plugin-dir", plugin_dir, "--log-target", "console"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port, log
        except OSError:
            time.sleep(0.05)
    log.seek(0)
    sys.exit(f"gatiod did not start:\n{log.read()}")


class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def check(self, ok, what):
        if not ok:
            with self.lock:
                self.items.append(what)


def keyspace_worker(port, n, failures):
    """One application thread: its own keys, its own connection pool."""
    r = redis.Redis(port=port, decode_responses=True)
    p = f"app{n}:"
    for i in range(ROUNDS):
        # Strings with expiry.
        failures.check(r.set(f"{p}s{i}", f"v{i}", ex=100) is True, "SET EX")
        failures.check(r.get(f"{p}s{i}") == f"v{i}", "GET")
        ttl = r.ttl(f"{p}s{i}")
        failures.check(90 <= ttl <= 100, f"TTL {ttl}")
        failures.check(r.incrby(f"{p}counter", 2) == 2 * (i + 1), "INCRBY")
        failures.check(r.setnx(f"{p}s{i}", "other") is False, "SETNX on an existing key")
        # Hashes.
        failures.check(r.hset(f"{p}h{i}", mapping={"name": f"n{i}", "age": str(i)}) == 2, "HSET mapping")
        failures.check(r.hincrby(f"{p}h{i}", "age", 10) == i + 10, "HINCRBY")
        failures.check(r.hgetall(f"{p}h{i}") == {"name": f"n{i}", "age": str(i + 10)}, "HGETALL")
        # Lists.
        failures.check(r.rpush(f"{p}list", f"e{i}") == i + 1, "RPUSH")
        failures.check(r.lrange(f"{p}list", -1, -1) == [f"e{i}"], "LRANGE")
        # Sets, the algebra over keys that may live on different shards.
        r.sadd(f"{p}even" if i % 2 == 0 else f"{p}odd", i)
        r.sadd(f"{p}all", i)
        # Sorted sets.
        failures.check(r.zadd(f"{p}z", {f"m{i}": i * 1.5}) == 1, "ZADD")
    failures.check(r.llen(f"{p}list") == ROUNDS, "LLEN")
    failures.check(r.lpop(f"{p}list") == "e0", "LPOP")
    failures.check(r.rpop(f"{p}list", 2) == [f"e{ROUNDS - 1}", f"e{ROUNDS - 2}"], "RPOP count")
    failures.check(r.scard(f"{p}all") == ROUNDS, "SCARD")
    failures.check(r.sinter(f"{p}all", f"{p}even") == {str(i) for i in range(0, ROUNDS, 2)}, "SINTER")
    failures.check(r.sunion(f"{p}even", f"{p}odd") == {str(i) for i in range(ROUNDS)}, "SUNION")
    failures.check(r.smembers(f"{p}odd") == {str(i) for i in range(1, ROUNDS, 2)}, "SMEMBERS")
    failures.check(r.zrange(f"{p}z", 0, 2, withscores=True) == [("m0", 0.0), ("m1", 1.5), ("m2", 3.0)],
                   "ZRANGE WITHSCORES")
    failures.check(r.zincrby(f"{p}z", 1000, "m0") == 1000.0, "ZINCRBY")
    failures.check(r.zrevrank(f"{p}z", "m0") == 0, "ZREVRANK")
    failures.check(r.zrangebyscore(f"{p}z", 3, 6) == ["m2", "m3", "m4"], "ZRANGEBYSCORE")
    failures.check(r.zcard(f"{p}z") == ROUNDS, "ZCARD")

    # A pipeline (no MULTI) of many commands, replies in order.
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"{p}pipe{i}", i)
        pipe.incr(f"{p}pipe{i}")
        pipe.get(f"{p}pipe{i}")
    replies = pipe.execute()
    expect = []
    for i in range(200):
        expect += [True, i + 1, str(i + 1)]
    failures.check(replies == expect, "pipeline replies")
    failures.check(r.mget([f"{p}pipe{i}" for i in range(0, 200, 50)]) == ["1", "51", "101", "151"], "MGET")
    failures.check(r.delete(*[f"{p}pipe{i}" for i in range(200)]) == 200, "DEL of 200 keys")

    # Expiry that runs out.
    r.set(f"{p}short", "x", px=100)
    deadline = time.monotonic() + 10
    while r.exists(f"{p}short") and time.monotonic() < deadline:
        time.sleep(0.02)
    failures.check(r.get(f"{p}short") is None, "a key with PX 100 expires")
    failures.check(r.type(f"{p}h0") == "hash" and r.type(f"{p}z") == "zset", "TYPE")
    r.close()


def pubsub_check(port, failures):
    """A listener thread on a channel and a pattern; publishers in threads of their own, each on
    its own connection (so on either driver), publish in order."""
    listener = redis.Redis(port=port, decode_responses=True)
    ps = listener.pubsub()
    ps.subscribe("news")
    ps.psubscribe("news*", "sport.*")
    # The three confirmations, then the subscriptions are in place everywhere.
    for _ in range(3):
        m = ps.get_message(timeout=10)
        failures.check(m is not None and m["type"] in ("subscribe", "psubscribe"), f"confirmation {m}")
    got = []
    done = threading.Event()

    def listen():
        for m in ps.listen():
            got.append(m)
            if m["type"] == "message" and m["data"] == "stop":
                break
        done.set()

    t = threading.Thread(target=listen)
    t.start()
    admin = redis.Redis(port=port, decode_responses=True)
    failures.check(admin.pubsub_numsub("news", "nobody") == [("news", 1), ("nobody", 0)], "PUBSUB NUMSUB")
    failures.check(admin.pubsub_numpat() == 2, "PUBSUB NUMPAT")
    failures.check(admin.pubsub_channels() == ["news"], "PUBSUB CHANNELS")

    def publish(n):
        c = redis.Redis(port=port, decode_responses=True)
        for i in range(MESSAGES):
            channel = "news" if i % 2 == 0 else "sport.x"
            receivers = c.publish(channel, f"p{n}:{i}")
            # news: the channel and the pattern news*; sport.x: the pattern sport.*.
            failures.check(receivers == (2 if channel == "news" else 1), f"PUBLISH {channel} reached {receivers}")
        c.close()

    publishers = [threading.Thread(target=publish, args=(n,)) for n in range(PUBLISHERS)]
    for p in publishers:
        p.start()
    for p in publishers:
        p.join()
    admin.publish("news", "stop")
    failures.check(done.wait(30), "the listener saw the end")
    t.join(5)
    for n in range(PUBLISHERS):
        mine = [m for m in got if str(m["data"]).startswith(f"p{n}:")]
        direct = [m["data"] for m in mine if m["type"] == "message"]
        patterned = [(m["pattern"], m["channel"], m["data"]) for m in mine if m["type"] == "pmessage"]
        failures.check(direct == [f"p{n}:{i}" for i in range(0, MESSAGES, 2)], f"publisher {n}'s messages in order")
        expect = []
        for i in range(MESSAGES):
            expect.append(("news*", "news", f"p{n}:{i}") if i % 2 == 0 else ("sport.*", "sport.x", f"p{n}:{i}"))
        failures.check(patterned == expect, f"publisher {n}'s pattern messages in order")
    ps.unsubscribe()
    ps.punsubscribe()
    ps.close()
    deadline = time.monotonic() + 10
    while admin.pubsub_numpat() != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    failures.check(admin.pubsub_numsub("news") == [("news", 0)], "NUMSUB after the listener left")
    failures.check(admin.pubsub_numpat() == 0, "NUMPAT after the listener left")
    admin.close()
    listener.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatiod", required=True)
    ap.add_argument("--plugin-dir", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        proc, port, log = start_gatiod(args.gatiod, args.plugin_dir, work)
        failures = Failures()
        try:
            r = redis.Redis(port=port, decode_responses=True)
            failures.check(r.ping() is True, "PING")
            r.flushall()
            workers = [threading.Thread(target=keyspace_worker, args=(port, n, failures)) for n in range(THREADS)]
            checker = threading.Thread(target=pubsub_check, args=(port, failures))
            for w in workers + [checker]:
                w.start()
            for w in workers + [checker]:
                w.join()
            # What every thread left behind, counted over both shards.
            expect_keys = THREADS * (2 * ROUNDS + 1 + 1 + 3 + 1)
            failures.check(r.dbsize() == expect_keys, f"DBSIZE {r.dbsize()}, expected {expect_keys}")
            r.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = "killed"
            log.seek(0)
            text = log.read()
        failures.check(status == 0, f"gatiod's exit status {status}")
        if failures.items:
            print(text)
            for f in failures.items:
                print("FAILED:", f)
            sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
