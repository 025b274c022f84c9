import type { Endpoint } from "../../endpoint.ts";
import type { RandomSource } from "../../random.ts";
import type { BuildContext, LatencyFunction, Picker, PickRequest } from "../../strategy.ts";
import { AliasTable } from "../shared/alias-table.ts";
import { selectionSize } from "../shared/selection.ts";
import { weightedShuffle } from "../weighted-random/picker.ts";
import { drawNearest, type NearestFirst, nearestFirst, tiersOf } from "./nearest-first.ts";

// Client regions come from requests; bound what an unbounded set of strings can make us keep.
const MAX_CACHED_REGIONS = 1024;

/**
 * Nearest region first: the endpoints of the lowest-latency region (by the latency map or a
 * pluggable function) take the traffic, weighted; farther tiers follow in `select` as fallbacks.
 * When the client's region, or every endpoint's, has no known latency, it falls back to a
 * weighted random choice over all endpoints.
 */
export class LatencyBasedPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly random: RandomSource;
  private readonly latency: LatencyFunction;
  /** The weighted draw over all endpoints, built when first needed. */
  private everythingDraw: AliasTable | undefined;
  /** The view from each client region asked about; null when nothing about that region is known. */
  private readonly byRegion = new Map<string, NearestFirst | null>();

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.random = context.random;
    this.latency = context.latency;
  }

  private viewFrom(clientRegion: string | undefined): NearestFirst | null {
    if (clientRegion === undefined || clientRegion === "") return null;
    const cached = this.byRegion.get(clientRegion);
    if (cached !== undefined) return cached;
    const view = nearestFirst(this.endpoints, clientRegion, this.latency);
    if (this.byRegion.size < MAX_CACHED_REGIONS) this.byRegion.set(clientRegion, view);
    return view;
  }

  pick(request: PickRequest): Endpoint {
    const view = this.viewFrom(request.clientRegion);
    if (view !== null) return drawNearest(view, this.endpoints, this.random);
    this.everythingDraw ??= new AliasTable(this.endpoints.map((e) => e.weight));
    return this.endpoints[this.everythingDraw.draw(this.random)] as Endpoint;
  }

  select(request: PickRequest, limit: number): Endpoint[] {
    const count = selectionSize(this.endpoints.length, limit);
    const view = this.viewFrom(request.clientRegion);
    const tiers = view === null ? [this.endpoints] : tiersOf(view, this.endpoints);
    const result: Endpoint[] = [];
    for (const tier of tiers) {
      if (result.length >= count) break;
      const wanted = Math.min(tier.length, count - result.length);
      result.push(...weightedShuffle(tier, wanted, this.random));
    }
    return result;
  }

  exportState() {
    return {};
  }

  dispose(): void {}
}
