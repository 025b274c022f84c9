/**
 * The client's examples in README.md and docs/load-balancing.md (the `ts` blocks of their "Node
 * client" sections) run against the demo as `npm start` serves it, importing `konsul-lb/client`
 * the way an application does (through node_modules and the package's "exports"), and print
 * the `text` block shown after them. They also pass the type checker.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, type ServingCli, serveCli } from "../support/cli.ts";
import { fencedBlocks, readRepoFile } from "../support/markdown.ts";
import { runProcess } from "../support/process.ts";

/**
 * The condition under which "konsul-lb/client" is the TypeScript source rather than the build
 * in dist/ (package.json "exports"), so the examples run without `npm run build`.
 */
const SOURCE_CONDITION = "konsul-lb-source";

interface ClientExample {
  readonly code: string;
  readonly output: string;
  readonly line: number;
}

async function examplesOf(doc: string): Promise<ClientExample[]> {
  const blocks = fencedBlocks(await readRepoFile(doc));
  const examples: ClientExample[] = [];
  blocks.forEach((block, i) => {
    if (block.heading !== "Node client" || block.lang !== "ts") return;
    const next = blocks[i + 1];
    if (next?.lang !== "text") throw new Error(`${doc}:${block.line}: no text block after it`);
    examples.push({ code: block.code, output: next.code, line: block.line });
  });
  return examples;
}

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "konsul-lb-client-"));
  await mkdir(join(folder, "node_modules"));
  await symlink(repoRoot, join(folder, "node_modules", "konsul-lb"), "dir");
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

for (const doc of ["README.md", "docs/load-balancing.md"]) {
  describe(doc, () => {
    let server: ServingCli;
    beforeAll(async () => {
      server = await serveCli(["--file", "examples/demo.yaml"]);
    }, 30_000);
    afterAll(async () => {
      server.child.kill("SIGTERM");
      await server.exited;
    });

    it("has a client example, and each prints what the doc shows", async () => {
      const examples = await examplesOf(doc);
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples) {
        const file = join(folder, `example-${example.line}.ts`);
        await writeFile(file, example.code.replaceAll("http://localhost:8080", server.url));
        const run = await runProcess(process.execPath, [`--conditions=${SOURCE_CONDITION}`, file], {
          cwd: folder,
          timeoutMs: 20_000,
        });
        expect(run.code, `${doc}:${example.line}\n${run.stderr}`).toBe(0);
        expect(run.stdout, `${doc}:${example.line}`).toBe(example.output);
      }
    });
  });
}

describe("the examples' types", () => {
  it("pass tsc with the package's exports, as in an application", async () => {
    const files: string[] = [];
    for (const doc of ["README.md", "docs/load-balancing.md"]) {
      for (const example of await examplesOf(doc)) {
        const file = join(folder, `typed-${files.length}.ts`);
        await writeFile(file, example.code);
        files.push(file);
      }
    }
    await writeFile(
      join(folder, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2024",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib: ["es2024", "esnext.disposable"],
          types: ["node"],
          typeRoots: [join(repoRoot, "node_modules/@types")],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          customConditions: [SOURCE_CONDITION],
        },
        files,
      }),
    );
    await writeFile(join(folder, "package.json"), JSON.stringify({ type: "module" }));
    const tsc = await runProcess(
      process.execPath,
      [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", join(folder, "tsconfig.json")],
      { cwd: folder, timeoutMs: 60_000 },
    );
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
  });
});
