/**
 * The engine's API: what every other layer imports of it, and nothing else (lint enforces it:
 * see biome.json). The engine imports nothing from Kubernetes, HTTP, DNS or xDS.
 */
export * from "./connection-book.ts";
export * from "./connections.ts";
export { deepEqual } from "./deep-equal.ts";
export * from "./definition.ts";
export * from "./endpoint.ts";
export * from "./errors.ts";
export { POLICY_FEATURES, type PolicyFeature, type SpecRule } from "./features/index.ts";
export {
  type CallerLocality,
  fromTrafficDistribution,
  LOCALITY_MODES,
  type LocalitySettings,
} from "./features/locality/index.ts";
export * from "./features/outlier-detection/index.ts";
export {
  MAX_SLOW_START_WINDOW_MS,
  RAMP_STEPS,
  rampFactor,
  rampingAt,
  type SlowStart,
} from "./features/slow-start/index.ts";
export { MAX_SUBSETS, subsetMembers, subsetNames } from "./features/subsets/index.ts";
export * from "./health.ts";
export * from "./manager.ts";
export * from "./outcome.ts";
export * from "./policy.ts";
export * from "./random.ts";
export * from "./registry.ts";
export * from "./replication.ts";
export { MAX_REGIONS } from "./strategies/latency-based/index.ts";
export { latencyFromMap } from "./strategies/latency-based/tiers.ts";
export * from "./strategies/least-request/settings.ts";
export { normalizeClientIp } from "./strategies/shared/hash-key.ts";
export * from "./strategy.ts";
