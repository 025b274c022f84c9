// The sample backends and one example policy per strategy family, applied with kubectl as a
// user would; each policy's status, then the discovery API (HTTP and DNS) answering by its
// strategy, the same on every replica where the strategy is deterministic.

import type { V1NodeList } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKEND_SERVICES, deployBackends, key, servedWith } from "./support/backends.ts";
import {
  endpointSlices,
  kubectl,
  kubectlJson,
  log,
  type PolicyObject,
  readyEndpoints,
  waitFor,
} from "./support/cluster.ts";
import {
  DOMAIN,
  dig,
  digA,
  endpoints,
  pick,
  type Replica,
  services,
  tally,
} from "./support/discovery.ts";
import { POLICIES, SHOP } from "./support/env.ts";
import { target } from "./support/target.ts";

const t = target();
let replicas: Replica[];
let first: Replica;

beforeAll(async () => {
  log("applying examples/backends.yaml");
  await deployBackends();
  log("applying examples/policies/");
  await kubectl(["apply", "-f", POLICIES]);
  replicas = await t.replicas();
  first = replicas[0] as Replica;
  for (const replica of replicas) {
    for (const backend of BACKEND_SERVICES)
      await servedWith(replica, backend.service, backend.pods);
  }
});
afterAll(() => t.close());

/** Ready endpoints of a Service from its EndpointSlices: pod name → address. */
async function ready(service: string): Promise<Map<string, string>> {
  return readyEndpoints(await endpointSlices(SHOP, service));
}

describe("the example policies", () => {
  it("kubectl get lbp: every policy Accepted and Ready, with its endpoint counts", async () => {
    await waitFor(
      "every policy's status",
      async () => {
        const list = await kubectlJson<{ items: PolicyObject[] }>(["-n", SHOP, "get", "lbp"]);
        const done = list.items.filter((p) => {
          const conditions = Object.fromEntries(
            (p.status?.conditions ?? []).map((c) => [c.type, c.status]),
          );
          return (
            p.status?.observedGeneration === p.metadata.generation &&
            conditions.Accepted === "True" &&
            conditions.ResolvedRefs === "True" &&
            conditions.Ready === "True"
          );
        });
        return done.length === BACKEND_SERVICES.length ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const table = (await kubectl(["-n", SHOP, "get", "lbp"])).stdout;
    log(`kubectl get lbp -n shop\n${table}`);
    for (const backend of BACKEND_SERVICES) {
      const row = table.split("\n").find((line) => line.startsWith(`${backend.policy} `));
      expect(row, backend.policy).toBeDefined();
      expect(row?.split(/\s+/).slice(1, 5)).toEqual([
        backend.service,
        backend.strategy,
        `${backend.pods}/${backend.pods}`,
        "True",
      ]);
    }
  });

  it("/v1/services: every replica shows each service under its policy's strategy", async () => {
    for (const replica of replicas) {
      const list = await services(replica.url);
      for (const backend of BACKEND_SERVICES) {
        expect(list.find((s) => s.namespace === SHOP && s.name === backend.service)).toMatchObject({
          strategy: backend.strategy,
          policy: backend.policy,
          endpoints: { total: backend.pods, healthy: backend.pods },
        });
      }
    }
  });

  it("the catalog is the EndpointSlices: every ready pod, its address, and its node's region", async () => {
    const nodes = await kubectlJson<V1NodeList>(["get", "nodes"]);
    const regionOf = new Map(
      nodes.items.map((n) => [
        n.metadata?.name,
        n.metadata?.labels?.["topology.kubernetes.io/region"],
      ]),
    );
    for (const backend of BACKEND_SERVICES) {
      const slices = await ready(backend.service);
      // lb=round-robin lists every endpoint without the service's own strategy's parameters.
      const answer = await endpoints(first.url, key(backend.service), "lb=round-robin&limit=0");
      expect(new Map(answer.endpoints.map((e) => [e.identity, e.address]))).toEqual(slices);
      for (const endpoint of answer.endpoints) {
        expect(endpoint.region).toBe(regionOf.get(endpoint.node as string));
        expect(endpoint).toMatchObject({ ready: true, terminating: false, healthy: true });
      }
      // Both regions hold pods of every service (topology spread, or one Deployment each).
      expect(new Set(answer.endpoints.map((e) => e.region))).toEqual(
        new Set(["us-east", "eu-west"]),
      );
    }
  });
});

describe("answers by strategy", () => {
  it("round-robin (web): exact equal shares over every ready pod; DNS rotates with TTL 0", async () => {
    const pods = await ready("web");
    const counts = await tally(first.url, key("web"), 20 * pods.size);
    expect(new Set(counts.keys())).toEqual(new Set(pods.keys()));
    for (const n of counts.values()) expect(n).toBe(20);

    const name = `web.${SHOP}.${DOMAIN}`;
    const firsts = new Set<string>();
    for (let i = 0; i < pods.size; i++) {
      const { answers } = await dig(t.dns, name);
      expect(new Set(answers.map((a) => a.data))).toEqual(new Set(pods.values()));
      expect(answers.every((a) => a.ttl === 0)).toBe(true);
      firsts.add((answers[0] as { data: string }).data);
    }
    expect(firsts).toEqual(new Set(pods.values()));
  });

  it("weighted round robin (catalog): shares follow the weights (policy 3 for v2, annotation 2 for v1)", async () => {
    const answer = await endpoints(first.url, key("catalog"), "limit=0");
    const weights = new Map(answer.endpoints.map((e) => [e.identity, e.weight]));
    const v2 = [...weights.keys()].filter((pod) => pod.startsWith("catalog-v2-"));
    expect(v2).toHaveLength(1);
    for (const [pod, weight] of weights) expect(weight).toBe(pod.startsWith("catalog-v2-") ? 3 : 2);
    // Smooth WRR repeats every 7 picks with each pod's weight in every cycle.
    const cycles = 30;
    const counts = await tally(first.url, key("catalog"), 7 * cycles);
    for (const [pod, weight] of weights) expect(counts.get(pod), pod).toBe(weight * cycles);
  });

  for (const [service, strategy] of [
    ["checkout", "ring-hash"],
    ["cart", "maglev"],
  ] as const) {
    it(`${strategy} (${service}): a session key lands on the same pod from every replica, over HTTP and DNS`, async () => {
      const pods = await ready(service);
      const answers: string[][] = [];
      for (const replica of replicas) {
        const keys: string[] = [];
        for (let i = 0; i < 200; i++) {
          keys.push(
            (await pick(replica.url, key(service), `session-key=user-${i}`)).endpoint.identity,
          );
        }
        answers.push(keys);
      }
      for (const other of answers.slice(1)) expect(other).toEqual(answers[0]);
      // The keys spread over every pod.
      expect(new Set(answers[0])).toEqual(new Set(pods.keys()));
      for (const replica of replicas) {
        for (const user of ["user-7", "user-42"]) {
          const { endpoint } = await pick(replica.url, key(service), `session-key=${user}`);
          const [top] = await digA(replica.dns, `${user}.hash.${service}.${SHOP}.${DOMAIN}`);
          expect(top, `${replica.pod} ${user}`).toBe(endpoint.address);
        }
      }
      const missing = await fetch(`${first.url}/v1/services/${key(service)}/pick`);
      expect(missing.status).toBe(400);
      const body = (await missing.json()) as { error: { code: string } };
      expect(body.error.code).toBe("MissingSessionKey");
    });
  }

  it("least request (search): every pick a ready pod, all of them used", async () => {
    const pods = await ready("search");
    const counts = await tally(first.url, key("search"), 300);
    expect(new Set(counts.keys())).toEqual(new Set(pods.keys()));
    expect((await pick(first.url, key("search"))).strategy).toBe("least-request");
  });

  it("latency-based (payments): a client in a region is sent to that region, over HTTP and DNS", async () => {
    const answer = await endpoints(first.url, key("payments"), "limit=0");
    const inRegion = new Map(answer.endpoints.map((e) => [e.region as string, e.address]));
    expect(inRegion.size).toBe(2);
    for (const region of ["us-east", "eu-west"]) {
      for (const replica of replicas) {
        for (let i = 0; i < 20; i++) {
          const { endpoint } = await pick(replica.url, key("payments"), `client-region=${region}`);
          expect(endpoint.region).toBe(region);
        }
        const [top] = await digA(replica.dns, `${region}.region.payments.${SHOP}.${DOMAIN}`);
        expect(top).toBe(inRegion.get(region));
      }
    }
  });

  it("ip-hash (profile): a client IP lands on the same pod from every replica; DNS hashes the client subnet", async () => {
    const pods = await ready("profile");
    const clients = Array.from({ length: 60 }, (_, i) => `198.51.100.${i + 1}`);
    const byReplica: string[][] = [];
    for (const replica of replicas) {
      const picks: string[] = [];
      for (const ip of clients) {
        picks.push((await pick(replica.url, key("profile"), `client-ip=${ip}`)).endpoint.identity);
      }
      byReplica.push(picks);
    }
    for (const other of byReplica.slice(1)) expect(other).toEqual(byReplica[0]);
    expect(new Set(byReplica[0])).toEqual(new Set(pods.keys()));
    for (const replica of replicas) {
      const { endpoint } = await pick(replica.url, key("profile"), "client-ip=203.0.113.0");
      const [top] = await digA(replica.dns, `profile.${SHOP}.${DOMAIN}`, [
        "+subnet=203.0.113.0/24",
      ]);
      expect(top).toBe(endpoint.address);
    }
  });
});
