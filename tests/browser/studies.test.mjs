// Browser tests of the studies list, the new-study form, the workers page
// and the token prompt (helpers.mjs: a real `kestrel serve`, Debian's
// chromium): what a person sees of every study, live, whatever its name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, noScriptErrors, page, tmp, go, api, until, shot, branin, stepsStudy, untilStudy, studyState, serve, unnamed, KESTREL } from './helpers.mjs';

setup(() => [branin('branin', 30), stepsStudy('curves', 12, 0.02), branin('many', 150, 4)]);

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
  /* a screen reader reads the counts by their states' names, not their signs', and no sign of the live badge */
  const read = await row.ariaSnapshot();
  assert.match(read, /30 complete 0 pruned 0 failed 0 running/);
  assert.doesNotMatch(read, /[✓✂✗▶]/);
  await page.locator('#live[data-state="live"]').waitFor();   /* once the live feed opens */
  assert.equal(await page.locator('#live').ariaSnapshot(), '- status "live updates": live', 'a live region, read out when it changes');
  assert.match(await row.locator('.counts').innerText(), /^30 ✓/, 'the signs are shown');
  /* the progress bar is one, with its figures and a name, for a screen reader */
  const bar = row.locator('[role="progressbar"]');
  assert.equal(await bar.count(), 1, 'a progressbar');
  assert.deepEqual(await bar.evaluate((e) => ['aria-label', 'aria-valuemin', 'aria-valuemax', 'aria-valuenow', 'aria-valuetext'].map((a) => e.getAttribute(a))),
    ['Progress of branin', '0', '30', '30', '30 of 30 configurations finished (30 trials)']);
  await shot('studies');
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

test('a list load answered after a newer one leaves the newer state shown: a study that ended is not shown RUNNING', async () => {
  const flag = join(tmp, 'ending.flag');
  assert.equal((await api('POST', '/studies', untilStudy('ending', flag, false))).status, 201);
  await until('ending runs', async () => (await studyState('ending')) === 'RUNNING');
  /* the page's first list answer, read from the server now (RUNNING), is
   * held back from the page until the study has ended; later ones go through */
  let fetched;
  const read = new Promise((r) => { fetched = r; });
  let release;
  const held = new Promise((r) => { release = r; });
  let first = true;
  const url = (u) => u.pathname === '/api/v1/studies';
  await page.route(url, async (route) => {
    if (!first || route.request().method() !== 'GET') { await route.continue(); return; }
    first = false;
    const response = await route.fetch();
    fetched();
    await held;
    await route.fulfill({ response });
  });
  try {
    await page.goto('about:blank');   /* a new document: its first load is the held one */
    await go('#/');
    await read;
    await page.locator('#live[data-state="live"]').waitFor();   /* its opening asks for the list again */
    writeFileSync(flag, '');
    await until('ending complete', async () => (await studyState('ending')) === 'COMPLETE');
    /* loads side by side draw the ended study from a later answer while the
     * first is held; one at a time, nothing is drawn until it comes
     * (data-loading: a load in flight) */
    await Promise.race([page.locator('#studies tr[data-study="ending"] .badge.state-complete').waitFor(),
      page.locator('#studies tbody[data-loading="true"]').waitFor({ state: 'attached' })]);
    /* each list drawn from now on: the state it shows of 'ending' */
    await page.evaluate(() => {
      const tbody = document.querySelector('#studies tbody');
      window.endingStates = [];
      new MutationObserver(() => {
        const b = tbody.querySelector('tr[data-study="ending"] .badge');
        window.endingStates.push(b ? b.textContent : null);
      }).observe(tbody, { childList: true });
    });
    release();
    await page.waitForFunction(() => window.endingStates.includes('RUNNING'));   /* the held answer drawn */
    /* with no later event, nothing but a load asked for meanwhile draws it again */
    const ended = await page.waitForFunction(() => window.endingStates.at(-1) === 'COMPLETE').then(() => true, () => false);
    const shown = await page.evaluate(() => window.endingStates.join(', '));
    assert.ok(ended, `the lists drawn after the held answer showed 'ending' ${shown}, and no more came`);
  } finally {
    release();
    await page.unroute(url);
    writeFileSync(flag, '');
  }
});

test('a list loaded again puts anew only the rows whose study changed: a selection in another row stays', async () => {
  const flag = join(tmp, 'busy.flag');
  assert.equal((await api('POST', '/studies', untilStudy('busy', flag, true))).status, 201);
  try {
    await until('busy runs', async () => (await studyState('busy')) === 'RUNNING');
    await page.goto('about:blank');
    await go('#/');
    await page.locator('#studies tr[data-study="busy"]').waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    /* branin's name selected (to be copied), its row marked, and the loads
     * that end from now on counted */
    await page.evaluate(() => {
      const tbody = document.querySelector('#studies tbody');
      const tr = tbody.querySelector('tr[data-study="branin"]');
      tr.kept = true;
      getSelection().selectAllChildren(tr.querySelector('a'));
      window.loadsDone = 0;
      new MutationObserver((m) => { window.loadsDone += m.filter((r) => r.oldValue === 'true').length; })
        .observe(tbody, { attributes: true, attributeFilter: ['data-loading'], attributeOldValue: true });
    });
    /* busy's trial reports each 0.1 s: each report's event loads the list again (once a second) */
    await page.waitForFunction(() => window.loadsDone >= 2);
    const after = await page.evaluate(() => ({
      kept: !!document.querySelector('#studies tr[data-study="branin"]').kept, selected: getSelection().toString() }));
    assert.deepEqual(after, { kept: true, selected: 'branin' }, 'branin\'s row, which did not change, was left as it was');
  } finally {
    writeFileSync(flag, '');
  }
  /* a row that changes is put anew */
  await page.locator('#studies tr[data-study="busy"] .badge.state-complete').waitFor();
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

test('a wrong token is told from a missing one, by the prompt and the page as by the server', async () => {
  writeFileSync(join(tmp, 'token2'), 'the-right-token\n');
  const { proc: locked, url } = await serve('locked2.db', '--token-file', join(tmp, 'token2'),
    '--auth-reads', '--no-access-log');
  const asked = [];
  const dismiss = (d) => { asked.push(d.message()); d.dismiss(); };
  page.on('dialog', dismiss);
  try {
    const error = page.locator('p.error:not([hidden])');
    /* a link with a stale token */
    await page.goto(url + '?token=stale#/');
    await error.waitFor();
    assert.match(asked[0], /^This Kestrel server did not take the token this tab sent \(a wrong token\)/);
    assert.equal(await error.innerText(), "Cannot load the studies: wrong token: the one in the header "
      + "'Authorization: Bearer ...' is not this server's (the first line of its --token-file)");
    await page.evaluate(() => sessionStorage.removeItem('kestrel-token'));
    const before = asked.length;
    await page.reload();
    await error.waitFor();
    assert.match(asked[before], /^This Kestrel server needs its access token/);
    assert.match(await error.innerText(), /^Cannot load the studies: no token: this request needs the header/);
  } finally {
    page.off('dialog', dismiss);
    locked.kill('SIGTERM');
    await new Promise((r) => locked.once('exit', r));
  }
});

test('a cancelled token prompt is not asked again at each poll: the page says why and offers the prompt again', async () => {
  const TOKEN = 'cancelled-prompt-token';
  writeFileSync(join(tmp, 'token3'), TOKEN + '\n');
  const { proc: locked, url } = await serve('locked3.db', '--token-file', join(tmp, 'token3'),
    '--auth-reads', '--no-access-log');
  const asked = [];
  let answer = null;   /* null: the prompt is cancelled */
  const reply = (d) => { asked.push(d.message()); if (answer) d.accept(answer); else d.dismiss(); };
  /* the studies list's requests refused: the first, then the polls' (every 2 s) */
  let refused = 0;
  const count = (r) => { if (r.status() === 401 && new URL(r.url()).pathname === '/api/v1/studies') refused++; };
  page.on('dialog', reply);
  page.on('response', count);
  try {
    await page.goto(url + '#/');
    const error = page.locator('p.error:not([hidden])');
    await error.waitFor();
    const after = refused;
    await until('three more polls refused', async () => refused >= after + 3);
    assert.equal(asked.length, 1, `one prompt, not one a poll: ${JSON.stringify(asked)}`);
    assert.match(await error.innerText(), /^Cannot load the studies: no token: /);
    assert.match(await page.locator('#auth').innerText(), /^This Kestrel server needs its access token/);
    assert.equal(await page.locator('#auth').isVisible(), true, 'a banner says why the page shows nothing');
    await shot('studies-token-cancelled');
    /* the button asks again; with the token the page is shown */
    answer = TOKEN;
    await page.locator('#auth-enter').click();
    await page.locator('p.empty:not([hidden])').waitFor();
    await page.waitForFunction(() => document.getElementById('live').dataset.state === 'live');
    assert.equal(asked.length, 2);
    assert.equal(await page.locator('#auth').isHidden(), true, 'the banner goes once the token is taken');
    assert.equal(await page.locator('p.error').isHidden(), true);
    await shot('studies-token-entered');
  } finally {
    page.off('dialog', reply);
    page.off('response', count);
    locked.kill('SIGTERM');
    await new Promise((r) => locked.once('exit', r));
  }
});

test('the new-study form shows the validation error, then creates the study', async () => {
  await go('#/new');
  const bad = branin('from-form', 5);
  bad.space.x1 = { type: 'float', low: 0, high: 1, log: true };
  await page.fill('#spec', JSON.stringify(bad, null, 2));
  /* the editor is marked invalid, and described by the error, only while a spec is refused */
  const marks = () => page.$eval('#spec', (e) => [e.getAttribute('aria-invalid'), e.getAttribute('aria-describedby')]);
  assert.deepEqual(await marks(), [null, 'spec-note']);
  await page.click('#create');
  await page.locator('#spec-error').waitFor();
  assert.match(await page.locator('#spec-error').innerText(), /space\.x1\.low/);
  assert.deepEqual(await marks(), ['true', 'spec-note spec-error'], 'refused by the server');
  assert.equal((await api('GET', '/studies/from-form')).status, 404, 'an invalid spec creates nothing');
  await shot('new-study-error');

  await page.fill('#spec', '{"name": "from-form",');
  await page.click('#create');
  assert.match(await page.locator('#spec-error').innerText(), /not valid JSON/);
  assert.deepEqual(await marks(), ['true', 'spec-note spec-error'], 'not JSON');

  await page.fill('#spec', JSON.stringify(branin('from-form', 5), null, 2));
  await page.click('#create');
  await page.waitForURL(/#\/study\/from-form$/);
  await go('#/');
  await page.locator('#studies tr[data-study="from-form"]').waitFor();
  await shot('studies-after-create');
});

test('the new-study form says once that the server could not be reached', async () => {
  await go('#/new');
  await page.fill('#spec', JSON.stringify(branin('unsent', 1), null, 2));
  const url = (u) => u.pathname === '/api/v1/studies';
  await page.route(url, (route) => route.abort());
  try {
    await page.click('#create');
    await page.locator('#spec-error').waitFor();
    assert.equal(await page.locator('#spec-error').innerText(), 'the server could not be reached');
  } finally {
    await page.unroute(url);
  }
});

/* Runs fn(call, url) against a coordinator of its own, on tmp's database
 * db (--max-parallel 0, so the workers fn registers get the trials), with
 * a lease that outlives a slow page load on a loaded machine: the test
 * must not depend on timing. call(method, path, body): {status, json}. */
async function withCoordinator(db, fn) {
  const coord = await serve(db, '--max-parallel', '0', '--lease-timeout', '3600');
  try {
    const call = async (method, path, body) => {
      const res = await fetch(coord.url + 'api/v1' + path, {
        method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    };
    await fn(call, coord.url);
  } finally {
    coord.proc.kill('SIGTERM');
    await new Promise((r) => { coord.proc.once('exit', r); setTimeout(r, 5000); });
  }
}

test('the workers page lists each worker with its labels, slots, GPUs and the trials it runs', async () => {
  await withCoordinator('fleet.db', async (call, url) => {
    assert.equal((await call('POST', '/studies', stepsStudy('remote', 3, 0))).status, 201);
    const w = (await call('POST', '/workers', { host: 'gpu7', pid: 42, slots: 2, gpus: [0, 1], labels: { rack: 'r7' } })).json;
    await call('POST', '/workers', { host: 'cpu1', pid: 7, slots: 1 });
    const lease = await call('POST', `/workers/${w.id}/lease`, { key: w.key });
    assert.equal(lease.status, 200);
    await page.goto(url + '#/workers');
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
    /* the list, polled every 2 s, leaves the keyboard's focus where it was */
    await row.locator('a.lease').focus();
    await page.evaluate(() => {
      window.workerRedraws = 0;
      new MutationObserver(() => { window.workerRedraws++; }).observe(document.querySelector('#workers tbody'), { childList: true });
    });
    await page.waitForFunction(() => window.workerRedraws >= 2);
    assert.equal(await page.evaluate(() => document.activeElement.className), 'lease', 'the focus stays on the trial\'s link');
    await page.keyboard.press('Enter');
    await page.waitForURL(`**#/study/remote/trial/${lease.json.trial.number}`);
  });
});

test('the workers page keeps the focus on a worker\'s trial link when the worker moves to its next trial', async () => {
  await withCoordinator('moves.db', async (call, url) => {
    assert.equal((await call('POST', '/studies', stepsStudy('moving', 3, 0))).status, 201);
    const w = (await call('POST', '/workers', { host: 'mover', pid: 5, slots: 1 })).json;
    const first = (await call('POST', `/workers/${w.id}/lease`, { key: w.key })).json;
    await page.goto(url + '#/workers');
    const link = page.locator(`#workers tr[data-worker="${w.id}"] a.lease`);
    await link.waitFor();
    await link.focus();
    /* the trial ends and the worker leases the next: the row's link changes at the next poll */
    const done = await call('POST', `/leases/${first.lease}/finish`,
      { worker: w.id, key: w.key, lines: ['{"loss": 1}'], exit: { exited: true, exit_code: 0 } });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    const next = (await call('POST', `/workers/${w.id}/lease`, { key: w.key })).json;
    assert.notEqual(next.trial.number, first.trial.number);
    const href = `#/study/moving/trial/${next.trial.number}`;
    await page.locator(`#workers tr[data-worker="${w.id}"] a.lease[href="${href}"]`).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), href,
      'the focus moved with the worker to its new trial\'s link');
    /* that trial ends too and the worker takes none: the focus stays in its row, on its name */
    assert.equal((await call('POST', `/leases/${next.lease}/finish`,
      { worker: w.id, key: w.key, lines: ['{"loss": 2}'], exit: { exited: true, exit_code: 0 } })).status, 200);
    await page.locator(`#workers tr[data-worker="${w.id}"] .running:text-is("idle")`).waitFor();
    assert.deepEqual(await page.evaluate(() => [document.activeElement.closest('tr')?.dataset.worker, document.activeElement.textContent]),
      [String(w.id), 'mover:5'], 'the focus stays on the idle worker\'s row');
    /* and it moves back to the link of the worker's next trial */
    const third = (await call('POST', `/workers/${w.id}/lease`, { key: w.key })).json;
    const href3 = `#/study/moving/trial/${third.trial.number}`;
    await page.locator(`#workers tr[data-worker="${w.id}"] a.lease[href="${href3}"]`).waitFor();
    await page.locator(`#workers tr[data-worker="${w.id}"] td.name`).focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), href3,
      'Tab from the worker\'s name goes on to its trial\'s link');
    await page.keyboard.press('Enter');
    await page.waitForURL('**' + href3);
  });
});

test('a screen reader finds a name for every control and table of the studies list, the new-study form and the workers page', async () => {
  await go('#/');
  await page.locator('#studies tr[data-study="branin"]').waitFor();
  assert.deepEqual(await unnamed(), [], 'the studies list');
  await go('#/new');
  await page.locator('#spec').waitFor();
  assert.deepEqual(await unnamed(), [], 'the new-study form');
  await go('#/workers');
  await page.locator('#workers').waitFor();
  assert.deepEqual(await unnamed(), [], 'the workers page');
});

test('a page change says the page: the tab\'s title, the current link, the focus at the new page\'s start', async () => {
  const at = () => page.evaluate(() => ({ title: document.title, focus: document.activeElement.id || document.activeElement.tagName,
    current: [...document.querySelectorAll('header nav a[aria-current="page"]')].map((a) => a.textContent) }));
  await go('#/');
  await page.locator('#studies tr[data-study="branin"]').waitFor();
  assert.deepEqual(await at(), { title: 'Studies · Kestrel', focus: 'BODY', current: ['Studies'] });
  /* Enter on a study's link: the focus, on a link gone with the list, goes to the study page's start */
  await page.focus('#studies tr[data-study="branin"] td:first-child a');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/study\/branin$/);
  await page.locator('.study-head h1 a').waitFor();
  assert.deepEqual(await at(), { title: 'branin · Kestrel', focus: 'app', current: ['Studies'] });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.closest('h1') !== null), true, 'Tab goes on from the page\'s start, to its title\'s link');
  assert.equal(await page.getAttribute('#app', 'tabindex'), null, 'main is no Tab stop once left: a click on a page\'s text does not focus it');
  /* a trial's link alike */
  const row = page.locator('#trials tbody tr').first();
  await row.waitFor();
  const n = await row.getAttribute('data-number');
  await row.locator('a').first().focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/study/branin/trial/${n}$`));
  /* the URL changes before the trial page is drawn (under load the study
   * page's title and its link's focus were still there) */
  await page.locator('#params').waitFor();
  assert.deepEqual(await at(), { title: `branin #${n} · Kestrel`, focus: 'app', current: ['Studies'] });
  /* back to the study by the trial page's title link: the focus at the page's start again */
  await page.focus('.page-head h1 a[href="#/study/branin"]');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/study\/branin$/);
  await page.locator('#charts[data-ready="true"]').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'app');
  /* a click on the page's text then Tab: on from there, to the next Tab
   * stop (the chart under the title clicked), not from the page's start
   * again (its title's link) nor from the document's (the header's) */
  await page.locator('#charts h3', { hasText: 'Parameter importance' }).click();
  await page.keyboard.press('Tab');
  assert.deepEqual(await page.evaluate(() => [document.activeElement === window.kestrelCharts.importance.canvas,
    document.activeElement.getAttribute('aria-label') || document.activeElement.textContent]), [true, 'Parameter importance'],
  'Tab after a click on the text goes on from it');
  /* the header's links stay: the focus stays on the one pressed */
  await page.focus('header nav a[href="#/workers"]');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/workers$/);
  await page.locator('#workers').waitFor();
  assert.deepEqual(await at(), { title: 'Workers · Kestrel', focus: 'A', current: ['Workers'] });
});

test('a state\'s badge and count are written with a contrast of at least 4.5:1 (WCAG AA)', async () => {
  await go('#/');
  await page.locator('#studies').waitFor();
  const ratios = await page.evaluate(() => {
    /* WCAG 2's relative luminance and contrast ratio of two CSS colours */
    const lum = (css) => {
      const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => Number(v) / 255)
        .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => { const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x); return Number(((hi + 0.05) / (lo + 0.05)).toFixed(2)); };
    const card = K.dom.h('div', { class: 'card' }, K.dom.h('div', { class: 'counts' }));
    document.querySelector('main').append(card);
    const out = {};
    for (const st of ['COMPLETE', 'PRUNED', 'RUNNING', 'FAILED', 'STOPPED', 'INTERRUPTED']) {
      const badge = K.dom.badge(st);
      const count = K.dom.h('span', { class: 'count c-' + st.toLowerCase() }, '3');
      card.append(badge);
      card.firstChild.append(count);
      const b = getComputedStyle(badge);
      out[st] = [ratio(b.color, b.backgroundColor), ratio(getComputedStyle(count).color, getComputedStyle(card).backgroundColor)];
    }
    card.remove();
    return out;
  });
  for (const [st, [badge, count]] of Object.entries(ratios)) {
    assert.ok(badge >= 4.5, `${st}'s badge: ${badge}:1`);
    assert.ok(count >= 4.5, `${st}'s count: ${count}:1`);
  }
});

test('a list that no longer loads says so in an alert, read out by a screen reader', async () => {
  await go('#/');
  assert.equal(await page.locator('main p.error[role="alert"]').count(), 1, 'the studies list\'s error is an alert');
  const gone = await serve('gone.db');
  try {
    await page.goto(gone.url + '#/workers');
    await page.locator('#workers').waitFor();
  } finally {
    gone.proc.kill('SIGTERM');
    await new Promise((r) => { if (gone.proc.exitCode !== null) r(); else gone.proc.once('exit', r); });
  }
  const error = page.locator('main p.error[role="alert"]');
  await error.waitFor();
  assert.match(await error.innerText(), /^Cannot load the workers: /);
  /* the next failed polls leave its text as it is: not read out again */
  await page.evaluate(() => {
    window.errorWrites = 0;
    new MutationObserver((m) => { window.errorWrites += m.length; })
      .observe(document.querySelector('main p.error'), { childList: true, characterData: true, subtree: true });
  });
  let failed = 0;
  const count = (r) => { if (r.url().endsWith('/api/v1/workers')) failed++; };
  page.on('requestfailed', count);
  try {
    await until('two more polls failed', async () => failed >= 2);
  } finally {
    page.off('requestfailed', count);
  }
  assert.equal(await page.evaluate(() => window.errorWrites), 0);
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

test('the page of a study another process runs follows it live', async () => {
  /* its only news is the server's study_changed, which the page took for
   * another study's (it had no "study" field) and dropped: the page stayed
   * at the first run's counts */
  const file = join(tmp, 'cron-page.json');
  const db = join(tmp, 'kestrel.db');
  writeFileSync(file, JSON.stringify(branin('cron-page', 3, 1)));
  assert.equal(spawnSync(KESTREL, ['run', file, '--db', db, '--quiet']).status, 0);
  await page.goto('about:blank');   /* a new document: its badge says 'live' once its own feed opens */
  await go('#/study/cron-page');
  await page.getByText('3 / 3 finished').waitFor();
  await page.locator('#live[data-state="live"]').waitFor();
  writeFileSync(file, JSON.stringify(branin('cron-page', 5, 1)));   /* a larger budget: it goes on */
  const run = spawnSync(KESTREL, ['run', file, '--db', db, '--quiet']);
  assert.equal(run.status, 0, String(run.stderr));
  await page.getByText('5 / 5 finished').waitFor();
  assert.equal((await api('DELETE', '/studies/cron-page')).status, 204);
});

noScriptErrors();
