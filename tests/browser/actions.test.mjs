// Browser tests of a live study page and its actions (helpers.mjs: a real
// `kestrel serve`, Debian's chromium): live updates (the event stream and
// the polling fallback), stop, resume, retry failed, clone and delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, noScriptErrors, page, tmp, go, api, until, studyState, allTrials, shot, chartCounts, emptyCharts, branin, stepsStudy, serve } from './helpers.mjs';

setup(() => []);

/* Waits for the live badge to say state s (api.js setStatus: connecting, live, polling, off). */
const badge = (s) => page.waitForFunction((s) => document.getElementById('live').dataset.state === s, s);

test('a running study updates live, and stops and resumes', async () => {
  const r = await api('POST', '/studies', stepsStudy('live', 40, 0.15));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await go('#/study/live');
  await page.waitForFunction(() => window.kestrelCharts.history);
  await page.evaluate(() => { window.notReloaded = true; });
  const n0 = (await chartCounts()).history;
  await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n + 1, n0);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  /* waited for: the page's own poll, once its charts are built, may have brought the new points before the feed opened */
  await badge('live');
  await shot('study-live');

  /* from the keyboard: once Stop is pressed and disabled, the focus is on Resume */
  await page.focus('#stop');
  await page.keyboard.press('Enter');
  await until('live stopped', async () => (await studyState('live')) === 'STOPPED');
  await page.locator('.page-head .badge.state-stopped').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'resume', 'the focus moved from Stop to Resume');
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
  await page.keyboard.press('Enter');
  await until('live running again', async () => (await studyState('live')) === 'RUNNING');
  await page.locator('.page-head .badge.state-running').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'stop', 'and from Resume back to Stop');
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

/* Makes study name, of 3 Branin trials that fail (exit 9) while a flag
 * file is there, and waits for it to be FAILED: a study whose every trial
 * failed is, never COMPLETE. Returns the flag's path: once it is removed,
 * the trials' retries complete. */
async function failedStudy(name) {
  const flag = join(tmp, name + '.flag');
  writeFileSync(flag, '');
  const spec = branin(name, 3);
  spec.run = { command: `test -e '${flag}' && exit 9; echo '{{"value": {x1}}}'` };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until(name + ' failed', async () => (await studyState(name)) === 'FAILED');
  return flag;
}

test('retry failed re-runs the failed trials of a finished study', async () => {
  // a study whose every trial failed says why
  const flag = await failedStudy('flaky');
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

/* Opens study name's page with its history's requests held back (the
 * page then has the study's counts and its first 100 trials: "first N of
 * M trials"), runs check, then lets them through and waits for the whole
 * history, the held requests answered before the route goes. */
async function historyHeld(name, check) {
  let release;
  const held = new Promise((r) => { release = r; });
  const trialsUrl = new RegExp(`/api/v1/studies/${name}/trials\\?sort=number&format=columns&offset=`);
  await page.route(trialsUrl, async (route) => { await held; await route.continue(); });
  try {
    await go('#/study/' + name);
    await page.waitForFunction(() => /^first \d+ of \d+ trials/.test(document.querySelector('#table-info')?.textContent));
    await check();
  } finally {
    release();
  }
  await page.waitForFunction(() => /^\d+ trials · page/.test(document.querySelector('#table-info').textContent));
  await page.unroute(trialsUrl);
}

test('Retry failed is enabled while a big study\'s history loads when its failures are past the first 100 trials', async () => {
  const spec = branin('latefail', 110, 4);
  spec.run = { command: `test {trial} -ge 104 && exit 9; echo '{{"value": {x1}}}'` };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('latefail finished', async () => ['COMPLETE', 'FAILED'].includes(await studyState('latefail')));
  assert.equal((await api('GET', '/studies/latefail')).json.counts.failed, 6);
  /* the page has the study's counts and its first 100 trials, all complete */
  await historyHeld('latefail', async () => {
    assert.match(await page.locator('#table-info').innerText(), /^first 100 of 110 trials/);
    assert.equal(await page.locator('#retry-failed').isEnabled(), true, 'its 6 failed trials can be retried');
  });
  assert.equal(await page.locator('#retry-failed').isEnabled(), true, 'and once the whole history is in');
});

test('Retry failed is disabled while the history loads when every failed trial was retried already', async () => {
  /* three trials fail, and their retries (resume?retry_failed=true) complete */
  unlinkSync(await failedStudy('allretried'));
  assert.equal((await api('POST', '/studies/allretried/resume?retry_failed=true')).status, 202);
  await until('allretried complete', async () => (await studyState('allretried')) === 'COMPLETE');
  /* the server counts the 3 failed trials, retried or not */
  assert.equal((await api('GET', '/studies/allretried')).json.counts.failed, 3);
  /* the page has the study's counts and its first page: every trial */
  await historyHeld('allretried', async () => {
    assert.match(await page.locator('#table-info').innerText(), /^first 6 of 6 trials/);
    await page.locator('.page-head .badge.state-complete').waitFor();
    assert.equal(await page.locator('#retry-failed').isEnabled(), false, 'no failed trial is left to retry');
  });
  assert.equal(await page.locator('#retry-failed').isEnabled(), false, 'nor once the whole history is in');
});

test('Stop pressed while the history still loads shows the study stopped at once', async () => {
  const flag = join(tmp, 'stopload.flag');
  const spec = branin('stopload', 120, 2);
  /* the first 110 trials end at once, the rest wait for the flag: a long history and a study still running */
  spec.run = { command: `test {trial} -ge 110 && while [ ! -e '${flag}' ]; do sleep 0.1; done; echo '{{"value": {x1}}}'` };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  let release;
  const held = new Promise((r) => { release = r; });
  const trialsUrl = /\/api\/v1\/studies\/stopload\/trials\?sort=number&format=columns&offset=/;
  let onError;
  const threw = new Promise((r) => { onError = (e) => r(String(e)); });
  page.on('pageerror', onError);
  try {
    await until('stopload has 110 trials done', async () => (await allTrials('stopload')).filter((t) => t.state === 'COMPLETE').length >= 110);
    await page.route(trialsUrl, async (route) => { await held; await route.continue(); });
    await go('#/study/stopload');
    await page.waitForFunction(() => /^first 100 of/.test(document.querySelector('#table-info')?.textContent));
    assert.equal(await page.locator('#stop').isEnabled(), true);
    const answered = page.waitForResponse((r) => r.url().endsWith('/studies/stopload/stop'));
    await page.click('#stop');
    const state = (await (await answered).json()).state;
    assert.equal(state, 'STOPPED', 'the stop\'s answer');
    /* the header says so while the history is still held back, or the page threw */
    const error = await Promise.race([threw, page.locator('.page-head .badge.state-stopped').waitFor().then(() => null)]);
    assert.equal(error, null, 'the page threw');
    assert.equal(await page.locator('#resume').isEnabled(), true, 'Resume is offered');
    assert.match(await page.locator('#table-info').innerText(), /^first 100 of/, 'the history was still held back');
  } finally {
    page.off('pageerror', onError);
    release();
    writeFileSync(flag, '');
  }
  /* the held requests answered before the route goes */
  await page.waitForFunction(() => /^\d+ trials · page/.test(document.querySelector('#table-info').textContent));
  await page.unroute(trialsUrl);
});

test('a study page shows the spec, clones the study and deletes it', async () => {
  /* a study of its own, so the test passes alone (--test-name-pattern) */
  assert.equal((await api('POST', '/studies', branin('original', 2))).status, 201);
  await until('original complete', async () => (await studyState('original')) === 'COMPLETE');
  await go('#/study/original');
  await page.locator('.spec-view summary').click();
  assert.match(await page.locator('#spec-view').innerText(), /"name": "original"/);
  await page.click('#clone');
  await page.waitForURL(/#\/new$/);
  const cloned = JSON.parse(await page.locator('#spec').inputValue());
  assert.equal(cloned.name, 'original-copy');
  assert.deepEqual(cloned.space, (await api('GET', '/studies/original')).json.spec.space);
  cloned.budget.max_trials = 1;
  await page.fill('#spec', JSON.stringify(cloned));
  await page.click('#create');
  await page.waitForURL(/#\/study\/original-copy$/);
  await until('the clone ends', async () => (await studyState('original-copy')) !== 'RUNNING');
  page.once('dialog', (d) => d.accept());
  await page.click('#delete');
  await page.waitForURL(/#\/$/);
  await until('the clone is gone', async () => (await api('GET', '/studies/original-copy')).status === 404);
  await page.locator('#studies tr[data-study="original"]').waitFor();
  assert.equal(await page.locator('#studies tr[data-study="original-copy"]').count(), 0);
});

/* Stops a server serve() started, and waits for it to have exited. */
async function stopped(proc) {
  proc.kill('SIGTERM');
  await new Promise((r) => { if (proc.exitCode !== null) r(); else proc.once('exit', r); });
}
/* The page's server, once the page's feed is live, stopped: the badge says so. */
async function serverGone(srv) {
  await badge('live');
  await stopped(srv.proc);
  await badge('off');
}

test('an action the server could not be reached for says so, and its error goes once the server is back', async () => {
  let srv = await serve('away.db');
  const spec = branin('away', 1, 1);
  spec.run = { command: 'sleep 600' };
  const post = (url, path) => fetch(url + 'api/v1' + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(spec) });
  assert.equal((await post(srv.url, '/studies')).status, 201);
  try {
    await page.goto(srv.url + '#/study/away');
    await page.locator('#stop:enabled').waitFor();
    await serverGone(srv);
    await page.click('#stop');
    const error = page.locator('#action-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'stop failed: the server could not be reached', 'not the browser\'s "Failed to fetch"');
    assert.equal(await page.locator('[role="alert"] #action-error').count(), 1, 'in a live region: a screen reader reads it out');
    srv = await serve('away.db', '--listen', new URL(srv.url).host);
    await error.waitFor({ state: 'detached' });
    assert.notEqual(await page.evaluate(() => document.getElementById('live').dataset.state), 'off');
  } finally {
    /* a server that did not come back has nothing to stop */
    await post(srv.url, '/studies/away/stop').catch(() => {});
    await stopped(srv.proc);
  }
});

test('the live badge is read out by a screen reader once per change: live, polling, offline, live again', async () => {
  let srv = await serve('heard.db');
  try {
    await page.goto(srv.url + '#/');
    await page.locator('#studies').waitFor();
    await badge('live');
    assert.equal(await page.locator('#live[role="status"]').count(), 1, 'the badge is a live region');
    /* each write of the badge's text: [the text before, the text after] */
    await page.evaluate(() => {
      window.badgeWrites = [];
      let was = document.getElementById('live').textContent;
      new MutationObserver(() => {
        const now = document.getElementById('live').textContent;
        window.badgeWrites.push([was, now]);
        was = now;
      }).observe(document.getElementById('live'), { childList: true, characterData: true, subtree: true });
    });
    /* a page change opens the live feed anew: 'connecting' until it opens */
    await page.evaluate(() => { location.hash = '#/workers'; });
    await page.locator('#workers').waitFor();
    await badge('live');
    await stopped(srv.proc);
    await badge('off');
    /* two more polls of a server that is gone leave the badge's text unwritten */
    let failed = 0;
    const count = (r) => { if (new URL(r.url()).pathname === '/healthz') failed++; };
    page.on('requestfailed', count);
    const before = await page.evaluate(() => window.badgeWrites.length);
    try {
      await until('two more polls failed', async () => failed >= 2);
    } finally {
      page.off('requestfailed', count);
    }
    let writes = await page.evaluate(() => window.badgeWrites);
    assert.equal(writes.length, before, `no write while it stays offline: ${JSON.stringify(writes)}`);
    srv = await serve('heard.db', '--listen', new URL(srv.url).host);
    await badge('live');
    writes = await page.evaluate(() => window.badgeWrites);
    assert.deepEqual(writes.filter(([a, b]) => a === b), [], `each write changes the text: ${JSON.stringify(writes)}`);
    assert.deepEqual(writes.slice(0, 3), [['live', 'connecting'], ['connecting', 'live'], ['live', 'polling']]);
    assert.deepEqual(writes[writes.length - 1], [writes[writes.length - 1][0], 'live']);
    assert.ok(writes.some(([, b]) => b === 'offline'), 'offline was said');
  } finally {
    await stopped(srv.proc);
  }
});

test('a live feed the server refused (a 503 as it shut down) opens again once it is taken, not polling for good', async () => {
  /* the study list's stream answered 503 once, as a server shutting down
   * answers a browser reconnecting to it; the next are let through */
  const eventsUrl = /\/api\/v1\/events/;
  let refused = 0;
  await page.route(eventsUrl, async (route) => {
    if (refused++ > 0) { await route.continue(); return; }
    await route.fulfill({ status: 503, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'interrupted', message: 'the server is shutting down' } }) });
  });
  try {
    await page.goto('about:blank');   /* the list loaded afresh: its stream is the first asked for */
    await go('#/');
    await page.locator('#studies').waitFor();
    await badge('polling');
    await badge('live');
    assert.ok(refused >= 2, `the stream was asked for ${refused} times`);
  } finally {
    await page.unroute(eventsUrl);
  }
});

test('a page change says connecting until the new page\'s live feed opens, not live', async () => {
  const state = () => page.evaluate(() => [document.getElementById('live').dataset.state, document.getElementById('live').textContent]);
  assert.equal((await api('POST', '/studies', branin('feeds', 1, 1))).status, 201);
  await until('feeds complete', async () => (await studyState('feeds')) === 'COMPLETE');
  await go('#/');
  await page.locator('#studies tr[data-study="feeds"]').waitFor();
  await badge('live');
  /* the next pages' feeds are held until the test lets them through */
  let openFeeds;
  const feeds = new Promise((resolve) => { openFeeds = resolve; });
  await page.route('**/api/v1/events*', async (route) => { await feeds; await route.continue(); });
  try {
    /* a page that subscribes at once (the workers list), and one once it is built (a study's) */
    await page.evaluate(() => { location.hash = '#/workers'; });
    await page.locator('#workers').waitFor();
    assert.deepEqual(await state(), ['connecting', 'connecting'], 'the workers page, its feed not open yet');
    await page.evaluate(() => { location.hash = '#/study/feeds'; });
    await page.locator('#charts[data-ready="true"]').waitFor();
    assert.deepEqual(await state(), ['connecting', 'connecting'], 'the study page, its feed not open yet');
    openFeeds();
    await badge('live');
    assert.equal(await page.locator('#live').textContent(), 'live');
  } finally {
    openFeeds();
    await page.unroute('**/api/v1/events*');
  }
});

test('a study page whose load the server went away under loads again once the server is back', async () => {
  let srv = await serve('restart.db');
  assert.equal((await fetch(srv.url + 'api/v1/studies', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(branin('restart', 30, 4)) })).status, 201);
  const trialsUrl = /\/api\/v1\/studies\/restart\/trials\?sort=number&format=columns&offset=/;
  try {
    await until('restart complete', async () => (await (await fetch(srv.url + 'api/v1/studies/restart')).json()).state === 'COMPLETE');
    /* the history's request held until the server is gone */
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route(trialsUrl, async (route) => { await held; await route.continue().catch(() => {}); });
    await page.goto(srv.url + '#/study/restart');
    await page.locator('#trials tbody tr').first().waitFor();
    await stopped(srv.proc);
    release();
    const error = page.locator('#app > p.error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'Cannot load study restart: the server could not be reached');
    await page.unroute(trialsUrl);
    srv = await serve('restart.db', '--listen', new URL(srv.url).host);
    await page.locator('#charts[data-ready="true"]').waitFor();
    assert.equal(await error.count(), 0);
    await page.waitForFunction(() => /^30 trials/.test(document.querySelector('#table-info').textContent));
  } finally {
    await page.unroute(trialsUrl);
    await stopped(srv.proc);
  }
});

test('a study page opened before its study is made shows the study once it is', async () => {
  await go('#/study/later');
  const error = page.locator('#app > p.error');
  await error.waitFor();
  assert.equal(await error.innerText(), 'Cannot load study later: no study named \'later\'');
  /* the page's feed is open: the study's first event comes to it */
  await badge('live');
  assert.equal((await api('POST', '/studies', branin('later', 2))).status, 201);
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.equal(await error.count(), 0);
  assert.equal(await page.locator('.page-head h1').innerText(), 'Studies / later');
});

test('a note that could not be saved says so in an alert, read out by a screen reader, and keeps the text typed', async () => {
  let srv = await serve('noted.db');
  assert.equal((await fetch(srv.url + 'api/v1/studies', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(branin('noted', 1, 1)) })).status, 201);
  try {
    await page.goto(srv.url + '#/study/noted');
    await page.click('#note-edit');
    await page.fill('#note-input', 'kept in the box');
    await serverGone(srv);
    await page.click('#note-save');
    const error = page.locator('#note-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'the server could not be reached');
    assert.equal(await page.locator('[role="alert"] #note-error').count(), 1, 'in a live region: a screen reader reads it out');
    assert.equal(await page.inputValue('#note-input'), 'kept in the box');
    await shot('study-note-error');
    srv = await serve('noted.db', '--listen', new URL(srv.url).host);
    await page.click('#note-save');
    await until('the note is stored', async () => (await fetch(srv.url + 'api/v1/studies/noted/note').then((r) => r.json())).note === 'kept in the box');
    await error.waitFor({ state: 'detached' });
  } finally {
    await stopped(srv.proc);
  }
});

test('a study deleted and made again under its name while its page is open shows the new study alone', async () => {
  assert.equal((await api('POST', '/studies', branin('again', 5, 1))).status, 201);
  await until('again complete', async () => (await studyState('again')) === 'COMPLETE');
  await go('#/study/again');
  await page.locator('#charts[data-ready="true"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#trials tbody tr').length === 5);
  await page.evaluate(() => { window.notReloaded = true; });
  assert.equal((await api('DELETE', '/studies/again')).status, 204);
  /* the same name, other values: 2 trials of another seed */
  const spec = branin('again', 2, 1);
  spec.strategy.seed = 12;
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('the new again complete', async () => (await studyState('again')) === 'COMPLETE');
  const want = (await allTrials('again')).map((t) => [t.number, t.value]);
  assert.equal(want.length, 2);
  await page.waitForFunction((want) => {
    const rows = [...document.querySelectorAll('#trials tbody tr')].map((tr) => Number(tr.dataset.number));
    const h = window.kestrelCharts.history;
    const drawn = h ? h.data.datasets[0].data.map((p) => [p.x, p.y]) : [];
    return JSON.stringify(rows) === JSON.stringify(want.map((w) => w[0])) && JSON.stringify(drawn) === JSON.stringify(want);
  }, want);
  assert.equal(await page.locator('[data-fact="trials"]').innerText(), '2');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  /* deleted and not made again: the page says so */
  assert.equal((await api('DELETE', '/studies/again')).status, 204);
  await page.locator('#study-deleted').waitFor();
  assert.match(await page.locator('#study-deleted').innerText(), /^Study again was deleted/);
  assert.equal(await page.locator('[role="status"] #study-deleted').count(), 1, 'in a live region: a screen reader reads it out');
  assert.equal(await page.locator('#stop').isEnabled(), false);
  assert.equal(await page.locator('#resume').isEnabled(), false);
  await shot('study-deleted');
});

test('a trial that ends while the page\'s first poll is in flight, before its live feed opens, is shown ended', async () => {
  /* the page polls once it has drawn (its study read held here, answered
   * as the server saw it then), the trial ends, and only then does the
   * live feed open and ask for its catch-up poll: that poll was dropped
   * while the first was in flight, the trial's end was in neither, and
   * the page showed it RUNNING for good */
  const spec = branin('held', 1, 1);
  spec.run = { command: ['sh', '-c', `while [ ! -f '${tmp}/held.go' ]; do sleep 0.05; done; echo '{{"value": 3}}'`] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('held running', async () => (await api('GET', '/studies/held')).json.counts.running === 1);
  let openFeed;
  const feed = new Promise((resolve) => { openFeed = resolve; });
  let answerPoll;
  let pollHeld;
  const held = new Promise((resolve) => { pollHeld = resolve; });
  let reads = 0;
  await page.route('**/api/v1/events*', async (route) => { await feed; await route.continue(); });
  await page.route(/\/api\/v1\/studies\/held$/, async (route) => {
    if (++reads !== 2) return route.continue();   /* the first is the page's load, the second its poll */
    const response = await route.fetch();
    answerPoll = () => route.fulfill({ response });
    pollHeld();
  });
  try {
    /* a document of its own: no earlier page's feed to mistake for this one's */
    await page.goto('about:blank');
    await go('#/study/held');
    await held;
    writeFileSync(join(tmp, 'held.go'), '');
    await until('held complete', async () => (await studyState('held')) === 'COMPLETE');
    openFeed();
    await badge('live');
    answerPoll();
    await page.waitForFunction(() => document.querySelector('[data-fact="complete"]').textContent === '1'
      && document.querySelector('[data-fact="running"]').textContent === '0');
  } finally {
    await page.unroute('**/api/v1/events*');
    await page.unroute(/\/api\/v1\/studies\/held$/);
  }
});

test('a poll that read before a trial ended and is answered after its event does not put the trial back to RUNNING', async () => {
  /* the page's last poll (its third read of the study) is held after the
   * server answered it, the trial ends and its event reaches the page,
   * then the poll's older answer is applied: it undid the event for good */
  const spec = branin('stale', 1, 1);
  spec.run = { command: ['sh', '-c', `while [ ! -f '${tmp}/stale.go' ]; do sleep 0.05; done; echo '{{"value": 3}}'`] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  await until('stale running', async () => (await api('GET', '/studies/stale')).json.counts.running === 1);
  let answerPoll;
  let pollHeld;
  const held = new Promise((resolve) => { pollHeld = resolve; });
  let reads = 0;
  await page.route(/\/api\/v1\/studies\/stale$/, async (route) => {
    if (++reads !== 3) return route.continue();   /* the load's, the page's poll, then the live feed's poll */
    const response = await route.fetch();
    answerPoll = () => route.fulfill({ response });
    pollHeld();
  });
  try {
    await go('#/study/stale');
    await held;
    await badge('live');
    writeFileSync(join(tmp, 'stale.go'), '');
    await page.waitForFunction(() => document.querySelector('[data-fact="complete"]').textContent === '1');
    answerPoll();
    /* the held answer is applied, then a poll reads the study anew */
    await until('a poll after the held one', async () => reads >= 4);
    await page.waitForFunction(() => document.querySelector('[data-fact="complete"]').textContent === '1'
      && document.querySelector('[data-fact="running"]').textContent === '0'
      && document.querySelector('#trials tbody tr[data-number="0"]').dataset.state === 'COMPLETE');
  } finally {
    await page.unroute(/\/api\/v1\/studies\/stale$/);
  }
});

test('without the event stream the study page falls back to polling', async () => {
  await page.route('**/api/v1/events*', (route) => route.abort());
  try {
    const r = await api('POST', '/studies', stepsStudy('polled', 16, 0.1));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    await go('#/study/polled');
    await page.waitForFunction(() => window.kestrelCharts.history);
    await badge('polling');
    const n0 = (await chartCounts()).history;
    await page.waitForFunction((n) => window.kestrelCharts.history.data.datasets[0].data.length > n, n0);
    // a server that does not answer: the badge says so, not 'polling' for ever
    await page.route('**/healthz', (route) => route.abort());
    await badge('off');
    await page.unroute('**/healthz');
    await badge('polling');
  } finally {
    await page.unroute('**/healthz');
    await page.unroute('**/api/v1/events*');
  }
});

/* Counts the childList changes under the element of selector (a redraw
 * of its rows), in window.redraws[selector]. */
async function countRedraws(selector) {
  await page.evaluate((sel) => {
    window.redraws = window.redraws || {};
    window.redraws[sel] = 0;
    new MutationObserver(() => { window.redraws[sel]++; })
      .observe(document.querySelector(sel), { childList: true, subtree: true });
  }, selector);
}
const redrawn = (selector, n) => page.waitForFunction(([sel, k]) => window.redraws[sel] >= k, [selector, n]);
const focused = () => page.evaluate(() => {
  const e = document.activeElement;
  return !e || e === document.body ? 'nothing' : [e.tagName, e.getAttribute('href'), e.textContent].join('|');
});

test('live redraws keep the keyboard\'s focus: the studies list, the study header and the trial table', async () => {
  /* trials of 0.2 s each, for as long as the test runs: it stops the study */
  const spec = branin('keys', 100000, 2);
  spec.run = { command: ['sh', '-c', "sleep 0.2; echo '{{\"value\": {x1}}}'"] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  try {
    await go('#/');
    const link = page.locator('#studies a[href="#/study/keys"]');
    await link.waitFor();
    /* Tab to the study's link, as a keyboard user does */
    for (let i = 0; i < 40 && await page.evaluate(() => document.activeElement.getAttribute('href')) !== '#/study/keys'; i++) {
      await page.keyboard.press('Tab');
    }
    const was = await focused();
    assert.equal(was, 'A|#/study/keys|keys');
    await countRedraws('#studies tbody');
    await redrawn('#studies tbody', 2);
    assert.equal(await focused(), was, 'the list redrawn live leaves the focus on the study\'s link');
    await page.keyboard.press('Enter');
    await page.waitForURL('**#/study/keys');
    await page.locator('#charts[data-ready="true"]').waitFor();

    /* the header: the Spec summary, rebuilt with the facts at each redraw */
    await page.focus('.spec-view summary');
    await countRedraws('.study-head');
    await redrawn('.study-head', 2);
    assert.equal(await focused(), 'SUMMARY||Spec', 'the header redrawn live leaves the focus on Spec');
    await page.keyboard.press('Enter');
    await page.locator('#spec-view').waitFor();

    /* the table, newest trials first: its rows change as trials start */
    await page.focus('#trials th[data-key="number"] button');
    await page.keyboard.press('Enter');
    await page.locator('#trials th[data-key="number"][data-sort="desc"]').waitFor();
    const row = await page.$eval('#trials tbody tr:nth-child(3) a', (a) => a.getAttribute('href'));
    await page.focus(`#trials tbody a[href="${row}"]`);
    const cell = await focused();
    await countRedraws('#trials tbody');
    await redrawn('#trials tbody', 2);
    assert.equal(await focused(), cell, 'the table redrawn live leaves the focus on the trial\'s link');
    await page.keyboard.press('Enter');
    await page.waitForURL('**' + row);
  } finally {
    await api('POST', '/studies/keys/stop');
  }
});

test('a live redraw keeps the focus on a best link that a new best changes: the study header and the studies list', async () => {
  /* each trial better than the last (a counter, one trial at a time): the
   * best link's href and text change at each; keepFocus matched a control
   * by id or by tag, link and text, so the focused link lost the focus */
  const spec = branin('better', 100000, 1);
  spec.run = { command: ['sh', '-c', `sleep 0.2; n=$(($(cat '${tmp}/better.n' 2>/dev/null || echo 0) + 1)); `
    + `echo $n > '${tmp}/better.n'; echo '{{"value": -'$n'}}'`] };
  assert.equal((await api('POST', '/studies', spec)).status, 201);
  const hrefOf = (sel) => page.$eval(sel, (a) => a.getAttribute('href'));
  /* the focused link is the one of sel, after a new best took another href */
  async function keptOnNewBest(sel, what) {
    await page.locator(sel).waitFor();
    await page.focus(sel);
    const was = await hrefOf(sel);
    await page.waitForFunction(([q, h]) => document.querySelector(q).getAttribute('href') !== h, [sel, was]);
    assert.equal(await page.evaluate((q) => document.activeElement === document.querySelector(q), sel), true,
      `${what}: the focus stays on the best link (now ${await focused()})`);
  }
  try {
    await go('#/study/better');
    await keptOnNewBest('.study-head [data-fact="best"] a', 'the study header');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/study\/better\/trial\/\d+$/);
    await go('#/');
    await keptOnNewBest('#studies tr[data-study="better"] td.num a', 'the studies list');
  } finally {
    await api('POST', '/studies/better/stop');
  }
});

noScriptErrors();
