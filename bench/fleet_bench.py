#!/usr/bin/env python3
"""fleet_bench: a simulated fleet of workers against one `kestrel serve`.

Run by hand (asserts nothing): starts `kestrel serve --max-parallel 0` on
loopback with a fresh database, creates a study, and runs N simulated
workers in one asyncio process. Each registers (POST /api/v1/workers), then
loops: lease a trial, finish it at once with a final value (a zero-length
trial), until the study has no trial left. Prints completions per second
and lease/finish latency percentiles, errors counted (any answer other
than 200/201/204), and the server's CPU time per completion (the figure a
loaded machine distorts least, for comparing two builds).

    bench/fleet_bench.py [--kestrel ./kestrel] [--workers 10,100,1000]
                         [--trials 4000] [--strategy random] [--gp-workers 16]
                         [--gp-trials 300]

The server takes at most 256 connections by default (`serve --max-connections`),
a quarter per client address, so the simulated workers share a pool of
keep-alive connections, 60 from each of 127.0.0.1-4 (as many as there are
workers, up to 240): a worker's latency includes its wait for a connection
(real workers past the cap have their connections closed by the server and
retry; a real fleet's server needs --max-connections above its workers). A study takes at most 256 trials at once
(budget.max_parallel), so N workers lease from ceil(N / 250) studies.
"""
import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time


class Conn:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port, source="127.0.0.1"):
        self.port = port
        self.source = source
        self.r = self.w = None

    async def call(self, method, path, body):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port,
                                                           local_addr=(self.source, 0))
        data = json.dumps(body).encode()
        self.w.write(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
        status_line = await self.r.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "connection" and "close" in v.lower():
                close = True
        payload = await self.r.readexactly(length) if length else b""
        if close:
            self.w.close()
            self.r = self.w = None
        return status, json.loads(payload) if payload else None


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


class Pool:
    """Connections shared by the simulated workers, one request each at a time."""

    def __init__(self, port, n):
        self.q = asyncio.Queue()
        for i in range(n):
            self.q.put_nowait(Conn(port, "127.0.0.%d" % (1 + i % 4)))

    async def call(self, method, path, body):
        c = await self.q.get()
        try:
            return await c.call(method, path, body)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            c.r = c.w = None
            raise
        finally:
            self.q.put_nowait(c)


async def worker(c, i, stats, done):
    try:
        await work(c, i, stats, done)
    except asyncio.CancelledError:
        raise
    except Exception as e:   # counted, and the worker is gone (as a crashed one)
        stats["errors"] += 1
        stats["lost"] = repr(e)


async def work(c, i, stats, done):
    st, reg = await c.call("POST", "/api/v1/workers",
                           {"host": "sim%d" % i, "pid": 100000 + i, "slots": 1})
    if st != 201:
        stats["errors"] += 1
        return
    wid, key = reg["id"], reg["key"]
    while not done.is_set():
        t0 = time.perf_counter()
        st, lease = await c.call("POST", "/api/v1/workers/%d/lease" % wid, {"key": key})
        stats["lease"].append(time.perf_counter() - t0)
        if st == 204:
            stats["empty"] += 1
            await asyncio.sleep(0.05 + random.random() * 0.05)
            continue
        if st != 200:
            stats["errors"] += 1
            await asyncio.sleep(0.05)
            continue
        x = lease["trial"]["x"]
        line = json.dumps({"loss": sum(v * v for v in x)})
        t0 = time.perf_counter()
        st, _ = await c.call("POST", "/api/v1/leases/%d/finish" % lease["lease"],
                             {"worker": wid, "key": key, "lines": [line],
                              "exit": {"exited": 1, "exit_code": 0, "seconds": 0.0}})
        stats["finish"].append(time.perf_counter() - t0)
        if st == 200:
            stats["done"] += 1
            if stats["done"] >= stats["target"]:
                done.set()
        else:
            stats["errors"] += 1


def spec(name, strategy, trials, parallel):
    return {"name": name, "objective": {"metric": "loss", "direction": "minimize"},
            "space": {"x": {"type": "float", "low": -2, "high": 2},
                      "y": {"type": "float", "low": -2, "high": 2}},
            "strategy": {"name": strategy, "seed": 1},
            "budget": {"max_trials": trials, "max_parallel": parallel},
            "run": {"command": ["true"]}}


def cpu_seconds(pid):
    """CPU time (user + system) the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_(port, name, strategy, n_workers, trials, srv_pid):
    c = Conn(port)
    n_studies = (n_workers + 249) // 250
    for k in range(n_studies):
        st, body = await c.call("POST", "/api/v1/studies",
                                spec("%s-%d" % (name, k), strategy, trials // n_studies + 1,
                                     (n_workers + n_studies - 1) // n_studies))
        if st not in (200, 201, 202):
            raise SystemExit("cannot create the study: %d %s" % (st, body))
    pool = Pool(port, min(n_workers, 240))
    stats = {"lease": [], "finish": [], "errors": 0, "empty": 0, "done": 0, "target": trials}
    done = asyncio.Event()
    cpu0 = cpu_seconds(srv_pid)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(worker(pool, i, stats, done)) for i in range(n_workers)]
    while not done.is_set() and any(not t.done() for t in tasks):
        await asyncio.wait([asyncio.create_task(done.wait())], timeout=1.0)
    secs = time.perf_counter() - t0
    cpu = cpu_seconds(srv_pid) - cpu0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    ms = lambda v: v * 1000.0  # noqa: E731
    print("%-7s %5d workers: %5d trials in %6.2f s = %7.1f completions/s | lease p50 %6.1f ms "
          "p99 %7.1f ms | finish p50 %6.1f ms p99 %7.1f ms | errors %d, empty leases %d"
          % (strategy, n_workers, stats["done"], secs, stats["done"] / secs,
             ms(pct(stats["lease"], 50)), ms(pct(stats["lease"], 99)),
             ms(pct(stats["finish"], 50)), ms(pct(stats["finish"], 99)),
             stats["errors"], stats["empty"]), flush=True)
    # CPU per trial: what a loaded machine inflates least (A/B comparisons)
    print("  server CPU %.2f s, %.2f ms per completion" % (cpu, cpu * 1000.0 / max(stats["done"], 1)),
          flush=True)
    if "lost" in stats:
        print("  last error: %s" % stats["lost"])


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--kestrel", default=os.path.join(here, "..", "kestrel"))
    ap.add_argument("--workers", default="10,100,1000")
    ap.add_argument("--trials", type=int, default=4000)
    ap.add_argument("--gp-workers", type=int, default=16)
    ap.add_argument("--gp-trials", type=int, default=300)
    ap.add_argument("--server-args", default="", help="extra `kestrel serve` arguments")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="fleet_bench.")
    srv = subprocess.Popen([a.kestrel, "serve", "--db", os.path.join(tmp, "h.db"), "--listen",
                            "127.0.0.1:0", "--max-parallel", "0"] + a.server_args.split(),
                           stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "serve.log"), "w"),
                           text=True)
    try:
        line = srv.stdout.readline()
        port = int(line.rsplit(":", 1)[1].strip("/\n"))
        for k, n in enumerate(int(v) for v in a.workers.split(",") if v):
            asyncio.run(round_(port, "r%d" % k, "random", n, a.trials, srv.pid))
        if a.gp_workers:
            asyncio.run(round_(port, "gp", "gp", a.gp_workers, a.gp_trials, srv.pid))
    finally:
        srv.terminate()
        srv.wait()
    print("server log and database: %s" % tmp)


if __name__ == "__main__":
    sys.exit(main())
