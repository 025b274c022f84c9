/**
 * The engine's facade: selections, connection opens and releases, and the replication surface,
 * over the picker cache (picker-cache.ts), the connection book (connection-book.ts) and the
 * per-service state they share (service-state.ts).
 */
import {
  ConnectionBook,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_SERVICE,
} from "./connection-book.ts";
import type { Connection } from "./connections.ts";
import type { StrategyDefinition } from "./definition.ts";
import { compareIdentity, type Endpoint } from "./endpoint.ts";
import { BalancerError } from "./errors.ts";
import type { EjectionRecord, OutlierChange } from "./features/outlier-detection/index.ts";
import type { Outcome } from "./outcome.ts";
import { OutcomeBook } from "./outcome-book.ts";
import { PickerCache, type SlotStates, type TableBuildEvent } from "./picker-cache.ts";
import type { BalancerPolicy, ResolvedPolicy } from "./policy.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import { DEFAULT_REGISTRY, type StrategyName, type StrategyRegistry } from "./registry.ts";
import { type Replication, replicationOf } from "./replication.ts";
import { type CachedPicker, ServiceStates } from "./service-state.ts";
import { latencyFromMap } from "./strategies/latency-based/tiers.ts";
import type { CarriedState, LatencyFunction, Picker, PickRequest } from "./strategy.ts";
import { selectionSize } from "./strategy.ts";
import type { TableBuildPool } from "./table-builds/pool.ts";

export type { ConnectionEvent } from "./connection-book.ts";
export type { Connection } from "./connections.ts";
export type { SlotStates, TableBuildEvent } from "./picker-cache.ts";
export type { Replication } from "./replication.ts";
export {
  MAX_TABLE_BUILD_WORKERS,
  TableBuildPool,
  type TableBuildPoolOptions,
} from "./table-builds/pool.ts";

/** One service's endpoint set as a source publishes it. */
export interface ServiceEndpoints {
  /** Unique per service, e.g. "namespace/name". */
  readonly key: string;
  /** Must change whenever the endpoints, the policy or the policy's strategy change. */
  readonly version: number;
  readonly endpoints: readonly Endpoint[];
  readonly policy?: BalancerPolicy | undefined;
  /** The policy's strategy; null or absent means the manager's default. */
  readonly strategy?: string | null | undefined;
}

export interface SelectOptions extends PickRequest {
  /** Overrides the policy's strategy for this request. */
  readonly strategy?: string | undefined;
  /** At most this many endpoints; 0 or absent = all. */
  readonly limit?: number | undefined;
  /** Overrides the policy's healthFilter for this request. */
  readonly healthFilter?: boolean | undefined;
  /** An open's id, chosen by the replica that forwarded it (see ConnectionBook.open). */
  readonly connectionId?: string | undefined;
  /** The policy's subset to balance over; absent = its defaultSubset, else the whole service. */
  readonly subset?: string | undefined;
}

export interface Selection {
  readonly strategy: StrategyName;
  readonly endpoints: Endpoint[];
  /** Endpoints the health filter took out. */
  readonly excluded: number;
  /** True when too few were healthy and all endpoints were used. */
  readonly panic: boolean;
}

export interface SingleSelection {
  readonly strategy: StrategyName;
  readonly endpoint: Endpoint;
  readonly excluded: number;
  readonly panic: boolean;
}

/** The strategy of a connection open that names none: the one that counts connections. */
export const CONNECTION_STRATEGY: StrategyName = "least-connections";

export interface OpenedConnection extends SingleSelection {
  readonly id: string;
  readonly expiresAt: number;
}

export interface ManagerOptions {
  readonly defaultStrategy?: StrategyName;
  /** Strategies requests may use; absent = all registered. */
  readonly enabledStrategies?: readonly StrategyName[];
  /** The strategies there are; absent = the built-in ones. */
  readonly registry?: StrategyRegistry;
  /** The server's defaults, under each service's policy (a field the policy leaves out). */
  readonly policyDefaults?: BalancerPolicy;
  readonly random?: RandomSource;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** Replaces the latency map lookup for latency-based (e.g. measured latencies). */
  readonly latency?: (policy: ResolvedPolicy) => LatencyFunction;
  /** Called once per picker build that had to use unhealthy endpoints. */
  readonly onHealthPanic?: (service: string, healthy: number, total: number) => void;
  readonly newConnectionId?: () => string;
  /** Open connections counted at most, across services; more opens are refused. */
  readonly maxConnections?: number;
  /** Open connections counted at most per service. */
  readonly maxConnectionsPerService?: number;
  /**
   * Builds big ring-hash and Maglev tables of changed services off the event loop (the old table
   * serves meanwhile); absent = every table is built inline. The caller closes it.
   */
  readonly tableBuildPool?: TableBuildPool;
  /** Called once per table built off the event loop, or built inline after that failed. */
  readonly onTableBuild?: (event: TableBuildEvent) => void;
}

/**
 * Dispatches selections to strategies. Pickers are cached per service by strategy and health
 * filter and rebuilt when the service's version changes (ahead of requests, through `refresh`),
 * carrying their state over by endpoint identity: never a table keyed by service name alone
 * that outlives its endpoint set.
 */
export class BalancerManager implements Replication {
  readonly defaultStrategy: StrategyName;
  readonly registry: StrategyRegistry;
  /** What high availability reads and writes; nothing else of the engine. */
  readonly replication: Replication;
  private readonly states: ServiceStates;
  private readonly pickers: PickerCache;
  private readonly connections: ConnectionBook;
  private readonly outcomes: OutcomeBook;

  constructor(options: ManagerOptions = {}) {
    const now = options.now ?? Date.now;
    this.states = new ServiceStates(now);
    this.registry = options.registry ?? DEFAULT_REGISTRY;
    this.defaultStrategy = options.defaultStrategy ?? "round-robin";
    this.pickers = new PickerCache(this.states, {
      registry: this.registry,
      defaultStrategy: this.defaultStrategy,
      enabled: options.enabledStrategies ? new Set(options.enabledStrategies) : null,
      policyDefaults: options.policyDefaults ?? {},
      random: options.random ?? systemRandom,
      latencyFor: options.latency ?? ((policy) => latencyFromMap(policy.latency.map)),
      onHealthPanic: options.onHealthPanic,
      now: options.now ?? Date.now,
      pool: options.tableBuildPool ?? null,
      onTableBuild: options.onTableBuild,
    });
    this.outcomes = new OutcomeBook(
      this.states,
      (service, state) => this.pickers.policyOf(service, state),
      now,
    );
    this.connections = new ConnectionBook(
      this.states,
      now,
      options.newConnectionId ?? (() => crypto.randomUUID()),
      {
        total: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        perService: options.maxConnectionsPerService ?? DEFAULT_MAX_CONNECTIONS_PER_SERVICE,
      },
    );
    this.replication = replicationOf(this.states, this.pickers, this.connections, this.outcomes);
  }

  /** Names requests may use, in registration order. */
  strategyNames(): StrategyName[] {
    return this.pickers.strategyNames() as StrategyName[];
  }

  /** The strategy a request gets: its override, else the service's policy, else the default. */
  strategyFor(service: ServiceEndpoints, options: SelectOptions = {}): StrategyName {
    return this.pickers.strategyFor(service, options).name as StrategyName;
  }

  /** The definition of the strategy a request gets (see strategyFor). */
  definitionFor(service: ServiceEndpoints, options: SelectOptions = {}): StrategyDefinition {
    return this.pickers.strategyFor(service, options);
  }

  /** The service's policy with the server's defaults under it, resolved. */
  policyFor(service: ServiceEndpoints): ResolvedPolicy {
    return this.pickers.policyOf(service);
  }

  /** Rebuilds the service's pickers in use for its current version: call on every change. */
  refresh(service: ServiceEndpoints): void {
    this.pickers.refresh(service);
    try {
      this.outcomes.sync(service);
    } catch {
      // An invalid policy: requests meet the error, and the detector waits for a valid one.
    }
  }

  /**
   * Counts outcomes clients reported (endpoint identities resolved already); returns the
   * ejections they caused. The caller marks ejected endpoints in the catalog (see
   * `ejectedEndpoints`), which is what takes them out of every answer. With `detect` false
   * (a replica that does not decide ejections) only the latencies are kept.
   */
  recordOutcomes(
    service: ServiceEndpoints,
    outcomes: readonly Outcome[],
    detect = true,
  ): OutlierChange[] {
    return this.outcomes.record(service, outcomes, detect);
  }

  /** Ends ejections that ran out and compares success rates, once the interval is over. */
  evaluateOutliers(service: ServiceEndpoints): OutlierChange[] {
    return this.outcomes.evaluate(service);
  }

  /** Identities the service's outlier detection has ejected now. */
  ejectedEndpoints(serviceKey: string): string[] {
    return this.outcomes.ejected(serviceKey);
  }

  exportEjections(serviceKey: string): EjectionRecord[] {
    return this.outcomes.exportEjections(serviceKey);
  }

  importEjections(service: ServiceEndpoints, records: readonly EjectionRecord[]): void {
    this.outcomes.importEjections(service, records);
  }

  select(service: ServiceEndpoints, options: SelectOptions = {}): Selection {
    const limit = options.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new BalancerError(
        "InvalidPolicy",
        `limit: ${JSON.stringify(limit)} is not allowed; expected an integer of 0 or more`,
      );
    }
    const { strategy, cached } = this.pickers.pickerFor(service, options);
    return {
      strategy: strategy.name as StrategyName,
      endpoints: asCataloged(cached, listOf(cached.picker, options, limit)),
      excluded: cached.excluded,
      panic: cached.panic,
    };
  }

  selectOne(service: ServiceEndpoints, options: SelectOptions = {}): SingleSelection {
    const { strategy, cached } = this.pickers.pickerFor(service, options);
    return {
      strategy: strategy.name as StrategyName,
      endpoint:
        cached.originals === null
          ? cached.picker.pick(options)
          : original(cached.originals, cached.picker.pick(options)),
      excluded: cached.excluded,
      panic: cached.panic,
    };
  }

  /**
   * Picks an endpoint (least-connections unless the request names a strategy) and counts a
   * connection on it until `closeConnection` or its timeout, whichever comes first.
   */
  openConnection(
    service: ServiceEndpoints,
    options: SelectOptions = {},
    timeoutMs?: number,
  ): OpenedConnection {
    this.connections.expire();
    // Refused before a pick, so a refused open moves no rotation.
    this.connections.ensureRoom(service.key);
    const selection = this.selectOne(service, {
      ...options,
      strategy: options.strategy ?? CONNECTION_STRATEGY,
    });
    const ttl = timeoutMs ?? this.policyFor(service).leastConnections.connectionTimeoutMs;
    const connection = this.connections.open(
      service.key,
      selection.endpoint.identity,
      ttl,
      options.connectionId,
    );
    return { ...selection, id: connection.id, expiresAt: connection.expiresAt };
  }

  /** False when the id is unknown, expired or already closed. */
  closeConnection(id: string): boolean {
    return this.connections.close(id);
  }

  /** Releases every connection past its timeout; returns how many. */
  expireConnections(): number {
    return this.connections.expire();
  }

  /** Open connections of a service by endpoint identity. */
  connectionCounts(serviceKey: string): Map<string, number> {
    return this.connections.counts(serviceKey);
  }

  /** Drops everything kept for a service that no longer exists. */
  forget(serviceKey: string): void {
    this.states.delete(serviceKey);
  }

  // ---- Replication (see replication.ts), kept on the facade for callers that hold it ----

  observeConnections(listener: Parameters<Replication["observeConnections"]>[0]): () => void {
    return this.replication.observeConnections(listener);
  }

  changeCount(serviceKey: string): number {
    return this.replication.changeCount(serviceKey);
  }

  serviceKeys(): string[] {
    return this.replication.serviceKeys();
  }

  getConnection(id: string): Connection | undefined {
    return this.replication.getConnection(id);
  }

  exportConnections(serviceKey: string): Connection[] {
    return this.replication.exportConnections(serviceKey);
  }

  restoreConnection(connection: Connection): boolean {
    return this.replication.restoreConnection(connection);
  }

  dropConnection(id: string): Connection | undefined {
    return this.replication.dropConnection(id);
  }

  replaceConnections(serviceKey: string, records: readonly Connection[]): void {
    this.replication.replaceConnections(serviceKey, records);
  }

  exportState(serviceKey: string): Record<string, CarriedState> {
    return this.replication.exportState(serviceKey);
  }

  importState(serviceKey: string, slots: SlotStates): void {
    this.replication.importState(serviceKey, slots);
  }
}

/** The catalog's endpoint for the copy a picker holds (see CachedPicker.originals). */
function original(originals: ReadonlyMap<Endpoint, Endpoint>, endpoint: Endpoint): Endpoint {
  return originals.get(endpoint) ?? endpoint;
}

function asCataloged(cached: CachedPicker, endpoints: Endpoint[]): Endpoint[] {
  const originals = cached.originals;
  return originals === null ? endpoints : endpoints.map((e) => original(originals, e));
}

/**
 * The picker's list for a request. A hash strategy's list without its key (no session key, no
 * client IP) is every endpoint in a fixed order, heaviest first, then by identity — the
 * endpoints that take the most keys first, the same on every request and every replica — so a
 * client that caches the list needs no key. A single pick without its key stays an error.
 */
function listOf(picker: Picker, request: PickRequest, limit: number): Endpoint[] {
  try {
    return picker.select(request, limit);
  } catch (error) {
    if (
      !(error instanceof BalancerError) ||
      (error.code !== "MissingSessionKey" && error.code !== "MissingClientIP")
    ) {
      throw error;
    }
    let ordered = KEYLESS_ORDER.get(picker);
    if (ordered === undefined) {
      ordered = [...picker.endpoints].sort((a, b) => b.weight - a.weight || compareIdentity(a, b));
      KEYLESS_ORDER.set(picker, ordered);
    }
    return ordered.slice(0, selectionSize(ordered.length, limit));
  }
}

/**
 * A hash picker's keyless order (see listOf), sorted once per picker rather than per request:
 * every blocking query on a big service's list asks for it again after each change.
 */
const KEYLESS_ORDER = new WeakMap<Picker, readonly Endpoint[]>();
