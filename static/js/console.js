// ZT Console: live updates over the authenticated websocket. Our own code, no framework.
(function () {
  "use strict";

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function auditRow(event, base) {
    const tr = document.createElement("tr");
    tr.className = "fresh";
    if (base) {
      const td = cell("", "num");
      const link = document.createElement("a");
      link.href = base + encodeURIComponent(event.seq) + "/";
      link.setAttribute("aria-label", "Open event " + event.seq);
      link.textContent = String(event.seq);
      td.appendChild(link);
      tr.appendChild(td);
    } else {
      tr.appendChild(cell(event.seq, "num"));
    }
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

  // The live feed may skip events (a bulk append sends only its tail; a burst past the bound drops some): the
  // chain's sequence numbers show it, and the table says so rather than look complete.
  let lastAuditSeq = null;

  function gapRow(missing) {
    const tr = document.createElement("tr");
    tr.className = "gap-row";
    const td = document.createElement("td");
    td.colSpan = 6;
    td.className = "muted small";
    td.textContent = missing + " more event" + (missing === 1 ? "" : "s") + " recorded meanwhile: in the audit log, not shown live.";
    tr.appendChild(td);
    return tr;
  }

  function showAudit(event) {
    const missing = lastAuditSeq !== null && event.seq > lastAuditSeq + 1 ? event.seq - lastAuditSeq - 1 : 0;
    lastAuditSeq = lastAuditSeq === null ? event.seq : Math.max(lastAuditSeq, event.seq);
    document.querySelectorAll("[data-live-audit] [data-audit-rows]").forEach(function (tbody) {
      const placeholder = tbody.querySelector(".empty-row");
      if (placeholder) placeholder.remove();
      if (missing) tbody.insertBefore(gapRow(missing), tbody.firstChild);
      tbody.insertBefore(auditRow(event, tbody.getAttribute("data-event-base")), tbody.firstChild);
      while (tbody.rows.length > 50) tbody.deleteRow(-1);
    });
    document.querySelectorAll("[data-audit-count]").forEach(function (el) {
      el.textContent = String(event.seq);
    });
  }

  function shortTime(text) {
    return text ? text.replace("T", " ").slice(0, 19) : "";
  }

  function showPoint(message) {
    const point = message.point;
    document.querySelectorAll("[data-live-ledger]").forEach(function (summary) {
      if (!point) { if (message.environment === "" || message.environment === summary.dataset.environment) window.setTimeout(function () { refreshLedger(summary); }, 300); return; }
      if (point.environment !== summary.dataset.environment) return;
      if (point.in_force != null && String(point.in_force) !== summary.dataset.inForce) { refreshLedger(summary); return; }
      const row = document.querySelector('[data-ledger-table] tr[data-point="' + CSS.escape(point.name) + '"]');
      if (!row) { refreshLedger(summary); return; }
      const set = function (field, text, html) {
        const td = row.querySelector('[data-field="' + field + '"]');
        if (!td) return;
        if (html) { td.replaceChildren(html); } else { td.textContent = text; }
      };
      const code = document.createElement("code");
      code.textContent = point.sha256 ? point.sha256.slice(0, 12) + "…" : "—";
      set("version", point.version ? "v" + point.version : "—");
      set("sha256", null, code);
      set("acknowledged_at", shortTime(point.acknowledged_at) || "—");
      const lag = document.createElement("span");
      if (point.lag === 0) { lag.className = "badge ok"; lag.textContent = "in force"; }
      else if (point.lag != null) { lag.className = "badge warn"; lag.textContent = point.lag + " behind"; }
      else { lag.textContent = "—"; }
      set("lag", null, lag);
      set("revocation_sequence", "#" + point.revocation_sequence);
      set("last_contact_at", shortTime(point.last_contact_at) || "never");
      set("last_refusal", point.last_refusal || "—");
      set("alerts", String(point.alerts));
      row.dataset.converged = point.converged ? "yes" : "no";
      row.dataset.status = point.status;
      row.classList.add("fresh");
      const rows = document.querySelectorAll('[data-ledger-table] tr[data-status="active"]');
      let converged = 0;
      rows.forEach(function (r) { if (r.dataset.converged === "yes") converged += 1; });
      summary.querySelectorAll("[data-converged-count]").forEach(function (el) { el.textContent = String(converged); });
      summary.querySelectorAll("[data-active-count]").forEach(function (el) { el.textContent = String(rows.length); });
    });
  }

  // A new version in force changes every row and the heading: fetch the page again and swap the ledger in.
  function refreshLedger(summary) {
    window.fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.querySelector("[data-live-ledger]");
        const table = doc.querySelector("[data-ledger-table]");
        if (fresh) summary.replaceWith(fresh);
        const current = document.querySelector("[data-ledger-table]");
        if (table && current) current.replaceWith(table);
      });
  }

  function setStatus(text, on) {
    document.querySelectorAll('[data-live-status]:not([data-stream="sessions"])').forEach(function (el) {
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
      else if (data.type === "enforcement") showPoint(data);
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
    if (document.querySelector("[data-live-audit], [data-live-ledger]")) connect(0);
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
