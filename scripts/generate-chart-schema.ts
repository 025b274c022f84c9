// `npm run chart-schema`: writes the Helm chart's values.schema.json from two sources:
//   - charts/konsul-lb/values.schema.base.json, kept by hand: every value only the chart has
//     (image, replicaCount, resources, serviceMonitor, networkPolicy, dns.enabled, ...). A new
//     chart-only value goes there, then run this script;
//   - the table of settings (src/config/setting-table.ts): each setting with a Helm value path
//     (operator.*, leaderElection.*, state.interval, dns.ttl, ...) adds its schema at that path.
// A path in both fails the run. Every object in the base must say what else it allows
// (additionalProperties), so that the schema stays closed at every level.
// `npm run chart-schema -- --check`: writes nothing, and fails when the file is out of date.

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  CHART_SCHEMA_BASE_FILE,
  CHART_SCHEMA_FILE,
  renderChartSchema,
} from "../src/config/chart-schema.ts";

const path = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url));
const text = renderChartSchema(await readFile(path(CHART_SCHEMA_BASE_FILE), "utf8"));

if (process.argv.includes("--check")) {
  const current = await readFile(path(CHART_SCHEMA_FILE), "utf8").catch(() => null);
  if (current !== text) {
    console.error(`${CHART_SCHEMA_FILE} is out of date; run npm run chart-schema`);
    process.exitCode = 1;
  } else {
    console.log(`${CHART_SCHEMA_FILE} is up to date`);
  }
} else {
  await writeFile(path(CHART_SCHEMA_FILE), text);
  console.log(`wrote ${CHART_SCHEMA_FILE}`);
}
