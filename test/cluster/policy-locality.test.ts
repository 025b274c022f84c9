/**
 * spec.locality against a real control plane: Nodes with zone labels, Pods on them, the real
 * EndpointSlice controller writing each endpoint's zone, a policy applied with kubectl, and the
 * operator answering callers in two zones — placed by their pod's address alone — plus the
 * admission rejections of bad locality fields.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { INVALID_POLICIES } from "../support/invalid-policies.ts";
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
import { installPolicyCrd, kubectlApplyPolicy } from "./support/policies.ts";

const ZONES = ["eu-test-1a", "eu-test-1b"];
const PICKS = 20;

let kube: Clients;
let operator: RunningService;
let namespace: string;
const nodes: string[] = [];

function applyPolicy(name: string, spec: Record<string, unknown>): Promise<string | null> {
  return kubectlApplyPolicy(namespace, name, spec);
}

/** The zones of PICKS picks of cart for a request with `query`. */
async function zonesPicked(query: string): Promise<string[]> {
  const zones = new Set<string>();
  for (let i = 0; i < PICKS; i++) {
    const response = await fetch(`${operator.url}/v1/services/${namespace}/cart/pick?${query}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { endpoint: { zone: string } };
    zones.add(body.endpoint.zone);
  }
  return [...zones].sort();
}

/** Cart pod i of zone z: 10.61.<z>.<i>; the caller (web) pod of zone z: 10.62.<z>.1. */
function callerIp(zone: number): string {
  return `10.62.${zone + 1}.1`;
}

beforeAll(async () => {
  kube = clients();
  await installPolicyCrd();
  namespace = await createNamespace(kube.core, "locality-");
  await createService(kube.core, namespace, "cart", { app: "cart" });
  await createService(kube.core, namespace, "web", { app: "web" });
  for (const [z, zone] of ZONES.entries()) {
    const node = `${namespace}-${zone}`;
    await createNode(kube.core, node, { region: "eu-test", zone });
    nodes.push(node);
    for (let i = 0; i < 2; i++) {
      await createReadyPod(kube.core, namespace, {
        name: `cart-${zone}-${i}`,
        nodeName: node,
        ip: `10.61.${z + 1}.${i + 1}`,
        labels: { app: "cart" },
      });
    }
    await createReadyPod(kube.core, namespace, {
      name: `web-${zone}`,
      nodeName: node,
      ip: callerIp(z),
      labels: { app: "web" },
    });
  }
  operator = await startService(
    { ...defaultSettings, source: "kubernetes", kubeconfig: testKubeconfigPath() },
    createLogger("silent"),
  );
  await waitFor("the cart and web pods, with their zones, in the catalog", async () => {
    const cart = operator.catalog.get(namespace, "cart")?.endpoints ?? [];
    const web = operator.catalog.get(namespace, "web")?.endpoints ?? [];
    return cart.length === 4 && web.length === 2 && [...cart, ...web].every((e) => e.zone)
      ? true
      : undefined;
  });
});

afterAll(async () => {
  await operator?.stop();
  if (namespace) await deleteNamespace(kube.core, namespace);
  for (const node of nodes) await deleteNode(kube.core, node);
});

describe("spec.locality on a cluster", () => {
  it("answers callers in two zones from their own zone, placed by their pod's address", async () => {
    // Before any policy: both zones for everyone.
    expect(await zonesPicked(`client-ip=${callerIp(0)}`)).toEqual(ZONES);
    expect(
      await applyPolicy("cart-local", {
        targetRef: { kind: "Service", name: "cart" },
        strategy: "round-robin",
        locality: { mode: "PreferSameZone" },
      }),
    ).toBeNull();
    await waitFor("the policy in the catalog", async () =>
      operator.catalog.get(namespace, "cart")?.policy?.balancer.locality ? true : undefined,
    );
    expect(await zonesPicked(`client-ip=${callerIp(0)}`)).toEqual([ZONES[0]]);
    expect(await zonesPicked(`client-ip=${callerIp(1)}`)).toEqual([ZONES[1]]);
    // The parameter overrides the address; an address of no pod is placed nowhere.
    expect(await zonesPicked(`client-ip=${callerIp(0)}&client-zone=${ZONES[1]}`)).toEqual([
      ZONES[1],
    ]);
    expect(await zonesPicked("client-ip=192.0.2.9")).toEqual(ZONES);
  });

  it("rejects bad locality fields at kubectl apply, naming the field", async () => {
    const bad = INVALID_POLICIES.filter((p) => p.name.startsWith("locality-"));
    expect(bad.length).toBeGreaterThanOrEqual(4);
    for (const invalid of bad) {
      const failure = await applyPolicy(`bad-${invalid.name}`, invalid.spec);
      expect(failure, `${invalid.name} was accepted`).not.toBeNull();
      expect(failure, invalid.name).toContain(invalid.expectMessageContains);
      expect(failure, invalid.name).toContain("spec.locality");
    }
  });
});
