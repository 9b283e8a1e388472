/**
 * @heimdall/sdk: Heimdall's client for browsers and Node >= 20.
 *
 *   import { HeimdallClient } from "@heimdall/sdk";
 *   const client = new HeimdallClient({ baseURL, apiKey });
 *   const detections = await client.signals.getDetections({ frequencyRange: [14e6, 15e6] });
 */
export * from "./client.js";
export * from "./errors.js";
export { Transport, type HeimdallClientOptions, type RetryInfo, type Token, type RequestOptions } from "./http.js";
export { paginate, type Paginated } from "./pagination.js";
export { LiveSocket, type LiveEvents, type LiveFilters, type LiveDetection, type LiveAnomaly, type Channel } from "./live.js";
export { TrainingSocket, type TrainingEvents, type TrainingFrame } from "./training-socket.js";
export { Emitter, HeimdallSocket, type Gap, type SocketOptions, type SocketState } from "./websocket.js";
export type { components, operations, paths } from "./schema.js";
