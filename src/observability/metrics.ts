import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { BalancerManager } from "../balancer/index.ts";
import { isHealthy } from "../balancer/index.ts";
import type { Catalog } from "../catalog/catalog.ts";

const GAUGES_NAMED_LIKE_COUNTERS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * The project's metrics on a private registry. Label values come from bounded sets only:
 * services and endpoints that exist in the catalog, strategy names, and result codes; a
 * request for an unknown service is counted under service="" rather than minting a series.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly selections: Counter<"service" | "strategy" | "result">;
  readonly selectionDuration: Histogram<"service" | "strategy">;
  readonly healthFiltered: Counter<"service">;
  readonly healthPanics: Counter<"service">;
  readonly dnsQueries: Counter<"type" | "rcode" | "transport">;
  readonly dnsTruncated: Counter<"transport">;
  readonly dnsDropped: Counter<"reason">;
  readonly blockingWaiters: Gauge;
  readonly connectionsRefused: Counter<"service">;
  readonly waitersRefused: Counter;
  readonly tableBuilds: Counter<"where">;
  private readonly flushers = new Set<() => void>();

  /**
   * Runs `flush` at every scrape before any of the project's metrics is read, for counts a hot
   * path keeps to itself (prom-client hashes the label set on every increment). Returns a
   * function that stops it.
   */
  onScrape(flush: () => void): () => void {
    this.flushers.add(flush);
    return () => {
      this.flushers.delete(flush);
    };
  }

  constructor(catalog: Catalog, manager: BalancerManager) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client exports these sums as gauges named *_total, which Prometheus reserves for
    // counters (promtool check metrics rejects them); the same sums are
    // sum(nodejs_active_handles) and so on over the per-type gauges it keeps.
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    this.selections = new Counter({
      name: "konsul_lb_selections_total",
      help: "Load-balancing decisions by service, strategy and result (ok or the error code).",
      labelNames: ["service", "strategy", "result"],
      registers,
      // The first of the project's metrics to be read at a scrape: flush the counts kept aside.
      collect: () => {
        for (const flush of this.flushers) flush();
      },
    });
    this.selectionDuration = new Histogram({
      name: "konsul_lb_selection_duration_seconds",
      help: "Time to make a load-balancing decision, excluding HTTP and DNS encoding (DNS: one decision in 16 is timed).",
      labelNames: ["service", "strategy"],
      buckets: [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2],
      registers,
    });
    this.healthFiltered = new Counter({
      name: "konsul_lb_health_filtered_total",
      help: "Decisions for which the health filter took unhealthy or terminating endpoints out.",
      labelNames: ["service"],
      registers,
    });
    this.healthPanics = new Counter({
      name: "konsul_lb_health_panic_total",
      help: "Decisions that used all endpoints because too few were healthy (panic threshold).",
      labelNames: ["service"],
      registers,
    });
    this.dnsQueries = new Counter({
      name: "konsul_lb_dns_queries_total",
      help: "DNS queries answered, by question type (A, AAAA, SRV, ... or other), response code and transport.",
      labelNames: ["type", "rcode", "transport"],
      registers,
    });
    this.dnsTruncated = new Counter({
      name: "konsul_lb_dns_truncated_total",
      help: "DNS answers cut short with the TC flag set because they did not fit the transport's size limit.",
      labelNames: ["transport"],
      registers,
    });
    this.dnsDropped = new Counter({
      name: "konsul_lb_dns_dropped_total",
      help: "DNS messages dropped without an answer: too short for a header, or not a query.",
      labelNames: ["reason"],
      registers,
    });
    this.blockingWaiters = new Gauge({
      name: "konsul_lb_blocking_waiters",
      help: "HTTP blocking queries waiting for a change (index and wait parameters).",
      registers,
    });
    this.connectionsRefused = new Counter({
      name: "konsul_lb_connections_refused_total",
      help: "Connection opens refused with 429 TooManyConnections: the service's or the server's cap was reached.",
      labelNames: ["service"],
      registers,
    });
    this.waitersRefused = new Counter({
      name: "konsul_lb_blocking_waiters_refused_total",
      help: "Blocking queries refused with 429 TooManyWaiters: the server's cap of waiting requests was reached.",
      registers,
    });
    this.tableBuilds = new Counter({
      name: "konsul_lb_table_builds_total",
      help: 'Hash tables of changed services built off the event loop (where="worker"), or built on it because that failed (where="fallback").',
      labelNames: ["where"],
      registers,
    });
    new Gauge({
      name: "konsul_lb_endpoints",
      help: "Endpoints of each service in the catalog, healthy or not.",
      labelNames: ["service"],
      registers,
      // Read at scrape time, so removed services vanish. Sets konsul_lb_healthy_endpoints from
      // the same pass over the catalog; being registered first, it is collected first.
      collect() {
        this.reset();
        healthyEndpoints.reset();
        for (const entry of catalog.list()) {
          const service = `${entry.namespace}/${entry.name}`;
          this.set({ service }, entry.endpoints.length);
          healthyEndpoints.set({ service }, entry.endpoints.filter(isHealthy).length);
        }
      },
    });
    const healthyEndpoints = new Gauge({
      name: "konsul_lb_healthy_endpoints",
      help: "Endpoints of each service that receive new traffic: ready, not terminating, not failing a probe.",
      labelNames: ["service"],
      registers,
    });
    new Gauge({
      name: "konsul_lb_instance_connections",
      help: "Open connections counted per endpoint (least-connections), by service and endpoint identity.",
      labelNames: ["service", "instance"],
      registers,
      // Read at scrape time, so series of released connections and removed endpoints vanish.
      collect() {
        manager.expireConnections();
        this.reset();
        for (const entry of catalog.list()) {
          const service = `${entry.namespace}/${entry.name}`;
          for (const [instance, count] of manager.connectionCounts(service)) {
            this.set({ service, instance }, count);
          }
        }
      },
    });
  }
}
