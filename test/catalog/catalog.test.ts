import { describe, expect, it } from "vitest";
import { Catalog, type CatalogEndpoint, serviceKey } from "../../src/catalog/catalog.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import { endpoint, service } from "./fixtures.ts";

const policy: ParsedPolicy = {
  name: "checkout-lb",
  namespace: "shop",
  creationTimestamp: null,
  targetRef: { kind: "Service", name: "checkout" },
  strategy: "ring-hash",
  healthCheck: null,
  weights: [{ selector: { matchLabels: { version: "v2" } }, weight: 3 }],
  balancer: { ringHash: { virtualNodes: 150 } },
};

describe("Catalog contents", () => {
  it("starts empty, unsynced, at index 0", () => {
    const catalog = new Catalog();
    expect(catalog.list()).toEqual([]);
    expect(catalog.index).toBe(0);
    expect(catalog.synced).toBe(false);
    catalog.markSynced();
    expect(catalog.synced).toBe(true);
  });

  it("gets by namespace and name, and lists by namespace then name", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      service("shop", "checkout"),
      service("a-b", "x"),
      service("a", "y"),
      service("a", "b"),
    ]);
    expect(catalog.get("shop", "checkout")?.name).toBe("checkout");
    expect(catalog.get("shop", "nope")).toBeUndefined();
    expect(catalog.list().map((e) => serviceKey(e.namespace, e.name))).toEqual([
      "a/b",
      "a/y",
      "a-b/x",
      "shop/checkout",
    ]);
    expect(catalog.size).toBe(4);
  });

  it("sorts endpoints by identity and keeps its own frozen copy", () => {
    const catalog = new Catalog();
    const input = service("shop", "checkout", [
      endpoint("checkout-c"),
      endpoint("checkout-a"),
      endpoint("checkout-b"),
    ]);
    catalog.upsert(input);
    const entry = catalog.get("shop", "checkout");
    expect(entry?.endpoints.map((e) => e.identity)).toEqual([
      "checkout-a",
      "checkout-b",
      "checkout-c",
    ]);
    expect(Object.isFrozen(entry)).toBe(true);
    expect(Object.isFrozen(entry?.endpoints)).toBe(true);
    expect(Object.isFrozen(entry?.endpoints[0])).toBe(true);
    expect(Object.isFrozen(input.endpoints[0])).toBe(false);
  });

  it("rejects duplicate identities and invalid weights, naming service and endpoint", () => {
    const catalog = new Catalog();
    expect(() =>
      catalog.upsert(service("shop", "checkout", [endpoint("a"), endpoint("a")])),
    ).toThrow(
      'service shop/checkout: endpoint identity "a" appears twice; expected unique identities',
    );
    expect(() =>
      catalog.upsert(service("shop", "checkout", [endpoint("a", { weight: 0 })])),
    ).toThrow(
      "service shop/checkout: endpoint a weight 0 is not allowed; expected an integer from 1 to 1000",
    );
    expect(() => catalog.replaceAll([service("shop", "x"), service("shop", "x")])).toThrow(
      /shop\/x appears twice/,
    );
    expect(catalog.index).toBe(0);
  });
});

describe("Catalog versions", () => {
  it("gives a new service a version and moves the index", () => {
    const catalog = new Catalog();
    expect(catalog.upsert(service("shop", "checkout", [endpoint("a")]))).toBe(true);
    const version = catalog.get("shop", "checkout")?.version ?? 0;
    expect(version).toBeGreaterThan(0);
    expect(catalog.index).toBe(version);
  });

  it("does not bump anything when identical data is applied again", () => {
    const catalog = new Catalog();
    catalog.upsert(service("shop", "checkout", [endpoint("a"), endpoint("b")], policy));
    const before = catalog.get("shop", "checkout");
    // Equal content, fresh objects, other order: not a change.
    expect(
      catalog.upsert(
        service("shop", "checkout", [endpoint("b"), endpoint("a")], structuredClone(policy)),
      ),
    ).toBe(false);
    expect(
      catalog.replaceAll([
        service("shop", "checkout", [endpoint("a"), endpoint("b")], structuredClone(policy)),
      ]),
    ).toEqual([]);
    expect(catalog.get("shop", "checkout")).toBe(before);
    expect(catalog.index).toBe(before?.version);
  });

  it("bumps on each change to endpoints or policy", () => {
    const catalog = new Catalog();
    catalog.upsert(service("shop", "checkout", [endpoint("a")]));
    const versions = [catalog.get("shop", "checkout")?.version ?? 0];
    const changes = [
      service("shop", "checkout", [endpoint("a", { weight: 2 })]),
      service("shop", "checkout", [endpoint("a", { weight: 2, ready: false })]),
      service("shop", "checkout", [endpoint("a", { weight: 2, ready: false }), endpoint("b")]),
      service(
        "shop",
        "checkout",
        [endpoint("a", { weight: 2, ready: false }), endpoint("b")],
        policy,
      ),
      service("shop", "checkout", [endpoint("a", { weight: 2, ready: false }), endpoint("b")], {
        ...policy,
        balancer: { ringHash: { virtualNodes: 151 } },
      }),
      service("shop", "checkout", [
        endpoint("a", { weight: 2, ready: false, labels: { version: "v3" } }),
        endpoint("b"),
      ]),
    ];
    for (const change of changes) {
      expect(catalog.upsert(change)).toBe(true);
      versions.push(catalog.get("shop", "checkout")?.version ?? 0);
    }
    for (let i = 1; i < versions.length; i++)
      expect(versions[i]).toBeGreaterThan(versions[i - 1] ?? 0);
  });

  it("bumps only the services that changed in a full reload", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      service("shop", "checkout", [endpoint("a")]),
      service("shop", "cart", [endpoint("c")]),
      service("shop", "catalog", [endpoint("d")]),
    ]);
    const cart = catalog.get("shop", "cart")?.version;
    const changed = catalog.replaceAll([
      service("shop", "checkout", [endpoint("a"), endpoint("b")]),
      service("shop", "cart", [endpoint("c")]),
      service("payments", "payments", [endpoint("p")]),
    ]);
    expect(changed).toEqual(["payments/payments", "shop/catalog", "shop/checkout"]);
    expect(catalog.get("shop", "cart")?.version).toBe(cart);
    expect(catalog.get("shop", "catalog")).toBeUndefined();
    expect(catalog.get("shop", "checkout")?.version).toBeGreaterThan(cart ?? 0);
    expect(catalog.list().map((e) => e.name)).toEqual(["payments", "cart", "checkout"]);
  });

  it("moves the index on removal, and never reuses a version after remove and re-add", () => {
    const catalog = new Catalog();
    catalog.upsert(service("shop", "checkout", [endpoint("a")]));
    const first = catalog.get("shop", "checkout")?.version ?? 0;
    expect(catalog.remove("shop", "checkout")).toBe(true);
    expect(catalog.remove("shop", "checkout")).toBe(false);
    const afterRemoval = catalog.index;
    expect(afterRemoval).toBeGreaterThan(first);
    catalog.upsert(service("shop", "checkout", [endpoint("a")]));
    expect(catalog.get("shop", "checkout")?.version).toBeGreaterThan(afterRemoval);
    expect(catalog.index).toBe(catalog.get("shop", "checkout")?.version);
  });

  it("keeps the index monotonic across any sequence of operations", () => {
    const catalog = new Catalog();
    let last = catalog.index;
    const steps = [
      () => catalog.upsert(service("a", "x", [endpoint("a")])),
      () => catalog.upsert(service("a", "x", [endpoint("a")])),
      () => catalog.replaceAll([service("a", "y")]),
      () => catalog.remove("a", "y"),
      () => catalog.remove("a", "y"),
      () => catalog.replaceAll([]),
      () => catalog.upsert(service("a", "x")),
    ];
    for (const step of steps) {
      const changed = step();
      const moved = catalog.index > last;
      expect(catalog.index).toBeGreaterThanOrEqual(last);
      expect(moved).toBe(changed === true || (Array.isArray(changed) && changed.length > 0));
      last = catalog.index;
    }
  });
});

describe("Catalog listeners", () => {
  it("hears the changed keys once per change, and nothing for no-ops", () => {
    const catalog = new Catalog();
    const heard: (readonly string[])[] = [];
    const unsubscribe = catalog.onChange((keys) => heard.push(keys));
    catalog.replaceAll([service("shop", "checkout"), service("shop", "cart")]);
    catalog.replaceAll([service("shop", "checkout"), service("shop", "cart")]);
    catalog.remove("shop", "cart");
    unsubscribe();
    catalog.upsert(service("shop", "catalog"));
    expect(heard).toEqual([["shop/cart", "shop/checkout"], ["shop/cart"]]);
  });

  it("sees the new state from inside the listener", () => {
    const catalog = new Catalog();
    let seen: number | undefined;
    catalog.onChange(() => {
      seen = catalog.get("shop", "checkout")?.version;
    });
    catalog.upsert(service("shop", "checkout"));
    expect(seen).toBe(catalog.index);
  });

  it("runs every listener even when one throws, then rethrows the error", () => {
    const catalog = new Catalog();
    let secondRan = false;
    catalog.onChange(() => {
      throw new Error("listener broke");
    });
    catalog.onChange(() => {
      secondRan = true;
    });
    expect(() => catalog.upsert(service("shop", "checkout"))).toThrow("listener broke");
    expect(secondRan).toBe(true);
    expect(catalog.get("shop", "checkout")).toBeDefined();
  });
});

describe("Catalog ejections (outlier detection)", () => {
  const three = () => service("shop", "web", [endpoint("a"), endpoint("b"), endpoint("c")]);

  it("marks ejected endpoints as a new version, and keeps the marks across the source's writes", () => {
    const catalog = new Catalog();
    catalog.upsert(three());
    const before = catalog.get("shop", "web")?.version ?? 0;
    expect(catalog.setEjected("shop", "web", ["b", "unknown"])).toBe(true);
    const entry = catalog.get("shop", "web");
    expect(entry?.version).toBeGreaterThan(before);
    expect(entry?.endpoints.map((e) => e.ejected === true)).toEqual([false, true, false]);
    expect(catalog.ejectedOf("shop", "web")).toEqual(["b"]);
    // The same set again changes nothing; the source writing the same objects changes nothing.
    expect(catalog.setEjected("shop", "web", ["b"])).toBe(false);
    expect(catalog.upsert(three())).toBe(false);
    expect(catalog.get("shop", "web")?.endpoints[1]?.ejected).toBe(true);
    // Returned: the mark goes, as a new version.
    expect(catalog.setEjected("shop", "web", [])).toBe(true);
    expect(catalog.get("shop", "web")?.endpoints.some((e) => "ejected" in e)).toBe(false);
  });

  it("forgets ejections of endpoints and services that leave", () => {
    const catalog = new Catalog();
    catalog.upsert(three());
    catalog.setEjected("shop", "web", ["a", "c"]);
    catalog.upsert(service("shop", "web", [endpoint("a"), endpoint("b")]));
    expect(catalog.ejectedOf("shop", "web")).toEqual(["a"]);
    catalog.upsert(three());
    expect(catalog.get("shop", "web")?.endpoints[2]?.ejected).toBeUndefined();
    catalog.remove("shop", "web");
    expect(catalog.ejectedOf("shop", "web")).toEqual([]);
    expect(catalog.setEjected("shop", "web", ["a"])).toBe(false);
  });
});

describe("shared endpoints", () => {
  it("keeps a frozen endpoint as it is and copies a mutable one", () => {
    const catalog = new Catalog();
    const frozen = Object.freeze(endpoint("checkout-a"));
    const mutable = endpoint("checkout-b");
    catalog.upsert(service("shop", "checkout", [mutable, frozen]));
    const [a, b] = catalog.get("shop", "checkout")?.endpoints ?? [];
    expect(a).toBe(frozen);
    expect(b).not.toBe(mutable);
    expect(b).toEqual(mutable);
    expect(Object.isFrozen(b)).toBe(true);
  });
});

describe("replaceAll with the entries of the load before", () => {
  /** A frozen entry that counts the reads of its endpoints. */
  const counted = (name: string, identities: string[]) => {
    const endpoints = Object.freeze(
      identities.map((identity) => Object.freeze(endpoint(identity))),
    );
    const reads = { count: 0 };
    const entry = Object.freeze({
      namespace: "shop",
      name,
      policy: null,
      get endpoints() {
        reads.count++;
        return endpoints;
      },
    });
    return { entry, reads };
  };

  it("takes a frozen entry it was handed before as unchanged without reading it again", () => {
    const catalog = new Catalog();
    const web = counted("web", ["a", "b"]);
    const api = counted("api", ["c"]);
    expect(catalog.replaceAll([web.entry, api.entry])).toEqual(["shop/api", "shop/web"]);
    const held = catalog.get("shop", "web");
    const readsAfterLoad = web.reads.count;
    const changedApi = counted("api", ["c", "d"]);
    expect(catalog.replaceAll([web.entry, changedApi.entry])).toEqual(["shop/api"]);
    expect(web.reads.count).toBe(readsAfterLoad);
    expect(catalog.get("shop", "web")).toBe(held);
    // Left out of a load, it is removed as before.
    expect(catalog.replaceAll([changedApi.entry])).toEqual(["shop/web"]);
  });

  it("writes the entry again when the catalog no longer holds what it became", () => {
    const catalog = new Catalog();
    const web = counted("web", ["a", "b"]);
    catalog.replaceAll([web.entry]);
    // Another writer changed the service: the full load puts the entry's endpoints back.
    catalog.upsert(service("shop", "web", [endpoint("a")]));
    expect(catalog.replaceAll([web.entry])).toEqual(["shop/web"]);
    expect(catalog.get("shop", "web")?.endpoints.map((e) => e.identity)).toEqual(["a", "b"]);
    // Ejections marked in between stay marked.
    catalog.setEjected("shop", "web", ["b"]);
    expect(catalog.replaceAll([web.entry])).toEqual([]);
    expect(catalog.get("shop", "web")?.endpoints[1]?.ejected).toBe(true);
  });

  it("reads a mutable entry on every load", () => {
    const catalog = new Catalog();
    const entry = service("shop", "web", [endpoint("a")]);
    catalog.replaceAll([entry]);
    (entry.endpoints as CatalogEndpoint[]).push(endpoint("b"));
    expect(catalog.replaceAll([entry])).toEqual(["shop/web"]);
    expect(catalog.get("shop", "web")?.endpoints).toHaveLength(2);
  });
});
