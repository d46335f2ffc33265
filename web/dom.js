/* dom.js: the few DOM helpers every page uses: h() builds elements, badge()
 * shows a state. Invariant: text always goes in as text nodes, never as HTML,
 * so names, parameters and log tails from the API cannot inject markup. */
'use strict';
window.K = window.K || {};

(function (K) {
  /* h('a', {href: '#/', class: 'x', onclick: fn, dataset: {k: v}}, child...):
   * children are nodes, strings (text) or arrays of them; null is skipped. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function badge(state) {
    return h('span', { class: 'badge state-' + String(state).toLowerCase() }, state);
  }

  /* A card holding one chart: a titled box with a canvas of the given
   * height, named by the title for a screen reader (K.plotKeys). */
  function chartCard(titleText, height, note) {
    const canvas = h('canvas', { 'aria-label': titleText });
    const card = h('section', { class: 'card chart-card' },
      h('h3', null, titleText),
      note ? h('p', { class: 'note' }, note) : null,
      h('div', { class: 'chart-box', style: `height:${height}px` }, canvas));
    return { card, canvas };
  }

  /* One labelled figure of a page's header, a term and its definition in
   * the header's list (facts(): a screen reader reads each figure with its
   * name, where spans read as one run of words, 'trials 30 running 0');
   * its value is found by [data-fact="k"] (the live updates and the
   * browser tests read it). */
  function fact(k, v) {
    return h('div', { class: 'fact' }, h('dt', { class: 'fact-k' }, k), h('dd', { class: 'fact-v', dataset: { fact: k } }, v));
  }

  /* A page header's figures (fact(), null skipped) as one list. */
  function facts(...items) {
    return h('dl', { class: 'facts' }, items);
  }

  /* Runs redraw(), which builds el's children anew, and gives the
   * keyboard's focus back to the new control that stands for the one that
   * had it (same data-focus key, else same id, else same tag, link and
   * text; failing all, the first control of its data-focus-group): a live
   * list redrawn every second or two took a focused link away, and a
   * keyboard user's Tab began again at the top of the page and Enter did
   * nothing. A control whose link or text a redraw changes (a best link,
   * when a new best arrives) carries a data-focus key, unique within el,
   * that stays; one that a redraw may remove (a worker's trial link, once
   * the worker is idle) names a group whose other controls (its row's
   * cell, tabindex -1) take the focus then. */
  const FOCUSABLE = 'a[href], button, summary, select, input, textarea, [tabindex]';
  const focusKey = (e) => (e.dataset.focus ? 'key|' + e.dataset.focus : e.id ? 'id|' + e.id
    : [e.tagName, e.getAttribute('href') || '', e.textContent].join('|'));
  function keepFocus(el, redraw) {
    const had = document.activeElement;
    const inside = had && had !== el && el.contains(had);
    const key = inside ? focusKey(had) : null;
    const group = inside ? had.dataset.focusGroup : undefined;
    const result = redraw();
    if (key !== null && !el.contains(document.activeElement)) {
      const all = Array.from(el.querySelectorAll(FOCUSABLE));
      const same = all.find((e) => focusKey(e) === key)
        || (group !== undefined ? all.find((e) => e.dataset.focusGroup === group) : undefined);
      if (same) same.focus({ preventScroll: true });
    }
    return result;
  }

  /* Buttons enabled together, as one group: set(on0, on1, ...) enables
   * each as told. A focused one disabled hands the focus to the first one
   * enabled, now or by a later set() while nothing else took it: the
   * browser drops a disabled button's focus (Next on the last page, Stop
   * once pressed), its outline went and Enter did nothing. */
  function buttonGroup(...buttons) {
    let lost = false;
    return (...on) => {
      const active = document.activeElement;
      buttons.forEach((b, i) => {
        if (!on[i] && b === active) lost = true;
        b.disabled = !on[i];
      });
      if (!lost) return;
      const now = document.activeElement;
      if (now && now !== document.body && !buttons.includes(now)) { lost = false; return; }
      const to = buttons.find((b, i) => on[i]);
      if (to) { to.focus(); lost = false; }
    };
  }

  /* A live region (role 'alert' or 'status') that a screen reader reads
   * out when what it shows changes: say(key, make) fills it with make()'s
   * nodes (none for a null key) only when key differs from the last one.
   * A message rebuilt with a page's live redraw (every half second) was
   * either never read out, or, with a role of its own, read out again at
   * each redraw. tag: the region's element, a div unless told (a span
   * beside buttons). */
  function liveBox(role, tag = 'div') {
    const el = h(tag, { role });
    let shown = null;
    const say = (key, make) => {
      if (key === shown) return;
      shown = key;
      fill(el, key === null ? null : make());
    };
    return { el, say };
  }

  /* Shows text in el, a live region kept hidden while it has nothing to
   * say, writing it only when it changes: a page that polls every 2 s
   * wrote the same error again at each failed poll, which a screen reader
   * may read out each time. */
  function alertText(el, text) {
    if (el.textContent !== text) el.textContent = text;
    el.hidden = false;
  }

  /* Replaces el's children; like h(), skips null children. */
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }

  K.dom = { h, fill, keepFocus, buttonGroup, liveBox, alertText, badge, chartCard, fact, facts };
})(window.K);
