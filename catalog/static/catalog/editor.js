/* Integration editor: live prompt checks, secret rows, slug from name. Works without it too. */
(function () {
  "use strict";
  var form = document.getElementById("integration-form");
  if (!form) return;
  var panel = document.getElementById("prompt-checks");
  var url = form.getAttribute("data-check-url");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var rows = document.getElementById("secret-rows");
  var total = form.querySelector("input[name=secrets-TOTAL_FORMS]");
  var copyButton = document.getElementById("secrets-from-prompt");
  var lastEnvBlock = null;
  var timer = null;
  var seq = 0;

  function list(items, cls) {
    var ul = document.createElement("ul");
    ul.className = cls;
    items.forEach(function (f) {
      var li = document.createElement("li");
      li.textContent = f.message;  // text only: never HTML from the server
      ul.appendChild(li);
    });
    return ul;
  }

  function show(result) {
    panel.textContent = "";
    if (result.errors.length) panel.appendChild(list(result.errors, "check-errors"));
    if (result.warnings.length) panel.appendChild(list(result.warnings, "check-warnings"));
    if (!result.errors.length && !result.warnings.length) {
      var p = document.createElement("p");
      p.className = "check-ok";
      p.textContent = "All checks pass.";
      panel.appendChild(p);
    }
    panel.setAttribute("data-state", result.ok ? "ok" : "errors");
    lastEnvBlock = result.env_block;
    var missing = undeclared();
    copyButton.hidden = missing.length === 0;
  }

  function declaredNames() {
    return Array.prototype.map.call(rows.querySelectorAll("input[name$='-name']"), function (i) {
      return i.value.trim();
    }).filter(Boolean);
  }

  function undeclared() {
    if (!lastEnvBlock) return [];
    var names = declaredNames();
    return lastEnvBlock.filter(function (v) { return names.indexOf(v.name) === -1; });
  }

  function run() {
    var mine = ++seq;
    fetch(url, {method: "POST", body: new FormData(form), credentials: "same-origin",
                headers: {"X-CSRFToken": csrf}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (result) { if (result && mine === seq) show(result); })
      .catch(function () {});
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(run, 350);
  }

  function addRow(values) {
    var html = document.getElementById("secret-template").innerHTML;
    var index = parseInt(total.value, 10);
    var holder = document.createElement("tbody");
    holder.innerHTML = html.replace(/__prefix__/g, String(index));
    var row = holder.firstElementChild;
    if (values) {
      ["name", "description", "how_to_get"].forEach(function (k) {
        var input = row.querySelector("input[name$='-" + k + "']");
        if (input) input.value = values[k] || "";
      });
    }
    rows.appendChild(row);
    total.value = String(index + 1);
    return row;
  }

  document.getElementById("add-secret").addEventListener("click", function () {
    var row = addRow(null);
    row.querySelector("input").focus();
  });

  copyButton.addEventListener("click", function () {
    undeclared().forEach(function (v) {
      var empty = Array.prototype.find.call(rows.querySelectorAll("tr"), function (tr) {
        var n = tr.querySelector("input[name$='-name']");
        return n && !n.value.trim();
      });
      if (empty) {
        ["name", "description", "how_to_get"].forEach(function (k) {
          var input = empty.querySelector("input[name$='-" + k + "']");
          if (input) input.value = v[k] || "";
        });
      } else {
        addRow(v);
      }
    });
    run();
  });

  var name = form.querySelector("#id_name");
  var slug = form.querySelector("#id_slug");
  var slugTouched = slug && slug.value !== "";
  if (slug) slug.addEventListener("input", function () { slugTouched = true; });
  if (name && slug) {
    name.addEventListener("input", function () {
      if (slugTouched) return;
      slug.value = name.value.toLowerCase().normalize("NFKD").replace(/[^\w\s-]/g, "")
        .trim().replace(/[\s_-]+/g, "-").slice(0, 60);
    });
  }

  var submitButton = document.getElementById("save-submit");
  function syncVisibility() {
    var checked = form.querySelector("input[name=visibility]:checked");
    submitButton.hidden = !checked || checked.value !== "public";
  }
  form.querySelectorAll("input[name=visibility]").forEach(function (r) {
    r.addEventListener("change", syncVisibility);
  });
  syncVisibility();

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  run();
})();
