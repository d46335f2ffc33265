/* charts.js: the dashboard's charts, drawn by K.Plot (plot.js, configured
 * as Chart.js would be). Each study-page builder takes a canvas and
 * the page's model ({study, axes, trials (sorted by number), curves (Map
 * number -> {state, steps, values})}) and returns the chart, whose
 * refresh(model) recomputes its data from the model and redraws without
 * animation (steps(model): the same in pieces, one task each; a new
 * chart is empty until the first). Invariant: charts only read the model; the page owns it.
 * Built for 10,000-trial studies: no animation, points of radius 1 on big
 * series, and the many-line charts
 * (curves, parallel coordinates) drawn as a few datasets of polylines split
 * by breaks rather than one dataset per trial, their points in columns
 * (K.Plot.Columns). */
'use strict';
window.K = window.K || {};

(function (K) {
  const S = K.stats;
  const STATE_COLORS = { COMPLETE: '#2563eb', PRUNED: '#f59e0b', RUNNING: '#16a34a', FAILED: '#dc2626',
    INTERRUPTED: '#6b7280' };
  const BIG = 2000; // above this many points a series is drawn without point markers

  /* Every chart the dashboard shows, by name, for the browser tests and for
   * destroying them on navigation. */
  window.kestrelCharts = window.kestrelCharts || {};

  function register(name, chart) {
    if (window.kestrelCharts[name]) window.kestrelCharts[name].destroy();
    window.kestrelCharts[name] = chart;
    return chart;
  }

  K.charts = {
    STATE_COLORS,
    destroyAll() {
      for (const k of Object.keys(window.kestrelCharts)) {
        window.kestrelCharts[k].destroy();
        delete window.kestrelCharts[k];
      }
    },
    /* label -> whether the chart hides that series (the legend's choice) */
    hiddenSeries(chart) {
      return new Map(chart.data.datasets.map((d) => [d.label, !!d.hidden]));
    },
  };

  function base(extra) {
    return Object.assign({
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false },
    }, extra);
  }

  function title(text) {
    return { display: true, text, font: { weight: '600' } };
  }

  /* A legend that lists only the datasets that hold points. */
  const PRESENT_ONLY = { labels: { filter: (item, data) => data.datasets[item.datasetIndex].data.length > 0 } };

  /* A y axis on a log scale when asked and every value is positive: a
   * value axis whose best values crowd near zero (Branin) reads there. */
  function setLogY(chart, on, values) {
    let ok = values.length > 0;
    for (let i = 0; ok && i < values.length; i++) ok = values[i] > 0;
    chart.options.scales.y.type = on && ok ? 'logarithmic' : 'linear';
    return ok;
  }

  function radius(n) {
    return n > BIG ? 0 : n > 500 ? 1.5 : 3;
  }

  /* One dataset per objective band (K.stats.BANDS), worst first so the best
   * are drawn on top; style(color) gives each its options. */
  function bandDatasets(style) {
    const out = [];
    for (let b = 0; b < S.BANDS; b++) out.push(Object.assign({ label: `band ${b}`, data: [] }, style(S.bandColor(b))));
    return out;
  }

  /* Creates the chart, without data, and gives it steps(model), the
   * pieces of work that redraw it from the model (fill the datasets, lay
   * out the scales and points, draw: the last returns the drawing's jobs,
   * K.Plot's renderJobs), for a caller that runs each in a task of its
   * own, and refresh(model), all of them at once. The caller draws it the
   * first time. */
  function make(name, canvas, config, fill, model) {
    const chart = register(name, new K.Plot(canvas, config));
    /* the last model is kept for the redraws a chart asks for itself (a brush, an axis picked) */
    chart.model = model;
    chart.steps = (m) => [
      () => { chart.model = m; fill(chart, m); },
      () => chart.layout(),
      () => chart.renderJobs(true),
    ];
    chart.refresh = (m) => {
      for (const step of chart.steps(m)) {
        const jobs = step();
        if (Array.isArray(jobs)) for (const job of jobs) job();
      }
    };
    return chart;
  }

  /* Optimization history: every COMPLETE trial's value by trial number, the
   * best value so far as a step line, and PRUNED trials that carry a value. */
  K.charts.history = function (canvas, model) {
    const metric = model.study.metric || 'objective';
    return make('history', canvas, {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'trial value', data: [], backgroundColor: STATE_COLORS.COMPLETE, borderColor: STATE_COLORS.COMPLETE,
            pointBorderWidth: 0 },
          { label: 'best so far', data: [], showLine: true, stepped: 'before', pointRadius: 0, borderWidth: 2,
            borderColor: '#111827', backgroundColor: '#111827' },
          { label: 'pruned', data: [], backgroundColor: STATE_COLORS.PRUNED, borderColor: STATE_COLORS.PRUNED,
            pointBorderWidth: 0 },
        ],
      },
      options: base({
        parsing: false,
        plugins: {
          legend: PRESENT_ONLY,
          tooltip: { callbacks: { label: (c) => `#${c.raw.x}: ${S.fmt(c.raw.y, 6)}` } },
        },
        scales: {
          x: { type: 'linear', title: title('trial'), ticks: { precision: 0 } },
          y: { type: 'linear', title: title(metric) },
        },
      }),
    }, fillHistory, model);
  };

  /* A chart with nothing to draw says why, in place of its axes (plot.js
   * emptyOf): axes fitted to no data run from 0 to 1 and read as data. */
  function sayEmpty(chart, empty, text) {
    chart.options.plugins.empty = { display: empty, text };
  }

  const NO_COMPLETE = 'No completed trials yet';

  function fillHistory(chart, model) {
    const done = [];
    const pruned = [];
    let positive = true;
    for (const t of model.trials) {
      const list = S.scored(t) ? done : t.state === 'PRUNED' && typeof t.value === 'number' ? pruned : null;
      if (!list) continue;
      list.push({ x: t.number, y: t.value });
      positive = positive && t.value > 0;
    }
    const ds = chart.data.datasets;
    ds[0].data = done;
    /* at least a pixel: a radius of 0 draws no point at all */
    ds[0].pointRadius = radius(done.length) || 1;
    ds[1].data = S.bestSoFar(model.trials, model.study.direction);
    ds[2].data = pruned;
    ds[2].pointRadius = radius(pruned.length) || 1;
    chart.logOk = setLogY(chart, model.logY, done.length + pruned.length > 0 ? [positive ? 1 : 0] : []);
    sayEmpty(chart, done.length + pruned.length === 0, NO_COMPLETE);
  }

  /* Learning curves: the objective per step of every trial, one polyline per
   * trial, coloured by the trial's state. A trial with one report (a
   * Hyperband or ASHA first rung) is a dot, in a dataset of its own per state
   * (a dataset has one style: the plot draws it as one path); where a pruned or failed trial stopped is marked with
   * a dot too (two last datasets); with Hyperband or ASHA the curves end in
   * bands at the rung steps. */
  const CURVE_STATES = ['COMPLETE', 'PRUNED', 'RUNNING', 'FAILED', 'INTERRUPTED'];
  /* A trial a stop, a signal or a dead runner ended is FAILED in the store
   * but interrupted (re-run on resume): drawn as such, not as a failure. */
  const shownState = (t, state) => (state === 'FAILED' && t && t.interrupted ? 'INTERRUPTED' : state);
  const STOP_STATES = ['PRUNED', 'FAILED'];
  K.charts.curves = function (canvas, model) {
    const line = (s) => ({ label: s.toLowerCase(), state: s, data: [], borderColor: STATE_COLORS[s],
      backgroundColor: STATE_COLORS[s], borderWidth: 1, spanGaps: false, pointRadius: 0 });
    const dots = (s) => ({ label: `${s.toLowerCase()} (one report)`, state: s, single: true, data: [], showLine: false,
      pointRadius: 2.5, borderWidth: 0, borderColor: STATE_COLORS[s], backgroundColor: STATE_COLORS[s] });
    return make('curves', canvas, {
      type: 'line',
      data: {
        datasets: CURVE_STATES.map(line).concat(CURVE_STATES.map(dots))
          .concat(STOP_STATES.map((s) => ({ label: `${s.toLowerCase()} here`, stop: s, data: [],
            showLine: false, pointRadius: 3, borderColor: '#111827', backgroundColor: STATE_COLORS[s] }))),
      },
      options: base({
        parsing: false,
        plugins: {
          legend: PRESENT_ONLY,
          tooltip: { callbacks: { label: (c) => `#${c.raw.n} step ${c.raw.x}: ${S.fmt(c.raw.y, 6)}` } },
        },
        scales: {
          x: { type: 'linear', title: title('step'), ticks: { precision: 0 } },
          y: { type: 'linear', title: title(model.study.metric || 'objective') },
        },
      }),
    }, fillCurves, model);
  };

  /* Calls visit(n, c, parent, state) for each curve drawn (a trial of a
   * drawn state that reported): parent is the curve it continues, a
   * promoted trial's parent's when that reported, or null; state is the
   * one it is drawn in (shownState). */
  function eachCurve(model, visit) {
    for (const [n, c] of model.curves) {
      const t = model.byNumber.get(n);
      const state = shownState(t, c.state);
      if (!CURVE_STATES.includes(state) || c.steps.length === 0) continue;
      const parent = t && t.resumed_from != null ? model.curves.get(t.resumed_from) : null;
      visit(n, c, parent && parent.steps.length > 0 ? parent : null, state);
    }
  }

  /* Each dataset's points as columns (K.Plot.Columns) with the trial
   * number of each, counted in one pass over the curves and written in a
   * second: a curve is a polyline of its state's, from its parent's last
   * point if it continues one, up to a break, or a dot of its state's
   * when it is a lone report; a pruned or failed one's last point is a
   * dot of its own. Its 60,000 point objects for 10,000 trials, kept
   * between redraws by trial number, took 65-210 ms of a load in jobs of
   * their own, and as long again to lay out. */
  function fillCurves(chart, model) {
    const sets = chart.data.datasets;
    const line = {};
    const dot = {};
    const stop = {};
    sets.forEach((ds, i) => { if (ds.stop) stop[ds.stop] = i; else if (ds.single) dot[ds.state] = i; else line[ds.state] = i; });
    const count = new Uint32Array(sets.length);
    let drawn = 0;
    eachCurve(model, (n, c, parent, st) => {
      drawn++;
      if (c.steps.length === 1 && !parent) count[dot[st]]++;
      else count[line[st]] += (parent ? 1 : 0) + c.steps.length + 1;
      if (st in stop) count[stop[st]]++;
    });
    const cols = sets.map((ds, i) => {
      const num = new Int32Array(count[i]);
      const col = new K.Plot.Columns(count[i], ds.single ? (k) => ({ n: num[k], single: true }) : (k) => ({ n: num[k] }));
      col.num = num;
      col.k = 0;
      ds.data = col;
      return col;
    });
    const put = (i, x, y, n) => {
      const col = cols[i];
      col.x[col.k] = x;
      col.y[col.k] = y;
      col.num[col.k++] = n;
    };
    /* the smallest value and whether there is any: all a log axis needs to know */
    let least = Infinity;
    eachCurve(model, (n, c, parent, st) => {
      const L = c.steps.length;
      for (let i = 0; i < L; i++) if (!(c.values[i] >= least)) least = c.values[i];
      if (L === 1 && !parent) {
        put(dot[st], c.steps[0], c.values[0], n);
      } else {
        const i = line[st];
        if (parent) put(i, parent.steps[parent.steps.length - 1], parent.values[parent.values.length - 1], n);
        for (let k = 0; k < L; k++) put(i, c.steps[k], c.values[k], n);
        put(i, c.steps[L - 1], NaN, n);
      }
      if (st in stop) put(stop[st], c.steps[L - 1], c.values[L - 1], n);
    });
    for (const ds of sets) {
      if (ds.stop) ds.pointRadius = ds.data.length > BIG ? 1.5 : 3;
      else if (ds.single) ds.pointRadius = ds.data.length > BIG ? 1.5 : 2.5;
      else ds.borderWidth = ds.data.length > 20 * BIG ? 0.5 : 1;
    }
    chart.logOk = setLogY(chart, model.logY, least === Infinity ? [] : [least]);
    /* the API lists every trial, with or without reports */
    sayEmpty(chart, drawn === 0, 'No trial has reported intermediate steps yet');
  }

  /* Parallel coordinates: one vertical axis per parameter plus the
   * objective, each scaled to [0, 1] over the observed range (log parameters
   * on a log axis, categories at evenly spaced positions); one line per
   * COMPLETE trial, coloured by its objective's band (yellow = best), one
   * dataset per band, the best band drawn last so it stays on top. */
  K.charts.parallel = function (canvas, model, onSelect) {
    const chart = make('parallel', canvas, {
      type: 'line',
      data: { datasets: bandDatasets((color) => ({ borderWidth: 1, pointRadius: 0, spanGaps: false,
        borderColor: color, backgroundColor: color }))
        /* drawn first (order -1): under the selected lines */
        .concat([{ label: 'outside the selection', dim: true, order: -1, data: [], borderWidth: 1, pointRadius: 0,
          spanGaps: false, borderColor: 'rgba(156,163,175,0.35)', backgroundColor: 'rgba(156,163,175,0.35)' }]) },
      options: base({
        parsing: false,
        layout: { padding: { top: 24, bottom: 8, left: 8, right: 8 } },
        interaction: { mode: 'nearest', intersect: false, axis: 'xy' },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => `#${c.raw.n}: ${parallelLabel(c.chart.axes, c.raw.t)}` } },
        },
        scales: {
          x: { type: 'linear', min: -0.05, grid: { display: false },
            afterBuildTicks: (scale) => { scale.ticks = (scale.chart.axisNames || []).map((n, i) => ({ value: i })); },
            ticks: { autoSkip: false, maxRotation: 0,
              callback(v) { return Number.isInteger(v) ? (this.chart.axisNames || [])[v] : ''; } } },
          y: { type: 'linear', min: -0.02, max: 1.02, display: false },
        },
      }),
      plugins: [parallelAxesPlugin],
    }, (c, m) => { fillParallel(c, m); if (onSelect) onSelect(c.selected, c.lines, c.brushed); }, model);
    K.brush.attach(chart);
    return chart;
  };

  /* Draws the axes of the parallel-coordinates chart with their ranges. */
  const parallelAxesPlugin = {
    id: 'kestrelParallelAxes',
    afterDatasetsDraw(chart) {
      K.brush.place(chart);
      const info = chart.axisInfo || [];
      const { ctx, scales } = chart;
      ctx.save();
      ctx.font = '11px system-ui, sans-serif';
      ctx.lineJoin = 'round';
      for (const [j, [lo, hi]] of chart.brushes || []) {
        const x = scales.x.getPixelForValue(j);
        const top = scales.y.getPixelForValue(hi);
        ctx.fillStyle = 'rgba(37,99,235,0.18)';
        ctx.strokeStyle = '#2563eb';
        ctx.lineWidth = 1;
        ctx.fillRect(x - 7, top, 14, scales.y.getPixelForValue(lo) - top);
        ctx.strokeRect(x - 7, top, 14, scales.y.getPixelForValue(lo) - top);
      }
      /* a label is cut to the room between two axes: a category of 200
       * characters ran over the next axes and the objective's labels */
      const room = (info.length > 1 ? Math.abs(scales.x.getPixelForValue(1) - scales.x.getPixelForValue(0)) : chart.width) - 8;
      info.forEach((a, i) => {
        const x = scales.x.getPixelForValue(i);
        /* the outer axes' labels grow inwards, so none is cut at the edge */
        const align = i === 0 ? 'left' : i === info.length - 1 ? 'right' : 'center';
        ctx.textAlign = align;
        ctx.strokeStyle = '#374151';
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, scales.y.getPixelForValue(0));
        ctx.lineTo(x, scales.y.getPixelForValue(1));
        ctx.stroke();
        for (const [t, whole] of a.ticks) {
          const y = scales.y.getPixelForValue(t) + (t >= 0.999 ? -4 : t <= 0.001 ? 12 : 4);
          const text = chart.cutLabel(whole, room, x, y, align);
          /* a white halo keeps a label readable over the lines */
          ctx.strokeStyle = 'rgba(255,255,255,0.9)';
          ctx.lineWidth = 3;
          ctx.strokeText(text, x, y);
          ctx.fillStyle = '#111827';
          ctx.fillText(text, x, y);
        }
      });
      ctx.restore();
    },
  };

  function axisTicks(axis, lo, hi) {
    if (axis.categorical) return axis.choices.map((c, i) => [(i - lo) / (hi - lo), c]);
    const show = (v) => S.fmt(axis.log ? 10 ** v : v, 3);
    return [[1, show(hi)], [0, show(lo)]];
  }

  /* A trial's parameters and value, built only when a tooltip shows it:
   * formatting them for every trial cost more than drawing the chart. */
  function parallelLabel(axes, t) {
    return axes.map((a) => `${a.name}=${S.paramText(a, t.params ? t.params[a.name] : null)}`).join(' ') + ` → ${S.fmt(t.value, 6)}`;
  }

  function fillParallel(chart, model) {
    const axes = model.axes;
    const done = model.trials.filter(S.scored);
    sayEmpty(chart, done.length === 0, NO_COMPLETE);
    const pos = axes.map((a) => done.map((t) => S.axisPos(a, t.params ? t.params[a.name] : undefined)));
    const ranges = axes.map((a, j) => (a.categorical ? [0, Math.max(1, a.choices.length - 1)] : S.extent(pos[j])));
    const [vlo, vhi] = S.extent(done.map((t) => t.value));
    const dir = model.study.direction;
    chart.axes = axes;
    chart.axisNames = axes.map((a) => a.name).concat([model.study.metric || 'objective']);
    chart.axisInfo = axes.map((a, j) => ({ ticks: axisTicks(a, ranges[j][0], ranges[j][1]) }))
      .concat([{ ticks: [[1, S.fmt(vhi, 4)], [0, S.fmt(vlo, 4)]] }]);
    chart.options.scales.x.max = axes.length + 0.05;
    const P = axes.length;
    const L = P + 2;    // a line's points: one per axis, then a break
    /* every trial's position on axis j in [0, 1] (j = P: its objective),
     * NaN where it has none, line by line */
    const ys = new Float32Array(done.length * (P + 1));
    for (let i = 0; i < done.length; i++) {
      for (let j = 0; j < P; j++) {
        const p = pos[j][i];
        ys[i * (P + 1) + j] = p === null ? NaN : S.frac(p, ranges[j][0], ranges[j][1]);
      }
      ys[i * (P + 1) + P] = S.frac(done[i].value, vlo, vhi);
    }
    /* each line's dataset: its objective's band, or the dimmed one (the
     * last) when a brush leaves it out */
    const brushes = [...(chart.brushes || [])];
    const dim = chart.data.datasets.length - 1;
    const of = new Uint8Array(done.length);
    const count = new Uint32Array(dim + 1);
    let selected = 0;
    for (let i = 0; i < done.length; i++) {
      let inside = true;
      for (const [j, [lo, hi]] of brushes) {
        const y = ys[i * (P + 1) + j];
        if (!(y >= lo && y <= hi)) { inside = false; break; }
      }
      if (inside) selected++;
      of[i] = inside ? S.objectiveBand(done[i].value, vlo, vhi, dir) : dim;
      count[of[i]]++;
    }
    /* in number order: the bands' datasets, worst first, draw the best
     * lines last, on top, and a band's lines share its colour; as columns
     * (a point object per axis and trial was most of a fill, 40,000 of
     * them for 10,000 trials, and of the garbage collection after it) */
    const cols = chart.data.datasets.map((ds, b) => {
      const lines = [];
      const c = new K.Plot.Columns(count[b] * L, (k) => {
        const t = lines[Math.floor(k / L)];
        return { n: t.number, t };
      });
      c.lines = lines;
      ds.data = c;
      return c;
    });
    for (let i = 0; i < done.length; i++) {
      const c = cols[of[i]];
      const at = c.lines.length * L;
      c.lines.push(done[i]);
      for (let j = 0; j <= P; j++) {
        c.x[at + j] = j;
        c.y[at + j] = ys[i * (P + 1) + j];
      }
      c.x[at + P + 1] = P;
      c.y[at + P + 1] = NaN;
    }
    chart.lines = done.length;
    chart.selected = selected;
    chart.brushed = brushes.length;
  }

  /* Slice plots: objective against each parameter alone, one small scatter
   * per parameter, points coloured by their objective's band (one dataset
   * per band). Log parameters get a log axis; categories sit at their
   * positions with their names as ticks. */
  /* The scale that shows a parameter: log parameters on a log
   * axis, categories at their positions with their names as ticks. */
  function paramScale(axis) {
    const scale = axis.categorical
      ? { type: 'linear', min: -0.5, max: axis.choices.length - 0.5,
        afterBuildTicks: (sc) => { sc.ticks = axis.choices.map((c, i) => ({ value: i })); },
        ticks: { callback: (v) => (Number.isInteger(v) ? axis.choices[v] : '') } }
      : { type: axis.log ? 'logarithmic' : 'linear', ticks: axis.integer ? { precision: 0 } : {} };
    scale.title = title(axis.name);
    return scale;
  }

  /* Where a trial's parameter is drawn on paramScale(axis), or null. */
  function paramX(axis, v) {
    const p = S.axisPos(axis, v);
    return p === null ? null : axis.categorical ? p : v;
  }

  K.charts.slice = function (canvas, model, axis) {
    const xscale = paramScale(axis);
    return make('slice:' + axis.name, canvas, {
      type: 'scatter',
      data: { datasets: bandDatasets((color) => ({ pointBackgroundColor: color, pointBorderColor: color, pointBorderWidth: 0 })) },
      options: base({
        parsing: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => `#${c.raw.n}: ${axis.name}=${S.paramText(axis, c.raw.v)} → ${S.fmt(c.raw.y, 6)}` } },
        },
        scales: { x: xscale, y: { type: 'linear', title: title(model.study.metric || 'objective') } },
      }),
    }, (chart, m) => fillSlice(chart, m, axis), model);
  };

  function fillSlice(chart, model, axis) {
    const done = model.trials.filter(S.scored);
    const [vlo, vhi] = S.extent(done.map((t) => t.value));
    const bands = chart.data.datasets.map(() => []);
    let n = 0;
    for (const t of done) {
      const v = t.params ? t.params[axis.name] : undefined;
      const x = paramX(axis, v);
      if (x === null) continue;
      bands[S.objectiveBand(t.value, vlo, vhi, model.study.direction)].push({ x, y: t.value, n: t.number, v });
      n++;
    }
    chart.data.datasets.forEach((ds, b) => {
      ds.data = bands[b];
      ds.pointRadius = radius(n) || 1;
    });
    sayEmpty(chart, n === 0, done.length ? 'No complete trial has this parameter' : NO_COMPLETE);
  }

  /* Contour: the objective over two parameters the user picks (pick() gives
   * the two axes), as a grid of cells coloured by the mean objective of the
   * trials inside each (yellow = best, as elsewhere); an empty cell takes
   * the value of the nearest cell that has trials, so the grid reads as a
   * surface, and the trials are drawn as dots on top, where the surface is
   * known. Numeric parameters get CONTOUR_CELLS cells along their axis (log
   * parameters on a log axis), categories one cell each. */
  const CONTOUR_CELLS = 30;
  K.charts.contour = function (canvas, model, pick) {
    return make('contour', canvas, {
      type: 'scatter',
      data: { datasets: [{ label: 'trials', data: [], pointRadius: 1.5, pointBorderWidth: 0,
        backgroundColor: '#111827', borderColor: '#111827' }] },
      options: base({
        parsing: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: (c) => `#${c.raw.n}: ${c.chart.pair[0].name}=${S.paramText(c.chart.pair[0], c.raw.u)} `
            + `${c.chart.pair[1].name}=${S.paramText(c.chart.pair[1], c.raw.v)} → ${S.fmt(c.raw.value, 6)}` } } },
        scales: { x: { type: 'linear' }, y: { type: 'linear' } },
      }),
      plugins: [contourPlugin],
    }, (chart, m) => fillContour(chart, m, pick()), model);
  };

  /* Cell k of n on an axis: its [from, to] in the scale's units. */
  function cellRange(axis, lo, hi, k, n) {
    if (axis.categorical) return [k - 0.5, k + 0.5];
    const at = (f) => { const p = S.lerp(f, lo, hi); return axis.log ? 10 ** p : p; };
    return [at(k / n), at((k + 1) / n)];
  }

  const contourPlugin = {
    id: 'kestrelContour',
    beforeDatasetsDraw(chart) {
      const g = chart.grid;
      if (!g) return;
      const { ctx, chartArea: a, scales } = chart;
      ctx.save();
      ctx.beginPath();
      ctx.rect(a.left, a.top, a.right - a.left, a.bottom - a.top);
      ctx.clip();
      ctx.globalAlpha = 0.6;
      for (let i = 0; i < g.nx; i++) {
        const [x0, x1] = cellRange(g.ax, g.xlo, g.xhi, i, g.nx).map((v) => scales.x.getPixelForValue(v));
        for (let j = 0; j < g.ny; j++) {
          const b = g.band[i * g.ny + j];
          if (b < 0) continue;
          const [y0, y1] = cellRange(g.ay, g.ylo, g.yhi, j, g.ny).map((v) => scales.y.getPixelForValue(v));
          ctx.fillStyle = S.bandColor(b);
          /* a pixel of overlap: no seams between cells */
          ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0) + 1, Math.abs(y1 - y0) + 1);
        }
      }
      ctx.restore();
    },
  };

  function fillContour(chart, model, pair) {
    const [ax, ay] = pair;
    chart.pair = pair;
    chart.options.scales.x = paramScale(ax);
    chart.options.scales.y = paramScale(ay);
    const done = model.trials.filter(S.scored);
    sayEmpty(chart, done.length === 0, NO_COMPLETE);
    const px = done.map((t) => S.axisPos(ax, t.params ? t.params[ax.name] : undefined));
    const py = done.map((t) => S.axisPos(ay, t.params ? t.params[ay.name] : undefined));
    const [xlo, xhi] = S.extent(px);
    const [ylo, yhi] = S.extent(py);
    const nx = ax.categorical ? ax.choices.length : CONTOUR_CELLS;
    const ny = ay.categorical ? ay.choices.length : CONTOUR_CELLS;
    const cell = (p, lo, hi, n, axis) => (axis.categorical ? p : Math.min(n - 1, Math.floor(S.frac(p, lo, hi) * n)));
    const sum = new Float64Array(nx * ny);
    const cnt = new Uint32Array(nx * ny);
    const dots = [];
    done.forEach((t, k) => {
      if (px[k] === null || py[k] === null) return;
      const c = cell(px[k], xlo, xhi, nx, ax) * ny + cell(py[k], ylo, yhi, ny, ay);
      sum[c] += t.value;
      cnt[c] += 1;
      const u = t.params[ax.name];
      const v = t.params[ay.name];
      dots.push({ x: paramX(ax, u), y: paramX(ay, v), n: t.number, u, v, value: t.value });
    });
    if (!ax.categorical) Object.assign(chart.options.scales.x, { min: ax.log ? 10 ** xlo : xlo, max: ax.log ? 10 ** xhi : xhi });
    if (!ay.categorical) Object.assign(chart.options.scales.y, { min: ay.log ? 10 ** ylo : ylo, max: ay.log ? 10 ** yhi : yhi });
    /* empty cells take their nearest filled cell's mean: a breadth-first
     * fill from every filled cell at once */
    const mean = new Float64Array(nx * ny).fill(NaN);
    let queue = [];
    for (let c = 0; c < nx * ny; c++) if (cnt[c] > 0) { mean[c] = sum[c] / cnt[c]; queue.push(c); }
    while (queue.length) {
      const next = [];
      for (const c of queue) {
        const i = Math.floor(c / ny);
        const j = c % ny;
        for (const [di, dj] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
          const a = i + di;
          const b = j + dj;
          if (a < 0 || a >= nx || b < 0 || b >= ny || !Number.isNaN(mean[a * ny + b])) continue;
          mean[a * ny + b] = mean[c];
          next.push(a * ny + b);
        }
      }
      queue = next;
    }
    const [vlo, vhi] = S.extent(done.map((t) => t.value));
    const band = Int8Array.from(mean, (m) => (Number.isNaN(m) ? -1 : S.objectiveBand(m, vlo, vhi, model.study.direction)));
    chart.grid = { ax, ay, nx, ny, xlo, xhi, ylo, yhi, band };
    const ds = chart.data.datasets[0];
    ds.data = dots;
    ds.pointRadius = dots.length > BIG ? 1 : 2;
  }

  /* Parameter importance as horizontal bars, most important first (the
   * method is described at K.stats.importance). */
  K.charts.importance = function (canvas, model) {
    return make('importance', canvas, {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'variance explained (η²)', data: [], backgroundColor: '#6366f1' }] },
      options: base({
        indexAxis: 'y',
        plugins: { legend: { display: false } },
        scales: { x: { min: 0, max: 1, title: title('fraction of objective variance explained') } },
      }),
    }, fillImportance, model);
  };

  function fillImportance(chart, model) {
    const imp = S.importance(model.trials, model.axes).sort((a, b) => b.importance - a.importance);
    const shown = imp.some((r) => r.importance > 0);
    chart.data.labels = imp.map((r) => r.name);
    chart.data.datasets[0].data = shown ? imp.map((r) => r.importance) : [];
    sayEmpty(chart, !shown, 'Not enough complete trials with different values to estimate importance yet');
  }

  /* Empirical distribution of the objective (EDF): for each value, the
   * fraction of COMPLETE trials at or below it, as optuna-dashboard draws
   * it; a study that finds good values often rises early. */
  K.charts.edf = function (canvas, model) {
    return make('edf', canvas, {
      type: 'scatter',
      data: { datasets: [{ label: 'trials at or below', data: [], showLine: true, stepped: 'before', pointRadius: 0,
        borderWidth: 2, borderColor: STATE_COLORS.COMPLETE, backgroundColor: STATE_COLORS.COMPLETE }] },
      options: base({
        parsing: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: (c) => `${S.fmt(c.raw.x, 6)}: ${(c.raw.y * 100).toFixed(1)} %` } } },
        scales: { x: { type: 'linear', title: title(model.study.metric || 'objective') },
          y: { type: 'linear', min: 0, max: 1, title: title('fraction of complete trials') } },
      }),
    }, fillEdf, model);
  };

  /* A value's fraction holds from that value on: the line runs level to the
   * next value, then rises there ('before', as Chart.js names it; 'after'
   * rose at the previous value, one trial early). */
  function fillEdf(chart, model) {
    const v = model.trials.filter(S.scored).map((t) => t.value).sort((a, b) => a - b);
    chart.data.datasets[0].data = v.map((x, i) => ({ x, y: (i + 1) / v.length }));
    /* the log toggle acts on the objective, here the x axis */
    chart.options.scales.x.type = model.logY && v.length && v[0] > 0 ? 'logarithmic' : 'linear';
    sayEmpty(chart, v.length === 0, NO_COMPLETE);
  }

  /* Timeline: each trial as a bar from its start to its end (or now), in
   * seconds since the study's first trial, one row per slot of each worker
   * (the host:pid of the process that ran it; a trial takes the first slot
   * free when it starts), coloured by state. The bars are thick line
   * segments, one polyline per state split by null points, so one path
   * per state draws them all. */
  K.charts.timeline = function (canvas, model) {
    return make('timeline', canvas, {
      type: 'line',
      data: { datasets: CURVE_STATES.map((st) => ({ label: st.toLowerCase(), state: st, data: [],
        backgroundColor: STATE_COLORS[st], borderColor: STATE_COLORS[st], borderCapStyle: 'butt',
        pointRadius: 0, pointHitRadius: 4, spanGaps: false })) },
      options: base({
        parsing: false,
        plugins: { legend: PRESENT_ONLY,
          tooltip: { callbacks: { label: (c) => `#${c.raw.n} ${c.raw.bar.state.toLowerCase()}: ${S.fmtDuration(c.raw.bar.end - c.raw.bar.begin)}` } } },
        scales: { x: { type: 'linear', min: 0, title: title('seconds since the first trial started') },
          y: { type: 'linear', reverse: true, grid: { display: false },
            afterBuildTicks: (scale) => { scale.ticks = (scale.chart.lanes || []).map((l, i) => ({ value: i })); },
            ticks: { autoSkip: true, callback(v) { return Number.isInteger(v) ? (this.chart.lanes || [])[v] : ''; } } } },
      }),
    }, fillTimeline, model);
  };

  function fillTimeline(chart, model) {
    const trials = model.trials.filter((t) => typeof t.started_at === 'number').sort((a, b) => a.started_at - b.started_at);
    sayEmpty(chart, trials.length === 0, 'No trial has started yet');
    const t0 = trials.length ? trials[0].started_at : 0;
    const now = K.api.serverNow();   /* the trials' times are the server's */
    const slots = new Map();   // worker -> its slots, {end, lane}
    const lanes = [];
    const data = Object.fromEntries(CURVE_STATES.map((st) => [st, []]));
    for (const t of trials) {
      const w = t.worker || '?';
      if (!slots.has(w)) slots.set(w, []);
      const own = slots.get(w);
      const end = typeof t.finished_at === 'number' ? t.finished_at : Math.max(now, t.started_at);
      let slot = own.find((s) => s.end <= t.started_at);
      if (!slot) { slot = { end: 0, lane: lanes.length }; own.push(slot); lanes.push(`${w} · ${own.length}`); }
      slot.end = end;
      const y = slot.lane;
      const bar = { begin: t.started_at, end, state: shownState(t, t.state) };
      (data[bar.state] || data.FAILED).push({ x: t.started_at - t0, y, n: t.number, bar },
        { x: end - t0, y, n: t.number, bar }, { x: end - t0, y: null });
    }
    chart.lanes = lanes;
    chart.bars = trials.length;
    chart.options.scales.y.min = -0.5;
    chart.options.scales.y.max = Math.max(0.5, lanes.length - 0.5);
    /* a bar's thickness: 80% of a lane's height */
    const width = Math.max(1, Math.min(14, (0.8 * (chart.chartArea ? chart.chartArea.height : chart.height * 0.7)) / Math.max(1, lanes.length)));
    chart.data.datasets.forEach((ds) => { ds.data = data[ds.state]; ds.borderWidth = width; });
  }

  /* A trial's own learning curves: every metric it reported per step, the
   * objective drawn thicker on the left axis. Metrics of the objective's
   * order of magnitude share its axis; each other order of magnitude gets an
   * axis of its own on the right, shown while one of its metrics is (those
   * three or more orders away, like samples/s beside a loss, start hidden:
   * click the legend to show them), so no metric flattens another.
   * hidden: label -> whether hidden, of the curve this one replaces (the
   * page is built anew when the trial ends), so the series the user showed
   * or hid with the legend stay so; a new series starts as above. */
  K.charts.trialCurve = function (canvas, trial, metric, hidden) {
    const names = [];
    for (const v of trial.values || []) for (const k of Object.keys(v.metrics || {})) if (!names.includes(k)) names.push(k);
    if (metric && !names.includes(metric)) names.push(metric);
    names.sort((a, b) => (a === metric ? -1 : b === metric ? 1 : a.localeCompare(b)));
    const palette = ['#2563eb', '#f59e0b', '#16a34a', '#dc2626', '#7c3aed', '#0891b2'];
    const series = (k) => (trial.values || []).filter((v) => v.metrics && typeof v.metrics[k] === 'number').map((v) => ({ x: v.step, y: v.metrics[k] }));
    const magnitude = (data) => {
      const m = Math.max(...data.map((p) => Math.abs(p.y)));
      return m > 0 && Number.isFinite(m) ? Math.floor(Math.log10(m)) : 0;
    };
    const objMag = magnitude(series(metric));
    const scales = {
      x: { type: 'linear', title: title('step'), ticks: { precision: 0 } },
      y: { type: 'linear', position: 'left', title: title(metric) },
    };
    const datasets = names.map((k, i) => {
      const data = series(k);
      const mag = magnitude(data);
      let axis = 'y';
      if (k !== metric && mag !== objMag) {
        axis = `y${mag}`;
        scales[axis] = scales[axis] || { type: 'linear', position: 'right', display: 'auto',
          grid: { drawOnChartArea: false }, title: title('') };
        scales[axis].title.text += (scales[axis].title.text ? ', ' : '') + k;
      }
      return {
        label: k, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
        borderWidth: k === metric ? 2.5 : 1.2, pointRadius: data.length > 200 ? 0 : 2,
        yAxisID: axis, hidden: hidden && hidden.has(k) ? hidden.get(k) : Math.abs(mag - objMag) >= 3, data,
      };
    });
    const chart = register('trial', new K.Plot(canvas, {
      type: 'line',
      data: { datasets },
      options: base({ parsing: false, scales, plugins: {} }),
    }));
    /* a running trial's page comes before its first report */
    const none = () => sayEmpty(chart, !datasets.some((d) => d.data.length > 0), 'No step reported yet');
    none();
    chart.update();
    chart.addPoint = (step, value) => {
      const ds = chart.data.datasets.find((d) => d.label === metric);
      if (ds) { ds.data.push({ x: step, y: value }); none(); chart.update('none'); }
    };
    return chart;
  };
})(window.K);
