/* plot.js: the dashboard's charts, drawn on a canvas by the dashboard
 * itself. Chart.js, which drew them before, creates an element per point
 * and resolves its options: 130-630 ms for the first build of each
 * 10,000-point chart. This lays out a dataset as two Float32Arrays of
 * pixels and draws it in one path. It takes the part of Chart.js's configuration that charts.js uses
 * (types scatter, line and bar; the dataset, scale, legend, title, tooltip
 * and plugin options named below), so a chart reads as it did, and it shows
 * what charts.js, the bench and the tests read (data, options, scales,
 * chartArea, legend.legendItems, getDatasetMeta(i).data.length). A
 * dataset's data is an array of points ({x, y, ...}) or K.Plot.Columns,
 * its points as typed arrays: a chart of tens of thousands of points then
 * makes no object per point (data.at(i) reads point i either way).
 * Invariant: layout() computes every pixel from data and options, render()
 * only draws what the last layout() computed; neither makes an object per
 * point. Datasets are drawn in index order (the last on top) unless a
 * dataset's `order` says otherwise (lower first). */
'use strict';
window.K = window.K || {};

(function (K) {
  const S = K.stats;
  const TEXT = '#374151';
  const GRID = 'rgba(0,0,0,0.1)';
  const TICK_PX = 12;      // tick label font size
  const LEGEND_ROW = 18;
  const TITLE_ROW = 22;
  const TICK_GAP = 11;     // from the chart area to a tick label, as Chart.js's tick mark and padding
  const PIECE = 5000;      // points drawn by one of renderJobs' jobs
  const EDGE = 4;          // the least room between a tick label and the canvas's edge

  /* A "nice" step (1, 2 or 5 times a power of ten) near range. */
  function niceStep(range) {
    const e = Math.floor(Math.log10(range));
    const f = range / 10 ** e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * 10 ** e;
  }

  const clean = (v) => Number(v.toPrecision(12));

  /* text as drawn in at most room pixels with ctx's font: whole, or its
   * longest start that fits with an ellipsis (a search over its length). */
  function fitText(ctx, text, room) {
    if (ctx.measureText(text).width <= room) return text;
    let lo = 0;
    let hi = text.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + '…').width <= room) lo = mid;
      else hi = mid - 1;
    }
    return text.slice(0, lo) + '…';
  }

  /* One axis. lo, hi: its range in drawn units (log10 of the value on a log
   * axis); ticks: [{value, label}], value in data units. */
  class Scale {
    constructor(chart, id, horizontal) {
      this.chart = chart;
      this.id = id;
      this.horizontal = horizontal;
      this.ticks = [];
      this.lo = 0;
      this.hi = 1;
      this.left = this.right = this.top = this.bottom = 0;
    }

    get options() { return this.chart.options.scales[this.id] || {}; }

    get log() { return this.options.type === 'logarithmic'; }

    tf(v) { return this.log ? (v > 0 ? Math.log10(v) : NaN) : v; }

    getPixelForValue(v) {
      const t = S.frac(this.tf(v), this.lo, this.hi);
      const f = this.options.reverse ? 1 - t : t;
      return this.horizontal ? this.left + f * (this.right - this.left) : this.bottom - f * (this.bottom - this.top);
    }

    getValueForPixel(p) {
      let f = this.horizontal ? (p - this.left) / (this.right - this.left) : (this.bottom - p) / (this.bottom - this.top);
      if (this.options.reverse) f = 1 - f;
      const u = S.lerp(f, this.lo, this.hi);
      return this.log ? 10 ** u : u;
    }

    /* The range from the data (lo, hi in drawn units, NaN when none) and
     * the options, then the ticks for an axis `length` pixels long; an
     * axis without a fixed bound ends on a tick. */
    fit(lo, hi, length) {
      const o = this.options;
      const fixedLo = typeof o.min === 'number';
      const fixedHi = typeof o.max === 'number';
      if (fixedLo) lo = this.tf(o.min);
      if (fixedHi) hi = this.tf(o.max);
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = Number.isFinite(lo) ? lo : Number.isFinite(hi) ? hi - 1 : 0; hi = lo + 1; }
      if (hi === lo) { lo -= fixedLo ? 0 : this.log ? 0.5 : Math.abs(lo) * 0.05 || 0.5; hi += fixedHi ? 0 : this.log ? 0.5 : Math.abs(hi) * 0.05 || 0.5; }
      /* one value within 5% of the largest double widens past it (1.75e308
       * to Infinity): the axis ended at Infinity, with no tick */
      lo = Math.max(lo, -Number.MAX_VALUE);
      hi = Math.min(hi, Number.MAX_VALUE);
      const most = Math.max(2, Math.min(11, Math.floor(length / (this.horizontal ? 70 : 36))));
      let values = [];
      if (this.chart.category === this.id) {
        values = this.chart.data.labels.map((l, i) => i);
      } else if (this.log) {
        if (!fixedLo) lo = Math.floor(lo);
        if (!fixedHi) hi = Math.ceil(hi);
        const decades = hi - lo;
        const every = Math.max(1, Math.ceil(decades / most));
        const mult = decades <= 2 ? [1, 2, 5] : [1];
        for (let k = Math.floor(lo); k <= Math.ceil(hi); k += every) {
          for (const m of mult) {
            const u = Math.log10(m) + k;
            if (u >= lo - 1e-9 && u <= hi + 1e-9) values.push(clean(m * 10 ** k));
          }
        }
      } else {
        /* a step past the largest double is none (values from -1.7e308
         * to 1.7e308: (hi - lo) / 1 was Infinity and no tick was made):
         * then more, smaller steps */
        let parts = most - 1;
        let step = niceStep(hi / parts - lo / parts);
        while (!Number.isFinite(step) && parts < 64) { parts++; step = niceStep(hi / parts - lo / parts); }
        if (o.ticks && o.ticks.precision === 0) step = Math.max(1, Math.round(step));
        /* out to a tick, unless that tick is past the largest double:
         * 1.7e308 rounded up to 2e308, Infinity, and the loop below made
         * ticks until the array was too long (the study page did not load) */
        const out = (v, round) => { const t = round(clean(v / step)) * step; return Number.isFinite(t) ? t : v; };
        if (!fixedLo) lo = out(lo, Math.floor);
        if (!fixedHi) hi = out(hi, Math.ceil);
        /* hi + a hair past the largest double is Infinity, which every k * step is below */
        const top = Math.min(hi + step * 1e-9, Number.MAX_VALUE);
        for (let k = Math.ceil(clean(lo / step)); k * step <= top; k++) values.push(clean(k * step));
      }
      this.lo = lo;
      this.hi = hi;
      this.ticks = values.map((value) => ({ value }));
      if (o.afterBuildTicks) o.afterBuildTicks(this);
      const cb = o.ticks && o.ticks.callback;
      this.ticks.forEach((t, i) => {
        const s = this.chart.category === this.id && !cb ? this.chart.data.labels[t.value]
          : cb ? cb.call(this, t.value, i, this.ticks) : S.fmt(t.value, 4);
        t.label = s === undefined || s === null ? '' : String(s);
      });
    }

    /* Which labels are drawn: every one, or every k-th when they would overlap. */
    shown(ctx) {
      const n = this.ticks.length;
      if (n === 0 || (this.options.ticks && this.options.ticks.autoSkip === false)) return this.ticks.map(() => true);
      const length = this.horizontal ? this.right - this.left : this.bottom - this.top;
      const size = this.horizontal ? Math.max(...this.ticks.map((t) => ctx.measureText(t.label).width)) + 8 : TICK_PX + 4;
      const every = Math.max(1, Math.ceil((size * n) / Math.max(1, length)));
      return this.ticks.map((t, i) => i % every === 0);
    }

    /* Labels wider than room pixels cut with an ellipsis (t.full keeps the
     * whole one): a category of 200 characters left room for no other
     * label on its axis, and pushed the chart off the canvas. */
    cut(ctx, room) {
      for (const t of this.ticks) {
        t.full = t.label;
        t.label = fitText(ctx, t.label, room);
      }
    }
  }

  /* A dataset's points as columns: x and y (Float64Arrays, NaN where a
   * line breaks, as a null y in an array of points) and what the tooltip
   * reads of point i, made only when it asks (point(i), by at(i) as an
   * array's). */
  class Columns {
    constructor(n, point) {
      this.length = n;
      this.x = new Float64Array(n);
      this.y = new Float64Array(n);
      this.point = point;
    }

    at(i) {
      const y = this.y[i];
      return Object.assign({ x: this.x[i], y: y === y ? y : null }, this.point(i));
    }
  }

  class Plot {
    /* canvas: in a sized box (the page's .chart-box); config: {type, data:
     * {datasets, labels}, options, plugins: [{beforeDatasetsDraw(chart),
     * afterDatasetsDraw(chart)}]}. Draws nothing until update() or
     * layout() and render(). */
    constructor(canvas, config) {
      this.canvas = canvas;
      this.shown = canvas.getContext('2d');
      /* drawn here, then shown on the canvas in one copy (see renderJobs) */
      this.back = document.createElement('canvas');
      this.ctx = this.back.getContext('2d', { willReadFrequently: true });
      this.drawing = 0;   // which render draws: an older one's jobs stop
      this.config = config;
      this.type = config.type;
      this.data = config.data;
      this.options = config.options || {};
      this.options.scales = this.options.scales || {};
      this.plugins = config.plugins || [];
      this.horizontalBars = this.type === 'bar' && this.options.indexAxis === 'y';
      /* a bar chart's category axis: its ticks are data.labels */
      this.category = this.type === 'bar' ? (this.horizontalBars ? 'y' : 'x') : null;
      if (this.type === 'bar') {
        const c = this.category;
        this.options.scales[c] = Object.assign({ grid: { display: false } }, this.options.scales[c], this.horizontalBars ? { reverse: true } : {});
      }
      /* x, and every other scale a y axis (a dataset names its own with yAxisID) */
      this.scales = { x: new Scale(this, 'x', true), y: new Scale(this, 'y', false) };
      for (const id of Object.keys(this.options.scales)) if (!this.scales[id]) this.scales[id] = new Scale(this, id, false);
      this.metas = [];
      this.legend = { legendItems: [], boxes: [] };
      this.chartArea = null;
      this.width = 0;
      this.height = 0;
      this.font = (getComputedStyle(document.body).fontFamily || 'system-ui, sans-serif');
      this.tip = null;
      this.blank = null;   // the element say() shows
      this.cutLabels = [];   // the boxes of labels drawn cut, with their whole text (cutLabel)
      this.keys = [];   // the legend's buttons (K.plotKeys.legend)
      this.onMove = (e) => this.hover(e.offsetX, e.offsetY);
      this.onLeave = () => this.hover(null, null);
      canvas.addEventListener('mousemove', this.onMove);
      canvas.addEventListener('mouseleave', this.onLeave);
      K.plotKeys.attach(this);   /* its points and cut labels, from the keyboard */
      /* a new size is laid out and drawn again, once a layout exists */
      this.resize = new ResizeObserver(() => {
        if (!this.chartArea) return;
        const box = this.box();
        if (box[0] !== this.width || box[1] !== this.height) this.update();
      });
      if (canvas.parentNode) this.resize.observe(canvas.parentNode);
    }

    box() {
      const p = this.canvas.parentNode;
      const w = (p && p.clientWidth) || this.canvas.clientWidth || 300;
      const h = (p && p.clientHeight) || this.canvas.clientHeight || 150;
      return [w, h];
    }

    fontOf(size, weight) {
      return `${weight || ''} ${size}px ${this.font}`;
    }

    getDatasetMeta(i) {
      return this.metas[i] || { data: { length: 0 } };
    }

    update() {
      this.layout();
      this.render();
    }

    draw() {
      this.render();
    }

    destroy() {
      this.resize.disconnect();
      this.canvas.removeEventListener('mousemove', this.onMove);
      this.canvas.removeEventListener('mouseleave', this.onLeave);
      K.plotKeys.detach(this);
      if (this.tip) this.tip.remove();
      this.tip = null;
      if (this.blank) this.blank.remove();
      this.blank = null;
      this.metas = [];
      this.drawing++;
    }

    /* The legend's items: datasets with a label, as the legend's filter
     * keeps them (Chart.js's labels.filter(item, data)). */
    legendItems() {
      const lg = (this.options.plugins || {}).legend || {};
      if (lg.display === false || this.type === 'bar') return [];
      const filter = lg.labels && lg.labels.filter;
      return this.data.datasets.map((ds, i) => ({ text: ds.label, datasetIndex: i, hidden: !!ds.hidden,
        fillStyle: ds.backgroundColor || ds.pointBackgroundColor || ds.borderColor || TEXT }))
        .filter((item) => item.text && (!filter || filter(item, this.data)));
    }

    titleOf() {
      const t = (this.options.plugins || {}).title;
      return t && t.display && t.text ? t : null;
    }

    /* What a chart without data says in place of its axes
     * (options.plugins.empty: {display, text}), or null: axes fitted to
     * nothing run from 0 to 1 and their ticks read as data. */
    emptyOf() {
      const e = (this.options.plugins || {}).empty;
      return e && e.display && e.text ? e.text : null;
    }

    /* Shows text (null: nothing) over the chart's box, as a DOM element, so
     * a screen reader and a search find it too. */
    say(text) {
      if (!this.blank) {
        if (text === null) return;
        this.blank = document.createElement('p');
        this.blank.className = 'plot-empty';
        this.canvas.parentNode.append(this.blank);
      }
      this.blank.hidden = text === null;
      if (text !== null && this.blank.textContent !== text) this.blank.textContent = text;
    }

    /* The data's range along one axis, in the scale's drawn units (NaN
     * when there is none): one pass over the raw values, a log once. */
    extentOf(axis) {
      if (this.category === axis) return [-0.5, this.data.labels.length - 0.5];
      /* both bounds given: the data cannot move the range (the parallel
       * coordinates' 40,000 points were scanned twice a layout for nothing) */
      const o = this.scales[axis].options;
      if (typeof o.min === 'number' && typeof o.max === 'number') return [NaN, NaN];
      const log = this.scales[axis].log;
      let lo = Infinity;
      let hi = -Infinity;
      for (const ds of this.data.datasets) {
        if (ds.hidden || (axis !== 'x' && (ds.yAxisID || 'y') !== axis)) continue;
        const d = ds.data;
        const col = d instanceof Columns ? (axis === 'x' ? d.x : d.y) : null;
        for (let i = 0; i < d.length; i++) {
          const v = col ? col[i] : this.category ? d[i] : axis === 'x' ? d[i].x : d[i].y;
          if (v !== v) continue;
          if (v === null || v === undefined || (log && !(v > 0))) continue;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      /* bars grow from zero */
      if (this.category && !log) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
      if (lo === Infinity) return [NaN, NaN];
      return log ? [Math.log10(lo), Math.log10(hi)] : [lo, hi];
    }

    layout() {
      const [w, h] = this.box();
      const dpr = window.devicePixelRatio || 1;
      this.width = w;
      this.height = h;
      if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
      if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
      if (this.back.width !== this.canvas.width) this.back.width = this.canvas.width;
      if (this.back.height !== this.canvas.height) this.back.height = this.canvas.height;
      this.canvas.style.width = w + 'px';
      this.canvas.style.height = h + 'px';
      this.dpr = dpr;
      const ctx = this.ctx;
      const pad = Object.assign({ top: 0, bottom: 0, left: 0, right: 0 }, (this.options.layout || {}).padding);
      let top = pad.top + 4 + (this.titleOf() ? TITLE_ROW : 0);
      /* the legend: rows of [box, text] centred over the chart */
      ctx.font = this.fontOf(TICK_PX);
      const items = this.legendItems();
      const rows = [];
      let row = [];
      let rowW = 0;
      for (const item of items) {
        const iw = 12 + 6 + ctx.measureText(item.text).width + 12;
        if (row.length && rowW + iw > w - 20) { rows.push([row, rowW]); row = []; rowW = 0; }
        row.push([item, iw]);
        rowW += iw;
      }
      if (row.length) rows.push([row, rowW]);
      this.legend = { legendItems: items, boxes: [] };
      rows.forEach(([r, rw], k) => {
        let x = (w - rw) / 2;
        for (const [item, iw] of r) {
          this.legend.boxes.push({ item, x, y: top + k * LEGEND_ROW, w: iw, h: LEGEND_ROW });
          x += iw;
        }
      });
      K.plotKeys.legend(this);
      top += rows.length * LEGEND_ROW + (rows.length ? 4 : 0);
      const xo = this.options.scales.x || {};
      const titled = (o) => o.title && o.title.display && o.title.text;
      const xh = xo.display === false ? 0 : TICK_GAP + TICK_PX + 4 + (titled(xo) ? 18 : 0);
      const bottom = h - pad.bottom - xh - 2;
      /* y axes: the left ones stacked leftwards from the chart area, the
       * right ones rightwards; each as wide as its labels and title */
      const ys = Object.values(this.scales).filter((sc) => !sc.horizontal);
      let leftW = 0;
      let rightW = 0;
      for (const sc of ys) {
        const [lo, hi] = this.extentOf(sc.id);
        sc.fit(lo, hi, bottom - top);
        sc.cut(ctx, Math.max(60, 0.3 * w));
        sc.width = !this.shows(sc) ? 0
          : Math.max(0, ...sc.ticks.map((t) => ctx.measureText(t.label).width)) + TICK_GAP + 2 + (titled(sc.options) ? 18 : 0);
        if (sc.options.position === 'right') rightW += sc.width;
        else leftW += sc.width;
      }
      const left = pad.left + leftW + 2;
      const right = w - pad.right - Math.max(10, rightW);
      let l = left;
      let r = right;
      for (const sc of ys) {
        if (sc.options.position === 'right') { Object.assign(sc, { left: r, right: r + sc.width }); r += sc.width; } else { Object.assign(sc, { left: l - sc.width, right: l }); l -= sc.width; }
        Object.assign(sc, { top, bottom });
      }
      const [xlo, xhi] = this.extentOf('x');
      this.scales.x.fit(xlo, xhi, right - left);
      /* each label within its share of the axis, less the gap shown() keeps */
      this.scales.x.cut(ctx, Math.max(40, (right - left) / Math.max(1, this.scales.x.ticks.length) - 10));
      this.chartArea = { left, top, right, bottom, width: right - left, height: bottom - top };
      Object.assign(this.scales.x, { left, right, top: bottom, bottom: h - pad.bottom });
      this.metas = this.data.datasets.map((ds) => this.project(ds));
    }

    /* A dataset's points in pixels: NaN where a point is not drawn (a null,
     * a gap, a non-positive value on a log axis). */
    project(ds) {
      const n = ds.data.length;
      const px = new Float32Array(n);
      const py = new Float32Array(n);
      const xa = this.scaleMap(this.scales.x);
      const ya = this.scaleMap(this.scales[ds.yAxisID || 'y'] || this.scales.y);
      if (ds.data instanceof Columns) {
        /* NaN maps to NaN: a break stays one */
        const { x, y } = ds.data;
        for (let i = 0; i < n; i++) {
          px[i] = xa(x[i]);
          py[i] = ya(y[i]);
        }
        return { data: { length: n }, px, py };
      }
      for (let i = 0; i < n; i++) {
        const p = ds.data[i];
        let u;
        let v;
        if (this.category) {
          [u, v] = this.horizontalBars ? [p, i] : [i, p];
        } else {
          u = p.x;
          v = p.y;
        }
        px[i] = u === null || u === undefined ? NaN : xa(u);
        py[i] = v === null || v === undefined ? NaN : ya(v);
      }
      return { data: { length: n }, px, py };
    }

    /* getPixelForValue without the per-call option lookups; a range
     * wider than the largest double in halves (h, as S.frac) */
    scaleMap(s) {
      const log = s.log;
      const h = S.half(s.lo, s.hi);
      const k = (s.horizontal ? s.right - s.left : s.top - s.bottom) / (s.hi * h - s.lo * h) * (s.options.reverse ? -1 : 1);
      const o = s.options.reverse ? (s.horizontal ? s.right : s.top) : (s.horizontal ? s.left : s.bottom);
      const lo = s.lo * h;
      return log ? (v) => (v > 0 ? o + (Math.log10(v) - lo) * k : NaN) : (v) => o + (v * h - lo) * k;
    }

    render() {
      for (const job of this.renderJobs(false)) job();
    }

    /* render() as jobs, for a caller that runs each in a task of its own:
     * the frame (title, legend, axes, the plugins' underlay), the datasets
     * in pieces of about PIECE points, then the overlay and a copy of the
     * whole drawing to the canvas shown. Drawn in one task, the parallel
     * coordinates' 40,000 points were rasterized in 60-200 ms at the
     * task's end (10,000 of them in 30-80 ms at load 9-14); sliced, each piece's job rasterizes its points at once
     * (a read of one pixel), and the chart shown never holds half a
     * drawing. A render begun later stops the jobs of an earlier one. An
     * empty chart (emptyOf) is one job: a blank canvas and its text. */
    renderJobs(sliced) {
      if (!this.chartArea) return [];
      const gen = ++this.drawing;
      const mine = (f) => () => { if (gen === this.drawing) f(); };
      const show = (empty) => {
        const shown = this.shown;
        shown.setTransform(1, 0, 0, 1, 0, 0);
        shown.clearRect(0, 0, this.canvas.width, this.canvas.height);
        if (!empty) shown.drawImage(this.back, 0, 0);
        this.say(empty);
        K.plotKeys.place(this);   /* the keyboard's point where this drawing put it */
      };
      const empty = this.emptyOf();
      if (empty) return [mine(() => show(empty))];
      const flush = () => { if (sliced) this.ctx.getImageData(0, 0, 1, 1); };
      const jobs = [mine(() => { this.drawFrame(); flush(); })];
      const order = this.data.datasets.map((ds, i) => i)
        .sort((i, j) => (this.data.datasets[i].order || 0) - (this.data.datasets[j].order || 0) || i - j);
      let pieces = [];
      let size = 0;
      const job = () => {
        const mineNow = pieces;
        jobs.push(mine(() => { this.drawPieces(mineNow); flush(); }));
        pieces = [];
        size = 0;
      };
      for (const i of order) {
        const ds = this.data.datasets[i];
        const m = this.metas[i];
        if (ds.hidden || !m) continue;
        for (let from = 0; from < m.px.length;) {
          const to = Math.min(m.px.length, from + PIECE - size);
          pieces.push([ds, m, from, to]);
          size += to - from;
          from = to;
          if (size >= PIECE) job();
        }
      }
      if (pieces.length) job();
      jobs.push(mine(() => {
        for (const p of this.plugins) if (p.afterDatasetsDraw) p.afterDatasetsDraw(this);
        show(null);
      }));
      return jobs;
    }

    drawFrame() {
      const ctx = this.ctx;
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      ctx.clearRect(0, 0, this.width, this.height);
      this.cutLabels = [];
      const title = this.titleOf();
      ctx.textBaseline = 'middle';
      if (title) {
        ctx.font = this.fontOf(TICK_PX + 1, '600');
        ctx.fillStyle = title.color || TEXT;
        ctx.textAlign = 'center';
        ctx.fillText(title.text, this.width / 2, 4 + (this.options.layout && this.options.layout.padding
          ? this.options.layout.padding.top || 0 : 0) + TITLE_ROW / 2);
      }
      ctx.font = this.fontOf(TICK_PX);
      ctx.textAlign = 'left';
      for (const b of this.legend.boxes) {
        ctx.globalAlpha = b.item.hidden ? 0.35 : 1;
        ctx.fillStyle = b.item.fillStyle;
        ctx.fillRect(b.x, b.y + 3, 12, 12);
        ctx.fillStyle = TEXT;
        ctx.fillText(b.item.text, b.x + 18, b.y + 9);
      }
      ctx.globalAlpha = 1;
      for (const sc of Object.values(this.scales)) if (this.shows(sc)) this.drawAxis(sc);
      for (const p of this.plugins) if (p.beforeDatasetsDraw) p.beforeDatasetsDraw(this);
    }

    /* Points [from, to) of datasets, inside the chart area. */
    drawPieces(pieces) {
      const ctx = this.ctx;
      const a = this.chartArea;
      ctx.save();
      ctx.beginPath();
      ctx.rect(a.left - 4, a.top - 4, a.width + 8, a.height + 8);
      ctx.clip();
      for (const [ds, m, from, to] of pieces) {
        if (this.type === 'bar') this.drawBars(ds, m, from, to);
        else {
          if (ds.showLine !== undefined ? ds.showLine : this.type === 'line') this.drawLine(ds, m, from, to);
          this.drawPoints(ds, m, from, to);
        }
      }
      ctx.restore();
    }

    /* Whether an axis is drawn: display 'auto' while a shown dataset uses it. */
    shows(sc) {
      const d = sc.options.display;
      if (d === false) return false;
      return d !== 'auto' || this.data.datasets.some((ds) => !ds.hidden && (ds.yAxisID || 'y') === sc.id);
    }

    drawAxis(s) {
      const o = s.options;
      const right = o.position === 'right';
      const ctx = this.ctx;
      const a = this.chartArea;
      ctx.font = this.fontOf(TICK_PX);   // shown() measures the labels in it
      const shown = s.shown(ctx);
      ctx.fillStyle = TEXT;
      ctx.strokeStyle = GRID;
      ctx.lineWidth = 1;
      const grid = !o.grid || o.grid.display !== false;
      const across = !o.grid || o.grid.drawOnChartArea !== false;
      ctx.beginPath();
      s.ticks.forEach((t, i) => {
        const p = Math.round(s.getPixelForValue(t.value)) + 0.5;
        if (!Number.isFinite(p)) return;
        if (grid) {
          if (s.horizontal) { ctx.moveTo(p, across ? a.top : a.bottom); ctx.lineTo(p, a.bottom + 8); } else if (right) { ctx.moveTo(across ? a.left : a.right, p); ctx.lineTo(a.right + 8, p); } else { ctx.moveTo(a.left - 8, p); ctx.lineTo(across ? a.right : a.left, p); }
        }
        if (!shown[i] || !t.label) return;
        if (s.horizontal) {
          /* the outer labels move inwards, whole: a label centred on the
           * last tick ran off the canvas (1e+308 read 1e+3) */
          const half = ctx.measureText(t.label).width / 2 + EDGE;
          this.drawLabel(t, Math.max(half, Math.min(this.width - half, p)), a.bottom + TICK_GAP + TICK_PX / 2, 'center');
        } else {
          this.drawLabel(t, right ? s.left + TICK_GAP : s.right - TICK_GAP, p, right ? 'left' : 'right');
        }
      });
      ctx.stroke();
      if (!o.title || !o.title.display || !o.title.text) return;
      ctx.font = this.fontOf(TICK_PX, '600');
      ctx.textAlign = 'center';
      if (s.horizontal) {
        ctx.fillText(o.title.text, (a.left + a.right) / 2, a.bottom + TICK_GAP + TICK_PX + 13);
      } else {
        ctx.save();
        ctx.translate(right ? s.right - 9 : s.left + 9, (a.top + a.bottom) / 2);
        ctx.rotate(right ? Math.PI / 2 : -Math.PI / 2);
        ctx.fillText(o.title.text, 0, 0);
        ctx.restore();
      }
    }

    /* A tick's label at (x, y), its box kept when it was cut (Scale.cut). */
    drawLabel(t, x, y, align) {
      this.ctx.textAlign = align;
      this.ctx.fillText(t.label, x, y);
      if (t.full !== undefined && t.full !== t.label) this.keepCut(t.label, t.full, x, y, align);
    }

    /* text cut to room pixels with the current font, for a label drawn at
     * (x, y) with align; when cut, its box and whole text are kept, and a
     * hover over it shows the whole text (plugins' labels use it too). */
    cutLabel(text, room, x, y, align) {
      const shown = fitText(this.ctx, text, room);
      if (shown !== text) this.keepCut(shown, text, x, y, align);
      return shown;
    }

    keepCut(shown, text, x, y, align) {
      const w = this.ctx.measureText(shown).width;
      const x0 = align === 'center' ? x - w / 2 : align === 'right' ? x - w : x;
      this.cutLabels.push({ x0, x1: x0 + w, y0: y - TICK_PX / 2 - 2, y1: y + TICK_PX / 2 + 2, text });
    }

    /* One path for the dataset's polyline, broken at undrawn points; steps
     * as Chart.js draws them ('before': along x first, 'after': along y).
     * A point within half a pixel of the last one drawn is left out unless
     * a stretch of the line ends there: the EDF's 10,000 steps of width 2
     * rasterized in 60-600 ms, its steps of a pixel or more in 3-6. */
    drawLine(ds, m, from, to) {
      const ctx = this.ctx;
      const { px, py } = m;
      ctx.lineWidth = ds.borderWidth === undefined ? 3 : ds.borderWidth;
      if (ctx.lineWidth <= 0) return;
      ctx.strokeStyle = ds.borderColor || TEXT;
      ctx.lineCap = ds.borderCapStyle || 'butt';
      ctx.lineJoin = 'miter';
      const step = ds.stepped;
      ctx.beginPath();
      let pen = false;
      let lx = 0;    // the last point drawn
      let ly = 0;
      /* from the piece before's last point: the line goes on unbroken */
      for (let i = Math.max(0, from - 1); i < to; i++) {
        const x = px[i];
        const y = py[i];
        if (x !== x || y !== y) { pen = false; continue; }
        if (!pen) ctx.moveTo(x, y);
        else if (Math.abs(x - lx) < 0.5 && Math.abs(y - ly) < 0.5 && i + 1 < to && px[i + 1] === px[i + 1] && py[i + 1] === py[i + 1]) continue;
        else if (step === 'before' || step === true) { ctx.lineTo(x, ly); ctx.lineTo(x, y); } else if (step === 'after') { ctx.lineTo(lx, y); ctx.lineTo(x, y); } else ctx.lineTo(x, y);
        pen = true;
        lx = x;
        ly = y;
      }
      ctx.stroke();
    }

    /* Points of radius up to 1.5 without a border are squares (a fill per
     * point, no path); others one path of circles, filled then outlined. */
    drawPoints(ds, m, from, to) {
      const r = ds.pointRadius === undefined ? 3 : ds.pointRadius;
      if (!(r > 0)) return;
      const ctx = this.ctx;
      const { px, py } = m;
      const bw = ds.pointBorderWidth === undefined ? 1 : ds.pointBorderWidth;
      ctx.fillStyle = ds.pointBackgroundColor || ds.backgroundColor || TEXT;
      if (r <= 1.5 && bw === 0) {
        const d = 2 * r;
        for (let i = from; i < to; i++) {
          if (px[i] === px[i] && py[i] === py[i]) ctx.fillRect(px[i] - r, py[i] - r, d, d);
        }
        return;
      }
      ctx.beginPath();
      for (let i = from; i < to; i++) {
        if (px[i] !== px[i] || py[i] !== py[i]) continue;
        ctx.moveTo(px[i] + r, py[i]);
        ctx.arc(px[i], py[i], r, 0, 2 * Math.PI);
      }
      ctx.fill();
      if (bw > 0) {
        ctx.lineWidth = bw;
        ctx.strokeStyle = ds.pointBorderColor || ds.borderColor || TEXT;
        ctx.stroke();
      }
    }

    /* Bars from the value axis' zero; 72% of a category's width (as
     * Chart.js's bar and category percentages, 0.9 x 0.8). */
    drawBars(ds, m, from, to) {
      const ctx = this.ctx;
      const cat = this.scales[this.category];
      const val = this.scales[this.horizontalBars ? 'x' : 'y'];
      const zero = val.getPixelForValue(Math.max(val.log ? 1e-300 : 0, val.log ? 10 ** val.lo : Math.min(Math.max(0, val.lo), val.hi)));
      const thick = 0.72 * Math.abs(cat.getPixelForValue(1) - cat.getPixelForValue(0));
      ctx.fillStyle = ds.backgroundColor || TEXT;
      for (let i = from; i < to; i++) {
        if (m.px[i] !== m.px[i] || m.py[i] !== m.py[i]) continue;
        if (this.horizontalBars) ctx.fillRect(Math.min(zero, m.px[i]), m.py[i] - thick / 2, Math.abs(m.px[i] - zero), thick);
        else ctx.fillRect(m.px[i] - thick / 2, Math.min(zero, m.py[i]), thick, Math.abs(m.py[i] - zero));
      }
    }

    /* The point nearest to (x, y) in the chart area among the drawn
     * datasets: {datasetIndex, dataIndex}, or null. A scan of the pixel
     * arrays: 60,000 points take well under a millisecond. */
    nearest(x, y) {
      const a = this.chartArea;
      if (!a || x < a.left - 4 || x > a.right + 4 || y < a.top - 4 || y > a.bottom + 4) return null;
      let best = null;
      let bestD = Infinity;
      this.metas.forEach((m, di) => {
        if (this.data.datasets[di].hidden) return;
        const { px, py } = m;
        for (let i = 0; i < px.length; i++) {
          const dx = px[i] - x;
          const dy = py[i] - y;
          const d = dx * dx + dy * dy;
          if (d < bestD) { bestD = d; best = { datasetIndex: di, dataIndex: i }; }
        }
      });
      return best;
    }

    /* The tooltip: the text of the nearest point, or of the cut label
     * under the pointer, in a box beside it; hover(null) hides it. */
    hover(x, y) {
      const cut = x === null ? null : this.cutLabels.find((b) => x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1);
      if (cut) { this.showCut(cut); return; }
      const hit = x === null ? null : this.nearest(x, y);
      if (!hit) { if (this.tip) this.tip.hidden = true; return; }
      this.showPoint(hit.datasetIndex, hit.dataIndex);
    }

    /* Point i of dataset di's text (the tooltip's label callback, given
     * {chart, raw, dataset, datasetIndex, dataIndex}) in the tooltip;
     * returns the text. */
    showPoint(di, i) {
      const ds = this.data.datasets[di];
      const raw = ds.data.at(i);
      const cb = ((this.options.plugins || {}).tooltip || {}).callbacks || {};
      let text;
      if (cb.label) text = cb.label({ chart: this, raw, dataset: ds, datasetIndex: di, dataIndex: i });
      else if (this.category) text = `${this.data.labels[i]}: ${S.fmt(raw, 4)}`;
      else text = `${ds.label ? ds.label + ': ' : ''}(${S.fmt(raw.x, 4)}, ${S.fmt(raw.y, 4)})`;
      this.showTip(text, this.metas[di].px[i], this.metas[di].py[i]);
      this.tip.dataset.dataset = String(di);
      this.tip.dataset.index = String(i);
      return text;
    }

    /* A cut label's whole text (keepCut) in the tooltip, over the label. */
    showCut(cut) {
      this.showTip(cut.text, (cut.x0 + cut.x1) / 2, cut.y0);
      delete this.tip.dataset.dataset;
      delete this.tip.dataset.index;
      return cut.text;
    }

    /* The tooltip's box with text beside (px, py), on the side with room. */
    showTip(text, px, py) {
      if (!this.tip) {
        this.tip = document.createElement('div');
        this.tip.className = 'plot-tip';
        this.canvas.parentNode.append(this.tip);
      }
      this.tip.hidden = false;
      this.tip.textContent = text;
      this.tip.style.left = (px > this.width / 2 ? px - this.tip.offsetWidth - 8 : px + 8) + 'px';
      this.tip.style.top = Math.max(0, py - this.tip.offsetHeight - 6) + 'px';
    }
  }

  K.Plot = Plot;
  K.Plot.Columns = Columns;
})(window.K);
