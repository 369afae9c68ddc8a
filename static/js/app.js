// Dashboard behaviour that used to be inline (onsubmit/onchange attributes), moved here so the
// Content-Security-Policy can refuse every inline script. Pages work without JavaScript too.
(function () {
  "use strict";

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
})();
