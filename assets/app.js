// webpeek dashboard.
//
// Security rule of this file: nothing that comes from a log line (or from the
// server at all) is ever parsed as HTML. Every value goes into the page through
// textContent / createTextNode, and URLs are only used as URLs when they start
// with http:// or https://. No innerHTML, no eval, no inline styles in markup
// (the server's CSP forbids them anyway); styles are set by class or CSSOM.
'use strict';

(function () {
  const MAX_ROWS = 500;            // rows kept in the DOM
  const MAX_BUFFER = 5000;         // hits kept while paused
  const PREVIEW_EVERY_MS = 5000;   // the seed's "at most one every 5 s"
  const CHART_SECONDS = 300;       // 5 minutes of requests/second
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'), server: $('server'),
    rate: $('rate'), total: $('total'), shown: $('shown'), visitors: $('visitors'),
    unparsed: $('unparsed'), missed: $('missed'), missedBox: document.querySelector('.missed-box'),
    filter: $('filter'), pause: $('pause'), buffered: $('buffered'),
    feed: $('feed'), feedEmpty: $('feed-empty'), feedCount: $('feed-count'),
    seedHost: $('seed-host'), seedUrl: $('seed-url'), preview: $('preview'), previewNote: $('preview-note'),
    chart: $('chart'), chartNow: $('chart-now'),
    statusBar: $('status-bar'), statusLegend: $('status-legend'),
    botsBar: $('bots-bar'), botsLegend: $('bots-legend'),
    tops: {
      pages: $('top-pages'), referers: $('top-referers'), hosts: $('top-hosts'),
      browsers: $('top-browsers'), os: $('top-os'),
    },
  };

  // ---------- small helpers ----------

  const numberFormat = new Intl.NumberFormat();
  function fmtInt(n) {
    return typeof n === 'number' && isFinite(n) ? numberFormat.format(n) : '–';
  }
  function setCounter(node, n) {
    node.textContent = fmtInt(n);
    node.dataset.value = typeof n === 'number' ? String(n) : '';
  }
  function str(v) {
    return v === null || v === undefined ? '' : String(v);
  }
  function isHttpUrl(u) {
    return typeof u === 'string' && /^https?:\/\//i.test(u);
  }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  function localTime(iso) {
    const d = new Date(iso);
    if (isNaN(d.getTime())) return str(iso);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }
  function statusClass(s) {
    const c = Math.floor(Number(s) / 100);
    return c >= 1 && c <= 5 ? 's' + c : 's0';
  }
  function td(cls, text, title) {
    const cell = document.createElement('td');
    cell.className = cls;
    cell.textContent = text;
    if (title) cell.title = title;
    return cell;
  }

  // ---------- state ----------

  let lastSeq = null;              // last hit seq seen (for resume)
  let missed = 0;                  // cumulative "lagged" count
  let paused = false;
  let buffer = [];                 // hits received while paused
  let bufferDropped = 0;
  let filterText = '';
  const hostNames = new Map();     // ip -> reverse DNS name
  const rowText = new WeakMap();   // row -> lowercase searchable text
  let localHitsThisSecond = 0;     // fallback rate when no stats arrive
  let lastStatsAt = 0;
  let lastStatsRate = 0;
  let openedAt = 0;                // when the current connection opened

  // ---------- live feed ----------

  function searchText(h) {
    const s = Number(h.status);
    return [
      localTime(h.time), h.ip, hostNames.get(h.ip) || h.host, h.method, h.path,
      h.query ? '?' + h.query : '', s, isFinite(s) ? Math.floor(s / 100) + 'xx' : '',
      h.browser, h.os, h.agent, h.referer, h.source, h.vhost, h.country, h.url,
      h.bot ? 'bot' : '',
    ].map(str).join(' ').toLowerCase();
  }

  function makeRow(h) {
    const tr = document.createElement('tr');
    tr.className = 'hit' + (h.bot ? ' is-bot' : '');
    tr.dataset.seq = str(h.seq);
    tr.dataset.ip = str(h.ip);

    tr.appendChild(td('c-time', localTime(h.time), str(h.time)));

    const name = hostNames.get(h.ip) || h.host;
    const hostCell = td('c-host', name || str(h.ip), name ? str(h.ip) : '');
    if (h.country) {
      const cc = document.createElement('span');
      cc.className = 'cc';
      cc.textContent = str(h.country);
      hostCell.appendChild(document.createTextNode(' '));
      hostCell.appendChild(cc);
    }
    tr.appendChild(hostCell);

    tr.appendChild(td('c-method', str(h.method)));

    const pathCell = document.createElement('td');
    pathCell.className = 'c-path';
    const fullPath = str(h.path) + (h.query ? '?' + h.query : '');
    pathCell.title = (h.url ? str(h.url) : fullPath) + (h.referer ? '\nfrom ' + h.referer : '');
    if (h.vhost) {
      const vh = document.createElement('span');
      vh.className = 'vhost';
      vh.textContent = str(h.vhost);
      pathCell.appendChild(vh);
    }
    const p = document.createElement('span');
    p.className = 'path';
    p.textContent = str(h.path);
    pathCell.appendChild(p);
    if (h.query) {
      const q = document.createElement('span');
      q.className = 'query';
      q.textContent = '?' + h.query;
      pathCell.appendChild(q);
    }
    tr.appendChild(pathCell);

    const st = td('c-status', str(h.status));
    const badge = document.createElement('span');
    badge.className = 'st ' + statusClass(h.status);
    badge.textContent = st.textContent;
    st.textContent = '';
    st.appendChild(badge);
    tr.appendChild(st);

    const ua = [h.browser, h.os].filter(Boolean).map(str).join(' / ');
    const agentCell = td('c-agent', ua || (h.agent ? str(h.agent) : '–'), str(h.agent));
    if (h.bot) {
      const b = document.createElement('span');
      b.className = 'botmark';
      b.textContent = 'bot';
      b.title = 'crawler or program';
      agentCell.insertBefore(b, agentCell.firstChild);
    }
    tr.appendChild(agentCell);

    tr.appendChild(td('c-source', str(h.source)));

    rowText.set(tr, searchText(h));
    if (filterText && !rowText.get(tr).includes(filterText)) tr.hidden = true;
    return tr;
  }

  // New rows flash briefly, but only while traffic is light: under load, dozens of animated
  // rows a second cost the browser more than the feed itself.
  let flashSecond = 0;
  let flashedThisSecond = 0;

  function addRows(hits) {
    if (!hits.length) return;
    const start = Math.max(0, hits.length - MAX_ROWS);
    const now = Math.floor(Date.now() / 1000);
    if (now !== flashSecond) {
      flashSecond = now;
      flashedThisSecond = 0;
    }
    flashedThisSecond += hits.length;
    const flash = flashedThisSecond <= 5;
    const frag = document.createDocumentFragment();
    for (let i = hits.length - 1; i >= start; i--) {
      const row = makeRow(hits[i]);
      if (flash) row.classList.add('fresh');
      frag.appendChild(row);
    }
    el.feed.insertBefore(frag, el.feed.firstChild);
    while (el.feed.childElementCount > MAX_ROWS) el.feed.removeChild(el.feed.lastElementChild);
    updateFeedInfo();
  }

  function updateFeedInfo() {
    const n = el.feed.childElementCount;
    el.feedEmpty.hidden = n > 0;
    let visible = n;
    if (filterText) {
      visible = 0;
      for (const r of el.feed.children) if (!r.hidden) visible++;
    }
    el.feedCount.textContent = filterText ? visible + ' of ' + n + ' match' : n ? '(' + n + ')' : '';
  }

  function applyFilter() {
    filterText = el.filter.value.trim().toLowerCase();
    for (const r of el.feed.children) {
      const t = rowText.get(r) || '';
      r.hidden = !!filterText && !t.includes(filterText);
    }
    updateFeedInfo();
  }

  function setPaused(p) {
    paused = p;
    el.pause.textContent = paused ? 'Resume' : 'Pause';
    el.pause.setAttribute('aria-pressed', String(paused));
    el.pause.classList.toggle('active', paused);
    if (!paused) {
      const hits = buffer;
      buffer = [];
      bufferDropped = 0;
      addRows(hits);
    }
    updateBuffered();
  }

  function updateBuffered() {
    if (!paused) { el.buffered.hidden = true; el.buffered.textContent = ''; return; }
    el.buffered.hidden = false;
    const n = buffer.length + bufferDropped;
    el.buffered.textContent = 'paused · ' + numberFormat.format(n) + ' new';
  }

  // ---------- seed's view (host, URL, preview) ----------

  let lastSeedAt = 0;
  let pendingSeed = null;
  let seedTimer = null;
  let seedIp = null;

  function offerSeed(h) {
    const now = Date.now();
    if (now - lastSeedAt >= PREVIEW_EVERY_MS) {
      showSeed(h);
    } else {
      pendingSeed = h;
      if (!seedTimer) {
        seedTimer = setTimeout(() => {
          seedTimer = null;
          const p = pendingSeed;
          pendingSeed = null;
          if (p) showSeed(p);
        }, PREVIEW_EVERY_MS - (now - lastSeedAt));
      }
    }
  }

  function showSeed(h) {
    lastSeedAt = Date.now();
    seedIp = str(h.ip);
    el.seedHost.textContent = hostNames.get(h.ip) || h.host || str(h.ip);
    el.seedHost.title = str(h.ip);
    const shown = h.url ? str(h.url) : str(h.path) + (h.query ? '?' + h.query : '');
    el.seedUrl.textContent = '';
    if (isHttpUrl(h.url)) {
      const a = document.createElement('a');
      a.href = h.url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.textContent = shown;
      el.seedUrl.appendChild(a);
      if (el.preview.getAttribute('src') !== h.url) el.preview.src = h.url;
      el.preview.classList.add('loaded');
      el.previewNote.hidden = true;
    } else {
      el.seedUrl.textContent = shown;
    }
  }

  // ---------- stats ----------

  function renderTop(tbody, list) {
    tbody.textContent = '';
    if (!Array.isArray(list) || !list.length) {
      const tr = document.createElement('tr');
      tr.appendChild(td('empty', 'none yet'));
      tbody.appendChild(tr);
      return;
    }
    let max = 0;
    for (const e of list) if (Array.isArray(e) && Number(e[1]) > max) max = Number(e[1]);
    for (const e of list.slice(0, 10)) {
      if (!Array.isArray(e)) continue;
      const tr = document.createElement('tr');
      const name = td('k', str(e[0]) || '(none)', str(e[0]));
      const bar = document.createElement('span');
      bar.className = 'minibar';
      bar.style.width = (max ? (100 * Number(e[1]) / max) : 0).toFixed(1) + '%';
      name.insertBefore(bar, name.firstChild);
      tr.appendChild(name);
      tr.appendChild(td('v', fmtInt(Number(e[1]))));
      tbody.appendChild(tr);
    }
  }

  function renderBar(bar, legend, parts) {
    // parts: [[key, count, segmentIndex]]
    const segs = bar.children;
    const sum = parts.reduce((a, p) => a + (Number(p[1]) || 0), 0);
    parts.forEach((p, i) => {
      const n = Number(p[1]) || 0;
      segs[i].style.width = sum ? (100 * n / sum).toFixed(2) + '%' : '0';
      segs[i].title = p[0] + ': ' + fmtInt(n);
      const b = legend.querySelector('b[data-k="' + p[0] + '"]');
      if (b) b.textContent = p[1] === null ? '–' : fmtInt(n) + (sum ? ' (' + Math.round(100 * n / sum) + '%)' : '');
    });
    bar.classList.toggle('empty-bar', !sum);
  }

  function onStats(m) {
    lastStatsAt = Date.now();
    lastStatsRate = Number(m.rate) || 0;
    el.rate.textContent = typeof m.rate === 'number' ? (m.rate >= 100 ? m.rate.toFixed(0) : m.rate.toFixed(1)) : '–';
    el.rate.dataset.value = str(m.rate);
    setCounter(el.total, m.total);
    setCounter(el.shown, m.shown);
    setCounter(el.visitors, m.visitors);
    setCounter(el.unparsed, m.unparsed);
    el.unparsed.classList.toggle('warn', Number(m.unparsed) > 0);

    const s = m.status || {};
    renderBar(el.statusBar, el.statusLegend,
      [['2xx', s['2xx'] || 0], ['3xx', s['3xx'] || 0], ['4xx', s['4xx'] || 0], ['5xx', s['5xx'] || 0]]);

    if (m.bots && typeof m.bots === 'object') {
      renderBar(el.botsBar, el.botsLegend, [['people', m.bots.people || 0], ['bots', m.bots.bots || 0]]);
    } else {
      renderBar(el.botsBar, el.botsLegend, [['people', null], ['bots', null]]);
    }

    const top = m.top || {};
    for (const k of Object.keys(el.tops)) renderTop(el.tops[k], top[k]);
  }

  // ---------- requests/second chart ----------

  const samples = [];              // [{t: ms, v: rate}]
  function sampleRate() {
    const now = Date.now();
    const fresh = now - lastStatsAt < 2500;
    const v = fresh ? lastStatsRate : localHitsThisSecond;
    localHitsThisSecond = 0;
    samples.push({ t: now, v });
    while (samples.length && samples[0].t < now - CHART_SECONDS * 1000) samples.shift();
    el.chartNow.textContent = (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + '/s';
    drawChart();
  }

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function niceMax(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function drawChart() {
    const c = el.chart;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const fg = cssVar('--muted', '#888'), grid = cssVar('--grid', 'rgba(128,128,128,.25)');
    const line = cssVar('--accent', '#3b82f6'), fill = cssVar('--accent-fill', 'rgba(59,130,246,.18)');
    const left = 34, right = 6, topPad = 6, bottom = 16;
    const pw = w - left - right, ph = h - topPad - bottom;
    let max = 0;
    for (const s of samples) if (s.v > max) max = s.v;
    max = niceMax(max);
    g.font = '10px system-ui, sans-serif';
    g.fillStyle = fg;
    g.strokeStyle = grid;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 2; i++) {
      const y = Math.round(topPad + ph - (ph * i) / 2) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      const val = (max * i) / 2;
      g.fillText(val >= 10 || val === 0 ? val.toFixed(0) : val.toFixed(1), left - 4, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let m = 5; m >= 0; m--) {
      const x = left + pw - (pw * m * 60) / CHART_SECONDS;
      g.fillText(m ? '-' + m + 'm' : 'now', Math.min(Math.max(x, left + 8), left + pw - 10), topPad + ph + 3);
    }
    if (!samples.length) return;
    const now = samples[samples.length - 1].t;
    const xOf = (t) => left + pw - (pw * (now - t)) / (CHART_SECONDS * 1000);
    const yOf = (v) => topPad + ph - (ph * v) / max;
    g.beginPath();
    g.moveTo(xOf(samples[0].t), yOf(0));
    for (const s of samples) g.lineTo(xOf(s.t), yOf(s.v));
    g.lineTo(xOf(now), yOf(0));
    g.closePath();
    g.fillStyle = fill;
    g.fill();
    g.beginPath();
    samples.forEach((s, i) => (i ? g.lineTo(xOf(s.t), yOf(s.v)) : g.moveTo(xOf(s.t), yOf(s.v))));
    g.strokeStyle = line;
    g.lineWidth = 1.5;
    g.stroke();
  }

  // ---------- messages ----------

  function onHits(hits) {
    if (!Array.isArray(hits)) return;
    const fresh = [];
    for (const h of hits) {
      if (!h || typeof h !== 'object') continue;
      const seq = Number(h.seq);
      if (lastSeq !== null && isFinite(seq) && seq <= lastSeq) continue; // duplicate after resume
      if (isFinite(seq)) lastSeq = seq;
      if (h.host && h.ip && !hostNames.has(h.ip)) hostNames.set(h.ip, str(h.host));
      fresh.push(h);
      // Fallback rate (until stats arrive): count only hits that are recent, not the backlog.
      const t = Date.parse(h.time);
      if (!isNaN(t) && t > Date.now() - 3000 && Date.now() - openedAt > 1500) localHitsThisSecond++;
    }
    if (!fresh.length) return;
    offerSeed(fresh[fresh.length - 1]);
    if (paused) {
      for (const h of fresh) buffer.push(h);
      if (buffer.length > MAX_BUFFER) {
        bufferDropped += buffer.length - MAX_BUFFER;
        buffer = buffer.slice(buffer.length - MAX_BUFFER);
      }
      updateBuffered();
    } else {
      addRows(fresh);
    }
  }

  function onHosts(hosts) {
    if (!hosts || typeof hosts !== 'object') return;
    let any = false;
    for (const ip of Object.keys(hosts)) {
      if (typeof hosts[ip] === 'string' && hosts[ip]) { hostNames.set(ip, hosts[ip]); any = true; }
    }
    if (!any) return;
    for (const r of el.feed.children) {
      const ip = r.dataset.ip;
      const name = Object.prototype.hasOwnProperty.call(hosts, ip) ? hosts[ip] : null;
      if (typeof name !== 'string' || !name) continue;
      const cell = r.querySelector('.c-host');
      if (cell) {
        // Replace the leading text node (the name or ip), keep a country tag if any.
        const first = cell.firstChild;
        if (first && first.nodeType === Node.TEXT_NODE) first.nodeValue = name;
        else cell.insertBefore(document.createTextNode(name), first);
        cell.title = ip;
      }
      const t = rowText.get(r);
      if (t !== undefined) rowText.set(r, t + ' ' + name.toLowerCase());
    }
    if (seedIp !== null && typeof hosts[seedIp] === 'string' && hosts[seedIp]) el.seedHost.textContent = hosts[seedIp];
  }

  function onMessage(ev) {
    if (typeof ev.data !== 'string') return;
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { console.warn('webpeek: bad frame', e); return; }
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'hello':
        el.server.textContent = str(m.server);
        // A server that restarted counts from scratch: forget the old sequence.
        if (lastSeq !== null && typeof m.seq === 'number' && m.seq < lastSeq) lastSeq = null;
        break;
      case 'hits': onHits(m.hits); break;
      case 'hosts': onHosts(m.hosts); break;
      case 'stats': onStats(m); break;
      case 'lagged':
        missed += Number(m.missed) || 0;
        setCounter(el.missed, missed);
        el.missedBox.classList.toggle('warn', missed > 0);
        break;
      default: break;
    }
  }

  // ---------- connection ----------

  let ws = null;
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;

  function setStatus(state, detail) {
    el.status.textContent = state;
    el.status.className = 'conn conn-' + state;
    el.status.title = detail || 'WebSocket connection';
  }

  // Relative to the page, so the dashboard works under a proxy's path prefix (--base-path);
  // the sign-in cookie goes along by itself.
  function wsUrl() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = '';
    url.hash = '';
    return url.href;
  }

  function connect() {
    retryTimer = null;
    setStatus(lastSeq === null && backoff === BACKOFF_MIN_MS ? 'connecting' : 'reconnecting');
    let sock;
    try { sock = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      openedAt = Date.now();
      // Always say where we stand (0: nothing yet), so the server need not wait to find out.
      sock.send(JSON.stringify({ type: 'resume', after: lastSeq === null ? 0 : lastSeq }));
      setStatus('connected');
    };
    sock.onmessage = onMessage;
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      scheduleReconnect();
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  function scheduleReconnect() {
    if (retryTimer) return;
    const wait = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    setStatus('reconnecting', 'connection lost; retrying in ' + (wait / 1000).toFixed(1) + ' s');
    retryTimer = setTimeout(connect, wait);
  }

  // ---------- wiring ----------

  el.filter.addEventListener('input', applyFilter);
  el.filter.addEventListener('keydown', (e) => { if (e.key === 'Escape') { el.filter.value = ''; applyFilter(); } });
  el.pause.addEventListener('click', () => setPaused(!paused));
  document.addEventListener('keydown', (e) => {
    if (e.target === el.filter) return;
    if (e.key === '/') { e.preventDefault(); el.filter.focus(); }
    if (e.key === ' ' && e.target === document.body) { e.preventDefault(); setPaused(!paused); }
  });
  window.addEventListener('resize', drawChart);
  for (const k of Object.keys(el.tops)) renderTop(el.tops[k], []);
  updateFeedInfo();
  setInterval(sampleRate, 1000);
  drawChart();
  connect();
})();
