import { isIP } from "node:net";
import type { SelectOptions } from "../balancer/index.ts";
import { invalidParameter } from "./errors.ts";

const MAX_LIMIT = 10_000;
const MAX_TEXT = 1024;

type Query = Record<string, unknown>;

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalidParameter(name, value, "a single value");
  return value;
}

function text(query: Query, name: string): string | undefined {
  const value = single(query, name);
  if (value !== undefined && value.length > MAX_TEXT) {
    throw invalidParameter(name, `${value.slice(0, 32)}…`, `at most ${MAX_TEXT} characters`);
  }
  return value;
}

const SUBSET_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function subsetFrom(query: Query): string | undefined {
  const subset = single(query, "subset");
  if (subset !== undefined && !SUBSET_NAME.test(subset)) {
    throw invalidParameter("subset", subset, "a subset name: a DNS label of at most 63 characters");
  }
  return subset;
}

/**
 * Reads the selection parameters; every bad value is an InvalidParameter naming the parameter.
 * `callerIp` is the client IP when the request gives none (the peer, or X-Forwarded-For when
 * the server trusts proxies).
 */
export function selectOptionsFrom(query: Query, callerIp: string | undefined): SelectOptions {
  const limitText = single(query, "limit");
  let limit = 0;
  if (limitText !== undefined) {
    if (!/^\d{1,9}$/.test(limitText) || Number(limitText) > MAX_LIMIT) {
      throw invalidParameter("limit", limitText, `an integer from 0 to ${MAX_LIMIT} (0 = all)`);
    }
    limit = Number(limitText);
  }
  const healthText = single(query, "health-filter");
  if (healthText !== undefined && healthText !== "true" && healthText !== "false") {
    throw invalidParameter("health-filter", healthText, "true or false");
  }
  const clientIp = single(query, "client-ip");
  if (clientIp !== undefined && isIP(clientIp) === 0) {
    throw invalidParameter("client-ip", clientIp, "an IPv4 or IPv6 address");
  }
  const strategy = single(query, "lb");
  if (strategy === "") throw invalidParameter("lb", strategy, "a strategy name");
  return {
    strategy,
    limit,
    healthFilter: healthText === undefined ? undefined : healthText === "true",
    clientIp: clientIp ?? callerIp,
    sessionKey: text(query, "session-key"),
    clientRegion: text(query, "client-region"),
    clientZone: text(query, "client-zone"),
    clientNode: text(query, "client-node"),
    subset: subsetFrom(query),
  };
}
