import {
  type ConnectionSettings,
  DEFAULT_CONNECTION_TIMEOUT_MS,
  MAX_CONNECTION_TIMEOUT_MS,
  type ResolvedConnectionSettings,
} from "./connection-settings.ts";
import { POLICY_FEATURES } from "./features/index.ts";
import { DEFAULT_REGISTRY, type StrategyRegistry } from "./registry.ts";
import type { LatencySettings, ResolvedLatency } from "./strategies/latency-based/index.ts";
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  isPrime,
  MAX_MAGLEV_TABLE_SIZE,
  type MaglevSettings,
  MIN_MAGLEV_TABLE_SIZE,
  type ResolvedMaglev,
} from "./strategies/maglev/index.ts";
import {
  DEFAULT_MAX_RING_SIZE,
  DEFAULT_MIN_RING_SIZE,
  DEFAULT_VIRTUAL_NODES,
  MAX_BALANCE_FACTOR,
  MAX_VIRTUAL_NODES,
  MIN_BALANCE_FACTOR,
  type ResolvedRingHash,
  type RingHashSettings,
} from "./strategies/ring-hash/index.ts";
import { invalid } from "./strategies/shared/settings-check.ts";

export { HASH_ON_VALUES, type HashOn } from "./hash-on.ts";
export {
  DEFAULT_CONNECTION_TIMEOUT_MS,
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_MAX_RING_SIZE,
  DEFAULT_MIN_RING_SIZE,
  DEFAULT_VIRTUAL_NODES,
  isPrime,
  MAX_BALANCE_FACTOR,
  MAX_CONNECTION_TIMEOUT_MS,
  MAX_MAGLEV_TABLE_SIZE,
  MAX_VIRTUAL_NODES,
  MIN_BALANCE_FACTOR,
  MIN_MAGLEV_TABLE_SIZE,
};

/**
 * The balancing part of a LoadBalancingPolicy, in the engine's units (durations in
 * milliseconds). Every field is optional; resolvePolicy fills in the defaults. The sections are
 * declared by the strategies that own them (see registry.ts); a registry with more strategies
 * adds its sections under their keys.
 */
export interface BalancerPolicy {
  healthFilter?: boolean;
  /** Percent of healthy endpoints below which all endpoints are used; 0 = only when none is healthy. */
  panicThreshold?: number;
  ringHash?: RingHashSettings;
  maglev?: MaglevSettings;
  /** Latency in milliseconds from a client region to an endpoint region. */
  latency?: LatencySettings;
  leastConnections?: ConnectionSettings;
  readonly [section: string]: unknown;
}

export interface ResolvedPolicy {
  readonly healthFilter: boolean;
  readonly panicThreshold: number;
  readonly ringHash: ResolvedRingHash;
  readonly maglev: ResolvedMaglev;
  readonly latency: ResolvedLatency;
  readonly leastConnections: ResolvedConnectionSettings;
  readonly [section: string]: unknown;
}

export const DEFAULT_POLICY: ResolvedPolicy = resolvePolicy(undefined);

/**
 * Fills in defaults and checks every field; throws InvalidPolicy naming the first bad field.
 * `serverDefaults` lie between the policy and the built-in defaults: a field the policy leaves
 * out takes the server's value.
 */
export function resolvePolicy(
  policy: BalancerPolicy | undefined,
  registry: StrategyRegistry = DEFAULT_REGISTRY,
  serverDefaults: BalancerPolicy = {},
): ResolvedPolicy {
  const p = policy ?? {};
  const healthFilter = p.healthFilter ?? serverDefaults.healthFilter ?? true;
  if (typeof healthFilter !== "boolean") invalid("healthFilter", healthFilter, "true or false");
  const panicThreshold = p.panicThreshold ?? serverDefaults.panicThreshold ?? 0;
  if (typeof panicThreshold !== "number" || !(panicThreshold >= 0 && panicThreshold <= 100)) {
    invalid("panicThreshold", panicThreshold, "a number from 0 to 100");
  }
  const resolved: Record<string, unknown> = { healthFilter, panicThreshold };
  for (const section of registry.sections) {
    const raw = p[section.key];
    if (raw !== undefined && (typeof raw !== "object" || raw === null)) {
      invalid(section.key, raw, "a map of settings");
    }
    resolved[section.key] = section.resolve(
      raw as object | undefined,
      serverDefaults[section.key] as object | undefined,
    );
  }
  for (const feature of POLICY_FEATURES) resolved[feature.key] = feature.resolve(p);
  return resolved as ResolvedPolicy;
}
