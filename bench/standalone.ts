/**
 * The standalone part of `npm run bench`: the operator serving a manifest file of 100,000
 * endpoints (1,000 Services × 100, about 20 MB). For each operator build given (this checkout,
 * and e.g. an earlier checkout's entry point, so before and after come from one run) it measures:
 *   - time to ready: process start to /readyz 200 (the file is loaded);
 *   - memory after the load, and again once every Service has answered a pick (every ring and
 *     Maglev table built): RSS from /proc and heap used after a full collection;
 *   - a one-line change (one endpoint's address in one Service), written as editors and
 *     ConfigMap volumes do (a new file renamed over the old): the time until that Service's
 *     answer shows it, and meanwhile the latency of picks from an unrelated three-endpoint
 *     Service (one request at a time, bounded in count and time), against the same loop on the
 *     idle operator.
 *
 *   npm run bench -- --only=standalone --operator=before=../konsul-lb-before/src/cli/main.ts
 *
 * --operator="LABEL=ENTRY [NODE OPTION...]", repeatable: builds measured before this checkout's.
 * --services=N: Services of 100 endpoints (default 1,000; 100 with --quick).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { POLICY_API_VERSION, POLICY_KIND } from "../src/policy/schema.ts";
import {
  type Memory,
  type OperatorBuild,
  OperatorProcess,
  operatorBuildsFrom,
} from "../test/cluster/support/operator-process.ts";
import { type Environment, formatBytes, formatMs, formatNumber, markdownTable } from "./report.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NAMESPACE = "bench";
const ENDPOINTS_PER_SERVICE = 100;
const NODES = 100;
const ZONES = ["zone-a", "zone-b", "zone-c"] as const;
/** One Service in this many of each strategy, in this order: hash tables are most of them. */
const STRATEGY_CYCLE = [
  "ring-hash",
  "maglev",
  "ring-hash",
  "maglev",
  "round-robin",
  "weighted-round-robin",
  "least-request",
  "random",
] as const;
/** The unrelated Service whose answers the reload must not stall. */
const QUIET = { namespace: "quiet", name: "quiet" } as const;
/** The Service whose one line changes, and the new address of its first endpoint. */
const CHANGED_SERVICE = "svc-00000";
/** Picks of the quiet Service while idle, and at most during one reload. */
const IDLE_PICKS = 2000;
const MAX_RELOAD_PICKS = 200_000;
const PICKS_IN_FLIGHT_WARMING = 8;

/** The targets. */
export const TARGETS = { readySeconds: 10, rssMiB: 512, reloadSeconds: 2 } as const;

export interface StandaloneSettings {
  readonly services: number;
  readonly operators: readonly OperatorBuild[];
  /** One-line changes measured per operator; the worst counts. */
  readonly reloads: number;
  /** Longest wait for ready and for a change to be served. */
  readonly readyTimeoutMs: number;
  readonly reloadTimeoutMs: number;
}

export function standaloneSettings(quick: boolean, args: readonly string[]): StandaloneSettings {
  const servicesFlag = args.find((arg) => arg.startsWith("--services="));
  let services = quick ? 100 : 1000;
  if (servicesFlag !== undefined) {
    const text = servicesFlag.slice("--services=".length);
    services = Number(text);
    if (!Number.isInteger(services) || services < 1 || services > 5000) {
      throw new Error(
        `--services ${JSON.stringify(text)} is not allowed; expected an integer from 1 to 5000`,
      );
    }
  }
  const operators = operatorBuildsFrom(args);
  return {
    services,
    operators: [
      ...operators,
      { label: "this checkout", entry: resolve(ROOT, "src/cli/main.ts"), nodeOptions: [] },
    ],
    reloads: quick ? 1 : 3,
    readyTimeoutMs: 180_000,
    reloadTimeoutMs: 30_000,
  };
}

function serviceName(index: number): string {
  return `svc-${String(index).padStart(5, "0")}`;
}

/** The address of endpoint `index` of Service `service`: unique across the file. */
function addressOf(service: number, index: number): string {
  const n = service * ENDPOINTS_PER_SERVICE + index;
  return `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/**
 * The manifest: Nodes with zone labels, then per Service its Service, its policy and one
 * EndpointSlice of 100 endpoints (each naming its pod, node and zone, as the API prints them),
 * then the quiet Service. `changedAddress` replaces the first address of CHANGED_SERVICE: one line.
 */
export function standaloneManifest(services: number, changedAddress: string | null): string {
  const parts: string[] = [];
  for (let node = 0; node < NODES; node++) {
    parts.push(
      `apiVersion: v1\nkind: Node\nmetadata:\n  name: node-${node}\n  labels:\n` +
        `    topology.kubernetes.io/region: region-1\n` +
        `    topology.kubernetes.io/zone: ${ZONES[node % ZONES.length]}\n`,
    );
  }
  for (let service = 0; service < services; service++) {
    const name = serviceName(service);
    const strategy = STRATEGY_CYCLE[service % STRATEGY_CYCLE.length] as string;
    parts.push(
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${NAMESPACE}\n` +
        `spec:\n  selector:\n    app: ${name}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n`,
    );
    const settings =
      strategy === "ring-hash"
        ? "  ringHash:\n    hashOn: session-key\n"
        : strategy === "maglev"
          ? "  maglev:\n    hashOn: session-key\n"
          : "";
    parts.push(
      `apiVersion: ${POLICY_API_VERSION}\nkind: ${POLICY_KIND}\nmetadata:\n  name: ${name}\n  namespace: ${NAMESPACE}\n` +
        `spec:\n  targetRef:\n    kind: Service\n    name: ${name}\n  strategy: ${strategy}\n${settings}`,
    );
    const endpoints: string[] = [];
    for (let index = 0; index < ENDPOINTS_PER_SERVICE; index++) {
      const address =
        changedAddress !== null && service === 0 && index === 0
          ? changedAddress
          : addressOf(service, index);
      const node = (service * ENDPOINTS_PER_SERVICE + index) % NODES;
      endpoints.push(
        `- addresses:\n  - ${address}\n  conditions:\n    ready: true\n    serving: true\n    terminating: false\n` +
          `  nodeName: node-${node}\n  targetRef:\n    kind: Pod\n    name: ${name}-7d9f8c6b5-${String(index).padStart(5, "0")}\n` +
          `    namespace: ${NAMESPACE}\n  zone: ${ZONES[node % ZONES.length]}\n`,
      );
    }
    parts.push(
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\nmetadata:\n  name: ${name}-abcde\n` +
        `  namespace: ${NAMESPACE}\n  labels:\n    kubernetes.io/service-name: ${name}\n` +
        `ports:\n- name: http\n  port: 8080\n  protocol: TCP\nendpoints:\n${endpoints.join("")}`,
    );
  }
  parts.push(
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${QUIET.name}\n  namespace: ${QUIET.namespace}\n` +
      `spec:\n  ports:\n  - name: http\n    port: 80\n`,
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\nmetadata:\n  name: ${QUIET.name}-a\n` +
      `  namespace: ${QUIET.namespace}\n  labels:\n    kubernetes.io/service-name: ${QUIET.name}\n` +
      `ports:\n- name: http\n  port: 8080\nendpoints:\n` +
      ["192.168.0.1", "192.168.0.2", "192.168.0.3"]
        .map((address) => `- addresses:\n  - ${address}\n  conditions:\n    ready: true\n`)
        .join(""),
  );
  return `${parts.join("---\n")}`;
}

/**
 * GET with one retry on a network error: a kept-alive connection the operator closed while it
 * was busy (a load of tens of seconds, a full collection) fails the first request on it.
 */
async function get(url: string): Promise<{ status: number; text: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url);
      return { status: res.status, text: await res.text() };
    } catch (error) {
      if (attempt >= 2) throw error;
    }
  }
}

async function pick(url: string, namespace: string, name: string, key: string): Promise<number> {
  return (await get(`${url}/v1/services/${namespace}/${name}/pick?session-key=${key}`)).status;
}

/** One pick of every Service, a few in flight: every picker, ring and Maglev table is built. */
async function warmEveryService(url: string, services: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < services) {
      const name = serviceName(next++);
      const status = await pick(url, NAMESPACE, name, `user-${next}`);
      if (status !== 200) throw new Error(`pick of ${NAMESPACE}/${name} answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: PICKS_IN_FLIGHT_WARMING }, worker));
}

interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function latencyOf(samples: number[]): Latency {
  const sorted = samples.sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  return { count: sorted.length, p50: at(50), p99: at(99), max: sorted.at(-1) ?? Number.NaN };
}

/** Picks of the quiet Service one at a time until `done()` or `limit` picks; their latencies. */
async function quietPicks(url: string, limit: number, done: () => boolean): Promise<Latency> {
  const samples: number[] = [];
  while (samples.length < limit && !done()) {
    const started = performance.now();
    const status = await pick(url, QUIET.namespace, QUIET.name, "k");
    if (status !== 200) throw new Error(`pick of the quiet Service answered ${status}`);
    samples.push(performance.now() - started);
  }
  return latencyOf(samples);
}

/** Whether the changed Service's answer lists `address`. */
async function serves(url: string, address: string): Promise<boolean> {
  const { status, text } = await get(`${url}/v1/services/${NAMESPACE}/${CHANGED_SERVICE}`);
  return status === 200 && text.includes(`"${address}"`);
}

export interface ReloadFigures {
  /** Rename of the new file → its change in the answer; null when not served within the wait. */
  readonly servedMs: number | null;
  readonly quiet: Latency;
}

export interface OperatorFigures {
  readonly label: string;
  readonly readyMs: number;
  /** Operator CPU from start to ready. */
  readonly readyCpuMs: number;
  readonly loaded: Memory;
  readonly warmMs: number;
  readonly warmCpuMs: number;
  readonly warmed: Memory;
  readonly idle: Latency;
  readonly reloads: readonly ReloadFigures[];
  readonly afterReloads: Memory;
}

export interface StandaloneResults extends Environment {
  readonly settings: StandaloneSettings;
  readonly endpoints: number;
  readonly fileBytes: number;
  readonly operators: readonly OperatorFigures[];
}

/** Writes `text` to `path` as editors do: a new file renamed over the old one. */
function replaceFile(path: string, text: string): void {
  const next = `${path}.next`;
  writeFileSync(next, text);
  renameSync(next, path);
}

async function measureOperator(
  build: OperatorBuild,
  settings: StandaloneSettings,
  file: string,
  texts: readonly string[],
): Promise<OperatorFigures> {
  replaceFile(file, texts[0] as string);
  const started = performance.now();
  const operator = await OperatorProcess.serveFile(build, file);
  try {
    await operator.waitReady(settings.readyTimeoutMs);
    const readyMs = performance.now() - started;
    const readyCpuMs = operator.cpuMs();
    console.log(`  ${build.label}: ready after ${formatMs(readyMs)} (${formatMs(readyCpuMs)} CPU)`);
    const loaded = await operator.memory();
    const warmStarted = performance.now();
    const warmCpuStart = operator.cpuMs();
    await warmEveryService(operator.url, settings.services);
    const warmMs = performance.now() - warmStarted;
    const warmCpuMs = operator.cpuMs() - warmCpuStart;
    const warmed = await operator.memory();
    const idle = await quietPicks(operator.url, IDLE_PICKS, () => false);
    const reloads: ReloadFigures[] = [];
    for (let i = 1; i <= settings.reloads; i++) {
      const text = texts[i] as string;
      const address = changedAddress(i);
      let servedMs: number | null = null;
      const changedAt = performance.now();
      const deadline = changedAt + settings.reloadTimeoutMs;
      replaceFile(file, text);
      const watching = (async () => {
        while (performance.now() < deadline) {
          if (await serves(operator.url, address).catch(() => false)) {
            servedMs = performance.now() - changedAt;
            return;
          }
          await sleep(10);
        }
      })();
      // Picks go on until the change is served, and half a second beyond: the old catalog's
      // pickers and tables are dropped then, and a collection may follow.
      let servedOrGaveUp = false;
      void watching.then(() => {
        setTimeout(() => {
          servedOrGaveUp = true;
        }, 500);
      });
      const quiet = await quietPicks(operator.url, MAX_RELOAD_PICKS, () => servedOrGaveUp);
      await watching;
      reloads.push({ servedMs, quiet });
      console.log(
        `  ${build.label}: change ${i} served after ${servedMs === null ? "(not served)" : formatMs(servedMs)}, quiet max ${formatMs(quiet.max)}`,
      );
      // The next change starts from an operator at rest.
      await sleep(1000);
    }
    const afterReloads = await operator.memory();
    return {
      label: build.label,
      readyMs,
      readyCpuMs,
      loaded,
      warmMs,
      warmCpuMs,
      warmed,
      idle,
      reloads,
      afterReloads,
    };
  } finally {
    await operator.stop();
  }
}

function changedAddress(i: number): string {
  return `172.16.0.${i}`;
}

export async function runStandalone(
  settings: StandaloneSettings,
  environment: Environment,
): Promise<StandaloneResults> {
  const directory = mkdtempSync(join(tmpdir(), "konsul-lb-standalone-"));
  const file = join(directory, "manifests.yaml");
  try {
    // The original, then one text per change: each differs from the one before in one line.
    const texts = [
      standaloneManifest(settings.services, null),
      ...Array.from({ length: settings.reloads }, (_, i) =>
        standaloneManifest(settings.services, changedAddress(i + 1)),
      ),
    ];
    const fileBytes = Buffer.byteLength(texts[0] as string);
    console.log(
      `standalone: ${formatNumber(settings.services)} Services × ${ENDPOINTS_PER_SERVICE} endpoints, ${formatBytes(fileBytes)}`,
    );
    const operators: OperatorFigures[] = [];
    for (const build of settings.operators) {
      operators.push(await measureOperator(build, settings, file, texts));
    }
    return {
      ...environment,
      settings,
      endpoints: settings.services * ENDPOINTS_PER_SERVICE,
      fileBytes,
      operators,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function worstServed(figures: OperatorFigures): number | null {
  let worst = 0;
  for (const reload of figures.reloads) {
    if (reload.servedMs === null) return null;
    worst = Math.max(worst, reload.servedMs);
  }
  return worst;
}

function worstQuiet(figures: OperatorFigures): Latency {
  const all = figures.reloads.map((reload) => reload.quiet);
  return {
    count: all.reduce((sum, latency) => sum + latency.count, 0),
    p50: Math.max(...all.map((latency) => latency.p50)),
    p99: Math.max(...all.map((latency) => latency.p99)),
    max: Math.max(...all.map((latency) => latency.max)),
  };
}

function mib(bytes: number): string {
  return formatBytes(bytes);
}

function ratio(after: number, before: number): string {
  return `${formatNumber(after / before, 2)}×`;
}

export function renderStandalone(results: StandaloneResults): string {
  const { operators, settings } = results;
  const served = (figures: OperatorFigures) => {
    const worst = worstServed(figures);
    return worst === null ? `not within ${settings.reloadTimeoutMs / 1000} s` : formatMs(worst);
  };
  const first = operators[0];
  const last = operators.at(-1);
  const compare = first !== undefined && last !== undefined && first !== last;
  const row = (
    name: string,
    cell: (figures: OperatorFigures) => string,
    value?: (figures: OperatorFigures) => number | null,
  ): string[] => {
    const cells = [name, ...operators.map(cell)];
    if (!compare) return cells;
    const after = value?.(last);
    const before = value?.(first);
    const both = after !== undefined && after !== null && before !== undefined && before !== null;
    return [...cells, both ? ratio(after, before) : ""];
  };
  const latency = (l: Latency) => `${formatMs(l.p50)} / ${formatMs(l.p99)} / ${formatMs(l.max)}`;
  const rows: string[][] = [
    row(
      "time to ready",
      (o) => formatMs(o.readyMs),
      (o) => o.readyMs,
    ),
    row(
      "operator CPU to ready",
      (o) => formatMs(o.readyCpuMs),
      (o) => o.readyCpuMs,
    ),
    row(
      "RSS after the load",
      (o) => mib(o.loaded.rssBytes),
      (o) => o.loaded.rssBytes,
    ),
    row(
      "heap after GC, after the load",
      (o) => mib(o.loaded.heapBytes),
      (o) => o.loaded.heapBytes,
    ),
    row(
      "one pick of every Service (builds every table)",
      (o) => formatMs(o.warmMs),
      (o) => o.warmMs,
    ),
    row(
      "operator CPU for those picks",
      (o) => formatMs(o.warmCpuMs),
      (o) => o.warmCpuMs,
    ),
    row(
      "RSS, every table built",
      (o) => mib(o.warmed.rssBytes),
      (o) => o.warmed.rssBytes,
    ),
    row(
      "heap after GC, every table built",
      (o) => mib(o.warmed.heapBytes),
      (o) => o.warmed.heapBytes,
    ),
    row(`one-line change → served (worst of ${settings.reloads})`, served, worstServed),
    row("unrelated Service's pick, idle: p50 / p99 / max", (o) => latency(o.idle)),
    row(
      "the same during the reloads (worst; ratio of max)",
      (o) => latency(worstQuiet(o)),
      (o) => worstQuiet(o).max,
    ),
    row(
      "RSS after the reloads",
      (o) => mib(o.afterReloads.rssBytes),
      (o) => o.afterReloads.rssBytes,
    ),
    row(
      "heap after GC, after the reloads",
      (o) => mib(o.afterReloads.heapBytes),
      (o) => o.afterReloads.heapBytes,
    ),
  ];
  const headers = [
    "",
    ...operators.map((o) => o.label),
    ...(compare ? [`${last.label} / ${first.label}`] : []),
  ];
  const targets = last === undefined ? [] : targetRows(last, settings);
  return [
    "## Standalone: 100,000 endpoints from a manifest file",
    "",
    `Measured ${results.date} at commit ${results.revision ?? "unknown"} on Node ${results.node}, ` +
      `${results.cpu} (${results.cores} cores). ${formatNumber(settings.services)} Services × ` +
      `${ENDPOINTS_PER_SERVICE} endpoints (${formatNumber(results.endpoints)}), one policy each ` +
      `(ring-hash and Maglev a quarter each, round robin, smooth weighted round robin, ` +
      `least-request and random an eighth each), ${NODES} Nodes, in one file of ` +
      `${formatBytes(results.fileBytes)}; \`npm run bench -- --only=standalone\`. Each build ` +
      "runs as a process of its own (`serve --source file`); a one-line change is a new file " +
      "renamed over the old one; the unrelated Service is picked one request at a time.",
    "",
    markdownTable(headers, rows, ["left", ...headers.slice(1).map(() => "right" as const)]),
    "",
    "### Targets (this checkout)",
    "",
    markdownTable(["target", "measured", "met"], targets),
  ].join("\n");
}

function targetRows(figures: OperatorFigures, settings: StandaloneSettings): string[][] {
  const served = worstServed(figures);
  const scale = settings.services === 1000 ? "" : ` (at ${settings.services} Services)`;
  return [
    [
      `ready in ≤ ${TARGETS.readySeconds} s${scale}`,
      formatMs(figures.readyMs),
      figures.readyMs <= TARGETS.readySeconds * 1000 ? "✓" : "✗",
    ],
    [
      `RSS ≤ ${TARGETS.rssMiB} MiB with every table built${scale}`,
      mib(figures.warmed.rssBytes),
      figures.warmed.rssBytes <= TARGETS.rssMiB * 1024 * 1024 ? "✓" : "✗",
    ],
    [
      `one-line change served in ≤ ${TARGETS.reloadSeconds} s${scale}`,
      served === null ? "not served" : formatMs(served),
      served !== null && served <= TARGETS.reloadSeconds * 1000 ? "✓" : "✗",
    ],
  ];
}
