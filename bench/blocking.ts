/**
 * The blocking-queries part of `npm run bench`: what waiting requests cost and how soon a
 * change reaches them. The server runs in this process (so its heap can be measured and the
 * catalog changed directly, without a file watcher's delay in between); the crowd of 5,000
 * clients runs in a process of its own (test/http/blocking-clients.ts).
 */
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { CatalogEntry } from "../src/catalog/catalog.ts";
import { type RunningService, startService } from "../src/cli/serve.ts";
import { loadSettings } from "../src/config/settings.ts";
import { ChangeWaiters } from "../src/http/change-waiters.ts";
import { createLogger } from "../src/observability/logger.ts";
import { startCrowd } from "../test/http/blocking-crowd-process.ts";
import { type Environment, formatBytes, formatMs, formatNumber, markdownTable } from "./report.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.yaml", import.meta.url));
/** The figure: a change wakes waiters within this long. */
export const TARGET_WAKE_MS = 50;

export interface BlockingSettings {
  /** Single-waiter rounds for the wake latency. */
  readonly rounds: number;
  /** Waiting requests in the crowd. */
  readonly crowd: number;
  /** Waiters for the in-process memory figure. */
  readonly waiters: number;
}

export function blockingSettings(quick: boolean): BlockingSettings {
  return quick
    ? { rounds: 10, crowd: 1000, waiters: 5000 }
    : { rounds: 100, crowd: 5000, waiters: 50_000 };
}

export interface BlockingResults extends Environment {
  readonly settings: BlockingSettings;
  readonly waiterBytes: number;
  readonly wake: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly crowd: {
    readonly requestBytes: number;
    readonly first: number;
    readonly median: number;
    readonly last: number;
  };
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

/** Heap held per waiter of the ChangeWaiters themselves, without HTTP. */
function waiterBytes(server: RunningService, count: number): number {
  const waiters = new ChangeWaiters(server.catalog);
  const before = heapUsed();
  const waits = Array.from({ length: count }, (_, i) => waiters.wait("shop/cart", 600_000 + i));
  const bytes = (heapUsed() - before) / count;
  waiters.close();
  return waits.length > 0 ? bytes : 0;
}

/** A different version of shop/cart: its endpoints' weights flipped between 1 and 2. */
function changeCart(server: RunningService): void {
  const entry = server.catalog.get("shop", "cart") as CatalogEntry;
  server.catalog.upsert({
    ...entry,
    endpoints: entry.endpoints.map((e) => ({ ...e, weight: e.weight === 1 ? 2 : 1 })),
  });
}

async function version(server: RunningService): Promise<number> {
  const response = await fetch(`${server.url}/v1/services/shop/cart/endpoints`);
  await response.arrayBuffer();
  return Number(response.headers.get("x-konsul-index"));
}

async function wakeLatencies(server: RunningService, rounds: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const index = await version(server);
    const answered = fetch(
      `${server.url}/v1/services/shop/cart/endpoints?index=${index}&wait=1m`,
    ).then(async (response) => {
      await response.arrayBuffer();
      return performance.now();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const changedAt = performance.now();
    changeCart(server);
    latencies.push((await answered) - changedAt);
  }
  return latencies.sort((a, b) => a - b);
}

async function waitingCount(server: RunningService): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^konsul_lb_blocking_waiters (\d+)/m.exec(text)?.[1]);
}

async function crowd(server: RunningService, count: number) {
  const index = await version(server);
  const before = heapUsed();
  const crowd = startCrowd(
    `${server.url}/v1/services/shop/cart/endpoints?index=${index}&wait=5m`,
    count,
  );
  const deadline = Date.now() + 120_000;
  while ((await waitingCount(server)) < count) {
    if (Date.now() > deadline || crowd.child.exitCode !== null) {
      throw new Error(
        `the ${count} blocking clients did not all start waiting:\n${crowd.output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const requestBytes = (heapUsed() - before) / count;
  const changedAt = performance.timeOrigin + performance.now();
  changeCart(server);
  if ((await crowd.exited) !== 0)
    throw new Error(`the blocking clients failed:\n${crowd.output()}`);
  const summary = crowd.summary();
  if (summary.count !== count || summary.statuses.join() !== "200") {
    throw new Error(`unexpected answers to the blocking clients: ${JSON.stringify(summary)}`);
  }
  return {
    requestBytes,
    first: summary.first - changedAt,
    median: summary.median - changedAt,
    last: summary.last - changedAt,
  };
}

export async function runBlocking(
  settings: BlockingSettings,
  environment: Environment,
): Promise<BlockingResults> {
  const started = performance.now();
  const loaded = loadSettings(
    ["--file", DEMO, "--http-addr", "127.0.0.1:0", "--log-level", "silent"],
    {},
  );
  if (loaded.kind !== "ok") throw new Error(`settings: ${JSON.stringify(loaded)}`);
  const server = await startService(loaded.settings, createLogger("silent"));
  try {
    const perWaiter = waiterBytes(server, settings.waiters);
    await wakeLatencies(server, 5); // warm-up
    const latencies = await wakeLatencies(server, settings.rounds);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
    const crowdResult = await crowd(server, settings.crowd);
    return {
      ...environment,
      settings,
      waiterBytes: perWaiter,
      wake: { p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] as number },
      crowd: crowdResult,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await server.stop();
  }
}

export function renderBlocking(results: BlockingResults): string {
  const { settings, wake, crowd: c } = results;
  return [
    "## Blocking queries",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores); ` +
      `the run took ${formatNumber(results.seconds)} s. The server serves the demo catalog in ` +
      "the benchmark's process; a change is a new version of `shop/cart` written to the catalog " +
      "directly, so no file watcher's delay is counted.",
    "",
    markdownTable(
      ["Figure", "Measured", `Target`],
      [
        [
          `Wake latency, one waiter (${formatNumber(settings.rounds)} rounds): p50 / p99 / max`,
          `${formatMs(wake.p50)} / ${formatMs(wake.p99)} / ${formatMs(wake.max)}`,
          `≤ ${TARGET_WAKE_MS} ms ${wake.p99 <= TARGET_WAKE_MS ? "✓" : "✗"}`,
        ],
        [
          `${formatNumber(settings.crowd)} waiting requests: first answer after the change`,
          formatMs(c.first),
          `≤ ${TARGET_WAKE_MS} ms ${c.first <= TARGET_WAKE_MS ? "✓" : "✗"}`,
        ],
        [
          `${formatNumber(settings.crowd)} waiting requests: median / last answer`,
          `${formatMs(c.median)} / ${formatMs(c.last)}`,
          "",
        ],
        [
          `Server heap per waiting HTTP request (${formatNumber(settings.crowd)} waiting)`,
          formatBytes(c.requestBytes),
          "",
        ],
        [
          `Heap per waiter in ChangeWaiters alone (${formatNumber(settings.waiters)} waiters)`,
          formatBytes(results.waiterBytes),
          "",
        ],
      ],
      ["left", "right", "left"],
    ),
    "",
    "Wake latency is the time from the catalog change to the waiting client having its answer, " +
      "over loopback. The crowd's clients run in a separate process and note when each answer " +
      "arrives; waiters are woken 64 at a time with a turn of the event loop in between, so the " +
      "first answers leave at once while the rest follow at the speed the server writes " +
      "responses (both processes share the machine's cores). The heap per waiting request is " +
      "the growth of the server's JS heap (after a full garbage collection) while the crowd " +
      "waits: the request, response, socket and parser objects of Node's HTTP server and " +
      "Express, of which the waiter itself is the small last line. No timer runs per request: " +
      "one timer serves the earliest deadline of all.",
  ].join("\n");
}
