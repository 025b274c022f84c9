import type { Endpoint } from "../../endpoint.ts";
import type { RandomSource } from "../../random.ts";
import type { LatencyFunction } from "../../strategy.ts";
import { drawAliasColumn, writeAliasColumns } from "../shared/alias-table.ts";
import { latencyTiers } from "./tiers.ts";

/**
 * The endpoints as one client region sees them: their latency tiers, nearest first, and a
 * weighted draw over the nearest tier.
 *
 * A picker keeps one of these per client region asked about, so they are packed into a single
 * array of numbers (a service's whole picker state stays within 1 KiB at 10 endpoints and two
 * regions; an object, an array and an alias table per tier took three times that):
 *
 *     [tier count T, end of tier 0 .. end of tier T-1,
 *      endpoint index × n (nearest tier first, in endpoint order within a tier),
 *      (keep, alias) × the size of tier 0]
 */
export type NearestFirst = readonly number[];

/** The view from `clientRegion`; null when no latency from it to any endpoint is known. */
export function nearestFirst(
  endpoints: readonly Endpoint[],
  clientRegion: string,
  latency: LatencyFunction,
): NearestFirst | null {
  const tiers = latencyTiers(endpoints, clientRegion, latency);
  if (tiers === null) return null;
  let tierCount = 0;
  let nearestSize = 0;
  for (const tier of tiers) {
    tierCount = Math.max(tierCount, tier + 1);
    if (tier === 0) nearestSize++;
  }
  const orderStart = 1 + tierCount;
  const aliasStart = orderStart + endpoints.length;
  // Allocated at its final size: an array grown by pushes keeps spare room.
  const packed: number[] = new Array(aliasStart + 2 * nearestSize).fill(0);
  packed[0] = tierCount;
  // A counting sort by tier: the ends first, then each endpoint at its tier's next free place.
  for (const tier of tiers) packed[1 + tier] = (packed[1 + tier] as number) + 1;
  for (let t = 1; t < tierCount; t++) {
    packed[1 + t] = (packed[1 + t] as number) + (packed[t] as number);
  }
  const next = Array.from({ length: tierCount }, (_, t) => (t === 0 ? 0 : (packed[t] as number)));
  tiers.forEach((tier, i) => {
    packed[orderStart + (next[tier] as number)] = i;
    next[tier] = (next[tier] as number) + 1;
  });
  const weights = new Float64Array(nearestSize);
  for (let k = 0; k < nearestSize; k++) {
    weights[k] = (endpoints[packed[orderStart + k] as number] as Endpoint).weight;
  }
  writeAliasColumns(weights, packed, aliasStart);
  return packed;
}

/** An endpoint of the nearest tier, drawn by weight. */
export function drawNearest(
  view: NearestFirst,
  endpoints: readonly Endpoint[],
  random: RandomSource,
): Endpoint {
  const orderStart = 1 + (view[0] as number);
  const column = drawAliasColumn(view, orderStart + endpoints.length, view[1] as number, random);
  return endpoints[view[orderStart + column] as number] as Endpoint;
}

/** The endpoints of each tier, nearest tier first. */
export function tiersOf(view: NearestFirst, endpoints: readonly Endpoint[]): Endpoint[][] {
  const tierCount = view[0] as number;
  const orderStart = 1 + tierCount;
  const result: Endpoint[][] = [];
  let start = 0;
  for (let t = 0; t < tierCount; t++) {
    const end = view[1 + t] as number;
    const tier: Endpoint[] = [];
    for (let k = start; k < end; k++)
      tier.push(endpoints[view[orderStart + k] as number] as Endpoint);
    result.push(tier);
    start = end;
  }
  return result;
}
