import { ipHash } from "./strategies/ip-hash.ts";
import { latencyBased } from "./strategies/latency-based.ts";
import { leastConnections } from "./strategies/least-connections.ts";
import { leastRequest } from "./strategies/least-request.ts";
import { maglev } from "./strategies/maglev.ts";
import { random } from "./strategies/random.ts";
import { ringHash } from "./strategies/ring-hash.ts";
import { roundRobin } from "./strategies/round-robin.ts";
import { weightedRandom } from "./strategies/weighted-random.ts";
import { weightedRoundRobin } from "./strategies/weighted-round-robin.ts";
import type { Strategy } from "./strategy.ts";

/** Every strategy the project ships, in the order of STRATEGY_NAMES. */
export const BUILT_IN_STRATEGIES: readonly Strategy[] = [
  roundRobin,
  weightedRoundRobin,
  random,
  weightedRandom,
  leastConnections,
  leastRequest,
  ipHash,
  ringHash,
  maglev,
  latencyBased,
];
