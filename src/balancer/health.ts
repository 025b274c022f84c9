import { type Endpoint, isHealthy } from "./endpoint.ts";

export interface HealthFiltered {
  /** The endpoints to balance over. */
  readonly endpoints: readonly Endpoint[];
  /** How many endpoints the filter took out (0 in panic: then none is taken out). */
  readonly excluded: number;
  /** True when too few endpoints were healthy and all of them are used instead. */
  readonly panic: boolean;
  readonly healthy: number;
}

/**
 * Drops unhealthy and terminating endpoints. When fewer than `panicThresholdPercent` of them
 * remain healthy — or none at all, the default — it uses every endpoint instead, as Envoy's
 * panic threshold does: sending to possibly-sick endpoints beats overloading the few left.
 */
export function filterHealthy(
  endpoints: readonly Endpoint[],
  enabled: boolean,
  panicThresholdPercent: number,
): HealthFiltered {
  if (!enabled) return { endpoints, excluded: 0, panic: false, healthy: endpoints.length };
  const healthy = endpoints.filter(isHealthy);
  const tooFew =
    healthy.length === 0 || healthy.length * 100 < panicThresholdPercent * endpoints.length;
  if (tooFew && endpoints.length > 0) {
    return { endpoints, excluded: 0, panic: true, healthy: healthy.length };
  }
  return {
    endpoints: healthy.length === endpoints.length ? endpoints : healthy,
    excluded: endpoints.length - healthy.length,
    panic: false,
    healthy: healthy.length,
  };
}
