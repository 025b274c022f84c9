/**
 * xDS against the real control plane: the operator watches the cluster, a policy is applied and
 * deleted with kubectl, and a connected xDS client (subscribed as gRPC subscribes) is pushed the
 * new Cluster and route each time. No call reaches a backend here: the API server refuses
 * loopback addresses in EndpointSlices (127.0.0.0/8 is not a valid endpoint IP), and the tests
 * stay on loopback; the calls themselves are in test/xds/grpc-js-client.test.ts and
 * test/cluster/xds-grpc-go.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { defaultSettings } from "../support/service.ts";
import { AdsTestClient, type Response } from "../xds/ads-client.ts";
import {
  type Clients,
  clients,
  createNamespace,
  createNode,
  createReadyPod,
  createService,
  deleteNamespace,
  deleteNode,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { installPolicyCrd } from "./support/policies.ts";

const run = promisify(execFile);

let kube: Clients;
let operator: RunningService;
let namespace: string;
let node: string;
let folder: string;
const ads: AdsTestClient[] = [];

function kubectl(...args: string[]) {
  return run("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args]);
}

/** The policy names of a Cluster response, e.g. ["round_robin"]. */
function policies(response: Response): string[] {
  const cluster = response.resources[0] as { load_balancing_policy: { policies: any[] } };
  return cluster.load_balancing_policy.policies.map((p) =>
    String(p.typed_extension_config.name).replace("envoy.load_balancing_policies.", ""),
  );
}

beforeAll(async () => {
  kube = clients();
  await installPolicyCrd();
  namespace = await createNamespace(kube.core, "xds-");
  node = `${namespace}-node`;
  await createNode(kube.core, node, { region: "us-east", zone: "us-east-1a" });
  folder = await mkdtemp(join(tmpdir(), "konsul-lb-xds-"));
  operator = await startService(
    {
      ...defaultSettings,
      source: "kubernetes",
      kubeconfig: testKubeconfigPath(),
      logLevel: "silent",
      xdsAddr: { host: "127.0.0.1", port: 0 },
    },
    createLogger("silent"),
  );
  await waitFor("the operator to sync", async () =>
    (await fetch(`${operator.url}/readyz`)).status === 200 ? true : undefined,
  );
});

afterAll(async () => {
  for (const client of ads) client.close();
  await operator?.stop();
  await deleteNamespace(kube.core, namespace);
  await deleteNode(kube.core, node);
  await rm(folder, { recursive: true, force: true });
});

describe("xDS follows the cluster", () => {
  it("pushes the Cluster and route of a policy applied and deleted with kubectl", async () => {
    await createService(kube.core, namespace, "web", { app: "web" }, [
      { name: "grpc", port: 50051, targetPort: 50051 },
    ]);
    for (const [i, ip] of ["10.20.0.10", "10.20.0.11"].entries()) {
      await createReadyPod(kube.core, namespace, {
        name: `web-${i}`,
        nodeName: node,
        ip,
        labels: { app: "web" },
      });
    }
    await waitFor("two endpoints of web", async () =>
      operator.catalog.get(namespace, "web")?.endpoints.length === 2 ? true : undefined,
    );
    const name = `web.${namespace}`;
    const client = new AdsTestClient(operator.xds?.port ?? 0, { id: "kubectl-test" });
    ads.push(client);
    client.send("cluster", { resource_names: [name] });
    const first = await client.next();
    expect(policies(first)).toEqual(["round_robin"]);
    client.send("cluster", { resource_names: [name], response_nonce: first.nonce });
    client.send("endpoint", { resource_names: [name] });
    const endpoints = await client.next();
    const localities = (endpoints.resources[0] as { endpoints: any[] }).endpoints;
    expect(localities.map((l) => l.locality)).toEqual([
      { region: "us-east", zone: "us-east-1a", sub_zone: "web-0" },
      { region: "us-east", zone: "us-east-1a", sub_zone: "web-1" },
    ]);
    client.send("endpoint", { resource_names: [name], response_nonce: endpoints.nonce });

    const policy = join(folder, "policy.yaml");
    await writeFile(
      policy,
      [
        "apiVersion: lb.konsul.io/v1alpha1",
        "kind: LoadBalancingPolicy",
        `metadata: { name: web-sticky, namespace: ${namespace} }`,
        "spec:",
        "  targetRef: { kind: Service, name: web }",
        "  strategy: ring-hash",
        "  ringHash: { hashOn: session-key }",
        "",
      ].join("\n"),
    );
    await kubectl("apply", "-f", policy);
    const sticky = await client.next(30_000);
    expect(sticky.type_url).toMatch(/Cluster$/);
    expect(policies(sticky)).toEqual(["ring_hash"]);
    client.send("cluster", { resource_names: [name], response_nonce: sticky.nonce });
    // Every weight is 1 under both strategies: the endpoints do not travel again.
    expect(await client.silentFor(500)).toBe(true);

    const route = new AdsTestClient(operator.xds?.port ?? 0, { id: "kubectl-route" });
    ads.push(route);
    route.send("route", { resource_names: [name] });
    const hashing = (await route.next()).resources[0] as any;
    expect(hashing.virtual_hosts[0].routes[0].route.hash_policy).toEqual([
      { header: { header_name: "x-session-key" } },
    ]);

    await kubectl("delete", "-f", policy);
    const back = await client.next(30_000);
    expect(policies(back)).toEqual(["round_robin"]);
  });
});
