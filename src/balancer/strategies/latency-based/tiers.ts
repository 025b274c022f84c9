import type { Endpoint } from "../../endpoint.ts";
import type { LatencyFunction } from "../../strategy.ts";

/**
 * Latency tiers of `endpoints` seen from `clientRegion`: each endpoint's tier, 0 for the lowest
 * known latency, equal latencies sharing a tier, endpoints of unknown latency in the last tier.
 * Null when no latency from that region to any of them is known: then they are all alike.
 * The one place tiers are computed: the picker's order, SRV priorities and the simulator's
 * expectations all come from here.
 */
export function latencyTiers(
  endpoints: readonly Endpoint[],
  clientRegion: string | undefined,
  latency: LatencyFunction,
): number[] | null {
  if (clientRegion === undefined || clientRegion === "") return null;
  const ms: number[] = new Array(endpoints.length);
  let anyKnown = false;
  for (let i = 0; i < endpoints.length; i++) {
    const region = (endpoints[i] as Endpoint).region;
    const value = region === null ? undefined : latency(clientRegion, region);
    const known = value !== undefined && Number.isFinite(value) && value >= 0;
    anyKnown ||= known;
    ms[i] = known ? value : Number.POSITIVE_INFINITY;
  }
  if (!anyKnown) return null;
  const distinct = [...new Set(ms)].sort((a, b) => a - b);
  const tierOf = new Map(distinct.map((value, tier) => [value, tier]));
  return ms.map((value) => tierOf.get(value) as number);
}

/** The latency function of a latency map {fromRegion: {toRegion: milliseconds}}. */
export function latencyFromMap(
  map: Readonly<Record<string, Readonly<Record<string, number>>>>,
): LatencyFunction {
  return (from, to) =>
    Object.hasOwn(map, from) && Object.hasOwn(map[from] ?? {}, to) ? map[from]?.[to] : undefined;
}
