/**
 * The parts of `konsul-lb serve` that only a cluster source uses: the Kubernetes controller, and
 * high availability (the internal API, leader election, the replicated state). Loaded by the
 * composition root only for `--source kubernetes`: the Kubernetes client is most of the modules
 * a file source would otherwise load before it reads its file.
 */

import type { BalancerManager } from "../balancer/index.ts";
import { resolvePolicy } from "../balancer/index.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { ServerSettings } from "../config/settings.ts";
import type { Discovery } from "../discovery/discovery.ts";
import type { OutcomeIntake } from "../discovery/outcomes.ts";
import type { ConnectionTerms } from "../ha/connection-front.ts";
import { advertisedUrl } from "../ha/ha-settings.ts";
import { HighAvailability } from "../ha/high-availability.ts";
import { PeerAuth, TokenFile, TokenReviewer } from "../ha/peer-auth.ts";
import { Prober } from "../health/prober.ts";
import { ApiError } from "../http/errors.ts";
import { createInternalApp } from "../http/internal-app.ts";
import { listen } from "../http/listen.ts";
import { KubernetesController } from "../kubernetes/controller.ts";
import { ControllerMetrics } from "../kubernetes/controller-metrics.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Source } from "./serve.ts";

/** The catalog's source from the cluster, through the Kubernetes controller. */
export function createKubernetesSource(
  settings: ServerSettings,
  catalog: Catalog,
  metrics: Metrics,
  logger: Logger,
  canWrite: () => boolean,
): Source {
  let controller: KubernetesController | undefined;
  const prober = new Prober({
    onChange: (service) => controller?.probeChanged(service),
    logger,
  });
  controller = new KubernetesController({
    catalog,
    logger,
    kubeconfig: settings.kubeconfig,
    metrics: new ControllerMetrics(metrics.registry),
    prober,
    canWrite,
  });
  const running = controller;
  return {
    kind: "kubernetes",
    controller,
    start: () => running.start(),
    async stop() {
      running.stop();
      await prober.stop();
    },
  };
}

export interface HighAvailabilityParts {
  readonly discovery: Discovery;
  readonly outcomes: OutcomeIntake;
  readonly manager: BalancerManager;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly trustProxy: (address: string, hop: number) => boolean;
  /** The replica's HighAvailability once made (the internal API answers before it exists). */
  readonly ha: () => HighAvailability | null;
}

/**
 * The internal API on its own port, authenticated by the operator's ServiceAccount token, and
 * leader election with the replicated state. Stops the internal API first, then the rest.
 */
export async function startHighAvailability(
  settings: ServerSettings,
  controller: KubernetesController,
  parts: HighAvailabilityParts,
): Promise<{ readonly ha: HighAvailability; stop(): Promise<void> }> {
  const { discovery, manager, metrics, logger } = parts;
  const auth = new PeerAuth(
    new TokenFile(settings.ha.tokenFile),
    new TokenReviewer({ config: controller.config }),
    logger,
  );
  const running = () => {
    const ha = parts.ha();
    if (ha === null) throw new ApiError("NotLeader", "this replica is not the leader");
    return ha;
  };
  // Replica to replica, on its own port: never reachable through the public one.
  const internalApp = createInternalApp({
    discovery,
    logger,
    authenticate: (authorization) => auth.check(authorization),
    status: () => {
      const ha = parts.ha();
      if (ha === null) throw new ApiError("Unavailable", "high availability is starting");
      return ha.status();
    },
    reconcile: (body) => running().reconcile(body),
    forwarded: (released) => running().acceptForwarded(released),
    outcomes: parts.outcomes,
  });
  const { host, port } = settings.internalAddr;
  const internal = await listen(internalApp, host, port);
  logger.info({ url: internal.url }, `konsul-lb internal API on ${internal.url}`);
  // Learned early, so that a token the kube-apiserver refuses is in the log at start.
  auth.ownUser().then(
    // Named as namespace/name: a log line with the full user name reads like an RBAC refusal.
    (user) =>
      logger.info(
        { serviceAccount: user.split(":").slice(2).join("/") },
        "internal API: admits this ServiceAccount only",
      ),
    (error: unknown) =>
      logger.warn({ err: error }, "internal API: this replica's own identity is unknown yet"),
  );
  const ha = new HighAvailability({
    config: controller.config,
    settings: settings.ha,
    manager: manager.replication,
    logger,
    registry: metrics.registry,
    address: advertisedUrl(settings.ha, internal.url, process.env),
    credentials: () => auth.headers(),
    connectionTerms: (key) => connectionTermsOf(discovery, key),
    trustProxy: parts.trustProxy,
    onStartedLeading: () => controller.refreshAllStatus(),
    onEjections: (key, records) => parts.outcomes.mirror(key, records),
  });
  ha.start().catch((error: unknown) => {
    logger.error({ err: error }, "leader election failed to start");
  });
  return {
    ha,
    async stop() {
      await internal.close();
      await ha.stop();
    },
  };
}

/** A service's endpoints and connection timeout, for opens another replica reports. */
function connectionTermsOf(discovery: Discovery, key: string): ConnectionTerms | null {
  const [namespace = "", name = ""] = key.split("/");
  const entry = discovery.catalog.get(namespace, name);
  if (entry === undefined) return null;
  const identities = new Set(entry.endpoints.map((endpoint) => endpoint.identity));
  return {
    hasEndpoint: (identity) => identities.has(identity),
    timeoutMs: resolvePolicy(discovery.view(entry).policy).leastConnections.connectionTimeoutMs,
  };
}
