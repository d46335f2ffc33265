/* app.js: the dashboard's entry point: hash routing between the pages
 *   #/                      studies list
 *   #/new                   new study form
 *   #/study/NAME            study page
 *   #/study/NAME/trial/N    trial page
 *   #/workers               workers page
 * Invariant: one page is alive at a time; routing away destroys its charts,
 * drops its live subscription and makes its page.alive() false, so answers
 * that arrive late are dropped instead of drawing on the next page. */
'use strict';
window.K = window.K || {};

(function (K) {
  const ROUTES = [
    [/^#?\/?$/, (root, page) => K.pages.studies(root, page)],
    [/^#\/new$/, (root, page) => K.pages.newStudy(root, page)],
    [/^#\/workers$/, (root, page) => K.pages.workers(root, page)],
    [/^#\/study\/([^/]+)$/, (root, page, m) => K.pages.study(root, page, decodeURIComponent(m[1]))],
    [/^#\/study\/([^/]+)\/trial\/(\d+)$/, (root, page, m) => K.pages.trial(root, page, decodeURIComponent(m[1]), Number(m[2]))],
  ];
  let generation = 0;

  function route() {
    const gen = ++generation;
    /* reload(): the page shown again from nothing, as on arriving (a
     * study made again under its name is another study) */
    const page = { alive: () => gen === generation, reload: () => { if (gen === generation) route(); } };
    K.live.subscribe(null);
    K.charts.destroyAll();
    const root = document.getElementById('app');
    root.replaceChildren();
    const hash = location.hash || '#/';
    for (const a of document.querySelectorAll('header nav a')) {
      a.classList.toggle('active', a.getAttribute('href') === (['#/new', '#/workers'].includes(hash) ? hash : '#/'));
    }
    for (const [re, show] of ROUTES) {
      const m = re.exec(hash);
      if (m) { show(root, page, m); return; }
    }
    root.append(K.dom.h('p', { class: 'error' }, 'No such page: ' + hash));
  }

  K.api.initToken(route);
  window.addEventListener('hashchange', route);
  route();
})(window.K);
