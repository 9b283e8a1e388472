/**
 * Heimdall's WebSockets with reconnection (docs/websockets.md):
 * `/ws/signals/live` (LiveSocket: subscribe to detections, anomaly alerts, system
 * status and channels added by apps such as localizations; frames name their kind
 * under `type`) and `/ws/training/{job_id}` (TrainingSocket; kind under `event`).
 *
 * Authentication is `?token=` with the API key or the current access JWT. A JWT
 * socket is kept alive past the token's expiry by sending
 * `{"<kind>": "authenticate", "token": <fresh JWT>}` before it runs out.
 *
 * Reconnection: when the connection drops (network, server restart, 4408 stall,
 * 4429 too many sockets, 4503 outage, or 4401 on a JWT client, which refreshes
 * first) the socket reconnects with exponential backoff (0.5 s doubling to
 * 30 s, jittered), sends its subscriptions again and emits `reconnected` with the
 * gap `{from, to, durationMs}` during which frames may have been missed (the
 * server keeps no replay: fetch the gap with `client.signals.iterDetections({
 * timeRange: [gap.from, gap.to] })`). 4403, 4404, and 4401 on an API key are
 * final: `close` is emitted with the code and the socket stays closed.
 */
import { WebSocketClosedError } from "./errors.js";
import type { Transport } from "./http.js";

type Listener = (...args: any[]) => void;

/** A minimal event emitter that works the same in browsers and Node. */
export class Emitter<Events extends Record<string, Listener>> {
  private listeners = new Map<string, Set<Listener>>();

  on<E extends keyof Events & string>(event: E, listener: Events[E]): this;
  on(event: string, listener: Listener): this;
  on(event: string, listener: Listener): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  once<E extends keyof Events & string>(event: E, listener: Events[E]): this;
  once(event: string, listener: Listener): this;
  once(event: string, listener: Listener): this {
    const wrapper: Listener = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  protected emit(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        // A listener's bug must not kill the socket; report it asynchronously.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** The interval during which a dropped socket could not receive frames. */
export interface Gap {
  /** ISO-8601 UTC: when the connection was lost. */
  from: string;
  /** ISO-8601 UTC: when it was back (subscriptions restored). */
  to: string;
  durationMs: number;
}

export interface SocketOptions {
  /** Reconnect after drops (default true). */
  reconnect?: boolean;
  /** Give up after this many failed reconnect attempts in a row (default Infinity). */
  maxReconnectAttempts?: number;
  /** First reconnect delay, ms (default 500); doubles up to maxReconnectDelayMs. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
}

export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
type WebSocketCtor = new (url: string) => WebSocketLike;

let nodeWebSocket: Promise<WebSocketCtor> | null = null;

/** The given constructor, the global WebSocket (browsers, Node >= 22), else `ws`. */
export async function resolveWebSocket(given?: unknown): Promise<WebSocketCtor> {
  if (given) return given as WebSocketCtor;
  const global = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof global === "function") return global as WebSocketCtor;
  nodeWebSocket ??= import("ws").then(
    (mod: any) => (mod.WebSocket ?? mod.default) as WebSocketCtor,
  );
  return nodeWebSocket;
}

const FINAL_CODES = new Set([4403, 4404]);
const OPEN = 1;

export type BaseSocketEvents = {
  open: () => void;
  /** Every frame, parsed. */
  message: (frame: Record<string, unknown>) => void;
  /** An error frame from the server, in the API's envelope (`frame.error.code`...). */
  error: (error: { code: string; message: string; details?: Record<string, unknown> }, frame: unknown) => void;
  disconnected: (info: { code: number; reason: string }) => void;
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  reconnected: (info: { gap: Gap; attempts: number }) => void;
  /** For good: after close(), a final code, or reconnection given up. */
  close: (info: { code: number; reason: string }) => void;
  /** Events lost on the way: `source` "outbox" (this socket fell behind) or "publisher"
   * (the server dropped event batches before any socket: some may have been for you). */
  messages_dropped: (info: { count: number; source: string }) => void;
};

/** What both sockets share: connect, authenticate, reconnect, dispatch. */
export abstract class HeimdallSocket<Events extends Record<string, Listener>> extends Emitter<
  BaseSocketEvents & Events
> {
  state: SocketState = "connecting";
  /** The close code and reason once closed for good. */
  closeInfo: { code: number; reason: string } | null = null;
  /** Reconnections so far (successful ones). */
  reconnections = 0;
  protected abstract readonly kindKey: "type" | "event";
  private ws: WebSocketLike | null = null;
  private userClosed = false;
  private failures = 0;
  private disconnectedAt: Date | null = null;
  private reauthTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readyResolvers: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private everReady = false;

  constructor(
    protected readonly transport: Transport,
    private readonly path: string,
    private readonly WebSocketImpl: unknown,
    private readonly options: SocketOptions = {},
  ) {
    super();
    queueMicrotask(() => void this.connectOnce());
  }

  /** Resolves once the socket is open and the server greeted it (or subscriptions are restored). */
  ready(): Promise<void> {
    if (this.state === "open" && this.everReady) return Promise.resolve();
    if (this.state === "closed") {
      return Promise.reject(new WebSocketClosedError(this.closeInfo?.code ?? 1000, this.closeInfo?.reason ?? ""));
    }
    return new Promise((resolve, reject) => this.readyResolvers.push({ resolve, reject }));
  }

  /** Close for good (code 1000). */
  close(): void {
    this.userClosed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.ws && this.ws.readyState <= OPEN) this.ws.close(1000, "client closed");
    else this.finish(1000, "client closed");
  }

  /** Send a frame of this socket's kind (`{"type"|"event": kind, ...fields}`). */
  protected sendFrame(kind: string, fields: Record<string, unknown> = {}): boolean {
    if (this.ws && this.ws.readyState === OPEN) {
      this.ws.send(JSON.stringify({ [this.kindKey]: kind, ...fields }));
      return true;
    }
    return false; // sent again by resume() once (re)connected
  }

  /** `{kind: "ping"}` → a `pong` event. */
  ping(): boolean {
    return this.sendFrame("ping");
  }

  /** The WebSocket's URL, token included. */
  private async url(): Promise<string> {
    const token = await this.transport.credential();
    const base = this.transport.baseURL.replace(/^http/, "ws");
    return `${base}${this.path}?token=${encodeURIComponent(token)}`;
  }

  private async connectOnce(): Promise<void> {
    if (this.userClosed) return;
    let ws: WebSocketLike;
    try {
      const [Ctor, url] = await Promise.all([resolveWebSocket(this.WebSocketImpl), this.url()]);
      if (this.userClosed) return this.finish(1000, "client closed");
      ws = new Ctor(url);
    } catch (error) {
      // Could not get a token (server down while refreshing) or build the socket.
      return this.dropped(1006, error instanceof Error ? error.message : String(error));
    }
    this.ws = ws;
    ws.onopen = () => {
      this.state = "open";
      this.emit("open");
      this.resume();
      this.scheduleReauth();
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.reauthTimer) clearTimeout(this.reauthTimer);
      if (this.userClosed) return this.finish(event.code, event.reason);
      this.dropped(event.code, event.reason);
    };
  }

  /** Called once open: send what must be sent again, then call markReady(). */
  protected abstract resume(): void;

  /** Dispatch one parsed frame of the subclass's protocol. */
  protected abstract dispatch(kind: string, frame: Record<string, unknown>): void;

  /** The connection serves again: report the gap if this was a reconnection. */
  protected markReady(): void {
    if (this.state !== "open") return;
    this.failures = 0;
    if (this.disconnectedAt) {
      const to = new Date();
      const gap: Gap = {
        from: this.disconnectedAt.toISOString(),
        to: to.toISOString(),
        durationMs: to.getTime() - this.disconnectedAt.getTime(),
      };
      this.disconnectedAt = null;
      this.reconnections += 1;
      this.emit("reconnected", { gap, attempts: this.reconnections });
    }
    this.everReady = true;
    for (const { resolve } of this.readyResolvers.splice(0)) resolve();
  }

  private receive(data: unknown) {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    this.emit("message", frame);
    const kind = String(frame[this.kindKey] ?? "");
    if (kind === "error") {
      const error = (frame["error"] ?? {}) as { code: string; message: string };
      this.emit("error", error, frame);
    } else if (kind === "messages_dropped") {
      this.emit("messages_dropped", {
        count: Number(frame["count"] ?? 0),
        source: String(frame["source"] ?? "outbox"),
      });
    }
    this.dispatch(kind, frame);
  }

  /** Keep a JWT socket alive: send a fresh token before the current one expires. */
  private scheduleReauth() {
    if (this.transport.usesApiKey) return;
    const expiresAt = this.transport.tokenExpiresAtMs;
    if (!expiresAt) return;
    const margin = Math.min(30_000, (expiresAt - Date.now()) / 5);
    const delay = Math.max(0, expiresAt - Date.now() - margin);
    this.reauthTimer = setTimeout(async () => {
      try {
        await this.transport.renewToken("refresh");
        this.sendFrame("authenticate", { token: await this.transport.credential() });
        this.scheduleReauth();
      } catch {
        // The socket will close with 4401 and reconnect with a new login.
      }
    }, delay);
  }

  private dropped(code: number, reason: string) {
    const final =
      FINAL_CODES.has(code) ||
      (code === 4401 && this.transport.usesApiKey) ||
      this.options.reconnect === false ||
      this.failures >= (this.options.maxReconnectAttempts ?? Infinity);
    if (final) return this.finish(code, reason);
    if (!this.disconnectedAt) {
      this.disconnectedAt = new Date();
      this.emit("disconnected", { code, reason });
    }
    this.state = "reconnecting";
    const base = this.options.reconnectDelayMs ?? 500;
    const cap = this.options.maxReconnectDelayMs ?? 30_000;
    const delayMs = Math.min(cap, base * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures += 1;
    this.emit("reconnecting", { attempt: this.failures, delayMs });
    this.reconnectTimer = setTimeout(async () => {
      if (code === 4401 && !this.transport.usesApiKey) {
        // The JWT expired or was revoked: refresh (or log in) before trying again.
        try {
          await this.transport.renewToken("refresh");
        } catch {
          /* counted as a failure by the next drop */
        }
      }
      void this.connectOnce();
    }, delayMs);
  }

  private finish(code: number, reason: string) {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeInfo = { code, reason };
    if (this.reauthTimer) clearTimeout(this.reauthTimer);
    const error = new WebSocketClosedError(code, reason);
    for (const { reject } of this.readyResolvers.splice(0)) reject(error);
    this.closed(error);
    this.emit("close", { code, reason });
  }

  /** Subclasses settle what waits on the socket. */
  protected closed(_error: WebSocketClosedError): void {}

  /**
   * Frames of one kind as an async iterator (`for await (const d of ws.stream())`).
   * Ends when the socket is closed by close(); throws WebSocketClosedError on a final close.
   */
  protected iterate<T>(event: string, map: (...args: any[]) => T): AsyncIterableIterator<T> {
    const buffer: T[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let failure: Error | null = null;
    const onItem = (...args: unknown[]) => {
      buffer.push(map(...args));
      wake?.();
    };
    const onClose = (info: { code: number; reason: string }) => {
      done = true;
      if (!this.userClosed) failure = new WebSocketClosedError(info.code, info.reason);
      wake?.();
    };
    this.on(event, onItem);
    this.on("close", onClose);
    const cleanup = () => {
      this.off(event, onItem);
      this.off("close", onClose);
    };
    const iterator: AsyncIterableIterator<T> = {
      [Symbol.asyncIterator]() {
        return iterator;
      },
      async next(): Promise<IteratorResult<T>> {
        while (!buffer.length && !done) await new Promise<void>((r) => (wake = r));
        wake = null;
        if (buffer.length) return { value: buffer.shift()!, done: false };
        cleanup();
        if (failure) throw failure;
        return { value: undefined, done: true };
      },
      async return(): Promise<IteratorResult<T>> {
        cleanup();
        done = true;
        return { value: undefined, done: true };
      },
    };
    if (this.state === "closed") done = true;
    return iterator;
  }
}
