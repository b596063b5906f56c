// Buttons marked data-print open the browser's print dialog (kept out of inline handlers for CSP).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
