// `npm run crd`: writes the LoadBalancingPolicy CRD from the spec schema.
// `npm run crd -- --check`: writes nothing, and fails when the checked-in file is out of date.

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CRD_FILE, renderCrd } from "../src/policy/crd.ts";

const path = fileURLToPath(new URL(`../${CRD_FILE}`, import.meta.url));
const text = renderCrd();

if (process.argv.includes("--check")) {
  const current = await readFile(path, "utf8").catch(() => null);
  if (current !== text) {
    console.error(`${CRD_FILE} is out of date; run npm run crd`);
    process.exitCode = 1;
  } else {
    console.log(`${CRD_FILE} is up to date`);
  }
} else {
  await writeFile(path, text);
  console.log(`wrote ${CRD_FILE}`);
}
