import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiCallError,
  createClient,
  ERROR_CLASSES,
  InvalidParameter,
  MissingSessionKey,
  NoEndpoints,
  RequestTimeout,
  ServerUnreachable,
  ServiceNotFound,
  UnexpectedAnswer,
  UnknownStrategy,
} from "../../src/client/index.ts";
import { backoffMs } from "../../src/client/transport.ts";
import { API_ERROR_CODES } from "../../src/http/errors.ts";
import { endpointSpecs, manifestYaml, type ServiceSpec } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

const services: ServiceSpec[] = [
  {
    namespace: "shop",
    name: "cart",
    endpoints: endpointSpecs("cart", 5),
    policy: { strategy: "ring-hash", ringHash: { hashOn: "session-key" } },
  },
  {
    namespace: "shop",
    name: "pool",
    endpoints: endpointSpecs("pool", 3),
    policy: { strategy: "least-connections" },
  },
  { namespace: "shop", name: "empty", endpoints: [] },
];

let server: TestService;

beforeAll(async () => {
  server = await startTestService(manifestYaml(services));
});
afterAll(async () => {
  await server.close();
});

/** The open connections per endpoint, as the server counts them. */
async function openConnections(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return [
    ...text.matchAll(/^konsul_lb_instance_connections\{[^}]*service="shop\/pool"[^}]*\} (\d+)/gm),
  ]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
}

describe("createClient against a real server", () => {
  it("picks and lists with the route's parameters, as the server answers them", async () => {
    const client = createClient({ url: server.url });
    const cart = client.service("shop", "cart");
    const picked = await cart.pick({ sessionKey: "user-42" });
    const direct = await (
      await fetch(`${server.url}/v1/services/shop/cart/pick?session-key=user-42`)
    ).json();
    expect(picked).toEqual(direct);
    expect(picked.strategy).toBe("ring-hash");
    const listed = await cart.endpoints({ sessionKey: "user-42", limit: 2, healthFilter: false });
    expect(listed.endpoints).toHaveLength(2);
    expect(listed.endpoints[0]?.identity).toBe(picked.endpoint.identity);
    const summaries = await client.services();
    expect(summaries.map((s) => `${s.namespace}/${s.name}`)).toEqual([
      "shop/cart",
      "shop/empty",
      "shop/pool",
    ]);
  });

  it("throws the error class named by the API's code, with the server's message", async () => {
    const client = createClient({ url: server.url, retries: 0 });
    const cases: [Promise<unknown>, new (...args: any[]) => ApiCallError, string][] = [
      [client.service("shop", "cart").pick(), MissingSessionKey, "session-key"],
      [client.service("shop", "nope").pick(), ServiceNotFound, "shop/nope"],
      [client.service("shop", "empty").pick(), NoEndpoints, "no endpoints"],
      [client.service("shop", "cart").pick({ lb: "fastest" as never }), UnknownStrategy, "fastest"],
      [client.service("shop", "cart").endpoints({ limit: -1 }), InvalidParameter, "limit"],
    ];
    for (const [call, Class, mentions] of cases) {
      const error = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Class);
      expect(error).toBeInstanceOf(ApiCallError);
      expect((error as ApiCallError).code).toBe(Class.name);
      expect((error as Error).message).toContain(mentions);
    }
  });

  it("has one error class per code of the server, named as the code", () => {
    expect(Object.keys(ERROR_CLASSES).sort()).toEqual([...API_ERROR_CODES].sort());
    for (const [code, Class] of Object.entries(ERROR_CLASSES)) expect(Class.name).toBe(code);
  });

  it("withConnection counts a connection while fn runs and releases it, also when fn throws", async () => {
    const pool = createClient({ url: server.url }).service("shop", "pool");
    expect(await openConnections()).toBe(0);
    const seen = await pool.withConnection(async (endpoint) => {
      expect(await openConnections()).toBe(1);
      return endpoint.identity;
    });
    expect(seen).toMatch(/^pool-/);
    expect(await openConnections()).toBe(0);
    await expect(
      pool.withConnection(async () => {
        expect(await openConnections()).toBe(1);
        throw new Error("the call failed");
      }),
    ).rejects.toThrow("the call failed");
    expect(await openConnections()).toBe(0);
  });

  it("withConnection reports how the call ended with the release, and release takes an outcome", async () => {
    const reported = async (result: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = new RegExp(
        `konsul_lb_outcomes_reported_total\\{reporter="anonymous",result="${result}"\\} (\\d+)`,
      ).exec(text);
      return Number(line?.[1] ?? 0);
    };
    const pool = createClient({ url: server.url }).service("shop", "pool");
    const [successes, failures, timeouts] = [
      await reported("success"),
      await reported("failure"),
      await reported("timeout"),
    ];
    await pool.withConnection(() => "ok");
    await expect(
      pool.withConnection(() => {
        throw new Error("the call failed");
      }),
    ).rejects.toThrow("the call failed");
    const connection = await pool.connect();
    await connection.release("timeout", 1500);
    expect(await reported("success")).toBe(successes + 1);
    expect(await reported("failure")).toBe(failures + 1);
    expect(await reported("timeout")).toBe(timeouts + 1);
  });

  it("await using releases the connection at the end of the block", async () => {
    const pool = createClient({ url: server.url }).service("shop", "pool");
    {
      await using connection = await pool.connect();
      expect(connection.endpoint.identity).toMatch(/^pool-/);
      expect(await openConnections()).toBe(1);
    }
    expect(await openConnections()).toBe(0);
  });

  it("release is idempotent and a connection the server forgot counts as released", async () => {
    const pool = createClient({ url: server.url, retries: 0 }).service("shop", "pool");
    const connection = await pool.connect();
    const byHand = await fetch(`${server.url}/v1/connections/${connection.id}`, {
      method: "DELETE",
    });
    expect(byHand.status).toBe(204);
    await connection.release();
    await connection.release();
    expect(await openConnections()).toBe(0);
  });
});

describe("timeouts and retries", () => {
  /** A loopback server whose answers a test scripts, counting the requests. */
  async function scripted(
    answer: (count: number, res: import("node:http").ServerResponse) => void,
  ) {
    let count = 0;
    const http = createServer((_req, res) => answer(++count, res));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    return {
      url,
      count: () => count,
      close: () => new Promise<void>((resolve) => http.close(() => resolve())),
    };
  }

  it("retries a server fault and answers the attempt that succeeds", async () => {
    const body = JSON.stringify({ services: [] });
    const fake = await scripted((n, res) => {
      if (n < 3) res.writeHead(502).end("bad gateway");
      else res.writeHead(200, { "content-type": "application/json" }).end(body);
    });
    try {
      expect(await createClient({ url: fake.url, retries: 2 }).services()).toEqual([]);
      expect(fake.count()).toBe(3);
    } finally {
      await fake.close();
    }
  });

  it("gives up after the retries with the last failure, and never retries an API error", async () => {
    const fake = await scripted((_n, res) => res.writeHead(503).end("unavailable"));
    try {
      const error = await createClient({ url: fake.url, retries: 1 })
        .services()
        .catch((e) => e);
      expect(error).toBeInstanceOf(UnexpectedAnswer);
      expect(fake.count()).toBe(2);
    } finally {
      await fake.close();
    }
    const noEndpoints = await createClient({ url: server.url, retries: 3 })
      .service("shop", "empty")
      .pick()
      .catch((e) => e);
    expect(noEndpoints).toBeInstanceOf(NoEndpoints);
  });

  it("a slow answer is a RequestTimeout after timeoutMs per attempt", async () => {
    const fake = await scripted(() => {
      // never answers; the server's close below ends the sockets
    });
    try {
      const started = Date.now();
      const error = await createClient({ url: fake.url, timeoutMs: 100, retries: 1 })
        .services()
        .catch((e) => e);
      expect(error).toBeInstanceOf(RequestTimeout);
      expect(fake.count()).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      fake.close();
    }
  });

  it("an unreachable server is ServerUnreachable; opening a connection is retried only then", async () => {
    const fake = await scripted(() => {});
    const url = fake.url;
    await fake.close();
    const error = await createClient({ url, retries: 1 })
      .service("shop", "pool")
      .connect()
      .catch((e) => e);
    expect(error).toBeInstanceOf(ServerUnreachable);
    expect(error.message).toContain("2 attempt(s)");
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("rejects bad options naming the option and what is allowed", () => {
    expect(() => createClient({ url: "konsul-lb:8080" })).toThrow(/url: .*http:\/\//);
    expect(() => createClient({ url: server.url, timeoutMs: 0 })).toThrow(/timeoutMs: 0 .*integer/);
    expect(() => createClient({ url: server.url, retries: -1 })).toThrow(/retries: -1 .*0 to 10/);
  });

  it("backs off exponentially with full jitter, capped", () => {
    expect(backoffMs(0, () => 1)).toBe(50);
    expect(backoffMs(3, () => 1)).toBe(400);
    expect(backoffMs(20, () => 1)).toBe(2_000);
    expect(backoffMs(3, () => 0)).toBe(0);
  });
});

describe("what the client loads", () => {
  it("imports only its own modules at run time, the server's only as types, the engine through its index", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    const folder = new URL("../../src/client/", import.meta.url);
    const engineUsers: string[] = [];
    for (const file of await readdir(folder)) {
      const text = await readFile(new URL(file, folder), "utf8");
      for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
        const [, typeOnly, from] = match as unknown as [string, string | undefined, string];
        if (from.startsWith("./")) continue;
        if (from === "../balancer/index.ts") {
          engineUsers.push(file);
          continue;
        }
        expect(typeOnly, `${file} imports ${from} at run time`).toBeDefined();
        expect(from, file).toMatch(/^\.\.\/http\//);
      }
    }
    expect(engineUsers.length, `engine used by ${engineUsers.join(", ")}`).toBeLessThanOrEqual(1);
  });
});
