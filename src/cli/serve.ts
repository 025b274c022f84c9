import { BalancerManager } from "../balancer/manager.ts";
import { Catalog } from "../catalog/catalog.ts";
import type { ServerSettings } from "../config/settings.ts";
import { Discovery } from "../discovery/discovery.ts";
import { createApp } from "../http/app.ts";
import { Decisions } from "../http/decisions.ts";
import { createFastPick } from "../http/fast-pick.ts";
import { listen } from "../http/listen.ts";
import type { Logger } from "../observability/logger.ts";
import { Metrics } from "../observability/metrics.ts";
import { FileSource } from "../sources/file-source.ts";

export interface RunningService {
  readonly url: string;
  readonly catalog: Catalog;
  readonly discovery: Discovery;
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
  if (settings.file === null) {
    throw new Error(
      "no source of services: pass --file (KONSUL_LB_FILE) with a file of Kubernetes manifests",
    );
  }
  const catalog = new Catalog();
  const manager = new BalancerManager({
    defaultStrategy: settings.defaultStrategy,
    enabledStrategies: settings.enabledStrategies,
    onHealthPanic: (service, healthy, total) =>
      logger.warn(
        { service, healthy, total },
        "too few healthy endpoints: balancing over all of them",
      ),
  });
  const discovery = new Discovery(catalog, manager, {
    healthFilter: settings.healthFilter,
    virtualNodes: settings.virtualNodes,
    latencyMap: settings.latencyMap,
  });
  const metrics = new Metrics(catalog, manager);
  const source = new FileSource({ path: settings.file, catalog, logger });
  await source.start();
  const sweep = setInterval(() => manager.expireConnections(), CONNECTION_SWEEP_MS);
  sweep.unref();
  const app = createApp({
    discovery,
    metrics,
    logger,
    trustProxy: settings.trustProxy,
    isReady: () => catalog.synced,
  });
  let listening: Awaited<ReturnType<typeof listen>>;
  try {
    // Debug logging logs every request from Express; the fast path would bypass it.
    const fastPick = logger.isLevelEnabled("debug")
      ? undefined
      : createFastPick(new Decisions(discovery, metrics), app.get("trust proxy fn"));
    listening = await listen(app, settings.httpHost, settings.httpPort, fastPick);
  } catch (error) {
    clearInterval(sweep);
    await source.stop();
    throw error;
  }
  // A wildcard address is not something to paste into curl; loopback reaches it.
  const local = listening.url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  logger.info(
    {
      url: listening.url,
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
    async stop() {
      clearInterval(sweep);
      await listening.close();
      await source.stop();
      discovery.close();
    },
  };
}
