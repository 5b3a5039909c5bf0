// Print buttons ([data-print-button]: the infusion sheet, the week view) open the browser's print dialog.
// Wired here rather than in an onclick attribute: the content security policy forbids inline handlers.
// Without JavaScript the buttons are hidden (no-js.css) and the page's print-ready link or the browser's
// own Print command does the same. A button with data-print-href (the week view) opens its print layout
// instead, which prints itself once loaded: only that layout carries what paper needs (prescribers, verifiers).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print-button]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (button.dataset.printHref) {
        window.location.href = button.dataset.printHref;
      } else {
        window.print();
      }
    });
  });
});
