// ZT Console: live updates over the authenticated websocket. Our own code, no framework.
(function () {
  "use strict";

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function auditRow(event) {
    const tr = document.createElement("tr");
    tr.className = "fresh";
    tr.appendChild(cell(event.seq, "num"));
    const when = document.createElement("td");
    const time = document.createElement("time");
    time.dateTime = event.created_at;
    time.textContent = event.created_at.replace("T", " ").slice(0, 19);
    when.appendChild(time);
    tr.appendChild(when);
    tr.appendChild(cell(event.actor));
    const action = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = event.action;
    action.appendChild(code);
    tr.appendChild(action);
    tr.appendChild(cell(event.target));
    tr.appendChild(cell(event.ip_address || ""));
    return tr;
  }

  function showAudit(event) {
    document.querySelectorAll("[data-live-audit] [data-audit-rows]").forEach(function (tbody) {
      const placeholder = tbody.querySelector(".empty-row");
      if (placeholder) placeholder.remove();
      tbody.insertBefore(auditRow(event), tbody.firstChild);
      while (tbody.rows.length > 50) tbody.deleteRow(-1);
    });
    document.querySelectorAll("[data-audit-count]").forEach(function (el) {
      el.textContent = String(event.seq);
    });
  }

  function setStatus(text, on) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) {
      el.textContent = text;
      el.classList.toggle("on", on);
    });
  }

  function connect(attempt) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/events/");
    socket.addEventListener("open", function () { attempt = 0; });
    socket.addEventListener("message", function (message) {
      const data = JSON.parse(message.data);
      if (data.type === "hello") setStatus("live", true);
      else if (data.type === "audit") showAudit(data.event);
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4401 || event.code === 4403) { setStatus("not authorised", false); return; }
      setStatus("reconnecting…", false);
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt));
      window.setTimeout(function () { connect(attempt + 1); }, delay);
    });
  }

  // Risk rules: the condition select offers only the chosen attribute's conditions (its optgroup).
  function linkConditions() {
    document.querySelectorAll("select[data-condition-source]").forEach(function (source) {
      const target = source.form && source.form.querySelector("select[data-condition-target]");
      if (!target) return;
      function sync() {
        const chosen = source.value;
        const current = target.value;
        let kept = false;
        target.querySelectorAll("optgroup").forEach(function (group) {
          const shown = !chosen || group.label === chosen;
          group.hidden = !shown;
          group.disabled = !shown;
          if (!shown) return;
          group.querySelectorAll("option").forEach(function (option) {
            if (!kept && current && option.value === current) { option.selected = true; kept = true; }
          });
        });
        if (!kept) target.value = "";
      }
      source.addEventListener("change", sync);
      sync();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-live-audit]")) connect(0);
    linkConditions();
    // A change kept across step-up: send it again at once (the button stays for browsers without scripts).
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      if (!form.dataset.submitted) { form.dataset.submitted = "1"; form.submit(); }
    });
  });

  // A security key registered (django-otp-webauthn's event): reload, so the page shows the new device or,
  // on first enrollment, moves on to the console.
  document.addEventListener("otp_webauthn.register_complete", function () {
    window.setTimeout(function () { window.location.reload(); }, 600);
  });
})();
