// form.js: what a visitor's browser adds to a leadd form, on leadd's own
// page and in the embed snippet on a customer's site (pages.c puts it
// inline right after the form). The form works without it. With it, a post
// also carries the time spent on the form, the page's campaign, the landing
// page and its referrer, which a plain post cannot know; and a mistake is
// shown beside its field, in the form's words, without leaving the page.
(function () {
  'use strict';
  var f = document.currentScript.previousElementSibling;
  var t0 = Date.now();
  var CAMPAIGN = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content',
    'gclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'li_fat_id', 'ttclid'];

  // A hidden value, set once however often the form is sent.
  function put(name, value) {
    var i = f.querySelector('input[type=hidden][name="' + name + '"]');
    if (!i) {
      i = document.createElement('input');
      i.type = 'hidden';
      i.name = name;
      f.appendChild(i);
    }
    i.value = value;
  }

  function fill() {
    put('_elapsed_ms', String(Date.now() - t0));
    var q = new URLSearchParams(location.search);
    CAMPAIGN.forEach(function (k) { if (q.get(k)) put(k, q.get(k)); });
    put('landing_page', location.href);
    // HubSpot's visitor cookie, for its Forms API's context (the hubspot_forms target)
    var hutk = document.cookie.match(/(?:^|;\s*)hubspotutk=([0-9a-f]{32})(?:;|$)/);
    if (hutk) put('hutk', hutk[1]);
    if (document.referrer) put('referrer', document.referrer);
  }

  // The form's own word for a field: its label without the required mark.
  function labelOf(name) {
    var l = f.querySelector('label[for="' + name + '"]');
    return l ? l.textContent.replace(/\s*\*$/, '') : name;
  }

  function clear() {
    [].forEach.call(f.querySelectorAll('.leadd-error'), function (e) { e.remove(); });
    [].forEach.call(f.querySelectorAll('[aria-invalid]'), function (e) {
      e.removeAttribute('aria-invalid');
      e.removeAttribute('aria-describedby');
    });
  }

  function say(text, after, id) {
    var p = document.createElement('p');
    p.className = 'leadd-error err';
    p.id = id;
    p.textContent = text;
    after.insertAdjacentElement('afterend', p);
    return p;
  }

  // Each error under its field; one the form has no field for (a captcha,
  // the whole post) above the button. The first field in error gets focus.
  function show(errors) {
    var first = null;
    errors.forEach(function (e) {
      var el = f.elements[e.field];
      var text = labelOf(e.field) + ' ' + e.message;
      if (el && el.id) {
        var label = el.type === 'checkbox' && el.nextElementSibling && el.nextElementSibling.htmlFor === el.id
          ? el.nextElementSibling : el;
        say(text, label, 'leadd-error-' + el.id);
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', 'leadd-error-' + el.id);
        first = first || el;
      } else {
        say(text, f.querySelector('button[type=submit]').previousElementSibling || f.firstChild, 'leadd-error-form');
      }
    });
    if (first) first.focus();
  }

  f.addEventListener('submit', function (ev) {
    fill();
    if (!window.fetch || !window.FormData || f.dataset.plain) return;
    ev.preventDefault();
    var button = f.querySelector('button[type=submit]');
    button.disabled = true;
    clear();
    fetch(f.action, { method: 'POST', body: new FormData(f), headers: { Accept: 'application/json' }, credentials: 'omit' })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.ok) {
            location.assign(new URL(j.next || '/thanks', f.action).href);
          } else if (r.status === 422 && j.errors) {
            button.disabled = false;
            show(j.errors);
          } else {
            throw new Error(String(r.status));
          }
        });
      })
      .catch(function () {
        // Anything else (refused, too many, the network): a plain post,
        // whose answer is a page that says what happened in the visitor's
        // terms.
        f.dataset.plain = '1';
        button.disabled = false;
        f.submit();
      });
  });
})();
