// Progressive enhancement for forms (CSP-safe: a static file, no inline code).
// A field whose input has data-show-when="auth_type=basic" (a control's name, "=", one or more
// comma-separated values) is shown only while that control of the same form has one of those
// values; its .field wrapper gets the hidden attribute otherwise. Without JavaScript every field
// is shown and the server ignores what does not apply.
(function () {
  "use strict";
  function wrapperOf(input) {
    return input.closest(".field") || input;
  }
  function update(input) {
    var rule = input.getAttribute("data-show-when") || "";
    var at = rule.indexOf("=");
    if (at < 1 || !input.form) return;
    var control = input.form.elements[rule.slice(0, at)];
    if (!control) return;
    var wanted = rule.slice(at + 1).split(",");
    var show = wanted.indexOf(control.value) !== -1;
    var wrapper = wrapperOf(input);
    if (show) {
      wrapper.removeAttribute("hidden");
    } else {
      wrapper.setAttribute("hidden", "");
    }
  }
  function setUp() {
    var inputs = document.querySelectorAll("[data-show-when]");
    Array.prototype.forEach.call(inputs, function (input) {
      update(input);
      if (input.form) {
        input.form.addEventListener("change", function () { update(input); });
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();

// An input with data-unticks="<checkbox id>" unticks that checkbox as soon as something is
// typed (the catalog's "Keep this app's current value": a typed key replaces it), and ticks it
// again when the input is emptied. The server applies the same rule without JavaScript.
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input || !input.getAttribute || !input.hasAttribute("data-unticks")) return;
    var box = document.getElementById(input.getAttribute("data-unticks"));
    if (box && box.type === "checkbox") box.checked = input.value === "";
  });
})();
