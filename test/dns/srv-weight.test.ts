import { describe, expect, it } from "vitest";
import { MAX_WEIGHT, MIN_WEIGHT } from "../../src/balancer/endpoint.ts";
import { MAX_SRV_WEIGHT, scaleSrvWeights } from "../../src/dns/srv-weight.ts";

const weights = (list: readonly number[]) =>
  scaleSrvWeights(list.map((weight, priority) => ({ priority, weight }))).map((r) => r.weight);

/** How HAProxy reads an SRV weight (resolvers.c): w / 256 + 1. */
const haproxyWeight = (srvWeight: number) => Math.floor(srvWeight / 256) + 1;

describe("SRV weights", () => {
  it("scales the largest weight to 65535 and keeps the ratios", () => {
    expect(weights([1, 3, 1])).toEqual([21845, 65535, 21845]);
    expect(weights([5, 1, 1])).toEqual([65535, 13107, 13107]);
    expect(weights([2, 2])).toEqual([65535, 65535]);
  });

  it("keeps the priorities and the order", () => {
    expect(
      scaleSrvWeights([
        { priority: 1, weight: 1 },
        { priority: 0, weight: 2 },
      ]),
    ).toEqual([
      { priority: 1, weight: 32768 },
      { priority: 0, weight: 65535 },
    ]);
    expect(scaleSrvWeights([])).toEqual([]);
  });

  it("stays within 1..65535 over the whole endpoint weight range", () => {
    const scaled = weights([MIN_WEIGHT, MAX_WEIGHT]);
    expect(scaled).toEqual([66, MAX_SRV_WEIGHT]);
    expect((scaled[0] as number) / (scaled[1] as number)).toBeCloseTo(MIN_WEIGHT / MAX_WEIGHT, 3);
  });

  it("survives HAProxy's w / 256 + 1 with the 1:3:1 ratio about intact", () => {
    const read = weights([1, 3, 1]).map(haproxyWeight);
    expect(read).toEqual([86, 256, 86]);
    // Unscaled, 1/3/1 all read as 1.
    expect([1, 3, 1].map(haproxyWeight)).toEqual([1, 1, 1]);
  });
});
