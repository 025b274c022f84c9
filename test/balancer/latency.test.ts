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
