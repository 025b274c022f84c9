import type { Endpoint } from "../../endpoint.ts";
import type { RandomSource } from "../../random.ts";
import type { BuildContext, LatencyFunction, Picker, PickRequest } from "../../strategy.ts";
import { AliasTable } from "../shared/alias-table.ts";
import { selectionSize } from "../shared/selection.ts";
import { weightedShuffle } from "../weighted-random/picker.ts";
import { latencyTiers } from "./tiers.ts";

/** Endpoints of equal latency from one client region, with a weighted draw over them. */
interface Tier {
  readonly endpoints: readonly Endpoint[];
  readonly draw: AliasTable;
}

// Client regions come from requests; bound what an unbounded set of strings can make us keep.
const MAX_CACHED_REGIONS = 1024;

function tierOf(endpoints: readonly Endpoint[]): Tier {
  return { endpoints, draw: new AliasTable(endpoints.map((e) => e.weight)) };
}

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
  /** The fallback over all endpoints, built when first needed. */
  private everythingTier: Tier | undefined;
  /** Tiers by client region, nearest first; null when nothing about that region is known. */
  private readonly tiersByRegion = new Map<string, readonly Tier[] | null>();

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.random = context.random;
    this.latency = context.latency;
  }

  private everything(): Tier {
    this.everythingTier ??= tierOf(this.endpoints);
    return this.everythingTier;
  }

  private tiersFor(clientRegion: string | undefined): readonly Tier[] | null {
    if (clientRegion === undefined || clientRegion === "") return null;
    const cached = this.tiersByRegion.get(clientRegion);
    if (cached !== undefined) return cached;
    const tiers = this.buildTiers(clientRegion);
    if (this.tiersByRegion.size < MAX_CACHED_REGIONS) this.tiersByRegion.set(clientRegion, tiers);
    return tiers;
  }

  private buildTiers(clientRegion: string): readonly Tier[] | null {
    const tiers = latencyTiers(this.endpoints, clientRegion, this.latency);
    if (tiers === null) return null;
    const groups: Endpoint[][] = [];
    tiers.forEach((tier, i) => {
      const group = groups[tier] ?? [];
      group.push(this.endpoints[i] as Endpoint);
      groups[tier] = group;
    });
    return groups.map(tierOf);
  }

  pick(request: PickRequest): Endpoint {
    const tier = this.tiersFor(request.clientRegion)?.[0] ?? this.everything();
    return tier.endpoints[tier.draw.draw(this.random)] as Endpoint;
  }

  select(request: PickRequest, limit: number): Endpoint[] {
    const count = selectionSize(this.endpoints.length, limit);
    const tiers = this.tiersFor(request.clientRegion) ?? [this.everything()];
    const result: Endpoint[] = [];
    for (const tier of tiers) {
      if (result.length >= count) break;
      const wanted = Math.min(tier.endpoints.length, count - result.length);
      result.push(...weightedShuffle(tier.endpoints, wanted, this.random));
    }
    return result;
  }

  exportState() {
    return {};
  }

  dispose(): void {}
}
