/* plotkeys.js: a chart's (K.Plot's) way in from the keyboard and for a
 * screen reader, beside the canvas that draws it. The legend's items are
 * buttons over their boxes (legend). The canvas itself is a Tab stop
 * (attach): Left and Right (or Up and Down) move between its points and
 * its cut labels, left to right, Home and End go to the first and last,
 * Page Up and Page Down a tenth of them at a time; the point's tooltip
 * shows beside it with a ring around it, and its text goes to a live
 * region, so a screen reader reads it; Escape (or leaving the chart)
 * hides them. A tooltip shown on hover alone left the values and a cut
 * label's whole text to a mouse. Invariant: the order is made only when a
 * key asks for it, from the last layout's pixels and the last drawing's cut
 * labels (plot.metas, plot.cutLabels), and made again once either changes;
 * the point keeps its place by its dataset and index (or the label's text). */
'use strict';
window.K = window.K || {};

(function (K) {
  let made = 0;   // ids of the hints, one per chart

  /* The legend's items as buttons over their boxes on the canvas, one
   * each, which show or hide its dataset: a click on the canvas alone
   * could not be reached with Tab nor pressed with Enter or Space. Their
   * text is the item's, for a screen reader; the canvas draws it. */
  function legend(plot) {
    const boxes = plot.legend.boxes;
    while (plot.keys.length > boxes.length) plot.keys.pop().remove();
    boxes.forEach((b, i) => {
      let key = plot.keys[i];
      if (!key) {
        const toggle = () => {
          const ds = plot.data.datasets[Number(key.dataset.index)];
          ds.hidden = !ds.hidden;
          plot.update();
        };
        key = K.dom.h('button', { type: 'button', class: 'plot-legend-key', onclick: toggle });
        plot.canvas.before(key);   /* Tab reaches the legend, drawn above the chart, before its points */
        plot.keys.push(key);
      }
      key.dataset.index = String(b.item.datasetIndex);
      key.textContent = b.item.text;
      key.title = (b.item.hidden ? 'show ' : 'hide ') + b.item.text;
      key.setAttribute('aria-pressed', String(!b.item.hidden));
      Object.assign(key.style, { left: b.x + 'px', top: b.y + 'px', width: b.w + 'px', height: b.h + 'px' });
    });
  }

  /* The points drawn (shown datasets, finite pixels) and the cut labels,
   * sorted by x then y: ds[k] is the dataset of the k-th (-1 for a cut
   * label), at[k] its index in the dataset (or in plot.cutLabels). */
  function order(plot) {
    const nav = plot.nav;
    if (nav.order && nav.order.metas === plot.metas && nav.order.cuts === plot.cutLabels) return nav.order;
    let n = plot.cutLabels.length;
    plot.metas.forEach((m, di) => {
      if (plot.data.datasets[di].hidden) return;
      for (let i = 0; i < m.px.length; i++) if (m.px[i] === m.px[i] && m.py[i] === m.py[i]) n++;
    });
    const ds = new Int32Array(n);
    const at = new Int32Array(n);
    const x = new Float32Array(n);
    const y = new Float32Array(n);
    let k = 0;
    plot.cutLabels.forEach((c, i) => { ds[k] = -1; at[k] = i; x[k] = (c.x0 + c.x1) / 2; y[k] = (c.y0 + c.y1) / 2; k++; });
    plot.metas.forEach((m, di) => {
      if (plot.data.datasets[di].hidden) return;
      for (let i = 0; i < m.px.length; i++) {
        if (m.px[i] !== m.px[i] || m.py[i] !== m.py[i]) continue;
        ds[k] = di; at[k] = i; x[k] = m.px[i]; y[k] = m.py[i]; k++;
      }
    });
    const by = new Uint32Array(n).map((v, i) => i).sort((a, b) => x[a] - x[b] || y[a] - y[b]);
    nav.order = { metas: plot.metas, cuts: plot.cutLabels, n, ds: Int32Array.from(by, (i) => ds[i]), at: Int32Array.from(by, (i) => at[i]) };
    return nav.order;
  }

  /* The place in o of what the keyboard was on (nav.on), or -1. */
  function find(plot, o) {
    const on = plot.nav.on;
    if (!on) return -1;
    for (let k = 0; k < o.n; k++) {
      if (on.ds === -1 ? o.ds[k] === -1 && plot.cutLabels[o.at[k]].text === on.text : o.ds[k] === on.ds && o.at[k] === on.at) return k;
    }
    return -1;
  }

  /* Shows the k-th of o: its tooltip, the ring around it; says its text
   * in the live region when told to (a key, not a redraw). */
  function show(plot, o, k, say) {
    const nav = plot.nav;
    const di = o.ds[k];
    const cut = di === -1 ? plot.cutLabels[o.at[k]] : null;
    const text = cut ? plot.showCut(cut) : plot.showPoint(di, o.at[k]);
    nav.on = { ds: di, at: o.at[k], text };
    const box = cut ? { left: cut.x0 - 3, top: cut.y0 - 1, width: cut.x1 - cut.x0 + 6, height: cut.y1 - cut.y0 + 2 }
      : { left: plot.metas[di].px[o.at[k]] - 7, top: plot.metas[di].py[o.at[k]] - 7, width: 14, height: 14 };
    nav.ring.classList.toggle('plot-focus-label', !!cut);
    Object.assign(nav.ring.style, { left: box.left + 'px', top: box.top + 'px', width: box.width + 'px', height: box.height + 'px' });
    nav.ring.hidden = false;
    /* a chart with a legend says which of its series the point is on
     * (the history's value, or its best so far, at one trial) */
    const series = !cut && plot.legend.legendItems.length > 1 ? plot.data.datasets[di].label + ': ' : '';
    if (say) nav.live.textContent = `${series}${text} (${k + 1} of ${o.n})`;
  }

  function hide(plot) {
    const nav = plot.nav;
    nav.ring.hidden = true;
    nav.live.textContent = '';
    if (plot.tip) plot.tip.hidden = true;
  }

  /* The place key e moves to from k in n items, or undefined when e is
   * none of the keys. */
  function moveFor(e, k, n) {
    const page = Math.max(1, Math.round(n / 10));
    switch (e.key) {
      case 'ArrowRight': case 'ArrowDown': return k < 0 ? 0 : Math.min(n - 1, k + 1);
      case 'ArrowLeft': case 'ArrowUp': return k < 0 ? n - 1 : Math.max(0, k - 1);
      case 'PageDown': return Math.min(n - 1, Math.max(0, k) + page);
      case 'PageUp': return Math.max(0, k - page);
      case 'Home': return 0;
      case 'End': return n - 1;
      default: return undefined;
    }
  }

  function onKey(plot, e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'Escape') {
      if (plot.nav.ring.hidden) return;
      e.preventDefault();
      hide(plot);
      return;
    }
    enter(plot);
    const o = order(plot);
    const to = moveFor(e, find(plot, o), o.n);
    if (to === undefined) return;
    e.preventDefault();
    if (o.n === 0) { plot.nav.live.textContent = 'no point to read'; return; }
    show(plot, o, to, true);
  }

  /* Puts the hint, the ring and the live region beside the canvas, once:
   * when the canvas first takes the focus (keys and handOver come after
   * it), not when the chart is made. Put there by attach, each chart's
   * three cost the page one frame more of style, layout, paint and
   * commit while it loaded, 6-7 ms of the main thread each (22-25 such
   * frames in a load against 14-16 before; bench/README.md, 2026-12-05,
   * session 26). The live region is in the page from the focus on,
   * before a key writes in it, so a screen reader reads what it says. */
  function enter(plot) {
    const nav = plot.nav;
    if (nav && !nav.ring.isConnected && nav.box) nav.box.append(nav.ring, nav.live, nav.hint);
  }

  /* The canvas as a Tab stop named by its card's title (aria-label, set by
   * K.dom.chartCard), with a hint, a ring and a live region beside it
   * from its first focus on (enter). */
  function attach(plot) {
    const canvas = plot.canvas;
    const box = canvas.parentNode;
    const h = K.dom.h;
    const hintId = 'plot-hint-' + ++made;
    const nav = {
      ring: h('div', { class: 'plot-focus', hidden: true }),
      live: h('p', { class: 'plot-live sr-only', role: 'status' }),
      /* hidden: read as the canvas's description alone, not once more as a paragraph after it */
      hint: h('p', { class: 'plot-hint', id: hintId, hidden: true },
        'Left and Right read its points, Home and End the first and last, Escape hides the value.'),
      box, order: null, on: null,
      onFocus: () => enter(plot),
      onKey: (e) => onKey(plot, e),
      onBlur: () => hide(plot),
      onMove: () => { nav.ring.hidden = true; },
    };
    plot.nav = nav;
    canvas.tabIndex = 0;
    canvas.setAttribute('role', 'application');
    canvas.setAttribute('aria-roledescription', 'chart');
    if (!canvas.hasAttribute('aria-label')) canvas.setAttribute('aria-label', 'chart');
    canvas.setAttribute('aria-describedby', hintId);
    canvas.addEventListener('focus', nav.onFocus);
    canvas.addEventListener('keydown', nav.onKey);
    canvas.addEventListener('blur', nav.onBlur);
    canvas.addEventListener('mousemove', nav.onMove);
  }

  /* After a drawing: the point the keyboard is on, where it now is (its
   * tooltip stays on it through a live redraw), while the chart has the
   * focus and the point is shown and still drawn. */
  function place(plot) {
    const nav = plot.nav;
    if (!nav || nav.ring.hidden) return;
    const o = order(plot);
    const k = document.activeElement === plot.canvas ? find(plot, o) : -1;
    if (k < 0) hide(plot);
    else show(plot, o, k, false);
  }

  /* What the keyboard holds in plot, for the chart built to replace it
   * (handOver): null unless its canvas has the focus; then the point
   * shown, by its series' label and its values (or a cut label by its
   * text), as a new chart's datasets and indices may differ. */
  function held(plot) {
    const nav = plot.nav;
    if (!nav || document.activeElement !== plot.canvas) return null;
    const on = nav.ring.hidden ? null : nav.on;
    if (!on || on.ds === -1) return { on: on && { text: on.text } };
    const ds = plot.data.datasets[on.ds];
    const p = ds.data.at(on.at);
    return { on: { label: ds.label, x: p.x, y: p.y } };
  }

  /* Gives plot, a chart just built in place of one that had the focus
   * (was: held(old), taken before the old one went), the focus and the
   * point the keyboard was on, its tooltip shown without being read out
   * again: the trial page builds its curve anew when the trial ends, and
   * the focus fell to the page's body and the point was lost. */
  function handOver(plot, was) {
    if (!was || !plot.nav) return;
    plot.canvas.focus({ preventScroll: true });
    enter(plot);   /* the focus event may wait for a window that has none */
    const on = was.on;
    if (!on) return;
    let di = -1;
    let at = -1;
    if (on.text === undefined) {   /* a point: the same values in the series of the same label, else none shown */
      di = plot.data.datasets.findIndex((d) => d.label === on.label);
      const data = di >= 0 ? plot.data.datasets[di].data : [];
      for (let i = 0; i < data.length && at < 0; i++) if (data.at(i).x === on.x && data.at(i).y === on.y) at = i;
      if (at < 0) return;
    }
    plot.nav.on = { ds: di, at, text: on.text };
    plot.nav.ring.hidden = false;
    place(plot);
  }

  function detach(plot) {
    const nav = plot.nav;
    for (const b of plot.keys) b.remove();
    plot.keys = [];
    if (!nav) return;
    plot.canvas.removeEventListener('focus', nav.onFocus);
    plot.canvas.removeEventListener('keydown', nav.onKey);
    plot.canvas.removeEventListener('blur', nav.onBlur);
    plot.canvas.removeEventListener('mousemove', nav.onMove);
    nav.ring.remove();
    nav.live.remove();
    nav.hint.remove();
    plot.nav = null;
  }

  K.plotKeys = { legend, attach, place, held, handOver, detach };
})(window.K);
