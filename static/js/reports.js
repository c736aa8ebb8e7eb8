// Progress of background work (audit and report exports, chain verification): poll the small JSON status
// endpoint until the work is done or failed. The section names its unit ("events", "rows", "events checked").
(function () {
  "use strict";
  const section = document.querySelector("[data-export-status]");
  if (!section) return;
  const url = section.getAttribute("data-export-status");
  const unit = section.getAttribute("data-unit") || "events";
  const bar = section.querySelector("progress");
  const text = section.querySelector("[data-export-text]");
  const error = section.querySelector("[data-export-error]");
  const result = section.querySelector("[data-export-result]");
  const download = section.querySelector("[data-export-download]");
  const warnings = section.querySelector("[data-export-warnings]");
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };

  async function poll() {
    let state;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      state = await response.json();
    } catch (problem) {
      text.textContent = "Status unavailable (" + problem.message + "), retrying…";
      window.setTimeout(poll, 3000);
      return;
    }
    bar.value = state.percent;
    bar.textContent = state.percent + "%";
    text.textContent = (labels[state.status] || state.status) + ": " + state.written + " of " + state.total + " " + unit;
    if (error && state.error) {
      error.textContent = state.error;
      error.hidden = false;
    }
    if (result && state.result) {
      result.textContent = state.result;
      result.hidden = false;
      result.classList.toggle("message-success", state.intact === true);
      result.classList.toggle("message-error", state.intact === false || state.status === "failed");
    }
    if (download) download.hidden = !state.download;
    if (warnings && state.warnings && state.warnings.length && !warnings.children.length) {
      state.warnings.forEach(function (warning) {
        const item = document.createElement("li");
        item.textContent = "Warning: " + warning;
        warnings.appendChild(item);
      });
    }
    if (state.status !== "done" && state.status !== "failed") window.setTimeout(poll, 700);
  }
  poll();
})();
