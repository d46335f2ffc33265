/* stats.js: the dashboard's arithmetic, free of DOM and charts so that it
 * reads (and could be tested) on its own: best-so-far, parameter axes
 * (numeric, log, categorical), normalisation, objective colours and
 * parameter importance. Invariant: functions take plain trial objects as the
 * API returns them and never modify them. */
'use strict';
window.K = window.K || {};

(function (K) {
  const FINISHED = new Set(['COMPLETE', 'PRUNED', 'FAILED']);

  function better(a, b, direction) {
    return direction === 'maximize' ? a > b : a < b;
  }

  /* A trial counts for the objective when it completed with a finite value. */
  function scored(t) {
    return t.state === 'COMPLETE' && typeof t.value === 'number' && isFinite(t.value);
  }

  /* Step points of the best value so far over trial numbers, for COMPLETE
   * trials in number order: one point per improvement plus the last trial,
   * so the line stays short however long the history. */
  function bestSoFar(trials, direction) {
    const pts = [];
    let best = null;
    let lastX = null;
    for (const t of trials) {
      if (!scored(t)) continue;
      if (best === null || better(t.value, best, direction)) {
        best = t.value;
        pts.push({ x: t.number, y: best });
      }
      lastX = t.number;
    }
    if (best !== null && pts[pts.length - 1].x !== lastX) pts.push({ x: lastX, y: best });
    return pts;
  }

  /* A categorical value by its type and text: "3" and 3 are different
   * choices (docs/spec.md), which their text alone made one (drawn at one
   * place, under two ticks that both read 3). */
  const choiceKey = (v) => (typeof v === 'number' ? 'n' : 's') + String(v);

  /* How a parameter is drawn on an axis, from the study's spec:
   * {name, categorical, log, integer, choices, keys} where choices
   * (categorical only) gives the text shown at each position (a string
   * quoted when a number choice reads the same: "3" beside 3) and keys
   * the value there (choiceKey). Parameters the spec does not describe (or a
   * spec we do not have) are treated as numeric on a linear axis. */
  function paramAxis(spec, name) {
    const p = (spec && spec.space && spec.space[name]) || {};
    if (p.type === 'categorical') {
      const numbers = new Set(p.choices.filter((c) => typeof c === 'number').map(String));
      return { name, categorical: true, log: false, integer: false, keys: p.choices.map(choiceKey),
        choices: p.choices.map((c) => (typeof c === 'string' && numbers.has(c) ? JSON.stringify(c) : String(c))) };
    }
    return { name, categorical: false, log: !!p.log, integer: p.type === 'int', choices: null, keys: null };
  }

  /* A parameter's value as its axis shows it: a choice by its text there. */
  function paramText(axis, v, digits) {
    const i = axis.categorical ? axisPos(axis, v) : null;
    return i === null ? fmt(v, digits) : axis.choices[i];
  }

  /* The position of a parameter value on its axis, or null when the trial
   * has no such parameter (a conditional one) or the value cannot be drawn. */
  function axisPos(axis, v) {
    if (v === undefined || v === null) return null;
    if (axis.categorical) {
      const i = axis.keys.indexOf(choiceKey(v));
      return i < 0 ? null : i;
    }
    if (typeof v !== 'number' || !isFinite(v)) return null;
    if (axis.log) return v > 0 ? Math.log10(v) : null;
    return v;
  }

  /* [min, max] of the finite numbers in xs; a flat range is widened so that
   * normalising by it never divides by zero. */
  function extent(xs) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of xs) {
      if (x === null || !isFinite(x)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) return [lo - 0.5, hi + 0.5];
    return [lo, hi];
  }

  /* Where v lies in [lo, hi] (0 at lo, 1 at hi), and the value at fraction
   * f of it. A range wider than the largest double (-1.7e308 to 1.7e308)
   * is taken in halves: hi - lo and v - lo were Infinity, every fraction
   * NaN or 0, and the study page did not load. half(lo, hi): 1, or 0.5
   * for such a range (plot.js maps its axes' pixels with it). */
  const half = (lo, hi) => (Number.isFinite(hi - lo) ? 1 : 0.5);
  function frac(v, lo, hi) {
    const k = half(lo, hi);
    return (v * k - lo * k) / (hi * k - lo * k);
  }
  function lerp(f, lo, hi) {
    const k = half(lo, hi);
    return (lo * k + f * (hi * k - lo * k)) / k;
  }

  /* An approximation of the viridis colour map, t in [0, 1]. */
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(t) {
    const u = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(u));
    const f = u - i;
    const c = STOPS[i].map((a, k) => Math.round(a + f * (STOPS[i + 1][k] - a)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  /* Objective values are coloured in BANDS bands of [lo, hi], yellow the best
   * whatever the direction, so a glance finds the good region. Bands rather
   * than a continuous scale let a chart draw each band as one dataset of one
   * colour, one path a band (plot.js), instead of a style per point.
   * objectiveBand gives the band, 0 worst to BANDS - 1 best;
   * bandColor its colour. */
  const BANDS = 16;
  function objectiveBand(v, lo, hi, direction) {
    const t = hi > lo ? frac(v, lo, hi) : 0.5;
    const good = direction === 'maximize' ? t : 1 - t;
    return Math.min(BANDS - 1, Math.max(0, Math.floor(good * BANDS)));
  }

  function bandColor(b) {
    return viridis((b + 0.5) / BANDS);
  }

  /* Parameter importance, "fANOVA-lite": for each parameter alone, the
   * fraction of the objective's variance that its binned means explain, i.e.
   * the correlation ratio
   *     eta^2 = sum_b n_b (mean_b - mean)^2 / sum_i (y_i - mean)^2
   * (Pearson 1903; the first-order term of fANOVA, Hutter et al. 2014, with
   * bins instead of a random forest). Numeric parameters get B equal-width
   * bins on their axis (log axis for log parameters), B = clamp(sqrt(n), 2, 10)
   * so that bins keep several trials each; each category is its own bin, and
   * trials without the parameter (conditional) share one more bin. With few
   * trials per bin eta^2 is biased upwards, so it reads as a ranking, not as
   * exact shares. Returns [{name, importance}] over COMPLETE trials,
   * importance in [0, 1]; all zero when the objective does not vary. */
  function importance(trials, axes) {
    const done = trials.filter(scored);
    const n = done.length;
    if (n < 2) return axes.map((a) => ({ name: a.name, importance: 0 }));
    /* each value centred on the middle of their range and divided by its
     * half width, into [-1, 1], which leaves eta^2 as it is: objectives
     * near 1e308 overflowed their sum and squares to Infinity, and every
     * share was NaN (the chart said there were not enough trials) */
    const [vlo, vhi] = extent(done.map((t) => t.value));
    const mid = vlo / 2 + vhi / 2;
    const half = vhi / 2 - vlo / 2;
    const y = done.map((t) => (t.value - mid) / half);
    const mean = y.reduce((s, v) => s + v, 0) / n;
    const total = y.reduce((s, v) => s + (v - mean) ** 2, 0);
    const nbins = Math.max(2, Math.min(10, Math.floor(Math.sqrt(n))));
    return axes.map((axis) => {
      if (total === 0) return { name: axis.name, importance: 0 };
      const pos = done.map((t) => axisPos(axis, t.params ? t.params[axis.name] : undefined));
      const [lo, hi] = extent(pos);
      const bins = new Map();
      y.forEach((v, i) => {
        let b = 'absent';
        if (pos[i] !== null) {
          b = axis.categorical ? pos[i] : Math.min(nbins - 1, Math.floor(frac(pos[i], lo, hi) * nbins));
        }
        const acc = bins.get(b) || { n: 0, sum: 0 };
        acc.n += 1;
        acc.sum += v;
        bins.set(b, acc);
      });
      let between = 0;
      for (const acc of bins.values()) between += acc.n * (acc.sum / acc.n - mean) ** 2;
      return { name: axis.name, importance: between / total };
    });
  }

  /* configs: finished trials that are neither promotions nor retries, the
   * count max_trials bounds (a Hyperband study has more trials than that). */
  function counts(trials) {
    const c = { total: trials.length, running: 0, complete: 0, pruned: 0, failed: 0, interrupted: 0, configs: 0 };
    for (const t of trials) {
      const k = t.interrupted ? 'interrupted' : String(t.state).toLowerCase();
      if (k in c) c[k] += 1;
      if (k !== 'running' && t.resumed_from == null && t.retry_of == null) c.configs += 1;
    }
    return c;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    /* trailing zeros dropped in both forms: 1e-4, not 1.000e-4 */
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential((digits || 4) - 1).replace(/\.?0+e/, 'e');
    return String(Number(v.toPrecision(digits || 4)));
  }

  /* Local time as 2026-12-04 16:04:32, from the Date's own fields: the
   * first Intl object a page makes costs 20-37 ms (ICU starting up, measured
   * in a fresh Chromium page), which was most of the dashboard script's
   * first run; toLocaleString() costs that and about 1 ms a call more. */
  const pad2 = (n) => (n < 10 ? '0' : '') + n;
  function fmtTime(secs) {
    if (secs === null || secs === undefined) return '–';
    const d = new Date(secs * 1000);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} `
      + `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function fmtDuration(secs) {
    if (secs === null || secs === undefined) return '–';
    if (secs < 60) return secs.toFixed(secs < 10 ? 2 : 1) + ' s';
    if (secs < 3600) return (secs / 60).toFixed(1) + ' min';
    return (secs / 3600).toFixed(2) + ' h';
  }

  K.stats = {
    FINISHED, better, scored, bestSoFar, paramAxis, paramText, axisPos, extent, half, frac, lerp, viridis,
    BANDS, objectiveBand, bandColor, importance, counts, fmt, fmtTime, fmtDuration,
  };
})(window.K);
