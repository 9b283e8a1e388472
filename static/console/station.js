/* Station page: the 24 h detections chart. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-hz]")) el.textContent = Heimdall.fmtHz(Number(el.dataset.hz));
  const rows = Heimdall.data("hourly-data") || [];
  Heimdall.chart(document.getElementById("hourly-chart"), [
    { label: "detections", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.12)", width: 1.5 },
    { label: "anomalous", stroke: "#c62828", width: 1.5 },
  ], [rows.map((r) => r.unix), rows.map((r) => r.count), rows.map((r) => r.anomalies)],
  { yLabel: "per hour" });
});
