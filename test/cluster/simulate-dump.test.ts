/**
 * `konsul-lb simulate` on a dump of a live cluster: objects created in the real control plane
 * (Nodes in two regions, a Service, ready and unready Pods, a LoadBalancingPolicy), the
 * EndpointSlices the real EndpointSlice controller publishes for them, dumped with
 * `kubectl get endpointslices,services,pods,nodes,lbp -A -o yaml` as the docs say, then simulated.
 * The report must show exactly the endpoints, weights, regions, health, strategy and shares of
 * what was created.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  POLICY_GROUP,
  POLICY_KIND,
  POLICY_PLURAL,
  POLICY_VERSION,
} from "../../src/policy/schema.ts";
import type { SimulationReport } from "../../src/simulate/report.ts";
import { runCli } from "../support/cli.ts";
import { runCommand } from "./support/helm.ts";
import {
  clients,
  createNamespace,
  createNode,
  createPod,
  createReadyPod,
  createService,
  deleteNamespace,
  deleteNode,
  deletePod,
  endpointSlicesFor,
  setPodStatus,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";

const { kc, core, discovery } = clients();
const NODES = [
  { name: "simdump-use1-a", region: "us-east", zone: "us-east-1a" },
  { name: "simdump-euw1-a", region: "eu-west", zone: "eu-west-1a" },
];
// name, node, address, labels, ready
const PODS = [
  { name: "api-0", node: "simdump-use1-a", ip: "10.61.0.10", size: "small", ready: true },
  { name: "api-1", node: "simdump-use1-a", ip: "10.61.0.11", size: "large", ready: true },
  { name: "api-2", node: "simdump-euw1-a", ip: "10.61.1.10", size: "small", ready: true },
  { name: "api-3", node: "simdump-euw1-a", ip: "10.61.1.11", size: "small", ready: false },
] as const;

let namespace = "";
let scratch = "";
let dump = "";

async function kubectl(args: readonly string[], input?: string) {
  const result = await runCommand("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args], {
    input,
  });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  await kubectl(["apply", "--server-side", "-f", "crds/"]);
  scratch = await mkdtemp(join(tmpdir(), "konsul-lb-simulate-dump-"));
  namespace = await createNamespace(core, "simdump-");
  for (const node of NODES) await createNode(core, node.name, node);
  await createService(core, namespace, "api", { app: "api" }, [
    { name: "http", port: 80, targetPort: 8080 },
  ]);
  for (const pod of PODS) {
    const options = {
      name: pod.name,
      nodeName: pod.node,
      labels: { app: "api", size: pod.size },
      ports: [{ name: "http", containerPort: 8080 }],
    };
    if (pod.ready) {
      await createReadyPod(core, namespace, { ...options, ip: pod.ip });
    } else {
      await createPod(core, namespace, options);
      await setPodStatus(core, namespace, pod.name, { ip: pod.ip, ready: false });
    }
  }
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: POLICY_GROUP,
    version: POLICY_VERSION,
    namespace,
    plural: POLICY_PLURAL,
    body: {
      apiVersion: `${POLICY_GROUP}/${POLICY_VERSION}`,
      kind: POLICY_KIND,
      metadata: { name: "api-weights", namespace },
      spec: {
        targetRef: { name: "api" },
        strategy: "weighted-round-robin",
        weights: [{ selector: { matchLabels: { size: "large" } }, weight: 3 }],
        latency: {
          map: {
            "us-east": { "us-east": "1ms", "eu-west": "80ms" },
            "eu-west": { "eu-west": "1ms", "us-east": "80ms" },
          },
        },
      },
    },
  });
  // The real EndpointSlice controller lists every pod with an IP, the unready one not ready.
  await waitFor("the EndpointSlices of api", async () => {
    const slices = await endpointSlicesFor(discovery, namespace, "api");
    const endpoints = slices.flatMap((slice) => slice.endpoints ?? []);
    const ready = endpoints.filter((e) => e.conditions?.ready === true);
    return endpoints.length === 4 && ready.length === 3 ? true : undefined;
  });
  dump = join(scratch, "cluster.yaml");
  await writeFile(
    dump,
    await kubectl(["get", "endpointslices,services,pods,nodes,lbp", "-A", "-o", "yaml"]),
  );
});

afterAll(async () => {
  for (const pod of PODS) await deletePod(core, namespace, pod.name);
  await deleteNamespace(core, namespace);
  for (const node of NODES) await deleteNode(core, node.name);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** `konsul-lb simulate` of the api Service in the dump: its standard output, after exit 0. */
async function simulateApi(...extra: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli([
    "simulate",
    "--file",
    dump,
    "--service",
    `${namespace}/api`,
    ...extra,
  ]);
  expect(code, stderr).toBe(0);
  return stdout;
}

describe("konsul-lb simulate on a dump of the cluster", () => {
  it("reports the created endpoints, weights, regions, health and the policy's strategy", async () => {
    const report = JSON.parse(await simulateApi("--format", "json")) as SimulationReport;
    expect(report.service).toBe(`${namespace}/api`);
    expect(report.policy).toBe(`${namespace}/api-weights`);
    expect(report.serviceStrategy).toBe("weighted-round-robin");
    expect(report.panic).toBe(false);
    expect(report.endpoints).toEqual(
      PODS.map((pod) => {
        const node = NODES.find((n) => n.name === pod.node);
        return {
          identity: pod.name,
          address: pod.ip,
          zone: node?.zone,
          region: node?.region,
          weight: pod.size === "large" ? 3 : 1,
          healthy: pod.ready,
          balanced: pod.ready,
        };
      }),
    );
    // The regions of the endpoints, equally, as the clients' when --regions is not given.
    expect(report.regions).toEqual([
      { region: "eu-west", share: 0.5 },
      { region: "us-east", share: 0.5 },
    ]);
    // Smooth weighted round robin is exact over its cycle of 5 (1 + 3 + 1): 100,000 requests.
    const [wrr] = report.strategies;
    expect(wrr?.strategy).toBe("weighted-round-robin");
    expect(wrr?.endpoints.map((e) => [e.identity, e.requests, e.share, e.expected])).toEqual([
      ["api-0", 20_000, 0.2, 0.2],
      ["api-1", 60_000, 0.6, 0.6],
      ["api-2", 20_000, 0.2, 0.2],
      ["api-3", 0, 0, 0],
    ]);
  });

  it("prints the same as a table", async () => {
    const lines = (await simulateApi()).split("\n");
    expect(lines[0]).toBe(
      `${namespace}/api (${dump}): weighted-round-robin, from policy ${namespace}/api-weights`,
    );
    expect(lines[1]).toBe("4 endpoints, 3 balanced: 1 left out by the health filter");
    const row = (name: string) => lines.find((line) => line.startsWith(`${name} `)) ?? "";
    expect(row("api-0")).toMatch(/^api-0\s+us-east\s+1\s+20,000\s+20\.0%\s+20\.0%\s+1\.00 /);
    expect(row("api-1")).toMatch(/^api-1\s+us-east\s+3\s+60,000\s+60\.0%\s+60\.0%\s+1\.00 /);
    expect(row("api-2")).toMatch(/^api-2\s+eu-west\s+1\s+20,000\s+20\.0%\s+20\.0%\s+1\.00 /);
    expect(row("api-3")).toMatch(/^api-3\s+eu-west\s+1\s+0\s+0\.0%\s+-\s+-\s+unhealthy: left out$/);
  });

  it("compares strategies on the dump: latency-based keeps each region's clients at home", async () => {
    const report = JSON.parse(
      await simulateApi("--compare", "latency-based,ring-hash", "--format", "json"),
    ) as SimulationReport;
    const [latency, ring] = report.strategies;
    // The policy's latency map: us-east's half of the clients to api-0 and api-1 by weight
    // (1:3), eu-west's half to api-2.
    expect(latency?.strategy).toBe("latency-based");
    expect(latency?.inRegion).toBe(1);
    expect(latency?.endpoints.map((e) => [e.identity, e.expected])).toEqual([
      ["api-0", 0.125],
      ["api-1", 0.375],
      ["api-2", 0.5],
      ["api-3", 0],
    ]);
    expect(ring?.strategy).toBe("ring-hash");
    expect(ring?.hash?.distinctKeys).toBe(5000);
    expect(ring?.hash?.endpoints.map((e) => e.identity)).toEqual(PODS.map((p) => p.name));
  });
});
