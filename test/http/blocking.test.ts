/** Blocking queries on the HTTP API: X-Konsul-Index, ?index=N&wait=..., against the real server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEntry } from "../../src/catalog/catalog.ts";
import { endpoint, service as serviceEntry } from "../catalog/fixtures.ts";
import { manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

let server: TestService;

function web(count: number): ServiceEntry {
  return serviceEntry(
    "shop",
    "web",
    Array.from({ length: count }, (_, i) => endpoint(`web-${i}`, { address: `10.1.0.${i + 1}` })),
  );
}

beforeAll(async () => {
  server = await startTestService(manifestYaml([]));
  server.catalog.replaceAll([
    web(3),
    serviceEntry("shop", "cart", [endpoint("cart-0", { address: "10.2.0.1" })]),
    serviceEntry("shop", "empty", []),
  ]);
});
afterAll(() => server.close());

interface Answer {
  readonly status: number;
  readonly index: number | null;
  readonly body: any;
  readonly ms: number;
}

async function get(path: string, init: RequestInit = {}, base = server.url): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${base}${path}`, init);
  const body = await response.json();
  const header = response.headers.get("x-konsul-index");
  return {
    status: response.status,
    index: header === null ? null : Number(header),
    body,
    ms: performance.now() - started,
  };
}

const ENDPOINTS = "/v1/services/shop/web/endpoints";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Changes shop/web (a different endpoint count) and returns when, on performance.now(). */
let webSize = 3;
function changeWeb(): number {
  webSize = webSize === 3 ? 2 : 3;
  server.catalog.upsert(web(webSize));
  return performance.now();
}

describe("X-Konsul-Index", () => {
  it("carries the catalog index on /v1/services and the service version on /endpoints", async () => {
    const services = await get("/v1/services");
    expect(services.index).toBe(server.catalog.index);
    const endpoints = await get(ENDPOINTS);
    expect(endpoints.index).toBe(server.catalog.get("shop", "web")?.version);
    expect(endpoints.body.version).toBe(endpoints.index);
  });

  it("is on the 503 of a service without endpoints, not on the 404 of an unknown one", async () => {
    const empty = await get("/v1/services/shop/empty/endpoints");
    expect(empty.status).toBe(503);
    expect(empty.index).toBe(server.catalog.get("shop", "empty")?.version);
    const unknown = await get("/v1/services/shop/nope/endpoints");
    expect(unknown.status).toBe(404);
    expect(unknown.index).toBeNull();
  });
});

/**
 * An answer "at once" to a request that says wait=10s: it must come well before the wait would
 * end. The bound tells answering from waiting, not how fast an answer is: a loaded machine took
 * 662 ms for a first request, which a 500 ms bound called a failure.
 */
const AT_ONCE_MS = 5_000;

describe("answering at once", () => {
  it("without index, even with wait", async () => {
    expect((await get(`${ENDPOINTS}?wait=10s`)).ms).toBeLessThan(AT_ONCE_MS);
    expect((await get("/v1/services?wait=10s")).ms).toBeLessThan(AT_ONCE_MS);
  });

  it("when the index is already behind, or ahead of anything this server has seen", async () => {
    const current = (await get(ENDPOINTS)).index as number;
    expect((await get(`${ENDPOINTS}?index=${current - 1}&wait=10s`)).ms).toBeLessThan(AT_ONCE_MS);
    const ahead = server.catalog.index + 1000;
    const answer = await get(`${ENDPOINTS}?index=${ahead}&wait=10s`);
    expect([answer.status, answer.index]).toEqual([200, current]);
    expect(answer.ms).toBeLessThan(AT_ONCE_MS);
  });

  it("for a request bound to fail: unknown service, bad selection parameter", async () => {
    const index = server.catalog.index;
    const unknown = await get(`/v1/services/shop/nope/endpoints?index=${index}&wait=10s`);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "ServiceNotFound"]);
    expect(unknown.ms).toBeLessThan(AT_ONCE_MS);
    const current = server.catalog.get("shop", "web")?.version;
    const bad = await get(`${ENDPOINTS}?index=${current}&wait=10s&lb=fastest`);
    expect([bad.status, bad.body.error.code]).toEqual([400, "UnknownStrategy"]);
    expect(bad.ms).toBeLessThan(AT_ONCE_MS);
  });

  it("rejects a bad index or wait with 400 InvalidParameter naming the parameter", async () => {
    for (const [query, parameter] of [
      ["index=abc", "index"],
      ["index=-1", "index"],
      ["index=1.5", "index"],
      ["index=", "index"],
      ["index=1&index=2", "index"],
      ["index=99999999999999999", "index"],
      ["index=1&wait=10", "wait"],
      ["wait=soon", "wait"],
      ["index=1&wait=-1s", "wait"],
    ]) {
      for (const path of [ENDPOINTS, "/v1/services"]) {
        const answer = await get(`${path}?${query}`);
        expect(answer.status, `${path}?${query}`).toBe(400);
        expect(answer.body.error.code).toBe("InvalidParameter");
        expect(answer.body.error.message).toMatch(new RegExp(`^${parameter}: `));
      }
    }
  });
});

describe("waiting", () => {
  it("a change to the service wakes its waiter within 50 ms", async () => {
    const latencies: number[] = [];
    for (let round = 0; round < 10; round++) {
      const before = (await get(ENDPOINTS)).index as number;
      const pending = get(`${ENDPOINTS}?index=${before}&wait=30s`).then((answer) => ({
        answer,
        at: performance.now(),
      }));
      await sleep(30);
      const changedAt = changeWeb();
      const { answer, at } = await pending;
      expect(answer.status).toBe(200);
      expect(answer.index).toBeGreaterThan(before);
      expect(answer.body.endpoints).toHaveLength(webSize);
      latencies.push(at - changedAt);
    }
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(50);
  });

  it("a change to another service does not wake it; the wait ends with the same index", async () => {
    const before = (await get(ENDPOINTS)).index as number;
    const pending = get(`${ENDPOINTS}?index=${before}&wait=300ms`);
    await sleep(50);
    server.catalog.upsert(
      serviceEntry("shop", "cart", [endpoint("cart-0", { address: "10.2.0.1", weight: 7 })]),
    );
    const answer = await pending;
    expect([answer.status, answer.index]).toEqual([200, before]);
    expect(answer.ms).toBeGreaterThanOrEqual(295);
  });

  it("ends at the wait, stretched by at most 1/16 of it", async () => {
    const before = (await get(ENDPOINTS)).index as number;
    const answer = await get(`${ENDPOINTS}?index=${before}&wait=400ms`);
    expect([answer.status, answer.index]).toEqual([200, before]);
    expect(answer.ms).toBeGreaterThanOrEqual(395);
    expect(answer.ms).toBeLessThan(400 + 400 / 16 + 250);
  });

  it("a service that appears wakes the catalog's waiters", async () => {
    const before = (await get("/v1/services")).index as number;
    const pending = get(`/v1/services?index=${before}&wait=30s`);
    await sleep(30);
    server.catalog.upsert(serviceEntry("shop", "new", [endpoint("new-0")]));
    const answer = await pending;
    expect(answer.index).toBeGreaterThan(before);
    expect(answer.body.services.map((s: { name: string }) => s.name)).toContain("new");
    // Woken by the change, not at the end of its 30 s wait.
    expect(answer.ms).toBeLessThan(AT_ONCE_MS);
    server.catalog.remove("shop", "new");
  });

  it("a service removed while its waiter waits is answered 404", async () => {
    server.catalog.upsert(serviceEntry("shop", "gone", [endpoint("gone-0")]));
    const version = server.catalog.get("shop", "gone")?.version;
    const pending = get(`/v1/services/shop/gone/endpoints?index=${version}&wait=30s`);
    await sleep(30);
    server.catalog.remove("shop", "gone");
    const answer = await pending;
    expect([answer.status, answer.body.error.code]).toEqual([404, "ServiceNotFound"]);
  });

  it("a client that hangs up stops waiting", async () => {
    const before = (await get(ENDPOINTS)).index as number;
    const waiting = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^konsul_lb_blocking_waiters (\d+)/m.exec(text)?.[1]);
    };
    const controller = new AbortController();
    const pending = fetch(`${server.url}${ENDPOINTS}?index=${before}&wait=5m`, {
      signal: controller.signal,
    }).catch(() => "aborted");
    await sleep(50);
    expect(await waiting()).toBe(1);
    controller.abort();
    expect(await pending).toBe("aborted");
    await sleep(50);
    expect(await waiting()).toBe(0);
  });

  it("shutting down answers every waiting request at once", async () => {
    const own = await startTestService(manifestYaml([]));
    own.catalog.replaceAll([web(3)]);
    const version = own.catalog.get("shop", "web")?.version;
    const pending = Array.from({ length: 5 }, () =>
      get(`${ENDPOINTS}?index=${version}&wait=5m`, {}, own.url),
    );
    await sleep(50);
    const started = performance.now();
    await own.close();
    const answers = await Promise.all(pending);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
  });
});
