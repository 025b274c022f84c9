/**
 * Pickers by service, strategy and health filter, built from the service's endpoints and kept
 * until its version changes. Rebuilding is the catalog's business, not the requests': when a
 * service changes, `refresh` rebuilds the slots that were in use before any request sees the
 * new version (as gRPC's regeneratePicker and Envoy's refresh() do), so a request builds a table
 * only for a slot nobody used before. State that outlives a rebuild (cursors, current weights)
 * is carried by endpoint identity.
 */
import { deepEqual } from "./deep-equal.ts";
import type { StrategyDefinition } from "./definition.ts";
import {
  compareIdentity,
  type Endpoint,
  inIdentityOrder,
  isValidWeight,
  MAX_WEIGHT,
  MIN_WEIGHT,
} from "./endpoint.ts";
import { BalancerError } from "./errors.ts";
import type { BuildShape, Narrowing, RoutePart } from "./features/index.ts";
import { POLICY_FEATURES } from "./features/index.ts";
import { unitHash } from "./hash.ts";
import { filterHealthy } from "./health.ts";
import type { SelectOptions, ServiceEndpoints } from "./manager.ts";
import { type BalancerPolicy, type ResolvedPolicy, resolvePolicy } from "./policy.ts";
import type { RandomSource } from "./random.ts";
import type { StrategyRegistry } from "./registry.ts";
import type {
  CachedPicker,
  PickerSlots,
  ServiceState,
  ServiceStates,
  SlotBuild,
} from "./service-state.ts";
import { normalizeClientIp } from "./strategies/shared/hash-key.ts";
import type { BuildContext, CarriedState, LatencyFunction, Picker } from "./strategy.ts";
import { jobEntries } from "./table-builds/jobs.ts";
import { PoolClosedError, type TableBuildPool } from "./table-builds/pool.ts";

/** Carried state by picker slot: "<strategy>|healthy" or "<strategy>|all". */
export type SlotStates = Readonly<Record<string, CarriedState>>;

export interface PickerCacheOptions {
  readonly registry: StrategyRegistry;
  readonly defaultStrategy: string;
  /** Strategies requests may use; null = all registered. */
  readonly enabled: ReadonlySet<string> | null;
  /** The server's defaults, under each service's policy. */
  readonly policyDefaults: BalancerPolicy;
  readonly random: RandomSource;
  readonly latencyFor: (policy: ResolvedPolicy) => LatencyFunction;
  readonly onHealthPanic: ((service: string, healthy: number, total: number) => void) | undefined;
  /** Milliseconds since the epoch: when a slow-start step is due. */
  readonly now: () => number;
  /** Where big hash tables of a changed service are built; null = inline, on the event loop. */
  readonly pool: TableBuildPool | null;
  /** Called once per table built off the event loop, or built inline after that failed. */
  readonly onTableBuild: ((event: TableBuildEvent) => void) | undefined;
}

/** A table build a catalog change sent off the event loop, as it ended. */
export interface TableBuildEvent {
  readonly service: string;
  readonly strategy: string;
  /** "worker": built by the pool; "fallback": the pool failed and it was built inline. */
  readonly where: "worker" | "fallback";
  readonly error?: Error;
}

/**
 * Tables with fewer entries than this are built inline: handing the job to a worker and its
 * table back costs about as much as building a few tens of thousands of entries (see
 * docs/performance.md, "Isolation"). Maglev's default 65,537 slots are above it.
 */
export const OFFLOAD_MIN_ENTRIES = 32_768;

/** Everything a picker's build needs but the picker itself. */
interface PreparedBuild {
  readonly service: ServiceEndpoints;
  readonly healthFilter: boolean;
  /** The strategy that builds: the slot's own, or a stand-in (slow start). */
  readonly strategy: StrategyDefinition;
  readonly context: BuildContext;
  readonly excluded: number;
  readonly panic: boolean;
  readonly validUntil: number;
  readonly originals: ReadonlyMap<Endpoint, Endpoint> | null;
}

/** The features that narrow a request or reshape a build, picked out once. */
const NARROWING_FEATURES = POLICY_FEATURES.filter((feature) => feature.narrow !== undefined);
const SHAPING_FEATURES = POLICY_FEATURES.filter((feature) => feature.shape !== undefined);
const ROUTING_FEATURES = POLICY_FEATURES.filter((feature) => feature.route !== undefined);

/**
 * "<strategy>/<narrowing>", made once per narrowing and strategy: a string built per request
 * would also be hashed afresh by the slot lookup, which cost more than the pick.
 */
const SLOT_KEYS = new WeakMap<Narrowing, Map<string, string>>();

function slotKeyOf(strategy: string, narrowing: Narrowing): string {
  let keys = SLOT_KEYS.get(narrowing);
  if (keys === undefined) {
    keys = new Map();
    SLOT_KEYS.set(narrowing, keys);
  }
  let key = keys.get(strategy);
  if (key === undefined) {
    key = `${strategy}/${narrowing.name}`;
    keys.set(strategy, key);
  }
  return key;
}

/** Routed slots (locality tiers) kept at most per service; beyond it they start afresh. */
const MAX_ROUTED_SLOTS = 256;

/** A routed slot's name holds this: "<strategy>/[<subset>]@<tier>". */
const ROUTED_SLOT_MARK = "@";

/** Counts a routed slot made, dropping them all when there are more than MAX_ROUTED_SLOTS. */
function countRoutedSlot(state: ServiceState): void {
  if (state.routes === null) return;
  state.routes.slots++;
  if (state.routes.slots > MAX_ROUTED_SLOTS) {
    dropRoutedSlots(state);
    state.routes.slots = 1;
  }
}

/**
 * Drops the pickers of routed slots (locality tiers), as when the service's version changes: a
 * tier is per caller locality, so keeping them across versions would let their number grow
 * with every caller ever seen.
 */
function dropRoutedSlots(state: ServiceState): void {
  for (const [name, slots] of state.pickers) {
    if (!name.includes(ROUTED_SLOT_MARK)) continue;
    slots.healthy?.picker.dispose();
    slots.all?.picker.dispose();
    state.pickers.delete(name);
  }
}

export class PickerCache {
  private readonly states: ServiceStates;
  private readonly options: PickerCacheOptions;
  // Read on every request: kept as fields rather than reached through `options`.
  private readonly registry: StrategyRegistry;
  private readonly enabled: ReadonlySet<string> | null;
  private readonly defaultStrategy: string;

  constructor(states: ServiceStates, options: PickerCacheOptions) {
    this.states = states;
    this.options = options;
    this.registry = options.registry;
    this.enabled = options.enabled;
    this.defaultStrategy = options.defaultStrategy;
    this.strategyNamed(options.defaultStrategy);
  }

  /** Names requests may use, in registration order. */
  strategyNames(): string[] {
    const enabled = this.enabled;
    return this.registry.names.filter((name) => enabled?.has(name) ?? true);
  }

  strategyNamed(name: string): StrategyDefinition {
    const strategy = this.registry.get(name);
    if (!strategy || (this.enabled !== null && !this.enabled.has(name))) {
      throw new BalancerError(
        "UnknownStrategy",
        `strategy ${JSON.stringify(name)} is not ${strategy ? "enabled on this server" : "known"}; use one of ${this.strategyNames().join(", ")}`,
      );
    }
    return strategy;
  }

  /** The strategy a request gets: its override, else the service's policy, else the default. */
  strategyFor(service: ServiceEndpoints, options: SelectOptions = {}): StrategyDefinition {
    return this.strategyNamed(options.strategy ?? service.strategy ?? this.defaultStrategy);
  }

  /**
   * The service's policy with the server's defaults under it, resolved once per version, and
   * carried over to a new version whose policy is the same (a change of endpoints only).
   */
  policyOf(
    service: ServiceEndpoints,
    state: ServiceState = this.states.of(service.key),
  ): ResolvedPolicy {
    const cached = state.policy;
    if (cached?.version === service.version) return cached.resolved;
    const resolved =
      cached !== null && deepEqual(cached.given, service.policy)
        ? cached.resolved
        : resolvePolicy(service.policy, this.options.registry, this.options.policyDefaults);
    state.policy = { version: service.version, given: service.policy, resolved };
    return resolved;
  }

  /** The picker for a request: the cached one, built here only for a slot never used before. */
  pickerFor(
    service: ServiceEndpoints,
    options: SelectOptions,
  ): { strategy: StrategyDefinition; cached: CachedPicker } {
    const strategy = this.strategyFor(service, options);
    if (service.endpoints.length === 0) {
      throw new BalancerError("NoEndpoints", `service ${service.key} has no endpoints`);
    }
    const state = this.states.of(service.key);
    state.changes++;
    const policy = this.policyOf(service, state);
    const healthFilter = options.healthFilter ?? policy.healthFilter;
    const narrowed = narrowingOf(policy, options);
    const narrowing =
      ROUTING_FEATURES.length === 0
        ? narrowed
        : this.routed(service, state, strategy, policy, healthFilter, narrowed, options);
    const slotKey = narrowing === null ? strategy.name : slotKeyOf(strategy.name, narrowing);
    let slots = state.pickers.get(slotKey);
    if (!slots) {
      if (narrowing !== narrowed) countRoutedSlot(state);
      slots = {};
      state.pickers.set(slotKey, slots);
    }
    const previous = healthFilter ? slots.healthy : slots.all;
    if (
      previous &&
      previous.version === service.version &&
      (previous.validUntil === Number.POSITIVE_INFINITY || previous.validUntil > this.options.now())
    ) {
      return { strategy, cached: previous };
    }
    if (previous && (healthFilter ? slots.building?.healthy : slots.building?.all)) {
      // The new version's table is being built off the event loop: the old one serves until it
      // is ready, so no request waits for a build.
      return { strategy, cached: previous };
    }
    const cached = this.build(
      service,
      state,
      strategy,
      slots,
      healthFilter,
      policy,
      undefined,
      narrowing,
    );
    return { strategy, cached };
  }

  /**
   * The narrowing a routing feature (locality) sends the request to within `narrowed` (a
   * subset, or the whole service), or `narrowed` itself when none does.
   */
  private routed(
    service: ServiceEndpoints,
    state: ServiceState,
    strategy: StrategyDefinition,
    policy: ResolvedPolicy,
    healthFilter: boolean,
    narrowed: Narrowing | null,
    options: SelectOptions,
  ): Narrowing | null {
    for (const feature of ROUTING_FEATURES) {
      if (policy[feature.key] === null || policy[feature.key] === undefined) continue;
      const part = this.routePart(
        service,
        state,
        strategy,
        policy,
        healthFilter,
        narrowed,
        options,
      );
      const tier = feature.route?.(policy, options, part) ?? null;
      if (tier !== null) return tier;
    }
    return narrowed;
  }

  private routePart(
    service: ServiceEndpoints,
    state: ServiceState,
    strategy: StrategyDefinition,
    policy: ResolvedPolicy,
    healthFilter: boolean,
    narrowed: Narrowing | null,
    options: SelectOptions,
  ): RoutePart {
    if (state.routes?.version !== service.version) {
      state.routes = { version: service.version, parts: new Map(), slots: 0 };
      dropRoutedSlots(state);
    }
    // Nested maps rather than a "<name>|<filter>" key: building that string on every request
    // cost more than the pick.
    const partName = narrowed?.name ?? "";
    let caches = state.routes.parts.get(partName);
    if (caches === undefined) {
      caches = [new Map(), new Map()];
      state.routes.parts.set(partName, caches);
    }
    const cache = caches[healthFilter ? 0 : 1];
    const hashOn = strategy.traits.hashesOn(policy);
    const random = this.options.random;
    return {
      name: partName,
      healthFilter,
      cache,
      endpoints: () => {
        const all = sortedValidated(service);
        return narrowed === null ? all : narrowed.filter(all);
      },
      draw: (seed) => {
        if (hashOn === null) return random.next();
        const key = hashOn === "client-ip" ? options.clientIp : options.sessionKey;
        // A request without its key (a listing) stays in its nearest tier.
        return key === undefined || key === "" ? 0 : unitHash(normalizeClientIp(key), seed);
      },
    };
  }

  /**
   * Rebuilds, for the service's current version, every slot that holds a picker of an older
   * one: what a catalog change calls before requests see the new version. A version that cannot
   * be built (no endpoints, an invalid policy) keeps the old pickers; requests then meet the
   * error as before.
   */
  refresh(service: ServiceEndpoints): void {
    const state = this.states.get(service.key);
    if (!state || state.pickers.size === 0 || service.endpoints.length === 0) return;
    let policy: ResolvedPolicy;
    try {
      policy = this.policyOf(service, state);
    } catch {
      return;
    }
    for (const [name, slots] of state.pickers) {
      // A subset's slots ("<strategy>/<subset>") are rebuilt by their next request.
      const strategy = this.options.registry.get(name);
      if (!strategy) continue;
      for (const healthFilter of [true, false]) {
        const previous = healthFilter ? slots.healthy : slots.all;
        if (!previous || previous.version === service.version) continue;
        this.rebuild(service, state, name, strategy, slots, healthFilter, policy);
      }
    }
  }

  /** Rebuilds one slot for `service`: off the event loop when its table is big, else inline. */
  private rebuild(
    service: ServiceEndpoints,
    state: ServiceState,
    name: string,
    strategy: StrategyDefinition,
    slots: PickerSlots,
    healthFilter: boolean,
    policy: ResolvedPolicy,
  ): void {
    try {
      if (this.offload(service, state, name, strategy, slots, healthFilter, policy)) return;
      this.build(service, state, strategy, slots, healthFilter, policy);
    } catch {
      // The request that needs this slot meets the same error and reports it.
    }
  }

  /**
   * Sends the slot's table build to the pool and returns true, or returns false when it is to
   * be built inline (no pool, no table, a small one). At most one build per slot is in flight;
   * a change meanwhile is remembered and built when it ends, the newest one only. A failed
   * build on the pool is done inline instead, so a service never stays without its picker.
   */
  private offload(
    service: ServiceEndpoints,
    state: ServiceState,
    name: string,
    strategy: StrategyDefinition,
    slots: PickerSlots,
    healthFilter: boolean,
    policy: ResolvedPolicy,
  ): boolean {
    const pool = this.options.pool;
    if (pool === null || !pool.accepting || strategy.table === undefined) return false;
    const filter = healthFilter ? "healthy" : "all";
    const inFlight = slots.building?.[filter];
    if (inFlight !== undefined) {
      inFlight.latest = service;
      return true;
    }
    const prepared = this.prepare(service, state, strategy, slots, healthFilter, policy);
    const table = prepared.strategy.table;
    const job = table?.job(prepared.context);
    if (table === undefined || job === undefined || jobEntries(job) < OFFLOAD_MIN_ENTRIES) {
      this.install(slots, prepared, prepared.strategy.build(prepared.context));
      return true;
    }
    const flight: SlotBuild = { latest: null };
    slots.building ??= {};
    slots.building[filter] = flight;
    const report = this.options.onTableBuild;
    pool
      .build(job)
      .then(
        (built) => {
          report?.({ service: service.key, strategy: strategy.name, where: "worker" });
          return table.picker(prepared.context, built);
        },
        (error: Error) => {
          // Closed (the server stops): no build; were it still serving, the slot's next
          // request would build the table, as no build is under way any more.
          if (error instanceof PoolClosedError) return null;
          report?.({ service: service.key, strategy: strategy.name, where: "fallback", error });
          return prepared.strategy.build(prepared.context);
        },
      )
      .then((picker) => {
        if (picker === null) return;
        const current = healthFilter ? slots.healthy : slots.all;
        const live = this.states.get(service.key) === state && state.pickers.get(name) === slots;
        if (!live || (current !== undefined && current.version >= service.version)) {
          picker.dispose();
          return;
        }
        this.install(slots, prepared, picker);
      })
      .catch(() => {
        // Not buildable even inline: the slot's next request meets the error and reports it.
      })
      .finally(() => {
        if (slots.building?.[filter] === flight) delete slots.building[filter];
        const latest = flight.latest;
        if (latest === null || this.states.get(latest.key) !== state) return;
        if (state.pickers.get(name) !== slots) return;
        let latestPolicy: ResolvedPolicy;
        try {
          latestPolicy = this.policyOf(latest, state);
        } catch {
          return;
        }
        this.rebuild(latest, state, name, strategy, slots, healthFilter, latestPolicy);
      });
    return true;
  }

  private build(
    service: ServiceEndpoints,
    state: ServiceState,
    strategy: StrategyDefinition,
    slots: PickerSlots,
    healthFilter: boolean,
    policy: ResolvedPolicy = this.policyOf(service, state),
    imported?: CarriedState,
    narrowing: Narrowing | null = null,
  ): CachedPicker {
    const prepared = this.prepare(
      service,
      state,
      strategy,
      slots,
      healthFilter,
      policy,
      imported,
      narrowing,
    );
    return this.install(slots, prepared, prepared.strategy.build(prepared.context));
  }

  /** Everything up to the picker's build: the endpoints, the carried state, the shaping. */
  private prepare(
    service: ServiceEndpoints,
    state: ServiceState,
    strategy: StrategyDefinition,
    slots: PickerSlots,
    healthFilter: boolean,
    policy: ResolvedPolicy,
    imported?: CarriedState,
    narrowing: Narrowing | null = null,
  ): PreparedBuild {
    const previous = healthFilter ? slots.healthy : slots.all;
    let carried = imported;
    if (carried === undefined && state.imported !== null) {
      // State imported for this slot before it was first built.
      const slot = slotName(strategy.name, healthFilter);
      carried = state.imported.get(slot);
      state.imported.delete(slot);
      if (state.imported.size === 0) state.imported = null;
    }
    // A table's picker carries only its fingerprint, which no build reads (the table is a
    // function of the endpoints); hashing the old table at every rebuild would cost as much as
    // a small table's build.
    if (strategy.table === undefined) carried ??= previous?.picker.exportState();
    const all = sortedValidated(service);
    const part = narrowing === null ? all : narrowing.filter(all);
    if (part.length === 0) {
      throw new BalancerError(
        "NoEndpoints",
        `subset ${narrowing?.name} of service ${service.key} has no endpoints`,
      );
    }
    const filtered = filterHealthy(part, healthFilter, policy.panicThreshold);
    if (filtered.panic) this.options.onHealthPanic?.(service.key, filtered.healthy, part.length);
    let shape: BuildShape = {
      endpoints: filtered.endpoints,
      strategy,
      validUntil: Number.POSITIVE_INFINITY,
      originals: null,
    };
    if (SHAPING_FEATURES.length > 0) {
      const now = this.options.now();
      for (const feature of SHAPING_FEATURES) shape = feature.shape?.(shape, policy, now) ?? shape;
    }
    // A stand-in strategy (slow start builds round-robin as smooth weighted round robin) keeps
    // no state of the slot's own strategy: carry none across.
    if (shape.strategy !== strategy && carried?.cursor !== undefined) carried = undefined;
    return {
      service,
      healthFilter,
      strategy: shape.strategy,
      context: {
        endpoints: shape.endpoints,
        policy,
        carried,
        loads: state.loads,
        random: this.options.random,
        latency: this.options.latencyFor(policy),
        latencies: state.latencies,
      },
      excluded: filtered.excluded,
      panic: filtered.panic,
      validUntil: shape.validUntil,
      originals: shape.originals,
    };
  }

  /** Puts a built picker in its slot, disposing of the one it replaces. */
  private install(slots: PickerSlots, prepared: PreparedBuild, picker: Picker): CachedPicker {
    const previous = prepared.healthFilter ? slots.healthy : slots.all;
    previous?.picker.dispose();
    const cached = {
      service: prepared.service,
      version: prepared.service.version,
      picker,
      excluded: prepared.excluded,
      panic: prepared.panic,
      validUntil: prepared.validUntil,
      originals: prepared.originals,
    };
    if (prepared.healthFilter) slots.healthy = cached;
    else slots.all = cached;
    return cached;
  }

  /**
   * State each cached picker of a service would carry into a rebuild, by cache slot, with
   * imported state that no build has used yet.
   */
  exportState(serviceKey: string): Record<string, CarriedState> {
    const state: Record<string, CarriedState> = {};
    const service = this.states.get(serviceKey);
    for (const [name, slots] of service?.pickers ?? []) {
      // A subset's rotation is not replicated: a new leader starts it afresh.
      if (name.includes("/")) continue;
      if (slots.healthy) state[`${name}|healthy`] = exported(slots.healthy);
      if (slots.all) state[`${name}|all`] = exported(slots.all);
    }
    for (const [slot, carried] of service?.imported ?? []) state[slot] = carried;
    return state;
  }

  /**
   * Sets the state each picker slot of a service carries on, replacing what it would carry
   * itself: how a new leader continues its predecessor's rotations. A slot in use is rebuilt
   * with it at once, so no request pays for it; a slot not built yet takes it at its first
   * build. State that is only a table fingerprint carries nothing (a table is a function of
   * the endpoints), so a slot in use keeps its table. Unknown endpoints in it are ignored as
   * after any rebuild.
   */
  importState(serviceKey: string, slots: SlotStates): void {
    const state = this.states.of(serviceKey);
    state.changes++;
    for (const [slot, carried] of Object.entries(slots)) {
      const [name = "", filter] = slot.split("|");
      const healthFilter = filter === "healthy";
      const inUse = state.pickers.get(name);
      const cached = healthFilter ? inUse?.healthy : inUse?.all;
      const strategy = this.options.registry.get(name);
      if (inUse === undefined || cached === undefined || strategy === undefined) {
        state.imported ??= new Map();
        state.imported.set(slot, carried);
        continue;
      }
      if (carried.cursor === undefined && carried.currentWeights === undefined) continue;
      try {
        this.build(cached.service, state, strategy, inUse, healthFilter, undefined, carried);
      } catch {
        // The version it was built for cannot be built again (its policy changed meanwhile):
        // keep the state for the slot's next build.
        state.imported ??= new Map();
        state.imported.set(slot, carried);
      }
    }
  }
}

/** The part of the service a request is narrowed to by a feature (a subset), or null. */
function narrowingOf(policy: ResolvedPolicy, options: SelectOptions): Narrowing | null {
  for (const feature of NARROWING_FEATURES) {
    const narrowing = feature.narrow?.(policy, options) ?? null;
    if (narrowing !== null) return narrowing;
  }
  return null;
}

function slotName(strategy: string, healthFilter: boolean): string {
  return `${strategy}|${healthFilter ? "healthy" : "all"}`;
}

function exported(cached: CachedPicker): CarriedState {
  if (cached.fixedState) return cached.fixedState;
  const state = cached.picker.exportState();
  if (state.tableFingerprint !== undefined && !state.cursor && !state.currentWeights) {
    cached.fixedState = state;
  }
  return state;
}

/**
 * Endpoints sorted by identity, after checking what every strategy relies on. A list that comes
 * sorted (the catalog's always does) is checked in one pass and copied, not sorted again.
 */
function sortedValidated(service: ServiceEndpoints): Endpoint[] {
  const sorted = inIdentityOrder(service.endpoints)
    ? [...service.endpoints]
    : [...service.endpoints].sort(compareIdentity);
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
