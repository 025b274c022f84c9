import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_BODY_BYTES,
  probe,
  probeHttp,
  probeTcp,
  requestPath,
  resolvePort,
  USER_AGENT,
} from "../../src/health/index.ts";
import {
  closedPort,
  eventually,
  httpServer,
  httpSpec,
  ipv6Available,
  type Served,
  target,
  tcpListener,
  tcpSpec,
} from "./support.ts";

const servers: Served[] = [];
async function serve<T extends Served>(started: Promise<T>): Promise<T> {
  const server = await started;
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const hasIpv6 = await ipv6Available();

describe("HTTP probe", () => {
  it("passes on 200 and sends a plain GET for the path with its own user agent", async () => {
    const server = await serve(httpServer((_req, res) => res.end("ok")));
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/healthz", 2000);
    expect(outcome).toEqual({ healthy: true, reason: "HTTP status 200" });
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req?.method).toBe("GET");
    expect(req?.url).toBe("/healthz");
    expect(req?.headers["user-agent"]).toBe(USER_AGENT);
    expect(req?.headers.host).toBe(`127.0.0.1:${server.port}`);
    expect(req?.headers.connection).toBe("close");
    // Not kept alive: the server sees its connection closed once the probe is done.
    await eventually(() => expect(server.open).toBe(0));
  });

  it("fails on 500 and names the status", async () => {
    const server = await serve(
      httpServer((_req, res) => {
        res.statusCode = 500;
        res.end("broken");
      }),
    );
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/", 2000);
    expect(outcome).toEqual({ healthy: false, reason: "HTTP status 500" });
  });

  it("fails on 404: the path is part of the check", async () => {
    const server = await serve(
      httpServer((req, res) => {
        res.statusCode = req.url === "/ready" ? 200 : 404;
        res.end();
      }),
    );
    const at = { address: "127.0.0.1", port: server.port };
    expect((await probeHttp(at, "/ready", 2000)).healthy).toBe(true);
    expect((await probeHttp(at, "/other", 2000)).healthy).toBe(false);
    expect(server.requests.map((req) => req.url)).toEqual(["/ready", "/other"]);
  });

  it("counts a 302 as success and does not follow it", async () => {
    const server = await serve(
      httpServer((req, res) => {
        if (req.url === "/healthz") {
          res.writeHead(302, { location: "/elsewhere" });
          res.end();
        } else {
          res.statusCode = 500;
          res.end();
        }
      }),
    );
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/healthz", 2000);
    expect(outcome).toEqual({ healthy: true, reason: "HTTP status 302" });
    expect(server.requests.map((req) => req.url)).toEqual(["/healthz"]);
  });

  it("fails a server slower than the timeout, on time, and closes its connection", async () => {
    const server = await serve(httpServer(() => {}));
    const started = performance.now();
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/", 200);
    const elapsed = performance.now() - started;
    expect(outcome).toEqual({ healthy: false, reason: "no answer within 200 ms" });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(3000);
    await eventually(() => expect(server.open).toBe(0));
  });

  it("fails when the connection is refused", async () => {
    const port = await closedPort();
    const outcome = await probeHttp({ address: "127.0.0.1", port }, "/", 2000);
    expect(outcome.healthy).toBe(false);
    expect(outcome.reason).toContain("ECONNREFUSED");
  });

  it("reads a long body only up to its cap and still passes", async () => {
    const server = await serve(
      httpServer((_req, res) => {
        // An endless body: the probe must cut it short rather than wait for its end.
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const chunk = Buffer.alloc(1024, 120);
        const timer = setInterval(() => res.write(chunk), 5);
        res.on("close", () => clearInterval(timer));
      }),
    );
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/", 5000);
    expect(outcome).toEqual({ healthy: true, reason: "HTTP status 200" });
    expect(MAX_BODY_BYTES).toBe(10 * 1024);
    await eventually(() => expect(server.open).toBe(0));
  });

  it("fails when the server dies in the middle of the body", async () => {
    const server = await serve(
      httpServer((_req, res) => {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial", () => res.socket?.destroy());
      }),
    );
    const outcome = await probeHttp({ address: "127.0.0.1", port: server.port }, "/", 2000);
    expect(outcome.healthy).toBe(false);
  });

  it("fails, without throwing, on addresses that are not IP literals and on unusable paths", async () => {
    await expect(probeHttp({ address: "localhost", port: 80 }, "/", 500)).resolves.toEqual({
      healthy: false,
      reason: 'address "localhost" is not an IP address',
    });
    expect((await probeHttp({ address: "999.1.1.1", port: 80 }, "/", 500)).healthy).toBe(false);
    expect((await probeHttp({ address: "127.0.0.1", port: 70_000 }, "/", 500)).reason).toBe(
      "invalid port 70000",
    );
    const server = await serve(httpServer((_req, res) => res.end()));
    const spaced = await probeHttp({ address: "127.0.0.1", port: server.port }, "/a b", 500);
    expect(spaced.healthy).toBe(false);
    expect(server.requests).toHaveLength(0);
  });

  it("stops at once when its signal aborts", async () => {
    const server = await serve(httpServer(() => {}));
    const controller = new AbortController();
    const pending = probeHttp(
      { address: "127.0.0.1", port: server.port },
      "/",
      60_000,
      controller.signal,
    );
    await eventually(() => expect(server.requests).toHaveLength(1));
    controller.abort();
    expect(await pending).toEqual({ healthy: false, reason: "probe cancelled" });
    await eventually(() => expect(server.open).toBe(0));
    const aborted = AbortSignal.abort();
    expect(
      (await probeTcp({ address: "127.0.0.1", port: server.port }, 1000, aborted)).reason,
    ).toBe("probe cancelled");
  });

  it.skipIf(!hasIpv6)("reaches an IPv6 loopback server, bracketing the host", async () => {
    const server = await serve(httpServer((_req, res) => res.end(), "::1"));
    const outcome = await probeHttp({ address: "::1", port: server.port }, "/healthz", 2000);
    expect(outcome.healthy).toBe(true);
    expect(server.requests[0]?.headers.host).toBe(`[::1]:${server.port}`);
  });
});

describe("TCP probe", () => {
  it("passes when something accepts, and closes the connection", async () => {
    const listener = await serve(tcpListener());
    const outcome = await probeTcp({ address: "127.0.0.1", port: listener.port }, 2000);
    expect(outcome).toEqual({ healthy: true, reason: "connected" });
    expect(listener.connections).toBe(1);
    await eventually(() => expect(listener.open).toBe(0));
  });

  it("fails on a closed port", async () => {
    const port = await closedPort();
    const outcome = await probeTcp({ address: "127.0.0.1", port }, 2000);
    expect(outcome.healthy).toBe(false);
    expect(outcome.reason).toContain("ECONNREFUSED");
  });

  it.skipIf(!hasIpv6)("works over IPv6 loopback", async () => {
    const listener = await serve(tcpListener("::1"));
    expect((await probeTcp({ address: "::1", port: listener.port }, 2000)).healthy).toBe(true);
    const port = await closedPort("::1");
    expect((await probeTcp({ address: "::1", port }, 2000)).healthy).toBe(false);
  });
});

describe("probe with port resolution", () => {
  it("uses a named port of the endpoint", async () => {
    const listener = await serve(tcpListener());
    const endpoint = target("a", 1, { ports: { admin: listener.port, http: 1 } });
    expect((await probe(tcpSpec({ port: "admin" }), endpoint)).healthy).toBe(true);
    expect(listener.connections).toBe(1);
  });

  it("fails with a clear reason on an unknown port name", async () => {
    const endpoint = target("a", 8080, { ports: { http: 8080, metrics: 9090 } });
    expect(await probe(httpSpec({ port: "admin" }), endpoint)).toEqual({
      healthy: false,
      reason: 'unknown port name "admin" (it has http, metrics)',
    });
  });
});

describe("helpers", () => {
  it("resolves ports: numbers as is, names by own property only", () => {
    const endpoint = target("a", 8080, { ports: { http: 8080 } });
    expect(resolvePort(9000, endpoint)).toEqual({ ok: true, port: 9000 });
    expect(resolvePort("http", endpoint)).toEqual({ ok: true, port: 8080 });
    expect(resolvePort("constructor", endpoint).ok).toBe(false);
    expect(resolvePort(0, endpoint).ok).toBe(false);
    expect(resolvePort(1.5, endpoint).ok).toBe(false);
    expect(resolvePort("x", target("b", 1, { ports: {} }))).toEqual({
      ok: false,
      reason: 'unknown port name "x" (it has no named ports)',
    });
  });

  it("normalises request paths", () => {
    expect(requestPath(null)).toBe("/");
    expect(requestPath("")).toBe("/");
    expect(requestPath("healthz")).toBe("/healthz");
    expect(requestPath("/ready?full=1")).toBe("/ready?full=1");
  });
});
