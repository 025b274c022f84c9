/**
 * The simulation: synthetic requests through the real BalancerManager, counted per endpoint.
 * Every strategy starts from a fresh manager and the same request stream (the seed's), so a
 * strategy's figures do not depend on which others run beside it, and `--strategy X` reports
 * what the X column of a `--compare` does.
 */

import type { PickRequest, StrategyDefinition, StrategyName } from "../balancer/index.ts";
import {
  BalancerManager,
  compareIdentity,
  DEFAULT_REGISTRY,
  type Endpoint,
  filterHealthy,
  type HashOn,
  isHealthy,
  type ResolvedPolicy,
  resolvePolicy,
  type ServiceEndpoints,
  type StrategyRegistry,
  seededRandom,
  subsetMembers,
  subsetNames,
} from "../balancer/index.ts";
import type { CatalogEndpoint } from "../catalog/catalog.ts";
import {
  EXIT_FAILURE,
  EXIT_USAGE,
  type LoadedService,
  SERVER_DEFAULT_HEALTH_FILTER,
  SERVER_DEFAULT_STRATEGY,
  SimulateError,
} from "./load.ts";
import {
  DEFAULT_LATENCY_MS,
  type EndpointFigure,
  type RegionWeight,
  type SimulateOptions,
} from "./options.ts";
import { Progress, type ProgressSink, silentProgress } from "./progress.ts";
import type {
  EndpointInfo,
  EndpointResult,
  ExpectedBasis,
  HashReport,
  KeyResult,
  SimulationReport,
  StrategyOutcomes,
  StrategyReport,
} from "./report.ts";
import { Traffic } from "./traffic.ts";

/** What a run needs from the options: everything but where the report goes. */
export type SimulationSettings = Pick<
  SimulateOptions,
  | "file"
  | "requests"
  | "clients"
  | "keys"
  | "regions"
  | "strategies"
  | "compare"
  | "seed"
  | "hold"
  | "subset"
> &
  Partial<Pick<SimulateOptions, "latency" | "failures">>;

// Connections are closed by the simulation itself, never by their timeout: the clock stands
// still and the timeout is beyond any run.
const NEVER_MS = 2 ** 50;

/** The seed of the engine's own random choices: a different stream from the traffic's. */
function engineSeed(seed: number): number {
  return Math.floor(seededRandom(seed ^ 0x5bd1e995).next() * 0x1_0000_0000);
}

/** Shares by weight over `endpoints`, into `into` at each endpoint's index, scaled by `scale`. */
function addWeightShares(
  endpoints: readonly Endpoint[],
  indexOf: ReadonlyMap<string, number>,
  into: Float64Array,
  scale: number,
  equal: boolean,
): void {
  const total = equal ? endpoints.length : endpoints.reduce((sum, e) => sum + e.weight, 0);
  for (const endpoint of endpoints) {
    const index = indexOf.get(endpoint.identity) as number;
    into[index] = (into[index] as number) + (scale * (equal ? 1 : endpoint.weight)) / total;
  }
}

/**
 * The endpoints a ranking strategy sends a client region's traffic to: its first tier, from
 * the strategy's own ranking; all of them when it ranks them all alike.
 */
function nearestTier(
  strategy: StrategyDefinition,
  balanced: readonly Endpoint[],
  region: string,
  policy: ResolvedPolicy,
): readonly Endpoint[] {
  const tiers = strategy.rank?.(balanced, { clientRegion: region }, policy) ?? null;
  if (tiers === null) return balanced;
  return balanced.filter((_, i) => tiers[i] === 0);
}

interface Context {
  readonly registry: StrategyRegistry;
  /** Null: no outcomes are reported (neither --latency nor --failures). */
  readonly outcomes: OutcomeModel | null;
  readonly view: ServiceEndpoints;
  readonly policy: ResolvedPolicy;
  /** Sorted by identity. */
  readonly endpoints: readonly CatalogEndpoint[];
  readonly balanced: readonly Endpoint[];
  readonly indexOf: ReadonlyMap<string, number>;
  readonly traffic: Traffic;
  /** Each client IP's place under a policy's locality; null without one. */
  readonly places: ReadonlyMap<string, ClientPlace> | null;
  readonly settings: SimulationSettings;
  readonly progress: Progress;
}

/** Simulated time: it stands still, unless outcomes are reported (one request per ms). */
interface Clock {
  now: number;
}

function newManager(
  seed: number,
  registry: StrategyRegistry,
  clock: Clock = { now: 0 },
): BalancerManager {
  let connections = 0;
  return new BalancerManager({
    registry,
    defaultStrategy: SERVER_DEFAULT_STRATEGY,
    policyDefaults: SERVER_POLICY_DEFAULTS,
    random: seededRandom(engineSeed(seed)),
    now: () => clock.now,
    newConnectionId: () => `c${++connections}`,
  });
}

interface ClientPlace {
  readonly zone: string;
  readonly region: string | undefined;
}

/**
 * Under a policy's locality, each client IP sits in one of the endpoints' zones, in turn (so
 * the zones have equal shares of the clients), with that zone's region: null otherwise.
 */
function clientPlaces(
  policy: ResolvedPolicy,
  endpoints: readonly Endpoint[],
  clients: readonly string[],
): Map<string, ClientPlace> | null {
  if (policy.locality === null || policy.locality === undefined) return null;
  const regionOf = new Map<string, string | undefined>();
  for (const e of endpoints) {
    if (e.zone !== null && !regionOf.has(e.zone)) regionOf.set(e.zone, e.region ?? undefined);
  }
  const zones = [...regionOf.keys()].sort();
  if (zones.length === 0) return null;
  return new Map(
    clients.map((client, i) => {
      const zone = zones[i % zones.length] as string;
      return [client, { zone, region: regionOf.get(zone) }];
    }),
  );
}

/** The server's defaults under a policy, as `konsul-lb serve` has them without a config file. */
const SERVER_POLICY_DEFAULTS = { healthFilter: SERVER_DEFAULT_HEALTH_FILTER };

function expectedShares(
  context: Context,
  strategy: StrategyDefinition,
  basis: ExpectedBasis,
): Float64Array {
  const { balanced, indexOf, traffic, policy } = context;
  const expected = new Float64Array(context.endpoints.length);
  if (basis !== "nearest-region" || traffic.regions.length === 0) {
    addWeightShares(balanced, indexOf, expected, 1, basis === "equal");
    return expected;
  }
  for (const [region, share] of traffic.regionShares()) {
    const tier = nearestTier(strategy, balanced, region, policy);
    addWeightShares(tier, indexOf, expected, share, false);
  }
  return expected;
}

/** What the simulated clients report of each request: its latency, and whether it fails. */
interface OutcomeModel {
  /** Milliseconds, by endpoint index. */
  readonly latencyMs: Float64Array;
  /** Probability of failure, by endpoint index. */
  readonly failure: Float64Array;
}

/** The seed of the outcomes' draws: a stream apart from the traffic's and the engine's. */
function outcomeSeed(seed: number): number {
  return Math.floor(seededRandom(seed ^ 0x2545f491).next() * 0x1_0000_0000);
}

/** The service with the endpoints outlier detection ejected marked, as the catalog marks them. */
function withEjections(view: ServiceEndpoints, ejected: readonly string[], version: number) {
  const marked = new Set(ejected);
  return {
    ...view,
    version,
    endpoints: view.endpoints.map((endpoint) =>
      marked.has(endpoint.identity) ? { ...endpoint, ejected: true } : endpoint,
    ),
  };
}

/**
 * The requests through one strategy, each holding a connection for `hold` later picks. With an
 * outcome model each request's outcome is reported to the engine as clients report them, one
 * request per simulated millisecond, and the endpoints it ejects leave the service's answers.
 */
function countRequests(
  context: Context,
  strategy: StrategyName,
): {
  counts: Float64Array;
  inRegion: number;
  inZone: number;
  outcomes: StrategyOutcomes | null;
} {
  const { traffic, settings, indexOf, progress, places } = context;
  const clock: Clock = { now: 0 };
  const manager = newManager(settings.seed, context.registry, clock);
  const random = seededRandom(settings.seed);
  const draws = seededRandom(outcomeSeed(settings.seed));
  const model = context.outcomes;
  let view = context.view;
  let ejectedNow: readonly string[] = [];
  const ejections: Record<string, number> = {};
  let failed = 0;
  let latencyTotal = 0;
  const counts = new Float64Array(context.endpoints.length);
  const hold = settings.hold;
  // Slot i % (hold + 1) holds the connection of pick i; it is closed just before pick
  // i + hold + 1, so each pick sees the connections of the `hold` picks before it.
  const open: string[] = new Array(hold + 1);
  let inRegion = 0;
  let inZone = 0;
  for (let i = 0; i < settings.requests; i++) {
    const request = traffic.draw(random);
    const place = places?.get(request.clientIp);
    const subset = settings.subset ?? undefined;
    const options =
      place === undefined
        ? { ...request, strategy, subset }
        : { ...request, strategy, subset, clientZone: place.zone, clientRegion: place.region };
    let endpoint: Endpoint;
    if (hold > 0) {
      const slot = i % (hold + 1);
      if (i > hold) manager.closeConnection(open[slot] as string);
      const opened = manager.openConnection(view, options, NEVER_MS);
      open[slot] = opened.id;
      endpoint = opened.endpoint;
    } else {
      endpoint = manager.selectOne(view, options).endpoint;
    }
    const index = indexOf.get(endpoint.identity) as number;
    counts[index] = (counts[index] as number) + 1;
    if (request.clientRegion !== undefined && endpoint.region === request.clientRegion) {
      inRegion++;
    }
    if (place !== undefined && endpoint.zone === place.zone) inZone++;
    if (model !== null) {
      const failure = draws.next() < (model.failure[index] as number);
      const latencyMs = model.latencyMs[index] as number;
      if (failure) failed++;
      latencyTotal += latencyMs;
      const changes = manager.recordOutcomes(view, [
        { identity: endpoint.identity, result: failure ? "failure" : "success", latencyMs },
      ]);
      clock.now++;
      changes.push(...manager.evaluateOutliers(view));
      for (const change of changes) {
        if (change.kind === "ejected") {
          ejections[change.identity] = (ejections[change.identity] ?? 0) + 1;
        }
      }
      if (changes.length > 0) {
        ejectedNow = manager.ejectedEndpoints(view.key);
        view = withEjections(context.view, ejectedNow, view.version + 1);
        manager.refresh(view);
      }
    }
    progress.advance(1);
  }
  const outcomes =
    model === null
      ? null
      : {
          failed: failed / settings.requests,
          meanLatencyMs: latencyTotal / settings.requests,
          ejections,
          ejectedAtEnd: [...ejectedNow],
        };
  return { counts, inRegion, inZone, outcomes };
}

/** The endpoint index each key lands on, with nothing open (a hash table's own mapping). */
function mapKeys(
  context: Context,
  service: ServiceEndpoints,
  strategy: StrategyName,
  keys: readonly string[],
  hashOn: HashOn,
): Int32Array {
  const manager = newManager(context.settings.seed, context.registry);
  const mapping = new Int32Array(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as string;
    const request: PickRequest = hashOn === "client-ip" ? { clientIp: key } : { sessionKey: key };
    const subset = context.settings.subset ?? undefined;
    const { endpoint } = manager.selectOne(service, { ...request, strategy, subset });
    mapping[k] = context.indexOf.get(endpoint.identity) as number;
    context.progress.advance(1);
  }
  return mapping;
}

/**
 * How the distinct keys spread, and for each endpoint the keys that move when it is removed:
 * the table rebuilt without it, every key looked up again. Consistent hashing moves only the
 * removed endpoint's keys, so `moved` close to `ideal` is the aim.
 */
function hashReport(
  context: Context,
  strategy: StrategyName,
  hashOn: HashOn,
  expected: Float64Array,
): HashReport {
  const { view, endpoints, balanced } = context;
  const keys = hashOn === "client-ip" ? context.traffic.clients : context.traffic.keys;
  const baseline = mapKeys(context, view, strategy, keys, hashOn);
  const perEndpoint = new Float64Array(endpoints.length);
  for (const index of baseline) perEndpoint[index] = (perEndpoint[index] as number) + 1;
  const results: KeyResult[] = endpoints.map((endpoint, index) => {
    const remaining = view.endpoints.filter((e) => e.identity !== endpoint.identity);
    let moved = keys.length;
    if (remaining.length > 0) {
      const without: ServiceEndpoints = {
        ...view,
        key: `${view.key} without ${endpoint.identity}`,
        endpoints: remaining,
      };
      const mapping = mapKeys(context, without, strategy, keys, hashOn);
      moved = 0;
      for (let k = 0; k < keys.length; k++) if (mapping[k] !== baseline[k]) moved++;
    } else {
      context.progress.advance(keys.length);
    }
    return {
      identity: endpoint.identity,
      keys: perEndpoint[index] as number,
      keyShare: (perEndpoint[index] as number) / keys.length,
      moved: moved / keys.length,
      ideal: expected[index] as number,
    };
  });
  const balancedIds = new Set(balanced.map((e) => e.identity));
  const scored = results.filter((r) => balancedIds.has(r.identity) && r.ideal > 0);
  return {
    hashOn,
    distinctKeys: keys.length,
    endpoints: results,
    maxKeyRatio: Math.max(0, ...scored.map((r) => r.keyShare / r.ideal)),
    meanMovedOverIdeal:
      scored.length === 0
        ? 0
        : scored.reduce((sum, r) => sum + r.moved / r.ideal, 0) / scored.length,
  };
}

function runStrategy(context: Context, strategy: StrategyName): StrategyReport {
  const { endpoints, balanced, settings, progress } = context;
  const definition = context.registry.get(strategy) as StrategyDefinition;
  const basis = definition.traits.expectedShare;
  const expected = expectedShares(context, definition, basis);
  const hashOn = definition.traits.hashesOn(context.policy);
  progress.label = `${strategy}: ${settings.requests.toLocaleString("en-US")} requests`;
  const { counts, inRegion, inZone, outcomes } = countRequests(context, strategy);
  const results: EndpointResult[] = endpoints.map((endpoint, index) => {
    const share = (counts[index] as number) / settings.requests;
    const wanted = expected[index] as number;
    return {
      identity: endpoint.identity,
      requests: counts[index] as number,
      share,
      expected: wanted,
      ratio: wanted > 0 ? share / wanted : null,
    };
  });
  const mean = settings.requests / balanced.length;
  progress.label = `${strategy}: keys moved when an endpoint is removed`;
  return {
    strategy,
    expectedBasis: basis,
    endpoints: results,
    maxMean: counts.reduce((max, count) => Math.max(max, count), 0) / mean,
    maxRatio: Math.max(0, ...results.map((r) => r.ratio ?? 0)),
    inRegion: context.traffic.regions.length === 0 ? null : inRegion / settings.requests,
    inZone: context.places === null ? null : inZone / settings.requests,
    hash: hashOn === null ? null : hashReport(context, strategy, hashOn, expected),
    outcomes,
  };
}

/**
 * The client regions: as given, else one per region of the service's endpoints, equally. Those
 * of endpoints left out count too: their region's clients still call, and go elsewhere.
 */
function clientRegions(
  given: readonly RegionWeight[] | null,
  endpoints: readonly Endpoint[],
): { regions: readonly RegionWeight[]; from: SimulationReport["regionsFrom"] } {
  if (given !== null) return { regions: given, from: "flag" };
  const names = [...new Set(endpoints.flatMap((e) => (e.region === null ? [] : [e.region])))];
  names.sort();
  if (names.length === 0) return { regions: [], from: "none" };
  return { regions: names.map((region) => ({ region, weight: 1 })), from: "endpoints" };
}

/** Whether `text` names `name` as a whole word: "Service shop/cart", not "Service shop/carts". */
function mentionsName(text: string, name: string): boolean {
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
    if (!/[\w.-]/.test(text.charAt(at + name.length))) return true;
  }
  return false;
}

/** The translation's warnings about this service or its pods. */
function relevantWarnings(loaded: LoadedService): string[] {
  const { entry } = loaded;
  const mentions = [
    `Service ${entry.namespace}/${entry.name}`,
    ...entry.endpoints.flatMap((e) =>
      e.podName === null ? [] : [`Pod ${entry.namespace}/${e.podName}`],
    ),
  ];
  return loaded.warnings.filter((warning) => mentions.some((m) => mentionsName(warning, m)));
}

function zoneShares(zones: readonly string[]): { zone: string; share: number }[] {
  const counts = new Map<string, number>();
  for (const zone of zones) counts.set(zone, (counts.get(zone) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([zone, n]) => ({ zone, share: n / zones.length }));
}

/** Runs the simulation of `settings` on the loaded service. */
export function simulate(
  loaded: LoadedService,
  settings: SimulationSettings,
  sink: ProgressSink = silentProgress,
  registry: StrategyRegistry = DEFAULT_REGISTRY,
): SimulationReport {
  const { view, entry } = loaded;
  const policy = resolvePolicy(view.policy, registry, SERVER_POLICY_DEFAULTS);
  const endpoints = [...entry.endpoints].sort(compareIdentity);
  const members = subsetMembers(policy, settings.subset, endpoints);
  if (members === null || members.length === 0) {
    const names = subsetNames(policy);
    throw new SimulateError(
      members === null
        ? `--subset: ${JSON.stringify(settings.subset)} is not allowed (not a subset of the policy); expected ${names.length === 0 ? "no --subset: the policy defines no subsets" : `one of ${names.join(", ")}`}`
        : `--subset: ${settings.subset ?? "the default subset"} of ${entry.namespace}/${entry.name} has no endpoints`,
      members === null ? EXIT_USAGE : EXIT_FAILURE,
    );
  }
  const filtered = filterHealthy(members, policy.healthFilter, policy.panicThreshold);
  const balanced = filtered.endpoints;
  const serviceStrategy = newManager(settings.seed, registry).strategyFor(view);
  const strategies = settings.strategies ?? [serviceStrategy];
  const { regions, from } = clientRegions(settings.regions, endpoints);
  const traffic = new Traffic(settings.clients, settings.keys, regions);

  let total = 0;
  for (const strategy of strategies) {
    total += settings.requests;
    const hashOn = registry.get(strategy)?.traits.hashesOn(policy) ?? null;
    if (hashOn !== null) {
      const keys = hashOn === "client-ip" ? settings.clients : settings.keys;
      total += keys * (endpoints.length + 1);
    }
  }
  const progress = new Progress(sink, total);
  const outcomes = outcomeModel(settings, endpoints, `${entry.namespace}/${entry.name}`);
  const context: Context = {
    registry,
    outcomes,
    view,
    policy,
    endpoints,
    balanced,
    indexOf: new Map(endpoints.map((e, index) => [e.identity, index])),
    traffic,
    places: clientPlaces(policy, endpoints, traffic.clients),
    settings,
    progress,
  };
  let reports: StrategyReport[];
  try {
    reports = strategies.map((strategy) => runStrategy(context, strategy));
  } finally {
    sink.finish();
  }
  const balancedIds = new Set(balanced.map((e) => e.identity));
  const info: EndpointInfo[] = endpoints.map((e) => ({
    identity: e.identity,
    address: e.address,
    zone: e.zone,
    region: e.region,
    weight: e.weight,
    healthy: isHealthy(e),
    balanced: balancedIds.has(e.identity),
  }));
  return {
    service: `${entry.namespace}/${entry.name}`,
    file: settings.file,
    policy: entry.policy === null ? null : `${entry.policy.namespace}/${entry.policy.name}`,
    serviceStrategy,
    seed: settings.seed,
    subset: settings.subset,
    requests: settings.requests,
    clients: settings.clients,
    keys: settings.keys,
    hold: settings.hold,
    regions: [...traffic.regionShares()].map(([region, share]) => ({ region, share })),
    regionsFrom: from,
    zones:
      context.places === null
        ? null
        : zoneShares([...context.places.values()].map((place) => place.zone)),
    healthFilter: policy.healthFilter,
    panic: filtered.panic,
    endpoints: info,
    compare: settings.compare,
    strategies: reports,
    outcomes:
      outcomes === null
        ? null
        : {
            defaultLatencyMs: DEFAULT_LATENCY_MS,
            latencyMs: Object.fromEntries(
              (settings.latency ?? []).map((f) => [f.identity, f.value]),
            ),
            failurePercent: Object.fromEntries(
              (settings.failures ?? []).map((f) => [f.identity, f.value]),
            ),
          },
    warnings: relevantWarnings(loaded),
  };
}

/** The outcome model of --latency and --failures; their endpoints must be the service's. */
function outcomeModel(
  settings: SimulationSettings,
  endpoints: readonly Endpoint[],
  service: string,
): OutcomeModel | null {
  const latency = settings.latency ?? null;
  const failures = settings.failures ?? null;
  if (latency === null && failures === null) return null;
  const indexOf = new Map(endpoints.map((e, index) => [e.identity, index]));
  const check = (flag: string, figures: readonly EndpointFigure[]) => {
    for (const { identity } of figures) {
      if (!indexOf.has(identity)) {
        throw new SimulateError(
          `--${flag}: ${JSON.stringify(identity)} is not allowed (not an endpoint of ${service}); ` +
            `expected one of ${endpoints.map((e) => e.identity).join(", ")}`,
          EXIT_USAGE,
        );
      }
    }
  };
  check("latency", latency ?? []);
  check("failures", failures ?? []);
  const model = {
    latencyMs: new Float64Array(endpoints.length).fill(DEFAULT_LATENCY_MS),
    failure: new Float64Array(endpoints.length),
  };
  for (const { identity, value } of latency ?? []) {
    model.latencyMs[indexOf.get(identity) as number] = value;
  }
  for (const { identity, value } of failures ?? []) {
    model.failure[indexOf.get(identity) as number] = value / 100;
  }
  return model;
}
