#!/bin/sh
# Browser tests of the dashboard (tests/browser/*.test.mjs, by area: the
# studies list, the study page, the charts, live updates and actions; their
# shared helpers in helpers.mjs): a real `kestrel serve` and Debian's
# chromium driven by playwright-core under node's test runner, every file.
# Screenshots of each page land in ./test-artifacts.
# Skips (exit 77) only when chromium, node or tests/browser/node_modules is
# missing; ./bootstrap installs all three.
set -u
KESTREL=${KESTREL:-$(pwd)/kestrel}
top_srcdir=${top_srcdir:-$(pwd)}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
dir=$top_srcdir/tests/browser
skip() { echo "SKIP: $1 (./bootstrap installs it)"; exit 77; }
[ -x "$CHROMIUM" ] || skip "no chromium at $CHROMIUM"
command -v node >/dev/null 2>&1 || skip "no node"
[ -f "$dir/node_modules/playwright-core/package.json" ] || skip "no $dir/node_modules (npm ci)"
ARTIFACTS=${ARTIFACTS:-$(pwd)/test-artifacts}
export KESTREL top_srcdir CHROMIUM ARTIFACTS
cd "$dir" && exec node --test studies.test.mjs study.test.mjs charts.test.mjs actions.test.mjs
