import type { Endpoint } from "../../endpoint.ts";
import type { LoadView } from "../../loads.ts";
import { type RandomSource, randomIndex } from "../../random.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { AliasTable } from "../shared/alias-table.ts";
import { selectionSize } from "../shared/selection.ts";
import { decayed, type Estimate, LatencyTracker } from "./peak-ewma.ts";
import type { ResolvedLeastRequest } from "./settings.ts";

/**
 * Power of two choices over in-flight requests (Envoy's least request, choice count 2).
 * Unlike Envoy's independent draws, which can draw one host twice (envoy#11004), the two
 * candidates are always distinct. Candidates are drawn in proportion to weight, so with equal
 * load the traffic split follows the weights; the candidate with fewer in-flight requests per
 * unit of weight wins, ties to the first.
 *
 * With `cost: peak-ewma` a candidate's cost is its peak-EWMA latency times (in-flight + 1), per
 * unit of weight (Finagle's and Linkerd's P2C over peak EWMA): a slow endpoint gets less until
 * its estimate decays. At equal cost (no latency known for either) in-flight decides.
 */
export class LeastRequestPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly view: LoadView;
  private readonly random: RandomSource;
  /** Null when all weights are equal: a uniform draw is then cheaper and exact. */
  private readonly byWeight: AliasTable | null;
  /** Null for cost in-flight. */
  private readonly latencies: LatencyTracker | null;
  /** Each endpoint's latency estimate, indexed like `endpoints` (cost peak-ewma). */
  private readonly estimates: readonly Estimate[];
  private readonly decayMs: number;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    const settings = context.policy.leastRequest as ResolvedLeastRequest | undefined;
    this.latencies =
      settings?.cost === "peak-ewma" ? (context.latencies ?? new LatencyTracker(Date.now)) : null;
    this.decayMs = settings?.decayMs ?? 1;
    const latencies = this.latencies;
    this.estimates =
      latencies === null ? [] : this.endpoints.map((endpoint) => latencies.slot(endpoint.identity));
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
    if (this.latencies !== null) {
      const now = this.latencies.clock();
      const costA = this.latencyCost(a, now);
      const costB = this.latencyCost(b, now);
      if (costA !== costB) return endpoints[costB < costA ? b : a] as Endpoint;
    }
    return endpoints[loadB < loadA ? b : a] as Endpoint;
  }

  /** Peak-EWMA latency times (in-flight + 1), per unit of weight. */
  private latencyCost(index: number, now: number): number {
    const latency = decayed(this.estimates[index] as Estimate, this.decayMs, now);
    return (
      (latency * ((this.view.loads[index] as number) + 1)) /
      (this.endpoints[index] as Endpoint).weight
    );
  }

  /** The pick, then the rest from least to most cost (in-flight requests, or peak-EWMA cost). */
  select(_request: unknown, limit: number): Endpoint[] {
    const first = this.pick();
    const loads = this.view.loads;
    const rest: number[] = [];
    for (let i = 0; i < this.endpoints.length; i++) if (this.endpoints[i] !== first) rest.push(i);
    const perWeight = (i: number) => (loads[i] as number) / (this.endpoints[i] as Endpoint).weight;
    if (this.latencies !== null) {
      const now = this.latencies.clock();
      const costs = new Map(rest.map((i) => [i, this.latencyCost(i, now)]));
      rest.sort(
        (a, b) =>
          (costs.get(a) as number) - (costs.get(b) as number) ||
          perWeight(a) - perWeight(b) ||
          a - b,
      );
    } else {
      rest.sort((a, b) => perWeight(a) - perWeight(b) || a - b);
    }
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
