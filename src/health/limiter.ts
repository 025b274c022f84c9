type Task = () => Promise<void>;

/**
 * Runs at most `max` tasks at once; the rest wait in arrival order. A waiting task can be
 * withdrawn (its endpoint went away), which is why the queue is an insertion-ordered Set rather
 * than an array: removal is O(1) and leaves nothing behind to skip later.
 */
export class ConcurrencyLimiter {
  private readonly max: number;
  private readonly waiting = new Set<Task>();
  private readonly running = new Set<Promise<void>>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`concurrency limit must be a positive integer, got ${max}`);
    }
    this.max = max;
  }

  get active(): number {
    return this.running.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Starts the task now or queues it. The returned function withdraws it while it waits. */
  submit(task: Task): () => void {
    if (this.running.size < this.max) {
      this.start(task);
      return () => {};
    }
    // Each submission gets its own wrapper so the same function queued twice stays two entries.
    const entry: Task = () => task();
    this.waiting.add(entry);
    return () => {
      this.waiting.delete(entry);
    };
  }

  /** Forgets every waiting task; running ones carry on. */
  clearQueue(): void {
    this.waiting.clear();
  }

  /** Settles once every task running now, and any it lets start, has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running]);
    }
  }

  private start(task: Task): void {
    let run: Promise<void>;
    try {
      run = task();
    } catch (error) {
      run = Promise.reject(error);
    }
    // A task's own failure is its business; the slot must come back either way.
    const tracked = run.then(
      () => {},
      () => {},
    );
    this.running.add(tracked);
    void tracked.then(() => {
      this.running.delete(tracked);
      this.next();
    });
  }

  private next(): void {
    while (this.running.size < this.max) {
      const first = this.waiting.values().next();
      if (first.done) return;
      this.waiting.delete(first.value);
      this.start(first.value);
    }
  }
}
