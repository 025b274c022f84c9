import type { ServerResponse } from "node:http";
import { errorCodeOf } from "../http/errors.ts";
import type { Logger } from "../shared/logger.ts";
import type { HaMetrics } from "./ha-metrics.ts";

/**
 * A follower's call of the leader's internal API for a connection change, and the relay of its
 * answer to the client. Whatever makes the answer not the client's to see (the leader failing,
 * refusing this replica, or no longer leading) comes back as null: the follower then answers
 * from its own state.
 */

/** The leader's answer to a forwarded request, as the client is to get it. */
export interface LeaderReply {
  readonly status: number;
  readonly text: string;
  readonly contentType: string;
  /** A 429's Retry-After, passed on. */
  readonly retryAfter: string | null;
}

export interface LeaderRequest {
  readonly method: "POST" | "DELETE";
  readonly url: URL;
  readonly operation: "open" | "close";
  /** Including this replica's credentials. */
  readonly headers: Record<string, string>;
  /** Settles once the leader has this replica's pending changes; the request waits for it. */
  readonly after: Promise<void>;
  /** For the wait and the request together. */
  readonly timeoutMs: number;
  readonly logger: Pick<Logger, "warn">;
  readonly metrics?: HaMetrics;
}

/** One request to the leader; null if none answered (see above). */
export async function askLeader(request: LeaderRequest): Promise<LeaderReply | null> {
  const { method, url, operation } = request;
  const deadline = AbortSignal.timeout(request.timeoutMs);
  try {
    await Promise.race([
      request.after,
      new Promise((_, reject) =>
        deadline.addEventListener("abort", () => reject(deadline.reason), { once: true }),
      ),
    ]);
    const response = await fetch(url, { method, headers: request.headers, signal: deadline });
    const text = await response.text();
    // A 5xx other than "no endpoints" is the leader failing, not an answer to relay; a
    // refused token is between the replicas, never the client's to see; a 409 NotLeader is a
    // replica whose term ended since the Lease named it.
    const code = errorCodeOf(text);
    if (
      (response.status >= 500 && code !== "NoEndpoints") ||
      (response.status === 409 && code === "NotLeader")
    ) {
      throw new Error(`the leader answered ${response.status}`);
    }
    if (response.status === 401 || response.status === 403) {
      throw new Error(`the leader refused this replica: ${text}`);
    }
    request.metrics?.forwarded.inc({ operation, result: "ok" });
    return {
      status: response.status,
      text,
      contentType: response.headers.get("content-type") ?? "application/json; charset=utf-8",
      retryAfter: response.headers.get("retry-after"),
    };
  } catch (error) {
    request.metrics?.forwarded.inc({ operation, result: "local" });
    request.logger.warn(
      { operation, leader: url.origin, err: error },
      "forwarding to the leader failed; answering from this replica's state",
    );
    return null;
  }
}

/** Answers the client with the leader's reply. */
export function relay(res: ServerResponse, reply: LeaderReply): void {
  if (reply.status === 204) {
    res.writeHead(204);
    res.end();
    return;
  }
  res.writeHead(reply.status, {
    "content-type": reply.contentType,
    "content-length": Buffer.byteLength(reply.text),
    ...(reply.retryAfter === null ? {} : { "retry-after": reply.retryAfter }),
  });
  res.end(reply.text);
}
