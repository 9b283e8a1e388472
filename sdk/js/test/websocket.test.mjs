// The live socket against the live server: reconnect with resubscribe and the gap
// reported after the connection drops, final close on a revoked key, a JWT socket
// kept past its token's 6-second life, and errors from bad subscriptions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import { HeimdallClient, WebSocketClosedError } from "../dist/index.js";
import { client, detection, passwordClient, sleep, until, URL_ } from "./helpers.mjs";

const operator = client("operator");

/** A TCP proxy to Heimdall whose connections the test can cut (a server drop). */
async function cuttableProxy() {
  const target = new URL(URL_);
  const open = new Set();
  const server = createServer((socket) => {
    const upstream = connect(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    const pair = { socket, upstream };
    open.add(pair);
    const drop = () => {
      socket.destroy();
      upstream.destroy();
      open.delete(pair);
    };
    socket.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    baseURL: `http://127.0.0.1:${server.address().port}`,
    cut() {
      for (const { socket, upstream } of open) {
        socket.resetAndDestroy?.() ?? socket.destroy();
        upstream.destroy();
      }
      open.clear();
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Ingest at `frequency` until `received()` is true. */
async function feedUntil(frequency, received, what) {
  await until(async () => {
    await operator.signals.ingest([detection({ frequency_hz: frequency })]);
    return received();
  }, 20_000, what);
}

test("after the connection drops, the socket reconnects, resubscribes and reports the gap", async () => {
  const proxy = await cuttableProxy();
  const sdk = new HeimdallClient({ baseURL: proxy.baseURL, apiKey: process.env.HEIMDALL_API_KEY_VIEWER });
  const ws = sdk.websocket.connect({ reconnectDelayMs: 200 });
  const seen = [];
  const gaps = [];
  const disconnects = [];
  ws.on("signal_detection", (d) => seen.push(d.frequency_hz));
  ws.on("reconnected", ({ gap }) => gaps.push(gap));
  ws.on("disconnected", (info) => disconnects.push(info));
  try {
    const subscribed = await ws.subscribeSignals({ stations: ["twente-nl"], frequencyRange: [14_500_000, 14_600_000] });
    assert.deepEqual(subscribed.channels, ["signal_detections"]);
    await feedUntil(14_500_001, () => seen.includes(14_500_001), "a detection before the drop");

    const cutAt = Date.now();
    proxy.cut();
    await until(() => gaps.length === 1, 15_000, "the reconnection");
    assert.equal(disconnects.length, 1);
    assert.equal(ws.state, "open");
    assert.equal(ws.reconnections, 1);
    const gap = gaps[0];
    assert.ok(Date.parse(gap.from) >= cutAt - 50 && Date.parse(gap.from) <= Date.parse(gap.to));
    assert.equal(gap.durationMs, Date.parse(gap.to) - Date.parse(gap.from));
    // Resubscribed with the same filters: in range arrives, out of range does not.
    await operator.signals.ingest([detection({ frequency_hz: 14_700_000 })]);
    await feedUntil(14_500_002, () => seen.includes(14_500_002), "a detection after the reconnection");
    assert.ok(!seen.includes(14_700_000));
    // The gap can be back-filled from the REST API.
    const missed = await sdk.signals.iterDetections({ timeRange: [gap.from, gap.to], stationId: "twente-nl" }).toArray();
    assert.ok(Array.isArray(missed));
  } finally {
    ws.close();
    await proxy.close();
  }
  assert.equal(ws.state, "closed");
});

test("a revoked API key closes the socket for good (4401), without reconnecting", async () => {
  const admin = passwordClient("admin");
  const minted = await admin.auth.apiKeys.create({ name: `ws ${Date.now()}`, role: "viewer" });
  const sdk = client("viewer", { apiKey: minted.key });
  const ws = sdk.websocket.connect();
  const closed = new Promise((resolve) => ws.on("close", resolve));
  let reconnecting = 0;
  ws.on("reconnecting", () => reconnecting++);
  await ws.subscribeSignals({ stations: ["twente-nl"] });
  const stream = ws.stream();
  await admin.auth.apiKeys.revoke(minted.id);
  const info = await closed;
  assert.equal(info.code, 4401);
  assert.equal(ws.state, "closed");
  assert.equal(reconnecting, 0);
  await assert.rejects(stream.next(), (e) => e instanceof WebSocketClosedError && e.code === 4401);
  await assert.rejects(ws.ready(), WebSocketClosedError);
});

test("a JWT socket outlives its 6-second token: the SDK re-authenticates in place", async () => {
  const sdk = passwordClient("viewer");
  const ws = sdk.websocket.connect();
  const seen = [];
  let authenticated = 0;
  ws.on("authenticated", () => authenticated++);
  ws.on("signal_detection", (d) => seen.push(d.frequency_hz));
  try {
    await ws.subscribeSignals({ frequencyRange: [14_800_000, 14_800_100] });
    await sleep(8000);
    assert.ok(authenticated >= 1, "sent a fresh token");
    assert.equal(ws.reconnections, 0);
    assert.equal(ws.state, "open");
    await feedUntil(14_800_001, () => seen.includes(14_800_001), "a detection after the first token expired");
  } finally {
    ws.close();
  }
});

test("a bad subscription rejects with the server's error and the socket stays open", async () => {
  const ws = client("viewer").websocket.connect();
  const errors = [];
  ws.on("error", (e) => errors.push(e));
  try {
    await assert.rejects(ws.subscribeSignals({ stations: ["no-such-station"] }), (e) => {
      assert.equal(e.code, "VALIDATION_ERROR");
      assert.equal(e.details.field, "filters.station_ids");
      return true;
    });
    assert.equal(errors.length, 1);
    const ok = await ws.subscribeAnomalies({ severity: ["high"] });
    assert.deepEqual(ok.channels, ["anomaly_alerts"]);
    const status = new Promise((resolve) => ws.once("system_status", resolve));
    await ws.subscribeSystemStatus();
    assert.ok(await status);
    const pong = new Promise((resolve) => ws.once("pong", resolve));
    ws.ping();
    assert.equal((await pong).type, "pong");
    const left = await ws.unsubscribe(["anomaly_alerts"]);
    assert.deepEqual(left.channels, ["system_status"]);
  } finally {
    ws.close();
  }
});

test("watching an unknown training job closes with 4404 and rejects done", async () => {
  const watcher = client("viewer").training.jobs.watch("00000000-0000-0000-0000-000000000000");
  await assert.rejects(watcher.done, (e) => e instanceof WebSocketClosedError && e.code === 4404);
  assert.equal(watcher.state, "closed");
});
