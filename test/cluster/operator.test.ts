import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CatalogEntry } from "../../src/catalog/catalog.ts";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { INVALID_POLICIES } from "../support/invalid-policies.ts";
import { defaultSettings } from "../support/service.ts";
import {
  type Clients,
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
  restartComponent,
  setPodStatus,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { installPolicyCrd, POLICY_RESOURCE, serverSideApplyPolicy } from "./support/policies.ts";

const run = promisify(execFile);

let kube: Clients;
let custom: CustomObjectsApi;
let operator: RunningService;
let namespace: string;
const nodes: string[] = [];

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args]);
}

async function api(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${operator.url}${path}`);
  return { status: response.status, body: await response.json() };
}

function entry(name: string): CatalogEntry | undefined {
  return operator.catalog.get(namespace, name);
}

/** Waits until the operator's catalog satisfies `check` for a service. */
function until(description: string, check: () => boolean, timeoutMs = 30_000): Promise<true> {
  return waitFor(description, async () => (check() ? true : undefined), {
    timeoutMs,
    intervalMs: 20,
  });
}

function applyPolicy(name: string, spec: Record<string, unknown>): Promise<void> {
  return serverSideApplyPolicy(namespace, name, spec, custom);
}

async function deletePolicy(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ ...POLICY_RESOURCE, namespace, name });
}

async function policyStatus(name: string): Promise<any> {
  const object = (await custom.getNamespacedCustomObject({
    ...POLICY_RESOURCE,
    namespace,
    name,
  })) as {
    status?: unknown;
  };
  return object.status;
}

function condition(
  status: any,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return status?.conditions?.find((c: { type: string }) => c.type === type);
}

async function addNode(suffix: string, region: string, zone: string): Promise<string> {
  const name = `${namespace}-${suffix}`;
  await createNode(kube.core, name, { region, zone });
  nodes.push(name);
  return name;
}

beforeAll(async () => {
  kube = clients();
  custom = kube.kc.makeApiClient(CustomObjectsApi);
  await installPolicyCrd();
  namespace = await createNamespace(kube.core, "operator-");
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
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(kube.core, namespace);
  for (const node of nodes) await deleteNode(kube.core, node);
});

describe("EndpointSlices become endpoints", () => {
  it("serves real EndpointSlices with zone, region, weight and health", async () => {
    const east = await addNode("east", "us-east", "us-east-1a");
    const west = await addNode("west", "eu-west", "eu-west-1b");
    await createService(kube.core, namespace, "web", { app: "web" }, [
      { name: "http", port: 80, targetPort: 8080 },
    ]);
    await createReadyPod(kube.core, namespace, {
      name: "web-0",
      nodeName: east,
      ip: "10.10.0.10",
      labels: { app: "web" },
    });
    await createPod(kube.core, namespace, {
      name: "web-1",
      nodeName: west,
      labels: { app: "web" },
    });
    await kube.core.patchNamespacedPod(
      {
        namespace,
        name: "web-1",
        body: { metadata: { annotations: { "lb.konsul.io/weight": "5" } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await setPodStatus(kube.core, namespace, "web-1", { ip: "10.10.0.11", ready: true });
    await until("two endpoints of web", () => entry("web")?.endpoints.length === 2);
    const { status, body } = await api(
      `/v1/services/${namespace}/web/endpoints?health-filter=false`,
    );
    expect(status).toBe(200);
    const byId = Object.fromEntries(body.endpoints.map((e: any) => [e.identity, e]));
    expect(byId["web-0"]).toMatchObject({
      address: "10.10.0.10",
      zone: "us-east-1a",
      region: "us-east",
      node: east,
      weight: 1,
      healthy: true,
    });
    expect(byId["web-1"]).toMatchObject({
      address: "10.10.0.11",
      zone: "eu-west-1b",
      region: "eu-west",
      node: west,
      weight: 5,
      healthy: true,
    });
  });

  it("a pod turning NotReady becomes unhealthy; a deleted pod leaves", async () => {
    await setPodStatus(kube.core, namespace, "web-1", { ip: "10.10.0.11", ready: false });
    await until(
      "web-1 unhealthy",
      () => entry("web")?.endpoints.find((e) => e.identity === "web-1")?.ready === false,
    );
    const healthy = await api(`/v1/services/${namespace}/web/endpoints`);
    expect(healthy.body.endpoints.map((e: any) => e.identity)).toEqual(["web-0"]);
    await deletePod(kube.core, namespace, "web-1");
    await until("web-1 gone", () => entry("web")?.endpoints.length === 1);
  });

  it("a pod that fails readiness leaves before its slice says so, unless the Service publishes not-ready addresses", async () => {
    // A Service without a selector: no controller writes its slice, so the slice keeps saying
    // ready and only the Pod's own Ready condition can take the endpoint out.
    const node = await addNode("prompt", "us-east", "us-east-1a");
    await kube.core.createNamespacedService({
      namespace,
      body: { metadata: { name: "prompt" }, spec: { ports: [{ name: "http", port: 80 }] } },
    });
    await createReadyPod(kube.core, namespace, {
      name: "prompt-0",
      nodeName: node,
      ip: "10.30.0.1",
    });
    await kube.discovery.createNamespacedEndpointSlice({
      namespace,
      body: {
        metadata: { name: "prompt-1", labels: { "kubernetes.io/service-name": "prompt" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: [
          {
            addresses: ["10.30.0.1"],
            conditions: { ready: true, serving: true, terminating: false },
            targetRef: { kind: "Pod", name: "prompt-0", namespace },
            nodeName: node,
          },
        ],
      },
    });
    const endpoint = () => entry("prompt")?.endpoints.find((e) => e.identity === "prompt-0");
    await until("prompt-0 ready", () => endpoint()?.ready === true);

    await setPodStatus(kube.core, namespace, "prompt-0", { ip: "10.30.0.1", ready: false });
    await until("prompt-0 out of the rotation", () => endpoint()?.ready === false);
    expect(endpoint()?.serving).toBe(false);
    const [slice] = await endpointSlicesFor(kube.discovery, namespace, "prompt");
    expect(slice?.endpoints?.[0]?.conditions?.ready).toBe(true);
    const answer = await api(`/v1/services/${namespace}/prompt/endpoints`);
    expect(answer.body.endpoints.map((e: any) => [e.identity, e.ready, e.healthy])).toEqual([
      ["prompt-0", false, false],
    ]);

    await setPodStatus(kube.core, namespace, "prompt-0", { ip: "10.30.0.1", ready: true });
    await until("prompt-0 back", () => endpoint()?.ready === true);

    await kube.core.patchNamespacedService(
      { namespace, name: "prompt", body: { spec: { publishNotReadyAddresses: true } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await setPodStatus(kube.core, namespace, "prompt-0", { ip: "10.30.0.1", ready: false });
    // A later change of the same Pod: once it shows, the status change before it was seen too.
    await kube.core.patchNamespacedPod(
      {
        namespace,
        name: "prompt-0",
        body: { metadata: { annotations: { "lb.konsul.io/weight": "3" } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await until("prompt-0 weighted 3", () => endpoint()?.weight === 3);
    expect(endpoint()?.ready).toBe(true);
  });

  it("scales 0 → 20 → 0", async () => {
    const node = await addNode("scale", "us-east", "us-east-1c");
    await createService(kube.core, namespace, "scale", { app: "scale" });
    await until("scale in the catalog", () => entry("scale") !== undefined);
    expect((await api(`/v1/services/${namespace}/scale/pick`)).status).toBe(503);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createReadyPod(kube.core, namespace, {
          name: `scale-${i}`,
          nodeName: node,
          ip: `10.20.0.${i + 1}`,
          labels: { app: "scale" },
        }),
      ),
    );
    await until("20 endpoints", () => entry("scale")?.endpoints.length === 20, 60_000);
    expect((await api(`/v1/services/${namespace}/scale/endpoints`)).body.endpoints).toHaveLength(
      20,
    );
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => deletePod(kube.core, namespace, `scale-${i}`)),
    );
    await until("0 endpoints", () => entry("scale")?.endpoints.length === 0, 60_000);
    expect((await api(`/v1/services/${namespace}/scale/pick`)).status).toBe(503);
  });
});

describe("policies", () => {
  it("applying, changing and deleting a policy changes the strategy, with status", async () => {
    await applyPolicy("web-lb", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "ring-hash",
    });
    await until("ring-hash on web", () => entry("web")?.policy?.strategy === "ring-hash");
    expect((await api(`/v1/services/${namespace}/web/pick?session-key=s1`)).body.strategy).toBe(
      "ring-hash",
    );
    const status = await waitFor("Ready status", async () => {
      const s = await policyStatus("web-lb");
      return condition(s, "Ready")?.status === "True" ? s : undefined;
    });
    expect(condition(status, "Accepted")).toMatchObject({ status: "True", reason: "Accepted" });
    expect(condition(status, "ResolvedRefs")).toMatchObject({ status: "True" });
    expect(status.endpoints).toMatchObject({ total: 1, healthy: 1, summary: "1/1" });
    expect(status.observedGeneration).toBe(1);

    const { stdout } = await kubectl("get", "lbp", "-n", namespace, "web-lb", "--no-headers");
    expect(stdout.split(/\s+/).slice(0, 5)).toEqual(["web-lb", "web", "ring-hash", "1/1", "True"]);

    await applyPolicy("web-lb", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "maglev",
    });
    await until("maglev on web", () => entry("web")?.policy?.strategy === "maglev");
    await waitFor("observedGeneration 2", async () =>
      (await policyStatus("web-lb"))?.observedGeneration === 2 ? true : undefined,
    );

    await deletePolicy("web-lb");
    await until("no policy on web", () => entry("web")?.policy === null);
    expect((await api(`/v1/services/${namespace}/web/pick`)).body.strategy).toBe("round-robin");
  });

  it("the API server rejects invalid policies with useful messages", async () => {
    const rejectedAtApply = INVALID_POLICIES.filter((p) => p.rejectedBy !== "controller");
    expect(rejectedAtApply.length).toBeGreaterThanOrEqual(10);
    const folder = await mkdtemp(join(tmpdir(), "konsul-lb-invalid-"));
    try {
      for (const invalid of rejectedAtApply) {
        const file = join(folder, `${invalid.name}.yaml`);
        const manifest = {
          apiVersion: "lb.konsul.io/v1alpha1",
          kind: "LoadBalancingPolicy",
          metadata: { name: `bad-${invalid.name}`, namespace },
          spec: invalid.spec,
        };
        await writeFile(file, JSON.stringify(manifest));
        // As a user would: kubectl apply, with its default strict field validation.
        const failure = await kubectl("apply", "-f", file).then(
          () => undefined,
          (error: { stderr?: string }) => error.stderr ?? "",
        );
        expect(failure, `${invalid.name} was accepted`).toBeDefined();
        expect(failure, invalid.name).toContain(invalid.expectMessageContains);
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("what only the controller can check is reported as Accepted=False", async () => {
    for (const invalid of INVALID_POLICIES.filter((p) => p.rejectedBy === "controller")) {
      const name = `ctl-${invalid.name}`;
      await applyPolicy(name, { ...invalid.spec, targetRef: { kind: "Service", name: "web" } });
      const status = await waitFor(`Accepted=False on ${name}`, async () => {
        const s = await policyStatus(name);
        return condition(s, "Accepted")?.status === "False" ? s : undefined;
      });
      expect(condition(status, "Accepted")).toMatchObject({ reason: "Invalid" });
      expect(condition(status, "Accepted")?.message).toContain(invalid.expectMessageContains);
      await deletePolicy(name);
    }
  });

  it("two policies on one Service: the older applies, the newer is Conflicted", async () => {
    await applyPolicy("first", { targetRef: { kind: "Service", name: "web" }, strategy: "random" });
    await until("random on web", () => entry("web")?.policy?.name === "first");
    await new Promise((resolve) => setTimeout(resolve, 1100)); // creationTimestamp has one-second resolution
    await applyPolicy("second", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "least-request",
    });
    const status = await waitFor("Conflicted", async () => {
      const s = await policyStatus("second");
      return condition(s, "Accepted")?.reason === "Conflicted" ? s : undefined;
    });
    expect(condition(status, "Accepted")?.message).toContain(`${namespace}/first`);
    expect(entry("web")?.policy?.name).toBe("first");
    await deletePolicy("first");
    await until("second applies", () => entry("web")?.policy?.name === "second");
    await waitFor("second accepted", async () =>
      condition(await policyStatus("second"), "Accepted")?.status === "True" ? true : undefined,
    );
    await deletePolicy("second");
  });

  it("a policy created before its Service comes alive when the Service appears", async () => {
    await applyPolicy("early-lb", {
      targetRef: { kind: "Service", name: "early" },
      strategy: "weighted-random",
    });
    await waitFor("ServiceNotFound", async () =>
      condition(await policyStatus("early-lb"), "ResolvedRefs")?.reason === "ServiceNotFound"
        ? true
        : undefined,
    );
    await createService(kube.core, namespace, "early", { app: "early" });
    await until(
      "early uses its policy",
      () => entry("early")?.policy?.strategy === "weighted-random",
    );
    await waitFor("ResolvedRefs=True", async () =>
      condition(await policyStatus("early-lb"), "ResolvedRefs")?.status === "True"
        ? true
        : undefined,
    );
  });
});

describe("resilience", () => {
  it("recovers by itself after kube-apiserver is killed and restarted", async () => {
    const node = nodes[0] as string;
    await restartComponent("kube-apiserver", "SIGKILL");
    await createReadyPod(kube.core, namespace, {
      name: "web-after",
      nodeName: node,
      ip: "10.10.0.40",
      labels: { app: "web" },
    });
    await until(
      "web-after served",
      () => entry("web")?.endpoints.some((e) => e.identity === "web-after") ?? false,
      90_000,
    );
    await deletePod(kube.core, namespace, "web-after");
    await until(
      "web-after gone",
      () => !entry("web")?.endpoints.some((e) => e.identity === "web-after"),
      60_000,
    );
  });
});
