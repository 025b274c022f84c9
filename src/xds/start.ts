/** The xDS interface as `konsul-lb serve` starts it: the ADS server on its port, and a log line. */
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { startXdsServer, type XdsListening } from "./ads-server.ts";
import { EngineView } from "./engine-view.ts";
import { xdsName } from "./names.ts";
import { XdsMetrics } from "./xds-metrics.ts";

export interface XdsSettings {
  readonly host: string;
  readonly port: number;
}

export async function startXds(
  settings: XdsSettings,
  discovery: Discovery,
  metrics: Metrics,
  logger: Logger,
): Promise<XdsListening> {
  const shown = (host: string, port: number) =>
    host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  let listening: XdsListening;
  try {
    listening = await startXdsServer({
      host: settings.host,
      port: settings.port,
      view: new EngineView(discovery),
      metrics: new XdsMetrics(metrics.registry),
      logger,
    });
  } catch (error) {
    throw new Error(
      `the xDS server cannot listen on ${shown(settings.host, settings.port)} ` +
        `(${(error as Error).message}); choose another --xds-addr (KONSUL_LB_XDS_ADDR)`,
    );
  }
  const example = discovery.catalog.list()[0];
  const target =
    example === undefined
      ? "xds:///<service>.<namespace>"
      : `xds:///${xdsName(example.namespace, example.name)}`;
  logger.info(
    { xds: shown(listening.host, listening.port) },
    `konsul-lb xDS (ADS) on ${shown(listening.host, listening.port)}; gRPC clients dial ${target}`,
  );
  return listening;
}
