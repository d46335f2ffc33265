/* trial.js: one trial's page: state, parameters, final metrics, the learning
 * curve of every metric it reported, and the tails of its stdout and stderr.
 * Live while the trial runs: reported steps extend the curve, and the page
 * reloads its detail when the trial finishes. A study deleted meanwhile is
 * said to be, and one made again under its name is shown anew
 * (page.reload), as on the study's page. */
'use strict';
window.K = window.K || {};
K.pages = K.pages || {};

(function (K) {
  const { h, fill, keepFocus, liveBox, badge, chartCard, fact, facts } = K.dom;
  const S = K.stats;

  /* text(k, v): a value's text (S.fmt unless told) */
  function kvTable(id, name, obj, text = (k, v) => S.fmt(v, 6)) {
    const keys = Object.keys(obj || {});
    if (keys.length === 0) return h('p', { class: 'muted' }, 'none');
    return h('table', { class: 'table kv', id, 'aria-label': name },
      h('tbody', null, keys.map((k) => h('tr', null, h('th', null, k),
        h('td', { class: typeof obj[k] === 'number' ? 'num' : '' }, text(k, obj[k]))))));
  }

  /* A running trial's output is stored when it ends: until then the tail
   * is not "empty", just not kept yet. */
  function tail(title, text, id, running) {
    return h('section', { class: 'card' }, h('h3', null, title),
      /* a Tab stop, named: a box that scrolls, which the keyboard scrolls once it has the focus */
      text ? h('pre', { class: 'log', id, tabindex: 0, role: 'region', 'aria-label': title }, text)
        : h('p', { class: 'muted', id: id + '-none' }, running ? 'kept when the trial ends' : 'empty'));
  }

  K.pages.trial = function (root, page, name, number) {
    let state = null;
    let startedAt = null;   /* the trial's start, by the server's clock */
    let chart = null;
    let deleted = false;   /* the study was (study_state DELETED): no more loads */
    /* the trial, drawn anew by each load, under a live region built once,
     * which says when the study is deleted */
    const gone = liveBox('status');
    const view = h('div');
    root.append(gone.el, view);

    /* one load at a time; one asked for meanwhile runs after it */
    const load = K.serial(async () => {
      if (!page.alive()) return;
      try {
        const [t, study] = await Promise.all([K.api.trial(name, number), K.api.study(name)]);
        if (!page.alive()) return;
        state = t.state;
        startedAt = t.started_at;
        const was = chart ? K.plotKeys.held(chart) : null;
        chart = render(view, name, t, study, chart ? K.charts.hiddenSeries(chart) : null);
        if (chart) K.plotKeys.handOver(chart, was);
      } catch (e) {
        /* an alert, read out by a screen reader as the studies list's is,
         * written only when it changes: the polls load the page again */
        const said = `Cannot load trial ${number} of ${name}: ${e.message}`;
        if (page.alive() && view.textContent !== said) view.replaceChildren(h('p', { class: 'error', role: 'alert' }, said));
      }
    });
    const reload = K.throttle(load, 1000);
    /* a running trial's duration, from its start (the server's time) to
     * the server's now as the page reckons it */
    function ran() {
      const el = root.querySelector('[data-fact="duration"]');
      if (el && state === 'RUNNING' && typeof startedAt === 'number') {
        const text = S.fmtDuration(K.api.since(startedAt));
        if (el.textContent !== text) el.textContent = text;
      }
    }
    /* each second too: a trial that does not report kept the duration it
     * had when the page loaded */
    K.every(1000, page, ran);

    load();
    K.live.subscribe({
      study: name,
      onEvent(type, d) {
        if (d.study !== name) return;
        /* after its deletion, an event of the name is another study's, made again under it */
        if (deleted) { if (type !== 'study_state' || d.state !== 'DELETED') page.reload(); return; }
        if (type === 'study_state' && d.state === 'DELETED') {
          deleted = true;
          gone.say(name, () => K.study.deletedNotice(name, 'this trial'));
          return;
        }
        if (d.number !== number) return;
        if (type === 'trial_reported' && chart) {
          chart.addPoint(d.step, d.value);
          /* the header's last step follows the curve, not the page's load,
           * and its duration too (it stayed as loaded while the trial ran),
           * as the study page's table moves a running trial's */
          const last = root.querySelector('[data-fact="last step"]');
          if (last) last.textContent = S.fmt(d.step);
          ran();
        } else reload();
      },
      poll() { if (!deleted && (state === null || state === 'RUNNING')) reload(); },
    });
  };

  /* Fills root with the trial; returns its curve chart, or null when the
   * trial has no steps and is not running. hidden: the series the page's
   * last curve hid (K.charts.hiddenSeries), or null. */
  function render(root, name, t, study, hidden) {
    const metric = study.metric;
    /* a choice as the study page's charts and table name it ("3" beside 3) */
    const param = (k, v) => S.paramText(S.paramAxis(study.spec, k), v, 6);
    const base = `#/study/${encodeURIComponent(name)}`;
    const link = (n) => (n === null || n === undefined ? null : h('a', { href: `${base}/trial/${n}` }, '#' + n));
    const given = (v) => v !== null && v !== undefined;
    const curve = chartCard('Learning curve', 300);
    const hasCurve = (t.values || []).length > 0 || t.state === 'RUNNING';
    K.charts.destroyAll();
    keepFocus(root, () => fill(root,
      h('div', { class: 'page-head' },
        h('h1', null, h('a', { href: '#/' }, 'Studies'), ' / ', h('a', { href: base }, name), ' / trial #' + t.number),
        badge(t.interrupted ? 'INTERRUPTED' : t.state)),
      facts(
        fact(metric || 'value', S.fmt(t.value, 6)),
        fact('started', S.fmtTime(t.started_at)),
        fact('finished', S.fmtTime(t.finished_at)),
        fact('duration', S.fmtDuration(t.duration)),
        fact('last step', S.fmt(t.last_step)),
        t.budget > 0 ? fact('budget', S.fmt(t.budget)) : null,
        given(t.worker) ? fact('worker', String(t.worker)) : null,
        given(t.resumed_from) ? fact('resumed from', link(t.resumed_from)) : null,
        given(t.retry_of) ? fact('retry of', link(t.retry_of)) : null),
      t.failure ? h('p', { class: 'error', id: 'failure' }, 'Failure: ' + t.failure) : null,
      h('div', { class: 'grid2' },
        h('section', { class: 'card' }, h('h3', null, 'Parameters'), kvTable('params', 'Parameters', t.params, param),
          h('h3', null, 'Final metrics'), kvTable('metrics', 'Final metrics', t.metrics)),
        hasCurve ? curve.card : h('section', { class: 'card' }, h('h3', null, 'Learning curve'),
          h('p', { class: 'muted' }, 'This trial reported no intermediate steps.'))),
      h('div', { class: 'grid2' }, tail('stdout (tail)', t.stdout_tail, 'stdout', t.state === 'RUNNING'),
        tail('stderr (tail)', t.stderr_tail, 'stderr', t.state === 'RUNNING'))));
    return hasCurve ? K.charts.trialCurve(curve.canvas, t, metric, hidden) : null;
  }
})(window.K);
