import { BalancerManager, TableBuildPool } from "../balancer/index.ts";
import { Catalog } from "../catalog/catalog.ts";
import type { ServerSettings } from "../config/settings.ts";
import { Discovery } from "../discovery/discovery.ts";
import { OutcomeIntake, type OutlierNotice } from "../discovery/outcomes.ts";
import type { DnsListening } from "../dns/server.ts";
import { startDns } from "../dns/start.ts";
import type { HighAvailability } from "../ha/high-availability.ts";
import { createApp } from "../http/app.ts";
import { ChangeWaiters } from "../http/change-waiters.ts";
import { Decisions } from "../http/decisions.ts";
import { createFastPick } from "../http/fast-pick.ts";
import { listen } from "../http/listen.ts";
import type { KubernetesController } from "../kubernetes/controller.ts";
import type { Logger } from "../observability/logger.ts";
import { Metrics } from "../observability/metrics.ts";
import { FileSource } from "../sources/file-source.ts";
import { RecentPicks } from "../status/recent-picks.ts";
import type { XdsListening } from "../xds/ads-server.ts";
import { Lifecycle } from "./lifecycle.ts";

export interface RunningService {
  readonly url: string;
  readonly catalog: Catalog;
  readonly discovery: Discovery;
  /** Where the DNS server listens (UDP and TCP), or null without one. */
  readonly dns: { readonly host: string; readonly port: number } | null;
  /** Where the xDS (ADS) server listens, or null without one. */
  readonly xds: { readonly host: string; readonly port: number } | null;
  /** Graceful stop: no new requests, in-flight ones finish, watchers close. */
  stop(): Promise<void>;
}

// Forgotten connections are released within this long of their timeout.
const CONNECTION_SWEEP_MS = 1000;

/** The composition root of `konsul-lb serve`: source → catalog → balancer → HTTP. */
export async function startService(
  settings: ServerSettings,
  logger: Logger,
): Promise<RunningService> {
  // Only a cluster source loads the Kubernetes client (and HA): a file source starts without it.
  const cluster = settings.source === "kubernetes" ? await import("./cluster.ts") : null;
  const catalog = new Catalog();
  const lifecycle = new Lifecycle(logger);
  // Stopped last of all (started first): a build still under way falls back to the event loop.
  const tableBuildPool = await lifecycle.start(
    "table builds",
    () =>
      settings.tableBuildWorkers === 0
        ? null
        : new TableBuildPool({ size: settings.tableBuildWorkers }),
    (pool) => pool?.close(),
  );
  let metrics: Metrics | null = null;
  const manager = new BalancerManager({
    defaultStrategy: settings.defaultStrategy,
    enabledStrategies: settings.enabledStrategies,
    // The server's defaults for what a policy leaves out.
    policyDefaults: {
      healthFilter: settings.healthFilter,
      ...(settings.virtualNodes === null
        ? {}
        : { ringHash: { virtualNodes: settings.virtualNodes } }),
      latency: { map: settings.latencyMap },
    },
    maxConnections: settings.maxConnections,
    maxConnectionsPerService: settings.maxConnectionsPerService,
    onHealthPanic: (service, healthy, total) =>
      logger.warn(
        { service, healthy, total },
        "too few healthy endpoints: balancing over all of them",
      ),
    ...(tableBuildPool === null ? {} : { tableBuildPool }),
    onTableBuild: ({ service, strategy, where, error }) => {
      metrics?.tableBuilds.inc({ where });
      if (where === "fallback") {
        logger.warn(
          { service, strategy, err: error },
          "a hash table could not be built off the event loop: built on it instead",
        );
      }
    },
  });
  metrics = new Metrics(catalog, manager);
  const discovery = new Discovery(catalog, manager, { metrics });
  // With several replicas only the leader writes policy status; alone, this replica does.
  let ha: HighAvailability | null = null;
  const canWrite = () => ha?.isLeader() ?? true;
  const source =
    cluster === null
      ? fileSource(settings, catalog, logger)
      : cluster.createKubernetesSource(settings, catalog, metrics, logger, canWrite);
  const haEnabled = Boolean(source.controller) && settings.ha.leaderElect;
  await lifecycle.start(
    "discovery",
    () => discovery,
    () => discovery.close(),
  );
  // Outlier ejections: alone, this replica decides them; with several, the leader does.
  const outcomes = await lifecycle.start(
    "outlier detection",
    () => {
      const intake = new OutcomeIntake(discovery, {
        metrics,
        decides: () => (haEnabled ? (ha?.isLeader() ?? false) : true),
        onOutlierChange: (notice) => {
          logOutlierChange(logger, notice);
          source.controller?.outlierChanged(notice);
        },
      });
      intake.start();
      return intake;
    },
    (intake) => intake.stop(),
  );
  // A file loads before the server answers; a cluster syncs in the background (started last),
  // and /readyz says 503 until it has.
  await lifecycle.start(
    "source",
    () => (source.kind === "file" ? source.start() : undefined),
    () => source.stop(),
  );
  const recentPicks = await lifecycle.start(
    "recent picks",
    () => (settings.statusPage ? new RecentPicks(catalog) : null),
    (picks) => picks?.close(),
  );
  const waiters = new ChangeWaiters(catalog, {
    limit: settings.maxBlockingWaiters,
    onCount: (count) => metrics.blockingWaiters.set(count),
  });
  const app = createApp({
    discovery,
    metrics,
    logger,
    trustProxy: settings.trustProxy,
    // With several replicas, also not before this one knows the leader (HighAvailability).
    isReady: () => catalog.synced && (!haEnabled || (ha?.isReady() ?? false)),
    waiters,
    recentPicks,
    connectionHooks: {
      idFor: (req) => ha?.front.localIdOf(req),
      settle: () => ha?.settle() ?? null,
    },
    outcomes,
    outcomeForwarding: {
      forward: (...report) => ha?.outcomes.forward(...report) ?? null,
    },
  });
  if (cluster !== null && source.controller && settings.ha.leaderElect) {
    // Stopped after the public servers close: a leader's last snapshot holds every change.
    const controller = source.controller;
    const started = await lifecycle.start(
      "high availability",
      () =>
        cluster.startHighAvailability(settings, controller, {
          discovery,
          outcomes,
          manager,
          metrics,
          logger,
          trustProxy: app.get("trust proxy fn"),
          ha: () => ha,
        }),
      (running) => running.stop(),
    );
    ha = started.ha;
  }
  await lifecycle.start(
    "connection sweep",
    () => {
      const sweep = setInterval(() => manager.expireConnections(), CONNECTION_SWEEP_MS);
      sweep.unref();
      return sweep;
    },
    (sweep) => clearInterval(sweep),
  );
  // Debug logging logs every request from Express; the fast path would bypass it.
  const fastPick = logger.isLevelEnabled("debug")
    ? undefined
    : createFastPick(new Decisions(discovery, recentPicks), app.get("trust proxy fn"));
  // Followers hand connection changes to the leader; the leader and every read go on as usual.
  const listening = await lifecycle.start(
    "HTTP server",
    () =>
      listen(
        app,
        settings.httpHost,
        settings.httpPort,
        (req, res) =>
          (ha?.handle(req, res, () => app(req, res)) ?? false) || (fastPick?.(req, res) ?? false),
      ),
    (server) => server.close(),
  );
  // Blocking queries are answered at stop, or the HTTP server would wait for them to time out.
  await lifecycle.start(
    "blocking queries",
    () => waiters,
    () => waiters.close(),
  );
  let dns: DnsListening | null = null;
  if (settings.dnsAddr !== null) {
    const { host, port } = settings.dnsAddr;
    const domain = settings.dnsDomain;
    const { dnsTtl: ttl, dnsMaxAnswers: maxAnswers } = settings;
    dns = await lifecycle.start(
      "DNS server",
      () => startDns({ host, port, domain, ttl, maxAnswers }, discovery, metrics, logger),
      (server) => server.close(),
    );
  }
  let xds: XdsListening | null = null;
  if (settings.xdsAddr !== null) {
    const address = settings.xdsAddr;
    xds = await lifecycle.start(
      "xDS server",
      async () => {
        // Loaded only when asked for: gRPC and the Envoy protos cost memory and start-up time.
        const { startXds } = await import("../xds/start.ts");
        return startXds(address, discovery, metrics, logger);
      },
      (server) => server.close(),
    );
  }
  if (source.kind === "kubernetes") {
    source.start().then(
      () => logger.info({ services: catalog.size }, "catalog synced with the cluster"),
      (error: unknown) => logger.error({ err: error }, "the Kubernetes source failed to start"),
    );
  }
  // A wildcard address is not something to paste into curl; loopback reaches it.
  const local = listening.url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  logger.info(
    {
      url: listening.url,
      source: settings.source,
      file: settings.file,
      services: catalog.size,
      defaultStrategy: settings.defaultStrategy,
    },
    `konsul-lb serving on ${listening.url}; try: curl -s ${local}/v1/services`,
  );
  return {
    url: listening.url,
    catalog,
    discovery,
    dns: dns === null ? null : { host: dns.host, port: dns.port },
    xds: xds === null ? null : { host: xds.host, port: xds.port },
    // In reverse order of start: the servers close, then a leader writes its last snapshot and
    // releases the Lease, then the watches stop.
    stop: () => lifecycle.stop(),
  };
}

function logOutlierChange(logger: Logger, { namespace, name, change }: OutlierNotice): void {
  const service = `${namespace}/${name}`;
  if (change.kind === "ejected") {
    logger.warn(
      {
        service,
        endpoint: change.identity,
        reason: change.reason,
        ejections: change.ejections,
        until: new Date(change.until).toISOString(),
      },
      "outlier detection: endpoint ejected",
    );
  } else {
    logger.info({ service, endpoint: change.identity }, "outlier detection: endpoint returned");
  }
}

export interface Source {
  readonly kind: "file" | "kubernetes";
  readonly controller?: KubernetesController;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The catalog's source from the manifest file. */
function fileSource(settings: ServerSettings, catalog: Catalog, logger: Logger): Source {
  if (settings.file === null) throw new Error("--source file needs --file (KONSUL_LB_FILE)");
  const file = new FileSource({ path: settings.file, catalog, logger });
  return { kind: "file", start: () => file.start(), stop: () => file.stop() };
}
