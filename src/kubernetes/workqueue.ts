/** What a queue reports about itself, for metrics. */
export interface QueueObserver {
  depth(queue: string, depth: number): void;
  reconciled(queue: string, result: "success" | "error", seconds: number): void;
}

export interface WorkQueueOptions {
  readonly name: string;
  /** Keys processed at the same time (never the same key twice at once). */
  readonly concurrency?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /**
   * A key is processed at most once per this many milliseconds; adds in between wait and are
   * merged into one pass (the latest state wins, as always). 0: no spacing.
   */
  readonly minIntervalMs?: number;
  readonly observer?: QueueObserver;
  readonly onError?: (key: string, error: unknown) => void;
}

/**
 * A controller work queue, as controller-runtime has it: keys, not events. A key added while
 * pending is added once; a key added while being processed is processed again afterwards, so
 * the last state always wins; a failed key is retried with exponential backoff until it
 * succeeds or is added again.
 */
export class WorkQueue {
  private readonly name: string;
  private readonly process: (key: string) => void | Promise<void>;
  private readonly concurrency: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly observer: QueueObserver | undefined;
  private readonly onError: ((key: string, error: unknown) => void) | undefined;
  private readonly pending = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly minIntervalMs: number;
  /** When each key was last processed, for minIntervalMs; entries older than that are dropped. */
  private readonly lastRun = new Map<string, number>();
  /** Keys waiting out minIntervalMs. */
  private readonly spacingTimers = new Map<string, NodeJS.Timeout>();
  private scheduled = false;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(process: (key: string) => void | Promise<void>, options: WorkQueueOptions) {
    this.process = process;
    this.name = options.name;
    this.concurrency = options.concurrency ?? 1;
    this.retryInitialMs = options.retryInitialMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 60_000;
    this.minIntervalMs = options.minIntervalMs ?? 0;
    this.observer = options.observer;
    this.onError = options.onError;
  }

  get depth(): number {
    return this.pending.size;
  }

  add(key: string): void {
    if (this.stopped) return;
    const timer = this.retryTimers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.retryTimers.delete(key);
    }
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.spacingTimers.has(key)) return;
    const wait = this.spacingLeft(key);
    if (wait > 0) {
      const spacing = setTimeout(() => {
        this.spacingTimers.delete(key);
        this.add(key);
      }, wait);
      spacing.unref();
      this.spacingTimers.set(key, spacing);
      return;
    }
    this.pending.add(key);
    this.observer?.depth(this.name, this.pending.size);
    this.schedule();
  }

  /**
   * Adds `key` without waiting out minIntervalMs: its last pass did nothing that the spacing
   * protects (as a status write skipped by a replica that was not leading yet).
   */
  addNow(key: string): void {
    this.lastRun.delete(key);
    const spacing = this.spacingTimers.get(key);
    if (spacing) {
      clearTimeout(spacing);
      this.spacingTimers.delete(key);
    }
    this.add(key);
  }

  /** Resolves when nothing is pending or being processed (retries waiting on a timer aside). */
  whenIdle(): Promise<void> {
    if (this.pending.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const timer of [...this.retryTimers.values(), ...this.spacingTimers.values()])
      clearTimeout(timer);
    this.retryTimers.clear();
    this.spacingTimers.clear();
    this.pending.clear();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // One turn of the event loop gathers a burst of events into one pass per key.
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    for (const key of this.pending) {
      if (this.active.size >= this.concurrency) break;
      this.pending.delete(key);
      this.active.add(key);
      void this.run(key);
    }
    this.observer?.depth(this.name, this.pending.size);
    if (this.pending.size === 0 && this.active.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Milliseconds until `key` may be processed again under minIntervalMs. */
  private spacingLeft(key: string): number {
    if (this.minIntervalMs === 0) return 0;
    const now = performance.now();
    // Forget keys whose spacing is over, so the table holds only the last interval's keys.
    for (const [seen, at] of this.lastRun) {
      if (now - at < this.minIntervalMs) break;
      this.lastRun.delete(seen);
    }
    const last = this.lastRun.get(key);
    return last === undefined ? 0 : Math.max(0, last + this.minIntervalMs - now);
  }

  private async run(key: string): Promise<void> {
    if (this.minIntervalMs > 0) {
      // Re-inserted, so the table stays in the order of the runs and is pruned from its front.
      this.lastRun.delete(key);
      this.lastRun.set(key, performance.now());
    }
    const started = process.hrtime.bigint();
    let failed = false;
    try {
      await this.process(key);
      this.failures.delete(key);
    } catch (error) {
      failed = true;
      this.onError?.(key, error);
    }
    this.observer?.reconciled(
      this.name,
      failed ? "error" : "success",
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    this.active.delete(key);
    if (this.dirty.delete(key)) {
      this.add(key);
    } else if (failed && !this.stopped) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delay = Math.min(
        this.retryMaxMs,
        this.retryInitialMs * 2 ** Math.min(failures - 1, 20),
      );
      const timer = setTimeout(() => {
        this.retryTimers.delete(key);
        this.add(key);
      }, delay);
      timer.unref();
      this.retryTimers.set(key, timer);
    }
    // The next key waits for the next turn of the event loop: a burst of reconciles (a sync, a
    // rollout across many Services) would otherwise run back to back in microtasks and hold
    // every answer due meanwhile until the last of them.
    this.schedule();
  }
}
