import { describe, expect, it } from "vitest";
import { runSimulate, type SimulateIo } from "../../src/simulate/command.ts";
import { TerminalProgress } from "../../src/simulate/progress.ts";
import type { SimulationReport } from "../../src/simulate/report.ts";
import { escapeXml } from "../../src/simulate/svg.ts";
import { bar } from "../../src/simulate/table.ts";
import { DEMO_PATH, DUMP_PATH, findAll, parseXml, readFixture } from "./support.ts";

interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly written: Map<string, string>;
}

/** `konsul-lb simulate <args>` in this process, its output captured. */
function run(args: readonly string[]): Captured {
  let stdout = "";
  let stderr = "";
  const written = new Map<string, string>();
  const io: SimulateIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: {
      write: (text: string) => {
        stderr += text;
        return true;
      },
    },
    readFile: readFixture,
    writeFile: (path, text) => {
      written.set(path, text);
    },
  };
  const code = runSimulate(args, io);
  return { code, stdout, stderr, written };
}

describe("simulate output: table", () => {
  it("one row per endpoint with share, expected share and a bar; hash keys and moves", () => {
    const { code, stdout, stderr } = run(["--file", DEMO_PATH, "--service", "shop/checkout"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toContain(
      "shop/checkout (examples/demo.yaml): ring-hash, from policy shop/checkout-sticky",
    );
    expect(stdout).toMatch(/^endpoint\s+region\s+weight\s+requests\s+share\s+expected\s+ratio$/m);
    expect(stdout).toMatch(
      /^checkout-6f7b9c-2xkqp\s+us-east\s+1\s+[\d,]+\s+\d+\.\d%\s+50\.0%\s+\d\.\d\d\s+█+/m,
    );
    expect(stdout).toMatch(
      /^checkout-6f7b9c-qm5tz\s+eu-west\s+1\s+0\s+0\.0%\s+-\s+-\s+unhealthy: left out$/m,
    );
    expect(stdout).toContain("5,000 distinct session keys");
    expect(stdout).toMatch(/^endpoint\s+keys\s+share\s+moved\s+ideal$/m);
    expect(stdout).toContain("connections: each request holds one open for the next 100 picks");
  });

  it("--compare prints one column per strategy, in the order given", () => {
    const strategies = ["ring-hash", "maglev", "random", "least-connections"];
    const { code, stdout } = run([
      "--file",
      DUMP_PATH,
      "--service",
      "web/front",
      "--compare",
      strategies.join(","),
      "--requests",
      "4000",
      "--keys",
      "400",
    ]);
    expect(code).toBe(0);
    const header = stdout.split("\n").find((line) => line.startsWith("endpoint "));
    expect(header?.split(/\s{2,}/)).toEqual(["endpoint", "weight", ...strategies]);
    const rows = stdout.split("\n").filter((line) => line.startsWith("front-6d4c8-"));
    expect(rows).toHaveLength(8);
    for (const row of rows) expect(row.match(/\d+\.\d%/g)).toHaveLength(strategies.length);
    // Summary rows: a figure per strategy, "-" where a figure does not apply.
    const moved = stdout.split("\n").find((line) => line.startsWith("keys moved / ideal"));
    expect(
      moved
        ?.trim()
        .split(/\s{2,}/)
        .slice(1),
    ).toHaveLength(strategies.length);
    expect(moved).toMatch(/\d\.\d\d\s+\d\.\d\d\s+-\s+-$/);
  });

  it("bars are drawn to an eighth of a character", () => {
    expect(bar(1, 4)).toBe("████");
    expect(bar(0.5, 4)).toBe("██");
    expect(bar(0.5 + 1 / 32, 4)).toBe("██▏");
    expect(bar(0.5 + 4 / 32, 4)).toBe("██▌");
    expect(bar(0, 4)).toBe("");
  });
});

describe("simulate output: JSON", () => {
  it("parses, with the run's settings and the figures of each strategy and endpoint", () => {
    const { code, stdout } = run([
      "--file",
      DEMO_PATH,
      "--service",
      "payments/payments",
      "--format",
      "json",
      "--compare",
      "latency-based,ring-hash",
      "--requests",
      "5000",
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as SimulationReport;
    expect(report).toMatchObject({
      service: "payments/payments",
      file: DEMO_PATH,
      policy: "payments/payments-nearest",
      serviceStrategy: "latency-based",
      seed: 1,
      requests: 5000,
      clients: 1000,
      keys: 5000,
      hold: 100,
      regionsFrom: "endpoints",
      healthFilter: true,
      panic: false,
      compare: true,
      warnings: [],
    });
    expect(report.endpoints.map((e) => Object.keys(e).sort())).toEqual(
      report.endpoints.map(() => [
        "address",
        "balanced",
        "healthy",
        "identity",
        "region",
        "weight",
        "zone",
      ]),
    );
    const [latency, ring] = report.strategies;
    expect(latency).toMatchObject({
      strategy: "latency-based",
      expectedBasis: "nearest-region",
      inRegion: 1,
      hash: null,
    });
    expect(Object.keys(latency?.endpoints[0] ?? {}).sort()).toEqual([
      "expected",
      "identity",
      "ratio",
      "requests",
      "share",
    ]);
    expect(ring?.hash).toMatchObject({ hashOn: "session-key", distinctKeys: 5000 });
    expect(Object.keys(ring?.hash?.endpoints[0] ?? {}).sort()).toEqual([
      "ideal",
      "identity",
      "keyShare",
      "keys",
      "moved",
    ]);
    for (const key of ["maxMean", "maxRatio", "inRegion"]) expect(ring).toHaveProperty(key);
  });

  it("--out writes the report to the file and says so on stderr", () => {
    const { code, stdout, stderr, written } = run([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/cart",
      "--out",
      "cart.json",
      "--requests",
      "100",
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toContain("wrote the json report to cart.json");
    expect(JSON.parse(written.get("cart.json") ?? "")).toMatchObject({ service: "shop/cart" });
  });
});

describe("simulate output: SVG", () => {
  it("is well-formed XML with one bar per endpoint, and a tick per balanced endpoint", () => {
    const { code, stdout } = run([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/checkout",
      "--format",
      "svg",
      "--requests",
      "5000",
    ]);
    expect(code).toBe(0);
    const svg = parseXml(stdout);
    expect(svg.name).toBe("svg");
    expect(svg.attributes.xmlns).toBe("http://www.w3.org/2000/svg");
    const bars = findAll(svg, (e) => e.name === "rect" && e.attributes.class === "share");
    expect(bars).toHaveLength(3);
    expect(findAll(svg, (e) => e.attributes.class === "expected")).toHaveLength(2);
    // Bar lengths follow the shares: the pod left out has none.
    const widths = bars.map((b) => Number(b.attributes.width));
    expect(widths[0]).toBeGreaterThan(0);
    expect(widths[2]).toBe(0);
    expect(bars[0]?.children[0]?.text).toContain("checkout-6f7b9c-2xkqp");
  });

  it("--compare draws a panel per strategy, each with one bar per endpoint", () => {
    const strategies = ["round-robin", "ring-hash", "latency-based"];
    const { stdout } = run([
      "--file",
      DUMP_PATH,
      "--service",
      "geo/edge",
      "--format",
      "svg",
      "--compare",
      strategies.join(","),
      "--requests",
      "4000",
      "--keys",
      "400",
    ]);
    const svg = parseXml(stdout);
    const panels = findAll(svg, (e) => e.name === "g" && e.attributes.class === "strategy");
    expect(panels.map((p) => p.attributes["data-strategy"])).toEqual(strategies);
    for (const panel of panels) {
      expect(
        findAll(panel, (e) => e.name === "rect" && e.attributes.class === "share"),
      ).toHaveLength(4);
    }
  });

  it("escapes what XML would misread", () => {
    expect(escapeXml(`a<b & "c" 'd'>`)).toBe("a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
    expect(() => parseXml("<svg><g></svg>")).toThrow();
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow();
    expect(() => parseXml("<svg>a & b</svg>")).toThrow();
  });
});

describe("simulate errors", () => {
  it("an unknown service exits 2, naming the services of the file", () => {
    const { code, stdout, stderr } = run(["--file", DUMP_PATH, "--service", "web/frontend"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain('--service: "web/frontend"');
    for (const known of ["geo/edge", "web/api", "web/front", "web/static"])
      expect(stderr).toContain(known);
  });

  it("a bad flag exits 2 naming it; a file that cannot be read exits 1", () => {
    expect(
      run([...["--file", DEMO_PATH, "--service", "shop/cart"], "--requests", "many"]),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining("--requests") });
    const missing = run(["--file", "no-such-file.yaml", "--service", "shop/cart"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no-such-file.yaml");
  });
});

describe("simulate progress", () => {
  it("stays quiet for the first second, then redraws one line and clears it", () => {
    let time = 0;
    let output = "";
    const stream = {
      isTTY: true,
      columns: 60,
      write: (text: string) => {
        output += text;
        return true;
      },
    };
    const progress = new TerminalProgress(stream, () => time);
    progress.update("ring-hash: 100 requests", 10, 100);
    time = 500;
    progress.update("ring-hash: 100 requests", 50, 100);
    expect(output).toBe("");
    time = 1200;
    progress.update("ring-hash: 100 requests", 60, 100);
    expect(output.startsWith("\r 60% █")).toBe(true);
    expect(output.endsWith("ring-hash: 100 requests\u001b[K")).toBe(true);
    expect(output.length).toBeLessThan(80);
    progress.finish();
    expect(output.endsWith("\r\x1b[K")).toBe(true);
  });

  it("writes nothing when stderr is not a terminal", () => {
    const { stderr } = run([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/checkout",
      "--requests",
      "300000",
    ]);
    expect(stderr).toBe("");
  });
});
