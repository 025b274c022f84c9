import { describe, expect, it } from "vitest";
import { build, countBy, endpoint } from "./fixtures.ts";

const list = [
  endpoint("east-a", { region: "us-east" }),
  endpoint("east-b", { region: "us-east", weight: 3 }),
  endpoint("west-a", { region: "eu-west" }),
  endpoint("asia-a", { region: "ap-south" }),
  endpoint("nowhere", { region: null }),
];
const policy = {
  latency: {
    map: {
      "us-east": { "us-east": 1, "eu-west": 80, "ap-south": 200 },
      "eu-west": { "us-east": 80, "eu-west": 2, "ap-south": 120 },
    },
  },
};

describe("latency-based", () => {
  it("sends a client to its lowest-latency region, weighted within it", () => {
    const { picker } = build("latency-based", list, { policy });
    const picks = countBy(
      Array.from({ length: 8000 }, () => picker.pick({ clientRegion: "us-east" })),
      (e) => e.identity,
    );
    expect([...picks.keys()].sort()).toEqual(["east-a", "east-b"]);
    expect((picks.get("east-b") ?? 0) / 8000).toBeCloseTo(0.75, 1);
    expect(picker.pick({ clientRegion: "eu-west" }).identity).toBe("west-a");
  });

  it("select orders by latency tier, unknown regions last", () => {
    const { picker } = build("latency-based", list, { policy });
    const order = picker.select({ clientRegion: "eu-west" }, 0).map((e) => e.identity);
    expect(order[0]).toBe("west-a");
    expect(order.slice(1, 3).sort()).toEqual(["east-a", "east-b"]);
    expect(order.slice(3)).toEqual(["asia-a", "nowhere"]);
    expect(picker.select({ clientRegion: "eu-west" }, 2)).toHaveLength(2);
  });

  it("falls back to a random choice over all endpoints when the client region is unknown", () => {
    const { picker } = build("latency-based", list, { policy });
    for (const clientRegion of [undefined, "", "mars"]) {
      const picks = countBy(
        Array.from({ length: 3000 }, () => picker.pick({ clientRegion })),
        (e) => e.identity,
      );
      expect(picks.size).toBe(list.length);
    }
  });

  it("falls back to random when no endpoint region has a known latency", () => {
    const unknown = [endpoint("a", { region: "x" }), endpoint("b", { region: null })];
    const { picker } = build("latency-based", unknown, { policy });
    const picks = countBy(
      Array.from({ length: 1000 }, () => picker.pick({ clientRegion: "us-east" })),
      (e) => e.identity,
    );
    expect(picks.size).toBe(2);
  });

  it("takes a pluggable latency function", async () => {
    const { BalancerManager } = await import("../../src/balancer/manager.ts");
    const manager = new BalancerManager({
      latency: () => (_from, to) => (to === "ap-south" ? 1 : 500),
    });
    const service = { key: "s", version: 1, endpoints: list, strategy: "latency-based" };
    expect(manager.selectOne(service, { clientRegion: "us-east" }).endpoint.identity).toBe(
      "asia-a",
    );
  });
});

describe("the view from a client region", async () => {
  const { nearestFirst, tiersOf, drawNearest } = await import(
    "../../src/balancer/strategies/latency-based/nearest-first.ts"
  );
  const { latencyFromMap } = await import("../../src/balancer/strategies/latency-based/tiers.ts");
  const fleet = [
    endpoint("west-1", { region: "eu-west", weight: 2 }),
    endpoint("east-1", { region: "us-east" }),
    endpoint("asia-1", { region: "ap-south" }),
    endpoint("east-2", { region: "us-east", weight: 6 }),
    endpoint("west-2", { region: "eu-west" }),
    endpoint("nowhere", { region: null }),
  ];
  const latency = latencyFromMap(policy.latency.map);

  it("lists the tiers nearest first, in endpoint order within a tier, unknown last", () => {
    const view = nearestFirst(fleet, "us-east", latency);
    expect(view).not.toBeNull();
    const tiers = tiersOf(view ?? [], fleet).map((tier) => tier.map((e) => e.identity));
    expect(tiers).toEqual([["east-1", "east-2"], ["west-1", "west-2"], ["asia-1"], ["nowhere"]]);
  });

  it("draws from the nearest tier alone, by weight", () => {
    const view = nearestFirst(fleet, "us-east", latency) ?? [];
    let k = 0;
    // Every number k / 7000 once: each endpoint's exact share of the draw, weights 1 and 6.
    const sweep = { next: () => (k++ % 7000) / 7000 };
    const picks = countBy(
      Array.from({ length: 7000 }, () => drawNearest(view, fleet, sweep)),
      (e) => e.identity,
    );
    expect(Object.fromEntries(picks)).toEqual({ "east-1": 1000, "east-2": 6000 });
  });

  it("is null for a region from which no latency is known", () => {
    expect(nearestFirst(fleet, "mars", latency)).toBeNull();
  });
});
