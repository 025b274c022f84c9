import { BalancerError } from "../../errors.ts";
import type { HashOn } from "../../policy.ts";
import type { PickRequest } from "../../strategy.ts";

/** "::ffff:10.0.0.1" and "10.0.0.1" are one client. */
export function normalizeClientIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

export function clientIpOf(request: PickRequest, strategy: string): string {
  const ip = request.clientIp;
  if (ip === undefined || ip === "") {
    throw new BalancerError(
      "MissingClientIP",
      `${strategy} hashes the client IP, but the request has none`,
    );
  }
  return normalizeClientIp(ip);
}

/** The key a hash strategy hashes; a missing key is an error, never a silent fallback. */
export function hashKeyOf(request: PickRequest, hashOn: HashOn, strategy: string): string {
  if (hashOn === "client-ip") return clientIpOf(request, strategy);
  const key = request.sessionKey;
  if (key === undefined || key === "") {
    throw new BalancerError(
      "MissingSessionKey",
      `${strategy} hashes on the session key (hashOn: session-key), but the request has none; pass session-key`,
    );
  }
  return key;
}
