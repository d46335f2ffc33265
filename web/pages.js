/* pages.js: the studies list and the new-study form. Each page is a function
 * (root, page) that fills root; page.alive() turns false once the user has
 * navigated away, and late answers check it before touching the DOM. */
'use strict';
window.K = window.K || {};
K.pages = K.pages || {};

(function (K) {
  const { h, badge } = K.dom;
  const S = K.stats;

  /* A progressbar, with its figures and a name, for a screen reader, which
   * read a bare div as its text alone ('30 / 30'); a study of no known
   * budget has no aria-valuenow (an indeterminate bar). */
  function progress(s) {
    const c = s.counts || {};
    const finished = c.configs || 0;
    const max = s.max_trials || 0;
    const frac = max > 0 ? Math.min(1, finished / max) : 0;
    const said = `${finished} of ${max || '?'} configurations finished (${c.total || 0} trials)`;
    return h('div', { class: 'progress', title: said, role: 'progressbar', 'aria-label': 'Progress of ' + s.name,
      'aria-valuemin': 0, 'aria-valuemax': max > 0 ? max : null, 'aria-valuenow': max > 0 ? Math.min(finished, max) : null,
      'aria-valuetext': said },
      h('div', { class: 'progress-bar', style: `width:${(frac * 100).toFixed(1)}%` }),
      h('span', { class: 'progress-text' }, `${finished} / ${max || '?'}`));
  }

  /* A count with its state's sign, which a screen reader reads as the
   * state's name ('3 complete'), not as the sign's ('3 check mark'). */
  function count(n, sign, state, title) {
    return h('span', { class: 'count c-' + state, title: title || state },
      `${n} `, h('span', { 'aria-hidden': 'true' }, sign), h('span', { class: 'sr-only' }, `${state} `));
  }

  function countsText(c) {
    c = c || {};
    return [
      count(c.complete || 0, '✓', 'complete'),
      count(c.pruned || 0, '✂', 'pruned'),
      count(c.failed || 0, '✗', 'failed'),
      c.interrupted ? count(c.interrupted, '‖', 'interrupted', 'interrupted (re-run on resume)') : null,
      count(c.running || 0, '▶', 'running'),
    ];
  }

  function studyRow(s) {
    return h('tr', { dataset: { study: s.name } },
      h('td', null, h('a', { href: '#/study/' + encodeURIComponent(s.name) }, s.name)),
      h('td', null, badge(s.state)),
      h('td', null, progress(s)),
      h('td', { class: 'counts' }, countsText(s.counts)),
      h('td', { class: 'num' }, s.best ? h('a', {
        href: `#/study/${encodeURIComponent(s.name)}/trial/${s.best.number}`,
        title: `trial #${s.best.number}`,
        dataset: { focus: 'best ' + s.name },   /* keepFocus: its link changes with each new best */
      }, S.fmt(s.best.value, 6)) : '–'),
      h('td', null, `${s.direction || ''} ${s.metric || ''}`),
      h('td', null, s.strategy || ''),
      h('td', { class: 'muted' }, S.fmtTime(s.updated_at)));
  }

  /* Studies list: state, progress, counts and best value of every study,
   * refreshed live (each event for any study refetches the list, at most
   * once a second and one load at a time; the list is small whatever the
   * size of the histories). */
  K.pages.studies = function (root, page) {
    const tbody = h('tbody');
    const empty = h('p', { class: 'empty', hidden: true }, 'No studies yet. ',
      h('a', { href: '#/new' }, 'Create one'), ' or run `kestrel run SPEC.json` against this database.');
    /* an alert, built once: a screen reader reads out that the list no longer loads */
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Studies'),
        h('a', { class: 'button primary', href: '#/new' }, 'New study')),
      error, empty,
      h('div', { class: 'card table-scroll' }, h('table', { class: 'table', id: 'studies', 'aria-label': 'Studies' },
        h('thead', null, h('tr', null, ['Study', 'State', 'Progress', 'Trials', 'Best', 'Objective',
          'Strategy', 'Updated'].map((t) => h('th', null, t)))),
        tbody)));

    /* The rows as drawn, by study name: [the study as its answer gave it
     * (JSON), its row]. A load puts anew only the rows whose study
     * changed: each event of any study loads the list again (every second
     * while one runs), and all its rows put anew each time took away a
     * selection made in the list (a study's name being copied) and a
     * screen reader's place in it, and laid out hundreds of rows for the
     * one that changed. */
    let drawn = new Map();
    function draw(studies) {
      const next = new Map();
      const rows = studies.map((s) => {
        const text = JSON.stringify(s);
        const was = drawn.get(s.name);
        const tr = was && was[0] === text ? was[1] : studyRow(s);
        next.set(s.name, [text, tr]);
        return tr;
      });
      drawn = next;
      const old = tbody.children;
      const inPlace = old.length === rows.length && rows.every((tr, i) => old[i].dataset.study === tr.dataset.study);
      K.dom.keepFocus(tbody, () => {
        if (!inPlace) { tbody.replaceChildren(...rows); return; }
        rows.forEach((tr, i) => { if (old[i] !== tr) old[i].replaceWith(tr); });
      });
    }

    /* one load at a time (K.serial): two in flight could answer out of
     * order, the older drawn last */
    const load = K.serial(async () => {
      if (!page.alive()) return;
      tbody.dataset.loading = 'true';   /* which the browser tests wait for */
      try {
        const studies = await K.api.studies();
        if (!page.alive()) return;
        error.hidden = true;
        draw(studies);
        empty.hidden = studies.length > 0;
      } catch (e) {
        if (!page.alive()) return;
        K.dom.alertText(error, 'Cannot load the studies: ' + e.message);
      } finally {
        tbody.dataset.loading = 'false';
      }
    });
    const reload = K.throttle(load, 1000);
    load();
    K.live.subscribe({ study: null, onEvent: reload, poll: reload });
  };

  const EXAMPLE = {
    name: 'branin-demo',
    objective: { metric: 'value', direction: 'minimize' },
    space: {
      x1: { type: 'float', low: -5, high: 10 },
      x2: { type: 'float', low: 0, high: 15 },
    },
    strategy: { name: 'random', seed: 1 },
    budget: { max_trials: 40, max_parallel: 2 },
    run: { function: 'branin' },
  };

  /* Where in the text a JSON.parse error points, as "line L, column C",
   * from the "position N" most engines put in the message. */
  function syntaxWhere(text, e) {
    const m = /position (\d+)/.exec(e.message);
    if (!m || /line \d+ column \d+/.test(e.message)) return '';   /* Chromium's own says it */
    const before = text.slice(0, Number(m[1])).split('\n');
    return ` (line ${before.length}, column ${before[before.length - 1].length + 1})`;
  }

  /* New study: a JSON editor whose spec is POSTed as typed; the API's
   * validation error (JSON path and reason) shows under the editor. */
  K.pages.newStudy = function (root, page) {
    /* named for a screen reader, which read it out by its content, and
     * described by the note above it, and by the error under it while a
     * spec is refused (refused()) */
    const text = h('textarea', { id: 'spec', spellcheck: 'false', rows: 22, 'aria-label': 'Study spec (JSON)',
      'aria-describedby': 'spec-note' });
    /* a study's Clone button leaves its spec here */
    const clone = sessionStorage.getItem('kestrel.clone');
    sessionStorage.removeItem('kestrel.clone');
    text.value = clone || JSON.stringify(EXAMPLE, null, 2);
    const error = h('div', { class: 'spec-error', id: 'spec-error', role: 'alert', hidden: true });
    const submit = h('button', { class: 'button primary', id: 'create', type: 'submit' }, 'Create and start');

    /* The editor marked invalid and described by the error while a spec
     * is refused: a screen reader on the editor said nothing of it (and
     * read a hidden error's old text in its description). */
    function refused(on) {
      error.hidden = !on;
      if (on) text.setAttribute('aria-invalid', 'true');
      else text.removeAttribute('aria-invalid');
      text.setAttribute('aria-describedby', on ? 'spec-note spec-error' : 'spec-note');
    }

    function showError(path, message) {
      K.dom.fill(error, path ? h('code', { class: 'path' }, path) : null, path ? ': ' : '', message);
      refused(true);
    }

    async function onSubmit(ev) {
      ev.preventDefault();
      refused(false);
      let spec;
      try {
        spec = JSON.parse(text.value);
      } catch (e) {
        showError(null, 'not valid JSON: ' + e.message + syntaxWhere(text.value, e));
        return;
      }
      submit.disabled = true;
      try {
        const study = await K.api.create(text.value);
        if (page.alive()) location.hash = '#/study/' + encodeURIComponent((study && study.name) || spec.name);
      } catch (e) {
        /* the server's code beside its message; none for a request that got
         * no answer, whose message says so ('unreachable' repeated it) */
        if (page.alive()) showError(e.path, e.message + (e.code && e.code !== K.api.UNREACHABLE ? ` (${e.code})` : ''));
      } finally {
        submit.disabled = false;
      }
    }

    function format() {
      try { text.value = JSON.stringify(JSON.parse(text.value), null, 2); } catch (e) { /* left as typed */ }
    }

    root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'New study')),
      h('form', { class: 'card new-study', onsubmit: onSubmit },
        h('p', { class: 'note', id: 'spec-note' }, 'The study spec as JSON (see docs/spec.md). It is validated by the server; ',
          'an existing stopped study with the same name and spec is resumed.'),
        text, error,
        h('div', { class: 'actions' }, submit,
          h('button', { class: 'button', type: 'button', onclick: format }, 'Format JSON'))));
    K.live.subscribe(null);
  };
})(window.K);
