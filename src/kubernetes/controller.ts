import { KubeConfig } from "@kubernetes/client-node";
import type { OutlierChange } from "../balancer/index.ts";
import { type Catalog, type ServiceEntry, serviceKey } from "../catalog/catalog.ts";
import type { Prober } from "../health/prober.ts";
import type { Logger } from "../shared/logger.ts";
import type { ControllerMetrics } from "./controller-metrics.ts";
import type { InformerTiming } from "./informer.ts";
import { PolicyStatusWriter, verdicts } from "./policy-status.ts";
import { sharedConnections } from "./shared-connections.ts";
import { KubernetesSource } from "./source.ts";

export interface ControllerOptions {
  readonly catalog: Catalog;
  readonly logger: Logger;
  /** A kubeconfig file; absent = in-cluster configuration, else the usual KUBECONFIG lookup. */
  readonly kubeconfig?: string | null;
  readonly metrics?: ControllerMetrics;
  readonly timing?: InformerTiming;
  /** Whether this replica may write policy status (the leader). */
  readonly canWrite?: () => boolean;
  /** Active probes declared by policies (spec.healthCheck); absent = none are run. */
  readonly prober?: Prober;
}

/** The kubeconfig, its requests sharing one connection pool (see sharedConnections). */
export function loadKubeConfig(path: string | null | undefined): KubeConfig {
  const config = new KubeConfig();
  if (path) config.loadFromFile(path);
  else config.loadFromDefault();
  return sharedConnections(config);
}

/** The operator's Kubernetes side: the source that fills the catalog and the policy status writer. */
export class KubernetesController {
  readonly config: KubeConfig;
  readonly source: KubernetesSource;
  readonly status: PolicyStatusWriter;
  private readonly catalog: Catalog;

  constructor(options: ControllerOptions) {
    this.catalog = options.catalog;
    this.config = loadKubeConfig(options.kubeconfig);
    const { metrics, prober } = options;
    this.status = new PolicyStatusWriter({
      config: this.config,
      view: (key) => this.source.policyView(key),
      canWrite: options.canWrite,
      observer: metrics,
      logger: options.logger,
    });
    this.source = new KubernetesSource({
      config: this.config,
      catalog: options.catalog,
      logger: options.logger,
      timing: options.timing,
      observer: metrics,
      onWatchRestart: metrics
        ? (resource, reason) => metrics.watchRestarted(resource, reason)
        : undefined,
      decorate: prober ? (entry) => withProbeResults(prober, entry) : undefined,
      onServiceReconciled: (service, policies) => {
        if (prober) probeService(prober, service, options.catalog);
        for (const policy of policies) this.status.enqueue(policy);
      },
      onPolicyChanged: (policy) => this.status.enqueue(policy),
    });
    metrics?.readPolicyReadiness(() => this.policyReadiness());
  }

  /** Each policy's Ready condition as the status writer decides it (every replica knows it). */
  *policyReadiness(): Iterable<readonly [string, boolean]> {
    for (const key of this.source.policyKeys()) {
      const view = this.source.policyView(key);
      if (view === undefined) continue;
      const ready = verdicts(view).find((verdict) => verdict.type === "Ready");
      yield [key, ready?.status === "True"];
    }
  }

  start(): Promise<void> {
    return this.source.start();
  }

  /** Reconciles a service again: its probe verdicts changed. */
  probeChanged(service: string): void {
    this.source.enqueue(service);
  }

  /**
   * Outlier detection ejected or returned an endpoint of a service: the policy that applies to
   * it records an Event, and its status counts the ejected endpoints again.
   */
  outlierChanged(notice: {
    readonly namespace: string;
    readonly name: string;
    readonly change: OutlierChange;
  }): void {
    const policy = this.catalog.get(notice.namespace, notice.name)?.policy;
    if (!policy) return;
    const key = serviceKey(policy.namespace, policy.name);
    this.status.recordOutlierChange(key, notice.change);
    this.status.enqueue(key);
  }

  /** Writes the status of every policy again (e.g. on becoming leader). */
  refreshAllStatus(): void {
    for (const policy of this.source.policyKeys()) this.status.enqueueNow(policy);
  }

  stop(): void {
    this.source.stop();
    this.status.stop();
  }
}

/** An endpoint is healthy only when Kubernetes says ready and its probe, if any, passes. */
export function withProbeResults(prober: Prober, entry: ServiceEntry): ServiceEntry {
  const key = serviceKey(entry.namespace, entry.name);
  return {
    ...entry,
    endpoints: entry.endpoints.map((endpoint) => {
      const probeHealthy = prober.healthOf(key, endpoint.identity);
      // Unprobed endpoints stay the very objects the source translated: one copy each.
      return probeHealthy === endpoint.probeHealthy ? endpoint : { ...endpoint, probeHealthy };
    }),
  };
}

/** Points the prober at a service's current endpoints, with its policy's probe or none. */
export function probeService(prober: Prober, service: string, catalog: Catalog): void {
  const [namespace = "", name = ""] = service.split("/");
  const entry = catalog.get(namespace, name);
  const spec = entry?.policy?.healthCheck ?? null;
  prober.setTargets(service, entry ? spec : null, entry && spec ? entry.endpoints : []);
}
