import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli, serveCli } from "../support/cli.ts";
import { readRepoFile, shellBlocks as sectionShellBlocks } from "../support/markdown.ts";

const run = promisify(execFile);

/** The shell blocks of one README section. */
async function shellBlocks(heading: string): Promise<string[]> {
  return sectionShellBlocks(await readRepoFile("README.md"), heading);
}

describe("README", () => {
  it("every curl of 'Try the demo' works against npm start's demo", async () => {
    const server = await serveCli(["--file", "examples/demo.yaml"]);
    try {
      const hostPort = server.url.replace("http://", "");
      for (const block of await shellBlocks("Try the demo")) {
        // -f turns an HTTP error into a failing command
        const script = block
          .replaceAll("localhost:8080", hostPort)
          .replaceAll("curl -s ", "curl -sf ");
        const commands = script.split("\n").filter((line) => line.trim() && !line.startsWith("#"));
        expect(commands.length).toBeGreaterThan(5);
        // no pipefail: `curl … | head` ends curl early by design, as in a reader's shell
        const { stdout } = await run("bash", ["-eu", "-c", script]);
        expect(stdout).toContain('"strategy":"ring-hash"');
        expect(stdout).toContain('"region":"eu-west"');
        expect(stdout).toMatch(/\b204$/m); // curl prints JSON without a trailing newline
        expect(stdout).toContain("konsul_lb_selections_total");
      }
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });

  it("the set-up commands are the ones package.json defines", async () => {
    const [setup] = await shellBlocks("Set up");
    expect(setup).toContain("npm ci && npm start");
    expect(setup).toContain("npm test");
    const scripts = JSON.parse(await readRepoFile("package.json")).scripts;
    expect(scripts.start).toContain("examples/demo.yaml");
    expect(scripts.test).toBe("vitest run");
  });

  it("the CLI examples of 'Running the server' parse", async () => {
    const [block] = await shellBlocks("Running the server");
    for (const line of (block ?? "")
      .split("\n")
      .filter((l) => l.startsWith("npm run konsul-lb -- "))) {
      const args = line.replace("npm run konsul-lb -- ", "").split(/\s+/);
      const { code, stdout } = await runCli(args.includes("serve") ? [...args, "--help"] : args);
      expect(code, line).toBe(0);
      expect(stdout).toContain("konsul-lb");
    }
  });
});
