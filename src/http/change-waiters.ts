/**
 * Requests waiting for the catalog to change, for blocking queries. A waiter sleeps until the
 * service it watches changes (or, for the catalog as a whole, any service), its deadline
 * passes, or the server shuts down. Waking costs nothing while nothing happens: changes arrive
 * through the catalog's change listener and wake exactly the waiters of the changed services,
 * and all deadlines share one timer, armed for the earliest of them (a binary heap keeps them
 * in order), instead of one timer per request.
 */
import type { Catalog } from "../catalog/catalog.ts";

export type WaitOutcome = "changed" | "timeout" | "closed" | "cancelled";

export interface Wait {
  readonly outcome: Promise<WaitOutcome>;
  /** Stops waiting (the client went away): the outcome settles with "cancelled". */
  cancel(): void;
}

export interface ChangeWaitersOptions {
  /** Milliseconds on a monotonic clock; injectable for tests. */
  readonly now?: () => number;
  /** Told the number of waiters whenever it changes (a metrics gauge). */
  readonly onCount?: (count: number) => void;
  /** The most requests waiting at once (each holds a socket and its buffers). */
  readonly limit?: number;
}

/** About 9 KiB of heap each while they wait (test/http/blocking-crowd.test.ts): ~90 MiB. */
export const DEFAULT_MAX_WAITERS = 10_000;

interface Waiter {
  /** The service key watched, or null for any change. */
  readonly key: string | null;
  readonly deadline: number;
  /** Position in the deadline heap; -1 once the waiter is done. */
  slot: number;
  settle(outcome: WaitOutcome): void;
}

const ANY_CHANGE = Symbol("any change");
/** Waiters settled before the event loop gets a turn (see settleInBatches). */
const SETTLE_BATCH = 64;

export class ChangeWaiters {
  private readonly now: () => number;
  private readonly onCount: ((count: number) => void) | undefined;
  readonly limit: number;
  private readonly byKey = new Map<string | typeof ANY_CHANGE, Set<Waiter>>();
  /** Waiters by deadline, earliest at 0. */
  private readonly heap: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = Number.POSITIVE_INFINITY;
  private closed = false;
  private readonly stopListening: () => void;

  constructor(catalog: Catalog, options: ChangeWaitersOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.onCount = options.onCount;
    this.limit = options.limit ?? DEFAULT_MAX_WAITERS;
    this.stopListening = catalog.onChange((keys) => this.changed(keys));
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** Whether another wait would exceed the limit: the caller answers at once instead. */
  get full(): boolean {
    return this.heap.length >= this.limit;
  }

  /**
   * Waits for a change to the service `key` ("namespace/name"), or to any service when `key` is
   * null, for at most `timeoutMs`. After close() every wait ends at once with "closed".
   */
  wait(key: string | null, timeoutMs: number): Wait {
    if (this.closed) return { outcome: Promise.resolve("closed"), cancel: () => {} };
    let settle!: (outcome: WaitOutcome) => void;
    const outcome = new Promise<WaitOutcome>((resolve) => {
      settle = resolve;
    });
    const waiter: Waiter = {
      key,
      deadline: this.now() + Math.max(0, timeoutMs),
      slot: -1,
      settle,
    };
    this.add(waiter);
    return { outcome, cancel: () => this.finish(waiter, "cancelled") };
  }

  /** Ends every wait with "closed" (server shutdown) and stops listening to the catalog. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    const waiting = [...this.heap];
    this.removeMany(waiting);
    this.disarm();
    if (waiting.length > 0) this.onCount?.(0);
    for (const waiter of waiting) waiter.settle("closed");
  }

  private changed(keys: readonly string[]): void {
    const woken: Waiter[] = [];
    for (const key of [...keys, ANY_CHANGE] as const) {
      const waiters = this.byKey.get(key);
      if (waiters !== undefined) woken.push(...waiters);
    }
    if (woken.length === 0) return;
    this.removeMany(woken);
    this.onCount?.(this.heap.length);
    this.arm();
    this.settleInBatches(woken, "changed");
  }

  /**
   * Settles waiters a batch at a time, yielding to the event loop in between. Each settled
   * waiter's request goes on to write its answer, and Node flushes those writes only once the
   * current run of callbacks ends: settling thousands at once would hold every answer, the
   * first included, until the last was written, and stall other requests meanwhile.
   */
  private settleInBatches(waiters: readonly Waiter[], outcome: WaitOutcome, from = 0): void {
    const to = Math.min(from + SETTLE_BATCH, waiters.length);
    for (let i = from; i < to; i++) (waiters[i] as Waiter).settle(outcome);
    if (to < waiters.length) setImmediate(() => this.settleInBatches(waiters, outcome, to));
  }

  private add(waiter: Waiter): void {
    const key = waiter.key ?? ANY_CHANGE;
    let waiters = this.byKey.get(key);
    if (waiters === undefined) {
      waiters = new Set();
      this.byKey.set(key, waiters);
    }
    waiters.add(waiter);
    waiter.slot = this.heap.length;
    this.heap.push(waiter);
    this.siftUp(waiter.slot);
    this.onCount?.(this.heap.length);
    if (waiter.deadline < this.timerDeadline) this.arm();
  }

  private finish(waiter: Waiter, outcome: WaitOutcome): void {
    if (!this.remove(waiter)) return;
    this.onCount?.(this.heap.length);
    waiter.settle(outcome);
  }

  /** Takes a waiter out of the sets and the heap; false when it was already out. */
  private remove(waiter: Waiter): boolean {
    if (waiter.slot < 0) return false;
    this.unlist(waiter);
    const slot = waiter.slot;
    const last = this.heap.pop() as Waiter;
    waiter.slot = -1;
    if (last !== waiter) {
      this.heap[slot] = last;
      last.slot = slot;
      this.siftDown(slot);
      this.siftUp(last.slot);
    }
    return true;
  }

  private unlist(waiter: Waiter): void {
    const key = waiter.key ?? ANY_CHANGE;
    const waiters = this.byKey.get(key);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.byKey.delete(key);
  }

  /**
   * Takes many waiters out at once. When they are a good part of the heap (a change to a
   * service everyone watches), the heap is compacted and rebuilt in O(n) rather than paying
   * O(log n) for each.
   */
  private removeMany(waiters: readonly Waiter[]): void {
    const heap = this.heap;
    if (waiters.length * 4 < heap.length) {
      for (const waiter of waiters) this.remove(waiter);
      return;
    }
    for (const waiter of waiters) {
      if (waiter.slot < 0) continue;
      this.unlist(waiter);
      waiter.slot = -1;
    }
    let kept = 0;
    for (const waiter of heap) {
      if (waiter.slot < 0) continue;
      waiter.slot = kept;
      heap[kept++] = waiter;
    }
    heap.length = kept;
    for (let i = (kept >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Sets the one timer for the earliest deadline, or clears it when nobody waits. */
  private arm(): void {
    const first = this.heap[0];
    if (first === undefined) {
      this.disarm();
      return;
    }
    if (first.deadline === this.timerDeadline && this.timer !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDeadline = first.deadline;
    this.timer = setTimeout(
      () => this.expire(),
      Math.max(0, Math.ceil(first.deadline - this.now())),
    );
    // Waiting requests hold the HTTP server open; the timer alone should not hold the process.
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerDeadline = Number.POSITIVE_INFINITY;
  }

  private expire(): void {
    this.timer = null;
    this.timerDeadline = Number.POSITIVE_INFINITY;
    const now = this.now();
    const expired: Waiter[] = [];
    for (let first = this.heap[0]; first !== undefined && first.deadline <= now; ) {
      this.remove(first);
      expired.push(first);
      first = this.heap[0];
    }
    if (expired.length > 0) this.onCount?.(this.heap.length);
    this.arm();
    this.settleInBatches(expired, "timeout");
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    let i = start;
    const item = heap[i] as Waiter;
    while (i > 0) {
      const parentSlot = (i - 1) >> 1;
      const parent = heap[parentSlot] as Waiter;
      if (parent.deadline <= item.deadline) break;
      heap[i] = parent;
      parent.slot = i;
      i = parentSlot;
    }
    heap[i] = item;
    item.slot = i;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    let i = start;
    const item = heap[i] as Waiter;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child =
        right < n && (heap[right] as Waiter).deadline < (heap[left] as Waiter).deadline
          ? right
          : left;
      const smaller = heap[child] as Waiter;
      if (smaller.deadline >= item.deadline) break;
      heap[i] = smaller;
      smaller.slot = i;
      i = child;
    }
    heap[i] = item;
    item.slot = i;
  }
}
