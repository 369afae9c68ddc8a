// Dashboard behaviour that used to be inline (onsubmit/onchange attributes), moved here so the
// Content-Security-Policy can refuse every inline script. Pages work without JavaScript too.
// Loaded in <head> without `defer`: everything below listens on `document` (delegation), so
// nothing here may look elements up at load time.
(function () {
  "use strict";

  // <html class="js">: the phone navigation starts collapsed and copy buttons show only when
  // this script runs (without it the navigation stays open and values are selectable text).
  document.documentElement.classList.add("js");

  // <form data-confirm="Delete X?">: ask before submitting; Cancel keeps the page as it is.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <select data-navigate>: choosing an option goes to the URL in its value.
  // <select data-submit-on-change>: choosing an option submits its form.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement)) return;
    if (select.hasAttribute("data-navigate") && select.value) {
      window.location.href = select.value;
    } else if (select.hasAttribute("data-submit-on-change") && select.form) {
      select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
    }
  });

  // <button data-nav-toggle aria-controls="…">: the phone-width Menu opens and closes the
  // navigation (<html class="nav-open">); Escape closes it and gives focus back to the button.
  function setNav(button, open) {
    document.documentElement.classList.toggle("nav-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  // <button data-copy="value"> copies the value; <button data-copy="" data-copy-from="#id">
  // copies the text (or the field's value) of that element. The button says "Copied" for a
  // moment, and a polite live region tells screen readers.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }

  function announce(text) {
    var region = document.getElementById("copy-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "copy-status";
      region.className = "sr-only";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = text;
  }

  function copyFrom(button) {
    var selector = button.getAttribute("data-copy-from");
    if (!selector) return button.getAttribute("data-copy") || "";
    var source = document.querySelector(selector);
    if (!source) return "";
    return ("value" in source && typeof source.value === "string") ? source.value
      : source.textContent.replace(/^\s+|\s+$/g, "");
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var toggle = target && target.closest("[data-nav-toggle]");
    if (toggle) {
      setNav(toggle, toggle.getAttribute("aria-expanded") !== "true");
      return;
    }
    var button = target && target.closest("button[data-copy]");
    if (!button) return;
    event.preventDefault();
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(copyFrom(button)).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
      announce("Copied to the clipboard");
    }, function () {
      button.textContent = "Press Ctrl+C";
      announce("Copying was refused: select the text and press Ctrl+C");
    });
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1800);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !document.documentElement.classList.contains("nav-open")) return;
    var toggle = document.querySelector("[data-nav-toggle]");
    if (toggle) {
      setNav(toggle, false);
      toggle.focus();
    }
  });

  // Every code block in a page (SDK snippets, a token shown once, prompts) gets a Copy button.
  document.addEventListener("DOMContentLoaded", function () {
    var blocks = document.querySelectorAll("main pre");
    for (var i = 0; i < blocks.length; i++) {
      var pre = blocks[i];
      if (pre.hasAttribute("data-no-copy") || pre.parentNode.classList.contains("copy-wrap")) {
        continue;
      }
      if (!pre.id) pre.id = "code-block-" + (i + 1);
      var wrap = document.createElement("div");
      wrap.className = "copy-wrap";
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(pre);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy small";
      button.setAttribute("data-copy", "");
      button.setAttribute("data-copy-from", "#" + pre.id);
      button.setAttribute("aria-label", "Copy this code");
      button.textContent = "Copy";
      wrap.appendChild(button);
    }
    keyboardScroll();
  });

  // A code block or a table that scrolls (a long line, a narrow screen) can be scrolled from
  // the keyboard: it takes focus (Tab, then the arrow keys) while, and only while, it
  // overflows. Checked again when the window is resized and when a <details> opens.
  var SCROLLERS = "main pre, main .table-wrap, main table.table";
  function keyboardScroll() {
    var boxes = document.querySelectorAll(SCROLLERS);
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      // a table inside a .table-wrap: the wrap is what scrolls (and takes the focus)
      var wrapped = !box.classList.contains("table-wrap") && box.closest(".table-wrap");
      var scrolls = !wrapped && (box.scrollWidth > box.clientWidth + 1 ||
                               box.scrollHeight > box.clientHeight + 1);
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
        if (box.tagName !== "PRE" && !box.hasAttribute("aria-label")) {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "Table (scrolls sideways)");
        }
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-focus");
        if (box.getAttribute("aria-label") === "Table (scrolls sideways)") {
          box.removeAttribute("role");
          box.removeAttribute("aria-label");
        }
      }
    }
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(keyboardScroll, 150);
  });
  document.addEventListener("toggle", keyboardScroll, true);
  // a script that swapped new content in (Try it's result) says so
  document.addEventListener("sb:content", keyboardScroll);
})();
