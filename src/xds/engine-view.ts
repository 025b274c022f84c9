/**
 * The one place the xDS layer reads the catalog and the engine. Everything else in src/xds works
 * on the plain view below, so a change of the engine's API is an edit of this file alone.
 */

import type { StrategyName } from "../balancer/index.ts";
import { type HashOn, isHealthy, type ResolvedPolicy, resolvePolicy } from "../balancer/index.ts";
import type { CatalogEntry } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";

/** How an endpoint may be used, in the terms xDS health statuses speak. */
export type EndpointUse = "healthy" | "unhealthy" | "draining" | "unfiltered";

export interface XdsEndpoint {
  /** Pod name where known, else "address:port": what hash tables hash (gRFC A76 hash_key). */
  readonly identity: string;
  readonly address: string;
  readonly port: number;
  /** 1..1000, the policy's and annotations' weight. */
  readonly weight: number;
  readonly zone: string | null;
  readonly region: string | null;
  readonly use: EndpointUse;
}

/** One version of one service, as the xDS resources need it. */
export interface XdsService {
  readonly namespace: string;
  readonly name: string;
  readonly version: number;
  /** null: the policy names a strategy this server has disabled; nothing is served for it. */
  readonly strategy: StrategyName | null;
  readonly endpoints: readonly XdsEndpoint[];
  readonly ringHash: {
    readonly virtualNodes: number;
    readonly hashOn: HashOn;
    readonly minRingSize: number;
    readonly maxRingSize: number;
  };
  readonly maglev: { readonly tableSize: number; readonly hashOn: HashOn };
  readonly latencyMap: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export class EngineView {
  private readonly discovery: Discovery;
  private readonly services = new WeakMap<CatalogEntry, XdsService>();

  constructor(discovery: Discovery) {
    this.discovery = discovery;
  }

  /** The service's current version, or undefined when it is not in the catalog. */
  service(namespace: string, name: string): XdsService | undefined {
    const entry = this.discovery.catalog.get(namespace, name);
    if (entry === undefined) return undefined;
    let service = this.services.get(entry);
    if (service === undefined) {
      service = this.convert(entry);
      this.services.set(entry, service);
    }
    return service;
  }

  /** Every service key ("namespace/name") in the catalog, sorted. */
  keys(): string[] {
    return this.discovery.catalog.list().map((entry) => `${entry.namespace}/${entry.name}`);
  }

  /** The catalog-wide version: grows with every change. */
  index(): number {
    return this.discovery.catalog.index;
  }

  /** Calls `listener` with the keys of the services that changed; returns the unsubscribe. */
  onChange(listener: (keys: readonly string[]) => void): () => void {
    return this.discovery.catalog.onChange(listener);
  }

  private convert(entry: CatalogEntry): XdsService {
    const view = this.discovery.view(entry);
    let strategy: StrategyName | null;
    let policy: ResolvedPolicy;
    try {
      strategy = this.discovery.manager.strategyFor(view);
      // The view's policy carries the server's defaults; resolving fills in the engine's own.
      policy = resolvePolicy(view.policy);
    } catch {
      // A disabled strategy: HTTP answers UnknownStrategy, xDS serves nothing for the service.
      strategy = null;
      policy = resolvePolicy(undefined);
    }
    const endpoints: XdsEndpoint[] = [];
    for (const endpoint of entry.endpoints) {
      if (endpoint.port === null) continue;
      endpoints.push({
        identity: endpoint.podName ?? endpoint.identity,
        address: endpoint.address,
        port: endpoint.port,
        weight: endpoint.weight,
        zone: endpoint.zone,
        region: endpoint.region,
        use: !policy.healthFilter
          ? "unfiltered"
          : isHealthy(endpoint)
            ? "healthy"
            : endpoint.terminating && endpoint.serving && endpoint.probeHealthy !== false
              ? "draining"
              : "unhealthy",
      });
    }
    return {
      namespace: entry.namespace,
      name: entry.name,
      version: entry.version,
      strategy,
      endpoints,
      ringHash: policy.ringHash,
      maglev: policy.maglev,
      latencyMap: policy.latency.map,
    };
  }
}
