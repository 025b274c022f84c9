import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { endpointSpecs, manifestYaml, type ServiceSpec } from "../support/manifests.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";

const nodes = [
  { name: "node-east", region: "us-east", zone: "us-east-1a" },
  { name: "node-west", region: "eu-west", zone: "eu-west-1a" },
];

const services: ServiceSpec[] = [
  {
    namespace: "shop",
    name: "web",
    endpoints: endpointSpecs("web", 4, (i) => ({
      ready: i !== 3,
      node: i % 2 ? "node-west" : "node-east",
      zone: i % 2 ? "eu-west-1a" : "us-east-1a",
    })),
  },
  {
    namespace: "shop",
    name: "cart",
    endpoints: endpointSpecs("cart", 5),
    policy: { strategy: "ring-hash", ringHash: { hashOn: "session-key" } },
  },
  {
    namespace: "shop",
    name: "geo",
    endpoints: endpointSpecs("geo", 4, (i) => ({ node: i < 2 ? "node-east" : "node-west" })),
    policy: {
      strategy: "latency-based",
      latency: {
        map: {
          "us-east": { "us-east": "1ms", "eu-west": "80ms" },
          "eu-west": { "us-east": "80ms", "eu-west": "2ms" },
        },
      },
    },
  },
  {
    namespace: "shop",
    name: "weighted",
    endpoints: endpointSpecs("weighted", 3, (i) => ({
      labels: { version: i === 0 ? "v2" : "v1" },
    })),
    policy: {
      strategy: "weighted-round-robin",
      weights: [{ selector: { matchLabels: { version: "v2" } }, weight: 5 }],
    },
  },
  {
    namespace: "shop",
    name: "pool",
    endpoints: endpointSpecs("pool", 3),
    policy: { strategy: "least-connections", leastConnections: { connectionTimeout: "1s" } },
  },
  {
    namespace: "shop",
    name: "sick",
    endpoints: endpointSpecs("sick", 2, () => ({ ready: false })),
  },
  { namespace: "shop", name: "empty", endpoints: [] },
  { namespace: "shop", name: "even", endpoints: endpointSpecs("even", 3) },
];

let service: TestService;
let base: string;

beforeAll(async () => {
  service = await startTestService(manifestYaml(services, nodes));
  base = service.url;
});
afterAll(async () => {
  await service.close();
});

async function get(path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function expectError(
  reply: { status: number; body: any },
  status: number,
  code: string,
  mentions?: string,
) {
  expect(reply.status).toBe(status);
  expect(reply.body.error.code).toBe(code);
  expect(typeof reply.body.error.message).toBe("string");
  if (mentions) expect(reply.body.error.message).toContain(mentions);
}

describe("GET /v1/services", () => {
  it("lists every service with strategy, policy and endpoint counts", async () => {
    const { status, body } = await get("/v1/services");
    expect(status).toBe(200);
    const web = body.services.find((s: any) => s.name === "web");
    expect(web).toEqual({
      namespace: "shop",
      name: "web",
      strategy: "round-robin",
      policy: null,
      endpoints: { total: 4, healthy: 3 },
    });
    const cart = body.services.find((s: any) => s.name === "cart");
    expect(cart).toMatchObject({
      strategy: "ring-hash",
      policy: "cart-lb",
      endpoints: { total: 5, healthy: 5 },
    });
    expect(body.services.map((s: any) => s.name)).toEqual([...services.map((s) => s.name)].sort());
  });
});

describe("GET endpoints and pick", () => {
  it("returns healthy endpoints best first with the full endpoint shape", async () => {
    const { status, body } = await get("/v1/services/shop/web/endpoints");
    expect(status).toBe(200);
    expect(body.service).toEqual({ namespace: "shop", name: "web" });
    expect(body.strategy).toBe("round-robin");
    expect(body.version).toBeGreaterThan(0);
    expect(body.endpoints).toHaveLength(3);
    expect(body.endpoints[0]).toEqual({
      address: expect.stringMatching(/^10\.1\.0\.\d$/),
      port: 8080,
      ports: { http: 8080 },
      identity: expect.stringMatching(/^web-\d$/),
      zone: expect.any(String),
      region: expect.any(String),
      node: expect.any(String),
      weight: 1,
      healthy: true,
      ready: true,
      serving: true,
      terminating: false,
    });
    const all = await get("/v1/services/shop/web/endpoints?health-filter=false&limit=0");
    expect(all.body.endpoints).toHaveLength(4);
    const two = await get("/v1/services/shop/web/endpoints?limit=2");
    expect(two.body.endpoints).toHaveLength(2);
  });

  it("region comes from the endpoint's node", async () => {
    const { body } = await get("/v1/services/shop/web/endpoints?health-filter=false");
    const byId = Object.fromEntries(body.endpoints.map((e: any) => [e.identity, e]));
    expect(byId["web-0"].region).toBe("us-east");
    expect(byId["web-1"].region).toBe("eu-west");
  });

  it("pick honours lb for every strategy", async () => {
    for (const strategy of STRATEGY_NAMES) {
      const { status, body } = await get(
        `/v1/services/shop/web/pick?lb=${strategy}&session-key=abc&client-region=us-east`,
      );
      expect(status, strategy).toBe(200);
      expect(body.strategy).toBe(strategy);
      expect(body.endpoint.healthy).toBe(true);
    }
  });

  it("ring-hash keeps a session on one endpoint and needs a session key", async () => {
    const first = await get("/v1/services/shop/cart/pick?session-key=user-42");
    for (let i = 0; i < 5; i++) {
      expect(
        (await get("/v1/services/shop/cart/pick?session-key=user-42")).body.endpoint.identity,
      ).toBe(first.body.endpoint.identity);
    }
    expectError(await get("/v1/services/shop/cart/pick"), 400, "MissingSessionKey", "session-key");
  });

  it("endpoints of a hash service without a key: all of them, heaviest first, then by identity", async () => {
    // pick without the key stays 400 (above); a list needs no key, so a client can cache it
    const first = await get("/v1/services/shop/cart/endpoints");
    expect(first.status).toBe(200);
    expect(first.body.strategy).toBe("ring-hash");
    const identities = first.body.endpoints.map((e: any) => e.identity);
    expect(identities).toEqual([...identities].sort());
    expect(identities).toHaveLength(5);
    for (let i = 0; i < 3; i++) {
      const again = await get("/v1/services/shop/cart/endpoints");
      expect(again.body.endpoints.map((e: any) => e.identity)).toEqual(identities);
    }
    const two = await get("/v1/services/shop/cart/endpoints?limit=2");
    expect(two.body.endpoints.map((e: any) => e.identity)).toEqual(identities.slice(0, 2));
    const weighted = await get("/v1/services/shop/weighted/endpoints?lb=maglev");
    expect(weighted.body.endpoints.map((e: any) => [e.identity, e.weight])).toEqual([
      ["weighted-0", 5],
      ["weighted-1", 1],
      ["weighted-2", 1],
    ]);
    // with a key the list is the key's: its pick first
    const keyed = await get("/v1/services/shop/cart/endpoints?session-key=user-42");
    const picked = await get("/v1/services/shop/cart/pick?session-key=user-42");
    expect(keyed.body.endpoints[0].identity).toBe(picked.body.endpoint.identity);
  });

  it("ip-hash uses the caller's address unless client-ip is given", async () => {
    const byCaller = await get("/v1/services/shop/even/pick?lb=ip-hash");
    const byLoopback = await get("/v1/services/shop/even/pick?lb=ip-hash&client-ip=127.0.0.1");
    expect(byCaller.body.endpoint.identity).toBe(byLoopback.body.endpoint.identity);
  });

  it("latency-based sends a client to its own region", async () => {
    for (let i = 0; i < 10; i++) {
      const { body } = await get("/v1/services/shop/geo/pick?client-region=eu-west");
      expect(body.endpoint.region).toBe("eu-west");
    }
    const order = (
      await get("/v1/services/shop/geo/endpoints?client-region=us-east")
    ).body.endpoints.map((e: any) => e.region);
    expect(order).toEqual(["us-east", "us-east", "eu-west", "eu-west"]);
  });

  it("weights from the policy's selector shape weighted-round-robin", async () => {
    const picks: string[] = [];
    for (let i = 0; i < 14; i++)
      picks.push((await get("/v1/services/shop/weighted/pick")).body.endpoint.identity);
    expect(picks.filter((p) => p === "weighted-0")).toHaveLength(10);
    const weights = (await get("/v1/services/shop/weighted/endpoints")).body.endpoints.map(
      (e: any) => [e.identity, e.weight],
    );
    expect(Object.fromEntries(weights)).toEqual({
      "weighted-0": 5,
      "weighted-1": 1,
      "weighted-2": 1,
    });
  });

  it("falls back to all endpoints when none is healthy, and counts it", async () => {
    const { status, body } = await get("/v1/services/shop/sick/endpoints");
    expect(status).toBe(200);
    expect(body.endpoints).toHaveLength(2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/konsul_lb_health_panic_total\{service="shop\/sick"\} [1-9]/);
  });
});

describe("errors", () => {
  it("404 ServiceNotFound, 503 NoEndpoints", async () => {
    expectError(await get("/v1/services/shop/nope/pick"), 404, "ServiceNotFound", "shop/nope");
    expectError(await get("/v1/services/shop/empty/pick"), 503, "NoEndpoints", "shop/empty");
    expectError(await get("/v1/services/shop/empty/endpoints"), 503, "NoEndpoints");
  });

  it("400 for every bad parameter, naming it and what is allowed", async () => {
    const cases: [string, string, string][] = [
      ["limit=-1", "InvalidParameter", "limit"],
      ["limit=abc", "InvalidParameter", "0 to 10000"],
      ["limit=1&limit=2", "InvalidParameter", "a single value"],
      ["health-filter=yes", "InvalidParameter", "true or false"],
      ["client-ip=not-an-ip", "InvalidParameter", "IPv4 or IPv6"],
      ["lb=fastest", "UnknownStrategy", "round-robin"],
      ["lb=", "InvalidParameter", "lb"],
    ];
    for (const [query, code, mentions] of cases) {
      expectError(await get(`/v1/services/shop/web/pick?${query}`), 400, code, mentions);
    }
  });

  it("unknown routes and malformed paths are 4xx JSON errors", async () => {
    expectError(await get("/v2/nothing"), 404, "RouteNotFound");
    const malformed = await get("/v1/services/%E0%A4%A/web/pick");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("InvalidParameter");
  });
});

describe("connections", () => {
  it("counts connections on least-connections and releases them", async () => {
    const opened = [];
    for (let i = 0; i < 3; i++) {
      const reply = await get("/v1/services/shop/pool/connections", { method: "POST" });
      expect(reply.status).toBe(201);
      expect(reply.body.strategy).toBe("least-connections");
      expect(Date.parse(reply.body.expiresAt)).toBeGreaterThan(Date.now());
      opened.push(reply.body);
    }
    // one connection on each of the three endpoints
    expect(new Set(opened.map((c) => c.endpoint.identity)).size).toBe(3);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(
      'konsul_lb_instance_connections{service="shop/pool",instance="pool-0"} 1',
    );
    expect((await get(`/v1/connections/${opened[0].id}`, { method: "DELETE" })).status).toBe(204);
    expectError(
      await get(`/v1/connections/${opened[0].id}`, { method: "DELETE" }),
      404,
      "ConnectionNotFound",
    );
    // the released endpoint is the least loaded again
    const next = await get("/v1/services/shop/pool/connections", { method: "POST" });
    expect(next.body.endpoint.identity).toBe(opened[0].endpoint.identity);
  });

  it("releases a forgotten connection after the policy's connectionTimeout", async () => {
    const reply = await get("/v1/services/shop/pool/connections", { method: "POST" });
    expect(Date.parse(reply.body.expiresAt) - Date.now()).toBeLessThanOrEqual(1000);
    await eventually(async () => {
      expect((await get(`/v1/connections/${reply.body.id}`, { method: "DELETE" })).status).toBe(
        404,
      );
    }, 4000);
    await eventually(async () => {
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).not.toContain('konsul_lb_instance_connections{service="shop/pool"');
    }, 4000);
  });

  it("unknown connection ids are 404", async () => {
    expectError(
      await get("/v1/connections/does-not-exist", { method: "DELETE" }),
      404,
      "ConnectionNotFound",
    );
  });
});

describe("concurrency", () => {
  it("300 concurrent picks on round-robin give exact equal shares", async () => {
    const replies = await Promise.all(
      Array.from({ length: 300 }, () => get("/v1/services/shop/even/pick")),
    );
    const counts = new Map<string, number>();
    for (const { status, body } of replies) {
      expect(status).toBe(200);
      counts.set(body.endpoint.identity, (counts.get(body.endpoint.identity) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
  });
});

describe("health, readiness, metrics", () => {
  it("serves /healthz, /readyz and /metrics", async () => {
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
    await get("/v1/services/shop/web/pick");
    await get("/v1/services/shop/nope/pick");
    // A connection open without lb is decided, and counted, by least-connections, whatever the
    // service's own strategy (round-robin here).
    const count = (text: string, strategy: string) =>
      Number(
        new RegExp(
          `konsul_lb_selections_total\\{service="shop/web",strategy="${strategy}",result="ok"\\} (\\d+)`,
        ).exec(text)?.[1] ?? 0,
      );
    const before = await (await fetch(`${base}/metrics`)).text();
    const opened = await fetch(`${base}/v1/services/shop/web/connections`, { method: "POST" });
    expect(opened.status).toBe(201);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(count(metrics, "least-connections")).toBe(count(before, "least-connections") + 1);
    expect(count(metrics, "round-robin")).toBe(count(before, "round-robin"));
    expect(metrics).toMatch(
      /konsul_lb_selections_total\{service="shop\/web",strategy="round-robin",result="ok"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /konsul_lb_selections_total\{service="",strategy="",result="ServiceNotFound"\} [1-9]/,
    );
    expect(metrics).toContain("konsul_lb_selection_duration_seconds_bucket");
    expect(metrics).toMatch(/konsul_lb_health_filtered_total\{service="shop\/web"\} [1-9]/);
    expect(metrics).toContain("process_cpu_user_seconds_total");
    expect(metrics).not.toContain("shop/nope");
  });
});
