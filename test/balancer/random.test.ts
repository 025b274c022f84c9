import { describe, expect, it } from "vitest";
import { build, chiSquare, countBy, endpoints } from "./fixtures.ts";

describe("random", () => {
  it("is uniform (chi-square, fixed seed, 20 endpoints x 100,000 picks)", () => {
    const { picker } = build("random", endpoints(20), { seed: 7 });
    const counts = countBy(
      Array.from({ length: 100_000 }, () => picker.pick({})),
      (e) => e.identity,
    );
    const observed = picker.endpoints.map((e) => counts.get(e.identity) ?? 0);
    const { statistic, critical } = chiSquare(
      observed,
      observed.map(() => 1 / 20),
    );
    expect(statistic).toBeLessThan(critical);
  });

  it("is repeatable with the same seed", () => {
    const a = build("random", endpoints(50), { seed: 3 }).picker;
    const b = build("random", endpoints(50), { seed: 3 }).picker;
    const seqA = Array.from({ length: 100 }, () => a.pick({}).identity);
    const seqB = Array.from({ length: 100 }, () => b.pick({}).identity);
    expect(seqA).toEqual(seqB);
    expect(new Set(seqA).size).toBeGreaterThan(30);
  });

  it("select returns distinct endpoints up to the limit", () => {
    const { picker } = build("random", endpoints(10));
    const all = picker.select({}, 0);
    expect(new Set(all).size).toBe(10);
    expect(picker.select({}, 3)).toHaveLength(3);
    expect(picker.select({}, 30)).toHaveLength(10);
  });
});

describe("weighted-random", () => {
  it("follows the weights (chi-square, fixed seed)", () => {
    const weights = [1, 2, 3, 4, 10, 30, 50, 100];
    const { picker } = build(
      "weighted-random",
      endpoints(weights.length, (i) => weights[i] as number),
      { seed: 11 },
    );
    const counts = countBy(
      Array.from({ length: 200_000 }, () => picker.pick({})),
      (e) => e.identity,
    );
    const total = weights.reduce((a, b) => a + b, 0);
    const observed = picker.endpoints.map((e) => counts.get(e.identity) ?? 0);
    const { statistic, critical } = chiSquare(
      observed,
      picker.endpoints.map((e) => e.weight / total),
    );
    expect(statistic).toBeLessThan(critical);
  });

  it("select puts heavier endpoints first more often", () => {
    const { picker } = build(
      "weighted-random",
      endpoints(2, (i) => (i === 0 ? 9 : 1)),
      { seed: 5 },
    );
    const leaders = countBy(
      Array.from({ length: 10_000 }, () => picker.select({}, 0)[0]),
      (e) => e?.identity ?? "",
    );
    // P(heavier first) = 9/10 for Efraimidis-Spirakis
    expect((leaders.get("ep-0") ?? 0) / 10_000).toBeCloseTo(0.9, 1);
  });
});
