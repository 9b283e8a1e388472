// Every REST method of the SDK once, against a live Heimdall (.ci/live_server.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthenticationError,
  ConflictError,
  HeimdallAPIError,
  NotFoundError,
  PermissionDeniedError,
  ValidationError,
} from "../dist/index.js";
import { client, detection, passwordClient, until } from "./helpers.mjs";

const admin = client("admin");
const viewer = client("viewer");
const operator = client("operator");
// API keys cannot mint API keys: key management logs in with the password.
const adminByPassword = passwordClient("admin");
const viewerByPassword = passwordClient("viewer");
const called = new Set();
const track = (name) => called.add(name);

test("health, auth, users", async () => {
  const health = await admin.health();
  track("health");
  assert.ok(["healthy", "degraded"].includes(health.status), health.status);
  const me = await viewer.auth.me();
  track("auth.me");
  assert.equal(me.role, "viewer");
  const created = await adminByPassword.auth.apiKeys.create({ name: "sdk-js rest", role: "viewer" });
  track("auth.apiKeys.create");
  assert.match(created.key, /^hmd_/);
  assert.equal(created.role, "viewer");
  const listed = await admin.auth.apiKeys.list({ limit: 500 });
  track("auth.apiKeys.list");
  assert.ok(listed.data.some((k) => k.id === created.id && k.key === undefined));
  const all = await admin.auth.apiKeys.iterate(2).toArray();
  assert.equal(all.length, listed.pagination.total);
  const minted = client("viewer", { apiKey: created.key });
  assert.equal((await minted.auth.me()).role, "viewer");
  await adminByPassword.auth.apiKeys.revoke(created.id);
  track("auth.apiKeys.revoke");
  await assert.rejects(minted.auth.me(), (e) => e instanceof AuthenticationError && e.status === 401);
  // a viewer cannot mint an operator key: 403 in the envelope, nothing written
  const before = (await viewer.auth.apiKeys.list()).pagination.total;
  await assert.rejects(viewerByPassword.auth.apiKeys.create({ name: "x", role: "operator" }), (e) => {
    assert.ok(e instanceof HeimdallAPIError);
    assert.ok([400, 403].includes(e.status), String(e.status));
    assert.ok(e.requestId);
    return true;
  });
  assert.equal((await viewer.auth.apiKeys.list()).pagination.total, before);
  const users = await admin.users.list({ search: "live-" });
  track("users.list");
  assert.ok(users.data.length >= 3);

  // login and refresh as explicit calls (the client also does them itself)
  const token = await admin.auth.login({ username: process.env.HEIMDALL_USERNAME_VIEWER, password: process.env.HEIMDALL_PASSWORD });
  track("auth.login");
  assert.equal(token.role, "viewer");
  const refreshed = await admin.auth.refresh({ refresh_token: token.refresh_token });
  track("auth.refresh");
  assert.notEqual(refreshed.refresh_token, token.refresh_token);
  await assert.rejects(
    admin.auth.login({ username: process.env.HEIMDALL_USERNAME_VIEWER, password: "wrong" }),
    (e) => e instanceof AuthenticationError && e.code === "INVALID_CREDENTIALS",
  );
});

test("stations", async () => {
  const list = await viewer.stations.list();
  track("stations.list");
  assert.equal(list.total_count, list.data.length);
  assert.ok(list.data.some((s) => s.id === "twente-nl"));
  const body = {
    id: "sdk-js-test", name: "SDK JS", url: "http://sdk-js.example:8901/", location: "Nowhere",
    latitude: 52.1, longitude: 6.1, frequency_min: 0, frequency_max: 30_000_000,
  };
  const created = await admin.stations.create(body);
  track("stations.create");
  assert.equal(created.id, "sdk-js-test");
  assert.equal((await admin.stations.get("sdk-js-test")).name, "SDK JS");
  track("stations.get");
  const updated = await admin.stations.update("sdk-js-test", { ...body, name: "SDK JS 2" });
  track("stations.update");
  assert.equal(updated.name, "SDK JS 2");
  const patched = await admin.stations.patch("sdk-js-test", { location: "Somewhere" });
  track("stations.patch");
  assert.equal(patched.location, "Somewhere");
  const status = await viewer.stations.status("twente-nl");
  track("stations.status");
  assert.equal(status.station_id ?? status.id ?? "twente-nl", "twente-nl");
  // a viewer may not write: 403, and the station is unchanged
  await assert.rejects(viewer.stations.patch("sdk-js-test", { name: "no" }), PermissionDeniedError);
  assert.equal((await admin.stations.get("sdk-js-test")).name, "SDK JS 2");
  // bad input names the field
  await assert.rejects(admin.stations.create({ ...body, id: "sdk-js-bad", latitude: 91 }), (e) => {
    assert.ok(e instanceof ValidationError);
    assert.equal(e.code, "VALIDATION_ERROR");
    assert.equal(e.field, "latitude");
    return true;
  });
  await assert.rejects(admin.stations.get("sdk-js-bad"), NotFoundError);
  await admin.stations.delete("sdk-js-test");
  track("stations.delete");
  await assert.rejects(admin.stations.get("sdk-js-test"), (e) => e instanceof NotFoundError && e.code === "NOT_FOUND");
});

test("signals: ingest, query, pages, analyze", async () => {
  const base = Date.now() - 2 * 86_400_000; // within the retention period
  const batch = Array.from({ length: 25 }, (_, i) =>
    detection({ frequency_hz: 7_000_000 + i, detection_timestamp: new Date(base + i * 1000).toISOString() }),
  );
  const progress = [];
  const result = await operator.signals.ingest(batch, { batchSize: 10, onProgress: (p) => progress.push(p.sent) });
  track("signals.ingest");
  assert.deepEqual([result.ingested, result.duplicates, result.batches], [25, 0, 3]);
  assert.deepEqual(progress, [10, 20, 25]);
  // the same ids again: all duplicates, nothing stored twice
  const again = await operator.signals.ingest(batch.map((d, i) => ({ ...d, id: result.ids[i] })));
  assert.deepEqual([again.ingested, again.duplicates], [0, 25]);

  const range = { frequencyRange: [7_000_000, 7_000_024], timeRange: [new Date(base - 1000).toISOString(), new Date(base + 60_000)], stationId: "twente-nl" };
  const page = await viewer.signals.getDetections({ ...range, pageSize: 10 });
  track("signals.getDetections");
  assert.equal(page.pagination.total_items, 25);
  assert.equal(page.data.length, 10);
  assert.equal(page.data[0].frequency_hz, 7_000_024); // newest first
  const all = await viewer.signals.iterDetections({ ...range, pageSize: 7 }).toArray();
  assert.equal(all.length, 25);
  assert.deepEqual(new Set(all.map((d) => d.id)), new Set(result.ids));
  const pages = [];
  for await (const items of viewer.signals.iterDetections({ ...range, pageSize: 10 }).pages()) pages.push(items.length);
  assert.deepEqual(pages, [10, 10, 5]);
  const one = await viewer.signals.getDetection(result.ids[3]);
  track("signals.getDetection");
  assert.equal(one.frequency_hz, 7_000_003);
  await assert.rejects(viewer.signals.getDetections({ frequencyRange: [5, 1] }), ValidationError);
  await assert.rejects(viewer.signals.ingest([detection()]), PermissionDeniedError);

  const rate = 48_000;
  const samples = Array.from({ length: 4800 }, (_, i) => Math.sin((2 * Math.PI * 3000 * i) / rate));
  const analysis = await viewer.signals.analyze({ samples, sampleRate: rate, frequency: 14_235_000 });
  track("signals.analyze");
  assert.ok(analysis.signal_characteristics || analysis.analysis || analysis, "an analysis");
  await assert.rejects(viewer.signals.analyze({ samples: [1], sampleRate: rate }), (e) => e instanceof ValidationError && /samples/.test(e.field));
});

test("anomalies and statistics", async () => {
  const list = await viewer.anomalies.list({ page_size: 5 });
  track("anomalies.list");
  assert.ok(Array.isArray(list.data));
  const all = await viewer.anomalies.iterate({ page_size: 2 }).toArray();
  assert.equal(all.length, list.pagination.total_items);
  if (all.length) {
    const first = await viewer.anomalies.get(all[0].id);
    assert.equal(first.id, all[0].id);
    const ack = await operator.anomalies.acknowledge(all[0].id, { notes: "sdk" });
    assert.ok(ack);
  }
  await assert.rejects(viewer.anomalies.get("00000000-0000-0000-0000-000000000000"), NotFoundError);
  track("anomalies.get");
  await assert.rejects(operator.anomalies.acknowledge("00000000-0000-0000-0000-000000000000"), NotFoundError);
  track("anomalies.acknowledge");
  const summary = await viewer.statistics.summary({ time_period: "7d" });
  track("statistics.summary");
  assert.ok(summary);
  const usage = await viewer.statistics.frequencyUsage({ frequency_min: 7_000_000, frequency_max: 7_100_000, time_period: "30d" });
  track("statistics.frequencyUsage");
  assert.ok(usage);
  await assert.rejects(viewer.statistics.frequencyUsage({ frequency_min: 10, frequency_max: 1 }), ValidationError);
});

test("constellations, members, shares, localize, localizations, reference transmitters", async () => {
  const stations = (await viewer.stations.list()).data.filter((s) => s.id.endsWith("-it")).slice(0, 4);
  assert.equal(stations.length, 4);
  const made = await operator.constellations.create({ name: `sdk-js ${Date.now()}`, description: "test" });
  track("constellations.create");
  const cid = made.id;
  for (const s of stations) await operator.constellations.addMember(cid, s.id);
  track("constellations.addMember");
  const got = await operator.constellations.get(cid);
  track("constellations.get");
  assert.equal(got.members?.length ?? got.member_count, 4);
  const renamed = await operator.constellations.update(cid, { name: `${made.name} 2`, description: "x" });
  track("constellations.update");
  assert.equal(renamed.name, `${made.name} 2`);
  const list = await operator.constellations.list({ limit: 1 });
  track("constellations.list");
  assert.ok(list.data.length <= 1);
  assert.ok((await operator.constellations.iterate(1).toArray()).some((c) => c.id === cid));

  const viewerId = (await viewer.auth.me()).id ?? (await viewer.auth.me()).user_id;
  await assert.rejects(viewer.constellations.get(cid), (e) => e instanceof NotFoundError || e instanceof PermissionDeniedError);
  const share = await operator.constellations.share(cid, { user_id: viewerId, permission: "read" });
  track("constellations.share");
  assert.equal(share.permission, "read");
  assert.equal((await viewer.constellations.get(cid)).id, cid);
  const shares = await operator.constellations.listShares(cid);
  track("constellations.listShares");
  assert.equal(shares.total, 1);
  // a viewer's role is read-only: an edit share is refused, naming the field
  await assert.rejects(
    operator.constellations.updateShare(cid, viewerId, { permission: "edit" }),
    (e) => e instanceof ValidationError && e.field === "permission",
  );
  const same = await operator.constellations.updateShare(cid, viewerId, { permission: "read" });
  track("constellations.updateShare");
  assert.equal(same.permission, "read");
  await operator.constellations.revokeShare(cid, viewerId);
  track("constellations.revokeShare");
  assert.equal((await operator.constellations.listShares(cid)).total, 0);

  const measurements = stations.map((s, i) => ({ websdr_station_id: s.id, signal_strength_db: -70 - 6 * i }));
  const fix = await operator.constellations.localize(cid, { frequency_hz: 145_500_000, measurements, method: "wls" });
  track("constellations.localize");
  assert.ok(Number.isFinite(fix.latitude) && Number.isFinite(fix.longitude));
  await assert.rejects(
    operator.constellations.localize(cid, { frequency_hz: 145_500_000, measurements: measurements.slice(0, 2) }),
    (e) => e instanceof ValidationError && e.field === "measurements",
  );
  const fixes = await operator.localizations.list({ constellation_id: cid });
  track("localizations.list");
  assert.equal(fixes.data.length, 1);
  assert.equal((await operator.localizations.iterate({ constellation_id: cid, page_size: 1 }).toArray()).length, 1);
  const detail = await operator.localizations.get(fix.id, { include: "posterior" });
  track("localizations.get");
  assert.equal(detail.id, fix.id);

  await operator.constellations.removeMember(cid, stations[3].id);
  track("constellations.removeMember");
  await operator.constellations.delete(cid);
  track("constellations.delete");
  await assert.rejects(operator.constellations.get(cid), NotFoundError);

  const ref = await admin.referenceTransmitters.create({ name: `beacon ${Date.now()}`, latitude: 45.0, longitude: 7.5, frequency_hz: 145_500_000 });
  track("referenceTransmitters.create");
  assert.equal((await admin.referenceTransmitters.get(ref.id)).id, ref.id);
  track("referenceTransmitters.get");
  const refs = await admin.referenceTransmitters.list();
  track("referenceTransmitters.list");
  assert.ok((refs.data ?? refs).some((r) => r.id === ref.id));
  const put = await admin.referenceTransmitters.update(ref.id, { name: "beacon 2", latitude: 45.1, longitude: 7.5, frequency_hz: 145_500_000 });
  track("referenceTransmitters.update");
  assert.equal(put.name, "beacon 2");
  const patched = await admin.referenceTransmitters.patch(ref.id, { notes: "sdk" });
  track("referenceTransmitters.patch");
  assert.equal(patched.notes, "sdk");
  const calibration = await admin.referenceTransmitters.calibrate({ apply: false });
  track("referenceTransmitters.calibrate");
  assert.ok(calibration);
  await admin.referenceTransmitters.delete(ref.id);
  track("referenceTransmitters.delete");
  await assert.rejects(admin.referenceTransmitters.get(ref.id), NotFoundError);
});

test("models", async () => {
  const models = await viewer.models.list();
  track("models.list");
  const anomaly = models.data.find((m) => m.model_type === "anomaly_detection" && m.status === "deployed");
  assert.ok(anomaly, "the default anomaly model");
  assert.equal((await viewer.models.get(anomaly.id)).id, anomaly.id);
  track("models.get");
  const normal = { spectral_centroid: 1500.0, bandwidth: 2400, snr_estimate: 35.0, signal_power: -40.0 };
  const prediction = await viewer.models.predict(anomaly.id, { features: normal });
  track("models.predict");
  assert.equal(prediction.prediction.is_anomaly, false);
  await assert.rejects(viewer.models.predict(anomaly.id, { features: {} }), (e) => e instanceof ValidationError && e.field === "features.spectral_centroid");
  const inspected = await viewer.models.inspect(anomaly.id);
  track("models.inspect");
  assert.ok(inspected);
  assert.ok(await viewer.models.inspectCurrent({ model_type: "anomaly_detection" }));
  track("models.inspectCurrent");
  const localizer = models.data.find((m) => m.model_type === "localization" && m.status === "deployed");
  const bytes = await viewer.models.download(localizer.id, { format: "onnx" });
  track("models.download");
  assert.ok(bytes.length > 100);
  const activated = await admin.models.activate(anomaly.id);
  track("models.activate");
  assert.ok(activated);
  const recommendation = await viewer.models.recommend({ model_type: "localization" });
  track("models.recommend");
  assert.ok(recommendation);

  const draft = await operator.models.create({ name: `sdk-js ${Date.now()}`, model_type: "localization" });
  track("models.create");
  const patched = await operator.models.patch(draft.id, { description: "from the SDK" });
  track("models.patch");
  assert.equal(patched.description, "from the SDK");
  const training = await operator.models.update(draft.id, { status: "training" });
  track("models.update");
  assert.equal(training.status, "training");
  const failed = await admin.models.failTraining(draft.id, { reason: "sdk test" });
  track("models.failTraining");
  assert.ok(failed);
  await assert.rejects(
    admin.models.completeTraining(draft.id, { model_artifact_path: "nowhere/at-all" }),
    (e) => e instanceof ConflictError || e instanceof ValidationError,
  );
  track("models.completeTraining");
  await assert.rejects(viewer.models.train({ model_id: draft.id }), PermissionDeniedError);
  await assert.rejects(operator.models.train({ model_id: "00000000-0000-0000-0000-000000000000" }), (e) => e.status === 404 || e.status === 400);
  track("models.train");
  await operator.models.delete(draft.id);
  track("models.delete");
  await assert.rejects(operator.models.get(draft.id), NotFoundError);
});

test("training: configs, datasets, jobs, runs, watching a job", async () => {
  const name = `sdk-js-${Date.now()}`;
  const preset = await operator.training.configs.create({ name, description: "tiny", config: { epochs: 2, warmup_epochs: 0, batch_size: 16 } });
  track("training.configs.create");
  assert.equal(preset.name, name);
  assert.ok((await operator.training.configs.list()));
  track("training.configs.list");
  assert.equal((await operator.training.configs.get(name)).name, name);
  track("training.configs.get");
  const updated = await operator.training.configs.update(name, { description: "tiny 2" });
  track("training.configs.update");
  assert.equal(updated.description, "tiny 2");

  const generated = await operator.training.datasets.generate({ name, num_samples: 60, receiver_seed: 42 });
  track("training.datasets.generate");
  const datasetId = generated.dataset_id ?? generated.id;
  const dataset = await until(async () => {
    const d = await operator.training.datasets.get(datasetId);
    assert.notEqual(d.status, "failed");
    return d.status === "ready" && d;
  }, 60_000, "the dataset");
  track("training.datasets.get");
  assert.equal(dataset.id, datasetId);
  const datasets = await operator.training.datasets.list({ limit: 1 });
  track("training.datasets.list");
  assert.ok(datasets.total >= 1);
  assert.equal((await operator.training.datasets.iterate().toArray()).length, datasets.total);
  const check = await operator.training.dataCheck({ dataset_id: datasetId });
  track("training.dataCheck");
  assert.equal(check.dataset_id, datasetId);

  const job = await operator.training.jobs.create({ job_name: name, config_name: name, config: { dataset_id: datasetId, epochs: 2, warmup_epochs: 0, batch_size: 16 } });
  track("training.jobs.create");
  const jobId = job.id ?? job.job_id;
  const watcher = operator.training.jobs.watch(jobId);
  const progress = [];
  watcher.on("train_progress", (f) => progress.push(f));
  let timer;
  const final = await Promise.race([
    watcher.done,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("training took over 90 s")), 90_000))),
  ]).finally(() => clearTimeout(timer));
  watcher.close();
  assert.ok(["train_complete", "training_status"].includes(final.event));
  assert.ok(progress.length >= 1, "train_progress frames");
  const got = await operator.training.jobs.get(jobId);
  track("training.jobs.get");
  assert.equal((got.job ?? got).status, "completed");
  assert.ok((await operator.training.jobs.list({ limit: 5 })).total >= 1);
  track("training.jobs.list");
  assert.ok((await operator.training.jobs.iterate().toArray()).some((j) => j.id === jobId));
  assert.ok(await operator.training.jobs.metrics(jobId));
  track("training.jobs.metrics");
  assert.ok(await operator.training.latestMetrics());
  track("training.latestMetrics");
  assert.ok(await operator.training.status());
  track("training.status");
  const runs = await operator.training.runs.list();
  track("training.runs.list");
  assert.ok(runs.total >= 1);
  assert.equal((await operator.training.runs.iterate().toArray()).length, runs.total);
  assert.ok(await operator.training.runs.metrics(jobId));
  track("training.runs.metrics");
  assert.ok(await operator.training.runs.summary(jobId));
  track("training.runs.summary");
  await assert.rejects(operator.training.jobs.cancel(jobId), ConflictError); // finished already
  track("training.jobs.cancel");
  await operator.training.jobs.delete(jobId);
  track("training.jobs.delete");
  await assert.rejects(operator.training.jobs.get(jobId), NotFoundError);
  await operator.training.configs.delete(name);
  track("training.configs.delete");
  await operator.training.datasets.delete(datasetId);
  track("training.datasets.delete");
  await assert.rejects(operator.training.datasets.get(datasetId), NotFoundError);
});

test("recordings: upload a SigMF capture, annotate, analyze, download, delete", async () => {
  const rate = 48_000;
  const n = 12_000; // 0.25 s of ci16_le: a 3 kHz tone
  const iq = new Int16Array(2 * n);
  for (let i = 0; i < n; i++) {
    iq[2 * i] = Math.round(16_000 * Math.cos((2 * Math.PI * 3000 * i) / rate));
    iq[2 * i + 1] = Math.round(16_000 * Math.sin((2 * Math.PI * 3000 * i) / rate));
  }
  const meta = {
    global: { "core:datatype": "ci16_le", "core:sample_rate": rate, "core:version": "1.0.0" },
    captures: [{ "core:sample_start": 0, "core:frequency": 7_100_000, "core:datetime": new Date(Date.now() - 60_000).toISOString() }],
    annotations: [],
  };
  const recording = await operator.recordings.upload({
    meta: JSON.stringify(meta), data: new Uint8Array(iq.buffer), websdr_station_id: "twente-nl", name: "sdk-js tone",
  });
  track("recordings.upload");
  assert.equal(recording.sample_count, n);
  assert.equal(recording.sample_rate, rate);
  assert.equal((await viewer.recordings.get(recording.id)).id, recording.id);
  track("recordings.get");
  const list = await viewer.recordings.list({ station: "twente-nl" });
  track("recordings.list");
  assert.ok(list.data.some((r) => r.id === recording.id));
  assert.ok((await viewer.recordings.iterate().toArray()).some((r) => r.id === recording.id));
  const data = await viewer.recordings.download(recording.id, { part: "data" });
  track("recordings.download");
  assert.deepEqual(data, new Uint8Array(iq.buffer));
  await assert.rejects(operator.recordings.upload({ meta: "{", data: new Uint8Array(4) }), ValidationError);

  const clip = await operator.recordings.annotate(recording.id, { sample_start: 0, sample_count: 4800, label: "CW" });
  track("recordings.annotate");
  assert.equal(clip.label, "CW");
  assert.equal((await viewer.recordings.getAnnotation(recording.id, clip.id)).id, clip.id);
  track("recordings.getAnnotation");
  const patched = await operator.recordings.updateAnnotation(recording.id, clip.id, { comment: "sdk" });
  track("recordings.updateAnnotation");
  assert.equal(patched.comment, "sdk");
  const clips = await viewer.recordings.listAnnotations(recording.id);
  track("recordings.listAnnotations");
  assert.equal(clips.data.length, 1);
  await operator.recordings.deleteAnnotation(recording.id, clip.id);
  track("recordings.deleteAnnotation");
  assert.equal((await viewer.recordings.listAnnotations(recording.id)).data.length, 0);
  const queued = await operator.recordings.analyze(recording.id, {});
  track("recordings.analyze");
  assert.ok(queued);
  await until(async () => {
    const status = (await viewer.recordings.get(recording.id)).analysis_status;
    assert.notEqual(status, "failed");
    return status === "completed";
  }, 30_000, "the analysis");
  await operator.recordings.delete(recording.id);
  track("recordings.delete");
  await assert.rejects(viewer.recordings.get(recording.id), NotFoundError);
});

test("every method in operations.json was called", { concurrency: false }, async () => {
  const { readFile } = await import("node:fs/promises");
  const operations = JSON.parse(await readFile(new URL("../operations.json", import.meta.url)));
  const methods = new Set(Object.values(operations));
  const missing = [...methods].filter((m) => !called.has(m));
  assert.deepEqual(missing, []);
});
