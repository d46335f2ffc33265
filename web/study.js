/* study.js: the study page: header with state and stop/resume/retry, the charts
 * (history, learning curves, parallel coordinates, importance, slices) and
 * the paged trial table, all kept live. Invariant: the page holds one model
 * ({study, axes, trials sorted by number, byNumber, curves}); server answers
 * and live events only merge into it, and the view is redrawn from it, at
 * most every REDRAW_MS, never per event, one chart per task so that a
 * 10,000-trial redraw never holds the main thread for all charts at once.
 * The header and the table's first page come first, from the study and its
 * first PAGE_ROWS trials (model.partial until the whole history is in: the
 * header then shows the server's counts), so what a user reads first does
 * not wait for the history the charts need. A study deleted meanwhile is
 * said to be; one made again under its name is another study, and the page
 * is shown anew for it (page.reload), never merged into the old one's. */
'use strict';
window.K = window.K || {};
K.pages = K.pages || {};

(function (K) {
  const { h, fill, keepFocus, buttonGroup, liveBox, badge, chartCard, fact, facts } = K.dom;
  const S = K.stats;
  const REDRAW_MS = 500;
  const PAGE_ROWS = 100;
  const FRAME_ROWS = 50;
  const LONG_TEXT = 24;   // characters of a table cell's text beyond which the cell may cut it
  const STATES = ['RUNNING', 'COMPLETE', 'PRUNED', 'FAILED'];

  /* Lets the browser handle input and paint between two pieces of work:
   * a message to the page itself, since a chain of setTimeout(0) waits 4 ms
   * a step from the fifth on (40 steps, a load's, waited 150-180 ms in
   * Chromium 156 against 1 ms by messages). */
  const yielded = new MessageChannel();
  const waiting = [];
  yielded.port1.onmessage = () => waiting.shift()();
  const nextTask = () => new Promise((r) => { waiting.push(r); yielded.port2.postMessage(null); });
  /* Resolves once the browser has drawn a frame (a task after the frame's
   * callbacks), or after 100 ms in a hidden tab, which draws none. */
  const nextFrame = () => new Promise((r) => {
    requestAnimationFrame(() => nextTask().then(r));
    setTimeout(r, 100);
  });

  /* Runs the jobs one task each; a job that returns jobs (a chart's
   * steps) has them run next, one task each too. Returns the ms they kept
   * the thread busy, or null once the page is gone. */
  async function inSlices(jobs, page) {
    let busy = 0;
    const queue = jobs.slice();
    while (queue.length) {
      if (!page.alive()) return null;
      const t0 = performance.now();
      const more = queue.shift()();
      busy += performance.now() - t0;
      if (Array.isArray(more)) queue.unshift(...more);
      await nextTask();
    }
    return page.alive() ? busy : null;
  }

  /* Merges one trial (from the API or built from an event) into the model,
   * keeping trials sorted by number. */
  function upsertTrial(model, t) {
    const old = model.byNumber.get(t.number);
    if (old) { Object.assign(old, t); return old; }
    const trials = model.trials;
    let i = trials.length;
    while (i > 0 && trials[i - 1].number > t.number) i--;
    trials.splice(i, 0, t);
    model.byNumber.set(t.number, t);
    return t;
  }

  function upsertCurve(model, c) {
    if (!model.curves.has(c.number)) model.curveOrder.push(c.number);
    model.curves.set(c.number, { state: c.state, steps: c.steps.slice(), values: c.values.slice() });
  }

  /* Index of the first trial that may still change: polling refetches from
   * there on, so a finished prefix is never fetched twice. */
  function openPrefix(numbers, stateOf) {
    let i = 0;
    while (i < numbers.length && S.FINISHED.has(stateOf(numbers[i]))) i++;
    return i;
  }

  function applyEvent(model, type, d) {
    if (type === 'study_state') {
      model.study.state = d.state;
      if (d.state === 'DELETED') model.deleted = true;
      return 'head';
    }
    /* another process (kestrel run --db) moved the study: fetch what changed */
    if (type === 'study_changed') { model.needsSync = true; return 'head'; }
    if (type === 'trial_started') {
      /* the event carries the whole new trial (params, retry_of, ...) */
      const t = Object.assign({ state: 'RUNNING', value: null, started_at: K.api.serverNow(),
        finished_at: null }, d);
      delete t.study;
      if (!d.params) { t.params = {}; model.needsSync = true; }
      upsertTrial(model, t);
      return 'trials';
    }
    if (type === 'trial_reported') {
      if (!model.curves.has(d.number)) upsertCurve(model, { number: d.number, state: 'RUNNING', steps: [], values: [] });
      const c = model.curves.get(d.number);
      if (c.steps.length === 0 || d.step > c.steps[c.steps.length - 1]) { c.steps.push(d.step); c.values.push(d.value); }
      const t = model.byNumber.get(d.number);
      if (t) t.last_step = d.step;
      return 'curves';
    }
    if (type === 'trial_finished') {
      /* the end the server stored, which the event carries: stamped on the
       * event's arrival (by K.api.serverNow, which is only as good as the
       * Date headers' whole seconds, and a proxy's Date is its own clock),
       * the Duration was off by the event's way and the clock's error */
      const t = upsertTrial(model, { number: d.number, state: d.state, value: d.value, failure: d.failure || null,
        interrupted: !!d.interrupted, finished_at: typeof d.finished_at === 'number' ? d.finished_at : K.api.serverNow() });
      /* the duration the page had is how long the trial had run when it was
       * fetched (or 0, from its start's event): the table showed that */
      if (typeof t.started_at === 'number') t.duration = Math.max(0, t.finished_at - t.started_at);
      if (!t.params) { t.params = {}; model.needsSync = true; }
      const c = model.curves.get(d.number);
      if (c) c.state = d.state;
      return 'trials';
    }
    return null;
  }

  /* The trial table: filter by state, sort by any column (click a header;
   * again to reverse), PAGE_ROWS rows per page. Only the shown page is in
   * the DOM, whatever the number of trials. */
  function trialTable(model) {
    const view = { state: '', key: 'number', dir: 1, page: 0 };
    const tbody = h('tbody');
    const info = h('span', { class: 'muted', id: 'table-info' });
    const prev = h('button', { class: 'button small', id: 'prev-page', onclick: () => { view.page--; render(); } }, '‹ Prev');
    const next = h('button', { class: 'button small', id: 'next-page', onclick: () => { view.page++; render(); } }, 'Next ›');
    const pager = buttonGroup(prev, next);
    const filter = h('select', { id: 'state-filter', 'aria-label': 'Trials shown, by state',
      onchange: () => { view.state = filter.value; view.page = 0; render(); } },
      h('option', { value: '' }, 'all states'), STATES.map((s) => h('option', { value: s }, s.toLowerCase())));
    const cols = [
      { key: 'number', label: '#', get: (t) => t.number },
      { key: 'state', label: 'State', get: (t) => t.state },
      { key: 'value', label: model.study.metric || 'value', get: (t) => t.value },
    ].concat(model.axes.map((a) => ({ key: 'p:' + a.name, label: a.name, axis: a, get: (t) => (t.params || {})[a.name] })))
      .concat([
        { key: 'budget', label: 'Budget', get: (t) => t.budget || null },
        { key: 'resumed_from', label: 'Resumed from', get: (t) => t.resumed_from },
        { key: 'last_step', label: 'Step', get: (t) => t.last_step },
        { key: 'duration', label: 'Duration', get: (t) => t.duration },
        { key: 'started_at', label: 'Started', get: (t) => t.started_at },
      ]);
    const sortBy = (key) => { view.dir = view.key === key ? -view.dir : 1; view.key = key; view.page = 0; render(); };
    /* a header sorts from the keyboard too: its label is a button, which
     * Tab reaches and Enter or Space presses (a focusable header alone was
     * read as a header, not as something to press); a click anywhere on
     * the header sorts, the button's included */
    const head = h('tr', null, cols.map((c) => h('th', {
      class: 'sortable', dataset: { key: c.key }, 'aria-sort': 'none', onclick: () => sortBy(c.key),
    }, h('button', { type: 'button', class: 'sort-key', dataset: { key: c.key } }, c.label))));
    const link = (t) => `#/study/${encodeURIComponent(model.study.name)}/trial/${t.number}`;

    function cell(c, t) {
      const v = c.get(t);
      if (c.key === 'number') {
        return h('td', { class: 'num' }, h('a', { href: link(t) }, String(v)),
          t.enqueued ? h('span', { class: 'tag', title: 'ran an enqueued configuration (given to try first)' }, 'enqueued') : null);
      }
      if (c.key === 'resumed_from' && v !== null && v !== undefined) {
        return h('td', { class: 'num' }, h('a', { href: link({ number: v }) }, '#' + v));
      }
      if (c.key === 'state') return h('td', { title: t.failure || '' }, badge(t.interrupted ? 'INTERRUPTED' : v));
      if (c.key === 'duration') return h('td', { class: 'num' }, S.fmtDuration(v));
      if (c.key === 'started_at') return h('td', { class: 'muted' }, S.fmtTime(v));
      /* a choice as its axis names it ("3" beside 3) */
      if (c.axis && c.axis.categorical && v !== null && v !== undefined) {
        const text = S.paramText(c.axis, v);
        return text.length > LONG_TEXT ? h('td', { title: text }, h('span', { class: 'cut' }, text))
          : h('td', { class: typeof v === 'number' ? 'num' : '' }, text);
      }
      /* a long text (a category of 200 characters) is cut by the column's
       * width, whole in its title */
      if (typeof v === 'string' && v.length > LONG_TEXT) return h('td', { title: v }, h('span', { class: 'cut' }, v));
      return h('td', { class: typeof v === 'number' ? 'num' : '' }, S.fmt(v, 6));
    }

    /* Nulls sort last in either direction; numbers before strings (a
     * categorical parameter may mix them: ["sgd", "adam", 3]), after them
     * when reversed. Compared as text, a number and a string made an order
     * that is none (9 < 10, 10 < "5x" as '10' < '5x', "5x" < 9), and the
     * column came out as 10, 5x, 9. */
    function compare(get, dir) {
      return (a, b) => {
        const x = get(a);
        const y = get(b);
        const xn = x === null || x === undefined;
        const yn = y === null || y === undefined;
        if (xn || yn) return xn === yn ? a.number - b.number : xn ? 1 : -1;
        const xNum = typeof x === 'number';
        const yNum = typeof y === 'number';
        if (xNum && yNum) return dir * (x - y) || a.number - b.number;
        if (xNum !== yNum) return dir * (xNum ? -1 : 1);
        return dir * String(x).localeCompare(String(y)) || a.number - b.number;
      };
    }

    /* What the shown rows were drawn from: a live redraw that would draw
     * the same rows (the first page of a live study's finished trials) leaves
     * them, and the page is not laid out again (35-70 ms for the table's
     * 2,500 boxes at load 8, on every live redraw and once more in a load) */
    let drawn = null;
    /* a running row's Step and Duration follow its reports in their cells
     * (reported, below) and are left out: with them in, every poll that
     * caught a newer step drew the rows again (two polls after a load, the
     * first and the live feed's catch-up, drew them twice) */
    const inPlace = (c, t) => t.state === 'RUNNING' && (c.key === 'last_step' || c.key === 'duration');
    const drawnFrom = (shown) => JSON.stringify(shown.map((t) => [t.enqueued, t.interrupted, t.failure]
      .concat(cols.map((c) => (inPlace(c, t) ? null : c.get(t))))));

    /* A page's first draw puts its rows in FRAME_ROWS at a time, the
     * first at once and each further part a frame later: in a fresh page
     * 100 rows (2,300 boxes) cost 20-30 ms of style, layout and paint,
     * which with the header and the chart cards made the page's first
     * frame a load's longest task. A later draw stops the rest of an
     * earlier one. tbody's data-going: how many such draws have not
     * ended yet (put their last rows, or stopped), which the browser tests
     * wait for. */
    let putting = 0;
    let going = 0;
    function putRows(trs, inFrames) {
      const gen = ++putting;
      keepFocus(tbody, () => tbody.replaceChildren(...(inFrames ? trs.slice(0, FRAME_ROWS) : trs)));
      if (!inFrames || trs.length <= FRAME_ROWS) return;
      tbody.dataset.going = String(++going);
      (async () => {
        try {
          for (let i = FRAME_ROWS; i < trs.length; i += FRAME_ROWS) {
            await nextFrame();
            if (gen !== putting) return;
            tbody.append(...trs.slice(i, i + FRAME_ROWS));
          }
        } finally {
          tbody.dataset.going = String(--going);
        }
      })();
    }

    /* Live reports, and a clock each second, move the Step and Duration of
     * the shown running rows (running: number -> row, as last drawn) in
     * their two cells alone, once a frame however many reports came: the
     * rows are drawn again only when a trial starts or ends, and a redraw
     * per report would lay out the table's 2,300 boxes each time. A hidden tab draws no frame: its cells
     * catch up when it shows again. */
    const running = new Map();
    const stepAt = cols.findIndex((c) => c.key === 'last_step');
    const durationAt = cols.findIndex((c) => c.key === 'duration');
    let frame = 0;
    const setText = (td, text) => { if (td.textContent !== text) td.textContent = text; };
    function reported() {
      if (frame || running.size === 0) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        for (const [n, tr] of running) {
          const t = model.byNumber.get(n);
          if (!t || t.state !== 'RUNNING') continue;
          setText(tr.children[stepAt], S.fmt(t.last_step, 6));
          if (typeof t.started_at === 'number') setText(tr.children[durationAt], S.fmtDuration(K.api.since(t.started_at)));
        }
      });
    }

    function render(inFrames) {
      const col = cols.find((c) => c.key === view.key);
      const rows = model.trials.filter((t) => !view.state || t.state === view.state);
      if (view.key !== 'number' || view.dir !== 1) rows.sort(compare(col.get, view.dir));
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
      view.page = Math.min(Math.max(0, view.page), pages - 1);
      const shown = rows.slice(view.page * PAGE_ROWS, (view.page + 1) * PAGE_ROWS);
      const from = drawnFrom(shown);
      if (from !== drawn) {
        running.clear();
        putRows(shown.map((t) => {
          const tr = h('tr', { dataset: { number: t.number, state: t.state } }, cols.map((c) => cell(c, t)));
          if (t.state === 'RUNNING') running.set(t.number, tr);
          return tr;
        }), inFrames);
        drawn = from;
      } else {
        reported();   /* the running rows' cells catch up with the poll */
      }
      for (const th of head.children) {
        th.dataset.sort = th.dataset.key === view.key ? (view.dir > 0 ? 'asc' : 'desc') : '';
        th.setAttribute('aria-sort', { asc: 'ascending', desc: 'descending' }[th.dataset.sort] || 'none');
      }
      info.textContent = model.partial ? `first ${rows.length} of ${model.study.counts.total} trials · loading the rest…`
        : `${rows.length} trial${rows.length === 1 ? '' : 's'} · page ${view.page + 1} of ${pages}`;
      pager(view.page > 0, !model.partial && view.page < pages - 1);
    }

    const el = h('section', { class: 'card' },
      h('div', { class: 'table-head' }, h('h3', null, 'Trials'), filter, info, prev, next),
      h('div', { class: 'table-scroll' }, h('table', { class: 'table', id: 'trials', 'aria-label': 'Trials' }, h('thead', null, head), tbody)));
    /* The clock's moves (tick, each second) are for a table in view
     * alone: it stands below every chart, and a cell's new text lays the
     * whole table out again (up to 2,300 boxes), each second, for nobody.
     * Rows that come into view catch up at the next tick. */
    let inView = false;
    new IntersectionObserver(([e]) => { inView = e.isIntersecting; }).observe(el);
    const tick = () => { if (inView) reported(); };
    return { el, render, reported, tick };
  }

  /* The study's note: shown under the header, edited in place (PUT
   * .../note). Its own element, so a live redraw of the header never takes
   * the text being typed. */
  function noteBox(model) {
    const text = h('p', { class: 'study-note', id: 'study-note' });
    const area = h('textarea', { id: 'note-input', rows: 3, 'aria-label': 'Study note' });
    /* a save's error, read out when it shows (a live region built once) */
    const error = liveBox('alert', 'span');
    const form = h('div', { class: 'note-form', hidden: true }, area,
      h('button', { class: 'button', id: 'note-save', onclick: save }, 'Save'),
      h('button', { class: 'button', id: 'note-cancel', onclick: () => editing(false) }, 'Cancel'), error.el);
    const edit = h('button', { class: 'button small', id: 'note-edit', onclick: () => editing(true) }, 'Edit note');
    const el = h('div', { class: 'note-box' }, text, edit, form);
    let open = false;
    function editing(on) {
      open = on;
      form.hidden = !on;
      edit.hidden = on;
      text.hidden = on;
      error.say(null);
      if (on) {
        area.value = model.study.note || '';
        area.focus();
      }
      render();
    }
    async function save() {
      error.say(null);   /* a second failure is read out again */
      try {
        model.study.note = (await K.api.setNote(model.study.name, area.value)).note;
        model.edits++;
        editing(false);
      } catch (e) {
        error.say(e.message, () => h('span', { class: 'error', id: 'note-error' }, e.message));
      }
    }
    function render() {
      text.textContent = model.study.note || 'No note.';
      text.classList.toggle('muted', !model.study.note);
    }
    return { el, render };
  }

  /* What a study's page and its trials' pages say once the study is
   * deleted (what: what went with it), in a live region of theirs. */
  function deletedNotice(name, what) {
    return h('p', { class: 'error', id: 'study-deleted' }, `Study ${name} was deleted, with ${what}; `
      + 'one made again under its name will show here. ', h('a', { href: '#/' }, 'Back to the studies'));
  }
  K.study = { deletedNotice };

  /* The study's counts: the server's until the whole history is in (the
   * page then holds the table's first page alone), the page's own after. */
  const countsOf = (model) => (model.partial ? model.study.counts : S.counts(model.trials));

  /* The study's header. The title and the action buttons are built once and
   * only updated by render(): a live study redraws the header every half
   * second, and a click whose press and release straddled a rebuilt button
   * would be lost. */
  function header(model, onAction) {
    const s0 = model.study;
    const button = (id, label, act, what, extra) => h('button', Object.assign({ class: 'button', id,
      onclick: () => onAction(act, what) }, extra), label);
    const stop = button('stop', 'Stop', 'stop');
    const resume = button('resume', 'Resume', 'resume');
    const retry = button('retry-failed', 'Retry failed', 'retryFailed', 'retry of the failed trials',
      { title: 'Resume the study and run every failed trial once more with the same parameters' });
    const actions = buttonGroup(stop, resume, retry);
    const state = h('span');
    const top = h('div');
    const note = noteBox(model);
    /* an action's error and the study's deletion, read out once each */
    const failure = liveBox('alert');
    const gone = liveBox('status');
    const el = h('div', { class: 'study-head' },
      h('div', { class: 'page-head' },
        h('h1', null, h('a', { href: '#/' }, 'Studies'), ' / ', s0.name),
        state,
        h('div', { class: 'actions' }, stop, resume, retry,
          h('a', { class: 'button', href: `/api/v1/studies/${encodeURIComponent(s0.name)}/export.csv` }, 'CSV'),
          h('button', { class: 'button', id: 'clone', title: 'Open the new-study form with this spec, to run a variant',
            onclick: () => cloneStudy(model.study) }, 'Clone'),
          button('delete', 'Delete', 'remove', 'delete', { class: 'button danger' }))),
      top, failure.el, gone.el, note.el);
    function render() {
      note.render();
      const s = model.study;
      const c = countsOf(model);
      const best = model.partial ? s.best
        : model.trials.filter(S.scored).reduce((b, t) => (!b || S.better(t.value, b.value, s.direction) ? t : b), null);
      const running = s.state === 'RUNNING';
      // FAILED trials not yet retried: what a retry would re-run (as the scheduler counts them);
      // interrupted ones are re-run by a plain resume. They are the failed
      // trials counted (c.failed) less those the page holds a retry of.
      // Until the whole history is in, the page holds the first PAGE_ROWS
      // trials alone, and the count is the server's: a big study's failures
      // past them count (looked for among the trials held, they left the
      // button disabled while it loaded), and those retried already are
      // taken out (counted alone, they left it enabled for a study whose
      // failures were all retried). A retry comes after the trial it
      // re-runs, so only one past the first page is missed then: the button
      // may be enabled for nothing to re-run until the history is in.
      const retried = new Set(model.trials.map((t) => t.retry_of).filter((n) => n !== null && n !== undefined));
      const retryable = c.failed
        > model.trials.filter((t) => t.state === 'FAILED' && !t.interrupted && retried.has(t.number)).length;
      if (state.textContent !== s.state) fill(state, badge(s.state));
      actions(running && !model.deleted, !running && s.state !== 'COMPLETE' && !model.deleted,
        !running && retryable && !model.deleted);
      keepFocus(top, () => fill(top,
        facts(
          fact('objective', `${s.direction} ${s.metric}`),
          fact('strategy', s.strategy),
          fact('configurations', `${c.configs} / ${s.max_trials || '?'} finished`),
          fact('trials', c.total),
          fact('running', c.running),
          fact('complete', c.complete), fact('pruned', c.pruned), fact('failed', c.failed),
          fact('interrupted', c.interrupted),
          fact('best', best ? h('a', { href: `#/study/${encodeURIComponent(s.name)}/trial/${best.number}`,
            dataset: { focus: 'best' } },
            `${S.fmt(best.value, 6)} (#${best.number})`) : '–')),
        s.state_reason ? h('p', { class: 'error', id: 'state-reason' }, `${s.state}: ${s.state_reason}`) : null,
        /* stays open across the header's live redraws */
        s.spec ? h('details', { class: 'spec-view', open: !!model.specOpen,
          ontoggle: (e) => { model.specOpen = e.target.open; } }, h('summary', null, 'Spec'),
          /* a Tab stop, named: a box that scrolls, which the keyboard scrolls once it has the focus */
          h('pre', { id: 'spec-view', tabindex: 0, role: 'region', 'aria-label': 'Spec' }, JSON.stringify(s.spec, null, 2))) : null));
      failure.say(model.actionError, () => h('p', { class: 'error', id: 'action-error' }, model.actionError));
      gone.say(model.deleted ? s.name : null, () => deletedNotice(s.name, 'its trials'));
    }
    return { el, render };
  }

  /* The new-study form, filled with this study's spec under a new name. */
  function cloneStudy(s) {
    const spec = Object.assign({}, s.spec, { name: `${s.name}-copy` });
    sessionStorage.setItem('kestrel.clone', JSON.stringify(spec, null, 2));
    location.hash = '#/new';
  }

  /* User timings of the study page, from navigation: when the history is
   * drawn with every trial, and when every chart is (read by
   * bench/dashboard_bench.mjs); one each per study page shown. */
  const MARKS = ['kestrel:history-drawn', 'kestrel:charts-drawn'];

  K.pages.study = async function (root, page, name) {
    for (const m of MARKS) performance.clearMarks(m);
    root.append(h('p', { class: 'muted' }, 'Loading ' + name + '…'));
    /* The page's feed is subscribed once it is built; a page that could
     * not be keeps its study's, so the badge leaves 'connecting'. One that
     * could not reach the server (restarted under the page) is shown anew
     * once the server answers again: at the feed's (re)opening, or the
     * polls' meanwhile; one of a study not made yet (a 404: a bookmark, a
     * study `kestrel run --db` or a POST makes later), once any event of
     * the name comes, or a poll finds it (it said "no study named NAME"
     * for good, the study made and running); other failures stay said. */
    const failed = (e) => {
      if (!page.alive()) return;
      /* an alert, as the studies list's: a screen reader, its focus at the
       * page's start, was told nothing of why the page stayed empty */
      root.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Cannot load study ${name}: ${e.message}`));
      const lost = e.code === K.api.UNREACHABLE;
      const missing = e.status === 404;
      K.live.subscribe({ study: name,
        onEvent(type, d) { if (missing && d.study === name) page.reload(); },
        poll() { if (lost || missing) K.api.study(name).then(() => page.reload(), () => {}); } });
    };
    /* asked for first, so the server answers them before it builds the
     * whole history's pages; the trials once they are in, since their
     * pages, mostly kept by the server, come back quickly and would be
     * parsed before the table's first page is drawn */
    const head0 = Promise.all([K.api.study(name), K.api.firstTrials(name, PAGE_ROWS)]);
    /* every page at once: the study's counts tell how many there are */
    const allTrials = head0.then(([s]) => K.api.trials(name, 0, s.counts ? s.counts.total : 0));
    /* the curves once the trials are in: asked for together, their pages
     * took the browser's connections and the server's time from the
     * history's (which the first charts need) */
    const allCurves = head0.then(([s]) => allTrials.then(() => K.api.curves(name, 0, s.counts ? s.counts.total : 0)));
    for (const p of [allTrials, allCurves]) p.catch(() => {});   /* answered where awaited */
    let study, first;
    try {
      [study, first] = await head0;
    } catch (e) {
      failed(e);
      return;
    }
    if (!page.alive()) return;
    const model = { study, axes: (study.params || []).map((p) => S.paramAxis(study.spec, p)), trials: [],
      byNumber: new Map(), curves: new Map(), curveOrder: [], needsSync: false, actionError: null, actionLost: false,
      deleted: false, edits: 0,
      partial: true };
    for (const t of first) upsertTrial(model, t);

    const dirty = { head: true, trials: true, curves: true };
    const head = header(model, action);
    /* What asks for a redraw: until the charts are built and the live
     * redraws below exist, the header alone, at once (an action pressed
     * while a big study's history loads: Stop threw, the throttled redraw
     * not made yet, and the header said RUNNING until the load ended) */
    let schedule = () => head.render();
    const table = trialTable(model);
    /* the running rows' Duration each second too, while the table is in
     * view: a trial that does not report kept the one it had when the
     * page loaded (their two cells alone, as a report's, never the table) */
    K.every(1000, page, table.tick);
    const hist = chartCard('Optimization history', 300);
    const curv = chartCard('Learning curves', 300, 'Objective per reported step; a dot marks where a pruned or failed trial stopped.');
    const par = chartCard('Parallel coordinates', 320, 'One line per complete trial, coloured by objective (yellow = best).');
    const imp = chartCard('Parameter importance', Math.max(120, 40 + 28 * model.axes.length),
      'Share of the objective\'s variance explained by each parameter alone (binned means).');
    const edf = chartCard('Empirical distribution', 260, 'Fraction of complete trials whose objective is at or below each value.');
    const tl = chartCard('Timeline', 260, 'Each trial from start to end, one row per parallel slot of each worker.');
    const slices = model.axes.map((a) => {
      const c = chartCard(a.name, 220);
      c.canvas.setAttribute('aria-label', 'slice of ' + a.name);   /* its title, a parameter's name, alone says little */
      return c;
    });
    const brushInfo = h('span', { class: 'muted', id: 'parallel-selection' });
    par.card.querySelector('.note').append(' Drag along an axis to select a range (or Tab to the axis: the arrow keys); click the axis to clear it (Escape). ', brushInfo);
    const onSelect = (selected, total, brushed) => {
      brushInfo.textContent = brushed ? `${selected} of ${total} trials selected.` : '';
    };
    /* the contour's two parameters, picked in its header */
    const pair = { x: 0, y: 1 };
    const contour = model.axes.length >= 2 ? chartCard('Contour', 320,
      'Mean objective of the trials in each cell of two parameters (yellow = best); cells without trials take their nearest neighbour\'s; dots are trials.') : null;
    if (contour) {
      const picker = (key, id) => {
        const sel = h('select', { id, 'aria-label': `Contour: parameter along ${key}`, onchange: () => {
          const other = key === 'x' ? 'y' : 'x';
          if (Number(sel.value) === pair[other]) pair[other] = pair[key];   /* a swap, never one parameter twice */
          pair[key] = Number(sel.value);
          syncPickers();
          if (charts.contour) charts.contour.refresh(model);
        } }, model.axes.map((a, i) => h('option', { value: String(i) }, a.name)));
        return sel;
      };
      const px = picker('x', 'contour-x');
      const py = picker('y', 'contour-y');
      const syncPickers = () => { px.value = String(pair.x); py.value = String(pair.y); };
      syncPickers();
      contour.card.querySelector('h3').append(' ', px, ' × ', py);
    }
    const contourPair = () => [model.axes[pair.x], model.axes[pair.y]];
    /* one switch puts the objective of every chart that shows it on a log scale */
    const logBox = h('input', { type: 'checkbox', id: 'log-scale', onchange: () => {
      model.logY = logBox.checked;
      for (const c of [charts.history, charts.curves, charts.edf]) if (c) c.refresh(model);
    } });
    hist.card.querySelector('h3').append(h('label', { class: 'log-toggle', title: 'objective on a log scale (positive values only)' }, logBox, ' log'));
    const chartsEl = h('div', { id: 'charts' },
      h('div', { class: 'grid2' }, hist.card, curv.card),
      h('div', { class: 'grid2' }, par.card, imp.card),
      h('div', { class: 'grid2' }, edf.card, tl.card),
      contour ? h('div', { class: 'grid2' }, contour.card) : null,
      h('h2', null, 'Slices'),
      h('div', { class: 'grid3', id: 'slices' }, slices.map((s) => s.card)));
    fill(root, head.el, chartsEl, table.el);

    /* The header and the table's first page; then, once every trial is in,
     * the history chart, the header and table again, and the other charts of
     * trials, each in a task of its own (each draws what the
     * model holds when its turn comes); the learning curves last, from their
     * own request, so no chart waits for the curves. */
    head.render();
    table.render(true);   /* its rows in two frames */
    const charts = { slices: [] };
    let built = null;
    try {
      const trials = await allTrials;
      if (!page.alive()) return;
      for (const t of trials) upsertTrial(model, t);
      model.partial = false;
      /* a chart is made empty, then filled, laid out and drawn in steps */
      const build = (key, make) => () => { charts[key] = make(); return charts[key].steps(model); };
      built = await inSlices([
        /* the history first: the header and the table's first page are up already */
        build('history', () => K.charts.history(hist.canvas, model)),
        () => performance.mark(MARKS[0]),
        () => head.render(),
        () => table.render(),
        build('parallel', () => K.charts.parallel(par.canvas, model, onSelect)),
        build('importance', () => K.charts.importance(imp.canvas, model)),
        build('edf', () => K.charts.edf(edf.canvas, model)),
        build('timeline', () => K.charts.timeline(tl.canvas, model)),
        contour ? build('contour', () => K.charts.contour(contour.canvas, model, contourPair)) : () => {},
        ...model.axes.map((a, i) => () => {
          const c = K.charts.slice(slices[i].canvas, model, a);
          charts.slices.push(c);
          return c.steps(model);
        }),
      ], page);
      if (built === null) return;
      const curves = await allCurves;
      if (!page.alive()) return;
      for (const c of curves) upsertCurve(model, c);
      built = await inSlices([build('curves', () => K.charts.curves(curv.canvas, model))], page);
    } catch (e) {
      failed(e);
      return;
    }
    dirty.head = dirty.trials = dirty.curves = false;
    if (built === null) return;
    chartsEl.dataset.ready = 'true';   /* every chart exists (the browser tests wait for it) */
    performance.mark(MARKS[1]);

    /* A redraw costs ~1 s of work with 10,000 trials, in slices of a third of a chart:
     * waiting 4 times the last one's work between redraws keeps the page
     * responsive under live load. A redraw asked for while one runs comes
     * after it. */
    let redrawMs = 0;
    let drawing = false;
    /* A chart out of view is not redrawn live: it owes a redraw (stale)
     * until it comes into view, so a live study costs the main thread the
     * charts a user sees, not all of them. */
    const inView = new Set();   // canvases in or near the viewport
    const stale = new Set();    // charts that owe a redraw
    const seen = new IntersectionObserver((entries) => {
      if (!page.alive()) { seen.disconnect(); return; }
      for (const e of entries) {
        if (e.isIntersecting) inView.add(e.target);
        else inView.delete(e.target);
      }
      if (owedInView()) schedule();
    }, { rootMargin: '200px' });
    const owedInView = () => [...stale].some((c) => inView.has(c.canvas));
    const trialCharts = () => [charts.history, charts.parallel, charts.importance, charts.edf, charts.timeline,
      ...(charts.contour ? [charts.contour] : []), ...charts.slices];
    for (const c of trialCharts().concat([charts.curves])) seen.observe(c.canvas);
    const redrawJob = (c) => () => {
      if (!inView.has(c.canvas)) { stale.add(c); return null; }
      stale.delete(c);
      return c.steps(model);
    };
    async function redraw() {
      if (!page.alive() || drawing) return;
      drawing = true;
      const jobs = [];
      if (dirty.head || dirty.trials) jobs.push(() => head.render());
      if (dirty.trials) jobs.push(() => table.render());
      const owed = new Set(stale);
      if (dirty.trials) for (const c of trialCharts()) owed.add(c);
      if (dirty.curves || dirty.trials) owed.add(charts.curves);
      for (const c of owed) jobs.push(redrawJob(c));
      dirty.head = dirty.trials = dirty.curves = false;
      const busy = await inSlices(jobs, page);
      drawing = false;
      if (busy === null) return;
      redrawMs = busy;
      if (dirty.head || dirty.trials || dirty.curves || owedInView()) schedule();
    }
    schedule = K.throttle(redraw, () => Math.max(REDRAW_MS, 4 * redrawMs));

    /* An action's error stays until the next action; one that could not
     * reach the server (actionLost) goes too once a poll is answered: the
     * connection is back, and it no longer says how things stand. */
    async function action(kind, what = kind) {
      model.actionError = null;
      model.actionLost = false;
      if (kind === 'remove' && !window.confirm(`Delete study ${name}, its ${countsOf(model).total} trials and their folders?`)) return;
      try {
        const s = await K.api[kind](name);
        if (kind === 'remove') { location.hash = '#/'; return; }
        if (s) Object.assign(model.study, s);
        model.edits++;
      } catch (e) {
        model.actionError = `${what} failed: ${e.message}`;
        model.actionLost = e.code === K.api.UNREACHABLE;
      }
      dirty.head = true;
      schedule();
    }

    /* A poll asked for while one is in flight runs after it: the one the
     * live feed asks for when it opens catches up the events sent before
     * the feed was subscribed, and dropped it lost them (the page's own
     * first poll, from just before the feed opened, still in flight: a
     * trial that finished in between stayed RUNNING on the page) */
    let syncing = false;
    async function poll() {
      if (!page.alive()) return;
      if (syncing) { model.needsSync = true; return; }
      syncing = true;
      model.needsSync = false;
      try {
        const tOff = openPrefix(model.trials.map((t) => t.number), (n) => model.byNumber.get(n).state);
        const cOff = Math.min(tOff, openPrefix(model.curveOrder, (n) => model.curves.get(n).state));
        const edits = model.edits;
        const [s, ts, cs] = await Promise.all([K.api.study(name), K.api.trials(name, tOff), K.api.curves(name, cOff)]);
        if (!page.alive()) return;
        /* another study under the name: this one was deleted meanwhile */
        if (s.created_at !== model.study.created_at) { page.reload(); return; }
        /* a study asked for before this page's own edit (a note saved, a
         * stop) answered is older than the edit's answer: asked again */
        if (edits === model.edits) Object.assign(model.study, s);
        else model.needsSync = true;
        for (const t of ts) upsertTrial(model, t);
        for (const c of cs) upsertCurve(model, c);
        if (model.actionLost) model.actionError = null;
        model.actionLost = false;
        dirty.head = dirty.trials = dirty.curves = true;
        schedule();
      } catch (e) {
        /* a failed poll is retried by the next one; the live badge says
         * whether the server answers (api.js checkServer) */
        if (e.status === 404 && page.alive() && !model.deleted) {
          model.deleted = true;
          model.study.state = 'DELETED';
          dirty.head = true;
          schedule();
        }
      } finally {
        syncing = false;
      }
      /* events that asked for a sync while this one was in flight (trials
       * it may have missed, such as retries starting together) get another */
      if (model.needsSync) poll();
    }

    /* After study_state DELETED, any event of the name is another study's
     * (made again under it: DELETED, then study_changed or its own events):
     * the page is shown anew, since merging by trial number kept the old
     * study's finished trials. */
    function onEvent(type, d) {
      if (d.study !== name) return;
      if (model.deleted && !(type === 'study_state' && d.state === 'DELETED')) { page.reload(); return; }
      const what = applyEvent(model, type, d);
      if (what) dirty[what] = true;
      /* a poll in flight may have read before this event: its answer,
       * applied after it, would undo it (a finished trial RUNNING again,
       * with no later event to right it), so another poll follows it. Not
       * for a report, the most frequent event (a busy study would poll
       * back to back): the next report, or the trial's end, rights a curve */
      if (syncing && type !== 'trial_reported') model.needsSync = true;
      if (type === 'trial_reported') table.reported();
      if (model.needsSync) poll();
      schedule();
    }

    K.live.subscribe({ study: name, onEvent, poll });
    /* what changed while the charts were being built */
    poll();
  };
})(window.K);
