/**
 * `/ws/signals/live` (seed 004; apps/signals/consumers.py): subscribe with
 * `{"type": "subscribe", "channels": [...], "filters": {...}}`, answered by
 * `subscribed`; events arrive as `{"type": "signal_detection" | "anomaly_alert" |
 * "system_status" | <an app's frame type>, "data": {...}, "timestamp"}`.
 */
import type { components } from "./schema.js";
import { HeimdallSocket } from "./websocket.js";
import { WebSocketClosedError } from "./errors.js";

/** A detection as the live feed sends it (the list item of GET /signals/detections). */
export type LiveDetection = components["schemas"]["DetectionListItem"] & Record<string, unknown>;
export type LiveAnomaly = Record<string, unknown> & {
  id: string;
  severity: string;
  frequency_hz: number;
  anomaly_score: number | null;
};

export type Channel = "signal_detections" | "anomaly_alerts" | "system_status" | (string & {});

export interface LiveFilters {
  /** Station ids (`stations` in seed 004). */
  stations?: string[];
  /** [min_hz, max_hz]. */
  frequencyRange?: [number, number];
  /** 0..1: only detections/alerts scoring at least this. */
  anomalyThreshold?: number;
  /** Anomaly severities: low, medium, high, critical. */
  severity?: string[];
  /** Filters of channels added by apps, passed as they are (snake_case). */
  extra?: Record<string, unknown>;
}

export type LiveEvents = {
  signal_detection: (detection: LiveDetection, frame: Record<string, unknown>) => void;
  anomaly_alert: (anomaly: LiveAnomaly, frame: Record<string, unknown>) => void;
  system_status: (status: Record<string, unknown>, frame: Record<string, unknown>) => void;
  subscribed: (info: { channels: string[]; filters: Record<string, unknown> }) => void;
  unsubscribed: (info: { channels: string[] }) => void;
  pong: (frame: Record<string, unknown>) => void;
  authenticated: (frame: Record<string, unknown>) => void;
};

function toFilters(filters: LiveFilters): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(filters.extra ?? {}) };
  if (filters.stations) out["station_ids"] = filters.stations;
  if (filters.frequencyRange) out["frequency_range"] = filters.frequencyRange;
  if (filters.anomalyThreshold !== undefined) out["anomaly_threshold"] = filters.anomalyThreshold;
  if (filters.severity) out["severity"] = filters.severity;
  return out;
}

interface Waiter {
  resolve: (value: { channels: string[] }) => void;
  reject: (error: Error) => void;
}

/** Settled promises that nobody awaits must not crash Node (seed 004 does not await). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

export class LiveSocket extends HeimdallSocket<LiveEvents> {
  protected readonly kindKey = "type" as const;
  /** channel → its subscribe frame, sent again after every reconnection. */
  private readonly subscriptions = new Map<string, Record<string, unknown>>();
  private waiters: Waiter[] = [];
  private resuming = 0;

  /** Seed 004: detections (`signal_detection` events) from these stations and frequencies. */
  subscribeSignals(filters: LiveFilters = {}): Promise<{ channels: string[] }> {
    return this.subscribe(["signal_detections"], filters);
  }

  /** Anomaly alerts (`anomaly_alert` events). */
  subscribeAnomalies(filters: LiveFilters = {}): Promise<{ channels: string[] }> {
    return this.subscribe(["anomaly_alerts"], filters);
  }

  /** System status snapshots (`system_status` events; one at once). */
  subscribeSystemStatus(): Promise<{ channels: string[] }> {
    return this.subscribe(["system_status"], {});
  }

  /**
   * Any channels (e.g. `localizations`, whose frames are `localization` events).
   * Resolves with the server's `subscribed` reply; rejects on its error frame.
   */
  subscribe(channels: Channel[], filters: LiveFilters = {}): Promise<{ channels: string[] }> {
    const frame = { channels, filters: toFilters(filters) };
    for (const channel of channels) this.subscriptions.set(channel, frame);
    return quiet(
      new Promise((resolve, reject) => {
        if (this.state === "closed") {
          reject(new WebSocketClosedError(this.closeInfo?.code ?? 1000, this.closeInfo?.reason ?? ""));
          return;
        }
        // Sent now if open; otherwise resume() sends every subscription on open.
        if (this.sendFrame("subscribe", frame)) this.waiters.push({ resolve, reject });
        else this.pendingWaiters.push({ resolve, reject });
      }),
    );
  }

  private pendingWaiters: Waiter[] = [];

  /** Stop channels (default: all). */
  unsubscribe(channels?: Channel[]): Promise<{ channels: string[] }> {
    for (const channel of channels ?? [...this.subscriptions.keys()]) this.subscriptions.delete(channel);
    return quiet(
      new Promise((resolve, reject) => {
        if (this.sendFrame("unsubscribe", channels ? { channels } : {})) this.waiters.push({ resolve, reject });
        else resolve({ channels: [...this.subscriptions.keys()] });
      }),
    );
  }

  /** `for await (const detection of ws.stream())`: detections (or another event's payloads). */
  stream(event: keyof LiveEvents | (string & {}) = "signal_detection"): AsyncIterableIterator<LiveDetection> {
    return this.iterate(event, (data: LiveDetection) => data);
  }

  protected resume(): void {
    const frames = new Set(this.subscriptions.values());
    this.resuming = frames.size;
    if (!frames.size) {
      this.markReady();
      for (const waiter of this.pendingWaiters.splice(0)) waiter.resolve({ channels: [] });
      return;
    }
    for (const frame of frames) {
      this.sendFrame("subscribe", frame);
      this.waiters.push(this.pendingWaiters.shift() ?? { resolve: () => {}, reject: () => {} });
    }
  }

  protected dispatch(kind: string, frame: Record<string, unknown>): void {
    const data = frame["data"] as Record<string, unknown>;
    switch (kind) {
      case "subscribed":
      case "unsubscribed": {
        const info = { channels: frame["channels"] as string[], filters: frame["filters"] as Record<string, unknown> };
        this.waiters.shift()?.resolve(info);
        this.emit(kind, info);
        if (kind === "subscribed" && this.resuming > 0 && --this.resuming === 0) this.markReady();
        return;
      }
      case "error": {
        const error = frame["error"] as { code: string; message: string; details?: { field?: string } };
        const field = error?.details?.field ?? "";
        if (this.waiters.length && /^(filters|channels)/.test(field)) {
          const waiter = this.waiters.shift()!;
          waiter.reject(Object.assign(new Error(`${error.code}: ${error.message}`), { code: error.code, details: error.details }));
          if (this.resuming > 0 && --this.resuming === 0) this.markReady();
        }
        return;
      }
      case "pong":
      case "authenticated":
        this.emit(kind, frame);
        return;
      case "messages_dropped":
        return;
      default:
        if (data !== undefined) this.emit(kind, data, frame);
    }
  }

  protected override closed(error: WebSocketClosedError): void {
    for (const waiter of [...this.waiters.splice(0), ...this.pendingWaiters.splice(0)]) waiter.reject(error);
  }
}
