/**
 * Authentication of replica-to-replica calls (the internal API). The caller sends its projected
 * ServiceAccount token as a bearer token; the receiver asks the kube-apiserver (TokenReview) who
 * it is and admits only the operator's own ServiceAccount, which it learns the same way from its
 * own token. So a pod that can reach the internal port but is not the operator gets 401 (no or
 * a bad token) or 403 (another identity), without a shared secret to distribute or rotate.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { AuthenticationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { ApiError } from "../http/errors.ts";
import { timeoutOptions } from "./api-calls.ts";

/** The token file, re-read when it changes (the kubelet rotates projected tokens in place). */
export class TokenFile {
  private readonly path: string;
  private cached: { token: string; mtimeMs: number; size: number } | null = null;

  constructor(path: string) {
    this.path = path;
  }

  /** The current token; throws when the file cannot be read or is empty. */
  read(): string {
    const stat = statSync(this.path);
    if (this.cached?.mtimeMs === stat.mtimeMs && this.cached.size === stat.size) {
      return this.cached.token;
    }
    const token = readFileSync(this.path, "utf8").trim();
    if (token === "") throw new Error(`${this.path} is empty`);
    this.cached = { token, mtimeMs: stat.mtimeMs, size: stat.size };
    return token;
  }
}

/** What the kube-apiserver said of a token. */
export type Review =
  | { readonly authenticated: true; readonly username: string }
  | { readonly authenticated: false; readonly reason: string };

export interface TokenReviewerOptions {
  readonly config: KubeConfig;
  /** Most tokens remembered; the oldest goes first. */
  readonly maxEntries?: number;
  /** How long a review is trusted when the token says no expiry. */
  readonly maxAgeMs?: number;
  /** How long a refusal is remembered, so that a flood of bad tokens is not a flood of reviews. */
  readonly refusedMs?: number;
  readonly timeoutMs?: number;
  /** Reviews asked at once at most; more throw (the caller answers 503), so that a flood of
   * made-up tokens cannot become a flood of requests to the kube-apiserver. */
  readonly maxInFlight?: number;
  readonly now?: () => number;
}

/** TokenReviews, cached per token for the token's lifetime in a bounded table. */
export class TokenReviewer {
  private readonly api: AuthenticationV1Api;
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly refusedMs: number;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  /** By the token's SHA-256 (tokens themselves are not kept), oldest first. */
  private readonly cache = new Map<string, { review: Review; until: number }>();
  private readonly inFlight = new Map<string, Promise<Review>>();

  constructor(options: TokenReviewerOptions) {
    this.api = options.config.makeApiClient(AuthenticationV1Api);
    this.maxEntries = options.maxEntries ?? 1024;
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.refusedMs = options.refusedMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxInFlight = options.maxInFlight ?? 64;
    this.now = options.now ?? Date.now;
  }

  /** Throws when the kube-apiserver cannot be asked (the caller answers 503-like). */
  async review(token: string): Promise<Review> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.review;
    if (cached) this.cache.delete(key);
    let pending = this.inFlight.get(key);
    if (!pending) {
      if (this.inFlight.size >= this.maxInFlight) {
        throw new Error(`${this.inFlight.size} token reviews are under way already`);
      }
      pending = this.ask(token).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const review = await pending;
    const until = review.authenticated
      ? Math.min(now + this.maxAgeMs, expiryOf(token) ?? Number.POSITIVE_INFINITY)
      : now + this.refusedMs;
    this.cache.delete(key);
    this.cache.set(key, { review, until });
    while (this.cache.size > this.maxEntries) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    return review;
  }

  private async ask(token: string): Promise<Review> {
    const result = await this.api.createTokenReview(
      { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } },
      timeoutOptions(this.timeoutMs),
    );
    const status = result.status;
    if (status?.authenticated === true && status.user?.username) {
      return { authenticated: true, username: status.user.username };
    }
    return { authenticated: false, reason: status?.error || "the token is not valid" };
  }
}

/**
 * The `exp` claim of a JWT, in milliseconds; null when it has none. Read without checking the
 * signature: only to bound how long the kube-apiserver's verdict is reused.
 */
export function expiryOf(token: string): number | null {
  const payload = token.split(".")[1];
  if (payload === undefined) return null;
  try {
    const exp = (
      JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }
    ).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:[^:]+:[^:]+$/;

export interface PeerAuthLogger {
  warn(fields: object, message: string): void;
}

/** Both sides of replica-to-replica authentication. */
export class PeerAuth {
  private readonly token: TokenFile;
  private readonly reviewer: TokenReviewer;
  private readonly logger: PeerAuthLogger;
  private own: Promise<string> | null = null;

  constructor(token: TokenFile, reviewer: TokenReviewer, logger: PeerAuthLogger) {
    this.token = token;
    this.reviewer = reviewer;
    this.logger = logger;
  }

  /** The Authorization header for a call to another replica; none when the token is unreadable. */
  headers(): Record<string, string> {
    try {
      return { authorization: `Bearer ${this.token.read()}` };
    } catch (error) {
      this.logger.warn({ err: error }, "internal API: the ServiceAccount token cannot be read");
      return {};
    }
  }

  /**
   * The operator's own ServiceAccount (system:serviceaccount:<namespace>:<name>), from a review
   * of its own token; asked again after a failure.
   */
  ownUser(): Promise<string> {
    this.own ??= (async () => {
      const review = await this.reviewer.review(this.token.read());
      if (!review.authenticated) {
        throw new Error(`this replica's own token is refused: ${review.reason}`);
      }
      if (!SERVICE_ACCOUNT_USER.test(review.username)) {
        throw new Error(`this replica's token is not a ServiceAccount's: ${review.username}`);
      }
      return review.username;
    })().catch((error: unknown) => {
      this.own = null;
      throw error;
    });
    return this.own;
  }

  /** Null when the caller is the operator's own ServiceAccount, else the error to answer. */
  async check(authorization: string | undefined): Promise<ApiError | null> {
    const match = /^Bearer ([^\s]{1,16384})$/i.exec(authorization ?? "");
    if (!match) {
      return new ApiError(
        "Unauthenticated",
        "the internal API needs Authorization: Bearer <the operator's ServiceAccount token>",
      );
    }
    let review: Review;
    let own: string;
    try {
      [review, own] = await Promise.all([this.reviewer.review(match[1] as string), this.ownUser()]);
    } catch (error) {
      this.logger.warn({ err: error }, "internal API: a token could not be reviewed");
      return new ApiError("Unavailable", "the token could not be reviewed; try again");
    }
    if (!review.authenticated) {
      return new ApiError("Unauthenticated", `the token is refused: ${review.reason}`);
    }
    if (review.username !== own) {
      return new ApiError(
        "Forbidden",
        `${review.username} may not call the internal API; only ${own} may`,
      );
    }
    return null;
  }
}
