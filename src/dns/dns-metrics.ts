/**
 * What the DNS server counts: queries by question type, response code and transport (the
 * selection metrics of its decisions are Discovery's, see decision-metrics.ts). Increments go
 * through LocalCounters, so a query pays for plain additions, not for prom-client's label hashing.
 */

import { type CountHandle, LocalCounters } from "../observability/local-counters.ts";
import type { Metrics } from "../observability/metrics.ts";

/** Question types counted under their own label; anything else is "other". */
const COUNTED_TYPES = new Set(["A", "AAAA", "SRV", "ANY", "SOA", "NS", "TXT", "PTR", "CNAME"]);

export class DnsMetrics {
  private readonly metrics: Metrics;
  private readonly counters: LocalCounters;
  /** By type label, then rcode and transport (see query). */
  private readonly queries = new Map<string, Map<string, CountHandle>>();

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
}
