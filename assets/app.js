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
  const PREVIEW_EVERY_MS = 5000;   // the seed's "at most one every 5 s" (hello's preview_every overrides)
  const CHART_SECONDS = 300;       // 5 minutes of requests/second
  const CHART_MINUTES = 1440;      // 24 hours of requests/minute
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'), nats: $('nats'), server: $('server'), hubName: $('hub-name'), serverFilter: $('server-filter'),
    chips: $('chips'), unpin: $('unpin'), pinHint: $('pin-hint'), seed: document.querySelector('.seed'),
    topsBox: $('tops'), overview: $('overview'), cards: $('cards'), overviewHint: $('overview-hint'),
    windowButtons: document.querySelectorAll('.window-switch button'),
    sum: {
      requests: $('sum-requests'), page_views: $('sum-page_views'), visitors: $('sum-visitors'), bytes: $('sum-bytes'),
    },
    rate: $('rate'), total: $('total'), shown: $('shown'), visitors: $('visitors'),
    unparsed: $('unparsed'), missed: $('missed'), missedBox: document.querySelector('.missed-box'),
    filter: $('filter'), pause: $('pause'), buffered: $('buffered'),
    feed: $('feed'), feedEmpty: $('feed-empty'), feedCount: $('feed-count'),
    seedHost: $('seed-host'), seedUrl: $('seed-url'), preview: $('preview'), previewNote: $('preview-note'),
    chart: $('chart'), chartNow: $('chart-now'),
    chartMin: $('chart-min'), chartMinNow: $('chart-min-now'), chartMinSpan: $('chart-min-span'),
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
  function fmtBytes(n) {
    if (typeof n !== 'number' || !isFinite(n) || n < 0) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)) + ' ' + units[i];
  }
  function fmtShare(n, of) {
    if (!(of > 0)) return '';
    const p = (100 * n) / of;
    if (p > 0 && p < 0.1) return '<0.1%';
    return (p < 10 ? p.toFixed(1) : Math.round(p)) + '%';
  }
  /** The host a referer names, as the server groups referring sites: lowercase, no user, no port. */
  function siteOf(referer) {
    if (typeof referer !== 'string') return '';
    const at = referer.indexOf('://');
    if (at < 0) return '';
    const rest = referer.slice(at + 3);
    const end = rest.search(/[/?#]/);
    let host = end < 0 ? rest : rest.slice(0, end);
    const user = host.lastIndexOf('@');
    if (user >= 0) host = host.slice(user + 1);
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && !host.endsWith(']')) host = host.slice(0, colon);
    return host.toLowerCase();
  }
  function networkOf(asn) {
    return asn && typeof asn === 'object' && asn.number !== undefined && asn.number !== null
      ? ('AS' + asn.number + ' ' + str(asn.org)).trim() : '';
  }
  // Country flags are text: two regional-indicator letters. Where the system has no flag glyphs
  // (Windows, a bare Linux) they would show as two boxes or letters, so the code is shown instead.
  let flagsWork = null;
  function flagsSupported() {
    if (flagsWork !== null) return flagsWork;
    flagsWork = false;
    try {
      const g = document.createElement('canvas').getContext('2d');
      g.font = '32px sans-serif';
      const pair = g.measureText('\u{1F1E9}\u{1F1EA}').width, one = g.measureText('\u{1F1E9}').width;
      flagsWork = pair > 0 && pair < one * 1.5;
    } catch (e) { /* no canvas: codes */ }
    return flagsWork;
  }
  function flagOf(code) {
    const cc = str(code).toUpperCase();
    if (!/^[A-Z]{2}$/.test(cc)) return '';
    return String.fromCodePoint(0x1F1E6 + cc.charCodeAt(0) - 65, 0x1F1E6 + cc.charCodeAt(1) - 65);
  }
  let regionNames = null;
  const countryNameCache = new Map();
  function countryName(code) {
    const cc = str(code).toUpperCase();
    if (countryNameCache.has(cc)) return countryNameCache.get(cc);
    let name = cc;
    try {
      if (regionNames === null) regionNames = new Intl.DisplayNames([navigator.language || 'en', 'en'], { type: 'region' });
      if (/^[A-Z]{2}$/.test(cc)) name = regionNames.of(cc) || cc;
    } catch (e) { /* an odd code or no Intl.DisplayNames: the code itself */ }
    if (countryNameCache.size < 500) countryNameCache.set(cc, name);
    return name;
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
  let hubBoot = null;              // the run lastSeq counts in (hello's boot)
  let missed = 0;                  // cumulative "lagged" count
  let paused = false;
  let buffer = [];                 // hits received while paused
  let bufferDropped = 0;
  let filterText = '';
  const hostNames = new Map();     // ip -> reverse DNS name
  const MAX_HOST_NAMES = 10000;    // a tab left open for days keeps the latest names only

  // Remembers a name; the oldest one goes when the map is full (a Map keeps insertion order).
  function noteHost(ip, name) {
    hostNames.delete(ip);
    hostNames.set(ip, name);
    if (hostNames.size > MAX_HOST_NAMES) hostNames.delete(hostNames.keys().next().value);
  }
  let statsTotal = 0;              // the last stats frame's requests parsed, hits shown, lines unparsed
  let statsShown = 0;
  let statsUnparsed = 0;
  const RESTART = {};              // in a list of hits: the server came back as a new run here
  const rowText = new WeakMap();   // row -> lowercase searchable text
  const rowHit = new WeakMap();    // row -> its hit (click-to-filter, pinning)
  const filters = new Map();       // field -> {value, label}: the chips, combined with AND
  const serversSeen = new Set();   // servers hits came from (a server filter once there are two)

  // ---------- live feed ----------

  function searchText(h) {
    const s = Number(h.status);
    return [
      localTime(h.time), h.ip, hostNames.get(h.ip) || h.host, h.method, h.path,
      h.query ? '?' + h.query : '', s, isFinite(s) ? Math.floor(s / 100) + 'xx' : '',
      h.browser, h.os, h.agent, h.referer, h.source, h.vhost, h.country, h.url,
      h.bot ? 'bot' : '', h.device, h.server, networkOf(h.asn),
    ].map(str).join(' ').toLowerCase();
  }

  function makeRow(h) {
    const tr = document.createElement('tr');
    tr.className = 'hit' + (h.bot ? ' is-bot' : '');
    tr.dataset.seq = str(h.seq);
    tr.dataset.ip = str(h.ip);
    tr.tabIndex = -1;                // the feed is one tab stop: see focusRow

    tr.appendChild(td('c-time', localTime(h.time), str(h.time)));

    const name = hostNames.get(h.ip) || h.host;
    // the whole address in the title: a long IPv6 address may be cut on a narrow screen
    const hostCell = td('c-host', name || str(h.ip), str(h.ip));
    if (h.country) {
      const cc = document.createElement('span');
      const flag = flagsSupported() ? flagOf(h.country) : '';
      cc.className = flag ? 'flag' : 'cc';
      cc.textContent = flag || str(h.country);
      cc.title = countryName(h.country);
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
    rowHit.set(tr, h);
    if (pinned === h) tr.classList.add('pinned');
    if ((filterText || filters.size) && !rowVisible(tr)) tr.hidden = true;
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
      if (hits[i] === RESTART) { frag.appendChild(makeNote()); continue; }
      const row = makeRow(hits[i]);
      if (flash) row.classList.add('fresh');
      frag.appendChild(row);
    }
    el.feed.insertBefore(frag, el.feed.firstChild);
    while (el.feed.childElementCount > MAX_ROWS) el.feed.removeChild(el.feed.lastElementChild);
    updateFeedInfo();
    ensureFocusRow();
  }

  /** A row across the feed saying the server came back as a new run: the rows below are the old run's. */
  function makeNote() {
    const tr = document.createElement('tr');
    tr.className = 'note';
    const cell = document.createElement('td');
    cell.colSpan = 7;
    cell.textContent = 'webpeek restarted';
    const when = document.createElement('span');
    when.className = 'muted';
    when.textContent = ' at ' + localTime(new Date().toISOString()) + ' · the rows below are from before';
    cell.appendChild(when);
    cell.title = 'the server is a new run (a restart, or another hub behind a balancer)';
    tr.appendChild(cell);
    return tr;
  }

  /** Marks where a new run of the server begins, in the feed or, while paused, among the buffered hits. */
  function noteRestart() {
    if (paused) {
      if (buffer.length || hitRowCount()) buffer.push(RESTART);
      updateBuffered();
    } else if (hitRowCount()) {
      addRows([RESTART]);
    }
  }

  const noteRows = el.feed.getElementsByClassName('note'); // live
  function hitRowCount() { return el.feed.childElementCount - noteRows.length; }

  const WAITING = el.feedEmpty.textContent;

  /** Why the feed is empty: waiting, or lines read that it does not show (and how to see them). */
  function emptyFeedText() {
    const p = el.feedEmpty;
    let parts;
    if (statsTotal > 0 && statsShown === 0) {
      parts = [fmtInt(statsTotal) + (statsTotal === 1 ? ' request' : ' requests') + ' read, none shown yet: ' +
        'the feed shows page views (GET of pages, not of assets), and hides the requests of anyone ' +
        'with this dashboard open (by address: yours too). Start webpeek with ', ['--all'], ' to see every request.'];
    } else if (statsTotal === 0 && statsUnparsed > 0) {
      parts = [fmtInt(statsUnparsed) + (statsUnparsed === 1 ? ' line' : ' lines') + ' read, none in a log format ' +
        'webpeek knows: see its terminal, or run ', ['webpeek report --detect FILE'], '; ', ['--format'], ' sets the format.'];
    } else {
      parts = [WAITING];
    }
    const key = JSON.stringify(parts);
    if (p.dataset.text === key) return;
    p.dataset.text = key;
    p.textContent = '';
    for (const part of parts) {
      if (typeof part === 'string') { p.appendChild(document.createTextNode(part)); continue; }
      const c = document.createElement('code');
      c.textContent = part[0];
      p.appendChild(c);
    }
  }

  function updateFeedInfo() {
    const n = hitRowCount();
    el.feedEmpty.hidden = n > 0;
    if (!n) emptyFeedText();
    const filtering = !!filterText || filters.size > 0;
    let visible = n;
    if (filtering) {
      visible = 0;
      for (const r of el.feed.children) if (!r.hidden && r.classList.contains('hit')) visible++;
    }
    el.feedCount.textContent = filtering ? visible + ' of ' + n + ' match' : n ? '(' + n + ')' : '';
  }

  // ---------- keyboard: the feed is one tab stop, the arrows move between its rows ----------

  let focusRow = null;             // the row with tabindex 0 (the others have -1)

  function setFocusRow(r) {
    if (focusRow === r) return;
    if (focusRow) focusRow.tabIndex = -1;
    focusRow = r;
    if (r) r.tabIndex = 0;
  }

  /** Keeps a tab stop in the feed: the row last focused while it is shown, else the newest shown. */
  function ensureFocusRow() {
    if (focusRow && focusRow.isConnected && !focusRow.hidden) return;
    setFocusRow(stepRow(null, 1));
  }

  /** The next shown hit row after `from` (or the first, from null) going down (1) or up (-1). */
  function stepRow(from, dir) {
    let r = from ? (dir > 0 ? from.nextElementSibling : from.previousElementSibling)
      : (dir > 0 ? el.feed.firstElementChild : el.feed.lastElementChild);
    while (r && (r.hidden || !r.classList.contains('hit'))) r = dir > 0 ? r.nextElementSibling : r.previousElementSibling;
    return r;
  }

  function focusOn(r) {
    setFocusRow(r);
    r.focus({ preventScroll: true });
    r.scrollIntoView({ block: 'nearest' });
  }

  function onFeedKey(e) {
    const row = e.target;
    if (!row.classList || !row.classList.contains('hit') || e.altKey || e.ctrlKey || e.metaKey) return;
    let to;
    switch (e.key) {
      case 'ArrowDown': to = stepRow(row, 1); break;
      case 'ArrowUp': to = stepRow(row, -1); break;
      case 'Home': to = stepRow(null, 1); break;
      case 'End': to = stepRow(null, -1); break;
      case 'Enter':
      case ' ': {
        e.preventDefault();
        const h = rowHit.get(row);
        if (h) pin(h, row);
        return;
      }
      default: return;
    }
    e.preventDefault();
    if (to) focusOn(to);
  }

  function applyFilter() {
    filterText = el.filter.value.trim().toLowerCase();
    refilter();
  }

  // ---------- click-to-filter: chips above the feed ----------

  // What each panel's entries are matched against in a hit, and how a chip names it.
  const FIELDS = {
    path: { label: 'path', of: (h) => str(h.path) },
    site: { label: 'from', of: (h) => siteOf(h.referer) },
    browser: { label: 'browser', of: (h) => str(h.browser) },
    os: { label: 'OS', of: (h) => str(h.os) },
    device: { label: 'device', of: (h) => str(h.device) },
    country: { label: 'country', of: (h) => str(h.country) },
    network: { label: 'network', of: (h) => networkOf(h.asn) },
    ip: { label: 'host', of: (h) => str(h.ip) },
    status: { label: 'status', of: (h) => str(h.status) },
    server: { label: 'server', of: (h) => str(h.server) },
  };

  function hitMatches(h) {
    for (const [field, f] of filters) if (FIELDS[field].of(h) !== f.value) return false;
    return true;
  }

  function rowVisible(r) {
    if (filterText && !(rowText.get(r) || '').includes(filterText)) return false;
    if (!filters.size) return true;
    const h = rowHit.get(r);
    return !!h && hitMatches(h);
  }

  function refilter() {
    const any = !!filterText || filters.size > 0;
    for (const r of el.feed.children) if (r.classList.contains('hit')) r.hidden = any && !rowVisible(r);
    updateFeedInfo();
    ensureFocusRow();
  }

  /** Sets (or, given the value it has, clears) the filter on `field`; one value per field. */
  function toggleFilter(field, value, label) {
    const cur = filters.get(field);
    if (cur && cur.value === value) filters.delete(field);
    else filters.set(field, { value, label: label || value });
    filtersChanged();
  }

  function removeFilter(field) {
    if (!filters.delete(field)) return;
    filtersChanged();
  }

  /** Removes every chip (Esc); the keyboard, if it was on one, goes to the text filter. */
  function clearChips() {
    if (!filters.size) return;
    const inChips = el.chips.contains(document.activeElement);
    filters.clear();
    filtersChanged();
    if (inChips) el.filter.focus();
  }

  function filtersChanged() {
    renderChips();
    syncServerSelect();
    refilter();
    markActiveEntries();
  }

  function renderChips() {
    el.chips.textContent = '';
    el.chips.hidden = filters.size === 0;
    for (const [field, f] of filters) {
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.dataset.field = field;
      chip.dataset.value = f.value;
      const k = document.createElement('span');
      k.className = 'chip-k';
      k.textContent = FIELDS[field].label;
      const v = document.createElement('span');
      v.className = 'chip-v';
      v.textContent = f.label;
      v.title = f.value;
      const x = document.createElement('button');
      x.type = 'button';
      x.className = 'chip-x';
      x.textContent = '×';
      x.setAttribute('aria-label', 'remove the filter ' + FIELDS[field].label + ' ' + f.label);
      x.addEventListener('click', () => {
        const next = chip.nextElementSibling || chip.previousElementSibling;
        removeFilter(field);
        // keep the keyboard in the chips: focus the neighbour's ×, else the text filter
        const again = next && el.chips.querySelector('.chip[data-field="' + next.dataset.field + '"] .chip-x');
        (again || el.filter).focus();
      });
      chip.append(k, v, x);
      el.chips.appendChild(chip);
    }
    if (filters.size > 1) {
      const all = document.createElement('button');
      all.type = 'button';
      all.className = 'chip-clear';
      all.textContent = 'clear all';
      all.addEventListener('click', () => { filters.clear(); filtersChanged(); el.filter.focus(); });
      el.chips.appendChild(all);
    }
  }

  // The server filter: a select in the top bar once hits come from more than one server.
  function noteServer(name) {
    if (!name || serversSeen.has(name) || serversSeen.size >= 200) return;
    serversSeen.add(name);
    if (serversSeen.size < 2) return;
    const names = [...serversSeen].sort();
    const sel = el.serverFilter;
    while (sel.options.length > 1) sel.remove(1);
    for (const n of names) {
      const o = document.createElement('option');
      o.value = n;
      o.textContent = n;
      sel.appendChild(o);
    }
    sel.hidden = false;
    syncServerSelect();
  }

  function syncServerSelect() {
    const f = filters.get('server');
    const v = f ? f.value : '';
    if (v && ![...el.serverFilter.options].some((o) => o.value === v)) noteServer(v);
    el.serverFilter.value = v;
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
    let n = bufferDropped;
    for (const h of buffer) if (h !== RESTART) n++;
    el.buffered.textContent = 'paused · ' + numberFormat.format(n) + ' new';
  }

  // ---------- seed's view (host, URL, preview) ----------

  // The view follows the feed, changing at most every previewEveryMs, unless a row was clicked:
  // then it stays pinned to that hit until unpinned.
  let previewEveryMs = PREVIEW_EVERY_MS;
  let lastSeedAt = 0;
  let pendingSeed = null;          // the newest hit not shown yet
  let seedTimer = null;
  let seedIp = null;
  let pinned = null;               // the pinned hit, or null: following the feed

  function offerSeed(h) {
    pendingSeed = h;
    if (pinned || seedTimer) return;
    const wait = lastSeedAt + previewEveryMs - Date.now();
    if (wait <= 0) flushSeed();
    else seedTimer = setTimeout(() => { seedTimer = null; flushSeed(); }, wait);
  }

  function flushSeed() {
    if (pinned || !pendingSeed) return;
    const h = pendingSeed;
    pendingSeed = null;
    showSeed(h);
  }

  function pin(h, row) {
    if (pinned === h) { unpin(); return; }
    const old = el.feed.querySelector('.hit.pinned');
    if (old) old.classList.remove('pinned');
    pinned = h;
    if (row) row.classList.add('pinned');
    if (seedTimer) { clearTimeout(seedTimer); seedTimer = null; }
    showSeed(h);
    el.unpin.hidden = false;
    el.pinHint.hidden = true;
    el.seed.classList.add('is-pinned');
  }

  function unpin() {
    if (!pinned) return;
    pinned = null;
    const old = el.feed.querySelector('.hit.pinned');
    if (old) old.classList.remove('pinned');
    const hadFocus = document.activeElement === el.unpin;
    el.unpin.hidden = true;
    el.pinHint.hidden = false;
    el.seed.classList.remove('is-pinned');
    if (hadFocus) {
      ensureFocusRow();
      if (focusRow) focusRow.focus(); else el.feed.closest('.feed-scroll').focus();
    }
    flushSeed(); // at once to the newest hit, then at most every previewEveryMs again
  }

  // The empty preview's note: with --site, what will show here; without, how to get previews.
  const previewHint = el.previewNote.firstElementChild.cloneNode(true);
  function showPreviewHint(site) {
    const span = el.previewNote.firstElementChild;
    if (site === null) { span.replaceWith(previewHint.cloneNode(true)); return; }
    const s = document.createElement('span');
    const c = document.createElement('code');
    c.textContent = site.slice(0, 200);
    s.append('No preview yet: the next page view on ', c, ' shows here.');
    span.replaceWith(s);
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
    setStale(false);
    statsTotal = Number(m.total) || 0;
    statsShown = Number(m.shown) || 0;
    statsUnparsed = Number(m.unparsed) || 0;
    if (el.feedEmpty.hidden === false) emptyFeedText();
    const rate = typeof m.rate === 'number' && isFinite(m.rate) ? m.rate : null;
    el.rate.textContent = rate === null ? '–' : fmtRate(rate);
    el.rate.dataset.value = str(m.rate);
    const title = rate === null ? 'webpeek' : 'webpeek · ' + fmtRate(rate) + ' req/s';
    if (document.title !== title) document.title = title;
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
    const hasPanels = !!(m.panels && typeof m.panels === 'object');
    el.topsBox.hidden = hasPanels; // the panels say all the top lists do, and more
    if (!hasPanels) for (const k of Object.keys(el.tops)) renderTop(el.tops[k], top[k]);
    if (m.names && typeof m.names === 'object') {
      for (const ip of Object.keys(m.names)) {
        if (typeof m.names[ip] === 'string' && m.names[ip]) noteHost(ip, m.names[ip]);
      }
    }
    if (hasPanels) {
      lastPanels = m.panels;
      renderPanels();
    }

    showNats(m.nats);

    liveRate = rate;
    statsIntoCharts(m);
    drawCharts();
  }

  // ---------- the hub's NATS connection (--nats) ----------
  //
  // `nats` is null (or absent) without --nats: no pill. Otherwise the pill says the state in
  // words (not by colour alone); the URL, the last error and the counts go in its tooltip, as
  // text. The DOM is touched only when something changed (it is a live region).

  function showNats(n) {
    const node = el.nats;
    if (!n || typeof n !== 'object') {
      if (!node.hidden) node.hidden = true;
      return;
    }
    const state = str(n.state).slice(0, 80) || 'unknown';
    const up = state === 'connected';
    const lines = ['NATS server ' + (str(n.url).slice(0, 200) || '(unknown)') + ': ' + state];
    if (n.stream) lines.push('JetStream stream ' + str(n.stream).slice(0, 80) + (n.replaying ? ': replaying' : ''));
    if (n.stream_error) lines.push(str(n.stream_error).slice(0, 300));
    if (!up && n.error) lines.push(str(n.error).slice(0, 300));
    const count = (v) => (typeof v === 'number' && isFinite(v) ? v : 0);
    const more = [fmtInt(count(n.hits)) + ' hits received'];
    const lost = count(n.disconnects);
    if (lost) more.push('connection lost ' + fmtInt(lost) + (lost === 1 ? ' time' : ' times'));
    if (count(n.missed)) more.push(fmtInt(count(n.missed)) + ' messages never arrived');
    if (count(n.dropped_by_publishers)) more.push(fmtInt(count(n.dropped_by_publishers)) + ' hits dropped by publishers');
    lines.push(more.join(' · '));
    const streamDown = up && !!n.stream_error;
    setText(node, !up ? 'NATS: ' + state
      : streamDown ? 'NATS: stream unavailable'
      : n.replaying === true ? 'NATS: replaying' : 'NATS connected');
    const cls = 'conn nats ' + (up && !streamDown ? 'nats-up' : 'nats-down');
    if (node.className !== cls) node.className = cls; // also clears "stale"
    const title = lines.join('\n');
    if (node.title !== title) node.title = title;
    node.dataset.state = up && !streamDown ? 'connected' : 'down';
    if (node.hidden) node.hidden = false;
  }

  /** While the page's own connection is down, the NATS state shown is only the last one reported. */
  function natsStale() {
    if (el.nats.hidden || el.nats.classList.contains('stale')) return;
    el.nats.classList.add('stale');
    el.nats.title = 'as last reported (the dashboard is reconnecting)\n' + el.nats.title;
  }

  // ---------- panels: who visits, what they read, what fails ----------
  //
  // The server sends both windows in every stats frame; the page shows the one chosen (kept
  // in localStorage) and redraws at most once per stats frame, updating rows in place so a
  // focused entry keeps its focus.

  const PANELS = [
    { key: 'pages', title: 'Pages', field: 'path', of: 'page_views', mono: true },
    { key: 'sites', title: 'Referring sites', field: 'site', of: 'requests' },
    { key: 'countries', title: 'Countries', field: 'country', of: 'requests', optional: 'geoip' },
    { key: 'browsers', title: 'Browsers', field: 'browser', of: 'page_views' },
    { key: 'os', title: 'Operating systems', field: 'os', of: 'page_views' },
    { key: 'devices', title: 'Devices', field: 'device', of: 'page_views' },
    { key: 'not_found', title: 'Not found (404)', field: 'path', of: 'requests', mono: true, tone: 's4' },
    { key: 'errors', title: 'Server errors (5xx)', field: 'path', of: 'requests', mono: true, tone: 's5' },
    { key: 'static', title: 'Static files', field: 'path', of: 'requests', mono: true },
    { key: 'hosts', title: 'Hosts', field: 'ip', of: 'requests' },
    { key: 'networks', title: 'Networks', field: 'network', of: 'requests', optional: 'asn' },
    { key: 'codes', title: 'Status codes', field: 'status', of: 'requests', mono: true },
    { key: 'servers', title: 'Servers', field: 'server', of: 'requests', several: true },
  ];
  const DEVICE_NAMES = { desktop: 'Desktop', phone: 'Phone', tablet: 'Tablet', bot: 'Bot' };
  const WINDOW_KEY = 'webpeek.window';
  let panelWindow = 'recent';
  try { if (localStorage.getItem(WINDOW_KEY) === 'all') panelWindow = 'all'; } catch (e) { /* no storage */ }
  let lastPanels = null;
  let panelRenders = 0;
  const cards = new Map();         // panel key -> {section, list, empty, rows: [...]}

  function buildCards() {
    for (const p of PANELS) {
      const section = document.createElement('section');
      section.className = 'panel card' + (p.tone ? ' tone-' + p.tone : '');
      section.dataset.panel = p.key;
      section.setAttribute('aria-label', p.title);
      const head = document.createElement('div');
      head.className = 'card-head';
      const h = document.createElement('h2');
      h.textContent = p.title;
      const of = document.createElement('span');
      of.className = 'card-of muted';
      of.textContent = p.of === 'page_views' ? '% of page views' : '% of requests';
      head.append(h, of);
      const list = document.createElement('ol');
      list.className = 'entries' + (p.mono ? ' mono' : '');
      const empty = document.createElement('p');
      empty.className = 'card-empty muted';
      section.append(head, list, empty);
      el.cards.appendChild(section);
      cards.set(p.key, { p, section, list, empty, rows: [] });
    }
  }

  function makeEntry(card) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'entry';
    const bar = document.createElement('span');
    bar.className = 'ebar';
    const ico = document.createElement('span');
    ico.className = 'eico';
    const k = document.createElement('span');
    k.className = 'ek';
    const n = document.createElement('span');
    n.className = 'en';
    const pc = document.createElement('span');
    pc.className = 'ep';
    b.append(bar, ico, k, n, pc);
    li.appendChild(b);
    card.list.appendChild(li);
    const row = { li, b, bar, ico, k, n, pc, key: null, icoClass: '' };
    card.rows.push(row);
    return row;
  }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  /** What an entry shows for `key`: {text, title, icon class, icon text, filter label}. */
  function describe(p, key) {
    switch (p.key) {
      case 'countries': {
        const name = countryName(key);
        const flag = flagsSupported() ? flagOf(key) : '';
        return { text: name, title: name + ' (' + key + ')', icoText: flag || key, icoClass: flag ? 'eico flag' : 'eico code', label: (flag ? flag + ' ' : '') + name };
      }
      case 'devices': {
        const kind = DEVICE_NAMES[key] ? key : 'other';
        return { text: DEVICE_NAMES[key] || key, title: key, icoText: '', icoClass: 'eico dev dev-' + kind, label: DEVICE_NAMES[key] || key };
      }
      case 'hosts': {
        const name = hostNames.get(key);
        return { text: name || key, title: name ? name + ' (' + key + ')' : key, icoText: '', icoClass: 'eico', label: name || key };
      }
      case 'codes':
        return { text: key, title: key, icoText: '', icoClass: 'eico st-dot ' + statusClass(key), label: key };
      default:
        return { text: key || '(none)', title: key, icoText: '', icoClass: 'eico', label: key };
    }
  }

  function renderPanels() {
    const P = lastPanels;
    if (!P) return;
    const win = P[panelWindow] && typeof P[panelWindow] === 'object' ? P[panelWindow] : {};
    const all = P.all && typeof P.all === 'object' ? P.all : {};
    panelRenders++;
    el.overview.dataset.renders = String(panelRenders);
    el.overview.dataset.window = panelWindow;
    el.overview.hidden = false;
    if (!cards.size) buildCards();

    for (const k of Object.keys(el.sum)) {
      const v = Number(win[k]);
      const ok = win[k] !== null && win[k] !== undefined && isFinite(v);
      setText(el.sum[k], ok ? (k === 'bytes' ? fmtBytes(v) : fmtInt(v)) : '–');
      el.sum[k].dataset.value = ok ? String(v) : '';
      if (k === 'bytes') el.sum[k].title = ok ? fmtInt(v) + ' bytes' : '';
    }

    const missing = [];
    for (const card of cards.values()) {
      const p = card.p;
      const list = Array.isArray(win[p.key]) ? win[p.key].filter((e) => Array.isArray(e) && e.length >= 2) : [];
      const allList = Array.isArray(all[p.key]) ? all[p.key] : [];
      // Countries and networks need a database: without one the panel stays away, not empty.
      let hide = false;
      if (p.optional && !allList.length && !list.length) { hide = true; missing.push(p.optional); }
      if (p.several && allList.length < 2 && list.length < 2) hide = true;
      if (card.section.hidden !== hide) card.section.hidden = hide;
      if (hide) continue;

      const basis = Number(win[p.of]) || 0;
      let max = 0;
      for (const e of list) max = Math.max(max, Number(e[1]) || 0);
      const active = filters.get(p.field);
      for (let i = 0; i < list.length && i < 10; i++) {
        const row = card.rows[i] || makeEntry(card);
        const key = str(list[i][0]);
        const n = Number(list[i][1]) || 0;
        const d = describe(p, key);
        if (row.key !== key) {
          row.key = key;
          row.b.dataset.key = key;
        }
        row.b.dataset.count = String(n);
        row.label = d.label;
        setText(row.k, d.text);
        setText(row.n, fmtInt(n));
        setText(row.pc, fmtShare(n, basis));
        setText(row.ico, d.icoText);
        if (row.icoClass !== d.icoClass) { row.ico.className = d.icoClass; row.icoClass = d.icoClass; }
        row.bar.style.width = (max ? (100 * n) / max : 0).toFixed(1) + '%';
        const title = d.title + ': ' + fmtInt(n) + (basis ? ' (' + fmtShare(n, basis) + ')' : '') + ' · click to filter the feed';
        if (row.b.title !== title) row.b.title = title;
        row.b.setAttribute('aria-pressed', String(!!active && active.value === key));
        if (row.li.hidden) row.li.hidden = false;
      }
      for (let i = list.length; i < card.rows.length; i++) {
        if (!card.rows[i].li.hidden) card.rows[i].li.hidden = true;
        card.rows[i].key = null;
        card.rows[i].b.dataset.key = '';
      }
      card.empty.hidden = list.length > 0;
      if (!list.length) setText(card.empty, panelWindow === 'recent' ? 'nothing in the last 5 minutes' : 'nothing yet');
    }
    const hint = missing.length
      ? 'Countries and networks show up when webpeek is started with ' +
        missing.map((o) => '--' + o + ' FILE').join(' and ') + ' (a GeoLite2 or DB-IP .mmdb database).'
      : '';
    setText(el.overviewHint, hint);
    el.overviewHint.hidden = !hint;
  }

  function markActiveEntries() {
    for (const card of cards.values()) {
      const active = filters.get(card.p.field);
      for (const row of card.rows) {
        row.b.setAttribute('aria-pressed', String(!!active && row.key !== null && active.value === row.key));
      }
    }
  }

  function setWindow(w) {
    panelWindow = w === 'all' ? 'all' : 'recent';
    try { localStorage.setItem(WINDOW_KEY, panelWindow); } catch (e) { /* private mode */ }
    for (const b of el.windowButtons) b.setAttribute('aria-pressed', String(b.dataset.window === panelWindow));
    renderPanels();
  }

  function onEntryClick(ev) {
    const b = ev.target.closest('button.entry');
    if (!b) return;
    const section = b.closest('[data-panel]');
    const card = section && cards.get(section.dataset.panel);
    if (!card) return;
    const row = card.rows.find((r) => r.b === b);
    if (!row || row.key === null) return;
    toggleFilter(card.p.field, row.key, row.label);
  }

  // ---------- charts: requests per second (5 min) and per minute (24 h) ----------
  //
  // Both series are [unixSecond, requests, 2xx, 3xx, 4xx, 5xx] buckets, oldest first. The
  // `history` message fills them whole; each `stats` frame then brings the buckets counted in
  // since the previous one, whole. Drawn when data arrives (at most once a second), never per hit.

  const perSecond = [];
  const perMinute = [];
  let liveRate = null;             // the server's rate from the last stats frame

  function mod(a, n) { return ((a % n) + n) % n; }

  function cleanSeries(list, width, keep) {
    const out = [];
    if (!Array.isArray(list)) return out;
    for (const b of list) {
      if (!Array.isArray(b) || b.length < 6) continue;
      const v = b.slice(0, 6).map(Number);
      if (!v.every((x) => isFinite(x) && x >= 0)) continue;
      v[0] -= mod(v[0], width);
      out.push(v);
    }
    out.sort((a, b) => a[0] - b[0]);
    return out.slice(-keep);
  }

  function replaceSeries(series, fresh) {
    series.length = 0;
    for (const b of fresh) series.push(b);
  }

  /**
   * Puts whole buckets (oldest first, the newest of the server's window last) into a series of
   * `width`-second buckets: the window moves on to end where the server's ends, and each bucket
   * given replaces the one of its time. Whole counts, by the log's time, as the server has them:
   * a replay of old hits or a catch-up lands in its own minutes, not in the current one.
   */
  function putBuckets(series, width, keep, list) {
    const fresh = cleanSeries(list, width, keep);
    if (!fresh.length) return;
    const end = fresh[fresh.length - 1][0];
    // Beyond the server's end: its clock was set back, and so is its window.
    while (series.length && series[series.length - 1][0] > end) series.pop();
    const last = series.length ? series[series.length - 1][0] : null;
    const first = end - width * (keep - 1);
    if (last === null || last < first) series.length = 0; // a jump past the window
    for (let next = series.length ? last + width : first; next <= end; next += width) series.push([next, 0, 0, 0, 0, 0]);
    let drop = 0;
    while (drop < series.length && series[drop][0] < first) drop++;
    if (drop) series.splice(0, drop);
    for (const b of fresh) {
      let i = (b[0] - series[0][0]) / width;
      if (!(i >= 0 && i < series.length && series[i][0] === b[0])) i = series.findIndex((x) => x[0] === b[0]);
      if (i >= 0) series[i] = b;
    }
  }

  function onHistory(m) {
    replaceSeries(perSecond, cleanSeries(m.per_second, 1, CHART_SECONDS));
    replaceSeries(perMinute, cleanSeries(m.per_minute, 60, CHART_MINUTES));
    liveRate = null;
    drawCharts();
  }

  /** The buckets a stats frame brings up to date (none in the one a viewer gets on connecting). */
  function statsIntoCharts(m) {
    const h = m.history;
    if (!h || typeof h !== 'object') return;
    putBuckets(perSecond, 1, CHART_SECONDS, h.per_second);
    putBuckets(perMinute, 60, CHART_MINUTES, h.per_minute);
  }

  function fmtRate(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }
  function fmtCompact(v) {
    if (v >= 1e6) return +(v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
    if (v >= 1e3) return +(v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + 'k';
    return String(+v.toFixed(1));
  }

  // Colours, font and canvas sizes are read once and kept (until the theme or a size changes):
  // reading them from the page every second would force a layout of the whole feed each time.
  const styleCache = new Map();
  function cssVar(name, fallback) {
    if (!styleCache.has(name)) styleCache.set(name, getComputedStyle(document.documentElement).getPropertyValue(name).trim());
    return styleCache.get(name) || fallback;
  }
  function bodyFont() {
    if (!styleCache.has('font')) styleCache.set('font', getComputedStyle(document.body).fontFamily);
    return styleCache.get('font');
  }
  function themeChanged() {
    styleCache.clear();
    drawCharts();
  }
  const canvasSize = new WeakMap(); // canvas -> [width, height] in CSS pixels, from a ResizeObserver
  function sizeOf(c) {
    let s = canvasSize.get(c);
    if (!s) { s = [c.clientWidth, c.clientHeight]; canvasSize.set(c, s); }
    return s;
  }

  /** A y scale for counts: a round top, two or three whole-number steps. */
  function niceScale(v) {
    if (!(v > 0)) return { max: 1, step: 1 };
    const raw = v / 3;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = 10 * p;
    for (const m of p >= 10 ? [1, 2, 2.5, 5] : [1, 2, 5]) if (m * p >= raw) { step = m * p; break; }
    step = Math.max(1, step);
    return { max: Math.ceil(v / step) * step, step };
  }

  function hhmm(t, seconds) {
    const d = new Date(t * 1000);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (seconds ? ':' + pad2(d.getSeconds()) : '');
  }

  const SECOND_STEPS = [10, 15, 30, 60, 120, 300];
  const MINUTE_STEPS = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];
  const ZOOMS = [30, 60, 120, 180, 360, 720, 1440]; // minutes the 24 h chart may show

  /**
   * Draws one stacked chart. opts: series, width (bucket seconds), span (seconds shown),
   * bars (stacked bars instead of areas), steps (time-label steps in seconds).
   */
  function drawStacked(c, opts) {
    const dpr = window.devicePixelRatio || 1;
    const [w, h] = sizeOf(c);
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const fg = cssVar('--muted', '#888'), grid = cssVar('--grid', 'rgba(128,128,128,.25)');
    const colors = [cssVar('--s2', '#1f9d55'), cssVar('--s3', '#2f7fc1'), cssVar('--s4', '#d08a00'), cssVar('--s5', '#d64545'), fg];

    const series = opts.series, bw = opts.width;
    const end = series.length ? series[series.length - 1][0] + bw : Math.floor(Date.now() / 1000);
    const start = end - opts.span;
    let from = 0;
    while (from < series.length && series[from][0] < start) from++;
    let top = 0;
    for (let i = from; i < series.length; i++) {
      const b = series[i];
      top = Math.max(top, b[1], b[2] + b[3] + b[4] + b[5]);
    }
    const scale = niceScale(top);

    g.font = '10px ' + bodyFont();
    const ticks = [];
    for (let v = 0; v <= scale.max + 1e-9; v += scale.step) ticks.push(v);
    let labelW = 0;
    for (const v of ticks) labelW = Math.max(labelW, g.measureText(fmtCompact(v)).width);
    const left = Math.ceil(labelW) + 8, right = 4, topPad = 6, bottom = 16;
    const pw = w - left - right, ph = h - topPad - bottom;
    if (pw < 20 || ph < 20) return;
    c.dataset.plot = [left, topPad, pw, ph].join(',');
    const xOf = (t) => left + (pw * (t - start)) / opts.span;
    const yOf = (v) => topPad + ph - (ph * v) / scale.max;

    // grid and y labels
    g.fillStyle = fg;
    g.strokeStyle = grid;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of ticks) {
      const y = Math.round(yOf(v)) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      g.fillText(fmtCompact(v), left - 5, y);
    }

    // time labels at round local times, as far apart as they need to be
    const off = -new Date(end * 1000).getTimezoneOffset() * 60;
    let step = opts.steps[opts.steps.length - 1];
    const needPx = g.measureText('00:00' + (opts.steps[0] < 60 ? ':00' : '')).width + 16;
    for (const s of opts.steps) if ((pw * s) / opts.span >= needPx) { step = s; break; }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let t = Math.ceil((start + off) / step) * step - off; t <= end; t += step) {
      const x = xOf(t);
      const text = hhmm(t, step < 60);
      const tw = g.measureText(text).width;
      if (x - tw / 2 < left - 6 || x + tw / 2 > w) continue;
      g.beginPath(); g.moveTo(Math.round(x) + 0.5, topPad + ph); g.lineTo(Math.round(x) + 0.5, topPad + ph + 3); g.stroke();
      g.fillText(text, x, topPad + ph + 4);
    }

    if (from >= series.length) return;
    // stack heights per bucket: 0, 2xx, +3xx, +4xx, +5xx, +other (1xx, unknown)
    const stacks = [];
    for (let i = from; i < series.length; i++) {
      const b = series[i];
      const st = [0];
      for (let k = 2; k <= 5; k++) st.push(st[st.length - 1] + b[k]);
      st.push(Math.max(st[4], b[1]));
      stacks.push(st);
    }
    g.globalAlpha = 0.88;
    if (opts.bars) {
      // whole device pixels, with a one-pixel gap between bars when they are wide enough
      const snap = (v) => Math.round(v * dpr) / dpr;
      const gap = (pw * bw) / opts.span >= 4 ? 1 : 0;
      for (let i = 0; i < stacks.length; i++) {
        const st = stacks[i];
        if (!st[5]) continue;
        const t = series[from + i][0];
        const x0 = snap(xOf(t)), x1 = Math.max(snap(xOf(t + bw)) - gap, x0 + 1 / dpr);
        for (let k = 0; k < 5; k++) {
          if (st[k + 1] <= st[k]) continue;
          g.fillStyle = colors[k];
          const y1 = snap(yOf(st[k + 1])), y0 = snap(yOf(st[k]));
          g.fillRect(x0, Math.min(y1, y0 - 1 / dpr), x1 - x0, Math.max(y0 - y1, 1 / dpr));
        }
      }
    } else {
      const xs = stacks.map((_, i) => xOf(series[from + i][0] + bw / 2));
      for (let k = 0; k < 5; k++) {
        if (!stacks.some((st) => st[k + 1] > st[k])) continue;
        g.beginPath();
        g.moveTo(xs[0], yOf(stacks[0][k + 1]));
        for (let i = 1; i < stacks.length; i++) g.lineTo(xs[i], yOf(stacks[i][k + 1]));
        for (let i = stacks.length - 1; i >= 0; i--) g.lineTo(xs[i], yOf(stacks[i][k]));
        g.closePath();
        g.fillStyle = colors[k];
        g.fill();
      }
      // Each layer's top edge as a line too, so a one-second spike is more than a sliver.
      g.globalAlpha = 1;
      g.lineWidth = 1.25;
      g.lineJoin = 'round';
      for (let k = 0; k < 5; k++) {
        g.beginPath();
        const has = (i) => i >= 0 && i < stacks.length && stacks[i][k + 1] > stacks[i][k];
        let pen = false;
        for (let i = 0; i < stacks.length; i++) {
          if (!has(i - 1) && !has(i) && !has(i + 1)) { pen = false; continue; }
          const y = yOf(stacks[i][k + 1]);
          if (pen) g.lineTo(xs[i], y); else g.moveTo(xs[i], y);
          pen = true;
        }
        g.strokeStyle = colors[k];
        g.stroke();
      }
    }
    g.globalAlpha = 1;
  }

  /** The smallest of the 24 h chart's zooms that holds all its traffic. */
  function minuteSpan() {
    let first = null;
    for (const b of perMinute) if (b[1] > 0) { first = b[0]; break; }
    if (first === null) return ZOOMS[0] * 60;
    const need = perMinute[perMinute.length - 1][0] + 60 - first;
    for (const z of ZOOMS) if (z * 60 >= need) return z * 60;
    return CHART_MINUTES * 60;
  }

  function drawCharts() {
    drawStacked(el.chart, { series: perSecond, width: 1, span: CHART_SECONDS, steps: SECOND_STEPS });
    const span = minuteSpan();
    drawStacked(el.chartMin, { series: perMinute, width: 60, span, bars: true, steps: MINUTE_STEPS });

    // the current values: the server's rate (before the first stats: the last 5 s of history)
    let rate = liveRate;
    let lastMinute = 0;
    for (let i = Math.max(0, perSecond.length - 60); i < perSecond.length; i++) lastMinute += perSecond[i][1];
    if (rate === null && perSecond.length) {
      let n = 0;
      for (let i = Math.max(0, perSecond.length - 5); i < perSecond.length; i++) n += perSecond[i][1];
      rate = n / 5;
    }
    el.chartNow.textContent = rate === null ? '' : fmtRate(rate) + '/s';
    el.chartMinNow.textContent = perSecond.length ? fmtCompact(lastMinute) + '/min' : '';
    const shown = span >= 3600 ? span / 3600 + ' h' : span / 60 + ' min';
    el.chartMin.setAttribute('aria-label', 'requests per minute by status class, the last ' + shown + ' of the last 24 hours');
    el.chartMinSpan.textContent = span < CHART_MINUTES * 60 ? ' (showing ' + shown + ')' : '';
  }

  let resizeTimer = null;
  function redrawSoon() {
    if (resizeTimer) return;
    resizeTimer = setTimeout(() => { resizeTimer = null; drawCharts(); }, 200);
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
      if (h.host && h.ip && !hostNames.has(h.ip)) noteHost(h.ip, str(h.host));
      if (h.server && !serversSeen.has(h.server)) noteServer(str(h.server));
      fresh.push(h);
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
      if (typeof hosts[ip] === 'string' && hosts[ip]) { noteHost(ip, hosts[ip]); any = true; }
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
      case 'hello': {
        el.server.textContent = str(m.server);
        el.hubName.textContent = str(m.name);
        el.hubName.hidden = !m.name;
        showPreviewHint(typeof m.site === 'string' && m.site ? m.site : null);
        const every = Number(m.preview_every);
        if (m.preview_every !== null && m.preview_every !== undefined && isFinite(every) && every >= 0) {
          previewEveryMs = Math.min(every, 3600) * 1000;
        }
        // Another run (a restart, or another hub behind a balancer) numbers hits its own way:
        // forget the old sequence, the server sent its whole backlog.
        if (typeof m.boot === 'string' && hubBoot !== null && m.boot !== hubBoot) {
          lastSeq = null;
          noteRestart();
        }
        if (lastSeq !== null && typeof m.seq === 'number' && m.seq < lastSeq) lastSeq = null;
        if (typeof m.boot === 'string') hubBoot = m.boot;
        break;
      }
      case 'history': onHistory(m); break;
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
    let opened = false;
    sock.onopen = () => {
      opened = true;
      backoff = BACKOFF_MIN_MS;
      // Always say where we stand (0: nothing yet), so the server need not wait to find out.
      const resume = { type: 'resume', after: lastSeq === null ? 0 : lastSeq };
      if (hubBoot !== null) resume.boot = hubBoot; // the run `after` counts in
      sock.send(JSON.stringify(resume));
      setStatus('connected');
    };
    sock.onmessage = onMessage;
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (!opened) checkSignedIn();
      scheduleReconnect();
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  // A socket refused before it opened may be a sign-in that ended (the token changed, the
  // cookie expired): the browser does not say it was a 401, so ask the API, and go back to the
  // sign-in page if it says so.
  function checkSignedIn() {
    fetch('api/stats', { credentials: 'same-origin', cache: 'no-store' })
      .then((r) => { if (r.status === 401) location.reload(); })
      .catch(() => { /* the server is down: keep retrying */ });
  }

  /** While the socket is down, the numbers on the page are the last ones reported: say so. */
  function setStale(on) {
    document.body.classList.toggle('stale', on);
    if (on && document.title !== 'webpeek · reconnecting') document.title = 'webpeek · reconnecting';
  }

  function scheduleReconnect() {
    if (retryTimer) return;
    setStale(true);
    // Jittered, so that the viewers of a restarted server do not all come back at once.
    const wait = Math.round(backoff * (0.5 + Math.random() / 2));
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    setStatus('reconnecting', 'connection lost; retrying in ' + (wait / 1000).toFixed(1) + ' s');
    natsStale();
    retryTimer = setTimeout(connect, wait);
  }

  // ---------- wiring ----------

  el.filter.addEventListener('input', applyFilter);
  el.filter.addEventListener('keydown', (e) => { if (e.key === 'Escape') { el.filter.value = ''; applyFilter(); clearChips(); } });
  el.feed.addEventListener('keydown', onFeedKey);
  el.feed.addEventListener('focusin', (e) => { if (e.target.classList && e.target.classList.contains('hit')) setFocusRow(e.target); });
  el.pause.addEventListener('click', () => setPaused(!paused));
  el.unpin.addEventListener('click', unpin);
  el.feed.addEventListener('click', (e) => {
    const row = e.target.closest('tr.hit');
    if (!row) return;
    const sel = window.getSelection && window.getSelection();
    if (sel && !sel.isCollapsed && row.contains(sel.anchorNode)) return; // selecting text, not pinning
    const h = rowHit.get(row);
    if (h) pin(h, row);
  });
  el.cards.addEventListener('click', onEntryClick);
  for (const b of el.windowButtons) b.addEventListener('click', () => setWindow(b.dataset.window));
  el.serverFilter.addEventListener('change', () => {
    const v = el.serverFilter.value;
    if (v) { filters.set('server', { value: v, label: v }); filtersChanged(); } else removeFilter('server');
  });
  document.addEventListener('keydown', (e) => {
    if (e.target === el.filter) return;
    if (e.key === 'Escape') { unpin(); clearChips(); return; }
    if (e.key === '/') { e.preventDefault(); el.filter.focus(); }
    if (e.key === ' ' && e.target === document.body) { e.preventDefault(); setPaused(!paused); }
  });
  window.addEventListener('resize', redrawSoon);
  if (window.ResizeObserver) {
    const ro = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const box = e.contentBoxSize && e.contentBoxSize[0];
        const w = box ? box.inlineSize : e.contentRect.width, h = box ? box.blockSize : e.contentRect.height;
        const old = canvasSize.get(e.target);
        if (!old || old[0] !== w || old[1] !== h) { canvasSize.set(e.target, [w, h]); changed = true; }
      }
      if (changed) redrawSoon();
    });
    ro.observe(el.chart);
    ro.observe(el.chartMin);
  } else {
    window.addEventListener('resize', () => { canvasSize.delete(el.chart); canvasSize.delete(el.chartMin); });
  }
  const dark = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  if (dark && dark.addEventListener) dark.addEventListener('change', themeChanged);
  for (const k of Object.keys(el.tops)) renderTop(el.tops[k], []);
  for (const b of el.windowButtons) b.setAttribute('aria-pressed', String(b.dataset.window === panelWindow));
  updateFeedInfo();
  drawCharts();
  connect();
})();
