import { describe, expect, it } from "vitest";
import { runSimulate } from "../../src/simulate/command.ts";
import { loadService, SimulateError } from "../../src/simulate/load.ts";
import { parseSimulateArgs } from "../../src/simulate/options.ts";
import { simulateRamp } from "../../src/simulate/ramp.ts";
import { formatRampSvg, formatRampTable } from "../../src/simulate/ramp-format.ts";
import { DEMO_PATH, readFixture, report } from "./support.ts";

const NEWCOMER = "catalog-v2-7b4c9-t6wse";

function rampOf(extra: readonly string[]) {
  const parsed = parseSimulateArgs([
    "--file",
    DEMO_PATH,
    "--service",
    "shop/catalog",
    "--ramp",
    NEWCOMER,
    "--requests",
    "2000",
    "--keys",
    "4000",
    ...extra,
  ]);
  if (parsed.kind !== "ok") throw new Error(JSON.stringify(parsed));
  const loaded = loadService(DEMO_PATH, "shop", "catalog", readFixture);
  return simulateRamp(loaded, NEWCOMER, parsed.options);
}

describe("simulate --subset", () => {
  it("balances over the subset alone and says so", () => {
    const result = report([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/catalog",
      "--subset",
      "stable",
      "--requests",
      "3000",
    ]);
    const shares = Object.fromEntries(
      (result.strategies[0]?.endpoints ?? []).map((e) => [e.identity, e.share]),
    );
    expect(shares[NEWCOMER]).toBe(0);
    // The v1 pods by their weights, 2 and 1.
    expect(shares["catalog-v1-5d8f7-jx2lm"]).toBeCloseTo(2 / 3, 1);
    expect(result.subset).toBe("stable");
  });

  it("an unknown subset is a usage error listing the policy's subsets", () => {
    expect(() =>
      report(["--file", DEMO_PATH, "--service", "shop/catalog", "--subset", "beta"]),
    ).toThrow(SimulateError);
    expect(() =>
      report(["--file", DEMO_PATH, "--service", "shop/catalog", "--subset", "beta"]),
    ).toThrow(
      '--subset: "beta" is not allowed (not a subset of the policy); expected one of stable, canary',
    );
  });
});

describe("simulate --ramp", () => {
  it("walks the window in RAMP_STEPS steps, the weight following Envoy's formula", () => {
    const ramp = rampOf([]);
    expect(ramp.steps).toHaveLength(11);
    ramp.steps.forEach((step, i) => {
      expect(step.weightFactor).toBeCloseTo(Math.max(0.1, i / 10), 9);
    });
    // weighted-round-robin: the measured share is the expected one, step by step.
    for (const step of ramp.steps) expect(step.requestShare).toBeCloseTo(step.expected, 2);
    expect(ramp.hashOn).toBeNull();
  });

  it.each(["ring-hash", "maglev"])("%s: keys moved per step against the ideal", (strategy) => {
    const ramp = rampOf(["--strategy", strategy]);
    expect(ramp.hashOn).toBe("session-key");
    for (const step of ramp.steps.slice(1)) {
      expect(step.moved).not.toBeNull();
      expect(step.moved as number).toBeLessThanOrEqual(1.5 * (step.ideal as number) + 0.003);
    }
    const last = ramp.steps[ramp.steps.length - 1];
    expect(last?.keyShare).toBeGreaterThan(0.4);
    const table = formatRampTable(ramp);
    expect(table).toContain(`Slow-start ramp of ${NEWCOMER} in shop/catalog`);
    expect(table).toContain("keys moved over the ramp:");
    expect(formatRampSvg(ramp)).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  });

  it("names the problem: no slowStart in the policy, an unknown endpoint", () => {
    const errors: string[] = [];
    const io = {
      stdout: { write: () => true },
      stderr: { write: (text: string) => errors.push(text) > 0 },
      readFile: readFixture,
      writeFile: () => undefined,
    };
    expect(runSimulate(["--file", DEMO_PATH, "--service", "shop/cart", "--ramp", "x"], io)).toBe(2);
    expect(errors.join("")).toContain("--ramp: the policy of shop/cart sets no slowStart");
    expect(
      runSimulate(["--file", DEMO_PATH, "--service", "shop/catalog", "--ramp", "nope"], io),
    ).toBe(2);
    expect(errors.join("")).toContain('--ramp: "nope" is not allowed (no such endpoint)');
  });
});
