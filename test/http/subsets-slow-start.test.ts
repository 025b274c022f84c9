/**
 * Subsets and slow start through the whole program: a manifest file (pods with labels and Ready
 * transition times) → translation → catalog → engine → the HTTP API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointSpecs, manifestYaml, type ServiceSpec } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

const LONG_AGO = "2020-01-01T00:00:00Z";

function services(newcomerReadySince: string): ServiceSpec[] {
  return [
    {
      namespace: "shop",
      name: "web",
      endpoints: endpointSpecs("web", 5, (i) => ({
        labels: { version: i < 3 ? "v1" : "v2" },
      })),
      policy: {
        strategy: "round-robin",
        subsets: [
          { name: "stable", selector: { matchLabels: { version: "v1" } } },
          {
            name: "next",
            selector: {
              matchExpressions: [{ key: "version", operator: "In", values: ["v2"] }],
            },
          },
        ],
      },
    },
    {
      namespace: "shop",
      name: "defaulted",
      endpoints: endpointSpecs("defaulted", 4, (i) => ({
        labels: { track: i === 0 ? "canary" : "main" },
      })),
      policy: {
        subsets: [{ name: "main", selector: { matchLabels: { track: "main" } } }],
        defaultSubset: "main",
      },
    },
    {
      namespace: "shop",
      name: "ramp",
      endpoints: endpointSpecs("ramp", 4, (i) => ({
        readySince: i === 3 ? newcomerReadySince : LONG_AGO,
      })),
      policy: {
        strategy: "weighted-random",
        slowStart: { window: "1h", aggression: 1, minWeightPercent: 5 },
      },
    },
  ];
}

let service: TestService;

beforeAll(async () => {
  service = await startTestService(manifestYaml(services(new Date().toISOString())));
});
afterAll(async () => {
  await service.close();
});

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${service.url}${path}`);
  return { status: response.status, body: await response.json() };
}

async function identities(path: string, count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { status, body } = await get(path);
    expect(status).toBe(200);
    counts.set(body.endpoint.identity, (counts.get(body.endpoint.identity) ?? 0) + 1);
  }
  return counts;
}

describe("subsets over HTTP", () => {
  it("subset=<name> balances over the subset's pods alone", async () => {
    const stable = await identities("/v1/services/shop/web/pick?subset=stable", 9);
    expect([...stable.keys()].sort()).toEqual(["web-0", "web-1", "web-2"]);
    const next = await get("/v1/services/shop/web/endpoints?subset=next");
    expect(next.status).toBe(200);
    expect(next.body.endpoints.map((e: any) => e.identity).sort()).toEqual(["web-3", "web-4"]);
    const all = await get("/v1/services/shop/web/endpoints");
    expect(all.body.endpoints).toHaveLength(5);
  });

  it("defaultSubset applies when the request names none", async () => {
    const picked = await identities("/v1/services/shop/defaulted/pick", 9);
    expect([...picked.keys()].sort()).toEqual(["defaulted-1", "defaulted-2", "defaulted-3"]);
  });

  it("an unknown subset is 400 UnknownSubset listing the names", async () => {
    const { status, body } = await get("/v1/services/shop/web/pick?subset=beta");
    expect(status).toBe(400);
    expect(body.error.code).toBe("UnknownSubset");
    expect(body.error.message).toBe(
      'subset "beta" is not defined by the service\'s policy; use one of stable, next',
    );
  });

  it("a subset name that cannot be one is 400 InvalidParameter naming the parameter", async () => {
    const { status, body } = await get("/v1/services/shop/web/pick?subset=Not_A_Label");
    expect(status).toBe(400);
    expect(body.error.code).toBe("InvalidParameter");
    expect(body.error.message).toContain("subset");
    expect(body.error.message).toContain("Not_A_Label");
  });

  it("/openapi.json documents the subset parameter and the UnknownSubset error", async () => {
    const { body } = await get("/openapi.json");
    const pick = body.paths["/v1/services/{namespace}/{name}/pick"].get;
    expect(JSON.stringify(pick.parameters)).toContain("subset");
    expect(JSON.stringify(body)).toContain("UnknownSubset");
  });
});

describe("slow start over HTTP", () => {
  it("a pod that just became ready takes its minimum share; the others the rest", async () => {
    const counts = await identities("/v1/services/shop/ramp/pick", 400);
    // Weight 0.05 against 3: about 1.6% of picks; 20 would be far above the ramp.
    expect(counts.get("ramp-3") ?? 0).toBeLessThan(20);
    for (const other of ["ramp-0", "ramp-1", "ramp-2"]) {
      expect(counts.get(other) ?? 0).toBeGreaterThan(90);
    }
  });

  it("answers show the pod's own weight, not the ramped one", async () => {
    const { body } = await get("/v1/services/shop/ramp/endpoints");
    for (const endpoint of body.endpoints) expect(endpoint.weight).toBe(1);
  });
});
