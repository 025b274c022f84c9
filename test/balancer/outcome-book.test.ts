import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Endpoint, identitiesOf } from "../../src/balancer/endpoint.ts";
import type { ServiceEndpoints } from "../../src/balancer/manager.ts";
import type { OutcomeResult } from "../../src/balancer/outcome.ts";
import { OutcomeBook } from "../../src/balancer/outcome-book.ts";
import { PickerCache } from "../../src/balancer/picker-cache.ts";
import { type BalancerPolicy, resolvePolicy } from "../../src/balancer/policy.ts";
import { systemRandom } from "../../src/balancer/random.ts";
import { DEFAULT_REGISTRY } from "../../src/balancer/registry.ts";
import { ServiceStates } from "../../src/balancer/service-state.ts";
import { latencyFromMap } from "../../src/balancer/strategies/latency-based/tiers.ts";
import type { ResolvedLeastRequest } from "../../src/balancer/strategies/least-request/settings.ts";
import { endpoint, endpoints } from "./fixtures.ts";

const KEY = "shop/checkout";
/** Every identity a run may use: endpoints come and go among these. */
const POOL = Array.from({ length: 12 }, (_, i) => `ep-${String(i).padStart(2, "0")}`);

const POLICIES: readonly BalancerPolicy[] = [
  {},
  { outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 100, intervalMs: 1000 } },
  { outlierDetection: { consecutiveFailures: 3, maxEjectionPercent: 50, intervalMs: 2000 } },
  {
    outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 100, intervalMs: 1000 },
    leastRequest: { decayMs: 5000 },
  },
];

/** One engine's books over its own states, on a clock the test moves. */
function engine(clock: { now: number }) {
  const now = () => clock.now;
  const states = new ServiceStates(now);
  const pickers = new PickerCache(states, {
    registry: DEFAULT_REGISTRY,
    defaultStrategy: "round-robin",
    enabled: null,
    policyDefaults: {},
    random: systemRandom,
    latencyFor: (policy) => latencyFromMap(policy.latency.map),
    onHealthPanic: undefined,
    now,
    pool: null,
    onTableBuild: undefined,
  });
  const book = new OutcomeBook(states, (service, state) => pickers.policyOf(service, state), now);
  return { states, pickers, book };
}

type Step =
  | { readonly kind: "flip"; readonly at: number }
  | { readonly kind: "weight"; readonly at: number; readonly weight: number }
  | { readonly kind: "remove"; readonly at: number }
  | { readonly kind: "add"; readonly at: number }
  | { readonly kind: "replace"; readonly at: number }
  | { readonly kind: "reverse" }
  | { readonly kind: "policy"; readonly policy: number }
  | {
      readonly kind: "outcomes";
      readonly reports: readonly {
        readonly at: number;
        readonly result: OutcomeResult;
        readonly latencyMs: number;
      }[];
    }
  | { readonly kind: "evaluate"; readonly elapsedMs: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("weight" as const),
    at: fc.nat(),
    weight: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("add" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("reverse" as const) }),
  fc.record({ kind: fc.constant("policy" as const), policy: fc.nat(POLICIES.length - 1) }),
  fc.record({
    kind: fc.constant("outcomes" as const),
    reports: fc.array(
      fc.record({
        at: fc.nat(),
        result: fc.constantFrom<OutcomeResult>("success", "failure", "timeout"),
        latencyMs: fc.integer({ min: 1, max: 500 }),
      }),
      { maxLength: 8 },
    ),
  }),
  fc.record({
    kind: fc.constant("evaluate" as const),
    elapsedMs: fc.integer({ min: 0, max: 3000 }),
  }),
);

/** The next version of the service after a step that changes it, or the same one. */
function next(service: ServiceEndpoints, s: Step): ServiceEndpoints {
  const list = [...service.endpoints];
  const version = service.version + 1;
  switch (s.kind) {
    case "flip":
    case "weight": {
      if (list.length === 0) return service;
      const i = s.at % list.length;
      const e = list[i] as Endpoint;
      list[i] = s.kind === "flip" ? { ...e, ready: !e.ready } : { ...e, weight: s.weight };
      return { ...service, version, endpoints: list };
    }
    case "remove":
      if (list.length === 0) return service;
      list.splice(s.at % list.length, 1);
      return { ...service, version, endpoints: list };
    case "add":
    case "replace": {
      // A replacement keeps the count: only the identities tell the two versions apart.
      const absent = POOL.filter((id) => !list.some((e) => e.identity === id));
      if (absent.length === 0 || list.length === 0) return service;
      if (s.kind === "replace") list.splice(s.at % list.length, 1);
      list.push(endpoint(absent[s.at % absent.length] as string));
      list.sort((a, b) => (a.identity < b.identity ? -1 : 1));
      return { ...service, version, endpoints: list };
    }
    case "reverse":
      return { ...service, version, endpoints: list.reverse() };
    case "policy":
      // A copy, as a source hands each version a policy object of its own.
      return { ...service, version, policy: structuredClone(POLICIES[s.policy]) };
    default:
      return service;
  }
}

/** Everything the book keeps for the service that a caller can see. */
function observed(e: ReturnType<typeof engine>, service: ServiceEndpoints, now: number) {
  const state = e.states.get(KEY);
  const decayMs = (e.pickers.policyOf(service).leastRequest as ResolvedLeastRequest).decayMs;
  return {
    ejected: e.book.ejected(KEY),
    exported: e.book.exportEjections(KEY),
    detecting: state?.outliers !== null && state?.outliers !== undefined,
    known: POOL.filter((id) => state?.outliers?.knows(id) === true),
    latencies: state?.latencies.size ?? 0,
    estimates: POOL.map((id) => state?.latencies.estimate(id, decayMs, now) ?? 0),
    policy: e.pickers.policyOf(service),
  };
}

describe("OutcomeBook.sync", () => {
  it("keeps, version after version, what a sync from scratch at every version keeps", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const clock = { now: 1_000_000 };
        const incremental = engine(clock);
        const scratch = engine(clock);
        /** Forgets what the last sync saw, so that the next one starts from nothing. */
        const forget = () => {
          const state = scratch.states.of(KEY);
          state.outcomesSynced = null;
          state.policy = null;
        };
        let service: ServiceEndpoints = {
          key: KEY,
          version: 1,
          endpoints: POOL.slice(0, 6).map((id) => endpoint(id)),
          policy: structuredClone(POLICIES[1]),
        };
        incremental.book.sync(service);
        forget();
        scratch.book.sync(service);
        for (const s of steps) {
          service = next(service, s);
          forget();
          if (s.kind === "outcomes") {
            const outcomes = s.reports.map((r) => ({
              identity: POOL[r.at % POOL.length] as string,
              result: r.result,
              latencyMs: r.latencyMs,
            }));
            expect(incremental.book.record(service, outcomes)).toEqual(
              scratch.book.record(service, outcomes),
            );
          } else if (s.kind === "evaluate") {
            clock.now += s.elapsedMs;
            expect(incremental.book.evaluate(service)).toEqual(scratch.book.evaluate(service));
          } else {
            incremental.book.sync(service);
            scratch.book.sync(service);
          }
          expect(observed(incremental, service, clock.now)).toEqual(
            observed(scratch, service, clock.now),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it("resolves the policy again only when it changed", () => {
    const { book, pickers, states } = engine({ now: 0 });
    const policy = { outlierDetection: { consecutiveFailures: 2 } };
    const first = { key: KEY, version: 1, endpoints: [endpoint("a"), endpoint("b")], policy };
    book.sync(first);
    const resolved = pickers.policyOf(first);
    const flipped = {
      ...first,
      version: 2,
      endpoints: [endpoint("a", { ready: false }), endpoint("b")],
      policy: structuredClone(policy),
    };
    book.sync(flipped);
    expect(pickers.policyOf(flipped)).toBe(resolved);
    const changed = {
      ...flipped,
      version: 3,
      policy: { outlierDetection: { consecutiveFailures: 5 } },
    };
    book.sync(changed);
    expect(pickers.policyOf(changed)).not.toBe(resolved);
    expect(pickers.policyOf(changed)).toEqual(resolvePolicy(changed.policy));
    expect(states.get(KEY)?.outliers?.knows("b")).toBe(true);
  });

  it("keeps the detector's counters across a readiness flip", () => {
    const { book } = engine({ now: 0 });
    const policy = { outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 100 } };
    const first = { key: KEY, version: 1, endpoints: [endpoint("a"), endpoint("b")], policy };
    expect(book.record(first, [{ identity: "a", result: "failure" }])).toEqual([]);
    const flipped = {
      ...first,
      version: 2,
      endpoints: [endpoint("a"), endpoint("b", { ready: false })],
    };
    const changes = book.record(flipped, [{ identity: "a", result: "failure" }]);
    expect(changes.map((c) => [c.kind, c.identity])).toEqual([["ejected", "a"]]);
  });
});

describe("identities of an endpoint list", () => {
  it("are made once per list, and a new list of the service gets its own", () => {
    const first = endpoints(4);
    const identities = identitiesOf(first);
    expect([...identities].sort()).toEqual(first.map((e) => e.identity).sort());
    expect(identitiesOf(first)).toBe(identities);
    const next = first.slice(1);
    expect(identitiesOf(next).has(first[0]?.identity as string)).toBe(false);
  });
});
