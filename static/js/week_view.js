// The chair week view (templates/scheduling/week.html).
//
// - The print layout (?print=1) opens the browser's print dialog once loaded. Without JavaScript the
//   same page prints from the browser's own Print command.
// - The board: "Move" on a chip and "Book day 1 here" on a free cell open their form in the board's
//   panel (#board-panel) instead of a page of their own; the same views answer with a fragment
//   (scheduling/views/courses.py), with the same checks, refusals and warnings. In move mode each
//   cell from today on gets a "Move here" button: Tab or the arrow keys go from cell to cell, Enter
//   or Space chooses (the panel's form is sent with that day and chair), Escape cancels. Nothing needs
//   a drag (WCAG 2.5.7). Without JavaScript the links are the move and booking pages.
// - Today's column refreshes itself every 60 s while the page is visible (#board-today, htmx). Only
//   that column's cells are swapped; the mode lives on #chair-board, outside them, and is put back
//   on the new cells, and the focus returns to the element that had it.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-autoprint]")) {
      window.print();
      return;
    }
    var board = document.getElementById("chair-board");
    var panel = document.getElementById("board-panel");
    if (!board || !panel || !window.htmx) {
      return;
    }
    var htmx = window.htmx;

    function grid() {
      return document.getElementById("board-grid");
    }

    function cells() {
      return Array.prototype.slice.call(grid().querySelectorAll("td[data-chair]"));
    }

    function moving() {
      return board.dataset.moving || "";
    }

    function loadPanel(url, source) {
      return htmx.ajax("GET", url, { source: source, target: panel, swap: "innerHTML" });
    }

    // ---- move mode --------------------------------------------------------------------------

    function originCell() {
      var link = document.getElementById("m-" + moving());
      return link ? link.closest("td") : null;
    }

    function addTargets() {
      if (!moving()) {
        return;
      }
      var origin = originCell();
      cells().forEach(function (cell) {
        if (cell === origin || cell.hasAttribute("data-past") || cell.querySelector(".board-target")) {
          return;
        }
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-sm btn-outline-primary board-target no-print";
        button.id = "t-" + cell.id;
        button.textContent = "Move here";
        var where = document.createElement("span");
        where.className = "visually-hidden";
        where.textContent = " (chair " + cell.dataset.chair + ", " + cell.dataset.date + ")";
        button.appendChild(where);
        cell.appendChild(button);
      });
      var chip = origin && origin.querySelector("#m-" + CSS.escape(moving()));
      if (chip) {
        chip.closest(".chip").classList.add("is-moving");
      }
    }

    function removeTargets() {
      board.querySelectorAll(".board-target").forEach(function (button) {
        button.remove();
      });
      board.querySelectorAll(".chip.is-moving").forEach(function (chip) {
        chip.classList.remove("is-moving");
      });
    }

    function firstTargetNear(cell) {
      var targets = Array.prototype.slice.call(grid().querySelectorAll(".board-target"));
      if (!targets.length) {
        return null;
      }
      var row = cell ? cell.parentElement : null;
      var inRow = targets.filter(function (target) {
        return target.closest("tr") === row;
      });
      if (inRow.length) {
        var after = inRow.filter(function (target) {
          return cell.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_FOLLOWING;
        });
        return after[0] || inRow[inRow.length - 1];
      }
      return targets[0];
    }

    function startMove(link) {
      stopMode(false);
      board.dataset.mode = "move";
      board.dataset.moving = link.dataset.move;
      loadPanel(link.href, link).then(function () {
        if (!panel.querySelector("[data-move-form]")) {
          stopMode(false); // the session can no longer be moved: the panel says why
          focusPanel();
          return;
        }
        addTargets();
        var target = firstTargetNear(originCell());
        (target || panel.querySelector("input, select") || panel).focus();
      });
    }

    var opener = ""; // the id of the control that opened the panel, for the focus to go back to

    function stopMode(restoreFocus) {
      var origin = moving();
      removeTargets();
      delete board.dataset.mode;
      delete board.dataset.moving;
      if (restoreFocus) {
        panel.innerHTML = "";
        var back = document.getElementById(origin ? "m-" + origin : opener);
        if (back) {
          back.focus();
        }
      }
    }

    function chooseTarget(button) {
      var cell = button.closest("td");
      var form = panel.querySelector("[data-move-form]");
      if (!cell || !form) {
        return;
      }
      form.querySelector("[name=new_date]").value = cell.dataset.date;
      form.querySelector("[name=chair]").value = cell.dataset.chair;
      form.requestSubmit();
    }

    // Arrow keys go to the nearest "Move here" in that direction, by row and column of the grid.
    function arrowTarget(from, key) {
      var cell = from.closest("td");
      var row = cell.parentElement;
      var rows = Array.prototype.slice.call(row.parentElement.children);
      var r = rows.indexOf(row);
      var c = Array.prototype.indexOf.call(row.children, cell);
      var step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[key];
      for (r += step[0], c += step[1]; r >= 0 && r < rows.length && c >= 1 && c < rows[r].children.length; r += step[0], c += step[1]) {
        var target = rows[r].children[c].querySelector(".board-target");
        if (target) {
          return target;
        }
      }
      return null;
    }

    // ---- the panel's answers ----------------------------------------------------------------

    // The panel's answer, most pressing first: a refusal, then warnings to accept, then what was done.
    function focusPanel() {
      var first = null;
      [".alert-danger", ".alert-warning", ".is-invalid", "[data-board-done]", "#board-panel-title"].some(function (selector) {
        first = panel.querySelector(selector);
        return first !== null;
      });
      if (first) {
        if (!first.matches("input, select, textarea, button, a[href]") && !first.hasAttribute("tabindex")) {
          first.setAttribute("tabindex", "-1");
        }
        first.focus();
      }
    }

    // After settling, not swapping: until then an element that kept its id (the form's fields) still
    // wears its old classes (htmx settles class changes), so a new refusal is not yet marked.
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.detail.target !== panel) {
        return;
      }
      var verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "get";
      if (panel.querySelector("[data-board-done]")) {
        stopMode(false);
        focusPanel();
      } else if (verb !== "get" && panel.querySelector(".alert-danger, .alert-warning, .is-invalid")) {
        focusPanel();
      } else if (verb === "get" && !panel.querySelector("[data-move-form]")) {
        focusPanel(); // the booking form: the person goes on from its heading
      }
    });

    // A booking or a move was done: redraw the grid (and the orders waiting), then focus the session.
    // After a booking the order no longer waits: the board (and the address) leave booking mode.
    document.body.addEventListener("board-changed", function () {
      var done = panel.querySelector("[data-board-done]");
      var focusId = done ? done.dataset.boardDone : "";
      var url = grid().dataset.refresh;
      if (done && done.hasAttribute("data-board-booked")) {
        url = url.replace(/&book=[^&]*/, "");
        history.replaceState(history.state, "", window.location.href.replace(/([?&])book=[^&]*&?/, "$1").replace(/[?&]$/, ""));
      }
      htmx.ajax("GET", url, { source: grid(), target: grid(), swap: "outerHTML" }).then(function () {
        var session = focusId && document.getElementById(focusId);
        if (session) {
          session.focus();
        }
      });
    });

    // ---- clicks and keys ----------------------------------------------------------------------

    board.addEventListener("click", function (event) {
      var move = event.target.closest("a[data-move]");
      var book = event.target.closest("a[data-book]");
      var target = event.target.closest(".board-target");
      var cancel = event.target.closest("[data-board-cancel]");
      if (move) {
        event.preventDefault();
        opener = move.id;
        startMove(move);
      } else if (book) {
        event.preventDefault();
        stopMode(false);
        opener = book.id;
        loadPanel(book.href, book);
      } else if (target) {
        chooseTarget(target);
      } else if (cancel) {
        stopMode(true);
      }
    });

    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && (moving() || panel.children.length)) {
        event.preventDefault();
        stopMode(true);
      } else if (event.target.classList && event.target.classList.contains("board-target") && event.key.indexOf("Arrow") === 0) {
        var next = arrowTarget(event.target, event.key);
        if (next) {
          event.preventDefault();
          next.focus();
        }
      }
    });

    // ---- today's column -----------------------------------------------------------------------

    var today = document.getElementById("board-today");
    if (today) {
      var focusedId = "";
      today.addEventListener("htmx:beforeRequest", function (event) {
        if (document.visibilityState !== "visible") {
          event.preventDefault(); // a hidden page is not refreshed; it catches up when shown
        }
      });
      today.addEventListener("htmx:beforeSwap", function () {
        var active = document.activeElement;
        focusedId = active && active !== document.body ? active.id : "";
      });
      today.addEventListener("htmx:afterSettle", function () {
        addTargets(); // the mode outlives the cells it decorates
        var active = document.activeElement;
        if (focusedId && (!active || active === document.body)) {
          var again = document.getElementById(focusedId);
          if (again) {
            again.focus({ preventScroll: true });
          }
        }
        focusedId = "";
      });
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") {
          htmx.trigger(today, "board-visible");
        }
      });
    }
    // The board's controls work in place from here on (before this, a link is followed as a page):
    // browser tests wait for it after a page load rather than race the deferred scripts.
    board.setAttribute("data-board-ready", "");
  });
})();
