import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ejectionCap,
  OutlierDetector,
  outlierDetectionSection,
  type ResolvedOutlierDetection,
} from "../../../src/balancer/features/outlier-detection/index.ts";
import { BalancerManager } from "../../../src/balancer/manager.ts";
import type { Outcome, OutcomeResult } from "../../../src/balancer/outcome.ts";
import { resolvePolicy } from "../../../src/balancer/policy.ts";
import { endpoints } from "../fixtures.ts";

function settings(overrides: object = {}): ResolvedOutlierDetection {
  return outlierDetectionSection.resolve(
    { maxEjectionPercent: 100, ...overrides },
    undefined,
  ) as ResolvedOutlierDetection;
}

const ids = (n: number) => endpoints(n).map((e) => e.identity);
const outcome = (identity: string, result: OutcomeResult): Outcome => ({ identity, result });

function detector(n: number, overrides: object = {}): OutlierDetector {
  const d = new OutlierDetector(settings(overrides));
  d.sync(ids(n));
  return d;
}

describe("outlierDetection settings", () => {
  it("absent means off; present takes Envoy's defaults", () => {
    expect(resolvePolicy(undefined).outlierDetection).toBeNull();
    expect(resolvePolicy({ outlierDetection: {} }).outlierDetection).toEqual({
      consecutiveFailures: 5,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionPercent: 10,
      successRate: null,
    });
    expect(resolvePolicy({ outlierDetection: { successRate: {} } }).outlierDetection).toMatchObject(
      { successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 } },
    );
  });

  it("takes the larger of base and max ejection time as the cap, as Envoy does", () => {
    expect(
      settings({ baseEjectionTimeMs: 600_000, maxEjectionTimeMs: 60_000 }).maxEjectionTimeMs,
    ).toBe(600_000);
  });

  it("names the field, the value and what is allowed", () => {
    expect(() => resolvePolicy({ outlierDetection: { consecutiveFailures: -1 } })).toThrow(
      "outlierDetection.consecutiveFailures: -1 is not allowed; expected an integer from 0 to 10000",
    );
    expect(() => resolvePolicy({ outlierDetection: { successRate: { stdevFactor: 0 } } })).toThrow(
      "outlierDetection.successRate.stdevFactor: 0 is not allowed; expected a number greater than 0",
    );
  });
});

describe("ejection on consecutive failures", () => {
  it("ejects after the threshold of failures in a row; a success resets the run", () => {
    const d = detector(3, { consecutiveFailures: 3 });
    expect(d.record(outcome("ep-0", "failure"), 0)).toBeNull();
    expect(d.record(outcome("ep-0", "timeout"), 0)).toBeNull();
    expect(d.record(outcome("ep-0", "success"), 0)).toBeNull();
    expect(d.record(outcome("ep-0", "failure"), 0)).toBeNull();
    expect(d.record(outcome("ep-0", "failure"), 0)).toBeNull();
    // Timeouts count as failures.
    expect(d.record(outcome("ep-0", "timeout"), 1000)).toEqual({
      kind: "ejected",
      identity: "ep-0",
      reason: "consecutive-failures",
      ejections: 1,
      until: 31_000,
    });
    expect(d.ejected()).toEqual(["ep-0"]);
  });

  it("consecutiveFailures 0 never ejects on failures", () => {
    const d = detector(2, { consecutiveFailures: 0 });
    for (let i = 0; i < 100; i++) expect(d.record(outcome("ep-0", "failure"), 0)).toBeNull();
  });

  it("returns an endpoint at the first interval after its time, each ejection longer, capped", () => {
    const d = detector(3, {
      consecutiveFailures: 1,
      intervalMs: 1000,
      baseEjectionTimeMs: 10_000,
      maxEjectionTimeMs: 25_000,
    });
    d.evaluate(0);
    let now = 0;
    const durations: number[] = [];
    for (let round = 0; round < 4; round++) {
      const change = d.record(outcome("ep-1", "failure"), now);
      if (change?.kind !== "ejected") throw new Error("expected an ejection");
      durations.push(change.until - now);
      // Not back before its time...
      expect(d.evaluate(change.until - 1).some((c) => c.kind === "returned")).toBe(false);
      now = change.until + 1000;
      // ...and back at the first interval after it.
      expect(d.evaluate(now)).toEqual([{ kind: "returned", identity: "ep-1" }]);
    }
    expect(durations).toEqual([10_000, 20_000, 25_000, 25_000]);
  });

  it("forgives one ejection per healthy interval", () => {
    const d = detector(3, { consecutiveFailures: 1, intervalMs: 1000, baseEjectionTimeMs: 1000 });
    d.evaluate(0);
    d.record(outcome("ep-1", "failure"), 0);
    d.evaluate(1000); // returned
    d.record(outcome("ep-1", "failure"), 1000);
    expect(d.export()).toEqual([{ identity: "ep-1", ejections: 2, until: 3000 }]);
    d.evaluate(3000); // returned
    d.evaluate(4000); // healthy: 2 -> 1
    d.evaluate(5000); // healthy: 1 -> 0
    expect(d.export()).toEqual([]);
    const change = d.record(outcome("ep-1", "failure"), 5000);
    expect(change).toMatchObject({ ejections: 1, until: 6000 });
  });

  it("ejects no more than maxEjectionPercent of the endpoints, at least one", () => {
    expect(ejectionCap(10, 10)).toBe(1);
    expect(ejectionCap(3, 10)).toBe(1);
    expect(ejectionCap(30, 10)).toBe(3);
    expect(ejectionCap(10, 0)).toBe(0);
    const d = detector(10, { consecutiveFailures: 1, maxEjectionPercent: 20 });
    const ejected = ids(10).filter((id) => d.record(outcome(id, "failure"), 0) !== null);
    expect(ejected).toEqual(["ep-00", "ep-01"]);
  });

  it("keeps counters only for current endpoints", () => {
    const d = detector(3, { consecutiveFailures: 2 });
    d.record(outcome("ep-2", "failure"), 0);
    d.sync(["ep-0", "ep-1"]);
    expect(d.knows("ep-2")).toBe(false);
    expect(d.record(outcome("ep-2", "failure"), 0)).toBeNull();
    d.sync(["ep-0", "ep-1", "ep-2"]);
    // A returning endpoint starts clean: one failure is not two.
    expect(d.record(outcome("ep-2", "failure"), 0)).toBeNull();
  });
});

describe("ejection on success rate", () => {
  it("ejects the endpoint below mean - stdevFactor x stdev at the interval's end", () => {
    const d = detector(6, {
      consecutiveFailures: 0,
      intervalMs: 1000,
      successRate: { minimumHosts: 5, requestVolume: 10, stdevFactor: 1.9 },
    });
    d.evaluate(0);
    for (const id of ids(6)) {
      for (let i = 0; i < 20; i++) {
        const failed = id === "ep-3" ? i % 2 === 0 : i === 0;
        d.record(outcome(id, failed ? "failure" : "success"), 500);
      }
    }
    const changes = d.evaluate(1000);
    expect(changes).toEqual([
      expect.objectContaining({ kind: "ejected", identity: "ep-3", reason: "success-rate" }),
    ]);
  });

  it("needs minimumHosts endpoints with requestVolume reports", () => {
    const d = detector(6, {
      consecutiveFailures: 0,
      intervalMs: 1000,
      successRate: { minimumHosts: 5, requestVolume: 10, stdevFactor: 1 },
    });
    d.evaluate(0);
    for (const id of ids(4)) {
      for (let i = 0; i < 20; i++) d.record(outcome(id, id === "ep-0" ? "failure" : "success"), 1);
    }
    expect(d.evaluate(1000)).toEqual([]);
  });
});

describe("properties", () => {
  const results = fc.constantFrom<OutcomeResult>("success", "failure", "timeout");

  it("never ejects more than the cap, and only current endpoints, whatever is reported", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 40 }), results, fc.integer({ min: 0, max: 5000 })),
          {
            maxLength: 300,
          },
        ),
        (n, percent, threshold, reports) => {
          const d = detector(n, {
            consecutiveFailures: threshold,
            maxEjectionPercent: percent,
            intervalMs: 1000,
            baseEjectionTimeMs: 1500,
            successRate: { minimumHosts: 1, requestVolume: 1, stdevFactor: 0.5 },
          });
          const known = new Set(ids(n));
          let now = 0;
          for (const [index, result, step] of reports) {
            now += step;
            d.record(outcome(`ep-${String(index).padStart(String(n).length, "0")}`, result), now);
            d.evaluate(now);
            const ejected = d.ejected();
            expect(ejected.length).toBeLessThanOrEqual(ejectionCap(n, percent));
            for (const id of ejected) expect(known.has(id)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an ejection lasts base x ejections, never above the cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 12 }),
        (base, max, rounds) => {
          const d = detector(2, {
            consecutiveFailures: 1,
            intervalMs: 100,
            baseEjectionTimeMs: base,
            maxEjectionTimeMs: max,
          });
          let now = 0;
          d.evaluate(now);
          for (let round = 1; round <= rounds; round++) {
            const change = d.record(outcome("ep-0", "failure"), now);
            if (change?.kind !== "ejected") throw new Error("expected an ejection");
            expect(change.until - now).toBe(Math.min(base * round, Math.max(base, max)));
            now = change.until;
            d.evaluate(now + 100);
            now += 100;
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("through the manager", () => {
  it("ejects, lists and forgets with the service", () => {
    let now = 0;
    const manager = new BalancerManager({ now: () => now });
    const service = {
      key: "shop/web",
      version: 1,
      endpoints: endpoints(4),
      policy: { outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 50 } },
    };
    const failures = [outcome("ep-1", "failure"), outcome("ep-1", "timeout")];
    expect(manager.recordOutcomes(service, failures)).toEqual([
      expect.objectContaining({ kind: "ejected", identity: "ep-1" }),
    ]);
    expect(manager.ejectedEndpoints("shop/web")).toEqual(["ep-1"]);
    now = 40_000;
    manager.evaluateOutliers(service); // starts the interval clock
    now = 50_000;
    expect(manager.evaluateOutliers(service)).toEqual([{ kind: "returned", identity: "ep-1" }]);
    manager.forget("shop/web");
    expect(manager.ejectedEndpoints("shop/web")).toEqual([]);
  });

  it("a policy without outlierDetection ejects nothing", () => {
    const manager = new BalancerManager();
    const service = { key: "shop/web", version: 1, endpoints: endpoints(2) };
    const failures = Array.from({ length: 50 }, () => outcome("ep-0", "failure"));
    expect(manager.recordOutcomes(service, failures)).toEqual([]);
    expect(manager.ejectedEndpoints("shop/web")).toEqual([]);
  });
});
