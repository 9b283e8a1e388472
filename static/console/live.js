/* Live page: a waterfall of detections (frequency across, time down, colour = strength)
 * fed by /ws/signals/live with the session cookie.
 *
 * Keeping up with 1,000+ detections/s: messages only go into a bounded ring buffer;
 * one requestAnimationFrame callback per frame scrolls the canvas once, draws every
 * buffered detection and rewrites a fixed pool of table cells. When more arrive than
 * a frame can take (a slow machine, a hidden tab), the oldest are dropped and the page
 * says how many, instead of falling further and further behind. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const MAX_QUEUE = 5000;        // detections waiting for a frame; past this the oldest go
  const MAX_PER_FRAME = 5000;    // drawn per frame at most
  const PX_PER_SECOND = 24;      // scroll speed: the canvas holds ~20 s of history
  const ROWS = 20;               // rows of the newest-detections table
  const DB_MIN = -120, DB_MAX = -20;

  const canvas = document.getElementById("waterfall");
  const ctx = canvas.getContext("2d", { alpha: false });
  const state = document.getElementById("ws-state");
  const rateEl = document.getElementById("rate");
  const totalEl = document.getElementById("total");
  const droppedEl = document.getElementById("dropped");
  const pauseButton = document.getElementById("pause");
  const filterError = document.getElementById("filter-error");

  // --- palette: 256 precomputed colours (no string building per detection) ---------------
  const stops = [[0, 0, 128], [0, 80, 255], [0, 200, 255], [80, 255, 80], [255, 255, 0], [255, 128, 0], [255, 0, 0]];
  const palette = [];
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1);
    const k = Math.min(Math.floor(t), stops.length - 2);
    const f = t - k;
    const c = stops[k].map((v, j) => Math.round(v + (stops[k + 1][j] - v) * f));
    palette.push(`rgb(${c[0]},${c[1]},${c[2]})`);
  }
  const colourOf = (db) => palette[Math.max(0, Math.min(255, Math.round(((db - DB_MIN) / (DB_MAX - DB_MIN)) * 255)))];

  // --- the ring buffer ------------------------------------------------------------------------
  const ring = new Array(MAX_QUEUE);
  let head = 0, size = 0;
  let droppedHere = 0, droppedServer = 0, received = 0, receivedThisSecond = 0, paused = false, skippedPaused = 0;
  function push(item) {
    if (size === MAX_QUEUE) { head = (head + 1) % MAX_QUEUE; size--; droppedHere++; }
    ring[(head + size) % MAX_QUEUE] = item;
    size++;
  }

  // --- the view ---------------------------------------------------------------------------------
  let fMin = 0, fMax = 30e6;
  function setAxis() {
    document.getElementById("axis-min").textContent = Heimdall.fmtHz(fMin);
    document.getElementById("axis-mid").textContent = Heimdall.fmtHz(Math.round((fMin + fMax) / 2));
    document.getElementById("axis-max").textContent = Heimdall.fmtHz(fMax);
  }
  function resize() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    ctx.fillStyle = "#05070a";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  resize();
  window.addEventListener("resize", resize);
  setAxis();

  // A fixed pool of table rows: updates set text, never create nodes.
  const tbody = document.getElementById("newest");
  const pool = [];
  for (let r = 0; r < ROWS; r++) {
    const tr = document.createElement("tr");
    const cells = [];
    for (let c = 0; c < 6; c++) {
      const td = document.createElement("td");
      if (c >= 2 && c !== 4) td.className = "num";
      tr.appendChild(td);
      cells.push(td);
    }
    tr.hidden = true;
    tbody.appendChild(tr);
    pool.push({ tr, cells });
  }
  const shown = [];  // newest first, at most ROWS
  function showRows(items) {
    for (let i = Math.max(0, items.length - ROWS); i < items.length; i++) shown.unshift(items[i]);
    if (shown.length > ROWS) shown.length = ROWS;
    for (let r = 0; r < ROWS; r++) {
      const d = shown[r], row = pool[r];
      if (!d) { row.tr.hidden = true; continue; }
      row.tr.hidden = false;
      row.tr.className = d.is_anomaly ? "sev-high" : "";
      row.tr.dataset.id = d.id;
      row.cells[0].textContent = Heimdall.fmtTime(d.detection_timestamp);
      row.cells[1].textContent = d.websdr_station_id;
      row.cells[2].textContent = Heimdall.fmtHz(d.frequency_hz);
      row.cells[3].textContent = d.signal_strength_db.toFixed(1) + " dB";
      row.cells[4].textContent = d.modulation_type || "–";
      row.cells[5].textContent = d.anomaly_score === null ? "–" : d.anomaly_score.toFixed(3);
    }
  }
  showRows((Heimdall.data("newest-data") || []).slice().reverse().map((d) => ({
    ...d, detection_timestamp: String(d.detection_timestamp),
  })));

  // --- one frame: scroll once, draw the whole batch, update the table -----------------------
  let last = performance.now(), carry = 0;
  const batch = [];
  function frame(now) {
    const dt = now - last;
    last = now;
    if (!paused) {
      carry += (dt / 1000) * PX_PER_SECOND * (window.devicePixelRatio || 1);
      const dy = Math.floor(carry);
      carry -= dy;
      const w = canvas.width, h = canvas.height;
      if (dy > 0) {
        ctx.drawImage(canvas, 0, 0, w, h - dy, 0, dy, w, h - dy);
        ctx.fillStyle = "#05070a";
        ctx.fillRect(0, 0, w, dy);
      }
      batch.length = 0;
      const n = Math.min(size, MAX_PER_FRAME);
      for (let i = 0; i < n; i++) {
        batch.push(ring[head]);
        ring[head] = undefined;
        head = (head + 1) % MAX_QUEUE;
      }
      size -= n;
      if (n) {
        const span = fMax - fMin || 1, band = Math.max(2, dy + 1);
        const ratio = window.devicePixelRatio || 1;
        for (const d of batch) {
          const x = ((d.frequency_hz - fMin) / span) * w;
          if (x < 0 || x > w) continue;
          const width = Math.max(2 * ratio, ((d.bandwidth_hz || 0) / span) * w);
          ctx.fillStyle = colourOf(d.signal_strength_db);
          ctx.fillRect(x - width / 2, 0, width, band);
          if (d.is_anomaly) {
            ctx.strokeStyle = "#ff1744";
            ctx.lineWidth = 1.5 * ratio;
            ctx.strokeRect(x - width / 2 - 3 * ratio, 0, width + 6 * ratio, band + 3 * ratio);
          }
        }
        showRows(batch);
        batch.length = 0;
      }
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);

  setInterval(() => {
    rateEl.textContent = receivedThisSecond;
    receivedThisSecond = 0;
    totalEl.textContent = received;
    const parts = [];
    if (droppedHere) parts.push(`${droppedHere} dropped by this page (more arrived than it could draw)`);
    if (droppedServer) parts.push(`${droppedServer} dropped by the server (the connection fell behind)`);
    if (skippedPaused) parts.push(`${skippedPaused} not shown while paused`);
    droppedEl.hidden = parts.length === 0;
    droppedEl.textContent = parts.join(" · ");
  }, 1000);

  // --- the socket ------------------------------------------------------------------------------
  function filters() {
    const f = {};
    const stations = [...document.getElementById("f-stations").selectedOptions].map((o) => o.value);
    if (stations.length) f.station_ids = stations;
    const lo = document.getElementById("f-fmin").value, hi = document.getElementById("f-fmax").value;
    if (lo !== "" || hi !== "") {
      f.frequency_range = [Math.round(Number(lo || 0) * 1e6), Math.round(Number(hi || 30000) * 1e6)];
    }
    const t = document.getElementById("f-threshold").value;
    if (t !== "") f.anomaly_threshold = Number(t);
    return f;
  }
  function subscribe(ws) {
    const f = filters();
    if (f.frequency_range) { [fMin, fMax] = f.frequency_range; } else { fMin = 0; fMax = 30e6; }
    setAxis();
    ws.send(JSON.stringify({ type: "subscribe", channels: ["signal_detections"], filters: f }));
  }
  const live = Heimdall.socket("/ws/signals/live", {
    open: (ws) => subscribe(ws),
    close: (event) => {
      state.className = "badge error";
      state.textContent = event.code === 4401 ? "logged out" : event.code === 4403 ? "not allowed"
        : "disconnected (retrying)";
    },
    message: (m) => {
      if (m.type === "signal_detection") {
        received++;
        receivedThisSecond++;
        if (paused) { skippedPaused++; return; }
        push(m.data);
      } else if (m.type === "messages_dropped") {
        droppedServer += m.count;
      } else if (m.type === "subscribed") {
        state.className = "badge connected";
        state.textContent = "live";
        filterError.textContent = "";
      } else if (m.type === "error") {
        filterError.textContent = m.error.message;
      }
    },
  });
  window.heimdallLive = { socket: live };  // for the browser tests and the console
  document.getElementById("live-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    if (live.ws && live.ws.readyState === 1) subscribe(live.ws);
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    state.textContent = paused ? "paused" : "live";
  });
});
