// Fails when the OpenAPI schema has an operation that operations.json does not map,
// or when operations.json names a method the client does not have. The schema comes
// from HEIMDALL_SCHEMA (a file) or ${HEIMDALL_URL}/api/v1/schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { HeimdallClient } from "../dist/index.js";

async function schema() {
  if (process.env.HEIMDALL_SCHEMA) return JSON.parse(await readFile(process.env.HEIMDALL_SCHEMA, "utf8"));
  assert.ok(process.env.HEIMDALL_URL, "set HEIMDALL_SCHEMA or HEIMDALL_URL");
  const response = await fetch(`${process.env.HEIMDALL_URL}/api/v1/schema?format=json`, {
    headers: {
      Accept: "application/vnd.oai.openapi+json, application/json",
      Authorization: `Bearer ${process.env.HEIMDALL_API_KEY}`,
    },
  });
  assert.equal(response.status, 200);
  return response.json();
}

const operations = JSON.parse(await readFile(new URL("../operations.json", import.meta.url), "utf8"));

test("every operation in the schema is covered by operations.json, and nothing else", async () => {
  const doc = await schema();
  const ids = [];
  for (const item of Object.values(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (["get", "post", "put", "patch", "delete"].includes(method)) ids.push(op.operationId);
    }
  }
  assert.ok(ids.length > 50, `only ${ids.length} operations in the schema`);
  assert.deepEqual(ids.filter((id) => !(id in operations)).sort(), [], "operations without a JS method");
  assert.deepEqual(Object.keys(operations).filter((id) => !ids.includes(id)).sort(), [], "stale entries");
});

test("every method named in operations.json exists on the client", () => {
  const client = new HeimdallClient({ baseURL: "http://127.0.0.1:9", apiKey: "hmd_x" });
  for (const [id, path] of Object.entries(operations)) {
    const parts = path.split(".");
    let owner = client;
    for (const part of parts.slice(0, -1)) owner = owner[part];
    assert.equal(typeof owner?.[parts.at(-1)], "function", `${id} → ${path}`);
  }
});
