// /countdown: the seed's cntdwn-random test. Frames are shown as text only.
'use strict';

(function () {
  const count = document.getElementById('count');
  const state = document.getElementById('state');
  const again = document.getElementById('again');
  const ticks = document.getElementById('ticks');
  let ws = null;

  function setState(text, cls) {
    state.textContent = text;
    state.className = 'state ' + cls;
  }

  function run() {
    if (ws) return;
    again.disabled = true;
    count.textContent = '…';
    count.classList.remove('boom');
    ticks.textContent = '';
    setState('connecting', 'wait');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(proto + '//' + location.host + new URL('countdown/ws', location.href).pathname);
    ws = sock;
    let last = 0;
    sock.onopen = () => { setState('open', 'ok'); last = performance.now(); };
    sock.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : '(binary frame)';
      const now = performance.now();
      count.textContent = text;
      count.classList.toggle('boom', text === 'BOOM!');
      const t = document.createElement('span');
      t.textContent = text + ' +' + Math.round(now - last) + 'ms';
      ticks.appendChild(t);
      last = now;
    };
    sock.onerror = () => { /* onclose follows */ };
    sock.onclose = (ev) => {
      ws = null;
      setState(ev.wasClean ? 'closed' : 'closed (code ' + ev.code + ')', ev.wasClean ? 'ok' : 'bad');
      again.disabled = false;
    };
  }

  again.addEventListener('click', run);
  run();
})();
