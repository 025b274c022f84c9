import { describe, expect, it } from "vitest";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { CallerLocalityIndex } from "../../src/catalog/caller-locality.ts";
import { Catalog, type CatalogEndpoint } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import { translateSnapshot } from "../../src/sources/translate.ts";
import { endpoint, service } from "../catalog/fixtures.ts";

const ZONES = ["eu-1a", "eu-1b"];

/** Two pods per zone of a backend, one node per zone. */
function backends(): CatalogEndpoint[] {
  return ZONES.flatMap((zone, z) =>
    [0, 1].map((i) =>
      endpoint(`cart-${zone}-${i}`, {
        address: `10.1.${z}.${i + 1}`,
        zone,
        region: "eu",
        node: `node-${zone}`,
      }),
    ),
  );
}

/** The frontend pods that call the backend: one per zone. */
function callers(): CatalogEndpoint[] {
  return ZONES.map((zone, z) =>
    endpoint(`web-${zone}`, { address: `10.2.${z}.1`, zone, region: "eu", node: `node-${zone}` }),
  );
}

function localityPolicy(): ParsedPolicy {
  return {
    name: "cart",
    namespace: "shop",
    creationTimestamp: null,
    targetRef: { kind: "Service", name: "cart" },
    strategy: "round-robin",
    weights: [],
    balancer: { locality: { mode: "PreferSameZone" } },
    healthCheck: null,
  };
}

function zonesPicked(discovery: Discovery, options: object, n = 20): string[] {
  const zones = new Set<string>();
  for (let i = 0; i < n; i++) {
    const decision = discovery.decide({ namespace: "shop", name: "cart", kind: "pick", options });
    zones.add(decision.result.endpoint.zone ?? "");
  }
  return [...zones].sort();
}

describe("caller locality from the client address", () => {
  it("indexes every endpoint's address and follows the catalog's changes", () => {
    const catalog = new Catalog();
    catalog.replaceAll([service("shop", "web", callers()), service("shop", "cart", backends())]);
    const index = new CallerLocalityIndex(catalog);
    expect(index.locate("10.2.1.1")).toEqual({
      locality: { node: "node-eu-1b", zone: "eu-1b", region: "eu" },
      service: "shop/web",
      services: 1,
    });
    expect(index.size).toBe(6);
    catalog.remove("shop", "web");
    expect(index.locate("10.2.1.1")).toBeUndefined();
    expect(index.size).toBe(4);
    index.close();
  });

  it("keeps an address listed by two services until the last one drops it", () => {
    const catalog = new Catalog();
    const pod = endpoint("both", { address: "10.9.9.9", zone: "z", region: "r", node: "n" });
    catalog.replaceAll([service("a", "one", [pod]), service("a", "two", [pod])]);
    const index = new CallerLocalityIndex(catalog);
    catalog.remove("a", "one");
    expect(index.locate("10.9.9.9")?.locality.zone).toBe("z");
    catalog.remove("a", "two");
    expect(index.locate("10.9.9.9")).toBeUndefined();
  });

  it("updates only what a change of a Service touches", () => {
    const catalog = new Catalog();
    catalog.replaceAll([service("shop", "cart", backends())]);
    const index = new CallerLocalityIndex(catalog);
    const kept = index.locate("10.1.0.1");
    // A readiness flip of another pod: nothing of 10.1.0.1 changes, so its entry is the same.
    const flipped = backends().map((e) => (e.address === "10.1.0.2" ? { ...e, ready: false } : e));
    catalog.upsert(service("shop", "cart", flipped));
    expect(index.locate("10.1.0.1")).toBe(kept);
    // A pod moved to another node at the same address: its place follows.
    const moved = backends().map((e) =>
      e.address === "10.1.0.1" ? { ...e, node: "node-x", zone: "eu-1b" } : e,
    );
    catalog.upsert(service("shop", "cart", moved));
    expect(index.locate("10.1.0.1")).toEqual({
      locality: { node: "node-x", zone: "eu-1b", region: "eu" },
      service: "shop/cart",
      services: 1,
    });
    // A pod gone, another come: the index holds exactly the Service's addresses.
    const replaced = backends().map((e) =>
      e.address === "10.1.1.2" ? { ...e, address: "10.1.1.3" } : e,
    );
    catalog.upsert(service("shop", "cart", replaced));
    expect(index.locate("10.1.1.2")).toBeUndefined();
    expect(index.locate("10.1.1.3")?.locality.zone).toBe("eu-1b");
    expect(index.size).toBe(4);
    index.close();
  });

  it("frees the room of addresses a Service drops before it adds new ones, at the limit", () => {
    const catalog = new Catalog();
    catalog.replaceAll([service("shop", "cart", backends())]);
    const index = new CallerLocalityIndex(catalog, 4);
    const replaced = backends().map((e) =>
      e.address === "10.1.1.2" ? { ...e, address: "10.1.1.3" } : e,
    );
    catalog.upsert(service("shop", "cart", replaced));
    expect(index.size).toBe(4);
    expect(index.locate("10.1.1.3")).toBeDefined();
    index.close();
  });

  it("indexes an address refused for want of room at the Service's next change, even a readiness flip", () => {
    const catalog = new Catalog();
    const other = endpoint("other", { address: "10.5.0.1", zone: "z", region: "r", node: "n" });
    catalog.replaceAll([service("shop", "a", [other]), service("shop", "cart", backends())]);
    const index = new CallerLocalityIndex(catalog, 4);
    expect(index.size).toBe(4);
    catalog.remove("shop", "a");
    expect(index.size).toBe(3);
    const flipped = backends().map((e) => (e.address === "10.1.0.1" ? { ...e, ready: false } : e));
    catalog.upsert(service("shop", "cart", flipped));
    expect(index.size).toBe(4);
    index.close();
  });

  it("holds at most its limit of addresses", () => {
    const catalog = new Catalog();
    catalog.replaceAll([service("shop", "cart", backends())]);
    const index = new CallerLocalityIndex(catalog, 3);
    expect(index.size).toBe(3);
    expect(index.locate("10.1.1.2")).toBeUndefined();
  });

  it("sends a pod's requests to its own zone without any parameter", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      service("shop", "web", callers()),
      service("shop", "cart", backends(), localityPolicy()),
    ]);
    const discovery = new Discovery(catalog, new BalancerManager());
    expect(zonesPicked(discovery, { clientIp: "10.2.0.1" })).toEqual(["eu-1a"]);
    expect(zonesPicked(discovery, { clientIp: "::ffff:10.2.1.1" })).toEqual(["eu-1b"]);
    // A parameter overrides the address.
    expect(zonesPicked(discovery, { clientIp: "10.2.0.1", clientZone: "eu-1b" })).toEqual([
      "eu-1b",
    ]);
    // A caller that backs no service is unknown: no preference.
    expect(zonesPicked(discovery, { clientIp: "192.0.2.7" })).toEqual(ZONES);
    discovery.close();
  });

  it("spills when the caller's own Service has more of its pods in the zone than the backend", () => {
    const catalog = new Catalog();
    // Three of the four web pods in eu-1a; the backend has half of its pods there.
    const web = [0, 1, 2, 3].map((i) =>
      endpoint(`web-${i}`, {
        address: `10.3.0.${i + 1}`,
        zone: i < 3 ? "eu-1a" : "eu-1b",
        region: "eu",
        node: i < 3 ? "node-eu-1a" : "node-eu-1b",
      }),
    );
    catalog.replaceAll([
      service("shop", "web", web),
      service("shop", "cart", backends(), localityPolicy()),
    ]);
    const discovery = new Discovery(catalog, new BalancerManager());
    let local = 0;
    const picks = 3000;
    for (let i = 0; i < picks; i++) {
      const decision = discovery.decide({
        namespace: "shop",
        name: "cart",
        kind: "pick",
        options: { clientIp: "10.3.0.1" },
      });
      if (decision.result.endpoint.zone === "eu-1a") local++;
    }
    // Keeps 0.5 / 0.75 = 2/3 of its requests in eu-1a.
    expect(local / picks).toBeGreaterThan(0.62);
    expect(local / picks).toBeLessThan(0.71);
    discovery.close();
  });

  it("honours the Service's trafficDistribution when no policy sets a locality", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      service("shop", "web", callers()),
      { ...service("shop", "cart", backends()), trafficDistribution: "PreferClose" },
    ]);
    const discovery = new Discovery(catalog, new BalancerManager());
    expect(zonesPicked(discovery, { clientIp: "10.2.1.1" })).toEqual(["eu-1b"]);
    // A policy's mode None turns it off.
    const none = { ...localityPolicy(), balancer: { locality: { mode: "None" } } };
    catalog.replaceAll([
      service("shop", "web", callers()),
      { ...service("shop", "cart", backends(), none), trafficDistribution: "PreferClose" },
    ]);
    expect(zonesPicked(discovery, { clientIp: "10.2.1.1" })).toEqual(ZONES);
    discovery.close();
  });
});

describe("a Service's trafficDistribution", () => {
  it("reaches the catalog entry from the Service object", () => {
    const { entries } = translateSnapshot({
      services: [
        {
          metadata: { namespace: "shop", name: "cart" },
          spec: { ports: [{ name: "http", port: 80 }], trafficDistribution: "PreferSameNode" },
        },
        { metadata: { namespace: "shop", name: "web" }, spec: { ports: [] } },
      ],
      endpointSlices: [],
      pods: [],
      nodes: [],
      policies: [],
    });
    expect(entries.map((e) => e.trafficDistribution)).toEqual(["PreferSameNode", undefined]);
  });
});
