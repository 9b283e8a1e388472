// Retries, token refresh and error mapping against the live server. The suite's
// server runs with HEIMDALL_RATE_LIMIT_API_KEY=20/s and HEIMDALL_ACCESS_TOKEN_LIFETIME=6
// (the Makefile's sdk-js target).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import {
  AuthenticationError,
  HeimdallClient,
  HeimdallConnectionError,
  RateLimitError,
} from "../dist/index.js";
import { client, passwordClient, sleep, URL_ } from "./helpers.mjs";

test("a burst over the per-key limit is retried after Retry-After, and every call succeeds", async () => {
  // A key of its own: the limit is per key.
  const minted = await passwordClient("viewer").auth.apiKeys.create({ name: `burst ${Date.now()}` });
  const retries = [];
  const burst = client("viewer", { apiKey: minted.key, onRetry: (info) => retries.push(info) });
  const results = await Promise.all(Array.from({ length: 60 }, () => burst.stations.get("twente-nl")));
  assert.equal(results.length, 60);
  assert.ok(results.every((s) => s.id === "twente-nl"));
  const limited = retries.filter((r) => r.status === 429);
  assert.ok(limited.length >= 20, `${limited.length} retries after 429 (60 calls at 20/s)`);
  for (const retry of limited) {
    assert.equal(retry.error.code, "RATE_LIMITED");
    assert.ok(retry.error.headers.get("retry-after") >= 1, "Retry-After sent");
    assert.ok(retry.delayMs >= 1000, `waited ${retry.delayMs} ms, at least Retry-After`);
  }
  // With no retries left the error is typed, carrying the envelope.
  const impatient = client("viewer", { apiKey: minted.key, maxRetries: 0 });
  const outcomes = await Promise.allSettled(Array.from({ length: 40 }, () => impatient.stations.get("twente-nl")));
  const refused = outcomes.filter((o) => o.status === "rejected").map((o) => o.reason);
  assert.ok(refused.length >= 1, "some calls refused");
  for (const error of refused) {
    assert.ok(error instanceof RateLimitError, String(error));
    assert.equal(error.status, 429);
    assert.ok(error.retryAfter >= 1);
    assert.ok(error.requestId);
  }
});

test("a password client refreshes its 6-second token mid-run, and after a 401", async () => {
  const tokens = [];
  const viewer = passwordClient("viewer", { onToken: (token, how) => tokens.push(how) });
  assert.equal((await viewer.auth.me()).role, "viewer");
  assert.deepEqual(viewer.auth.stats, { logins: 1, refreshes: 0 });
  await sleep(6500); // past the access token's life
  assert.equal((await viewer.auth.me()).role, "viewer");
  assert.deepEqual(viewer.auth.stats, { logins: 1, refreshes: 1 });
  // A client that believes its token still valid (no margin, 30 s of clock skew)
  // gets a 401, refreshes once and retries.
  const skewed = passwordClient("viewer", { refreshMarginS: -30 });
  await skewed.auth.me();
  await sleep(6500);
  assert.equal((await skewed.auth.me()).role, "viewer");
  assert.deepEqual(skewed.auth.stats, { logins: 1, refreshes: 1 });
  assert.deepEqual(tokens, ["login", "refresh"]);
  // Wrong password: typed, no retry loop.
  const wrong = new HeimdallClient({ baseURL: URL_, username: "live-viewer", password: "nope" });
  await assert.rejects(wrong.stations.list(), (e) => e instanceof AuthenticationError && e.code === "INVALID_CREDENTIALS");
});

test("network errors: idempotent calls are retried, writes are not", async () => {
  // A port that accepts and drops the first two connections, then forwards to Heimdall.
  const target = new URL(URL_);
  let connections = 0;
  const { connect } = await import("node:net");
  const proxy = createServer((socket) => {
    connections += 1;
    if (connections <= 2) return socket.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  const baseURL = `http://127.0.0.1:${proxy.address().port}`;
  try {
    const retries = [];
    const flaky = new HeimdallClient({ baseURL, apiKey: process.env.HEIMDALL_API_KEY_VIEWER, retryBaseMs: 50, onRetry: (r) => retries.push(r) });
    assert.equal((await flaky.stations.get("twente-nl")).id, "twente-nl");
    assert.equal(retries.length, 2);
    assert.ok(retries.every((r) => r.status === null && r.error instanceof HeimdallConnectionError));

    connections = 0;
    const writer = new HeimdallClient({ baseURL, apiKey: process.env.HEIMDALL_API_KEY_OPERATOR, retryBaseMs: 50 });
    await assert.rejects(writer.constellations.create({ name: "never" }), HeimdallConnectionError);
    assert.equal(connections, 1, "a POST is not repeated after a network error");
  } finally {
    proxy.close();
  }
  const nowhere = new HeimdallClient({ baseURL: "http://127.0.0.1:9", apiKey: "hmd_x", maxRetries: 1, retryBaseMs: 10 });
  await assert.rejects(nowhere.stations.list(), HeimdallConnectionError);
});
