// Shared by the live tests: the server's variables (.ci/live_server.py) and clients.
import assert from "node:assert/strict";
import { HeimdallClient } from "../dist/index.js";

export const URL_ = process.env.HEIMDALL_URL;
if (!URL_) {
  throw new Error("run under .ci/live_server.py (HEIMDALL_URL, HEIMDALL_API_KEY, ... unset)");
}
export const KEYS = {
  admin: process.env.HEIMDALL_API_KEY_ADMIN,
  operator: process.env.HEIMDALL_API_KEY_OPERATOR,
  viewer: process.env.HEIMDALL_API_KEY_VIEWER,
};
export const USERS = {
  admin: process.env.HEIMDALL_USERNAME_ADMIN,
  operator: process.env.HEIMDALL_USERNAME_OPERATOR,
  viewer: process.env.HEIMDALL_USERNAME_VIEWER,
};
export const PASSWORD = process.env.HEIMDALL_PASSWORD;

export function client(role = "admin", options = {}) {
  return new HeimdallClient({ baseURL: URL_, apiKey: KEYS[role], ...options });
}

export function passwordClient(role = "admin", options = {}) {
  return new HeimdallClient({ baseURL: URL_, username: USERS[role], password: PASSWORD, ...options });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolve when `predicate()` is truthy (polled), else fail after `ms`. */
export async function until(predicate, ms = 15_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** One detection at twente-nl (0-29 MHz), now unless `timestamp` is given. */
export function detection(overrides = {}) {
  return {
    websdr_station_id: "twente-nl",
    frequency_hz: 14_100_000,
    signal_strength_db: -72.5,
    bandwidth_hz: 2400,
    modulation_type: "USB",
    detection_timestamp: new Date().toISOString(),
    ...overrides,
  };
}
