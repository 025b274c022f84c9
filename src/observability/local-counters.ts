/**
 * Counters for the DNS hot path. prom-client hashes the label set on every increment, which
 * costs as much as a good part of answering a query; here an increment adds one to a plain
 * number held by a handle made once per label set, and the sums move into prom-client when
 * Prometheus scrapes (Metrics.onScrape), so a scrape sees every query answered before it.
 */
import type { Counter, LabelValues } from "prom-client";
import type { Metrics } from "./metrics.ts";

export interface CountHandle {
  inc(): void;
}

interface Pending {
  readonly counter: Counter<string>;
  readonly labels: LabelValues<string>;
  count: number;
}

export class LocalCounters {
  private readonly pending: Pending[] = [];

  constructor(metrics: Metrics) {
    metrics.onScrape(() => this.flush());
  }

  /** A handle that counts into `counter` under `labels`; keep it rather than asking again. */
  handle<L extends string>(counter: Counter<L>, labels: LabelValues<L>): CountHandle {
    const pending: Pending = { counter: counter as Counter<string>, labels, count: 0 };
    this.pending.push(pending);
    return {
      inc() {
        pending.count++;
      },
    };
  }

  flush(): void {
    for (const pending of this.pending) {
      if (pending.count === 0) continue;
      pending.counter.inc(pending.labels, pending.count);
      pending.count = 0;
    }
  }
}
