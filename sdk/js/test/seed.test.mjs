// Seed 004's JavaScript snippet runs as written (test/seed004.mjs, importing
// '@heimdall/sdk' by name) against the live server: it pages detections, then
// receives a detection ingested while it listens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { client, detection, until } from "./helpers.mjs";

test("seed 004's JavaScript snippet", async () => {
  const child = spawn(process.execPath, [new URL("./seed004.mjs", import.meta.url).pathname], {
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (err += chunk));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    await until(() => out.includes("subscribed:") || child.exitCode !== null, 20_000, "the snippet to subscribe");
    assert.equal(child.exitCode, null, `the snippet exited: ${err}`);
    assert.match(out, /detections page: \{"page":1,"page_size":50,"total_items":0/);
    const operator = client("operator");
    // Ingest until the snippet prints one (the feed starts within ~1 s of a listener).
    const frequency = 14_123_456;
    await until(async () => {
      await operator.signals.ingest([detection({ frequency_hz: frequency })]);
      return /Signal detected:[^}]*\}/.test(out);
    }, 20_000, "the snippet's signal_detection handler");
    const printed = out.slice(out.indexOf("Signal detected:")).split("}")[0];
    assert.match(printed, /frequency_hz: 14123456/);
    assert.match(printed, /websdr_station_id: 'twente-nl'/);
  } finally {
    child.kill();
    await exited;
  }
});
