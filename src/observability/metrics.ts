import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { BalancerManager } from "../balancer/manager.ts";
import type { Catalog } from "../catalog/catalog.ts";

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

  constructor(catalog: Catalog, manager: BalancerManager) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.selections = new Counter({
      name: "konsul_lb_selections_total",
      help: "Load-balancing decisions by service, strategy and result (ok or the error code).",
      labelNames: ["service", "strategy", "result"],
      registers,
    });
    this.selectionDuration = new Histogram({
      name: "konsul_lb_selection_duration_seconds",
      help: "Time to make a load-balancing decision, excluding HTTP.",
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
