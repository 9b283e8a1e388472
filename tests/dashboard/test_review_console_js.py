"""The console's JavaScript never hands a name to an HTML sink (found by review).

Station names are free text (any visible characters, `<` and `>` included). The
map helper put them into Leaflet's `bindTooltip` as a string, which Leaflet
renders as HTML: a station named `<img src=x onerror=...>` ran script in the
browser of everyone who hovered over it on /stations, /stations/{id} or a
constellation's map. This runs console.js itself under Node with a recording
stand-in for Leaflet and the DOM (no browser needed).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CONSOLE_JS = Path(__file__).resolve().parents[2] / "static" / "console" / "console.js"
NAME = '<img src=x onerror="window.pwned=1">'

HARNESS = """
const tooltips = [];
const element = (tag) => ({ tag, textContent: "", children: [], className: "",
  appendChild(child) { this.children.push(child); return child; } });
global.window = { addEventListener() {} };
global.document = { body: { dataset: {} }, addEventListener() {}, createElement: element,
  createTextNode: (text) => ({ tag: "#text", textContent: text }),
  querySelectorAll: () => [] };
global.fetch = () => new Promise(() => {});
const layer = () => ({ addTo() { return this; }, on() { return this; }, bringToBack() {},
  getBounds() { return {}; },
  bindTooltip(content) { tooltips.push(content); return this; } });
global.L = { map: () => ({ attributionControl: { setPrefix() {}, addAttribution() {} },
  setView() {}, fitBounds() {} }), geoJSON: layer, featureGroup: layer, circleMarker: layer };
eval(require("fs").readFileSync(process.argv[1], "utf8") + ";global.Heimdall = Heimdall;");
Heimdall.map({}, JSON.parse(process.argv[2]));
const shown = tooltips.map((t) => typeof t === "string" ? { html: t }
  : { text: t.textContent || (t.children || []).map((c) => c.textContent).join("") });
console.log(JSON.stringify(shown));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_station_names_on_maps_are_text_not_html():
    points = [{"id": "evil", "name": NAME, "status": "active", "lat": 45.0, "lon": 7.0}]
    result = subprocess.run(
        ["node", "-e", HARNESS, str(CONSOLE_JS), json.dumps(points)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    (tooltip,) = json.loads(result.stdout)
    assert "html" not in tooltip, f"the name reached Leaflet as HTML: {tooltip['html']}"
    assert tooltip["text"] == f"{NAME} (evil) — active"
