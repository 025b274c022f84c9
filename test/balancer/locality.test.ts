import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../src/balancer/endpoint.ts";
import {
  fromTrafficDistribution,
  keepShare,
  partitionTiers,
  planTiers,
} from "../../src/balancer/features/locality/index.ts";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { resolvePolicy } from "../../src/balancer/policy.ts";
import { seededRandom } from "../../src/balancer/random.ts";
import type { ServiceStates } from "../../src/balancer/service-state.ts";
import { endpoint } from "./fixtures.ts";

/** `count` endpoints per zone, `unhealthy` of them not ready; zones a, b in eu, c in us. */
function fleet(perZone: Record<string, { count: number; unhealthy?: number }>): Endpoint[] {
  const list: Endpoint[] = [];
  for (const [zone, { count, unhealthy = 0 }] of Object.entries(perZone)) {
    for (let i = 0; i < count; i++) {
      list.push(
        endpoint(`${zone}-${i}`, {
          address: `10.0.${zone.charCodeAt(0)}.${i}`,
          zone,
          region: zone === "c" ? "us" : "eu",
          node: `${zone}-node-${i % 2}`,
          ready: i >= unhealthy,
        }),
      );
    }
  }
  return list.sort((x, y) => (x.identity < y.identity ? -1 : 1));
}

function service(endpoints: Endpoint[], policy: Record<string, unknown>, version = 1) {
  return { key: "shop/cart", version, endpoints, policy, strategy: null } as ServiceEndpoints;
}

function zonesOf(manager: BalancerManager, svc: ServiceEndpoints, request: object, n: number) {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const zone = manager.selectOne(svc, { ...request, sessionKey: `k${i}` }).endpoint.zone ?? "";
    counts[zone] = (counts[zone] ?? 0) + 1;
  }
  return counts;
}

const GUARD = { overloadGuard: true, minLocalHealthyPercent: 0 };
const HEALTH = { healthFilter: true, panicThreshold: 0 };

describe("locality: tiers and failover", () => {
  it("sends a caller to its own zone while the zone is whole", () => {
    const manager = new BalancerManager({ random: seededRandom(1) });
    const svc = service(fleet({ a: { count: 3 }, b: { count: 3 }, c: { count: 3 } }), {
      locality: { mode: "PreferSameZone" },
    });
    expect(zonesOf(manager, svc, { clientZone: "b" }, 300)).toEqual({ b: 300 });
  });

  it("prefers the caller's node under PreferSameNode, then its zone", () => {
    const manager = new BalancerManager();
    const list = fleet({ a: { count: 4 }, b: { count: 4 } });
    const svc = service(list, { locality: { mode: "PreferSameNode" } });
    const nodes = new Set<string | null>();
    for (let i = 0; i < 50; i++) {
      nodes.add(manager.selectOne(svc, { clientNode: "a-node-1", clientZone: "a" }).endpoint.node);
    }
    expect([...nodes]).toEqual(["a-node-1"]);
    // An unknown node: the zone tier.
    expect(zonesOf(manager, svc, { clientNode: "elsewhere", clientZone: "a" }, 40)).toEqual({
      a: 40,
    });
  });

  it("fails over to the same region, then anywhere, when the zone has no healthy endpoint", () => {
    const manager = new BalancerManager({ random: seededRandom(2) });
    const list = fleet({ a: { count: 2, unhealthy: 2 }, b: { count: 2 }, c: { count: 2 } });
    const svc = service(list, { locality: { mode: "PreferSameZone" } });
    expect(zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 100)).toEqual({
      b: 100,
    });
    const noEu = fleet({
      a: { count: 2, unhealthy: 2 },
      b: { count: 2, unhealthy: 2 },
      c: { count: 2 },
    });
    expect(
      zonesOf(
        manager,
        service(noEu, { locality: { mode: "PreferSameZone" } }, 2),
        {
          clientZone: "a",
          clientRegion: "eu",
        },
        100,
      ),
    ).toEqual({ c: 100 });
  });

  it("applies the panic threshold per tier: a half-healthy zone is skipped at 60 %", () => {
    const manager = new BalancerManager({ random: seededRandom(3) });
    const list = fleet({ a: { count: 4, unhealthy: 2 }, b: { count: 4 } });
    const svc = service(list, {
      panicThreshold: 60,
      locality: { mode: "PreferSameZone", overloadGuard: false },
    });
    expect(zonesOf(manager, svc, { clientZone: "a" }, 50)).toEqual({ b: 50 });
    const tolerant = service(list, { panicThreshold: 40, locality: { overloadGuard: false } }, 2);
    expect(zonesOf(manager, tolerant, { clientZone: "a" }, 50)).toEqual({ a: 50 });
  });

  it("orders tiers by failoverPriority: region before zone", () => {
    const manager = new BalancerManager({ random: seededRandom(4) });
    const list = fleet({ a: { count: 2 }, b: { count: 2 }, c: { count: 2 } });
    const svc = service(list, {
      locality: { failoverPriority: ["topology.kubernetes.io/region"] },
    });
    const counts = zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 400);
    expect(Object.keys(counts).sort()).toEqual(["a", "b"]);
  });

  it("changes nothing without a caller locality, or with mode None", () => {
    const manager = new BalancerManager({ random: seededRandom(5) });
    const list = fleet({ a: { count: 2 }, b: { count: 2 } });
    const svc = service(list, { locality: { mode: "PreferSameZone" } });
    expect(Object.keys(zonesOf(manager, svc, {}, 200)).sort()).toEqual(["a", "b"]);
    const none = service(list, { locality: { mode: "None" } }, 2);
    expect(Object.keys(zonesOf(manager, none, { clientZone: "a" }, 200)).sort()).toEqual([
      "a",
      "b",
    ]);
  });

  it("keeps hashing consistent within a tier: the same key lands on the same endpoint", () => {
    for (const strategy of ["ring-hash", "maglev"]) {
      const manager = new BalancerManager();
      const list = fleet({ a: { count: 5 }, b: { count: 5 } });
      const svc = { ...service(list, { locality: {} }), strategy };
      for (let i = 0; i < 50; i++) {
        const first = manager.selectOne(svc, { clientZone: "a", sessionKey: `user-${i}` });
        const again = manager.selectOne(svc, { clientZone: "a", sessionKey: `user-${i}` });
        expect(first.endpoint.zone).toBe("a");
        expect(again.endpoint.identity).toBe(first.endpoint.identity);
      }
    }
  });

  it("keeps at most 256 tier pickers per service, however many callers' places it sees", () => {
    const manager = new BalancerManager();
    const list = Array.from({ length: 400 }, (_, i) =>
      endpoint(`e-${String(i).padStart(3, "0")}`, { node: `n-${i}`, zone: "a", region: "eu" }),
    );
    const svc = service(list, { locality: { mode: "PreferSameNode" } });
    for (let i = 0; i < 400; i++) {
      expect(manager.selectOne(svc, { clientNode: `n-${i}`, clientZone: "a" }).endpoint.node).toBe(
        `n-${i}`,
      );
    }
    // The engine's own state, read here only to count what it keeps.
    const states = (manager as unknown as { states: ServiceStates }).states;
    const tierSlots = [...(states.get("shop/cart")?.pickers.keys() ?? [])].filter((k) =>
      k.includes("@"),
    );
    expect(tierSlots.length).toBeGreaterThan(0);
    expect(tierSlots.length).toBeLessThanOrEqual(256);
  });

  it("composes with subsets: a tier of the subset", () => {
    const manager = new BalancerManager();
    const list = fleet({ a: { count: 4 }, b: { count: 4 } }).map((e) => ({
      ...e,
      labels: { version: Number(e.identity.slice(2)) % 2 === 0 ? "v1" : "v2" },
    }));
    const svc = service(list, {
      subsets: [{ name: "v1", selector: { matchLabels: { version: "v1" } } }],
      locality: {},
    });
    for (let i = 0; i < 20; i++) {
      const picked = manager.selectOne(svc, { clientZone: "b", subset: "v1" }).endpoint;
      expect(picked.zone).toBe("b");
      expect(picked.labels?.version).toBe("v1");
    }
  });
});

describe("locality: the overload guard", () => {
  it("spills a drowning zone's excess share, deterministically per key for hash strategies", () => {
    // Zone a kept 1 of 3 healthy endpoints: 1/7 of the healthy ones against a fair share of 1/3.
    const list = fleet({ a: { count: 3, unhealthy: 2 }, b: { count: 3 }, c: { count: 3 } });
    const plan = planTiers(list, { zone: "a", region: "eu" }, ["zone", "region"], GUARD, HEALTH);
    expect(plan?.keep).toBeCloseTo(3 / 7, 10);
    const manager = new BalancerManager();
    const svc = { ...service(list, { locality: {} }), strategy: "ring-hash" };
    const counts = zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 7000);
    expect((counts.a ?? 0) / 7000).toBeGreaterThan(0.4);
    expect((counts.a ?? 0) / 7000).toBeLessThan(0.46);
    // Spilled to the next tier, the same region: none to c.
    expect(counts.c).toBeUndefined();
    const again = zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 7000);
    expect(again).toEqual(counts);
  });

  it("takes the share of the callers in the tier as its fair share when the callers are known", () => {
    const list = fleet({ a: { count: 3 }, b: { count: 3 }, c: { count: 3 } });
    // 6 of 10 callers in zone a: a third of the endpoints cannot carry 60% of the load.
    const callers = fleet({ a: { count: 6 }, b: { count: 2 }, c: { count: 2 } });
    const plan = planTiers(list, { zone: "a" }, ["zone"], GUARD, HEALTH, callers);
    expect(plan?.keep).toBeCloseTo(1 / 3 / 0.6, 10);
    // Callers spread like the endpoints: all local.
    const even = fleet({ a: { count: 1 }, b: { count: 1 }, c: { count: 1 } });
    expect(planTiers(list, { zone: "a" }, ["zone"], GUARD, HEALTH, even)?.keep).toBe(1);
  });

  it("keeps everything local without the guard", () => {
    const list = fleet({ a: { count: 3, unhealthy: 2 }, b: { count: 3 } });
    const manager = new BalancerManager();
    const svc = service(list, { locality: { overloadGuard: false } });
    expect(zonesOf(manager, svc, { clientZone: "a" }, 200)).toEqual({ a: 200 });
  });

  it("raises the fair share to minLocalHealthyPercent", () => {
    const list = fleet({ a: { count: 2 }, b: { count: 6 } });
    const guard = { overloadGuard: true, minLocalHealthyPercent: 50 };
    expect(planTiers(list, { zone: "a" }, ["zone"], guard, HEALTH)?.keep).toBeCloseTo(0.5, 10);
    expect(planTiers(list, { zone: "a" }, ["zone"], GUARD, HEALTH)?.keep).toBe(1);
  });

  it("property: a tier never keeps more than its fair share of the whole load", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (localHealthy, otherHealthy, callerShare) => {
          const localShare = localHealthy / (localHealthy + otherHealthy);
          const keep = keepShare(localShare, callerShare);
          expect(keep).toBeGreaterThanOrEqual(0);
          expect(keep).toBeLessThanOrEqual(1);
          // The load the tier takes (its callers' share times what it keeps) stays within its
          // share of the healthy endpoints, unless it keeps everything because it has enough.
          if (keep < 1) expect(callerShare * keep).toBeLessThanOrEqual(localShare + 1e-12);
          else expect(localShare).toBeGreaterThanOrEqual(callerShare);
        },
      ),
    );
  });

  it("property: failover never skips a usable tier", () => {
    const zones = ["a", "b", "c"];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            zone: fc.constantFrom(...zones),
            ready: fc.boolean(),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 100 }),
        (specs, callerZone, panicThreshold) => {
          const list = specs.map((s, i) =>
            endpoint(`e-${String(i).padStart(2, "0")}`, {
              zone: s.zone,
              region: s.zone === "c" ? "us" : "eu",
              ready: s.ready,
            }),
          );
          const caller = { zone: callerZone, region: callerZone === "c" ? "us" : "eu" };
          const labels = ["zone", "region"] as const;
          const health = { healthFilter: true, panicThreshold };
          const plan = planTiers(list, caller, labels, GUARD, health);
          const tiers = partitionTiers(list, caller, labels, true);
          const usable = tiers.filter(
            (t) => t.healthy > 0 && t.healthy * 100 >= panicThreshold * t.endpoints.length,
          );
          if (plan === null) {
            // Nothing usable, or the first usable tier is the whole service.
            expect(usable.length === 0 || usable[0]?.endpoints.length === list.length).toBe(true);
          } else {
            expect(plan.local.name).toBe(usable[0]?.name);
            expect(plan.spill?.name ?? null).toBe(usable[1]?.name ?? null);
          }
        },
      ),
    );
  });
});

describe("locality: distribute", () => {
  const rule = { from: "eu/a", to: { "eu/a": 80, "eu/b": 20 } };

  it("shares a locality's requests by the rule's percents, per key for hash strategies", () => {
    const list = fleet({ a: { count: 3 }, b: { count: 3 }, c: { count: 3 } });
    const manager = new BalancerManager();
    const svc = { ...service(list, { locality: { distribute: [rule] } }), strategy: "maglev" };
    const counts = zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 5000);
    expect(Object.keys(counts).sort()).toEqual(["a", "b"]);
    expect((counts.a ?? 0) / 5000).toBeGreaterThan(0.77);
    expect((counts.a ?? 0) / 5000).toBeLessThan(0.83);
    expect(zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 5000)).toEqual(counts);
    // Callers the rule does not hold: the tiers.
    expect(zonesOf(manager, svc, { clientZone: "c", clientRegion: "us" }, 100)).toEqual({ c: 100 });
  });

  it("gives a destination without usable endpoints' share to the others", () => {
    const list = fleet({ a: { count: 3 }, b: { count: 3, unhealthy: 3 }, c: { count: 3 } });
    const manager = new BalancerManager({ random: seededRandom(9) });
    const svc = service(list, { locality: { distribute: [rule] } });
    expect(zonesOf(manager, svc, { clientZone: "a", clientRegion: "eu" }, 100)).toEqual({
      a: 100,
    });
  });

  it("names the bad field", () => {
    expect(() =>
      resolvePolicy({ locality: { distribute: [{ from: "eu/a", to: { "eu/a": 60 } }] } }),
    ).toThrow(/locality\.distribute\[0\]\.to: "percents adding up to 60" is not allowed/);
    expect(() => resolvePolicy({ locality: { distribute: [{ from: "eu//", to: {} }] } })).toThrow(
      /locality\.distribute\[0\]\.from: "eu\/\/"/,
    );
  });
});

describe("locality: settings", () => {
  it("names the bad field", () => {
    expect(() => resolvePolicy({ locality: { mode: "PreferSameRack" } })).toThrow(
      /locality\.mode: "PreferSameRack" is not allowed; expected one of PreferSameNode/,
    );
    expect(() => resolvePolicy({ locality: { failoverPriority: ["rack"] } })).toThrow(
      /locality\.failoverPriority\[0\]: "rack"/,
    );
    expect(() => resolvePolicy({ locality: { minLocalHealthyPercent: 101 } })).toThrow(
      /locality\.minLocalHealthyPercent: 101/,
    );
  });

  it("reads a Service's trafficDistribution as a mode", () => {
    expect(fromTrafficDistribution("PreferClose")).toEqual({ mode: "PreferSameZone" });
    expect(fromTrafficDistribution("PreferSameNode")).toEqual({ mode: "PreferSameNode" });
    expect(fromTrafficDistribution("Nearest")).toBeUndefined();
    expect(fromTrafficDistribution(null)).toBeUndefined();
  });
});
