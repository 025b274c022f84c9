import type { Endpoint } from "../../endpoint.ts";
import type { LoadView } from "../../loads.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { resumePosition } from "../shared/rotation.ts";
import { selectionSize } from "../shared/selection.ts";

/**
 * Fewest open connections per unit of weight (NGINX's least_conn). A min segment tree over
 * connections / weight answers in O(log n); ties rotate from a cursor so that equally loaded
 * endpoints take turns instead of the first one taking everything.
 */
export class LeastConnectionsPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly view: LoadView;
  private readonly leafBase: number;
  /** Minimum of connections / weight over each subtree; padding leaves hold +Infinity. */
  private readonly minimum: Float64Array;
  private cursor: number;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    let base = 1;
    while (base < this.endpoints.length) base *= 2;
    this.leafBase = base;
    this.minimum = new Float64Array(2 * base).fill(Number.POSITIVE_INFINITY);
    this.view = context.loads.view(this.endpoints, (index) => this.update(index));
    for (let i = 0; i < this.endpoints.length; i++) this.minimum[base + i] = this.ratio(i);
    for (let node = base - 1; node >= 1; node--) this.pull(node);
    this.cursor = resumePosition(this.endpoints, context.carried?.cursor);
  }

  private ratio(index: number): number {
    return (this.view.loads[index] as number) / (this.endpoints[index] as Endpoint).weight;
  }

  private pull(node: number): void {
    this.minimum[node] = Math.min(
      this.minimum[2 * node] as number,
      this.minimum[2 * node + 1] as number,
    );
  }

  private update(index: number): void {
    let node = this.leafBase + index;
    this.minimum[node] = this.ratio(index);
    for (node >>= 1; node >= 1; node >>= 1) this.pull(node);
  }

  /** The first index at or after `from` whose ratio equals `target`, or -1. */
  private firstFrom(from: number, target: number): number {
    let node = this.leafBase + from;
    if (this.minimum[node] === target) return from;
    while (node > 1) {
      if ((node & 1) === 0 && this.minimum[node + 1] === target) {
        node += 1;
        while (node < this.leafBase) {
          node = this.minimum[2 * node] === target ? 2 * node : 2 * node + 1;
        }
        return node - this.leafBase;
      }
      node >>= 1;
    }
    return -1;
  }

  pick(): Endpoint {
    const target = this.minimum[1] as number;
    let index = this.firstFrom(this.cursor, target);
    if (index < 0) index = this.firstFrom(0, target);
    this.cursor = index + 1 === this.endpoints.length ? 0 : index + 1;
    return this.endpoints[index] as Endpoint;
  }

  /** The pick, then the rest from least to most loaded, equal loads in rotation order. */
  select(_request: unknown, limit: number): Endpoint[] {
    const n = this.endpoints.length;
    const start = this.cursor;
    const first = this.pick();
    const order: number[] = [];
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      if (this.endpoints[index] !== first) order.push(index);
    }
    order.sort(
      (a, b) => this.ratio(a) - this.ratio(b) || ((a - start + n) % n) - ((b - start + n) % n),
    );
    const result = [first, ...order.map((i) => this.endpoints[i] as Endpoint)];
    result.length = selectionSize(n, limit);
    return result;
  }

  exportState() {
    return { cursor: (this.endpoints[this.cursor] as Endpoint).identity };
  }

  dispose(): void {
    this.view.close();
  }
}
