/* brush.js: range selection on the axes of the parallel coordinates
 * (charts.js K.charts.parallel), by pointer and by keyboard. A drag along
 * an axis keeps the trials whose line crosses it inside the dragged range
 * (on several axes: inside all of them); a click on an axis without a drag
 * clears its range. From the keyboard each axis is a button over its line,
 * which Tab reaches: Up and Down move its range (the first press takes the
 * top or bottom fifth), Shift+Up and Shift+Down widen and narrow it, Escape
 * or Delete clears it. Invariant: chart.brushes maps an axis index to
 * [lo, hi] in the chart's [0, 1], and a range ends each change by
 * chart.refresh (the selection counted, drawn and told to the page). */
'use strict';
window.K = window.K || {};

(function (K) {
  const STEP = 0.05;    // what an arrow key moves or widens a range by, of the axis' height
  const FIRST = 0.2;    // a range's height when a key starts it

  /* Pointer brushing on the chart's canvas, and its axis keys (placed by
   * place(), removed with the chart). */
  function attach(chart) {
    chart.brushes = new Map();
    chart.axisKeys = [];
    const canvas = chart.canvas;
    let drag = null;
    const axisAt = (x) => {
      const n = (chart.axisNames || []).length;
      for (let j = 0; j < n; j++) if (Math.abs(chart.scales.x.getPixelForValue(j) - x) <= 12) return j;
      return -1;
    };
    const valueAt = (y) => Math.min(1, Math.max(0, chart.scales.y.getValueForPixel(y)));
    canvas.addEventListener('pointerdown', (e) => {
      const j = axisAt(e.offsetX);
      if (j < 0) return;
      drag = { j, from: valueAt(e.offsetY), moved: false };
      canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const v = valueAt(e.offsetY);
      if (Math.abs(v - drag.from) > 0.01) drag.moved = true;
      if (!drag.moved) return;
      chart.brushes.set(drag.j, [Math.min(drag.from, v), Math.max(drag.from, v)]);
      chart.draw();
    });
    const end = () => {
      if (!drag) return;
      if (!drag.moved) chart.brushes.delete(drag.j);
      drag = null;
      chart.refresh(chart.model);
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    const destroy = chart.destroy.bind(chart);
    chart.destroy = () => {
      for (const key of chart.axisKeys) key.remove();
      chart.axisKeys = [];
      destroy();
    };
  }

  /* Axis j's range after key e, or undefined when e is none of the keys
   * (null: cleared). */
  function rangeFor(range, e) {
    if (e.key === 'Escape' || e.key === 'Delete' || e.key === 'Backspace') return null;
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return undefined;
    const up = e.key === 'ArrowUp' ? 1 : -1;
    if (!range) return up > 0 ? [1 - FIRST, 1] : [0, FIRST];
    let [lo, hi] = range;
    if (e.shiftKey) {
      /* wider (Up) or narrower (Down) about its middle, never under a step */
      if (hi - lo + up * STEP < STEP - 1e-9) return range;
      lo -= (up * STEP) / 2;
      hi += (up * STEP) / 2;
    } else {
      const by = Math.max(-lo, Math.min(1 - hi, up * STEP));
      lo += by;
      hi += by;
    }
    const clean = (v) => Number(Math.min(1, Math.max(0, v)).toFixed(9));
    return [clean(lo), clean(hi)];
  }

  function onKey(chart, j, e) {
    const range = rangeFor(chart.brushes.get(j), e);
    if (range === undefined) return;
    e.preventDefault();
    if (range === null) chart.brushes.delete(j);
    else chart.brushes.set(j, range);
    chart.refresh(chart.model);
  }

  /* A key per axis over its line, as the last layout put it; it takes
   * no pointer events, which stay the canvas's (a drag, a click). */
  function place(chart) {
    const names = chart.axisNames || [];
    const a = chart.chartArea;
    if (!a) return;
    while (chart.axisKeys.length > names.length) chart.axisKeys.pop().remove();
    names.forEach((name, j) => {
      let key = chart.axisKeys[j];
      if (!key) {
        key = K.dom.h('button', { type: 'button', class: 'plot-axis-key', dataset: { axis: String(j) },
          onkeydown: (e) => onKey(chart, j, e) });
        chart.canvas.before(key);   /* before the canvas's own Tab stop, its points (plotkeys.js) */
        chart.axisKeys.push(key);
      }
      const r = chart.brushes.get(j);
      key.textContent = `${name}: ${r ? `${Math.round(r[0] * 100)}% to ${Math.round(r[1] * 100)}% of its range selected` : 'no range selected'}`
        + ' (Up and Down move a range, Shift widens or narrows it, Escape clears it)';
      const x = chart.scales.x.getPixelForValue(j);
      const top = chart.scales.y.getPixelForValue(1);
      Object.assign(key.style, { left: x - 10 + 'px', top: top + 'px', width: '20px', height: chart.scales.y.getPixelForValue(0) - top + 'px' });
    });
  }

  K.brush = { attach, place };
})(window.K);
