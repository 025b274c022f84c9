/**
 * Group commit for the leader's state writes: callers that need a change to be durable wait for
 * the first write that starts after they asked; whoever asks while a write is in flight shares
 * the next one. So a burst of N changes costs one or two ConfigMap writes, not N, and each caller
 * waits at most for the write in flight plus its own.
 */

export interface GroupCommitOptions {
  /** One write of everything changed so far; rejects (or resolves false) when it did not land. */
  readonly write: () => Promise<boolean>;
  /** Waiters beyond this are refused at once: each is a request held open. */
  readonly maxWaiters: number;
  /** A waiter whose write has not landed by then is answered with a timeout. */
  readonly timeoutMs: number;
}

export type CommitRefusal = "not-leader" | "overloaded" | "timeout" | "failed";

export class CommitRefusedError extends Error {
  readonly reason: CommitRefusal;

  constructor(reason: CommitRefusal, message: string) {
    super(message);
    this.name = "CommitRefusedError";
    this.reason = reason;
  }
}

interface Waiter {
  resolve(): void;
  reject(error: CommitRefusedError): void;
  timer: NodeJS.Timeout;
}

export class GroupCommit {
  private readonly options: GroupCommitOptions;
  /** Waiting for the next write (the one that starts after they asked). */
  private next: Waiter[] = [];
  private inFlight = false;
  private stopped = false;

  constructor(options: GroupCommitOptions) {
    this.options = options;
  }

  /** How many callers wait now. */
  get waiting(): number {
    return this.next.length;
  }

  /** Resolves once a write that started after this call has landed. */
  durable(): Promise<void> {
    if (this.stopped) {
      return Promise.reject(new CommitRefusedError("not-leader", "this replica stopped writing"));
    }
    if (this.next.length >= this.options.maxWaiters) {
      return Promise.reject(
        new CommitRefusedError(
          "overloaded",
          `${this.next.length} changes already wait for the state write (limit ${this.options.maxWaiters})`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.next = this.next.filter((w) => w !== waiter);
          reject(
            new CommitRefusedError(
              "timeout",
              `the state write did not land within ${this.options.timeoutMs} ms`,
            ),
          );
        }, this.options.timeoutMs),
      };
      this.next.push(waiter);
      if (!this.inFlight) void this.flush();
    });
  }

  /** Refuses every waiter: leadership ended, nothing this replica writes counts any more. */
  stop(): void {
    this.stopped = true;
    this.settle(this.take(), new CommitRefusedError("not-leader", "leadership ended"));
  }

  /** Accepts waiters again (a new term). */
  start(): void {
    this.stopped = false;
  }

  private take(): Waiter[] {
    const batch = this.next;
    this.next = [];
    return batch;
  }

  /** A waiter that timed out meanwhile has been answered already; settling it again is a no-op. */
  private settle(batch: readonly Waiter[], error: CommitRefusedError | null): void {
    for (const waiter of batch) {
      clearTimeout(waiter.timer);
      if (error === null) waiter.resolve();
      else waiter.reject(error);
    }
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.next.length > 0 && !this.stopped) {
        const batch = this.take();
        let landed = false;
        let cause: unknown;
        try {
          landed = await this.options.write();
        } catch (error) {
          cause = error;
        }
        this.settle(
          batch,
          landed
            ? null
            : new CommitRefusedError(
                "failed",
                `the state write did not land${cause instanceof Error ? `: ${cause.message}` : ""}`,
              ),
        );
      }
    } finally {
      this.inFlight = false;
    }
  }
}
