import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app.ts";
import { openApiDocument } from "../../src/http/openapi.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

/** (METHOD path) of every route the app serves, path in OpenAPI's {param} form. */
function appRoutes(app: ReturnType<typeof createApp>): string[] {
  const stack = (
    app as unknown as {
      router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
    }
  ).router.stack;
  return stack
    .filter((layer) => layer.route)
    .flatMap((layer) => {
      const route = layer.route as { path: string; methods: Record<string, boolean> };
      const path = route.path.replace(/:(\w+)/g, "{$1}");
      return Object.keys(route.methods).map((method) => `${method.toUpperCase()} ${path}`);
    })
    .sort();
}

let service: TestService;
beforeAll(async () => {
  service = await startTestService(
    manifestYaml([
      { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) },
      {
        namespace: "shop",
        name: "cart",
        endpoints: endpointSpecs("cart", 3),
        policy: { strategy: "maglev" },
      },
      { namespace: "shop", name: "empty", endpoints: [] },
    ]),
  );
});
afterAll(() => service.close());

describe("OpenAPI document", () => {
  it("describes exactly the routes the app serves", async () => {
    const { createLogger } = await import("../../src/observability/logger.ts");
    const { Metrics } = await import("../../src/observability/metrics.ts");
    const app = createApp({
      discovery: service.discovery,
      metrics: new Metrics(service.catalog, service.discovery.manager),
      logger: createLogger("silent"),
      trustProxy: false,
      isReady: () => true,
    });
    const documented = Object.entries(openApiDocument.paths)
      .flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    expect(appRoutes(app)).toEqual(documented);
  });

  it("is served at /openapi.json as OpenAPI 3.1", async () => {
    const document = (await (
      await fetch(`${service.url}/openapi.json`)
    ).json()) as typeof openApiDocument;
    expect(document.openapi).toBe("3.1.0");
    expect(document).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it("documents every error code the API can answer", async () => {
    const codes = openApiDocument.components.schemas.Error.properties.error.properties.code.enum;
    const { ApiError } = await import("../../src/http/errors.ts");
    expect(new ApiError(400, "InvalidParameter", "").code).toBeDefined();
    for (const code of [
      "InvalidParameter",
      "UnknownStrategy",
      "MissingSessionKey",
      "ServiceNotFound",
      "NoEndpoints",
    ]) {
      expect(codes).toContain(code);
    }
  });
});

describe("any query string", () => {
  const value = fc.oneof(
    fc.string(),
    fc.constantFrom(
      "true",
      "false",
      "0",
      "-1",
      "10001",
      "1e3",
      "round-robin",
      "ring-hash",
      "maglev",
      "ip-hash",
      "::1",
      "10.0.0.1",
      "%zz",
      "",
    ),
  );
  const parameter = fc.constantFrom(
    "lb",
    "limit",
    "client-ip",
    "session-key",
    "client-region",
    "health-filter",
    "other",
  );

  it("never answers a 5xx other than 503 and never takes the server down", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("web", "cart", "empty", "missing"),
        fc.constantFrom("pick", "endpoints", "connections"),
        fc.array(fc.tuple(parameter, value), { maxLength: 6 }),
        async (name, route, pairs) => {
          const query = pairs
            .map(
              ([k, v]) =>
                `${encodeURIComponent(k)}=${Math.random() < 0.1 ? v : encodeURIComponent(v)}`,
            )
            .join("&");
          const response = await fetch(
            `${service.url}/v1/services/shop/${name}/${route}?${query}`,
            {
              method: route === "connections" ? "POST" : "GET",
            },
          );
          const body = (await response.json()) as { error: { code: string } };
          expect(
            response.status === 503 || response.status < 500,
            `${response.status} ${JSON.stringify(body)}`,
          ).toBe(true);
          if (response.status >= 400) expect(typeof body.error.code).toBe("string");
        },
      ),
      { numRuns: 400 },
    );
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});
