import { describe, expect, it } from "vitest";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { Catalog } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { endpoint, service } from "../catalog/fixtures.ts";

function world() {
  const catalog = new Catalog();
  const manager = new BalancerManager();
  const metrics = new Metrics(catalog, manager);
  const discovery = new Discovery(catalog, manager, { metrics });
  catalog.replaceAll(
    ["web", "api"].map((name) =>
      service(
        "shop",
        name,
        [1, 2, 3].map((i) => endpoint(`${name}-${i}`, { address: `10.0.0.${i}` })),
      ),
    ),
  );
  return { catalog, discovery, metrics };
}

describe("Discovery.decide", () => {
  it("decides on the entry a caller found as on the name: one rotation, one picker", () => {
    const { discovery } = world();
    const entry = discovery.find("shop", "web");
    const picked = Array.from({ length: 6 }, (_, i) =>
      discovery.decide({
        namespace: "shop",
        name: "web",
        entry: i % 2 === 0 ? entry : undefined,
        kind: "pick",
        options: { strategy: "round-robin" },
      }),
    ).map((decision) => decision.result.endpoint.identity);
    // Alternating between the two ways, the rotation still goes round once per three picks.
    expect(picked.slice(0, 3).sort()).toEqual(["web-1", "web-2", "web-3"]);
    expect(picked.slice(3)).toEqual(picked.slice(0, 3));
  });

  it("counts each service's decisions under its own label, found either way", async () => {
    const { discovery, metrics } = world();
    const web = discovery.find("shop", "web");
    for (let i = 0; i < 3; i++) {
      discovery.decide({ namespace: "shop", name: "web", entry: web, kind: "pick", options: {} });
    }
    discovery.decide({ namespace: "shop", name: "api", kind: "pick", options: {} });
    expect(() =>
      discovery.decide({ namespace: "shop", name: "gone", kind: "pick", options: {} }),
    ).toThrow(/shop\/gone/);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'konsul_lb_selections_total{service="shop/web",strategy="round-robin",result="ok"} 3',
    );
    expect(text).toContain(
      'konsul_lb_selections_total{service="shop/api",strategy="round-robin",result="ok"} 1',
    );
    expect(text).toContain(
      'konsul_lb_selections_total{service="",strategy="",result="ServiceNotFound"} 1',
    );
  });
});
