// Week view: the print layout (?print=1) opens the browser's print dialog once loaded.
// Without JavaScript the same page prints from the browser's own Print command.
document.addEventListener("DOMContentLoaded", function () {
  if (document.querySelector("[data-autoprint]")) {
    window.print();
  }
});
