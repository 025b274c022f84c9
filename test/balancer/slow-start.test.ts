import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../src/balancer/endpoint.ts";
import { RAMP_STEPS, rampFactor, rampStep } from "../../src/balancer/features/slow-start/index.ts";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { resolvePolicy } from "../../src/balancer/policy.ts";
import { seededRandom } from "../../src/balancer/random.ts";
import type { StrategyName } from "../../src/balancer/strategy.ts";
import { endpoint } from "./fixtures.ts";

const WINDOW = 100_000;

function endpointsWithNewcomer(n: number, readySince: number, weight = 1): Endpoint[] {
  return Array.from({ length: n }, (_, i) =>
    endpoint(`pod-${i}`, {
      address: `10.0.0.${i + 1}`,
      weight,
      readySince: i === n - 1 ? readySince : null,
    }),
  );
}

function service(
  strategy: StrategyName,
  list: readonly Endpoint[],
  slowStart: { windowMs: number; aggression?: number; minWeightPercent?: number } = {
    windowMs: WINDOW,
  },
): ServiceEndpoints {
  return { key: "shop/web", version: 1, endpoints: list, policy: { slowStart }, strategy };
}

/** Share of `count` picks that go to `identity`. */
function shareOf(
  manager: BalancerManager,
  web: ServiceEndpoints,
  identity: string,
  count: number,
  key?: (i: number) => string,
): number {
  let hits = 0;
  for (let i = 0; i < count; i++) {
    const sessionKey = key?.(i);
    if (manager.selectOne(web, { sessionKey }).endpoint.identity === identity) hits++;
  }
  return hits / count;
}

describe("the slow-start weight (Envoy's formula)", () => {
  const settings = fc.record({
    windowMs: fc.integer({ min: 1, max: 3_600_000 }),
    aggression: fc.double({ min: 0.05, max: 100, noNaN: true }),
    minWeightPercent: fc.double({ min: 0, max: 100, noNaN: true }),
  });

  it("is max(minWeightPercent/100, (t/window)^(1/aggression)), 1 from the window on", () => {
    fc.assert(
      fc.property(settings, fc.double({ min: 0, max: 2, noNaN: true }), (slowStart, progress) => {
        const t = progress * slowStart.windowMs;
        const factor = rampFactor(t, slowStart);
        if (t >= slowStart.windowMs) return factor === 1;
        const expected = Math.max(
          slowStart.minWeightPercent / 100,
          (t / slowStart.windowMs) ** (1 / slowStart.aggression),
          0.001,
        );
        return Math.abs(factor - Math.min(1, expected)) < 1e-12;
      }),
    );
  });

  it("never decreases with time, and stays within [minWeightPercent/100, 1]", () => {
    fc.assert(
      fc.property(
        settings,
        fc.double({ min: -1, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (slowStart, a, delta) => {
          const t = a * slowStart.windowMs;
          const earlier = rampFactor(t, slowStart);
          const later = rampFactor(t + delta * slowStart.windowMs, slowStart);
          return (
            later >= earlier &&
            earlier >= Math.min(1, slowStart.minWeightPercent / 100) &&
            earlier > 0 &&
            later <= 1
          );
        },
      ),
    );
  });

  it("is evaluated on a grid of RAMP_STEPS steps per window, the same for every endpoint", () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 3_600_000 }), fc.nat(), (windowMs, now) => {
        const { at, next } = rampStep(now, windowMs);
        return at <= now && now < next && Math.abs(next - at - windowMs / RAMP_STEPS) < 1e-6;
      }),
      { numRuns: 20_000 },
    );
  });

  it("a linear ramp halfway gives half the weight; aggression 2 gives its square root", () => {
    expect(rampFactor(50, { windowMs: 100, aggression: 1, minWeightPercent: 10 })).toBe(0.5);
    expect(rampFactor(25, { windowMs: 100, aggression: 2, minWeightPercent: 0 })).toBe(0.5);
    expect(rampFactor(1, { windowMs: 100, aggression: 1, minWeightPercent: 10 })).toBe(0.1);
    expect(rampFactor(-5, { windowMs: 100, aggression: 1, minWeightPercent: 0 })).toBe(0.001);
  });

  it("the policy is checked, naming the field", () => {
    expect(() => resolvePolicy({ slowStart: { windowMs: 0 } })).toThrow(
      "slowStart.windowMs: 0 is not allowed",
    );
    expect(() => resolvePolicy({ slowStart: { windowMs: 1000, aggression: 0 } })).toThrow(
      "slowStart.aggression: 0 is not allowed; expected a number greater than 0",
    );
    expect(() => resolvePolicy({ slowStart: { windowMs: 1000, minWeightPercent: 101 } })).toThrow(
      "slowStart.minWeightPercent: 101 is not allowed; expected a number from 0 to 100",
    );
    expect(resolvePolicy({ slowStart: { windowMs: 1000 } }).slowStart).toEqual({
      windowMs: 1000,
      aggression: 1,
      minWeightPercent: 10,
    });
  });
});

describe("slow start in the weighing strategies", () => {
  const cases: [StrategyName, number][] = [
    ["round-robin", 1],
    ["weighted-round-robin", 1],
    ["random", 1],
    ["weighted-random", 1],
    ["least-request", 1],
  ];

  it.each(cases)("%s: a newcomer's share follows the ramp", (strategy) => {
    let now = 0;
    const manager = new BalancerManager({ now: () => now, random: seededRandom(7) });
    const web = service(strategy, endpointsWithNewcomer(4, 0));
    const full = 1 / 4;
    for (const progress of [0.1, 0.5, 1]) {
      now = progress * WINDOW + 1;
      const weight = Math.max(0.1, progress);
      const expected = weight / (3 + weight);
      const share = shareOf(manager, web, "pod-3", 4000);
      expect(share, `${strategy} at ${progress}`).toBeGreaterThan(expected - 0.03);
      expect(share, `${strategy} at ${progress}`).toBeLessThan(expected + 0.03);
    }
    expect(shareOf(manager, web, "pod-3", 4000)).toBeCloseTo(full, 1);
  });

  it("least-connections weighs open connections by the ramped weight", () => {
    let now = WINDOW / 2 + 1;
    const manager = new BalancerManager({ now: () => now });
    const web = service("least-connections", endpointsWithNewcomer(2, 0));
    // At half weight the newcomer takes one connection for every two of the other.
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const id = manager.openConnection(web).endpoint.identity;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get("pod-1")).toBe(10);
    expect(counts.get("pod-0")).toBe(20);
    now = WINDOW;
    expect(manager.selectOne(web).endpoint.identity).toBe("pod-1");
  });

  it("answers carry the catalog's endpoint, not the ramped copy", () => {
    const manager = new BalancerManager({ now: () => WINDOW / 2 });
    const list = endpointsWithNewcomer(3, 0, 7);
    const web = service("weighted-round-robin", list);
    const answered = manager.select(web).endpoints;
    for (const e of answered) expect(list).toContain(e);
    const picks = Array.from({ length: 10 }, () => manager.selectOne(web).endpoint);
    for (const e of picks) expect(list).toContain(e);
  });

  it("an endpoint of unknown readiness time, or ready before the window, takes its full weight", () => {
    const manager = new BalancerManager({ now: () => 10 * WINDOW, random: seededRandom(7) });
    const web = service("weighted-random", endpointsWithNewcomer(4, 5 * WINDOW));
    expect(shareOf(manager, web, "pod-3", 4000)).toBeCloseTo(0.25, 1);
  });

  it("rebuilds once per step of the window, then not again once no endpoint ramps", () => {
    const web = service("weighted-round-robin", endpointsWithNewcomer(3, 0));
    // A request every 1/100 of the window for two windows: one picker per step (10), then
    // the final one without a ramp.
    expect(countBuilds(web)).toBe(RAMP_STEPS + 1);
  });
});

/** Picker builds over two windows of requests, counted through the strategy's build. */
function countBuilds(web: ServiceEndpoints): number {
  let now = 0;
  const manager = new BalancerManager({ now: () => now });
  const builds = new Set<unknown>();
  for (now = 0; now < 2 * WINDOW; now += WINDOW / 100) {
    manager.selectOne(web);
    const state = (
      manager as unknown as {
        states: { get(key: string): { pickers: Map<string, { healthy?: { picker: unknown } }> } };
      }
    ).states.get(web.key);
    builds.add(state.pickers.get(web.strategy as string)?.healthy?.picker);
  }
  return builds.size;
}

describe("slow start in the hash strategies: a new endpoint's share of the table grows in steps", () => {
  const KEYS = Array.from({ length: 20_000 }, (_, k) => `user-${k}`);

  function ownersAt(manager: BalancerManager, web: ServiceEndpoints): string[] {
    return KEYS.map((sessionKey) => manager.selectOne(web, { sessionKey }).endpoint.identity);
  }

  it.each(["ring-hash", "maglev"] as const)(
    "%s: keys moved per step stay within 1.5 x the ideal (the change of the newcomer's share)",
    (strategy) => {
      let now = 0;
      const manager = new BalancerManager({ now: () => now });
      const web = service(strategy, endpointsWithNewcomer(10, 0));
      let previous = ownersAt(manager, web);
      let previousShare = previous.filter((o) => o === "pod-9").length / KEYS.length;
      for (let step = 1; step <= RAMP_STEPS; step++) {
        now = (step * WINDOW) / RAMP_STEPS + 1;
        const owners = ownersAt(manager, web);
        const share = owners.filter((o) => o === "pod-9").length / KEYS.length;
        const moved = owners.filter((o, i) => o !== previous[i]).length / KEYS.length;
        const ideal = Math.abs(share - previousShare);
        // 0.002: the noise of 20,000 sampled keys.
        expect(moved, `step ${step}`).toBeLessThanOrEqual(1.5 * ideal + 0.002);
        expect(share, `step ${step}`).toBeGreaterThanOrEqual(previousShare);
        previous = owners;
        previousShare = share;
      }
      expect(previousShare).toBeGreaterThan(0.08);
      expect(previousShare).toBeLessThan(0.12);
    },
  );

  it("ring-hash: every key that moves during the ramp moves to the newcomer", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.double({ min: 0.2, max: 5, noNaN: true }),
        fc.integer({ min: 0, max: RAMP_STEPS - 1 }),
        (n, aggression, step) => {
          let now = 0;
          const manager = new BalancerManager({ now: () => now });
          const web = service("ring-hash", endpointsWithNewcomer(n, 0), {
            windowMs: WINDOW,
            aggression,
            minWeightPercent: 5,
          });
          const keys = KEYS.slice(0, 2000);
          now = (step * WINDOW) / RAMP_STEPS + 1;
          const before = keys.map((sessionKey) => manager.selectOne(web, { sessionKey }));
          now += WINDOW / RAMP_STEPS;
          const after = keys.map((sessionKey) => manager.selectOne(web, { sessionKey }));
          return after.every(
            (pick, i) =>
              pick.endpoint.identity === before[i]?.endpoint.identity ||
              pick.endpoint.identity === `pod-${n - 1}`,
          );
        },
      ),
      { numRuns: 25 },
    );
  });
});
