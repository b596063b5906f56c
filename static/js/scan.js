// The stock-take scanning page. Everything works without this file (a keyboard-wedge scanner
// types the tag and Enter into the focused field); it only adds conveniences: choosing a location
// loads it at once, stray keystrokes go to the tag field, and phones can read QR labels with the
// camera where the browser has the BarcodeDetector API. No inline handlers, for CSP.

document.querySelectorAll("[data-hide-with-js]").forEach((element) => {
  element.hidden = true;
});

document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
  select.addEventListener("change", () => {
    if (select.value) {
      select.form.submit();
    }
  });
});

const scanForm = document.getElementById("scan-form");
const tagInput = scanForm ? scanForm.elements.namedItem("tag") : null;

if (tagInput) {
  // After a refused scan the tag stays in the field: selected, so the next read replaces it.
  if (tagInput.value) {
    tagInput.select();
  }
  // A scanner "types" wherever the focus is: bring keystrokes that land on the page itself back
  // to the tag field instead of losing them.
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target.closest("input, select, textarea, button, a, [contenteditable]");
    if (!typing && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      tagInput.focus();
    }
  });
}

async function qrSupported() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) {
    return false;
  }
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code");
  } catch {
    return false;
  }
}

function setUpCamera(box) {
  const start = box.querySelector("[data-camera-start]");
  const stop = box.querySelector("[data-camera-stop]");
  const video = box.querySelector("[data-camera-video]");
  const message = box.querySelector("[data-camera-message]");
  let stream = null;

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
      stream = null;
    }
    video.srcObject = null;
    video.hidden = true;
    stop.hidden = true;
    start.hidden = false;
  }

  async function watch(detector) {
    if (!stream) {
      return;
    }
    try {
      const codes = await detector.detect(video);
      const value = codes.length ? codes[0].rawValue.trim() : "";
      if (value) {
        stopCamera();
        tagInput.value = value;
        scanForm.requestSubmit();
        return;
      }
    } catch {
      // A frame that is not ready yet: try the next one.
    }
    setTimeout(() => watch(detector), 200);
  }

  start.addEventListener("click", async () => {
    message.textContent = "";
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch {
      message.textContent = box.dataset.error;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    start.hidden = true;
    stop.hidden = false;
    await video.play();
    watch(new window.BarcodeDetector({ formats: ["qr_code"] }));
  });
  stop.addEventListener("click", stopCamera);
  window.addEventListener("pagehide", stopCamera);
}

// Mark the page ready once every handler is attached and the camera button is shown or left
// hidden for good (browser tests wait for this, never for time). A space-separated list, as a
// page may load more than one of these scripts.
function markReady() {
  document.documentElement.dataset.ready = [document.documentElement.dataset.ready, "scan"]
    .filter(Boolean)
    .join(" ");
}

const cameraBox = document.querySelector("[data-camera]");
if (cameraBox && tagInput) {
  qrSupported()
    .then((supported) => {
      if (supported) {
        cameraBox.hidden = false;
        setUpCamera(cameraBox);
      }
    })
    .finally(markReady);
} else {
  markReady();
}
