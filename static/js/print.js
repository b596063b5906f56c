// Buttons marked data-print open the browser's print dialog (kept out of inline handlers for CSP).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});

// The handler is attached: mark the page ready (browser tests wait for this, never for time).
// A space-separated list, as a page may load more than one of these scripts.
document.documentElement.dataset.ready = [document.documentElement.dataset.ready, "print"]
  .filter(Boolean)
  .join(" ");
