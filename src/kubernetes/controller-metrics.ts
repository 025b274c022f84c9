import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { QueueObserver } from "./workqueue.ts";

/**
 * Metrics of the Kubernetes controller, with controller-runtime's names under the project's
 * prefix: reconciles by result, reconcile time, work queue depth; plus watch restarts, which
 * the TypeScript client would otherwise hide.
 */
export class ControllerMetrics implements QueueObserver {
  private readonly reconciles: Counter<"controller" | "result">;
  private readonly reconcileTime: Histogram<"controller">;
  private readonly queueDepth: Gauge<"name">;
  private readonly watchRestarts: Counter<"resource" | "reason">;
  private policyReadiness: () => Iterable<readonly [string, boolean]> = () => [];

  constructor(registry: Registry) {
    const registers = [registry];
    this.reconciles = new Counter({
      name: "konsul_lb_reconcile_total",
      help: "Reconciles by controller and result (success or error).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: "konsul_lb_reconcile_time_seconds",
      help: "Time per reconcile, by controller.",
      labelNames: ["controller"],
      buckets: [1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.queueDepth = new Gauge({
      name: "konsul_lb_workqueue_depth",
      help: "Keys waiting in a controller work queue.",
      labelNames: ["name"],
      registers,
    });
    this.watchRestarts = new Counter({
      name: "konsul_lb_watch_restarts_total",
      help: "Watches started again, by resource and reason (error: after a failure with backoff; gone: relisted after 410).",
      labelNames: ["resource", "reason"],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: "konsul_lb_policy_ready",
      help: "1 while a LoadBalancingPolicy's Ready condition is True, else 0, by policy (namespace/name).",
      labelNames: ["policy"],
      registers,
      // Read at scrape time, so deleted policies vanish.
      collect() {
        this.reset();
        for (const [policy, ready] of metrics.policyReadiness())
          this.set({ policy }, ready ? 1 : 0);
      },
    });
  }

  /** Where konsul_lb_policy_ready reads each policy's Ready condition from at a scrape. */
  readPolicyReadiness(readiness: () => Iterable<readonly [string, boolean]>): void {
    this.policyReadiness = readiness;
  }

  depth(queue: string, depth: number): void {
    this.queueDepth.set({ name: queue }, depth);
  }

  reconciled(queue: string, result: "success" | "error", seconds: number): void {
    this.reconciles.inc({ controller: queue, result });
    this.reconcileTime.observe({ controller: queue }, seconds);
  }

  watchRestarted(resource: string, reason: string): void {
    this.watchRestarts.inc({ resource, reason });
  }
}
