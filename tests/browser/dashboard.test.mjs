// Browser tests of the dashboard: a real `kestrel serve` on a temp database
// runs real studies (a Branin function study, command studies that report
// steps), and Debian's chromium, driven through playwright-core, checks what
// a person would see: the list, each chart with the study's points, the
// table, live updates, the trial page, the new-study form, stop and resume.
// Screenshots of each page go to $ARTIFACTS (default ./test-artifacts).
//
// Environment: KESTREL (the binary), top_srcdir, ARTIFACTS; run by
// tests/test_browser.sh with `node --test`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const KESTREL = process.env.KESTREL || resolve('kestrel');
const ARTIFACTS = process.env.ARTIFACTS || resolve('test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 90000; // ms; an upper bound for anything to show up, not a timing assertion (a loaded 2-core CI machine)

let tmp, server, base, context, page;
const pageErrors = [];

// A trial command that reports the objective `loss` at each of N steps,
// DELAY seconds apart, then the final value (docs/protocol.md).
const STEPS_SH = `#!/bin/sh
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

function branin(name, trials, parallel = 2) {
  return {
    name,
    objective: { metric: 'value', direction: 'minimize' },
    space: { x1: { type: 'float', low: -5, high: 10 }, x2: { type: 'float', low: 0, high: 15 } },
    strategy: { name: 'random', seed: 11 },
    budget: { max_trials: trials, max_parallel: parallel },
    run: { function: 'branin' },
  };
}

function stepsStudy(name, trials, delay) {
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

async function api(method, path, body) {
  const res = await fetch(base + 'api/v1' + path, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function until(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const studyState = async (name) => (await api('GET', '/studies/' + name)).json.state;
const allTrials = async (name) => (await api('GET', `/studies/${name}/trials?limit=10000`)).json.trials;

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png'), fullPage: true });
}

// Counts of what a chart draws, read from the Chart.js instances the
// dashboard exposes as window.kestrelCharts; bandsOf gives, for each trial
// number in probe, its colour band in the parallel coordinates and in each
// slice.
async function chartCounts(probe = []) {
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
async function emptyCharts() {
  return page.evaluate(() => Object.fromEntries(Object.entries(window.kestrelCharts).map(([k, c]) => {
    const said = c.canvas.parentNode.querySelector('.plot-empty');
    if (!said || said.hidden) return [k, 'drawn'];
    const px = c.canvas.getContext('2d').getImageData(0, 0, c.canvas.width, c.canvas.height).data;
    const inked = px.some((v, i) => i % 4 === 3 && v !== 0);
    return [k, inked ? 'axes under: ' + said.textContent : said.textContent];
  })));
}

async function go(hash) {
  await page.goto(base + hash);
}

/* Starts `kestrel serve` on a free port of tmp's database db: {proc, url}. */
async function serve(db, ...args) {
  const proc = spawn(KESTREL, ['serve', '--listen', '127.0.0.1:0', '--db', join(tmp, db), ...args],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((ok, fail) => {
    let out = '';
    proc.stdout.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) ok(m[1] + '/');
    });
    proc.on('exit', (code) => fail(new Error(`kestrel serve exited (${code}): ${out}`)));
    setTimeout(() => fail(new Error('kestrel serve printed no "listening on" line: ' + out)), WAIT);
  });
  proc.stdout.resume();
  return { proc, url };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'kestrel-browser-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(tmp, 'steps.sh'), STEPS_SH);
  ({ proc: server, url: base } = await serve('kestrel.db'));
  for (const spec of [branin('branin', 30), stepsStudy('curves', 12, 0.02), branin('many', 150, 4)]) {
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
  for (const name of ['branin', 'curves', 'many']) await until(name + ' complete', async () => (await studyState(name)) === 'COMPLETE');
});

after(async () => {
  if (context) await context.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { server.once('exit', r); setTimeout(r, 5000); });
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the studies list shows every study with state, progress and best value', async () => {
  await go('#/');
  for (const name of ['branin', 'curves', 'many']) {
    await page.locator(`#studies tr[data-study="${name}"]`).waitFor();
  }
  const row = page.locator('#studies tr[data-study="branin"]');
  assert.match(await row.innerText(), /COMPLETE/);
  assert.match(await row.innerText(), /30 \/ 30/);
  const best = (await api('GET', '/studies/branin')).json.best;
  assert.ok(best, 'the API has a best trial');
  assert.equal(await row.locator('td:nth-child(5) a').getAttribute('href'), `#/study/branin/trial/${best.number}`);
  await shot('studies');
});

test('the study page draws every chart with one point per trial', async () => {
  await go('#/study/branin');
  await page.waitForFunction(() => window.kestrelCharts.history && window.kestrelCharts.history.data.datasets[0].data.length > 0);
  const trials = await allTrials('branin');
  const complete = trials.filter((t) => t.state === 'COMPLETE').length;
  assert.equal(complete, 30);
  const done = trials.filter((t) => t.state === 'COMPLETE').sort((a, b) => a.value - b.value);
  const c = await chartCounts([done[0].number, done[done.length - 1].number]);
  assert.equal(c.history, 30, 'history: one point per COMPLETE trial');
  const tip = await page.evaluate((n) => {
    const ch = window.kestrelCharts.parallel;
    const raw = ch.data.datasets.flatMap((d) => Array.from({ length: d.data.length }, (_, i) => d.data.at(i))).find((p) => p.n === n);
    return ch.options.plugins.tooltip.callbacks.label({ chart: ch, raw });
  }, done[0].number);
  const value = String(Number(done[0].value.toPrecision(6)));
  assert.match(tip, /^#\d+: x1=\S+ x2=\S+ → \S+$/, 'parallel coordinates tooltip: the trial, its parameters and value');
  assert.ok(tip.startsWith(`#${done[0].number}: `) && tip.endsWith(` → ${value}`), tip);
  assert.ok(c.bands > 1, 'objective colours come in several bands');
  assert.deepEqual(c.bandsOf, [[c.bands - 1, c.bands - 1, c.bands - 1], [0, 0, 0]],
    'the best trial (Branin minimizes) in the best colour band of every chart, the worst in the worst');
  assert.ok(c.best >= 1 && c.best <= 30, 'best-so-far line');
  assert.equal(c.parallelLines, 30, 'parallel coordinates: one line per COMPLETE trial');
  assert.equal(c.parallelPoints, 30 * 3, 'parallel coordinates: a point on each of x1, x2 and the objective');
  assert.deepEqual(c.slices, { x1: 30, x2: 30 }, 'one slice plot per parameter, each with every trial');
  assert.deepEqual(c.importance, ['x1', 'x2'], 'importance of each parameter');
  assert.equal(c.canvases, 9, 'history, curves, parallel, importance, EDF, timeline, contour and two slices are drawn');
  const more = await page.evaluate(() => {
    const k = window.kestrelCharts;
    return { edf: k.edf.data.datasets[0].data.map((p) => p.y),
      timeline: k.timeline.data.datasets.reduce((s, d) => s + d.data.filter((p) => p.y !== null).length / 2, 0),
      bars: k.timeline.bars,
      lanes: k.timeline.lanes.length,
      legend: k.history.legend.legendItems.map((i) => i.text) };
  });
  assert.equal(more.edf.length, 30, 'EDF: one step per COMPLETE trial');
  assert.equal(more.edf[29], 1, 'EDF ends at every trial');
  // each value's fraction holds from that value on: level to the next value,
  // then up ('after' rose at the value before, one trial early)
  assert.equal(await page.evaluate(() => window.kestrelCharts.edf.data.datasets[0].stepped), 'before');
  assert.equal(more.timeline, 30, 'timeline: one bar (a segment from start to end) per trial');
  assert.equal(more.bars, 30);
  assert.ok(more.lanes >= 1 && more.lanes <= 2, 'timeline: a row per parallel slot (max_parallel 2)');
  assert.deepEqual(more.legend, ['trial value', 'best so far'], 'no "pruned" in a legend of a study without pruned trials');
  assert.equal((await emptyCharts()).curves,
    'No trial has reported intermediate steps yet', 'learning curves of a study whose trials report no steps say so');
  await page.check('#log-scale');
  assert.equal(await page.evaluate(() => window.kestrelCharts.history.options.scales.y.type), 'logarithmic',
    'the log switch puts the objective on a log scale');
  await shot('study-log');
  await page.uncheck('#log-scale');
  await shot('study');
});

test('the history canvas draws a point per trial in its state\'s colour, and a hover names the trial', async () => {
  await go('#/');
  await page.locator('#studies').waitFor();
  /* 300 trials, complete ones low and pruned ones high so no point hides another's centre */
  const got = await page.evaluate(() => {
    const box = document.createElement('div');
    box.style.cssText = 'position:relative;width:900px;height:300px';
    const canvas = document.createElement('canvas');
    box.append(canvas);
    document.body.append(box);
    const trials = Array.from({ length: 300 }, (_, i) => (i % 3 === 0
      ? { number: i, state: 'PRUNED', value: 90 + (i % 7) }
      : { number: i, state: 'COMPLETE', value: (i * 7) % 13 }));
    const c = K.charts.history(canvas, { study: { direction: 'minimize' }, trials });
    c.refresh(c.model);
    c.data.datasets[1].hidden = true;   /* the best-so-far line crosses points */
    c.update();
    const img = c.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colourAt = (x, y) => {
      const k = (Math.round(y * c.dpr) * canvas.width + Math.round(x * c.dpr)) * 4;
      return '#' + [img[k], img[k + 1], img[k + 2]].map((v) => v.toString(16).padStart(2, '0')).join('');
    };
    const drawn = (i) => Array.from(c.getDatasetMeta(i).px, (x, k) => colourAt(x, c.getDatasetMeta(i).py[k]));
    const r = { complete: drawn(0), pruned: drawn(2), colours: K.charts.STATE_COLORS, blank: colourAt(2, 2) };
    c.destroy();
    delete window.kestrelCharts.history;
    box.remove();
    return r;
  });
  assert.equal(got.complete.length, 200);
  assert.equal(got.pruned.length, 100);
  assert.deepEqual([...new Set(got.complete)], [got.colours.COMPLETE], 'every complete trial drawn in the complete colour');
  assert.deepEqual([...new Set(got.pruned)], [got.colours.PRUNED], 'every pruned trial drawn in the pruned colour');
  assert.equal(got.blank, '#000000', 'nothing drawn outside the chart');

  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const done = (await allTrials('branin')).filter((t) => t.state === 'COMPLETE').sort((a, b) => b.value - a.value);
  const canvas = page.locator('#charts canvas').first();
  const box = await canvas.boundingBox();
  /* the worst trial: far above the best-so-far line */
  const at = await page.evaluate((n) => {
    const c = window.kestrelCharts.history;
    const i = c.data.datasets[0].data.findIndex((p) => p.x === n);
    return { x: c.getDatasetMeta(0).px[i], y: c.getDatasetMeta(0).py[i] };
  }, done[0].number);
  await page.mouse.move(box.x + at.x, box.y + at.y);
  const tip = page.locator('#charts .plot-tip').first();
  await tip.waitFor();
  assert.equal(await tip.innerText(), `#${done[0].number}: ${Number(done[0].value.toPrecision(6))}`, 'the tooltip names the trial and its value');
  await page.mouse.move(box.x + 1, box.y + 1);
  assert.equal(await tip.isHidden(), true, 'and goes away outside the chart area');
});

test('a history of thousands of trials is laid out in full and keeps its points', async () => {
  /* on the studies list, which has no chart of its own */
  await go('#/');
  await page.locator('#studies').waitFor();
  const big = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    document.body.append(canvas);
    const trials = Array.from({ length: 3000 }, (_, i) => ({ number: i, state: 'COMPLETE', value: (i * 7) % 13 }));
    const c = K.charts.history(canvas, { study: { direction: 'minimize' }, trials });
    const before = c.data.datasets[0].data.length;
    c.refresh(c.model);
    const r = { before, points: c.data.datasets[0].data.length, laidOut: c.getDatasetMeta(0).data.length,
      radius: c.data.datasets[0].pointRadius };
    c.destroy();
    delete window.kestrelCharts.history;
    canvas.remove();
    return r;
  });
  assert.deepEqual(big, { before: 0, points: 3000, laidOut: 3000, radius: 1 },
    'a new chart is empty until its first refresh, which lays out every point, drawn a pixel wide');
});

/* Makes chart kind (a K.charts builder) of n made-up complete trials on a
 * canvas in a 600 x 300 box on the studies list, runs use(chart, canvas)
 * in the page and returns its answer; the chart and box are removed. */
async function madeUpChart(kind, n, use) {
  await go('#/');
  await page.locator('#studies').waitFor();
  return page.evaluate(([kind, n, src]) => {
    const box = document.createElement('div');
    box.style.cssText = 'position:relative;width:600px;height:300px';
    const canvas = document.createElement('canvas');
    box.append(canvas);
    document.body.append(box);
    const trials = Array.from({ length: n }, (_, i) => ({ number: i, state: 'COMPLETE', value: (i * 7919) % 10007 }));
    const c = K.charts[kind](canvas, { study: { direction: 'minimize' }, trials });
    try {
      return new Function(`return (${src})`)()(c, canvas);
    } finally {
      c.destroy();
      delete window.kestrelCharts[kind];
      box.remove();
    }
  }, [kind, n, use.toString()]);
}

test('a chart of 25,000 points is drawn in jobs of at most 5,000, shown whole at the last', async () => {
  const got = await madeUpChart('history', 25000, (c, canvas) => {
    const steps = c.steps(c.model);
    steps[0]();
    steps[1]();
    const jobs = steps[2]();
    /* what the canvas on the page shows: pixels not fully transparent */
    const shown = () => {
      const img = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let k = 3; k < img.length; k += 4) n += img[k] > 0;
      return n;
    };
    const during = [];
    for (const job of jobs) { during.push(shown()); job(); }
    return { jobs: jobs.length, during, after: shown() };
  });
  /* the frame, five pieces of the trials (25,000), the best-so-far line, the copy */
  assert.equal(got.jobs, 8);
  assert.deepEqual(got.during, [0, 0, 0, 0, 0, 0, 0, 0], 'nothing shown before the last job');
  assert.ok(got.after > 1000, `the whole chart shown after it (${got.after} pixels)`);
});

test('a line of 10,000 steps across 600 pixels is drawn with a segment or two per pixel, not per step', async () => {
  const got = await madeUpChart('edf', 10000, (c) => {
    let segments = 0;
    const lineTo = c.ctx.lineTo;
    c.ctx.lineTo = function (...a) { segments++; return lineTo.apply(this, a); };
    c.refresh(c.model);
    return { points: c.data.datasets[0].data.length, segments, width: c.chartArea.width };
  });
  assert.equal(got.points, 10000);
  assert.ok(got.segments > 0 && got.segments <= 4 * got.width, `${got.segments} segments for ${got.width} pixels (EDF steps: two a step)`);
});

test('the contour plot colours the cells of two parameters by their trials\' objective', async () => {
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const done = (await allTrials('branin')).filter((t) => t.state === 'COMPLETE').sort((a, b) => a.value - b.value);
  const cellOf = (chart, t) => page.evaluate(([n]) => {
    const c = window.kestrelCharts.contour;
    const g = c.grid;
    const p = c.data.datasets[0].data.find((d) => d.n === n);
    const at = (v, axis, lo, hi, cells) => Math.min(cells - 1, Math.floor(((axis.log ? Math.log10(v) : v) - lo) / (hi - lo) * cells));
    const i = at(p.u, g.ax, g.xlo, g.xhi, g.nx);
    const j = at(p.v, g.ay, g.ylo, g.yhi, g.ny);
    return { band: g.band[i * g.ny + j], nx: g.nx, ny: g.ny, empty: g.band.filter((b) => b < 0).length,
      dots: c.data.datasets[0].data.length, pair: c.pair.map((a) => a.name) };
  }, [t.number]);
  const best = await cellOf('contour', done[0]);
  assert.deepEqual([best.nx, best.ny, best.empty, best.dots], [30, 30, 0, 30], 'a 30 x 30 grid, every cell coloured, a dot per trial');
  assert.deepEqual(best.pair, ['x1', 'x2']);
  assert.equal(best.band, 15, 'the best trial\'s cell has the best colour');
  assert.equal((await cellOf('contour', done[done.length - 1])).band, 0, 'the worst trial\'s cell the worst');
  await page.selectOption('#contour-x', { label: 'x2' });
  assert.deepEqual((await cellOf('contour', done[0])).pair, ['x2', 'x1'], 'picking y\'s parameter for x swaps them');
  assert.equal(await page.locator('#contour-y').inputValue(), '0');
  await shot('study-contour');
});

test('brushing an axis of the parallel coordinates selects the trials inside its range', async () => {
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const canvas = page.locator('#charts canvas').nth(2);
  const box = await canvas.boundingBox();
  const px = await page.evaluate(() => {
    const c = window.kestrelCharts.parallel;
    return { x: c.scales.x.getPixelForValue(2), top: c.scales.y.getPixelForValue(0.9), bottom: c.scales.y.getPixelForValue(0.1) };
  });
  assert.equal(await page.evaluate(() => window.kestrelCharts.parallel.canvas === document.querySelectorAll('#charts canvas')[2]), true);
  /* drag along the objective's axis, from 0.9 down to 0.1 of its range */
  await page.mouse.move(box.x + px.x, box.y + px.top);
  await page.mouse.down();
  await page.mouse.move(box.x + px.x, box.y + (px.top + px.bottom) / 2, { steps: 4 });
  await page.mouse.move(box.x + px.x, box.y + px.bottom, { steps: 4 });
  await page.mouse.up();
  const got = await page.evaluate(() => {
    const c = window.kestrelCharts.parallel;
    const dim = c.data.datasets.find((d) => d.dim);
    const dimmed = Array.from({ length: dim.data.length }, (_, i) => dim.data.at(i).n);
    return { brush: c.brushes.get(2), selected: c.selected, dimmed: new Set(dimmed).size };
  });
  const values = (await allTrials('branin')).filter((t) => t.state === 'COMPLETE').map((t) => t.value);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const want = values.filter((v) => (v - lo) / (hi - lo) >= got.brush[0] && (v - lo) / (hi - lo) <= got.brush[1]).length;
  assert.ok(got.brush[0] > 0.05 && got.brush[0] < 0.15 && got.brush[1] > 0.85 && got.brush[1] < 0.95, `brush ${got.brush}`);
  assert.equal(got.selected, want, 'the trials whose objective lies in the brushed range');
  assert.ok(want > 0 && want < 30, `a real selection (${want})`);
  assert.equal(got.dimmed, 30 - want, 'the others are drawn dimmed');
  assert.equal(await page.locator('#parallel-selection').innerText(), `${want} of 30 trials selected.`);
  await shot('study-brush');
  await page.mouse.click(box.x + px.x, box.y + px.top);
  assert.deepEqual(await page.evaluate(() => [window.kestrelCharts.parallel.brushes.size, window.kestrelCharts.parallel.selected]), [0, 30],
    'a click on the axis clears its range');
  assert.equal(await page.locator('#parallel-selection').innerText(), '');
});

// A multi-fidelity trial: trains from its checkpoint's step (when promoted)
// to KESTREL_BUDGET, reporting each step, so Hyperband's first rung reports
// once and promotions continue their parent's curve.
const HB_SH = `#!/bin/sh
x=$1
s=0
[ -n "$KESTREL_RESUME_FROM" ] && s=$(cat "$KESTREL_RESUME_FROM/step")
while [ "$s" -lt "$KESTREL_BUDGET" ]; do
  s=$((s + 1))
  echo "{\\"step\\": $s, \\"loss\\": $(awk -v x="$x" -v s="$s" 'BEGIN { printf "%.6g", x * x + 1 / s }')}" >&3
done
echo "$s" > "$KESTREL_CHECKPOINT_DIR/step"
`;

test('learning curves show single-report trials and join promotions to their parent', async () => {
  writeFileSync(join(tmp, 'hb.sh'), HB_SH);
  const spec = {
    name: 'hb', objective: { metric: 'loss', direction: 'minimize' },
    space: { x: { type: 'float', low: -2, high: 2 } },
    strategy: { name: 'hyperband', seed: 4, options: { max_resource: 9, eta: 3 } },
    budget: { max_trials: 30, max_parallel: 2 },
    run: { command: ['sh', join(tmp, 'hb.sh'), '{x}'] },
  };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('hb complete', async () => (await studyState('hb')) === 'COMPLETE');
  await go('#/study/hb');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const trials = await allTrials('hb');
  const curves = (await api('GET', '/studies/hb/curves?limit=10000')).json.curves;
  const got = await page.evaluate(() => {
    const byN = {};
    for (const d of window.kestrelCharts.curves.data.datasets.filter((x) => x.state)) {
      for (let i = 0; i < d.data.length; i++) {
        const p = d.data.at(i);
        if (p.y !== null) (byN[p.n] = byN[p.n] || []).push([p.x, !!p.single]);
      }
    }
    return byN;
  });
  const legend = await page.evaluate(() => window.kestrelCharts.curves.legend.legendItems.map((i) => i.text));
  assert.ok(legend.includes('complete (one report)'), `the legend names the one-report dots: ${legend}`);
  const singles = curves.filter((k) => k.steps.length === 1 && trials.find((t) => t.number === k.number).resumed_from === null);
  assert.ok(singles.length > 0, 'the first rung reports once');
  for (const k of singles) assert.deepEqual(got[k.number], [[k.steps[0], true]], `trial ${k.number}: a dot`);
  const promoted = trials.filter((t) => t.resumed_from !== null);
  assert.ok(promoted.length > 0, 'Hyperband promoted some trials');
  for (const t of promoted) {
    const parent = curves.find((k) => k.number === t.resumed_from);
    const own = curves.find((k) => k.number === t.number);
    assert.deepEqual(got[t.number].map((p) => p[0]), [parent.steps[parent.steps.length - 1], ...own.steps],
      `promotion ${t.number} starts at the end of trial ${t.resumed_from}`);
  }
  assert.equal(await page.locator('#trials th[data-key="budget"]').count(), 1, 'the table shows budgets');
  await page.locator('#trials td a[href$="/trial/' + promoted[0].resumed_from + '"]').first().waitFor();
  await shot('study-hyperband');
});

test('learning curves show every trial per step', async () => {
  await go('#/study/curves');
  await page.waitForFunction(() => window.kestrelCharts.curves && window.kestrelCharts.curves.data.datasets[0].data.length > 0);
  const curves = (await api('GET', '/studies/curves/curves?limit=10000')).json.curves;
  const trials = await allTrials('curves');
  assert.equal(curves.length, 12);
  for (const t of trials) assert.equal(curves.find((k) => k.number === t.number).steps.length, t.params.epochs);
  const c = await chartCounts();
  assert.equal(c.curveTrials, 12, 'one curve per trial');
  assert.equal((await emptyCharts()).curves, 'drawn', 'no "no steps" text over drawn curves');
  assert.equal(c.curvePoints, trials.reduce((s, t) => s + t.params.epochs, 0), 'one point per reported step');
  assert.deepEqual(c.slices.opt, 12, 'categorical parameter slice');
  assert.equal(c.parallelPoints, 12 * 4);
  await shot('study-curves');
});

test('learning curves mark where pruned trials stopped', async () => {
  const spec = stepsStudy('pruned', 16, 0.01);
  spec.budget.max_parallel = 1;   // the median rule then sees the same history every run
  spec.pruner = { name: 'median' };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('pruned complete', async () => (await studyState('pruned')) === 'COMPLETE');
  await go('#/study/pruned');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const curves = (await api('GET', '/studies/pruned/curves?limit=10000')).json.curves;
  const want = (state) => curves.filter((k) => k.state === state && k.steps.length > 0)
    .map((k) => [k.number, k.steps[k.steps.length - 1]]).sort((a, b) => a[0] - b[0]);
  const got = await page.evaluate(() => Object.fromEntries(window.kestrelCharts.curves.data.datasets
    .filter((d) => d.stop).map((d) => [d.stop, Array.from({ length: d.data.length }, (_, i) => d.data.at(i))
      .map((p) => [p.n, p.x]).sort((a, b) => a[0] - b[0])])));
  assert.ok(want('PRUNED').length > 0, 'the median rule pruned some trials');
  assert.deepEqual(got, { PRUNED: want('PRUNED'), FAILED: want('FAILED') },
    'one dot per pruned or failed trial, at its last reported step');
  await shot('study-pruned');
});

test('the header and the table\'s first page come before the whole history, the other charts before the curves', async () => {
  const hold = () => { let release; const held = new Promise((r) => { release = r; }); return { held, release }; };
  const trials = hold();
  const curves = hold();
  const trialsUrl = /\/api\/v1\/studies\/many\/trials\?sort=number&format=columns&offset=/;
  const curvesUrl = /\/api\/v1\/studies\/many\/curves/;
  let curvesAsked = 0;
  await page.route(trialsUrl, async (route) => { await trials.held; await route.continue(); });
  await page.route(curvesUrl, async (route) => { curvesAsked++; await curves.held; await route.continue(); });
  await go('#/study/many');
  await page.waitForFunction(() => document.querySelectorAll('#trials tbody tr').length === 100);
  /* the study's counts and the first rows are in: the old dashboard asked
   * for the curves then, beside the history's pages */
  await page.evaluate(() => Promise.all([K.api.study('many'), K.api.firstTrials('many', 1)]));
  assert.equal(curvesAsked, 0, 'the curves are asked for once the history is in, not beside it');
  assert.match(await page.locator('#table-info').innerText(), /^first 100 of 150 trials/);
  assert.equal(await page.locator('[data-fact="trials"]').innerText(), '150', 'the server\'s count');
  assert.ok(await page.locator('#next-page').isDisabled(), 'no paging until every trial is in');
  trials.release();
  await page.waitForFunction(() => /^150 trials · page 1 of 2/.test(document.querySelector('#table-info').textContent));
  await page.waitForFunction(() => window.kestrelCharts.history && window.kestrelCharts.history.data.datasets[0].data.length === 150);
  assert.equal(await page.evaluate(() => !!window.kestrelCharts.curves), false, 'the learning curves wait for their request');
  assert.equal(await page.locator('#charts[data-ready="true"]').count(), 0);
  curves.release();
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.ok(curvesAsked > 0);
  /* the user timings bench/dashboard_bench.mjs reads, from navigation */
  const [drawn, ready] = await page.evaluate(() => ['kestrel:history-drawn', 'kestrel:charts-drawn']
    .map((n) => performance.getEntriesByName(n, 'mark').map((m) => m.startTime)));
  assert.equal(drawn.length, 1, 'one mark when the history is drawn with every trial');
  assert.equal(ready.length, 1, 'one mark when every chart is drawn');
  assert.ok(drawn[0] > 0 && drawn[0] <= ready[0], `history ${drawn[0]} ms, every chart ${ready[0]} ms`);
  await page.unroute(trialsUrl);
  await page.unroute(curvesUrl);
});

test('the trial table sorts, filters and pages', async () => {
  await go('#/study/many');
  const rows = page.locator('#trials tbody tr');
  await page.waitForFunction(() => /^150 trials · page 1 of 2/.test(document.querySelector('#table-info').textContent));
  await page.click('#next-page');
  assert.equal(await rows.count(), 50, 'second page holds the rest, never more than 100 rows in the DOM');
  await page.click('#prev-page');

  const trials = await allTrials('many');
  const byValue = trials.slice().sort((a, b) => a.value - b.value || a.number - b.number).map((t) => String(t.number));
  const shown = () => page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => tr.dataset.number));
  await page.click('#trials th[data-key="value"]');
  assert.deepEqual(await shown(), byValue.slice(0, 100), 'ascending by value');
  await page.click('#trials th[data-key="value"]');
  assert.deepEqual(await shown(), byValue.slice().reverse().slice(0, 100), 'descending by value');
  assert.equal(await page.getAttribute('#trials th[data-key="value"]', 'aria-sort'), 'descending');
  // from the keyboard alone: Tab reaches a column's header, Enter and Space sort by it
  await page.focus('#state-filter');
  for (let i = 0; i < 20 && await page.evaluate(() => document.activeElement.dataset.key !== 'number'); i++) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.key), 'number', 'Tab reaches the first header');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.key), 'value');
  await page.keyboard.press('Enter');
  assert.deepEqual(await shown(), byValue.slice(0, 100), 'Enter: ascending by value');
  await page.keyboard.press(' ');
  assert.deepEqual(await shown(), byValue.slice().reverse().slice(0, 100), 'Space: descending by value');
  await page.click('#trials th[data-key="value"]');

  await page.selectOption('#state-filter', 'FAILED');
  assert.equal(await rows.count(), 0);
  assert.match(await page.locator('#table-info').innerText(), /^0 trials/);
  await page.selectOption('#state-filter', 'COMPLETE');
  const states = await page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => tr.dataset.state));
  assert.equal(states.length, 100);
  assert.ok(states.every((s) => s === 'COMPLETE'));
  /* a start time in local time, year first, whatever the browser's locale */
  const [number, started] = await page.$eval('#trials tbody tr', (tr) => [Number(tr.dataset.number), tr.lastElementChild.textContent]);
  const d = new Date(trials.find((t) => t.number === number).started_at * 1000);
  const two = (n) => String(n).padStart(2, '0');
  assert.equal(started, `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`);
  await shot('study-table');
});

test('a sort while the first page\'s rows are still going in shows the sorted page alone', async () => {
  /* the history held back: the table shows the first 100 trials and is
   * drawn from nothing else meanwhile */
  let release;
  const held = new Promise((r) => { release = r; });
  const trialsUrl = /\/api\/v1\/studies\/many\/trials\?sort=number&format=columns&offset=/;
  await page.route(trialsUrl, async (route) => { await held; await route.continue(); });
  await go('#/');
  await go('#/study/many');
  /* a page's first rows go in a frame at a time (study.js putRows): the
   * sort is clicked in the first frame that shows any */
  const atClick = await (await page.waitForFunction(() => {
    const n = document.querySelectorAll('#trials tbody tr').length;
    if (n === 0) return 0;
    document.querySelector('#trials th[data-key="value"]').click();
    return n;
  }, null, { polling: 'raf' })).jsonValue();
  /* frames enough for every part of the first draw to have gone in */
  await page.evaluate(() => new Promise((r) => {
    let n = 0;
    const f = () => (++n === 6 ? setTimeout(r, 0) : requestAnimationFrame(f));
    requestAnimationFrame(f);
  }));
  const first = (await allTrials('many')).filter((t) => t.number < 100);
  const byValue = first.sort((a, b) => a.value - b.value || a.number - b.number).map((t) => String(t.number));
  const shown = await page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => tr.dataset.number));
  assert.deepEqual(shown, byValue, `the first 100 trials by value alone (${atClick} rows in at the click)`);
  release();
  await page.waitForFunction(() => /^150 trials · page 1 of 2/.test(document.querySelector('#table-info').textContent));
  await page.unroute(trialsUrl);
});

test('a live redraw that would draw the same rows leaves the table as it is', async () => {
  assert.equal((await api('POST', '/studies', branin('rows', 110, 4))).status, 201);
  await until('rows complete', async () => (await studyState('rows')) === 'COMPLETE');
  await go('#/study/rows');
  await page.locator('#charts[data-ready="true"]').waitFor();
  await page.waitForFunction(() => /^110 trials/.test(document.querySelector('#table-info').textContent));
  await page.evaluate(() => { document.querySelector('#trials tbody tr').dataset.mark = 'drawn before'; });
  /* the study grows: its first 100 trials, the table's first page, stay as they were */
  assert.equal((await api('POST', '/studies', branin('rows', 120, 4))).status, 200);
  await page.waitForFunction(() => /^120 trials/.test(document.querySelector('#table-info').textContent));
  assert.equal(await page.evaluate(() => document.querySelector('#trials tbody tr').dataset.mark), 'drawn before',
    'the first page\'s rows were drawn again');
  await page.click('#trials th[data-key="value"]');
  assert.equal(await page.evaluate(() => document.querySelector('#trials tbody tr').dataset.mark), undefined,
    'a sort draws the rows');
});

test('the trial page shows parameters, curve, metrics and logs', async () => {
  const t = (await allTrials('curves')).find((x) => x.state === 'COMPLETE');
  await go(`#/study/curves/trial/${t.number}`);
  await page.locator('#params').waitFor();
  const params = await page.locator('#params').innerText();
  for (const k of ['x', 'epochs', 'opt']) assert.match(params, new RegExp('^' + k + '\\b', 'm'));
  assert.match(await page.locator('#metrics').innerText(), /loss/);
  await page.waitForFunction(() => window.kestrelCharts.trial);
  const n = await page.evaluate(() => window.kestrelCharts.trial.data.datasets.find((d) => d.label === 'loss').data.length);
  assert.equal(n, t.params.epochs, 'one curve point per reported step');
  assert.match(await page.locator('#stderr').innerText(), /epoch 1 loss/);
  assert.match(await page.locator('#stdout').innerText(), /done x=/);
  await shot('trial');
});

test('a running trial\'s page moves its last step with the curve, and says its logs come at the end', async () => {
  const spec = stepsStudy('slowtrial', 1, 1);
  spec.space.epochs = { type: 'int', low: 60, high: 60 };   /* a minute: stopped at the end */
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('its trial runs', async () => (await allTrials('slowtrial')).some((t) => t.state === 'RUNNING'));
  await go('#/study/slowtrial/trial/0');
  await page.waitForFunction(() => window.kestrelCharts.trial);
  const points = () => page.evaluate(() => window.kestrelCharts.trial.data.datasets.find((d) => d.label === 'loss').data.length);
  const n0 = await points();
  await page.waitForFunction((n) => window.kestrelCharts.trial.data.datasets.find((d) => d.label === 'loss').data.length > n, n0);
  const { shown, last } = await page.evaluate(() => {
    const d = window.kestrelCharts.trial.data.datasets.find((x) => x.label === 'loss').data;
    return { shown: document.querySelector('[data-fact="last step"]').textContent, last: d.at(d.length - 1).x };
  });
  assert.equal(shown, String(last), 'the header\'s last step is the curve\'s');
  assert.equal(await page.locator('#stderr-none').innerText(), 'kept when the trial ends');
  // its study has no complete trial yet: the charts say so instead of axes from 0 to 1
  await go('#/study/slowtrial');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const NONE = 'No completed trials yet';
  assert.deepEqual(await emptyCharts(), { history: NONE, parallel: NONE, edf: NONE, timeline: 'drawn', contour: NONE,
    importance: 'Not enough complete trials with different values to estimate importance yet', curves: 'drawn',
    'slice:x': NONE, 'slice:epochs': NONE, 'slice:opt': NONE });
  await api('POST', '/studies/slowtrial/stop');
});

test('a study and a trial with nothing reported yet say so in place of their charts\' axes', async () => {
  const spec = branin('quiet', 1, 1);
  spec.run = { command: 'sleep 60' };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  try {
    await until('its trial runs', async () => (await allTrials('quiet')).some((t) => t.state === 'RUNNING'));
    await go('#/study/quiet/trial/0');
    await page.waitForFunction(() => window.kestrelCharts.trial);
    assert.deepEqual(await emptyCharts(), { trial: 'No step reported yet' });
    await go('#/study/quiet');
    await page.locator('#charts[data-ready="true"]').waitFor();
    const said = await emptyCharts();
    assert.equal(said.curves, 'No trial has reported intermediate steps yet');
    assert.equal(said.history, 'No completed trials yet');
    assert.equal(said.timeline, 'drawn', 'the running trial is on the timeline');
    await shot('study-nothing-yet');
  } finally {
    await api('POST', '/studies/quiet/stop');
  }
});

test('the trial page puts metrics of other magnitudes on axes of their own', async () => {
  const spec = branin('metrics', 1);
  spec.objective.metric = 'loss';
  spec.run = { command: 'for s in 1 2 3; do echo "{{\\"step\\": $s, \\"loss\\": 0.$s, \\"val_loss\\": 0.4$s, \\"samples_per_sec\\": 8000$s}}"; done; echo \'{{"loss": 0.3}}\'' };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('metrics complete', async () => (await studyState('metrics')) === 'COMPLETE');
  await go('#/study/metrics/trial/0');
  await page.waitForFunction(() => window.kestrelCharts.trial);
  const axes = await page.evaluate(() => window.kestrelCharts.trial.data.datasets.map((d) => [d.label, d.yAxisID, !!d.hidden]));
  assert.deepEqual(axes, [['loss', 'y', false], ['samples_per_sec', 'y4', true], ['val_loss', 'y', false]],
    'losses share the objective\'s axis; samples/s has its own, hidden until asked for');
  assert.equal(await page.evaluate(() => window.kestrelCharts.trial.options.scales.x.ticks.precision), 0, 'steps are whole');
  await shot('trial-metrics');
});

test('a study another process runs or deletes shows up live', async () => {
  await go('#/');
  await page.locator('#studies tr[data-study="branin"]').waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  const file = join(tmp, 'cron.json');
  writeFileSync(file, JSON.stringify(branin('cron', 5, 1)));
  const db = join(tmp, 'kestrel.db');
  const run = spawnSync(KESTREL, ['run', file, '--db', db, '--quiet']);
  assert.equal(run.status, 0, String(run.stderr));
  await page.locator('#studies tr[data-study="cron"] .badge.state-complete').waitFor();
  await shot('studies-other-process');
  assert.equal(spawnSync(KESTREL, ['delete', 'cron', '--db', db]).status, 0);
  await page.locator('#studies tr[data-study="cron"]').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
});

test('a running study updates live, and stops and resumes', async () => {
  const r = await api('POST', '/studies', stepsStudy('live', 40, 0.15));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await go('#/study/live');
  await page.waitForFunction(() => window.kestrelCharts.history);
  await page.evaluate(() => { window.notReloaded = true; });
  const n0 = (await chartCounts()).history;
  await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n + 1, n0);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.evaluate(() => document.getElementById('live').dataset.state), 'live');
  await shot('study-live');

  await page.click('#stop');
  await until('live stopped', async () => (await studyState('live')) === 'STOPPED');
  await page.locator('.page-head .badge.state-stopped').waitFor();
  // the trials the stop ended are interrupted, not failed
  const stopped = (await allTrials('live')).filter((t) => t.state === 'FAILED');
  assert.ok(stopped.length > 0 && stopped.every((t) => t.interrupted), JSON.stringify(stopped));
  await until('interrupted counted apart', async () =>
    (await page.locator('[data-fact="interrupted"]').innerText()) === String(stopped.length) &&
    (await page.locator('[data-fact="failed"]').innerText()) === '0');
  await page.locator('#trials .badge.state-interrupted').first().waitFor();
  await shot('study-stopped');
  assert.equal(await page.locator('#resume').isEnabled(), true);
  assert.equal(await page.locator('#stop').isEnabled(), false);
  assert.equal(await page.locator('#retry-failed').isEnabled(), false, 'interrupted trials only: a resume re-runs them');
  // they are drawn as interrupted, not as failures ending at a 'failed here' dot
  const cs = (await api('GET', '/studies/live/curves?limit=10000')).json.curves;
  const reported = stopped.filter((t) => (cs.find((c) => c.number === t.number) || { steps: [] }).steps.length > 0);
  await page.waitForFunction((want) => {
    const sets = window.kestrelCharts.curves.data.datasets;
    const trials = new Set();
    for (const d of sets.filter((x) => x.state === 'INTERRUPTED')) for (let i = 0; i < d.data.length; i++) trials.add(d.data.at(i).n);
    return trials.size === want && sets.find((x) => x.stop === 'FAILED').data.length === 0;
  }, reported.length);
  // the timeline too (a chart out of view is redrawn once scrolled to)
  await page.evaluate(() => window.kestrelCharts.timeline.canvas.scrollIntoView());
  await page.waitForFunction((n) => window.kestrelCharts.timeline.data.datasets
    .find((d) => d.state === 'INTERRUPTED').data.length === 3 * n, stopped.length);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.click('#resume');
  await until('live running again', async () => (await studyState('live')) === 'RUNNING');
  await page.locator('.page-head .badge.state-running').waitFor();
  const n1 = (await chartCounts()).history;
  await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n, n1);
});

test('a live study redraws the charts in view; one out of view catches up when scrolled to', async () => {
  const r = await api('POST', '/studies', stepsStudy('offview', 80, 0.15));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  try {
    await go('#/study/offview');
    await page.locator('#charts[data-ready="true"]').waitFor();
    const count = () => page.evaluate(() => {
      const c = window.kestrelCharts;
      return { history: c.history.data.datasets[0].data.length,
        slice: c['slice:x'].data.datasets.reduce((s, d) => s + d.data.length, 0) };
    });
    /* the slices sit far below the first screen */
    const s0 = (await count()).slice;
    await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n + 1, s0);
    assert.equal((await count()).slice, s0, 'the slice out of view was not redrawn');
    const h1 = (await count()).history;
    await page.locator('#slices canvas').first().scrollIntoViewIfNeeded();
    await page.waitForFunction((n) => window.kestrelCharts['slice:x'].data.datasets
      .reduce((s, d) => s + d.data.length, 0) >= n, h1);
    await page.evaluate(() => window.scrollTo(0, 0));
  } finally {
    await api('POST', '/studies/offview/stop');
  }
});

test('retry failed re-runs the failed trials of a finished study', async () => {
  const flag = join(tmp, 'fail.flag');
  writeFileSync(flag, '');
  const spec = branin('flaky', 3);
  spec.run = { command: `test -e '${flag}' && exit 9; echo '{{"value": {x1}}}'` };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  // a study whose every trial failed is FAILED, never COMPLETE, and says why
  await until('flaky failed', async () => (await studyState('flaky')) === 'FAILED');
  await go('#/study/flaky');
  await page.locator('.page-head .badge.state-failed').waitFor();
  assert.match(await page.locator('#state-reason').innerText(), /^FAILED: no trial completed; the last failure: exit code 9/);
  // the header and the table come before the charts (they wait for the history)
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.match((await emptyCharts()).importance, /^Not enough complete trials/, 'the importance chart says why it is empty');
  await shot('study-failed');
  assert.equal(await page.locator('#retry-failed').isEnabled(), true, 'it has failed trials to retry');
  unlinkSync(flag);
  await page.click('#retry-failed');
  await until('the retries complete', async () => (await allTrials('flaky')).filter((t) => t.state === 'COMPLETE').length === 3);
  const trials = await allTrials('flaky');
  assert.deepEqual(trials.filter((t) => t.retry_of !== null).map((t) => t.retry_of).sort(), [0, 1, 2]);
  await until('flaky complete again', async () => (await studyState('flaky')) === 'COMPLETE');
  await page.locator('.page-head .badge.state-complete').waitFor();
  await until('no failed trial left to retry', async () => !(await page.locator('#retry-failed').isEnabled()));
  await shot('study-retried');
});

test('numbers take one format: axis ticks, table and tooltips alike', async () => {
  await go('#/study/branin');
  /* this page's charts (branin's 30 trials), the slices drawn after the history */
  await until('the history and slice charts', () => page.evaluate(() => {
    const c = window.kestrelCharts || {};
    return !!(c.history && c['slice:x1'] && c.history.data.datasets[0].data.length === 30);
  }));
  const r = await page.evaluate(() => {
    const c = window.kestrelCharts;
    const ticks = (ch, axis) => ch.scales[axis].ticks.map((t) => [t.label, K.stats.fmt(t.value, 4)]);
    return { history: ticks(c.history, 'y'), slice: ticks(c['slice:x1'], 'x'),
      small: [0.0001, 2.5e-7, 1234567.891, 0.30000000000000004].map((v) => K.stats.fmt(v, 6)) };
  });
  assert.ok(r.history.length > 2);
  for (const [label, want] of r.history.concat(r.slice)) assert.equal(label, want);
  assert.deepEqual(r.small, ['1e-4', '2.5e-7', '1.23457e+6', '0.3']);
});

test('the study page edits the note and marks enqueued trials', async () => {
  const spec = Object.assign(branin('noted', 2, 1), { enqueue: [{ x1: 1, x2: 2 }] });
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('noted complete', async () => (await studyState('noted')) === 'COMPLETE');
  await go('#/study/noted');
  await page.locator('#trials tbody tr[data-number="1"]').waitFor();
  assert.equal(await page.locator('#trials tbody tr[data-number="0"] .tag').innerText(), 'enqueued');
  assert.equal(await page.locator('#trials tbody tr[data-number="1"] .tag').count(), 0);
  assert.equal(await page.locator('#study-note').innerText(), 'No note.');
  await page.click('#note-edit');
  assert.equal(await page.locator('#note-edit').isVisible(), false, 'no Edit while editing (it reloaded the stored note)');
  await page.fill('#note-input', 'x1 near 1 looks good\ntry x2 < 3');
  await page.click('#note-save');
  await until('the note is stored', async () => (await api('GET', '/studies/noted/note')).json.note === 'x1 near 1 looks good\ntry x2 < 3');
  /* the page shows it once its own PUT is answered, which may come after
   * the API already reads it back */
  await until('the page shows the saved note', async () => (await page.locator('#study-note').innerText()) === 'x1 near 1 looks good\ntry x2 < 3');
  assert.equal(await page.locator('#note-input').isVisible(), false);
  await page.reload();
  await until('the note shows after a reload', async () => (await page.locator('#study-note').innerText()) === 'x1 near 1 looks good\ntry x2 < 3');
  await page.screenshot({ path: join(ARTIFACTS, 'study-note.png') });
});

test('a study page shows the spec, clones the study and deletes it', async () => {
  await go('#/study/flaky');
  await page.locator('.spec-view summary').click();
  assert.match(await page.locator('#spec-view').innerText(), /"name": "flaky"/);
  await page.click('#clone');
  await page.waitForURL(/#\/new$/);
  const cloned = JSON.parse(await page.locator('#spec').inputValue());
  assert.equal(cloned.name, 'flaky-copy');
  assert.deepEqual(cloned.space, (await api('GET', '/studies/flaky')).json.spec.space);
  cloned.budget.max_trials = 1;
  await page.fill('#spec', JSON.stringify(cloned));
  await page.click('#create');
  await page.waitForURL(/#\/study\/flaky-copy$/);
  await until('the clone ends', async () => (await studyState('flaky-copy')) !== 'RUNNING');
  page.once('dialog', (d) => d.accept());
  await page.click('#delete');
  await page.waitForURL(/#\/$/);
  await until('the clone is gone', async () => (await api('GET', '/studies/flaky-copy')).status === 404);
  await page.locator('#studies tr[data-study="flaky"]').waitFor();
  assert.equal(await page.locator('#studies tr[data-study="flaky-copy"]').count(), 0);
});

test('without the event stream the study page falls back to polling', async () => {
  await page.route('**/api/v1/events*', (route) => route.abort());
  try {
    const r = await api('POST', '/studies', stepsStudy('polled', 16, 0.1));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    await go('#/study/polled');
    await page.waitForFunction(() => window.kestrelCharts.history);
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'polling');
    const n0 = (await chartCounts()).history;
    await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n, n0);
    // a server that does not answer: the badge says so, not 'polling' for ever
    await page.route('**/healthz', (route) => route.abort());
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'off');
    await page.unroute('**/healthz');
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'polling');
  } finally {
    await page.unroute('**/healthz');
    await page.unroute('**/api/v1/events*');
  }
});

test('the new-study page says live while the server is up; the list fits 820 px', async () => {
  await go('#/new');
  await page.waitForFunction(() => document.getElementById('live').dataset.state === 'live');
  await page.setViewportSize({ width: 820, height: 900 });
  try {
    await go('#/');
    await page.locator('#studies tr[data-study="branin"]').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 820), 'no sideways scroll of the page');
    await shot('studies-820');
    // a name of 120 characters breaks: the study's actions stay on the page
    const long = 'a_very_long_study_name_'.repeat(5) + 'x'.repeat(5);
    assert.equal((await api('POST', '/studies', branin(long, 2, 1))).status, 201);
    await go('#/study/' + long);
    await page.locator('#delete').waitFor();
    const box = await page.locator('#delete').boundingBox();
    assert.ok(box.x + box.width <= 820, `Delete at ${box.x}+${box.width}`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 820), 'no sideways scroll of a long name');
  } finally {
    await page.setViewportSize({ width: 1400, height: 900 });
  }
});

test('with --auth-reads the dashboard asks for the token once', async () => {
  const TOKEN = 'browser-test-token';
  writeFileSync(join(tmp, 'token'), TOKEN + '\n');
  const { proc: locked, url } = await serve('locked.db', '--token-file', join(tmp, 'token'),
    '--auth-reads', '--no-access-log');
  try {
    let prompts = 0;
    const answer = (d) => { prompts++; d.accept(TOKEN); };
    page.on('dialog', answer);
    try {
      await page.goto(url + '#/');
      await page.locator('p.empty:not([hidden])').waitFor();
      await page.waitForFunction(() => document.getElementById('live').dataset.state === 'live');
      assert.equal(prompts, 1, 'one prompt for the refused requests');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('kestrel-token')), TOKEN);
    } finally {
      page.off('dialog', answer);
    }
  } finally {
    locked.kill('SIGTERM');
    await new Promise((r) => locked.once('exit', r));
  }
});

test('the new-study form shows the validation error, then creates the study', async () => {
  await go('#/new');
  const bad = branin('from-form', 5);
  bad.space.x1 = { type: 'float', low: 0, high: 1, log: true };
  await page.fill('#spec', JSON.stringify(bad, null, 2));
  await page.click('#create');
  await page.locator('#spec-error').waitFor();
  assert.match(await page.locator('#spec-error').innerText(), /space\.x1\.low/);
  assert.equal((await api('GET', '/studies/from-form')).status, 404, 'an invalid spec creates nothing');
  await shot('new-study-error');

  await page.fill('#spec', '{"name": "from-form",');
  await page.click('#create');
  assert.match(await page.locator('#spec-error').innerText(), /not valid JSON/);

  await page.fill('#spec', JSON.stringify(branin('from-form', 5), null, 2));
  await page.click('#create');
  await page.waitForURL(/#\/study\/from-form$/);
  await go('#/');
  await page.locator('#studies tr[data-study="from-form"]').waitFor();
  await shot('studies-after-create');
});

test('the workers page lists each worker with its labels, slots, GPUs and the trials it runs', async () => {
  // a coordinator of its own (--max-parallel 0), so the worker below gets the trial
  // a lease that outlives a slow page load on a loaded machine: the test must not depend on timing
  const coord = await serve('fleet.db', '--max-parallel', '0', '--lease-timeout', '3600');
  try {
    const call = async (method, path, body) => {
      const res = await fetch(coord.url + 'api/v1' + path, {
        method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    assert.equal((await call('POST', '/studies', stepsStudy('remote', 3, 0))).status, 201);
    const w = (await call('POST', '/workers', { host: 'gpu7', pid: 42, slots: 2, gpus: [0, 1], labels: { rack: 'r7' } })).json;
    await call('POST', '/workers', { host: 'cpu1', pid: 7, slots: 1 });
    const lease = await call('POST', `/workers/${w.id}/lease`, { key: w.key });
    assert.equal(lease.status, 200);
    await page.goto(coord.url + '#/workers');
    const row = page.locator(`#workers tr[data-worker="${w.id}"]`);
    await row.locator('a.lease').waitFor();
    assert.equal(await row.locator('td').first().innerText(), 'gpu7:42');
    assert.equal(await row.locator('.labels').innerText(), 'rack=r7');
    assert.equal(await row.locator('.slots').innerText(), '1 / 2');
    assert.equal(await row.locator('.gpus').innerText(), '0,1');
    assert.match(await row.locator('.seen').innerText(), /s ago$/);
    assert.equal(await page.locator('#workers tbody tr').count(), 2);
    assert.equal(await page.locator('#workers tr:has-text("cpu1:7") .running').innerText(), 'idle');
    assert.equal(await page.locator('header nav a.active').innerText(), 'Workers');
    await shot('workers');
    await row.locator('a.lease').click();
    await page.waitForURL(`**#/study/remote/trial/${lease.json.trial.number}`);
  } finally {
    coord.proc.kill('SIGTERM');
    await new Promise((r) => { coord.proc.once('exit', r); setTimeout(r, 5000); });
  }
});

test('a study name of 128 characters leaves every column of the studies list in view', async () => {
  const long = 'n'.repeat(128);
  assert.equal((await api('POST', '/studies', branin(long, 1, 1))).status, 201);
  await go('#/');
  await page.locator(`#studies tr[data-study="${long}"]`).waitFor();
  const fits = await page.$eval('#studies', (t) => t.parentNode.scrollWidth <= t.parentNode.clientWidth);
  assert.ok(fits, 'the list does not scroll sideways: the best value and the rest stay in view');
  await shot('studies-long-name');
  await api('DELETE', '/studies/' + long);
});

test('an axis\'s last tick label stays on the canvas, whole (1e+308 was cut to 1e+3)', async () => {
  const spec = branin('huge', 2, 1);
  spec.objective.direction = 'maximize';
  spec.space = { k: { type: 'categorical', choices: [0, 1] } };
  spec.strategy = { name: 'grid' };
  spec.run = { command: "test {k} = 0 && echo '{{\"value\": 1e308}}' || echo '{{\"value\": 2.5}}'" };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('huge complete', async () => (await studyState('huge')) === 'COMPLETE');
  await go('#/study/huge');
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.equal(await page.locator('[data-fact="best"]').innerText(), '1e+308 (#0)', 'the best of a maximized study');
  const inked = await page.evaluate(() => Object.entries(window.kestrelCharts).filter(([, c]) => {
    const { width, height } = c.canvas;
    const px = c.canvas.getContext('2d').getImageData(width - 3, 0, 3, height).data;
    return px.some((v, i) => i % 4 === 3 && v !== 0);
  }).map(([k]) => k));
  assert.deepEqual(inked, [], 'no chart draws up to its right edge (a label running off it)');
  await shot('study-huge');
});

test('no script error on any page', () => {
  assert.deepEqual(pageErrors, []);
});
