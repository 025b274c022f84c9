/**
 * Blocking queries, as Consul has them: every `GET /v1/services` and `GET .../endpoints` answer
 * carries `X-Konsul-Index` (the catalog's index, or the service's version), and a request with
 * `?index=N` holds its answer until that index is greater than N or `wait` (default and cap
 * 5 minutes, plus up to 1/16 of it at random, so clients woken together do not come back
 * together) has elapsed, then answers as usual. A client that caches endpoints learns of a
 * change as it happens, without polling.
 *
 * `wait` without `index` answers at once. An unknown service is answered at once (404), as is an
 * index greater than the catalog's: it comes from before a restart or from another replica, and
 * waiting for this server to catch up with it could take arbitrarily long. Shutting down
 * answers every waiting request at once, so a SIGTERM stays graceful.
 *
 * At most `--max-blocking-waiters` requests wait at once; one more that would wait is answered
 * at once with 429 TooManyWaiters and Retry-After, rather than with the unchanged answer, which
 * a client would take as its cue to ask again at once (a busy loop).
 */
import type { Request, Response } from "express";
import { type CatalogEntry, serviceKey } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { tryParseDuration } from "../policy/duration.ts";
import type { ChangeWaiters, WaitOutcome } from "./change-waiters.ts";
import { ApiError, invalidParameter } from "./errors.ts";
import { selectOptionsFrom } from "./parameters.ts";

export const INDEX_HEADER = "X-Konsul-Index";
export const MAX_WAIT_MS = 5 * 60_000;
/** Consul's default too: a client that gives an index wants to wait. */
export const DEFAULT_WAIT_MS = MAX_WAIT_MS;
/** The wait is stretched by up to wait / JITTER_DIVISOR. */
export const JITTER_DIVISOR = 16;

const INDEX_ALLOWED = "a whole number of 0 or more: the X-Konsul-Index of an earlier answer";
const WAIT_ALLOWED = 'a duration such as "30s", "1m30s" or "5m" (longer waits are cut to 5m)';

export interface Blocking {
  readonly index: number;
  readonly waitMs: number;
}

/** `index` and `wait` from a query; null when the request does not block. */
export function blockingFrom(query: Record<string, unknown>): Blocking | null {
  const index = query.index;
  const wait = query.wait;
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== undefined) {
    const ms = typeof wait === "string" ? tryParseDuration(wait) : null;
    if (ms === null) throw invalidParameter("wait", wait, WAIT_ALLOWED);
    waitMs = Math.min(ms, MAX_WAIT_MS);
  }
  if (index === undefined) return null;
  if (typeof index !== "string" || !/^[0-9]{1,16}$/.test(index)) {
    throw invalidParameter("index", index, INDEX_ALLOWED);
  }
  const value = Number(index);
  if (!Number.isSafeInteger(value)) throw invalidParameter("index", index, INDEX_ALLOWED);
  return { index: value, waitMs };
}

export class BlockingQueries {
  private readonly discovery: Discovery;
  private readonly waiters: ChangeWaiters;
  private readonly random: () => number;

  private readonly onRefused: () => void;

  constructor(
    discovery: Discovery,
    waiters: ChangeWaiters,
    random: () => number = Math.random,
    onRefused: () => void = () => {},
  ) {
    this.discovery = discovery;
    this.waiters = waiters;
    this.random = random;
    this.onRefused = onRefused;
  }

  /**
   * For GET /v1/services: blocks as the query asks, then sets X-Konsul-Index. False when the
   * client hung up while waiting: there is nobody left to answer.
   */
  async catalog(req: Request, res: Response): Promise<boolean> {
    const blocking = blockingFrom(req.query);
    if (blocking !== null && this.mayWait(blocking, this.discovery.index)) {
      if ((await this.wait(null, blocking, res)) === "cancelled") return false;
    }
    res.set(INDEX_HEADER, String(this.discovery.index));
    return true;
  }

  /**
   * For GET .../endpoints: blocks as the query asks, then sets X-Konsul-Index to the service's
   * version. A request that is going to fail anyway (unknown service, bad selection parameter)
   * does not wait: the route answers it at once, with its usual error and metrics. False when
   * the client hung up while waiting.
   */
  async service(req: Request, res: Response): Promise<boolean> {
    const namespace = req.params.namespace as string;
    const name = req.params.name as string;
    const blocking = blockingFrom(req.query);
    const before = this.discovery.find(namespace, name);
    if (before === undefined) return true;
    if (
      blocking !== null &&
      this.mayWait(blocking, before.version) &&
      this.wouldSucceed(req, before)
    ) {
      const key = serviceKey(namespace, name);
      if ((await this.wait(key, blocking, res)) === "cancelled") return false;
    }
    const after = this.discovery.find(namespace, name);
    if (after !== undefined) res.set(INDEX_HEADER, String(after.version));
    return true;
  }

  private mayWait(blocking: Blocking, current: number): boolean {
    return (
      blocking.waitMs > 0 && current <= blocking.index && blocking.index <= this.discovery.index
    );
  }

  /** Whether the selection parameters are good: a request bound to fail is answered at once. */
  private wouldSucceed(req: Request, entry: CatalogEntry): boolean {
    try {
      const options = selectOptionsFrom(req.query, req.ip);
      this.discovery.strategyFor(entry, options);
      return true;
    } catch {
      return false;
    }
  }

  private async wait(key: string | null, blocking: Blocking, res: Response): Promise<WaitOutcome> {
    if (this.waiters.full) {
      this.onRefused();
      throw new ApiError(
        "TooManyWaiters",
        `${this.waiters.size} blocking queries are waiting, the most this server holds (--max-blocking-waiters ${this.waiters.limit}); retry later`,
      );
    }
    const jitter = this.random() * (blocking.waitMs / JITTER_DIVISOR);
    const wait = this.waiters.wait(key, blocking.waitMs + jitter);
    // A client that hangs up stops waiting, so abandoned requests hold nothing.
    const hangUp = () => wait.cancel();
    res.once("close", hangUp);
    try {
      const outcome = await wait.outcome;
      // Released by shutdown: the server is closing, so the connection should not be kept
      // alive for another request, or the server's close would wait for it to idle out.
      if (outcome === "closed") res.set("Connection", "close");
      return outcome;
    } finally {
      res.off("close", hangUp);
    }
  }
}
