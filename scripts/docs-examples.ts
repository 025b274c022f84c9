// `npm run docs:examples`: runs the command examples of docs/ against the demo, as
// test/docs/examples.test.ts does, and rewrites every output block that no longer shows what the
// commands print (an output equal but for its varying fields is left alone, so reruns do not
// churn). `-- --cluster` also runs the cluster-only examples, set up as the docs say, on the
// cluster of $KUBECONFIG (the one `npm run cluster:up` prints), with helm on PATH (it is built
// into ~/.cache/konsul-lb/control-plane/<version>/). `-- --force` rewrites every output block,
// stale or not. Then `npx biome format --write docs/` lays out the JSON blocks. The conventions
// are in test/docs/examples.ts.

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ClusterSession,
  compareOutput,
  DemoRunner,
  DOCS,
  type Example,
  examplesOf,
  exampleTitle,
  formatOutput,
  replaceOutputs,
} from "../test/docs/examples.ts";
import { repoRoot } from "../test/support/cli.ts";
import type { FencedBlock } from "../test/support/markdown.ts";

const withCluster = process.argv.includes("--cluster");
// Rewrites every output block, equal or not: after a change of how outputs are written.
const force = process.argv.includes("--force");

async function freshOutputs(examples: readonly Example[]): Promise<Map<Example, string>> {
  const outputs = new Map<Example, string>();
  const runner = await DemoRunner.start();
  try {
    for (const example of examples.filter((e) => e.kind === "demo")) {
      const result = await runner.run(example);
      if (result.code !== 0) {
        throw new Error(`${exampleTitle(example)} exited ${result.code}:\n${result.stderr}`);
      }
      outputs.set(example, result.stdout);
    }
  } finally {
    await runner.stop();
  }
  const cluster = examples.filter((e) => e.kind === "cluster");
  if (withCluster && cluster.length > 0) {
    const kubeconfig = process.env.KUBECONFIG;
    if (!kubeconfig) throw new Error("--cluster needs KUBECONFIG (npm run cluster:up prints it)");
    const session = await ClusterSession.start({ KUBECONFIG: kubeconfig });
    try {
      for (const [example, result] of await session.runAll(cluster)) {
        outputs.set(example, result.stdout);
      }
    } finally {
      await session.stop();
    }
  }
  return outputs;
}

for (const doc of DOCS) {
  const path = join(repoRoot, doc);
  const markdown = await readFile(path, "utf8");
  const examples = examplesOf(doc, markdown);
  const outputs = await freshOutputs(examples);
  const replacements: { block: FencedBlock; body: string }[] = [];
  for (const [example, actual] of outputs) {
    if (example.output === null) continue;
    const { equal } = compareOutput(example.output, actual, example.varies);
    if (equal && !force) continue;
    replacements.push({
      block: example.output.block,
      body: formatOutput(example.output.lang, actual),
    });
    console.log(`${exampleTitle(example)}: output rewritten`);
  }
  if (replacements.length > 0) await writeFile(path, replaceOutputs(markdown, replacements));
  console.log(`${doc}: ${outputs.size} examples run, ${replacements.length} outputs rewritten`);
}
