import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, resolvePolicy } from "../../src/balancer/policy.ts";
import type { PolicyValidation } from "../../src/policy/validate.ts";
import { validatePolicy } from "../../src/policy/validate.ts";

const metadata = { name: "checkout-lb", namespace: "shop" };

function errorsOf(result: PolicyValidation): readonly string[] {
  if (result.ok) throw new Error("expected the policy to be rejected");
  return result.errors;
}

const fullSpec = {
  targetRef: { kind: "Service", name: "checkout" },
  strategy: "ring-hash",
  healthFilter: false,
  panicThreshold: 50,
  weights: [
    { selector: { matchLabels: { version: "v2" } }, weight: 3 },
    {
      selector: { matchExpressions: [{ key: "track", operator: "In", values: ["canary"] }] },
      weight: 1,
    },
  ],
  ringHash: { virtualNodes: 200, hashOn: "client-ip", balanceFactor: 125 },
  maglev: { tableSize: 65_537, hashOn: "session-key" },
  latency: {
    map: { "us-east": { "us-east": "1ms", "eu-west": "80ms" }, "eu-west": { "us-east": "1.5s" } },
  },
  leastConnections: { connectionTimeout: "2m30s" },
};

describe("validatePolicy: accepted specs", () => {
  it("translates every field into the core's shape and units", () => {
    const result = validatePolicy(
      { ...metadata, creationTimestamp: "2025-03-01T10:00:00Z" },
      fullSpec,
    );
    expect(result).toEqual({
      ok: true,
      policy: {
        name: "checkout-lb",
        namespace: "shop",
        creationTimestamp: "2025-03-01T10:00:00Z",
        targetRef: { kind: "Service", name: "checkout" },
        strategy: "ring-hash",
        weights: fullSpec.weights,
        balancer: {
          healthFilter: false,
          panicThreshold: 50,
          ringHash: { virtualNodes: 200, hashOn: "client-ip", balanceFactor: 125 },
          maglev: { tableSize: 65_537, hashOn: "session-key" },
          latency: {
            map: { "us-east": { "us-east": 1, "eu-west": 80 }, "eu-west": { "us-east": 1500 } },
          },
          leastConnections: { connectionTimeoutMs: 150_000 },
        },
        healthCheck: null,
      },
    });
    if (result.ok) expect(() => resolvePolicy(result.policy.balancer)).not.toThrow();
  });

  it("leaves absent fields to the server: no strategy, Service kind, core defaults", () => {
    const result = validatePolicy(metadata, { targetRef: { name: "checkout" } });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.strategy).toBeNull();
    expect(result.policy.targetRef).toEqual({ kind: "Service", name: "checkout" });
    expect(result.policy.weights).toEqual([]);
    expect(result.policy.creationTimestamp).toBeNull();
    expect(resolvePolicy(result.policy.balancer)).toEqual(DEFAULT_POLICY);
  });

  it("takes a Date creation time from a typed client", () => {
    const result = validatePolicy(
      { ...metadata, creationTimestamp: new Date("2025-03-01T10:00:00Z") },
      { targetRef: { name: "checkout" } },
    );
    expect(result.ok && result.policy.creationTimestamp).toBe("2025-03-01T10:00:00.000Z");
  });

  it("does not share objects with the input", () => {
    const labels = { version: "v2" };
    const spec = {
      ...structuredClone(fullSpec),
      weights: [{ selector: { matchLabels: labels }, weight: 3 }],
    };
    const result = validatePolicy(metadata, spec);
    labels.version = "v9";
    spec.ringHash.virtualNodes = 1;
    expect(result.ok && result.policy.weights[0]?.selector.matchLabels?.version).toBe("v2");
    expect(result.ok && result.policy.balancer.ringHash?.virtualNodes).toBe(200);
  });
});

describe("validatePolicy: schema errors name the field, the value and what is allowed", () => {
  it("an unknown strategy", () => {
    expect(
      errorsOf(validatePolicy(metadata, { targetRef: { name: "checkout" }, strategy: "fastest" })),
    ).toEqual([
      'spec.strategy: "fastest" is not allowed; expected one of round-robin, weighted-round-robin, ' +
        "random, weighted-random, least-connections, least-request, ip-hash, ring-hash, maglev, latency-based",
    ]);
  });

  it("a missing targetRef and a missing name", () => {
    expect(errorsOf(validatePolicy(metadata, {}))).toEqual([
      "spec.targetRef: is required; expected an object with fields kind, name",
    ]);
    expect(errorsOf(validatePolicy(metadata, { targetRef: { kind: "Service" } }))[0]).toMatch(
      /^spec\.targetRef\.name: is required; expected a Service name/,
    );
  });

  it("a target of another kind, and a name that is not a DNS label", () => {
    const errors = errorsOf(
      validatePolicy(metadata, { targetRef: { kind: "Deployment", name: "Checkout_1" } }),
    );
    expect(errors).toEqual([
      'spec.targetRef.kind: "Deployment" is not allowed; expected one of Service',
      expect.stringMatching(
        /^spec\.targetRef\.name: "Checkout_1" is not allowed; expected a Service name: at most 63 lowercase/,
      ),
    ]);
  });

  it("numbers out of range or of the wrong kind", () => {
    const errors = errorsOf(
      validatePolicy(metadata, {
        targetRef: { name: "checkout" },
        panicThreshold: 101,
        ringHash: { virtualNodes: 0, balanceFactor: 99.5 },
        maglev: { tableSize: 2 },
        weights: [{ selector: {}, weight: 1001 }],
      }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        "spec.panicThreshold: 101 is not allowed; expected a number from 0 to 100",
        "spec.ringHash.virtualNodes: 0 is not allowed; expected an integer from 1 to 10000",
        "spec.ringHash.balanceFactor: 99.5 is not allowed; expected an integer from 100 to 10000",
        "spec.maglev.tableSize: 2 is not allowed; expected an integer from 3 to 5000011",
        "spec.weights[0].weight: 1001 is not allowed; expected an integer from 1 to 1000",
      ]),
    );
    expect(errors).toHaveLength(5);
  });

  it("wrong types, one message per field", () => {
    const errors = errorsOf(
      validatePolicy(metadata, {
        targetRef: { name: "checkout" },
        healthFilter: "yes",
        weights: { version: "v2" },
      }),
    );
    expect(errors).toEqual([
      'spec.healthFilter: "yes" is not allowed; expected true or false',
      'spec.weights: {"version":"v2"} is not allowed; expected a list, each item an object with fields selector, weight',
    ]);
  });

  it("unknown fields, which Kubernetes would drop silently", () => {
    expect(
      errorsOf(
        validatePolicy(metadata, {
          targetRef: { name: "checkout" },
          ringhash: { virtualNodes: 10 },
        }),
      ),
    ).toEqual([
      "spec.ringhash: unknown field; the fields here are targetRef, strategy, healthFilter, panicThreshold, " +
        "weights, leastRequest, ringHash, maglev, latency, leastConnections, outlierDetection, " +
        "healthCheck, subsets, defaultSubset, slowStart, locality",
    ]);
  });

  it("bad durations and bad label values in maps", () => {
    const errors = errorsOf(
      validatePolicy(metadata, {
        targetRef: { name: "checkout" },
        latency: { map: { "us-east": { "eu-west": "80" } } },
        weights: [{ selector: { matchLabels: { version: 2 } }, weight: 2 }],
      }),
    );
    expect(errors).toEqual([
      "spec.weights[0].selector.matchLabels.version: 2 is not allowed; expected a label value: " +
        "empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
      'spec.latency.map.us-east.eu-west: "80" is not allowed; expected a duration such as "80ms", "1.5s" or "2m30s"',
    ]);
  });

  it("a spec that is missing or not an object", () => {
    expect(errorsOf(validatePolicy(metadata, undefined))[0]).toMatch(
      /^spec: is required; expected an object with fields targetRef/,
    );
    expect(errorsOf(validatePolicy(metadata, "ring-hash"))[0]).toMatch(
      /^spec: "ring-hash" is not allowed; expected an object/,
    );
  });

  it("gives each problem's path for pointing at a line", () => {
    const result = validatePolicy(metadata, {
      targetRef: { name: "checkout" },
      weights: [{ selector: {}, weight: 0 }],
    });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.problems.map((p) => p.path)).toEqual([["spec", "weights", 0, "weight"]]);
  });
});

describe("validatePolicy: rules a schema cannot state", () => {
  it("a Maglev table size that is not prime", () => {
    expect(
      errorsOf(
        validatePolicy(metadata, {
          targetRef: { name: "checkout" },
          maglev: { tableSize: 65_536 },
        }),
      ),
    ).toEqual([
      "spec.maglev.tableSize: 65536 is not allowed; expected a prime number from 3 to 5000011 (e.g. 65537)",
    ]);
  });

  it("a connection timeout outside 1ms..24h or not in whole milliseconds", () => {
    for (const timeout of ["0s", "25h", "1500us"]) {
      expect(
        errorsOf(
          validatePolicy(metadata, {
            targetRef: { name: "checkout" },
            leastConnections: { connectionTimeout: timeout },
          }),
        ),
      ).toEqual([
        `spec.leastConnections.connectionTimeout: "${timeout}" is not allowed; expected a whole number of milliseconds from 1ms to 24h`,
      ]);
    }
  });

  it("a latency beyond what a duration can hold", () => {
    expect(
      errorsOf(
        validatePolicy(metadata, {
          targetRef: { name: "checkout" },
          latency: { map: { "us-east": { "eu-west": "9999999h" } } },
        }),
      ),
    ).toEqual([
      'spec.latency.map.us-east.eu-west: "9999999h" is not allowed; expected a duration of at most 2562047h',
    ]);
  });

  it("selector rules the API server applies", () => {
    const errors = errorsOf(
      validatePolicy(metadata, {
        targetRef: { name: "checkout" },
        weights: [
          { selector: { matchExpressions: [{ key: "version", operator: "In" }] }, weight: 2 },
        ],
      }),
    );
    expect(errors).toEqual([
      "spec.weights[0].selector.matchExpressions[0].values: [] is not allowed; expected at least one value for operator In",
    ]);
  });
});

describe("validatePolicy: healthCheck", () => {
  const withCheck = (healthCheck: unknown) =>
    validatePolicy(metadata, { targetRef: { name: "checkout" }, healthCheck });

  it("is null when the spec asks for no probe", () => {
    const result = validatePolicy(metadata, { targetRef: { name: "checkout" } });
    expect(result.ok && result.policy.healthCheck).toBeNull();
  });

  it("translates an HTTP probe into milliseconds", () => {
    const result = withCheck({
      http: { path: "/healthz", port: 8080 },
      interval: "5s",
      timeout: "1.5s",
      unhealthyThreshold: 5,
      healthyThreshold: 1,
    });
    expect(result.ok && result.policy.healthCheck).toEqual({
      kind: "http",
      path: "/healthz",
      port: 8080,
      intervalMs: 5000,
      timeoutMs: 1500,
      unhealthyThreshold: 5,
      healthyThreshold: 1,
    });
  });

  it("fills in the defaults: path /, every 10s, 2s timeout, 3 to fail, 2 to recover", () => {
    expect(withCheck({ tcp: { port: "http" } })).toMatchObject({
      ok: true,
      policy: {
        healthCheck: {
          kind: "tcp",
          path: null,
          port: "http",
          intervalMs: 10_000,
          timeoutMs: 2000,
          unhealthyThreshold: 3,
          healthyThreshold: 2,
        },
      },
    });
    expect(withCheck({ http: { port: "web-1" } })).toMatchObject({
      ok: true,
      policy: { healthCheck: { kind: "http", path: "/", port: "web-1" } },
    });
  });

  it("takes the bounds themselves: 1s to 1h, timeout just under the interval", () => {
    for (const [interval, timeout] of [
      ["1s", "999ms"],
      ["1h", "59m59.999s"],
    ]) {
      const result = withCheck({ tcp: { port: 1 }, interval, timeout });
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
    expect(withCheck({ tcp: { port: 65_535 }, healthyThreshold: 100 }).ok).toBe(true);
  });

  it("wants exactly one of http and tcp", () => {
    expect(errorsOf(withCheck({ http: { port: 80 }, tcp: { port: 80 } }))).toEqual([
      "spec.healthCheck: exactly one of http or tcp must be set; both are set",
    ]);
    expect(errorsOf(withCheck({ interval: "5s" }))).toEqual([
      "spec.healthCheck: exactly one of http or tcp must be set; neither is set",
    ]);
  });

  it("wants the timeout below the interval, the default interval included", () => {
    expect(errorsOf(withCheck({ tcp: { port: 80 }, interval: "5s", timeout: "5s" }))).toEqual([
      'spec.healthCheck.timeout: "5s" is not allowed; timeout must be shorter than interval (5s)',
    ]);
    expect(errorsOf(withCheck({ tcp: { port: 80 }, timeout: "15s" }))).toEqual([
      'spec.healthCheck.timeout: "15s" is not allowed; timeout must be shorter than interval (10s)',
    ]);
  });

  it("holds interval and timeout to their ranges, in whole milliseconds", () => {
    const cases: [Record<string, string>, string][] = [
      [
        { interval: "500ms", timeout: "100ms" },
        'spec.healthCheck.interval: "500ms" is not allowed; interval must be from 1s to 1h',
      ],
      [
        { interval: "1h0m1s" },
        'spec.healthCheck.interval: "1h0m1s" is not allowed; interval must be from 1s to 1h',
      ],
      [
        { timeout: "0" },
        'spec.healthCheck.timeout: "0" is not allowed; timeout must be at least 1ms',
      ],
      [
        { interval: "1000500us" },
        'spec.healthCheck.interval: "1000500us" is not allowed; interval must be a whole number of milliseconds',
      ],
      [
        { interval: "9999999h" },
        'spec.healthCheck.interval: "9999999h" is not allowed; interval must be from 1s to 1h',
      ],
      [
        { interval: "10" },
        'spec.healthCheck.interval: "10" is not allowed; expected a duration such as "80ms", "1.5s" or "2m30s"',
      ],
    ];
    for (const [durations, message] of cases) {
      expect(errorsOf(withCheck({ tcp: { port: 80 }, ...durations }))).toEqual([message]);
    }
  });

  it("takes a port number or a port name, nothing else", () => {
    const allowed =
      "expected an integer from 1 to 65535 or a port name: at most 15 lowercase letters, digits " +
      "and single inner '-', at least one of them a letter";
    for (const port of ["http", "h2c", "web-1", "8080-admin", "a".repeat(15)]) {
      expect(withCheck({ tcp: { port } }).ok, port).toBe(true);
    }
    for (const port of [
      0,
      65_536,
      80.5,
      "HTTP",
      "8080",
      "-http",
      "http-",
      "a--b",
      "a".repeat(16),
      true,
    ]) {
      expect(errorsOf(withCheck({ tcp: { port } })), String(port)).toEqual([
        `spec.healthCheck.tcp.port: ${JSON.stringify(port)} is not allowed; ${allowed}`,
      ]);
    }
    expect(errorsOf(withCheck({ http: { path: "/" } }))).toEqual([
      `spec.healthCheck.http.port: is required; ${allowed}`,
    ]);
  });

  it("wants an absolute HTTP path without spaces", () => {
    expect(withCheck({ http: { port: 80, path: "/health?full=1" } }).ok).toBe(true);
    for (const path of ["healthz", "/a b", ""]) {
      expect(errorsOf(withCheck({ http: { port: 80, path } }))).toEqual([
        `spec.healthCheck.http.path: ${JSON.stringify(path)} is not allowed; expected a path starting with "/", in printable ASCII without spaces`,
      ]);
    }
  });

  it("holds thresholds to 1..100 and names unknown fields", () => {
    expect(
      errorsOf(withCheck({ tcp: { port: 80 }, unhealthyThreshold: 0, healthyThreshold: 101 })),
    ).toEqual([
      "spec.healthCheck.unhealthyThreshold: 0 is not allowed; expected an integer from 1 to 100",
      "spec.healthCheck.healthyThreshold: 101 is not allowed; expected an integer from 1 to 100",
    ]);
    expect(errorsOf(withCheck({ tcp: { port: 80 }, grpc: {} }))).toEqual([
      "spec.healthCheck.grpc: unknown field; the fields here are http, tcp, interval, timeout, " +
        "unhealthyThreshold, healthyThreshold",
    ]);
  });
});

describe("validatePolicy: limits that keep the CRD's rules cheap", () => {
  it("says how many items or characters are too many", () => {
    const errors = errorsOf(
      validatePolicy(metadata, {
        targetRef: { name: "checkout" },
        weights: Array.from({ length: 65 }, () => ({ selector: {}, weight: 1 })),
        latency: { map: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, {}])) },
      }),
    );
    expect(errors).toEqual([
      "spec.weights: has 65 items; at most 64 are allowed",
      "spec.latency.map: has 65 entries; at most 64 are allowed",
    ]);
    expect(
      errorsOf(
        validatePolicy(metadata, {
          targetRef: { name: "checkout" },
          weights: [{ selector: { matchLabels: { track: "c".repeat(64) } }, weight: 1 }],
        }),
      ),
    ).toEqual([
      `spec.weights[0].selector.matchLabels.track: "${"c".repeat(64)}" has 64 characters; at most 63 are allowed`,
    ]);
  });
});
