/**
 * What the DNS server counts: queries by question type, response code and transport, and per
 * decision the selection metrics the HTTP API records too (konsul_lb_selections_total,
 * konsul_lb_selection_duration_seconds, the health filter counters). Increments go through
 * LocalCounters, so a query pays for plain additions, not for prom-client's label hashing.
 */
import type { Histogram } from "prom-client";
import type { Metrics } from "../observability/metrics.ts";
import { type CountHandle, LocalCounters } from "./local-counters.ts";

/** Question types counted under their own label; anything else is "other". */
const COUNTED_TYPES = new Set(["A", "AAAA", "SRV", "ANY", "SOA", "NS", "TXT", "PTR", "CNAME"]);

export class DnsMetrics {
  private readonly metrics: Metrics;
  private readonly counters: LocalCounters;
  /** By type label, then rcode and transport (see query). */
  private readonly queries = new Map<string, Map<string, CountHandle>>();
  private readonly services = new Map<string, SelectionMetrics>();

  constructor(metrics: Metrics) {
    this.metrics = metrics;
    this.counters = new LocalCounters(metrics);
  }

  /** One answered query; `type` is the question's type, undefined without a question. */
  query(type: string | undefined, rcode: string, transport: string): void {
    const label = type === undefined ? "none" : COUNTED_TYPES.has(type) ? type : "other";
    let byOutcome = this.queries.get(label);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.queries.set(label, byOutcome);
    }
    // rcode and transport come from small fixed sets, so their concatenation is interned.
    const key = transport === "udp" ? rcode : `${rcode}/tcp`;
    let handle = byOutcome.get(key);
    if (handle === undefined) {
      handle = this.counters.handle(this.metrics.dnsQueries, { type: label, rcode, transport });
      byOutcome.set(key, handle);
    }
    handle.inc();
  }

  truncated(transport: string): void {
    this.metrics.dnsTruncated.inc({ transport });
  }

  /** A message that gets no answer. Rare: counted directly. */
  dropped(reason: string): void {
    this.metrics.dnsDropped.inc({ reason });
  }

  /** The selection metrics of one service ("namespace/name", a service in the catalog). */
  selection(service: string): SelectionMetrics {
    let metrics = this.services.get(service);
    if (metrics === undefined) {
      metrics = new SelectionMetrics(this.metrics, this.counters, service);
      this.services.set(service, metrics);
    }
    return metrics;
  }
}

/**
 * One DNS decision in this many is timed for konsul_lb_selection_duration_seconds: observing a
 * prom-client histogram costs more than the decision it times, and a steady sample shows the
 * same distribution. Decisions are all counted (konsul_lb_selections_total).
 */
export const TIMED_ONE_IN = 16;

export class SelectionMetrics {
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

  /** Whether to time the next decision (one in TIMED_ONE_IN). */
  timeNext(): boolean {
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
  }
}
