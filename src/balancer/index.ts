/**
 * The engine's API: what every other layer imports of it, and nothing else (lint enforces it:
 * see biome.json). The engine imports nothing from Kubernetes, HTTP, DNS or xDS.
 */
export * from "./connection-book.ts";
export * from "./connections.ts";
export * from "./definition.ts";
export * from "./endpoint.ts";
export * from "./errors.ts";
export * from "./features/index.ts";
export * from "./features/outlier-detection/index.ts";
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
export * from "./strategy.ts";
