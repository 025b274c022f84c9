import type { Endpoint } from "./endpoint.ts";

/**
 * Open connections / in-flight requests per endpoint of one service, by endpoint identity.
 * Counts live here, not in a picker, so they survive every rebuild of the service's pickers;
 * each load-aware picker holds a LoadView that mirrors the counts as an array indexed like its
 * endpoint list, which is what a pick reads.
 */
export class LoadTracker {
  private readonly counts = new Map<string, number>();
  private readonly views = new Set<LoadView>();

  countOf(identity: string): number {
    return this.counts.get(identity) ?? 0;
  }

  /** All non-zero counts, for state export. */
  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  increment(identity: string): void {
    this.counts.set(identity, this.countOf(identity) + 1);
    for (const view of this.views) view.adjust(identity, 1);
  }

  decrement(identity: string): void {
    const count = this.countOf(identity);
    if (count <= 0) return;
    if (count === 1) this.counts.delete(identity);
    else this.counts.set(identity, count - 1);
    for (const view of this.views) view.adjust(identity, -1);
  }

  /**
   * A live view of the counts over `endpoints` (sorted by identity); `onChange(index)` runs
   * after each change.
   */
  view(endpoints: readonly Endpoint[], onChange?: (index: number) => void): LoadView {
    const view = new LoadView(this, endpoints, onChange);
    this.views.add(view);
    return view;
  }

  /** @internal */
  release(view: LoadView): void {
    this.views.delete(view);
  }
}

export class LoadView {
  readonly loads: Int32Array;
  total = 0;
  // Sorted by identity (as every picker's list is), so a binary search finds an endpoint's
  // index: no identity-to-index map per view, which cost more memory than the loads themselves.
  private readonly endpoints: readonly Endpoint[];
  private readonly tracker: LoadTracker;
  private readonly onChange: ((index: number) => void) | undefined;

  constructor(
    tracker: LoadTracker,
    endpoints: readonly Endpoint[],
    onChange: ((index: number) => void) | undefined,
  ) {
    this.tracker = tracker;
    this.endpoints = endpoints;
    this.onChange = onChange;
    this.loads = new Int32Array(endpoints.length);
    for (let index = 0; index < endpoints.length; index++) {
      const count = tracker.countOf((endpoints[index] as Endpoint).identity);
      this.loads[index] = count;
      this.total += count;
    }
  }

  private indexOf(identity: string): number {
    let low = 0;
    let high = this.endpoints.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const candidate = (this.endpoints[mid] as Endpoint).identity;
      if (candidate === identity) return mid;
      if (candidate < identity) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** @internal */
  adjust(identity: string, delta: number): void {
    const index = this.indexOf(identity);
    if (index < 0) return;
    this.loads[index] = (this.loads[index] as number) + delta;
    this.total += delta;
    this.onChange?.(index);
  }

  close(): void {
    this.tracker.release(this);
  }
}
