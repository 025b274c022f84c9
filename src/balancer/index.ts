/** The balancing core: strategies, pickers and the manager. Imports nothing from Kubernetes, HTTP or DNS. */
export * from "./definition.ts";
export * from "./endpoint.ts";
export * from "./errors.ts";
export * from "./health.ts";
export * from "./manager.ts";
export * from "./policy.ts";
export * from "./random.ts";
export {
  BUILT_IN_STRATEGIES,
  DEFAULT_REGISTRY,
  defaultRegistry,
  StrategyRegistry,
} from "./registry.ts";
export { latencyFromMap } from "./strategies/latency-based/tiers.ts";
export * from "./strategy.ts";
