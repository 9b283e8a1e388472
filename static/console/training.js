/* Training job monitor (seed 000's TrainingMonitor): status, step, message, progress,
 * per-epoch loss / accuracy / learning-rate charts, fed by /ws/training/{job_id}. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const monitor = document.getElementById("monitor");
  const jobId = monitor.dataset.job;
  const byEpoch = new Map();
  for (const row of Heimdall.data("metrics-data") || []) byEpoch.set(row.epoch, row);

  const xOpts = { time: false, xLabel: "epoch" };
  const loss = Heimdall.chart(document.getElementById("loss-chart"), [
    { label: "train loss", stroke: "#1f5fbf", width: 1.5 },
    { label: "val loss", stroke: "#e0670b", width: 1.5 },
  ], [[], [], []], xOpts);
  const acc = Heimdall.chart(document.getElementById("accuracy-chart"), [
    { label: "train accuracy", stroke: "#1f5fbf", width: 1.5 },
    { label: "val accuracy", stroke: "#e0670b", width: 1.5 },
  ], [[], [], []], xOpts);
  const lr = Heimdall.chart(document.getElementById("lr-chart"), [
    { label: "learning rate", stroke: "#1e8e3e", width: 1.5 },
  ], [[], []], { ...xOpts, yValues: (v) => (v === null ? "" : v.toExponential(1)) });

  function redraw() {
    const rows = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
    const col = (k) => rows.map((r) => (r[k] === undefined ? null : r[k]));
    const x = rows.map((r) => r.epoch);
    loss.setData([x, col("train_loss"), col("val_loss")]);
    acc.setData([x, col("train_accuracy"), col("val_accuracy")]);
    lr.setData([x, col("learning_rate")]);
  }
  redraw();

  const fmt = (v, digits = 4) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
  const TERMINAL = ["completed", "failed", "cancelled"];

  function show(s) {
    const badge = document.getElementById("job-status");
    badge.className = "badge " + s.status;
    badge.textContent = s.status;
    set("job-step", s.step || "–");
    set("job-message", s.message || "–");
    set("job-epoch", s.current_epoch);
    set("job-total", s.total_epochs);
    set("job-percent", Number(s.progress_percent).toFixed(1));
    document.getElementById("progress-bar").style.width = s.progress_percent + "%";
    const m = s.metrics || {};
    set("m-train-loss", fmt(m.train_loss));
    set("m-val-loss", fmt(m.val_loss));
    set("m-train-acc", fmt(m.train_accuracy));
    set("m-val-acc", fmt(m.val_accuracy));
    set("m-lr", m.learning_rate === null || m.learning_rate === undefined ? "–" : Number(m.learning_rate).toExponential(3));
    const error = document.getElementById("job-error");
    error.hidden = !s.error_message;
    error.textContent = s.error_message || "";
    if (s.current_epoch > 0 && s.step === "training" && (m.train_loss !== null || m.val_loss !== null)) {
      byEpoch.set(s.current_epoch, { epoch: s.current_epoch, ...m });
      redraw();
    }
    if (TERMINAL.includes(s.status)) {
      const cancel = document.getElementById("cancel-form");
      if (cancel) cancel.remove();
      set("ws-state", "finished");
      // The stored per-epoch rows are the record: draw exactly those.
      fetch(`/api/v1/training/jobs/${jobId}/metrics?limit=10000`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((body) => {
          if (!body) return;
          byEpoch.clear();
          for (const row of body.metrics) {
            if (row.batch !== null) continue;
            const merged = byEpoch.get(row.epoch) || { epoch: row.epoch };
            for (const [k, v] of Object.entries(row)) if (v !== null) merged[k] = v;
            byEpoch.set(row.epoch, merged);
          }
          redraw();
        });
    }
  }

  if (monitor.dataset.terminal === "true") return;
  const socket = Heimdall.socket(`/ws/training/${jobId}`, {
    open: () => set("ws-state", "live"),
    close: (event) => {
      if (document.getElementById("ws-state").textContent !== "finished") {
        set("ws-state", event.code >= 4400 ? "closed (" + event.code + ")" : "reconnecting…");
      }
    },
    message: (m) => {
      if (m.event === "training_status") show(m);
    },
  });
  setInterval(() => socket.send({ event: "ping" }), 30000);
});
