/**
 * The xDS part of `npm run bench`: how soon a catalog change reaches connected xDS clients, and
 * what a connected client costs the server. The server runs in this process (its heap measured,
 * its catalog changed directly, so no file watcher's delay is counted); the clients run in a
 * process of their own (test/xds/ads-crowd-process.ts), each on its own connection, subscribed
 * to one Service's four resources as gRPC subscribes.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { CatalogEntry } from "../src/catalog/catalog.ts";
import { type RunningService, startService } from "../src/cli/serve.ts";
import { loadSettings } from "../src/config/settings.ts";
import { createLogger } from "../src/observability/logger.ts";
import { waitForLine } from "./child-process.ts";
import { type Environment, formatBytes, formatMs, formatNumber, markdownTable } from "./report.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.yaml", import.meta.url));
const CROWD = fileURLToPath(new URL("../test/xds/ads-crowd-process.ts", import.meta.url));
const SERVICE = "cart.shop";

export interface XdsSettings {
  /** Pushes measured with one connected client. */
  readonly rounds: number;
  /** Connected clients for the memory figure and the crowd's latency. */
  readonly clients: number;
  /** Pushes measured with the crowd connected. */
  readonly crowdRounds: number;
  /** Time between two changes: every push must have arrived before the next change. */
  readonly spacingMs: number;
}

export function xdsSettings(quick: boolean): XdsSettings {
  return quick
    ? { rounds: 30, clients: 200, crowdRounds: 10, spacingMs: 250 }
    : { rounds: 200, clients: 1000, crowdRounds: 30, spacingMs: 500 };
}

interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface XdsResults extends Environment {
  readonly settings: XdsSettings;
  readonly one: Percentiles;
  readonly crowdFirst: Percentiles;
  readonly crowdLast: Percentiles;
  readonly bytesPerClient: number;
  readonly seconds: number;
}

const gc = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

/**
 * A new version of shop/cart that changes its endpoints as xDS shows them: the first endpoint
 * turns unready, then ready again (cart is round robin, whose resources carry no weights).
 */
function changeCart(server: RunningService): void {
  const entry = server.catalog.get("shop", "cart") as CatalogEntry;
  server.catalog.upsert({
    ...entry,
    endpoints: entry.endpoints.map((e, i) => (i === 0 ? { ...e, ready: !e.ready } : e)),
  });
}

interface CrowdRun {
  /** Per push: the wall-clock time of the change, and when each client had the push. */
  readonly changes: number[];
  readonly arrivals: number[][];
  readonly bytesPerClient: number;
}

async function runCrowd(
  server: RunningService,
  clients: number,
  rounds: number,
  spacingMs: number,
): Promise<CrowdRun> {
  const port = server.xds?.port ?? 0;
  const before = heapUsed();
  const child = spawn(process.execPath, [
    CROWD,
    String(port),
    String(clients),
    String(rounds),
    SERVICE,
  ]);
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    await waitForLine(child, /^ready \d+$/m);
  } catch (error) {
    throw new Error(`the xDS crowd did not connect: ${(error as Error).message}\n${output}`);
  }
  const bytesPerClient = (heapUsed() - before) / clients;
  const changes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await new Promise((resolve) => setTimeout(resolve, spacingMs));
    changes.push(performance.timeOrigin + performance.now());
    changeCart(server);
  }
  if ((await exited) !== 0) throw new Error(`the xDS crowd failed:\n${output}`);
  const line = output.split("\n").find((l) => l.startsWith('{"arrivals"'));
  if (line === undefined) throw new Error(`the xDS crowd printed no arrivals:\n${output}`);
  return {
    changes,
    arrivals: (JSON.parse(line) as { arrivals: number[][] }).arrivals,
    bytesPerClient,
  };
}

export async function runXds(settings: XdsSettings, environment: Environment): Promise<XdsResults> {
  const started = performance.now();
  const loaded = loadSettings(
    [
      "--file",
      DEMO,
      "--http-addr",
      "127.0.0.1:0",
      "--xds-addr",
      "127.0.0.1:0",
      "--log-level",
      "silent",
    ],
    {},
  );
  if (loaded.kind !== "ok") throw new Error(`settings: ${JSON.stringify(loaded)}`);
  const server = await startService(loaded.settings, createLogger("silent"));
  try {
    const single = await runCrowd(server, 1, settings.rounds, 50);
    const one = single.arrivals.map((round, i) => (round[0] ?? 0) - (single.changes[i] ?? 0));
    const crowd = await runCrowd(
      server,
      settings.clients,
      settings.crowdRounds,
      settings.spacingMs,
    );
    const first = crowd.arrivals.map((round, i) => Math.min(...round) - (crowd.changes[i] ?? 0));
    const last = crowd.arrivals.map((round, i) => Math.max(...round) - (crowd.changes[i] ?? 0));
    return {
      ...environment,
      settings,
      one: percentiles(one),
      crowdFirst: percentiles(first),
      crowdLast: percentiles(last),
      bytesPerClient: crowd.bytesPerClient,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await server.stop();
  }
}

export function renderXds(results: XdsResults): string {
  const { settings, one, crowdFirst, crowdLast } = results;
  const triple = (p: Percentiles) => `${formatMs(p.p50)} / ${formatMs(p.p99)} / ${formatMs(p.max)}`;
  return [
    "## xDS",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores); ` +
      `the run took ${formatNumber(results.seconds)} s. The server serves the demo catalog in ` +
      "the benchmark's process with `--xds-addr`; a change is a new version of `shop/cart` " +
      "(one endpoint turning unready or ready) written to the catalog directly. The clients run in a process of their own, each on its " +
      "own connection, subscribed to `cart.shop`'s Listener, route, Cluster and endpoints.",
    "",
    markdownTable(
      ["Figure", "Measured"],
      [
        [
          `Push latency, one client (${formatNumber(settings.rounds)} changes): p50 / p99 / max`,
          triple(one),
        ],
        [
          `${formatNumber(settings.clients)} clients (${formatNumber(settings.crowdRounds)} changes), first client: p50 / p99 / max`,
          triple(crowdFirst),
        ],
        [
          `${formatNumber(settings.clients)} clients, last client: p50 / p99 / max`,
          triple(crowdLast),
        ],
        [
          `Server heap per connected client (${formatNumber(settings.clients)} connected)`,
          formatBytes(results.bytesPerClient),
        ],
      ],
      ["left", "right"],
    ),
    "",
    "Push latency is the time from the catalog change to the client having the decoded " +
      "ClusterLoadAssignment, over loopback (both processes share the machine's cores). The " +
      "resources are encoded once per Service version and shared by every stream, so a push to " +
      "many clients costs one encoding and one write per stream. The heap per client is the " +
      "growth of the server's JS heap (after a full garbage collection) with the clients " +
      "connected: grpc-js's HTTP/2 session and stream objects and the stream's subscriptions.",
  ].join("\n");
}
