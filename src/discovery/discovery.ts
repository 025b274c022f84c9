import { isHealthy } from "../balancer/endpoint.ts";
import type {
  BalancerManager,
  OpenedConnection,
  Selection,
  SelectOptions,
  ServiceEndpoints,
  SingleSelection,
} from "../balancer/manager.ts";
import type { BalancerPolicy } from "../balancer/policy.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import { type Catalog, type CatalogEntry, serviceKey } from "../catalog/catalog.ts";

/** Server-wide defaults that apply where a service's policy says nothing. */
export interface DiscoveryDefaults {
  readonly healthFilter: boolean;
  readonly virtualNodes: number | null;
  readonly latencyMap: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export class ServiceNotFoundError extends Error {
  readonly code = "ServiceNotFound";
  constructor(namespace: string, name: string) {
    super(`service ${namespace}/${name} is not in the catalog`);
  }
}

export interface ServiceSummary {
  readonly namespace: string;
  readonly name: string;
  readonly strategy: StrategyName;
  readonly policy: string | null;
  readonly endpoints: { readonly total: number; readonly healthy: number };
  readonly version: number;
}

export interface Decided<T> {
  readonly entry: CatalogEntry;
  readonly result: T;
}

/**
 * The catalog and the balancing core joined: what every interface (HTTP, DNS) asks.
 * It turns a catalog entry into the core's view of a service once per version and drops the
 * core's state for services that leave the catalog.
 */
export class Discovery {
  readonly catalog: Catalog;
  readonly manager: BalancerManager;
  private readonly defaults: DiscoveryDefaults;
  /** One ServiceEndpoints per catalog entry object, i.e. per service version. */
  private readonly views = new WeakMap<CatalogEntry, ServiceEndpoints>();
  private readonly stopListening: () => void;

  constructor(catalog: Catalog, manager: BalancerManager, defaults: DiscoveryDefaults) {
    this.catalog = catalog;
    this.manager = manager;
    this.defaults = defaults;
    this.stopListening = catalog.onChange((keys) => {
      for (const key of keys) {
        const [namespace = "", name = ""] = key.split("/");
        if (!catalog.get(namespace, name)) manager.forget(key);
      }
    });
  }

  close(): void {
    this.stopListening();
  }

  entry(namespace: string, name: string): CatalogEntry {
    const entry = this.catalog.get(namespace, name);
    if (!entry) throw new ServiceNotFoundError(namespace, name);
    return entry;
  }

  summaries(): ServiceSummary[] {
    return this.catalog.list().map((entry) => ({
      namespace: entry.namespace,
      name: entry.name,
      strategy: this.manager.strategyFor(this.view(entry)),
      policy: entry.policy?.name ?? null,
      endpoints: {
        total: entry.endpoints.length,
        healthy: entry.endpoints.filter(isHealthy).length,
      },
      version: entry.version,
    }));
  }

  select(namespace: string, name: string, options: SelectOptions): Decided<Selection> {
    const entry = this.entry(namespace, name);
    return { entry, result: this.manager.select(this.view(entry), options) };
  }

  pick(namespace: string, name: string, options: SelectOptions): Decided<SingleSelection> {
    const entry = this.entry(namespace, name);
    return { entry, result: this.manager.selectOne(this.view(entry), options) };
  }

  openConnection(
    namespace: string,
    name: string,
    options: SelectOptions,
  ): Decided<OpenedConnection> {
    const entry = this.entry(namespace, name);
    return { entry, result: this.manager.openConnection(this.view(entry), options) };
  }

  closeConnection(id: string): boolean {
    return this.manager.closeConnection(id);
  }

  /** The core's view of a catalog entry: the policy with the server's defaults underneath. */
  view(entry: CatalogEntry): ServiceEndpoints {
    let view = this.views.get(entry);
    if (!view) {
      view = {
        key: serviceKey(entry.namespace, entry.name),
        version: entry.version,
        endpoints: entry.endpoints,
        policy: this.withDefaults(entry.policy?.balancer ?? {}),
        strategy: entry.policy?.strategy ?? null,
      };
      this.views.set(entry, view);
    }
    return view;
  }

  private withDefaults(policy: BalancerPolicy): BalancerPolicy {
    const virtualNodes = policy.ringHash?.virtualNodes ?? this.defaults.virtualNodes ?? undefined;
    return {
      ...policy,
      healthFilter: policy.healthFilter ?? this.defaults.healthFilter,
      ringHash: { ...policy.ringHash, ...(virtualNodes === undefined ? {} : { virtualNodes }) },
      latency: { map: policy.latency?.map ?? this.defaults.latencyMap },
    };
  }
}
