/**
 * The balancing engine's benchmark: time per pick for every strategy, hash table build time,
 * and heap per service. Measures the core in-process, without HTTP or DNS in front of it.
 */
import { measure } from "mitata";
import {
  BalancerManager,
  BUILT_IN_STRATEGIES,
  type BuildContext,
  compareIdentity,
  type Endpoint,
  latencyFromMap,
  type Picker,
  type PickRequest,
  type RandomSource,
  type ResolvedPolicy,
  resolvePolicy,
  type SelectOptions,
  type ServiceEndpoints,
  type Strategy,
  type StrategyName,
  seededRandom,
} from "../src/balancer/index.ts";
import { LoadTracker } from "../src/balancer/loads.ts";
import {
  type Environment,
  formatBytes,
  formatMs,
  formatNs,
  formatNumber,
  formatRate,
  mark,
  markdownTable,
} from "./report.ts";

// ---------------------------------------------------------------------------------------------
// Settings and targets

export interface EngineSettings {
  readonly quick: boolean;
  /** Endpoint counts the pick benchmark runs at. */
  readonly pickSizes: readonly number[];
  /** Endpoint counts the table build benchmark runs at, with the number of builds at each. */
  readonly buildRuns: readonly { readonly endpoints: number; readonly builds: number }[];
  /** mitata: keep sampling each case until this much time (ns) is spent on it. */
  readonly minCpuTimeNs: number;
  readonly minSamples: number;
  /** Rounds over all cases; each case's figure is the median of its round medians. */
  readonly rounds: number;
  /** Calls made before mitata starts sampling, so that it samples optimised code. */
  readonly warmupCalls: number;
  /** Services built per strategy for the heap measurement. */
  readonly heapServices: number;
  /** Repetitions of the heap measurement; the median is reported. */
  readonly heapRounds: number;
}

export function engineSettings(quick: boolean): EngineSettings {
  return quick
    ? {
        quick,
        pickSizes: [10, 1_000, 10_000],
        buildRuns: [
          { endpoints: 100, builds: 3 },
          { endpoints: 1_000, builds: 3 },
          { endpoints: 10_000, builds: 1 },
        ],
        minCpuTimeNs: 15e6,
        minSamples: 12,
        rounds: 1,
        warmupCalls: 5_000,
        heapServices: 200,
        heapRounds: 1,
      }
    : {
        quick,
        pickSizes: [10, 1_000, 10_000],
        buildRuns: [
          { endpoints: 100, builds: 21 },
          { endpoints: 1_000, builds: 11 },
          { endpoints: 10_000, builds: 5 },
        ],
        minCpuTimeNs: 300e6,
        minSamples: 12,
        rounds: 3,
        warmupCalls: 50_000,
        heapServices: 1_000,
        heapRounds: 3,
      };
}

/** The figures the project's issue asks for. */
export const TARGETS = {
  /** Endpoint count the pick and build targets apply at. */
  atEndpoints: 1_000,
  pickNs: 250,
  fastPickNs: 50,
  fastPickStrategies: ["round-robin", "random"] as readonly StrategyName[],
  /** Strategies that hash the session key (a UUID): at most this times the bare hash loop. */
  keyHashStrategies: ["ring-hash", "maglev"] as readonly StrategyName[],
  keyHashOverBareLoop: 2,
  /** Build targets at 1,000 endpoints of weight 1 (ring-hash: 150 virtual nodes each). */
  buildMs: { "ring-hash": 10, maglev: 5 } as Readonly<Record<string, number>>,
  tableStrategies: ["ring-hash", "maglev"] as readonly StrategyName[],
  heapBytesPerService: 1024,
  /** Endpoints per service in the heap measurement. */
  heapEndpoints: 10,
} as const;

/** Strategies whose pickers hold a hash table; the heap target covers the others. */
const TABLE_PICKERS: readonly StrategyName[] = ["ring-hash", "maglev", "ip-hash"];

// ---------------------------------------------------------------------------------------------
// Fixtures

const REGIONS = ["eu-west-1", "us-east-1"] as const;
const LATENCY_MAP = {
  "eu-west-1": { "eu-west-1": 1, "us-east-1": 80 },
  "us-east-1": { "eu-west-1": 80, "us-east-1": 1 },
};
const POLICY: ResolvedPolicy = resolvePolicy({ latency: { map: LATENCY_MAP } });
/** Pre-generated requests; a power of two so the loop wraps with a mask. */
const REQUEST_COUNT = 4096;
/** Open connections preloaded per endpoint, on average, for the load-aware strategies. */
const PRELOADED_CONNECTIONS_PER_ENDPOINT = 2;

export type Weights = "uniform" | "mixed";

const WEIGHTS_LABEL: Record<Weights, string> = { uniform: "weight 1", mixed: "weights 1..10" };

function strategyNamed(name: StrategyName): Strategy {
  const strategy = BUILT_IN_STRATEGIES.find((s) => s.name === name);
  if (!strategy) throw new Error(`no strategy ${name}`);
  return strategy;
}

const POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function choose<T>(random: RandomSource, items: readonly T[]): T {
  return items[Math.floor(random.next() * items.length)] as T;
}

function randomText(random: RandomSource, alphabet: string, length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random.next() * alphabet.length)];
  return text;
}

/**
 * `n` endpoints named like the pods of a Deployment ("web-6d4cf56db6-x7k2p"), alternating
 * between two regions, sorted by identity as the manager hands them to a strategy. Mixed
 * weights are uniform over 1..10.
 */
export function makeEndpoints(n: number, weights: Weights, seed = 7): Endpoint[] {
  const random = seededRandom(seed);
  const replicaSet = randomText(random, "0123456789abcdef", 10);
  const names = new Set<string>();
  const list: Endpoint[] = [];
  for (let i = 0; names.size < n; ) {
    const identity = `web-${replicaSet}-${randomText(random, POD_ALPHABET, 5)}`;
    if (names.has(identity)) continue;
    names.add(identity);
    const region = REGIONS[i % REGIONS.length] as string;
    list.push({
      identity,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      port: 8080,
      ports: { http: 8080 },
      weight: weights === "mixed" ? 1 + Math.floor(random.next() * 10) : 1,
      zone: `${region}${"abc"[i % 3]}`,
      region,
      node: `node-${i % 64}`,
      ready: true,
      serving: true,
      terminating: false,
      probeHealthy: null,
    });
    i++;
  }
  return list.sort(compareIdentity);
}

function uuid(random: RandomSource): string {
  const hex = randomText(random, "0123456789abcdef", 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** Requests that vary in every field: a UUID session key, a client IPv4 address, a region. */
export function makeRequests(count: number, seed = 11): PickRequest[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => ({
    clientIp: `${choose(random, [10, 172, 192, 100])}.${Math.floor(random.next() * 256)}.${Math.floor(random.next() * 256)}.${1 + Math.floor(random.next() * 254)}`,
    sessionKey: uuid(random),
    clientRegion: choose(random, REGIONS),
  }));
}

/** A tracker with about `perEndpoint` open connections per endpoint, spread at random. */
function preloadedLoads(
  endpoints: readonly Endpoint[],
  perEndpoint: number,
  seed = 3,
): LoadTracker {
  const loads = new LoadTracker();
  const random = seededRandom(seed);
  for (let i = 0; i < endpoints.length * perEndpoint; i++) {
    loads.increment(choose(random, endpoints).identity);
  }
  return loads;
}

function buildContext(endpoints: readonly Endpoint[], loads = new LoadTracker()): BuildContext {
  return {
    endpoints,
    policy: POLICY,
    carried: undefined,
    loads,
    random: seededRandom(1),
    latency: latencyFromMap(POLICY.latency.map),
  };
}

// ---------------------------------------------------------------------------------------------
// Timing

export interface Timing {
  /** Nanoseconds per call. */
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  /** Calls timed. */
  readonly calls: number;
  /** The median of each round. */
  readonly rounds: readonly number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

type Loop = () => unknown;
type LoopFactory = (target: unknown, service: unknown, requests: readonly unknown[]) => Loop;

/**
 * A loop body of its own for each case. Compiling the source anew (the label makes it unique,
 * so V8's cache does not hand back an earlier function) gives each case its own type feedback:
 * without it the `pick` call below would turn megamorphic after a few strategies and every
 * later case would pay for dispatch the earlier ones did not.
 */
function loopOf(label: string, call: string): LoopFactory {
  return new Function(
    "target",
    "service",
    "requests",
    `"use strict"; // ${label.replaceAll("\n", " ")}
const mask = requests.length - 1;
let i = 0;
return function loop() {
  i = (i + 1) & mask;
  return ${call};
};`,
  ) as LoopFactory;
}

interface Case {
  readonly name: string;
  readonly loop: Loop;
}

/**
 * Times each case in `settings.rounds` rounds, the cases interleaved within each round, so a
 * burst of load from other processes lands on one round of several cases rather than on every
 * round of one; the median over the rounds of each round's median is reported.
 */
async function timeCases(
  cases: readonly Case[],
  settings: EngineSettings,
  log: (line: string) => void,
): Promise<Timing[]> {
  const rounds: Timing[][] = cases.map(() => []);
  for (const { loop } of cases) {
    for (let i = 0; i < settings.warmupCalls; i++) loop();
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (let c = 0; c < cases.length; c++) {
      const stats = await measure((cases[c] as Case).loop, {
        min_cpu_time: settings.minCpuTimeNs,
        min_samples: settings.minSamples,
      });
      (rounds[c] as Timing[]).push({
        p25: stats.p25,
        p50: stats.p50,
        p75: stats.p75,
        calls: stats.ticks,
        rounds: [stats.p50],
      });
    }
  }
  return cases.map(({ name }, c) => {
    const timings = rounds[c] as Timing[];
    const medians = timings.map((t) => t.p50);
    const timing: Timing = {
      p25: median(timings.map((t) => t.p25)),
      p50: median(medians),
      p75: median(timings.map((t) => t.p75)),
      calls: timings.reduce((sum, t) => sum + t.calls, 0),
      rounds: medians,
    };
    log(
      `  ${name.padEnd(58)} ${formatNs(timing.p50).padStart(9)}  ${formatRate(1e9 / timing.p50).padStart(9)}  rounds ${medians.map(formatNs).join(", ")}`,
    );
    return timing;
  });
}

// ---------------------------------------------------------------------------------------------
// 1. Time per pick

/** Slots of the bare loop's table: Maglev's default size. */
export const BARE_TABLE_SIZE = 65_537;

/**
 * The floor a hash pick is measured against: the simplest loop a JavaScript service would write
 * to hash a session key (FNV-1a over its UTF-16 code units) and index a table of endpoint
 * numbers. No key check, no error path, no 64-bit spread; what a picker adds over it is the
 * cost of those.
 */
export function bareHashPick(table: Uint32Array): (key: string) => number {
  return (key) => {
    let hash = 0x811c9dc5 | 0;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    return table[(hash >>> 0) % BARE_TABLE_SIZE] as number;
  };
}

export interface PickResult {
  readonly strategy: StrategyName;
  readonly endpoints: number;
  readonly timing: Timing;
}

export interface ManagerResult {
  readonly label: string;
  readonly endpoints: number;
  readonly timing: Timing;
}

async function pickBenchmarks(
  settings: EngineSettings,
  log: (line: string) => void,
): Promise<{ picks: PickResult[]; manager: ManagerResult[]; harness: Timing; bareHash: Timing }> {
  const requests = makeRequests(REQUEST_COUNT);
  const bareTable = Uint32Array.from(
    { length: BARE_TABLE_SIZE },
    (_, i) => i % TARGETS.atEndpoints,
  );
  const [harness, bareHash] = await timeCases(
    [
      {
        name: "harness (index the next request, no pick)",
        loop: loopOf("harness", "requests[i]")(null, null, requests),
      },
      {
        name: "bare loop: FNV-1a of the session key, index a table",
        loop: loopOf("bare hash", "target(requests[i].sessionKey)")(
          bareHashPick(bareTable),
          null,
          requests,
        ),
      },
    ],
    settings,
    log,
  );

  const picks: PickResult[] = [];
  for (const size of settings.pickSizes) {
    const endpoints = makeEndpoints(size, "mixed");
    const pickers = BUILT_IN_STRATEGIES.map((strategy) =>
      strategy.build(
        buildContext(endpoints, preloadedLoads(endpoints, PRELOADED_CONNECTIONS_PER_ENDPOINT)),
      ),
    );
    const timings = await timeCases(
      BUILT_IN_STRATEGIES.map((strategy, s) => ({
        name: `${strategy.name}, ${formatNumber(size)} endpoints`,
        loop: loopOf(`${strategy.name} ${size}`, "target.pick(requests[i])")(
          pickers[s],
          null,
          requests,
        ),
      })),
      settings,
      log,
    );
    BUILT_IN_STRATEGIES.forEach((strategy, s) => {
      picks.push({ strategy: strategy.name, endpoints: size, timing: timings[s] as Timing });
      pickers[s]?.dispose();
    });
  }

  // The same pick through the manager: strategy lookup, per-service state, picker cache.
  const size = TARGETS.atEndpoints;
  const service: ServiceEndpoints = {
    key: "shop/web",
    version: 1,
    endpoints: makeEndpoints(size, "mixed"),
    strategy: "round-robin",
    policy: { latency: { map: LATENCY_MAP } },
  };
  const options: SelectOptions[] = requests.map((request) => ({
    strategy: "round-robin",
    clientIp: request.clientIp,
    sessionKey: request.sessionKey,
    clientRegion: request.clientRegion,
    limit: undefined,
    healthFilter: undefined,
  }));
  const manager = new BalancerManager({ random: seededRandom(1) });
  const selectOne = "target.selectOne(service, requests[i])";
  const [oneStrategy] = await timeCases(
    [
      {
        name: `selectOne round-robin, ${formatNumber(size)} endpoints, one strategy in use`,
        loop: loopOf("manager", selectOne)(manager, service, options),
      },
    ],
    settings,
    log,
  );

  // A server whose services use every strategy calls many picker classes from one place.
  for (const strategy of BUILT_IN_STRATEGIES) {
    for (let i = 0; i < 20_000; i++) {
      manager.selectOne(service, {
        ...(options[i & (REQUEST_COUNT - 1)] as SelectOptions),
        strategy: strategy.name,
      });
    }
  }
  const [everyStrategy] = await timeCases(
    [
      {
        name: `selectOne round-robin, ${formatNumber(size)} endpoints, every strategy in use`,
        loop: loopOf("manager, every strategy", selectOne)(manager, service, options),
      },
    ],
    settings,
    log,
  );
  return {
    picks,
    manager: [
      { label: "one strategy in use", endpoints: size, timing: oneStrategy as Timing },
      { label: "every strategy in use", endpoints: size, timing: everyStrategy as Timing },
    ],
    harness: harness as Timing,
    bareHash: bareHash as Timing,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Table build time

export interface BuildResult {
  readonly strategy: StrategyName;
  readonly weights: Weights;
  readonly endpoints: number;
  readonly builds: number;
  readonly medianMs: number;
  readonly minMs: number;
  /** Entries of the ring or the Maglev table. */
  readonly entries: number;
  readonly bytes: number;
}

/** The hash table a picker holds, if it has one. */
function tableOf(picker: Picker): Float64Array | Uint16Array | Uint32Array | null {
  const holder = picker as Picker & {
    ring?: Float64Array;
    table?: Uint16Array | Uint32Array;
  };
  return holder.ring ?? holder.table ?? null;
}

function collectGarbage(): void {
  const gc = globalThis.gc;
  if (!gc) throw new Error("the engine benchmark needs --expose-gc");
  gc();
  gc();
}

function buildBenchmarks(settings: EngineSettings, log: (line: string) => void): BuildResult[] {
  const results: BuildResult[] = [];
  // Warm up the build code on a mid-sized set first.
  const warm = makeEndpoints(1_000, "mixed");
  for (const name of TARGETS.tableStrategies) {
    for (let i = 0; i < (settings.quick ? 1 : 3); i++)
      strategyNamed(name).build(buildContext(warm));
  }
  for (const name of TARGETS.tableStrategies) {
    const strategy = strategyNamed(name);
    for (const weights of ["uniform", "mixed"] as const) {
      for (const run of settings.buildRuns) {
        const endpoints = makeEndpoints(run.endpoints, weights);
        const times: number[] = [];
        let entries = 0;
        let bytes = 0;
        for (let b = 0; b < run.builds; b++) {
          const context = buildContext(endpoints);
          collectGarbage();
          const start = process.hrtime.bigint();
          const picker = strategy.build(context);
          const end = process.hrtime.bigint();
          times.push(Number(end - start) / 1e6);
          const table = tableOf(picker);
          entries = table?.length ?? 0;
          bytes = table?.byteLength ?? 0;
          picker.dispose();
        }
        const result: BuildResult = {
          strategy: name,
          weights,
          endpoints: run.endpoints,
          builds: run.builds,
          medianMs: median(times),
          minMs: Math.min(...times),
          entries,
          bytes,
        };
        results.push(result);
        log(
          `  ${name.padEnd(9)} ${WEIGHTS_LABEL[weights].padEnd(13)} ${String(run.endpoints).padStart(6)} endpoints: ${formatMs(result.medianMs).padStart(9)} (${formatNumber(entries)} entries)`,
        );
      }
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// 3. Heap per service

export interface HeapResult {
  readonly strategy: StrategyName;
  readonly endpoints: number;
  readonly services: number;
  /** Retained bytes per picker (JS heap plus typed array backing stores), endpoints excluded. */
  readonly bytesPerService: number;
}

export interface TableHeapResult {
  readonly strategy: StrategyName;
  readonly weights: Weights;
  readonly endpoints: number;
  readonly entries: number;
  readonly tableBytes: number;
  /** Everything a picker retains, its table included, endpoints excluded. */
  readonly pickerBytes: number;
}

function retainedBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Bytes a picker retains: builds `services` pickers over one shared endpoint array (so the
 * endpoints are counted in neither figure), each with its own context and load tracker made
 * before the baseline, picks with requests from both regions so lazily built state (the
 * latency tiers) is included, and divides the heap growth by the number of pickers.
 */
function pickerBytes(
  strategy: Strategy,
  endpoints: readonly Endpoint[],
  services: number,
  requests: readonly PickRequest[],
): number {
  const contexts = Array.from({ length: services }, () =>
    buildContext(endpoints, preloadedLoads(endpoints, PRELOADED_CONNECTIONS_PER_ENDPOINT)),
  );
  const pickers = new Array<Picker | undefined>(services).fill(undefined);
  const before = retainedBytes();
  for (let s = 0; s < services; s++) {
    const picker = strategy.build(contexts[s] as BuildContext);
    for (const request of requests) picker.pick(request);
    pickers[s] = picker;
  }
  const after = retainedBytes();
  let disposed = 0;
  for (const picker of pickers) {
    picker?.dispose();
    disposed++;
  }
  if (disposed !== services) throw new Error("lost a picker");
  return (after - before) / services;
}

function heapBenchmarks(
  settings: EngineSettings,
  log: (line: string) => void,
): { perService: HeapResult[]; tables: TableHeapResult[] } {
  const requests = makeRequests(8, 5);
  const perService: HeapResult[] = [];
  const endpoints = makeEndpoints(TARGETS.heapEndpoints, "mixed");
  for (const strategy of BUILT_IN_STRATEGIES) {
    if (TABLE_PICKERS.includes(strategy.name)) continue;
    // A first, discarded pass: the code and type feedback it compiles are not picker state.
    pickerBytes(strategy, endpoints, 100, requests);
    const rounds: number[] = [];
    for (let r = 0; r < settings.heapRounds; r++) {
      rounds.push(pickerBytes(strategy, endpoints, settings.heapServices, requests));
    }
    const bytes = median(rounds);
    perService.push({
      strategy: strategy.name,
      endpoints: TARGETS.heapEndpoints,
      services: settings.heapServices,
      bytesPerService: bytes,
    });
    log(
      `  ${strategy.name.padEnd(21)} ${formatBytes(bytes)} per service (rounds ${rounds.map((r) => formatNumber(r)).join(", ")} B)`,
    );
  }

  const tables: TableHeapResult[] = [];
  for (const name of TABLE_PICKERS) {
    const strategy = strategyNamed(name);
    for (const weights of ["uniform", "mixed"] as const) {
      for (const size of [10, 1_000]) {
        const list = makeEndpoints(size, weights);
        const picker = strategy.build(buildContext(list));
        const table = tableOf(picker);
        picker.dispose();
        const count = size <= 10 ? 50 : 5;
        const bytes = pickerBytes(strategy, list, count, requests);
        tables.push({
          strategy: name,
          weights,
          endpoints: size,
          entries: table?.length ?? 0,
          tableBytes: table?.byteLength ?? 0,
          pickerBytes: bytes,
        });
        log(
          `  ${name.padEnd(9)} ${WEIGHTS_LABEL[weights].padEnd(13)} ${String(size).padStart(5)} endpoints: table ${formatBytes(table?.byteLength ?? 0)}, picker ${formatBytes(bytes)}`,
        );
      }
    }
  }
  return { perService, tables };
}

// ---------------------------------------------------------------------------------------------
// Running and reporting

export interface EngineResults extends Environment {
  readonly settings: EngineSettings;
  readonly durationS: number;
  readonly harness: Timing;
  /** The bare hash-and-index loop the key-hashing picks are compared with. */
  readonly bareHash: Timing;
  readonly picks: readonly PickResult[];
  readonly manager: readonly ManagerResult[];
  readonly builds: readonly BuildResult[];
  readonly heap: readonly HeapResult[];
  readonly tables: readonly TableHeapResult[];
}

export async function runEngine(
  settings: EngineSettings,
  environment: Environment,
  log: (line: string) => void = console.log,
): Promise<EngineResults> {
  const started = process.hrtime.bigint();
  // Heap first, while the heap holds nothing from the other parts.
  log("Heap per service");
  const { perService, tables } = heapBenchmarks(settings, log);
  log("Table build time");
  const builds = buildBenchmarks(settings, log);
  log("Time per pick (median)");
  const { picks, manager, harness, bareHash } = await pickBenchmarks(settings, log);
  return {
    settings,
    ...environment,
    durationS: Number(process.hrtime.bigint() - started) / 1e9,
    harness,
    bareHash,
    picks,
    manager,
    builds,
    heap: perService,
    tables,
  };
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
  /** How far off a missed target is, e.g. "1.8x the target". */
  readonly miss?: string;
}

function ratio(measured: number, target: number): string {
  return `${formatNumber(measured / target, measured / target < 10 ? 1 : 0)}x the target`;
}

function pickLimitNs(strategy: StrategyName): number {
  return TARGETS.fastPickStrategies.includes(strategy) ? TARGETS.fastPickNs : TARGETS.pickNs;
}

/**
 * The build targets are set at 1,000 endpoints of weight 1. A ring's size follows the weights
 * (150 virtual nodes per unit), so ring-hash with weights 1..10 is shown without a target;
 * Maglev's table has a fixed size and keeps its target at both.
 */
function buildTargetApplies(row: BuildResult): boolean {
  return (
    row.endpoints === TARGETS.atEndpoints &&
    (row.strategy !== "ring-hash" || row.weights === "uniform")
  );
}

export function checkTargets(results: EngineResults): TargetCheck[] {
  const at = TARGETS.atEndpoints;
  const checks: TargetCheck[] = [];
  for (const row of results.picks.filter((p) => p.endpoints === at)) {
    if (TARGETS.keyHashStrategies.includes(row.strategy)) {
      const over = row.timing.p50 / results.bareHash.p50;
      const met = over <= TARGETS.keyHashOverBareLoop;
      checks.push({
        target: `${row.strategy}: median pick at ${formatNumber(at)} endpoints ≤ ${TARGETS.keyHashOverBareLoop}x the bare hash loop (${formatNs(results.bareHash.p50)})`,
        measured: `${formatNs(row.timing.p50)} (${formatNumber(over, 2)}x)`,
        met,
        ...(met
          ? {}
          : { miss: `${formatNumber(over / TARGETS.keyHashOverBareLoop, 2)}x the target` }),
      });
      continue;
    }
    const limit = pickLimitNs(row.strategy);
    const met = row.timing.p50 <= limit;
    checks.push({
      target: `${row.strategy}: median pick at ${formatNumber(at)} endpoints ≤ ${limit} ns`,
      measured: formatNs(row.timing.p50),
      met,
      ...(met
        ? {}
        : { miss: `${formatNs(row.timing.p50 - limit)} over, ${ratio(row.timing.p50, limit)}` }),
    });
  }
  for (const row of results.builds.filter((b) => buildTargetApplies(b))) {
    const limit = TARGETS.buildMs[row.strategy] as number;
    const met = row.medianMs <= limit;
    checks.push({
      target: `${row.strategy} table build at ${formatNumber(at)} endpoints, ${WEIGHTS_LABEL[row.weights]} ≤ ${limit} ms`,
      measured: formatMs(row.medianMs),
      met,
      ...(met
        ? {}
        : {
            miss: `${formatMs(row.medianMs - limit)} over, ${ratio(row.medianMs, limit)}`,
          }),
    });
  }
  for (const row of results.heap) {
    const met = row.bytesPerService <= TARGETS.heapBytesPerService;
    checks.push({
      target: `${row.strategy}: picker state per service ≤ 1 KiB`,
      measured: formatBytes(row.bytesPerService),
      met,
      ...(met
        ? {}
        : {
            miss: `${formatBytes(row.bytesPerService - TARGETS.heapBytesPerService)} over, ${ratio(row.bytesPerService, TARGETS.heapBytesPerService)}`,
          }),
    });
  }
  return checks;
}

function pickCell(timing: Timing | undefined): string {
  return timing ? `${formatNs(timing.p50)} · ${formatRate(1e9 / timing.p50)}` : "–";
}

/** The markdown of the engine section of docs/performance.md. */
export function renderEngine(results: EngineResults): string {
  const { settings } = results;
  const at = TARGETS.atEndpoints;
  const checks = checkTargets(results);
  const missed = checks.filter((c) => !c.met);
  const out: string[] = [];

  out.push("## Engine");
  out.push("");
  out.push(
    `Measured ${results.date}${results.revision ? ` at commit ${results.revision}` : ""} on Node ${results.node}, ${results.cpu} (${results.cores} cores)` +
      `${settings.quick ? ", **quick run** (short sampling; figures are rough)" : ""}; ` +
      `the run took ${formatNumber(results.durationS, 0)} s.`,
  );
  out.push("");

  out.push("### Targets");
  out.push("");
  out.push(
    missed.length === 0
      ? `All ${checks.length} targets met.`
      : `${checks.length - missed.length} of ${checks.length} targets met, ${missed.length} missed.`,
  );
  out.push("");
  out.push(
    markdownTable(
      ["Target", "Measured", "Met", "Missed by"],
      checks.map((c) => [c.target, c.measured, mark(c.met), c.miss ?? ""]),
      ["left", "right", "left", "left"],
    ),
  );
  out.push("");

  out.push("### Time per pick");
  out.push("");
  out.push(
    `Median time of one \`Picker.pick\` on a built picker and the rate one core sustains at that median. ` +
      `Endpoints carry weights 1..10 and two regions; requests cycle through ${formatNumber(REQUEST_COUNT)} ` +
      `pre-generated ones, each with its own UUID session key, client IPv4 address and region; ` +
      `least-connections and least-request start with about ${PRELOADED_CONNECTIONS_PER_ENDPOINT} open connections per endpoint. ` +
      `Each figure is the median over ${settings.rounds} round${settings.rounds === 1 ? "" : "s"} of the median of batches of 4,096 calls. ` +
      `The timing loop alone (indexing the next request) costs ${formatNs(results.harness.p50)}, included in every figure. ` +
      `ring-hash and maglev hash the 36-character session key; their target is twice a bare loop measured in the same run ` +
      `that hashes the same keys (FNV-1a over the characters) and indexes a ${formatNumber(BARE_TABLE_SIZE)}-slot table: ${formatNs(results.bareHash.p50)}.`,
  );
  out.push("");
  const sizes = settings.pickSizes;
  const headers = [
    "Strategy",
    ...sizes.map((s) => `${formatNumber(s)} endpoints`),
    `Target at ${formatNumber(at)}`,
  ];
  const rows = BUILT_IN_STRATEGIES.map((strategy) => {
    const timingAt = (size: number) =>
      results.picks.find((p) => p.strategy === strategy.name && p.endpoints === size)?.timing;
    const main = timingAt(at);
    if (TARGETS.keyHashStrategies.includes(strategy.name)) {
      const limit = TARGETS.keyHashOverBareLoop * results.bareHash.p50;
      return [
        strategy.name,
        ...sizes.map((size) => pickCell(timingAt(size))),
        main
          ? `≤ ${TARGETS.keyHashOverBareLoop}x bare loop (${formatNs(limit)}) ${mark(main.p50 <= limit)}`
          : "–",
      ];
    }
    const limit = pickLimitNs(strategy.name);
    return [
      strategy.name,
      ...sizes.map((size) => pickCell(timingAt(size))),
      main ? `≤ ${limit} ns ${mark(main.p50 <= limit)}` : "–",
    ];
  });
  out.push(markdownTable(headers, rows, ["left", ...sizes.map(() => "right" as const), "left"]));
  out.push("");

  const direct = results.picks.find((p) => p.strategy === "round-robin" && p.endpoints === at);
  out.push(
    `Through \`BalancerManager.selectOne\` (round-robin, ${formatNumber(at)} endpoints, cached picker): ` +
      "the strategy lookup, the service's state and the picker cache come on top of the pick. " +
      "“Every strategy in use” is the same call after the manager has served all ten strategies, " +
      "as a server whose services use different strategies does.",
  );
  out.push("");
  out.push(
    markdownTable(
      ["Path", "Median", "Rate", "Over the direct pick"],
      [
        ...(direct
          ? [
              [
                "`Picker.pick`",
                formatNs(direct.timing.p50),
                formatRate(1e9 / direct.timing.p50),
                "–",
              ],
            ]
          : []),
        ...results.manager.map((m) => [
          `\`selectOne\`, ${m.label}`,
          formatNs(m.timing.p50),
          formatRate(1e9 / m.timing.p50),
          direct ? `+${formatNs(m.timing.p50 - direct.timing.p50)}` : "–",
        ]),
      ],
      ["left", "right", "right", "right"],
    ),
  );
  out.push("");

  out.push("### Hash table build time");
  out.push("");
  out.push(
    "Median wall time of `strategy.build` (the whole picker, its table included) over repeated builds, " +
      "with a garbage collection before each; default policy (ring: 150 virtual nodes per unit of an endpoint's " +
      "weight, at least 1,024 and at most 8,388,608 entries; Maglev: 65,537 slots). Weights change how " +
      "many entries a ring has and how Maglev's slots are shared out, so both equal weights and weights 1..10 are shown.",
  );
  out.push("");
  const buildRows: string[][] = [];
  for (const name of TARGETS.tableStrategies) {
    for (const weights of ["uniform", "mixed"] as const) {
      for (const run of settings.buildRuns) {
        const row = results.builds.find(
          (b) => b.strategy === name && b.weights === weights && b.endpoints === run.endpoints,
        );
        if (!row) continue;
        buildRows.push([
          name,
          WEIGHTS_LABEL[weights],
          formatNumber(row.endpoints),
          formatNumber(row.entries),
          formatBytes(row.bytes),
          formatMs(row.medianMs),
          formatMs(row.minMs),
          String(row.builds),
          buildTargetApplies(row)
            ? `≤ ${TARGETS.buildMs[name]} ms ${mark(row.medianMs <= (TARGETS.buildMs[name] as number))}`
            : "",
        ]);
      }
    }
  }
  out.push(
    markdownTable(
      [
        "Strategy",
        "Weights",
        "Endpoints",
        "Entries",
        "Table",
        "Median",
        "Fastest",
        "Builds",
        "Target",
      ],
      buildRows,
      ["left", "left", "right", "right", "right", "right", "right", "right", "left"],
    ),
  );
  out.push("");

  out.push("### Heap per service");
  out.push("");
  out.push(
    `Picker state of the strategies without a hash table: ${formatNumber(results.heap[0]?.services ?? 0)} ` +
      `pickers built over one shared ${TARGETS.heapEndpoints}-endpoint array (so the endpoints themselves are not counted), ` +
      "each after a few picks from both regions; the growth of the JS heap plus typed-array backing stores " +
      "after a full garbage collection, divided by the number of pickers. The service's load tracker is made " +
      "before the baseline; the picker's view of it is counted.",
  );
  out.push("");
  out.push(
    markdownTable(
      ["Strategy", "Bytes per service", "Target ≤ 1 KiB"],
      results.heap.map((h) => [
        h.strategy,
        formatBytes(h.bytesPerService),
        mark(h.bytesPerService <= TARGETS.heapBytesPerService),
      ]),
      ["left", "right", "left"],
    ),
  );
  out.push("");
  out.push(
    "Pickers with a hash table: the table's typed array (`ring`, `table`) and everything the picker retains, " +
      "the table included (heap growth over a few pickers).",
  );
  out.push("");
  out.push(
    markdownTable(
      ["Strategy", "Weights", "Endpoints", "Entries", "Table", "Whole picker"],
      results.tables.map((t) => [
        t.strategy,
        WEIGHTS_LABEL[t.weights],
        formatNumber(t.endpoints),
        formatNumber(t.entries),
        formatBytes(t.tableBytes),
        formatBytes(t.pickerBytes),
      ]),
      ["left", "left", "right", "right", "right", "right"],
    ),
  );
  return out.join("\n");
}
