// Shared by the dashboard's browser tests (tests/browser/*.test.mjs): each
// test file calls setup() for a real `kestrel serve` on a temp database with
// the studies it needs, and Debian's chromium driven through playwright-core
// (one page, `page`); the helpers below start studies, wait for states (never
// for a time), read the charts and take screenshots into $ARTIFACTS (default
// ./test-artifacts).
//
// Environment: KESTREL (the binary), top_srcdir, ARTIFACTS, CHROMIUM; run by
// tests/test_browser.sh with `node --test`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const KESTREL = process.env.KESTREL || resolve('kestrel');
export const ARTIFACTS = process.env.ARTIFACTS || resolve('test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const WAIT = 90000; // ms; an upper bound for anything to show up, not a timing assertion (a loaded 2-core CI machine)

/* set by setup()'s before hook: the temp folder, the server's URL, the page */
export let tmp, base, page;
let server, context;
const pageErrors = [];

// A trial command that reports the objective `loss` at each of N steps,
// DELAY seconds apart, then the final value (docs/protocol.md).
export const STEPS_SH = `#!/bin/sh
x=$1 n=$2 d=$3 e=1 l=0
fd=\${KESTREL_REPORT_FD:-1}
while [ "$e" -le "$n" ]; do
  sleep "$d"
  l=$(awk -v x="$x" -v e="$e" 'BEGIN { printf "%.6g", (x - 1) ^ 2 + 1 / e }')
  echo "{\\"step\\": $e, \\"loss\\": $l}" >&"$fd"
  echo "epoch $e loss $l" >&2
  e=$((e + 1))
done
echo "{\\"loss\\": $l}" >&"$fd"
echo "done x=$x"
`;

export function branin(name, trials, parallel = 2) {
  return {
    name,
    objective: { metric: 'value', direction: 'minimize' },
    space: { x1: { type: 'float', low: -5, high: 10 }, x2: { type: 'float', low: 0, high: 15 } },
    strategy: { name: 'random', seed: 11 },
    budget: { max_trials: trials, max_parallel: parallel },
    run: { function: 'branin' },
  };
}

export function stepsStudy(name, trials, delay) {
  return {
    name,
    objective: { metric: 'loss', direction: 'minimize' },
    space: {
      x: { type: 'float', low: -2, high: 4 },
      epochs: { type: 'int', low: 2, high: 6 },
      opt: { type: 'categorical', choices: ['sgd', 'adam'] },
    },
    strategy: { name: 'random', seed: 5 },
    budget: { max_trials: trials, max_parallel: 2, trial_timeout: 60 },
    run: { command: ['sh', join(tmp, 'steps.sh'), '{x}', '{epochs}', String(delay)] },
  };
}

/* A trial command that reports `loss` each 0.1 s (when $2 is 1) or
 * nothing, until the file $1 is there, then ends COMPLETE: a test ends it
 * when it has seen what it needs. */
const UNTIL_SH = `#!/bin/sh
fd=\${KESTREL_REPORT_FD:-1} e=1
while [ ! -e "$1" ]; do
  sleep 0.1
  [ "$2" = 1 ] && echo "{\\"step\\": $e, \\"loss\\": 1}" >&"$fd"
  e=$((e + 1))
done
echo '{"loss": 1}' >&"$fd"
`;
export function untilStudy(name, flag, report) {
  writeFileSync(join(tmp, 'until.sh'), UNTIL_SH);
  const spec = stepsStudy(name, 1, 0);
  spec.budget.trial_timeout = 600;
  spec.run = { command: ['sh', join(tmp, 'until.sh'), flag, report ? '1' : '0'] };
  return spec;
}
export async function api(method, path, body) {
  const res = await fetch(base + 'api/v1' + path, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export async function until(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const studyState = async (name) => (await api('GET', '/studies/' + name)).json.state;
export const allTrials = async (name) => (await api('GET', `/studies/${name}/trials?limit=10000`)).json.trials;

export async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png'), fullPage: true });
}

// Counts of what a chart draws, read from the Chart.js instances the
// dashboard exposes as window.kestrelCharts; bandsOf gives, for each trial
// number in probe, its colour band in the parallel coordinates and in each
// slice.
export async function chartCounts(probe = []) {
  await page.locator('#charts[data-ready="true"]').waitFor();
  return page.evaluate((probe) => {
    const c = window.kestrelCharts;
    /* a dataset's points, whether an array or columns (K.Plot.Columns) */
    const points = (d) => Array.from({ length: d.data.length }, (_, i) => d.data.at(i));
    const pts = (ch, i) => (ch ? points(ch.data.datasets[i]).filter((p) => p.y !== null).length : -1);
    // slices and parallel coordinates: one dataset per objective colour band
    const all = (ch) => (ch ? ch.data.datasets.reduce((s, d, i) => s + pts(ch, i), 0) : -1);
    const bandOf = (ch, n) => (ch ? ch.data.datasets.findIndex((d) => points(d).some((p) => p.n === n)) : -1);
    const lines = c.curves ? c.curves.data.datasets.filter((d) => d.state) : null;
    const curveTrials = lines ? new Set(lines.flatMap((d) => points(d).map((p) => p.n))).size : -1;
    const curvePoints = lines ? lines.reduce((s, d) => s + points(d).filter((p) => p.y !== null).length, 0) : -1;
    const slices = Object.keys(c).filter((k) => k.startsWith('slice:')).map((k) => [k.slice(6), all(c[k])]);
    const sliceBands = (n) => Object.keys(c).filter((k) => k.startsWith('slice:')).map((k) => bandOf(c[k], n));
    return {
      history: pts(c.history, 0), best: pts(c.history, 1), parallelLines: c.parallel ? c.parallel.lines : -1,
      parallelPoints: all(c.parallel), importance: c.importance ? c.importance.data.labels.slice().sort() : [],
      bands: c.parallel ? c.parallel.data.datasets.filter((d) => !d.dim).length : -1,
      bandsOf: probe.map((n) => [bandOf(c.parallel, n), ...sliceBands(n)]),
      curveTrials, curvePoints, slices: Object.fromEntries(slices),
      canvases: [...document.querySelectorAll('canvas')].filter((e) => e.width > 0 && e.height > 0).length,
    };
  }, probe);
}

/* Each chart of the page: the text it shows in place of its axes when it
 * has nothing to draw (and then its canvas must be blank), or 'drawn'. */
export async function emptyCharts() {
  return page.evaluate(() => Object.fromEntries(Object.entries(window.kestrelCharts).map(([k, c]) => {
    const said = c.canvas.parentNode.querySelector('.plot-empty');
    if (!said || said.hidden) return [k, 'drawn'];
    const px = c.canvas.getContext('2d').getImageData(0, 0, c.canvas.width, c.canvas.height).data;
    const inked = px.some((v, i) => i % 4 === 3 && v !== 0);
    return [k, inked ? 'axes under: ' + said.textContent : said.textContent];
  })));
}

/* What a screen reader finds in the page's main part without a name: each
 * control, table and chart (by its role in the page's accessibility tree,
 * Playwright's ariaSnapshot) that has none, as its snapshot line: a
 * textbox was read out by its content, a selector by its option. */
const NAMED_ROLES = ['textbox', 'combobox', 'checkbox', 'button', 'link', 'table', 'application', 'radio', 'spinbutton', 'region'];
export async function unnamed() {
  const tree = await page.locator('main').ariaSnapshot();
  return tree.split('\n').filter((line) => {
    const m = /^\s*- '?([a-z]+)(.*)$/.exec(line);
    return m && NAMED_ROLES.includes(m[1]) && !m[2].startsWith(' "');
  }).map((line) => line.trim().slice(0, 80));
}

export async function go(hash) {
  await page.goto(base + hash);
}

/* Starts `kestrel serve` on tmp's database db, on a free port unless args
 * give --listen: {proc, url}. */
export async function serve(db, ...args) {
  const listen = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const proc = spawn(KESTREL, ['serve', ...listen, '--db', join(tmp, db), ...args],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((ok, fail) => {
    let out = '';
    /* cleared once it listens: left running, it kept each test file's node
     * process alive WAIT ms after its last test */
    const timer = setTimeout(() => fail(new Error('kestrel serve printed no "listening on" line: ' + out)), WAIT);
    proc.stdout.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) { clearTimeout(timer); ok(m[1] + '/'); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); fail(new Error(`kestrel serve exited (${code}): ${out}`)); });
  });
  proc.stdout.resume();
  return { proc, url };
}

/* The test file's server (tmp's kestrel.db), its studies (studies(): their
 * specs, made once tmp is, each waited for until COMPLETE) and the browser,
 * before its first test; all gone after its last. */
export function setup(studies) {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'kestrel-browser-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(tmp, 'steps.sh'), STEPS_SH);
    ({ proc: server, url: base } = await serve('kestrel.db'));
    const specs = studies();
    for (const spec of specs) {
      const r = await api('POST', '/studies', spec);
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    for (const { name } of specs) await until(name + ' complete', async () => (await studyState(name)) === 'COMPLETE');
  });

  after(async () => {
    if (context) await context.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => { server.once('exit', r); setTimeout(r, 5000); });
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
}

/* The test file's last test: no page it showed threw. */
export function noScriptErrors() {
  test('no script error on any page', () => {
    assert.deepEqual(pageErrors, []);
  });
}
