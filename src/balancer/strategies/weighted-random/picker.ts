import type { Endpoint } from "../../endpoint.ts";
import type { RandomSource } from "../../random.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { AliasTable } from "../shared/alias-table.ts";
import { selectionSize } from "../shared/selection.ts";

/** Weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w), largest first). */
export function weightedShuffle(
  endpoints: readonly Endpoint[],
  count: number,
  random: RandomSource,
): Endpoint[] {
  const keyed = endpoints.map((endpoint) => ({
    endpoint,
    key: Math.log(1 - random.next()) / endpoint.weight,
  }));
  keyed.sort((a, b) => b.key - a.key);
  return keyed.slice(0, count).map((entry) => entry.endpoint);
}

export class WeightedRandomPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly random: RandomSource;
  private readonly table: AliasTable;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.random = context.random;
    this.table = new AliasTable(this.endpoints.map((e) => e.weight));
  }

  pick(): Endpoint {
    return this.endpoints[this.table.draw(this.random)] as Endpoint;
  }

  select(_request: unknown, limit: number): Endpoint[] {
    return weightedShuffle(
      this.endpoints,
      selectionSize(this.endpoints.length, limit),
      this.random,
    );
  }

  exportState() {
    return {};
  }

  dispose(): void {}
}
