import { KubeConfig } from "@kubernetes/client-node";
import type { Catalog, ServiceEntry } from "../catalog/catalog.ts";
import type { ControllerMetrics } from "../observability/controller-metrics.ts";
import type { InformerTiming } from "./informer.ts";
import { PolicyStatusWriter } from "./policy-status.ts";
import { KubernetesSource, type SourceLogger } from "./source.ts";

export interface ControllerOptions {
  readonly catalog: Catalog;
  readonly logger: SourceLogger;
  /** A kubeconfig file; absent = in-cluster configuration, else the usual KUBECONFIG lookup. */
  readonly kubeconfig?: string | null;
  readonly metrics?: ControllerMetrics;
  readonly timing?: InformerTiming;
  /** Whether this replica may write policy status (the leader). */
  readonly canWrite?: () => boolean;
  readonly decorate?: (entry: ServiceEntry) => ServiceEntry;
}

export function loadKubeConfig(path: string | null | undefined): KubeConfig {
  const config = new KubeConfig();
  if (path) config.loadFromFile(path);
  else config.loadFromDefault();
  return config;
}

/** The operator's Kubernetes side: the source that fills the catalog and the policy status writer. */
export class KubernetesController {
  readonly config: KubeConfig;
  readonly source: KubernetesSource;
  readonly status: PolicyStatusWriter;

  constructor(options: ControllerOptions) {
    this.config = loadKubeConfig(options.kubeconfig);
    const { metrics } = options;
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
      decorate: options.decorate,
      onServiceReconciled: (_service, policies) => {
        for (const policy of policies) this.status.enqueue(policy);
      },
      onPolicyChanged: (policy) => this.status.enqueue(policy),
    });
  }

  start(): Promise<void> {
    return this.source.start();
  }

  /** Writes the status of every policy again (e.g. on becoming leader). */
  refreshAllStatus(): void {
    for (const policy of this.source.policyKeys()) this.status.enqueue(policy);
  }

  stop(): void {
    this.source.stop();
    this.status.stop();
  }
}
