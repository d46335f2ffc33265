#!/usr/bin/env python3
"""test_multistudy: one `kestrel serve` running several studies at once.

Drives a real server over HTTP (the Server helper of test_api.py) with
real shell-command trials: how --max-parallel is shared among the studies,
and what one study's request or end does to the others. Trials that must
stay running wait for a file the test creates, so every check waits for
a state, never for time.
"""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import Server  # noqa: E402

# A trial that runs until the file $2 exists, then reports loss x^2.
HOLD_SH = r"""#!/bin/sh
while [ ! -e "$2" ]; do sleep 0.02; done
echo "{\"loss\": $(awk -v x="$1" 'BEGIN{printf "%.6f", x*x}')}" >&3
"""


class MultiStudyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kestrel-multi-")
        self.db = os.path.join(self.tmp, "k.db")
        self.script = os.path.join(self.tmp, "hold.sh")
        with open(self.script, "w") as f:
            f.write(HOLD_SH)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, *args):
        s = Server(self.tmp, self.db, "--no-access-log", *args)
        self.servers.append(s)
        return s

    def release(self, name):
        open(os.path.join(self.tmp, "release-" + name), "w").close()

    def hold_spec(self, name, trials, parallel):
        """Trials of study name hold their slot until release(name)."""
        return {"name": name, "objective": {"metric": "loss", "direction": "minimize"},
                "space": {"x": {"type": "float", "low": -2, "high": 2}},
                "strategy": {"name": "random", "seed": 3},
                "budget": {"max_trials": trials, "max_parallel": parallel},
                "run": {"command": ["sh", self.script, "{x}",
                                    os.path.join(self.tmp, "release-" + name)]}}

    def wait_counts(self, want, timeout=60):
        """Waits until GET /studies shows each study's running count as in
        want ({name: n}); a hang guard, not a deadline."""
        deadline = time.monotonic() + timeout
        while True:
            _, page = self.servers[-1].json("GET", "/api/v1/studies")
            seen = {s["name"]: s["counts"]["running"] for s in page["studies"]}
            if all(seen.get(k) == v for k, v in want.items()):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError("running trials %r, never %r" % (seen, want))
            time.sleep(0.05)

    def test_slots_a_study_cannot_use_go_to_the_others(self):
        # "last" has spent its budget (1 trial, running): of --max-parallel 8
        # it fills 1, so "busy" (room for 8 at once) gets the other 7; it
        # got an equal share, 4, and 3 slots stayed idle until "last" ended
        s = self.serve("--max-parallel", "8")
        self.assertEqual(s.json("POST", "/api/v1/studies", self.hold_spec("last", 1, 8))[0], 201)
        s.wait_running("last", 1)
        self.assertEqual(s.json("POST", "/api/v1/studies", self.hold_spec("busy", 20, 8))[0], 201)
        self.wait_counts({"last": 1, "busy": 7})
        # once "last" ends, its slot is "busy"'s too
        self.release("last")
        s.wait_state("last", "COMPLETE")
        self.wait_counts({"busy": 8})
        self.release("busy")
        s.wait_state("busy", "COMPLETE")

    def test_a_different_spec_under_a_running_studys_name_names_the_field(self):
        # the answer said "to change its budget, stop it, then post the spec
        # again" whatever differed: a user who did so met a second 409, for
        # the seed; and the other study's trials go on untouched meanwhile
        s = self.serve("--max-parallel", "4")
        for name in ("run", "other"):
            self.assertEqual(s.json("POST", "/api/v1/studies", self.hold_spec(name, 4, 2))[0], 201)
        self.wait_counts({"run": 2, "other": 2})
        spec = self.hold_spec("run", 4, 2)
        spec["strategy"]["seed"] = 9
        status, e = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 409)
        self.assertIn("already exists with a different spec (strategy.seed: 3 -> 9)",
                      e["error"]["message"])
        self.assertNotIn("to change its budget", e["error"]["message"])
        spec = self.hold_spec("run", 6, 2)
        status, e = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 409)
        self.assertIn("is already running: to change its budget, stop it", e["error"]["message"])
        status, e = s.json("POST", "/api/v1/studies", self.hold_spec("run", 4, 2))
        self.assertEqual(status, 409)
        self.assertEqual(e["error"]["message"], "study 'run' is already running")
        self.assertEqual(self.wait_counts({"run": 2, "other": 2}), {"run": 2, "other": 2})
        for name in ("run", "other"):
            self.release(name)
            self.assertEqual(s.wait_state(name, "COMPLETE")["counts"]["complete"], 4)

    def test_an_enqueue_racing_a_delete_is_404_and_stores_all_or_nothing(self):
        # An enqueue reads the study, then inserts its configurations: a
        # DELETE between the two was 500 ("cannot enqueue: FOREIGN KEY
        # constraint failed"), and of an array, the configurations stored
        # before that stayed. Deleters hammer the name while the study is
        # made again and enqueued to, so the window is hit often; only the
        # answers and what is stored are checked, not how often.
        s = self.serve("--max-parallel", "0")   # no trial runs: all stay pending
        spec = self.hold_spec("race", 1000, 1)
        allowed = {"POST": {200, 201, 404, 409}, "DELETE": {204, 404, 409}}
        bad, done = [], threading.Event()

        def call(method, path, body=None):
            status, answer = s.json(method, path, body)
            if status not in allowed[method]:
                bad.append((method, path, status, answer))
            return status, answer

        def deleter():
            while not done.is_set() and not bad:
                call("DELETE", "/api/v1/studies/race")

        threads = [threading.Thread(target=deleter) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for i in range(300):
                if bad:
                    break
                call("POST", "/api/v1/studies", spec)
                status, answer = call("POST", "/api/v1/studies/race/enqueue",
                                      [{"x": 0.5}, {"x": 1.5}, {"x": -0.5}])
                if status == 201 and answer["added"] != 3:
                    bad.append(("added", answer))
        finally:
            done.set()
            for t in threads:
                t.join()
        self.assertEqual(bad, [])
        # every enqueue stored its three configurations or none
        status, _ = s.json("POST", "/api/v1/studies", spec)
        _, answer = s.json("GET", "/api/v1/studies/race/enqueue")
        self.assertEqual(len(answer["pending"]) % 3, 0, answer)


if __name__ == "__main__":
    unittest.main(verbosity=2)
