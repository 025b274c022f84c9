/**
 * The ADS protocol as konsul-lb speaks it, seen from a bare client: versions and nonces, ACK and
 * NACK, stale nonces, pushes on catalog changes, wildcard subscriptions, the limits, and the
 * exact resources of each strategy.
 */
import { Writable } from "node:stream";
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.ts";
import { startXdsServer, type XdsListening } from "../../src/xds/ads-server.ts";
import { EngineView } from "../../src/xds/engine-view.ts";
import { XdsMetrics } from "../../src/xds/xds-metrics.ts";
import { manifestYaml, type ServiceSpec } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";
import { AdsTestClient, unpack } from "./ads-client.ts";

const NODES = [
  { name: "node-a", region: "us-east", zone: "us-east-1a" },
  { name: "node-b", region: "eu-west", zone: "eu-west-1a" },
];

const SERVICES: ServiceSpec[] = [
  {
    namespace: "shop",
    name: "web",
    endpoints: [
      { pod: "web-0", ip: "10.0.0.1", node: "node-a", weightAnnotation: "2" },
      { pod: "web-1", ip: "10.0.0.2", ready: false },
      { pod: "web-2", ip: "10.0.0.3", terminating: true },
    ],
  },
  {
    namespace: "shop",
    name: "cart",
    endpoints: [{ pod: "cart-0", ip: "10.0.1.1", weightAnnotation: "3" }],
    policy: { strategy: "ring-hash", ringHash: { hashOn: "session-key", virtualNodes: 500 } },
  },
  {
    namespace: "shop",
    name: "pay",
    endpoints: [{ pod: "pay-0", ip: "10.0.2.1" }],
    policy: { strategy: "maglev", maglev: { tableSize: 65537, hashOn: "client-ip" } },
  },
  {
    namespace: "shop",
    name: "raw",
    endpoints: [
      { pod: "raw-0", ip: "10.0.5.1" },
      { pod: "raw-1", ip: "10.0.5.2", ready: false },
    ],
    policy: { healthFilter: false },
  },
  {
    namespace: "shop",
    name: "geo",
    endpoints: [
      { pod: "geo-east", ip: "10.0.4.1", node: "node-a" },
      { pod: "geo-west", ip: "10.0.4.2", node: "node-b" },
    ],
    policy: {
      strategy: "latency-based",
      latency: {
        map: {
          "us-east": { "us-east": "1ms", "eu-west": "80ms" },
          "eu-west": { "eu-west": "1ms", "us-east": "80ms" },
        },
      },
    },
  },
  {
    namespace: "shop",
    name: "queue",
    endpoints: [{ pod: "queue-0", ip: "10.0.3.1", weightAnnotation: "4" }],
    policy: { strategy: "least-request" },
  },
];

interface Started {
  readonly listening: XdsListening;
  readonly metrics: XdsMetrics;
  readonly registry: Registry;
  readonly logs: string[];
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = await registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return found?.value ?? 0;
}

describe("the ADS server", () => {
  let service: TestService;
  const servers: Started[] = [];
  const clients: AdsTestClient[] = [];

  async function server(limits: { maxStreams?: number; maxNamesPerStream?: number } = {}) {
    const registry = new Registry();
    const metrics = new XdsMetrics(registry);
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    const listening = await startXdsServer({
      host: "127.0.0.1",
      port: 0,
      view: new EngineView(service.discovery),
      metrics,
      logger: createLogger("warn", sink),
      ...limits,
    });
    const started = { listening, metrics, registry, logs };
    servers.push(started);
    return started;
  }

  function client(port: number, node?: Record<string, unknown>): AdsTestClient {
    const created = new AdsTestClient(port, node);
    clients.push(created);
    return created;
  }

  beforeAll(async () => {
    service = await startTestService(manifestYaml(SERVICES, NODES));
  });

  afterAll(async () => {
    for (const each of clients) each.close();
    for (const each of servers) await each.listening.close();
    await service?.close();
  });

  it("answers with the catalog index as version and a fresh nonce; ACKs are counted", async () => {
    const { listening, registry } = await server();
    const ads = client(listening.port);
    ads.send("listener", { resource_names: ["web.shop"] });
    const first = await ads.next();
    expect(first.version_info).toBe(String(service.catalog.index));
    expect(first.nonce).not.toBe("");
    expect(first.resources.map((r) => r.name)).toEqual(["web.shop"]);
    // An ACK of the same names gets no new response.
    ads.send("listener", {
      resource_names: ["web.shop"],
      response_nonce: first.nonce,
      version_info: first.version_info,
    });
    expect(await ads.silentFor(200)).toBe(true);
    expect(await value(registry, "konsul_lb_xds_acks_total", { type: "listener" })).toBe(1);
    // A new name is a new subscription: a response with both, under a new nonce.
    ads.send("listener", {
      resource_names: ["web.shop", "cart.shop"],
      response_nonce: first.nonce,
      version_info: first.version_info,
    });
    const second = await ads.next();
    expect(second.nonce).not.toBe(first.nonce);
    expect(second.resources.map((r) => r.name).sort()).toEqual(["cart.shop", "web.shop"]);
    // That request answered the first nonce again: a change of names, not a second ACK.
    expect(await value(registry, "konsul_lb_xds_acks_total", { type: "listener" })).toBe(1);
  });

  it("ignores a request that answers a superseded nonce", async () => {
    const { listening } = await server();
    const ads = client(listening.port);
    ads.send("cluster", { resource_names: ["web.shop"] });
    const first = await ads.next();
    ads.send("cluster", { resource_names: ["web.shop", "cart.shop"], response_nonce: first.nonce });
    const second = await ads.next();
    ads.send("cluster", { resource_names: ["pay.shop"], response_nonce: first.nonce });
    expect(await ads.silentFor(200)).toBe(true);
    ads.send("cluster", { resource_names: ["pay.shop"], response_nonce: second.nonce });
    expect((await ads.next()).resources.map((r) => r.name)).toEqual(["pay.shop"]);
  });

  it("logs a NACK with the client's error and counts it, and does not resend", async () => {
    const { listening, registry, logs } = await server();
    const ads = client(listening.port, { id: "client-7" });
    ads.send("endpoint", { resource_names: ["web.shop"] });
    const first = await ads.next();
    ads.send("endpoint", {
      resource_names: ["web.shop"],
      response_nonce: first.nonce,
      error_detail: { code: 3, message: "address is not a valid IPv4 or IPv6 address" },
    });
    expect(await ads.silentFor(200)).toBe(true);
    expect(await value(registry, "konsul_lb_xds_nacks_total", { type: "endpoint" })).toBe(1);
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.type === "endpoint");
    expect(line).toMatchObject({
      level: "warn",
      client: "client-7",
      error: "address is not a valid IPv4 or IPv6 address",
    });
  });

  it("pushes a changed Service to the streams subscribed to it, and only to them", async () => {
    const { listening } = await server();
    const web = client(listening.port);
    const cart = client(listening.port);
    web.send("endpoint", { resource_names: ["web.shop"] });
    cart.send("endpoint", { resource_names: ["cart.shop"] });
    const before = await web.next();
    await cart.next();
    const changed = SERVICES.map((s) =>
      s.name === "web" ? { ...s, endpoints: s.endpoints.slice(0, 1) } : s,
    );
    await service.write(manifestYaml(changed, NODES));
    const pushed = await web.next(5000);
    expect(Number(pushed.version_info)).toBeGreaterThan(Number(before.version_info));
    const endpoints = (pushed.resources[0] as { endpoints: unknown[] }).endpoints;
    expect(endpoints).toHaveLength(1);
    expect(await cart.silentFor(300)).toBe(true);
    await service.write(manifestYaml(SERVICES, NODES));
    expect((await web.next(5000)).resources).toHaveLength(1);
  });

  it("pushes only the types whose resources changed", async () => {
    const { listening } = await server();
    const ads = client(listening.port);
    for (const kind of ["listener", "endpoint"] as const) {
      ads.send(kind, { resource_names: ["web.shop"] });
      await ads.next();
    }
    const changed = SERVICES.map((s) =>
      s.name === "web" ? { ...s, endpoints: s.endpoints.slice(0, 2) } : s,
    );
    await service.write(manifestYaml(changed, NODES));
    const pushed = await ads.next(5000);
    expect(pushed.type_url).toMatch(/ClusterLoadAssignment$/);
    // The Listener is the same: it does not travel again.
    expect(await ads.silentFor(300)).toBe(true);
    await service.write(manifestYaml(SERVICES, NODES));
    expect((await ads.next(5000)).type_url).toMatch(/ClusterLoadAssignment$/);
  });

  it("treats a first LDS or CDS request without names as a wildcard (Envoy)", async () => {
    const { listening } = await server();
    const envoy = client(listening.port, { id: "envoy-1", user_agent_name: "envoy" });
    envoy.send("cluster", {});
    const all = await envoy.next();
    expect(all.resources.map((r) => r.name).sort()).toEqual([
      "cart.shop",
      "geo.shop",
      "pay.shop",
      "queue.shop",
      "raw.shop",
      "web.shop",
    ]);
  });

  it("refuses a stream beyond the stream limit with RESOURCE_EXHAUSTED, naming the limit", async () => {
    const { listening, registry } = await server({ maxStreams: 1 });
    const one = client(listening.port);
    one.send("listener", { resource_names: ["web.shop"] });
    await one.next();
    const two = client(listening.port);
    two.send("listener", { resource_names: ["web.shop"] });
    const error = await two.end();
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/at most 1 xDS streams/);
    expect(
      await value(registry, "konsul_lb_xds_streams_refused_total", { reason: "stream-limit" }),
    ).toBe(1);
    expect(listening.streamCount()).toBe(1);
  });

  it("ends a stream that subscribes to more names than allowed", async () => {
    const { listening, registry } = await server({ maxNamesPerStream: 2 });
    const ads = client(listening.port);
    ads.send("endpoint", { resource_names: ["web.shop", "cart.shop", "pay.shop"] });
    const error = await ads.end();
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/subscribes to 3 resource names; at most 2/);
    expect(
      await value(registry, "konsul_lb_xds_streams_refused_total", { reason: "name-limit" }),
    ).toBe(1);
  });

  it("latency-based: each client's endpoints in priorities by latency from its region", async () => {
    const { listening } = await server();
    const priorities = async (locality: Record<string, string>) => {
      const ads = client(listening.port, { id: "geo-client", locality });
      ads.send("endpoint", { resource_names: ["geo.shop"] });
      const assignment = (await ads.next()).resources[0] as { endpoints: any[] };
      return Object.fromEntries(
        assignment.endpoints.map((l) => [l.locality.sub_zone, l.priority ?? 0]),
      );
    };
    expect(await priorities({ region: "us-east" })).toEqual({ "geo-east": 0, "geo-west": 1 });
    expect(await priorities({ region: "eu-west" })).toEqual({ "geo-east": 1, "geo-west": 0 });
    // No region, or one the map does not know: no preference.
    expect(await priorities({})).toEqual({ "geo-east": 0, "geo-west": 0 });
    expect(await priorities({ region: "ap-south" })).toEqual({ "geo-east": 0, "geo-west": 0 });
  });

  it("grpc-js gets its ring without explicit sizes, which it would reject", async () => {
    const { listening } = await server();
    const node = client(listening.port, { id: "node", user_agent_name: "gRPC Node Pure JS" });
    node.send("cluster", { resource_names: ["cart.shop"] });
    const cluster = (await node.next()).resources[0] as any;
    const ring = unpack(
      cluster.load_balancing_policy.policies[0].typed_extension_config.typed_config,
    );
    expect(ring).toEqual({ hash_function: "XX_HASH" });
  });

  it("healthFilter false: every endpoint UNKNOWN, so the client uses them all as the engine does", async () => {
    const { listening } = await server();
    const ads = client(listening.port);
    ads.send("endpoint", { resource_names: ["raw.shop"] });
    const assignment = (await ads.next()).resources[0] as { endpoints: any[] };
    expect(assignment.endpoints.map((l) => l.lb_endpoints[0].health_status)).toEqual([
      "UNKNOWN",
      "UNKNOWN",
    ]);
  });

  describe("resources", () => {
    let ads: AdsTestClient;
    const fetchOne = async (kind: "listener" | "route" | "cluster" | "endpoint", name: string) => {
      ads.send(kind, { resource_names: [name] });
      const response = await ads.next();
      return response.resources[0] as Record<string, any>;
    };

    beforeAll(async () => {
      const { listening } = await server();
      ads = client(listening.port, { id: "shapes", user_agent_name: "gRPC Go" });
    });

    it("Listener: an API listener whose HttpConnectionManager takes routes over ADS", async () => {
      const listener = await fetchOne("listener", "web.shop");
      const manager = unpack(listener.api_listener.api_listener) as Record<string, any>;
      expect(manager.rds).toEqual({
        config_source: { ads: {}, resource_api_version: "V3" },
        route_config_name: "web.shop",
      });
      expect(manager.http_filters.map((f: { name: string }) => f.name)).toEqual([
        "envoy.filters.http.router",
      ]);
    });

    it("RouteConfiguration: a virtual host named after the Service, hashing as the policy says", async () => {
      const web = await fetchOne("route", "web.shop");
      expect(web.virtual_hosts[0].domains).toEqual(["web.shop"]);
      expect(web.virtual_hosts[0].routes[0].route.cluster).toBe("web.shop");
      expect(web.virtual_hosts[0].routes[0].route.hash_policy).toBeUndefined();
      const cart = await fetchOne("route", "cart.shop");
      expect(cart.virtual_hosts[0].routes[0].route.hash_policy).toEqual([
        { header: { header_name: "x-session-key" } },
      ]);
      const pay = await fetchOne("route", "pay.shop");
      expect(pay.virtual_hosts[0].routes[0].route.hash_policy).toEqual([
        { connection_properties: { source_ip: true } },
        { filter_state: { key: "io.grpc.channel_id" } },
      ]);
    });

    it("Cluster: EDS over ADS and the strategy's ordered policy list", async () => {
      const policies = async (name: string) => {
        const cluster = await fetchOne("cluster", name);
        expect(cluster.type).toBe("EDS");
        expect(cluster.eds_cluster_config.service_name).toBe(name);
        return (cluster.load_balancing_policy.policies as any[]).map((p) => ({
          name: p.typed_extension_config.name.replace("envoy.load_balancing_policies.", ""),
          config: unpack(p.typed_extension_config.typed_config),
        }));
      };
      expect(await policies("web.shop")).toEqual([{ name: "round_robin", config: {} }]);
      // virtualNodes 500 × 1 endpoint is below Envoy's minimum ring of 1,024.
      expect(await policies("cart.shop")).toEqual([
        {
          name: "ring_hash",
          config: {
            hash_function: "XX_HASH",
            minimum_ring_size: { value: 1024 },
            maximum_ring_size: { value: 8388608 },
          },
        },
      ]);
      const pay = await policies("pay.shop");
      expect(pay.map((p) => p.name)).toEqual(["maglev", "ring_hash"]);
      expect(pay[0]?.config).toEqual({ table_size: { value: 65537 } });
      const queue = await policies("queue.shop");
      expect(queue.map((p) => p.name)).toEqual(["least_request", "wrr_locality", "round_robin"]);
      expect(queue[0]?.config).toEqual({ choice_count: { value: 2 } });
    });

    it("ClusterLoadAssignment: health, weights, localities and the pod name as hash key", async () => {
      const web = await fetchOne("endpoint", "web.shop");
      expect(web.cluster_name).toBe("web.shop");
      const endpoints = web.endpoints as any[];
      expect(endpoints.map((l) => l.locality)).toEqual([
        { region: "us-east", zone: "us-east-1a", sub_zone: "web-0" },
        { sub_zone: "web-1" },
        { sub_zone: "web-2" },
      ]);
      const lb = endpoints.map((l) => l.lb_endpoints[0]);
      // Not ready: UNHEALTHY; terminating but still serving: DRAINING (no new calls).
      expect(lb.map((e) => e.health_status)).toEqual(["HEALTHY", "UNHEALTHY", "DRAINING"]);
      expect(lb[0].endpoint.address.socket_address).toEqual({
        address: "10.0.0.1",
        port_value: 8080,
      });
      expect(lb[0].metadata.filter_metadata["envoy.lb"].fields.hash_key).toEqual({
        stringValue: "web-0",
      });
      // Round robin ignores weights: every weight is 1.
      expect(lb.map((e) => e.load_balancing_weight.value)).toEqual([1, 1, 1]);
      const queue = await fetchOne("endpoint", "queue.shop");
      expect(queue.endpoints[0].load_balancing_weight.value).toBe(4);
      expect(queue.endpoints[0].lb_endpoints[0].load_balancing_weight.value).toBe(4);
      // A ring weighs endpoints only; a locality weight would count the weight twice.
      const cart = await fetchOne("endpoint", "cart.shop");
      expect(cart.endpoints[0].load_balancing_weight.value).toBe(1);
      expect(cart.endpoints[0].lb_endpoints[0].load_balancing_weight.value).toBe(3);
    });
  });
});
