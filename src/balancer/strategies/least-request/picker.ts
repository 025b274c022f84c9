import type { Endpoint } from "../../endpoint.ts";
import type { LoadView } from "../../loads.ts";
import { type RandomSource, randomIndex } from "../../random.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { AliasTable } from "../shared/alias-table.ts";
import { selectionSize } from "../shared/selection.ts";

/**
 * Power of two choices over in-flight requests (Envoy's least request, choice count 2).
 * Unlike Envoy's independent draws, which can draw one host twice (envoy#11004), the two
 * candidates are always distinct. Candidates are drawn in proportion to weight, so with equal
 * load the traffic split follows the weights; the candidate with fewer in-flight requests per
 * unit of weight wins, ties to the first.
 */
export class LeastRequestPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly view: LoadView;
  private readonly random: RandomSource;
  /** Null when all weights are equal: a uniform draw is then cheaper and exact. */
  private readonly byWeight: AliasTable | null;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.random = context.random;
    this.view = context.loads.view(this.endpoints);
    const first = this.endpoints[0] as Endpoint;
    const uniform = this.endpoints.every((e) => e.weight === first.weight);
    this.byWeight = uniform ? null : new AliasTable(this.endpoints.map((e) => e.weight));
  }

  private draw(): number {
    return this.byWeight
      ? this.byWeight.draw(this.random)
      : randomIndex(this.random, this.endpoints.length);
  }

  /** A second candidate distinct from `first`. */
  private drawOther(first: number): number {
    const n = this.endpoints.length;
    if (this.byWeight) {
      // A heavy endpoint may come up again; a few retries keep the weighting, then take any other.
      for (let attempt = 0; attempt < 4; attempt++) {
        const candidate = this.byWeight.draw(this.random);
        if (candidate !== first) return candidate;
      }
    }
    const other = randomIndex(this.random, n - 1);
    return other >= first ? other + 1 : other;
  }

  pick(): Endpoint {
    if (this.endpoints.length === 1) return this.endpoints[0] as Endpoint;
    const a = this.draw();
    const b = this.drawOther(a);
    const loads = this.view.loads;
    // In-flight requests per unit of weight, so that a heavier endpoint is also allowed more
    // concurrent work; at equal load the first candidate (drawn by weight) wins.
    const endpoints = this.endpoints;
    const loadA = (loads[a] as number) / (endpoints[a] as Endpoint).weight;
    const loadB = (loads[b] as number) / (endpoints[b] as Endpoint).weight;
    return endpoints[loadB < loadA ? b : a] as Endpoint;
  }

  /** The pick, then the rest from least to most in-flight requests. */
  select(_request: unknown, limit: number): Endpoint[] {
    const first = this.pick();
    const loads = this.view.loads;
    const rest: number[] = [];
    for (let i = 0; i < this.endpoints.length; i++) if (this.endpoints[i] !== first) rest.push(i);
    const perWeight = (i: number) => (loads[i] as number) / (this.endpoints[i] as Endpoint).weight;
    rest.sort((a, b) => perWeight(a) - perWeight(b) || a - b);
    const result = [first, ...rest.map((i) => this.endpoints[i] as Endpoint)];
    result.length = selectionSize(result.length, limit);
    return result;
  }

  exportState() {
    return {};
  }

  dispose(): void {
    this.view.close();
  }
}
