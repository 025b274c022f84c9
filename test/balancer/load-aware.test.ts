import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { build, countBy, endpoints } from "./fixtures.ts";

describe("least-connections", () => {
  it("picks the endpoint with the fewest connections", () => {
    const { picker, loads } = build("least-connections", endpoints(4));
    for (const [id, n] of [
      ["ep-0", 3],
      ["ep-1", 1],
      ["ep-2", 2],
      ["ep-3", 5],
    ] as const) {
      for (let i = 0; i < n; i++) loads.increment(id);
    }
    expect(picker.pick({}).identity).toBe("ep-1");
    loads.increment("ep-1");
    loads.increment("ep-1");
    expect(picker.pick({}).identity).toBe("ep-2"); // 3,3,2,5
    loads.decrement("ep-3");
    loads.decrement("ep-3");
    loads.decrement("ep-3");
    loads.decrement("ep-3");
    expect(picker.pick({}).identity).toBe("ep-3"); // 3,3,2,1
  });

  it("breaks ties by rotation, not always the first index", () => {
    const { picker } = build("least-connections", endpoints(3));
    const picks = Array.from({ length: 6 }, () => picker.pick({}).identity);
    expect(picks).toEqual(["ep-0", "ep-1", "ep-2", "ep-0", "ep-1", "ep-2"]);
  });

  it("weighs connections by weight (connections / weight)", () => {
    const { picker, loads } = build(
      "least-connections",
      endpoints(2, (i) => (i === 0 ? 4 : 1)),
    );
    for (let i = 0; i < 3; i++) loads.increment("ep-0"); // 3/4 < 1/1
    loads.increment("ep-1");
    expect(picker.pick({}).identity).toBe("ep-0");
  });

  it("agrees with a linear scan under random acquire/release", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 300 }),
        (n, operations) => {
          const { picker, loads } = build(
            "least-connections",
            endpoints(n, (i) => (i % 3) + 1),
          );
          for (const [acquire, which] of operations) {
            if (acquire) loads.increment(picker.pick({}).identity);
            else loads.decrement(picker.endpoints[which % n]?.identity ?? "");
            const best = Math.min(
              ...picker.endpoints.map((e) => loads.countOf(e.identity) / e.weight),
            );
            const chosen = picker.pick({});
            expect(loads.countOf(chosen.identity) / chosen.weight).toBe(best);
          }
        },
      ),
    );
  });

  it("starts from connection counts kept across a rebuild", () => {
    const first = build("least-connections", endpoints(3));
    first.loads.increment("ep-0");
    first.loads.increment("ep-1");
    const rebuilt = build("least-connections", endpoints(3), { loads: first.loads });
    expect(rebuilt.picker.pick({}).identity).toBe("ep-2");
  });
});

describe("least-request", () => {
  it("always draws two distinct endpoints (with two, the less loaded one always wins)", () => {
    const { picker, loads } = build("least-request", endpoints(2));
    for (let i = 0; i < 10; i++) loads.increment("ep-1");
    const picks = countBy(
      Array.from({ length: 2000 }, () => picker.pick({})),
      (e) => e.identity,
    );
    expect(picks.get("ep-1")).toBeUndefined();
  });

  it("never picks the most loaded of three", () => {
    const { picker, loads } = build("least-request", endpoints(3));
    for (let i = 0; i < 5; i++) loads.increment("ep-2");
    loads.increment("ep-1");
    const picks = countBy(
      Array.from({ length: 3000 }, () => picker.pick({})),
      (e) => e.identity,
    );
    expect(picks.get("ep-2")).toBeUndefined();
    // ep-0 wins whenever drawn: in 2 of the 3 pairs
    expect((picks.get("ep-0") ?? 0) / 3000).toBeCloseTo(2 / 3, 1);
  });

  it("follows the weights when loads are equal", () => {
    const { picker } = build(
      "least-request",
      endpoints(2, (i) => (i === 0 ? 3 : 1)),
      { seed: 9 },
    );
    const picks = countBy(
      Array.from({ length: 20_000 }, () => picker.pick({})),
      (e) => e.identity,
    );
    expect((picks.get("ep-0") ?? 0) / 20_000).toBeCloseTo(0.75, 1);
  });

  it("works with a single endpoint", () => {
    const { picker } = build("least-request", endpoints(1));
    expect(picker.pick({}).identity).toBe("ep-0");
    expect(picker.select({}, 0)).toHaveLength(1);
  });

  it("select orders by in-flight requests after the pick", () => {
    const { picker, loads } = build("least-request", endpoints(4));
    loads.increment("ep-0");
    loads.increment("ep-0");
    loads.increment("ep-3");
    const order = picker.select({}, 0).map((e) => e.identity);
    expect(new Set(order).size).toBe(4);
    expect(order.at(-1)).toBe("ep-0");
  });
});

describe("least-request under load", () => {
  it("keeps in-flight requests in proportion to weight", () => {
    const { picker, loads } = build(
      "least-request",
      endpoints(3, (i) => [1, 2, 3][i] as number),
      { seed: 4 },
    );
    const open: string[] = [];
    const served = new Map<string, number>();
    for (let i = 0; i < 30_000; i++) {
      const chosen = picker.pick({}).identity;
      served.set(chosen, (served.get(chosen) ?? 0) + 1);
      loads.increment(chosen);
      open.push(chosen);
      // Each request stays in flight for the next 60 picks.
      if (open.length > 60) loads.decrement(open.shift() as string);
    }
    expect((served.get("ep-0") ?? 0) / 30_000).toBeCloseTo(1 / 6, 1);
    expect((served.get("ep-2") ?? 0) / 30_000).toBeCloseTo(3 / 6, 1);
  });
});
