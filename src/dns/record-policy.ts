/**
 * How a strategy's decision is written as DNS records: the TTL, the SRV priority and weight, and
 * the client subnet scope. Read from the strategy's traits (src/balancer/definition.ts), so a
 * new strategy brings its DNS rules with it.
 */
import type {
  Endpoint,
  PickRequest,
  ResolvedPolicy,
  StrategyDefinition,
} from "../balancer/index.ts";
import { scaleSrvWeights } from "./srv-weight.ts";

/**
 * The TTL of an answer decided by `strategy`, given the configured TTL for stable answers: 0 for
 * answers that change from query to query, or every client behind a caching resolver would get
 * the same endpoint for the whole TTL.
 */
export function answerTtl(strategy: StrategyDefinition, stableTtl: number): number {
  return strategy.traits.variesPerRequest ? 0 : stableTtl;
}

export interface SrvRank {
  readonly priority: number;
  readonly weight: number;
}

/**
 * SRV priority and weight of each selected endpoint, in the selection's order, the weights
 * scaled to the SRV range (see srv-weight.ts). Tiers come from
 * the strategy's own ranking over the same policy it decided with, so equal tiers mean equal
 * priority.
 */
export function srvRanks(
  strategy: StrategyDefinition,
  endpoints: readonly Endpoint[],
  policy: ResolvedPolicy,
  request: PickRequest,
): SrvRank[] {
  return scaleSrvWeights(endpointRanks(strategy, endpoints, policy, request));
}

/** Priority and endpoint weight of each selected endpoint, before scaling. */
function endpointRanks(
  strategy: StrategyDefinition,
  endpoints: readonly Endpoint[],
  policy: ResolvedPolicy,
  request: PickRequest,
): SrvRank[] {
  const { traits } = strategy;
  const weightOf = (endpoint: Endpoint) => (traits.weighted ? endpoint.weight : 1);
  switch (traits.srvPriority) {
    case "rank":
      return endpoints.map((endpoint, i) => ({ priority: i, weight: weightOf(endpoint) }));
    case "shared":
      return endpoints.map((endpoint) => ({ priority: 0, weight: weightOf(endpoint) }));
    case "tiers": {
      // Nothing known about the client's region: one tier, as the strategy then draws from all.
      const tiers = strategy.rank?.(endpoints, request, policy) ?? null;
      return endpoints.map((endpoint, i) => ({
        priority: tiers === null ? 0 : (tiers[i] as number),
        weight: weightOf(endpoint),
      }));
    }
  }
}

/**
 * Whether the answer depends on the client's address, for the client subnet scope: when the
 * policy has a locality (the address places the caller), when the strategy hashes the client IP, or hashes a session key and the name carries none (a plain
 * name then hashes the client IP, see responder.ts).
 */
export function dependsOnClientAddress(
  strategy: StrategyDefinition,
  policy: ResolvedPolicy,
  hasSessionKey: boolean,
): boolean {
  // A locality places the caller by its address.
  if (policy.locality !== null && policy.locality !== undefined) return true;
  const hashOn = strategy.traits.hashesOn(policy);
  if (hashOn === null) return false;
  return hashOn === "client-ip" || !hasSessionKey;
}
