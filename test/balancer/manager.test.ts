import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Endpoint, isHealthy } from "../../src/balancer/endpoint.ts";
import { BalancerError } from "../../src/balancer/errors.ts";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { seededRandom } from "../../src/balancer/random.ts";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { endpoint, endpoints } from "./fixtures.ts";

const service = (list: Endpoint[], extra: Partial<ServiceEndpoints> = {}): ServiceEndpoints => ({
  key: "shop/checkout",
  version: 1,
  endpoints: list,
  ...extra,
});

function errorOf(action: () => unknown): BalancerError {
  try {
    action();
  } catch (error) {
    if (error instanceof BalancerError) return error;
    throw error;
  }
  throw new Error("expected a BalancerError");
}

describe("BalancerManager", () => {
  it("uses the request's strategy, else the policy's, else the default", () => {
    const manager = new BalancerManager({ defaultStrategy: "random" });
    expect(manager.selectOne(service(endpoints(2))).strategy).toBe("random");
    expect(
      manager.selectOne(service(endpoints(2), { strategy: "maglev" }), { sessionKey: "k" })
        .strategy,
    ).toBe("maglev");
    expect(
      manager.selectOne(service(endpoints(2), { strategy: "maglev" }), { strategy: "round-robin" })
        .strategy,
    ).toBe("round-robin");
  });

  it("lists a hash service without its key heaviest first, then by identity; a pick refuses", () => {
    const manager = new BalancerManager();
    const weights = [1, 4, 2, 4, 1];
    for (const strategy of ["ring-hash", "maglev", "ip-hash"] as const) {
      const svc = service(
        endpoints(5, (i) => weights[i] as number),
        { strategy },
      );
      const listed = manager.select(svc, {}).endpoints.map((e) => e.identity);
      expect(listed, strategy).toEqual(["ep-1", "ep-3", "ep-2", "ep-0", "ep-4"]);
      expect(manager.select(svc, { limit: 2 }).endpoints.map((e) => e.identity)).toEqual([
        "ep-1",
        "ep-3",
      ]);
      const code = strategy === "ip-hash" ? "MissingClientIP" : "MissingSessionKey";
      expect(errorOf(() => manager.selectOne(svc, {})).code, strategy).toBe(code);
    }
    // the health filter still applies: an unready endpoint is left out
    const sick = endpoints(3).map((e, i) => (i === 0 ? { ...e, ready: false } : e));
    const listed = manager.select(
      service(sick, { key: "shop/sick", strategy: "maglev" }),
      {},
    ).endpoints;
    expect(listed.map((e) => e.identity)).toEqual(["ep-1", "ep-2"]);
  });

  it("names the unknown strategy and the allowed ones", () => {
    const manager = new BalancerManager();
    const error = errorOf(() => manager.selectOne(service(endpoints(2)), { strategy: "fastest" }));
    expect(error.code).toBe("UnknownStrategy");
    expect(error.message).toContain('"fastest"');
    expect(error.message).toContain("round-robin, weighted-round-robin");
    expect(() => new BalancerManager({ defaultStrategy: "nope" as never })).toThrowError(/nope/);
  });

  it("refuses strategies disabled on the server", () => {
    const manager = new BalancerManager({ enabledStrategies: ["round-robin"] });
    expect(manager.strategyNames()).toEqual(["round-robin"]);
    const error = errorOf(() => manager.selectOne(service(endpoints(2)), { strategy: "random" }));
    expect(error.code).toBe("UnknownStrategy");
    expect(error.message).toContain("not enabled");
  });

  it("reports NoEndpoints for an empty service", () => {
    expect(errorOf(() => new BalancerManager().select(service([]))).code).toBe("NoEndpoints");
  });

  it("rejects weights outside 1..1000 and duplicate identities, naming them", () => {
    const manager = new BalancerManager();
    for (const weight of [0, -1, 1001, 1.5, Number.NaN]) {
      const error = errorOf(() =>
        manager.select(service([endpoint("a", { weight })], { version: weight })),
      );
      expect(error.code).toBe("InvalidEndpoint");
      expect(error.message).toContain("endpoint a");
      expect(error.message).toContain("1 to 1000");
    }
    const error = errorOf(() =>
      manager.select(service([endpoint("a"), endpoint("a")], { version: 99 })),
    );
    expect(error.message).toContain("appears twice");
  });

  it("rejects a bad limit and a bad policy with the field named", () => {
    const manager = new BalancerManager();
    expect(errorOf(() => manager.select(service(endpoints(2)), { limit: -1 })).message).toContain(
      "limit",
    );
    const error = errorOf(() =>
      manager.select(service(endpoints(2), { policy: { ringHash: { virtualNodes: 0 } } })),
    );
    expect(error.code).toBe("InvalidPolicy");
    expect(error.message).toContain("ringHash.virtualNodes: 0");
  });

  it("rebuilds when the version changes: a scale-up is never served from a stale table", () => {
    const manager = new BalancerManager();
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const before = service(endpoints(3), { strategy: "ring-hash" });
    for (const sessionKey of keys) manager.selectOne(before, { sessionKey });
    const after = service(endpoints(4), { strategy: "ring-hash", version: 2 });
    const chosen = new Set(
      keys.map((sessionKey) => manager.selectOne(after, { sessionKey }).endpoint.identity),
    );
    expect(chosen.has("ep-3")).toBe(true);
  });

  it("keeps the picker while the version stays the same", () => {
    const manager = new BalancerManager();
    const s = service(endpoints(3));
    const first = manager.selectOne(s).endpoint.identity;
    const second = manager.selectOne({ ...s, endpoints: [...s.endpoints] }).endpoint.identity;
    expect([first, second]).toEqual(["ep-0", "ep-1"]);
  });

  it("carries the round-robin cursor across a version change", () => {
    const manager = new BalancerManager();
    manager.selectOne(service(endpoints(3)));
    manager.selectOne(service(endpoints(3)));
    expect(manager.selectOne(service(endpoints(4), { version: 2 })).endpoint.identity).toBe("ep-2");
  });

  it("filters unhealthy endpoints, and uses all of them when none is healthy", () => {
    const panics: string[] = [];
    const manager = new BalancerManager({
      onHealthPanic: (key, healthy, total) => panics.push(`${key} ${healthy}/${total}`),
    });
    const list = [
      endpoint("a"),
      endpoint("b", { ready: false }),
      endpoint("c", { terminating: true }),
      endpoint("d", { probeHealthy: false }),
    ];
    const healthy = manager.select(service(list));
    expect(healthy.endpoints.map((e) => e.identity)).toEqual(["a"]);
    expect(healthy.excluded).toBe(3);
    expect(manager.select(service(list), { healthFilter: false }).endpoints).toHaveLength(4);
    const sick = list.map((e) => ({ ...e, ready: false }));
    const panic = manager.select(service(sick, { version: 2 }));
    expect(panic.panic).toBe(true);
    expect(panic.endpoints).toHaveLength(4);
    expect(panics).toEqual(["shop/checkout 0/4"]);
  });

  it("honours a panic threshold in percent", () => {
    const manager = new BalancerManager();
    const list = [
      endpoint("a"),
      endpoint("b", { ready: false }),
      endpoint("c", { ready: false }),
      endpoint("d", { ready: false }),
    ];
    expect(manager.select(service(list, { policy: { panicThreshold: 50 } })).panic).toBe(true); // 25% < 50%
    expect(
      manager.select(service(list, { version: 2, policy: { panicThreshold: 20 } })).panic,
    ).toBe(false);
  });

  it("counts connections until closed or expired", () => {
    let now = 1_000_000;
    let id = 0;
    const manager = new BalancerManager({ now: () => now, newConnectionId: () => `c${++id}` });
    const s = service(endpoints(2), {
      policy: { leastConnections: { connectionTimeoutMs: 1000 } },
    });
    const a = manager.openConnection(s);
    const b = manager.openConnection(s);
    expect([a.endpoint.identity, b.endpoint.identity].sort()).toEqual(["ep-0", "ep-1"]);
    expect(a.expiresAt).toBe(now + 1000);
    expect(manager.closeConnection(a.id)).toBe(true);
    expect(manager.closeConnection(a.id)).toBe(false);
    // ep of `a` is free again, so the next connection lands there
    expect(manager.openConnection(s).endpoint.identity).toBe(a.endpoint.identity);
    now += 1001;
    expect(manager.expireConnections()).toBe(2);
    expect(manager.closeConnection(b.id)).toBe(false);
    expect(manager.connectionCounts("shop/checkout").size).toBe(0);
  });

  it("keeps connection counts across a rebuild", () => {
    const manager = new BalancerManager();
    const s = service(endpoints(3));
    manager.openConnection(s);
    manager.openConnection(s);
    const next = manager.openConnection(service(endpoints(3), { version: 2 }));
    expect(next.endpoint.identity).toBe("ep-2");
  });

  it("forgets a service entirely", () => {
    const manager = new BalancerManager();
    const c = manager.openConnection(service(endpoints(2)));
    manager.forget("shop/checkout");
    expect(manager.exportState("shop/checkout")).toEqual({});
    expect(manager.closeConnection(c.id)).toBe(true);
  });
});

describe("every strategy, any endpoint set, any request", () => {
  const arbitraryEndpoint = fc.record({
    identity: fc.string({ minLength: 1, maxLength: 12 }),
    weight: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 1000 }), weight: 40 },
      { arbitrary: fc.constantFrom(0, 1001, 2.5), weight: 1 },
    ),
    region: fc.option(fc.constantFrom("us-east", "eu-west", "ap-south"), { nil: null }),
    ready: fc.boolean(),
    terminating: fc.boolean(),
  });
  const arbitraryRequest = fc.record(
    {
      strategy: fc.constantFrom(...STRATEGY_NAMES, "bogus"),
      clientIp: fc.option(fc.ipV4(), { nil: undefined }),
      sessionKey: fc.option(fc.string(), { nil: undefined }),
      clientRegion: fc.option(fc.constantFrom("us-east", "eu-west", "moon"), { nil: undefined }),
      limit: fc.integer({ min: 0, max: 5 }),
      healthFilter: fc.option(fc.boolean(), { nil: undefined }),
    },
    { requiredKeys: ["strategy", "limit"] },
  );

  it("throw nothing but typed errors and pick only from the given (healthy) set", () => {
    let successes = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(arbitraryEndpoint, { maxLength: 20, selector: (e) => e.identity }),
        fc.array(arbitraryRequest, { minLength: 1, maxLength: 10 }),
        (specs, requests) => {
          const list = specs.map((spec) => endpoint(spec.identity, spec));
          const manager = new BalancerManager({
            random: seededRandom(1),
          });
          const s = service(list, {
            policy: {
              latency: { map: { "us-east": { "eu-west": 80, "us-east": 1 } } },
              ringHash: { balanceFactor: 125 },
            },
          });
          for (const request of requests) {
            try {
              const single = manager.selectOne(s, request);
              const many = manager.select(s, request);
              const allowed = list.filter((e) =>
                request.healthFilter === false || single.panic ? true : isHealthy(e),
              );
              expect(allowed).toContain(single.endpoint);
              for (const e of many.endpoints) expect(allowed).toContain(e);
              expect(new Set(many.endpoints).size).toBe(many.endpoints.length);
              if (request.limit > 0)
                expect(many.endpoints.length).toBeLessThanOrEqual(request.limit);
              successes++;
            } catch (error) {
              expect(error).toBeInstanceOf(BalancerError);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
    // The property must exercise real selections, not only the error paths.
    expect(successes).toBeGreaterThan(300);
  });
});
