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
  /* [hash, page, the tab's title] */
  const ROUTES = [
    [/^#?\/?$/, (root, page) => K.pages.studies(root, page), () => 'Studies'],
    [/^#\/new$/, (root, page) => K.pages.newStudy(root, page), () => 'New study'],
    [/^#\/workers$/, (root, page) => K.pages.workers(root, page), () => 'Workers'],
    [/^#\/study\/([^/]+)$/, (root, page, m) => K.pages.study(root, page, decodeURIComponent(m[1])),
      (m) => decodeURIComponent(m[1])],
    [/^#\/study\/([^/]+)\/trial\/(\d+)$/, (root, page, m) => K.pages.trial(root, page, decodeURIComponent(m[1]), Number(m[2])),
      (m) => `${decodeURIComponent(m[1])} #${m[2]}`],
  ];
  let generation = 0;

  function route() {
    const gen = ++generation;
    /* reload(): the page shown again from nothing, as on arriving (a
     * study made again under its name is another study) */
    const page = { alive: () => gen === generation, reload: () => { if (gen === generation) route(); } };
    K.live.leave();   /* each page subscribes to what it shows */
    K.charts.destroyAll();
    const root = document.getElementById('app');
    /* a link of the page left (a study's, a trial's) goes with it: the
     * focus, on nothing, then goes to the new page's start (main, tabindex
     * -1 until it loses the focus or is clicked), where Tab goes on from,
     * not to the top of the document. Left focusable, main took the focus
     * of every click on a page's text, and Tab went back to the page's
     * start from there. */
    const lost = root.contains(document.activeElement);
    root.replaceChildren();
    if (lost) {
      root.tabIndex = -1;
      const done = () => {
        root.removeAttribute('tabindex');
        root.removeEventListener('blur', done);
        root.removeEventListener('pointerdown', done, true);
      };
      root.addEventListener('blur', done);
      root.addEventListener('pointerdown', done, true);
      root.focus({ preventScroll: true });
    }
    const hash = location.hash || '#/';
    for (const a of document.querySelectorAll('header nav a')) {
      const on = a.getAttribute('href') === (['#/new', '#/workers'].includes(hash) ? hash : '#/');
      a.classList.toggle('active', on);
      if (on) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    /* the tab's title says the page, as a screen reader does on a page change */
    for (const [re, show, title] of ROUTES) {
      const m = re.exec(hash);
      if (m) { document.title = `${title(m)} · Kestrel`; show(root, page, m); return; }
    }
    document.title = 'Kestrel';
    root.append(K.dom.h('p', { class: 'error' }, 'No such page: ' + hash));
    K.live.subscribe(null);
  }

  K.api.initToken(route);
  window.addEventListener('hashchange', route);
  route();
})(window.K);
