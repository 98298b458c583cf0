/* The resident pages' enhancement: no framework, no build step, nothing from elsewhere.
   - the service list filters as you type;
   - "Use my location" fills latitude and longitude from the browser;
   - a chosen photo is previewed;
   - "send me updates" shows once an e-mail or a phone is typed;
   - the report is sent to the gateway's Open311 API (the front's own key), and a report
     written without a connection is kept in this browser (IndexedDB) and sent, with its
     Idempotency-Key, when the connection returns: a retried send can never file it twice.
   Every string shown comes from the page (data-* attributes rendered through gettext). */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }

  /* --- service search --- */
  var search = $(".js-service-search input[type=search]");
  if (search) {
    var none = $(".js-none");
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      document.querySelectorAll(".js-group").forEach(function (group) {
        var inGroup = 0;
        group.querySelectorAll(".js-service").forEach(function (item) {
          var text = item.getAttribute("data-search");
          var match = words.every(function (w) { return text.indexOf(w) !== -1; });
          item.hidden = !match;
          if (match) { inGroup += 1; }
        });
        group.hidden = inGroup === 0;
        shown += inGroup;
      });
      if (none) { none.hidden = shown !== 0; }
    });
  }

  /* --- the saved-reports queue (IndexedDB) --- */
  var DB = "open311-reports", STORE = "outbox";
  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode);
        var result = work(t.objectStore(STORE));
        t.oncomplete = function () { db.close(); resolve(result && result.result); };
        t.onerror = function () { db.close(); reject(t.error); };
      });
    });
  }
  function saveReport(item) { return tx("readwrite", function (s) { return s.put(item); }); }
  function dropReport(key) { return tx("readwrite", function (s) { return s.delete(key); }); }
  function savedReports() { return tx("readonly", function (s) { return s.getAll(); }); }

  var status = $(".js-offline");
  function say(text, link) {
    if (!status) { return; }
    status.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      status.appendChild(document.createTextNode(" "));
      status.appendChild(a);
    }
    status.hidden = false;
  }
  var texts = (status && status.dataset) || {};

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function body(entries) {
    var data = new FormData();
    entries.forEach(function (e) {
      if (e[2]) { data.append(e[0], e[1], e[2]); } else { data.append(e[0], e[1]); }
    });
    return data;
  }

  /* One POST; resolves to {ok, number} or {errors}; rejects when the network failed. */
  function send(item) {
    return fetch(item.api, {
      method: "POST",
      body: body(item.entries),
      headers: { "Idempotency-Key": item.key, "Accept": "application/json" },
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (response.ok) {
          var first = answer[0] || {};
          return { ok: true, number: first.service_request_id || first.token };
        }
        if (response.status >= 500 || response.status === 429) { throw new Error("retry"); }
        return { errors: answer.map(function (e) { return e.description; }) };
      });
    });
  }

  var flushing = false;
  function flush() {
    if (flushing || !navigator.onLine || !window.indexedDB) { return Promise.resolve(); }
    flushing = true;
    return savedReports().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item).then(function (outcome) {
            return dropReport(item.key).then(function () {
              if (outcome.ok && !outcome.number) {
                say(texts.sentReceived);
              } else if (outcome.ok) {
                say(texts.sent, { href: item.track.replace("NUMBER", encodeURIComponent(outcome.number)), text: outcome.number });
              } else {
                say(texts.refused + " " + outcome.errors.join(" "));
              }
            });
          }, function () { /* still no connection: keep it for the next try */ });
        });
      }, Promise.resolve());
    }).then(function () { flushing = false; }, function () { flushing = false; });
  }
  window.addEventListener("online", flush);
  if (window.indexedDB) { flush(); }

  /* --- the report form --- */
  var form = $(".js-report-form");
  if (!form) { return; }

  var locate = $(".js-locate", form), where = $(".js-locate-status", form);
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      where.textContent = locate.dataset.finding;
      navigator.geolocation.getCurrentPosition(function (position) {
        form.elements.lat.value = position.coords.latitude.toFixed(6);
        form.elements.long.value = position.coords.longitude.toFixed(6);
        where.textContent = locate.dataset.found;
      }, function () {
        where.textContent = locate.dataset.failed;
      }, { enableHighAccuracy: true, timeout: 15000 });
    });
  }

  var file = form.elements.media, preview = $(".js-preview", form);
  if (file && preview) {
    file.addEventListener("change", function () {
      if (file.files && file.files[0]) {
        preview.src = URL.createObjectURL(file.files[0]);
        preview.hidden = false;
      } else {
        preview.hidden = true;
      }
    });
  }

  /* "Send me updates" only makes sense with an address to send them to. */
  var notify = $(".js-notify", form);
  if (notify) {
    var contactFields = ["email", "phone"].map(function (n) { return form.elements[n]; }).filter(Boolean);
    var showNotify = function () {
      var given = contactFields.some(function (f) { return f.value.trim() !== ""; });
      notify.hidden = !given;
      if (!given) { form.elements.notify.checked = false; }
    };
    contactFields.forEach(function (f) { f.addEventListener("input", showNotify); });
    showNotify();
  }

  var errorBox = $(".js-errors"), errorList = $(".js-error-list");
  function showErrors(messages) {
    errorList.textContent = "";
    messages.forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = m;
      errorList.appendChild(li);
    });
    errorBox.hidden = false;
    errorBox.focus();
  }

  var button = $("button[type=submit]", form);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var entries = [];  /* the form holds the front's api_key */
    new FormData(form).forEach(function (value, name) {
      if (value instanceof File) {
        if (value.size) { entries.push([name, value, value.name]); }
      } else if (value !== "") {
        entries.push([name, value]);
      }
    });
    var item = { key: newKey(), api: form.dataset.api, track: form.dataset.track, received: form.dataset.received, entries: entries, at: Date.now() };
    function keep() {
      return saveReport(item).then(function () {
        form.reset();
        if (notify) { notify.hidden = true; }
        if (preview) { preview.hidden = true; }
        errorBox.hidden = true;
        say(texts.offline);
        status.focus();
      });
    }
    button.disabled = true;
    var attempt = navigator.onLine ? send(item) : Promise.reject(new Error("offline"));
    attempt.then(function (outcome) {
      if (outcome.ok) {
        /* A blackbox service answers no number: its page only says the report was received. */
        window.location.assign(outcome.number ? item.track.replace("NUMBER", encodeURIComponent(outcome.number)) + "?new=1" : item.received);
      } else {
        showErrors(outcome.errors);
      }
    }, function () {
      return window.indexedDB ? keep() : showErrors([texts.failed]);
    }).then(function () { button.disabled = false; });
  });
})();
