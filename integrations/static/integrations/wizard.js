/* Integration wizard: source switch, import progress, operation search and limit, header rows.
   Every page works without it (the server enforces every rule); this only makes it nicer. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- step 1: URL or paste -------------------------------------------------------------
  var specForm = document.getElementById("spec-form");
  if (specForm) {
    var radios = specForm.querySelectorAll("input[name=source]");
    var panes = specForm.querySelectorAll(".source-pane");
    var showPane = function () {
      var chosen = specForm.querySelector("input[name=source]:checked");
      var value = chosen ? chosen.value : "url";
      panes.forEach(function (p) { p.hidden = p.getAttribute("data-source") !== value; });
    };
    radios.forEach(function (r) { r.addEventListener("change", showPane); });
    showPane();
    // Big pastes travel as a file: form fields are capped by the server, uploads are not.
    specForm.addEventListener("submit", function () {
      var area = specForm.querySelector("textarea[name=spec]");
      var file = specForm.querySelector("input[name=spec_file]");
      if (!area || !file || area.value.length < 1000000 || file.files.length) return;
      try {
        var dt = new DataTransfer();
        dt.items.add(new File([area.value], "pasted-spec.txt", {type: "text/plain"}));
        file.files = dt.files;
        area.value = "";
      } catch (e) { /* old browser: send it as it is */ }
    });
  }

  // --- import progress: poll until done, then show the result ---------------------------
  var progress = document.getElementById("import-progress");
  if (progress) {
    var url = progress.getAttribute("data-status-url");
    var stage = document.getElementById("import-stage");
    var started = Date.now();
    var poll = function () {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.done) { window.location.reload(); return; }
          if (data && stage) stage.textContent = data.label;
          schedule();
        })
        .catch(schedule);
    };
    var schedule = function () {
      window.setTimeout(poll, Date.now() - started > 30000 ? 2500 : 700);
    };
    schedule();
  }

  // --- step 2: search and the selection limit -------------------------------------------
  var opsForm = document.getElementById("operations-form");
  if (opsForm) {
    var max = parseInt(opsForm.getAttribute("data-max"), 10) || 30;
    var search = document.getElementById("op-search");
    var rows = Array.prototype.slice.call(opsForm.querySelectorAll("#op-table tbody tr"));
    var haystacks = rows.map(function (r) { return r.getAttribute("data-search") || ""; });
    var counter = document.getElementById("op-selected");
    var limitMsg = document.getElementById("op-limit");
    var none = document.getElementById("op-none");
    var visibleMsg = document.getElementById("op-visible");
    var count = function () { return opsForm.querySelectorAll("input[name=op]:checked").length; };
    var refresh = function () {
      var n = count();
      counter.textContent = n;
      opsForm.querySelectorAll("input[name=op]").forEach(function (box) {
        box.disabled = !box.checked && n >= max;
      });
    };
    opsForm.addEventListener("change", function (e) {
      var box = e.target;
      if (box.name !== "op") return;
      if (box.checked && count() > max) {
        box.checked = false;
        limitMsg.hidden = false;
      } else {
        limitMsg.hidden = count() < max;
      }
      refresh();
    });
    var timer = null;
    var filter = function () {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var text = haystacks[i];
        var ok = true;
        for (var j = 0; j < terms.length && ok; j++) ok = text.indexOf(terms[j]) !== -1;
        if (rows[i].hidden === ok) rows[i].hidden = !ok;
        if (ok) shown++;
      }
      none.hidden = shown !== 0;
      visibleMsg.textContent = terms.length ? shown + " of " + rows.length + " shown" : "";
    };
    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(filter, rows.length > 500 ? 60 : 0);
    });
    search.addEventListener("keydown", function (e) { if (e.key === "Enter") e.preventDefault(); });
    opsForm.addEventListener("submit", function () {
      // disabled boxes are not sent; none of them is checked, so nothing is lost
      opsForm.querySelectorAll("input[name=op]").forEach(function (box) { box.disabled = false; });
    });
    refresh();
  }

  // --- import page: validation finished while selecting (static/js/import_progress.js) ---
  document.addEventListener("import-warnings", function (event) {
    var warned = (event.detail && event.detail.warned_operations) || {};
    document.querySelectorAll("#op-table input[name=op]").forEach(function (box) {
      var n = warned[box.value];
      if (!n || box.closest("tr").querySelector(".op-warned")) return;
      var badge = document.createElement("span");
      badge.className = "badge warn op-warned";
      badge.setAttribute("data-testid", "op-warned");
      badge.textContent = n + " validation warning" + (n === 1 ? "" : "s");
      badge.title = badge.textContent + ": see the list of warnings";
      var cell = box.closest("tr").querySelector("td:nth-child(3)");
      if (cell) { cell.appendChild(document.createTextNode(" ")); cell.appendChild(badge); }
    });
  });

  // --- step 3: header rows --------------------------------------------------------------
  var headerRows = document.getElementById("header-rows");
  if (headerRows) {
    // the server's lists (integrations/services.py); the server decides either way
    var NAMES = ["authorization", "x-api-key", "api-key", "x-auth-token", "x-access-token",
                 "x-secret-key", "x-auth-key", "ocp-apim-subscription-key", "cookie",
                 "set-cookie"];
    var PARTS = ["bearer", "secret", "password", "passwd", "credential", "token",
                 "authorization", "apikey", "api-key", "cookie", "subscription-key",
                 "signature", "auth-key", "access-key", "private-key"];
    var nextRow = headerRows.querySelectorAll(".header-row").length;
    var sensitive = function (name) {
      var n = name.trim().toLowerCase().replace(/_/g, "-");
      return NAMES.indexOf(n) !== -1 || PARTS.some(function (p) { return n.indexOf(p) !== -1; });
    };
    var wire = function (row) {
      var name = row.querySelector(".header-name");
      var value = row.querySelector(".header-value");
      var toggle = row.querySelector(".toggle-value");
      var badge = row.querySelector(".sensitive-badge");
      var remove = row.querySelector(".remove-header");
      var mark = row.querySelector(".header-sensitive");
      var locked = mark && mark.getAttribute("data-locked") === "1";
      var chosen = mark ? mark.checked && !mark.disabled : false;  // the user's own choice, for names not known
      var revealed = false;
      // The visibility (eye) button: only for a sensitive value, which is masked until shown;
      // a plain value is always visible, so it gets no button. aria-pressed = shown.
      var showToggle = function (isSensitive) {
        if (!value) return;
        if (!isSensitive) revealed = false;
        value.type = isSensitive && !revealed ? "password" : "text";
        if (!toggle) return;
        toggle.hidden = !isSensitive;
        toggle.setAttribute("aria-pressed", revealed ? "true" : "false");
        toggle.title = revealed ? "Hide the value" : "Show the value";
        var eye = toggle.querySelector(".icon-eye");
        var eyeOff = toggle.querySelector(".icon-eye-off");
        if (eye) eye.hidden = revealed;
        if (eyeOff) eyeOff.hidden = !revealed;
      };
      var update = function () {
        var known = sensitive(name.value);
        if (mark && !locked) {
          mark.disabled = known;
          mark.checked = known || chosen;
        }
        var isSensitive = known || (mark ? mark.checked : false);
        if (badge) badge.hidden = !isSensitive;
        showToggle(isSensitive);
      };
      if (mark && !locked) {
        mark.addEventListener("change", function () { chosen = mark.checked; update(); });
      }
      if (remove) {
        remove.hidden = false;
        remove.addEventListener("click", function () { row.remove(); });
      }
      if (toggle && value) {
        toggle.addEventListener("click", function () {
          revealed = !revealed;
          showToggle(true);
        });
      }
      if (name && !row.classList.contains("kept")) name.addEventListener("input", update);
      if (row.classList.contains("kept") && name) name.readOnly = true;
      update();
    };
    headerRows.querySelectorAll(".header-row").forEach(wire);
    var template = document.getElementById("header-row-template");
    var add = document.getElementById("add-header");
    if (add && template) {
      add.hidden = false;
      add.addEventListener("click", function () {
        var row = template.content.firstElementChild.cloneNode(true);
        var id = "n" + (nextRow++);
        row.querySelector("input[name=header_row]").value = id;
        row.querySelector(".header-sensitive").value = id;
        headerRows.appendChild(row);
        wire(row);
        row.querySelector(".header-name").focus();
      });
    }
  }
})();
