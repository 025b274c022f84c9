import express from "express";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, serveRoutes } from "../../src/http/app.ts";
import { API_ERROR_CODES } from "../../src/http/errors.ts";
import { openApiDocument, openApiDocumentOf } from "../../src/http/openapi.ts";
import { type RouteSpec, routesOf } from "../../src/http/routes.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
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

/** The app alone, over the test service's catalog. */
function bareApp() {
  return createApp({
    discovery: service.discovery,
    metrics: new Metrics(service.catalog, service.discovery.manager),
    logger: createLogger("silent"),
    trustProxy: false,
    isReady: () => true,
  });
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
  it("describes exactly the routes the app serves", () => {
    const app = bareApp();
    const documented = Object.entries(openApiDocument.paths)
      .flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    expect(appRoutes(app)).toEqual(documented);
  });

  it("is derived from the route table: every public route is documented and served", async () => {
    const app = bareApp();
    const table = routesOf("public")
      .map((route) => `${route.method} ${route.path}`)
      .sort();
    expect(appRoutes(app)).toEqual(table);
    const served = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    for (const route of routesOf("public")) {
      expect(served.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.id);
    }
    // Internal routes are never on the public document.
    for (const route of routesOf("internal")) expect(served.paths[route.path]).toBeUndefined();
  });

  it("a route in the table without a handler is refused when the app is built", () => {
    const extra: RouteSpec = {
      id: "extraRoute",
      method: "GET",
      path: "/v1/extra",
      exposure: "public",
      summary: "not served",
      parameters: [],
      answers: { 200: { description: "ok" } },
      errors: [],
    };
    expect(() => serveRoutes(express(), [...routesOf("public"), extra], {} as never)).toThrow(
      /no handler/,
    );
  });

  it("documents one error envelope whose codes are every code of the API", () => {
    const codes = openApiDocument.components.schemas.Error.properties.error.properties.code.enum;
    expect(codes).toEqual(API_ERROR_CODES);
    expect(openApiDocumentOf("internal").components.schemas.Error).toEqual(
      openApiDocument.components.schemas.Error,
    );
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
    expect(new ApiError("InvalidParameter", "").code).toBeDefined();
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
