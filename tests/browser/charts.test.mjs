// Browser tests of the study page's charts (helpers.mjs: a real `kestrel
// serve` running real studies, Debian's chromium): each chart with the
// study's points, its colours, tooltips, brushing, axes and labels, learning
// curves (Hyperband promotions, pruned trials), and how big charts are drawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, noScriptErrors, page, tmp, go, api, until, studyState, allTrials, shot, chartCounts, emptyCharts, branin, stepsStudy } from './helpers.mjs';

setup(() => [branin('branin', 30), stepsStudy('curves', 12, 0.02)]);

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

test('a chart\'s points are read from the keyboard: Tab to the canvas, the arrow keys, Escape', async () => {
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const done = (await allTrials('branin')).filter((t) => t.state === 'COMPLETE').sort((a, b) => a.number - b.number);
  const fmt = (v) => String(Number(v.toPrecision(6)));
  const state = () => page.evaluate(() => {
    const c = window.kestrelCharts.history;
    const box = c.canvas.parentNode;
    const tip = box.querySelector('.plot-tip');
    const ring = box.querySelector('.plot-focus');
    const live = box.querySelector('[role="status"]');
    const e = document.activeElement;
    return { focus: e === c.canvas, ring: e.matches(':focus-visible') && getComputedStyle(e).outlineStyle !== 'none',
      name: c.canvas.getAttribute('aria-label'), tip: tip && !tip.hidden ? tip.textContent : null,
      mark: ring && !ring.hidden ? [parseFloat(ring.style.left) + 7, parseFloat(ring.style.top) + 7] : null,
      at: tip && !tip.hidden && tip.dataset.index !== undefined ? [Number(tip.dataset.dataset), Number(tip.dataset.index)] : null,
      live: live ? live.textContent : null };
  });
  const pixel = ([di, i]) => page.evaluate(([di, i]) => {
    const m = window.kestrelCharts.history.getDatasetMeta(di);
    return [m.px[i], m.py[i]];
  }, [di, i]);
  /* Tab from the log switch in the history's title, past its legend's two items, reaches its canvas, outlined and named */
  await page.focus('#log-scale');
  for (let k = 0; k < 3; k++) await page.keyboard.press('Tab');
  let s = await state();
  assert.deepEqual([s.focus, s.ring, s.name, s.tip], [true, true, 'Optimization history', null]);
  assert.match(await page.evaluate(() => document.getElementById(document.activeElement.getAttribute('aria-describedby')).textContent),
    /^Left and Right read its points/, 'its description says which keys read it');
  /* Home: the first trial's point, its tooltip beside it, a ring around it, its text read out */
  await page.keyboard.press('Home');
  s = await state();
  /* each trial's value, and the best so far where it changes */
  const n = await page.evaluate(() => window.kestrelCharts.history.data.datasets.reduce((sum, d) => sum + d.data.filter((p) => p.y !== null).length, 0));
  assert.ok(n > done.length, `${n} points`);
  assert.equal(s.tip, `#${done[0].number}: ${fmt(done[0].value)}`);
  assert.equal(s.live, `trial value: #${done[0].number}: ${fmt(done[0].value)} (1 of ${n})`);
  const at = await pixel(s.at);
  assert.ok(Math.abs(s.mark[0] - at[0]) < 1 && Math.abs(s.mark[1] - at[1]) < 1, `the ring ${s.mark} around the point ${at}`);
  /* Right: the best so far at that trial, then the next trial */
  await page.keyboard.press('ArrowRight');
  assert.equal((await state()).live, `best so far: #${done[0].number}: ${fmt(done[0].value)} (2 of ${n})`);
  await page.keyboard.press('ArrowRight');
  s = await state();
  assert.equal(s.tip, `#${done[1].number}: ${fmt(done[1].value)}`);
  assert.match(s.live, new RegExp(`^trial value: #${done[1].number}: .* \\(3 of ${n}\\)$`));
  await page.keyboard.press('ArrowLeft');
  assert.match((await state()).live, /\(2 of \d+\)$/);
  /* End: the last trial; a live redraw keeps the tooltip on it */
  await page.keyboard.press('End');
  s = await state();
  assert.match(s.live, new RegExp(`: #${done[done.length - 1].number}: .* \\(${n} of ${n}\\)$`));
  await page.evaluate(() => { const c = window.kestrelCharts.history; c.refresh(c.model); });
  assert.deepEqual((await state()).tip, s.tip, 'a redraw keeps the point\'s tooltip');
  await shot('study-history-keyboard');
  /* Escape hides the tooltip and the ring; the focus stays */
  await page.keyboard.press('Escape');
  s = await state();
  assert.deepEqual([s.focus, s.tip, s.mark, s.live], [true, null, null, '']);
  /* a hidden series is skipped: its legend key pressed, the history holds the trials' values alone */
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'best so far');
  assert.equal((await state()).tip, null, 'leaving the chart hides its tooltip');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await page.keyboard.press('End');
  assert.match((await state()).live, new RegExp(`^trial value: #${done[done.length - 1].number}: .* \\(${done.length} of ${done.length}\\)$`));
  await page.keyboard.press('Escape');
  await page.evaluate(() => { const c = window.kestrelCharts.history; c.data.datasets[1].hidden = false; c.update(); });
});

test('a chart puts its ring, live region and hint in the page when the keyboard reaches it, not while the page loads', async () => {
  /* put there as each chart was made, they had the page laid out, painted and
   * committed once more per chart during a load (bench/README.md, 2026-12-05,
   * session 26). The page built anew (an earlier test leaves the same one open, a chart focused). */
  await go('#/');
  await page.locator('#studies').waitFor();
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const parts = () => page.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll('#charts canvas'), (c) => {
    const box = c.parentNode;
    const live = box.querySelector('.plot-live');
    const hint = document.getElementById(c.getAttribute('aria-describedby'));
    return [c.getAttribute('aria-label'), { ring: box.querySelectorAll('.plot-focus').length,
      live: live ? [live.getAttribute('role'), live.textContent] : null, hint: hint ? hint.textContent : null }];
  })));
  const loaded = await parts();
  assert.ok(Object.keys(loaded).length >= 8, Object.keys(loaded).join(', '));
  for (const [name, p] of Object.entries(loaded)) assert.deepEqual(p, { ring: 0, live: null, hint: null }, name);
  /* Tab from the log switch, past the history's legend, to its canvas: its parts are there before a key */
  await page.focus('#log-scale');
  for (let k = 0; k < 3; k++) await page.keyboard.press('Tab');
  const focused = await parts();
  assert.equal(focused['Optimization history'].ring, 1);
  assert.deepEqual(focused['Optimization history'].live, ['status', '']);
  assert.match(focused['Optimization history'].hint, /^Left and Right read its points/);
  for (const [name, p] of Object.entries(focused)) {
    if (name !== 'Optimization history') assert.deepEqual(p, { ring: 0, live: null, hint: null }, name);
  }
  await page.keyboard.press('Home');
  assert.match((await parts())['Optimization history'].live[1], /^trial value: #\d+: .* \(1 of \d+\)$/, 'a key is read out');
  /* the focus gone and back, the same parts, not a second set */
  await page.keyboard.press('Escape');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => window.kestrelCharts.history.canvas.parentNode.querySelectorAll('.plot-focus, .plot-live, .plot-hint').length), 3);
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

test('an axis of the parallel coordinates is reached with Tab and its range set with the arrow keys', async () => {
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const state = () => page.evaluate(() => {
    const c = window.kestrelCharts.parallel;
    const e = document.activeElement;
    return { focus: e.dataset.axis === undefined ? e.tagName : Number(e.dataset.axis), ring: e.matches(':focus-visible'),
      brushes: [...c.brushes].map(([j, [lo, hi]]) => [j, Number(lo.toFixed(6)), Number(hi.toFixed(6))]), selected: c.selected };
  });
  /* Tab from the chart's title (a click there starts the Tab order) to its first axis (x1), then to the objective's (the third) */
  await page.locator('h3', { hasText: 'Parallel coordinates' }).click();
  await page.keyboard.press('Tab');
  assert.deepEqual(await state(), { focus: 0, ring: true, brushes: [], selected: 30 });
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal((await state()).focus, 2);
  /* ↑ starts a range at the top fifth, ↓ moves it down, Shift+↑ widens it */
  await page.keyboard.press('ArrowUp');
  assert.deepEqual((await state()).brushes, [[2, 0.8, 1]]);
  await page.keyboard.press('ArrowDown');
  assert.deepEqual((await state()).brushes, [[2, 0.75, 0.95]]);
  await page.keyboard.press('Shift+ArrowUp');
  assert.deepEqual((await state()).brushes, [[2, 0.725, 0.975]]);
  await page.keyboard.press('ArrowUp');
  assert.deepEqual((await state()).brushes, [[2, 0.75, 1]], 'moved up to the axis\'s end, not past it');
  const values = (await allTrials('branin')).filter((t) => t.state === 'COMPLETE').map((t) => t.value);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const want = values.filter((v) => (v - lo) / (hi - lo) >= 0.75).length;
  assert.ok(want > 0 && want < 30, `a real selection (${want})`);
  assert.equal((await state()).selected, want, 'the trials whose objective lies in the range');
  assert.equal(await page.locator('#parallel-selection').innerText(), `${want} of 30 trials selected.`);
  await shot('study-brush-keys');
  /* Escape clears it; the focus stays on the axis */
  await page.keyboard.press('Escape');
  assert.deepEqual(await state(), { focus: 2, ring: true, brushes: [], selected: 30 });
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

test('a chart\'s legend is reached with Tab and shows or hides its series with Enter or Space', async () => {
  await go('#/study/branin');
  await page.locator('#charts[data-ready="true"]').waitFor();
  const hidden = () => page.evaluate(() => window.kestrelCharts.history.data.datasets.slice(0, 2).map((d) => !!d.hidden));
  const at = () => page.evaluate(() => {
    const e = document.activeElement;
    return { text: e.textContent, pressed: e.getAttribute('aria-pressed'), ring: e.matches(':focus-visible') && getComputedStyle(e).outlineStyle !== 'none' };
  });
  /* the history's log switch, then its legend's items */
  await page.focus('#log-scale');
  await page.keyboard.press('Tab');
  assert.deepEqual(await at(), { text: 'trial value', pressed: 'true', ring: true });
  await page.keyboard.press(' ');
  assert.deepEqual(await hidden(), [true, false], 'Space hid the trial values');
  assert.equal((await at()).pressed, 'false');
  await page.keyboard.press('Tab');
  assert.deepEqual(await at(), { text: 'best so far', pressed: 'true', ring: true });
  await page.keyboard.press('Enter');
  assert.deepEqual(await hidden(), [true, true], 'Enter hid the best so far');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  assert.deepEqual(await hidden(), [false, true], 'and shows the trial values again');
  /* a click on the item drawn on the canvas does the same */
  const box = await page.evaluate(() => window.kestrelCharts.history.legend.boxes[1]);
  const canvas = await page.locator('#charts canvas').first().boundingBox();
  await page.mouse.click(canvas.x + box.x + box.w / 2, canvas.y + box.y + box.h / 2);
  assert.deepEqual(await hidden(), [false, false]);
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

/* A study of every combination of the categorical space's choices, each
 * trial running command (which prints its value), run to its end; its page
 * is then shown with every chart built. */
async function gridStudyShown(name, space, command, direction = 'minimize') {
  const spec = branin(name, Object.values(space).reduce((n, p) => n * p.choices.length, 1), 1);
  Object.assign(spec, { space, strategy: { name: 'grid' }, run: { command } });
  spec.objective.direction = direction;
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until(name + ' complete', async () => (await studyState(name)) === 'COMPLETE');
  await go('#/study/' + name);
  await page.locator('#charts[data-ready="true"]').waitFor();
}

test('parameter importance of objective values near 1e308 is drawn (its variance overflowed to Infinity)', async () => {
  /* k alone sets the value: k explains all of its variance */
  await gridStudyShown('vast', { k: { type: 'categorical', choices: [0, 1, 2, 3] } },
    "case {k} in 0|2) echo '{{\"value\": 1e308}}';; *) echo '{{\"value\": 9e307}}';; esac");
  assert.equal((await emptyCharts()).importance, 'drawn', 'no "Not enough complete trials" over 4 trials of 2 values');
  const shown = await page.evaluate(() => window.kestrelCharts.importance.data.datasets[0].data);
  assert.deepEqual(shown.map((v) => Number(v.toFixed(12))), [1]);
  /* values of both signs, the widest range a double holds, and a tiny one */
  const got = await page.evaluate(() => {
    const axes = [K.stats.paramAxis({ space: { k: { type: 'categorical', choices: ['a', 'b'] } } }, 'k'),
      K.stats.paramAxis(null, 'x')];
    const t = (k, x, value) => ({ state: 'COMPLETE', value, params: { k, x } });
    const imp = (trials) => K.stats.importance(trials, axes).map((r) => Number(r.importance.toFixed(12)));
    return [imp([t('a', 1, -1.7e308), t('a', 2, -1.7e308), t('b', 3, 1.7e308), t('b', 4, 1.7e308)]),
      imp([t('a', 1, 5e-324), t('a', 2, 5e-324), t('b', 3, 1e-323), t('b', 4, 1e-323)])];
  });
  assert.deepEqual(got, [[1, 1], [1, 1]], 'k splits the values in two: it explains them all (and x, in 2 bins, too)');
});

test('a study whose values reach 1.7e308 is shown: an axis rounded out to a tick past the largest double made ticks for ever', async () => {
  await gridStudyShown('vaster', { k: { type: 'categorical', choices: [0, 1] } },
    "test {k} = 0 && echo '{{\"value\": 1.7e308}}' || echo '{{\"value\": 9e307}}'");
  const y = await page.evaluate(() => {
    const sc = window.kestrelCharts.history.scales.y;
    return { hi: sc.hi, last: sc.ticks[sc.ticks.length - 1].value, points: window.kestrelCharts.history.data.datasets[0].data.length };
  });
  assert.equal(y.points, 2);
  assert.ok(Number.isFinite(y.hi) && y.hi >= 1.7e308 && Number.isFinite(y.last), JSON.stringify(y));
});

test('a study whose every value is 1.75e308 is shown: its axis widened by 5% past the largest double ended at Infinity with no tick', async () => {
  await gridStudyShown('vastest', { k: { type: 'categorical', choices: [0, 1] } },
    "echo '{{\"value\": 1.75e308}}'");
  const y = await page.evaluate(() => {
    const sc = window.kestrelCharts.history.scales.y;
    return { lo: sc.lo, hi: sc.hi, ticks: sc.ticks.length };
  });
  assert.ok(Number.isFinite(y.lo) && Number.isFinite(y.hi) && y.lo < 1.75e308 && y.hi >= 1.75e308 && y.ticks >= 2, JSON.stringify(y));
});

test('a study whose values span both signs to the ends of the double range draws its charts with ticks and its points apart', async () => {
  await gridStudyShown('signs', { k: { type: 'categorical', choices: [0, 1, 2] } },
    "case {k} in 0) echo '{{\"value\": -1.7e308}}';; 1) echo '{{\"value\": 0}}';; *) echo '{{\"value\": 1.7e308}}';; esac");
  const got = await page.evaluate(() => {
    const c = window.kestrelCharts;
    /* each axis the values run along: its tick labels, and the pixels of the trials' points */
    const axis = (ch, id) => {
      const sc = ch.scales[id];
      return { labels: sc.ticks.filter((t) => Number.isFinite(sc.getPixelForValue(t.value))).map((t) => t.label).filter((l) => l) };
    };
    const ys = (ch) => ch.metas.flatMap((m) => Array.from(m.py)).filter((y) => y === y);
    const par = c.parallel;
    const parY = par.data.datasets.flatMap((d) => Array.from({ length: d.data.length }, (_, i) => d.data.at(i)))
      .filter((p) => p.x === 1 && p.y !== null).map((p) => p.y).sort((a, b) => a - b);
    return { history: axis(c.history, 'y'), slice: axis(c['slice:k'], 'y'), edf: axis(c.edf, 'x'),
      historyYs: [...new Set(ys(c.history).slice(0, 3).map(Math.round))].length,
      parallel: parY, bands: c.parallel.data.datasets.filter((d) => !d.dim && d.data.length > 0).length };
  });
  for (const k of ['history', 'slice', 'edf']) {
    assert.ok(got[k].labels.length >= 2, `${k}: ticks labelled along the values (${JSON.stringify(got[k])})`);
    assert.ok(got[k].labels.some((l) => l.startsWith('-')) && got[k].labels.some((l) => !l.startsWith('-')), `${k}: ${got[k].labels}`);
  }
  assert.equal(got.historyYs, 3, 'the three trials\' values drawn at three heights');
  assert.deepEqual(got.parallel.map((y) => Number(y.toFixed(6))), [0, 0.5, 1], 'the objective\'s axis of the parallel coordinates');
  assert.equal(got.bands, 3, 'the three values in three colour bands');
  await shot('study-signs');
});

test('categories of 200 characters are cut with an ellipsis in the charts and the table, whole in a tooltip', async () => {
  const long = ['a', 'b', 'c'].map((ch) => ch.repeat(200));
  await gridStudyShown('wordy', { c: { type: 'categorical', choices: long }, k: { type: 'categorical', choices: [1, 2] } },
    "echo '{{\"value\": {k}}}'");
  /* the slice of c: every category's label, each cut to its share of the axis */
  await page.locator('#slices canvas').first().scrollIntoViewIfNeeded();
  const slice = await page.evaluate(() => {
    const c = window.kestrelCharts['slice:c'];
    const x = c.scales.x;
    c.ctx.font = c.fontOf(12);   /* the tick labels' */
    return { shown: x.shown(c.ctx), labels: x.ticks.map((t) => t.label),
      room: (x.right - x.left) / x.ticks.length, widths: x.ticks.map((t) => c.ctx.measureText(t.label).width),
      at: { x: x.getPixelForValue(1), y: c.chartArea.bottom + 17 } };
  });
  assert.deepEqual(slice.shown, [true, true, true], 'every category named, not the first alone');
  slice.labels.forEach((l, i) => assert.ok(l.startsWith(long[i].slice(0, 3)) && l.endsWith('…'), l));
  assert.ok(slice.widths.every((w) => w <= slice.room), `labels ${slice.widths} px in ${slice.room} px each`);
  const box = await page.locator('#slices canvas').first().boundingBox();
  await page.mouse.move(box.x + slice.at.x, box.y + slice.at.y);
  const tip = page.locator('#slices .plot-tip').first();
  await tip.waitFor();
  assert.equal(await tip.innerText(), long[1], 'a cut label\'s whole text shows on hover');
  await page.mouse.move(0, 0);
  /* and from the keyboard: the arrow keys reach the cut label too, its whole text read out */
  await page.evaluate(() => window.kestrelCharts['slice:c'].canvas.focus());
  const heard = [];
  for (let k = 0; k < 20 && !heard.includes(long[1]); k++) {
    await page.keyboard.press('ArrowRight');
    heard.push(await tip.innerText());
  }
  assert.ok(heard.includes(long[1]), 'the arrow keys reach the cut label: ' + heard.map((t) => t.slice(0, 12)).join(', '));
  assert.match(await page.locator('#slices [role="status"]').first().innerText(), new RegExp(`^${long[1]} \\(\\d+ of \\d+\\)$`));
  await page.keyboard.press('Escape');
  /* parallel coordinates: c's labels end before the next axis; nothing is
   * drawn right of the objective's axis, where a 200-character label ran */
  await page.evaluate(() => window.scrollTo(0, 0));
  const inked = await page.evaluate(() => {
    const c = window.kestrelCharts.parallel;
    const a = c.chartArea;
    const from = Math.ceil((c.scales.x.getPixelForValue(2) + 2) * c.dpr);
    const img = c.canvas.getContext('2d').getImageData(from, Math.floor(a.top * c.dpr), c.canvas.width - from, Math.floor(a.height * c.dpr)).data;
    let n = 0;
    for (let k = 3; k < img.length; k += 4) n += img[k] > 0;
    return n;
  });
  assert.equal(inked, 0, 'no label drawn past the objective\'s axis');
  /* the table's column of c stays narrow, its cells cut, whole in their title */
  const cellC = page.locator('#trials tbody tr').first().locator('td').nth(3);
  assert.equal(await cellC.getAttribute('title'), long[0]);
  const table = await page.$eval('#trials', (t) => {
    const cut = t.querySelector('tbody td .cut');
    return { sideways: t.parentNode.scrollWidth > t.parentNode.clientWidth, cut: !!cut && cut.scrollWidth > cut.clientWidth,
      width: cut ? cut.getBoundingClientRect().width : null };
  });
  assert.deepEqual([table.sideways, table.cut], [false, true], `the table scrolls sideways, or c's text is not cut (${table.width} px)`);
  await shot('study-long-categories');
});

test('the choices "3" and 3 are two categories: apart in the charts, told apart in the table', async () => {
  await gridStudyShown('twins', { c: { type: 'categorical', choices: ['3', 3, 'b'] } }, "echo '{{\"value\": 1}}'");
  const trials = await allTrials('twins');
  const place = (v) => ['3', 3, 'b'].findIndex((c) => c === v);
  const want = Object.fromEntries(trials.map((t) => [t.number, place(t.params.c)]));
  assert.deepEqual(Object.values(want).sort(), [0, 1, 2], 'the grid ran each choice once');
  await page.locator('#slices canvas').first().scrollIntoViewIfNeeded();
  const slice = await page.evaluate(() => {
    const c = window.kestrelCharts['slice:c'];
    const at = {};
    for (const d of c.data.datasets) for (let i = 0; i < d.data.length; i++) at[d.data.at(i).n] = d.data.at(i).x;
    return { at, labels: c.scales.x.ticks.map((t) => t.label) };
  });
  assert.deepEqual(slice, { at: want, labels: ['"3"', '3', 'b'] }, 'each trial at its own choice\'s place, the string quoted');
  const parallel = await page.evaluate(() => {
    const c = window.kestrelCharts.parallel;
    const ys = new Set();
    for (const d of c.data.datasets) for (let i = 0; i < d.data.length; i++) if (d.data.at(i).x === 0 && d.data.at(i).y !== null) ys.add(d.data.at(i).y);
    return ys.size;
  });
  assert.equal(parallel, 3, 'three places on the parallel coordinates\' axis of c');
  const cells = await page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => [Number(tr.dataset.number), tr.children[3].textContent]));
  assert.deepEqual(Object.fromEntries(cells), Object.fromEntries(trials.map((t) => [t.number, ['"3"', '3', 'b'][place(t.params.c)]])));
  /* and a trial's page names its choice as the study page does */
  for (const t of trials.filter((x) => x.params.c !== 'b')) {
    await go(`#/study/twins/trial/${t.number}`);
    await page.locator('#params').waitFor();
    assert.equal(await page.locator('#params td').innerText(), t.params.c === 3 ? '3' : '"3"', `trial ${t.number}`);
  }
});

test('the trial table sorts a parameter of numbers and strings with the numbers first, in order', async () => {
  await gridStudyShown('mixed', { c: { type: 'categorical', choices: ['5x', 10, 9, 'a'] } }, "echo '{{\"value\": 1}}'");
  await page.waitForFunction(() => /^4 trials/.test(document.querySelector('#table-info').textContent));
  const column = () => page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => tr.children[3].textContent));
  await page.click('#trials th[data-key="p:c"]');
  assert.deepEqual(await column(), ['9', '10', '5x', 'a'], 'ascending');
  await page.click('#trials th[data-key="p:c"]');
  assert.deepEqual(await column(), ['a', '5x', '10', '9'], 'descending');
});

test('an axis\'s last tick label stays on the canvas, whole (1e+308 was cut to 1e+3)', async () => {
  await gridStudyShown('huge', { k: { type: 'categorical', choices: [0, 1] } },
    "test {k} = 0 && echo '{{\"value\": 1e308}}' || echo '{{\"value\": 2.5}}'", 'maximize');
  assert.equal(await page.locator('[data-fact="best"]').innerText(), '1e+308 (#0)', 'the best of a maximized study');
  const inked = await page.evaluate(() => Object.entries(window.kestrelCharts).filter(([, c]) => {
    const { width, height } = c.canvas;
    const px = c.canvas.getContext('2d').getImageData(width - 3, 0, 3, height).data;
    return px.some((v, i) => i % 4 === 3 && v !== 0);
  }).map(([k]) => k));
  assert.deepEqual(inked, [], 'no chart draws up to its right edge (a label running off it)');
  await shot('study-huge');
});

noScriptErrors();
