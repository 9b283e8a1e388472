/* Constellation page: localizations on the members' map — each fix with its 95 % error
 * ellipse, and for the selected one the gridded posterior as a heat map. */
"use strict";

Heimdall.ellipsePoints = (lat, lon, a, b, orientationDeg, steps = 72) => {
  // Major axis `a` (m) along `orientationDeg` clockwise from north, minor `b` across it.
  const theta = (orientationDeg * Math.PI) / 180;
  const major = [Math.sin(theta), Math.cos(theta)];   // (east, north)
  const minor = [Math.cos(theta), -Math.sin(theta)];
  const mPerDegLat = 111320, mPerDegLon = 111320 * Math.cos((lat * Math.PI) / 180);
  const points = [];
  for (let i = 0; i < steps; i++) {
    const t = (2 * Math.PI * i) / steps;
    const east = a * Math.cos(t) * major[0] + b * Math.sin(t) * minor[0];
    const north = a * Math.cos(t) * major[1] + b * Math.sin(t) * minor[1];
    points.push([lat + north / mPerDegLat, lon + east / mPerDegLon]);
  }
  return points;
};

Heimdall.heatmap = (map, posterior) => {
  // posterior: {bounds: [[south, west], [north, east]], shape: [rows, cols],
  //             probabilities: row-major, north row first, summing to 1}
  const [rows, cols] = posterior.shape;
  const p = posterior.probabilities;
  let max = 0;
  for (const v of p) if (v > max) max = v;
  const canvas = document.createElement("canvas");
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const t = max > 0 ? p[i] / max : 0;
    image.data[4 * i] = 255;
    image.data[4 * i + 1] = Math.round(220 * (1 - t));
    image.data[4 * i + 2] = 0;
    image.data[4 * i + 3] = Math.round(200 * Math.sqrt(t));
  }
  ctx.putImageData(image, 0, 0);
  return L.imageOverlay(canvas.toDataURL(), posterior.bounds, {
    opacity: 0.85, interactive: false, className: "posterior-heatmap",
  }).addTo(map);
};

document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("member-map");
  const fixes = Heimdall.data("localizations-data") || [];
  const posterior = Heimdall.data("posterior-data");
  if (!el || !el.heimdallMap) return;
  const map = el.heimdallMap;
  const layer = L.featureGroup().addTo(map);
  if (posterior) Heimdall.heatmap(map, posterior);
  for (const fix of fixes) {
    const e = fix.uncertainty.ellipse;
    L.polygon(Heimdall.ellipsePoints(fix.latitude, fix.longitude, e.semi_major_m,
      e.semi_minor_m, e.orientation_deg), {
      color: "#c62828", weight: 1.5, fillOpacity: 0.08, className: "localization-ellipse",
    }).bindTooltip(`${Heimdall.fmtHz(fix.frequency_hz)} · CEP95 ${Math.round(fix.uncertainty.cep95_m)} m`)
      .addTo(layer);
    L.circleMarker([fix.latitude, fix.longitude], {
      radius: 4, color: "#c62828", fillColor: "#fff", fillOpacity: 1, weight: 2,
      className: "localization-fix",
    }).addTo(layer);
  }
  if (fixes.length) map.fitBounds(layer.getBounds().extend(map.heimdallMarkers.getBounds()),
    { padding: [30, 30], maxZoom: 12 });
});
