/* workers.js: the Workers page: the machines leasing trials from this server
 * (GET /api/v1/workers), with their labels, slots, GPUs, the trials they run
 * (links to the trial pages) and when each was last heard from. Polled every
 * POLL_MS while the page is alive; the registry has no events of its own. */
'use strict';
window.K = window.K || {};
K.pages = K.pages || {};

(function (K) {
  const { h, fill, keepFocus } = K.dom;
  const POLL_MS = 2000;

  function ago(t) {
    const s = Math.max(0, K.api.serverNow() - t);   /* last_seen is the server's time */
    if (s < 90) return `${s.toFixed(0)} s ago`;
    if (s < 5400) return `${(s / 60).toFixed(0)} min ago`;
    return `${(s / 3600).toFixed(1)} h ago`;
  }

  /* A worker's trial links are keyed by their place in its list, not by
   * their trial, and its name's cell stands in for them once it is idle
   * (K.dom.keepFocus): a focused link went with its trial when the worker
   * moved to the next one, and the keyboard's focus fell to the page. */
  function workerRow(w) {
    const labels = Object.entries(w.labels || {}).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`));
    const group = 'worker ' + w.id;
    const running = (w.running || []).map((l, i) => h('a', {
      class: 'lease',
      href: `#/study/${encodeURIComponent(l.study)}/trial/${l.number}`,
      title: `lease ${l.lease}`,
      dataset: { focus: `${group} trial ${i}`, focusGroup: group },
    }, `${l.study} #${l.number}`));
    return h('tr', { dataset: { worker: String(w.id) } },
      h('td', { class: 'name', tabindex: -1, dataset: { focusGroup: group } }, w.name),
      h('td', { class: 'labels' }, labels.length ? labels : '–'),
      h('td', { class: 'num slots' }, `${(w.running || []).length} / ${w.slots}`),
      h('td', { class: 'gpus' }, (w.gpus || []).length ? w.gpus.join(',') : '–'),
      h('td', { class: 'running' }, running.length ? running.flatMap((a, i) => (i ? [' ', a] : [a])) : 'idle'),
      h('td', { class: 'muted seen', title: new Date(w.last_seen * 1000).toISOString() }, ago(w.last_seen)));
  }

  K.pages.workers = function (root, page) {
    const tbody = h('tbody');
    const empty = h('p', { class: 'empty', hidden: true }, 'No worker has registered with this server. ',
      'Start one with `kestrel worker --server URL` (docs/workers.md).');
    /* an alert, built once: a screen reader reads out that the list no longer loads */
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Workers')), error, empty,
      h('div', { class: 'card table-scroll' }, h('table', { class: 'table', id: 'workers', 'aria-label': 'Workers' },
        h('thead', null, h('tr', null, ['Worker', 'Labels', 'Running / slots', 'GPUs', 'Trials',
          'Last heard'].map((t) => h('th', null, t)))),
        tbody)));

    async function load() {
      try {
        const workers = await K.api.workers();
        if (!page.alive()) return;
        error.hidden = true;
        keepFocus(tbody, () => fill(tbody, workers.map(workerRow)));
        empty.hidden = workers.length > 0;
      } catch (e) {
        if (!page.alive()) return;
        K.dom.alertText(error, 'Cannot load the workers: ' + e.message);
      }
      if (page.alive()) setTimeout(load, POLL_MS);
    }
    load();
    K.live.subscribe(null);   /* nothing of the registry is live, but the badge tells whether the server is */
  };
})(window.K);
