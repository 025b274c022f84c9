/**
 * The server of the flip benchmark (flip.ts), in a process of its own: `konsul-lb serve`'s
 * composition root (`startService`) from the source tree given as the first argument, so an
 * earlier build can be measured in the same run, with every listener it attaches to the catalog.
 * It serves the manifest file named by the second argument. On "measure N MS" from its stdin it
 * makes a few unmeasured flips (to warm the code up), sits idle for as long as the measured flips
 * will take, then writes N versions of bench/big into
 * the catalog, one every MS milliseconds, each with one endpoint's readiness flipped as a pod's
 * would be, and prints the process's CPU time over both stretches:
 *
 *   measured <flips> <idle µs> <flips µs> <catalog writes µs>
 *
 * "catalog writes" is the CPU of the writes alone (the catalog and its listeners, synchronous);
 * the flips' stretch also holds what follows them: blocking answers, table builds, collection.
 *
 *   node bench/flip-server.ts <source root> <manifest>
 */
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { CatalogEntry } from "../src/catalog/catalog.ts";
import type { RunningService } from "../src/cli/serve.ts";
import { startBuildService } from "./build-service.ts";

const [root, manifest] = process.argv.slice(2);
if (root === undefined || manifest === undefined) {
  console.error("usage: flip-server.ts <source root> <manifest>");
  process.exit(2);
}

/** After the last flip, this long for the answers it woke to be written. */
const SETTLE_MS = 500;
/** Flips before the measured ones, and how far apart. */
const WARMUP_FLIPS = 40;
const WARMUP_INTERVAL_MS = 25;
/** Flips go round the endpoints by this stride (a prime), so each flip moves another one. */
const STRIDE = 7919;

const service: RunningService = await startBuildService(root, manifest);

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

let flips = 0;
/** Writes the next version of bench/big; returns the CPU the write took, in µs. */
function flip(): number {
  const entry = service.catalog.get("bench", "big") as CatalogEntry;
  const at = (flips++ * STRIDE) % entry.endpoints.length;
  const endpoints = entry.endpoints.map((e, i) => (i === at ? { ...e, ready: !e.ready } : e));
  const started = cpuMicros();
  service.catalog.upsert({ ...entry, endpoints });
  return cpuMicros() - started;
}

async function measure(count: number, intervalMs: number): Promise<void> {
  // Unmeasured flips first: the code they run is compiled and optimised before it is timed.
  for (let i = 0; i < WARMUP_FLIPS; i++) {
    flip();
    await sleep(WARMUP_INTERVAL_MS);
  }
  await sleep(SETTLE_MS);
  console.log("warmed");
  const stretchMs = count * intervalMs + SETTLE_MS;
  const idleFrom = cpuMicros();
  await sleep(stretchMs);
  const idle = cpuMicros() - idleFrom;
  const flipsFrom = cpuMicros();
  const started = performance.now();
  let writes = 0;
  for (let i = 0; i < count; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    writes += flip();
  }
  await sleep(Math.max(0, started + stretchMs - performance.now()));
  console.log(`measured ${count} ${idle} ${cpuMicros() - flipsFrom} ${writes}`);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const asked = /^measure (\d+) (\d+)$/.exec(line);
  if (asked) {
    void measure(Number(asked[1]), Number(asked[2]));
  } else if (line === "stop") {
    void service.stop().then(() => process.exit(0));
  }
});
console.log(`ready ${service.url}`);
