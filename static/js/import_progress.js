/* Spec import progress (step 1 and the import page). Every page works without it: step 1 is a
   plain form, the import page refreshes itself until the operation list is there, and then
   offers a reload link and "Keep my selection and check again".

   - Step 1: once the form is sent, Continue is disabled and says so (a big upload takes a
     moment), so it can't be sent twice.
   - Import page, before the operation list is known (data-phase="waiting"): poll the status
     JSON; show the stage; reload when the operations (or a failure) are there.
   - Import page, operations shown while validation runs (data-phase="selecting"): poll; the
     admin selects meanwhile; when validation is done, show its warnings and enable Continue
     in place, without a reload, so the selection stays. A failure reloads (nothing to keep). */
(function () {
  "use strict";

  // --- step 1 ---------------------------------------------------------------------------
  var specForm = document.getElementById("spec-form");
  if (specForm) {
    var sending = false;
    specForm.addEventListener("submit", function (event) {
      if (sending) { event.preventDefault(); return; }
      sending = true;
      // after the submit handlers (wizard.js moves a big paste into the file field) have run
      window.setTimeout(function () {
        var button = document.getElementById("spec-continue");
        var busy = document.getElementById("spec-busy");
        if (button) {
          button.disabled = true;
          button.setAttribute("aria-disabled", "true");
          button.textContent = "Sending…";
        }
        if (busy) busy.hidden = false;
      }, 0);
    });
    // Back/forward cache: a page restored after the submission is usable again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      sending = false;
      var button = document.getElementById("spec-continue");
      var busy = document.getElementById("spec-busy");
      if (button) {
        button.disabled = false;
        button.removeAttribute("aria-disabled");
        button.textContent = "Continue";
      }
      if (busy) busy.hidden = true;
    });
  }

  // --- the import page ------------------------------------------------------------------
  var live = document.getElementById("import-live");
  if (!live) return;
  var url = live.getAttribute("data-status-url");
  var phase = live.getAttribute("data-phase");
  var stage = document.getElementById("import-stage");
  var started = Date.now();
  var recheck = document.getElementById("import-recheck");
  if (recheck) recheck.hidden = true;  // for pages without JavaScript

  var el = function (tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  };

  var showWarnings = function (data) {
    var slot = document.getElementById("import-warnings-slot");
    if (!slot || !data.warning_count) return;
    if (data.warnings_html) {  // grouped, in words (integrations/warnings.py); escaped there
      slot.innerHTML = data.warnings_html;
      document.dispatchEvent(new CustomEvent("import-warnings", {detail: data}));
      return;
    }
    var box = el("div", "warnings");
    box.setAttribute("data-testid", "import-warnings");
    var n = data.warning_count;
    box.appendChild(el("h3", "", n + " validation warning" + (n === 1 ? "" : "s")));
    box.appendChild(el("p", "muted", "The validator found problems in the spec. Many " +
      "published specs have some; they don't stop you from using it, but the operations " +
      "involved may not behave as described."));
    var list = el("ul");
    data.warnings.forEach(function (w) {
      var item = el("li", "", w.message);
      if (w.location) {
        var where = w.location.length > 120 ? w.location.slice(0, 119) + "…" : w.location;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("code", "", "at " + where));
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    if (n > data.warnings.length) {
      box.appendChild(el("p", "muted", "…and " + (n - data.warnings.length) + " more."));
    }
    slot.appendChild(box);
  };

  var finish = function (data) {
    live.hidden = true;
    var result = document.getElementById("import-result");
    if (result) result.setAttribute("data-testid", "import-ready");
    showWarnings(data);
    var button = document.getElementById("import-continue");
    if (button) {
      if (data.warning_count) button.textContent = button.getAttribute("data-label-warnings");
      button.disabled = false;
      button.removeAttribute("aria-disabled");
    }
    if (recheck) recheck.remove();
  };

  var schedule = function () {
    window.setTimeout(poll, Date.now() - started > 30000 ? 2500 : 700);
  };
  var poll = function () {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { schedule(); return; }
        if (phase === "waiting" && (data.done || data.operations_ready)) {
          window.location.reload();
          return;
        }
        if (phase === "selecting" && data.done) {
          if (data.status === "failed") { window.location.reload(); return; }
          finish(data);
          return;
        }
        if (stage) stage.textContent = data.label;
        schedule();
      })
      .catch(schedule);
  };
  schedule();
})();
