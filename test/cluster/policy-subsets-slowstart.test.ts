/**
 * Subsets and slow start on a real control plane: kubectl-applied policies, pods whose labels
 * and Ready transition times come from the API server, the answers of the discovery API, the
 * policy's status, and admission rejecting bad policies with the field named.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { defaultSettings } from "../support/service.ts";
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
import { installPolicyCrd, kubectlApplyPolicy, POLICY_RESOURCE } from "./support/policies.ts";

const run = promisify(execFile);

let kube: Clients;
let custom: CustomObjectsApi;
let operator: RunningService;
let namespace: string;
let node: string;

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args]);
}

function applyPolicy(name: string, spec: Record<string, unknown>): Promise<string | null> {
  return kubectlApplyPolicy(namespace, name, spec);
}

async function api(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${operator.url}${path}`);
  return { status: response.status, body: await response.json() };
}

beforeAll(async () => {
  kube = clients();
  custom = kube.kc.makeApiClient(CustomObjectsApi);
  await installPolicyCrd();
  namespace = await createNamespace(kube.core, "subsets-");
  operator = await startService(
    {
      ...defaultSettings,
      source: "kubernetes",
      kubeconfig: testKubeconfigPath(),
      logLevel: "silent",
    },
    createLogger("silent"),
  );
  await waitFor("the operator to sync", async () =>
    (await fetch(`${operator.url}/readyz`)).status === 200 ? true : undefined,
  );
  await createService(kube.core, namespace, "shop", { app: "shop" }, [
    { name: "http", port: 80, targetPort: 8080 },
  ]);
  node = `${namespace}-node`;
  await createNode(kube.core, node, { region: "us-east", zone: "us-east-1a" });
  const versions = ["v1", "v1", "v2"];
  for (const [i, version] of versions.entries()) {
    await createReadyPod(kube.core, namespace, {
      name: `shop-${i}`,
      nodeName: node,
      ip: `10.30.0.${i + 10}`,
      labels: { app: "shop", version },
    });
  }
});

afterAll(async () => {
  await operator?.stop();
  if (namespace) await deleteNamespace(kube.core, namespace);
  if (node) await deleteNode(kube.core, node);
});

describe("a policy with subsets and slow start, applied with kubectl", () => {
  it("is accepted, and serves each subset its own pods", async () => {
    const refused = await applyPolicy("shop-lb", {
      targetRef: { kind: "Service", name: "shop" },
      strategy: "round-robin",
      subsets: [
        { name: "stable", selector: { matchLabels: { version: "v1" } } },
        {
          name: "next",
          selector: { matchExpressions: [{ key: "version", operator: "In", values: ["v2"] }] },
        },
      ],
      defaultSubset: "stable",
      // Every pod here became ready moments ago: all ramp alike, so all take the minimum.
      slowStart: { window: "1h", aggression: 1.5, minWeightPercent: 20 },
    });
    expect(refused).toBeNull();
    await waitFor("the policy's subsets in the catalog", async () => {
      const reply = await api(`/v1/services/${namespace}/shop/endpoints?subset=next`);
      return reply.status === 200 && reply.body.endpoints.length === 1 ? true : undefined;
    });
    const next = await api(`/v1/services/${namespace}/shop/endpoints?subset=next`);
    expect(next.body.endpoints.map((e: any) => e.identity)).toEqual(["shop-2"]);
    // defaultSubset: a request that names none gets the v1 pods only.
    const picked = new Set<string>();
    for (let i = 0; i < 8; i++) {
      picked.add((await api(`/v1/services/${namespace}/shop/pick`)).body.endpoint.identity);
    }
    expect([...picked].sort()).toEqual(["shop-0", "shop-1"]);
    const unknown = await api(`/v1/services/${namespace}/shop/pick?subset=beta`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe("UnknownSubset");
    expect(unknown.body.error.message).toContain("use one of stable, next");
  });

  it("reads each pod's Ready transition time, and the status counts the ramping pods", async () => {
    const catalog = operator.catalog.get(namespace, "shop");
    const since = catalog?.endpoints.map((e) => e.readySince ?? null) ?? [];
    expect(since).toHaveLength(3);
    for (const time of since) {
      expect(time).not.toBeNull();
      // Set by the tests' pod status a few seconds ago, second precision.
      expect(Date.now() - (time as number)).toBeLessThan(10 * 60_000);
      expect(Date.now() - (time as number)).toBeGreaterThan(-2000);
    }
    const status = await waitFor("rampingUp in the status", async () => {
      const object = (await custom.getNamespacedCustomObject({
        ...POLICY_RESOURCE,
        namespace,
        name: "shop-lb",
      })) as { status?: any };
      return object.status?.endpoints?.rampingUp === 3 ? object.status : undefined;
    });
    const ready = status.conditions.find((c: any) => c.type === "Ready");
    expect(ready.message).toBe("3 of 3 endpoints are healthy; 3 ramping up (slow start)");
    const wide = await kubectl("get", "lbp", "shop-lb", "-n", namespace, "-o", "wide");
    expect(wide.stdout.split("\n")[0]).toContain("RAMPING");
  });
});

describe("admission names the field of a bad policy", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "aggression-zero",
      { slowStart: { window: "30s", aggression: 0 } },
      "aggression must be greater than 0",
    ],
    [
      "aggression-negative",
      { slowStart: { window: "30s", aggression: -1.5 } },
      "aggression must be greater than 0",
    ],
    ["window-too-long", { slowStart: { window: "3h" } }, "window must be from 1ms to 1h"],
    [
      "subset-twice",
      {
        subsets: [
          { name: "a", selector: { matchLabels: { version: "v1" } } },
          { name: "a", selector: { matchLabels: { version: "v2" } } },
        ],
      },
      "subset names must be unique",
    ],
    [
      "default-subset-unknown",
      { subsets: [{ name: "a", selector: {} }], defaultSubset: "b" },
      "spec.defaultSubset: Invalid value",
    ],
    [
      "subset-name-not-a-label",
      { subsets: [{ name: "A_b", selector: {} }] },
      "spec.subsets[0].name",
    ],
  ];

  it.each(cases)("%s", async (name, spec, message) => {
    const refused = await applyPolicy(`bad-${name}`, {
      targetRef: { kind: "Service", name: "shop" },
      ...spec,
    });
    expect(refused, `${name} was accepted`).not.toBeNull();
    expect(refused).toContain(message);
    if (name.startsWith("aggression")) expect(refused).toContain("spec.slowStart.aggression");
    if (name === "window-too-long") expect(refused).toContain("spec.slowStart.window");
    if (name === "subset-twice") expect(refused).toContain("spec.subsets");
  });

  it("a whole-number aggression above 0 is accepted (the rule converts it with double())", async () => {
    const refused = await applyPolicy("good-aggression", {
      targetRef: { kind: "Service", name: "shop" },
      slowStart: { window: "30s", aggression: 2 },
    });
    expect(refused).toBeNull();
  });
});
