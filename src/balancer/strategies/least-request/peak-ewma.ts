/**
 * Peak-EWMA latency per endpoint, as Finagle and Linkerd (tower's PeakEwma) keep it: a sample
 * above the estimate replaces it at once (the peak), a lower one is blended in with weight
 * 1 - e^(-elapsed/decay), and a read decays the estimate towards zero by the time since the
 * last sample, so an endpoint that has not been heard of lately is tried again. Kept per Service
 * by endpoint identity (only current endpoints: `retain` drops the rest), so it outlives picker
 * rebuilds like the in-flight counts do.
 */

/**
 * One endpoint's estimate. Pickers hold these objects, indexed like their endpoint list, so a
 * pick reads them without a lookup by identity; `observe` updates them in place.
 */
export interface Estimate {
  value: number;
  /** When `value` was last set; -Infinity while never measured (the estimate is then 0). */
  at: number;
}

export class LatencyTracker {
  private readonly estimates = new Map<string, Estimate>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  /** The endpoint's estimate, made (never measured) when it has none: for a picker to hold. */
  slot(identity: string): Estimate {
    let estimate = this.estimates.get(identity);
    if (estimate === undefined) {
      estimate = { value: 0, at: Number.NEGATIVE_INFINITY };
      this.estimates.set(identity, estimate);
    }
    return estimate;
  }

  /** Folds in one measured latency of the endpoint. */
  observe(identity: string, latencyMs: number, decayMs: number): void {
    const now = this.now();
    const estimate = this.slot(identity);
    if (estimate.at === Number.NEGATIVE_INFINITY || latencyMs > estimate.value) {
      estimate.value = latencyMs;
    } else {
      const keep = Math.exp(-Math.max(0, now - estimate.at) / decayMs);
      estimate.value = estimate.value * keep + latencyMs * (1 - keep);
    }
    estimate.at = now;
  }

  /** The estimate decayed to `now`; 0 for an endpoint never measured. */
  estimate(identity: string, decayMs: number, now: number = this.now()): number {
    const estimate = this.estimates.get(identity);
    return estimate === undefined ? 0 : decayed(estimate, decayMs, now);
  }

  clock(): number {
    return this.now();
  }

  /** Drops the estimates of endpoints not in `identities`. */
  retain(identities: ReadonlySet<string>): void {
    for (const identity of this.estimates.keys()) {
      if (!identities.has(identity)) this.estimates.delete(identity);
    }
  }

  get size(): number {
    return this.estimates.size;
  }
}

/** An estimate decayed to `now` (0 when never measured: e^-Infinity is 0). */
export function decayed(estimate: Estimate, decayMs: number, now: number): number {
  if (estimate.at === Number.NEGATIVE_INFINITY) return 0;
  return estimate.value * Math.exp(-Math.max(0, now - estimate.at) / decayMs);
}
