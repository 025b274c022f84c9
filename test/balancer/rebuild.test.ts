import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../src/balancer/endpoint.ts";
import { inIdentityOrder } from "../../src/balancer/endpoint.ts";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import type { StrategyName } from "../../src/balancer/registry.ts";
import { endpoint, sortedByIdentity } from "./fixtures.ts";

const KEY = "shop/checkout";
const POOL = Array.from({ length: 40 }, (_, i) => `ep-${String(i).padStart(2, "0")}`);
const KEYS = Array.from({ length: 64 }, (_, i) => `user-${i}`);
/** The strategies whose picker is a function of the endpoints alone: nothing is carried. */
const TABLE_STRATEGIES: readonly StrategyName[] = ["ring-hash", "maglev"];

type Change =
  | { readonly kind: "flip" | "weight" | "remove" | "add"; readonly at: number }
  | { readonly kind: "shuffle"; readonly seed: number };

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("flip" as const, "weight" as const, "remove" as const, "add" as const),
    at: fc.nat(),
  }),
  fc.record({ kind: fc.constant("shuffle" as const), seed: fc.nat() }),
);

function apply(list: readonly Endpoint[], c: Change): Endpoint[] {
  const next = [...list];
  const i = next.length === 0 ? 0 : (c.kind === "shuffle" ? c.seed : c.at) % next.length;
  switch (c.kind) {
    case "flip":
      if (next.length > 1) next[i] = { ...(next[i] as Endpoint), ready: !next[i]?.ready };
      return next;
    case "weight":
      if (next.length > 0) next[i] = { ...(next[i] as Endpoint), weight: 1 + (c.at % 4) };
      return next;
    case "remove":
      if (next.length > 2) next.splice(i, 1);
      return next;
    case "add": {
      const absent = POOL.filter((id) => !next.some((e) => e.identity === id));
      if (absent.length > 0) next.push(endpoint(absent[c.at % absent.length] as string));
      return next;
    }
    case "shuffle":
      // Out of identity order, as a caller other than the catalog may hand it.
      return [...next.slice(i), ...next.slice(0, i)].reverse();
  }
}

describe("pickers rebuilt version after version", () => {
  it.each(TABLE_STRATEGIES)("%s picks and lists as a picker built from scratch", (strategy) => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 25 }), (changes) => {
        const kept = new BalancerManager();
        let list: Endpoint[] = POOL.slice(0, 10).map((id) => endpoint(id));
        let version = 1;
        const service = (): ServiceEndpoints => ({
          key: KEY,
          version,
          endpoints: list,
          policy: { ringHash: { minRingSize: 64, virtualNodes: 4 }, maglev: { tableSize: 251 } },
          strategy,
        });
        for (const c of changes) {
          list = apply(list, c);
          version++;
          kept.refresh(service());
          // A fresh engine given the same service sorted: what the kept one must match.
          const fresh = new BalancerManager();
          const sorted = { ...service(), endpoints: sortedByIdentity(list) };
          for (const sessionKey of KEYS) {
            expect(kept.selectOne(service(), { sessionKey }).endpoint.identity).toBe(
              fresh.selectOne(sorted, { sessionKey }).endpoint.identity,
            );
          }
          // Without a key, the fixed order: heaviest first, then by identity.
          const ids = (endpoints: readonly Endpoint[]) => endpoints.map((e) => e.identity);
          expect(ids(kept.select(service()).endpoints)).toEqual(
            ids(fresh.select(sorted).endpoints),
          );
          expect(ids(kept.select(service(), { limit: 3 }).endpoints)).toEqual(
            ids(fresh.select(sorted, { limit: 3 }).endpoints),
          );
        }
      }),
      { numRuns: 60 },
    );
  });

  it("lists a hash strategy's keyless order from the current version", () => {
    const manager = new BalancerManager();
    const first = {
      key: KEY,
      version: 1,
      endpoints: [endpoint("a"), endpoint("b"), endpoint("c")],
      strategy: "ring-hash",
    };
    expect(manager.select(first).endpoints.map((e) => e.identity)).toEqual(["a", "b", "c"]);
    const heavier = {
      ...first,
      version: 2,
      endpoints: [endpoint("a"), endpoint("b"), endpoint("c", { weight: 3 })],
    };
    manager.refresh(heavier);
    expect(manager.select(heavier).endpoints.map((e) => e.identity)).toEqual(["c", "a", "b"]);
  });
});

describe("inIdentityOrder", () => {
  it("says whether a list is in compareIdentity's order", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...POOL), { maxLength: 12 }), (ids) => {
        const list = ids.map((id) => endpoint(id));
        expect(inIdentityOrder(list)).toBe(
          ids.every((id, i) => i === 0 || (ids[i - 1] as string) <= id),
        );
      }),
    );
  });
});
