/**
 * The HTTP transport: base URL, credentials (API key, or username/password with
 * JWTs refreshed automatically), retries and error mapping.
 *
 * Retries (exponential backoff with full jitter, `retryBaseMs * 2^attempt`, at
 * most `maxRetryDelayMs`):
 * - 429 RATE_LIMITED: every method (the limiter refuses before the view runs, so
 *   nothing was written), waiting what `Retry-After` says.
 * - 503 SERVICE_UNAVAILABLE and network errors (refused, reset, timeout): only
 *   idempotent calls (GET, PUT, DELETE, and writes the SDK made idempotent, such
 *   as an ingest whose detections carry client ids).
 * A 401 on a JWT client refreshes the token (or logs in again) once and retries.
 */
import {
  AuthenticationError,
  HeimdallAPIError,
  HeimdallConnectionError,
  errorClassFor,
  parseRetryAfter,
  type ErrorBody,
} from "./errors.js";
import type { components } from "./schema.js";

export type Token = components["schemas"]["Token"];

export interface RetryInfo {
  method: string;
  url: string;
  attempt: number;
  delayMs: number;
  /** The HTTP status that caused the retry, or null for a network error. */
  status: number | null;
  error: unknown;
}

export interface HeimdallClientOptions {
  /** e.g. `https://heimdall.example.org` (a trailing `/api/v1` is accepted too). */
  baseURL: string;
  /** An API key (`hmd_...`), sent as `Authorization: Bearer`. */
  apiKey?: string;
  /** Username (or e-mail) and password: the client logs in and refreshes JWTs itself. */
  username?: string;
  password?: string;
  /** A fetch implementation (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** A WebSocket constructor (default: globalThis.WebSocket, else the `ws` package in Node). */
  WebSocket?: unknown;
  /** Per-request timeout, ms (default 30,000). */
  timeoutMs?: number;
  /** Retries after the first try (default 4). */
  maxRetries?: number;
  /** First backoff step, ms (default 250). */
  retryBaseMs?: number;
  /** Largest wait between tries, ms, Retry-After included (default 30,000). */
  maxRetryDelayMs?: number;
  /** Refresh a JWT this many seconds before it expires (default: min(60, a tenth of its life)). */
  refreshMarginS?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Called before each retry (logging, metrics, tests). */
  onRetry?: (info: RetryInfo) => void;
  /** Called after each login or refresh with the new token. */
  onToken?: (token: Token, how: "login" | "refresh") => void;
}

export type QueryValue = string | number | boolean | null | undefined | Date;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** JSON-encoded, or sent as multipart/form-data when a FormData. */
  body?: unknown;
  /** Safe to repeat after a network error or a 503 (default: GET, HEAD, PUT, DELETE). */
  idempotent?: boolean;
  /** "json" (default), "arrayBuffer" or "none". */
  responseType?: "json" | "arrayBuffer" | "none";
  /** Send no credentials (login, refresh, health). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toQueryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    params.append(key, value instanceof Date ? value.toISOString() : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export class Transport {
  readonly baseURL: string;
  readonly options: HeimdallClientOptions;
  private readonly fetchImpl: typeof fetch;
  private token: Token | null = null;
  private tokenExpiresAt = 0;
  private pendingAuth: Promise<void> | null = null;
  /** How many times this client logged in and refreshed (diagnostics and tests). */
  readonly authStats = { logins: 0, refreshes: 0 };

  constructor(options: HeimdallClientOptions) {
    if (!options || typeof options.baseURL !== "string" || !options.baseURL) {
      throw new TypeError("HeimdallClient needs { baseURL }");
    }
    if (!options.apiKey && !(options.username && options.password)) {
      throw new TypeError("HeimdallClient needs { apiKey } or { username, password }");
    }
    this.options = options;
    this.baseURL = options.baseURL.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (!fetchImpl) throw new TypeError("no fetch(): pass { fetch } (Node >= 20 has one)");
    this.fetchImpl = fetchImpl.bind(globalThis);
  }

  get usesApiKey(): boolean {
    return Boolean(this.options.apiKey);
  }

  /** The current access token (logging in or refreshing first when needed), or the API key. */
  async credential(): Promise<string> {
    if (this.options.apiKey) return this.options.apiKey;
    await this.ensureFreshToken();
    return this.token!.access_token;
  }

  /** When the current JWT expires (ms since the epoch), or 0. */
  get tokenExpiresAtMs(): number {
    return this.token ? this.tokenExpiresAt : 0;
  }

  /** The current JWT, if this client logs in with a password. */
  get currentToken(): Token | null {
    return this.token;
  }

  private refreshMarginMs(): number {
    if (this.options.refreshMarginS !== undefined) return this.options.refreshMarginS * 1000;
    const life = (this.token?.expires_in ?? 3600) * 1000;
    return Math.min(60_000, life / 10);
  }

  private async ensureFreshToken(): Promise<void> {
    if (this.token && Date.now() < this.tokenExpiresAt - this.refreshMarginMs()) return;
    await this.renewToken(this.token ? "refresh" : "login");
  }

  /** Single-flight: concurrent callers share one login/refresh (refresh tokens rotate). */
  renewToken(how: "login" | "refresh"): Promise<void> {
    if (!this.pendingAuth) {
      this.pendingAuth = this.doRenew(how).finally(() => {
        this.pendingAuth = null;
      });
    }
    return this.pendingAuth;
  }

  private async doRenew(how: "login" | "refresh"): Promise<void> {
    if (how === "refresh" && this.token) {
      try {
        const token = await this.request<Token>("POST", "/api/v1/auth/refresh", {
          body: { refresh_token: this.token.refresh_token },
          anonymous: true,
          idempotent: false,
        });
        this.setToken(token, "refresh");
        return;
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        // The refresh token expired or was revoked: log in again below.
      }
    }
    const token = await this.request<Token>("POST", "/api/v1/auth/login", {
      body: { username: this.options.username, password: this.options.password },
      anonymous: true,
    });
    this.setToken(token, "login");
  }

  private setToken(token: Token, how: "login" | "refresh") {
    this.token = token;
    this.tokenExpiresAt = Date.now() + token.expires_in * 1000;
    if (how === "login") this.authStats.logins += 1;
    else this.authStats.refreshes += 1;
    this.options.onToken?.(token, how);
  }

  /** Forget the JWT so the next call logs in again (after a logout elsewhere). */
  forgetToken() {
    this.token = null;
    this.tokenExpiresAt = 0;
  }

  url(path: string, query?: Record<string, QueryValue>): string {
    return `${this.baseURL}${path}${toQueryString(query)}`;
  }

  private backoff(attempt: number, retryAfterS: number | null): number {
    const cap = this.options.maxRetryDelayMs ?? 30_000;
    if (retryAfterS !== null) {
      // Retry-After is whole seconds on a fixed window: add a little jitter so a
      // crowd of clients does not come back in the same millisecond.
      return Math.min(cap, retryAfterS * 1000 + Math.random() * 250);
    }
    const base = this.options.retryBaseMs ?? 250;
    return Math.min(cap, Math.random() * base * 2 ** attempt + base / 2);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const idempotent = opts.idempotent ?? IDEMPOTENT.has(method);
    const maxRetries = this.options.maxRetries ?? 4;
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        Accept: opts.responseType === "arrayBuffer" ? "*/*" : "application/json",
        ...this.options.headers,
      };
      const multipart = typeof FormData !== "undefined" && opts.body instanceof FormData;
      if (opts.body !== undefined && !multipart) headers["Content-Type"] = "application/json";
      if (!opts.anonymous) headers["Authorization"] = `Bearer ${await this.credential()}`;

      const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await this.fetchImpl(url, {
          method,
          headers,
          body: opts.body === undefined ? undefined : multipart ? (opts.body as FormData) : JSON.stringify(opts.body),
          signal,
        });
      } catch (error) {
        if (opts.signal?.aborted) throw error;
        const wrapped = new HeimdallConnectionError(method, url, error, timeout.aborted);
        if (!idempotent || attempt >= maxRetries) throw wrapped;
        const delayMs = this.backoff(attempt, null);
        this.options.onRetry?.({ method, url, attempt: attempt + 1, delayMs, status: null, error: wrapped });
        await sleep(delayMs);
        continue;
      }

      if (response.ok) {
        if (opts.responseType === "arrayBuffer") return (await response.arrayBuffer()) as T;
        if (opts.responseType === "none" || response.status === 204) {
          await response.body?.cancel();
          return undefined as T;
        }
        const text = await response.text();
        return (text ? JSON.parse(text) : undefined) as T;
      }

      const error = await this.toError(response, method, url);
      const retryable =
        response.status === 429 || (response.status === 503 && idempotent);
      if (retryable && attempt < maxRetries) {
        const delayMs = this.backoff(attempt, parseRetryAfter(response.headers.get("retry-after")));
        this.options.onRetry?.({ method, url, attempt: attempt + 1, delayMs, status: response.status, error });
        await sleep(delayMs);
        continue;
      }
      if (response.status === 401 && !opts.anonymous && !this.usesApiKey && !reauthenticated) {
        // The access token expired early (clock skew, a server restart with a new
        // key) or was blacklisted: refresh (or log in) once and try again.
        reauthenticated = true;
        await this.renewToken(this.token ? "refresh" : "login");
        attempt--;
        continue;
      }
      throw error;
    }
  }

  private async toError(response: Response, method: string, url: string): Promise<HeimdallAPIError> {
    const text = await response.text().catch(() => "");
    let body: unknown = text;
    let error: Partial<ErrorBody> = { message: text.slice(0, 200) || response.statusText };
    try {
      body = JSON.parse(text);
      const inner = (body as { error?: Partial<ErrorBody> })?.error;
      if (inner && typeof inner === "object") error = inner;
    } catch {
      // not JSON (a proxy's page): keep the text
    }
    const Class = errorClassFor(response.status);
    return new Class({ status: response.status, error, method, url, headers: response.headers, body });
  }
}
