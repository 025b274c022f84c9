/**
 * konsul-lb's xDS server driving the real proxyless client, @grpc/grpc-js-xds: backends on
 * 127.0.0.x, a konsul-lb serving a manifest file whose EndpointSlices point at them, and
 * channels dialling xds:///<service>.<namespace>. Every assertion is on the backends' hits.
 */
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.ts";
import { startXdsServer } from "../../src/xds/ads-server.ts";
import { EngineView } from "../../src/xds/engine-view.ts";
import { packAny } from "../../src/xds/protos.ts";
import { buildResources, type ResourceSource } from "../../src/xds/resources.ts";
import { XdsMetrics } from "../../src/xds/xds-metrics.ts";
import type { ServiceSpec } from "../support/manifests.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";
import {
  type Backends,
  backendEndpoints,
  serviceYaml,
  startBackends,
  type XdsClient,
  xdsClient,
} from "./support.ts";

/** Calls until every name in `names` has answered, so a split is not skewed by connecting. */
async function warmUp(client: XdsClient, names: readonly string[], key?: string): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 200 && seen.size < names.length; i++) seen.add(await client.call(key));
  expect([...seen].sort()).toEqual([...names].sort());
}

async function metric(service: TestService, line: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const found = text.split("\n").find((each) => each.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe("a proxyless gRPC client (grpc-js-xds) balanced by konsul-lb", () => {
  let backends: Backends;
  let service: TestService;
  let xdsPort: number;
  const names = ["web-0", "web-1", "web-2"];
  const clients: XdsClient[] = [];

  /** One Service per namespace, each over the same three backends. */
  function services(overrides: Record<string, Partial<ServiceSpec>> = {}): string {
    const base = (namespace: string, policy?: Record<string, unknown>): ServiceSpec => ({
      namespace,
      name: "web",
      port: backends.port,
      endpoints: backendEndpoints(backends),
      ...(policy === undefined ? {} : { policy }),
      ...overrides[namespace],
    });
    return serviceYaml([
      base("rr"),
      {
        ...base("wrr", { strategy: "weighted-round-robin" }),
        endpoints: backendEndpoints(backends, (i) => ({ weightAnnotation: i === 1 ? "3" : "1" })),
      },
      base("sticky", { strategy: "ring-hash", ringHash: { hashOn: "session-key" } }),
      { ...base("unready"), endpoints: backendEndpoints(backends, (i) => ({ ready: i !== 1 })) },
      base("change"),
      base("leastreq", { strategy: "least-request" }),
      base("maglev", { strategy: "maglev", maglev: { hashOn: "session-key" } }),
      base("random", { strategy: "random" }),
    ]);
  }

  function client(target: string): XdsClient {
    const created = xdsClient(target, xdsPort);
    clients.push(created);
    return created;
  }

  beforeAll(async () => {
    backends = await startBackends("web", 3);
    service = await startTestService(services(), { xdsAddr: { host: "127.0.0.1", port: 0 } });
    xdsPort = service.xds?.port ?? 0;
  });

  afterAll(async () => {
    for (const each of clients) each.close();
    await service?.close();
    await backends?.stop();
  });

  it("round-robin: an even split", async () => {
    const rr = client("web.rr");
    await warmUp(rr, names);
    expect(await rr.calls(300)).toEqual({ "web-0": 100, "web-1": 100, "web-2": 100 });
  });

  it("weighted-round-robin 1:3:1: shares within tolerance (one locality per endpoint)", async () => {
    const wrr = client("web.wrr");
    await warmUp(wrr, names);
    const hits = await wrr.calls(1000);
    // grpc-js picks localities by weighted random: 200/600/200 ± about 4 standard deviations.
    expect(Math.abs((hits["web-0"] ?? 0) - 200)).toBeLessThan(60);
    expect(Math.abs((hits["web-1"] ?? 0) - 600)).toBeLessThan(65);
    expect(Math.abs((hits["web-2"] ?? 0) - 200)).toBeLessThan(60);
  });

  it("an unready endpoint receives nothing", async () => {
    const unready = client("web.unready");
    await warmUp(unready, ["web-0", "web-2"]);
    expect(await unready.calls(200)).toEqual({ "web-0": 100, "web-2": 100 });
  });

  it("ring-hash: sticky per session key; when a backend goes, only its keys move", async () => {
    const sticky = client("web.sticky");
    const keys = Array.from({ length: 150 }, (_, i) => `user-${i}`);
    await sticky.call(keys[0]);
    const before = new Map<string, string>();
    for (const key of keys) before.set(key, await sticky.call(key));
    for (const key of keys) expect(await sticky.call(key), key).toBe(before.get(key));
    const spread = new Set(before.values());
    expect(spread.size).toBe(3);

    await service.write(
      services({
        sticky: { endpoints: backendEndpoints(backends).filter((e) => e.pod !== "web-2") },
      }),
    );
    await eventually(async () =>
      expect(await sticky.call(keys.find((k) => before.get(k) === "web-2"))).not.toBe("web-2"),
    );
    // Every key of the removed backend moves (the loop checks none stays on web-2). Of the
    // others, grpc-js moves some: its ring keeps 1,024 entries (it cannot be given konsul-lb's
    // n × virtualNodes), so each survivor gains entries, taking about 1/6 of the other's keys.
    let survivors = 0;
    let survivorsMoved = 0;
    for (const key of keys) {
      const now = await sticky.call(key);
      expect(now, key).not.toBe("web-2");
      if (before.get(key) === "web-2") continue;
      survivors++;
      if (now !== before.get(key)) survivorsMoved++;
    }
    expect(survivors).toBeGreaterThan(0);
    expect(survivorsMoved / survivors).toBeLessThan(0.35);
  });

  it("a policy change reaches a running client without a restart", async () => {
    const change = client("web.change");
    await warmUp(change, names, "user-1");
    await service.write(
      services({
        change: { policy: { strategy: "ring-hash", ringHash: { hashOn: "session-key" } } },
      }),
    );
    // Round robin spread one key over every backend; ring-hash pins it to one.
    await eventually(async () => {
      const hits = await change.calls(30, () => "user-1");
      expect(Object.keys(hits)).toHaveLength(1);
    });
  });

  it("strategies grpc-js lacks degrade through the ordered list, counted per client", async () => {
    for (const [namespace, strategy, fallback] of [
      ["leastreq", "least-request", "wrr_locality"],
      ["maglev", "maglev", "ring_hash"],
      ["random", "random", "round_robin"],
    ] as const) {
      const degraded = client(`web.${namespace}`);
      await warmUp(degraded, names);
      const series = `konsul_lb_xds_fallbacks_total{strategy="${strategy}",client="grpc-node",policy="${fallback}"}`;
      expect(await metric(service, series), series).toBeGreaterThan(0);
    }
    // Maglev falls back to a ring: still sticky per session key.
    const maglev = client("web.maglev");
    const first = await maglev.call("user-7");
    expect(await maglev.calls(20, () => "user-7")).toEqual({ [first]: 20 });
    expect(await metric(service, 'konsul_lb_xds_nacks_total{type="cluster"}')).toBe(0);
  });

  it("a Cluster the client rejects is NACKed, logged with the client's error and counted", async () => {
    // The real mapping, except that web.rr's Cluster names an LB policy grpc-js does not have
    // and no load_balancing_policy list to fall back on.
    const invalidCluster = packAny("cluster", {
      name: "web.rr",
      type: "EDS",
      eds_cluster_config: { eds_config: { ads: {} }, service_name: "web.rr" },
      lb_policy: "LEAST_REQUEST",
    });
    const resources: ResourceSource = (view) => {
      const real = buildResources(view);
      if (real === null || real.name !== "web.rr") return real;
      return {
        ...real,
        resource: (kind, facts) =>
          kind === "cluster" ? invalidCluster : real.resource(kind, facts),
      };
    };
    const registry = new Registry();
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const broken = await startXdsServer({
      host: "127.0.0.1",
      port: 0,
      view: new EngineView(service.discovery),
      metrics: new XdsMetrics(registry),
      logger: createLogger("warn", sink),
      resources,
    });
    // Without wait-for-ready, so that the call fails at once as a rejected Cluster makes it.
    const rejecting = xdsClient("web.rr", broken.port, { waitForReady: false });
    try {
      await expect(rejecting.call()).rejects.toMatchObject({ code: 14 });
      const nacks = async () =>
        (await registry.getSingleMetric("konsul_lb_xds_nacks_total")?.get())?.values.find(
          (v) => v.labels.type === "cluster",
        )?.value ?? 0;
      await eventually(async () => expect(await nacks()).toBeGreaterThanOrEqual(1));
      expect(logs.find((line) => line.type === "cluster")).toMatchObject({
        level: "warn",
        client: "test-client",
        error: expect.stringMatching(/LEAST_REQUEST/),
      });
    } finally {
      rejecting.close();
      await broken.close();
    }
  });
});
