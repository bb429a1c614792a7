/**
 * A small JSON client over Node's global fetch: one base URL, a timeout per request, and failures
 * as values that name the method, the URL path and the HTTP status. Secrets the client is told
 * about (API keys, passwords) are cut out of everything it reports, because servers echo them:
 * BlueMind answers a bad key with "session id <key> is not valid".
 */
import { BmError, ExitCode } from "../engine/errors.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface HttpRequest {
  method: HttpMethod;
  /** Absolute path below the base URL, e.g. "/api/configuration". */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON (a string becomes a JSON string, as BlueMind's login expects). */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Why a request did not give a 2xx answer with readable JSON. */
export type HttpFailureKind = "status" | "network" | "timeout" | "aborted" | "bad-json";

export interface HttpFailure {
  kind: HttpFailureKind;
  method: HttpMethod;
  /** Path only (no host, no query): what the administrator looks for in BlueMind's logs. */
  path: string;
  status?: number;
  /** The start of the answer's body (or the network error), secrets removed. */
  excerpt: string;
  durationMs: number;
}

export type HttpOutcome<T> =
  { ok: true; status: number; body: T; durationMs: number } | { ok: false; failure: HttpFailure };

/** A failed request, for callers that stop at the first failure. */
export class HttpError extends BmError {
  readonly exitCode = ExitCode.stepFailed;
  constructor(
    readonly failure: HttpFailure,
    options?: { hint?: string; context?: string },
  ) {
    super(`${options?.context ? `${options.context}: ` : ""}${describeFailure(failure)}`, options);
  }
}

const EXCERPT_CHARS = 300;

export function describeFailure(f: HttpFailure): string {
  const where = `${f.method} ${f.path}`;
  switch (f.kind) {
    case "status":
      return `${where} answered HTTP ${f.status}${f.excerpt ? `: ${f.excerpt}` : ""}`;
    case "timeout":
      return `${where} got no answer within ${Math.round(f.durationMs / 1000)} s`;
    case "aborted":
      return `${where} was interrupted`;
    case "bad-json":
      return `${where} answered HTTP ${f.status} with something that is not JSON: ${f.excerpt}`;
    case "network":
      return `${where} failed: ${f.excerpt}`;
  }
}

export interface JsonClientOptions {
  /** Default timeout per request (ms). */
  timeoutMs?: number;
  /** Called for every request the client makes (for the log file: no headers, no body). */
  onRequest?: (method: HttpMethod, url: string) => void;
}

export class JsonClient {
  private readonly base: URL;
  private readonly secrets = new Set<string>();
  private readonly defaultHeaders: Record<string, string> = {};

  constructor(
    baseUrl: string,
    private readonly options: JsonClientOptions = {},
  ) {
    this.base = new URL(baseUrl.endsWith("/") ? baseUrl.slice(0, -1) : baseUrl);
  }

  /** The base URL, for messages. */
  get url(): string {
    return this.base.toString().replace(/\/$/, "");
  }

  /** Never let this value appear in a failure's excerpt. */
  addSecret(secret: string): void {
    if (secret.length >= 4) this.secrets.add(secret);
  }

  /** A header sent with every request (its value is also treated as a secret). */
  setHeader(name: string, value: string): void {
    this.defaultHeaders[name] = value;
    this.addSecret(value);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join("***");
    return out;
  }

  async send<T = unknown>(req: HttpRequest): Promise<HttpOutcome<T>> {
    const url = new URL(this.base.pathname.replace(/\/$/, "") + req.path, this.base);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs ?? 30_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
    const headers: Record<string, string> = {
      Accept: "application/json",
      ...this.defaultHeaders,
      ...req.headers,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["Content-Type"] = "application/json";
    }
    this.options.onRequest?.(req.method, `${url.origin}${url.pathname}`);
    const started = Date.now();
    const fail = (kind: HttpFailureKind, excerpt: string, status?: number): HttpOutcome<T> => ({
      ok: false,
      failure: {
        kind,
        method: req.method,
        path: url.pathname,
        ...(status !== undefined ? { status } : {}),
        excerpt: this.redact(excerpt).replace(/\s+/g, " ").trim().slice(0, EXCERPT_CHARS),
        durationMs: Date.now() - started,
      },
    });
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: req.method, headers, body, signal });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) return fail("timeout", `no answer within ${timeoutMs} ms`);
      if (req.signal?.aborted) return fail("aborted", "interrupted");
      return fail("network", networkMessage(err));
    }
    if (res.status < 200 || res.status > 299) return fail("status", text, res.status);
    if (text.trim() === "")
      return { ok: true, status: res.status, body: undefined as T, durationMs: Date.now() - started };
    try {
      return { ok: true, status: res.status, body: JSON.parse(text) as T, durationMs: Date.now() - started };
    } catch {
      return fail("bad-json", text, res.status);
    }
  }

  /** As send(), but a failure is thrown as an HttpError. */
  async call<T = unknown>(req: HttpRequest, context?: string): Promise<T> {
    const r = await this.send<T>(req);
    if (!r.ok) throw new HttpError(r.failure, context ? { context } : undefined);
    return r.body;
  }
}

/** fetch wraps the socket error in `cause`: "fetch failed" alone tells nobody anything. */
function networkMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${cause.message}${code && !cause.message.includes(code) ? ` (${code})` : ""}`;
  }
  return err.message;
}
