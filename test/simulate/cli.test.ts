/** `konsul-lb simulate` as a real process, and the README's examples of it. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SimulationReport } from "../../src/simulate/report.ts";
import { repoRoot, runCli } from "../support/cli.ts";
import { DUMP } from "./fixtures.ts";
import { parseXml } from "./support.ts";

const README_PREFIX = "npm run konsul-lb -- ";

async function readmeCommands(): Promise<string[][]> {
  const readme = await readFile(join(repoRoot, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((part) => part.startsWith("Simulate a policy"));
  const block = section === undefined ? undefined : /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README has no shell block under "Simulate a policy"');
  return block
    .split("\n")
    .filter((line) => line.startsWith(README_PREFIX))
    .map((line) => line.slice(README_PREFIX.length).split(/\s+/));
}

describe("konsul-lb simulate (process)", () => {
  it("simulates a service of a kubectl dump, to a table, JSON and an SVG file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "konsul-lb-simulate-"));
    try {
      const dump = join(dir, "cluster.yaml");
      await writeFile(dump, DUMP);
      const table = await runCli([
        "simulate",
        "--file",
        dump,
        "--service",
        "web/api",
        "--requests",
        "6000",
      ]);
      expect(table.code).toBe(0);
      expect(table.stderr).toBe("");
      expect(table.stdout).toContain("web/api");
      expect(table.stdout).toMatch(
        /^api-5b8f6-02\s+eu-west\s+3\s+3,000\s+50\.0%\s+50\.0%\s+1\.00\s+█+$/m,
      );

      const json = await runCli([
        "simulate",
        "--file",
        dump,
        "--service",
        "web/front",
        "--format",
        "json",
        "--requests",
        "2000",
        "--keys",
        "500",
      ]);
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as SimulationReport;
      expect(report.strategies[0]?.hash?.endpoints).toHaveLength(8);

      const svgPath = join(dir, "front.svg");
      const svg = await runCli([
        "simulate",
        "--file",
        dump,
        "--service",
        "web/front",
        "--out",
        svgPath,
        "--requests",
        "2000",
        "--keys",
        "500",
      ]);
      expect(svg.code).toBe(0);
      expect(svg.stdout).toBe("");
      expect(svg.stderr).toContain(`wrote the svg report to ${svgPath}`);
      expect(parseXml(await readFile(svgPath, "utf8")).name).toBe("svg");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 naming the flag, or the known services", async () => {
    const bad = await runCli([
      "simulate",
      "--file",
      "examples/demo.yaml",
      "--service",
      "shop/cart",
      "--format",
      "csv",
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'konsul-lb: --format: "csv" is not allowed; expected one of table, json, svg',
    );
    const unknown = await runCli([
      "simulate",
      "--file",
      "examples/demo.yaml",
      "--service",
      "shop/basket",
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("payments/payments, shop/cart, shop/catalog, shop/checkout");
    expect(unknown.stdout).toBe("");
  });

  it("--help lists both commands; simulate --help lists its flags", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^ {2}serve\s/m);
    expect(top.stdout).toMatch(/^ {2}simulate\s/m);
    const help = await runCli(["simulate", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--compare");
    const unknown = await runCli(["simulat"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("expected serve or simulate");
  });

  it("the README's examples run and print what they say", async () => {
    const commands = await readmeCommands();
    expect(commands).toHaveLength(3);
    const [checkout, catalog, payments] = await Promise.all(commands.map((args) => runCli(args)));
    for (const run of [checkout, catalog, payments]) expect(run?.code).toBe(0);

    expect(checkout?.stdout).toContain("ring-hash, from policy shop/checkout-sticky");
    expect(checkout?.stdout).toMatch(/^endpoint\s+keys\s+share\s+moved\s+ideal$/m);

    const header = catalog?.stdout.split("\n").find((line) => line.startsWith("endpoint "));
    expect(header?.split(/\s{2,}/)).toEqual([
      "endpoint",
      "weight",
      "weighted-round-robin",
      "random",
      "least-request",
    ]);

    const report = JSON.parse(payments?.stdout ?? "") as SimulationReport;
    const latency = report.strategies[0];
    expect(latency?.inRegion).toBe(1);
    const shareOf = (region: string) =>
      latency?.endpoints.find((_, i) => report.endpoints[i]?.region === region)?.share ?? 0;
    expect(shareOf("us-east")).toBeCloseTo(0.7, 1);
    expect(shareOf("eu-west")).toBeCloseTo(0.3, 1);
  });
});
