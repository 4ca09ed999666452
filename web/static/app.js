// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("change", (event) => {
  // A task's checkbox submits its form at once (without JavaScript: the button beside it).
  const box = event.target;
  if (box instanceof HTMLInputElement && box.type === "checkbox" && box.dataset.autosubmit !== undefined && box.form) {
    box.form.requestSubmit();
  }
});
