/* Overview: detections-per-minute chart, live anomaly alerts and station status. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("per-minute-chart");
  let plot = null;
  function columns(rows) {
    return [rows.map((r) => r.unix), rows.map((r) => r.count), rows.map((r) => r.anomalies)];
  }
  function draw() {
    const rows = Heimdall.data("per-minute-data") || [];
    if (plot) { plot.setData(columns(rows)); return; }
    plot = Heimdall.chart(el, [
      { label: "detections", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.12)", width: 1.5 },
      { label: "anomalous", stroke: "#c62828", width: 1.5 },
    ], columns(rows), { yLabel: "per minute" });
  }
  draw();
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "overview-stats") { draw(); formatHz(); }
  });
  function formatHz() {
    for (const td of document.querySelectorAll("[data-hz]")) td.textContent = Heimdall.fmtHz(Number(td.dataset.hz));
  }
  formatHz();

  const state = document.getElementById("live-state");
  Heimdall.socket("/ws/signals/live", {
    open: (ws) => ws.send(JSON.stringify({ type: "subscribe", channels: ["anomaly_alerts", "system_status"] })),
    close: () => { state.textContent = "live updates stopped (reconnecting)"; },
    message: (m) => {
      if (m.type === "subscribed") state.textContent = "live";
      if (m.type === "anomaly_alert") addAnomaly(m.data);
      if (m.type === "system_status") stationStatus(m.data);
    },
  });

  function addAnomaly(a) {
    const body = document.getElementById("newest-anomalies");
    if (!body) return;
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    const tr = document.createElement("tr");
    tr.className = "sev-" + a.severity;
    const cells = [
      [`<a href="/anomalies/${a.id}"></a>`, Heimdall.fmtTime(a.created_at)],
      [`<span class="badge ${a.severity}"></span>`, a.severity],
      [null, a.station_id], [null, Heimdall.fmtHz(a.frequency_hz)],
      [null, Number(a.anomaly_score).toFixed(3)], [null, a.description],
    ];
    cells.forEach(([html, text], i) => {
      const td = document.createElement("td");
      if (i >= 3 && i <= 4) td.className = "num";
      if (html) { td.innerHTML = html; td.firstChild.textContent = text; } else td.textContent = text;
      tr.appendChild(td);
    });
    body.prepend(tr);
    while (body.rows.length > 10) body.deleteRow(body.rows.length - 1);
    const counter = document.querySelector(`[data-severity-count="${a.severity}"]`);
    if (counter) counter.textContent = Number(counter.textContent) + 1;
  }
  function stationStatus(s) {
    const statuses = Object.values(s.station_status || {});
    const active = statuses.filter((x) => x === "active").length;
    const a = document.getElementById("stations-active");
    const i = document.getElementById("stations-inactive");
    if (a) a.firstChild.textContent = active + " ";
    if (i) i.textContent = statuses.length - active;
  }
});
