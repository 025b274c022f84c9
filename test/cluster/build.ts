// `npm run cluster:build [-- name...]`: builds (or finds cached) control-plane binaries.
// With no names it builds what the cluster tests need; see BINARIES for the full table.

import { stat } from "node:fs/promises";
import { BINARIES, ETCD_VERSION, ensureBinaries, KUBERNETES_VERSION } from "./harness/binaries.ts";

const requested = process.argv.slice(2);
const names =
  requested.length > 0 ? requested : BINARIES.filter((b) => b.needed).map((b) => b.name);

const started = Date.now();
console.log(`Kubernetes ${KUBERNETES_VERSION}, etcd ${ETCD_VERSION}: ${names.join(", ")}`);
try {
  const paths = await ensureBinaries(names, { log: (line) => console.log(`  ${line}`) });
  for (const [name, path] of Object.entries(paths)) {
    const { size } = await stat(path);
    console.log(`${name.padEnd(24)} ${(size / 2 ** 20).toFixed(1).padStart(6)} MiB  ${path}`);
  }
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
