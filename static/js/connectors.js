// The workspace connector register form: choosing a provider type fills the URL and scope
// fields (and PKCE, token authentication, an empty name) from the provider's defaults, carried
// as data-* attributes on its <option> (connectors/guidance.py). A field the user has typed
// into is left alone: only empty fields, or fields still holding the previous provider's
// default, change. Without JavaScript the "Fill in" GET form does the same on the server.
(function () {
  "use strict";
  var TEXT = { authorize_url: "authorizeUrl", token_url: "tokenUrl",
               revocation_url: "revocationUrl", scopes: "scopes", name: "name" };

  function init(form) {
    var select = form.querySelector("select[data-connector-provider]");
    if (!select) return;
    var note = form.querySelector("[data-testid=placeholder-note]");
    var previous = select.options[select.selectedIndex] || null;

    function field(name) { return form.querySelector("[name=" + name + "]"); }

    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var hasDefaults = option && option.dataset.tokenUrl !== undefined;
      Object.keys(TEXT).forEach(function (name) {
        var input = field(name);
        if (!input) return;
        var old = previous ? (previous.dataset[TEXT[name]] || "") : "";
        var next = hasDefaults ? (option.dataset[TEXT[name]] || "") : "";
        if (input.value === "" || input.value === old) input.value = next;
      });
      if (hasDefaults) {
        var pkce = field("pkce");
        if (pkce) pkce.checked = option.dataset.pkce === "true";
        var auth = field("token_auth");
        if (auth && option.dataset.tokenAuth) auth.value = option.dataset.tokenAuth;
      }
      if (note) {
        var url = (field("authorize_url") || {}).value || "";
        note.hidden = url.indexOf("{") === -1;
      }
      previous = option;
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-connector-form]"), init);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
