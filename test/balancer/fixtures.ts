import type { Endpoint } from "../../src/balancer/endpoint.ts";
import { LoadTracker } from "../../src/balancer/loads.ts";
import { type BalancerPolicy, resolvePolicy } from "../../src/balancer/policy.ts";
import { seededRandom } from "../../src/balancer/random.ts";
import { BUILT_IN_STRATEGIES } from "../../src/balancer/registry.ts";
import { latencyFromMap } from "../../src/balancer/strategies/latency-based/tiers.ts";
import type { LatencyTracker } from "../../src/balancer/strategies/least-request/peak-ewma.ts";
import type { CarriedState, Picker, StrategyName } from "../../src/balancer/strategy.ts";

export function endpoint(identity: string, overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    identity,
    address: "10.0.0.1",
    port: 8080,
    ports: { http: 8080 },
    weight: 1,
    zone: null,
    region: null,
    node: null,
    ready: true,
    serving: true,
    terminating: false,
    probeHealthy: null,
    ...overrides,
  };
}

/** n endpoints "ep-000".."ep-(n-1)", optionally weighted by index. */
export function endpoints(n: number, weightOf: (i: number) => number = () => 1): Endpoint[] {
  const width = String(n).length;
  return Array.from({ length: n }, (_, i) =>
    endpoint(`ep-${String(i).padStart(width, "0")}`, {
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      weight: weightOf(i),
    }),
  );
}

export function sortedByIdentity(list: readonly Endpoint[]): Endpoint[] {
  return [...list].sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
}

export interface BuiltPicker {
  picker: Picker;
  loads: LoadTracker;
}

/** Builds a picker straight from a strategy, as the manager would. */
export function build(
  name: StrategyName,
  list: readonly Endpoint[],
  options: {
    policy?: BalancerPolicy;
    carried?: CarriedState;
    seed?: number;
    loads?: LoadTracker;
    latencies?: LatencyTracker;
  } = {},
): BuiltPicker {
  const strategy = BUILT_IN_STRATEGIES.find((s) => s.name === name);
  if (!strategy) throw new Error(`no strategy ${name}`);
  const policy = resolvePolicy(options.policy);
  const loads = options.loads ?? new LoadTracker();
  const picker = strategy.build({
    endpoints: sortedByIdentity(list),
    policy,
    carried: options.carried,
    loads,
    random: seededRandom(options.seed ?? 42),
    latency: latencyFromMap(policy.latency.map),
    latencies: options.latencies,
  });
  return { picker, loads };
}

export function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/**
 * Pearson's chi-square statistic of observed counts against expected probabilities, and the
 * critical value at p = 0.001 by the Wilson-Hilferty approximation.
 */
export function chiSquare(
  observed: number[],
  expected: number[],
): { statistic: number; critical: number } {
  const total = observed.reduce((a, b) => a + b, 0);
  let statistic = 0;
  observed.forEach((o, i) => {
    const e = (expected[i] as number) * total;
    statistic += (o - e) ** 2 / e;
  });
  const k = observed.length - 1;
  const z = 3.09; // upper 0.001 quantile of the standard normal
  const critical = k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
  return { statistic, critical };
}

export function relativeStdDev(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return Math.sqrt(variance) / mean;
}
