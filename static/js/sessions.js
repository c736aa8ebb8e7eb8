// ZT Console: FIX sessions, live over /ws/sessions/. Rows change in place; on every (re)connection the page
// reloads its rows from the server's stored state (the truth), so an update missed while away is never shown stale.
(function () {
  "use strict";

  var LIVE = ["connecting", "tls_established", "logged_on"];
  var ENDED = ["logged_out", "disconnected", "refused"];

  function text(value, fallback) {
    return value === null || value === undefined || value === "" ? (fallback === undefined ? "—" : fallback) : String(value);
  }

  function clock(iso) { return iso ? iso.slice(11, 19) : ""; }
  function stamp(iso) { return iso ? iso.replace("T", " ").slice(5, 19) : ""; }

  function badge(state) {
    var span = document.createElement("span");
    span.className = "badge" + (state === "logged_on" ? " ok" : state === "refused" ? " bad" : LIVE.indexOf(state) >= 0 ? " warn" : "");
    span.textContent = state;
    return span;
  }

  function withMuted(main, muted) {
    var frag = document.createDocumentFragment();
    frag.appendChild(document.createTextNode(main));
    if (muted) {
      var span = document.createElement("span");
      span.className = "muted small";
      span.textContent = muted;
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(span);
    }
    return frag;
  }

  function setCell(row, field, content) {
    var td = row.querySelector('[data-field="' + field + '"]');
    if (!td) return;
    if (typeof content === "string") td.textContent = content; else td.replaceChildren(content);
  }

  function fill(row, s) {
    setCell(row, "state", badge(s.state));
    setCell(row, "identity", withMuted(text(s.identity), s.sender_comp_id));
    setCell(row, "tls", text(s.tls_version));
    var tls = row.querySelector('[data-field="tls"]');
    if (tls && s.cipher) tls.title = s.cipher;
    var logon = s.outcome ? withMuted(s.outcome, "score " + text(s.score) + (s.matched_rule ? ", " + s.matched_rule : "")) : "—";
    setCell(row, "outcome", logon);
    setCell(row, "seq", text(s.client_seq) + " / " + text(s.venue_seq));
    setCell(row, "last_message_at", clock(s.last_message_at) || "—");
    var reason = s.end_reason && s.end_reason.length > 60 ? s.end_reason.slice(0, 59) + "…" : s.end_reason;
    setCell(row, "ended", s.ended_at ? withMuted(clock(s.ended_at), reason) : "—");
    row.dataset.rev = String(s.rev);
    row.dataset.state = s.state;
    row.classList.add("fresh");
  }

  function newRow(table, s) {
    var tr = document.createElement("tr");
    tr.dataset.session = String(s.id);
    var link = document.createElement("a");
    link.href = table.dataset.detailUrl + s.id + "/";
    var code = document.createElement("code");
    code.textContent = s.session_id;
    link.appendChild(code);
    var first = document.createElement("td");
    first.appendChild(link);
    tr.appendChild(first);
    var point = document.createElement("td");
    point.appendChild(withMuted(s.point, s.environment));
    tr.appendChild(point);
    ["state", "identity", "tls", "outcome", "seq", "last_message_at"].forEach(function (field) {
      var td = document.createElement("td");
      td.dataset.field = field;
      tr.appendChild(td);
    });
    var started = document.createElement("td");
    started.className = "nowrap";
    var time = document.createElement("time");
    time.dateTime = s.started_at || "";
    time.textContent = stamp(s.started_at);
    started.appendChild(time);
    tr.appendChild(started);
    var ended = document.createElement("td");
    ended.dataset.field = "ended";
    tr.appendChild(ended);
    fill(tr, s);
    return tr;
  }

  function matches(table, s) {
    var f = table.dataset;
    if (f.filterPep && f.filterPep !== s.point) return false;
    if (f.filterEnvironment && f.filterEnvironment !== s.environment) return false;
    if (f.filterIdentity && f.filterIdentity !== s.identity) return false;
    if (f.filterOutcome && f.filterOutcome !== s.outcome) return false;
    if (f.filterState === "live") return LIVE.indexOf(s.state) >= 0;
    if (f.filterState === "ended") return ENDED.indexOf(s.state) >= 0;
    if (f.filterState && f.filterState !== s.state) return false;
    return true;
  }

  function showList(table, sessions) {
    var tbody = table.querySelector("[data-session-rows]");
    sessions.forEach(function (s) {
      var row = tbody.querySelector('tr[data-session="' + s.id + '"]');
      if (row) {
        if (Number(row.dataset.rev) <= s.rev) fill(row, s);
        return;
      }
      if (table.dataset.firstPage !== "yes" || !matches(table, s)) return;
      var placeholder = tbody.querySelector(".empty-row");
      if (placeholder) placeholder.remove();
      tbody.insertBefore(newRow(table, s), tbody.firstChild);
      var size = Number(table.dataset.pageSize) || 50;
      while (tbody.rows.length > size) tbody.deleteRow(-1);
    });
  }

  function showCounts(counts) {
    if (!counts) return;
    document.querySelectorAll("[data-session-counts] [data-count]").forEach(function (el) {
      var key = el.dataset.count;
      var value = key === "ended" ? (counts.logged_out || 0) + (counts.disconnected || 0) : counts[key];
      if (value !== undefined) el.textContent = String(value);
    });
  }

  // The whole page from the server: rows, counts, a session's facts and timeline (after a reconnect, a
  // resync message, or a change of the session this detail page shows). One request in flight at a time.
  var refreshing = false;
  var again = false;
  var replay = []; // frames that arrived while a refresh was in flight: applied again on top of its result
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    window.fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["[data-session-rows]", "[data-session-counts]", "[data-live-session]", "[data-timeline]", "[data-terminations]"].forEach(function (selector) {
          var fresh = doc.querySelector(selector);
          var current = document.querySelector(selector);
          if (fresh && current) current.replaceWith(fresh);
        });
        var terminate = document.querySelector("[data-terminate]");
        if (terminate && !doc.querySelector("[data-terminate]")) terminate.remove();
        var table = document.querySelector("[data-live-sessions]");
        replay.forEach(function (frame) {
          showCounts(frame.counts);
          if (table) showList(table, frame.sessions);
        });
      })
      .finally(function () {
        replay = [];
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  function showDetail(holder, sessions) {
    var id = Number(holder.dataset.liveSession);
    sessions.forEach(function (s) {
      if (s.id === id && s.rev >= Number(holder.dataset.rev)) refresh();
    });
  }

  // A held Logon of an algorithm this user sponsors: added to the banner, which is shown (and announced).
  function showStepUp(item) {
    var banner = document.querySelector("[data-step-ups]");
    if (!banner || !item || banner.querySelector('[data-step-up="' + item.id + '"]')) return;
    var li = document.createElement("li");
    li.dataset.stepUp = String(item.id);
    var link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.identity + " (session " + item.session_id + " at " + item.point + ")";
    li.appendChild(link);
    li.appendChild(document.createTextNode(": " + item.reason + " — until " + item.expires_at.slice(11, 19) + " UTC"));
    banner.querySelector("ul").appendChild(li);
    banner.hidden = false;
  }

  // Only this stream's indicators: the dashboard also shows the audit feed's, which /ws/events/ drives.
  function setStatus(label, on) {
    document.querySelectorAll('[data-live-status][data-stream="sessions"]').forEach(function (el) {
      el.textContent = label;
      el.classList.toggle("on", on);
    });
  }

  function connect(attempt) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/sessions/");
    var opened = false;
    socket.addEventListener("message", function (message) {
      var data = JSON.parse(message.data);
      if (data.type === "hello") {
        setStatus("live", true);
        opened = true;
        // Subscribed from here on: whatever changed between the page's render (or the last connection) and
        // now comes from the stored state, so no update falls in the gap.
        refresh();
        return;
      }
      if (data.type === "step_up") { showStepUp(data.request); return; }
      if (data.type !== "sessions") return;
      if (data.resync) { refresh(); return; }
      showCounts(data.counts);
      if (refreshing) replay.push(data);
      var table = document.querySelector("[data-live-sessions]");
      if (table) showList(table, data.sessions);
      var holder = document.querySelector("[data-live-session]");
      if (holder) showDetail(holder, data.sessions);
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4401 || event.code === 4403) { setStatus("not authorised", false); return; }
      setStatus("reconnecting…", false);
      var next = opened ? 0 : attempt + 1;
      var delay = Math.min(30000, 500 * Math.pow(2, next));
      window.setTimeout(function () { connect(next); }, delay);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-live-sessions], [data-live-session], [data-session-counts]")) connect(0);
  });
})();
