#!/usr/bin/env python3
"""test_api_paging: a client pages a live study's trials over HTTP.

A real `kestrel serve` on loopback runs a study whose trials are real child
processes (a shell script: x^2, or a failure for x < 0, so some trials have
no value); between two pages of a listing the study grows by trials that
complete better and worse than the ones listed and that fail. Paged by the
`next` cursor, every trial that was there at the first request comes once;
paged by offset, the positions move under the client.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import ServerCase  # noqa: E402

# x^2 on fd 3, or a failure (no value) for a negative x.
SQUARE_SH = r"""#!/bin/sh
case $1 in -*) echo "negative x" >&2; exit 1 ;; esac
echo "{\"loss\": $(awk -v x="$1" 'BEGIN{printf "%.6f", x*x}')}" >&3
"""

TRIALS = "/api/v1/studies/sq/trials"


class PagingTest(ServerCase):
    SCRIPT = ("square.sh", SQUARE_SH)

    def spec(self, trials):
        return {"name": "sq", "objective": {"metric": "loss", "direction": "minimize"},
                "space": {"x": {"type": "float", "low": -2, "high": 2}},
                "strategy": {"name": "random", "seed": 5},
                "budget": {"max_trials": trials, "max_parallel": 2, "max_failures": 0},
                "run": {"command": ["sh", self.script, "{x}"]}}

    def run_to(self, s, trials):
        """Runs study sq until it has `trials` trials, none running."""
        status, _ = s.json("POST", "/api/v1/studies", self.spec(trials))
        self.assertIn(status, (200, 201))
        deadline = time.monotonic() + 120   # a hang guard, not a deadline
        while time.monotonic() < deadline:
            st = s.wait_state("sq", "COMPLETE")
            if st["counts"]["total"] == trials and st["counts"]["running"] == 0:
                return
            time.sleep(0.05)
        self.fail("study sq never had %d trials, none running: %r" % (trials, st))

    def grow(self, s, trials):
        """Between two pages: a trial better than any listed (x = 0: 0), one
        worse than any (x = 2: 4, the top of the range) and one that fails
        complete. Returns the study's new size."""
        status, _ = s.json("POST", "/api/v1/studies/sq/enqueue",
                           [{"x": 0}, {"x": 2}, {"x": -1}])
        self.assertEqual(status, 201)
        self.run_to(s, trials + 3)
        return trials + 3

    def start(self):
        s = self.serve()
        self.run_to(s, 10)
        whole = s.json("GET", TRIALS + "?sort=best&limit=10000")[1]["trials"]
        self.assertTrue(any(t["value"] is None for t in whole), "some trials failed")
        self.assertTrue(any(t["value"] is not None for t in whole))
        return s, [t["number"] for t in whole]

    def test_a_cursor_hands_out_each_trial_once_while_the_study_grows(self):
        # ?sort=best paged by offset: a better trial completing between two
        # pages pushed the rest down a row, so the next page began with the
        # last one's last trial again (and a trial finishing behind them
        # was skipped); the `next` cursor goes on after the last trial
        # listed, by (value, number), then the trials without a value
        s, first = self.start()
        trials, seen, path = 10, [], TRIALS + "?sort=best&limit=3"
        while True:
            status, page = s.json("GET", path)
            self.assertEqual(status, 200, page)
            seen += [t["number"] for t in page["trials"]]
            if page["next"] is None:
                break
            self.assertEqual(len(page["trials"]), 3)
            path = TRIALS + "?sort=best&limit=3&after=" + page["next"]
            if trials < 22:
                trials = self.grow(s, trials)
        self.assertEqual(len(seen), len(set(seen)), "a trial came twice: %s" % seen)
        self.assertEqual([n for n in seen if n in first], first, "in order, each once")
        # what came besides: trials added ahead of the client's place (the
        # worse ones, the failed ones), never those behind it (the better)
        whole = {t["number"]: t for t in s.json("GET", TRIALS + "?limit=10000")[1]["trials"]}
        for n in (n for n in seen if n not in first):
            self.assertFalse(whole[n]["enqueued"] and whole[n]["params"]["x"] == 0,
                             "trial %d, better than the cursor, came" % n)
        self.assertEqual(len(whole), 22)

    def test_offset_pages_are_positions_that_move_as_the_study_grows(self):
        # offset paging works as before: the same growth repeats a trial
        s, first = self.start()
        trials, seen, offset = 10, [], 0
        while True:
            page = s.json("GET", TRIALS + "?sort=best&limit=3&offset=%d" % offset)[1]
            seen += [t["number"] for t in page["trials"]]
            if len(page["trials"]) < 3:
                break
            offset += 3
            if trials < 22:
                trials = self.grow(s, trials)
        self.assertLess(len(set(seen)), len(seen), "a better trial moves the next page's start")

    def test_a_cursor_by_number_and_with_a_state(self):
        s, _ = self.start()
        for query, key in (("sort=number", None), ("state=COMPLETE&sort=best", "COMPLETE"),
                           ("state=FAILED", "FAILED"), ("format=columns&sort=best", None)):
            whole = s.json("GET", TRIALS + "?limit=10000&" + query)[1]
            seen, path = [], TRIALS + "?limit=2&" + query
            while True:
                status, page = s.json("GET", path)
                self.assertEqual(status, 200, (query, page))
                seen += page["columns"]["number"] if "columns" in page else \
                    [t["number"] for t in page["trials"]]
                if page["next"] is None:
                    break
                path = TRIALS + "?limit=2&%s&after=%s" % (query, page["next"])
            numbers = whole["columns"]["number"] if "columns" in whole else \
                [t["number"] for t in whole["trials"]]
            self.assertEqual(seen, numbers, query)
            self.assertIsNone(whole["next"], query)
        # a page that ends the listing exactly says so: no empty page after
        n = s.json("GET", "/api/v1/studies/sq")[1]["counts"]["total"]
        self.assertIsNone(s.json("GET", TRIALS + "?limit=%d" % n)[1]["next"])
        self.assertIsNotNone(s.json("GET", TRIALS + "?limit=%d" % (n - 1))[1]["next"])
        # a full page of finished trials by number is kept (with its next)
        # while the study grows: the last page's null turns into a cursor
        for _ in range(2):
            self.assertEqual(s.json("GET", TRIALS + "?limit=%d" % (n - 1))[1]["next"], "n%d" % (n - 2))
        self.grow(s, n)
        self.assertEqual(s.json("GET", TRIALS + "?limit=%d" % n)[1]["next"], "n%d" % (n - 1))
        for _ in range(2):
            self.assertIsNone(s.json("GET", TRIALS + "?offset=%d&limit=3" % n)[1]["next"])
        # offset pages give a cursor too, from their last trial
        page = s.json("GET", TRIALS + "?sort=best&offset=4&limit=2")[1]
        after = s.json("GET", TRIALS + "?sort=best&limit=3&after=" + page["next"])[1]
        whole = s.json("GET", TRIALS + "?sort=best&limit=10000")[1]["trials"]
        self.assertEqual([t["number"] for t in after["trials"]], [t["number"] for t in whole[6:9]])

    def test_a_malformed_cursor_is_a_400_naming_after(self):
        s, _ = self.start()
        best = s.json("GET", TRIALS + "?sort=best&limit=1")[1]["next"]
        by_number = s.json("GET", TRIALS + "?limit=1")[1]["next"]
        for query in ("after=", "after=x", "after=n", "after=n-1", "after=n1x", "after=n99999999999", "after=n01",
                      "after=v3ff0.1", "after=v7ff8000000000000.1",   # NaN
                      "after=vzzzzzzzzzzzzzzzz.1", "after=u", "after=%s%%00" % by_number,
                      "sort=best&after=" + by_number, "after=" + best,
                      "offset=1&after=" + by_number):
            status, e = s.json("GET", TRIALS + "?" + query)
            self.assertEqual((status, e["error"].get("path")), (400, "after"), (query, e))
        self.assertIn("sort=best", s.json("GET", TRIALS + "?after=" + best)[1]["error"]["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
