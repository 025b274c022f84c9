import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_HEADER_BYTES, MAX_PUBLIC_BODY_BYTES, MAX_QUERY_CHARS } from "../../src/http/limits.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

let service: TestService;
beforeAll(async () => {
  service = await startTestService(
    manifestYaml([
      { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) },
      { namespace: "shop", name: "cart", endpoints: endpointSpecs("cart", 3) },
    ]),
    { maxConnections: 3, maxConnectionsPerService: 2, maxBlockingWaiters: 1 },
  );
});
afterAll(() => service.close());

interface ErrorBody {
  error: { code: string; message: string };
}

const open = (name: string) =>
  fetch(`${service.url}/v1/services/shop/${name}/connections`, { method: "POST" });

async function refusedMetric(): Promise<string | undefined> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return /^konsul_lb_connections_refused_total\{service="shop\/web"\} (\d+)/m.exec(text)?.[1];
}

describe("connection caps", () => {
  it("refuses an open over the service's cap, then over the server's, with 429 and Retry-After", async () => {
    const ids: string[] = [];
    for (const name of ["web", "web"]) {
      const response = await open(name);
      expect(response.status).toBe(201);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const perService = await open("web");
    expect(perService.status).toBe(429);
    expect(perService.headers.get("retry-after")).toBe("1");
    const body = (await perService.json()) as ErrorBody;
    expect(body.error.code).toBe("TooManyConnections");
    expect(body.error.message).toContain("on shop/web");
    expect(await refusedMetric()).toBe("1");

    expect((await open("cart")).status).toBe(201);
    const total = await open("cart");
    expect(total.status).toBe(429);
    expect(((await total.json()) as ErrorBody).error.message).toContain("--max-connections 3");

    // A release frees a slot at once.
    const released = await fetch(`${service.url}/v1/connections/${ids[0]}`, { method: "DELETE" });
    expect(released.status).toBe(204);
    expect((await open("web")).status).toBe(201);
  });
});

describe("blocking query cap", () => {
  it("answers a request over the cap at once with 429 TooManyWaiters", async () => {
    const index = service.catalog.get("shop", "web")?.version as number;
    const url = `${service.url}/v1/services/shop/web/endpoints?index=${index}&wait=30s`;
    const waiting = new AbortController();
    const first = fetch(url, { signal: waiting.signal }).catch(() => null);
    try {
      await expect
        .poll(async () => {
          const text = await (await fetch(`${service.url}/metrics`)).text();
          return /^konsul_lb_blocking_waiters (\d+)/m.exec(text)?.[1];
        })
        .toBe("1");
      const second = await fetch(url);
      expect(second.status).toBe(429);
      expect(second.headers.get("retry-after")).toBe("1");
      expect(((await second.json()) as ErrorBody).error.code).toBe("TooManyWaiters");
      // Without index it does not wait, so it is answered as usual.
      expect((await fetch(`${service.url}/v1/services/shop/web/endpoints`)).status).toBe(200);
    } finally {
      waiting.abort();
      await first;
    }
  });
});

describe("request limits", () => {
  it("refuses a query string over its limit with 400, on the fast path too", async () => {
    const long = `session-key=${"k".repeat(MAX_QUERY_CHARS)}`;
    for (const route of ["pick", "endpoints"]) {
      const response = await fetch(`${service.url}/v1/services/shop/web/${route}?${long}`);
      expect(response.status, route).toBe(400);
      expect(((await response.json()) as ErrorBody).error.message).toMatch(
        /^query: \d+ characters/,
      );
    }
  });

  it("refuses a declared body over its limit with 413", async () => {
    const response = await fetch(`${service.url}/v1/services/shop/cart/connections`, {
      method: "POST",
      body: "x".repeat(MAX_PUBLIC_BODY_BYTES + 1),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorBody).error.code).toBe("PayloadTooLarge");
  });

  it("refuses headers over their limit with 431 in the error envelope", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>(
      (resolve, reject) => {
        const req = request(
          `${service.url}/healthz`,
          { headers: { "x-padding": "p".repeat(MAX_HEADER_BYTES) } },
          (res) => {
            let text = "";
            res.on("data", (chunk) => {
              text += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on("error", reject);
        req.end();
      },
    );
    expect(status).toBe(431);
    expect((JSON.parse(body) as ErrorBody).error.code).toBe("HeadersTooLarge");
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});
