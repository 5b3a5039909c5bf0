// In-place updates (htmx): what htmx does not do by itself, for every page.
//
// - A refused or failed answer (403, 404, 500, no network) shows a message in the page's status
//   region instead of silently nothing. Form errors (422) and stale pages (409) are swapped in
//   with their messages (base.html's htmx-config) and never reach this handler.
// - Focus is never lost: a fragment may name where focus goes (autofocus, which htmx honours);
//   if the focused element was swapped away without one, focus moves to the message the answer
//   brought, else to the updated region.
// - The region being updated says it is busy while the request runs.
// Loaded as a file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var REASONS = {
    403: "You are not allowed to do this (403). Nothing was changed.",
    404: "This record was not found (404): it may have been removed. Reload the page.",
  };

  function statusRegion() {
    return document.getElementById("messages");
  }

  function say(text, kind) {
    var region = statusRegion();
    if (!region) {
      return;
    }
    var note = document.createElement("div");
    note.className = "alert alert-" + kind;
    note.setAttribute("role", "alert");
    note.setAttribute("tabindex", "-1");
    note.textContent = text;
    region.replaceChildren(note);
    note.focus();
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var text =
      REASONS[status] ||
      "The server could not do this (error " + status + "). Reload the page to see what was saved.";
    say(text, "danger");
  });

  document.addEventListener("htmx:sendError", function () {
    say("The server could not be reached: check the connection, then try again.", "warning");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target) {
      target.setAttribute("aria-busy", "true");
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var target = event.detail.target;
    if (target) {
      target.removeAttribute("aria-busy");
    }
  });

  // Set when an answer brought new messages (the status region swapped out of band).
  var freshMessage = false;
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "messages") {
      freshMessage = true;
    }
  });

  function focusable(element) {
    if (!element.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(element.tagName)) {
      element.setAttribute("tabindex", "-1");
    }
    return element;
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var announced = freshMessage;
    freshMessage = false;
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) {
      return; // focus is still where the person is working (or where autofocus put it)
    }
    var region = statusRegion();
    var message = announced && region ? region.querySelector("[role=status], [role=alert]") : null;
    var target = event.detail.target;
    if (target && !document.body.contains(target) && target.id) {
      target = document.getElementById(target.id); // swapped whole (outerHTML): its successor
    }
    var next = message || (target && document.body.contains(target) ? target : null);
    if (next) {
      focusable(next).focus();
    }
  });
})();
