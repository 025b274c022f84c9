import type { ResolvedPolicy, StrategyDefinition, StrategyName } from "../balancer/index.ts";
import {
  type BalancerManager,
  type BalancerPolicy,
  CONNECTION_STRATEGY,
  fromTrafficDistribution,
  isBalancerError,
  isHealthy,
  normalizeClientIp,
  type OpenedConnection,
  type Selection,
  type SelectOptions,
  type ServiceEndpoints,
  type SingleSelection,
} from "../balancer/index.ts";
import { CallerLocalityIndex } from "../catalog/caller-locality.ts";
import { type Catalog, type CatalogEntry, serviceKey } from "../catalog/catalog.ts";
import type { Metrics } from "../observability/metrics.ts";
import { DecisionMetrics, type ServiceDecisionMetrics, type Timing } from "./decision-metrics.ts";

export interface DiscoveryOptions {
  /** Where every decision's selection metrics go; absent = not recorded (simulate). */
  readonly metrics?: Metrics;
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

/** What a decision produces: a ranked selection, one endpoint, or one counted connection. */
export interface DecisionResults {
  readonly select: Selection;
  readonly pick: SingleSelection;
  readonly open: OpenedConnection;
}
export type DecisionKind = keyof DecisionResults;

export interface DecisionRequest<K extends DecisionKind = DecisionKind> {
  readonly namespace: string;
  readonly name: string;
  /**
   * The service's entry when the caller has just found it in the catalog (the current one, not
   * a kept older version): spares a second look-up by name.
   */
  readonly entry?: CatalogEntry;
  readonly kind: K;
  /**
   * The request's parameters, or a function reading them when reading may fail: the failure
   * is then counted as the decision's.
   */
  readonly options: SelectOptions | (() => SelectOptions);
  /** How the decision is timed for konsul_lb_selection_duration_seconds; default every. */
  readonly timing?: Timing;
}

export interface Decision<K extends DecisionKind = DecisionKind> {
  readonly entry: CatalogEntry;
  /** The strategy that decided, with the traits interfaces write answers by. */
  readonly strategy: StrategyDefinition;
  /** The service's policy with the server's defaults under it. */
  readonly policy: ResolvedPolicy;
  readonly result: DecisionResults[K];
}

/**
 * The catalog and the balancing core joined: what every interface (HTTP, DNS) asks, through
 * `decide`. It turns a catalog entry into the core's view of a service once per version, has
 * the core rebuild a changed service's pickers before any request sees the change, drops the
 * core's state for services that leave the catalog, and records each decision's metrics.
 */
export class Discovery {
  readonly catalog: Catalog;
  readonly manager: BalancerManager;
  private readonly metrics: DecisionMetrics | null;
  /**
   * Per catalog entry object, i.e. per service version: its ServiceEndpoints and its decision
   * metrics, so that a decision builds no "namespace/name" key to find either.
   */
  private readonly known = new WeakMap<CatalogEntry, KnownEntry>();
  private readonly stopListening: () => void;
  /** Where callers are, by address, for policies with a locality. */
  readonly callers: CallerLocalityIndex;

  constructor(catalog: Catalog, manager: BalancerManager, options: DiscoveryOptions = {}) {
    this.catalog = catalog;
    this.manager = manager;
    this.callers = new CallerLocalityIndex(catalog);
    this.metrics = options.metrics ? new DecisionMetrics(options.metrics) : null;
    this.stopListening = catalog.onChange((keys) => {
      for (const key of keys) {
        const [namespace = "", name = ""] = key.split("/");
        const entry = catalog.get(namespace, name);
        if (entry) manager.refresh(this.view(entry));
        else manager.forget(key);
      }
    });
  }

  close(): void {
    this.stopListening();
    this.callers.close();
  }

  /** The service's catalog entry, or undefined. */
  find(namespace: string, name: string): CatalogEntry | undefined {
    return this.catalog.get(namespace, name);
  }

  /** The service's catalog entry; throws ServiceNotFoundError when there is none. */
  entry(namespace: string, name: string): CatalogEntry {
    const entry = this.catalog.get(namespace, name);
    if (!entry) throw new ServiceNotFoundError(namespace, name);
    return entry;
  }

  /** The catalog's index: grows with every change, removals included. */
  get index(): number {
    return this.catalog.index;
  }

  /** Every service's catalog entry. */
  entries(): CatalogEntry[] {
    return this.catalog.list();
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

  /** The strategy a request with `options` would get; throws UnknownStrategy as a decision would. */
  strategyFor(entry: CatalogEntry, options: SelectOptions = {}): StrategyDefinition {
    return this.manager.definitionFor(this.view(entry), options);
  }

  /** The service's policy with the server's defaults under it. */
  policyOf(entry: CatalogEntry): ResolvedPolicy {
    return this.manager.policyFor(this.view(entry));
  }

  /**
   * One load-balancing decision, with its metrics: the only way an interface gets an answer.
   * The service label is set only for services in the catalog, so unknown names cannot grow
   * the series set. Throws what the decision throws (ServiceNotFoundError, BalancerError).
   */
  decide<K extends DecisionKind>(request: DecisionRequest<K>): Decision<K> {
    const entry = request.entry ?? this.catalog.get(request.namespace, request.name);
    const known = entry === undefined ? undefined : this.knownOf(entry);
    const metrics = known === undefined ? null : this.metricsOf(known);
    const started = metrics?.timeNext(request.timing ?? "every") ? process.hrtime.bigint() : null;
    let strategyName = "";
    try {
      const asked = typeof request.options === "function" ? request.options() : request.options;
      if (!entry || !known) throw new ServiceNotFoundError(request.namespace, request.name);
      // A connection open that names no strategy is decided by the one that counts connections.
      const { view } = known;
      const located = this.located(asked, this.manager.policyFor(view));
      const options =
        request.kind === "open"
          ? { ...located, strategy: located.strategy ?? CONNECTION_STRATEGY }
          : located;
      const strategy = this.manager.definitionFor(view, options);
      strategyName = strategy.name;
      const result = this.run(request.kind, view, options);
      const policy = this.manager.policyFor(view);
      if (metrics) {
        metrics.succeeded(
          strategyName,
          started === null ? null : Number(process.hrtime.bigint() - started) / 1e9,
        );
        if (result.excluded > 0) metrics.healthFiltered.inc();
        if (result.panic) metrics.healthPanic.inc();
      }
      return { entry, strategy, policy, result: result as DecisionResults[K] };
    } catch (error) {
      if (metrics) metrics.failed(strategyName, resultCodeOf(error));
      else this.metrics?.unknownService(resultCodeOf(error));
      throw error;
    }
  }

  private run(
    kind: DecisionKind,
    view: ServiceEndpoints,
    options: SelectOptions,
  ): DecisionResults[DecisionKind] {
    switch (kind) {
      case "select":
        return this.manager.select(view, options);
      case "pick":
        return this.manager.selectOne(view, options);
      case "open":
        return this.manager.openConnection(view, options);
    }
  }

  /**
   * The request with its caller's place, for a policy with a locality: the place the request
   * names (client-node, client-zone, client-region: any of them, and then only those), else the
   * place of the pod or node whose address the client IP is — with that pod's Service as the
   * callers whose share of the local tier is the tier's fair share — else none.
   */
  private located(options: SelectOptions, policy: ResolvedPolicy): SelectOptions {
    if (policy.locality === null || policy.locality === undefined) return options;
    if (
      options.clientIp === undefined ||
      options.clientNode !== undefined ||
      options.clientZone !== undefined ||
      options.clientRegion !== undefined
    ) {
      return options;
    }
    const place = this.callers.locate(normalizeClientIp(options.clientIp));
    if (place === undefined) return options;
    const { node, zone, region } = place.locality;
    const [namespace = "", name = ""] = place.service.split("/");
    const peers = this.catalog.get(namespace, name);
    return {
      ...options,
      clientNode: node,
      clientZone: zone,
      clientRegion: region,
      callerPeers:
        peers === undefined
          ? undefined
          : { key: `${place.service}@${peers.version}`, endpoints: peers.endpoints },
    };
  }

  closeConnection(id: string): boolean {
    return this.manager.closeConnection(id);
  }

  /** The core's view of a catalog entry (the server's defaults lie in the manager). */
  view(entry: CatalogEntry): ServiceEndpoints {
    return this.knownOf(entry).view;
  }

  private knownOf(entry: CatalogEntry): KnownEntry {
    let known = this.known.get(entry);
    if (!known) {
      const key = serviceKey(entry.namespace, entry.name);
      known = {
        view: {
          key,
          version: entry.version,
          endpoints: entry.endpoints,
          policy: withTrafficDistribution(entry),
          strategy: entry.policy?.strategy ?? null,
        },
        metrics: undefined,
      };
      this.known.set(entry, known);
    }
    return known;
  }

  /** The service's decision metrics, made at its first decision; null when not recorded. */
  private metricsOf(known: KnownEntry): ServiceDecisionMetrics | null {
    if (this.metrics === null) return null;
    known.metrics ??= this.metrics.of(known.view.key);
    return known.metrics;
  }
}

interface KnownEntry {
  readonly view: ServiceEndpoints;
  /** Set at the service's first recorded decision. */
  metrics: ServiceDecisionMetrics | undefined;
}

/**
 * The policy's balancing settings, with the Service's spec.trafficDistribution as its locality
 * when the policy says nothing of locality.
 */
function withTrafficDistribution(entry: CatalogEntry): BalancerPolicy {
  const balancer = entry.policy?.balancer ?? {};
  if (balancer.locality !== undefined) return balancer;
  const locality = fromTrafficDistribution(entry.trafficDistribution);
  return locality === undefined ? balancer : { ...balancer, locality };
}

/**
 * The result label of a failed decision: the error's code as the discovery API names it.
 * Invalid endpoints and policies never reach the catalog, so meeting one is a defect of ours.
 */
function resultCodeOf(error: unknown): string {
  if (error instanceof ServiceNotFoundError) return error.code;
  if (isBalancerError(error)) {
    switch (error.code) {
      case "InvalidEndpoint":
      case "InvalidPolicy":
        return "Internal";
      case "MissingClientIP":
        return "InvalidParameter";
      default:
        return error.code;
    }
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "Internal";
}
