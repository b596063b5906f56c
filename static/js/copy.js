// Buttons marked data-copy="<element id>" copy that element's text (kept out of inline handlers
// for CSP). The clipboard API needs a secure context; elsewhere the text is selected instead.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) {
    return;
  }
  const source = document.getElementById(button.dataset.copy);
  if (!source) {
    return;
  }
  const text = source.textContent.trim();
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      copied = false;
    }
  }
  if (!copied) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    copied = document.execCommand("copy");
  }
  if (copied) {
    // Stays after the label comes back: what was copied last, for people and for tests.
    button.dataset.copied = "true";
  }
  if (copied && button.dataset.done) {
    const label = button.textContent;
    button.textContent = button.dataset.done;
    setTimeout(() => {
      button.textContent = label;
    }, 2000);
  }
});

// The handler is attached: mark the page ready (browser tests wait for this, never for time).
// A space-separated list, as a page may load more than one of these scripts.
document.documentElement.dataset.ready = [document.documentElement.dataset.ready, "copy"]
  .filter(Boolean)
  .join(" ");
