// Browser tests of the study page's header and trial table and of the
// trial page (helpers.mjs: a real `kestrel serve`, Debian's chromium): the
// order a page loads in, sorting, filtering and paging, the note, a running
// trial, and what a page says when there is nothing to draw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { setup, noScriptErrors, page, base, go, api, until, studyState, allTrials, shot, emptyCharts, branin, stepsStudy, untilStudy, unnamed, serve, ARTIFACTS, tmp } from './helpers.mjs';

setup(() => [stepsStudy('curves', 12, 0.02), branin('many', 150, 4)]);

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

test('Delete pressed while the history still loads names every trial of the study, not the table\'s first page', async () => {
  /* the history held back: the page has the study's counts and its first 100 trials */
  let release;
  const held = new Promise((r) => { release = r; });
  const trialsUrl = /\/api\/v1\/studies\/many\/trials\?sort=number&format=columns&offset=/;
  await page.route(trialsUrl, async (route) => { await held; await route.continue(); });
  try {
    await go('#/');
    await go('#/study/many');
    await page.waitForFunction(() => /^first 100 of 150 trials/.test(document.querySelector('#table-info')?.textContent));
    const asked = new Promise((resolve) => page.once('dialog', async (d) => { resolve(d.message()); await d.dismiss(); }));
    await page.click('#delete');
    assert.equal(await asked, 'Delete study many, its 150 trials and their folders?');
  } finally {
    release();
  }
  /* the held requests answered before the route goes */
  await page.waitForFunction(() => /^150 trials · page 1 of 2/.test(document.querySelector('#table-info').textContent));
  await page.unroute(trialsUrl);
  assert.equal((await api('GET', '/studies/many')).status, 200, 'dismissed: the study stays');
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
  /* a screen reader reads it as a button in a header that says how the column is sorted */
  assert.equal(await page.locator('#trials th[data-key="value"]').ariaSnapshot(), '- columnheader "value":\n  - button "value"');
  assert.equal(await page.locator('#trials th[data-key="number"]').ariaSnapshot(), '- columnheader "#":\n  - button "#"');
  await page.keyboard.press('Enter');
  assert.deepEqual(await shown(), byValue.slice(0, 100), 'Enter: ascending by value');
  await page.keyboard.press(' ');
  assert.deepEqual(await shown(), byValue.slice().reverse().slice(0, 100), 'Space: descending by value');
  await page.click('#trials th[data-key="value"]');
  // paging from the keyboard: Next on the page before the last is disabled once pressed; the focus goes to Prev
  await page.focus('#next-page');
  await page.keyboard.press('Enter');
  assert.match(await page.locator('#table-info').innerText(), /page 2 of 2$/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'prev-page', 'the focus stays on the pager, on Prev');
  await page.keyboard.press('Enter');
  assert.match(await page.locator('#table-info').innerText(), /page 1 of 2$/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'next-page');

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
  /* a page's first rows go in a frame at a time (study.js putRows): the
   * sort is clicked as soon as the first part is in (a mutation
   * observer's callback, run before any frame or timer can put the rest);
   * the same document, so the observer stays through the page change */
  await page.evaluate(() => {
    window.atClick = new Promise((resolve) => {
      const seen = new MutationObserver(() => {
        const tbody = document.querySelector('#trials tbody');
        if (!tbody || tbody.children.length === 0) return;
        seen.disconnect();
        const was = { rows: tbody.children.length, going: tbody.dataset.going };
        document.querySelector('#trials th[data-key="value"]').click();
        resolve(was);
      });
      seen.observe(document.getElementById('app'), { childList: true, subtree: true });
    });
  });
  await go('#/study/many');
  const atClick = await page.evaluate(() => window.atClick);
  assert.deepEqual(atClick, { rows: 50, going: '1' }, 'the sort clicked while the first draw\'s rows were still going in');
  /* every part of the first draw has gone in or been stopped */
  await page.waitForFunction(() => document.querySelector('#trials tbody').dataset.going === '0');
  const first = (await allTrials('many')).filter((t) => t.number < 100);
  const byValue = first.sort((a, b) => a.value - b.value || a.number - b.number).map((t) => String(t.number));
  const shown = await page.$$eval('#trials tbody tr', (trs) => trs.map((tr) => tr.dataset.number));
  assert.deepEqual(shown, byValue, 'the first 100 trials by value alone');
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

test('a running trial\'s Step and Duration cells follow its reports, the table not drawn again', async () => {
  const spec = stepsStudy('ticking', 1, 0.1);
  spec.space.epochs = { type: 'int', low: 600, high: 600 };   /* a minute or more: stopped at the end */
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  try {
    await until('its trial reports', async () => (await allTrials('ticking')).some((t) => t.state === 'RUNNING' && t.last_step > 0));
    await go('#/study/ticking');
    await page.locator('#charts[data-ready="true"]').waitFor();
    /* the running row's Step and Duration as they change, and how often the rows were put anew */
    await page.evaluate(() => {
      window.seen = { steps: new Set(), durations: new Set(), redraws: 0 };
      new MutationObserver(() => { window.seen.redraws++; }).observe(document.querySelector('#trials tbody'), { childList: true });
    });
    const cellOf = (key) => page.evaluate((key) => [...document.querySelectorAll('#trials th')].findIndex((th) => th.dataset.key === key), key);
    const step = await cellOf('last_step');
    const duration = await cellOf('duration');
    const got = await (await page.waitForFunction(([step, duration]) => {
      const tr = document.querySelector('#trials tbody tr[data-state="RUNNING"]');
      if (!tr) return null;
      window.seen.steps.add(tr.children[step].textContent);
      window.seen.durations.add(tr.children[duration].textContent);
      return window.seen.steps.size >= 6 && window.seen.durations.size >= 6
        ? { steps: [...window.seen.steps], redraws: window.seen.redraws } : null;
    }, [step, duration], { polling: 'raf' })).jsonValue();
    assert.ok(got.steps.every((s) => /^\d+$/.test(s)), `steps ${got.steps}`);
    /* none: the polls after the page is built (its first, the live feed's
     * catch-up) find the same rows, the running one's Step and Duration
     * aside, which its cells follow */
    assert.equal(got.redraws, 0, `the rows were put anew ${got.redraws} times for ${got.steps.length} steps`);
  } finally {
    await api('POST', '/studies/ticking/stop');
  }
});

/* seconds from a Duration cell's text (S.fmtDuration) */
const seconds = (text) => {
  const m = /^([\d.]+) (s|min|h)$/.exec(text);
  assert.ok(m, `a duration: ${text}`);
  return Number(m[1]) * { s: 1, min: 60, h: 3600 }[m[2]];
};
const runningFor = async (name) => (await allTrials(name)).find((t) => t.state === 'RUNNING')?.duration ?? -1;
/* The study page's row (in tab) of the study's one trial turns COMPLETE,
 * its Duration the server's to the digit shown (the trial's event carries
 * the end the server stored) */
async function endedAsServerSays(name, tab = page) {
  await tab.locator('#trials tbody tr[data-state="COMPLETE"]').waitFor();
  const ran = (await allTrials(name))[0].duration;
  const want = await tab.evaluate((ran) => K.stats.fmtDuration(ran), ran);
  const duration = await tab.evaluate(() => [...document.querySelectorAll('#trials th')].findIndex((th) => th.dataset.key === 'duration'));
  const shown = await tab.locator('#trials tbody tr[data-state="COMPLETE"] td').nth(duration).innerText();
  assert.equal(shown, want, `the server's duration is ${ran} s`);
}

test('a running trial\'s Duration and timeline bar go by the server\'s clock, not a browser\'s an hour behind', async () => {
  const flag = join(tmp, 'skewed.flag');
  assert.equal((await api('POST', '/studies', untilStudy('skewed', flag, true))).status, 201);
  /* a second tab whose clock is an hour behind the server's */
  const tab = await page.context().newPage();
  try {
    /* the system's clock as the page reads it: Date.now and the page's time origin */
    await tab.addInitScript(() => {
      const real = Date.now;
      Date.now = () => real() - 3600e3;
      Object.defineProperty(performance, 'timeOrigin', { value: performance.timeOrigin - 3600e3 });
    });
    await until('its trial has run 3 s', async () => (await runningFor('skewed')) >= 3);
    const before = await runningFor('skewed');
    await tab.goto(base + '#/study/skewed');
    await tab.locator('#charts[data-ready="true"]').waitFor();
    const cellOf = (key) => tab.evaluate((key) => [...document.querySelectorAll('#trials th')].findIndex((th) => th.dataset.key === key), key);
    const step = await cellOf('last_step');
    const duration = await cellOf('duration');
    /* the Duration a report wrote (the first draw's is the server's own) */
    const first = await tab.evaluate((step) => document.querySelector('#trials tbody tr[data-state="RUNNING"]').children[step].textContent, step);
    const shown = await (await tab.waitForFunction(([step, duration, first]) => {
      const tr = document.querySelector('#trials tbody tr[data-state="RUNNING"]');
      return tr && tr.children[step].textContent !== first ? tr.children[duration].textContent : null;
    }, [step, duration, first], { polling: 'raf' })).jsonValue();
    const after = await runningFor('skewed');
    /* the server's Date header has whole seconds: within 1.5 s of the server's durations around it */
    assert.ok(seconds(shown) >= before - 1.5 && seconds(shown) <= after + 1.5,
      `Duration ${shown}: the server's ${before} s before the page loaded, ${after} s after it was read`);
    const bar = await tab.evaluate(() => {
      const ds = window.kestrelCharts.timeline.data.datasets.find((d) => d.state === 'RUNNING');
      const p = ds.data.at(0);
      return p.bar.end - p.bar.begin;
    });
    assert.ok(bar >= before - 1.5 && bar <= after + 1.5, `the timeline's running bar is ${bar} s long`);
  } finally {
    writeFileSync(flag, '');
    await tab.close();
  }
  await until('skewed complete', async () => (await studyState('skewed')) === 'COMPLETE');
});

test('a trial that ends while the study page is open shows how long it ran, not how long it had run when the page loaded', async () => {
  const flag = join(tmp, 'ends.flag');
  assert.equal((await api('POST', '/studies', untilStudy('ends', flag, false))).status, 201);
  try {
    await until('its trial runs', async () => (await runningFor('ends')) >= 0);
    await go('#/study/ends');
    await page.locator('#charts[data-ready="true"]').waitFor();
    await page.locator('#trials tbody tr[data-state="RUNNING"]').waitFor();
    /* the page's duration is at most the server's now; the trial goes on 3 s more */
    const loaded = await runningFor('ends');
    await until('it has run 3 s more', async () => (await runningFor('ends')) >= loaded + 3);
  } finally {
    writeFileSync(flag, '');
  }
  await endedAsServerSays('ends');
});

test('a browser clock set back an hour while a study page is open leaves the Duration of a trial that ends then right', async () => {
  const flag = join(tmp, 'setback.flag');
  assert.equal((await api('POST', '/studies', untilStudy('setback', flag, true))).status, 201);
  try {
    await until('its trial reports', async () => (await allTrials('setback')).some((t) => t.last_step > 0));
    await go('#/study/setback');
    await page.locator('#charts[data-ready="true"]').waitFor();
    /* a live redraw has run (the curve grew with the reports): the redraws' pacing has a last time */
    const built = await page.evaluate(() => window.kestrelCharts.curves.data.datasets.reduce((n, d) => n + d.data.length, 0));
    await page.waitForFunction((built) => window.kestrelCharts.curves.data.datasets.reduce((n, d) => n + d.data.length, 0) > built, built);
    await page.evaluate(() => {
      const real = Date.now;
      Date.now = () => real() - 3600e3;
    });
  } finally {
    writeFileSync(flag, '');
  }
  /* the trial's end, from its event, is drawn by the next live redraw */
  await endedAsServerSays('setback');
});

test('a trial that ends while the study page is open shows the Duration the server stored, whatever the Date headers say', async () => {
  const flag = join(tmp, 'proxied.flag');
  assert.equal((await api('POST', '/studies', untilStudy('proxied', flag, false))).status, 201);
  /* a tab whose answers carry a Date 20 s ahead of the server's, as a
   * proxy on a machine with another clock writes its own: the page's
   * reckoning of the server's time (K.api.serverNow) is 20 s off */
  const tab = await page.context().newPage();
  await tab.route(/\/api\/v1\/studies/, async (route) => {
    const res = await route.fetch();
    const headers = res.headers();
    headers.date = new Date(Date.parse(headers.date) + 20e3).toUTCString();
    await route.fulfill({ response: res, headers });
  });
  try {
    await until('its trial runs', async () => (await runningFor('proxied')) >= 0);
    await tab.goto(base + '#/study/proxied');
    await tab.locator('#charts[data-ready="true"]').waitFor();
    await tab.locator('#trials tbody tr[data-state="RUNNING"]').waitFor();
    await tab.waitForFunction(() => document.getElementById('live').dataset.state === 'live');
    /* the feed's first poll answered: the trial's end comes from its event alone */
    const live = await runningFor('proxied');
    await until('it has run a second more', async () => (await runningFor('proxied')) >= live + 1);
  } finally {
    writeFileSync(flag, '');
  }
  try {
    await endedAsServerSays('proxied', tab);
  } finally {
    await tab.close();
  }
});

test('the workers page says when a worker was last heard from by the server\'s clock, not a browser\'s an hour ahead', async () => {
  const srv = await serve('clock-workers.db');
  const tab = await page.context().newPage();
  try {
    /* the system's clock as the page reads it: Date.now and the page's time origin */
    await tab.addInitScript(() => {
      const real = Date.now;
      Date.now = () => real() + 3600e3;
      Object.defineProperty(performance, 'timeOrigin', { value: performance.timeOrigin + 3600e3 });
    });
    const res = await fetch(srv.url + 'api/v1/workers', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ host: 'skewed', pid: 1, slots: 1 }) });
    assert.equal(res.status, 201);
    await tab.goto(srv.url + '#/workers');
    const seen = tab.locator('#workers tr:has-text("skewed:1") .seen');
    await seen.waitFor();
    /* it registered just now: seconds ago, not the browser's hour */
    assert.match(await seen.innerText(), /^\d+ s ago$/);
  } finally {
    await tab.close();
    srv.proc.kill('SIGTERM');
    await new Promise((r) => { srv.proc.once('exit', r); setTimeout(r, 5000); });
  }
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

test('a running trial\'s page moves its Duration with its reports, by the server\'s clock', async () => {
  const flag = join(tmp, 'trialclock.flag');
  assert.equal((await api('POST', '/studies', untilStudy('trialclock', flag, true))).status, 201);
  try {
    await until('its trial reports', async () => (await allTrials('trialclock')).some((t) => t.last_step > 0));
    const before = await runningFor('trialclock');
    await go('#/study/trialclock/trial/0');
    await page.waitForFunction(() => window.kestrelCharts.trial);
    const at = (fact) => page.locator(`[data-fact="${fact}"]`).innerText();
    const loaded = { step: Number(await at('last step')), duration: seconds(await at('duration')) };
    /* 20 reports later: 2 s and more (one each 0.1 s at least) */
    await page.waitForFunction((step) => Number(document.querySelector('[data-fact="last step"]').textContent) >= step + 20, loaded.step);
    const shown = seconds(await at('duration'));
    const after = await runningFor('trialclock');
    assert.ok(shown > loaded.duration, `Duration ${shown} s, as when the page loaded, 20 steps (2 s and more) before`);
    /* the server's Date header has whole seconds */
    assert.ok(shown >= before - 1.5 && shown <= after + 1.5, `Duration ${shown} s: the server's ${before} s before the page loaded, ${after} s after it was read`);
  } finally {
    writeFileSync(flag, '');
  }
  await until('trialclock complete', async () => (await studyState('trialclock')) === 'COMPLETE');
});

/* Whether the duration in the element of `selector` (S.fmtDuration) reaches
 * `want` seconds, waited for up to WAIT */
const durationReaches = (selector, want) => page.waitForFunction(([selector, want]) => {
  const el = document.querySelector(selector);
  const m = el && /^([\d.]+) (s|min)$/.exec(el.textContent);
  return m && Number(m[1]) * (m[2] === 'min' ? 60 : 1) >= want;
}, [selector, want]).then(() => true, () => false);

test('a running trial that never reports moves its Duration with the server\'s clock, on the study page and its own page', async () => {
  const flag = join(tmp, 'silent.flag');
  assert.equal((await api('POST', '/studies', untilStudy('silent', flag, false))).status, 201);
  try {
    await until('its trial runs', async () => (await runningFor('silent')) >= 0);
    await go('#/study/silent');
    await page.locator('#charts[data-ready="true"]').waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    await page.locator('#trials tbody tr[data-state="RUNNING"]').waitFor();
    const duration = await page.evaluate(() => [...document.querySelectorAll('#trials th')].findIndex((th) => th.dataset.key === 'duration'));
    const cell = `#trials tbody tr[data-state="RUNNING"] td:nth-child(${duration + 1})`;
    await page.locator('#trials').scrollIntoViewIfNeeded();   /* the clock moves a table in view */
    await page.evaluate(() => {
      window.redraws = 0;
      new MutationObserver(() => { window.redraws++; }).observe(document.querySelector('#trials tbody'), { childList: true });
    });
    /* the server's duration once the page is up (its first polls in): 3 s
     * past it, by the page's cell, with no report or other event between */
    const loaded = await runningFor('silent');
    const moved = await durationReaches(cell, loaded + 3);
    const shown = await page.locator(cell).innerText();
    const after = await runningFor('silent');
    assert.ok(moved, `the study page's Duration ${shown}, the server's ${loaded} s when the page was up and ${after} s now`);
    /* the server's Date header has whole seconds */
    assert.ok(seconds(shown) <= after + 1.5, `Duration ${shown}: the server's ${after} s after it was read`);
    assert.equal(await page.evaluate(() => window.redraws), 0, 'the rows were not put anew for it');
    /* the trial's own page alike */
    await go('#/study/silent/trial/0');
    await page.waitForFunction(() => window.kestrelCharts.trial);
    await page.locator('#live[data-state="live"]').waitFor();
    const since = await runningFor('silent');
    const ticked = await durationReaches('[data-fact="duration"]', since + 3);
    assert.ok(ticked, `the trial page's duration ${await page.locator('[data-fact="duration"]').innerText()}, the server's ${since} s when the page was up and ${await runningFor('silent')} s now`);
  } finally {
    writeFileSync(flag, '');
  }
  await until('silent complete', async () => (await studyState('silent')) === 'COMPLETE');
});

test('a trial that ends while its curve has the keyboard keeps the focus and the point the keyboard chose', async () => {
  /* three reports, then a wait for the test's word (a file) before the final value: the trial ends when told */
  const word = join(tmp, 'end-held');
  const script = join(tmp, 'held.sh');
  writeFileSync(script, `for s in 1 2 3; do echo "{\\"step\\": $s, \\"loss\\": $s.5}"; done
while [ ! -f '${word}' ]; do sleep 0.05; done
echo '{"loss": 3.5}'
`);
  const spec = stepsStudy('held', 1, 0);
  spec.run = { command: ['sh', script] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  try {
    await until('its trial reported 3 steps', async () => (await allTrials('held')).some((t) => t.state === 'RUNNING' && t.last_step === 3));
    await go('#/study/held/trial/0');
    await page.waitForFunction(() => window.kestrelCharts.trial && window.kestrelCharts.trial.data.datasets[0].data.length === 3);
    const state = () => page.evaluate(() => {
      const c = window.kestrelCharts.trial;
      const box = c.canvas.parentNode;
      const tip = box.querySelector('.plot-tip');
      const ring = box.querySelector('.plot-focus');
      return { focus: document.activeElement === c.canvas, tip: tip && !tip.hidden ? tip.textContent : null,
        ring: !!ring && !ring.hidden, badge: document.querySelector('.page-head .badge').textContent };
    });
    await page.focus('#app canvas');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    const chosen = await state();
    assert.deepEqual([chosen.focus, chosen.ring, chosen.badge], [true, true, 'RUNNING']);
    assert.match(chosen.tip, /\(2, 2\.5\)$/, 'the second step\'s point');
    const before = await page.evaluateHandle(() => window.kestrelCharts.trial);
    writeFileSync(word, '');
    await page.waitForFunction((old) => window.kestrelCharts.trial !== old
      && document.querySelector('.page-head .badge').textContent === 'COMPLETE' && document.getElementById('stdout'), before);
    const after = await state();
    assert.deepEqual(after, Object.assign({}, chosen, { badge: 'COMPLETE' }),
      'the page redrawn for the trial\'s end keeps the focus on the curve and its tooltip on the same point');
    await page.keyboard.press('ArrowRight');
    assert.match((await state()).tip, /\(3, 3\.5\)$/, 'Right goes on from that point');
  } finally {
    writeFileSync(word, '');
  }
});

test('a series hidden with the legend stays hidden when the trial ends and its curve is built anew', async () => {
  /* two metrics per step, then a wait for the test's word (a file) before the final value */
  const word = join(tmp, 'legend-end');
  const script = join(tmp, 'legend.sh');
  writeFileSync(script, `for s in 1 2 3; do echo "{\\"step\\": $s, \\"train_loss\\": 0.$s, \\"val_loss\\": 0.5$s}"; done
while [ ! -f '${word}' ]; do sleep 0.05; done
echo '{"val_loss": 0.53, "train_loss": 0.3}'
`);
  const spec = stepsStudy('legend', 1, 0);
  spec.objective.metric = 'val_loss';
  spec.run = { command: ['sh', script] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  try {
    await until('its trial reported 3 steps', async () => (await allTrials('legend')).some((t) => t.state === 'RUNNING' && t.last_step === 3));
    await go('#/study/legend/trial/0');
    await page.waitForFunction(() => window.kestrelCharts.trial && window.kestrelCharts.trial.data.datasets.every((d) => d.data.length === 3));
    const shown = () => page.evaluate(() => ({
      hidden: window.kestrelCharts.trial.data.datasets.map((d) => [d.label, !!d.hidden]),
      pressed: [...document.querySelectorAll('.plot-legend-key')].map((k) => [k.textContent, k.getAttribute('aria-pressed')]),
    }));
    assert.deepEqual((await shown()).hidden, [['val_loss', false], ['train_loss', false]]);
    /* the user hides train_loss to read val_loss */
    await page.click('.plot-legend-key:text-is("train_loss")');
    const chosen = await shown();
    assert.deepEqual(chosen, { hidden: [['val_loss', false], ['train_loss', true]],
      pressed: [['val_loss', 'true'], ['train_loss', 'false']] });
    const before = await page.evaluateHandle(() => window.kestrelCharts.trial);
    writeFileSync(word, '');
    await page.waitForFunction((old) => window.kestrelCharts.trial !== old
      && document.querySelector('.page-head .badge').textContent === 'COMPLETE', before);
    assert.deepEqual(await shown(), chosen, 'the curve built anew for the trial\'s end keeps the legend\'s choice');
  } finally {
    writeFileSync(word, '');
  }
});

test('a trial\'s page says when its study is deleted, and shows the trial of a study made again under the name', async () => {
  const spec = branin('doomed', 1, 1);
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('doomed complete', async () => (await studyState('doomed')) === 'COMPLETE');
  await go('#/study/doomed/trial/0');
  await page.locator('#params').waitFor();
  const x1 = () => page.locator('#params tr', { hasText: 'x1' }).locator('td').innerText();
  const before = await x1();
  await page.waitForFunction(() => document.getElementById('live').dataset.state === 'live');
  assert.equal((await api('DELETE', '/studies/doomed')).status, 204);
  const notice = page.locator('[role="status"] #study-deleted');
  await notice.waitFor();
  assert.equal(await notice.innerText(), 'Study doomed was deleted, with this trial; one made again under its name will show here. Back to the studies');
  assert.equal(await x1(), before, 'the trial stays shown under the notice');
  /* made again, with other parameters: the page shows its trial 0 */
  spec.strategy.seed = 12;
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await notice.waitFor({ state: 'detached' });
  await until('the new study\'s trial 0', async () => (await page.locator('#params').count()) === 1 && (await x1()) !== before);
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

test('the trial page wraps a long parameter value inside its card, whole, without a sideways scroll', async () => {
  /* a category of 300 characters without a space, under a parameter name of 63 */
  const value = 'v'.repeat(300);
  const param = 'p'.repeat(63);
  const spec = branin('longvalue', 1, 1);
  spec.space = { [param]: { type: 'categorical', choices: [value] } };
  spec.run = { command: 'echo \'{{"value": 1}}\'' };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('longvalue complete', async () => (await studyState('longvalue')) === 'COMPLETE');
  await go('#/study/longvalue/trial/0');
  await page.locator('#params').waitFor();
  const fit = await page.evaluate(() => {
    const card = document.getElementById('params').closest('.card').getBoundingClientRect();
    const cells = [...document.querySelectorAll('#params th, #params td')].map((c) => c.getBoundingClientRect());
    return { page: document.documentElement.scrollWidth <= innerWidth, inCard: cells.every((c) => c.right <= card.right) };
  });
  assert.deepEqual(fit, { page: true, inCard: true }, 'no sideways scroll; the parameters\' cells inside their card');
  assert.deepEqual(await page.$$eval('#params th, #params td', (cs) => cs.map((c) => c.textContent)), [param, value], 'shown whole');
  await shot('trial-long-value');
});

test('a screen reader finds a name for every control, table and chart of the study page and the trial page', async () => {
  await go('#/study/curves');
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.deepEqual(await unnamed(), [], 'the study page');
  /* the header's figures: each read with its name, as a term and its
   * definition. The header is drawn anew at each poll (the live feed's
   * catch-up when it opens), which puts in a new .facts: one replaced
   * between the locator's find and its snapshot reads as '', so it is read
   * until it holds the figures (the match below says what it held last) */
  let figures = '';
  for (let i = 0; i < 20 && !/- term: objective/.test(figures); i++) figures = await page.locator('.study-head .facts').ariaSnapshot();
  assert.match(figures, /- term: objective\n\s*- definition: minimize loss\n/);
  assert.match(figures, /- term: trials\n\s*- definition: "12"\n/);
  await page.click('#note-edit');
  assert.deepEqual(await unnamed(), [], 'the study page with its note open');
  await page.click('#note-cancel');
  await go('#/study/curves/trial/1');
  await page.locator('#params').waitFor();
  assert.deepEqual(await unnamed(), [], 'the trial page');
  assert.match(await page.locator('.facts').ariaSnapshot(), /- term: duration\n\s*- definition: /);
  /* its logs, boxes that scroll, are Tab stops a screen reader names */
  await page.focus('#stdout');
  assert.deepEqual(await page.evaluate(() => [document.activeElement.id, document.activeElement.getAttribute('aria-label')]),
    ['stdout', 'stdout (tail)']);
});

test('a study page and a trial page that cannot load say why in an alert a screen reader reads out', async () => {
  await go('#/study/nosuch');
  const study = page.locator('#app p.error');
  await study.waitFor();
  assert.equal(await study.innerText(), 'Cannot load study nosuch: no study named \'nosuch\'');
  assert.equal(await page.locator('#app p.error[role="alert"]').count(), 1, 'the study page\'s error is an alert');
  await go('#/study/curves/trial/99');
  const trial = page.locator('#app p.error');
  await trial.waitFor();
  assert.equal(await trial.innerText(), 'Cannot load trial 99 of curves: study \'curves\' has no trial 99');
  assert.equal(await page.locator('#app p.error[role="alert"]').count(), 1, 'the trial page\'s error is an alert');
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

noScriptErrors();
