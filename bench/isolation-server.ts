/**
 * The server of the isolation benchmark (isolation.ts), in a process of its own: `konsul-lb
 * serve`'s composition root (`startService`) from the source tree given as the first argument,
 * so an earlier build can be measured in the same run. It serves the manifest file named by the
 * second argument and, on "churn on" from its stdin, changes the big service ten times a second
 * by writing a new version straight into the catalog: one endpoint's readiness flipped, as a
 * pod's would be. The file source is left out of the churn on purpose: re-reading a 5,000-endpoint
 * manifest costs more than the table builds this benchmark is about (see docs/performance.md).
 *
 *   node bench/isolation-server.ts <source root> <manifest> <changes per second>
 */
import { createInterface } from "node:readline";
import type { CatalogEntry } from "../src/catalog/catalog.ts";
import type { RunningService } from "../src/cli/serve.ts";
import { startBuildService } from "./build-service.ts";

const [root, manifest, rate] = process.argv.slice(2);
if (root === undefined || manifest === undefined || rate === undefined) {
  console.error("usage: isolation-server.ts <source root> <manifest> <changes per second>");
  process.exit(2);
}
const changesPerSecond = Number(rate);
if (!(changesPerSecond > 0 && changesPerSecond <= 1000)) {
  console.error(`changes per second: ${rate} is not allowed; expected a number from 1 to 1000`);
  process.exit(2);
}

const service: RunningService = await startBuildService(root, manifest);

/** A new version of bench/big with the next endpoint's readiness flipped. */
let flips = 0;
function churn(): void {
  const entry = service.catalog.get("bench", "big") as CatalogEntry;
  const at = flips++ % entry.endpoints.length;
  service.catalog.upsert({
    ...entry,
    endpoints: entry.endpoints.map((e, i) => (i === at ? { ...e, ready: !e.ready } : e)),
  });
}

let timer: NodeJS.Timeout | null = null;
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "churn on" && timer === null) {
    timer = setInterval(churn, 1000 / changesPerSecond);
  } else if (line === "churn off" && timer !== null) {
    clearInterval(timer);
    timer = null;
    console.log(`churned ${flips}`);
  } else if (line === "stop") {
    if (timer !== null) clearInterval(timer);
    void service.stop().then(() => process.exit(0));
  }
});
console.log(`ready ${service.url} dns ${service.dns?.port ?? 0}`);
