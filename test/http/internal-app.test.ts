import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutcomeIntake } from "../../src/discovery/outcomes.ts";
import { ApiError } from "../../src/http/errors.ts";
import { createInternalApp, INTERNAL_BODY_LIMIT_BYTES } from "../../src/http/internal-app.ts";
import { type Listening, listen } from "../../src/http/listen.ts";
import { FORWARDED_CONNECTION_ID_HEADER, pathOf, routesOf } from "../../src/http/routes.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

// The token check itself (TokenReview against the kube-apiserver) is proven in
// test/cluster/ha-internal-api.test.ts; here a stand-in decides by the header alone.
const OWN = "Bearer own";
const OTHER = "Bearer other";

let service: TestService;
let internal: Listening;
const reconciled: unknown[] = [];

beforeAll(async () => {
  service = await startTestService(
    manifestYaml([{ namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) }]),
  );
  const app = createInternalApp({
    discovery: service.discovery,
    logger: createLogger("silent"),
    authenticate: async (authorization) =>
      authorization === OWN
        ? null
        : authorization === OTHER
          ? new ApiError("Forbidden", "another account")
          : new ApiError("Unauthenticated", "no token"),
    status: () => ({ identity: "me" }),
    reconcile: (body) => {
      reconciled.push(body);
      return { opened: 0, closed: 0 };
    },
    // This replica leads: forwarded changes are answered here.
    forwarded: () => {},
    outcomes: new OutcomeIntake(service.discovery),
  });
  internal = await listen(app, "127.0.0.1", 0);
});
afterAll(async () => {
  await internal.close();
  await service.close();
});

const SAMPLE_PARAMS = { namespace: "shop", name: "web", id: "nope" };

function call(base: string, route: { id: string; method: string }, authorization?: string) {
  return fetch(`${base}${pathOf(route.id as never, SAMPLE_PARAMS)}`, {
    method: route.method,
    headers: {
      "content-type": "application/json",
      ...(authorization ? { authorization } : {}),
    },
    ...(route.method === "POST"
      ? { body: JSON.stringify({ from: "f", opens: [], closes: [] }) }
      : {}),
  });
}

describe("the internal API", () => {
  it("serves every internal route of the table to the operator's own account", async () => {
    const statuses: Record<string, number> = {};
    for (const route of routesOf("internal")) {
      const response = await call(internal.url, route, OWN);
      statuses[route.id] = response.status;
      if (response.status >= 400) {
        const body = (await response.json()) as { error: { code: string } };
        expect(body.error.code, route.id).not.toBe("RouteNotFound");
      } else {
        await response.body?.cancel();
      }
    }
    expect(statuses).toEqual({
      haStatus: 200,
      forwardOpen: 201,
      forwardRelease: 404, // ConnectionNotFound: the id is made up
      forwardOutcomes: 400, // InvalidParameter: a reconcile body is not a batch of outcomes
      reconcileConnections: 200,
    });
    expect(reconciled).toEqual([{ from: "f", opens: [], closes: [] }]);
  });

  it("takes forwarded outcome reports as the public route would", async () => {
    const url = `${internal.url}${pathOf("forwardOutcomes", SAMPLE_PARAMS)}?reporter=web-client`;
    const identity = service.discovery.find("shop", "web")?.endpoints[0]?.identity as string;
    const answer = await fetch(url, {
      method: "POST",
      headers: { authorization: OWN, "content-type": "application/json" },
      body: JSON.stringify([
        { endpoint: identity, result: "success", latencyMs: 12 },
        { endpoint: "10.255.255.255:1", result: "failure" },
      ]),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ accepted: 1, unknown: 1 });
  });

  it("counts a forwarded open under the id the forwarder chose, and refuses a malformed one", async () => {
    const url = `${internal.url}${pathOf("forwardOpen", SAMPLE_PARAMS)}`;
    const chosen = "0b6f3c8e-5d1a-4f7b-9c2e-8a4d6b1f3e70";
    const headers = { authorization: OWN, [FORWARDED_CONNECTION_ID_HEADER]: chosen };
    const opened = await fetch(url, { method: "POST", headers });
    expect(opened.status).toBe(201);
    expect(((await opened.json()) as { id: string }).id).toBe(chosen);
    const again = await fetch(url, { method: "POST", headers });
    expect(again.status).toBe(201);
    await again.body?.cancel();
    const ids = service.discovery.manager.exportConnections("shop/web").map((c) => c.id);
    expect(ids.filter((id) => id === chosen)).toEqual([chosen]);
    const bad = await fetch(url, {
      method: "POST",
      headers: { authorization: OWN, [FORWARDED_CONNECTION_ID_HEADER]: "no spaces allowed" },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(
      /konsul-lb-connection-id: "no spaces allowed" is not allowed/,
    );
    service.discovery.manager.closeConnection(chosen);
  });

  it("refuses a caller without a token (401) and another account (403), in the one envelope", async () => {
    for (const route of routesOf("internal")) {
      const anonymous = await call(internal.url, route);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");
      expect(await anonymous.json()).toEqual({
        error: { code: "Unauthenticated", message: "no token" },
      });
      const other = await call(internal.url, route, OTHER);
      expect(other.status).toBe(403);
      expect(((await other.json()) as { error: { code: string } }).error.code).toBe("Forbidden");
    }
  });

  it("is never served on the public port", async () => {
    for (const route of routesOf("internal")) {
      const response = await call(service.url, route, OWN);
      expect(response.status, route.id).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        "RouteNotFound",
      );
    }
  });

  it("answers an oversized body with 413 PayloadTooLarge", async () => {
    const response = await fetch(`${internal.url}${pathOf("reconcileConnections")}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: OWN },
      body: `{"from":"f","opens":[],"closes":[],"pad":"${"x".repeat(INTERNAL_BODY_LIMIT_BYTES)}"}`,
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "PayloadTooLarge",
    );
  });
});
