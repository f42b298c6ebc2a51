// /echo: "Can my browser do WebSockets?". Messages are shown as text only.
'use strict';

(function () {
  const support = document.getElementById('support');
  const state = document.getElementById('state');
  const form = document.getElementById('form');
  const msg = document.getElementById('msg');
  const send = document.getElementById('send');
  const log = document.getElementById('log');
  const reconnect = document.getElementById('reconnect');
  let ws = null;

  function setState(node, text, cls) {
    node.textContent = text;
    node.className = 'state ' + cls;
  }

  function pad(n, w) { return String(n).padStart(w, '0'); }
  function entry(kind, label, text) {
    const li = document.createElement('li');
    li.className = kind;
    const d = new Date();
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
    const dir = document.createElement('span');
    dir.className = 'dir';
    dir.textContent = label;
    const body = document.createElement('span');
    body.className = 'body';
    body.textContent = text;
    li.append(t, dir, body);
    log.insertBefore(li, log.firstChild);
  }

  if (!('WebSocket' in window)) {
    setState(support, 'no — this browser has no WebSocket', 'bad');
    setState(state, 'unavailable', 'bad');
    return;
  }
  setState(support, 'yes — this browser has WebSocket', 'ok');

  function connect() {
    reconnect.hidden = true;
    setState(state, 'connecting', 'wait');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + new URL('echo/ws', location.href).pathname;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => {
      setState(state, 'connected', 'ok');
      send.disabled = false;
      entry('info', 'open', url);
    };
    sock.onmessage = (ev) => {
      entry('recv', 'received', typeof ev.data === 'string' ? ev.data : '(binary frame)');
    };
    sock.onerror = () => { /* onclose follows */ };
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      send.disabled = true;
      setState(state, 'closed' + (ev.code && ev.code !== 1000 ? ' (code ' + ev.code + ')' : ''), 'bad');
      entry('info', 'closed', 'code ' + ev.code + (ev.reason ? ': ' + ev.reason : ''));
      reconnect.hidden = false;
    };
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const text = msg.value;
    ws.send(text);
    entry('sent', 'sent', text);
  });
  reconnect.addEventListener('click', connect);
  connect();
})();
