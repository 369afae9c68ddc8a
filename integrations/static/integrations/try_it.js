/* Try it on the integration's page. Without this file the form is a plain POST and the page
   comes back with the result. With it, Send posts the same form with fetch (X-Try-It: panel
   asks the server for just this operation's panel), swaps the panel in place without a
   reload, and moves focus to the result (or to the first field the server marked). Any
   surprise (a sign-in page, a network error) falls back to the plain POST. */
(function () {
  "use strict";

  function swap(panel, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("[data-try-it]");
    if (!fresh || fresh.id !== panel.id) return null;
    panel.parentNode.replaceChild(fresh, panel);
    return fresh;
  }

  function focusAfter(fresh) {
    var invalid = fresh.querySelector("[aria-invalid=true]");
    var target = invalid || fresh.querySelector("[data-try-result]");
    if (target) {
      target.focus();
      if (!invalid && target.scrollIntoView) target.scrollIntoView({block: "nearest"});
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-try-form")) return;
    if (!window.fetch || !window.FormData || event.defaultPrevented) return;
    event.preventDefault();
    if (form.getAttribute("data-sending") === "1") return;
    var panel = form.closest("[data-try-it]");
    var button = form.querySelector("[data-try-send]");
    var busy = form.querySelector("[data-try-busy]");
    form.setAttribute("data-sending", "1");
    if (button) { button.disabled = true; button.setAttribute("aria-disabled", "true"); }
    if (busy) busy.hidden = false;
    var action = form.getAttribute("action").split("#")[0];
    fetch(action, {
      method: "POST",
      body: new FormData(form),
      headers: {"X-Try-It": "panel"},
      credentials: "same-origin"
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("text/html") !== 0) throw new Error("not a panel");
      return response.text();
    }).then(function (html) {
      var fresh = swap(panel, html);
      if (!fresh) throw new Error("not a panel");
      // new content: app.js gives what scrolls in it keyboard focus
      document.dispatchEvent(new Event("sb:content"));
      focusAfter(fresh);
    }).catch(function () {
      form.removeAttribute("data-sending");
      form.submit();  // the plain POST: the page comes back with the result
    });
  });
})();
