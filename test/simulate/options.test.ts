import { describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { DEFAULT_HEALTH_FILTER, DEFAULT_STRATEGY } from "../../src/config/settings.ts";
import { SERVER_DEFAULT_HEALTH_FILTER, SERVER_DEFAULT_STRATEGY } from "../../src/simulate/load.ts";
import {
  DEFAULT_CLIENTS,
  DEFAULT_HOLD,
  DEFAULT_KEYS,
  DEFAULT_REQUESTS,
  DEFAULT_SEED,
  parseSimulateArgs,
  SIMULATE_HELP_TEXT,
} from "../../src/simulate/options.ts";

const BASE = ["--file", "examples/demo.yaml", "--service", "shop/checkout"];

function problem(args: readonly string[]): string {
  const parsed = parseSimulateArgs(args);
  if (parsed.kind !== "error") throw new Error(`accepted: ${args.join(" ")}`);
  return parsed.message;
}

describe("simulate flags", () => {
  it("defaults", () => {
    expect(parseSimulateArgs(BASE)).toEqual({
      kind: "ok",
      options: {
        file: "examples/demo.yaml",
        namespace: "shop",
        name: "checkout",
        requests: DEFAULT_REQUESTS,
        clients: DEFAULT_CLIENTS,
        keys: DEFAULT_KEYS,
        regions: null,
        strategies: null,
        compare: false,
        format: "table",
        out: null,
        seed: DEFAULT_SEED,
        hold: DEFAULT_HOLD,
        subset: null,
        ramp: null,
        latency: null,
        failures: null,
      },
    });
    expect(DEFAULT_SEED).toBe(1);
  });

  it("reads --subset and --ramp, and names a bad value", () => {
    const parsed = parseSimulateArgs([...BASE, "--subset", "canary", "--ramp", "pod-1"]);
    expect(parsed.kind === "ok" && parsed.options.subset).toBe("canary");
    expect(parsed.kind === "ok" && parsed.options.ramp).toBe("pod-1");
    const bad = parseSimulateArgs([...BASE, "--subset", "Canary_1"]);
    expect(bad.kind).toBe("error");
    expect(bad.kind === "error" && bad.message).toContain('--subset: "Canary_1" is not allowed');
    const both = parseSimulateArgs([...BASE, "--ramp", "pod-1", "--compare", "all"]);
    expect(both.kind === "error" && both.message).toContain(
      "--ramp and --compare are not allowed together",
    );
  });

  it("reads every flag", () => {
    const parsed = parseSimulateArgs([
      ...BASE,
      "--requests=1_000_000",
      "--clients",
      "20",
      "--keys",
      "30",
      "--regions",
      "us-east=70, eu-west=30,ap-south",
      "--compare",
      "ring-hash,maglev",
      "--out",
      "report.svg",
      "--seed",
      "0",
      "--hold",
      "0",
    ]);
    expect(parsed).toMatchObject({
      kind: "ok",
      options: {
        requests: 1_000_000,
        clients: 20,
        keys: 30,
        regions: [
          { region: "us-east", weight: 70 },
          { region: "eu-west", weight: 30 },
          { region: "ap-south", weight: 1 },
        ],
        strategies: ["ring-hash", "maglev"],
        compare: true,
        format: "svg",
        out: "report.svg",
        seed: 0,
        hold: 0,
      },
    });
    expect(parseSimulateArgs([...BASE, "--compare", "all"])).toMatchObject({
      options: { strategies: [...STRATEGY_NAMES] },
    });
    expect(parseSimulateArgs([...BASE, "--strategy", "maglev"])).toMatchObject({
      options: { strategies: ["maglev"], compare: false },
    });
    expect(parseSimulateArgs([...BASE, "--out", "r.json"])).toMatchObject({
      options: { format: "json" },
    });
    expect(parseSimulateArgs([...BASE, "--out", "r.svg", "--format", "table"])).toMatchObject({
      options: { format: "table" },
    });
  });

  it("reads endpoints' latencies and failure rates", () => {
    expect(
      parseSimulateArgs([...BASE, "--latency", "web-1=200, web-2=0.5", "--failures", "web-3=30"]),
    ).toMatchObject({
      options: {
        latency: [
          { identity: "web-1", value: 200 },
          { identity: "web-2", value: 0.5 },
        ],
        failures: [{ identity: "web-3", value: 30 }],
      },
    });
    for (const [args, parts] of [
      [
        ["--failures", "web-1=101"],
        ["--failures", "web-1", "from 0 to 100"],
      ],
      [
        ["--latency", "web-1"],
        ["--latency", "ENDPOINT=NUMBER"],
      ],
      [
        ["--latency", "web-1=1,web-1=2"],
        ["--latency", "appears twice"],
      ],
      [
        ["--latency", "=5"],
        ["--latency", "ENDPOINT=NUMBER"],
      ],
    ] as const) {
      const parsed = parseSimulateArgs([...BASE, ...args]);
      expect(parsed.kind).toBe("error");
      for (const part of parts) expect(parsed.kind === "error" && parsed.message).toContain(part);
    }
  });

  it("bad values name the flag, the value and what is allowed", () => {
    const cases: [string[], string[]][] = [
      [
        ["--requests", "0"],
        ["--requests", '"0"', "from 1 to"],
      ],
      [
        ["--requests", "lots"],
        ["--requests", '"lots"', "whole number"],
      ],
      [
        ["--requests", "1e6"],
        ["--requests", '"1e6"'],
      ],
      [
        ["--clients", "2000000"],
        ["--clients", "1,000,000"],
      ],
      [
        ["--keys", "-3"],
        ["--keys", "looks like a flag"],
      ],
      [
        ["--seed", "4294967296"],
        ["--seed", "4294967295"],
      ],
      [
        ["--hold", "x"],
        ["--hold", '"x"'],
      ],
      [
        ["--regions", "us-east=0"],
        ["--regions", "above 0"],
      ],
      [
        ["--regions", "us-east=70,us-east=30"],
        ["--regions", "us-east appears twice"],
      ],
      [
        ["--regions", "=5"],
        ["--regions", "REGION=WEIGHT"],
      ],
      [
        ["--strategy", "fastest"],
        ["--strategy", '"fastest"', "ring-hash"],
      ],
      [
        ["--compare", "ring-hash,fastest"],
        ["--compare", '"fastest" is not a strategy'],
      ],
      [
        ["--compare", "maglev,maglev"],
        ["--compare", "maglev appears twice"],
      ],
      [
        ["--strategy", "maglev", "--compare", "random"],
        ["--strategy", "--compare", "together"],
      ],
      [
        ["--format", "csv"],
        ["--format", '"csv"', "table, json, svg"],
      ],
      [
        ["--out", ""],
        ["--out", "empty"],
      ],
      [["--no-such-flag"], ["--no-such-flag", "--requests"]],
      [["--seed"], ["--seed needs a value"]],
      [["extra"], ['"extra"', "only flags"]],
    ];
    for (const [extra, mentions] of cases) {
      const message = problem([...BASE, ...extra]);
      for (const mention of mentions) expect(message, extra.join(" ")).toContain(mention);
    }
  });

  it("--file and --service are required; --service is namespace/name", () => {
    expect(problem(["--service", "shop/cart"])).toContain("--file is required");
    expect(problem(["--file", "x.yaml"])).toContain("--service is required");
    for (const service of ["cart", "shop/", "/cart", "a/b/c"]) {
      const message = problem(["--file", "x.yaml", "--service", service]);
      expect(message).toContain(`--service: ${JSON.stringify(service)}`);
      expect(message).toContain("namespace/name");
    }
  });

  it("reports every bad flag at once", () => {
    const message = problem([...BASE, "--requests", "0", "--format", "csv"]);
    expect(message.split("\n")).toHaveLength(2);
  });

  it("--help describes every flag", () => {
    expect(parseSimulateArgs(["--help"])).toEqual({ kind: "help", text: SIMULATE_HELP_TEXT });
    for (const flag of [
      "--file",
      "--service",
      "--requests",
      "--clients",
      "--keys",
      "--regions",
      "--strategy",
      "--compare",
      "--format",
      "--out",
      "--seed",
      "--hold",
    ]) {
      expect(SIMULATE_HELP_TEXT).toContain(`  ${flag} `);
    }
  });

  it("uses the server's own defaults for what a policy leaves out", () => {
    expect(SERVER_DEFAULT_STRATEGY).toBe(DEFAULT_STRATEGY);
    expect(SERVER_DEFAULT_HEALTH_FILTER).toBe(DEFAULT_HEALTH_FILTER);
  });
});
