/**
 * The selection metrics of every decision, HTTP's and DNS's alike, recorded in one place
 * (Discovery.decide): konsul_lb_selections_total, konsul_lb_selection_duration_seconds and the
 * health filter counters. Counts go through LocalCounters, so a decision pays for plain
 * additions, not for prom-client's label hashing.
 */
import type { Histogram } from "prom-client";
import { type CountHandle, LocalCounters } from "../observability/local-counters.ts";
import type { Metrics } from "../observability/metrics.ts";

/**
 * A DNS decision is timed one in this many: observing a prom-client histogram costs more than
 * the decision it times, and a steady sample shows the same distribution. Every decision is
 * counted (konsul_lb_selections_total).
 */
export const TIMED_ONE_IN = 16;

/** How a decision is timed: every one (HTTP), or one in TIMED_ONE_IN (DNS). */
export type Timing = "every" | "sampled";

export class DecisionMetrics {
  private readonly metrics: Metrics;
  private readonly counters: LocalCounters;
  private readonly services = new Map<string, ServiceDecisionMetrics>();

  constructor(metrics: Metrics) {
    this.metrics = metrics;
    this.counters = new LocalCounters(metrics);
  }

  /** The metrics of one service ("namespace/name", a service in the catalog). */
  of(service: string): ServiceDecisionMetrics {
    let metrics = this.services.get(service);
    if (metrics === undefined) {
      metrics = new ServiceDecisionMetrics(this.metrics, this.counters, service);
      this.services.set(service, metrics);
    }
    return metrics;
  }

  /** A failed decision for a service that is not in the catalog: counted under service "". */
  unknownService(result: string): void {
    this.metrics.selections.inc({ service: "", strategy: "", result });
  }
}

export class ServiceDecisionMetrics {
  readonly healthFiltered: CountHandle;
  readonly healthPanic: CountHandle;
  private readonly metrics: Metrics;
  private readonly counters: LocalCounters;
  private readonly service: string;
  private decisions = 0;
  private readonly ok = new Map<
    string,
    { readonly count: CountHandle; readonly duration: Histogram.Internal<string> }
  >();

  constructor(metrics: Metrics, counters: LocalCounters, service: string) {
    this.metrics = metrics;
    this.counters = counters;
    this.service = service;
    this.healthFiltered = counters.handle(metrics.healthFiltered, { service });
    this.healthPanic = counters.handle(metrics.healthPanics, { service });
  }

  /** Whether to time the next decision. */
  timeNext(timing: Timing): boolean {
    if (timing === "every") return true;
    this.decisions = (this.decisions + 1) % TIMED_ONE_IN;
    return this.decisions === 0;
  }

  /** A decision made, and how long it took when it was timed (else null). */
  succeeded(strategy: string, seconds: number | null): void {
    let series = this.ok.get(strategy);
    if (series === undefined) {
      const labels = { service: this.service, strategy };
      series = {
        count: this.counters.handle(this.metrics.selections, { ...labels, result: "ok" }),
        duration: this.metrics.selectionDuration.labels(labels),
      };
      this.ok.set(strategy, series);
    }
    series.count.inc();
    if (seconds !== null) series.duration.observe(seconds);
  }

  /** A decision that failed with `result`, an error code. Rare: counted directly. */
  failed(strategy: string, result: string): void {
    this.metrics.selections.inc({ service: this.service, strategy, result });
    if (result === "TooManyConnections")
      this.metrics.connectionsRefused.inc({ service: this.service });
  }
}
