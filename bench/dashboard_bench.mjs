// dashboard_bench: how the dashboard behaves on a study of N real trials
// served by a real `kestrel serve` (bench/dashboard_bench.sh starts both and
// passes BASE). Headless Debian chromium through playwright-core loads the
// study page REPS times and times: until the history chart holds every
// COMPLETE trial and is drawn, until the trial table shows its first page, until every
// chart is built (each also read in the page, from navigation: the
// dashboard's user timings and a MutationObserver), and (in the page, to the
// next paint) a sort by value and a state filter. During each load and for LIVE_S seconds after it
// (the study keeps running, tens of trials a second, so the page keeps
// polling and redrawing) it records the main thread's long tasks (> 50 ms,
// PerformanceObserver) and the JS heap. Then TRACED more loads (default 2)
// under Chromium's tracing, which gives each main-thread task its CPU time
// beside its wall time: a task that was long only because the thread was
// off the CPU (a busy machine) tells apart from one that did long work.
// TRACE_DIR=DIR keeps those traces (DIR/traceN.json, for chrome://tracing
// or a script); TRACE_CATS=a,b adds trace categories (devtools.timeline
// and v8 name what each task did: Layout, EvaluateScript, MinorGC...).
// Prints medians; asserts nothing.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(resolve(here, '../tests/browser/package.json'))('playwright-core');

const BASE = process.env.BASE;
const STUDY = process.env.STUDY || 'big';
const N = Number(process.env.TRIALS || 10000);
const REPS = Number(process.env.REPS || 5);
const LIVE_S = Number(process.env.LIVE_S || 10);
const TRACED = Number(process.env.TRACED ?? 2);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE) throw new Error('BASE (the server URL) is not set; run bench/dashboard_bench.sh');

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Runs act() in the page and resolves with the ms until the next frame has
// been painted after it (the handler's work, the re-render and the paint).
async function timeAction(page, act) {
  return page.evaluate(async (src) => {
    const t0 = performance.now();
    new Function(`(${src})()`)();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - t0;
  }, act.toString());
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const rows = [];
const traced = [];
/* closed whatever happens: a wait that failed (a timeout, a page that
 * never drew) threw past the close and left Chromium running */
try {
  for (let rep = 0; rep < REPS; rep++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.addInitScript(() => {
      window.__long = [];
      window.__longAt = [];   /* start+duration of each, for PROFILE */
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) {
          window.__long.push(e.duration);
          window.__longAt.push(`${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`);
        }
      })
        .observe({ type: 'longtask', buffered: true });
      /* when the table's first page is in the DOM, read in the page: the
       * poll from node waits for the main thread, which the charts may hold */
      const mo = new MutationObserver(() => {
        if (!window.__table && document.querySelectorAll('#trials tbody tr').length === 100) window.__table = performance.now();
      });
      document.addEventListener('DOMContentLoaded', () => mo.observe(document.body, { childList: true, subtree: true }));
    });
    const t0 = Date.now();
    await page.goto(`${BASE}#/study/${STUDY}`);
    /* each measured on its own from navigation: the table may come first */
    await page.waitForFunction(() => document.querySelectorAll('#trials tbody tr').length === 100,
      null, { timeout: 120000, polling: 20 });
    const table = Date.now() - t0;
    const tableInPage = await page.evaluate(() => window.__table);
    /* laid out with every trial (its elements, not only its data), then
     * drawn: the dashboard may lay out and draw a chart in two tasks */
    await page.waitForFunction((n) => {
      const h = window.kestrelCharts && window.kestrelCharts.history;
      return h && h.data.datasets[0].data.length >= n && h.getDatasetMeta(0).data.length >= n;
    }, N, { timeout: 120000, polling: 50 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    const load = Date.now() - t0;

    const sort = await timeAction(page, () => document.querySelector('#trials th[data-key="value"]').click());
    const filter = await timeAction(page, () => {
      const sel = document.querySelector('#state-filter');
      sel.value = 'PRUNED';
      sel.dispatchEvent(new Event('change'));
    });
    await page.selectOption('#state-filter', '');
    await page.locator('#charts[data-ready="true"]').waitFor();
    const ready = Date.now() - t0;
    /* the dashboard's own user timings (from navigation, in the page): the
     * polls from node above wait for a free main thread, which the charts
     * still being built keep busy */
    const mark = (name) => page.evaluate((n) => {
      const m = performance.getEntriesByName(n, 'mark')[0];
      return m ? m.startTime : NaN;
    }, name);
    const loadInPage = await mark('kestrel:history-drawn');
    const readyInPage = await mark('kestrel:charts-drawn');

    if (process.env.PROFILE) {
      /* where a load's time went: each API request's start, the moment it
       * was sent (later when it waited for one of the browser's connections
       * to the server), first byte and end, from navigation, with the marks
       * (PROFILE=1; not in the medians) */
      const res = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/api/v1/') && !e.name.includes('/events'))
        .map((e) => `${e.name.replace(/^.*\/api\/v1\/studies\/[^/]*/, '')} ${e.startTime.toFixed(0)} sent ${e.requestStart.toFixed(0)} ${e.responseStart.toFixed(0)} ${e.responseEnd.toFixed(0)} ${(e.encodedBodySize / 1024).toFixed(0)}KB`));
      console.log(`load ${rep + 1}: history ${loadInPage.toFixed(0)} charts ${readyInPage.toFixed(0)} table ${tableInPage.toFixed(0)}`);
      for (const r of res) console.log('  ' + r);
      /* the long tasks so far, each as start+duration from navigation: which
       * of the gaps above the main thread was busy in */
      console.log('  long tasks: ' + (await page.evaluate(() => window.__longAt.join(' '))));
    }
    const loadLong = await page.evaluate(() => window.__long.slice());
    await page.evaluate(() => { window.__long = []; });
    await page.waitForTimeout(LIVE_S * 1000);
    const liveLong = await page.evaluate(() => window.__long.slice());
    const heap = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
    rows.push({ load, loadInPage, table, tableInPage, ready, readyInPage, sort, filter, loadLongMax: Math.max(0, ...loadLong), loadLongSum: loadLong.reduce((s, x) => s + x, 0),
      liveLongMax: Math.max(0, ...liveLong), liveLongN: liveLong.length, heapMB: heap / 1048576 });
    await context.close();
  }

  /* The page's main-thread tasks (trace events RunTask on CrRendererMain, in
   * the renderer that set the dashboard's marks), split at the every-chart
   * mark into the load's and the live period's: per period the longest task's
   * wall time and CPU time, and the most CPU time any task took, in ms. */
  function tasksOf(events) {
    const mark = events.find((e) => e.name === 'kestrel:charts-drawn');
    if (!mark) return null;
    const main = new Set(events.filter((e) => e.name === 'thread_name' && e.pid === mark.pid && e.args.name === 'CrRendererMain')
      .map((e) => e.tid));
    const tasks = events.filter((e) => e.pid === mark.pid && main.has(e.tid) && e.name === 'RunTask' && e.ph === 'X');
    const period = (list) => {
      const longest = list.reduce((a, t) => (!a || t.dur > a.dur ? t : a), null);
      return { wall: longest ? longest.dur / 1000 : 0, cpu: longest ? (longest.tdur || 0) / 1000 : 0,
        maxCpu: Math.max(0, ...list.map((t) => (t.tdur || 0) / 1000)) };
    };
    return { load: period(tasks.filter((t) => t.ts < mark.ts)), live: period(tasks.filter((t) => t.ts >= mark.ts)) };
  }

  for (let rep = 0; rep < TRACED; rep++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', 'blink.user_timing',
      ...(process.env.TRACE_CATS ? process.env.TRACE_CATS.split(',') : [])] });
    await page.goto(`${BASE}#/study/${STUDY}`);
    await page.locator('#charts[data-ready="true"]').waitFor({ timeout: 120000 });
    await page.waitForTimeout(LIVE_S * 1000);
    const buf = await browser.stopTracing();
    if (process.env.TRACE_DIR) writeFileSync(`${process.env.TRACE_DIR}/trace${rep + 1}.json`, buf);
    const t = tasksOf(JSON.parse(buf.toString()).traceEvents);
    if (t) traced.push(t);
    await context.close();
  }
} finally {
  await browser.close();
}

const col = (k) => rows.map((r) => r[k]);
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : 'never');
console.log(`study ${STUDY}: ${N} trials, ${REPS} loads, ${LIVE_S} s of live polling after each`);
console.log('| measure | median | min | max |');
console.log('|---|---:|---:|---:|');
const lines = [
  ['page load to history chart with every trial (ms)', 'load'],
  ['history chart drawn with every trial, from navigation, read in the page (ms)', 'loadInPage'],
  ['page load to first table page (ms)', 'table'],
  ['first table page in the DOM, from navigation, read in the page (ms)', 'tableInPage'],
  ['page load to every chart built (ms)', 'ready'],
  ['every chart drawn, from navigation, read in the page (ms)', 'readyInPage'],
  ['sort the table by value, to the next paint (ms)', 'sort'],
  ['filter the table by state, to the next paint (ms)', 'filter'],
  ['longest main-thread task during load (ms)', 'loadLongMax'],
  ['main-thread long tasks during load, total (ms)', 'loadLongSum'],
  [`longest main-thread task in ${LIVE_S} s of live updates (ms)`, 'liveLongMax'],
  [`long tasks in ${LIVE_S} s of live updates (count)`, 'liveLongN'],
  ['JS heap after the live period (MB)', 'heapMB'],
];
for (const [label, k] of lines) {
  const v = col(k);
  console.log(`| ${label} | ${fmt(median(v))} | ${fmt(Math.min(...v))} | ${fmt(Math.max(...v))} |`);
}
if (traced.length) {
  const tcol = (f) => traced.map(f);
  console.log(`\n${traced.length} more loads traced (tracing slows the page: not in the rows above); each`);
  console.log('main-thread task\'s wall time against its CPU time, from navigation to every chart and then');
  console.log(`in ${LIVE_S} s of live updates`);
  console.log('| measure | median | min | max |');
  console.log('|---|---:|---:|---:|');
  for (const [label, f] of [
    ['longest task during load, wall (ms)', (t) => t.load.wall],
    ['the same task\'s CPU time (ms)', (t) => t.load.cpu],
    ['most CPU time of any task during load (ms)', (t) => t.load.maxCpu],
    ['longest task in live updates, wall (ms)', (t) => t.live.wall],
    ['the same task\'s CPU time (ms)', (t) => t.live.cpu],
    ['most CPU time of any task in live updates (ms)', (t) => t.live.maxCpu],
  ]) {
    const xs = tcol(f);
    console.log(`| ${label} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} |`);
  }
}
