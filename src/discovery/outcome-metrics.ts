/**
 * Metrics of reported outcomes and of outlier ejections. Labels stay bounded: results are a
 * fixed set, services are those in the catalog, and reporters are the first MAX_REPORTERS
 * names seen, every later one counted as "other".
 */
import { Counter, Gauge } from "prom-client";
import type { Metrics } from "../observability/metrics.ts";

/** Distinct reporter names with a series of their own. */
export const MAX_REPORTERS = 64;
/** The reporter of a report that names none. */
export const ANONYMOUS_REPORTER = "anonymous";
export const OTHER_REPORTER = "other";

export class OutcomeMetrics {
  readonly reported: Counter<"reporter" | "result">;
  readonly ejections: Counter<"service" | "reason">;
  readonly returns: Counter<"service">;
  readonly ejected: Gauge<"service">;
  private readonly reporters = new Set<string>();

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.reported = new Counter({
      name: "konsul_lb_outcomes_reported_total",
      help: `Outcomes clients reported, by reporter (the first ${MAX_REPORTERS} names, then "${OTHER_REPORTER}") and result (success, failure, timeout, or unknown-endpoint for an endpoint the service does not have).`,
      labelNames: ["reporter", "result"],
      registers,
    });
    this.ejections = new Counter({
      name: "konsul_lb_outlier_ejections_total",
      help: "Endpoints ejected by outlier detection, by service and reason (consecutive-failures, success-rate).",
      labelNames: ["service", "reason"],
      registers,
    });
    this.returns = new Counter({
      name: "konsul_lb_outlier_returns_total",
      help: "Ejected endpoints returned to service when their ejection time ran out, by service.",
      labelNames: ["service"],
      registers,
    });
    this.ejected = new Gauge({
      name: "konsul_lb_outlier_ejected_endpoints",
      help: "Endpoints ejected by outlier detection now, by service.",
      labelNames: ["service"],
      registers,
    });
  }

  /** The label a reporter's name is counted under. */
  reporterLabel(reporter: string): string {
    if (this.reporters.has(reporter)) return reporter;
    if (this.reporters.size >= MAX_REPORTERS) return OTHER_REPORTER;
    this.reporters.add(reporter);
    return reporter;
  }
}
