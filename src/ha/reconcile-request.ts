import { CONNECTION_ID_PATTERN, type Connection } from "../balancer/index.ts";
import { ApiError, invalidParameter } from "../http/errors.ts";

/** What a replica hands a new leader: the opens and releases the leader may not know of. */
export interface ReconcileRequest {
  readonly from: string;
  readonly opens: readonly Connection[];
  readonly closes: readonly string[];
}

/** Most opens, and most releases, in one reconcile: a replica's pending changes, bounded. */
export const MAX_RECONCILE_ITEMS = 50_000;
const ID = CONNECTION_ID_PATTERN;
/** namespace/name: a DNS label and a DNS-1035 label. */
const SERVICE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_TEXT = 253;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown, field: string, pattern: RegExp | null, allowed: string): string {
  if (typeof value !== "string" || value.length > MAX_TEXT || !(pattern?.test(value) ?? true)) {
    throw invalidParameter(field, value, allowed);
  }
  return value;
}

function list(body: Json, field: "opens" | "closes"): unknown[] {
  const value = body[field];
  if (!Array.isArray(value)) throw invalidParameter(field, value, "an array");
  if (value.length > MAX_RECONCILE_ITEMS) {
    throw new ApiError(
      "PayloadTooLarge",
      `${field}: ${value.length} items; at most ${MAX_RECONCILE_ITEMS} in one reconcile`,
    );
  }
  return value;
}

/**
 * A reconcile body, checked field by field: the first bad field is an InvalidParameter naming
 * it (`opens[3].expiresAt`), too many items PayloadTooLarge. Whether the services and endpoints
 * exist is the leader's check (ConnectionFront), not the shape's.
 */
export function parseReconcile(body: unknown): ReconcileRequest {
  if (!isObject(body)) throw invalidParameter("body", body, "an object {from, opens, closes}");
  const from = text(body.from, "from", null, `a replica identity of 1 to ${MAX_TEXT} characters`);
  if (from === "") throw invalidParameter("from", from, "a replica identity");
  const opens = list(body, "opens").map((item, i): Connection => {
    const field = `opens[${i}]`;
    if (!isObject(item)) throw invalidParameter(field, item, "{id, service, identity, expiresAt}");
    const expiresAt = item.expiresAt;
    if (typeof expiresAt !== "number" || !Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw invalidParameter(`${field}.expiresAt`, expiresAt, "milliseconds since the epoch");
    }
    return {
      id: text(item.id, `${field}.id`, ID, "a connection id (letters, digits, ._:-)"),
      service: text(item.service, `${field}.service`, SERVICE, "namespace/name"),
      identity: text(item.identity, `${field}.identity`, /^./, "an endpoint identity"),
      expiresAt,
    };
  });
  const closes = list(body, "closes").map((id, i) =>
    text(id, `closes[${i}]`, ID, "a connection id (letters, digits, ._:-)"),
  );
  return { from, opens, closes };
}
