// `npm run crd`: writes the LoadBalancingPolicy CRD from the spec schema, to crds/ and to the
// Helm chart's crds/ (Helm installs that copy); the two files are always the same text.
// `npm run crd -- --check`: writes nothing, and fails when either checked-in file is out of date.

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CRD_FILE, renderCrd } from "../src/policy/crd.ts";

const text = renderCrd();
const files = [CRD_FILE, `charts/konsul-lb/${CRD_FILE}`];

if (process.argv.includes("--check")) {
  for (const file of files) {
    const current = await readFile(
      fileURLToPath(new URL(`../${file}`, import.meta.url)),
      "utf8",
    ).catch(() => null);
    if (current !== text) {
      console.error(`${file} is out of date; run npm run crd`);
      process.exitCode = 1;
    } else {
      console.log(`${file} is up to date`);
    }
  }
} else {
  for (const file of files) {
    await writeFile(fileURLToPath(new URL(`../${file}`, import.meta.url)), text);
    console.log(`wrote ${file}`);
  }
}
