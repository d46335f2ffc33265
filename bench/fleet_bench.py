#!/usr/bin/env python3
"""fleet_bench: a simulated fleet of workers against one `kestrel serve`.

Run by hand (asserts nothing): starts `kestrel serve --max-parallel 0` on
loopback with a fresh database, creates a study, and runs N simulated
workers with bench/fleet_client.c (built here with cc: one thread, epoll,
so that on a 2-core machine the server keeps most of a core). Each worker
registers (POST /api/v1/workers), then loops as `kestrel worker` does:
lease a trial, finish it at once with a final value (a zero-length trial),
heartbeat every lease_seconds / 3, until the round's trials are done.
Prints completions per second, lease/finish latency percentiles, errors
(any answer other than 200/201/204, or a dropped connection), and the
server's and the client's CPU time per completion (the server's is the
figure a loaded machine distorts least, for comparing two builds).

    bench/fleet_bench.py [--kestrel KESTREL] [--workers 10,100,1000]
                         [--paced 1000:400] [--trials 10000] [--conns 0]
                         [--gp-workers 16] [--gp-trials 300]

KESTREL defaults to the kestrel of the source tree bench/ is in (an
in-tree build); pass a VPATH build's or another version's.

Zero-length trials saturate the server, and then a closed loop's latency
is the number of workers over the request rate (Little's law: 1000
workers at 4000 requests/s wait 250 ms whatever the server does), so the
latency goal is measured with --paced W:T rounds: W workers whose trials
last T ms on average (1000 workers at 400 ms offer at most 2,500
completions/s).

Each worker has its own keep-alive connection, as real workers do (--conns
C shares C connections among them instead, the wait for one counted in the
latency); the server is started with --max-connections above that, and the
client spreads its connections over 127.0.0.1-8 (the server caps each
address at a quarter). A study takes at most 256 trials at once
(budget.max_parallel), so N workers lease from ceil(N / 250) studies.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time


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


def thread_cpu(pid):
    """CPU seconds so far of the server's engine (its main thread), its HTTP
    event thread (libmicrohttpd's, named MHD-*) and the rest (checkpoints,
    the pool), which an A/B of one side of the server reads apart."""
    out = {"engine": 0.0, "http": 0.0, "other": 0.0}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue        # a thread that ended
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st.rsplit(")", 1)[1].split()
        key = "engine" if tid == str(pid) else "http" if comm.startswith("MHD") else "other"
        out[key] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def build_client(here, tmp):
    exe = os.path.join(tmp, "fleet_client")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(here, "fleet_client.c"),
                    os.path.join(here, "..", "common", "monotime.c"), "-lm"], check=True)
    return exe


def round_(a, client, port, name, strategy, n_workers, trials, srv_pid, trial_ms=0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n_studies = (n_workers + 249) // 250
    for k in range(n_studies):
        c.request("POST", "/api/v1/studies",
                  json.dumps(spec("%s-%d" % (name, k), strategy, trials // n_studies + 1,
                                  (n_workers + n_studies - 1) // n_studies)),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status not in (200, 201, 202):
            raise SystemExit("cannot create the study: %d %s" % (r.status, body))
    c.close()
    cpu0, th0 = cpu_seconds(srv_pid), thread_cpu(srv_pid)
    out = subprocess.run([client, "--port", str(port), "--workers", str(n_workers), "--conns",
                          str(a.conns), "--trials", str(trials), "--timeout", str(a.timeout),
                          "--trial-ms", str(trial_ms)],
                         stdout=subprocess.PIPE, text=True)
    cpu, th1 = cpu_seconds(srv_pid) - cpu0, thread_cpu(srv_pid)
    r = json.loads(out.stdout)
    done = max(r["completions"], 1)
    print("%-6s %4d workers%s: %5d trials in %6.2f s = %6.0f completions/s (steady %s) | lease "
          "p50 %5.1f ms p99 %6.1f ms (steady %s) | finish p50 %5.1f ms p99 %6.1f ms | errors %d, "
          "empty leases %d"
          % (strategy, n_workers, ", trials of %d ms" % trial_ms if trial_ms else "",
             r["completions"], r["seconds"], r["per_s"],
             "%.0f" % r["steady_per_s"] if r["steady_per_s"] else "-", r["lease_p50_ms"],
             r["lease_p99_ms"],
             "p99 %.1f ms" % r["steady_lease_p99_ms"] if r["steady_lease_n"] else "-",
             r["finish_p50_ms"], r["finish_p99_ms"], r["errors"], r["empty"]),
          flush=True)
    # CPU per trial: what a loaded machine inflates least (A/B comparisons)
    print("       server CPU %.2f s = %.3f ms per completion (%.0f%% of a core; engine %.0f us, "
          "HTTP thread %.0f us, other threads %.0f us); client %.3f ms; load %.1f"
          % (cpu, cpu * 1000.0 / done, 100.0 * cpu / r["seconds"],
             *((th1[k] - th0[k]) * 1e6 / done for k in ("engine", "http", "other")),
             r["client_cpu_s"] * 1000.0 / done, os.getloadavg()[0]), flush=True)
    if r["errors"] or out.returncode:
        print("       errors by status: %s (dropped connections %d)"
              % (r["status_errors"], r["dropped"]), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--kestrel", default=os.path.join(here, "..", "kestrel"))
    ap.add_argument("--workers", default="10,100,1000")
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--conns", type=int, default=0,
                    help="connections shared by the workers (default: one each)")
    ap.add_argument("--paced", default="1000:400",
                    help="W:T,... rounds of W workers whose trials last T ms on average")
    ap.add_argument("--gp-workers", type=int, default=16)
    ap.add_argument("--gp-trials", type=int, default=300)
    ap.add_argument("--timeout", type=int, default=240, help="seconds a round may take")
    ap.add_argument("--server-args", default="", help="extra `kestrel serve` arguments")
    a = ap.parse_args()
    if not os.access(a.kestrel, os.X_OK):
        raise SystemExit("fleet_bench: no kestrel binary at %s (build first, or pass --kestrel)" % a.kestrel)
    tmp = tempfile.mkdtemp(prefix="fleet_bench.")
    client = build_client(here, tmp)
    counts = [int(v) for v in a.workers.split(",") if v]
    paced = [tuple(int(x) for x in v.split(":")) for v in a.paced.split(",") if v]
    conns = max(counts + [w for w, _ in paced] + [a.gp_workers]) if a.conns <= 0 else a.conns
    log = os.path.join(tmp, "serve.log")
    srv = subprocess.Popen([a.kestrel, "serve", "--db", os.path.join(tmp, "h.db"), "--listen",
                            "127.0.0.1:0", "--max-parallel", "0", "--max-connections",
                            str(conns + 256)] + a.server_args.split(),
                           stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    try:
        line = srv.stdout.readline()
        if not line.startswith("listening on"):   # it exited: its log says why
            srv.wait()
            raise SystemExit("fleet_bench: kestrel serve did not start:\n" + open(log).read().strip())
        port = int(line.rsplit(":", 1)[1].strip("/\n"))
        for k, n in enumerate(counts):
            round_(a, client, port, "r%d" % k, "random", n, a.trials, srv.pid)
        for k, (n, ms) in enumerate(paced):
            round_(a, client, port, "p%d" % k, "random", n, a.trials, srv.pid, ms)
        if a.gp_workers:
            round_(a, client, port, "gp", "gp", a.gp_workers, a.gp_trials, srv.pid)
    finally:
        srv.terminate()
        srv.wait()
    print("server log and database: %s" % tmp)


if __name__ == "__main__":
    sys.exit(main())
