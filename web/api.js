/* api.js: the dashboard's only door to the server: JSON requests to /api/v1
 * (with the bearer token when one was given), paged fetches of whole
 * histories, and the live feed (EventSource, with polling as the fallback).
 * Invariant: every request goes through request(), so the token and the error
 * shape ({status, code, message, path}) are handled in one place. */
'use strict';
window.K = window.K || {};

(function (K) {
  const TOKEN_KEY = 'kestrel-token';
  /* Trials and curves come in pages of BLOCK at multiples of BLOCK: the
   * server keeps a full page of finished trials while the study grows, so a
   * reload of a live study builds only its last page; and each page is
   * parsed in a task of its own (a 10,000-trial page of curves, 2.5 MB, held
   * the main thread for 300 ms at load 20). */
  const BLOCK = 2000;

  /* The token arrives once as ?token=..., then lives in sessionStorage and
   * leaves the address bar, so it is not bookmarked or sent as a Referer.
   * show(): the page shown again, once a token is entered by the banner's
   * button (enterToken). */
  let showAgain = () => {};
  function initToken(show) {
    showAgain = show;
    const enter = document.getElementById('auth-enter');
    if (enter) enter.addEventListener('click', enterToken);
    const q = new URLSearchParams(location.search);
    if (q.has('token')) {
      sessionStorage.setItem(TOKEN_KEY, q.get('token'));
      q.delete('token');
      const rest = q.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }
  }

  /* the code of an ApiError for a request that got no answer at all */
  const UNREACHABLE = 'unreachable';

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || 'HTTP ' + status);
      this.status = status;
      this.code = e.code || null;
      this.path = e.path || null;
    }
  }

  /* A server started with --auth-reads answers 401 to a browser that came
   * without ?token=, or with a token that is not the server's (sent: one
   * was sent; the prompt says which, as the server's message does): the
   * user is asked once (however many requests were refused together), and
   * the live feed reopens with the token. A cancelled prompt is not asked
   * again (each poll asked, every 2 s): declined keeps whether a token had
   * been sent, the requests fail with the server's 401, and the banner
   * (#auth) says why the pages show nothing, with a button that asks again. */
  let asking = null;
  let declined = null;

  /* The prompt; true when a token was entered (then kept for the tab). */
  function prompted(sent) {
    const t = window.prompt(sent
      ? 'This Kestrel server did not take the token this tab sent (a wrong token): enter its access token (the first line of its --token-file):'
      : 'This Kestrel server needs its access token (the first line of its --token-file):');
    const token = t && t.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    declined = token ? null : sent;
    const banner = document.getElementById('auth');
    if (banner) {
      banner.hidden = !!token;
      document.getElementById('auth-text').textContent = sent
        ? 'This Kestrel server did not take the token this tab sent, and no other was entered: it shows nothing without its access token (the first line of its --token-file).'
        : 'This Kestrel server needs its access token (the first line of its --token-file): it shows nothing without it.';
    }
    return !!token;
  }

  function askToken(sent) {
    if (declined !== null) return Promise.resolve(false);
    if (!asking) {
      asking = new Promise((resolve) => {
        const ok = prompted(sent);
        resolve(ok);
        if (ok && handler) subscribe(handler);
        setTimeout(() => { asking = null; }, 0);
      });
    }
    return asking;
  }

  /* The banner's button: the prompt again; with a token, the page anew. */
  function enterToken() {
    if (prompted(declined)) showAgain();
  }

  /* The server's clock, as an offset (s) from the browser's: a trial's
   * started_at is the server's time, and a browser whose clock was minutes
   * off showed a running trial's Duration as 0.00 s or minutes too long,
   * and the timeline's running bars cut short or stretched. Each answer's
   * Date header (whole seconds) puts the server's time while it answered
   * between D and D + 1, and the browser's between the request's send and
   * the answer's arrival: so the offset lies in [D - arrived, D + 1 - sent].
   * The answers' intervals are intersected and the middle taken; one that
   * misses the others (the server's clock was set meanwhile) starts afresh.
   * The browser's side is a clock that only goes forward (the page's time
   * origin and performance.now): with Date.now, a browser clock set back
   * while a page was open (by hand, by NTP) moved the server's time as the
   * page reckoned it by as much until the next answer, and a trial that
   * ended meanwhile read 0.00 s. */
  const skew = { lo: -Infinity, hi: Infinity };
  const steady = () => (performance.timeOrigin + performance.now()) / 1000;
  function learnClock(res, sent) {
    const d = Date.parse(res.headers.get('Date') || '') / 1000;
    if (!Number.isFinite(d)) return;
    const arrived = steady();
    const lo = d - arrived;
    const hi = d + 1 - sent;
    if (lo > skew.hi || hi < skew.lo) { skew.lo = lo; skew.hi = hi; return; }
    skew.lo = Math.max(skew.lo, lo);
    skew.hi = Math.min(skew.hi, hi);
  }
  /* The server's time now, in seconds since the epoch (the browser's until
   * an answer has come). */
  function serverNow() {
    const off = Number.isFinite(skew.lo) ? (skew.lo + skew.hi) / 2 : 0;
    return steady() + off;
  }

  /* Seconds from t, a time of the server's (a trial's started_at), to
   * its now: how long a running trial has run (0 for a t ahead). */
  const since = (t) => Math.max(0, serverNow() - t);

  async function request(method, path, body, retried) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res;
    const sent = steady();
    try {
      res = await fetch('/api/v1' + path, init);
      learnClock(res, sent);
    } catch (e) {
      /* the browser's own words ('Failed to fetch') name no cause a user knows */
      throw new ApiError(0, { error: { code: UNREACHABLE, message: 'the server could not be reached' } });
    }
    if (res.status === 401 && !retried && await askToken(!!token)) return request(method, path, body, true);
    if (res.status === 204) return null;
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  const enc = encodeURIComponent;

  /* Fetches every item of a paged collection (trials or curves) from `offset`
   * on, in pages of `size` that end at multiples of it (the first up to
   * the next); `items` gives a page's items, called as each page comes
   * (with its parse, in a task of its own: 10,000 trials made from their
   * columns at once took 76 ms in a fresh page at load 5, 5-23 ms warm).
   * The pages up to `known`
   * (the total the caller already has, from the study's counts) are asked
   * for together at once, the last first: it holds the running trials, so
   * the server builds it afresh while it has the others' kept, and a
   * browser opens 6 connections to a server (the live feed holds one), so
   * the page asked for last may wait for another to end. The last page
   * tells the total; pages beyond `known` up to it follow. Items that came
   * after it are the live feed's. */
  async function fetchAll(path, items, offset, size, known) {
    const sep = path.includes('?') ? '&' : '?';
    const get = (off, limit) => request('GET', `${path}${sep}offset=${off}&limit=${limit}`)
      .then((page) => ({ total: page.total, items: items(page) }));
    const starts = [];
    let off = offset || 0;
    for (starts.push(off), off += size - off % size; off < (known || 0); off += size) starts.push(off);
    const last = starts.length - 1;
    const pages = [];
    for (let i = last; i >= 0; i--) pages[i] = get(starts[i], i ? size : size - starts[0] % size);
    const total = (await pages[last]).total;
    for (; off < total; off += size) pages.push(get(off, size));
    return [].concat(...(await Promise.all(pages)).map((page) => page.items));
  }

  /* A page of trials asked for as columns (?format=columns: one array per
   * field, half the bytes of the objects and no object per trial to parse)
   * as the trial objects the rest of the dashboard reads; a parameter a
   * trial does not have (null in its column) stays out of its params, as
   * in the objects. */
  function fromColumns(page) {
    const c = page.columns;
    const fields = Object.keys(c).filter((k) => k !== 'params');
    const names = Object.keys(c.params);
    const trials = new Array(c.number.length);
    for (let i = 0; i < trials.length; i++) {
      const t = {};
      for (const f of fields) t[f] = c[f][i];
      t.params = {};
      for (const p of names) if (c.params[p][i] !== null) t.params[p] = c.params[p][i];
      trials[i] = t;
    }
    return trials;
  }

  K.api = {
    initToken,
    ApiError,
    serverNow,
    since,
    UNREACHABLE,
    studies: () => request('GET', '/studies').then((r) => r.studies),
    study: (name) => request('GET', `/studies/${enc(name)}`),
    create: (specText) => request('POST', '/studies', specText),
    stop: (name) => request('POST', `/studies/${enc(name)}/stop`),
    resume: (name) => request('POST', `/studies/${enc(name)}/resume`),
    retryFailed: (name) => request('POST', `/studies/${enc(name)}/resume?retry_failed=true`),
    remove: (name) => request('DELETE', `/studies/${enc(name)}`),
    setNote: (name, note) => request('PUT', `/studies/${enc(name)}/note`, { note }),
    trials: (name, offset, known) => fetchAll(`/studies/${enc(name)}/trials?sort=number&format=columns`, fromColumns,
      offset, BLOCK, known),
    /* the first `limit` trials by number: the table's first page before the whole history */
    firstTrials: (name, limit) => request('GET', `/studies/${enc(name)}/trials?sort=number&limit=${limit}`)
      .then((r) => r.trials),
    curves: (name, offset, known) => fetchAll(`/studies/${enc(name)}/curves`, (page) => page.curves, offset, BLOCK, known),
    trial: (name, number) => request('GET', `/studies/${enc(name)}/trials/${number}`),
    workers: () => request('GET', '/workers').then((r) => r.workers),
  };

  /* The live feed. One EventSource for the whole app, filtered to a study
   * when a page asks for one. When the stream fails (no EventSource, a proxy
   * that buffers, reads that need a token EventSource cannot send), the page's
   * poll() runs every POLL_MS until the stream opens again. Each (re)open also
   * calls poll() once, so events missed while disconnected are caught up. */
  const POLL_MS = 2000;
  const EVENTS = ['trial_started', 'trial_reported', 'trial_finished', 'study_state', 'study_changed'];
  let source = null;
  let timer = null;
  let handler = null;

  /* The badge is a live region: its text is written only when the state
   * changes, as a screen reader may read out each write, and each page's
   * stream (re)open said 'live' again, each 2 s poll of a server gone
   * 'offline' again. 'connecting': from a page change until the new page's
   * stream opens (the old page's 'live' stayed meanwhile, while nothing
   * the new page shows was live yet). */
  function setStatus(s) {
    const el = document.getElementById('live');
    if (!el || el.dataset.state === s) return;
    el.dataset.state = s;
    el.textContent = { connecting: 'connecting', live: 'live', polling: 'polling', off: 'offline' }[s];
  }

  /* Without the stream, the badge says whether the server answers at all:
   * a page's own polls fail silently and its data would look current. */
  function checkServer() {
    const said = (s) => { if (timer) setStatus(s); };
    fetch('/healthz').then((r) => said(r.ok || r.status === 503 ? 'polling' : 'off'), () => said('off'));
  }

  /* A stream the server refused (a 503 from a server shutting down as the
   * browser reconnected to it, a 401) is closed for good: EventSource tries
   * again after a dropped connection alone, and the page polled until it
   * was left, the badge at 'polling' with the server back. Each poll opens
   * it anew until it opens (onopen stops the polls). */
  function startPolling() {
    if (timer || !handler) return;
    setStatus('polling');
    timer = setInterval(() => {
      checkServer();
      if (!handler) return;
      if (source && source.readyState === EventSource.CLOSED) openStream(handler);
      handler.poll();
    }, POLL_MS);
  }

  function stopPolling() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  /* The page left: its stream closed, and the badge says 'connecting'
   * until the next page's opens (its subscribe, which every page makes,
   * some once their first answers are in). */
  function leave() {
    if (source) source.close();
    source = null;
    stopPolling();
    handler = null;
    setStatus('connecting');
  }

  /* h: {study: name|null, onEvent(type, data), poll()}; null: a page that
   * shows nothing live still keeps the stream, so the badge tells the truth. */
  function subscribe(h) {
    leave();
    h = h || { study: null, onEvent() {}, poll() {} };
    handler = h;
    if (!window.EventSource) { startPolling(); return; }
    openStream(h);
  }

  /* Opens the stream for h, the handler subscribed. */
  function openStream(h) {
    /* EventSource cannot send headers; the server takes ?token= instead. */
    const q = new URLSearchParams();
    if (h.study) q.set('study', h.study);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) q.set('token', token);
    source = new EventSource('/api/v1/events' + (q.toString() ? '?' + q : ''));
    const mine = source;
    source.onopen = () => { stopPolling(); setStatus('live'); h.poll(); };
    source.onerror = () => { if (mine === source) startPolling(); };
    for (const type of EVENTS) {
      source.addEventListener(type, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (handler === h) h.onEvent(type, data);
      });
    }
  }

  K.live = { subscribe, leave };

  /* Calls fn at most once per `ms` (a number, or a function giving it),
   * trailing: bursts of live events turn into one chart redraw every 500 ms
   * instead of one per event. */
  K.throttle = function (fn, ms) {
    let pending = null;
    let last = -Infinity;
    return function () {
      if (pending) return;
      /* performance.now, which only goes forward: by Date.now, a browser
       * clock set back an hour while a page was open held its next redraw
       * an hour */
      const wait = Math.max(0, last + (typeof ms === 'function' ? ms() : ms) - performance.now());
      pending = setTimeout(() => { pending = null; last = performance.now(); fn(); }, wait);
    };
  };

  /* One call of the async fn at a time: a call while one is in flight is
   * kept (however many come) and runs once after it, so a newer load's
   * answer is the last drawn. Called side by side, an older answer that
   * came last was drawn over a newer one, and with no later event the page
   * kept it (a finished study shown RUNNING). */
  K.serial = function (fn) {
    let busy = false;
    let again = false;
    return async function run() {
      if (busy) { again = true; return; }
      busy = true;
      again = false;
      try { await fn(); } finally { busy = false; }
      if (again) run();
    };
  };

  /* Calls fn every ms while the page is alive (page.alive(), app.js): what
   * moves with the clock alone, such as a running trial's Duration, which
   * no event moves while the trial does not report. */
  K.every = function (ms, page, fn) {
    const id = setInterval(() => { if (page.alive()) fn(); else clearInterval(id); }, ms);
  };
})(window.K);
