import { describe, expect, it } from "vitest";
import type { ServiceEntry } from "../../src/catalog/catalog.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import type {
  EndpointSlice,
  Node,
  Pod,
  Service,
  SliceEndpoint,
} from "../../src/sources/kube-objects.ts";
import type { KubernetesSnapshot } from "../../src/sources/translate.ts";
import {
  mergeSliceEndpoints,
  sliceEndpoints,
  TranslationCache,
  translateSnapshot,
} from "../../src/sources/translate.ts";

function svc(
  name: string,
  portNames: (string | undefined)[] = ["http"],
  namespace = "shop",
): Service {
  return {
    metadata: { name, namespace },
    spec: { ports: portNames.map((portName, i) => ({ name: portName, port: 80 + i })) },
  };
}

function slice(
  name: string,
  serviceName: string,
  endpoints: SliceEndpoint[],
  options: { namespace?: string; ports?: EndpointSlice["ports"]; addressType?: string } = {},
): EndpointSlice {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? "shop",
      labels: { "kubernetes.io/service-name": serviceName },
    },
    addressType: options.addressType ?? "IPv4",
    ports: options.ports ?? [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints,
  };
}

function ep(address: string, podName?: string, extra: Partial<SliceEndpoint> = {}): SliceEndpoint {
  return {
    addresses: [address],
    ...(podName === undefined
      ? {}
      : { targetRef: { kind: "Pod", name: podName, namespace: "shop" } }),
    ...extra,
  };
}

function pod(
  name: string,
  labels: Record<string, string> = {},
  annotations?: Record<string, string>,
): Pod {
  return { metadata: { name, namespace: "shop", labels, ...(annotations ? { annotations } : {}) } };
}

function node(name: string, region: string, zone: string): Node {
  return {
    metadata: {
      name,
      labels: { "topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone },
    },
  };
}

function policy(name: string, target: string, extra: Partial<ParsedPolicy> = {}): ParsedPolicy {
  return {
    name,
    namespace: "shop",
    creationTimestamp: null,
    targetRef: { kind: "Service", name: target },
    strategy: "round-robin",
    weights: [],
    balancer: {},
    healthCheck: null,
    ...extra,
  };
}

function snapshot(parts: Partial<KubernetesSnapshot>): KubernetesSnapshot {
  return { services: [], endpointSlices: [], pods: [], nodes: [], policies: [], ...parts };
}

function endpointsOf(parts: Partial<KubernetesSnapshot>, service = "checkout") {
  const entry = translateSnapshot(snapshot(parts)).entries.find((e) => e.name === service);
  if (entry === undefined) throw new Error(`no entry for ${service}`);
  return entry.endpoints;
}

describe("translateSnapshot: services and slices", () => {
  it("makes one entry per Service, sorted, even without slices", () => {
    const { entries, warnings } = translateSnapshot(
      snapshot({ services: [svc("checkout"), svc("cart"), svc("payments", ["http"], "payments")] }),
    );
    expect(entries.map((e) => `${e.namespace}/${e.name}`)).toEqual([
      "payments/payments",
      "shop/cart",
      "shop/checkout",
    ]);
    expect(entries.every((e) => e.endpoints.length === 0 && e.policy === null)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("joins slices by the service-name label in the same namespace only", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout"), svc("cart")],
      endpointSlices: [
        slice("checkout-a", "checkout", [ep("10.42.1.1", "checkout-1")]),
        slice("cart-a", "cart", [ep("10.42.1.2", "cart-1")]),
        slice("checkout-other-ns", "checkout", [ep("10.42.1.3", "checkout-x")], {
          namespace: "payments",
        }),
        {
          metadata: { name: "unlabelled", namespace: "shop" },
          endpoints: [ep("10.42.1.4", "stray")],
        },
      ],
    });
    expect(endpoints.map((e) => e.identity)).toEqual(["checkout-1"]);
  });

  it("merges several slices of one service and sorts endpoints by identity", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("checkout-b", "checkout", [
          ep("10.42.1.3", "checkout-c"),
          ep("10.42.1.1", "checkout-a"),
        ]),
        slice("checkout-a", "checkout", [ep("10.42.1.2", "checkout-b")]),
      ],
    });
    expect(endpoints.map((e) => e.identity)).toEqual(["checkout-a", "checkout-b", "checkout-c"]);
  });

  it("counts an endpoint listed in two slices once, keeping the first slice's copy", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("checkout-b", "checkout", [
          ep("10.42.1.1", "checkout-a", { conditions: { ready: false } }),
        ]),
        slice("checkout-a", "checkout", [
          ep("10.42.1.1", "checkout-a", { conditions: { ready: true } }),
        ]),
      ],
    });
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]?.ready).toBe(true);
  });

  it("keeps the IPv4 address of a dual-stack pod", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("checkout-a6", "checkout", [ep("fd00::1", "checkout-a")], { addressType: "IPv6" }),
        slice("checkout-z4", "checkout", [ep("10.42.1.1", "checkout-a")]),
      ],
    });
    expect(endpoints.map((e) => e.address)).toEqual(["10.42.1.1"]);
  });
});

describe("translateSnapshot: identity, address and ports", () => {
  it("uses the pod name, else address:port, and the first address", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("checkout-a", "checkout", [
          ep("10.42.1.1", "checkout-a"),
          { addresses: ["10.42.1.9", "10.42.1.10"] },
          { addresses: ["10.42.1.8"], targetRef: { kind: "Node", name: "node-1" } },
          { addresses: [] },
          ep("fd00::7"),
        ]),
      ],
    });
    expect(endpoints.map((e) => [e.identity, e.address, e.podName])).toEqual([
      ["10.42.1.8:8080", "10.42.1.8", null],
      ["10.42.1.9:8080", "10.42.1.9", null],
      ["[fd00::7]:8080", "fd00::7", null],
      ["checkout-a", "10.42.1.1", "checkout-a"],
    ]);
  });

  it("maps ports by name and picks the one named like the Service's first port", () => {
    const ports = [
      { name: "metrics", port: 9090 },
      { name: "http", port: 8080 },
    ];
    const [first] = endpointsOf({
      services: [svc("checkout", ["http", "metrics"])],
      endpointSlices: [slice("s", "checkout", [ep("10.42.1.1", "a")], { ports })],
    });
    expect(first?.ports).toEqual({ metrics: 9090, http: 8080 });
    expect(first?.port).toBe(8080);
  });

  it("falls back to the slice's first port, keys an unnamed port as empty, and gives null without ports", () => {
    const [unnamed] = endpointsOf({
      services: [svc("checkout", [undefined])],
      endpointSlices: [slice("s", "checkout", [ep("10.42.1.1", "a")], { ports: [{ port: 8080 }] })],
    });
    expect(unnamed?.ports).toEqual({ "": 8080 });
    expect(unnamed?.port).toBe(8080);

    const [mismatched] = endpointsOf({
      services: [svc("checkout", ["web"])],
      endpointSlices: [
        slice("s", "checkout", [ep("10.42.1.1", "a")], { ports: [{ name: "grpc", port: 9000 }] }),
      ],
    });
    expect(mismatched?.port).toBe(9000);

    const [portless] = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("s", "checkout", [{ addresses: ["10.42.1.1"] }], {
          ports: [{ name: "all", port: null }],
        }),
      ],
    });
    expect(portless?.port).toBeNull();
    expect(portless?.ports).toEqual({});
    expect(portless?.identity).toBe("10.42.1.1");
  });
});

describe("translateSnapshot: conditions", () => {
  const cases: [
    SliceEndpoint["conditions"],
    { ready: boolean; serving: boolean; terminating: boolean },
  ][] = [
    [undefined, { ready: true, serving: true, terminating: false }],
    [{}, { ready: true, serving: true, terminating: false }],
    [
      { ready: null, serving: null, terminating: null },
      { ready: true, serving: true, terminating: false },
    ],
    [{ ready: false }, { ready: false, serving: false, terminating: false }],
    [
      { ready: false, serving: true, terminating: true },
      { ready: false, serving: true, terminating: true },
    ],
    [
      { ready: true, terminating: true },
      { ready: true, serving: true, terminating: true },
    ],
  ];
  it.each(cases)("reads %j as %j", (conditions, expected) => {
    const [endpoint] = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("s", "checkout", [
          ep("10.42.1.1", "a", conditions === undefined ? {} : { conditions }),
        ]),
      ],
    });
    expect({
      ready: endpoint?.ready,
      serving: endpoint?.serving,
      terminating: endpoint?.terminating,
    }).toEqual(expected);
    expect(endpoint?.probeHealthy).toBeNull();
  });
});

describe("translateSnapshot: topology", () => {
  it("takes zone and node from the slice and the region from the Node", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      nodes: [
        node("node-use1-a", "us-east", "us-east-1a"),
        node("node-euw1-a", "eu-west", "eu-west-1a"),
      ],
      endpointSlices: [
        slice("s", "checkout", [
          ep("10.42.1.1", "a", { nodeName: "node-use1-a", zone: "us-east-1a" }),
          ep("10.44.1.1", "b", { nodeName: "node-euw1-a" }),
          ep("10.46.1.1", "c", { nodeName: "node-gone", zone: "ap-south-1a" }),
          ep("10.46.1.2", "d"),
        ]),
      ],
    });
    expect(endpoints.map((e) => [e.identity, e.node, e.zone, e.region])).toEqual([
      ["a", "node-use1-a", "us-east-1a", "us-east"],
      // No zone on the slice: the Node's zone label.
      ["b", "node-euw1-a", "eu-west-1a", "eu-west"],
      ["c", "node-gone", "ap-south-1a", null],
      ["d", null, null, null],
    ]);
  });
});

describe("translateSnapshot: weights", () => {
  const slices = [
    slice("s", "checkout", [
      ep("10.42.1.1", "v1-plain"),
      ep("10.42.1.2", "v1-annotated"),
      ep("10.42.1.3", "v2-annotated"),
      ep("10.42.1.4", "no-pod"),
    ]),
  ];
  const pods = [
    pod("v1-plain", { version: "v1" }),
    pod("v1-annotated", { version: "v1" }, { "lb.konsul.io/weight": "7" }),
    pod("v2-annotated", { version: "v2" }, { "lb.konsul.io/weight": "7" }),
  ];

  it("uses the annotation, else 1, without a policy", () => {
    const endpoints = endpointsOf({ services: [svc("checkout")], endpointSlices: slices, pods });
    expect(Object.fromEntries(endpoints.map((e) => [e.identity, e.weight]))).toEqual({
      "no-pod": 1,
      "v1-annotated": 7,
      "v1-plain": 1,
      "v2-annotated": 7,
    });
  });

  it("puts the first matching policy weight before the annotation", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: slices,
      pods,
      policies: [
        policy("p", "checkout", {
          weights: [
            { selector: { matchLabels: { version: "v2" } }, weight: 3 },
            { selector: { matchExpressions: [{ key: "version", operator: "Exists" }] }, weight: 5 },
            { selector: { matchLabels: { version: "v2" } }, weight: 9 },
          ],
        }),
      ],
    });
    expect(Object.fromEntries(endpoints.map((e) => [e.identity, e.weight]))).toEqual({
      "no-pod": 1,
      "v1-annotated": 5,
      "v1-plain": 5,
      "v2-annotated": 3,
    });
  });

  it("carries the pod's labels and name on the endpoint", () => {
    const endpoints = endpointsOf({ services: [svc("checkout")], endpointSlices: slices, pods });
    expect(endpoints.find((e) => e.identity === "v2-annotated")?.labels).toEqual({ version: "v2" });
    expect(endpoints.find((e) => e.identity === "no-pod")?.labels).toEqual({});
    expect(endpoints.find((e) => e.identity === "no-pod")?.podName).toBe("no-pod");
  });

  it.each(["0", "1001", "2.5", "heavy", "", " 3", "-1"])(
    "warns about annotation %j and uses weight 1",
    (value) => {
      const { entries, warnings } = translateSnapshot(
        snapshot({
          services: [svc("checkout")],
          endpointSlices: [slice("s", "checkout", [ep("10.42.1.1", "checkout-1")])],
          pods: [pod("checkout-1", {}, { "lb.konsul.io/weight": value })],
        }),
      );
      expect(entries[0]?.endpoints[0]?.weight).toBe(1);
      expect(warnings).toEqual([
        `Pod shop/checkout-1: annotation lb.konsul.io/weight ${JSON.stringify(value)} is not allowed; ` +
          "expected an integer from 1 to 1000; using weight 1",
      ]);
    },
  );

  it("warns once about a pod behind two services", () => {
    const { warnings } = translateSnapshot(
      snapshot({
        services: [svc("checkout"), svc("cart")],
        endpointSlices: [
          slice("s1", "checkout", [ep("10.42.1.1", "p")]),
          slice("s2", "cart", [ep("10.42.1.1", "p")]),
        ],
        pods: [pod("p", {}, { "lb.konsul.io/weight": "0" })],
      }),
    );
    expect(warnings).toHaveLength(1);
  });
});

describe("translateSnapshot: policies", () => {
  it("attaches a policy to the Service it targets in its own namespace", () => {
    const { entries } = translateSnapshot(
      snapshot({
        services: [svc("checkout"), svc("checkout", ["http"], "payments")],
        policies: [policy("p", "checkout")],
      }),
    );
    expect(entries.find((e) => e.namespace === "shop")?.policy?.name).toBe("p");
    expect(entries.find((e) => e.namespace === "payments")?.policy).toBeNull();
  });

  it("lets the oldest of two conflicting policies win, then the name, and warns naming both", () => {
    const older = policy("zz-older", "checkout", { creationTimestamp: "2025-01-01T00:00:00Z" });
    const newer = policy("aa-newer", "checkout", { creationTimestamp: "2025-06-01T00:00:00Z" });
    const undated = policy("aa-undated", "checkout");
    const { entries, warnings } = translateSnapshot(
      snapshot({ services: [svc("checkout")], policies: [newer, undated, older] }),
    );
    expect(entries[0]?.policy?.name).toBe("zz-older");
    expect(warnings).toEqual([
      "LoadBalancingPolicy shop/aa-newer conflicts with LoadBalancingPolicy shop/zz-older: both target " +
        "Service shop/checkout; shop/zz-older applies, being the older (by creationTimestamp, then name)",
      "LoadBalancingPolicy shop/aa-undated conflicts with LoadBalancingPolicy shop/zz-older: both target " +
        "Service shop/checkout; shop/zz-older applies, being the older (by creationTimestamp, then name)",
    ]);

    const byName = translateSnapshot(
      snapshot({
        services: [svc("checkout")],
        policies: [policy("b", "checkout"), policy("a", "checkout")],
      }),
    );
    expect(byName.entries[0]?.policy?.name).toBe("a");
  });

  it("warns about a policy whose Service does not exist", () => {
    const { warnings } = translateSnapshot(
      snapshot({ services: [svc("checkout")], policies: [policy("p", "chekout")] }),
    );
    expect(warnings).toEqual([
      "LoadBalancingPolicy shop/p targets Service shop/chekout, which does not exist; the policy has no effect",
    ]);
  });
});

describe("translateSnapshot: determinism", () => {
  it("gives the same result whatever the order of the input objects", () => {
    const parts = {
      services: [svc("checkout"), svc("cart")],
      endpointSlices: [
        slice("c1", "checkout", [ep("10.42.1.1", "a"), ep("10.42.1.2", "b")]),
        slice("c2", "checkout", [ep("10.42.1.2", "b"), ep("10.42.1.3", "c")]),
        slice("k1", "cart", [ep("10.42.2.1", "k")]),
      ],
      pods: [pod("a", { version: "v2" }), pod("k", {}, { "lb.konsul.io/weight": "x" })],
      nodes: [node("n", "us-east", "us-east-1a")],
      policies: [
        policy("p", "checkout", {
          weights: [{ selector: { matchLabels: { version: "v2" } }, weight: 4 }],
        }),
      ],
    };
    const forward = translateSnapshot(snapshot(parts));
    const backward = translateSnapshot(
      snapshot(Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, [...v].reverse()]))),
    );
    expect(backward).toEqual(forward);
  });
});

describe("translateSnapshot: readiness time for slow start", () => {
  const readyPod = (name: string, status: string, time: string | Date | null): Pod => ({
    ...pod(name),
    status: { conditions: [{ type: "Ready", status, lastTransitionTime: time }] },
  });

  it("is the pod's Ready condition's transition time, for ready endpoints only", () => {
    const endpoints = endpointsOf({
      services: [svc("checkout")],
      endpointSlices: [
        slice("checkout-1", "checkout", [
          ep("10.0.0.1", "a"),
          ep("10.0.0.2", "b"),
          ep("10.0.0.3", "c", { conditions: { ready: false } }),
          ep("10.0.0.4", "d"),
          ep("10.0.0.5", "e"),
        ]),
      ],
      pods: [
        readyPod("a", "True", "2026-12-05T06:00:00Z"),
        readyPod("b", "True", new Date("2026-12-05T06:01:00Z")),
        readyPod("c", "False", "2026-12-05T06:02:00Z"),
        readyPod("d", "True", "not a time"),
        pod("e"),
      ],
    });
    expect(endpoints.map((e) => e.readySince)).toEqual([
      Date.parse("2026-12-05T06:00:00Z"),
      Date.parse("2026-12-05T06:01:00Z"),
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe("translateSnapshot: a pod that fails readiness before its slice says so", () => {
  const podWithReady = (name: string, status: string): Pod => ({
    ...pod(name),
    status: { conditions: [{ type: "Ready", status, lastTransitionTime: null }] },
  });
  const parts = (service: Service) => ({
    services: [service],
    endpointSlices: [
      slice("checkout-1", "checkout", [
        ep("10.0.0.1", "a"),
        ep("10.0.0.2", "b"),
        ep("10.0.0.3", "c", { conditions: { ready: false, serving: false } }),
        ep("10.0.0.4", "d"),
        ep("10.0.0.5", "e", { conditions: { ready: false, serving: true, terminating: true } }),
      ]),
    ],
    pods: [
      podWithReady("a", "False"),
      podWithReady("b", "Unknown"),
      podWithReady("c", "True"),
      pod("d"),
      podWithReady("e", "False"),
    ],
  });

  it("leaves the rotation at once; a ready pod still waits for its slice", () => {
    const endpoints = endpointsOf(parts(svc("checkout")));
    expect(endpoints.map((e) => [e.identity, e.ready, e.serving])).toEqual([
      ["a", false, false],
      ["b", false, false],
      ["c", false, false],
      ["d", true, true],
      ["e", false, false],
    ]);
  });

  it("is left to the slices when the Service publishes not-ready addresses", () => {
    const service = svc("checkout");
    const publishing: Service = {
      ...service,
      spec: { ...service.spec, publishNotReadyAddresses: true },
    };
    const endpoints = endpointsOf(parts(publishing));
    expect(endpoints.map((e) => [e.identity, e.ready, e.serving])).toEqual([
      ["a", true, true],
      ["b", true, true],
      ["c", false, false],
      ["d", true, true],
      ["e", false, true],
    ]);
  });
});

describe("per-slice translation", () => {
  const service = svc("checkout");
  const pods = new Map([["shop/a", pod("a", { app: "checkout" })]]);
  const lookups = {
    pod: (key: string) => pods.get(key),
    node: () => undefined,
    warnings: new Set<string>(),
  };

  it("gives frozen endpoints that share their slice's ports and their pod's frozen labels", () => {
    const frozenPod = pod("b", Object.freeze({ app: "checkout" }));
    pods.set("shop/b", frozenPod);
    const [a, b] = sliceEndpoints(
      service,
      slice("s1", "checkout", [ep("10.0.0.1", "a"), ep("10.0.0.2", "b")]),
      null,
      lookups,
    );
    expect(Object.isFrozen(a)).toBe(true);
    expect(a?.ports).toBe(b?.ports);
    expect(b?.labels).toBe(frozenPod.metadata?.labels);
    expect(a?.labels).toEqual({ app: "checkout" });
  });

  it("keeps the ports of the translation before while the slice's ports are the same", () => {
    const endpoints = [ep("10.0.0.1", "a")];
    const before = sliceEndpoints(service, slice("s1", "checkout", endpoints), null, lookups);
    const again = sliceEndpoints(
      service,
      slice("s1", "checkout", endpoints),
      null,
      lookups,
      before,
    );
    expect(again[0]?.ports).toBe(before[0]?.ports);
    const moved = sliceEndpoints(
      service,
      slice("s1", "checkout", endpoints, { ports: [{ name: "http", port: 9090 }] }),
      null,
      lookups,
      before,
    );
    expect(moved[0]?.ports).toEqual({ http: 9090 });
    expect(before[0]?.ports).toEqual({ http: 8080 });
  });

  it("merges slices as the whole translation does: first slice wins an identity, sorted", () => {
    const first = slice("s1", "checkout", [ep("10.0.0.2", "b"), ep("10.0.0.1", "a")]);
    const second = slice("s2", "checkout", [ep("10.0.0.9", "a"), ep("10.0.0.3", "c")]);
    const merged = mergeSliceEndpoints(
      [first, second].map((s) => sliceEndpoints(service, s, null, lookups)),
    );
    expect(merged.map((e) => [e.identity, e.address])).toEqual([
      ["a", "10.0.0.1"],
      ["b", "10.0.0.2"],
      ["c", "10.0.0.3"],
    ]);
    expect(merged).toEqual(
      endpointsOf({
        services: [service],
        endpointSlices: [second, first],
        pods: [...pods.values()],
      }),
    );
  });
});

describe("translateSnapshot with a TranslationCache", () => {
  const service = svc("checkout");
  const slices = [
    slice("checkout-a", "checkout", [ep("10.0.0.1", "a"), ep("10.0.0.2", "b")]),
    slice("checkout-b", "checkout", [ep("10.0.0.3", "c")]),
  ];
  const pods = [pod("a"), pod("b", {}, { "lb.konsul.io/weight": "x" }), pod("c")];
  const byIdentity = (parts: Partial<KubernetesSnapshot>, cache: TranslationCache) => {
    const { entries, warnings } = translateSnapshot(snapshot(parts), cache);
    const endpoints = entries[0]?.endpoints ?? [];
    return { warnings, get: (identity: string) => endpoints.find((e) => e.identity === identity) };
  };

  it("gives the same endpoint objects, and the same warnings, when nothing changed", () => {
    const cache = new TranslationCache();
    const parts = { services: [service], endpointSlices: slices, pods };
    const first = byIdentity(parts, cache);
    const second = byIdentity(parts, cache);
    expect(second.get("a")).toBe(first.get("a"));
    expect(second.get("c")).toBe(first.get("c"));
    expect(second.warnings).toEqual(first.warnings);
    expect(second.warnings).toHaveLength(1);
  });

  it("translates again the slices whose Pod, policy or Service is another object", () => {
    const cache = new TranslationCache();
    const first = byIdentity({ services: [service], endpointSlices: slices, pods }, cache);
    const relabelled = [pod("a", { version: "v2" }), pods[1] as Pod, pods[2] as Pod];
    const second = byIdentity(
      { services: [service], endpointSlices: slices, pods: relabelled },
      cache,
    );
    expect(second.get("a")?.labels).toEqual({ version: "v2" });
    expect(second.get("a")).not.toBe(first.get("a"));
    // The other slice named none of the changed objects.
    expect(second.get("c")).toBe(first.get("c"));
    const weighted = [policy("p", "checkout", { weights: [{ selector: {}, weight: 5 }] })];
    const third = byIdentity(
      { services: [service], endpointSlices: slices, pods: relabelled, policies: weighted },
      cache,
    );
    expect(third.get("c")?.weight).toBe(5);
    const fourth = byIdentity(
      { services: [svc("checkout")], endpointSlices: slices, pods: relabelled, policies: weighted },
      cache,
    );
    expect(fourth.get("c")).not.toBe(third.get("c"));
    expect(fourth.get("c")).toEqual(third.get("c"));
  });

  it("gives a Service none of whose parts changed the entry it gave last time", () => {
    const cache = new TranslationCache();
    const other = svc("cart");
    const otherSlice = slice("cart-a", "cart", [ep("10.0.1.1", "d")]);
    const parts = {
      services: [service, other],
      endpointSlices: [...slices, otherSlice],
      pods,
    };
    const first = translateSnapshot(snapshot(parts), cache).entries;
    const second = translateSnapshot(snapshot(parts), cache).entries;
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    expect(Object.isFrozen(second[0]?.endpoints)).toBe(true);
    // One slice of cart changed: cart's entry is new, checkout's stays.
    const movedSlice = slice("cart-a", "cart", [ep("10.0.1.2", "d")]);
    const third = translateSnapshot(
      snapshot({ ...parts, endpointSlices: [...slices, movedSlice] }),
      cache,
    ).entries;
    expect(third.find((e) => e.name === "checkout")).toBe(first.find((e) => e.name === "checkout"));
    expect(third.find((e) => e.name === "cart")?.endpoints[0]?.address).toBe("10.0.1.2");
  });

  it("notices a Pod or Node that changed after translations that changed none", () => {
    const cache = new TranslationCache();
    const withNode = [
      slice("checkout-a", "checkout", [{ ...ep("10.0.0.1", "a"), nodeName: "n1" }]),
    ];
    const node1 = (zone: string): Node => ({
      metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": zone } },
    });
    const parts = { services: [service], endpointSlices: withNode, pods, nodes: [node1("z1")] };
    translateSnapshot(snapshot(parts), cache);
    translateSnapshot(snapshot(parts), cache);
    const zoneOf = (entries: readonly ServiceEntry[]) => entries[0]?.endpoints[0]?.zone;
    const moved = translateSnapshot(snapshot({ ...parts, nodes: [node1("z2")] }), cache).entries;
    expect(zoneOf(moved)).toBe("z2");
    const relabelled = [pod("a", { version: "v2" }), pods[1] as Pod, pods[2] as Pod];
    const again = translateSnapshot(
      snapshot({ ...parts, nodes: [node1("z2")], pods: relabelled }),
      cache,
    ).entries;
    expect(again[0]?.endpoints[0]?.labels).toEqual({ version: "v2" });
    // A slice left out of one translation has its lookups checked when it comes back.
    translateSnapshot(snapshot({ ...parts, endpointSlices: [], pods: relabelled }), cache);
    const back = translateSnapshot(snapshot({ ...parts, pods: relabelled }), cache).entries;
    expect(zoneOf(back)).toBe("z1");
  });
});
