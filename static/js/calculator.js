// Dose calculator: mark the fields the recalculated plan refuses.
//
// htmx recalculates as the person types (the form's hx-get, hx-trigger and hx-replace-url in
// dosing/calculator.html) and swaps in the results block; the server does every calculation.
// What htmx cannot do without replacing the inputs being typed in is mark them: the results
// block lists each field error as <li data-field="name" data-message="...">, and this file puts
// the message under its field. Only fields the person has used (or the server already marked)
// are marked, so a half-filled form is not all red. Without this file the errors are listed in
// the results block; without JavaScript, Calculate draws the page with them at the fields.
(function () {
  "use strict";

  var form = document.getElementById("dose-calculator");
  var results = document.getElementById("calculator-results");
  if (!form || !results) {
    return;
  }
  var touched = new Set();
  form.querySelectorAll(".is-invalid[name]").forEach(function (field) {
    touched.add(field.name);
  });

  function touch(event) {
    if (event.target && event.target.name) {
      touched.add(event.target.name);
    }
  }

  function clearFieldErrors() {
    form.querySelectorAll(".is-invalid").forEach(function (field) {
      field.classList.remove("is-invalid");
      field.removeAttribute("aria-invalid");
    });
    form.querySelectorAll(".invalid-feedback").forEach(function (feedback) {
      feedback.remove();
    });
  }

  function showFieldErrors() {
    clearFieldErrors();
    results.querySelectorAll("[data-calculator-errors] [data-field]").forEach(function (item) {
      var field = form.elements.namedItem(item.dataset.field);
      if (!field || !field.classList || !touched.has(field.name)) {
        return;
      }
      var feedback = document.createElement("div");
      feedback.className = "invalid-feedback";
      feedback.textContent = item.dataset.message;
      field.classList.add("is-invalid");
      field.setAttribute("aria-invalid", "true");
      field.insertAdjacentElement("afterend", feedback);
    });
  }

  form.addEventListener("input", touch);
  form.addEventListener("change", touch);
  results.addEventListener("htmx:afterSwap", showFieldErrors);
})();
