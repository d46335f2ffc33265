#!/usr/bin/env python3
"""test_api: drives a real `kestrel serve` over HTTP (stdlib only).

Each test starts the binary ($KESTREL) on 127.0.0.1:0 with a temporary
database, reads the port it prints, and checks the API contract
(docs/openapi.yaml): studies, trials, paging, exports, stop/resume/delete,
errors, tokens, the event stream, static files, and resumption after a
kill -9 and after SIGTERM. Trials are short shell scripts and built-in test
functions, so the whole file runs in well under a minute.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

KESTREL = os.environ.get("KESTREL") or os.path.join(os.path.dirname(__file__), "..", "kestrel")

# A trial that reports `steps` intermediate losses `pause` seconds apart on
# fd 3, then its final loss x^2.
SLOW_SH = r"""#!/bin/sh
x=$1; steps=$2; pause=$3
i=1
while [ "$i" -le "$steps" ]; do
  echo "{\"step\": $i, \"loss\": $(awk -v x="$x" -v i="$i" 'BEGIN{printf "%.6f", x*x + 1/i}')}" >&3
  sleep "$pause"
  i=$((i + 1))
done
echo "{\"loss\": $(awk -v x="$x" 'BEGIN{printf "%.6f", x*x}')}" >&3
"""


def fn_spec(name, trials=20, parallel=4):
    return {"name": name, "objective": {"metric": "value", "direction": "minimize"},
            "space": {"x1": {"type": "float", "low": -5, "high": 10},
                      "x2": {"type": "float", "low": 0, "high": 15}},
            "strategy": {"name": "random", "seed": 1},
            "budget": {"max_trials": trials, "max_parallel": parallel},
            "run": {"function": "branin"}}


def answer_head(c):
    """What the server sent on socket c up to the end of an answer's
    headers (or until it closed)."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def answers_until_closed(port, raw):
    """Sends raw on a new connection to port and returns all the server
    sent until it closed the connection."""
    c = socket.create_connection(("127.0.0.1", port), timeout=120)   # a hang guard
    c.sendall(raw)
    got = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    c.close()
    return got


def trickle_until_closed(sock, chunk, deadline):
    """Sends chunk every half second until the server closes sock (True)
    or the monotonic deadline passes (False)."""
    while time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
            sock.settimeout(0.5)
            if sock.recv(1) == b"":
                return True
        except socket.timeout:
            pass
        except OSError:
            return True
    return False


class Server:
    """One `kestrel serve` process on a free loopback port."""

    def __init__(self, tmp, db, *args):
        self.tmp = tmp
        self.log = open(os.path.join(tmp, "serve-%d.log" % time.monotonic_ns()), "w+")
        self.proc = subprocess.Popen([KESTREL, "serve", "--db", db, "--listen", "127.0.0.1:0"]
                                     + list(args), stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://127.0.0.1:"):
            self.proc.kill()
            self.log.seek(0)
            raise AssertionError("serve did not start: %r %s" % (line, self.log.read()))
        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
        self.base = "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, token=None, headers=None):
        """(status, headers, bytes); HTTP errors are answers, not exceptions."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, token=None, headers=None):
        status, _, data = self.request(method, path, body, token, headers)
        return status, json.loads(data) if data else None

    def raw_get(self, path):
        """GET with the path sent exactly as given (no client normalization)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def wait_state(self, name, state, timeout=120):   # hang guards, not deadlines
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, s = self.json("GET", "/api/v1/studies/" + name)
            if status == 200 and s["state"] == state:
                return s
            time.sleep(0.1)
        raise AssertionError("study %s never became %s (last: %r)" % (name, state, s))

    def wait_log(self, pattern, timeout=120):
        """Waits for a line of the server's stderr matching pattern."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log.name) as f:
                if any(re.search(pattern, line) for line in f):
                    return
            if time.monotonic() > deadline:
                with open(self.log.name) as f:
                    raise AssertionError("no log line matches %r in:\n%s" % (pattern, f.read()))
            time.sleep(0.05)

    def wait_running(self, name, n=1, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, s = self.json("GET", "/api/v1/studies/" + name)
            if s and s["counts"]["running"] >= n:
                return s
            time.sleep(0.05)
        raise AssertionError("study %s never had %d running trials" % (name, n))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.proc.stdout.close()
            self.log.close()


class DeleteRace:
    """While its with block runs, `deleters` threads DELETE study name over
    and over; call() makes a request there too. A request (either's) whose
    status is not in allowed[method] goes to bad, and they stop; seen
    counts the answers by (method, status)."""

    def __init__(self, server, name, allowed, deleters=2):
        self.server, self.name, self.allowed = server, name, allowed
        self.seen, self.bad, self.done = {}, [], threading.Event()
        self.threads = [threading.Thread(target=self.delete) for _ in range(deleters)]

    def call(self, method, path, body=None):
        status, answer = self.server.json(method, path, body)
        self.seen[method, status] = self.seen.get((method, status), 0) + 1
        if status not in self.allowed[method]:
            self.bad.append((method, path, status, answer))
        return status, answer

    def delete(self):
        while not self.done.is_set() and not self.bad:
            self.call("DELETE", "/api/v1/studies/" + self.name)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for t in self.threads:
            t.join()


class ServerCase(unittest.TestCase):
    """A temporary folder with a database k.db and the trial script SCRIPT
    (slow.sh: SLOW_SH), and the servers a test starts on it, each stopped
    at its end with STOP_SIGNAL."""
    SCRIPT = ("slow.sh", SLOW_SH)
    STOP_SIGNAL = signal.SIGKILL

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kestrel-api-")
        self.db = os.path.join(self.tmp, "k.db")
        self.script = os.path.join(self.tmp, self.SCRIPT[0])
        with open(self.script, "w") as f:
            f.write(self.SCRIPT[1])
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop(self.STOP_SIGNAL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, *args, db=None):
        s = Server(self.tmp, db or self.db, *args)
        self.servers.append(s)
        return s


class ApiTest(ServerCase):

    def slow_spec(self, name, trials=6, parallel=2, steps=3, pause=0.15):
        return {"name": name, "objective": {"metric": "loss", "direction": "minimize"},
                "space": {"x": {"type": "float", "low": -2, "high": 2}},
                "strategy": {"name": "random", "seed": 3},
                "budget": {"max_trials": trials, "max_parallel": parallel},
                "run": {"command": ["sh", self.script, "{x}", str(steps), str(pause)]}}

    def test_health_metrics_static_and_paths(self):
        s = self.serve()
        self.assertEqual(s.json("GET", "/healthz"), (200, {"status": "ok"}))
        status, headers, body = s.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                     "/web/index.html", "/no-such-file.js"]:
            self.assertEqual(s.raw_get(path), 404, path)
        s.json("GET", "/api/v1/nope")
        status, headers, body = s.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        for needle in ['kestrel_trials{state="COMPLETE"}', "kestrel_running_trials ",
                       "kestrel_suggestions_total 0", 'kestrel_http_requests_total{code="200"}',
                       'kestrel_http_requests_total{code="404"}', 'kestrel_studies{state="RUNNING"}']:
            self.assertIn(needle, text)

    def test_healthz_reports_a_stalled_engine(self):
        # Another process holds the database's write lock: each write of the
        # engine waits for it (up to 5 s, then fails), so while the lock is
        # held and creations keep coming, the engine finishes no round.
        s = self.serve("--stall-after", "0.2")
        deadline = time.monotonic() + 60   # a loaded machine may be slow to start
        while s.json("GET", "/healthz") != (200, {"status": "ok"}):
            self.assertLess(time.monotonic(), deadline, "never healthy")
            time.sleep(0.05)
        db = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        db.execute("BEGIN IMMEDIATE")
        posts = []

        def post():
            posts.append(s.json("POST", "/api/v1/studies", fn_spec("blocked%d" % len(posts)))[0])
        try:
            worker = None
            deadline = time.monotonic() + 60
            while True:
                if worker is None or not worker.is_alive():
                    worker = threading.Thread(target=post)
                    worker.start()
                status, body = s.json("GET", "/healthz")
                if status == 503:
                    break
                self.assertLess(time.monotonic(), deadline, "never reported stalled")
                time.sleep(0.05)
            self.assertEqual(body["status"], "stalled")
            self.assertGreater(body["engine_idle_s"], 0.2)
        finally:
            db.execute("ROLLBACK")
            db.close()
        worker.join()
        deadline = time.monotonic() + 60
        while s.json("GET", "/healthz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "never healthy again")
            time.sleep(0.05)

    def test_request_errors(self):
        s = self.serve()
        status, e = s.json("GET", "/api/v1/nope")
        self.assertEqual((status, e["error"]["code"]), (404, "not_found"))
        status, headers, _ = s.request("PUT", "/api/v1/studies")
        self.assertEqual(status, 405)
        self.assertIn("POST", headers["Allow"])
        self.assertEqual(s.request("DELETE", "/api/v1/studies")[0], 405)
        # every method the path takes, HEAD with GET (it is served): Allow
        # listed "GET, POST" and "GET", which a client that reads it took
        # for HEAD refused
        for method, path, allow in (("PUT", "/api/v1/studies", "GET, HEAD, POST"),
                                    ("POST", "/api/v1/studies/x/trials", "GET, HEAD"),
                                    ("POST", "/api/v1/studies/x", "GET, HEAD, DELETE"),
                                    ("DELETE", "/api/v1/studies/x/note", "GET, HEAD, PUT"),
                                    ("GET", "/api/v1/studies/x/stop", "POST")):
            status, headers, _ = s.request(method, path, b"" if method != "DELETE" else None)
            self.assertEqual((status, headers["Allow"]), (405, allow), (method, path))
            listed = "HEAD" if "HEAD" in allow else "POST"
            self.assertNotEqual(s.request(listed, path, None if listed == "HEAD" else b"")[0], 405)
        # the dashboard's files take GET and HEAD only: 405, not 404 (they exist)
        for method, path in (("POST", "/"), ("DELETE", "/index.html"), ("PUT", "/dashboard.js")):
            status, headers, _ = s.request(method, path, b"" if method != "DELETE" else None)
            self.assertEqual((status, headers["Allow"]), (405, "GET, HEAD"), (method, path))
        self.assertEqual(s.request("POST", "/no-such-file.js", b"")[0], 404)
        self.assertEqual(s.request("HEAD", "/style.css")[0], 200)
        # a body over 1 MiB is refused from its Content-Length, before it is
        # sent (sending it would race the server's early answer and close)
        c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        c.sendall(b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % (1024 * 1024 + 10))
        self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 413"))
        c.close()
        status, e = s.json("POST", "/api/v1/studies", b'{"name": "x", ')
        self.assertEqual((status, e["error"]["code"]), (400, "invalid"))
        # a body far larger than a connection's memory is read whole (it is
        # copied out as it arrives): the error is at its end
        status, e = s.json("POST", "/api/v1/studies",
                           b'{"name": "x", "pad": "' + b"p" * 600000 + b'", ')
        self.assertEqual((status, e["error"]["code"]), (400, "invalid"))
        # request headers up to 6 KB in all are served, but a Cookie line
        # only up to about 3.9 KB (a browser sends every cookie of the host,
        # any port's, in one Cookie line, which libmicrohttpd parses into
        # the connection's memory): more gets 431, not a hang; the docs
        # said a browser's 6 KB of cookies were served, then that any
        # header line of 3.9 KB was refused
        self.assertEqual(s.request("GET", "/healthz", headers={"Cookie": "c=" + "x" * 3000})[0], 200)
        lines = {"X-Pad-%d" % i: "y" * 1000 for i in range(5)}
        self.assertEqual(s.request("GET", "/healthz", headers=lines)[0], 200)
        for name in ("X-Pad", "User-Agent", "Authorization"):
            self.assertEqual(s.request("GET", "/healthz", headers={name: "z" * 5500})[0], 200, name)
        self.assertEqual(s.request("GET", "/healthz", headers={"Cookie": "c=" + "x" * 4500})[0], 431)
        self.assertEqual(s.request("GET", "/healthz", headers={"Cookie": "c=" + "x" * 6000})[0], 431)
        # the query counts in the 6 KB: MHD hands the path without it, and
        # a 7 KB ?state= was read (400 for its value) where a 7 KB path or
        # header got 431; with 3.5 KB of headers a 3 KB query was served
        trials = "/api/v1/studies/none/trials?state="
        for query, headers in (("C" * 6500, {}), ("C" * 7300, {}),
                               ("C" * 3000, {"X-Pad": "y" * 3500})):
            status, e = s.json("GET", trials + query, headers=headers)
            self.assertEqual(status, 431, (len(query), e))
            self.assertIn("its query included", e["error"]["message"])
        status, e = s.json("GET", trials + "C" * 5000)
        self.assertEqual((status, e["error"]["path"]), (400, "state"))
        bad = fn_spec("bad")
        bad["space"]["x1"]["low"] = 20
        status, e = s.json("POST", "/api/v1/studies", bad)
        self.assertEqual(status, 400)
        self.assertTrue(e["error"]["path"].startswith("space.x1"), e)
        status, e = s.json("GET", "/api/v1/studies/none/trials?limit=abc")
        self.assertEqual((status, e["error"]["path"]), (400, "limit"))

    def test_a_state_filter_takes_the_stored_names_only(self):
        # ?state=running and --state running were taken as RUNNING, where
        # every state the API and CLI show, and every other value they take
        # (sort, format), is exact: one spelling, refused naming the field.
        s = self.serve()
        s.json("POST", "/api/v1/studies", fn_spec("st", trials=2, parallel=1))
        s.wait_state("st", "COMPLETE")
        for bad in ("running", "Complete", "complete ", ""):
            status, e = s.json("GET", "/api/v1/studies/st/trials?state=" + bad.replace(" ", "%20"))
            self.assertEqual((status, e["error"]["path"]), (400, "state"), bad)
            self.assertIn("expected RUNNING, COMPLETE, PRUNED or FAILED, not '%s'" % bad,
                          e["error"]["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies/st/trials?state=COMPLETE")[1]["total"], 2)
        s.stop()
        for bad in ("running", "Complete"):
            p = subprocess.run([KESTREL, "trials", "--db", self.db, "st", "--state", bad],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--state: expected RUNNING, COMPLETE, PRUNED or FAILED, not '%s'" % bad,
                          p.stderr)
        p = subprocess.run([KESTREL, "trials", "--db", self.db, "st", "--state", "COMPLETE",
                            "--format", "json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(len(json.loads(p.stdout)), 2)

    def test_study_lifecycle_queries_and_exports(self):
        s = self.serve()
        spec = fn_spec("fn", trials=20)
        status, st = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 201)
        self.assertEqual((st["name"], st["params"], st["max_trials"]), ("fn", ["x1", "x2"], 20))
        s.wait_state("fn", "COMPLETE")
        # same spec, complete: nothing left to run, 409 as its resume
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 409)
        other = fn_spec("fn")
        other["strategy"]["seed"] = 2      # not a budget change: refused
        status, e = s.json("POST", "/api/v1/studies", other)
        self.assertEqual((status, e["error"]["code"]), (409, "conflict"))
        status, lst = s.json("GET", "/api/v1/studies")
        self.assertEqual([x["name"] for x in lst["studies"]], ["fn"])
        status, show = s.json("GET", "/api/v1/studies/fn")
        self.assertEqual((status, show["spec"]["budget"]["max_trials"]), (200, 20))
        self.assertEqual((show["counts"]["complete"], show["counts"]["configs"]), (20, 20))

        status, page = s.json("GET", "/api/v1/studies/fn/trials?offset=5&limit=5")
        self.assertEqual([t["number"] for t in page["trials"]], [5, 6, 7, 8, 9])
        self.assertEqual((page["total"], page["offset"], page["limit"]), (20, 5, 5))
        self.assertEqual(set(page["trials"][0]["params"]), {"x1", "x2"})
        status, page = s.json("GET", "/api/v1/studies/fn/trials?state=FAILED")
        self.assertEqual((page["total"], page["trials"]), (0, []))
        status, page = s.json("GET", "/api/v1/studies/fn/trials?sort=best&limit=10000")
        values = [t["value"] for t in page["trials"]]
        self.assertEqual((len(values), values, page["total"]), (20, sorted(values), 20))
        status, best = s.json("GET", "/api/v1/studies/fn/best")
        self.assertEqual((status, best["value"]), (200, values[0]))
        self.assertEqual(show["best"]["value"], values[0])

        status, t = s.json("GET", "/api/v1/studies/fn/trials/3")
        self.assertEqual((status, t["number"], t["state"]), (200, 3, "COMPLETE"))
        self.assertEqual(t["metrics"]["value"], t["value"])
        for key in ("values", "stdout_tail", "stderr_tail", "duration", "worker", "retry_of"):
            self.assertIn(key, t)
        self.assertEqual(s.json("GET", "/api/v1/studies/fn/trials/999")[0], 404)
        self.assertEqual(s.json("GET", "/api/v1/studies/nope/trials/1")[0], 404)

        status, curves = s.json("GET", "/api/v1/studies/fn/curves?limit=7&offset=2")
        self.assertEqual((status, curves["total"], len(curves["curves"])), (200, 20, 7))
        self.assertEqual(curves["curves"][0]["number"], 2)

        status, headers, body = s.request("GET", "/api/v1/studies/fn/export.csv")
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        lines = body.decode().splitlines()
        self.assertEqual(lines[0].split(",")[:5], ["number", "state", "value", "x1", "x2"])
        self.assertEqual(len(lines), 21)
        status, headers, body = s.request("GET", "/api/v1/studies/fn/export.json")
        rows = json.loads(body)
        self.assertEqual(([r["number"] for r in rows], status), (list(range(20)), 200))

        folders = os.path.join(self.db + ".trials", "fn")
        self.assertTrue(os.path.isdir(os.path.join(folders, "0")))
        self.assertEqual(s.request("DELETE", "/api/v1/studies/fn")[0], 204)
        self.assertEqual(s.json("GET", "/api/v1/studies/fn")[0], 404)
        self.assertFalse(os.path.exists(folders), "a deleted study's trial folders are removed")
        self.assertEqual(s.request("DELETE", "/api/v1/studies/fn")[0], 404)

    def test_cached_reads_follow_every_write(self):
        # best and trial pages are answered from a cache while the study's
        # trials stay as they were: a write by another process, and a study
        # deleted and made again under the same name (same id), must show.
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("c", trials=5))[0], 201)
        s.wait_state("c", "COMPLETE")
        page_path = "/api/v1/studies/c/trials?sort=best&limit=100"
        first = [s.json("GET", "/api/v1/studies/c/best")[1] for _ in range(2)]
        pages = [s.json("GET", page_path)[1] for _ in range(2)]
        self.assertEqual((first[0], pages[0]), (first[1], pages[1]))
        worst = pages[0]["trials"][-1]["number"]
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE trials SET value = -100 WHERE number = ? AND study_id = "
                       "(SELECT id FROM studies WHERE name = 'c')", (worst,))
            db.execute("UPDATE trials SET state = 'FAILED', value = NULL WHERE number = ? AND "
                       "study_id = (SELECT id FROM studies WHERE name = 'c')", (first[0]["number"],))
        db.close()
        status, best = s.json("GET", "/api/v1/studies/c/best")
        self.assertEqual((status, best["number"], best["value"]), (200, worst, -100))
        page = s.json("GET", page_path)[1]
        self.assertEqual(page["trials"][0]["number"], worst)
        self.assertEqual(s.json("GET", "/api/v1/studies/c/trials?state=FAILED")[1]["total"], 1)
        counts = s.json("GET", "/api/v1/studies/c")[1]["counts"]
        self.assertEqual((counts["complete"], counts["failed"], counts["total"]), (4, 1, 5))

        self.assertEqual(s.request("DELETE", "/api/v1/studies/c")[0], 204)
        self.assertEqual(s.json("GET", "/api/v1/studies/c/best")[0], 404)
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("c", trials=3))[0], 201)
        s.wait_state("c", "COMPLETE")
        page = s.json("GET", page_path)[1]
        self.assertEqual((page["total"], len(page["trials"])), (3, 3))
        self.assertEqual(s.json("GET", "/api/v1/studies/c/best")[1]["value"], page["trials"][0]["value"])

    def test_cached_best_follows_a_new_direction(self):
        # `kestrel run --force` with the objective's direction turned
        # changes no trial, only the order best and sort=best follow: their
        # kept answers must not outlive it
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("d", trials=5))[0], 201)
        s.wait_state("d", "COMPLETE")
        page_path = "/api/v1/studies/d/trials?sort=best&limit=5"
        before = s.json("GET", page_path)[1]["trials"]
        self.assertEqual(s.json("GET", "/api/v1/studies/d/best")[1]["number"], before[0]["number"])
        spec = fn_spec("d", trials=5)
        spec["objective"]["direction"] = "maximize"
        path = os.path.join(self.tmp, "d.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        subprocess.run([KESTREL, "run", path, "--db", self.db, "--force", "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        study = s.json("GET", "/api/v1/studies/d")[1]
        self.assertEqual((study["direction"], study["counts"]["total"]), ("maximize", 5))
        after = s.json("GET", page_path)[1]["trials"]
        self.assertEqual([t["number"] for t in after], [t["number"] for t in reversed(before)])
        best = s.json("GET", "/api/v1/studies/d/best")[1]
        self.assertEqual((best["number"], study["best"]["number"]), (after[0]["number"],) * 2)

    def page_across_growth(self, s, spec, path, key):
        """The page at path (offset 0, limit 3; key names its array) of
        spec's study of 4 finished trials, checked to read the same once the
        study has grown to 6, but for its total."""
        first = s.json("GET", path)[1]
        self.assertEqual(([t["number"] for t in first[key]], first["total"]), ([0, 1, 2], 4))
        spec["budget"]["max_trials"] = 6
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 200)
        s.wait_state(spec["name"], "COMPLETE")
        grown = s.json("GET", path)[1]
        self.assertEqual((grown[key], grown["total"], grown["offset"], grown["limit"]),
                         (first[key], 6, 0, 3))
        return first

    def test_full_pages_of_finished_trials_are_kept_while_the_study_grows(self):
        # a full page of finished trials by number is kept across the
        # study's own writes (new trials only take later numbers), with its
        # total current; an edit by hand of a finished trial, a delete and an
        # insert below the last number still show
        s = self.serve()
        spec = fn_spec("g", trials=4)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("g", "COMPLETE")
        partial = s.json("GET", "/api/v1/studies/g/trials?sort=number&offset=2&limit=3")[1]
        self.assertEqual([t["number"] for t in partial["trials"]], [2, 3])
        path = "/api/v1/studies/g/trials?sort=number&limit=3"
        first = self.page_across_growth(s, spec, path, "trials")
        partial = s.json("GET", "/api/v1/studies/g/trials?sort=number&offset=2&limit=3")[1]
        self.assertEqual([t["number"] for t in partial["trials"]], [2, 3, 4])
        # (edit, the page's numbers after it, its first trial's value)
        edits = [("UPDATE trials SET value = -7 WHERE number = 0 AND study_id = ?", [0, 1, 2], -7),
                 ("DELETE FROM trials WHERE number = 0 AND study_id = ?", [1, 2, 3],
                  first["trials"][1]["value"]),
                 ("INSERT INTO trials (study_id, number, state, value, started_at, finished_at) "
                  "VALUES (?, 0, 'COMPLETE', 5, 1, 2)", [0, 1, 2], 5)]
        for sql, numbers, value in edits:
            with sqlite3.connect(self.db) as db:
                db.execute(sql, (db.execute("SELECT id FROM studies WHERE name = 'g'").fetchone()[0],))
            db.close()
            page = s.json("GET", path)[1]
            self.assertEqual(([t["number"] for t in page["trials"]], page["trials"][0]["value"]),
                             (numbers, value), sql)

    def test_trials_as_columns_are_the_objects_transposed(self):
        # ?format=columns answers the page's trials as one array per field
        # with the objects' values, for any filter and sort; a full page of
        # finished trials is kept as the objects' is while the study grows;
        # a parameter a trial lacks is null in its column
        s = self.serve()
        spec = fn_spec("col", trials=4)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("col", "COMPLETE")
        path = "/api/v1/studies/col/trials?"

        def same(query):
            objects = s.json("GET", path + query)[1]
            status, page = s.json("GET", path + query + "&format=columns")
            self.assertEqual((status, page["total"], page["offset"], page["limit"]),
                             (200, objects["total"], objects["offset"], objects["limit"]), query)
            cols = page["columns"]
            names = sorted({p for t in objects["trials"] for p in t["params"]})
            self.assertEqual(sorted(cols["params"]), names, query)
            rows = []
            for i in range(len(cols["number"])):
                t = {k: c[i] for k, c in cols.items() if k != "params"}
                t["params"] = {p: c[i] for p, c in cols["params"].items() if c[i] is not None}
                rows.append(t)
            self.assertEqual(rows, objects["trials"], query)
            lengths = [len(c) for k, c in cols.items() if k != "params"] + [len(c) for c in cols["params"].values()]
            self.assertEqual(set(lengths) - {len(rows)}, set(), query)
            return page

        for query in ["sort=number&limit=3", "sort=number&offset=2&limit=3",
                      "state=COMPLETE&sort=best&limit=10", "sort=number&offset=9"]:
            same(query)
        empty = same("sort=number&offset=9")["columns"]
        self.assertEqual(set(empty), set(s.json("GET", path + "limit=1")[1]["trials"][0]))
        self.assertEqual(set(empty) - {"params"}, {k for k, c in empty.items() if c == []})
        first = same("sort=number&limit=3")
        spec["budget"]["max_trials"] = 6
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 200)
        s.wait_state("col", "COMPLETE")
        grown = same("sort=number&limit=3")
        self.assertEqual((grown["columns"], grown["total"]), (first["columns"], 6))
        with sqlite3.connect(self.db) as db:
            db.execute("INSERT INTO trials (study_id, number, state, value, started_at, finished_at) "
                       "SELECT id, 6, 'COMPLETE', 5, 1, 2 FROM studies WHERE name = 'col'")
        db.close()
        cols = same("sort=number&offset=5&limit=3")["columns"]
        self.assertEqual((cols["number"], cols["params"]["x1"][1]), ([5, 6], None))
        # and between trials that have it: each value stays in its trial's row
        spec["budget"]["max_trials"] = 9
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 200)
        s.wait_state("col", "COMPLETE")
        cols = same("sort=number&offset=5&limit=3")["columns"]
        self.assertEqual(cols["number"], [5, 6, 7])
        self.assertEqual([v is None for v in cols["params"]["x1"]], [False, True, False])
        status, err = s.json("GET", path + "format=rows")
        self.assertEqual((status, err["error"]["path"]), (400, "format"))

    def test_full_pages_of_finished_curves_are_kept_while_the_study_grows(self):
        # a full page of finished trials' curves is kept as their trials'
        # page is, with its total current; an edit by hand of a finished
        # trial's reports (update, delete, insert: sql/010) still shows
        s = self.serve()
        spec = self.slow_spec("gc", trials=4, steps=3, pause=0)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("gc", "COMPLETE")
        path = "/api/v1/studies/gc/curves?offset=0&limit=3"
        first = self.page_across_growth(s, spec, path, "curves")
        self.assertEqual([c["steps"] for c in first["curves"]], [[1, 2, 3]] * 3)
        trial0 = ("(SELECT t.id FROM trials t JOIN studies s ON s.id = t.study_id "
                  "WHERE s.name = 'gc' AND t.number = 0)")
        # (edit, trial 0's steps and first value after it)
        edits = [("UPDATE trial_values SET value = -7 WHERE step = 1 AND trial_id = " + trial0,
                  [1, 2, 3], -7),
                 ("DELETE FROM trial_values WHERE step = 3 AND trial_id = " + trial0, [1, 2], -7),
                 ("INSERT INTO trial_values (trial_id, step, name, value) SELECT %s, 9, 'loss', 5"
                  % trial0, [1, 2, 9], -7)]
        for sql, steps, value in edits:
            with sqlite3.connect(self.db) as db:
                db.execute(sql)
            db.close()
            curve = s.json("GET", path)[1]["curves"][0]
            self.assertEqual((curve["steps"], curve["values"][0]), (steps, value), sql)

    def test_an_export_whose_study_is_deleted_meanwhile_is_cut_not_ended(self):
        # The export's 200 goes out before its rows are read, a page of 256
        # at a time: a study deleted while a client read its export had the
        # pages after the DELETE come back empty, and the CSV ended cleanly
        # and the JSON closed with ']' after the rows read so far, an export
        # a client could not tell from a whole one. The rows are those of
        # a study deleted meanwhile: the chunked answer is cut (no last
        # chunk), which every HTTP client reports.
        s = self.serve()
        n = 300
        for ext in ("csv", "json"):
            name = "gone" + ext
            spec = fn_spec(name, trials=n, parallel=8)
            # rows of 20 kB: 6 MB, more than the server's pipe and socket
            # buffers hold (at most 4 MB: tcp_wmem) while the client waits;
            # few trials, wide rows, so a loaded machine runs them in time
            for i in range(20):
                spec["space"]["pad%d" % i] = {"type": "categorical", "choices": ["p" * 1000]}
            self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
            s.wait_state(name, "COMPLETE", timeout=900)
            sock = socket.create_connection(("127.0.0.1", s.port))
            # a small window: the server cannot send far ahead of what is read
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            c.sock = sock
            c.request("GET", "/api/v1/studies/%s/export.%s" % (name, ext))
            r = c.getresponse()
            self.assertEqual(r.status, 200, ext)
            body = r.read(1024)
            self.assertEqual(s.json("DELETE", "/api/v1/studies/" + name)[0], 204, ext)
            try:
                body += r.read()
                cut = False
            except http.client.IncompleteRead as e:
                body += e.partial
                cut = True
            c.close()
            rows = (len(body.decode().splitlines()) - 1 if ext == "csv"
                    else len(json.loads(body)) if not cut else None)
            self.assertTrue(cut or rows == n, "%s: %d bytes, %s rows of %d, not cut"
                            % (ext, len(body), rows, n))
            self.assertTrue(cut, "%s: the export was read whole before the DELETE" % ext)

    def csv_of_study_run(self, s, spec):
        """The lines of the CSV export of study spec, run to its end, once
        checked to be the CLI's CSV byte for byte."""
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state(spec["name"], "COMPLETE")
        status, _, body = s.request("GET", "/api/v1/studies/%s/export.csv" % spec["name"])
        cli = subprocess.run([KESTREL, "trials", spec["name"], "--db", self.db, "--format", "csv"],
                             capture_output=True, check=True).stdout
        self.assertEqual((status, body.decode()), (200, cli.decode()))
        return body.decode().splitlines()

    def test_exports_and_cli_listing_carry_final_metrics_alike(self):
        # final metrics besides the objective become columns (a parameter's
        # or a fixed column's name gets "metric_", a parameter named as a
        # fixed column "param_": a CSV reader keyed by name read a parameter
        # called value as the objective), the CLI's CSV is the export's byte
        # for byte, and numbers take their shortest exact form
        s = self.serve()
        spec = {"name": "mx", "objective": {"metric": "loss"},
                "space": {"x": {"type": "float", "low": 0, "high": 1},
                          "value": {"type": "categorical", "choices": ["v"]}},
                "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 3},
                "run": {"command": "echo '{{\"loss\": {x}, \"test_accuracy\": 0.1, \"x\": 0.7, "
                                   "\"duration\": 9}}'"}}
        lines = self.csv_of_study_run(s, spec)
        self.assertEqual(lines[0].split(","), [
            "number", "state", "value", "x", "param_value", "metric_duration", "test_accuracy",
            "metric_x", "started_at", "finished_at", "duration", "last_step", "budget",
            "resumed_from", "retry_of", "enqueued", "worker", "failure"])
        for line in lines[1:]:
            self.assertEqual(line.split(",")[4:8], ["v", "9", "0.1", "0.7"])
        rows = json.loads(s.request("GET", "/api/v1/studies/mx/export.json")[2])
        self.assertEqual(rows[0]["metrics"], {"loss": rows[0]["value"], "test_accuracy": 0.1,
                                              "x": 0.7, "duration": 9})
        table = subprocess.run([KESTREL, "trials", "mx", "--db", self.db], capture_output=True,
                               check=True, text=True).stdout.splitlines()
        self.assertEqual(table[0].split(), ["number", "state", "value", "x", "param_value",
                                            "metric_duration", "test_accuracy", "metric_x",
                                            "duration", "last_step", "budget", "resumed_from",
                                            "retry_of", "enqueued", "failure"])

    def test_csv_columns_differ_when_a_label_is_a_name_too(self):
        # Parameters param_value and value made two columns "param_value"
        # (the second's label, param_ + value, was the first's name), and
        # metrics metric_x and x beside a parameter x two "metric_x": pandas
        # renamed one "param_value.1", csv.DictReader kept only the last,
        # where docs/openapi.yaml says every column's name differs. A label
        # now takes its prefix again while the name is taken.
        s = self.serve()
        spec = {"name": "clash", "objective": {"metric": "loss"},
                "space": {"param_value": {"type": "float", "low": 0, "high": 1},
                          "value": {"type": "categorical", "choices": ["v"]},
                          "x": {"type": "categorical", "choices": ["c"]}},
                "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 2},
                "run": {"command": "echo '{{\"loss\": 1, \"metric_x\": 2, \"x\": 3}}'"}}
        lines = self.csv_of_study_run(s, spec)
        head = lines[0].split(",")
        self.assertEqual(head[:8], ["number", "state", "value", "param_value",
                                    "param_param_value", "x", "metric_x", "metric_metric_x"])
        self.assertEqual(len(set(head)), len(head), head)
        self.assertEqual(lines[1].split(",")[4:8], ["v", "c", "2", "3"])

    def test_output_that_is_not_utf8(self):
        # A trial's stderr with a Latin-1 byte: stored as U+FFFD, and every
        # read (list, detail, export, events) still carries every trial.
        s = self.serve()
        spec = {"name": "latin1", "objective": {"metric": "loss"},
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 5},
                "run": {"command": "printf 'caf\\351\\n' >&2; exit 1"}}
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("latin1", "FAILED")   # every trial failed: fail fast says FAILED
        status, page = s.json("GET", "/api/v1/studies/latin1/trials")
        self.assertEqual((status, len(page["trials"]), page["total"]), (200, 5, 5))
        self.assertEqual(page["trials"][0]["failure"], "exit code 1: caf\ufffd")
        status, t = s.json("GET", "/api/v1/studies/latin1/trials/2")
        self.assertEqual((status, t["stderr_tail"]), (200, "caf\ufffd\n"))
        status, _, body = s.request("GET", "/api/v1/studies/latin1/export.json")
        rows = json.loads(body)
        self.assertEqual([r["number"] for r in rows], list(range(5)))
        # a history written before: the bytes are in the database as they came
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("UPDATE trials SET failure = CAST(X'6F6C64E9' AS TEXT) WHERE number = 4")
        db.close()
        status, t = s.json("GET", "/api/v1/studies/latin1/trials/4")
        self.assertEqual((status, t["failure"]), (200, "old\ufffd"))
        status, page = s.json("GET", "/api/v1/studies/latin1/trials")
        self.assertEqual((len(page["trials"]), page["trials"][4]["failure"]), (5, "old\ufffd"))
        p = subprocess.run([KESTREL, "trials", "latin1", "--db", self.db, "--format", "json"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = json.loads(p.stdout.decode("utf-8"))
        self.assertEqual(rows[4]["failure"], "old\ufffd")
        p = subprocess.run([KESTREL, "trial", "latin1", "4", "--db", self.db],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout.decode("utf-8"))["failure"], "old\ufffd")

    def test_progress_counts_configurations_of_a_hyperband_study(self):
        # R = 9, eta = 3: 17 configurations plus 5 promotions; progress is
        # configs / max_trials, total counts the promotions too.
        s = self.serve()
        spec = {"name": "hb", "objective": {"metric": "val_loss"},
                "space": {"lr": {"type": "float", "low": 0.0005, "high": 0.2, "log": True}},
                "strategy": {"name": "hyperband", "seed": 3, "options": {"max_resource": 9}},
                "budget": {"max_trials": 17, "max_parallel": 2, "trial_timeout": 60},
                "run": {"trainer": {"data": "synthetic-classification",
                                    "synthetic_samples": 200, "hidden": [8], "epochs": 9}}}
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("hb", "COMPLETE", timeout=120)
        status, st = s.json("GET", "/api/v1/studies/hb")
        self.assertEqual((st["counts"]["configs"], st["counts"]["total"], st["max_trials"]),
                         (17, 22, 17))
        status, lst = s.json("GET", "/api/v1/studies")
        self.assertEqual(lst["studies"][0]["counts"]["configs"], 17)

    def test_stop_resume_delete_running(self):
        s = self.serve()
        status, _ = s.json("POST", "/api/v1/studies", self.slow_spec("slow", trials=6, pause=0.3))
        self.assertEqual(status, 201)
        self.assertEqual(s.json("GET", "/api/v1/studies/slow/best")[0], 404)
        s.wait_running("slow", 2)
        # a larger budget for a running study: 409 saying how to give it
        status, e = s.json("POST", "/api/v1/studies", self.slow_spec("slow", trials=8, pause=0.3))
        self.assertEqual(status, 409)
        self.assertIn("to change its budget, stop it", e["error"]["message"])
        status, st = s.json("POST", "/api/v1/studies/slow/stop")
        self.assertEqual((status, st["state"], st["counts"]["running"]), (202, "STOPPED", 0))
        self.assertEqual(s.json("GET", "/api/v1/studies/slow/trials?state=RUNNING")[1]["total"], 0)
        status, page = s.json("GET", "/api/v1/studies/slow/trials?state=FAILED")
        self.assertTrue(all(t["failure"].startswith("interrupted") for t in page["trials"]))
        self.assertEqual(s.json("POST", "/api/v1/studies/slow/stop")[0], 409)
        status, st = s.json("POST", "/api/v1/studies/slow/resume")
        self.assertEqual((status, st["state"]), (202, "RUNNING"))
        self.assertEqual(s.json("POST", "/api/v1/studies/slow/resume")[0], 409)
        st = s.wait_state("slow", "COMPLETE")
        self.assertEqual(st["counts"]["complete"], 6)
        self.assertEqual(s.json("POST", "/api/v1/studies/nope/resume")[0], 404)

        s.json("POST", "/api/v1/studies", self.slow_spec("doomed", pause=0.5))
        s.wait_running("doomed", 1)
        self.assertEqual(s.request("DELETE", "/api/v1/studies/doomed")[0], 204)
        self.assertEqual(s.json("GET", "/api/v1/studies/doomed")[0], 404)
        self.assertFalse(os.path.exists(os.path.join(self.db + ".trials", "doomed")))

    def test_create_racing_delete(self):
        # A DELETE may land between the engine creating a study and the POST
        # reading it back: that POST must say 409 (deleted meanwhile), never
        # 404. Deleters hammer the name while a poster recreates it, so the
        # window is hit often; only the answers are checked, not how often.
        s = self.serve()
        allowed = {"POST": {200, 201, 409}, "DELETE": {204, 404, 409}}
        with DeleteRace(s, "race", allowed, deleters=3) as race:
            for _ in range(600):
                if race.bad:
                    break
                race.call("POST", "/api/v1/studies", fn_spec("race", trials=2, parallel=1))
        self.assertEqual(race.bad, [], "answers seen: %r" % race.seen)

    def test_start_reclaims_trials_of_ended_studies(self):
        # what a storage error in mid-run leaves: the study FAILED (so it is
        # not resumed) with a trial still RUNNING; the next start ends it
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("ended", trials=3))[0], 201)
        s.wait_state("ended", "COMPLETE")
        s.stop()
        db = sqlite3.connect(self.db)
        db.execute("UPDATE studies SET state = 'FAILED' WHERE name = 'ended'")
        db.execute("UPDATE trials SET state = 'RUNNING', finished_at = NULL, value = NULL "
                   "WHERE number = 1")
        db.commit()
        db.close()
        s = self.serve()
        deadline = time.monotonic() + 60     # a hang guard on a loaded machine
        while time.monotonic() < deadline:   # the reclaim may follow the listening line
            status, t = s.json("GET", "/api/v1/studies/ended/trials/1")
            if t["state"] != "RUNNING":
                break
            time.sleep(0.05)
        self.assertEqual((status, t["state"], t["failure"]),
                         (200, "FAILED", "interrupted: the kestrel process running it died"))
        st = s.json("GET", "/api/v1/studies/ended")[1]
        self.assertEqual((st["state"], st["counts"]["running"], st["counts"]["complete"]),
                         ("FAILED", 0, 2))

    def test_resume_of_a_spec_that_no_longer_parses_says_why(self):
        # A study stored before a bound was added (sobol's skip): its resume
        # fails naming the stored spec's own error, field and reason.
        s = self.serve()
        spec = fn_spec("old", trials=1, parallel=1)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("old", "COMPLETE")
        spec["strategy"] = {"name": "sobol", "options": {"skip": 10 ** 12}}
        db = sqlite3.connect(self.db, isolation_level=None)
        # stopped, so it has something to resume (a COMPLETE study answers 409)
        db.execute("UPDATE studies SET spec = ?, state = 'STOPPED' WHERE name = 'old'",
                   (json.dumps(spec),))
        db.close()
        status, e = s.json("POST", "/api/v1/studies/old/resume")
        self.assertEqual((status, e["error"]["path"]), (500, "strategy.options.skip"))
        self.assertEqual(e["error"]["message"], "stored spec of study 'old' does not parse: "
                         "must be an integer from 0 to 1048576")

    def test_resume_retries_failed_trials(self):
        # trials fail while the flag file exists; a plain resume of the
        # finished study re-runs nothing, resume?retry_failed=true re-runs
        # every FAILED trial once, keeping its parameters
        s = self.serve()
        flag = os.path.join(self.tmp, "fail.flag")
        open(flag, "w").close()
        spec = {"name": "flaky", "objective": {"metric": "loss"},
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "strategy": {"name": "random", "seed": 5},
                "budget": {"max_trials": 4, "max_parallel": 2},
                "run": {"command": "test -e '%s' && exit 7; echo '{{\"loss\": {x}}}'" % flag}}
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        # every trial failed: the study is FAILED, never COMPLETE, and says why
        st = s.wait_state("flaky", "FAILED")
        self.assertEqual((st["counts"]["failed"], st["counts"]["complete"]), (4, 0))
        self.assertEqual(st["state_reason"], "no trial completed; the last failure: exit code 7")
        os.unlink(flag)
        status, e = s.json("POST", "/api/v1/studies/flaky/resume?retry_failed=maybe")
        self.assertEqual((status, e["error"]["path"]), (400, "retry_failed"))
        # a plain resume would run nothing (the budget spent, no retries left)
        self.assertEqual(s.json("POST", "/api/v1/studies/flaky/resume?retry_failed=false")[0], 409)
        st = s.json("GET", "/api/v1/studies/flaky")[1]
        self.assertEqual((st["state"], st["counts"]["total"], st["counts"]["complete"]),
                         ("FAILED", 4, 0))
        status, st = s.json("POST", "/api/v1/studies/flaky/resume?retry_failed=true")
        self.assertEqual(status, 202)
        st = s.wait_state("flaky", "COMPLETE")
        self.assertEqual((st["counts"]["total"], st["counts"]["complete"], st["counts"]["failed"]),
                         (8, 4, 4))
        trials = s.json("GET", "/api/v1/studies/flaky/trials?limit=100")[1]["trials"]
        by_number = {t["number"]: t for t in trials}
        retries = [t for t in trials if t["retry_of"] is not None]
        self.assertEqual(sorted(t["retry_of"] for t in retries), [0, 1, 2, 3])
        for t in retries:
            self.assertEqual((t["state"], t["params"]), ("COMPLETE", by_number[t["retry_of"]]["params"]))
        # the server's log says it all, with timestamps: studies starting and
        # ending, failed trials and why, one line per request
        ts = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
        s.wait_log(ts + r"study flaky: RUNNING, 0 trials")
        s.wait_log(ts + r"study flaky: trial \d FAILED: exit code 7$")
        s.wait_log(ts + r"study flaky: FAILED, 4 trials \(0 complete, 0 pruned, 4 failed, "
                   r"0 interrupted\): no trial completed; the last failure: exit code 7$")
        s.wait_log(ts + r"127\.0\.0\.1 POST /api/v1/studies/flaky/resume 202$")
        s.wait_log(ts + r"study flaky: COMPLETE, 8 trials \(4 complete, 0 pruned, 4 failed, "
                   r"0 interrupted\), best [0-9.e-]+ at trial \d$")

    def read_events(self, s, query, want, headers=None, timeout=120):
        """Events as (id, type, data) until every type in want was seen."""
        req = urllib.request.Request(s.base + "/api/v1/events" + query, headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/event-stream"))
            return self.parse_events(r, want, timeout)

    def parse_events(self, r, want, timeout=120):
        """Events of stream r as (id, type, data) until every type in want was seen."""
        events, seen, ev = [], set(), {}
        deadline = time.monotonic() + timeout
        while not want <= seen and time.monotonic() < deadline:
            line = r.readline().decode().rstrip("\n")
            if line.startswith("id: "):
                ev["id"] = int(line[4:])
            elif line.startswith("event: "):
                ev["type"] = line[7:]
            elif line.startswith("data: "):
                ev["data"] = json.loads(line[6:])
            elif line == "" and "id" in ev:
                events.append((ev["id"], ev["type"], ev["data"]))
                seen.add(ev["type"])
                ev = {}
        self.assertTrue(want <= seen, "saw only %s" % seen)
        return events

    def wait_event(self, s, query, match, timeout=120):
        """Reads the event stream until match(type, data) holds."""
        req = urllib.request.Request(s.base + "/api/v1/events" + query)
        deadline = time.monotonic() + timeout
        ev = {}
        with urllib.request.urlopen(req, timeout=timeout) as r:
            while time.monotonic() < deadline:
                line = r.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    ev["type"] = line[7:]
                elif line.startswith("data: "):
                    ev["data"] = json.loads(line[6:])
                elif line == "" and "type" in ev:
                    if match(ev["type"], ev["data"]):
                        return ev["data"]
                    ev = {}
        raise AssertionError("no matching event within %s s" % timeout)

    def test_work_of_other_processes_shows_live(self):
        # a `kestrel run --db` beside the server, then a `kestrel delete`:
        # the server's event stream tells about both, without a reload
        s = self.serve()
        path = os.path.join(self.tmp, "cron.json")
        with open(path, "w") as f:
            json.dump(fn_spec("cron", trials=4, parallel=1), f)
        subprocess.run([KESTREL, "run", path, "--db", self.db, "--quiet"], check=True,
                       capture_output=True)
        d = self.wait_event(s, "?since=0&study=cron",
                            lambda t, d: t == "study_changed" and d["state"] == "COMPLETE")
        # named by "study" as every event is (docs/openapi.yaml), and by
        # "name" as the Study it carries: it had "name" alone
        self.assertEqual((d["study"], d["name"], d["counts"]["complete"]), ("cron", "cron", 4))
        self.assertEqual(s.json("GET", "/api/v1/studies/cron")[1]["counts"]["complete"], 4)
        subprocess.run([KESTREL, "delete", "cron", "--db", self.db], check=True, capture_output=True)
        self.wait_event(s, "?since=0&study=cron",
                        lambda t, d: t == "study_state" and d["state"] == "DELETED")

    def test_budget_can_grow_and_a_changed_spec_names_its_field(self):
        s = self.serve()
        spec = fn_spec("grow", trials=4)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("grow", "COMPLETE")
        status, e = s.json("POST", "/api/v1/studies/grow/resume")
        self.assertEqual(status, 409, "a complete study has nothing to resume")
        self.assertIn("is complete: nothing to resume", e["error"]["message"])
        spec["strategy"]["seed"] = 9
        status, e = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 409)
        self.assertIn("(strategy.seed: 1 -> 9)", e["error"]["message"])
        spec["strategy"]["seed"] = 1
        spec["budget"]["max_trials"] = 6
        status, st = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 200, st)
        st = s.wait_state("grow", "COMPLETE")
        self.assertEqual((st["counts"]["total"], st["max_trials"]), (6, 6))
        # a grid that ran every point with trials to spare runs what is
        # enqueued after: resume starts it (it answered 409 "nothing to resume")
        grid = fn_spec("grid", trials=10)
        grid["strategy"] = {"name": "grid"}
        grid["space"]["x1"]["grid"] = [0, 1]
        grid["space"]["x2"]["grid"] = [2]
        self.assertEqual(s.json("POST", "/api/v1/studies", grid)[0], 201)
        self.assertEqual(s.wait_state("grid", "COMPLETE")["counts"]["total"], 2)
        self.assertEqual(s.json("POST", "/api/v1/studies/grid/enqueue", {"x1": 5, "x2": 5})[0], 201)
        status, st = s.json("POST", "/api/v1/studies/grid/resume")
        self.assertEqual(status, 202, st)
        st = s.wait_state("grid", "COMPLETE")
        self.assertEqual(st["counts"]["total"], 3)
        self.assertEqual(s.json("GET", "/api/v1/studies/grid/trials")[1]["trials"][2]["params"],
                         {"x1": 5, "x2": 5})
        self.assertEqual(s.json("POST", "/api/v1/studies/grid/resume")[0], 409, "nothing pending now")

    def test_hyperband_past_its_last_bracket_runs_what_is_enqueued_at_full_budget(self):
        # R = 3, eta = 3: 5 configurations in 6 trials; max_trials to spare.
        # What is enqueued after the last bracket stayed pending for good
        # (resume answered 202 and the study completed again without it)
        s = self.serve()
        hb = fn_spec("hbenq", trials=10, parallel=1)
        hb["strategy"] = {"name": "hyperband", "seed": 1,
                          "options": {"max_resource": 3, "eta": 3}}
        self.assertEqual(s.json("POST", "/api/v1/studies", hb)[0], 201)
        self.assertEqual(s.wait_state("hbenq", "COMPLETE")["counts"]["total"], 6)
        self.assertEqual(s.json("POST", "/api/v1/studies/hbenq/enqueue", {"x1": 3, "x2": 2})[0], 201)
        status, st = s.json("POST", "/api/v1/studies/hbenq/resume")
        self.assertEqual(status, 202, st)
        self.assertEqual(s.wait_state("hbenq", "COMPLETE")["counts"]["total"], 7)
        t = s.json("GET", "/api/v1/studies/hbenq/trials")[1]["trials"][6]
        self.assertEqual((t["params"], t["budget"], t["enqueued"]), ({"x1": 3, "x2": 2}, 3, True))
        self.assertEqual(s.json("GET", "/api/v1/studies/hbenq/enqueue")[1], {"pending": []})

    def test_enqueue_and_note(self):
        s = self.serve()
        spec = fn_spec("enq", trials=2, parallel=1)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("enq", "COMPLETE")
        status, e = s.json("POST", "/api/v1/studies/enq/enqueue", [{"x1": 1, "x2": 2}, {"x1": 3, "x3": 4}])
        self.assertEqual((status, e["error"]["path"]), (400, "[1].x3"), e)
        self.assertIn("did you mean 'x1'", e["error"]["message"])
        self.assertEqual(s.json("POST", "/api/v1/studies/enq/enqueue", {"x1": 99, "x2": 1})[1]["error"]["path"], "x1")
        self.assertEqual(s.json("GET", "/api/v1/studies/enq/enqueue")[1], {"pending": []}, "a refused batch stores nothing")
        # headers too large for a connection's memory: refused before anything
        # is done, never done with no answer (a client would send it again)
        for pad in (6200, 7000, 7450, 7500, 7600, 7800, 8500):
            try:
                status = s.request("POST", "/api/v1/studies/enq/enqueue", {"x1": 1, "x2": 2},
                                   headers={"X-Pad": "a" * pad})[0]
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
                status = None   # about 7.4-7.9 KB: libmicrohttpd has no room left to answer
            self.assertIn(status, (431, None), pad)
        self.assertEqual(s.json("GET", "/api/v1/studies/enq/enqueue")[1], {"pending": []})
        # a %00 in the path or a query value is not where the string ends: a
        # DELETE of a trial's checkpoint once deleted the study itself
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.request("DELETE", "/api/v1/studies/enq%00/trials/0/checkpoint")
        self.assertNotEqual(c.getresponse().status // 100, 2)
        c.close()
        self.assertEqual(s.json("GET", "/api/v1/studies/enq")[0], 200, "the study is still there")
        self.assertEqual(s.raw_get("/api/v1/studies/enq%00garbage"), 404)
        self.assertEqual(s.raw_get("/api/v1/studies/enq/trials?limit=2%00x"), 400)
        status, r = s.json("POST", "/api/v1/studies/enq/enqueue", [{"x1": 1, "x2": 2}, {"x1": -2.5, "x2": 7}])
        self.assertEqual((status, r["added"], [p["params"] for p in r["pending"]]),
                         (201, 2, [{"x1": 1, "x2": 2}, {"x1": -2.5, "x2": 7}]))
        self.assertEqual(r["pending"][0]["origin"], "api")
        # a float parameter's 1 was written 1.0 (as stored), where the
        # trials list and every other number of the API write 1
        text = s.request("GET", "/api/v1/studies/enq/enqueue")[2]
        self.assertIn(b'"params":{"x1":1,"x2":2}', text)
        self.assertIn(b'"x1":-2.5', text)
        self.assertEqual(s.json("POST", "/api/v1/studies/nosuch/enqueue", {"x1": 1, "x2": 2})[0], 404)
        spec["budget"]["max_trials"] = 5
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 200)
        s.wait_state("enq", "COMPLETE")
        trials = s.json("GET", "/api/v1/studies/enq/trials")[1]["trials"]
        self.assertEqual([(t["number"], t["enqueued"]) for t in trials],
                         [(0, False), (1, False), (2, True), (3, True), (4, False)])
        self.assertEqual((trials[2]["params"], trials[3]["params"]), ({"x1": 1, "x2": 2}, {"x1": -2.5, "x2": 7}))
        self.assertEqual(s.json("GET", "/api/v1/studies/enq/enqueue")[1], {"pending": []})
        # notes
        self.assertEqual(s.json("GET", "/api/v1/studies/enq/note")[1], {"note": None})
        self.assertEqual(s.json("PUT", "/api/v1/studies/enq/note", {"note": "seed 1; try x1 < 0"}),
                         (200, {"note": "seed 1; try x1 < 0"}))
        self.assertEqual(s.json("GET", "/api/v1/studies/enq")[1]["note"], "seed 1; try x1 < 0")
        self.assertEqual(s.json("GET", "/api/v1/studies")[1]["studies"][0]["note"], "seed 1; try x1 < 0")
        # a refusal names the field: an unknown one (it said "note"), or note's type
        for body, path in (({"notes": "a"}, "notes"), ({"note": "a", "by": "me"}, "by"),
                           ({"note": 5}, "note"), ({}, "note")):
            status, e = s.json("PUT", "/api/v1/studies/enq/note", body)
            self.assertEqual((status, e["error"].get("path")), (400, path), body)
        self.assertIn("did you mean 'note'", s.json("PUT", "/api/v1/studies/enq/note",
                                                    {"notes": "a"})[1]["error"]["message"])
        self.assertEqual(s.json("PUT", "/api/v1/studies/enq/note", {"note": None}), (200, {"note": None}))
        self.assertIsNone(s.json("GET", "/api/v1/studies/enq")[1]["note"])

    def test_unknown_query_parameters_and_shortest_numbers(self):
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("q", trials=6))[0], 201)
        s.wait_state("q", "COMPLETE")
        status, e = s.json("GET", "/api/v1/studies/q/trials?limt=3")
        self.assertEqual((status, e["error"]["path"]), (400, "limt"))
        self.assertIn("did you mean 'limit'", e["error"]["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies/q?verbose=1")[0], 400)
        self.assertEqual(s.json("GET", "/api/v1/events?study=q&sinc=3")[1]["error"]["path"], "sinc")
        self.assertEqual(s.json("POST", "/api/v1/studies/q/resume?retry=true")[0], 400)
        # what the dashboard and the docs use still works
        for path in ["/api/v1/studies/q/trials?sort=number&offset=0&limit=2&state=COMPLETE",
                     "/api/v1/studies/q/curves?offset=0&limit=2"]:
            self.assertEqual(s.request("GET", path)[0], 200, path)
        # every real in its shortest round-trip form, not Jansson's 17 digits
        body = b"".join(s.request("GET", p)[2] for p in
                        ["/api/v1/studies/q/trials", "/api/v1/studies/q/export.json", "/api/v1/studies/q"])
        reals = re.findall(rb'(?<![\w"])-?[0-9]+\.[0-9]+(?:[eE][-+]?[0-9]+)?|(?<![\w"])-?[0-9]+[eE][-+]?[0-9]+', body)
        self.assertGreater(len(reals), 30)
        for tok in reals:
            x = float(tok)
            digits = len(re.sub(rb"[^0-9]", b"", tok.split(b"e")[0].split(b"E")[0]).lstrip(b"0"))
            self.assertTrue(digits <= 1 or float("%.*g" % (digits - 1, x)) != x, tok)

    def test_a_query_parameter_given_twice_or_a_loose_number_is_refused(self):
        # ?limit=10&limit=20 answered 10 rows (the second silently dropped,
        # as an unknown name was before 400s), and ?limit=+10, ?limit=%2010
        # and trials/+1 were read as 10 and 1; each is a 400 naming it.
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("q", trials=3))[0], 201)
        s.wait_state("q", "COMPLETE")
        for path, field in (("trials?limit=1&limit=2", "limit"),
                            ("trials?state=COMPLETE&sort=best&state=FAILED", "state"),
                            ("curves?offset=0&offset=1", "offset"),
                            ("trials?limit=%2B2", "limit"), ("trials?limit=%202", "limit"),
                            ("trials?offset=-0", "offset"), ("curves?limit=2%20", "limit"),
                            ("trials/%2B1", "number"), ("trials/%201", "number")):
            status, e = s.json("GET", "/api/v1/studies/q/" + path)
            self.assertEqual((status, e["error"].get("path")), (400, field), path)
        # an event id too: ?since=+0 (or " 0") opened a stream from event 0,
        # read by strtoull, where docs/openapi.yaml says plain digits
        for query, header in (("?since=%2B0", None), ("?since=%200", None), ("", "+0")):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            c.request("GET", "/api/v1/events" + query, headers={"Last-Event-ID": header} if header else {})
            r = c.getresponse()             # the headers only: an accepted one streams
            self.assertEqual(r.status, 400, query or header)
            c.close()
        status, e = s.json("GET", "/api/v1/studies/q/trials?limit=1&limit=2")
        self.assertIn("given twice", e["error"]["message"])
        self.assertEqual(len(s.json("GET", "/api/v1/studies/q/trials?limit=2")[1]["trials"]), 2)
        self.assertEqual(s.json("GET", "/api/v1/studies/q/trials/1")[1]["number"], 1)

    def test_a_query_parameter_without_a_value_is_refused(self):
        # POST .../resume?retry_failed (no '=') resumed without retrying a
        # failed trial, ?state listed every state and ?limit the default
        # 100: libmicrohttpd hands a parameter without '=' over as absent.
        # Each is a 400 naming it, as ?state= and ?limit= (empty) were.
        s = self.serve()
        spec = fn_spec("bare", trials=2, parallel=1)
        spec["run"] = {"command": ["sh", "-c", "exit 1"]}
        spec["budget"]["max_failures"] = 0
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("bare", "FAILED")
        for method, path, field in (("POST", "/api/v1/studies/bare/resume?retry_failed", "retry_failed"),
                                    ("GET", "/api/v1/studies/bare/trials?state", "state"),
                                    ("GET", "/api/v1/studies/bare/trials?limit=1&sort", "sort"),
                                    ("GET", "/api/v1/studies/bare/curves?limit", "limit"),
                                    ("GET", "/api/v1/events?study", "study"),
                                    ("GET", "/api/v1/studies?token", "token")):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            c.request(method, path)
            r = c.getresponse()             # the headers first: an accepted stream would not end
            self.assertEqual(r.status, 400, path)
            e = json.loads(r.read())["error"]
            c.close()
            self.assertEqual(e.get("path"), field, path)
            self.assertIn("without a value: give %s=VALUE" % field, e["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies/bare/trials")[1]["total"], 2)
        self.assertEqual(s.json("POST", "/api/v1/studies/bare/resume?retry_failed=true")[0], 202)

    def test_a_stray_ampersand_is_nothing_and_a_nameless_value_is_said(self):
        # ?&limit=1 and ?limit=1&&sort=best (a client joining its parameters
        # with one '&' too many) were 400 "unknown query parameter; this
        # route takes: state sort offset limit after format", naming none,
        # where ?limit=1& was served: the empty piece is now nothing, as a
        # trailing '&' is, and ?=5 is refused saying what it was.
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("amp", trials=3))[0], 201)
        s.wait_state("amp", "COMPLETE")
        for query, numbers in (("?&limit=1", [0]), ("?limit=1&", [0]), ("?limit=1&&offset=2", [2]),
                               ("?&&limit=2&&", [0, 1])):
            status, page = s.json("GET", "/api/v1/studies/amp/trials" + query)
            self.assertEqual(status, 200, (query, page))
            self.assertEqual([t["number"] for t in page["trials"]], numbers, query)
        status, e = s.json("GET", "/api/v1/studies/amp/trials?limit=1&=5")
        self.assertEqual(status, 400)
        self.assertEqual(e["error"]["message"],
                         "query parameter without a name ('=5'): give NAME=VALUE")

    def test_a_body_holding_a_nul_byte_is_refused(self):
        # PUT .../note of {"note": "a"}, a NUL, then anything answered 200
        # and stored "a": the body was read as a C string, up to its NUL, and
        # what followed was never looked at; a spec or an enqueued
        # configuration alike. Each is a 400 now, nothing stored.
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("nul", trials=1))[0], 201)
        s.wait_state("nul", "COMPLETE")
        tail = b"\x00{\"note\": \"b\"}"
        for path, method, body in (
                ("/api/v1/studies/nul/note", "PUT", b'{"note": "a"}' + tail),
                ("/api/v1/studies/nul/enqueue", "POST", b'{"x1": 1, "x2": 2}' + tail),
                ("/api/v1/studies", "POST", json.dumps(fn_spec("nul2")).encode() + tail)):
            status, e = s.json(method, path, body)
            self.assertEqual(status, 400, path)
            self.assertIn("a NUL byte at byte %d of the body" % body.index(b"\x00"),
                          e["error"]["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies/nul/note"), (200, {"note": None}))
        self.assertEqual(s.json("GET", "/api/v1/studies/nul/enqueue"), (200, {"pending": []}))
        self.assertEqual(s.json("GET", "/api/v1/studies/nul2")[0], 404)

    def test_bytes_that_are_no_utf8_in_a_path_or_query_are_quoted_in_the_error(self):
        # GET /api/v1/studies/%FF was a 500 "cannot build the answer: out of
        # memory": the 404's message quoted the name's byte 0xFF, which no
        # JSON string holds, and so were a state, cursor, event id or route
        # of such bytes; a parameter's name of them lost its `path`. The
        # bytes are now written as U+FFFD and the answer is the one due.
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("u8", trials=2))[0], 201)
        s.wait_state("u8", "COMPLETE")
        bad = "\ufffd"
        for method, path, status, field, said in (
                ("GET", "/api/v1/studies/%FF", 404, None, "no study named '%s'" % bad),
                ("GET", "/api/v1/studies/a%C3", 404, None, "no study named 'a%s'" % bad),
                ("DELETE", "/api/v1/studies/%FF", 404, None, bad),
                ("POST", "/api/v1/studies/%FF/stop", 404, None, bad),
                ("GET", "/api/v1/nope%FF", 404, None, "/api/v1/nope" + bad),
                ("GET", "/api/v1/studies/u8/trials?state=%FF", 400, "state", "not '%s'" % bad),
                ("GET", "/api/v1/studies/u8/trials?after=%FF", 400, "after", bad),
                ("GET", "/api/v1/studies/u8/trials/%FF", 400, "number", bad),
                ("POST", "/api/v1/studies/u8/resume?retry_failed=%FF", 400, "retry_failed", bad),
                ("GET", "/api/v1/events?since=%FF", 400, "since", bad),
                ("GET", "/api/v1/studies?%FF=1", 400, bad, "unknown query parameter")):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            c.request(method, path)
            r = c.getresponse()
            e = json.loads(r.read())["error"]
            c.close()
            self.assertEqual((r.status, e.get("path")), (status, field), path)
            self.assertIn(said, e["message"], path)

    def test_events_and_last_event_id(self):
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.slow_spec("ev", trials=4, pause=0.2))
        want = {"trial_started", "trial_reported", "trial_finished"}
        events = self.read_events(s, "?study=ev", want)
        ids = [e[0] for e in events]
        self.assertEqual(ids, sorted(ids))
        self.assertTrue(all(e[2]["study"] == "ev" for e in events))
        reported = [e[2] for e in events if e[1] == "trial_reported"][0]
        self.assertIn("step", reported)
        self.assertIn("value", reported)
        # a start carries the whole trial, as the trials list gives it
        started = [e[2] for e in events if e[1] == "trial_started"][0]
        listed = s.json("GET", "/api/v1/studies/ev/trials?limit=100")[1]["trials"]
        stored = [t for t in listed if t["number"] == started["number"]][0]
        for key in ("params", "budget", "resumed_from", "retry_of", "worker"):
            self.assertEqual(started[key], stored[key], key)
        self.assertEqual(sorted(started["params"]), sorted(self.slow_spec("ev")["space"]))
        self.assertEqual((started["state"], started["value"], started["failure"]),
                         ("RUNNING", None, None))
        self.assertEqual(started["started_at"], stored["started_at"])
        last = ids[-1]
        again = self.read_events(s, "?study=ev", {"trial_finished"},
                                 headers={"Last-Event-ID": str(last)})
        self.assertTrue(all(e[0] > last for e in again))
        s.wait_state("ev", "COMPLETE")
        for bad in ("abc", "-1", "12x", ""):
            status, e = s.json("GET", "/api/v1/events", headers={"Last-Event-ID": bad})
            self.assertEqual((status, e["error"]["path"]), (400, "Last-Event-ID"), bad)
        status, e = s.json("GET", "/api/v1/events?since=x")
        self.assertEqual((status, e["error"]["path"]), (400, "since"))
        # ?study= (empty) streamed nothing for ever, as a quiet study does
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)   # a hang guard
        c.request("GET", "/api/v1/events?study=")
        r = c.getresponse()
        status = r.status                  # its headers only: a stream never ends
        e = json.loads(r.read()) if status == 400 else None
        c.close()
        self.assertEqual((status, e and e["error"]["path"]), (400, "study"))
        self.assertIn("empty study name", e["error"]["message"])

    def test_event_values_are_written_as_the_trials_list_writes_them(self):
        # A trial reporting {"step": 1, "loss": 3} then {"loss": 2} came in
        # trial_reported as "value":3.0 and in trial_finished as "value":2.0,
        # where the trials list, the curves and the exports write 3 and 2
        # (docs/openapi.yaml: integral values as integers): a client typed
        # by the list's answers read a float where it had an integer.
        s = self.serve()
        script = os.path.join(self.tmp, "whole.sh")
        with open(script, "w") as f:
            f.write('echo \'{"step": 1, "loss": 3}\' >&3\necho \'{"loss": 2}\' >&3\n')
        spec = self.slow_spec("whole", trials=1, parallel=1)
        spec["run"]["command"] = ["sh", script]
        req = urllib.request.Request(s.base + "/api/v1/events?study=whole")
        with urllib.request.urlopen(req, timeout=120) as r:
            self.assertEqual(r.readline(), b"retry: 2000\n")   # open: it listens
            self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
            events = self.parse_events(r, {"trial_reported", "trial_finished"})
        values = {t: d["value"] for _, t, d in events if t in ("trial_reported", "trial_finished")}
        self.assertEqual(values, {"trial_reported": 3, "trial_finished": 2})
        self.assertEqual([type(v) for v in values.values()], [int, int], values)
        s.wait_state("whole", "COMPLETE")
        trial = s.json("GET", "/api/v1/studies/whole/trials")[1]["trials"][0]
        curve = s.json("GET", "/api/v1/studies/whole/curves")[1]["curves"][0]
        self.assertEqual((trial["value"], type(trial["value"])), (2, int))
        self.assertEqual((curve["values"], type(curve["values"][0])), ([3], int))

    def test_head_of_a_stream_is_its_headers_alone(self):
        # HEAD /api/v1/events (or of an export) was answered chunked, and
        # libmicrohttpd wrote the chunked body's end, '0\r\n\r\n', after
        # the headers: a client that kept the connection read those bytes
        # as the start of its next answer. HEAD of a stream is now its
        # headers alone, and the connection closed after them (no length
        # to state, RFC 9110 8.6).
        s = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies", fn_spec("h", trials=2))[0], 201)
        s.wait_state("h", "COMPLETE")
        for path, ctype in (("/api/v1/events", b"text/event-stream"),
                            ("/api/v1/events?study=h", b"text/event-stream"),
                            ("/api/v1/studies/h/export.csv", b"text/csv; charset=utf-8"),
                            ("/api/v1/studies/h/export.json", b"application/json")):
            got = answers_until_closed(s.port, b"HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                       % path.encode())
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), (path, got))
            self.assertIn(b"\r\nContent-Type: " + ctype, head)
            self.assertNotIn(b"Content-Length", head)
            self.assertEqual(rest, b"", path)
        # what GET sends is as before
        status, headers, body = s.request("GET", "/api/v1/studies/h/export.csv")
        self.assertEqual((status, body.count(b"\n")), (200, 3))
        self.assertEqual(s.request("HEAD", "/api/v1/studies/h/trials")[:3:2], (200, b""))

    def test_trial_events_are_built_while_a_stream_listens(self):
        # A study nobody watched leaves its state in the stream but no trial
        # events (a fleet's coordinator without a dashboard builds none);
        # trials that run while a stream is open have theirs.
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.slow_spec("quiet", trials=2, pause=0.05))
        s.wait_state("quiet", "COMPLETE")
        req = urllib.request.Request(s.base + "/api/v1/events?since=0")
        with urllib.request.urlopen(req, timeout=120) as r:
            self.assertEqual(r.readline(), b"retry: 2000\n")   # open: it listens
            s.json("POST", "/api/v1/studies", self.slow_spec("loud", trials=2, pause=0.05))
            events = self.parse_events(r, {"trial_started", "trial_reported", "trial_finished"})
        quiet = [(t, d) for _, t, d in events if d.get("study") == "quiet"]
        self.assertIn(("study_state", {"study": "quiet", "state": "COMPLETE"}), quiet)
        self.assertEqual([t for t, _ in quiet if t.startswith("trial_")], [])
        self.assertTrue(all(d["study"] == "loud" for _, t, d in events if t.startswith("trial_")))

    def test_idle_and_slow_connections_do_not_take_it_offline(self):
        # 300 idle connections and one trickling its headers (slowloris):
        # /healthz answers again once the header deadline (10 s) has shut
        # them; before, they held every connection thread for 120 s.
        s = self.serve()
        idle = []
        for _ in range(300):
            try:
                idle.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
            except OSError:
                break
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 60
        self.assertTrue(trickle_until_closed(slow, b"X-Trickle: 1\r\n", deadline),
                        "a trickling client kept its connection")
        healthy = False
        while not healthy and time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=2)
                c.request("GET", "/healthz")
                healthy = c.getresponse().status == 200
                c.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        self.assertTrue(healthy, "/healthz never answered")
        for c in idle + [slow]:
            c.close()

    def test_a_trickled_body_does_not_hold_its_connection(self):
        # Headers in time, then a body a byte at a time: MHD's idle timeout
        # restarts at every byte and no deadline covered the body, so 256
        # such connections (64 from each of 4 addresses) took the API and
        # /healthz offline for good. The body deadline (30 s) shuts it.
        s = self.serve()
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        slow.sendall(b"POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        deadline = time.monotonic() + 300   # a hang guard: the server shuts it at 30 s
        closed = trickle_until_closed(slow, b"x", deadline)
        slow.close()
        self.assertTrue(closed, "a client trickling its body kept its connection")
        self.assertEqual(s.json("GET", "/healthz")[0], 200)

    def test_smaller_answers(self):
        s = self.serve()
        # a body announced too large is refused at once, not after reading it
        c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        c.sendall(b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 100000000000\r\n\r\n{")
        self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 413"))
        c.close()
        # a stop through a second server of a study the first one runs
        self.assertEqual(s.json("POST", "/api/v1/studies",
                                self.slow_spec("busy", trials=2, steps=200, pause=0.1))[0], 201)
        s.wait_running("busy")
        other = self.serve()
        status, e = other.json("POST", "/api/v1/studies/busy/stop")
        self.assertEqual(status, 409)
        self.assertIn("being run by another kestrel process", e["error"]["message"])
        self.assertEqual(s.request("POST", "/api/v1/studies/busy/stop")[0], 202)

    def test_a_request_cannot_forge_a_log_line(self):
        # The access line had the decoded path as it came: %0a in it began a
        # line of the client's own ("...Z 127.0.0.1 DELETE /api/v1/studies/prod
        # 204") and %1b drove the terminal showing the log.
        s = self.serve()
        forged = "2026-12-04T22:18:29Z 127.0.0.1 DELETE /api/v1/studies/prod 204"
        self.assertEqual(s.raw_get("/nothing%0a" + forged.replace(" ", "%20") + "%1b[31m"), 404)
        s.wait_log(r"GET /nothing\\n2026-12-04T22:18:29Z 127\.0\.0\.1 DELETE "
                   r"/api/v1/studies/prod 204\\x1b\[31m 404$")
        with open(s.log.name) as f:
            log = f.read()
        self.assertNotIn("\n" + forged, log)
        self.assertNotIn("\x1b", log)

    def test_without_a_token_a_page_of_another_site_cannot_post(self):
        # Without --token-file any web page the user opened could POST a spec
        # to 127.0.0.1 (a text/plain form needs no CORS preflight) and its
        # command ran; a page whose own name resolves to 127.0.0.1 (DNS
        # rebinding) also read every study. Now: 403, nothing created.
        s = self.serve()
        host = "127.0.0.1:%d" % s.port
        spec = json.dumps(fn_spec("csrf", trials=1)).encode()
        for headers in ({"Origin": "http://evil.example", "Content-Type": "text/plain"},
                        {"Origin": "null"},
                        {"Host": "evil.example:%d" % s.port, "Origin": "http://evil.example:%d"
                         % s.port}):
            status, _, data = s.request("POST", "/api/v1/studies", spec, headers=headers)
            self.assertEqual((status, json.loads(data)["error"]["code"]), (403, "forbidden"), headers)
        self.assertEqual(s.request("GET", "/api/v1/studies",
                                   headers={"Host": "evil.example:%d" % s.port})[0], 403)
        self.assertEqual(s.json("GET", "/api/v1/studies")[1], {"studies": []})
        # the dashboard's own page (same origin), curl (no Origin), other loopback names
        for headers in ({"Origin": "http://" + host}, {}, {"Host": "localhost:%d" % s.port,
                                                          "Origin": "http://localhost:%d" % s.port}):
            status, _ = s.json("POST", "/api/v1/studies/none/stop", headers=headers)
            self.assertEqual(status, 404, headers)
        # a loopback name in any case (curl http://LOCALHOST:PORT/ sends it as
        # typed) and ::1 in any spelling were 403 "a web page of another site"
        for name in ("LOCALHOST", "LocalHost", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]"):
            named = "%s:%d" % (name, s.port)
            self.assertEqual(s.request("GET", "/api/v1/studies", headers={"Host": named})[0], 200,
                             name)
            status, _ = s.json("POST", "/api/v1/studies/none/stop",
                               headers={"Host": named, "Origin": "http://" + named})
            self.assertEqual(status, 404, name)
        for name in ("localhost.evil.example", "[::2]", "[127.0.0.1]", "[localhost]"):
            self.assertEqual(s.request("GET", "/api/v1/studies",
                                       headers={"Host": "%s:%d" % (name, s.port)})[0], 403, name)
        self.assertEqual(s.request("POST", "/api/v1/studies", spec,
                                   headers={"Origin": "http://" + host})[0], 201)
        # with a token a page cannot post either way (it lacks the token): no check
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        t = self.serve("--token-file", token_file, db=os.path.join(self.tmp, "t.db"))
        self.assertEqual(t.request("GET", "/api/v1/studies",
                                   headers={"Host": "kestrel.example.com"})[0], 200)

    def test_tokens(self):
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        s = self.serve("--token-file", token_file)
        spec = fn_spec("auth", trials=3)
        status, e = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual((status, e["error"]["code"]), (401, "unauthorized"))
        self.assertEqual(s.json("POST", "/api/v1/studies", spec, token="wrong")[0], 401)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec, token="s3cret")[0], 201)
        self.assertEqual(s.json("GET", "/api/v1/studies")[0], 200)
        self.assertEqual(s.request("DELETE", "/api/v1/studies/auth")[0], 401)
        # PUT needs it too (the note), as --help and the README say
        self.assertEqual(s.json("PUT", "/api/v1/studies/auth/note", {"note": "x"})[0], 401)
        self.assertEqual(s.json("PUT", "/api/v1/studies/auth/note", {"note": "x"}, token="s3cret")[0],
                         200)
        s.stop()

        r = self.serve("--token-file", token_file, "--auth-reads", db=os.path.join(self.tmp, "r.db"))
        self.assertEqual(r.json("GET", "/api/v1/studies")[0], 401)
        self.assertEqual(r.json("GET", "/api/v1/studies", token="s3cret")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies?token=s3cret")[0], 200)
        self.assertEqual(r.json("GET", "/healthz")[0], 200)
        self.assertEqual(r.request("GET", "/metrics")[0], 401)

        p = subprocess.run([KESTREL, "serve", "--db", self.db, "--listen", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("token", p.stderr)

    def test_a_wrong_token_is_told_from_a_missing_one(self):
        # Every 401 said "this request needs the header 'Authorization:
        # Bearer TOKEN'", also to a client that had sent it with a wrong
        # token: it then looked for a mistake in the header. The message says
        # which, and nothing of the token itself.
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        s = self.serve("--token-file", token_file, "--auth-reads")
        spec = fn_spec("auth", trials=1)

        def message(method, path, body=None, token=None, headers=None):
            status, e = s.json(method, path, body, token, headers)
            self.assertEqual((status, e["error"]["code"]), (401, "unauthorized"), e)
            self.assertNotIn("s3cret", e["error"]["message"])
            return e["error"]["message"]

        for method, path, body in (("POST", "/api/v1/studies", spec), ("GET", "/api/v1/studies", None)):
            missing = message(method, path, body)
            self.assertTrue(missing.startswith("no token: this request needs the header "
                                               "'Authorization: Bearer TOKEN'"), missing)
            wrong = message(method, path, body, token="wrong")
            self.assertEqual(wrong, "wrong token: the one in the header 'Authorization: Bearer ...' "
                                    "is not this server's (the first line of its --token-file)")
            basic = message(method, path, body, headers={"Authorization": "Basic czNjcmV0"})
            self.assertTrue(basic.startswith("no token: the header 'Authorization' is not "
                                             "'Bearer TOKEN'"), basic)
        # reads: the query's token is named as such, and offered when none came
        self.assertIn("?token=TOKEN", message("GET", "/api/v1/studies"))
        self.assertNotIn("?token=", message("POST", "/api/v1/studies", spec))
        self.assertEqual(message("GET", "/api/v1/studies?token=wrong"),
                         "wrong token: the one in ?token= is not this server's (the first line of "
                         "its --token-file)")
        self.assertEqual(s.json("GET", "/api/v1/studies", token="s3cret")[0], 200)

    def test_a_framing_header_given_twice_is_refused(self):
        # Two Content-Length headers (2, then 3, with the body '{}') were
        # taken as the first: a proxy in front that reads the other one
        # sees a request where the server saw another's bytes (request
        # smuggling); two Host headers took the first as well. Both are now
        # a 400 naming the header, sent at once, the connection closed.
        s = self.serve()
        for head, name in ((b"POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Content-Type: application/json\r\n"
                            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", "Content-Length"),
                           (b"POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"content-length: 2\r\nContent-Length: 2\r\n\r\n{}", "Content-Length"),
                           (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Host: evil.example\r\n\r\n", "Host"),
                           # read as chunked, the connection kept: the
                           # pipelined GET after it was served
                           (b"POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"2\r\n{}\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                            "Transfer-Encoding")):
            got = answers_until_closed(s.port, head)
            self.assertTrue(got.startswith(b"HTTP/1.1 400"), (head, got))
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, got)   # nothing read as a next request
            e = json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]
            self.assertEqual((e["code"], e["path"]), ("invalid", name), e)
            self.assertIn("twice" if name != "Transfer-Encoding" else "one way", e["message"])
        # one of each is served, and nothing was made by the refused posts
        self.assertEqual(s.json("GET", "/api/v1/studies")[1]["studies"], [])
        self.assertEqual(s.request("GET", "/healthz")[0], 200)

    def test_an_http11_request_without_a_host_is_refused(self):
        # RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request
        # that lacks Host; it was served (a POST without Host created its
        # study), the check of a web page's Host having nothing to read.
        s = self.serve()
        spec = json.dumps(fn_spec("nohost", trials=1)).encode()
        for head in (b"GET /api/v1/studies HTTP/1.1\r\n\r\n",
                     b"POST /api/v1/studies HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(spec), spec)):
            got = answers_until_closed(s.port, head)
            self.assertTrue(got.startswith(b"HTTP/1.1 400"), (head, got))
            e = json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]
            self.assertEqual((e["code"], e["path"]), ("invalid", "Host"), e)
            self.assertIn("no header 'Host'", e["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies")[1]["studies"], [])
        # HTTP/1.0 has no Host to require
        got = answers_until_closed(s.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)

    def test_a_header_name_with_a_space_or_a_folded_line_is_refused(self):
        # 'Content-Length : 2' (a space before the colon) was read as a
        # header named 'Content-Length ', the body as none, and its bytes
        # as a next request: the client got "invalid JSON ... near end of
        # file" for a body it sent, where a proxy in front that trims the
        # name reads the body (RFC 9112 5.1: a server MUST refuse it); a
        # line folded onto Host became part of its name, and the request
        # had no Host, and one folded onto 'Content-Length:' made a header
        # 'Content-Length255' of no value (no name that a framing
        # header's begins is taken). Each is a 400 naming the header, the
        # connection closed, nothing made.
        s = self.serve()
        spec = json.dumps(fn_spec("spaced", trials=1)).encode()
        tail = b"\r\n%s" % spec
        for headers, name in (
                (b"Content-Length : %d\r\n" % len(spec), "Content-Length "),
                (b"Transfer-Encoding\t: chunked\r\nX-A: 1\r\n", "Transfer-Encoding\t"),
                (b" X-Folded: 1\r\nContent-Length: %d\r\n" % len(spec), "HostX-Folded: 1"),
                # read by MHD as a header 'Content-Length255' of no value:
                # no body, where a proxy that unfolds it reads 255 bytes
                (b"Content-Length:\r\n %d\r\n" % len(spec), "Content-Length%d" % len(spec)),
                (b"Transfer-Encoding:\r\n\tchunked\r\n", "Transfer-Encodingchunked"),
                (b"Transfer-Encoding: gzip,\r\n chunked\r\n", "Transfer-Encodingchunked")):
            got = answers_until_closed(s.port, b"POST /api/v1/studies HTTP/1.1\r\n"
                                       b"Host: 127.0.0.1\r\n" + headers + tail)
            self.assertTrue(got.startswith(b"HTTP/1.1 400"), (headers, got))
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, got)
            e = json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]
            self.assertEqual((e["code"], e.get("path")), ("invalid", name), e)
            self.assertIn("not sent as 'NAME: VALUE' on one line", e["message"])
        self.assertEqual(s.json("GET", "/api/v1/studies")[1]["studies"], [])
        # every byte a name may hold (RFC 9110 5.6.2) is served, and a
        # header of no value
        headers = {"X-a_b.c~!#$%&'*+^`|9": "1", "X-Empty": ""}
        self.assertEqual(s.request("GET", "/healthz", headers=headers)[0], 200)

    def test_a_transfer_coding_other_than_one_chunked_is_refused(self):
        # 'Transfer-Encoding: gzip, chunked' (then another Transfer-Encoding
        # header, or not) hung until the body deadline (30 s) and the
        # connection was shut without an answer: MHD reads only a value
        # that is 'chunked' itself and took any other as a body of unknown
        # length; two 'chunked' headers were read as one, the connection
        # kept, where a proxy may join them into a list it refuses. Each is
        # now refused from its headers (RFC 9112 6.1, 6.3: 501 for a coding
        # before the chunked, else 400) and its connection closed.
        s = self.serve()
        body = b"2\r\n{}\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        post = b"POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" + body
        for codings, status, words in (
                (b"gzip, chunked\r\nTransfer-Encoding: chunked", 400, "given twice"),
                (b"chunked\r\nTransfer-Encoding: chunked", 400, "given twice"),
                (b"gzip, chunked", 501, "no transfer coding but a single 'chunked'"),
                (b"deflate,gzip ,chunked", 501, "no transfer coding but a single 'chunked'"),
                (b"gzip", 400, "'Transfer-Encoding: chunked' alone"),
                (b"chunked, gzip", 400, "'Transfer-Encoding: chunked' alone"),
                (b"chunked, chunked", 400, "'Transfer-Encoding: chunked' alone"),
                (b", chunked", 400, "'Transfer-Encoding: chunked' alone")):
            got = answers_until_closed(s.port, post % (b"Transfer-Encoding: " + codings + b"\r\n"))
            self.assertTrue(got.startswith(b"HTTP/1.1 %d" % status), (codings, got))
            self.assertEqual(got.count(b"HTTP/1.1 "), 1, got)   # nothing read as a next request
            e = json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]
            self.assertEqual((e["code"], e["path"]), ("invalid", "Transfer-Encoding"), e)
            self.assertIn(words, e["message"])
        # HTTP/1.0 has no transfer codings: a proxy of that version frames
        # the body another way
        got = answers_until_closed(s.port, post.replace(b"HTTP/1.1", b"HTTP/1.0", 1)
                                   % b"Transfer-Encoding: chunked\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400"), got)
        self.assertIn(b"HTTP/1.0 request", got)
        # a single chunked, in any case, is read, the connection kept
        c = socket.create_connection(("127.0.0.1", s.port), timeout=120)   # a hang guard
        c.sendall(post % b"Transfer-Encoding: Chunked\r\n")
        r = http.client.HTTPResponse(c)
        r.begin()
        self.assertEqual((r.status, json.loads(r.read())["error"]["path"]), (400, "name"))
        r = http.client.HTTPResponse(c)
        r.begin()
        self.assertEqual((r.status, json.loads(r.read())), (200, {"status": "ok"}))
        c.close()
        self.assertEqual(s.json("GET", "/api/v1/studies")[1]["studies"], [])

    def test_an_absolute_form_target_is_routed_by_its_path(self):
        # 'GET http://127.0.0.1:PORT/api/v1/studies HTTP/1.1', which RFC
        # 9112 3.2.2 says a server must accept (a client that talks through
        # a proxy sends it), got 404 "no such resource: http://...": the
        # whole target was taken for the path. Its path is routed now, and
        # its host stands for the Host header (which it overrides).
        s = self.serve()

        def get(target, host=None, method="GET"):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)   # a hang guard
            c.putrequest(method, target, skip_host=True)
            c.putheader("Host", host or "127.0.0.1:%d" % s.port)
            c.endheaders()
            r = c.getresponse()
            answer = (r.status, r.getheader("Content-Type"), r.read())
            c.close()
            return answer

        base = "http://127.0.0.1:%d" % s.port
        self.assertEqual(get(base + "/api/v1/studies")[::2], (200, b'{"studies":[]}'))
        self.assertEqual(get(base.upper() + "/healthz")[::2], (200, b'{"status":"ok"}'))
        self.assertEqual(get("https://localhost/healthz")[0], 200)
        self.assertEqual(get(base + "/api/v1/studies", method="HEAD")[::2], (200, b""))
        status, ctype, _ = get(base)                   # no path: the dashboard's page
        self.assertEqual((status, ctype), (200, "text/html; charset=utf-8"))
        status, _, body = get(base + "/api/v1/studies/none/trials?limt=5")   # its query is read
        self.assertEqual((status, json.loads(body)["error"]["path"]), (400, "limt"))
        self.assertEqual(get(base + "/api/v1/studies/none")[0], 404)
        # its host is checked as the Host header is: a page's own name (DNS
        # rebinding) is refused whatever Host says, and a loopback one
        # served whatever Host says (the target's wins, RFC 9112 3.2.2)
        status, _, body = get("http://evil.example:%d/api/v1/studies" % s.port)
        self.assertEqual((status, json.loads(body)["error"]["code"]), (403, "forbidden"))
        self.assertEqual(get(base + "/healthz", host="evil.example")[0], 200)
        for target, words in (("http:///healthz", "names no host"),
                              ("http://me:s3cret@127.0.0.1/healthz", "names a user")):
            status, _, body = get(target)
            self.assertEqual(status, 400, target)
            self.assertIn(words, json.loads(body)["error"]["message"])
        s.wait_log(r" 127\.0\.0\.1 GET /healthz 400$")
        # a POST so made runs, and is logged by its path
        status, _, body = get(base + "/api/v1/studies/none/stop", method="POST")
        self.assertEqual(status, 404, body)
        s.wait_log(r" 127\.0\.0\.1 POST /api/v1/studies/none/stop 404$")
        with open(s.log.name) as f:   # a password in the target is not logged
            self.assertNotIn("s3cret", f.read())

    def test_a_request_without_the_token_is_refused_before_its_body(self):
        # The body was read (up to 1 MB, buffered) before the token was
        # checked: a client without it had the server read and hold a
        # megabyte, and one that asked to wait for a go (Expect:
        # 100-continue) got a 100 before its 401. The 401 now comes with
        # the headers, and a body sent anyway is dropped, not kept.
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        s = self.serve("--token-file", token_file)
        head = ("POST /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                "Content-Type: application/json\r\n%s\r\n")
        waits = "Content-Length: 1000000\r\nExpect: 100-continue\r\n"
        for auth in ("", "Authorization: Bearer wrong\r\n"):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=120)   # a hang guard
            c.sendall((head % (auth, waits)).encode())   # and never the body
            answer = answer_head(c)
            c.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 401"), (auth, answer))
        # with the token the server asks for the body, and takes it
        body = json.dumps(fn_spec("big", trials=1)).encode()
        body += b" " * (1000000 - len(body))
        c = socket.create_connection(("127.0.0.1", s.port), timeout=120)
        c.sendall((head % ("Authorization: Bearer s3cret\r\n", waits)).encode())
        self.assertTrue(answer_head(c).startswith(b"HTTP/1.1 100"))
        c.sendall(body)
        self.assertTrue(answer_head(c).startswith(b"HTTP/1.1 201"))
        c.close()
        # a client that sends its body anyway reads the 401, not a reset,
        # and a chunked body past the 1 MB limit is dropped, not held (413)
        for _ in range(5):
            status, _, data = s.request("POST", "/api/v1/studies", body)
            self.assertEqual((status, json.loads(data)["error"]["code"]), (401, "unauthorized"))
        c = socket.create_connection(("127.0.0.1", s.port), timeout=120)
        c.sendall((head % ("", "Transfer-Encoding: chunked\r\n")).encode())
        for _ in range(3):
            c.sendall(b"%x\r\n%s\r\n" % (len(body), body))
        c.sendall(b"0\r\n\r\n")
        self.assertTrue(answer_head(c).startswith(b"HTTP/1.1 401"))
        c.close()

    def test_a_base64_token_with_plus_in_a_link(self):
        # base64 gives a '+' in 40% of tokens: pasted into ?token= unencoded
        # it arrives form-decoded as a space, and the dashboard sends on
        # what it read from its link.
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("ab+c/d+e==\n")
        r = self.serve("--token-file", token_file, "--auth-reads")
        self.assertEqual(r.json("GET", "/api/v1/studies?token=ab+c/d+e==")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies?token=ab%2Bc%2Fd%2Be%3D%3D")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies", token="ab+c/d+e==")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies", token="ab c/d e==")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies?token=ab+c/d-e==")[0], 401)
        self.assertEqual(r.json("GET", "/api/v1/studies?token=ab%2Bc/d%20e==")[0], 200)
        self.assertEqual(r.json("GET", "/api/v1/studies?token=abXc/d+e==")[0], 401)

    def test_restart_after_kill9_and_sigterm(self):
        s = self.serve()
        s.json("POST", "/api/v1/studies", self.slow_spec("crash", trials=6, pause=0.3))
        s.wait_running("crash", 2)
        s.stop(signal.SIGKILL)
        s = self.serve()        # resumes what the dead server left RUNNING
        st = s.wait_state("crash", "COMPLETE")
        self.assertEqual(st["counts"]["complete"], 6)
        _, page = s.json("GET", "/api/v1/studies/crash/trials?state=FAILED")
        self.assertGreaterEqual(page["total"], 1)
        self.assertTrue(all("interrupted" in t["failure"] for t in page["trials"]))
        trials = s.json("GET", "/api/v1/studies/crash/trials")[1]["trials"]
        retried = sorted(t["retry_of"] for t in trials if t["retry_of"] is not None)
        self.assertEqual(retried, [t["number"] for t in page["trials"]])   # each re-run once

        s.json("POST", "/api/v1/studies", self.slow_spec("term", trials=6, pause=0.3))
        s.wait_running("term", 2)
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        s = self.serve()
        st = s.wait_state("term", "COMPLETE")
        self.assertEqual(st["counts"]["complete"], 6)
        self.assertEqual(s.stop(signal.SIGTERM), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
