/**
 * One HTTP exchange with the discovery API over Node's fetch: a timeout per attempt, a bounded
 * number of retries with jittered exponential backoff, and errors mapped to the client's types.
 */
import {
  ApiCallError,
  errorFromAnswer,
  KonsulLbError,
  RequestTimeout,
  ServerUnreachable,
  UnexpectedAnswer,
} from "./errors.ts";

export interface TransportOptions {
  /** The server's base URL, e.g. http://konsul-lb.konsul-lb.svc:8080. */
  readonly url: string;
  /** The longest one attempt may take, in milliseconds. */
  readonly timeoutMs: number;
  /** Attempts after the first, for failures that another attempt may cure. */
  readonly retries: number;
}

export interface Call {
  readonly method: "GET" | "POST" | "DELETE";
  /** The path with its parameters already encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /**
   * True when sending the request twice does no harm (GET, DELETE). A request that is not is
   * retried only when it certainly never reached the server (connection refused).
   */
  readonly idempotent: boolean;
  /** Overrides the per-attempt timeout (a blocking query waits longer by design). */
  readonly timeoutMs?: number;
  /** Overrides the client's retries (a watch retries by itself, with a fresh query). */
  readonly retries?: number;
  /** Ends the call early, e.g. when a watch stops. */
  readonly signal?: AbortSignal;
}

export interface Answer<Body> {
  readonly status: number;
  readonly body: Body;
  readonly headers: Headers;
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 2_000;
export const MAX_RETRIES = 10;
export const MAX_TIMEOUT_MS = 10 * 60_000;

/** Full jitter: a random delay up to the exponential bound, so clients do not retry in step. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
}

export function checkTransportOptions(options: TransportOptions): void {
  let url: URL | null = null;
  try {
    url = new URL(options.url);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(
      `url: ${JSON.stringify(options.url)} is not allowed; expected an http:// or https:// URL`,
    );
  }
  if (
    !Number.isInteger(options.timeoutMs) ||
    options.timeoutMs < 1 ||
    options.timeoutMs > MAX_TIMEOUT_MS
  ) {
    throw new TypeError(
      `timeoutMs: ${JSON.stringify(options.timeoutMs)} is not allowed; expected an integer from 1 to ${MAX_TIMEOUT_MS}`,
    );
  }
  if (!Number.isInteger(options.retries) || options.retries < 0 || options.retries > MAX_RETRIES) {
    throw new TypeError(
      `retries: ${JSON.stringify(options.retries)} is not allowed; expected an integer from 0 to ${MAX_RETRIES}`,
    );
  }
}

export class Transport {
  readonly options: TransportOptions;
  private readonly base: string;

  constructor(options: TransportOptions) {
    checkTransportOptions(options);
    this.options = options;
    this.base = options.url.replace(/\/+$/, "");
  }

  /** The answer of a successful call; throws a KonsulLbError otherwise. */
  async send<Body>(call: Call): Promise<Answer<Body>> {
    const attempts = 1 + (call.retries ?? this.options.retries);
    const label = `${call.method} ${call.path}`;
    let failure: KonsulLbError = new KonsulLbError(`${label}: not sent`);
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(backoffMs(attempt - 1), call.signal);
      const outcome = await this.attempt<Body>(call, label, attempt + 1);
      if (!(outcome instanceof Failure)) return outcome;
      failure = outcome.error;
      if (!outcome.retryable || call.signal?.aborted) break;
    }
    throw failure;
  }

  private async attempt<Body>(
    call: Call,
    label: string,
    attempts: number,
  ): Promise<Answer<Body> | Failure> {
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
    const query = call.query ? `?${new URLSearchParams(call.query)}` : "";
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${call.path}${query}`, {
        method: call.method,
        signal,
        headers: { accept: "application/json" },
      });
      text = await response.text();
    } catch (error) {
      if (timeout.aborted) {
        return new Failure(new RequestTimeout(label, timeoutMs, attempts), call.idempotent);
      }
      if (call.signal?.aborted) return new Failure(new KonsulLbError(`${label}: aborted`), false);
      const refused = (error as { cause?: { code?: unknown } })?.cause?.code === "ECONNREFUSED";
      return new Failure(new ServerUnreachable(label, attempts, error), call.idempotent || refused);
    }
    if (response.ok) {
      let body: Body;
      try {
        body = (text === "" ? undefined : JSON.parse(text)) as Body;
      } catch {
        return new Failure(new UnexpectedAnswer(label, response.status, text), false);
      }
      return { status: response.status, body, headers: response.headers };
    }
    const error = errorFromAnswer(label, response.status, text);
    // A server fault or a proxy's 502/503/504 may pass; a decision the API answered will not.
    const transient =
      (error instanceof ApiCallError && error.code === "Internal") ||
      (error instanceof UnexpectedAnswer && error.status >= 500);
    return new Failure(error, transient && call.idempotent);
  }
}

class Failure {
  readonly error: KonsulLbError;
  readonly retryable: boolean;
  constructor(error: KonsulLbError, retryable: boolean) {
    this.error = error;
    this.retryable = retryable;
  }
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The path of a service, or of one of its routes (`pick`, `endpoints`, `connections`). */
export function servicePath(namespace: string, name: string, route?: string): string {
  const service = `/v1/services/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  return route === undefined ? service : `${service}/${route}`;
}
