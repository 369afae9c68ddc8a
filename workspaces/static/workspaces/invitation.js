// The invitation link is /invite/<id>/#<code>: the code after "#" never reaches a server (no
// access log, no Referer). Take it from the fragment, drop it from the address bar and history,
// and POST it; the server then remembers this browser opened the invitation.
(function () {
  var form = document.querySelector("[data-invitation-form]");
  var code = window.location.hash.replace(/^#/, "");
  if (!form || !code) return;
  history.replaceState(null, "", window.location.pathname);
  form.querySelector("[name=token]").value = decodeURIComponent(code);
  var manual = form.querySelector("[data-invitation-manual]");
  if (manual) manual.textContent = "Opening your invitation…";
  form.submit();
})();
