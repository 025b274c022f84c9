import { execFile } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import {
  type HealthCheckSpec,
  Prober,
  type ProberOptions,
  type ProbeTarget,
} from "../../src/health/index.ts";
import {
  type Change,
  closedPort,
  eventually,
  type HttpServed,
  httpServer,
  httpSpec,
  ipv6Available,
  memoryLogger,
  type Served,
  target,
  tcpListener,
  tcpSpec,
} from "./support.ts";

const run = promisify(execFile);
const hasIpv6 = await ipv6Available();

const servers: Served[] = [];
const probers: Prober[] = [];
async function serve<T extends Served>(started: Promise<T>): Promise<T> {
  const server = await started;
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(probers.splice(0).map((prober) => prober.stop()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

interface Started {
  readonly prober: Prober;
  readonly changes: Change[];
  readonly log: ReturnType<typeof memoryLogger>;
}

function startProber(options: Partial<ProberOptions> = {}): Started {
  const changes: Change[] = [];
  const log = memoryLogger();
  const prober = new Prober({
    onChange: (service, identity, healthy) => changes.push({ service, identity, healthy }),
    logger: { warn: log.warn, info: log.info },
    ...options,
  });
  probers.push(prober);
  return { prober, changes, log };
}

type Switchable = HttpServed & {
  /** The status the next request gets. */
  status: number;
  readonly log: { status: number; seen: boolean | null }[];
};

/** An HTTP server whose status can be switched, noting what the prober believed at each request. */
async function switchable(
  seen: (req: IncomingMessage) => boolean | null,
  initial = 200,
): Promise<Switchable> {
  let switched: Switchable | undefined;
  const server = await serve(
    httpServer((req: IncomingMessage, res: ServerResponse) => {
      const status = switched?.status ?? initial;
      switched?.log.push({ status, seen: seen(req) });
      res.statusCode = status;
      res.end();
    }),
  );
  switched = Object.assign(server, { status: initial, log: [] });
  return switched;
}

/** The verdict the thresholds call for before each probe, given the results of those before it. */
function modelVerdicts(results: readonly boolean[], spec: HealthCheckSpec): (boolean | null)[] {
  let verdict: boolean | null = null;
  let successes = 0;
  let failures = 0;
  return results.map((healthy) => {
    const before = verdict;
    if (healthy) {
      successes += 1;
      failures = 0;
      if (verdict === null || successes >= spec.healthyThreshold) verdict = true;
    } else {
      failures += 1;
      successes = 0;
      if (failures >= spec.unhealthyThreshold) verdict = false;
    }
    return before;
  });
}

const ok = (status: number): boolean => status >= 200 && status < 400;

describe("thresholds", () => {
  it("turns healthy on the first success, unhealthy after N failures, healthy after M successes", async () => {
    const spec = httpSpec({ unhealthyThreshold: 3, healthyThreshold: 2 });
    let prober: Prober | undefined;
    const server = await switchable(() => prober?.healthOf("web", "a") ?? null);
    const started = startProber();
    prober = started.prober;
    const { changes, log } = started;
    prober.setTargets("web", { ...spec, port: server.port }, [target("a", server.port)]);
    expect(prober.healthOf("web", "a")).toBeNull();

    await eventually(() => expect(changes).toHaveLength(1));
    server.status = 500;
    await eventually(() => expect(changes).toHaveLength(2));
    server.status = 200;
    await eventually(() => expect(changes).toHaveLength(3));
    // A few more probes: steady results must not report anything again.
    const settled = server.log.length;
    await eventually(() => expect(server.log.length).toBeGreaterThan(settled + 4));

    expect(changes.map((change) => change.healthy)).toEqual([true, false, true]);
    expect(changes.every((c) => c.service === "web" && c.identity === "a")).toBe(true);
    const statuses = server.log.map((entry) => ok(entry.status));
    expect(server.log.map((entry) => entry.seen)).toEqual(modelVerdicts(statuses, spec));
    // Exactly three failures led to the unhealthy verdict.
    const firstFailure = statuses.indexOf(false);
    expect(server.log[firstFailure + 2]?.seen).toBe(true);
    expect(server.log[firstFailure + 3]?.seen).toBe(false);
    expect(log.lines.filter((l) => l.msg === "endpoint unhealthy")[0]?.fields).toMatchObject({
      service: "web",
      identity: "a",
      reason: "HTTP status 500",
    });
  });

  it("keeps an endpoint unknown until the failures reach the threshold", async () => {
    const spec = httpSpec({ unhealthyThreshold: 3 });
    let prober: Prober | undefined;
    const server = await switchable(() => prober?.healthOf("web", "a") ?? null, 503);
    const started = startProber();
    prober = started.prober;
    prober.setTargets("web", { ...spec, port: server.port }, [target("a", server.port)]);
    await eventually(() => expect(server.log.length).toBeGreaterThanOrEqual(5));
    expect(server.log.slice(0, 5).map((entry) => entry.seen)).toEqual([
      null,
      null,
      null,
      false,
      false,
    ]);
    expect(started.changes).toEqual([{ service: "web", identity: "a", healthy: false }]);
  });

  it("checks TCP: an accepting listener is healthy, a closed port unhealthy, a listener that goes away turns unhealthy", async () => {
    const listener = await serve(tcpListener());
    const refused = await closedPort();
    const { prober, changes } = startProber();
    prober.setTargets("db", tcpSpec({ port: "sql", unhealthyThreshold: 2 }), [
      target("up", 0, { ports: { sql: listener.port } }),
      target("down", 0, { ports: { sql: refused } }),
    ]);
    await eventually(() => {
      expect(prober.healthOf("db", "up")).toBe(true);
      expect(prober.healthOf("db", "down")).toBe(false);
    });
    await listener.close();
    await eventually(() => expect(prober.healthOf("db", "up")).toBe(false));
    const ofUp = changes.filter((c) => c.identity === "up").map((c) => c.healthy);
    expect(ofUp).toEqual([true, false]);
  });

  it("fails a server slower than the timeout", async () => {
    const slow = await serve(httpServer(() => {}));
    const { prober, log } = startProber();
    prober.setTargets(
      "web",
      httpSpec({ port: slow.port, intervalMs: 200, timeoutMs: 100, unhealthyThreshold: 2 }),
      [target("a", slow.port)],
    );
    await eventually(() => expect(prober.healthOf("web", "a")).toBe(false));
    expect(log.lines.find((l) => l.msg === "endpoint unhealthy")?.fields.reason).toBe(
      "no answer within 100 ms",
    );
  });
});

describe("ports", () => {
  it("resolves a named port per endpoint", async () => {
    const server = await serve(httpServer((_req, res) => res.end()));
    const refused = await closedPort();
    const { prober } = startProber();
    prober.setTargets("web", httpSpec({ port: "health" }), [
      target("a", refused, { ports: { http: refused, health: server.port } }),
    ]);
    await eventually(() => expect(prober.healthOf("web", "a")).toBe(true));
    expect(server.requests[0]?.url).toBe("/healthz");
  });

  it("fails an unknown port name, logging it once per endpoint rather than every interval", async () => {
    const { prober, changes, log } = startProber();
    prober.setTargets("web", httpSpec({ port: "admin", unhealthyThreshold: 5 }), [
      target("a", 8080, { ports: { http: 8080 } }),
      target("b", 8080, { ports: { http: 8080 } }),
    ]);
    // Five failures each before the verdict: by then every interval has had its chance to log.
    await eventually(() => expect(changes).toHaveLength(2));
    const warnings = log.lines.filter((l) => l.msg.startsWith("health check port not found"));
    expect(warnings.map((w) => w.fields.identity).sort()).toEqual(["a", "b"]);
    expect(warnings[0]?.fields.reason).toBe('unknown port name "admin" (it has http)');
  });
});

describe("setTargets", () => {
  it("forgets removed targets, keeps the state of those that stay, and starts new ones unknown", async () => {
    const spec = httpSpec({ unhealthyThreshold: 2, healthyThreshold: 2 });
    const good = await serve(httpServer((_req, res) => res.end()));
    const other = await serve(httpServer((_req, res) => res.end()));
    const bad = await serve(
      httpServer((_req, res) => {
        res.statusCode = 500;
        res.end();
      }),
    );
    let prober: Prober | undefined;
    const recovery = await switchable(() => prober?.healthOf("web", "b") ?? null);
    const started = startProber();
    prober = started.prober;
    const { changes } = started;
    prober.setTargets("web", spec, [target("a", good.port), target("b", bad.port)]);
    await eventually(() => {
      expect(prober.healthOf("web", "a")).toBe(true);
      expect(prober.healthOf("web", "b")).toBe(false);
    });

    // Same spec (an equal copy), "a" removed, "c" added.
    prober.setTargets("web", { ...spec }, [target("b", bad.port), target("c", other.port)]);
    const aRequests = good.requests.length;
    expect(prober.healthOf("web", "a")).toBeNull();
    expect(prober.healthOf("web", "b")).toBe(false);
    expect(prober.healthOf("web", "c")).toBeNull();
    const badBefore = bad.requests.length;
    await eventually(() => {
      expect(prober.healthOf("web", "c")).toBe(true);
      expect(bad.requests.length).toBeGreaterThan(badBefore + 3);
    });
    // One request of "a" may have been on its way when it was removed; no more after that.
    expect(good.requests.length).toBeLessThanOrEqual(aRequests + 1);

    // "b" moves to a healthy port: its kept unhealthy verdict needs two successes to clear.
    prober.setTargets("web", spec, [target("b", recovery.port), target("c", other.port)]);
    await eventually(() => expect(recovery.log.length).toBeGreaterThanOrEqual(3));
    expect(recovery.log.slice(0, 3).map((entry) => entry.seen)).toEqual([false, false, true]);
    expect(changes.filter((c) => c.identity === "b").map((c) => c.healthy)).toEqual([false, true]);
  });

  it("stops probing removed targets", async () => {
    const removed = await serve(httpServer((_req, res) => res.end()));
    const kept = await serve(httpServer((_req, res) => res.end()));
    const { prober } = startProber();
    const spec = httpSpec();
    prober.setTargets("web", spec, [target("a", removed.port), target("b", kept.port)]);
    await eventually(() => expect(prober.healthOf("web", "a")).toBe(true));
    prober.setTargets("web", spec, [target("b", kept.port)]);
    const removedBefore = removed.requests.length;
    const keptBefore = kept.requests.length;
    await eventually(() => expect(kept.requests.length).toBeGreaterThan(keptBefore + 5));
    // One request may have been on its way when the target was removed.
    expect(removed.requests.length).toBeLessThanOrEqual(removedBefore + 1);
  });

  it("starts every target over when the spec changes", async () => {
    const bad = await serve(
      httpServer((_req, res) => {
        res.statusCode = 500;
        res.end();
      }),
    );
    const { prober, changes } = startProber();
    const spec = httpSpec({ unhealthyThreshold: 2 });
    prober.setTargets("web", spec, [target("a", bad.port)]);
    await eventually(() => expect(prober.healthOf("web", "a")).toBe(false));
    prober.setTargets("web", { ...spec, intervalMs: 60 }, [target("a", bad.port)]);
    expect(prober.healthOf("web", "a")).toBeNull();
    await eventually(() => expect(prober.healthOf("web", "a")).toBe(false));
    expect(changes.map((c) => c.healthy)).toEqual([false, false]);
  });

  it("stops probing a service whose spec becomes null, leaving others alone", async () => {
    const stopped = await serve(tcpListener());
    const clock = await serve(tcpListener());
    const { prober } = startProber();
    prober.setTargets("off", tcpSpec(), [target("a", stopped.port)]);
    prober.setTargets("on", tcpSpec(), [target("a", clock.port)]);
    await eventually(() => {
      expect(prober.healthOf("off", "a")).toBe(true);
      expect(prober.healthOf("on", "a")).toBe(true);
    });
    prober.setTargets("off", null, []);
    expect(prober.healthOf("off", "a")).toBeNull();
    expect(prober.healthOf("on", "a")).not.toBeNull();
    const before = stopped.connections;
    const clockBefore = clock.connections;
    await eventually(() => expect(clock.connections).toBeGreaterThan(clockBefore + 5));
    expect(stopped.connections).toBeLessThanOrEqual(before + 1);
  });

  it("refuses a spec whose numbers would break the timers", () => {
    const { prober } = startProber();
    expect(() => prober.setTargets("web", httpSpec({ intervalMs: 0 }), [])).toThrow(RangeError);
    expect(() => prober.setTargets("web", httpSpec({ unhealthyThreshold: 0 }), [])).toThrow(
      RangeError,
    );
  });
});

describe("scheduling", () => {
  it("never overlaps probes of one target, even when a probe outlasts the interval", async () => {
    let inFlight = 0;
    let most = 0;
    const slow = await serve(
      httpServer((_req, res) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        setTimeout(() => {
          inFlight -= 1;
          res.end();
        }, 150);
      }),
    );
    const { prober } = startProber();
    prober.setTargets("web", httpSpec({ port: slow.port, intervalMs: 20 }), [
      target("a", slow.port),
    ]);
    await eventually(() => expect(slow.requests.length).toBeGreaterThanOrEqual(4));
    expect(most).toBe(1);
  });

  it("holds the global concurrency limit across services", async () => {
    let inFlight = 0;
    let most = 0;
    const hold = (_req: IncomingMessage, res: ServerResponse): void => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        // Counted down before answering, so the count never trails the prober's own release.
        inFlight -= 1;
        res.end();
      }, 250);
    };
    const targetServers = await Promise.all(
      Array.from({ length: 20 }, () => serve(httpServer(hold))),
    );
    const { prober } = startProber({ maxConcurrent: 4 });
    // 20 targets × 250 ms per second is more work than 4 slots do: the queue must hold them back.
    const spec = httpSpec({ intervalMs: 1000, timeoutMs: 5000 });
    for (let s = 0; s < 4; s += 1) {
      const targets = targetServers
        .slice(s * 5, s * 5 + 5)
        .map((server, i) => target(`t${i}`, server.port));
      prober.setTargets(`service-${s}`, { ...spec, port: "http" }, targets);
    }
    await eventually(() => {
      for (const server of targetServers) expect(server.requests.length).toBeGreaterThanOrEqual(2);
      expect(most).toBe(4);
    }, 30_000);
    expect(most).toBeLessThanOrEqual(4);
  });

  it("spreads the first probes of many targets over the interval", async () => {
    const arrivals: number[] = [];
    const server = await serve(
      httpServer((_req, res) => {
        arrivals.push(performance.now());
        res.end();
      }),
    );
    const { prober } = startProber({ maxConcurrent: 100 });
    const start = performance.now();
    const targets = Array.from({ length: 20 }, (_, i) => target(`t${i}`, server.port));
    prober.setTargets("web", httpSpec({ port: server.port, intervalMs: 2000 }), targets);
    await eventually(() => expect(arrivals.length).toBeGreaterThanOrEqual(20));
    const first = arrivals.slice(0, 20);
    const spread = Math.max(...first) - Math.min(...first);
    // Twenty uniform draws over 2 s all landing within 0.5 s has odds of about 1e-11.
    expect(spread).toBeGreaterThan(500);
    expect(Math.min(...first) - start).toBeLessThan(2000);
  });
});

describe("robustness", () => {
  it("fails bad addresses instead of crashing", async () => {
    const { prober } = startProber();
    const spec = tcpSpec({ unhealthyThreshold: 1 });
    const bad: ProbeTarget[] = [
      target("name", 80, { address: "localhost" }),
      target("garbage", 80, { address: "::zz" }),
      target("octets", 80, { address: "300.1.1.1" }),
    ];
    prober.setTargets("web", spec, bad);
    await eventually(() => {
      for (const t of bad) expect(prober.healthOf("web", t.identity)).toBe(false);
    });
  });

  it("keeps probing when the change listener throws", async () => {
    let prober: Prober | undefined;
    const server = await switchable(() => prober?.healthOf("web", "a") ?? null);
    const calls: boolean[] = [];
    const started = startProber({
      onChange: (_service, _identity, healthy) => {
        calls.push(healthy);
        throw new Error("listener broke");
      },
    });
    prober = started.prober;
    prober.setTargets("web", httpSpec({ unhealthyThreshold: 1 }), [target("a", server.port)]);
    await eventually(() => expect(calls).toEqual([true]));
    server.status = 500;
    await eventually(() => expect(calls).toEqual([true, false]));
    expect(started.log.lines.filter((l) => l.msg === "health change listener failed")).toHaveLength(
      2,
    );
  });

  it("lets the change listener remove the target it reports", async () => {
    const listener = await serve(tcpListener());
    const spec = tcpSpec({ port: listener.port });
    let prober: Prober | undefined;
    const started = startProber({
      onChange: (service) => {
        if (service === "db") prober?.setTargets(service, spec, []);
      },
    });
    prober = started.prober;
    prober.setTargets("db", spec, [target("a", listener.port)]);
    await eventually(() => expect(listener.connections).toBe(1));
    const clock = await serve(tcpListener());
    prober.setTargets("clock", tcpSpec({ port: clock.port }), [target("a", clock.port)]);
    await eventually(() => expect(clock.connections).toBeGreaterThan(5));
    expect(listener.connections).toBe(1);
    expect(prober.healthOf("db", "a")).toBeNull();
  });

  it.skipIf(!hasIpv6)("probes IPv6 loopback endpoints", async () => {
    const server = await serve(httpServer((_req, res) => res.end(), "::1"));
    const listener = await serve(tcpListener("::1"));
    const { prober } = startProber();
    prober.setTargets("web", httpSpec({ port: server.port }), [
      target("a", server.port, { address: "::1" }),
    ]);
    prober.setTargets("db", tcpSpec({ port: listener.port }), [
      target("a", listener.port, { address: "::1" }),
    ]);
    await eventually(() => {
      expect(prober.healthOf("web", "a")).toBe(true);
      expect(prober.healthOf("db", "a")).toBe(true);
    });
  });
});

describe("stop", () => {
  function socketCount(): number {
    return process
      .getActiveResourcesInfo()
      .filter((kind) => kind === "TCPSocketWrap" || kind === "ConnectWrap").length;
  }

  it("cancels probes in flight and timers, leaving no sockets and no new connections", async () => {
    const hanging = await serve(httpServer(() => {}));
    const fast = await serve(tcpListener());
    const baseline = socketCount();
    const { prober } = startProber();
    prober.setTargets("slow", httpSpec({ port: hanging.port, timeoutMs: 60_000 }), [
      target("a", hanging.port),
      target("b", hanging.port),
    ]);
    prober.setTargets(
      "fast",
      tcpSpec({ port: fast.port }),
      Array.from({ length: 5 }, (_, i) => target(`t${i}`, fast.port)),
    );
    await eventually(() => {
      expect(hanging.open).toBe(2);
      expect(fast.connections).toBeGreaterThan(10);
    });

    await prober.stop();
    expect(prober.healthOf("fast", "t0")).toBeNull();
    await eventually(() => {
      expect(hanging.open).toBe(0);
      expect(fast.open).toBe(0);
    });
    // At most the baseline: a socket of an earlier test may have finished closing meanwhile.
    expect(socketCount()).toBeLessThanOrEqual(baseline);

    // Timers would show as new connections: wait out many intervals and see none.
    const after = { hanging: hanging.connections, fast: fast.connections };
    prober.setTargets("late", tcpSpec({ port: fast.port }), [target("x", fast.port)]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect({ hanging: hanging.connections, fast: fast.connections }).toEqual(after);
    expect(socketCount()).toBeLessThanOrEqual(baseline);
  });

  it("never keeps the process alive with its timers", async () => {
    const entry = fileURLToPath(new URL("../../src/health/index.ts", import.meta.url));
    // A long interval: a first probe is almost surely still pending when the script ends.
    const script = `
      import { Prober } from ${JSON.stringify(entry)};
      const prober = new Prober({ onChange() {} });
      prober.setTargets("web", { kind: "tcp", path: null, port: 9, intervalMs: 600000,
        timeoutMs: 1000, unhealthyThreshold: 1, healthyThreshold: 1 },
        [{ identity: "a", address: "127.0.0.1", ports: {}, port: null }]);
    `;
    // Were a timer ref'd, the child would wait for it and be killed at the timeout: a rejection.
    await expect(
      run(process.execPath, ["--input-type=module", "--eval", script], { timeout: 30_000 }),
    ).resolves.toBeDefined();
  });
});
