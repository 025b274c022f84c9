import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { Catalog } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import { OutcomeIntake } from "../../src/discovery/outcomes.ts";
import { OutcomeForwarder } from "../../src/ha/outcome-forwarder.ts";
import {
  decodeSnapshot,
  ejectionsOf,
  encodeSnapshot,
  exportService,
  SNAPSHOT_FORMAT,
  type Snapshot,
} from "../../src/ha/snapshot.ts";
import { SnapshotReader } from "../../src/ha/snapshot-reader.ts";
import { createApp } from "../../src/http/app.ts";
import { ApiError } from "../../src/http/errors.ts";
import { listen } from "../../src/http/listen.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import { endpoints } from "../balancer/fixtures.ts";
import { endpoint as catalogEndpoint } from "../catalog/fixtures.ts";

const HEADER = {
  format: SNAPSHOT_FORMAT,
  epoch: 3,
  leader: "l",
  sequence: 1,
  shard: 0,
  shards: 1,
  baseTime: 100_000,
};

const detecting: ParsedPolicy = {
  name: "web",
  namespace: "shop",
  creationTimestamp: null,
  targetRef: { kind: "Service", name: "web" },
  strategy: "round-robin",
  weights: [],
  healthCheck: null,
  balancer: { outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 50 } },
};

function catalogWithWeb(): Catalog {
  const catalog = new Catalog();
  catalog.upsert({
    namespace: "shop",
    name: "web",
    endpoints: ["web-0", "web-1", "web-2", "web-3"].map((id) => catalogEndpoint(id)),
    policy: detecting,
  });
  return catalog;
}

const failures = (endpoint: string, n: number) =>
  Array.from({ length: n }, () => ({ endpoint, result: "failure" as const }));

describe("ejections in the state snapshots", () => {
  it("the leader exports them, relative to the base time, and they decode back", () => {
    let now = 90_000;
    const manager = new BalancerManager({ now: () => now });
    const service = {
      key: "shop/web",
      version: 1,
      endpoints: endpoints(4),
      policy: { outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 } },
    };
    manager.recordOutcomes(service, [{ identity: "ep-2", result: "timeout" }]);
    now = 100_000;
    const state = exportService(manager, "shop/web", HEADER.baseTime);
    expect(state?.ejections).toEqual([["ep-2", 1, 20_000]]);
    const snapshot = decodeSnapshot(encodeSnapshot(HEADER, [["shop/web", JSON.stringify(state)]]));
    expect(ejectionsOf(snapshot, snapshot.services["shop/web"])).toEqual([
      { identity: "ep-2", ejections: 1, until: 120_000 },
    ]);
  });

  it("a snapshot without them (an older writer) has none; malformed entries are skipped", () => {
    const old = decodeSnapshot(
      encodeSnapshot(HEADER, [["a/b", JSON.stringify({ connections: {} })]]),
    );
    expect(ejectionsOf(old, old.services["a/b"])).toEqual([]);
    const odd = decodeSnapshot(
      encodeSnapshot(HEADER, [
        [
          "a/b",
          JSON.stringify({ ejections: [["ok", 2, null], ["bad", "x", 1], "junk", [3, 1, 1]] }),
        ],
      ]),
    );
    expect(ejectionsOf(odd, odd.services["a/b"])).toEqual([
      { identity: "ok", ejections: 2, until: null },
    ]);
  });

  it("a follower is told when the leader's ejections of a service change, and only then", () => {
    const told: [string, unknown][] = [];
    const reader = new SnapshotReader({
      prefix: "konsul-lb-state",
      manager: new BalancerManager(),
      isLeading: () => false,
      logger: { warn: () => {} },
      onEjections: (key, records) => told.push([key, records]),
    });
    const shard = (sequence: number, services: object): Snapshot =>
      decodeSnapshot(JSON.stringify({ ...HEADER, sequence, services }));
    reader.apply(
      "konsul-lb-state-0",
      shard(1, { "shop/web": { ejections: [["web-1", 1, 5_000]] } }),
    );
    reader.apply(
      "konsul-lb-state-0",
      shard(2, { "shop/web": { ejections: [["web-1", 1, 5_000]] } }),
    );
    reader.apply("konsul-lb-state-0", shard(3, { "shop/web": {} }));
    expect(told).toEqual([
      ["shop/web", [{ identity: "web-1", ejections: 1, until: 105_000 }]],
      ["shop/web", []],
    ]);
  });
});

describe("a replica that does not decide", () => {
  it("keeps latencies but ejects nothing itself, and mirrors the leader's ejections", () => {
    const catalog = catalogWithWeb();
    const discovery = new Discovery(catalog, new BalancerManager());
    let leading = false;
    const intake = new OutcomeIntake(discovery, { decides: () => leading });
    expect(intake.report("shop", "web", failures("web-1", 5))).toEqual({ accepted: 5, unknown: 0 });
    intake.tick();
    expect(catalog.ejectedOf("shop", "web")).toEqual([]);

    intake.mirror("shop/web", [{ identity: "web-2", ejections: 1, until: Date.now() + 60_000 }]);
    expect(catalog.ejectedOf("shop", "web")).toEqual(["web-2"]);
    expect(discovery.manager.ejectedEndpoints("shop/web")).toEqual(["web-2"]);

    // Leading now: it continues from the mirrored ejection, and decides the next ones.
    leading = true;
    intake.report("shop", "web", failures("web-0", 2));
    expect(catalog.ejectedOf("shop", "web").sort()).toEqual(["web-0", "web-2"]);
    intake.mirror("shop/web", []);
    expect(catalog.ejectedOf("shop", "web")).toEqual([]);
    intake.stop();
    discovery.close();
  });

  it("a policy that drops outlierDetection returns every ejected endpoint", () => {
    const catalog = catalogWithWeb();
    const discovery = new Discovery(catalog, new BalancerManager());
    const intake = new OutcomeIntake(discovery);
    intake.report("shop", "web", failures("web-3", 2));
    expect(catalog.ejectedOf("shop", "web")).toEqual(["web-3"]);
    const entry = catalog.get("shop", "web");
    if (entry === undefined) throw new Error("no entry");
    catalog.upsert({ ...entry, policy: { ...detecting, balancer: {} } });
    expect(catalog.ejectedOf("shop", "web")).toEqual([]);
    expect(catalog.get("shop", "web")?.endpoints.some((e) => e.ejected === true)).toBe(false);
    intake.stop();
    discovery.close();
  });
});

describe("the public route on a follower", () => {
  it("relays the leader's answer, keeps the latencies, counts each report once", async () => {
    const catalog = catalogWithWeb();
    const manager = new BalancerManager();
    const metrics = new Metrics(catalog, manager);
    const discovery = new Discovery(catalog, manager, { metrics });
    const outcomes = new OutcomeIntake(discovery, { metrics, decides: () => false });
    const sent: unknown[] = [];
    const app = createApp({
      discovery,
      metrics,
      logger: createLogger("silent"),
      trustProxy: false,
      isReady: () => true,
      outcomes,
      outcomeForwarding: {
        forward: (_namespace, _name, _reporter, reports) => {
          sent.push(reports);
          return Promise.resolve({ status: 200, body: { accepted: 99, unknown: 0 } });
        },
      },
    });
    const server = await listen(app, "127.0.0.1", 0);
    try {
      const answer = await fetch(`${server.url}/v1/services/shop/web/outcomes?reporter=app`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(failures("web-1", 3)),
      });
      expect(await answer.json()).toEqual({ accepted: 99, unknown: 0 });
      expect(sent).toEqual([failures("web-1", 3)]);
      expect(catalog.ejectedOf("shop", "web")).toEqual([]);
      const text = await metrics.registry.metrics();
      expect(text).toContain(
        'konsul_lb_outcomes_reported_total{reporter="app",result="failure"} 3',
      );
      const unknown = await fetch(`${server.url}/v1/services/shop/nope/outcomes`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "[]",
      });
      expect(unknown.status).toBe(404);
      await unknown.body?.cancel();
    } finally {
      await server.close();
      outcomes.stop();
      discovery.close();
    }
  });
});

describe("OutcomeForwarder", () => {
  const servers: ReturnType<typeof createServer>[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  it("takes the reports itself on the leader, sends them to the leader elsewhere", async () => {
    const received: { url: string; body: string; auth: string | undefined }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        received.push({ url: req.url ?? "", body, auth: req.headers.authorization });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ accepted: 1, unknown: 0 }));
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    let leading = true;
    const forwarder = new OutcomeForwarder({
      identity: "me",
      isLeader: () => leading,
      leader: () => ({ identity: "other", address: `http://127.0.0.1:${port}` }),
      credentials: () => ({ authorization: "Bearer t" }),
    });
    const reports = [{ endpoint: "web-1", result: "failure" as const }];
    expect(forwarder.forward("shop", "web", "app", reports)).toBeNull();
    leading = false;
    expect(await forwarder.forward("shop", "web", "app", reports)).toEqual({
      status: 200,
      body: { accepted: 1, unknown: 0 },
    });
    expect(received).toEqual([
      {
        url: "/internal/v1/services/shop/web/outcomes?reporter=app",
        body: JSON.stringify(reports),
        auth: "Bearer t",
      },
    ]);
  });

  it("refuses with Unavailable when no leader can take them", async () => {
    const none = new OutcomeForwarder({
      identity: "me",
      isLeader: () => false,
      leader: () => null,
    });
    await expect(none.forward("shop", "web", undefined, [])).rejects.toMatchObject({
      code: "Unavailable",
    });
    const gone = new OutcomeForwarder({
      identity: "me",
      isLeader: () => false,
      leader: () => ({ identity: "other", address: "http://127.0.0.1:1" }),
      timeoutMs: 500,
    });
    const refused = gone.forward("shop", "web", undefined, []);
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ code: "Unavailable" });
  });
});
