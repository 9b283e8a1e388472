/**
 * HeimdallClient: one method per API operation, grouped as the API is
 * (stations, signals, anomalies, statistics, constellations, localizations,
 * reference transmitters, models, training, auth, users) plus the live
 * WebSocket. Request bodies and results are the OpenAPI schema's (snake_case, as
 * the server sends them; types in ./schema.ts, generated); the seed 004 methods
 * take camelCase options (`getDetections({ frequencyRange, timeRange, stationId })`).
 * sdk/js/operations.json maps every operationId to its method.
 */
import type { components, operations } from "./schema.js";
import { Transport, type HeimdallClientOptions, type QueryValue } from "./http.js";
import { paginate, type Paginated } from "./pagination.js";
import { LiveSocket } from "./live.js";
import { TrainingSocket } from "./training-socket.js";
import type { SocketOptions } from "./websocket.js";

export type Schemas = components["schemas"];
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
/** The success body of an operation. */
export type Result<K extends keyof operations> = operations[K]["responses"] extends infer R
  ? R extends { 200: infer A }
    ? Json<A>
    : R extends { 201: infer A }
      ? Json<A>
      : R extends { 202: infer A }
        ? Json<A>
        : void
  : never;
/** The query parameters of an operation. */
export type Query<K extends keyof operations> = NonNullable<operations[K]["parameters"]["query"]>;
/** The JSON request body of an operation. */
export type Body<K extends keyof operations> = operations[K] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

const id = (value: string) => encodeURIComponent(value);
type Range<T> = readonly [T, T];
type Time = string | Date;
const iso = (t: Time | undefined) => (t instanceof Date ? t.toISOString() : t);

/** Page-number lists: `page`, `page_size`, `pagination.has_next`. */
function pageNumbers<T>(
  fetchPage: (page: number) => Promise<{ data: T[]; pagination: { has_next: boolean } }>,
  first = 1,
): Paginated<T> {
  return paginate(first, async (page) => {
    const result = await fetchPage(page);
    return { items: result.data, next: result.pagination.has_next ? page + 1 : null };
  });
}

/** skip/limit lists: `pagination.total`. */
function skipLimit<T>(
  limit: number,
  fetchPage: (skip: number) => Promise<{ data: T[]; pagination: { total: number } }>,
): Paginated<T> {
  return paginate(0, async (skip) => {
    const result = await fetchPage(skip);
    const next = skip + result.data.length;
    return { items: result.data, next: next < result.pagination.total ? next : null };
  });
}

/** limit/offset lists of the training API: `{<key>: [...], total}`. */
function limitOffset<T>(fetchPage: (offset: number) => Promise<{ items: T[]; total: number }>): Paginated<T> {
  return paginate(0, async (offset) => {
    const { items, total } = await fetchPage(offset);
    const next = offset + items.length;
    return { items, next: next < total ? next : null };
  });
}

abstract class Group {
  constructor(protected readonly http: Transport) {}
}

// --- auth --------------------------------------------------------------------------

export class ApiKeys extends Group {
  /** GET /auth/api-keys: yours (admins: everyone's), one skip/limit page. */
  list(query: Query<"api_key_list_retrieve"> = {}): Promise<Result<"api_key_list_retrieve">> {
    return this.http.request("GET", "/api/v1/auth/api-keys", { query });
  }
  /** Every key, lazily. */
  iterate(pageSize = 100): Paginated<Schemas["ApiKey"]> {
    return skipLimit(pageSize, (skip) => this.list({ skip, limit: pageSize }));
  }
  /** POST /auth/api-keys → 201 with `key`, shown this once. `role` at most yours. */
  create(body: Body<"api_key_list_create">): Promise<Result<"api_key_list_create">> {
    return this.http.request("POST", "/api/v1/auth/api-keys", { body });
  }
  /** DELETE /auth/api-keys/{id}: revoke at once (open sockets close with 4401). */
  revoke(keyId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/auth/api-keys/${id(keyId)}`);
  }
}

export class Auth extends Group {
  readonly apiKeys = new ApiKeys(this.http);
  /** POST /auth/login with the client's username/password (the client does this itself). */
  async login(body?: Body<"login_create">): Promise<Result<"login_create">> {
    if (body) return this.http.request("POST", "/api/v1/auth/login", { body, anonymous: true });
    await this.http.renewToken("login");
    return this.http.currentToken!;
  }
  /** POST /auth/refresh (the client does this itself before a token expires). */
  async refresh(body?: Body<"refresh_create">): Promise<Result<"refresh_create">> {
    if (body) return this.http.request("POST", "/api/v1/auth/refresh", { body, anonymous: true });
    await this.http.renewToken("refresh");
    return this.http.currentToken!;
  }
  /** GET /auth/me: the caller's user, role and permissions. */
  me(): Promise<Result<"me_retrieve">> {
    return this.http.request("GET", "/api/v1/auth/me");
  }
  /** Logins and refreshes this client made. */
  get stats(): { logins: number; refreshes: number } {
    return { ...this.http.authStats };
  }
}

export class Users extends Group {
  /** GET /users: the user directory (for sharing), skip/limit. */
  list(query: Query<"user_directory_retrieve"> = {}): Promise<Result<"user_directory_retrieve">> {
    return this.http.request("GET", "/api/v1/users", { query });
  }
}

// --- stations ----------------------------------------------------------------------

export class Stations extends Group {
  list(query: Query<"station_list_retrieve"> = {}): Promise<Result<"station_list_retrieve">> {
    return this.http.request("GET", "/api/v1/stations", { query });
  }
  create(body: Body<"station_list_create">): Promise<Result<"station_list_create">> {
    return this.http.request("POST", "/api/v1/stations", { body });
  }
  get(stationId: string): Promise<Result<"station_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/stations/${id(stationId)}`);
  }
  /** PUT: the whole station. */
  update(stationId: string, body: Body<"station_detail_update">): Promise<Result<"station_detail_update">> {
    return this.http.request("PUT", `/api/v1/stations/${id(stationId)}`, { body });
  }
  /** PATCH: some fields. */
  patch(stationId: string, body: Body<"station_detail_partial_update">): Promise<Result<"station_detail_partial_update">> {
    return this.http.request("PATCH", `/api/v1/stations/${id(stationId)}`, { body });
  }
  delete(stationId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/stations/${id(stationId)}`);
  }
  /** GET /stations/{id}/status: reachability and recent activity. */
  status(stationId: string): Promise<Result<"station_status_retrieve">> {
    return this.http.request("GET", `/api/v1/stations/${id(stationId)}/status`);
  }
}

// --- signals -----------------------------------------------------------------------

export interface DetectionQuery {
  /** [min_hz, max_hz] → frequency_min, frequency_max. */
  frequencyRange?: Range<number>;
  /** [start, end] ISO-8601 or Date → time_start, time_end. */
  timeRange?: Range<Time>;
  /** → websdr_station. */
  stationId?: string;
  isAnomaly?: boolean;
  minAnomalyScore?: number;
  modulationType?: Query<"detection_list_retrieve">["modulation_type"];
  page?: number;
  /** 1-1000 (default 50). */
  pageSize?: number;
  /** Keyset mode: "" for the first page, then pagination.next_cursor. */
  cursor?: string;
}

function detectionQuery(q: DetectionQuery): Record<string, QueryValue> {
  return {
    frequency_min: q.frequencyRange?.[0],
    frequency_max: q.frequencyRange?.[1],
    time_start: iso(q.timeRange?.[0]),
    time_end: iso(q.timeRange?.[1]),
    websdr_station: q.stationId,
    is_anomaly: q.isAnomaly,
    min_anomaly_score: q.minAnomalyScore,
    modulation_type: q.modulationType,
    page: q.page,
    page_size: q.pageSize,
    cursor: q.cursor,
  };
}

export type DetectionInput = Schemas["DetectionInputRequest"];

export interface IngestOptions {
  /** Detections per request (default 1000, at most 10,000). */
  batchSize?: number;
  /** After each batch: how many were sent so far, of how many. */
  onProgress?: (progress: { sent: number; total: number; ingested: number; duplicates: number }) => void;
}

export interface AnalyzeInput {
  /** Real samples, or [i, q] pairs for complex I/Q (`signal_data` in the Python SDK). */
  samples?: ArrayLike<number> | number[][];
  signalData?: ArrayLike<number> | number[][];
  /** Hz. */
  sampleRate: number;
  /** Centre (tuned) frequency, Hz. */
  frequency?: number;
  /** Seconds. */
  duration?: number;
  analysisConfig?: Schemas["AnalysisConfigRequest"];
}

const uuid = () => globalThis.crypto.randomUUID();

export class Signals extends Group {
  /** Seed 004: GET /signals/detections, one page (`{data, pagination, filters_applied}`). */
  getDetections(query: DetectionQuery = {}): Promise<Result<"detection_list_retrieve">> {
    return this.http.request("GET", "/api/v1/signals/detections", { query: detectionQuery(query) });
  }
  /** Every matching detection, newest first, lazily (keyset cursors: stable under ingest). */
  iterDetections(query: Omit<DetectionQuery, "page" | "cursor"> = {}): Paginated<Schemas["DetectionListItem"]> {
    return paginate("", async (cursor: string) => {
      const page = await this.getDetections({ pageSize: 500, ...query, cursor });
      return { items: page.data, next: page.pagination.has_next ? (page.pagination.next_cursor ?? null) : null };
    });
  }
  getDetection(detectionId: string): Promise<Result<"detection_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/signals/detections/${id(detectionId)}`);
  }
  /**
   * POST /signals/detections in batches. Detections without an `id` get a random
   * UUID first, so a batch retried after a dropped connection is not stored twice
   * (the server counts it under `duplicates`). Returns the totals.
   */
  async ingest(
    detections: Iterable<DetectionInput>,
    options: IngestOptions = {},
  ): Promise<{ ingested: number; duplicates: number; batches: number; ids: string[] }> {
    const all = [...detections].map((d) => (d.id ? d : { ...d, id: uuid() }));
    const size = Math.min(10_000, Math.max(1, options.batchSize ?? 1000));
    const totals = { ingested: 0, duplicates: 0, batches: 0, ids: all.map((d) => d.id!) };
    for (let start = 0; start < all.length; start += size) {
      const batch = all.slice(start, start + size);
      const result = await this.ingestBatch(batch);
      totals.ingested += result.ingested;
      totals.duplicates += result.duplicates;
      totals.batches += 1;
      options.onProgress?.({ sent: start + batch.length, total: all.length, ingested: totals.ingested, duplicates: totals.duplicates });
    }
    return totals;
  }
  /** One POST /signals/detections (1-10,000 detections); retried when every one has an id. */
  ingestBatch(detections: DetectionInput[]): Promise<Result<"detection_list_create">> {
    return this.http.request("POST", "/api/v1/signals/detections", {
      body: { detections },
      idempotent: detections.every((d) => d.id),
    });
  }
  /** Seed 004: POST /signals/analyze (spectrum, SNR, bandwidth, modulation, anomaly score). */
  analyze(input: AnalyzeInput): Promise<Result<"analyze_create">> {
    const samples = input.samples ?? input.signalData;
    if (!samples) throw new TypeError("analyze needs samples (or signalData)");
    const signal_data: Record<string, unknown> = {
      samples: Array.isArray(samples) ? samples : Array.from(samples as ArrayLike<number>),
      sample_rate: input.sampleRate,
    };
    if (input.frequency !== undefined) signal_data["frequency"] = input.frequency;
    if (input.duration !== undefined) signal_data["duration"] = input.duration;
    const body: Record<string, unknown> = { signal_data };
    if (input.analysisConfig) body["analysis_config"] = input.analysisConfig;
    return this.http.request("POST", "/api/v1/signals/analyze", { body, idempotent: true });
  }
}

// --- anomalies, statistics ------------------------------------------------------------

export class Anomalies extends Group {
  list(query: Query<"anomaly_list_retrieve"> = {}): Promise<Result<"anomaly_list_retrieve">> {
    return this.http.request("GET", "/api/v1/anomalies", { query });
  }
  iterate(query: Omit<Query<"anomaly_list_retrieve">, "page"> = {}): Paginated<Schemas["AnomalyListItem"]> {
    return pageNumbers((page) => this.list({ page_size: 100, ...query, page }));
  }
  get(anomalyId: string): Promise<Result<"anomaly_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/anomalies/${id(anomalyId)}`);
  }
  acknowledge(anomalyId: string, body: Body<"anomaly_acknowledge_create"> = {}): Promise<Result<"anomaly_acknowledge_create">> {
    return this.http.request("POST", `/api/v1/anomalies/${id(anomalyId)}/acknowledge`, { body });
  }
}

export class Statistics extends Group {
  summary(query: Query<"statistics_summary_retrieve"> = {}): Promise<Result<"statistics_summary_retrieve">> {
    return this.http.request("GET", "/api/v1/statistics/summary", { query });
  }
  frequencyUsage(query: Query<"frequency_usage_retrieve">): Promise<Result<"frequency_usage_retrieve">> {
    return this.http.request("GET", "/api/v1/statistics/frequency-usage", { query });
  }
}

// --- constellations, localizations, reference transmitters -----------------------------

export class Constellations extends Group {
  list(query: Query<"constellation_list_retrieve"> = {}): Promise<Result<"constellation_list_retrieve">> {
    return this.http.request("GET", "/api/v1/constellations", { query });
  }
  iterate(pageSize = 100): Paginated<Schemas["ConstellationListItem"]> {
    return skipLimit(pageSize, (skip) => this.list({ skip, limit: pageSize }));
  }
  create(body: Body<"constellation_list_create">): Promise<Result<"constellation_list_create">> {
    return this.http.request("POST", "/api/v1/constellations", { body });
  }
  get(constellationId: string): Promise<Result<"constellation_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/constellations/${id(constellationId)}`);
  }
  update(constellationId: string, body: Body<"constellation_detail_update">): Promise<Result<"constellation_detail_update">> {
    return this.http.request("PUT", `/api/v1/constellations/${id(constellationId)}`, { body });
  }
  delete(constellationId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/constellations/${id(constellationId)}`);
  }
  addMember(constellationId: string, stationId: string): Promise<Result<"member_list_create">> {
    return this.http.request("POST", `/api/v1/constellations/${id(constellationId)}/members`, {
      body: { websdr_station_id: stationId },
    });
  }
  removeMember(constellationId: string, stationId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/constellations/${id(constellationId)}/members/${id(stationId)}`);
  }
  listShares(constellationId: string): Promise<Result<"share_list_retrieve">> {
    return this.http.request("GET", `/api/v1/constellations/${id(constellationId)}/shares`);
  }
  /** Share with a user: permission `view` or `edit`. */
  share(constellationId: string, body: Body<"share_list_create">): Promise<Result<"share_list_create">> {
    return this.http.request("POST", `/api/v1/constellations/${id(constellationId)}/shares`, { body });
  }
  updateShare(constellationId: string, userId: string, body: Body<"share_detail_update">): Promise<Result<"share_detail_update">> {
    return this.http.request("PUT", `/api/v1/constellations/${id(constellationId)}/shares/${id(userId)}`, { body });
  }
  revokeShare(constellationId: string, userId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/constellations/${id(constellationId)}/shares/${id(userId)}`);
  }
  /** POST /constellations/{id}/localize: a fix from measurements or detection ids (201). */
  localize(constellationId: string, body: Body<"localize_create">): Promise<Result<"localize_create">> {
    return this.http.request("POST", `/api/v1/constellations/${id(constellationId)}/localize`, { body });
  }
}

export class Localizations extends Group {
  list(query: Query<"localization_list_retrieve"> = {}): Promise<Result<"localization_list_retrieve">> {
    return this.http.request("GET", "/api/v1/localizations", { query });
  }
  iterate(query: Omit<Query<"localization_list_retrieve">, "page"> = {}): Paginated<Schemas["Localization"]> {
    return pageNumbers((page) => this.list({ page_size: 100, ...query, page }));
  }
  /** `{include: "posterior"}` adds the gridded posterior. */
  get(localizationId: string, query: Query<"localization_detail_retrieve"> = {}): Promise<Result<"localization_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/localizations/${id(localizationId)}`, { query });
  }
}

export class ReferenceTransmitters extends Group {
  list(): Promise<Result<"reference_transmitter_list_retrieve">> {
    return this.http.request("GET", "/api/v1/reference-transmitters");
  }
  create(body: Body<"reference_transmitter_list_create">): Promise<Result<"reference_transmitter_list_create">> {
    return this.http.request("POST", "/api/v1/reference-transmitters", { body });
  }
  get(referenceId: string): Promise<Result<"reference_transmitter_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/reference-transmitters/${id(referenceId)}`);
  }
  update(referenceId: string, body: Body<"reference_transmitter_detail_update">): Promise<Result<"reference_transmitter_detail_update">> {
    return this.http.request("PUT", `/api/v1/reference-transmitters/${id(referenceId)}`, { body });
  }
  patch(referenceId: string, body: Body<"reference_transmitter_detail_partial_update">): Promise<Result<"reference_transmitter_detail_partial_update">> {
    return this.http.request("PATCH", `/api/v1/reference-transmitters/${id(referenceId)}`, { body });
  }
  delete(referenceId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/reference-transmitters/${id(referenceId)}`);
  }
  /** POST /reference-transmitters/calibrate: per-station offsets (applied with `apply: true`). */
  calibrate(body: Body<"calibrate_create"> = {}): Promise<Result<"calibrate_create">> {
    return this.http.request("POST", "/api/v1/reference-transmitters/calibrate", { body });
  }
}

// --- recordings (SigMF captures: docs/recordings.md) ----------------------------------

/** A file part: bytes, a Blob/File, or text. */
export type UploadPart = Blob | Uint8Array | ArrayBuffer | string;

export interface RecordingUpload {
  /** A `.sigmf-meta` and its `.sigmf-data`, or one `.sigmf` archive. */
  meta?: UploadPart;
  data?: UploadPart;
  archive?: UploadPart;
  websdr_station_id?: string;
  name?: string;
  description?: string;
}

function part(value: UploadPart, type: string): Blob {
  return value instanceof Blob ? value : new Blob([value as BlobPart], { type });
}

export class Recordings extends Group {
  list(query: Query<"recording_list_retrieve"> = {}): Promise<Result<"recording_list_retrieve">> {
    return this.http.request("GET", "/api/v1/recordings", { query });
  }
  iterate(query: Omit<Query<"recording_list_retrieve">, "page"> = {}): Paginated<Schemas["Recording"]> {
    return pageNumbers((page) => this.list({ page_size: 100, ...query, page }) as never);
  }
  /** POST /recordings (multipart): meta + data, or archive (201). */
  upload(upload: RecordingUpload): Promise<Result<"recording_list_create">> {
    const form = new FormData();
    if (upload.meta !== undefined) form.append("meta", part(upload.meta, "application/json"), "recording.sigmf-meta");
    if (upload.data !== undefined) form.append("data", part(upload.data, "application/octet-stream"), "recording.sigmf-data");
    if (upload.archive !== undefined) form.append("archive", part(upload.archive, "application/x-tar"), "recording.sigmf");
    for (const key of ["websdr_station_id", "name", "description"] as const) {
      if (upload[key] !== undefined) form.append(key, upload[key]!);
    }
    return this.http.request("POST", "/api/v1/recordings", { body: form });
  }
  get(recordingId: string): Promise<Result<"recording_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/recordings/${id(recordingId)}`);
  }
  delete(recordingId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/recordings/${id(recordingId)}`);
  }
  /** POST /recordings/{id}/analyze (202): detections from the capture, by a worker. */
  analyze(recordingId: string, body: Body<"recording_analyze_create"> = {}): Promise<Result<"recording_analyze_create">> {
    return this.http.request("POST", `/api/v1/recordings/${id(recordingId)}/analyze`, { body });
  }
  /** GET /recordings/{id}/download: the bytes (`{part: "meta" | "data" | "archive"}`). */
  async download(recordingId: string, query: Query<"recording_download_retrieve"> = {}): Promise<Uint8Array> {
    const buffer = await this.http.request<ArrayBuffer>("GET", `/api/v1/recordings/${id(recordingId)}/download`, {
      query,
      responseType: "arrayBuffer",
    });
    return new Uint8Array(buffer);
  }
  listAnnotations(recordingId: string, query: Query<"clip_list_retrieve"> = {}): Promise<Result<"clip_list_retrieve">> {
    return this.http.request("GET", `/api/v1/recordings/${id(recordingId)}/annotations`, { query });
  }
  annotate(recordingId: string, body: Body<"clip_list_create">): Promise<Result<"clip_list_create">> {
    return this.http.request("POST", `/api/v1/recordings/${id(recordingId)}/annotations`, { body });
  }
  getAnnotation(recordingId: string, clipId: string): Promise<Result<"clip_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/recordings/${id(recordingId)}/annotations/${id(clipId)}`);
  }
  updateAnnotation(recordingId: string, clipId: string, body: Body<"clip_detail_partial_update">): Promise<Result<"clip_detail_partial_update">> {
    return this.http.request("PATCH", `/api/v1/recordings/${id(recordingId)}/annotations/${id(clipId)}`, { body });
  }
  deleteAnnotation(recordingId: string, clipId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/recordings/${id(recordingId)}/annotations/${id(clipId)}`);
  }
}

// --- models ---------------------------------------------------------------------------

export class Models extends Group {
  list(query: Query<"model_list_retrieve"> = {}): Promise<Result<"model_list_retrieve">> {
    return this.http.request("GET", "/api/v1/models", { query });
  }
  create(body: Body<"model_list_create">): Promise<Result<"model_list_create">> {
    return this.http.request("POST", "/api/v1/models", { body });
  }
  get(modelId: string): Promise<Result<"model_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/models/${id(modelId)}`);
  }
  update(modelId: string, body: Body<"model_detail_update">): Promise<Result<"model_detail_update">> {
    return this.http.request("PUT", `/api/v1/models/${id(modelId)}`, { body });
  }
  patch(modelId: string, body: Body<"model_detail_partial_update">): Promise<Result<"model_detail_partial_update">> {
    return this.http.request("PATCH", `/api/v1/models/${id(modelId)}`, { body });
  }
  delete(modelId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/models/${id(modelId)}`);
  }
  /** POST /models/{id}/activate: serve this model (hot reload in every process). */
  activate(modelId: string): Promise<Result<"model_activate_create">> {
    return this.http.request("POST", `/api/v1/models/${id(modelId)}/activate`);
  }
  predict(modelId: string, body: Body<"model_predict_create">): Promise<Result<"model_predict_create">> {
    return this.http.request("POST", `/api/v1/models/${id(modelId)}/predict`, { body, idempotent: true });
  }
  inspect(modelId: string): Promise<Result<"model_inspect_retrieve">> {
    return this.http.request("GET", `/api/v1/models/${id(modelId)}/inspect`);
  }
  /** The active model of a type (`{model_type}`). */
  inspectCurrent(query: Query<"current_inspect_retrieve">): Promise<Result<"current_inspect_retrieve">> {
    return this.http.request("GET", "/api/v1/models/current/inspect", { query });
  }
  /** GET /models/{id}/download: the artifact's bytes (`{format: "onnx" | "bundle"}`). */
  async download(modelId: string, query: Query<"model_download_retrieve"> = {}): Promise<Uint8Array> {
    const buffer = await this.http.request<ArrayBuffer>("GET", `/api/v1/models/${id(modelId)}/download`, {
      query,
      responseType: "arrayBuffer",
    });
    return new Uint8Array(buffer);
  }
  recommend(body: Body<"model_recommend_create"> = {}): Promise<Result<"model_recommend_create">> {
    return this.http.request("POST", "/api/v1/models/recommend", { body, idempotent: true });
  }
  /** POST /models/train (202): train a registered model. */
  train(body: Body<"model_train_create">): Promise<Result<"model_train_create">> {
    return this.http.request("POST", "/api/v1/models/train", { body });
  }
  /** Worker callback: POST /models/{id}/training/complete. */
  completeTraining(modelId: string, body: Body<"training_complete_create">): Promise<Result<"training_complete_create">> {
    return this.http.request("POST", `/api/v1/models/${id(modelId)}/training/complete`, { body });
  }
  /** Worker callback: POST /models/{id}/training/fail. */
  failTraining(modelId: string, body: Body<"training_fail_create">): Promise<Result<"training_fail_create">> {
    return this.http.request("POST", `/api/v1/models/${id(modelId)}/training/fail`, { body });
  }
}

// --- training ---------------------------------------------------------------------------

export class TrainingJobs extends Group {
  constructor(
    http: Transport,
    private readonly sockets: (path: string, options?: SocketOptions) => TrainingSocket,
  ) {
    super(http);
  }
  list(query: Query<"job_list_retrieve"> = {}): Promise<Result<"job_list_retrieve">> {
    return this.http.request("GET", "/api/v1/training/jobs", { query });
  }
  iterate(query: Omit<Query<"job_list_retrieve">, "offset"> = {}): Paginated<Schemas["Job"]> {
    return limitOffset(async (offset) => {
      const page = await this.list({ limit: 100, ...query, offset });
      return { items: page.jobs, total: page.total };
    });
  }
  /** POST /training/jobs (201): `{job_name, config | config_name, auto_activate}`. */
  create(body: Body<"job_list_create">): Promise<Result<"job_list_create">> {
    return this.http.request("POST", "/api/v1/training/jobs", { body });
  }
  get(jobId: string): Promise<Result<"job_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/training/jobs/${id(jobId)}`);
  }
  delete(jobId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/training/jobs/${id(jobId)}`);
  }
  cancel(jobId: string): Promise<Result<"job_cancel_create">> {
    return this.http.request("POST", `/api/v1/training/jobs/${id(jobId)}/cancel`);
  }
  metrics(jobId: string, query: Query<"job_metrics_retrieve"> = {}): Promise<Result<"job_metrics_retrieve">> {
    return this.http.request("GET", `/api/v1/training/jobs/${id(jobId)}/metrics`, { query });
  }
  /**
   * Watch a job over /ws/training/{job_id}: `train_progress` per epoch,
   * `training_status`, and `done` resolving on completion (rejecting on failure).
   */
  watch(jobId: string, options?: SocketOptions): TrainingSocket {
    return this.sockets(`/ws/training/${id(jobId)}`, options);
  }
}

export class TrainingConfigs extends Group {
  list(): Promise<Result<"preset_list_retrieve">> {
    return this.http.request("GET", "/api/v1/training/configs");
  }
  create(body: Body<"preset_list_create">): Promise<Result<"preset_list_create">> {
    return this.http.request("POST", "/api/v1/training/configs", { body });
  }
  get(name: string): Promise<Result<"preset_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/training/configs/${id(name)}`);
  }
  update(name: string, body: Body<"preset_detail_update">): Promise<Result<"preset_detail_update">> {
    return this.http.request("PUT", `/api/v1/training/configs/${id(name)}`, { body });
  }
  delete(name: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/training/configs/${id(name)}`);
  }
}

export class TrainingRuns extends Group {
  list(query: Query<"run_list_retrieve"> = {}): Promise<Result<"run_list_retrieve">> {
    return this.http.request("GET", "/api/v1/training/runs", { query });
  }
  iterate(query: Omit<Query<"run_list_retrieve">, "offset"> = {}): Paginated<Schemas["RunSummary"]> {
    return limitOffset(async (offset) => {
      const page = await this.list({ limit: 100, ...query, offset });
      return { items: page.runs, total: page.total };
    });
  }
  metrics(jobId: string, query: Query<"run_metrics_retrieve"> = {}): Promise<Result<"run_metrics_retrieve">> {
    return this.http.request("GET", `/api/v1/training/runs/${id(jobId)}`, { query });
  }
  summary(jobId: string): Promise<Result<"run_summary_retrieve">> {
    return this.http.request("GET", `/api/v1/training/runs/${id(jobId)}/summary`);
  }
}

export class TrainingDatasets extends Group {
  list(query: Query<"dataset_list_retrieve"> = {}): Promise<Result<"dataset_list_retrieve">> {
    return this.http.request("GET", "/api/v1/training/synthetic/datasets", { query });
  }
  iterate(query: Omit<Query<"dataset_list_retrieve">, "offset"> = {}): Paginated<Schemas["Dataset"]> {
    return limitOffset(async (offset) => {
      const page = await this.list({ limit: 100, ...query, offset });
      return { items: page.datasets, total: page.total };
    });
  }
  get(datasetId: string): Promise<Result<"dataset_detail_retrieve">> {
    return this.http.request("GET", `/api/v1/training/synthetic/datasets/${id(datasetId)}`);
  }
  delete(datasetId: string): Promise<void> {
    return this.http.request("DELETE", `/api/v1/training/synthetic/datasets/${id(datasetId)}`);
  }
  /** POST /training/synthetic/generate (202): a synthetic dataset, made by a worker. */
  generate(body: Body<"generate_create">): Promise<Result<"generate_create">> {
    return this.http.request("POST", "/api/v1/training/synthetic/generate", { body });
  }
}

export class Training extends Group {
  readonly jobs: TrainingJobs;
  readonly configs = new TrainingConfigs(this.http);
  readonly runs = new TrainingRuns(this.http);
  readonly datasets = new TrainingDatasets(this.http);
  constructor(http: Transport, sockets: (path: string, options?: SocketOptions) => TrainingSocket) {
    super(http);
    this.jobs = new TrainingJobs(http, sockets);
  }
  /** GET /training/status: slots, queue and workers. */
  status(): Promise<Result<"status_retrieve">> {
    return this.http.request("GET", "/api/v1/training/status");
  }
  /** GET /training/metrics/latest. */
  latestMetrics(): Promise<Result<"latest_metrics_retrieve">> {
    return this.http.request("GET", "/api/v1/training/metrics/latest");
  }
  /** GET /training/data-check: would this dataset/config train? */
  dataCheck(query: Query<"data_check_retrieve"> = {}): Promise<Result<"data_check_retrieve">> {
    return this.http.request("GET", "/api/v1/training/data-check", { query });
  }
}

// --- websocket ---------------------------------------------------------------------------

export class WebSocketAPI {
  constructor(
    private readonly http: Transport,
    private readonly WebSocketImpl: unknown,
  ) {}
  /** Seed 004: `/ws/signals/live`, connecting now; subscribe at once (queued until open). */
  connect(options?: SocketOptions): LiveSocket {
    return new LiveSocket(this.http, "/ws/signals/live", this.WebSocketImpl, options);
  }
  /** `/ws/training/{jobId}` (same as client.training.jobs.watch). */
  training(jobId: string, options?: SocketOptions): TrainingSocket {
    return new TrainingSocket(this.http, `/ws/training/${id(jobId)}`, this.WebSocketImpl, options);
  }
}

// --- the client ---------------------------------------------------------------------------

export class HeimdallClient {
  readonly http: Transport;
  readonly auth: Auth;
  readonly users: Users;
  readonly stations: Stations;
  readonly signals: Signals;
  readonly anomalies: Anomalies;
  readonly statistics: Statistics;
  readonly constellations: Constellations;
  readonly localizations: Localizations;
  readonly referenceTransmitters: ReferenceTransmitters;
  readonly models: Models;
  readonly recordings: Recordings;
  readonly training: Training;
  readonly websocket: WebSocketAPI;

  /**
   * `new HeimdallClient({ baseURL, apiKey })`, or `{ baseURL, username, password }`
   * (logs in on first use and refreshes its JWT before it expires).
   */
  constructor(options: HeimdallClientOptions) {
    this.http = new Transport(options);
    this.auth = new Auth(this.http);
    this.users = new Users(this.http);
    this.stations = new Stations(this.http);
    this.signals = new Signals(this.http);
    this.anomalies = new Anomalies(this.http);
    this.statistics = new Statistics(this.http);
    this.constellations = new Constellations(this.http);
    this.localizations = new Localizations(this.http);
    this.referenceTransmitters = new ReferenceTransmitters(this.http);
    this.models = new Models(this.http);
    this.recordings = new Recordings(this.http);
    this.websocket = new WebSocketAPI(this.http, options.WebSocket);
    this.training = new Training(this.http, (path, socketOptions) =>
      new TrainingSocket(this.http, path, options.WebSocket, socketOptions),
    );
  }

  /** GET /health (no credentials). */
  health(): Promise<Result<"health_retrieve">> {
    return this.http.request("GET", "/health", { anonymous: true });
  }
}
