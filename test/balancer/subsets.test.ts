import { describe, expect, it } from "vitest";
import { BalancerError } from "../../src/balancer/errors.ts";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { resolvePolicy } from "../../src/balancer/policy.ts";
import { endpoint } from "./fixtures.ts";

const versions = ["v1", "v1", "v1", "v2", "v2", "canary"];
const list = versions.map((version, i) =>
  endpoint(`pod-${i}`, { address: `10.0.0.${i + 1}`, labels: { app: "shop", version } }),
);

function service(policy: ServiceEndpoints["policy"], version = 1): ServiceEndpoints {
  return { key: "shop/web", version, endpoints: list, policy, strategy: "round-robin" };
}

const subsets = [
  { name: "stable", selector: { matchLabels: { version: "v1" } } },
  {
    name: "next",
    selector: { matchExpressions: [{ key: "version", operator: "In" as const, values: ["v2"] }] },
  },
  {
    name: "not-canary",
    selector: {
      matchExpressions: [{ key: "version", operator: "NotIn" as const, values: ["canary"] }],
    },
  },
  { name: "nobody", selector: { matchLabels: { version: "v9" } } },
];

describe("subsets", () => {
  it("a request's subset is balanced over the subset's endpoints alone", () => {
    const manager = new BalancerManager();
    const web = service({ subsets });
    const seen = (subset?: string) =>
      new Set(
        Array.from({ length: 12 }, () => manager.selectOne(web, { subset }).endpoint.identity),
      );
    expect([...seen("stable")].sort()).toEqual(["pod-0", "pod-1", "pod-2"]);
    expect([...seen("next")].sort()).toEqual(["pod-3", "pod-4"]);
    expect([...seen("not-canary")].sort()).toEqual(["pod-0", "pod-1", "pod-2", "pod-3", "pod-4"]);
    expect(seen(undefined).size).toBe(6);
    expect(
      manager
        .select(web, { subset: "next" })
        .endpoints.map((e) => e.identity)
        .sort(),
    ).toEqual(["pod-3", "pod-4"]);
  });

  it("each subset keeps its own rotation, cached until the service's version changes", () => {
    const manager = new BalancerManager();
    const web = service({ subsets });
    const order = Array.from(
      { length: 6 },
      (_, i) => manager.selectOne(web, { subset: i % 2 ? "stable" : "next" }).endpoint.identity,
    );
    // Interleaved requests do not disturb each other's round robin.
    expect(order).toEqual(["pod-3", "pod-0", "pod-4", "pod-1", "pod-3", "pod-2"]);
    const whole = manager.selectOne(web).endpoint.identity;
    expect(whole).toBe("pod-0");
  });

  it("defaultSubset applies to requests that name none", () => {
    const manager = new BalancerManager();
    const web = service({ subsets, defaultSubset: "next" });
    const picked = new Set(
      Array.from({ length: 6 }, () => manager.selectOne(web).endpoint.identity),
    );
    expect([...picked].sort()).toEqual(["pod-3", "pod-4"]);
  });

  it("an unknown subset is UnknownSubset listing the names", () => {
    const manager = new BalancerManager();
    const call = () => manager.selectOne(service({ subsets }), { subset: "beta" });
    expect(call).toThrow(BalancerError);
    expect(call).toThrow(
      'subset "beta" is not defined by the service\'s policy; use one of stable, next, not-canary, nobody',
    );
    expect(() => manager.selectOne(service({}, 2), { subset: "beta" })).toThrow(
      "it defines no subsets",
    );
    try {
      call();
    } catch (error) {
      expect((error as BalancerError).code).toBe("UnknownSubset");
    }
  });

  it("a subset that selects nothing has no endpoints", () => {
    const manager = new BalancerManager();
    expect(() => manager.selectOne(service({ subsets }), { subset: "nobody" })).toThrow(
      "subset nobody of service shop/web has no endpoints",
    );
  });

  it("hash strategies build one table per subset: a key stays within its subset", () => {
    const manager = new BalancerManager();
    const web: ServiceEndpoints = { ...service({ subsets }), strategy: "ring-hash" };
    for (let k = 0; k < 50; k++) {
      const sessionKey = `user-${k}`;
      const inNext = manager.selectOne(web, { subset: "next", sessionKey }).endpoint.identity;
      expect(["pod-3", "pod-4"]).toContain(inNext);
      expect(manager.selectOne(web, { subset: "next", sessionKey }).endpoint.identity).toBe(inNext);
    }
  });

  it("subsets share the service's connection counts (least-connections)", () => {
    const manager = new BalancerManager();
    const web = service({ subsets });
    // Round robin over the whole service: one connection each on pod-0 to pod-3.
    for (let i = 0; i < 4; i++) manager.openConnection(web, { strategy: "round-robin" });
    expect(manager.connectionCounts("shop/web").get("pod-3")).toBe(1);
    // The subset sees them: pod-4, with none, is its least loaded member.
    const pick = manager.selectOne(web, { subset: "next", strategy: "least-connections" });
    expect(pick.endpoint.identity).toBe("pod-4");
  });

  it("the policy is checked: names are DNS labels, unique; defaultSubset names one", () => {
    expect(() => resolvePolicy({ subsets: [{ name: "A", selector: {} }] })).toThrow(
      'subsets[0].name: "A" is not allowed',
    );
    expect(() =>
      resolvePolicy({
        subsets: [
          { name: "a", selector: {} },
          { name: "a", selector: {} },
        ],
      }),
    ).toThrow('subsets[1].name: "a" is not allowed; expected a name no other subset has');
    expect(() => resolvePolicy({ subsets, defaultSubset: "zzz" })).toThrow(
      'defaultSubset: "zzz" is not allowed; expected one of stable, next, not-canary, nobody',
    );
  });

  it("subset slots are not replicated as the service's own state", () => {
    const manager = new BalancerManager();
    const web = service({ subsets });
    manager.selectOne(web, { subset: "stable" });
    manager.selectOne(web);
    expect(Object.keys(manager.exportState("shop/web"))).toEqual(["round-robin|healthy"]);
  });
});
