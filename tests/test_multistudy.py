#!/usr/bin/env python3
"""test_multistudy: one `kestrel serve` running several studies at once.

Drives a real server over HTTP (the Server helper of test_api.py) with
real shell-command trials: how --max-parallel is shared among the studies,
and what one study's request or end does to the others. Trials that must
stay running wait for a file the test creates, so every check waits for
a state, never for time.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import KESTREL, DeleteRace, ServerCase  # noqa: E402

# A trial that runs until the file $2 exists, then reports loss x^2.
HOLD_SH = r"""#!/bin/sh
while [ ! -e "$2" ]; do sleep 0.02; done
echo "{\"loss\": $(awk -v x="$1" 'BEGIN{printf "%.6f", x*x}')}" >&3
"""


class MultiStudyTest(ServerCase):
    SCRIPT = ("hold.sh", HOLD_SH)
    STOP_SIGNAL = signal.SIGTERM   # ends the held trials too

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
        s = self.serve("--no-access-log", "--max-parallel", "8")
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

    def held_beside_busy(self, name, strategy, space, busy_parallel, busy_running):
        """Under --max-parallel 8, a study of held trials (max_trials 10,
        max_parallel 8) whose strategy starts 3 at first, then nothing
        until they end, and "busy" (room for busy_parallel) once it runs
        busy_running; returns the server."""
        s = self.serve("--no-access-log", "--max-parallel", "8")
        spec = self.hold_spec(name, 10, 8)
        spec["strategy"], spec["space"] = strategy, space
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_running(name, 3)
        spec = self.hold_spec("busy", 20, busy_parallel)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        self.wait_counts({name: 3, "busy": busy_running})
        return s

    def short_of_suggestions(self, name, strategy, space):
        """Beside such a study "busy" (room for 8) gets the 5 slots of 8
        the first cannot use."""
        s = self.held_beside_busy(name, strategy, space, 8, 5)
        self.release("busy")
        s.wait_state("busy", "COMPLETE")
        self.release(name)
        s.wait_state(name, "COMPLETE")

    def test_slots_a_grid_without_points_left_cannot_use_go_to_the_others(self):
        # a grid of 3 points under max_trials 10 could start no fourth trial,
        # yet kept an equal share (4 of 8): "busy" ran 4 and a slot stayed
        # idle until the grid's trials ended
        self.short_of_suggestions("grid", {"name": "grid"},
                                  {"x": {"type": "categorical", "choices": [-1, 0, 1]}})

    def test_slots_a_hyperband_rung_filling_cannot_use_go_to_the_others(self):
        # Hyperband (R = 3, eta = 3) starts its first bracket's 3 trials,
        # then waits for all of them before it promotes one; meanwhile its
        # equal share (4 of 8) kept a slot idle
        self.short_of_suggestions("hb", {"name": "hyperband", "seed": 3,
                                         "options": {"max_resource": 3, "eta": 3}},
                                  {"x": {"type": "float", "low": -2, "high": 2}})

    def enqueued_start_in_free_slots(self, name, strategy, space):
        """Beside such a study "busy" holds its own 3: two of 8 slots are
        free. Two
        configurations enqueued to the study, one through the API, one by
        `kestrel enqueue` (another process), each take a free slot at once,
        beside the held ones; returns the study's trials then."""
        s = self.held_beside_busy(name, strategy, space, 3, 3)
        self.assertEqual(s.json("POST", "/api/v1/studies/%s/enqueue" % name, {"x": 0})[0], 201)
        self.wait_counts({name: 4, "busy": 3})
        subprocess.run([KESTREL, "enqueue", name, "--db", self.db, "--set", "x=1"], check=True,
                       stdout=subprocess.DEVNULL)
        self.wait_counts({name: 5, "busy": 3})
        _, page = s.json("GET", "/api/v1/studies/%s/trials" % name)
        self.assertEqual([(t["state"], t["enqueued"]) for t in page["trials"]],
                         [("RUNNING", False)] * 3 + [("RUNNING", True)] * 2)
        self.assertEqual(s.json("GET", "/api/v1/studies/%s/enqueue" % name)[1], {"pending": []})
        self.release(name)
        s.wait_state(name, "COMPLETE")
        self.release("busy")
        s.wait_state("busy", "COMPLETE")
        return page["trials"]

    def test_a_configuration_enqueued_to_a_grid_without_points_left_starts_in_a_free_slot(self):
        # it waited for one of the grid's trials to end (its share counted
        # what its strategy had left, nothing)
        self.enqueued_start_in_free_slots(
            "grid", {"name": "grid"}, {"x": {"type": "categorical", "choices": [-1, 0, 1]}})

    def test_a_configuration_enqueued_to_hyperband_waiting_for_a_rung_starts_in_a_free_slot(self):
        # Hyperband (R = 3, eta = 3) waiting for its first rung's 3 trials
        # ran an enqueued configuration only in the place of a suggestion of
        # its own: it waited for the rung to end. It takes the next bracket's
        # fresh places now, at their budget (3)
        trials = self.enqueued_start_in_free_slots(
            "hb", {"name": "hyperband", "seed": 3, "options": {"max_resource": 3, "eta": 3}},
            {"x": {"type": "float", "low": -2, "high": 2}})
        self.assertEqual([t["budget"] for t in trials], [1, 1, 1, 3, 3])

    def test_a_trial_best_or_stop_racing_a_delete_is_a_404_naming_the_study(self):
        # GET .../trials/N and .../best read the study by name, then its trial
        # by the study's id: a DELETE between the two answered 404 "study
        # 'race' has no trial 0" (or "no COMPLETE trial yet") of a study that
        # had one. POST .../stop stops the study, then reads it back: a DELETE
        # between the two answered 409 "deleted by another request
        # meanwhile", where the other routes say 404. Each says 404 "study
        # 'race' was deleted meanwhile" now. Trial 0, COMPLETE, is stored by
        # this connection after each POST (no trial runs: --max-parallel 0),
        # and only this thread makes the study: while it is there, it has
        # trial 0. Only the answers are checked, not how often the window is
        # hit.
        s = self.serve("--no-access-log", "--max-parallel", "0")
        spec = self.hold_spec("race", 10, 1)
        db = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        allowed = {"POST": {200, 201, 202, 404, 409}, "GET": {200, 404}, "DELETE": {204, 404, 409}}
        with DeleteRace(s, "race", allowed) as race:
            for _ in range(300):
                if race.bad:
                    break
                race.call("POST", "/api/v1/studies", spec)
                stored = 0
                for method, path in (("POST", "/api/v1/studies/race/stop"),
                                     ("GET", "/api/v1/studies/race/trials/0"),
                                     ("GET", "/api/v1/studies/race/best")):
                    if method == "GET" and not stored:
                        stored = db.execute(
                            "INSERT INTO trials (study_id, number, state, value, started_at, "
                            "finished_at) SELECT id, 0, 'COMPLETE', 1, 0, 1 FROM studies WHERE "
                            "name = 'race' AND NOT EXISTS (SELECT 1 FROM trials t WHERE "
                            "t.study_id = studies.id)").rowcount
                    status, answer = race.call(method, path)
                    text = answer["error"]["message"] if status >= 400 else ""
                    if (status == 404 and "'race'" not in text or stored and "has no" in text
                            or status == 409 and "deleted" in text):
                        race.bad.append((method, path, answer))
        db.close()
        self.assertEqual(race.bad, [], "answers seen: %r" % race.seen)

    def test_an_unreadable_enqueued_count_is_said_once_a_stretch(self):
        # the engine counts a study's enqueued configurations every tick for
        # its share of --max-parallel; a count that could not be read was
        # passed over without a word. The enqueued table renamed by another
        # connection makes it fail at every tick until it is renamed back:
        # one line for the stretch, one when it reads again, and the study
        # goes on, nothing lost
        s = self.serve("--no-access-log", "--max-parallel", "8")
        spec = self.hold_spec("grid", 10, 8)
        spec["strategy"] = {"name": "grid"}
        spec["space"] = {"x": {"type": "categorical", "choices": [-1, 0, 1]}}
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_running("grid", 3)
        db = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        db.execute("ALTER TABLE enqueued RENAME TO enqueued_away")
        s.wait_log("study grid: cannot count its enqueued configurations")
        # a tick at least fails again between two requests the engine answers
        # (it answers requests, then ticks, in turn)
        for _ in range(2):
            self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 409)
        db.execute("ALTER TABLE enqueued_away RENAME TO enqueued")
        db.close()
        s.wait_log("study grid: its enqueued configurations are counted again")
        with open(s.log.name) as f:
            self.assertEqual(f.read().count("cannot count its enqueued configurations"), 1)
        self.assertEqual(s.json("POST", "/api/v1/studies/grid/enqueue", {"x": 0})[0], 201)
        self.wait_counts({"grid": 4})
        self.release("grid")
        self.assertEqual(s.wait_state("grid", "COMPLETE")["counts"]["complete"], 4)

    def test_a_different_spec_under_a_running_studys_name_names_the_field(self):
        # the answer said "to change its budget, stop it, then post the spec
        # again" whatever differed: a user who did so met a second 409, for
        # the seed; and the other study's trials go on untouched meanwhile
        s = self.serve("--no-access-log", "--max-parallel", "4")
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
        s = self.serve("--no-access-log", "--max-parallel", "0")   # no trial runs: all stay pending
        spec = self.hold_spec("race", 1000, 1)
        allowed = {"POST": {200, 201, 404, 409}, "DELETE": {204, 404, 409}}
        with DeleteRace(s, "race", allowed) as race:
            for _ in range(300):
                if race.bad:
                    break
                race.call("POST", "/api/v1/studies", spec)
                status, answer = race.call("POST", "/api/v1/studies/race/enqueue",
                                           [{"x": 0.5}, {"x": 1.5}, {"x": -0.5}])
                if status == 201 and answer["added"] != 3:
                    race.bad.append(("added", answer))
        self.assertEqual(race.bad, [], "answers seen: %r" % race.seen)
        # every enqueue stored its three configurations or none
        s.json("POST", "/api/v1/studies", spec)
        _, answer = s.json("GET", "/api/v1/studies/race/enqueue")
        self.assertEqual(len(answer["pending"]) % 3, 0, answer)


    def test_a_note_or_a_listing_racing_a_delete_is_a_404_naming_the_study(self):
        # PUT .../note and GET .../trials read the study by name, then write
        # or list by its id (GET .../curves too, answered by name since): a DELETE between the two answered 404 "no study
        # with id 7", an id the client never used, where a study the route
        # does not find is named as the route named it ("no study named
        # 'race'"). Only the answers are checked, not how often the window
        # is hit.
        s = self.serve("--no-access-log", "--max-parallel", "0")
        spec = self.hold_spec("race", 10, 1)
        allowed = {"POST": {200, 201, 409}, "PUT": {200, 404}, "GET": {200, 404},
                   "DELETE": {204, 404, 409}}
        with DeleteRace(s, "race", allowed) as race:
            for i in range(300):
                if race.bad:
                    break
                race.call("POST", "/api/v1/studies", spec)
                for method, path, body in (("PUT", "/api/v1/studies/race/note", {"note": "n%d" % i}),
                                           ("GET", "/api/v1/studies/race/trials", None),
                                           ("GET", "/api/v1/studies/race/trials?sort=best", None),
                                           ("GET", "/api/v1/studies/race/curves", None)):
                    status, answer = race.call(method, path, body)
                    if status == 404 and "'race'" not in answer["error"]["message"]:
                        race.bad.append((method, path, answer))
                    if status == 200 and method == "PUT" and answer["note"] != "n%d" % i:
                        race.bad.append((method, path, answer))
        self.assertEqual(race.bad, [], "answers seen: %r" % race.seen)
        # a note taken is stored whole; a study made again has none
        s.json("POST", "/api/v1/studies", spec)
        status, answer = s.json("PUT", "/api/v1/studies/race/note", {"note": "kept"})
        self.assertEqual((status, answer), (200, {"note": "kept"}))
        self.assertEqual(s.json("GET", "/api/v1/studies/race/note")[1], {"note": "kept"})

    def test_a_stop_of_a_study_whose_kestrel_run_died_stops_it(self):
        # A `kestrel run` of a study beside the server, killed -9 (or by the
        # OOM killer) with a trial running, left it RUNNING, run by nobody:
        # the dashboard's Stop answered 409 "study 'dead' is being run by
        # another kestrel process; stop it there", with no process to stop
        # it in. The stop is now done here, as the dead run's would have
        # been: STOPPED, its trial interrupted, and a resume runs it again;
        # a study a live process runs, or waits to resume, is not stopped.
        s = self.serve()
        spec, started = (os.path.join(self.tmp, f) for f in ("dead.json", "started"))
        dead = self.hold_spec("dead", 1, 1)
        # the trial says it started once its own program runs: until then
        # the child forked for it shares the run's lock (its descriptor is
        # closed at the exec), which a stop would rightly find held
        dead["run"]["command"] = ["sh", "-c", 'touch "$0" && exec sh "$@"', started] + \
            dead["run"]["command"][1:]
        with open(spec, "w") as f:
            json.dump(dead, f)
        run = subprocess.Popen([KESTREL, "run", spec, "--db", self.db],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60   # a hang guard
        while not os.path.exists(started):
            self.assertLess(time.monotonic(), deadline, "the run never started its trial")
            time.sleep(0.05)
        run.kill()
        run.wait()
        status, body = s.json("POST", "/api/v1/studies/dead/stop")
        self.assertEqual(status, 202, body)
        self.assertEqual((body["state"], body["counts"]["running"], body["counts"]["interrupted"]),
                         ("STOPPED", 0, 1))
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT failure FROM trials").fetchone()[0],
                             "interrupted: the kestrel process running it died")
        # nor is one whose `kestrel run` waits to resume it after a storage
        # error (it holds no lock meanwhile, and would resume it after)
        waiting = "a storage error; resuming in 20 s: disk I/O error"
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE studies SET state = 'RUNNING', state_reason = ?", (waiting,))
        status, e = s.json("POST", "/api/v1/studies/dead/stop")
        self.assertEqual((status, e["error"]["message"]), (409, "study 'dead' is being run by "
                         "another kestrel process, which waits to resume it (%s); stop it there (if "
                         "none does any more, resume the study with `kestrel run` of its spec, then "
                         "stop it)" % waiting))
        # nor resumed here, by its resume or its spec posted: the waiting
        # process would run it beside this server, or again after a stop
        refused = ("study 'dead' is being run by another kestrel process, which waits to resume "
                   "it (%s), and resumes it itself (if none does any more, `kestrel run` of its "
                   "spec resumes it)" % waiting)
        for path, body in (("/api/v1/studies/dead/resume", None), ("/api/v1/studies", dead)):
            status, e = s.json("POST", path, body)
            self.assertEqual((status, e.get("error", {}).get("message")), (409, refused), path)
        self.assertEqual(s.json("GET", "/api/v1/studies/dead")[1]["state_reason"], waiting)
        with sqlite3.connect(self.db) as db:   # or the next server would resume it
            db.execute("UPDATE studies SET state = 'STOPPED', state_reason = NULL")
        # a study another process does run is still refused, naming it
        other = self.serve()
        self.assertEqual(s.json("POST", "/api/v1/studies/dead/resume")[0], 202)
        s.wait_running("dead")
        status, e = other.json("POST", "/api/v1/studies/dead/stop")
        self.assertEqual(status, 409)
        self.assertEqual(e["error"]["message"], "study 'dead' is being run by another kestrel "
                         "process; stop it there")
        self.release("dead")
        s.wait_state("dead", "COMPLETE")

    def test_the_spec_of_a_complete_study_posted_again_is_refused_as_its_resume(self):
        # POSTing the spec of a COMPLETE study with nothing left to run
        # answered 200 "state": "RUNNING", and the study went back to
        # COMPLETE at once, while POST .../resume of it answered 409
        # "nothing to resume": both now refuse it, saying how to give it
        # more; a larger budget.max_trials still extends it, and a second
        # `kestrel serve --run` of the spec says it is complete and serves
        s = self.serve("--no-access-log")
        spec = self.hold_spec("done", 1, 1)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        self.release("done")
        s.wait_state("done", "COMPLETE")
        status, e = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 409, e)
        # retry_failed is not named: the study has no failed trial to retry
        self.assertEqual(e["error"]["message"], "study 'done' is complete: nothing left to run "
                         "(post its spec with a larger budget.max_trials to extend it)")
        self.refused(s, "/api/v1/studies/done/resume", "study 'done' is complete: nothing to "
                     "resume (a larger budget.max_trials extends it)")
        self.assertEqual(s.json("GET", "/api/v1/studies/done")[1]["state"], "COMPLETE")
        spec["budget"]["max_trials"] = 2
        status, st = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 200, st)
        self.assertEqual(s.wait_state("done", "COMPLETE")["counts"]["total"], 2)
        s.stop()
        path = os.path.join(self.tmp, "done.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        again = self.serve("--no-access-log", "--run", path)
        self.assertEqual(again.json("GET", "/api/v1/studies/done")[1]["counts"]["total"], 2)
        again.proc.send_signal(signal.SIGTERM)
        out = again.proc.stdout.read()
        self.assertEqual(again.proc.wait(timeout=60), 0, out)
        self.assertIn("study done: complete, nothing left to run (a larger budget.max_trials in "
                      "%s extends it)\n" % path, out)

    def failing_spec(self, name, trials, max_failures=0):
        """A study whose every trial fails (exit 3), one at a time."""
        spec = self.hold_spec(name, trials, 1)
        spec["run"] = {"command": ["sh", "-c", "exit 3"]}
        spec["budget"]["max_failures"] = max_failures
        return spec

    def refused(self, s, path, message, body=None):
        """POST path is 409 with message."""
        status, e = s.json("POST", path, body)
        self.assertEqual(status, 409, e)
        self.assertEqual(e["error"]["message"], message)

    def serve_run(self, s, spec):
        """Stops s, then serves again with --run of spec (in a file):
        (the new server, the file's path)."""
        s.stop()
        path = os.path.join(self.tmp, spec["name"] + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        return self.serve("--no-access-log", "--run", path), path

    def said_at_start(self, again, line):
        """Stops again (exit 0) and checks its output had line."""
        again.proc.send_signal(signal.SIGTERM)
        out = again.proc.stdout.read()
        self.assertEqual(again.proc.wait(timeout=60), 0, out)
        self.assertIn(line + "\n", out)

    def assert_study(self, s, name, state, total):
        st = s.json("GET", "/api/v1/studies/" + name)[1]
        self.assertEqual((st["state"], st["counts"]["total"]), (state, total))

    def test_a_failed_study_with_nothing_left_to_run_is_refused_as_a_complete_one(self):
        # a FAILED study whose every trial failed and whose budget is spent
        # was resumed with 202 RUNNING (and its spec posted again, 200
        # RUNNING), ran nothing and went back to FAILED at once: both are
        # 409 now, as for a complete study, naming retry_failed=true, which
        # still re-runs its failed trials (202)
        s = self.serve("--no-access-log")
        spec = self.failing_spec("bad", 2)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        s.wait_state("bad", "FAILED")
        self.refused(s, "/api/v1/studies/bad/resume", "study 'bad' failed: nothing to resume "
                     "(retry_failed=true re-runs its failed trials; a larger budget.max_trials "
                     "extends it)")
        self.refused(s, "/api/v1/studies", "study 'bad' failed: nothing left to run (post its "
                     "spec with a larger budget.max_trials to extend it; POST "
                     ".../resume?retry_failed=true re-runs its failed trials)", spec)
        self.assert_study(s, "bad", "FAILED", 2)
        # `kestrel serve --run` of its spec says so and serves it as it is
        again, path = self.serve_run(s, spec)
        self.assertEqual(again.json("GET", "/api/v1/studies/bad")[1]["state"], "FAILED")
        self.assertEqual(again.json("POST", "/api/v1/studies/bad/resume?retry_failed=true")[0], 202)
        self.assertEqual(again.wait_state("bad", "FAILED")["counts"]["total"], 4)
        self.said_at_start(again, "study bad: failed, nothing left to run (a larger "
                           "budget.max_trials in %s extends it; POST .../resume?retry_failed=true "
                           "re-runs its failed trials)" % path)

    def test_the_spec_of_a_complete_study_with_a_new_enqueue_point_runs_it(self):
        # a spec's "enqueue" may change without refusal: a complete grid
        # with max_trials to spare, posted again with a configuration
        # enqueued there, runs it (200), as a larger budget would
        s = self.serve("--no-access-log")
        spec = self.hold_spec("grid1", 3, 1)
        spec["strategy"] = {"name": "grid"}
        spec["space"]["x"]["grid"] = [1]
        self.release("grid1")
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        self.assertEqual(s.wait_state("grid1", "COMPLETE")["counts"]["total"], 1)
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 409)
        spec["enqueue"] = [{"x": 0.5}]
        status, st = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 200, st)
        self.assertEqual(s.wait_state("grid1", "COMPLETE")["counts"]["total"], 2)

    def test_a_study_that_reached_its_goal_is_not_extended_by_a_larger_budget(self):
        # its spec posted with a larger budget.max_trials answered 200
        # RUNNING and ran nothing (the goal ends it, docs/spec.md): 409,
        # saying why, as its resume; `kestrel serve --run` says so too
        s = self.serve("--no-access-log")
        spec = self.hold_spec("goal", 3, 1)
        spec["objective"]["goal"] = 5        # every x^2 of [-2, 2] reaches it
        self.release("goal")
        self.assertEqual(s.json("POST", "/api/v1/studies", spec)[0], 201)
        self.assertEqual(s.wait_state("goal", "COMPLETE")["counts"]["total"], 1)
        why = ("study 'goal' is complete: it reached its objective.goal, so nothing is left to "
               "run, whatever its budget.max_trials or retry_failed (a study with another goal, "
               "under another name, runs more)")
        self.refused(s, "/api/v1/studies/goal/resume", why)
        spec["budget"]["max_trials"] = 5
        self.refused(s, "/api/v1/studies", why, spec)
        self.assert_study(s, "goal", "COMPLETE", 1)
        again, _ = self.serve_run(s, spec)
        self.said_at_start(again, "study goal: complete, its objective.goal reached: nothing "
                           "left to run")

    def test_a_failed_study_with_something_left_to_run_is_resumed(self):
        # what a resume would run, not the stored counts, decides: budget
        # left after budget.max_failures stopped it, and a trial a dead
        # process left RUNNING (reclaimed, then re-run), are resumed (202)
        s = self.serve("--no-access-log")
        self.assertEqual(s.json("POST", "/api/v1/studies", self.failing_spec("few", 4, 2))[0], 201)
        self.assertEqual(s.wait_state("few", "FAILED")["counts"]["total"], 2)
        self.assertEqual(s.json("POST", "/api/v1/studies/few/resume")[0], 202)
        self.assertEqual(s.wait_state("few", "FAILED")["counts"]["total"], 4)
        self.assertEqual(s.json("POST", "/api/v1/studies/few/resume")[0], 409)
        # its last trial left RUNNING, as by a process killed while it ran
        db = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        db.execute("UPDATE trials SET state = 'RUNNING', finished_at = NULL, failure = NULL WHERE number = 3 AND "
                   "study_id = (SELECT id FROM studies WHERE name = 'few')")
        db.close()
        self.assertEqual(s.json("POST", "/api/v1/studies/few/resume")[0], 202)
        st = s.wait_state("few", "FAILED")
        self.assertEqual((st["counts"]["total"], st["counts"]["interrupted"]), (5, 1))

    def test_retry_failed_of_a_study_with_no_failed_trial_left_is_refused(self):
        # resume?retry_failed=true of a COMPLETE study with no FAILED trial
        # answered 202 RUNNING and ran nothing: 409, saying there is none
        s = self.serve("--no-access-log")
        self.assertEqual(s.json("POST", "/api/v1/studies", self.hold_spec("done", 1, 1))[0], 201)
        self.release("done")
        s.wait_state("done", "COMPLETE")
        self.refused(s, "/api/v1/studies/done/resume?retry_failed=true", "study 'done' is "
                     "complete: no failed trial to retry (each was retried already), nothing to "
                     "resume (a larger budget.max_trials extends it)")
        self.assert_study(s, "done", "COMPLETE", 1)
        # a study whose failed trials were all retried (and completed) alike
        spec = self.failing_spec("mended", 2)
        spec["run"] = {"command": ["sh", "-c", "test -e '%s' || exit 3; echo '{{\"loss\": 1}}' >&3"
                                   % os.path.join(self.tmp, "release-mended")]}
        status, st = s.json("POST", "/api/v1/studies", spec)
        self.assertEqual(status, 201, st)
        s.wait_state("mended", "FAILED")
        self.release("mended")
        self.assertEqual(s.json("POST", "/api/v1/studies/mended/resume?retry_failed=true")[0], 202)
        self.assertEqual(s.wait_state("mended", "COMPLETE")["counts"]["total"], 4)
        self.refused(s, "/api/v1/studies/mended/resume?retry_failed=true", "study 'mended' is "
                     "complete: no failed trial to retry (each was retried already), nothing to "
                     "resume (a larger budget.max_trials extends it)")
        self.refused(s, "/api/v1/studies/mended/resume", "study 'mended' is complete: nothing to "
                     "resume (a larger budget.max_trials extends it)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
