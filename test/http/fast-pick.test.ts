import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app.ts";
import { type Listening, listen } from "../../src/http/listen.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

let service: TestService;
let expressOnly: Listening;

beforeAll(async () => {
  service = await startTestService(
    manifestYaml([
      {
        namespace: "shop",
        name: "cart",
        endpoints: endpointSpecs("cart", 5),
        policy: { strategy: "ring-hash" },
      },
      { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 5) },
      { namespace: "shop", name: "empty", endpoints: [] },
    ]),
    { trustProxy: "loopback" },
  );
  // The same catalog and engine behind Express alone, without the fast path in front.
  const app = createApp({
    discovery: service.discovery,
    metrics: new Metrics(service.catalog, service.discovery.manager),
    logger: createLogger("silent"),
    trustProxy: "loopback",
    isReady: () => true,
  });
  expressOnly = await listen(app, "127.0.0.1", 0);
});
afterAll(async () => {
  await expressOnly.close();
  await service.close();
});

async function reply(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    body: (await response.json()) as any,
  };
}

describe("the /pick fast path", () => {
  it("answers exactly as the Express route does", async () => {
    const paths = [
      "/v1/services/shop/cart/pick?session-key=alice",
      "/v1/services/shop/cart/pick?session-key=bob&limit=2",
      "/v1/services/shop/cart/pick",
      "/v1/services/shop/web/pick?lb=ip-hash&client-ip=10.9.8.7",
      "/v1/services/shop/web/pick?lb=maglev&session-key=k1",
      "/v1/services/shop/web/pick?lb=nope",
      "/v1/services/shop/web/pick?limit=x",
      "/v1/services/shop/web/pick?limit=1&limit=2",
      "/v1/services/shop/missing/pick",
      "/v1/services/shop/empty/pick",
      "/v1/services/sh%6Fp/cart/pick?session-key=alice",
    ];
    for (const path of paths) {
      expect(await reply(service.url, path), path).toEqual(await reply(expressOnly.url, path));
    }
  });

  it("uses the same client address under trust proxy (X-Forwarded-For from loopback)", async () => {
    const headers = { "x-forwarded-for": "203.0.113.7" };
    const path = "/v1/services/shop/web/pick?lb=ip-hash";
    const fast = await reply(service.url, path, headers);
    expect(fast).toEqual(await reply(expressOnly.url, path, headers));
    expect(fast.body.endpoint.identity).toBe(
      (await reply(service.url, `${path}&client-ip=203.0.113.7`)).body.endpoint.identity,
    );
  });

  it("leaves other routes and unreadable paths to Express", async () => {
    expect((await fetch(`${service.url}/v1/services/shop/cart/pick/extra`)).status).toBe(404);
    expect((await fetch(`${service.url}/v1/services/%E0%A4%A/cart/pick`)).status).toBe(400);
    expect((await fetch(`${service.url}/v1/services//cart/pick`)).status).toBe(404);
  });
});
