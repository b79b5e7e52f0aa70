// eightfold status page: the one script. Every page is complete without
// it (server-rendered tables, GET forms, links). It only:
// - keeps the page live: polls the same URL every second and swaps in
//   the regions marked data-live (markup made and escaped by the server;
//   nothing here builds HTML from strings);
// - applies the filter and sort forms without a reload;
// - drives the override switch (a JSON POST, which only this origin's
//   pages can send).
// No token passes through here: with a token, the session is an HttpOnly
// cookie this script cannot read.
(function () {
  'use strict';

  var POLL_MS = 1000;
  var FILTER_DELAY_MS = 250;
  var busy = false;
  var again = false;
  var stopped = false;
  var status = document.getElementById('live-status');

  function say(text, state) {
    if (!status) return;
    status.textContent = text;
    status.setAttribute('data-state', state);
  }

  function utcClock() {
    return new Date().toISOString().slice(11, 19) + ' UTC';
  }

  // A selector finding the focused element again once its region has
  // been replaced.
  function focusSelector(el) {
    if (!el || el === document.body) return null;
    var key = el.getAttribute('data-key');
    if (key) return '[data-key="' + CSS.escape(key) + '"]';
    if (el.id) return '#' + CSS.escape(el.id);
    return null;
  }

  function swap(doc) {
    var selector = focusSelector(document.activeElement);
    var fresh = doc.querySelectorAll('[data-live][id]');
    for (var i = 0; i < fresh.length; i++) {
      var old = document.getElementById(fresh[i].id);
      if (old && !old.isEqualNode(fresh[i])) {
        old.replaceWith(document.importNode(fresh[i], true));
      }
    }
    var active = document.activeElement;
    if (selector && (!active || active === document.body)) {
      var back = document.querySelector(selector);
      if (back) back.focus({ preventScroll: true });
    }
    if (doc.title) document.title = doc.title;
  }

  function expired() {
    stopped = true;
    if (!status) return;
    status.textContent = 'Session ended: ';
    var link = document.createElement('a');
    link.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    link.textContent = 'sign in again';
    status.appendChild(link);
    status.setAttribute('data-state', 'error');
  }

  function refresh() {
    if (stopped) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(location.pathname + location.search, {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'text/html' }
    })
      .then(function (r) {
        if (r.redirected && new URL(r.url).pathname === '/login') {
          expired();
          return null;
        }
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (text) {
        if (text === null) return;
        swap(new DOMParser().parseFromString(text, 'text/html'));
        say('Live · updated ' + utcClock(), 'live');
      })
      .catch(function (e) {
        say('Not updating (' + e.message + ') · retrying', 'error');
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // Filters: the form's fields into this page's URL, then a refresh.
  function applyForm(form) {
    var params = new URLSearchParams(location.search);
    var fields = form.querySelectorAll('input[name], select[name]');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === 'hidden') continue;
      if (f.value) params.set(f.name, f.value);
      else params.delete(f.name);
    }
    var query = params.toString();
    history.replaceState(null, '', location.pathname + (query ? '?' + query : ''));
    refresh();
  }

  function enhanceFilters() {
    var forms = document.querySelectorAll('form.filter');
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        var timer = 0;
        form.addEventListener('submit', function (e) {
          e.preventDefault();
          applyForm(form);
        });
        form.addEventListener('change', function () {
          applyForm(form);
        });
        if (form.id === 'ask') return;
        form.addEventListener('input', function () {
          clearTimeout(timer);
          timer = setTimeout(function () {
            applyForm(form);
          }, FILTER_DELAY_MS);
        });
      })(forms[i]);
    }
    // Sort links live inside swapped regions: one listener for all.
    document.addEventListener('click', function (e) {
      var link = e.target.closest && e.target.closest('a[data-sort]');
      if (!link || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      history.replaceState(null, '', link.getAttribute('href'));
      refresh();
    });
  }

  function readBody(r) {
    return r.text().then(function (text) {
      var body = null;
      try {
        body = JSON.parse(text);
      } catch (ignored) {
        body = null;
      }
      return { ok: r.ok, code: r.status, body: body, text: text };
    });
  }

  function enhanceOverride() {
    var form = document.querySelector('form[data-override]');
    if (!form || form.hasAttribute('data-readonly')) return;
    var out = form.querySelector('output');
    var buttons = form.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var button = e.submitter;
      if (!button) return;
      var wanted = button.value === 'release' ? null : button.value;
      out.textContent = 'Sending…';
      fetch(form.getAttribute('data-override'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ status: wanted })
      })
        .then(readBody)
        .then(function (res) {
          if (res.ok && res.body) {
            out.textContent = res.body.override_status
              ? 'Done: forced ' + res.body.override_status + '; DNS follows it now.'
              : 'Done: released; DNS follows the probes again.';
            refresh();
          } else {
            var why = res.body && res.body.error ? res.body.error.message : res.text;
            out.textContent = 'Refused (HTTP ' + res.code + '): ' + why;
          }
        })
        .catch(function (err) {
          out.textContent = 'Not sent: ' + err.message;
        });
    });
  }

  enhanceFilters();
  enhanceOverride();
  if (document.querySelector('[data-live]')) {
    say('Live · updated ' + utcClock(), 'live');
    setInterval(function () {
      if (!document.hidden) refresh();
    }, POLL_MS);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) refresh();
    });
  }
})();
