import { type Connection, ConnectionTable } from "./connections.ts";
import {
  compareIdentity,
  type Endpoint,
  isValidWeight,
  MAX_WEIGHT,
  MIN_WEIGHT,
} from "./endpoint.ts";
import { BalancerError } from "./errors.ts";
import { filterHealthy } from "./health.ts";
import { LoadTracker } from "./loads.ts";
import { type BalancerPolicy, type ResolvedPolicy, resolvePolicy } from "./policy.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import { BUILT_IN_STRATEGIES } from "./registry.ts";
import { latencyFromMap } from "./strategies/latency-based.ts";
import type {
  CarriedState,
  LatencyFunction,
  Picker,
  PickRequest,
  Strategy,
  StrategyName,
} from "./strategy.ts";
import { selectionSize } from "./strategy.ts";

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

export type { Connection } from "./connections.ts";

/** A change to the open connections made through this manager's own API. */
export interface ConnectionEvent {
  readonly kind: "opened" | "closed" | "expired";
  readonly connection: Connection;
}

/** Carried state by picker slot: "<strategy>|healthy" or "<strategy>|all". */
export type SlotStates = Readonly<Record<string, CarriedState>>;

export interface ManagerOptions {
  readonly defaultStrategy?: StrategyName;
  /** Strategies requests may use; absent = all registered. */
  readonly enabledStrategies?: readonly StrategyName[];
  readonly random?: RandomSource;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** Replaces the latency map lookup for latency-based (e.g. measured latencies). */
  readonly latency?: (policy: ResolvedPolicy) => LatencyFunction;
  /** Called once per picker build that had to use unhealthy endpoints. */
  readonly onHealthPanic?: (service: string, healthy: number, total: number) => void;
  readonly newConnectionId?: () => string;
}

interface CachedPicker {
  readonly version: number;
  readonly picker: Picker;
  readonly excluded: number;
  readonly panic: boolean;
  /**
   * The exported state of a picker whose state is only a table fingerprint: that never changes
   * for one picker, and hashing a large table at every export would cost more than the export.
   */
  fixedState?: CarriedState;
}

interface PickerSlots {
  healthy?: CachedPicker;
  all?: CachedPicker;
}

/** What one service keeps between requests: its pickers and its connection counts. */
interface ServiceState {
  readonly loads: LoadTracker;
  /** The service's policy resolved once per version, not once per request. */
  policy: { readonly version: number; readonly resolved: ResolvedPolicy } | null;
  /** Ids of the service's open connections. */
  readonly connections: Set<string>;
  /** State handed in by importState, applied at the next build of each slot; null when none. */
  imported: Map<string, CarriedState> | null;
  /** Grows at every decision or connection change: exporters skip services where it did not. */
  changes: number;
  /**
   * By strategy, then by health filter. Two levels rather than one "strategy|filter" string key:
   * building that string on every request cost more than the pick itself.
   */
  readonly pickers: Map<StrategyName, PickerSlots>;
}

/**
 * Dispatches selections to strategies. Pickers are cached per service by strategy and health
 * filter and rebuilt when the service's version changes, carrying their state over by
 * endpoint identity: never a table keyed by service name alone that outlives its endpoint set.
 */
export class BalancerManager {
  readonly defaultStrategy: StrategyName;
  private readonly strategies = new Map<string, Strategy>();
  private readonly enabled: ReadonlySet<string> | null;
  private readonly random: RandomSource;
  private readonly now: () => number;
  private readonly latencyFor: (policy: ResolvedPolicy) => LatencyFunction;
  private readonly onHealthPanic: ManagerOptions["onHealthPanic"];
  private readonly newConnectionId: () => string;
  private readonly services = new Map<string, ServiceState>();
  private readonly connections = new ConnectionTable();
  private readonly connectionListeners = new Set<(event: ConnectionEvent) => void>();

  constructor(options: ManagerOptions = {}) {
    for (const strategy of BUILT_IN_STRATEGIES) this.register(strategy);
    this.enabled = options.enabledStrategies ? new Set(options.enabledStrategies) : null;
    this.random = options.random ?? systemRandom;
    this.now = options.now ?? Date.now;
    this.latencyFor = options.latency ?? ((policy) => latencyFromMap(policy.latency.map));
    this.onHealthPanic = options.onHealthPanic;
    this.newConnectionId = options.newConnectionId ?? (() => crypto.randomUUID());
    this.defaultStrategy = options.defaultStrategy ?? "round-robin";
    this.strategyNamed(this.defaultStrategy);
  }

  register(strategy: Strategy): void {
    this.strategies.set(strategy.name, strategy);
  }

  /** Names requests may use, in registration order. */
  strategyNames(): StrategyName[] {
    return [...this.strategies.keys()].filter(
      (name) => this.enabled?.has(name) ?? true,
    ) as StrategyName[];
  }

  /** The strategy a request gets: its override, else the service's policy, else the default. */
  strategyFor(service: ServiceEndpoints, options: SelectOptions = {}): StrategyName {
    return this.strategyNamed(options.strategy ?? service.strategy ?? this.defaultStrategy).name;
  }

  private strategyNamed(name: string): Strategy {
    const strategy = this.strategies.get(name);
    if (!strategy || (this.enabled !== null && !this.enabled.has(name))) {
      throw new BalancerError(
        "UnknownStrategy",
        `strategy ${JSON.stringify(name)} is not ${strategy ? "enabled on this server" : "known"}; use one of ${this.strategyNames().join(", ")}`,
      );
    }
    return strategy;
  }

  select(service: ServiceEndpoints, options: SelectOptions = {}): Selection {
    const limit = options.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new BalancerError(
        "InvalidPolicy",
        `limit: ${JSON.stringify(limit)} is not allowed; expected an integer of 0 or more`,
      );
    }
    const { strategy, cached } = this.pickerFor(service, options);
    return {
      strategy,
      endpoints: listOf(cached.picker, options, limit),
      excluded: cached.excluded,
      panic: cached.panic,
    };
  }

  selectOne(service: ServiceEndpoints, options: SelectOptions = {}): SingleSelection {
    const { strategy, cached } = this.pickerFor(service, options);
    return {
      strategy,
      endpoint: cached.picker.pick(options),
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
    this.expireConnections();
    const selection = this.selectOne(service, {
      ...options,
      strategy: options.strategy ?? CONNECTION_STRATEGY,
    });
    const ttl =
      timeoutMs ??
      this.policyOf(service, this.stateOf(service.key)).leastConnections.connectionTimeoutMs;
    const connection = {
      id: this.newConnectionId(),
      service: service.key,
      identity: selection.endpoint.identity,
      expiresAt: this.now() + ttl,
    };
    this.track(connection);
    this.emit("opened", connection);
    return { ...selection, id: connection.id, expiresAt: connection.expiresAt };
  }

  /** False when the id is unknown, expired or already closed. */
  closeConnection(id: string): boolean {
    this.expireConnections();
    const connection = this.untrack(id);
    if (!connection) return false;
    this.emit("closed", connection);
    return true;
  }

  /** Releases every connection past its timeout; returns how many. */
  expireConnections(): number {
    const expired = this.connections.takeExpired(this.now());
    for (const connection of expired) {
      const state = this.services.get(connection.service);
      state?.connections.delete(connection.id);
      state?.loads.decrement(connection.identity);
      if (state) state.changes++;
      this.emit("expired", connection);
    }
    return expired.length;
  }

  // ---- Replication: what a leader exports and a follower or successor imports ----

  /**
   * Tells `listener` of every connection opened, closed or expired through this manager's own
   * API (not of the import methods below). Returns a function that stops it.
   */
  observeConnections(listener: (event: ConnectionEvent) => void): () => void {
    this.connectionListeners.add(listener);
    return () => {
      this.connectionListeners.delete(listener);
    };
  }

  /**
   * A number that differs whenever the service's exported state may have changed since it was
   * last read; -1 for a service without state.
   */
  changeCount(serviceKey: string): number {
    return this.services.get(serviceKey)?.changes ?? -1;
  }

  /** Keys of the services that have pickers, imported state or open connections. */
  serviceKeys(): string[] {
    return [...this.services.keys()];
  }

  getConnection(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** A service's open connections. */
  exportConnections(serviceKey: string): Connection[] {
    const ids = this.services.get(serviceKey)?.connections;
    if (!ids) return [];
    const result: Connection[] = [];
    for (const id of ids) {
      const connection = this.connections.get(id);
      if (connection) result.push(connection);
    }
    return result;
  }

  /** Adds a connection opened elsewhere; false when its id is known or it has expired. */
  restoreConnection(connection: Connection): boolean {
    if (this.connections.get(connection.id) || connection.expiresAt <= this.now()) return false;
    this.track(connection);
    return true;
  }

  /** Removes a connection without telling the observers (it was released elsewhere). */
  dropConnection(id: string): Connection | undefined {
    return this.untrack(id);
  }

  /**
   * Makes a service's open connections exactly `records` (those not yet expired): what a
   * follower does with each snapshot the leader writes.
   */
  replaceConnections(serviceKey: string, records: readonly Connection[]): void {
    const state = this.stateOf(serviceKey);
    const wanted = new Map<string, Connection>();
    for (const record of records) wanted.set(record.id, record);
    for (const id of [...state.connections]) {
      const current = this.connections.get(id);
      const next = wanted.get(id);
      if (
        !current ||
        !next ||
        next.identity !== current.identity ||
        next.expiresAt !== current.expiresAt
      ) {
        this.untrack(id);
      } else {
        wanted.delete(id);
      }
    }
    const now = this.now();
    for (const record of wanted.values()) {
      if (record.service === serviceKey && record.expiresAt > now) this.track(record);
    }
  }

  /**
   * Sets the state each picker slot of a service carries into its next build, replacing what
   * it would carry itself: how a new leader continues its predecessor's rotations. Unknown
   * endpoints in it are ignored as after any rebuild.
   */
  importState(serviceKey: string, slots: SlotStates): void {
    const state = this.stateOf(serviceKey);
    state.changes++;
    for (const [slot, carried] of Object.entries(slots)) {
      state.imported ??= new Map();
      state.imported.set(slot, carried);
    }
  }

  private track(connection: Connection): void {
    this.connections.add(connection);
    const state = this.stateOf(connection.service);
    state.connections.add(connection.id);
    state.loads.increment(connection.identity);
    state.changes++;
  }

  private untrack(id: string): Connection | undefined {
    const connection = this.connections.remove(id);
    if (!connection) return undefined;
    const state = this.services.get(connection.service);
    state?.connections.delete(id);
    state?.loads.decrement(connection.identity);
    if (state) state.changes++;
    return connection;
  }

  private emit(kind: ConnectionEvent["kind"], connection: Connection): void {
    for (const listener of this.connectionListeners) listener({ kind, connection });
  }

  /** Open connections of a service by endpoint identity. */
  connectionCounts(serviceKey: string): Map<string, number> {
    return new Map(this.services.get(serviceKey)?.loads.entries() ?? []);
  }

  /**
   * State each cached picker of a service would carry into a rebuild, by cache slot, with
   * imported state that no build has used yet.
   */
  exportState(serviceKey: string): Record<string, CarriedState> {
    const state: Record<string, CarriedState> = {};
    const service = this.services.get(serviceKey);
    for (const [name, slots] of service?.pickers ?? []) {
      if (slots.healthy) state[`${name}|healthy`] = exported(slots.healthy);
      if (slots.all) state[`${name}|all`] = exported(slots.all);
    }
    for (const [slot, carried] of service?.imported ?? []) state[slot] = carried;
    return state;
  }

  /** Drops everything kept for a service that no longer exists. */
  forget(serviceKey: string): void {
    const state = this.services.get(serviceKey);
    if (!state) return;
    for (const slots of state.pickers.values()) {
      slots.healthy?.picker.dispose();
      slots.all?.picker.dispose();
    }
    this.services.delete(serviceKey);
  }

  private stateOf(key: string): ServiceState {
    let state = this.services.get(key);
    if (!state) {
      state = {
        loads: new LoadTracker(),
        pickers: new Map(),
        policy: null,
        connections: new Set(),
        imported: null,
        changes: 0,
      };
      this.services.set(key, state);
    }
    return state;
  }

  private policyOf(service: ServiceEndpoints, state: ServiceState): ResolvedPolicy {
    if (state.policy?.version !== service.version) {
      state.policy = { version: service.version, resolved: resolvePolicy(service.policy) };
    }
    return state.policy.resolved;
  }

  private pickerFor(
    service: ServiceEndpoints,
    options: SelectOptions,
  ): { strategy: StrategyName; cached: CachedPicker } {
    const strategy = this.strategyNamed(
      options.strategy ?? service.strategy ?? this.defaultStrategy,
    );
    if (service.endpoints.length === 0) {
      throw new BalancerError("NoEndpoints", `service ${service.key} has no endpoints`);
    }
    const state = this.stateOf(service.key);
    state.changes++;
    const policy = this.policyOf(service, state);
    const healthFilter = options.healthFilter ?? policy.healthFilter;
    let slots = state.pickers.get(strategy.name);
    if (!slots) {
      slots = {};
      state.pickers.set(strategy.name, slots);
    }
    const previous = healthFilter ? slots.healthy : slots.all;
    // Imported state is rare; the common path pays one null check for it.
    let carried: CarriedState | undefined;
    if (state.imported !== null) {
      const slot = `${strategy.name}|${healthFilter ? "healthy" : "all"}`;
      carried = state.imported.get(slot);
      if (carried !== undefined) {
        state.imported.delete(slot);
        if (state.imported.size === 0) state.imported = null;
      }
    }
    if (carried === undefined && previous && previous.version === service.version)
      return { strategy: strategy.name, cached: previous };

    const filtered = filterHealthy(sortedValidated(service), healthFilter, policy.panicThreshold);
    if (filtered.panic)
      this.onHealthPanic?.(service.key, filtered.healthy, service.endpoints.length);
    const picker = strategy.build({
      endpoints: filtered.endpoints,
      policy,
      carried: carried ?? previous?.picker.exportState(),
      loads: state.loads,
      random: this.random,
      latency: this.latencyFor(policy),
    });
    previous?.picker.dispose();
    const cached = {
      version: service.version,
      picker,
      excluded: filtered.excluded,
      panic: filtered.panic,
    };
    if (healthFilter) slots.healthy = cached;
    else slots.all = cached;
    return { strategy: strategy.name, cached };
  }
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
    const ordered = [...picker.endpoints].sort(
      (a, b) => b.weight - a.weight || compareIdentity(a, b),
    );
    return ordered.slice(0, selectionSize(ordered.length, limit));
  }
}

function exported(cached: CachedPicker): CarriedState {
  if (cached.fixedState) return cached.fixedState;
  const state = cached.picker.exportState();
  if (state.tableFingerprint !== undefined && !state.cursor && !state.currentWeights) {
    cached.fixedState = state;
  }
  return state;
}

/** Endpoints sorted by identity, after checking what every strategy relies on. */
function sortedValidated(service: ServiceEndpoints): Endpoint[] {
  const sorted = [...service.endpoints].sort(compareIdentity);
  for (let i = 0; i < sorted.length; i++) {
    const endpoint = sorted[i] as Endpoint;
    if (!isValidWeight(endpoint.weight)) {
      throw new BalancerError(
        "InvalidEndpoint",
        `service ${service.key}, endpoint ${endpoint.identity}: weight ${JSON.stringify(endpoint.weight)} is not allowed; expected an integer from ${MIN_WEIGHT} to ${MAX_WEIGHT}`,
      );
    }
    if (i > 0 && (sorted[i - 1] as Endpoint).identity === endpoint.identity) {
      throw new BalancerError(
        "InvalidEndpoint",
        `service ${service.key}: identity ${JSON.stringify(endpoint.identity)} appears twice; identities must be unique`,
      );
    }
  }
  return sorted;
}
