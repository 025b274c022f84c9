import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Endpoint } from "../../src/balancer/endpoint.ts";
import type { CatalogEntry } from "../../src/catalog/catalog.ts";
import { endpointJson, jsonWithEndpoints } from "../../src/http/endpoint-json.ts";
import { endpoint } from "../balancer/fixtures.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

const anEndpoint: fc.Arbitrary<Endpoint> = fc
  .record({
    identity: fc.string({ minLength: 1, maxLength: 12 }),
    weight: fc.integer({ min: 1, max: 1000 }),
    ready: fc.boolean(),
    zone: fc.option(fc.string({ maxLength: 6 })),
    ejected: fc.option(fc.constant(true), { nil: undefined }),
    frozen: fc.boolean(),
  })
  .map(({ identity, frozen, ejected, ...rest }) => {
    const made = endpoint(identity, { ...rest, ...(ejected ? { ejected } : {}) });
    return frozen ? Object.freeze(made) : made;
  });

describe("jsonWithEndpoints", () => {
  it("writes what JSON.stringify writes of the same answer, endpoints last", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        fc.array(anEndpoint, { maxLength: 6 }),
        (head, endpoints) => {
          const { endpoints: _, ...rest } = head as Record<string, unknown>;
          // Twice: the second answer comes from the kept texts.
          for (let i = 0; i < 2; i++) {
            expect(jsonWithEndpoints(rest, endpoints)).toBe(
              JSON.stringify({ ...rest, endpoints: endpoints.map(endpointJson) }),
            );
          }
        },
      ),
    );
  });

  it("writes an endpoint that is not frozen afresh each time", () => {
    const mutable = endpoint("a") as { ready: boolean } & Endpoint;
    expect(jsonWithEndpoints({}, [mutable])).toContain('"ready":true');
    mutable.ready = false;
    expect(jsonWithEndpoints({}, [mutable])).toContain('"ready":false');
  });
});

describe("GET /v1/services/{namespace}/{name} answers from the current version", () => {
  let server: TestService;
  beforeAll(async () => {
    server = await startTestService(
      manifestYaml([
        {
          namespace: "shop",
          name: "web",
          endpoints: endpointSpecs("web", 3),
          policy: { strategy: "ring-hash", ringHash: { hashOn: "session-key" } },
        },
      ]),
    );
  });
  afterAll(() => server.close());

  it("answers every version as JSON, the same text for the same version", async () => {
    const url = `${server.url}/v1/services/shop/web`;
    const first = await fetch(url);
    expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const text = await first.text();
    expect(await (await fetch(url)).text()).toBe(text);
    const entry = server.catalog.get("shop", "web") as CatalogEntry;
    server.catalog.upsert({
      ...entry,
      endpoints: entry.endpoints.map((e, i) => (i === 1 ? { ...e, ready: false } : e)),
    });
    const after = (await (await fetch(url)).json()) as {
      version: number;
      strategy: string;
      endpoints: { ready: boolean }[];
    };
    expect(after.version).toBeGreaterThan(JSON.parse(text).version);
    expect(after.strategy).toBe("ring-hash");
    expect(after.endpoints.map((e) => e.ready)).toEqual([true, false, true]);
    const listed = (await (await fetch(`${url}/endpoints?health-filter=false`)).json()) as {
      endpoints: { identity: string; ready: boolean }[];
    };
    expect(listed.endpoints.map((e) => e.ready).sort()).toEqual([false, true, true]);
  });
});
