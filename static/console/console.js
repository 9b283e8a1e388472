/* Heimdall console: helpers shared by the pages (maps, charts, sockets, formatting).
 * Plain browser JavaScript over the vendored Leaflet, uPlot, topojson-client and htmx. */
"use strict";

const Heimdall = (() => {
  const staticRoot = () => document.body.dataset.static || "/static/";

  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function fmtHz(hz) {
    if (hz === null || hz === undefined) return "–";
    if (hz >= 1e9) return (hz / 1e9).toFixed(4) + " GHz";
    if (hz >= 1e6) return (hz / 1e6).toFixed(4) + " MHz";
    if (hz >= 1e3) return (hz / 1e3).toFixed(2) + " kHz";
    return hz + " Hz";
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  // Leaflet renders a string tooltip or popup as HTML: names (free text, `<` included) go
  // in as an element holding text, never as markup.
  function textNode(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  // --- maps: Leaflet over an offline basemap (Natural Earth outlines from world-atlas) ---
  const STATUS_COLOURS = {
    active: "#1e8e3e", inactive: "#78909c", maintenance: "#c77c02", error: "#c62828",
  };
  let atlas = null;
  function basemap() {
    if (!atlas) {
      atlas = fetch(staticRoot() + "vendor/world-atlas/countries-50m.json")
        .then((r) => r.json())
        .then((topo) => topojson.feature(topo, topo.objects.countries));
    }
    return atlas;
  }

  function map(el, points, options = {}) {
    const m = L.map(el, { worldCopyJump: true, zoomSnap: 0.5, attributionControl: true });
    m.attributionControl.setPrefix(false);
    m.attributionControl.addAttribution("Natural Earth");
    m.setView([50, 8], 4);
    basemap().then((countries) => {
      const layer = L.geoJSON(countries, {
        interactive: false,
        style: { color: "#9aa6b5", weight: 0.7, fillColor: "#eef1f4", fillOpacity: 1 },
      }).addTo(m);
      layer.bringToBack();
    });
    const markers = L.featureGroup().addTo(m);
    for (const p of points || []) {
      const colour = STATUS_COLOURS[p.status] || "#1f5fbf";
      const marker = L.circleMarker([p.lat, p.lon], {
        radius: 7, color: "#15202e", weight: 1, fillColor: colour, fillOpacity: 0.9,
        className: "station-marker station-" + p.status,
      }).bindTooltip(textNode(`${p.name} (${p.id}) — ${p.status}`));
      if (p.url) marker.on("click", () => { window.location = p.url; });
      marker.addTo(markers);
    }
    if (points && points.length > 1) {
      m.fitBounds(markers.getBounds(), { padding: [40, 40], maxZoom: 7 });
    } else if (points && points.length === 1) {
      m.setView([points[0].lat, points[0].lon], options.zoom || 6);
    }
    m.heimdallMarkers = markers;
    return m;
  }

  // --- charts: uPlot ---------------------------------------------------------------
  function chart(el, series, columns, options = {}) {
    const width = () => Math.max(el.clientWidth, 200);
    const plot = new uPlot({
      width: width(),
      height: options.height || 200,
      scales: { x: { time: options.time !== false } },
      axes: [{}, { label: options.yLabel || "", size: 64,
        ...(options.yValues ? { values: (u, vals) => vals.map(options.yValues) } : {}) }],
      series: [{ label: options.xLabel || "time" }, ...series],
      legend: { live: true },
    }, columns, el);
    new ResizeObserver(() => plot.setSize({ width: width(), height: options.height || 200 }))
      .observe(el);
    el.heimdallChart = plot;
    return plot;
  }

  // --- WebSockets: same origin, the session cookie authenticates ----------------------
  function socket(path, handlers) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws = null;
    let closedByUs = false;
    let retry = 1000;
    function open() {
      ws = new WebSocket(`${scheme}://${location.host}${path}`);
      ws.onopen = () => { retry = 1000; handlers.open && handlers.open(ws); };
      ws.onmessage = (event) => handlers.message(JSON.parse(event.data), ws);
      ws.onclose = (event) => {
        handlers.close && handlers.close(event);
        // 4401/4403/4404: no point retrying (logged out, not allowed, gone); anything
        // else (a restart, 4503 service unavailable) is retried with backoff.
        if (!closedByUs && ![4401, 4403, 4404].includes(event.code)) {
          setTimeout(open, retry);
          retry = Math.min(retry * 2, 30000);
        }
      };
    }
    open();
    window.addEventListener("beforeunload", () => { closedByUs = true; ws && ws.close(); });
    return { send: (m) => ws && ws.readyState === 1 && ws.send(JSON.stringify(m)), get ws() { return ws; } };
  }

  function autoMaps() {
    for (const el of document.querySelectorAll("[data-map]")) {
      el.heimdallMap = map(el, data(el.dataset.map) || []);
    }
  }

  // Before the pages' own DOMContentLoaded handlers (scripts load in order, deferred).
  document.addEventListener("DOMContentLoaded", autoMaps);
  return { data, fmtHz, fmtTime, map, chart, socket, textNode, STATUS_COLOURS };
})();
