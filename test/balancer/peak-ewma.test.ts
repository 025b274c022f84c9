import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { resolvePolicy } from "../../src/balancer/policy.ts";
import { LatencyTracker } from "../../src/balancer/strategies/least-request/peak-ewma.ts";
import { build, countBy, endpoints } from "./fixtures.ts";

describe("peak-EWMA latency", () => {
  it("jumps to a peak at once and decays towards lower samples with the time constant", () => {
    let now = 0;
    const tracker = new LatencyTracker(() => now);
    tracker.observe("a", 10, 1000);
    expect(tracker.estimate("a", 1000)).toBe(10);
    tracker.observe("a", 100, 1000); // a peak: taken as it is
    expect(tracker.estimate("a", 1000)).toBe(100);
    now = 1000; // one time constant later, a sample of 10 weighs 1 - 1/e
    tracker.observe("a", 10, 1000);
    expect(tracker.estimate("a", 1000)).toBeCloseTo(100 / Math.E + 10 * (1 - 1 / Math.E), 9);
  });

  it("decays an estimate that hears nothing towards zero, so the endpoint is tried again", () => {
    let now = 0;
    const tracker = new LatencyTracker(() => now);
    tracker.observe("a", 200, 500);
    now = 500;
    expect(tracker.estimate("a", 500)).toBeCloseTo(200 / Math.E, 9);
    now = 10_000;
    expect(tracker.estimate("a", 500)).toBeLessThan(0.001);
    expect(tracker.estimate("never-measured", 500)).toBe(0);
  });

  it("keeps estimates only for the endpoints it is told to retain", () => {
    const tracker = new LatencyTracker(() => 0);
    tracker.observe("a", 1, 10);
    tracker.observe("b", 1, 10);
    tracker.retain(new Set(["b"]));
    expect(tracker.size).toBe(1);
    expect(tracker.estimate("a", 10)).toBe(0);
  });

  it("never goes below the lowest sample nor above the highest while samples come", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 1000 })), {
          minLength: 1,
          maxLength: 100,
        }),
        fc.integer({ min: 1, max: 100_000 }),
        (samples, decay) => {
          let now = 0;
          const tracker = new LatencyTracker(() => now);
          for (const [latency, step] of samples) {
            now += step;
            tracker.observe("a", latency, decay);
            const estimate = tracker.estimate("a", decay);
            expect(estimate).toBeGreaterThanOrEqual(latency - 1e-9);
            expect(estimate).toBeLessThanOrEqual(Math.max(...samples.map(([l]) => l)) + 1e-9);
          }
        },
      ),
    );
  });
});

describe("least-request with cost: peak-ewma", () => {
  it("is off by default; the option resolves with its decay", () => {
    expect(resolvePolicy(undefined).leastRequest).toEqual({ cost: "in-flight", decayMs: 10_000 });
    expect(() => resolvePolicy({ leastRequest: { cost: "fastest" } })).toThrow(
      'leastRequest.cost: "fastest" is not allowed; expected in-flight or peak-ewma',
    );
  });

  it("sends less to the endpoint clients report as slow", () => {
    const now = 1_000_000;
    const manager = new BalancerManager({ now: () => now });
    const service = {
      key: "shop/web",
      version: 1,
      endpoints: endpoints(4),
      policy: { leastRequest: { cost: "peak-ewma" as const, decayMs: 10_000 } },
      strategy: "least-request",
    };
    manager.recordOutcomes(
      service,
      endpoints(4).map((e) => ({
        identity: e.identity,
        result: "success" as const,
        latencyMs: e.identity === "ep-2" ? 500 : 10,
      })),
    );
    const picks = Array.from({ length: 4000 }, () => manager.selectOne(service).endpoint);
    const counts = countBy(picks, (e) => e.identity);
    // P2C: the slow one wins only when drawn against itself, which distinct draws never do.
    expect(counts.get("ep-2") ?? 0).toBe(0);
    for (const id of ["ep-0", "ep-1", "ep-3"]) expect(counts.get(id)).toBeGreaterThan(1000);
    // Best first: the slow one last.
    expect(manager.select(service).endpoints.at(-1)?.identity).toBe("ep-2");
  });

  it("weighs latency by in-flight requests: a fast endpoint that is busy loses to a free one", () => {
    const latencies = new LatencyTracker(() => 0);
    latencies.observe("ep-0", 10, 10_000);
    latencies.observe("ep-1", 30, 10_000);
    const { picker, loads } = build("least-request", endpoints(2), {
      policy: { leastRequest: { cost: "peak-ewma" } },
      latencies,
    });
    expect(picker.pick({}).identity).toBe("ep-0");
    loads.increment("ep-0");
    loads.increment("ep-0"); // 10 x (2 + 1) = 30: a tie with 30 x 1, in-flight decides
    expect(picker.pick({}).identity).toBe("ep-1");
    loads.increment("ep-0"); // 10 x 4 = 40 > 30
    expect(picker.pick({}).identity).toBe("ep-1");
    loads.increment("ep-1"); // 30 x 2 = 60 > 40
    expect(picker.pick({}).identity).toBe("ep-0");
  });

  it("without any latency known, decides on in-flight requests as cost in-flight does", () => {
    const { picker, loads } = build("least-request", endpoints(2), {
      policy: { leastRequest: { cost: "peak-ewma" } },
      latencies: new LatencyTracker(() => 0),
    });
    loads.increment("ep-0");
    expect(picker.pick({}).identity).toBe("ep-1");
  });
});
