import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectionChange, createApp } from "../../src/http/app.ts";
import { ApiError } from "../../src/http/errors.ts";
import { type Listening, listen } from "../../src/http/listen.ts";
import { FORWARDED_CONNECTION_ID_HEADER } from "../../src/http/routes.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

// The connection routes as a leader with --connection-durability write runs them: every change
// waits for `settle` before it is acknowledged, and a refused open is released.
let service: TestService;
let server: Listening;
let verdict: "ok" | "refuse" = "ok";
const settled: ConnectionChange[] = [];

beforeAll(async () => {
  service = await startTestService(
    manifestYaml([{ namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) }]),
  );
  const app = createApp({
    discovery: service.discovery,
    metrics: new Metrics(service.catalog, service.discovery.manager),
    logger: createLogger("silent"),
    trustProxy: false,
    isReady: () => true,
    connectionHooks: {
      // An open answered under the id it was forwarded with, as a follower does once the
      // leader failed to answer and this replica has come to lead meanwhile.
      idFor: (req) => req.get(FORWARDED_CONNECTION_ID_HEADER),
      settle: async (change) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        settled.push(change);
        if (verdict === "refuse") {
          throw new ApiError("Unavailable", "the change could not be made durable (timeout)");
        }
      },
    },
  });
  server = await listen(app, "127.0.0.1", 0);
});
afterAll(async () => {
  await server.close();
  await service.close();
});

const counted = () =>
  [...service.discovery.manager.connectionCounts("shop/web").values()].reduce((a, b) => a + b, 0);

describe("connection routes that wait for durability", () => {
  it("acknowledges an open and a release only once settled", async () => {
    verdict = "ok";
    const opened = await fetch(`${server.url}/v1/services/shop/web/connections`, {
      method: "POST",
    });
    expect(opened.status).toBe(201);
    const { id } = (await opened.json()) as { id: string };
    expect(settled.at(-1)).toEqual({ kind: "open", id });
    expect(counted()).toBe(1);
    const released = await fetch(`${server.url}/v1/connections/${id}`, { method: "DELETE" });
    expect(released.status).toBe(204);
    expect(settled.at(-1)).toEqual({ kind: "release", id });
    expect(counted()).toBe(0);
  });

  it("answers 503 with Retry-After when refused, and releases its own open", async () => {
    verdict = "refuse";
    // The refused write may have landed: the release is what reaches a successor that took
    // over that snapshot.
    const events: string[] = [];
    const stop = service.discovery.manager.observeConnections((event) => events.push(event.kind));
    const opened = await fetch(`${server.url}/v1/services/shop/web/connections`, {
      method: "POST",
    });
    expect(opened.status).toBe(503);
    expect(opened.headers.get("retry-after")).toBe("1");
    const body = (await opened.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("Unavailable");
    expect(body.error.message).toMatch(/durable/);
    const refused = settled.at(-1) as ConnectionChange;
    expect(refused.kind).toBe("open");
    expect(service.discovery.manager.getConnection(refused.id)).toBeUndefined();
    expect(counted()).toBe(0);
    expect(events).toEqual(["opened", "closed"]);
    stop();
  });

  it("releases a refused open answered under the id of a forward no leader answered", async () => {
    verdict = "refuse";
    // The client is told 503 here, and the leader the forward reached may count the id: only a
    // release, handed on, keeps a successor from counting a connection no client holds.
    const events: string[] = [];
    const stop = service.discovery.manager.observeConnections((event) => events.push(event.kind));
    const opened = await fetch(`${server.url}/v1/services/shop/web/connections`, {
      method: "POST",
      headers: { [FORWARDED_CONNECTION_ID_HEADER]: "chosen-by-the-follower" },
    });
    expect(opened.status).toBe(503);
    expect(settled.at(-1)).toEqual({ kind: "open", id: "chosen-by-the-follower" });
    expect(service.discovery.manager.getConnection("chosen-by-the-follower")).toBeUndefined();
    expect(events).toEqual(["opened", "closed"]);
    stop();
  });
});
