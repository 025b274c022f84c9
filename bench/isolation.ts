/**
 * The isolation part of `npm run bench -- --only=isolation`: whether answers for one service
 * keep their pace while another, big one churns. The server (isolation-server.ts, `konsul-lb
 * serve`'s composition root in a process of its own) serves an unrelated 3-endpoint
 * round-robin service and a 5,000-endpoint ring-hash (then Maglev) service whose endpoints flip
 * readiness ten times a second; this process measures the small service's `/pick` (fixed
 * connections for a fixed time) and its DNS A answers (a fixed number of UDP queries
 * outstanding for a fixed time), quiet and under churn, and reports the ratios.
 *
 * Builds to compare in the same run: `--build=LABEL=PATH`, PATH the root of a source tree
 * (holding src/cli/serve.ts) with its node_modules reachable, e.g. a `git worktree add` of an
 * earlier commit; this checkout always runs last.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import dnsPacket from "dns-packet";
import { stringify } from "yaml";
import { waitForLine } from "./child-process.ts";
import { type Environment, formatMs, formatNumber, mark, markdownTable } from "./report.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER = fileURLToPath(new URL("./isolation-server.ts", import.meta.url));
const BIG_ENDPOINTS = 5000;
const CHANGES_PER_SECOND = 10;
const HTTP_CONNECTIONS = 10;
/** UDP queries kept outstanding. */
const DNS_OUTSTANDING = 10;
/** A query or request unanswered this long counts as failed (a lost query is sent again). */
const REQUEST_TIMEOUT_MS = 1000;
const STRATEGIES = ["ring-hash", "maglev"] as const;
const DNS_DOMAIN = "lb.konsul.local";

/** The issue's targets, under churn against quiet. */
export const TARGETS = { throughputRatio: 0.8, p99Ratio: 2, maxMs: 50 } as const;

export interface Build {
  readonly label: string;
  /** The root of its source tree. */
  readonly root: string;
}

export interface IsolationSettings {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly builds: readonly Build[];
}

/** The builds named by `--build=LABEL=PATH` arguments, then this checkout, last. */
export function buildsFrom(args: readonly string[]): Build[] {
  const builds = args
    .filter((arg) => arg.startsWith("--build="))
    .map((arg) => {
      const value = arg.slice("--build=".length);
      const split = value.indexOf("=");
      if (split <= 0 || split === value.length - 1) {
        throw new Error(
          `--build ${JSON.stringify(value)} is not allowed; expected LABEL=PATH, PATH the root of a source tree`,
        );
      }
      return { label: value.slice(0, split), root: resolve(value.slice(split + 1)) };
    });
  return [...builds, { label: "this checkout", root: ROOT }];
}

export function isolationSettings(quick: boolean, args: readonly string[]): IsolationSettings {
  return {
    seconds: quick ? 2 : 6,
    warmupSeconds: quick ? 1 : 2,
    builds: buildsFrom(args),
  };
}

export interface Load {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** HTTP errors and non-2xx answers, or DNS queries lost. */
  readonly failed: number;
}

export interface Case {
  readonly build: string;
  readonly strategy: (typeof STRATEGIES)[number];
  readonly http: { readonly quiet: Load; readonly churn: Load };
  readonly dns: { readonly quiet: Load; readonly churn: Load };
  /** Changes made to the big service during the two churn phases. */
  readonly changes: number;
}

export interface IsolationResults extends Environment {
  readonly settings: IsolationSettings;
  readonly cases: readonly Case[];
  readonly seconds: number;
}

function manifest(strategy: string): string {
  const service = (name: string) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: "bench", name },
    spec: { ports: [{ name: "http", port: 80 }] },
  });
  const slice = (name: string, count: number, octet: number) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace: "bench",
      name: `${name}-1`,
      labels: { "kubernetes.io/service-name": name },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: Array.from({ length: count }, (_, i) => ({
      addresses: [`10.${octet}.${i >> 8}.${i & 255}`],
      conditions: { ready: true },
    })),
  });
  const objects: object[] = [
    service("small"),
    slice("small", 3, 1),
    service("big"),
    slice("big", BIG_ENDPOINTS, 2),
    {
      apiVersion: "lb.konsul.io/v1alpha1",
      kind: "LoadBalancingPolicy",
      metadata: { namespace: "bench", name: "big" },
      spec: {
        targetRef: { kind: "Service", name: "big" },
        strategy,
        ...(strategy === "ring-hash"
          ? { ringHash: { hashOn: "session-key" } }
          : { maglev: { hashOn: "session-key" } }),
      },
    },
  ];
  return objects.map((object) => stringify(object)).join("---\n");
}

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly dnsPort: number;
}

async function startServer(build: Build, file: string): Promise<Server> {
  const child = spawn(process.execPath, [SERVER, build.root, file, String(CHANGES_PER_SECOND)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const match = await waitForLine(child, /ready (http:\/\/\S+) dns (\d+)/);
  return { child, url: match[1] as string, dnsPort: Number(match[2]) };
}

/** Asks a benchmark's server process to stop, and kills it if it has not within 10 s. */
export async function stopServer(server: { readonly child: ChildProcess }): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((done) => server.child.once("exit", done));
  server.child.stdin?.write("stop\n");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * HTTP_CONNECTIONS keep-alive connections, each sending its next GET as soon as the last is
 * answered, for `seconds`; every request timed (autocannon's histogram has whole milliseconds,
 * too coarse for a quiet p99).
 */
async function httpLoad(url: string, seconds: number): Promise<Load> {
  const agent = new Agent({ keepAlive: true, maxSockets: HTTP_CONNECTIONS });
  const latencies: number[] = [];
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const one = () =>
    new Promise<void>((done) => {
      const at = performance.now();
      const request = get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (response) => {
        response.resume();
        response.once("end", () => {
          if (response.statusCode === 200) latencies.push(performance.now() - at);
          else failed++;
          done();
        });
      });
      request.once("timeout", () => request.destroy(new Error("timed out")));
      request.once("error", () => {
        failed++;
        done();
      });
    });
  const connection = async () => {
    while (performance.now() < deadline) await one();
  };
  await Promise.all(Array.from({ length: HTTP_CONNECTIONS }, connection));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return summary(latencies, elapsed, failed);
}

function summary(latencies: number[], seconds: number, failed: number): Load {
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    failed,
  };
}

/** Sorted latencies' p-th percentile (nearest rank). */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** DNS_OUTSTANDING A queries for `name` kept in flight for `seconds`, each timed. */
function dnsLoad(port: number, name: string, seconds: number): Promise<Load> {
  const socket = createSocket("udp4");
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let nextId = 1;
  let lost = 0;
  let running = true;
  const send = () => {
    const id = nextId;
    nextId = (nextId % 65_535) + 1;
    sentAt.set(id, performance.now());
    socket.send(
      dnsPacket.encode({ type: "query", id, questions: [{ name, type: "A" }] }),
      port,
      "127.0.0.1",
    );
  };
  socket.on("message", (message) => {
    const id = message.readUInt16BE(0);
    const at = sentAt.get(id);
    if (at === undefined) return;
    sentAt.delete(id);
    latencies.push(performance.now() - at);
    if (running) send();
  });
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [id, at] of sentAt) {
      if (now - at < REQUEST_TIMEOUT_MS) continue;
      sentAt.delete(id);
      lost++;
      if (running) send();
    }
  }, 100);
  return new Promise((done) => {
    socket.bind(0, "127.0.0.1", () => {
      const started = performance.now();
      for (let i = 0; i < DNS_OUTSTANDING; i++) send();
      setTimeout(() => {
        running = false;
        const elapsed = (performance.now() - started) / 1000;
        // Answers still in flight are neither counted nor lost.
        setTimeout(() => {
          clearInterval(sweep);
          socket.close();
          done(summary(latencies, elapsed, lost));
        }, 200);
      }, seconds * 1000);
    });
  });
}

/** `measure` while the server churns the big service. */
async function churning<T>(server: Server, measure: () => Promise<T>): Promise<T> {
  server.child.stdin?.write("churn on\n");
  try {
    return await measure();
  } finally {
    server.child.stdin?.write("churn off\n");
  }
}

async function runCase(
  build: Build,
  strategy: (typeof STRATEGIES)[number],
  file: string,
  settings: IsolationSettings,
): Promise<Case> {
  const server = await startServer(build, file);
  try {
    const pick = `${server.url}/v1/services/bench/small/pick`;
    // The big service's table in use, so that every change rebuilds it.
    const big = await fetch(`${server.url}/v1/services/bench/big/pick?session-key=warm`);
    if (!big.ok) throw new Error(`the big service's /pick answered ${big.status}`);
    await big.arrayBuffer();
    const dnsName = `small.bench.${DNS_DOMAIN}`;
    const churned = new Promise<number>((done) => {
      let total = 0;
      let phases = 0;
      server.child.stdout?.on("data", (chunk: Buffer) => {
        for (const match of String(chunk).matchAll(/churned (\d+)/g)) {
          total = Number(match[1]);
          if (++phases === 2) done(total);
        }
      });
    });
    console.log(`${build.label}, ${strategy}: /pick quiet, then under churn`);
    await httpLoad(pick, settings.warmupSeconds);
    const httpQuiet = await httpLoad(pick, settings.seconds);
    const httpChurn = await churning(server, () => httpLoad(pick, settings.seconds));
    console.log(`${build.label}, ${strategy}: DNS quiet, then under churn`);
    await dnsLoad(server.dnsPort, dnsName, settings.warmupSeconds);
    const dnsQuiet = await dnsLoad(server.dnsPort, dnsName, settings.seconds);
    const dnsChurn = await churning(server, () =>
      dnsLoad(server.dnsPort, dnsName, settings.seconds),
    );
    const changes = await churned;
    return {
      build: build.label,
      strategy,
      http: { quiet: httpQuiet, churn: httpChurn },
      dns: { quiet: dnsQuiet, churn: dnsChurn },
      changes,
    };
  } finally {
    await stopServer(server);
  }
}

export async function runIsolation(
  settings: IsolationSettings,
  environment: Environment,
): Promise<IsolationResults> {
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), "konsul-lb-isolation-"));
  const cases: Case[] = [];
  try {
    for (const strategy of STRATEGIES) {
      const file = join(folder, `${strategy}.yaml`);
      await writeFile(file, manifest(strategy));
      // Builds alternate within each strategy, so a change in the machine's load falls on both.
      for (const build of settings.builds) {
        cases.push(await runCase(build, strategy, file, settings));
      }
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return {
    ...environment,
    settings,
    cases,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}

function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}

function rows(cases: readonly Case[], interfaceName: "http" | "dns"): string[][] {
  return cases.map((c) => {
    const { quiet, churn } = c[interfaceName];
    const throughput = churn.perSecond / quiet.perSecond;
    const p99 = churn.p99 / quiet.p99;
    return [
      c.strategy,
      c.build,
      `${formatNumber(quiet.perSecond)} → ${formatNumber(churn.perSecond)}`,
      `${ratio(throughput)} ${mark(throughput >= TARGETS.throughputRatio)}`,
      `${formatMs(quiet.p50)} → ${formatMs(churn.p50)}`,
      `${formatMs(quiet.p99)} → ${formatMs(churn.p99)}`,
      `${ratio(p99)} ${mark(p99 <= TARGETS.p99Ratio)}`,
      `${formatMs(quiet.max)} → ${formatMs(churn.max)} ${mark(churn.max <= TARGETS.maxMs)}`,
      String(quiet.failed + churn.failed),
    ];
  });
}

const HEADERS = [
  "Big service",
  "Build",
  "Per second, quiet → churn",
  "Ratio ≥ 0.8",
  "p50",
  "p99",
  "p99 ratio ≤ 2",
  "max (≤ 50 ms)",
  "Failed",
];
const ALIGN = [
  "left",
  "left",
  "right",
  "left",
  "right",
  "right",
  "left",
  "right",
  "right",
] as const;

export function renderIsolation(results: IsolationResults): string {
  const changes = results.cases.map((c) => c.changes);
  return [
    "## Isolation",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores)${results.revision ? `, commit ${results.revision}` : ""}; the run took ${results.seconds} s.`,
    `Each build serves an unrelated 3-endpoint round-robin service and a ${formatNumber(BIG_ENDPOINTS)}-endpoint service (ring-hash, then Maglev, hashing the session key) whose endpoints flip readiness ${CHANGES_PER_SECOND} times a second, written straight into the catalog (${Math.min(...changes)}–${Math.max(...changes)} changes per case).`,
    `The small service's \`/pick\`: ${HTTP_CONNECTIONS} keep-alive connections, each sending its next request when the last is answered, ${results.settings.seconds} s quiet then ${results.settings.seconds} s under churn. Its DNS A answers: ${DNS_OUTSTANDING} UDP queries outstanding for as long (lost after ${REQUEST_TIMEOUT_MS} ms). The load generator shares the machine's cores with the server.`,
    "",
    "### /pick",
    "",
    markdownTable(HEADERS, rows(results.cases, "http"), [...ALIGN]),
    "",
    "### DNS",
    "",
    markdownTable(HEADERS, rows(results.cases, "dns"), [...ALIGN]),
  ].join("\n");
}
