/**
 * Every command example of docs/ runs, and prints what the docs show.
 *
 * How outputs are kept true: each `sh` block is run — against the demo as `npm start` serves it,
 * one fresh server per document, in document order, so rotations, counters and versions come out
 * the same on every run — and its standard output is compared with the `json` or `text` block
 * shown right after it. JSON is compared as data (Biome lays out the JSON blocks), text line by
 * line. Nothing is ignored except fields a `<!-- docs: varies NAME, ... -->` directive names (a
 * connection's `id` and `expiresAt`): those are replaced on both sides before comparing. When an
 * output changes for a good reason, `npm run docs:examples` rewrites the stale blocks. The
 * conventions are in test/docs/examples.ts; the cluster-only blocks run in
 * test/cluster/docs.test.ts.
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import {
  compareOutput,
  DemoRunner,
  DOCS,
  EXAMPLE_TIMEOUT_MS,
  examplesOf,
  exampleTitle,
  loadExamples,
  normalise,
  npmScripts,
} from "./examples.ts";

for (const doc of DOCS) {
  const examples = loadExamples(doc);
  // A document without command examples (the architecture) has nothing to run.
  if (examples.length === 0) continue;
  describe(doc, () => {
    const demo = examples.filter((example) => example.kind === "demo");
    let runner: DemoRunner | undefined;

    beforeAll(async () => {
      if (demo.length > 0) runner = await DemoRunner.start();
    }, 30_000);

    afterAll(async () => {
      await runner?.stop();
    });

    for (const example of demo) {
      // The process's own limit ends it first, with its output.
      it(exampleTitle(example), { timeout: EXAMPLE_TIMEOUT_MS + 10_000 }, async () => {
        const result = await (runner as DemoRunner).run(example);
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
        if (example.output === null) return;
        const { shown, actual } = compareOutput(example.output, result.stdout, example.varies);
        expect(actual, "the output shown is stale: npm run docs:examples rewrites it").toEqual(
          shown,
        );
      });
    }

    const npm = examples.filter((example) => example.kind === "npm");
    if (npm.length > 0) {
      it("every npm script it shows is one package.json defines", async () => {
        const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8"));
        // npm's own commands; `npm start` and `npm test` run scripts and are checked.
        const builtIn = ["ci", "install"];
        for (const example of npm) {
          for (const script of npmScripts(example.command)) {
            if (builtIn.includes(script)) continue;
            expect(Object.keys(pkg.scripts), exampleTitle(example)).toContain(script);
          }
        }
      });
    }
  });
}

describe("the conventions of the examples", () => {
  const markdown = [
    "<!-- docs: varies id -->",
    "",
    "```sh",
    "curl -s localhost:8080/x",
    "```",
    "",
    "```json",
    '{ "id": "a", "n": 1 }',
    "```",
    "",
    "<!-- docs: file config.yaml -->",
    "",
    "```yaml",
    "a: 1",
    "```",
    "",
    "<!-- docs: cluster-only -->",
    "<!-- docs: varies AGE -->",
    "",
    "```sh",
    "kubectl get lbp",
    "```",
    "",
    "```text",
    "NAME   AGE   READY",
    "web    5s    True",
    "```",
    "",
    "```sh",
    "npm run docs:figures",
    "```",
    "",
  ].join("\n");

  it("reads kinds, outputs, directives and files", () => {
    const [curl, kubectl, npm] = examplesOf("t.md", markdown);
    expect(curl?.kind).toBe("demo");
    expect(curl?.output?.lang).toBe("json");
    expect(curl?.varies).toEqual(["id"]);
    expect(kubectl?.kind).toBe("cluster");
    expect(kubectl?.files).toEqual([{ name: "config.yaml", content: "a: 1\n" }]);
    expect(kubectl?.varies).toEqual(["AGE"]);
    expect(npm?.kind).toBe("npm");
    expect(npm?.output).toBeNull();
  });

  it("ignores only the named fields", () => {
    const [curl, kubectl] = examplesOf("t.md", markdown);
    if (!curl?.output || !kubectl?.output) throw new Error("outputs expected");
    expect(compareOutput(curl.output, '{"id":"b","n":1}', curl.varies).equal).toBe(true);
    expect(compareOutput(curl.output, '{"id":"b","n":2}', curl.varies).equal).toBe(false);
    expect(compareOutput(curl.output, "not json", curl.varies).equal).toBe(false);
    const later = "NAME   AGE   READY\nweb    93m   True\n";
    expect(compareOutput(kubectl.output, later, kubectl.varies).equal).toBe(true);
    const notReady = "NAME   AGE   READY\nweb    5s    False\n";
    expect(compareOutput(kubectl.output, notReady, kubectl.varies).equal).toBe(false);
    expect(normalise("text", '{"id":"x","expiresAt":"y"}', ["expiresAt"])).toEqual([
      '{"id":"x","expiresAt":"<varies>"}',
    ]);
  });

  it("refuses unknown directives and dangling files", () => {
    expect(() => examplesOf("t.md", "<!-- docs: clusteronly -->\n```sh\nls\n```\n")).toThrow(
      /unknown directive/,
    );
    expect(() => examplesOf("t.md", "<!-- docs: file a.yaml -->\n```yaml\na: 1\n```\n")).toThrow(
      /not followed by a command/,
    );
  });
});
