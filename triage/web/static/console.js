// Vigil staff console: the one script of the page. It only keeps the queue
// current: every few seconds it asks /queue/mark whether the queue changed
// (a cheap question; nothing is decrypted for it), and when it did, fetches
// the rows of the page as the server draws them (escaped there) and swaps
// them in. Polling rather than Server-Sent Events: the console must poll
// Redis anyway, no connection is held open, and a closed laptop lid or a
// hidden tab simply stops asking. The page works without this script.
(function () {
  'use strict';
  var table = document.getElementById('queue');
  if (!table || !window.fetch || !window.DOMParser) {
    return;
  }
  var every = Number(table.dataset.every) || 5000;
  var body = table.querySelector('tbody');
  var mark = body ? body.dataset.mark : '';
  var live = document.getElementById('live');
  var busy = false;

  function get(url) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store', redirect: 'error' });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString('<table>' + html + '</table>', 'text/html');
    var fresh = doc.querySelector('tbody');
    var old = table.querySelector('tbody');
    if (!fresh || !old) {
      return false;
    }
    old.replaceWith(document.importNode(fresh, true));
    mark = fresh.dataset.mark || mark;
    return true;
  }

  function tick() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    get(table.dataset.poll)
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (got) {
        if (!got || got.mark === mark) {
          return null;
        }
        return get(table.dataset.rows).then(function (res) { return res.ok ? res.text() : null; });
      })
      .then(function (html) {
        if (html && swap(html) && live) {
          live.textContent = (table.dataset.updated || '') + ' ' + new Date().toLocaleTimeString();
        }
      })
      .catch(function () { /* the console stopped or the session ended: try again later */ })
      .then(function () { busy = false; });
  }

  window.setInterval(tick, every);
  document.addEventListener('visibilitychange', tick);
}());
