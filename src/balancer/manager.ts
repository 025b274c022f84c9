import { ConnectionTable } from "./connections.ts";
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

export interface OpenedConnection extends SingleSelection {
  readonly id: string;
  readonly expiresAt: number;
}

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
  /** By strategy name and health-filter flag. */
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
      endpoints: cached.picker.select(options, limit),
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
      strategy: options.strategy ?? "least-connections",
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
    this.connections.add(connection);
    this.stateOf(service.key).loads.increment(connection.identity);
    return { ...selection, id: connection.id, expiresAt: connection.expiresAt };
  }

  /** False when the id is unknown, expired or already closed. */
  closeConnection(id: string): boolean {
    this.expireConnections();
    const connection = this.connections.remove(id);
    if (!connection) return false;
    this.services.get(connection.service)?.loads.decrement(connection.identity);
    return true;
  }

  /** Releases every connection past its timeout; returns how many. */
  expireConnections(): number {
    const expired = this.connections.takeExpired(this.now());
    for (const connection of expired) {
      this.services.get(connection.service)?.loads.decrement(connection.identity);
    }
    return expired.length;
  }

  /** Open connections of a service by endpoint identity. */
  connectionCounts(serviceKey: string): Map<string, number> {
    return new Map(this.services.get(serviceKey)?.loads.entries() ?? []);
  }

  /** State each cached picker of a service would carry into a rebuild, by cache slot. */
  exportState(serviceKey: string): Record<string, CarriedState> {
    const state: Record<string, CarriedState> = {};
    for (const [name, slots] of this.services.get(serviceKey)?.pickers ?? []) {
      if (slots.healthy) state[`${name}|healthy`] = slots.healthy.picker.exportState();
      if (slots.all) state[`${name}|all`] = slots.all.picker.exportState();
    }
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
      state = { loads: new LoadTracker(), pickers: new Map(), policy: null };
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
    const policy = this.policyOf(service, state);
    const healthFilter = options.healthFilter ?? policy.healthFilter;
    let slots = state.pickers.get(strategy.name);
    if (!slots) {
      slots = {};
      state.pickers.set(strategy.name, slots);
    }
    const previous = healthFilter ? slots.healthy : slots.all;
    if (previous && previous.version === service.version)
      return { strategy: strategy.name, cached: previous };

    const filtered = filterHealthy(sortedValidated(service), healthFilter, policy.panicThreshold);
    if (filtered.panic)
      this.onHealthPanic?.(service.key, filtered.healthy, service.endpoints.length);
    const picker = strategy.build({
      endpoints: filtered.endpoints,
      policy,
      carried: previous?.picker.exportState(),
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
