import { describe, expect, it } from "vitest";
import type { CatalogEntry } from "../../src/catalog/catalog.ts";
import { desiredStatus, rampOf, sameStatus, verdicts } from "../../src/kubernetes/policy-status.ts";
import type { TrimmedPolicy } from "../../src/kubernetes/resources.ts";
import type { PolicyView } from "../../src/kubernetes/source.ts";
import { validatePolicy } from "../../src/policy/validate.ts";

const policy = (status: unknown = null, generation = 2): TrimmedPolicy => ({
  metadata: {
    name: "web-lb",
    namespace: "shop",
    generation,
    uid: "u1",
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: { targetRef: { name: "web" }, strategy: "round-robin" },
  status,
});

const entry = (ready: boolean[]): CatalogEntry =>
  ({
    namespace: "shop",
    name: "web",
    version: 1,
    policy: null,
    endpoints: ready.map((r, i) => ({
      identity: `web-${i}`,
      address: "10.0.0.1",
      port: 80,
      ports: {},
      weight: 1,
      zone: null,
      region: null,
      node: null,
      ready: r,
      serving: r,
      terminating: false,
      probeHealthy: null,
      labels: {},
      podName: null,
    })),
  }) as CatalogEntry;

const view = (overrides: Partial<PolicyView> = {}): PolicyView => ({
  object: policy(),
  validation: validatePolicy({ name: "web-lb", namespace: "shop" }, { targetRef: { name: "web" } }),
  service: "shop/web",
  target: entry([true, false]),
  supersededBy: null,
  ...overrides,
});

const summary = (v: PolicyView) => verdicts(v).map((c) => `${c.type}=${c.status}/${c.reason}`);

describe("policy conditions", () => {
  it("accepted, resolved and ready with a healthy endpoint", () => {
    expect(summary(view())).toEqual([
      "Accepted=True/Accepted",
      "ResolvedRefs=True/ResolvedRefs",
      "Ready=True/Ready",
    ]);
  });

  it("Invalid when the spec fails validation, with the field in the message", () => {
    const invalid = validatePolicy(
      { name: "web-lb", namespace: "shop" },
      { targetRef: { name: "web" }, maglev: { tableSize: 65536 } },
    );
    const conditions = verdicts(view({ validation: invalid }));
    expect(conditions[0]).toMatchObject({ status: "False", reason: "Invalid" });
    expect(conditions[0]?.message).toContain("tableSize");
    expect(conditions[2]).toMatchObject({ status: "False", reason: "NotApplied" });
  });

  it("Conflicted when an older policy targets the same Service", () => {
    expect(summary(view({ supersededBy: "shop/older" }))[0]).toBe("Accepted=False/Conflicted");
  });

  it("ServiceNotFound while the Service is missing", () => {
    expect(summary(view({ target: undefined }))).toEqual([
      "Accepted=True/Accepted",
      "ResolvedRefs=False/ServiceNotFound",
      "Ready=False/NotApplied",
    ]);
  });

  it("NoHealthyEndpoints when none is healthy", () => {
    expect(summary(view({ target: entry([false, false]) }))[2]).toBe(
      "Ready=False/NoHealthyEndpoints",
    );
  });
});

describe("status writes", () => {
  it("keeps a condition's transition time while its status holds, and counts endpoints", () => {
    const first = desiredStatus(view(), new Date("2026-01-01T00:00:00.123Z"));
    expect(first.endpoints).toEqual({
      total: 2,
      healthy: 1,
      ejected: 0,
      summary: "1/2",
      rampingUp: 0,
    });
    expect(first.observedGeneration).toBe(2);
    expect(first.conditions[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    const later = desiredStatus(view({ object: policy(first) }), new Date("2026-02-01T00:00:00Z"));
    expect(later.conditions.map((c) => c.lastTransitionTime)).toEqual(
      first.conditions.map((c) => c.lastTransitionTime),
    );
    const flipped = desiredStatus(
      view({ object: policy(first), target: entry([false]) }),
      new Date("2026-02-01T00:00:00Z"),
    );
    expect(flipped.conditions[2]?.lastTransitionTime).toBe("2026-02-01T00:00:00Z");
    expect(flipped.conditions[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
  });

  it("counts ejected endpoints (outlier detection) apart, and not as healthy", () => {
    const target = entry([true, true, true]);
    const ejected = {
      ...target,
      endpoints: target.endpoints.map((e, i) => (i === 1 ? { ...e, ejected: true } : e)),
    };
    const status = desiredStatus(view({ target: ejected }), new Date());
    expect(status.endpoints).toEqual({
      total: 3,
      healthy: 2,
      ejected: 1,
      summary: "2/3",
      rampingUp: 0,
    });
    const before = desiredStatus(view({ target }), new Date());
    expect(sameStatus(before, status)).toBe(false);
  });

  it("skips a write when the object already says the same", () => {
    const desired = desiredStatus(view(), new Date());
    expect(sameStatus(desired, desired)).toBe(true);
    expect(sameStatus(null, desired)).toBe(false);
    expect(sameStatus({ ...desired, observedGeneration: 1 }, desired)).toBe(false);
    expect(
      sameStatus(
        { ...desired, endpoints: { total: 2, healthy: 2, summary: "2/2", rampingUp: 0 } },
        desired,
      ),
    ).toBe(false);
    expect(
      sameStatus({ ...desired, endpoints: { ...desired.endpoints, rampingUp: 1 } }, desired),
    ).toBe(false);
  });
});

describe("slow start in the status", () => {
  const withRamp = (readySince: (number | null)[]): PolicyView => {
    const target = entry(readySince.map(() => true));
    return view({
      validation: validatePolicy(
        { name: "web-lb", namespace: "shop" },
        { targetRef: { name: "web" }, slowStart: { window: "60s" } },
      ),
      target: {
        ...target,
        endpoints: target.endpoints.map((e, i) =>
          readySince[i] === null ? e : { ...e, readySince: readySince[i] },
        ),
      },
    });
  };
  const now = new Date("2026-12-05T06:00:00Z");
  const ago = (seconds: number) => now.getTime() - seconds * 1000;

  it("counts the endpoints within their window, and says so in Ready's message", () => {
    const status = desiredStatus(withRamp([ago(10), ago(59), ago(61), null]), now);
    expect(status.endpoints.rampingUp).toBe(2);
    expect(status.conditions[2]?.message).toBe(
      "4 of 4 endpoints are healthy; 2 ramping up (slow start)",
    );
    expect(rampOf(withRamp([ago(10), ago(59)]), now).firstEnd).toBe(ago(59) + 60_000);
  });

  it("counts none without slowStart in the policy, or once every window has passed", () => {
    expect(desiredStatus(view(), now).endpoints.rampingUp).toBe(0);
    const later = desiredStatus(withRamp([ago(120)]), now);
    expect(later.endpoints.rampingUp).toBe(0);
    expect(later.conditions[2]?.message).toBe("1 of 1 endpoints are healthy");
    expect(rampOf(withRamp([ago(120)]), now).firstEnd).toBeNull();
  });
});
