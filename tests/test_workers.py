#!/usr/bin/env python3
"""test_workers: `kestrel worker` against a real `kestrel serve` on loopback.

Every test runs real processes: a server started as a pure coordinator
(--max-parallel 0, so only workers run trials) with a short lease
(--lease-timeout), and `kestrel worker` processes with work folders of their
own. Waits are for states the server reports, never for time to pass: the
deadlines are hang guards only (docs/workers.md describes the protocol).
"""
import contextlib
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import KESTREL, Server, answer_head, fn_spec  # noqa: E402

SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "sql")

# A trial that adds a line to the file $STARTED (when set: one a trial, so
# a test counts the trials a worker started), reports `steps` losses
# on fd 3, each after waiting for the file $GATE (when set) to exist, then
# its final loss x^2; it writes its CUDA_VISIBLE_DEVICES as a metric.
STEP_SH = r"""#!/bin/sh
[ -n "$STARTED" ] && echo "$1" >> "$STARTED"
x=$1; steps=$2
i=1
while [ "$i" -le "$steps" ]; do
  [ -n "$GATE" ] && while [ ! -e "$GATE" ]; do sleep 0.05; done
  echo "{\"step\": $i, \"loss\": $(awk -v x="$x" -v i="$i" 'BEGIN{printf "%.6f", x*x + 1/i}')}" >&3
  i=$((i + 1))
done
gpu=${CUDA_VISIBLE_DEVICES:--1}
echo "{\"loss\": $(awk -v x="$x" 'BEGIN{printf "%.6f", x*x}'), \"gpu\": ${gpu%%,*}}" >&3
[ -n "$DONE" ] && touch "$DONE"
exit 0
"""

# Creates the file $STARTED; after the file $GATE exists, $1 report lines at
# once, then the file $DONE and the final loss 0.5.
FLOOD_SH = r"""#!/bin/sh
touch "$STARTED"
while [ ! -e "$GATE" ]; do sleep 0.05; done
awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"step\": %d, \"loss\": %d}\n", i, i }' >&3
touch "$DONE"
echo '{"loss": 0.5}' >&3
"""

# Creates the file $STARTED, then reports a step every 20 ms until the file
# $GATE exists, then its final loss 0.5.
CHATTY_SH = r"""#!/bin/sh
touch "$STARTED"
i=1
while [ ! -e "$GATE" ]; do echo "{\"step\": $i, \"loss\": 1}" >&3; i=$((i + 1)); sleep 0.02; done
echo '{"loss": 0.5}' >&3
"""

def empty_members(*members):
    """A gzipped tar of empty members, each (name, type, mode) or (name,
    type, mode, link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind, mode, *link in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            if link:
                info.linkname = link[0]
            if kind == tarfile.CHRTYPE:
                info.devmajor, info.devminor = 1, 3   # /dev/null's numbers
            tar.addfile(info)
    return buf.getvalue()


HANG = 300   # seconds: a guard against hangs, never a timing assertion (a
#             loaded CI machine once took more than 120 s to relay 50,000 reports)

# seconds: --lease-timeout of the tests whose leases must run out (a worker
# killed or stopped) while every other party's must not. A process starved
# for a lease of 2 or 3 s on a loaded CI machine (load average 30) lost its
# lease and failed tests that had nothing to do with it; 10 s of silence
# is not seen there, and a lease that is meant to run out still does, later.
LEASE = 10


class Proxy:
    """A TCP relay to the server that can be cut: while cut it accepts and
    at once closes every connection (counting them) and has closed the
    relayed ones, so a client sees the server as unreachable."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base = "http://127.0.0.1:%d" % self.port   # as Server's, for workers
        self.cut = False
        self.refused = 0
        self.live = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.cut:
                    self.refused += 1
                    c.close()
                    continue
                u = socket.create_connection(self.target)
                self.live += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        a.close()   # each end is some pump's source: closed once

    def set_cut(self, cut):
        with self.lock:
            self.cut = cut
            if cut:
                for x in self.live:
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                self.live = []

    def refusals(self):
        with self.lock:
            return self.refused


class Front:
    """An HTTP relay to the server, as a load balancer in front of it is,
    that can alter a request on its way (rewrite(method, path, body) ->
    (path, body)) so that the real server refuses it with its real answer,
    and that notes each request: (monotonic time, method, path as sent by
    the client, status)."""

    def __init__(self, port):
        self.rewrite = None
        self.hold = None         # (pattern, held, release): held set, then the request waits for release
        self.own = None          # (pattern, status): answered here, as a proxy whose backend is down
        self.seen = []
        self.lock = threading.Lock()
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive, as the worker's client

            def relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path
                with front.lock:
                    rewrite, own, hold = front.rewrite, front.own, front.hold
                if hold and re.search(hold[0], path):
                    hold[1].set()
                    hold[2].wait()
                if own and re.search(own[0], path):
                    with front.lock:
                        front.seen.append((time.monotonic(), self.command, self.path, own[1]))
                    self.send_response(own[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if rewrite:
                    path, body = rewrite(self.command, path, body)
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type")}
                c.request(self.command, path, body if self.command == "POST" else None, headers)
                r = c.getresponse()
                data = r.read()
                c.close()
                with front.lock:
                    front.seen.append((time.monotonic(), self.command, self.path, r.status))
                self.send_response(r.status)
                for k in ("Content-Type",):
                    if r.getheader(k):
                        self.send_header(k, r.getheader(k))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = relay

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set_rewrite(self, rewrite):
        with self.lock:
            self.rewrite = rewrite

    def answer(self, pattern, status):
        """Answers the requests whose path matches pattern with status
        itself (None: relays every one again)."""
        with self.lock:
            self.own = (pattern, status) if pattern else None

    def hold_until(self, pattern):
        """Holds the requests whose path matches pattern until the returned
        release event is set; the returned held event is set at the first."""
        held, release = threading.Event(), threading.Event()
        with self.lock:
            self.hold = (pattern, held, release)
        return held, release

    def requests(self, pattern):
        """The noted requests whose path matches pattern."""
        with self.lock:
            return [r for r in self.seen if re.search(pattern, r[2])]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(what, fn, timeout=HANG):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class WorkersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kestrel-workers-")
        self.db = os.path.join(self.tmp, "k.db")
        self.script = os.path.join(self.tmp, "step.sh")
        with open(self.script, "w") as f:
            f.write(STEP_SH)
        self.procs = []
        self.servers = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in self.servers:
            s.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, *args):
        s = Server(self.tmp, self.db, "--max-parallel", "0", *args)
        self.servers.append(s)
        return s

    def worker(self, server, name, *args, env=None, work=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        with log:
            p = subprocess.Popen([KESTREL, "worker", "--server", server.base, "--work-dir",
                                  os.path.join(self.tmp, work or name), "--poll", "0.05"]
                                 + list(args),
                                 stdout=log, stderr=log, env=dict(os.environ, **(env or {})))
        p.logname = log.name
        self.procs.append(p)
        return p

    def log_of_name(self, name):
        with open(os.path.join(self.tmp, name + ".log")) as f:
            return f.read()

    def log_of(self, p):
        with open(p.logname) as f:
            return f.read()

    def step_spec(self, name, trials, parallel=2, steps=2, retries=0, gpus=0):
        run = {"command": ["sh", self.script, "{x}", str(steps)]}
        if gpus:
            run["resources"] = {"gpus": gpus}
        return {"name": name, "objective": {"metric": "loss", "direction": "minimize"},
                "space": {"x": {"type": "float", "low": -2, "high": 2}},
                "strategy": {"name": "random", "seed": 3},
                "budget": {"max_trials": trials, "max_parallel": parallel, "max_retries": retries},
                "run": run}

    def trials(self, s, name):
        return s.json("GET", "/api/v1/studies/%s/trials?limit=1000" % name)[1]["trials"]

    def run_locally(self, spec):
        """The trials of `kestrel run` of spec on a database of its own, by number."""
        path = os.path.join(self.tmp, spec["name"] + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        db = os.path.join(self.tmp, "local-%s.db" % spec["name"])
        subprocess.run([KESTREL, "run", "--db", db, "--quiet", path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=HANG)
        out = subprocess.run([KESTREL, "trials", "--db", db, spec["name"], "--format", "json"],
                             check=True, capture_output=True, text=True, timeout=HANG).stdout
        return {t["number"]: t for t in json.loads(out)}

    def hand_lease(self, name):
        """A server, a study of one trial, a worker registered by hand and its lease."""
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec(name, trials=1, parallel=1))
        _, w = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1})
        status, lease = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
        self.assertEqual(status, 200)
        return s, w, lease

    def held(self, s, worker_pid):
        """The leases the worker with that pid holds, per the registry."""
        _, reg = s.json("GET", "/api/v1/workers")
        return [lease for w in reg["workers"] if w["pid"] == worker_pid for lease in w["running"]]

    def test_two_workers_match_a_local_run(self):
        s = self.serve()
        s.json("POST", "/api/v1/studies", fn_spec("fn", trials=12, parallel=3))
        a = self.worker(s, "a", "--slots", "2", "--label", "rack=r1")
        b = self.worker(s, "b", "--slots", "2")
        st = s.wait_state("fn", "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 12)
        remote = {t["number"]: t for t in self.trials(s, "fn")}
        names = {t["worker"] for t in remote.values()}
        self.assertTrue(all(n.split(":")[1] in (str(a.pid), str(b.pid)) for n in names), names)
        _, reg = s.json("GET", "/api/v1/workers")
        self.assertEqual(sorted(w["pid"] for w in reg["workers"]), sorted([a.pid, b.pid]))
        self.assertIn({"rack": "r1"}, [w["labels"] for w in reg["workers"]])
        metrics = s.request("GET", "/metrics")[2].decode()
        self.assertIn("\nkestrel_workers 2\n", metrics)
        self.assertIn("\nkestrel_remote_trials 0\n", metrics)

        # the same study run locally: the same trials, the same values
        local = self.run_locally(fn_spec("fn", trials=12, parallel=3))
        self.assertEqual(sorted(local), sorted(remote))
        for k, t in local.items():
            self.assertEqual((t["x1"], t["x2"]), (remote[k]["params"]["x1"], remote[k]["params"]["x2"]))
            self.assertAlmostEqual(t["value"], remote[k]["value"], places=12)

    def test_hyperband_on_workers_without_a_shared_folder_matches_a_local_run(self):
        spec = {"name": "hb", "objective": {"metric": "val_loss"},
                "space": {"lr": {"type": "float", "low": 0.0005, "high": 0.2, "log": True}},
                "strategy": {"name": "hyperband", "seed": 3,
                             "options": {"max_resource": 9, "eta": 3}},
                "budget": {"max_trials": 17, "max_parallel": 1},
                "run": {"trainer": {"data": "synthetic-classification",
                                    "synthetic_samples": 400, "hidden": [16], "epochs": 9}}}
        s = self.serve()
        s.json("POST", "/api/v1/studies", spec)
        # one trial per worker, each with a folder of its own: every promotion
        # runs where its parent did not, and fetches the parent's folder
        k = 0
        while s.json("GET", "/api/v1/studies/hb")[1]["state"] != "COMPLETE":
            w = self.worker(s, "w%d" % k, "--trials", "1", "--idle-exit", "1")
            self.assertEqual(w.wait(timeout=HANG), 0)
            k += 1
        remote = {t["number"]: t for t in self.trials(s, "hb")}
        promoted = [t for t in remote.values() if t["resumed_from"] is not None]
        self.assertEqual(len(promoted), 5)
        for t in promoted:   # continued from the parent's checkpoint
            parent = remote[t["resumed_from"]]
            _, d = s.json("GET", "/api/v1/studies/hb/trials/%d" % t["number"])
            self.assertEqual(d["values"][0]["step"], parent["budget"] + 1)
        logs = "".join(self.log_of_name("w%d" % i) for i in range(k))
        self.assertEqual(logs.count("worker: fetched the folder of trial"), 5)
        self.assertNotIn("no folder of trial", logs)
        # the archives went through files, none of which is left behind
        left = [os.path.join(d, f) for d, _, fs in os.walk(self.tmp) for f in fs
                if f.endswith(".tgz") or ".download" in f or f.endswith(".upload")]
        self.assertEqual(left, [])
        local = self.run_locally(spec)
        self.assertEqual(sorted(local), sorted(remote))
        for k, t in local.items():
            r = remote[k]
            self.assertEqual((t["budget"], t["resumed_from"], t["lr"]),
                             (r["budget"], r["resumed_from"], r["params"]["lr"]))
            self.assertAlmostEqual(t["value"], r["value"], places=9)

    def test_a_study_posted_again_does_not_resume_from_the_old_ones_folders(self):
        # A worker keeps its trial folders; a study deleted and posted again
        # under its name numbers its trials from 0 again, and a promotion of
        # the new trial 0 on a worker that had run the old trial 0 went on
        # from that stale folder (a local folder was trusted over the server's).
        script = os.path.join(self.tmp, "mark.sh")
        with open(script, "w") as f:
            f.write('echo "$1" > "$KESTREL_CHECKPOINT_DIR/mark"\n'
                    'parent=none\n'
                    '[ -n "$KESTREL_RESUME_FROM" ] && parent=$(cat "$KESTREL_RESUME_FROM/mark")\n'
                    'echo "{\\"loss\\": $KESTREL_TRIAL, \\"parent_$parent\\": 1}" >&3\n')

        def spec(mark):   # ASHA: trials 0-2 at budget 1, then trial 0 (the best) promoted
            return {"name": "again", "objective": {"metric": "loss"},
                    "space": {"x": {"type": "float", "low": 0, "high": 1}},
                    "strategy": {"name": "asha", "seed": 1,
                                 "options": {"max_resource": 3, "eta": 3}},
                    "budget": {"max_trials": 3, "max_parallel": 1},
                    "run": {"command": ["sh", script, mark]}}
        s = self.serve()
        s.json("POST", "/api/v1/studies", spec("old"))
        a = self.worker(s, "a1", "--trials", "1", "--idle-exit", "1", work="wa")
        self.assertEqual(a.wait(timeout=HANG), 0)   # the old trial 0, in wa
        self.assertEqual(s.json("POST", "/api/v1/studies/again/stop")[0], 202)
        self.assertEqual(s.json("DELETE", "/api/v1/studies/again")[0], 204)
        s.json("POST", "/api/v1/studies", spec("new"))
        b = self.worker(s, "b", "--trials", "3", "--idle-exit", "1")
        self.assertEqual(b.wait(timeout=HANG), 0)   # the new trials 0-2, elsewhere
        a = self.worker(s, "a2", "--trials", "1", "--idle-exit", "1", work="wa")
        self.assertEqual(a.wait(timeout=HANG), 0)   # the promotion of the new trial 0
        s.wait_state("again", "COMPLETE", timeout=HANG)
        promoted = [t for t in self.trials(s, "again") if t["resumed_from"] is not None]
        self.assertEqual([t["resumed_from"] for t in promoted], [0])
        _, d = s.json("GET", "/api/v1/studies/again/trials/%d" % promoted[0]["number"])
        self.assertIn("parent_new", d["metrics"], d["metrics"])
        self.assertRegex(self.log_of_name("a2"), r"they at [0-9.]+\): 1 removed\n")

    def test_a_worker_killed_while_it_fetches_a_parents_folder_leaves_none(self):
        # The worker made the parent's trial folder, marked, before it
        # downloaded the folder's archive: one killed during the download
        # left an empty marked D/STUDY/P, which its next promotion from P on
        # that --work-dir took for the parent's fetched folder and went on
        # from (a trainer from its first epoch, a command without its files).
        s = self.serve()
        status, body = s.json("POST", "/api/v1/studies", {
            "name": "fetch", "objective": {"metric": "loss"},
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "strategy": {"name": "asha", "seed": 1, "options": {"max_resource": 3, "eta": 3}},
            "budget": {"max_trials": 3, "max_parallel": 1},
            "run": {"command": ["sh", "-c", 'echo "{{\\"loss\\": {trial}}}" >&3']}})
        self.assertEqual(status, 201, body)
        a = self.worker(s, "a", "--trials", "3", "--idle-exit", "1")
        self.assertEqual(a.wait(timeout=HANG), 0)   # trials 0-2 in a's folder
        front = Front(s.port)
        self.addCleanup(front.close)
        held, release = front.hold_until(r"/trials/0/checkpoint")
        self.addCleanup(release.set)
        b = subprocess.Popen([KESTREL, "worker", "--server", front.base, "--work-dir",
                              os.path.join(self.tmp, "b"), "--poll", "0.05"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(b)
        self.assertTrue(held.wait(HANG), "b never fetched trial 0's folder")
        b.kill()   # kill -9 during the download
        b.wait()
        release.set()
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "b", "fetch", "0", ".kestrel-trial")),
                         "a marked folder of trial 0 left without its content")
        # the partial download stayed until the next fetch of trial 0 there
        # overwrote it; the next worker on the folder removes it at its start
        # (here one that finds no server and gives up: it never fetches)
        download = os.path.join(self.tmp, "b", "fetch", "0.download")
        self.assertTrue(os.path.isfile(download))
        self.assertEqual(s.stop(), 0)
        c = subprocess.run([KESTREL, "worker", "--server", s.base, "--work-dir",
                            os.path.join(self.tmp, "b"), "--idle-exit", "1"],
                           capture_output=True, text=True, timeout=HANG)
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertFalse(os.path.exists(download), c.stderr)
        self.assertIn("removed 1 partial file (a download or an archive) left in %s by a worker "
                      "killed there" % os.path.join(self.tmp, "b"), c.stderr)

    def test_a_study_named_kestrel_cache_has_its_folders_apart_from_the_dataset_cache(self):
        # The worker's dataset cache was D/kestrel-cache, which is also D/STUDY
        # for a study of that name: its trial folders and .kestrel-study went
        # among the decoded datasets of every study the worker ran (with
        # --shared-dir, into the server's own folder of that study). The
        # cache now has a name no study can have.
        s = self.serve()
        status, body = s.json("POST", "/api/v1/studies", {
            "name": "kestrel-cache", "objective": {"metric": "loss"},
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "strategy": {"name": "random", "seed": 1},
            "budget": {"max_trials": 1, "max_parallel": 1},
            "run": {"command": ["sh", "-c", 'echo "$KESTREL_CACHE_DIR" > "$1/cache"; '
                                'echo "$KESTREL_CHECKPOINT_DIR" > "$1/trial"; '
                                'echo "{{\\"loss\\": 1}}" >&3', "sh", self.tmp]}})
        self.assertEqual(status, 201, body)
        w = self.worker(s, "w", "--trials", "1", "--idle-exit", "1")
        self.assertEqual(w.wait(timeout=HANG), 0, self.log_of(w))
        self.assertEqual(s.wait_state("kestrel-cache", "COMPLETE", timeout=HANG)["counts"]["complete"], 1)
        work = os.path.join(self.tmp, "w")
        with open(os.path.join(self.tmp, "cache")) as f:
            cache = os.path.realpath(f.read().strip())
        with open(os.path.join(self.tmp, "trial")) as f:
            trial = os.path.realpath(f.read().strip())
        study = os.path.realpath(os.path.join(work, "kestrel-cache"))
        self.assertEqual(trial, os.path.join(study, "0"))
        self.assertNotEqual(os.path.commonpath([cache, study]), study,
                            "the dataset cache %s is the study's folder %s" % (cache, study))
        self.assertEqual(cache, os.path.realpath(os.path.join(work, ".kestrel-cache")))

    def test_a_study_posted_again_says_which_old_folders_it_could_not_remove(self):
        # The old study's folders are removed when a study is posted again
        # under its name; with WORK/STUDY a symbolic link each removal is
        # refused (04b5383), and the closing line still said "they were
        # removed" of folders left where they were.
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("again", trials=1, parallel=1))
        a = self.worker(s, "a1", "--trials", "1", "--idle-exit", "1", work="wa")
        self.assertEqual(a.wait(timeout=HANG), 0)
        s.wait_state("again", "COMPLETE", timeout=HANG)
        self.assertEqual(s.json("DELETE", "/api/v1/studies/again")[0], 204)
        wa = os.path.join(self.tmp, "wa")
        os.rename(os.path.join(wa, "again"), os.path.join(wa, "elsewhere"))
        os.symlink("elsewhere", os.path.join(wa, "again"))
        s.json("POST", "/api/v1/studies", self.step_spec("again", trials=1, parallel=1))
        a = self.worker(s, "a2", "--trials", "1", "--idle-exit", "1", work="wa")
        a.wait(timeout=HANG)
        log = self.log_of_name("a2")
        self.assertTrue(os.path.isfile(os.path.join(wa, "elsewhere", "0", ".kestrel-trial")))
        self.assertNotIn("were removed", log)
        self.assertIn("of this worker's folders of that name", log)
        self.assertRegex(log, r"made at [0-9.]+, they at [0-9.]+\): none removed, 1 "
                              r"could not be \(said above\)", log)
        self.assertIn("is a symbolic link", log)

    def test_a_second_worker_on_a_workers_folder_is_refused(self):
        # Two workers on one --work-dir (two `kestrel worker` started in one
        # folder, both on ./kestrel-worker) took it for each one's own: at its
        # first trial of a study, before the first worker had written
        # D/STUDY/.kestrel-study, the second took the first's running trial
        # folder for a stale study's and removed it; both wrote
        # .kestrel-study.tmp and a parent's P.download under the same names.
        # Here the first worker's trial is held running and that window made
        # by hand (its .kestrel-study removed once written).
        s = self.serve()
        gate, started = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "started")
        s.json("POST", "/api/v1/studies", self.step_spec("both", trials=2, parallel=2))
        a = self.worker(s, "a", "--trials", "1", env={"GATE": gate, "STARTED": started},
                        work="w")
        work = os.path.join(self.tmp, "w")
        mark = os.path.join(work, "both", "0", ".kestrel-trial")
        recorded = os.path.join(work, "both", ".kestrel-study")
        wait_for("a's trial to start", lambda: os.path.exists(started))
        wait_for("a to record its study", lambda: os.path.exists(recorded))
        os.remove(recorded)
        b = subprocess.run([KESTREL, "worker", "--server", s.base, "--work-dir", work,
                            "--trials", "1", "--idle-exit", "1", "--poll", "0.05"],
                           capture_output=True, text=True, timeout=HANG)
        self.assertEqual(b.returncode, 3, b.stderr)
        self.assertIn("kestrel worker: --work-dir: %s is the folder of another kestrel worker "
                      "(pid %d), running now: give each worker a --work-dir of its own"
                      % (work, a.pid), b.stderr)
        self.assertTrue(os.path.exists(mark), "a's running trial folder was removed")
        _, reg = s.json("GET", "/api/v1/workers")
        self.assertEqual([w["pid"] for w in reg["workers"]], [a.pid])   # b never registered
        with open(gate, "w"):
            pass
        self.assertEqual(a.wait(timeout=HANG), 0)
        # the folder is free once its worker is gone
        c = self.worker(s, "c", "--trials", "1", "--idle-exit", "1", work="w")
        self.assertEqual(c.wait(timeout=HANG), 0, self.log_of(c))
        s.wait_state("both", "COMPLETE", timeout=HANG)

    def test_reports_gpus_and_resources(self):
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("gpu", trials=4, steps=3))
        g = self.worker(s, "g", "--gpus", "3,5")
        s.wait_state("gpu", "COMPLETE", timeout=HANG)
        g.terminate()   # the lease calls below are the only ones
        self.assertEqual(g.wait(timeout=HANG), 0)
        for t in self.trials(s, "gpu"):
            _, d = s.json("GET", "/api/v1/studies/gpu/trials/%d" % t["number"])
            self.assertIn(d["metrics"]["gpu"], (3, 5))
            self.assertEqual([v["step"] for v in d["values"]], [1, 2, 3])   # every report arrived

        # a trial asking two GPUs never goes to a worker with one
        s.json("POST", "/api/v1/studies", self.step_spec("two", trials=1, gpus=2))
        _, reg = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1,
                                                     "gpus": [0, 1]})
        path = "/api/v1/workers/%d/lease" % reg["id"]
        status, _ = s.json("POST", path, {"key": reg["key"], "gpus_free": 1})
        self.assertEqual(status, 204)
        # nor to one claiming more free GPUs than it registered
        _, one = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 2, "slots": 1, "gpus": [0]})
        status, ans = s.json("POST", "/api/v1/workers/%d/lease" % one["id"],
                             {"key": one["key"], "gpus_free": 2})
        self.assertEqual((status, ans["error"]["path"]), (400, "gpus_free"), ans)
        status, lease = s.json("POST", path, {"key": reg["key"], "gpus_free": 2})
        self.assertEqual(status, 200)
        self.assertEqual(lease["study"], "two")

    def test_refusals(self):
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("s3cret\n")
        wrong = os.path.join(self.tmp, "wrong")
        with open(wrong, "w") as f:
            f.write("nope\n")
        s = self.serve("--token-file", token, "--lease-timeout", str(LEASE))
        for args in ([], ["--token-file", wrong]):
            p = self.worker(s, "w%d" % len(args), *args)
            self.assertEqual(p.wait(timeout=HANG), 2, self.log_of(p))
            self.assertIn("401", self.log_of(p))

        s.json("POST", "/api/v1/studies", self.step_spec("r", trials=2, retries=1), token="s3cret")
        _, w1 = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1}, token="s3cret")
        _, w2 = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 2, "slots": 1}, token="s3cret")
        status, _ = s.json("POST", "/api/v1/workers/%d/lease" % w1["id"], {"key": w2["key"]},
                           token="s3cret")
        self.assertEqual(status, 404)   # a worker is its id and its key
        # a body that is not a JSON object (read on the engine thread): 400,
        # and the server goes on
        for route in ("/api/v1/workers", "/api/v1/workers/%d/lease" % w1["id"],
                      "/api/v1/leases/1/finish"):
            for body in (b'{"key": ', b'[1]'):
                status, _, data = s.request("POST", route, body, token="s3cret")
                err = json.loads(data)["error"]
                self.assertEqual((status, err["code"]), (400, "invalid"), (route, body))
                self.assertIn("expected a JSON object", err["message"])
        status, lease = s.json("POST", "/api/v1/workers/%d/lease" % w1["id"], {"key": w1["key"]},
                               token="s3cret")
        self.assertEqual(status, 200)
        report = "/api/v1/leases/%d/report" % lease["lease"]
        line = json.dumps({"step": 1, "loss": 0.5})
        # first, while the lease surely runs: the holder is heard
        status, ans = s.json("POST", report, {"worker": w1["id"], "key": w1["key"],
                                              "lines": [line]}, token="s3cret")
        self.assertEqual((status, ans), (200, {"stop": False}))
        # w2 does not hold it; no token at all is refused before anything
        status, _ = s.json("POST", report, {"worker": w2["id"], "key": w2["key"], "lines": [line]},
                           token="s3cret")
        self.assertEqual(status, 409)
        status, _ = s.json("POST", report, {"worker": w1["id"], "key": w1["key"], "lines": [line]})
        self.assertEqual(status, 401)
        # silent past its lease: FAILED, naming the worker, and queued again
        number = lease["trial"]["number"]

        def failed():
            t = [t for t in self.trials(s, "r") if t["number"] == number][0]
            return t if t["state"] == "FAILED" else None
        t = wait_for("the lease to expire", failed)
        self.assertIn("lease expired: worker h:1", t["failure"])
        finish = {"worker": w1["id"], "key": w1["key"], "lines": [json.dumps({"loss": 0.1})],
                  "exit": {"exited": True, "exit_code": 0}}
        status, _ = s.json("POST", "/api/v1/leases/%d/finish" % lease["lease"], finish,
                           token="s3cret")
        self.assertEqual(status, 409)   # a late report never overwrites the outcome
        t = [t for t in self.trials(s, "r") if t["number"] == number][0]
        self.assertEqual((t["state"], t["value"]), ("FAILED", None))
        status, again = s.json("POST", "/api/v1/workers/%d/lease" % w2["id"], {"key": w2["key"]},
                               token="s3cret")
        self.assertEqual(status, 200)
        self.assertEqual(again["trial"]["retry_of"], number)
        self.assertNotEqual(again["lease"], lease["lease"])

    def test_lease_calls_with_a_wrongly_typed_field_are_refused_naming_it(self):
        # A finish whose exit was {} or of strings was read as zeros and
        # recorded the trial COMPLETE; lines that were no array were left
        # out, and a worker id given as a string was a 409 (docs/openapi.yaml).
        s, w, lease = self.hand_lease("typed")
        finish = "/api/v1/leases/%d/finish" % lease["lease"]
        report = "/api/v1/leases/%d/report" % lease["lease"]
        me = {"worker": w["id"], "key": w["key"]}
        ok = {"exited": True, "signaled": False, "exit_code": 0}
        for route, body, path in (
                (finish, dict(me, exit={"exited": "false", "signaled": "true", "signal": "9",
                                        "exit_code": "137"}), "exit.exited"),
                (finish, dict(me, exit={}), "exit.exited"),
                (finish, dict(me, exit={"exited": True}), "exit.exit_code"),
                (finish, dict(me, exit={"exited": False}), "exit.exited"),
                (finish, dict(me, exit={"exited": True, "signaled": True}), "exit.signaled"),
                (finish, dict(me, exit={"exited": True, "signaled": False}), "exit.exit_code"),
                (finish, dict(me, exit={"exited": False, "signaled": True, "signal": 0}),
                 "exit.signal"),
                (finish, dict(me, exit=dict(ok, exit_code="0")), "exit.exit_code"),
                (finish, dict(me, exit=dict(ok, seconds="1")), "exit.seconds"),
                (finish, dict(me, exit=dict(ok, timed_out=1)), "exit.timed_out"),
                (finish, dict(me, exit=dict(ok, exitcode=0)), "exit.exitcode"),
                (finish, dict(me, exit=[0]), "exit"),
                (finish, dict(me, released=1), "released"),
                (finish, dict(me, exit=ok, lines="notarray"), "lines"),
                (report, dict(me, lines="notarray"), "lines"),
                (report, dict(me, lines=["{}", 1]), "lines[1]"),
                (report, {"worker": str(w["id"]), "key": w["key"], "lines": []}, "worker"),
                (report, {"worker": w["id"], "lines": []}, "key")):
            status, ans = s.json("POST", route, body)
            self.assertEqual((status, (ans or {}).get("error", {}).get("path")), (400, path),
                             (route, body, ans))
        # nothing was recorded: the trial runs, and a finish as sent ends it
        t = self.trials(s, "typed")[0]
        self.assertEqual(t["state"], "RUNNING")
        status, _ = s.json("POST", finish, dict(me, exit=dict(ok, signal=0, seconds=0.5),
                                                lines=[json.dumps({"loss": 0.5})]))
        self.assertEqual(status, 200)
        t = self.trials(s, "typed")[0]
        self.assertEqual((t["state"], t["value"]), ("COMPLETE", 0.5))

    def test_a_worker_gets_no_more_leases_than_its_slots(self):
        # A worker of one slot that asked three times held three leases;
        # gpus_free "a" was read as 0 and -3 as "no GPU free" (a 204).
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("full", trials=6, parallel=4))
        _, w = s.json("POST", "/api/v1/workers", {"host": "manual", "slots": 1})
        path = "/api/v1/workers/%d/lease" % w["id"]
        answers = [s.json("POST", path, {"key": w["key"]})[0] for _ in range(3)]
        self.assertEqual(answers, [200, 204, 204])
        _, reg = s.json("GET", "/api/v1/workers")
        self.assertEqual(len(reg["workers"][0]["running"]), 1)
        # a registration's first lease takes its one slot as well
        _, w2 = s.json("POST", "/api/v1/workers", {"host": "manual", "pid": 2, "slots": 1,
                                                    "lease": True})
        self.assertIn("lease", w2)
        self.assertEqual(s.json("POST", "/api/v1/workers/%d/lease" % w2["id"],
                                {"key": w2["key"]})[0], 204)
        _, w3 = s.json("POST", "/api/v1/workers", {"host": "manual", "pid": 3, "slots": 2})
        path = "/api/v1/workers/%d/lease" % w3["id"]
        for bad in ("a", -3, 1.5, True, None, 1):   # 1: it registered no GPU
            status, ans = s.json("POST", path, {"key": w3["key"], "gpus_free": bad})
            self.assertEqual((status, (ans or {}).get("error", {}).get("path")), (400, "gpus_free"),
                             (bad, ans))
        status, ans = s.json("POST", path, {"gpus_free": 0})
        self.assertEqual((status, (ans or {}).get("error", {}).get("path")), (400, "key"), ans)
        self.assertEqual(self.held(s, 3), [])   # none of those leased a trial

    def test_a_second_server_on_the_database_leaves_the_first_ones_workers_alone(self):
        # A second kestrel serve on the same history ended the first's live
        # leases as a dead server's ('server restarted') and would have
        # counted lease ids from the same number.
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("first", trials=1, parallel=1))
        _, w = s.json("POST", "/api/v1/workers", {"host": "manual", "slots": 1, "lease": True})
        lease = w["lease"]["lease"]
        other = self.serve()
        db = sqlite3.connect(self.db)
        try:
            row = db.execute("SELECT ended_at, outcome FROM leases WHERE id = ?", (lease,)).fetchone()
        finally:
            db.close()
        self.assertEqual(row, (None, None), "the first server's lease is still open")
        status, e = other.json("POST", "/api/v1/workers", {"host": "manual", "pid": 2, "slots": 1})
        self.assertEqual(status, 409, e)
        self.assertIn("another kestrel serve coordinates", e["error"]["message"])
        other.log.seek(0)
        self.assertIn("another kestrel serve coordinates the workers", other.log.read())
        self.assertEqual(s.json("POST", "/api/v1/workers/%d/heartbeat" % w["id"],
                                {"key": w["key"], "leases": [lease]})[0], 200)
        # once the first is gone, a server started then coordinates
        s.stop()
        other.stop()
        third = self.serve()
        self.assertEqual(third.json("POST", "/api/v1/workers", {"host": "manual", "pid": 3,
                                                                "slots": 1})[0], 201)

    def test_a_trial_folder_under_a_studys_work_dir_is_downloaded(self):
        # A study first run with `kestrel run --work-dir D` keeps its trial
        # folders in D; the server looked in DB.trials, so a worker fetching
        # a parent's folder for a promotion got 404 and trained from the start.
        spec = fn_spec("wd", trials=1, parallel=1)
        path = os.path.join(self.tmp, "wd.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        work = os.path.join(self.tmp, "elsewhere")
        subprocess.run([KESTREL, "run", "--db", self.db, "--quiet", "--work-dir", work, path],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=HANG)
        with open(os.path.join(work, "wd", "0", "saved"), "w") as f:
            f.write("from the run")
        s = self.serve()
        status, _, body = s.request("GET", "/api/v1/studies/wd/trials/0/checkpoint")
        self.assertEqual(status, 200, body)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            self.assertIn("saved", [os.path.basename(n) for n in tar.getnames()])

    def test_a_trial_folder_that_cannot_be_downloaded_names_no_server_path(self):
        # The download's errors named the server's files (its trial folder,
        # its temporary archive); like the upload's, they go to its log.
        s = self.serve("--checkpoint-max", "1")
        folder = os.path.join(self.db + ".trials", "big", "0")
        os.makedirs(folder)
        open(os.path.join(folder, ".kestrel-trial"), "w").close()
        with open(os.path.join(folder, "weights.bin"), "wb") as f:
            f.write(os.urandom(2 << 20))   # random: gzip leaves it over 1 MB
        status, e = s.json("GET", "/api/v1/studies/big/trials/0/checkpoint")
        self.assertEqual(status, 413, e)
        self.assertNotIn(self.tmp, e["error"]["message"])
        s.log.seek(0)
        self.assertIn(folder, s.log.read(), "the server's log says which folder")

    def test_a_registration_is_checked_field_by_field(self):
        # Each of these was registered (201): the registry then broke its own
        # schema (gpus of strings, a label holding an object), a slurm_job of
        # 5 became null, and a host with a newline forged a server log line.
        s = self.serve()
        good = {"host": "h2", "slots": 1}
        for body, path in ((dict(good, labels={"a": {"b": [1, 2]}}), "labels.a"),
                           (dict(good, labels=["a"]), "labels"),
                           (dict(good, gpus=["x", 1.5]), "gpus[0]"),
                           (dict(good, gpus=[1, 1.5]), "gpus[1]"),
                           (dict(good, gpus=[0, 0]), "gpus[1]"),
                           (dict(good, gpus=[-1]), "gpus[0]"),
                           (dict(good, slurm_job=5), "slurm_job"),
                           (dict(good, slurm_job="1\n2"), "slurm_job"),
                           (dict(good, pid=-5), "pid"),
                           (dict(good, pid="7"), "pid"),
                           (dict(good, bogus=1), "bogus"),
                           (dict(good, host="h\n3\"<b>"), "host"),
                           (dict(good, host="h 3"), "host"),
                           (dict(good, host=""), "host"),
                           (dict(good, host="x" * 65), "host"),
                           ({"slots": 1}, "host"),
                           (dict(good, slots="1"), "slots"),
                           (dict(good, slots=0), "slots"),
                           (dict(good, lease="yes"), "lease"),
                           (dict(good, lease=True, gpus_free=-3), "gpus_free"),
                           (dict(good, lease=True, gpus=[4], gpus_free=2), "gpus_free")):
            status, ans = s.json("POST", "/api/v1/workers", body)
            self.assertEqual((status, (ans or {}).get("error", {}).get("path")), (400, path),
                             (body, ans))
        # a field given twice was read as its last value (the study API refuses it)
        status, _, ans = s.request("POST", "/api/v1/workers", b'{"host": "h2", "slots": 1, "slots": 9}')
        self.assertEqual(status, 400, ans)
        self.assertIn(b"duplicate object key", ans)
        self.assertEqual(s.json("GET", "/api/v1/workers")[1]["workers"], [])
        s.log.flush()
        s.log.seek(0)
        self.assertNotIn("registered", s.log.read())
        # a registration of every field is listed as given
        body = {"host": "h2.example", "pid": 7, "slots": 2, "gpus": [0, 3],
                "labels": {"rack": "r1"}, "slurm_job": "123_4"}
        status, w = s.json("POST", "/api/v1/workers", body)
        self.assertEqual(status, 201, w)
        listed = s.json("GET", "/api/v1/workers")[1]["workers"][0]
        self.assertEqual({k: listed[k] for k in body}, body)
        self.assertEqual(listed["name"], "h2.example:7 slurm:123_4")
        # outside Slurm, kestrel worker sends slurm_job null
        status, w = s.json("POST", "/api/v1/workers", dict(body, pid=8, slurm_job=None))
        self.assertEqual(status, 201, w)
        listed = s.json("GET", "/api/v1/workers")[1]["workers"][0]
        self.assertEqual((listed["name"], listed.get("slurm_job")), ("h2.example:8", None))

    def test_a_worker_that_cannot_register_gives_up(self):
        # A malformed URL was tried every second for good ("URL using
        # bad/illegal format"); with no server there, --idle-exit did not
        # end the worker either, so a batch job outlived its studies.
        work = os.path.join(self.tmp, "w")
        p = subprocess.run([KESTREL, "worker", "--server", "http://127.0.0.1:99999",
                            "--work-dir", work], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--server", p.stderr)
        with socket.socket() as sock:   # a port with no server
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        p = subprocess.run([KESTREL, "worker", "--server", "http://127.0.0.1:%d" % port,
                            "--work-dir", work, "--idle-exit", "1"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("could not register for 1 s (--idle-exit): exiting", p.stderr)

    def test_a_worker_refused_by_a_restarted_server_says_so_and_exits(self):
        # A server restarted with another --token-file answers every call
        # of the worker 401: it asked for a lease every --poll for good,
        # said "the server answers again" and nothing else, and ran nothing.
        # It exits 2 as a refused registration does, saying why.
        t1, t2 = os.path.join(self.tmp, "t1"), os.path.join(self.tmp, "t2")
        for path, text in ((t1, "s3cret\n"), (t2, "other\n")):
            with open(path, "w") as f:
                f.write(text)
        s = self.serve("--token-file", t1)
        w = self.worker(s, "w", "--token-file", t1)
        wait_for("the worker to register", lambda: "registered as" in self.log_of(w))
        port = s.port
        s.stop(signal.SIGKILL)
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--token-file", t2)
        self.assertEqual(w.wait(timeout=HANG), 2, self.log_of(w))
        log = self.log_of(w)
        self.assertRegex(log, r"the server refused this worker's (lease|heartbeat) \(HTTP 401\)")
        self.assertIn("another --token-file", log)

    def backed_off(self, rewrite, status, first):
        """A worker behind a Front that alters its lease requests with
        rewrite, so that the server answers them `status`: lease requests
        first and first + 1 come at least 1 s and 2 s after the one before
        (the back-off; bounds from below, which a loaded machine can only
        lengthen). Then the front lets them through, and a study of one
        trial completes on the worker; the worker's log."""
        s = self.serve()
        front = Front(s.port)
        self.addCleanup(front.close)
        front.set_rewrite(rewrite)
        w = self.worker(front, "w")
        n = first + 2
        tries = wait_for("%d lease requests" % n, lambda: front.requests(r"/lease$")[:n]
                         if len(front.requests(r"/lease$")) >= n else None)
        self.assertEqual({r[3] for r in front.requests(r"/lease$")}, {status})
        t = [r[0] for r in tries]
        self.assertGreaterEqual(t[first] - t[first - 1], 0.9)
        self.assertGreaterEqual(t[first + 1] - t[first], 1.9)
        front.set_rewrite(None)
        s.json("POST", "/api/v1/studies", self.step_spec("back", trials=1, parallel=1, steps=1))
        s.wait_state("back", "COMPLETE", timeout=HANG)
        log = self.log_of(w)
        self.assertEqual(log.count("the server answers lease requests again"), 1, log)
        return log

    def test_a_worker_backs_off_a_server_that_keeps_forgetting_it(self):
        # A server that answers every lease request 404 (it forgets the
        # worker: here a front that sends the lease to an id the server does
        # not know) had the worker register again at every --poll, for good:
        # two log lines and a new worker row every 50 ms. After the second
        # 404 in a row (request 1: the first is followed at --poll) it says
        # so once and tries again with back-off.
        log = self.backed_off(lambda m, path, body: (re.sub(r"/workers/\d+/lease$",
                                                             "/workers/999999/lease", path), body),
                              404, first=2)
        self.assertEqual(log.count("does not know worker"), 1, log)
        self.assertEqual(log.count("forgot this worker again"), 1, log)
        self.assertIn("HTTP 404 on lease: no worker 999999", log)

    def test_a_worker_backs_off_a_lease_request_the_server_refuses(self):
        # A lease request answered otherwise than with a trial (200), none
        # (204) or 404 (a 400 here, from a front that changes its gpus_free,
        # or a 5xx) passed for "no trial", silently, at every --poll. The
        # first of a stretch is logged with the server's reason, and the
        # requests back off until the server leases again.
        def bad_gpus(method, path, body):
            if path.endswith("/lease"):
                req = json.loads(body)
                req["gpus_free"] = 5
                body = json.dumps(req).encode()
            return path, body
        log = self.backed_off(bad_gpus, 400, first=1)
        self.assertEqual(log.count("the server answered HTTP 400 on lease: gpus_free: expected at "
                                   "most 0"), 1, log)

    def test_a_worker_says_once_that_its_reports_meet_a_server_error(self):
        # A 5xx answer to a trial's report or finish (a proxy whose backend
        # is down) was logged at every try, about every 0.1 s a slot, the
        # finish in a tight loop. The first of a stretch is logged, tries
        # come at least 1 s apart (a bound from below), and the trial's
        # result still lands once the server answers again.
        s = self.serve()
        front = Front(s.port)
        self.addCleanup(front.close)
        sent = r"/leases/\d+/(report|finish)(\?|$)"   # the worker and key in the query
        front.answer(sent, 503)
        w = self.worker(front, "w")
        s.json("POST", "/api/v1/studies", self.step_spec("down", trials=1, parallel=1, steps=1))
        tries = wait_for("5 refused reports", lambda: front.requests(sent)[:5]
                         if len(front.requests(sent)) >= 5 else None)
        t = [r[0] for r in tries]
        self.assertGreaterEqual(min(b - a for a, b in zip(t, t[1:])), 0.9, t)
        front.answer(None, None)
        s.wait_state("down", "COMPLETE", timeout=HANG)
        self.assertEqual(self.trials(s, "down")[0]["state"], "COMPLETE")
        # the server stores the end before it answers it, and the worker
        # logs the recovery once the answer is in: read after the line came
        wait_for("the recovery logged",
                 lambda: "the server takes its reports again" in self.log_of(w))
        log = self.log_of(w)
        self.assertEqual(log.count("HTTP 503"), 1, log)
        self.assertEqual(log.count("the server takes its reports again"), 1, log)

    def test_a_worker_says_once_that_its_heartbeats_meet_a_server_error(self):
        # A 5xx answer to a heartbeat was dropped without a word, where one
        # to a report or finish is logged once a stretch: a worker whose
        # heartbeats a proxy refused for minutes said nothing. The first of
        # a stretch is logged, and the first heartbeat taken again. The trial
        # reports every 20 ms, which renews its lease meanwhile.
        s = self.serve("--lease-timeout", str(LEASE))   # a heartbeat every third of it
        chatty = os.path.join(self.tmp, "chatty.sh")
        with open(chatty, "w") as f:
            f.write(CHATTY_SH)
        spec = self.step_spec("beat", trials=1, parallel=1)
        spec["run"] = {"command": ["sh", chatty]}
        front = Front(s.port)
        self.addCleanup(front.close)
        gate, started = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "started")
        w = self.worker(front, "w", env=dict(GATE=gate, STARTED=started))
        s.json("POST", "/api/v1/studies", spec)
        wait_for("the worker to start the trial", lambda: os.path.exists(started))
        front.answer(r"/workers/\d+/heartbeat$", 503)
        wait_for("2 refused heartbeats",
                 lambda: len([r for r in front.requests(r"/heartbeat$") if r[3] == 503]) >= 2)
        wait_for("the refusal logged", lambda: "on heartbeat" in self.log_of(w))
        front.answer(None, None)
        wait_for("the recovery logged",
                 lambda: "the server takes its heartbeats again" in self.log_of(w))
        with open(gate, "w"):
            pass
        s.wait_state("beat", "COMPLETE", timeout=HANG)
        self.assertEqual(self.trials(s, "beat")[0]["state"], "COMPLETE")
        log = self.log_of(w)
        self.assertEqual(log.count("HTTP 503 from the server on heartbeat"), 1, log)
        self.assertEqual(log.count("the server takes its heartbeats again"), 1, log)

    def test_a_gpu_listed_twice_is_refused(self):
        # --gpus 0,0 gave two trials GPU 0, where each should have its own.
        with socket.socket() as sock:   # a port with no server: never reached
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        p = subprocess.run([KESTREL, "worker", "--server", "http://127.0.0.1:%d" % port,
                            "--work-dir", os.path.join(self.tmp, "w"), "--idle-exit", "1",
                            "--gpus", "1,0,1"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--gpus: device 1 is listed twice", p.stderr)

    def test_more_slots_than_gpus_is_warned_of(self):
        # --gpus 0 --slots 2: the second trial at once ran with
        # CUDA_VISIBLE_DEVICES empty (each trial gets a device of its own),
        # and nothing said so
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("gs", trials=2, parallel=2, steps=1))
        gate, started = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "started")
        w = self.worker(s, "w", "--gpus", "0", "--slots", "2", "--trials", "2",
                        env={"GATE": gate, "STARTED": started})
        wait_for("both trials to start", lambda: self.started_lines(started) == 2)
        with open(gate, "w"):
            pass
        self.assertEqual(w.wait(timeout=HANG), 0, self.log_of(w))
        self.assertEqual(sorted(s.json("GET", "/api/v1/studies/gs/trials/%d" % t["number"])[1]
                                ["metrics"]["gpu"] for t in self.trials(s, "gs")), [-1, 0])
        self.assertIn("kestrel worker: warning: --slots 2 with 1 device in --gpus: every trial "
                      "gets a device of its own, so up to 1 at a time run with none "
                      "(CUDA_VISIBLE_DEVICES empty)", self.log_of(w))
        v = self.worker(s, "v", "--gpus", "0,1", "--slots", "2", "--idle-exit", "1")
        self.assertEqual(v.wait(timeout=HANG), 0, self.log_of(v))
        self.assertNotIn("warning", self.log_of(v))

    def test_labels_reach_the_registry_whole_or_are_refused(self):
        # --label cut a key to 127 bytes, and left out a label that was not
        # UTF-8, both without a word: the registry showed another label, or
        # none, with exit 0.
        s = self.serve()
        key = "k" * 200
        w = self.worker(s, "w", "--idle-exit", "1", "--label", key + "=1", "--label", "rack=r7")
        self.assertEqual(w.wait(timeout=HANG), 0, self.log_of(w))
        _, reg = s.json("GET", "/api/v1/workers")
        self.assertEqual([x["labels"] for x in reg["workers"]], [{key: "1", "rack": "r7"}])
        for label in (b"rack=\xff", b"\xff=1"):
            p = subprocess.run([KESTREL.encode(), b"worker", b"--server", s.base.encode(),
                                b"--work-dir", os.path.join(self.tmp, "v").encode(),
                                b"--idle-exit", b"1", b"--label", label],
                               capture_output=True, timeout=HANG)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(b"kestrel worker: --label: '" + label + b"' is not UTF-8 text", p.stderr)
        self.assertEqual(len(s.json("GET", "/api/v1/workers")[1]["workers"]), 1)

    def test_a_checkpoint_upload_that_cannot_be_taken_is_a_400_and_unpacks_nothing(self):
        # A first part at offset 100 was a 500 naming the server's file, last=2
        # was taken, and a body that was no archive a 500 "tar failed"; an
        # archive that broke off was left half unpacked in the trial folder.
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("up", trials=1, parallel=1))
        _, w = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1})
        _, lease = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
        url = "/api/v1/leases/%d/checkpoint?worker=%d&key=%s&" % (lease["lease"], w["id"],
                                                                   w["key"])
        folder = os.path.join(self.db + ".trials", "up", str(lease["trial"]["number"]))

        def upload(query, body):
            status, _, data = s.request("POST", url + query, body)
            ans = json.loads(data)
            self.assertNotIn(self.tmp, data.decode(), ans)   # no server path told
            return status, ans.get("error", {}).get("path")
        self.assertEqual(upload("offset=100", b"x" * 10), (400, "offset"))
        self.assertEqual(upload("offset=%2B0", b"x" * 10), (400, "offset"))   # was read as 0
        self.assertEqual(upload("offset=9223372036854775807", b"x"), (400, "offset"))
        self.assertEqual(upload("offset=0", b"x" * 10), (200, None))
        self.assertEqual(upload("offset=5", b"x" * 10), (200, None))   # a part sent again
        self.assertEqual(upload("offset=20", b"x" * 10), (400, "offset"))   # a gap
        self.assertEqual(upload("offset=0&last=2", b"x"), (400, "last"))
        self.assertEqual(upload("offset=0&last=1", b"not an archive"), (400, "body"))
        self.assertEqual(upload("offset=0&last=1", gzip.compress(b"no tar" * 200)), (400, "body"))

        def archive(*names):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for name in names:
                    data = os.urandom(300000)   # random: the gzip stays as large
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            return buf.getvalue()
        # an archive cut short: its first member would unpack, the rest not
        cut = archive("first.bin", "second.bin")[:450000]
        self.assertEqual(upload("offset=0&last=1", cut), (400, "body"))
        self.assertEqual(os.listdir(folder), [".kestrel-trial"])
        whole = archive("model.bin")
        self.assertEqual(upload("offset=0", whole[:1000]), (200, None))
        self.assertEqual(upload("offset=1000&last=1", whole[1000:]), (200, None))
        self.assertEqual(sorted(os.listdir(folder)), [".kestrel-trial", "model.bin"])
        self.assertEqual([f for f in os.listdir(os.path.dirname(folder)) if f != "0"], [])

    def one_upload(self, s, study):
        """A one-trial study leased by hand: the URL that uploads its whole
        folder in one part, and the server's folder of that trial."""
        s.json("POST", "/api/v1/studies", self.step_spec(study, trials=1, parallel=1))
        _, w = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1})
        _, lease = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
        url = "/api/v1/leases/%d/checkpoint?worker=%d&key=%s&offset=0&last=1" % (
            lease["lease"], w["id"], w["key"])
        return url, os.path.join(self.db + ".trials", study, str(lease["trial"]["number"]))

    def test_an_upload_with_a_wrong_key_is_refused_before_its_body(self):
        # The key of a checkpoint upload (in its query) was checked only
        # after the body was read: a caller without the worker's key had
        # the server read and hold a megabyte, and one that waited for a go
        # (Expect: 100-continue) was told to send it. The 409 (the lease is
        # not this caller's) now comes with the headers; the worker's own
        # upload is asked for its body and taken.
        s = self.serve()
        url, folder = self.one_upload(s, "early")
        worker, key = re.search(r"worker=(\d+)&key=(\w+)", url).groups()
        other = key[:-1] + ("0" if key[-1] != "0" else "1")

        def head(path):
            return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
                    "Expect: 100-continue\r\n\r\n" % path).encode()

        for bad in (url.replace("key=" + key, "key=" + other),
                    url.replace("worker=" + worker, "worker=%d" % (int(worker) + 1))):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=HANG)   # a hang guard
            c.sendall(head(bad))   # and never the body
            answer = answer_head(c)
            c.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 409"), (bad, answer))
        c = socket.create_connection(("127.0.0.1", s.port), timeout=HANG)
        c.sendall(head(url))
        self.assertTrue(answer_head(c).startswith(b"HTTP/1.1 100"))
        c.close()
        # a body sent anyway is dropped and the 409 read, not a reset; the
        # worker's own upload is taken
        status, _, data = s.request("POST", url.replace("key=" + key, "key=" + other),
                                    empty_members(("ok.bin", tarfile.REGTYPE, 0o644)))
        self.assertEqual(status, 409)
        self.assertIn("is not running for this worker", json.loads(data)["error"]["message"])
        self.assertFalse(os.path.exists(folder))
        status, _, _ = s.request("POST", url, empty_members(("ok.bin", tarfile.REGTYPE, 0o644)))
        self.assertEqual(status, 200)
        self.assertEqual(sorted(os.listdir(folder)), [".kestrel-trial", "ok.bin"])

    def test_a_caller_without_a_workers_key_has_no_large_body_read(self):
        # A heartbeat, lease request, report and finish carried the key in
        # their body, so a caller without one had up to a megabyte read and
        # parsed on the engine thread before it was refused (404 or 409):
        # four such callers made every engine call take 0.3 s or more. A
        # registration, heartbeat or lease request past 64 KiB is now a 413
        # at its headers; a report or finish past it needs ?worker=W&key=K,
        # checked there as a checkpoint upload's is.
        s, w, lease = self.hand_lease("keyless")
        report = "/api/v1/leases/%d/report" % lease["lease"]
        keyed = "%s?worker=%d&key=%s" % (report, w["id"], w["key"])
        other = w["key"][:-1] + ("0" if w["key"][-1] != "0" else "1")

        def head(path):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=HANG)   # a hang guard
            c.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
                       "Expect: 100-continue\r\n\r\n" % path).encode())   # never the body
            answer = answer_head(c)
            c.close()
            return answer

        for path, status in (("/api/v1/workers", b"413"),
                             ("/api/v1/workers/%d/heartbeat" % w["id"], b"413"),
                             ("/api/v1/workers/%d/lease" % w["id"], b"413"),
                             (report, b"413"),
                             ("/api/v1/leases/%d/finish" % lease["lease"], b"413"),
                             (keyed.replace(w["key"], other), b"409"),
                             (keyed, b"100")):
            self.assertTrue(head(path).startswith(b"HTTP/1.1 " + status), path)
        # sent anyway, the body is dropped unread; a worker's own report of
        # 200 KB is taken with its key in the query
        lines = [json.dumps({"step": i, "loss": 1.0, "pad": "x" * 2000}) for i in range(1, 101)]
        body = {"worker": w["id"], "key": w["key"], "lines": lines}
        status, ans = s.json("POST", report, body)
        self.assertEqual(status, 413)
        self.assertIn("?worker=W&key=K", ans["error"]["message"])
        self.assertEqual(s.json("POST", keyed, body), (200, {"stop": False}))
        # a body without Content-Length is bounded once read, before the engine
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=HANG)
        c.request("POST", "/api/v1/workers/%d/heartbeat" % w["id"],
                  iter([json.dumps({"key": w["key"], "pad": "x" * 100000}).encode()]),
                  encode_chunked=True)
        r = c.getresponse()
        self.assertEqual((r.status, json.loads(r.read())["error"]["code"]), (413, "invalid"))
        c.close()
        _, t = s.json("GET", "/api/v1/studies/keyless/trials/%d" % lease["trial"]["number"])
        self.assertEqual(t["state"], "RUNNING")

    def test_an_uploaded_folder_holds_no_fifo_device_or_set_user_id_file(self):
        # A hostile worker's archive: tar (as root) made the fifo, a device
        # file readable by all, a setuid-root program and a world-writable
        # folder in the server's trial folder; now a fifo or device is a 400
        # and unpacks nothing, and modes get the umask without set-id bits.
        s = self.serve()
        url, folder = self.one_upload(s, "odd")

        archive = empty_members
        for odd in (("model.bin", tarfile.FIFOTYPE, 0o666), ("sub/null", tarfile.CHRTYPE, 0o666)):
            status, _, data = s.request("POST", url, archive(("ok.bin", tarfile.REGTYPE, 0o644),
                                                            ("sub", tarfile.DIRTYPE, 0o755), odd))
            err = json.loads(data)["error"]
            self.assertEqual((status, err["path"]), (400, "body"), err)
            self.assertIn("'%s'" % odd[0], err["message"])
            self.assertNotIn(self.tmp, err["message"])
            self.assertEqual(os.listdir(folder), [".kestrel-trial"])
        status, _, _ = s.request("POST", url, archive((".", tarfile.DIRTYPE, 0o777),
                                                      ("sh", tarfile.REGTYPE, 0o6777)))
        self.assertEqual(status, 200)
        umask = os.umask(0o22)
        os.umask(umask)
        self.assertEqual(os.stat(folder).st_mode & 0o7777, 0o777 & ~umask)
        self.assertEqual(os.stat(os.path.join(folder, "sh")).st_mode & 0o7777, 0o777 & ~umask)
        self.assertEqual(sorted(os.listdir(os.path.dirname(folder))), ["0"])   # nothing beside

    def test_an_upload_holding_a_hard_link_is_a_400_and_unpacks_nothing(self):
        # A hard link to a member the archive lacks made tar fail: a 500
        # "cannot unpack the parts"; one to a member it holds was taken. A
        # trial folder holds no hard links (a worker packs their content).
        s = self.serve()
        url, folder = self.one_upload(s, "hard")
        ok = ("ok.bin", tarfile.REGTYPE, 0o644)
        for link in (("lost", tarfile.LNKTYPE, 0o644, "not-in-it.bin"),
                     ("again", tarfile.LNKTYPE, 0o644, "ok.bin"),
                     ("up", tarfile.LNKTYPE, 0o644, "../../../k.db")):
            status, _, data = s.request("POST", url, empty_members(ok, link))
            err = json.loads(data)["error"]
            self.assertEqual((status, err["path"]), (400, "body"), err)
            self.assertIn("'%s'" % link[0], err["message"])
            self.assertIn("hard link", err["message"])
            self.assertNotIn(self.tmp, err["message"])
            self.assertEqual(os.listdir(folder), [".kestrel-trial"])
            self.assertEqual(sorted(os.listdir(os.path.dirname(folder))), ["0"])
        self.assertEqual(s.request("POST", url, empty_members(ok))[0], 200)

    def test_an_upload_that_unpacks_past_the_limit_writes_nothing(self):
        # --checkpoint-max bounded the archive only: 400 KB of gzip held
        # 400 MB of zeros, which tar wrote out in the server's trial folder
        s = self.serve("--checkpoint-max", "1")
        url, folder = self.one_upload(s, "bomb")

        def archive(size):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                info = tarfile.TarInfo("zeros.bin")
                info.size = size
                tar.addfile(info, io.BytesIO(bytes(size)))
            return buf.getvalue()
        big = archive(3 << 20)
        self.assertLess(len(big), 1 << 20)   # the archive is within the limit
        status, _, data = s.request("POST", url, big)
        err = json.loads(data)["error"]
        self.assertEqual((status, err["path"]), (400, "body"), err)
        self.assertIn("unpacks to more than 1048576 bytes", err["message"])
        self.assertEqual(os.listdir(folder), [".kestrel-trial"])
        self.assertEqual(sorted(os.listdir(os.path.dirname(folder))), ["0"])   # nothing beside
        status, _, _ = s.request("POST", url, archive(100 << 10))
        self.assertEqual(status, 200)
        self.assertEqual(os.path.getsize(os.path.join(folder, "zeros.bin")), 100 << 10)

    def test_a_silent_worker_is_forgotten_and_a_live_one_stays_or_comes_back(self):
        s = self.serve("--lease-timeout", "0.2")
        _, gone = s.json("POST", "/api/v1/workers", {"host": "gone", "pid": 1, "slots": 1})
        live = self.worker(s, "live")

        def names():
            return {w["name"] for w in s.json("GET", "/api/v1/workers")[1]["workers"]}
        wait_for("the silent worker to be forgotten", lambda: "gone:1" not in names())
        # its row stays; a call from it is told to register again
        status, err = s.json("POST", "/api/v1/workers/%d/heartbeat" % gone["id"],
                             {"key": gone["key"], "leases": []})
        self.assertEqual(status, 404, err)
        self.assertIn("register again", err["error"]["message"])
        s.log.flush()
        s.log.seek(0)
        self.assertIn("worker %d forgotten: gone:1 made no call in 10 leases' time" % gone["id"],
                      s.log.read())
        # the live worker calls every third of a lease: listed (again, if a
        # loaded machine held it past ten leases and it registered anew)
        wait_for("the live worker listed", lambda: "%s:%d" % (socket.gethostname(), live.pid)
                 in names())
        self.assertIsNone(live.poll(), self.log_of(live))

    def test_a_study_left_without_a_worker_is_said_to_wait_for_one(self):
        # Every worker gone (their --idle-exit, a batch job's end) with
        # trials left: the study stayed RUNNING with nothing running, and
        # nothing said so. Once the last worker is forgotten, the server
        # logs that the study waits for a worker; a study with nothing left
        # to start (its stop asked) is not named.
        s = self.serve("--lease-timeout", "0.2")
        s.json("POST", "/api/v1/studies", self.step_spec("left", trials=3, parallel=1, steps=1))
        s.json("POST", "/api/v1/studies", self.step_spec("halted", trials=3, parallel=1, steps=1))
        self.assertIn(s.json("POST", "/api/v1/studies/halted/stop")[0], (200, 202))
        _, gone = s.json("POST", "/api/v1/workers", {"host": "gone", "pid": 1, "slots": 1})

        def names():
            return {w["name"] for w in s.json("GET", "/api/v1/workers")[1]["workers"]}
        # the forget and its log happen in one engine step, before this answer
        wait_for("the worker to be forgotten", lambda: "gone:1" not in names())
        s.log.flush()
        s.log.seek(0)
        log = s.log.read()
        self.assertIn("study left: 0 trials, none running, and no worker left (the last, gone:1, "
                      "was forgotten): its trials wait for a worker (kestrel worker --server URL)",
                      log)
        self.assertNotIn("study halted:", log.split("forgotten: gone:1")[1])

    def test_a_registration_can_take_the_first_trial(self):
        s = self.serve()
        reg = {"host": "h", "pid": 1, "slots": 1, "lease": True, "gpus_free": 0}
        # no study yet: registered, no lease in the answer
        st, w0 = s.json("POST", "/api/v1/workers", reg)
        self.assertEqual(st, 201)
        self.assertNotIn("lease", w0)
        s.json("POST", "/api/v1/studies", self.step_spec("first", trials=2, parallel=1, steps=1))
        st, w1 = s.json("POST", "/api/v1/workers", dict(reg, pid=2))
        self.assertEqual(st, 201)
        lease = w1["lease"]     # as the lease call answers
        self.assertEqual((lease["study"], lease["trial"]["number"]), ("first", 0))
        # the study's one slot is taken: the next registration gets none, and
        # one that does not ask gets none either
        for body in (dict(reg, pid=3), {"host": "h", "pid": 4, "slots": 1}):
            st, w = s.json("POST", "/api/v1/workers", body)
            self.assertEqual(st, 201)
            self.assertNotIn("lease", w)
        # the lease is the worker's as any other: its finish completes the trial
        finish = {"worker": w1["id"], "key": w1["key"], "lines": [json.dumps({"loss": 0.25})],
                  "exit": {"exited": True, "exit_code": 0}}
        st, _ = s.json("POST", "/api/v1/leases/%d/finish" % lease["lease"], finish)
        self.assertEqual(st, 200)
        t = [t for t in self.trials(s, "first") if t["number"] == 0][0]
        self.assertEqual((t["state"], t["value"], t["worker"]), ("COMPLETE", 0.25, "h:2"))
        self.assertEqual(len(s.json("GET", "/api/v1/workers")[1]["workers"]), 4)

    def test_a_relayed_report_with_a_malformed_step_is_noted_not_refused(self):
        # The relay succeeds (a 400 would have the worker send the batch
        # again for good); the line is no report, and the trial's record
        # says why, as for a local trial (docs/protocol.md).
        s, w, lease = self.hand_lease("m")
        lines = [json.dumps({"step": 2147483648, "loss": 0.3}),
                 json.dumps({"step": 2147483647, "loss": 0.4})]
        status, ans = s.json("POST", "/api/v1/leases/%d/report" % lease["lease"],
                             {"worker": w["id"], "key": w["key"], "lines": lines})
        self.assertEqual((status, ans), (200, {"stop": False}))
        finish = {"worker": w["id"], "key": w["key"], "lines": [json.dumps({"step": -1})],
                  "exit": {"exited": True, "exit_code": 0}, "stderr_tail": "done\n"}
        status, _ = s.json("POST", "/api/v1/leases/%d/finish" % lease["lease"], finish)
        self.assertEqual(status, 200)
        status, t = s.json("GET", "/api/v1/studies/m/trials/%d" % lease["trial"]["number"])
        self.assertEqual(status, 200)
        self.assertEqual((t["state"], t["value"], t["last_step"]), ("COMPLETE", 0.4, 2147483647))
        self.assertEqual(t["stderr_tail"], "done\nkestrel: 2 report lines ignored as malformed, "
                         "the first: step: must be an integer from 0 to 2147483647, "
                         "not 2147483648\n")

    def test_report_lines_on_stdout_count_as_on_a_local_run(self):
        # Stdout is the fallback report channel (docs/protocol.md): its
        # JSON-object lines are reports, under `kestrel run` and on a worker
        # alike. The worker relayed fd 3 only, so this study, all COMPLETE
        # locally, FAILED "missing metric 'loss'" on a worker.
        spec = self.step_spec("out", trials=3, parallel=1)
        spec["run"]["command"] = [
            "sh", "-c", 'echo "starting x=$1"; echo "[1, 2]"; printf \'{{"step": 1, "loss": 9}}\\n\'; '
            'printf \'{{"loss": %s}}\\n\' "$1"', "_", "{x}"]   # {{: a brace (docs/spec.md)
        local = self.run_locally(spec)
        self.assertEqual({t["state"] for t in local.values()}, {"COMPLETE"})
        s = self.serve()
        s.json("POST", "/api/v1/studies", spec)
        self.worker(s, "w")
        ended = wait_for("the study to end", lambda: [
            st for st in [s.json("GET", "/api/v1/studies/out")[1]] if st["state"] != "RUNNING"])
        self.assertEqual(ended[0]["state"], "COMPLETE", ended[0]["state_reason"])
        remote = {t["number"]: t for t in self.trials(s, "out")}
        self.assertEqual(sorted(local), sorted(remote))
        for k, t in local.items():
            r = remote[k]
            self.assertEqual((r["state"], r["last_step"]), ("COMPLETE", 1), r)
            self.assertAlmostEqual(r["value"], t["value"], places=12)
            self.assertAlmostEqual(r["value"], r["params"]["x"], places=5)
        _, t = s.json("GET", "/api/v1/studies/out/trials/0")
        self.assertIn("starting x=", t["stdout_tail"])   # log text stays log text

    def script_spec(self, name, script_text):
        """The spec of a one-trial study named name whose trial runs `sh`
        of script_text (written to NAME.sh)."""
        script = os.path.join(self.tmp, name + ".sh")
        with open(script, "w") as f:
            f.write(script_text)
        spec = self.step_spec(name, trials=1, parallel=1)
        spec["run"]["command"] = ["sh", script]
        return spec

    def one_script_trial(self, name, script_text, *serve_args):
        """Runs a one-trial study of `sh script_text` on one worker to its
        end; (the trial as listed, the worker's log)."""
        spec = self.script_spec(name, script_text)
        s = self.serve(*serve_args)
        s.json("POST", "/api/v1/studies", spec)
        w = self.worker(s, "w1")
        s.wait_state(name, "COMPLETE", timeout=HANG)
        return self.trials(s, name)[0], self.log_of(w)

    def test_report_lines_of_control_characters_fit_the_servers_limit(self):
        # Lines of control characters take six bytes each in a request's
        # JSON (\u0001): batched by their raw length, four 60 KB lines made
        # a 1.4 MB request the server refuses (413), and the worker sent it
        # again for good; batched by their encoded length, the trial ends.
        t, log = self.one_script_trial(
            "ctl", "for i in 1 2 3 4 5 6 7 8; do head -c 60000 /dev/zero | tr '\\000' '\\001' >&3;"
                   " echo >&3; done; echo '{\"loss\": 1.5}' >&3\n")
        self.assertEqual((t["state"], t["value"]), ("COMPLETE", 1.5))
        # the worker logs a refusal as "HTTP 413" or "refused (413)" (a bare
        # 413 also matches the server's port)
        self.assertNotRegex(log, r"HTTP 413|\(413\)")

    def test_a_folder_over_checkpoint_max_is_not_taken_and_the_trial_ends(self):
        # The server refuses the folder (413 past --checkpoint-max): the
        # worker logs it and still sends the trial's end, which stands.
        t, log = self.one_script_trial(
            "big", "head -c 1500000 /dev/urandom > \"$KESTREL_CHECKPOINT_DIR/blob\";"
                   " echo '{\"loss\": 2.5}' >&3\n", "--checkpoint-max", "1")
        self.assertEqual((t["state"], t["value"]), ("COMPLETE", 2.5))
        self.assertIn("its folder was not taken (HTTP 413)", log)

    def test_a_folder_part_met_by_a_server_error_is_sent_again(self):
        # A part of an ended trial's folder answered with a server error (a
        # proxy whose backend is briefly down: 503) dropped the whole folder
        # at once ("its folder was not taken (HTTP 503)"): the trial ended
        # COMPLETE without it, and its promotions started afresh. The part
        # now goes again every second, for up to a lease time.
        s = self.serve("--lease-timeout", "60")
        spec = self.script_spec("part", 'while [ ! -e "$GATE" ]; do sleep 0.05; done\n'
                                        'echo weights > "$KESTREL_CHECKPOINT_DIR/best.bin"\n'
                                        'echo \'{"loss": 2.5}\' >&3\n')
        front = Front(s.port)
        self.addCleanup(front.close)
        gate = os.path.join(self.tmp, "gate")
        w = self.worker(front, "w", env={"GATE": gate})
        s.json("POST", "/api/v1/studies", spec)
        front.answer(r"/leases/\d+/checkpoint\?", 503)
        with open(gate, "w"):
            pass
        wait_for("a part refused", lambda: front.requests(r"/leases/\d+/checkpoint\?"))
        front.answer(None, None)
        s.wait_state("part", "COMPLETE", timeout=HANG)
        self.assertEqual([(t["state"], t["value"]) for t in self.trials(s, "part")],
                         [("COMPLETE", 2.5)])
        log = self.log_of(w)
        self.assertNotIn("not taken", log)
        with open(os.path.join(self.db + ".trials", "part", "0", "best.bin")) as f:
            self.assertEqual(f.read(), "weights\n")
        self.assertIn("HTTP 503 from the server on a part of its folder; trying again every 1 s",
                      log)
        self.assertEqual(log.count("the server takes its folder's parts again"), 1, log)

    def test_a_folder_with_hard_links_is_taken_with_their_content(self):
        # The server refuses an archive's hard links; a worker packs them as
        # the files they are, so a trial that links a file keeps its folder.
        t, log = self.one_script_trial(
            "linked", "cd \"$KESTREL_CHECKPOINT_DIR\" && echo weights > best.bin &&"
                      " ln best.bin last.bin && echo '{\"loss\": 2.5}' >&3\n")
        self.assertEqual((t["state"], t["value"]), ("COMPLETE", 2.5))
        self.assertNotIn("not taken", log)
        folder = os.path.join(self.db + ".trials", "linked", "0")
        for name in ("best.bin", "last.bin"):
            with open(os.path.join(folder, name)) as f:
                self.assertEqual(f.read(), "weights\n")

    def test_kill9_and_sigstop_of_workers(self):
        s = self.serve("--lease-timeout", str(LEASE))
        gate = os.path.join(self.tmp, "gate")
        s.json("POST", "/api/v1/studies", self.step_spec("k", trials=3, parallel=1, retries=2))
        a = self.worker(s, "a", env={"GATE": gate})
        wait_for("worker a to hold a trial", lambda: self.held(s, a.pid))
        self.assertIn("\nkestrel_remote_trials 1\n", s.request("GET", "/metrics")[2].decode())
        a.kill()   # kill -9 mid-trial
        a.wait()
        # its trial fails once the lease runs out; b (no gate) runs the retry
        wait_for("a's trial to fail", lambda: [t for t in self.trials(s, "k")
                                               if t["state"] == "FAILED"])
        c = self.worker(s, "c", env={"GATE": gate})
        wait_for("worker c to hold a trial", lambda: self.held(s, c.pid))
        os.kill(c.pid, signal.SIGSTOP)   # hangs past its lease
        wait_for("c's trial to fail", lambda: len([t for t in self.trials(s, "k")
                                                   if t["state"] == "FAILED"]) == 2)
        self.worker(s, "b")
        st = s.wait_state("k", "COMPLETE", timeout=HANG)
        with open(gate, "w"):
            pass
        os.kill(c.pid, signal.SIGCONT)   # its late reports are refused
        wait_for("c to hear its lease is gone", lambda: "refused (409)" in self.log_of(c))
        trials = self.trials(s, "k")
        failed = [t for t in trials if t["state"] == "FAILED"]
        self.assertEqual(len(failed), 2)
        self.assertTrue(all("lease expired: worker" in t["failure"] for t in failed))
        self.assertIn(":%d " % a.pid, failed[0]["failure"] + " ")
        complete = [t for t in trials if t["state"] == "COMPLETE"]
        self.assertEqual(st["counts"]["complete"], 3)
        self.assertEqual(len(complete), 3)
        retried = sorted(t["retry_of"] for t in trials if t["retry_of"] is not None)
        self.assertEqual(retried, sorted(t["number"] for t in failed))

    def test_a_heartbeat_ends_a_trial_whose_lease_expired(self):
        # A worker cut off (here stopped) past its lease came back and its
        # heartbeats were taken (200, nothing to stop), so a trial that
        # reports nothing until its end ran on for nothing, its slot taken,
        # while its retry ran elsewhere; only its finish was refused (409).
        # The heartbeat's stop now names every lease the worker runs that
        # is no longer its own.
        s = self.serve("--lease-timeout", str(LEASE))
        gate = os.path.join(self.tmp, "gate")   # never made: the trial stays silent
        s.json("POST", "/api/v1/studies", self.step_spec("ex", trials=1, parallel=1, retries=1))
        _, w = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1})
        _, lease = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})

        def failed():
            return [t for t in self.trials(s, "ex") if t["state"] == "FAILED"]
        wait_for("the lease to expire", failed)
        beat = "/api/v1/workers/%d/heartbeat" % w["id"]
        self.assertEqual(s.json("POST", beat, {"key": w["key"], "leases": [lease["lease"]]}),
                         (200, {"stop": [lease["lease"]], "lease_seconds": LEASE}))
        # a real worker: stopped past its lease, it ends the trial once it
        # runs again, and takes the retry
        p = self.worker(s, "w", env={"GATE": gate})
        wait_for("the worker to hold the retry", lambda: self.held(s, p.pid))
        os.kill(p.pid, signal.SIGSTOP)
        wait_for("its lease to expire", lambda: len(failed()) == 2)
        os.kill(p.pid, signal.SIGCONT)
        wait_for("the worker to end the trial", lambda: "refused (409)" in self.log_of(p))
        self.assertEqual(len(failed()), 2)

    def test_a_lost_worker_is_no_run_of_failures(self):
        # the trials of a worker that died (its node crashed) failed one
        # after the other as their leases ran out, and counted as
        # budget.max_failures' failures in a row: a worker of that many slots
        # failed the whole study instead of its trials being retried
        s = self.serve("--lease-timeout", str(LEASE))
        gate = os.path.join(self.tmp, "gate")
        spec = self.step_spec("lost", trials=4, parallel=3, retries=1)
        spec["budget"]["max_failures"] = 2
        s.json("POST", "/api/v1/studies", spec)
        a = self.worker(s, "a", "--slots", "3", env={"GATE": gate})
        wait_for("worker a to hold three trials", lambda: len(self.held(s, a.pid)) == 3)
        a.kill()   # kill -9 mid-trial, as a node that dies
        a.wait()
        wait_for("a's trials to fail", lambda: len([t for t in self.trials(s, "lost")
                                                    if t["state"] == "FAILED"]) == 3)
        with open(gate, "w"):
            pass
        self.worker(s, "b", "--slots", "3")
        st = wait_for("the study to end", lambda: [
            st for st in [s.json("GET", "/api/v1/studies/lost")[1]]
            if st["state"] in ("COMPLETE", "FAILED")])[0]
        self.assertEqual((st["state"], st["counts"]["complete"]), ("COMPLETE", 4), st["state_reason"])
        trials = self.trials(s, "lost")
        failed = [t["number"] for t in trials if t["state"] == "FAILED"]
        self.assertEqual(sorted(t["retry_of"] for t in trials if t["retry_of"] is not None), failed)

    def test_a_lease_whose_answer_was_lost_is_failed_and_retried(self):
        # the server gave the lease but its answer never reached the worker
        # (here: the test drops it); the worker's heartbeats name the leases
        # it runs, and the one it never heard of ends after two of them
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("lost", trials=1, parallel=1, retries=1))
        st, w = s.json("POST", "/api/v1/workers", {"host": "h", "pid": 1, "slots": 1})
        self.assertEqual(st, 201)
        beat = "/api/v1/workers/%d/heartbeat" % w["id"]
        st, lease = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
        self.assertEqual(st, 200)
        number = lease["trial"]["number"]
        st, ans = s.json("POST", beat, {"key": w["key"], "leases": "all"})
        self.assertEqual(st, 400)
        self.assertIn("leases", json.dumps(ans))
        # named: renewed; left out once: kept (that heartbeat may predate the answer)
        for held in ([lease["lease"]], []):
            self.assertEqual(s.json("POST", beat, {"key": w["key"], "leases": held})[0], 200)
            self.assertEqual([t["state"] for t in self.trials(s, "lost")], ["RUNNING"])
        # left out twice in a row: FAILED, naming the worker, and retried
        self.assertEqual(s.json("POST", beat, {"key": w["key"], "leases": []})[0], 200)
        t = [t for t in self.trials(s, "lost") if t["number"] == number][0]
        self.assertEqual(t["state"], "FAILED")
        self.assertIn("worker h:1", t["failure"])
        self.assertIn("does not run it", t["failure"])
        st, again = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
        self.assertEqual(st, 200)
        self.assertEqual(again["trial"]["retry_of"], number)
        # the lost lease is over: a late word about it is refused
        st, _ = s.json("POST", "/api/v1/leases/%d/report" % lease["lease"],
                       {"worker": w["id"], "key": w["key"], "lines": ["{}"]})
        self.assertEqual(st, 409)

    def test_a_retry_goes_to_another_worker_when_one_is_free(self):
        # three workers of the test's own through the API, each leasing only
        # when told; c stays silent: free, but not heard from within the lease
        # time, so it never counts as free
        s = self.serve("--lease-timeout", str(LEASE))
        s.json("POST", "/api/v1/studies", self.step_spec("av", trials=3, parallel=3, retries=1))
        ws = []
        for host in ("a", "b", "c"):
            st, w = s.json("POST", "/api/v1/workers", {"host": host, "pid": 1, "slots": 1})
            self.assertEqual(st, 201)
            ws.append(w)
        a, b, _ = ws

        def lease(w):
            st, body = s.json("POST", "/api/v1/workers/%d/lease" % w["id"], {"key": w["key"]})
            self.assertEqual(st, 200)
            return body
        self.assertEqual(lease(a)["trial"]["number"], 0)
        stop = threading.Event()

        def beat():   # b stays heard from; a falls silent and loses trial 0
            while not stop.wait(0.2):
                s.json("POST", "/api/v1/workers/%d/heartbeat" % b["id"], {"key": b["key"]})
        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        self.addCleanup(beater.join)
        self.addCleanup(stop.set)
        wait_for("a's trial to fail", lambda: [t for t in self.trials(s, "av")
                                               if t["state"] == "FAILED"])
        again = lease(a)["trial"]
        self.assertEqual(again["retry_of"], -1)   # b is free: the retry waits for it
        self.assertEqual(lease(b)["trial"]["retry_of"], 0)
        retry = [t for t in self.trials(s, "av") if t["retry_of"] == 0]
        self.assertEqual(len(retry), 1)
        self.assertTrue(retry[0]["worker"].startswith("b:1"))
        # a falls silent again and loses its second trial; b is busy and c
        # silent: no other worker is free, so a gets the retry back
        wait_for("a's second trial to fail", lambda: [t for t in self.trials(s, "av")
                                                      if t["number"] == again["number"]
                                                      and t["state"] == "FAILED"])
        self.assertEqual(lease(a)["trial"]["retry_of"], again["number"])
        stop.set()   # before tearDown stops the server
        beater.join()

    def test_reports_wait_while_the_server_is_unreachable(self):
        s = self.serve()
        gate, done = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "done")
        started = os.path.join(self.tmp, "started")
        s.json("POST", "/api/v1/studies", self.step_spec("buf", trials=1, parallel=1, steps=4))
        proxy = Proxy(s.port)
        self.addCleanup(proxy.sock.close)
        w = self.worker(proxy, "w", env=dict(GATE=gate, DONE=done, STARTED=started))
        # the trial runs, so the lease's answer reached the worker before the cut
        wait_for("the worker to start the trial", lambda: os.path.exists(started))
        proxy.set_cut(True)
        with open(gate, "w"):
            pass
        wait_for("the trial to end", lambda: os.path.exists(done))
        seen = proxy.refusals()
        wait_for("the worker to try to send", lambda: proxy.refusals() > seen)
        _, st = s.json("GET", "/api/v1/studies/buf")
        self.assertEqual(st["counts"]["running"], 1)   # nothing arrived yet
        proxy.set_cut(False)
        s.wait_state("buf", "COMPLETE", timeout=HANG)
        _, d = s.json("GET", "/api/v1/studies/buf/trials/0")
        self.assertEqual([v["step"] for v in d["values"]], [1, 2, 3, 4])
        self.assertEqual(d["state"], "COMPLETE")
        self.assertIn("cannot be reached", self.log_of(w))

    def test_a_worker_says_the_server_answers_again_only_when_it_does(self):
        # a round that sent nothing (a trial's reports wait 100 ms after a
        # try) was taken for an answer: while the server was out of reach the
        # log said "the server answers again" after nearly every failed report
        s = self.serve()
        chatty = os.path.join(self.tmp, "chatty.sh")
        with open(chatty, "w") as f:
            f.write(CHATTY_SH)
        spec = self.step_spec("chat", trials=1, parallel=1)
        spec["run"] = {"command": ["sh", chatty]}
        s.json("POST", "/api/v1/studies", spec)
        proxy = Proxy(s.port)
        self.addCleanup(proxy.sock.close)
        gate, started = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "started")
        w = self.worker(proxy, "w", env=dict(GATE=gate, STARTED=started))
        wait_for("the worker to start the trial", lambda: os.path.exists(started))
        proxy.set_cut(True)
        seen = proxy.refusals()
        wait_for("the worker to try to send 20 times", lambda: proxy.refusals() >= seen + 20)
        self.assertNotIn("answers again", self.log_of(w))
        proxy.set_cut(False)
        with open(gate, "w"):
            pass
        s.wait_state("chat", "COMPLETE", timeout=HANG)
        wait_for("the worker to log the server back", lambda: "answers again" in self.log_of(w))
        log = self.log_of(w)
        self.assertEqual(log.count("cannot be reached"), 1, log)
        self.assertEqual(log.count("answers again"), 1, log)

    def test_idle_exit_counts_no_time_spent_sending_a_trials_end(self):
        # --idle-exit was counted from the last round that began and ended
        # with a trial; the round that sent a trial's end (its folder packed
        # and uploaded, the finish answered) took seconds on a loaded machine,
        # and a worker whose end took longer than --idle-exit exited right
        # after it without asking for the next trial: 40 workers on a study
        # of 120 ran one trial each and the study stalled with trials left.
        # Here the trial's finish is held until a worker started after it
        # was held has itself been idle for --idle-exit (it exits): the first
        # worker's round took longer than that, then asks and runs trial 1.
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.step_spec("ends", trials=2, parallel=1, steps=1))
        front = Front(s.port)
        self.addCleanup(front.close)
        held, release = front.hold_until(r"/leases/\d+/finish")
        self.addCleanup(release.set)
        a = self.worker(front, "a", "--idle-exit", "1")
        self.assertTrue(held.wait(HANG), "a never sent its trial's end")
        b = self.worker(s, "b", "--idle-exit", "1")   # trial 0 runs: none for b
        self.assertEqual(b.wait(timeout=HANG), 0)
        self.assertIn("no trial for 1 s: exiting", self.log_of(b))
        release.set()
        self.assertEqual(a.wait(timeout=HANG), 0)
        trials = self.trials(s, "ends")
        self.assertEqual(sorted((t["number"], t["state"], t["worker"].split(":")[1])
                                for t in trials),
                         [(0, "COMPLETE", str(a.pid)), (1, "COMPLETE", str(a.pid))],
                         self.log_of(a))
        self.assertEqual(s.json("GET", "/api/v1/studies/ends")[1]["state"], "COMPLETE")

    def test_a_worker_with_idle_exit_gives_up_on_a_server_gone_after_its_trial(self):
        # --idle-exit ended a worker that was idle or could not register, but
        # one whose trial ended while the server was gone kept trying to send
        # that end for good: a batch job held its allocation until its --time
        s = self.serve("--lease-timeout", str(LEASE))
        gate, done = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "done")
        started = os.path.join(self.tmp, "started")
        s.json("POST", "/api/v1/studies", self.step_spec("gone", trials=1, parallel=1))
        proxy = Proxy(s.port)
        self.addCleanup(proxy.sock.close)
        w = self.worker(proxy, "w", "--idle-exit", "1", env=dict(GATE=gate, DONE=done,
                                                                 STARTED=started))
        wait_for("the worker to start the trial", lambda: os.path.exists(started))
        proxy.set_cut(True)
        with open(gate, "w"):
            pass
        wait_for("the trial to end", lambda: os.path.exists(done))
        self.assertEqual(w.wait(timeout=HANG), 0)
        self.assertIn("the server has not answered for", self.log_of(w))
        # the server, heard again, fails the trial its worker gave up on
        proxy.set_cut(False)
        wait_for("the lease to run out",
                 lambda: self.trials(s, "gone")[0]["state"] == "FAILED")
        self.assertIn("lease expired", self.trials(s, "gone")[0]["failure"])

    def test_unsent_reports_are_bounded_and_the_trial_waits(self):
        # past --report-buffer of unsent lines the worker stops reading the
        # trial's reports: the trial blocks on fd 3 (it cannot finish while
        # the server is out of reach) and, once it is back, every line
        # arrives
        s = self.serve()
        gate, done = os.path.join(self.tmp, "gate"), os.path.join(self.tmp, "done")
        # ~1.6 MB of lines: more than the bound, a pipe's 64 KiB and what one
        # read round of the runner takes (1 MiB) together
        n = 50000
        flood = os.path.join(self.tmp, "flood.sh")
        with open(flood, "w") as f:
            f.write(FLOOD_SH)
        spec = {"name": "bound", "objective": {"metric": "loss", "direction": "minimize"},
                "space": {"x": {"type": "float", "low": -2, "high": 2}},
                "strategy": {"name": "random", "seed": 3},
                "budget": {"max_trials": 1, "max_parallel": 1},
                "run": {"command": ["sh", flood, str(n)]}}
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        proxy = Proxy(s.port)
        self.addCleanup(proxy.sock.close)
        started = os.path.join(self.tmp, "started")
        self.worker(proxy, "w", "--report-buffer", "16",
                    env=dict(GATE=gate, DONE=done, STARTED=started))
        wait_for("the worker to start the trial", lambda: os.path.exists(started))
        proxy.set_cut(True)
        with open(gate, "w"):
            pass
        wait_for("the worker to hold the reports back",
                 lambda: "reports unsent" in self.log_of_name("w"))
        self.assertFalse(os.path.exists(done))   # blocked on its next write
        proxy.set_cut(False)
        s.wait_state("bound", "COMPLETE", timeout=HANG)
        _, d = s.json("GET", "/api/v1/studies/bound/trials/0")
        self.assertEqual(d["state"], "COMPLETE")
        self.assertEqual(d["value"], 0.5)
        self.assertEqual([v["step"] for v in d["values"]], list(range(1, n + 1)))

    def lease_rows(self):
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT id, trial_number, outcome, ended_at FROM leases "
                              "ORDER BY id").fetchall()
        finally:
            db.close()

    def stored_trials(self):
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT number, state, failure FROM trials ORDER BY number").fetchall()
        finally:
            db.close()

    def gated_leases(self, spec, slots=1, lease=60):
        """A server of 60 s leases (none runs out on a loaded machine), the
        study of spec and a worker whose trials wait for the file it returns,
        once it runs `slots` of them (its script adds a line to $STARTED as
        STEP_SH does)."""
        s = self.serve("--lease-timeout", str(lease))
        gate = os.path.join(self.tmp, "gate-" + spec["name"])
        started = os.path.join(self.tmp, "started-" + spec["name"])
        s.json("POST", "/api/v1/studies", spec)
        w = self.worker(s, "w" + spec["name"], "--slots", str(slots),
                        env={"GATE": gate, "STARTED": started})
        # the registry lists a lease from its commit on, before the server's
        # event thread has written its answer: a server killed then never
        # sent it, and the worker holds no trial (it asks the next server for
        # one). Its trials started, it has them
        wait_for("the worker to start its trials", lambda: self.started_lines(started) == slots)
        wait_for("the worker to hold its trials", lambda: len(self.held(s, w.pid)) == slots)
        return s, w, gate

    @staticmethod
    def started_lines(path):
        """The lines in the file $STARTED, one a trial started (0: none yet)."""
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return len(f.read().splitlines())

    def test_server_restart_while_workers_run(self):
        # a graceful stop and a crash of the server alike: the trials its
        # workers run stay theirs, and a restarted server takes their results
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with self.subTest(signal=sig):
                self.restart_while_workers_run(sig)

    def restart_while_workers_run(self, sig):
        name = "rs%d" % sig
        self.db = os.path.join(self.tmp, name + ".db")
        s, w, gate = self.gated_leases(self.step_spec(name, trials=2, parallel=2), slots=2)
        port = s.port
        self.assertEqual(s.stop(sig), 0 if sig == signal.SIGTERM else -signal.SIGKILL)
        # the stop threw nothing away: the trials RUNNING, their leases open
        self.assertEqual([r[1:] for r in self.stored_trials()],
                         [("RUNNING", None), ("RUNNING", None)])
        self.assertEqual([r[2:] for r in self.lease_rows()], [(None, None), (None, None)])
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--lease-timeout", "60")
        # the restarted server knows the worker and its leases as before
        wait_for("the restarted server to list the worker's trials",
                 lambda: len(self.held(s, w.pid)) == 2)
        with open(gate, "w"):
            pass
        st = s.wait_state(name, "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 2)
        trials = self.trials(s, name)
        # each result stored once, on the trial the worker ran: nothing re-run
        self.assertEqual([(t["number"], t["state"], t["retry_of"]) for t in trials],
                         [(0, "COMPLETE", None), (1, "COMPLETE", None)])
        for t in trials:
            self.assertAlmostEqual(t["value"], round(t["params"]["x"] ** 2, 6), places=6)
            self.assertEqual(t["worker"].split(":")[1], str(w.pid))
        self.assertEqual([r[2] for r in self.lease_rows()], ["finished", "finished"])
        self.assertNotIn("refused", self.log_of(w))
        w.terminate()
        self.assertEqual(w.wait(timeout=HANG), 0)
        s.stop()

    def test_a_server_restarted_with_shorter_leases_keeps_its_workers_trials(self):
        # A worker kept across a restart does not register again, and beat
        # at the pace its registration gave (a third of the previous
        # server's 60 s leases): a server restarted with --lease-timeout 3
        # (here LEASE) failed its silent trials before the next beat, and between any
        # two. A kept lease now lasts the lease time its worker was
        # answered (the worker's row keeps it), and the heartbeat's answer
        # carries the server's, which the worker takes.
        s, w, gate = self.gated_leases(self.step_spec("short", trials=1, parallel=1))
        port = s.port
        # killed once it took a heartbeat: the next comes 20 s later, long
        # after LEASE s of the next server (the lease it keeps must last until
        # then: the previous server's 60 s)
        s.wait_log(r"POST /api/v1/workers/\d+/heartbeat")
        s.stop(signal.SIGKILL)
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--lease-timeout", str(LEASE))
        seen = set()

        def beats():
            # the worker's heartbeats, each a new last_seen in the registry
            _, reg = s.json("GET", "/api/v1/workers")
            seen.update(x["last_seen"] for x in reg["workers"] if x["pid"] == w.pid)
            return len(seen) >= 5
        wait_for("the worker to beat five times", beats)
        self.assertIn("the server's leases are now of %d s" % LEASE, self.log_of(w))
        with open(gate, "w"):
            pass
        st = s.wait_state("short", "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 1)
        self.assertEqual([(t["number"], t["state"]) for t in self.trials(s, "short")],
                         [(0, "COMPLETE")])

    def test_a_final_line_sent_before_a_restart_is_not_lost(self):
        # the trial writes its final value, then a step, and waits: the step
        # stored means the final line before it was read and could have
        # been sent to the server that is then killed
        script = os.path.join(self.tmp, "final.sh")
        with open(script, "w") as f:
            f.write('echo started >> "$STARTED"\n'
                    'echo \'{"loss": 0.25}\' >&3\necho \'{"step": 1, "loss": 9}\' >&3\n'
                    'while [ ! -e "$GATE" ]; do sleep 0.05; done\n')
        spec = self.step_spec("fin", trials=1, parallel=1)
        spec["run"] = {"command": ["sh", script]}
        s, w, gate = self.gated_leases(spec)
        wait_for("the step to be stored",
                 lambda: s.json("GET", "/api/v1/studies/fin/trials/0")[1].get("values"))
        port = s.port
        s.stop(signal.SIGKILL)
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--lease-timeout", "60")
        with open(gate, "w"):
            pass
        s.wait_state("fin", "COMPLETE", timeout=HANG)
        self.assertEqual([(t["state"], t["value"]) for t in self.trials(s, "fin")],
                         [("COMPLETE", 0.25)])
        self.assertNotIn("refused", self.log_of(w))

    def test_kestrel_run_reclaims_a_dead_servers_lease_naming_its_worker(self):
        spec = self.step_spec("kr", trials=1, parallel=1)
        s, w, gate = self.gated_leases(spec)
        port = s.port
        s.stop(signal.SIGKILL)
        # kestrel run cannot hear workers: it reclaims the leased trial, saying
        # whose it was, and runs it again itself
        path = os.path.join(self.tmp, "kr.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        with open(gate, "w"):
            pass
        subprocess.run([KESTREL, "run", "--db", self.db, "--quiet", path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=HANG)
        first = self.stored_trials()[0]
        self.assertEqual(first[1], "FAILED")
        self.assertRegex(first[2], r"^interrupted: the kestrel serve that leased it to worker "
                         r"[^ ]+:%d \(id 1\) stopped, and no server kept the lease$" % w.pid)
        # a server started then does not keep that lease: the worker's late
        # end is refused and nothing changes
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--lease-timeout", "60")
        self.assertEqual([r[2] for r in self.lease_rows()], ["server restarted"])
        wait_for("the worker to hear its lease is gone", lambda: "refused (409)" in self.log_of(w))
        self.assertEqual([t["state"] for t in self.trials(s, "kr")], ["FAILED", "COMPLETE"])

    def test_a_lease_kept_across_a_restart_expires_without_its_worker(self):
        # leases of 2 LEASE s (the kept lease lasts the longer of the lease time
        # its worker was answered and the restarted server's)
        s, w, gate = self.gated_leases(self.step_spec("ex", trials=1, parallel=1, retries=1),
                                       lease=2 * LEASE)
        w.kill()   # the worker dies while the server is down: it never returns
        w.wait()
        port = s.port
        self.assertEqual(s.stop(), 0)
        # a shorter lease for the restarted server: the kept lease runs out on
        # its clock, and the trial is failed naming the lost worker, not left
        # RUNNING for good. Not shorter still: the retry's worker below holds
        # a lease of that server's (1 s failed it on a loaded machine)
        s = self.serve("--listen", "127.0.0.1:%d" % port, "--lease-timeout", str(LEASE))
        wait_for("the kept lease to expire", lambda: self.trials(s, "ex")[0]["state"] == "FAILED")
        t = self.trials(s, "ex")[0]
        self.assertRegex(t["failure"], r"^lease expired: worker [^ ]+:%d \(id 1\) was not heard "
                         r"from for %d s since the server restarted$" % (w.pid, 2 * LEASE))
        self.assertEqual([r[2] for r in self.lease_rows()], ["expired"])
        with open(gate, "w"):
            pass
        self.worker(s, "v")
        st = s.wait_state("ex", "COMPLETE", timeout=HANG)
        self.assertEqual([(t["state"], t["retry_of"]) for t in self.trials(s, "ex")],
                         [("FAILED", None), ("COMPLETE", 0)])

    def history_holds(self, text):
        """Whether the bytes of text are in the history file or its log, as
        any reader of them has them."""
        for path in (self.db, self.db + "-wal"):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    if text.encode() in f.read():
                        return True
        return False

    def finish_after_restart(self, s, w, lease, name):
        """The restarted server s knows worker w by its key alone: another key
        is refused, w's heartbeat keeps its lease, and its finish lands."""
        beat = "/api/v1/workers/%d/heartbeat" % w["id"]
        other = w["key"][:-1] + ("0" if w["key"][-1] != "0" else "1")
        self.assertEqual(s.json("POST", beat, {"key": other, "leases": []})[0], 404)
        status, ans = s.json("POST", beat, {"key": w["key"], "leases": [lease["lease"]]})
        self.assertEqual((status, ans.get("stop")), (200, []), ans)
        finish = {"worker": w["id"], "key": w["key"], "lines": [json.dumps({"loss": 0.125})],
                  "exit": {"exited": True, "exit_code": 0}}
        status, _ = s.json("POST", "/api/v1/leases/%d/finish" % lease["lease"], finish)
        self.assertEqual(status, 200)
        self.assertEqual([(t["state"], t["value"]) for t in self.trials(s, name)],
                         [("COMPLETE", 0.125)])

    def test_a_workers_key_is_stored_as_its_hash_alone(self):
        # the history held the key itself: whoever could read the file could
        # end the worker's trials. It holds the key's SHA-256, by which a
        # restarted server still knows the worker
        s, w, lease = self.hand_lease("kh")
        port = s.port
        s.stop(signal.SIGKILL)
        self.assertFalse(self.history_holds(w["key"]), "the key is in the history")
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            rows = db.execute("SELECT key_sha256 FROM workers").fetchall()
        self.assertEqual(rows, [(hashlib.sha256(w["key"].encode()).hexdigest(),)])
        s = self.serve("--listen", "127.0.0.1:%d" % port)
        self.finish_after_restart(s, w, lease, "kh")

    def test_a_lease_of_a_history_with_plain_keys_is_kept_after_the_upgrade(self):
        # a history as kestrel 12 left it, its key in plain (012's column):
        # the upgrade (013) hashes it, keeps the lease, and leaves nothing of
        # the key in the file
        s, w, lease = self.hand_lease("up")
        port = s.port
        s.stop(signal.SIGKILL)
        with open(os.path.join(SQL, "012_kept_leases.sql")) as f:
            v12 = f.read()
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            db.executescript("DROP VIEW kept_leases; ALTER TABLE workers DROP COLUMN key_sha256;"
                             "ALTER TABLE studies DROP COLUMN work_dir;" + v12)
            db.execute("UPDATE workers SET key = ?", (w["key"],))
            db.execute("PRAGMA user_version = 12")
            db.commit()
        self.assertTrue(self.history_holds(w["key"]))
        s = self.serve("--listen", "127.0.0.1:%d" % port)
        self.assertFalse(self.history_holds(w["key"]), "the key is in the history")
        self.finish_after_restart(s, w, lease, "up")

    def test_every_workers_key_is_revoked_by_clearing_the_hashes(self):
        # docs/workers.md's remedy for keys that may have been read (a
        # history that held them in plain, readable by others, before schema
        # version 13, whose upgrade kept their hashes): the server stopped,
        # the hashes cleared with sqlite3, the server started again. No
        # worker is known by its old key, no lease is kept, and the trial
        # runs again for a worker that registers anew.
        s, w, lease = self.hand_lease("rv")
        port = s.port
        s.stop(signal.SIGKILL)
        subprocess.run(["sqlite3", self.db, "UPDATE workers SET key_sha256 = NULL"], check=True,
                       timeout=HANG)
        s = self.serve("--listen", "127.0.0.1:%d" % port)
        beat = "/api/v1/workers/%d/heartbeat" % w["id"]
        self.assertEqual(s.json("POST", beat, {"key": w["key"], "leases": [lease["lease"]]})[0],
                         404)
        finish = {"worker": w["id"], "key": w["key"], "lines": [json.dumps({"loss": 0.125})],
                  "exit": {"exited": True, "exit_code": 0}}
        self.assertEqual(s.json("POST", "/api/v1/leases/%d/finish" % lease["lease"], finish)[0],
                         409)
        p = self.worker(s, "again")
        st = s.wait_state("rv", "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 1)
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            self.assertEqual(db.execute("SELECT outcome FROM leases WHERE id = ?",
                                        (lease["lease"],)).fetchone(), ("server restarted",))
        done = [t for t in self.trials(s, "rv") if t["state"] == "COMPLETE"]
        self.assertEqual(len(done), 1)
        self.assertNotEqual(int(re.search(r"registered as (\d+)", self.log_of(p)).group(1)), w["id"])

    def test_a_frozen_server_keeps_its_workers_leases(self):
        # the coordinator stopped for longer than the lease could not hear its
        # workers: their silence then is no sign that they died
        s = self.serve("--lease-timeout", str(LEASE))
        gate = os.path.join(self.tmp, "gate")
        s.json("POST", "/api/v1/studies", self.step_spec("fz", trials=2, parallel=2))
        w = self.worker(s, "w", "--slots", "2", env={"GATE": gate})
        wait_for("the worker to hold two trials", lambda: len(self.held(s, w.pid)) == 2)
        # the worker stopped too: no heartbeat of its waits in a socket to
        # refresh the leases as the server wakes; it is heard soon after
        os.kill(s.proc.pid, signal.SIGSTOP)
        os.kill(w.pid, signal.SIGSTOP)
        # the freeze itself, not a wait for a state: longer than the lease, so
        # that only the server's own gap keeps the leases; after it, the worker
        # has most of a lease (LEASE s) to be heard, however loaded the machine
        time.sleep(LEASE + 5)
        os.kill(s.proc.pid, signal.SIGCONT)
        os.kill(w.pid, signal.SIGCONT)
        with open(gate, "w"):
            pass
        st = s.wait_state("fz", "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 2)
        self.assertEqual([t["state"] for t in self.trials(s, "fz")], ["COMPLETE"] * 2)

    def test_pruning_and_stopping_reach_the_worker(self):
        curve = os.path.join(self.tmp, "curve.sh")
        with open(curve, "w") as f:   # loss = x + 1/step over 20 steps
            f.write("#!/bin/sh\ns=1\nwhile [ $s -le 20 ]; do\n"
                    "  awk -v x=\"$1\" -v s=\"$s\" 'BEGIN { printf \"{\\\"step\\\": %d, "
                    "\\\"loss\\\": %.6f}\\n\", s, x + 1 / s }' >&3\n  sleep 0.03\n"
                    "  s=$((s + 1))\ndone\n")
        s = self.serve()
        s.json("POST", "/api/v1/studies", {
            "name": "med", "objective": {"metric": "loss"},
            "space": {"x": {"type": "float", "low": 0, "high": 10,
                            "grid": [1, 2, 3, 9, 8, 0.5, 7]}},
            "strategy": {"name": "grid"},
            "pruner": {"name": "median", "options": {"warmup_steps": 2, "min_trials": 3}},
            "budget": {"max_trials": 7, "max_parallel": 1},
            "run": {"command": ["sh", curve, "{x}"], "kill_grace": 1}})
        first = self.worker(s, "w")
        s.wait_state("med", "COMPLETE", timeout=HANG)
        first.terminate()
        self.assertEqual(first.wait(timeout=HANG), 0)
        pruned = sorted(t["params"]["x"] for t in self.trials(s, "med") if t["state"] == "PRUNED")
        self.assertEqual(pruned, [7, 8, 9])

        # a stopped study ends its remote trials at once; they run again on resume
        gate = os.path.join(self.tmp, "gate")
        s.json("POST", "/api/v1/studies", self.step_spec("stop", trials=2, parallel=1))
        w = self.worker(s, "g", env={"GATE": gate})
        wait_for("the gated worker to hold a trial", lambda: self.held(s, w.pid))
        status, _ = s.json("POST", "/api/v1/studies/stop/stop")
        self.assertEqual(status, 202)
        s.wait_state("stop", "STOPPED")
        t = self.trials(s, "stop")[0]
        self.assertEqual(t["state"], "FAILED")
        self.assertIn("interrupted", t["failure"])
        with open(gate, "w"):
            pass
        wait_for("the worker to hear its lease is gone", lambda: "refused (409)" in self.log_of(w))
        s.json("POST", "/api/v1/studies/stop/resume")
        st = s.wait_state("stop", "COMPLETE", timeout=HANG)
        self.assertEqual(st["counts"]["complete"], 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
