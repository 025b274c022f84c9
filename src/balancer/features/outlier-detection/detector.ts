/**
 * One Service's outlier detection: per-endpoint counters over the reported outcomes, and the
 * ejection set they lead to. Time is handed in (no timers here): `record` ejects at once on
 * consecutive failures, `evaluate` runs once per interval for success rates and returns.
 * Counters exist only for the Service's current endpoints (`sync` drops the others), so the
 * state is bounded by the endpoint count.
 */
import type { Outcome } from "../../outcome.ts";
import type { ResolvedOutlierDetection } from "./settings.ts";

export type EjectionReason = "consecutive-failures" | "success-rate";

export type OutlierChange =
  | {
      readonly kind: "ejected";
      readonly identity: string;
      readonly reason: EjectionReason;
      /** How many times the endpoint has been ejected, this one included (recent ones). */
      readonly ejections: number;
      readonly until: number;
    }
  | { readonly kind: "returned"; readonly identity: string };

/** An ejection as replicas exchange it: enough to continue it and its growing time. */
export interface EjectionRecord {
  readonly identity: string;
  /** The ejection multiplier: ejections not yet forgiven by healthy intervals. */
  readonly ejections: number;
  /** Milliseconds since the epoch; null when the endpoint is not ejected now. */
  readonly until: number | null;
}

interface EndpointRecord {
  consecutiveFailures: number;
  successes: number;
  total: number;
  ejections: number;
  until: number | null;
}

/** The most endpoints of `total` that may be ejected at once. */
export function ejectionCap(total: number, percent: number): number {
  if (percent <= 0 || total === 0) return 0;
  return Math.max(1, Math.floor((total * percent) / 100));
}

export class OutlierDetector {
  private settings: ResolvedOutlierDetection;
  private readonly endpoints = new Map<string, EndpointRecord>();
  private nextEvaluation: number | null = null;
  private ejectedCount = 0;

  constructor(settings: ResolvedOutlierDetection) {
    this.settings = settings;
  }

  /** Takes new settings (the policy changed); counters and ejections carry on. */
  configure(settings: ResolvedOutlierDetection): void {
    if (settings.intervalMs !== this.settings.intervalMs) this.nextEvaluation = null;
    this.settings = settings;
  }

  /** Keeps counters for exactly these endpoints: new ones start clean, removed ones are dropped. */
  sync(identities: readonly string[]): void {
    const current = new Set(identities);
    for (const [identity, record] of this.endpoints) {
      if (current.has(identity)) continue;
      if (record.until !== null) this.ejectedCount--;
      this.endpoints.delete(identity);
    }
    for (const identity of identities) {
      if (!this.endpoints.has(identity)) this.endpoints.set(identity, fresh());
    }
  }

  /** Whether the endpoint is one of the current ones (reports for others are ignored). */
  knows(identity: string): boolean {
    return this.endpoints.has(identity);
  }

  /** Counts one outcome; an ejection when it completes a run of failures. */
  record(outcome: Outcome, now: number): OutlierChange | null {
    const record = this.endpoints.get(outcome.identity);
    // An ejected endpoint gets no traffic from us; late reports of it say nothing new.
    if (record === undefined || record.until !== null) return null;
    record.total++;
    if (outcome.result === "success") {
      record.successes++;
      record.consecutiveFailures = 0;
      return null;
    }
    record.consecutiveFailures++;
    const threshold = this.settings.consecutiveFailures;
    if (threshold === 0 || record.consecutiveFailures < threshold) return null;
    return this.eject(outcome.identity, record, "consecutive-failures", now);
  }

  /**
   * What happens at an interval's end: ejections that ran out end, recent ejections are
   * forgiven one per healthy interval, success rates are compared, the interval's counts
   * start again. Does nothing before the interval is over, so it may be called often.
   */
  evaluate(now: number): OutlierChange[] {
    if (this.nextEvaluation === null) this.nextEvaluation = now + this.settings.intervalMs;
    if (now < this.nextEvaluation) return [];
    this.nextEvaluation = now + this.settings.intervalMs;
    const changes: OutlierChange[] = [];
    for (const [identity, record] of this.endpoints) {
      if (record.until !== null && record.until <= now) {
        record.until = null;
        record.consecutiveFailures = 0;
        this.ejectedCount--;
        changes.push({ kind: "returned", identity });
      } else if (record.until === null && record.ejections > 0) {
        record.ejections--;
      }
    }
    changes.push(...this.successRateEjections(now));
    for (const record of this.endpoints.values()) {
      record.successes = 0;
      record.total = 0;
    }
    return changes;
  }

  private successRateEjections(now: number): OutlierChange[] {
    const rule = this.settings.successRate;
    if (rule === null) return [];
    const rated: [string, EndpointRecord, number][] = [];
    for (const [identity, record] of this.endpoints) {
      if (record.until === null && record.total >= rule.requestVolume) {
        rated.push([identity, record, record.successes / record.total]);
      }
    }
    if (rated.length < rule.minimumHosts) return [];
    const mean = rated.reduce((sum, [, , rate]) => sum + rate, 0) / rated.length;
    const variance = rated.reduce((sum, [, , rate]) => sum + (rate - mean) ** 2, 0) / rated.length;
    const threshold = mean - rule.stdevFactor * Math.sqrt(variance);
    const changes: OutlierChange[] = [];
    // Worst first, so that the cap leaves in the better ones.
    rated.sort((a, b) => a[2] - b[2] || (a[0] < b[0] ? -1 : 1));
    for (const [identity, record, rate] of rated) {
      if (rate >= threshold) break;
      const change = this.eject(identity, record, "success-rate", now);
      if (change !== null) changes.push(change);
    }
    return changes;
  }

  private eject(
    identity: string,
    record: EndpointRecord,
    reason: EjectionReason,
    now: number,
  ): OutlierChange | null {
    if (this.ejectedCount >= ejectionCap(this.endpoints.size, this.settings.maxEjectionPercent)) {
      return null;
    }
    record.ejections++;
    const { baseEjectionTimeMs, maxEjectionTimeMs } = this.settings;
    record.until = now + Math.min(baseEjectionTimeMs * record.ejections, maxEjectionTimeMs);
    record.consecutiveFailures = 0;
    this.ejectedCount++;
    return { kind: "ejected", identity, reason, ejections: record.ejections, until: record.until };
  }

  /** The identities ejected now. */
  ejected(): string[] {
    const ejected: string[] = [];
    for (const [identity, record] of this.endpoints)
      if (record.until !== null) ejected.push(identity);
    return ejected;
  }

  /** Endpoints with an ejection now or in memory, for replication. */
  export(): EjectionRecord[] {
    const records: EjectionRecord[] = [];
    for (const [identity, record] of this.endpoints) {
      if (record.until !== null || record.ejections > 0) {
        records.push({ identity, ejections: record.ejections, until: record.until });
      }
    }
    return records;
  }

  /**
   * Takes the leader's ejections as they are: what a follower mirrors, and what a new leader
   * continues from. Endpoints it does not know are skipped; counters of the interval restart.
   */
  import(records: readonly EjectionRecord[]): void {
    const byIdentity = new Map(records.map((record) => [record.identity, record]));
    this.ejectedCount = 0;
    for (const [identity, record] of this.endpoints) {
      const imported = byIdentity.get(identity);
      record.ejections = imported?.ejections ?? 0;
      record.until = imported?.until ?? null;
      if (record.until !== null) this.ejectedCount++;
    }
  }
}

function fresh(): EndpointRecord {
  return { consecutiveFailures: 0, successes: 0, total: 0, ejections: 0, until: null };
}
