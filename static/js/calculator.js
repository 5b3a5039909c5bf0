// Dose calculator: recalculate as the person types.
//
// The page works without this file (the form is a plain GET form). With it, every change
// waits ~300 ms, then asks the server for the results block only (X-Requested-With: fetch),
// swaps it in and puts the inputs in the address bar, so the result stays a shareable link.
// The server does every calculation; nothing clinical is computed here. Loaded as a file
// because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var DEBOUNCE_MS = 300;
  var form = document.getElementById("dose-calculator");
  var results = document.getElementById("calculator-results");
  if (!form || !results || !window.fetch || !window.URLSearchParams) {
    return;
  }

  var timer = null;
  var controller = null;
  var latest = 0;
  var lastQuery = window.location.search.replace(/^\?/, "");
  // Only fields the person has used (or the server already marked) get marked invalid,
  // so a half-filled form is not all red.
  var touched = new Set();
  form.querySelectorAll(".is-invalid[name]").forEach(function (field) {
    touched.add(field.name);
  });

  function calculatorUrl() {
    var url = new URL(form.action, window.location.href);
    url.search = new URLSearchParams(new FormData(form)).toString();
    return url;
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

  // The results block lists each field error as <li data-field="name" data-message="...">.
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

  function showFailure(text) {
    var note = document.createElement("div");
    note.className = "alert alert-warning mt-2";
    note.setAttribute("role", "alert");
    note.textContent = text;
    results.prepend(note);
  }

  function update() {
    var url = calculatorUrl();
    var query = url.search.replace(/^\?/, "");
    // "change" follows "input" when a field loses focus: the same inputs need no second request.
    if (query === lastQuery) {
      return;
    }
    lastQuery = query;
    var request = ++latest;
    if (controller) {
      controller.abort();
    }
    controller = new AbortController();
    results.setAttribute("aria-busy", "true");
    fetch(url, { headers: { "X-Requested-With": "fetch" }, signal: controller.signal, cache: "no-store" })
      .then(function (response) {
        // A login page (expired session) or an error page: let the browser show it whole.
        if (!response.ok || response.redirected) {
          window.location.assign(url);
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null || request !== latest) {
          return;
        }
        results.innerHTML = html;
        showFieldErrors();
        window.history.replaceState(null, "", url);
      })
      .catch(function (error) {
        if (error.name !== "AbortError" && request === latest) {
          lastQuery = null;
          showFailure("Could not recalculate (" + error.message + "). Press Calculate to try again.");
        }
      })
      .finally(function () {
        if (request === latest) {
          results.removeAttribute("aria-busy");
        }
      });
  }

  function schedule(event) {
    if (event.target && event.target.name) {
      touched.add(event.target.name);
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(update, DEBOUNCE_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
