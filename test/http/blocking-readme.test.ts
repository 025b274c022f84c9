/** The README's blocking-query examples, run against the demo as `npm start` serves it. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { serveCli } from "../support/cli.ts";
import { readRepoFile, shellBlocks } from "../support/markdown.ts";

const run = promisify(execFile);

describe("README: blocking queries", () => {
  it("the examples run and wait as the text says", async () => {
    const [block] = shellBlocks(await readRepoFile("README.md"), "Blocking queries");
    expect(block).toBeDefined();
    const server = await serveCli(["--file", "examples/demo.yaml"]);
    try {
      const script = (block as string).replaceAll(
        "localhost:8080",
        server.url.replace("http://", ""),
      );
      const started = performance.now();
      const { stdout } = await run("bash", ["-eu", "-o", "pipefail", "-c", script]);
      const seconds = (performance.now() - started) / 1000;
      // Nothing changes during the run: the first waits its 2 s, the second its 1 s.
      expect(seconds).toBeGreaterThanOrEqual(3);
      expect(seconds).toBeLessThan(3 + 3 / 16 + 2);
      expect(stdout).toContain('"service":{"namespace":"shop","name":"cart"}');
      expect(stdout).toMatch(/^x-konsul-index: \d+/im);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
