#!/usr/bin/env bash
# `make vendor`: the console's third-party front-end files, copied from their npm
# packages into static/vendor/ and committed, so the console works with no
# internet (nothing is loaded from a CDN). Versions, licences and the npm
# integrity hash of each package go to static/vendor/VERSIONS.md.
# Change a version here, run `make vendor`, commit static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "make vendor needs npm (apt-get install -y npm)" >&2; exit 1; }

# package@version  licence  files to copy (paths inside the package)
PACKAGES=(
  "leaflet@1.9.4|BSD-2-Clause|dist/leaflet.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png"
  "uplot@1.6.32|MIT|dist/uPlot.iife.min.js dist/uPlot.min.css"
  "htmx.org@2.0.11|0BSD|dist/htmx.min.js"
  "topojson-client@3.1.0|ISC|dist/topojson-client.min.js"
  "world-atlas@2.0.2|ISC (data: Natural Earth, public domain)|countries-110m.json countries-50m.json"
)

out=static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
{
  echo "# Vendored front-end files"
  echo
  echo "Made by \`make vendor\` (scripts/vendor.sh) from the npm registry; do not edit by hand."
  echo "Each package's files are under \`<name>/\` with its LICENSE."
  echo
  echo "| package | version | licence | files | npm integrity |"
  echo "|---|---|---|---|---|"
} > "$work/VERSIONS.md"

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r spec licence files <<<"$entry"
  name=${spec%@*}
  version=${spec##*@}
  (cd "$work" && npm pack --silent --json "$spec" > "$name.json")
  tarball=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['filename'])" "$work/$name.json")
  integrity=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['integrity'])" "$work/$name.json")
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name"
  mkdir -p "$out/$name"
  for file in $files; do
    mkdir -p "$out/$name/$(dirname "$file")"
    cp "$work/$name/package/$file" "$out/$name/$file"
  done
  cp "$work/$name/package/LICENSE" "$out/$name/LICENSE"
  listed=$(echo "$files" | sed 's/ /, /g')
  echo "| $name | $version | $licence | $listed | \`$integrity\` |" >> "$work/VERSIONS.md"
done
cp "$work/VERSIONS.md" "$out/VERSIONS.md"
echo "Vendored into $out/:"
cat "$out/VERSIONS.md"
