/**
 * How each strategy's decision is written as DNS records: the TTL, and the SRV priority and
 * weight. A Record over every strategy name, so a new strategy cannot be added without deciding.
 */
import type { Endpoint } from "../balancer/endpoint.ts";
import { latencyFromMap } from "../balancer/strategies/latency-based.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import { scaleSrvWeights } from "./srv-weight.ts";

interface StrategyRecords {
  /**
   * The answer changes from query to query (a rotation, a draw, the current loads): TTL 0, or
   * every client behind a caching resolver would get the same endpoint for the whole TTL.
   */
  readonly rotating: boolean;
  /**
   * SRV priorities: "rank" (0, 1, 2... in the strategy's order, so a client takes the server's
   * choice first and the rest as fallbacks), "shared" (all 0: the client draws by weight, as the
   * strategy would) or "latency" (the latency tier from the client's region, nearest 0).
   */
  readonly priority: "rank" | "shared" | "latency";
  /** Whether the strategy honours endpoint weights; SRV weights are all equal when it does not. */
  readonly weighted: boolean;
}

const RECORDS: Readonly<Record<StrategyName, StrategyRecords>> = {
  "round-robin": { rotating: true, priority: "rank", weighted: false },
  "weighted-round-robin": { rotating: true, priority: "rank", weighted: true },
  random: { rotating: true, priority: "shared", weighted: false },
  "weighted-random": { rotating: true, priority: "shared", weighted: true },
  "least-connections": { rotating: true, priority: "rank", weighted: true },
  "least-request": { rotating: true, priority: "rank", weighted: true },
  "ip-hash": { rotating: false, priority: "rank", weighted: true },
  "ring-hash": { rotating: false, priority: "rank", weighted: true },
  maglev: { rotating: false, priority: "rank", weighted: true },
  "latency-based": { rotating: false, priority: "latency", weighted: true },
};

/** The TTL of an answer decided by `strategy`, given the configured TTL for stable answers. */
export function answerTtl(strategy: StrategyName, stableTtl: number): number {
  return RECORDS[strategy].rotating ? 0 : stableTtl;
}

export interface SrvRank {
  readonly priority: number;
  readonly weight: number;
}

/**
 * SRV priority and weight of each selected endpoint, in the selection's order, the weights
 * scaled to the SRV range (see srv-weight.ts).
 */
export function srvRanks(
  strategy: StrategyName,
  endpoints: readonly Endpoint[],
  latencyMap: Readonly<Record<string, Readonly<Record<string, number>>>>,
  clientRegion: string | undefined,
): SrvRank[] {
  return scaleSrvWeights(endpointRanks(strategy, endpoints, latencyMap, clientRegion));
}

/**
 * Priority and endpoint weight of each selected endpoint. `latencyMap` and `clientRegion` serve
 * latency-based: its tiers are recomputed from the same map the strategy ordered them by, so
 * equal latency means equal priority.
 */
function endpointRanks(
  strategy: StrategyName,
  endpoints: readonly Endpoint[],
  latencyMap: Readonly<Record<string, Readonly<Record<string, number>>>>,
  clientRegion: string | undefined,
): SrvRank[] {
  const records = RECORDS[strategy];
  const weightOf = (endpoint: Endpoint) => (records.weighted ? endpoint.weight : 1);
  switch (records.priority) {
    case "rank":
      return endpoints.map((endpoint, i) => ({ priority: i, weight: weightOf(endpoint) }));
    case "shared":
      return endpoints.map((endpoint) => ({ priority: 0, weight: weightOf(endpoint) }));
    case "latency": {
      const latency = latencyFromMap(latencyMap);
      const ms = endpoints.map((endpoint) => {
        const known =
          clientRegion === undefined || endpoint.region === null
            ? undefined
            : latency(clientRegion, endpoint.region);
        return known === undefined ? Number.POSITIVE_INFINITY : known;
      });
      const tiers = [...new Set(ms)].sort((a, b) => a - b);
      // Nothing known about the client's region: one tier, as the strategy then draws from all.
      const anyKnown = tiers.some(Number.isFinite);
      return endpoints.map((endpoint, i) => ({
        priority: anyKnown ? tiers.indexOf(ms[i] as number) : 0,
        weight: weightOf(endpoint),
      }));
    }
  }
}

/**
 * Whether the answer depends on the client's address, for the client subnet scope: ip-hash
 * always; ring-hash and Maglev when they hash the client IP, which a plain name without a hash
 * label makes them do (see responder.ts).
 */
export function dependsOnClientAddress(
  strategy: StrategyName,
  hashOnClientIp: boolean,
  hasSessionKey: boolean,
): boolean {
  if (strategy === "ip-hash") return true;
  if (strategy === "ring-hash" || strategy === "maglev") return hashOnClientIp || !hasSessionKey;
  return false;
}
