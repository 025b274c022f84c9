import { describe, expect, it } from "vitest";
import type { StrategyDefinition } from "../../src/balancer/definition.ts";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { BUILT_IN_STRATEGIES, StrategyRegistry } from "../../src/balancer/registry.ts";
import { Catalog, type CatalogEndpoint } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import { endpoint, service } from "../catalog/fixtures.ts";

/** The built-in strategies, each counting the pickers it builds. */
function countingRegistry(): { registry: StrategyRegistry; builds: () => number } {
  let builds = 0;
  const counted = BUILT_IN_STRATEGIES.map(
    (definition): StrategyDefinition => ({
      ...definition,
      build: (context) => {
        builds++;
        return definition.build(context);
      },
    }),
  );
  return { registry: new StrategyRegistry(counted), builds: () => builds };
}

function policy(strategy: ParsedPolicy["strategy"]): ParsedPolicy {
  return {
    name: "p",
    namespace: "shop",
    creationTimestamp: null,
    targetRef: { kind: "Service", name: "checkout" },
    strategy,
    weights: [],
    balancer: { ringHash: { virtualNodes: 100 } },
    healthCheck: null,
  };
}

function endpointsOf(count: number, unready: ReadonlySet<number> = new Set()): CatalogEndpoint[] {
  return Array.from({ length: count }, (_, i) =>
    endpoint(`checkout-${String(i).padStart(3, "0")}`, {
      address: `10.42.0.${i + 1}`,
      ready: !unready.has(i),
    }),
  );
}

describe("picker rebuilds", () => {
  it("happen when the catalog changes, never on a request", () => {
    const { registry, builds } = countingRegistry();
    const catalog = new Catalog();
    const discovery = new Discovery(catalog, new BalancerManager({ registry }));
    catalog.replaceAll([service("shop", "checkout", endpointsOf(50), policy("ring-hash"))]);
    const request = (strategy?: string, healthFilter?: boolean) =>
      discovery.decide({
        namespace: "shop",
        name: "checkout",
        kind: "pick",
        options: { sessionKey: "user-42", clientIp: "192.0.2.1", strategy, healthFilter },
      });
    // First use of each slot builds it: the policy's strategy, two others by request, and one
    // without the health filter.
    const slots = [
      () => request(),
      () => request("maglev"),
      () => request("round-robin"),
      () => request("ring-hash", false),
    ];
    for (const use of slots) use();
    expect(builds()).toBe(slots.length);

    const changes = [
      endpointsOf(51),
      endpointsOf(49),
      endpointsOf(49, new Set([3, 7])),
      endpointsOf(60, new Set([0])),
    ];
    for (const endpoints of changes) {
      const before = builds();
      catalog.upsert(service("shop", "checkout", endpoints, policy("ring-hash")));
      // Every slot in use was rebuilt by the change itself.
      expect(builds() - before).toBe(slots.length);
      const version = catalog.get("shop", "checkout")?.version;
      for (let round = 0; round < 3; round++) {
        for (const use of slots) {
          const atRequest = builds();
          const decision = use();
          expect(decision.entry.version).toBe(version);
          expect(builds() - atRequest, "builds on the request path").toBe(0);
        }
      }
    }
    discovery.close();
  });

  it("carry rotations over as a request-time rebuild did", () => {
    const catalog = new Catalog();
    const discovery = new Discovery(catalog, new BalancerManager());
    catalog.replaceAll([service("shop", "checkout", endpointsOf(4), policy("round-robin"))]);
    const pick = () =>
      discovery.decide({ namespace: "shop", name: "checkout", kind: "pick", options: {} }).result
        .endpoint.identity;
    expect([pick(), pick()]).toEqual(["checkout-000", "checkout-001"]);
    // A fifth endpoint: the rotation resumes where it was, built before the next request.
    catalog.upsert(service("shop", "checkout", endpointsOf(5), policy("round-robin")));
    expect([pick(), pick(), pick(), pick()]).toEqual([
      "checkout-002",
      "checkout-003",
      "checkout-004",
      "checkout-000",
    ]);
    discovery.close();
  });

  it("leave a version that cannot be built to the request, which reports it", () => {
    const { registry, builds } = countingRegistry();
    const catalog = new Catalog();
    const discovery = new Discovery(catalog, new BalancerManager({ registry }));
    catalog.replaceAll([service("shop", "checkout", endpointsOf(3), policy("ring-hash"))]);
    const request = () =>
      discovery.decide({
        namespace: "shop",
        name: "checkout",
        kind: "pick",
        options: { sessionKey: "k" },
      });
    request();
    catalog.upsert(service("shop", "checkout", [], policy("ring-hash")));
    expect(() => request()).toThrowError(/no endpoints/);
    const before = builds();
    catalog.upsert(service("shop", "checkout", endpointsOf(3), policy("ring-hash")));
    expect(builds() - before).toBe(1);
    request();
    expect(builds() - before).toBe(1);
    discovery.close();
  });

  it("take state a new leader imports at the import, not at the next request", () => {
    const { registry, builds } = countingRegistry();
    const catalog = new Catalog();
    const manager = new BalancerManager({ registry });
    const discovery = new Discovery(catalog, manager);
    catalog.replaceAll([service("shop", "checkout", endpointsOf(4), policy("round-robin"))]);
    const pick = (strategy?: string) =>
      discovery.decide({
        namespace: "shop",
        name: "checkout",
        kind: "pick",
        options: { strategy, sessionKey: "k" },
      }).result.endpoint.identity;
    expect(pick()).toBe("checkout-000");
    pick("ring-hash");
    const fingerprint = manager.exportState("shop/checkout")["ring-hash|healthy"];
    const before = builds();
    manager.importState("shop/checkout", {
      "round-robin|healthy": { cursor: "checkout-003" },
      // A table is a function of the endpoints: its fingerprint carries nothing to rebuild.
      "ring-hash|healthy": fingerprint ?? {},
    });
    expect(builds() - before).toBe(1);
    expect([pick(), pick()]).toEqual(["checkout-003", "checkout-000"]);
    pick("ring-hash");
    expect(builds() - before).toBe(1);
    discovery.close();
  });
});
