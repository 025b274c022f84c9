// The chart installed with helm (by the runner): its objects as the contract names them, the
// replicas serving with one leader, and RBAC that gives the operator's ServiceAccount what it
// uses and nothing more.

import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  V1ConfigMap,
  V1CustomResourceDefinition,
  V1Deployment,
  V1Service,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import {
  clients,
  helm,
  kubeconfigPath,
  kubectl,
  kubectlJson,
  leaseHolder,
  log,
  podOfIdentity,
  run,
  statusOf,
} from "./support/cluster.ts";
import { FULLNAME, LEASE_NAME, NAMESPACE, RELEASE, SHOP, STATE_PREFIX } from "./support/env.ts";
import { currentLeader, haStatus } from "./support/release.ts";
import { target } from "./support/target.ts";

const t = target();
afterAll(() => t.close());

describe("helm install", () => {
  it("the release is deployed with the contract's objects", async () => {
    const status = JSON.parse(
      (await helm(["status", RELEASE, "-n", NAMESPACE, "-o", "json"])).stdout,
    );
    expect(status.info.status).toBe("deployed");
    expect(status.version).toBe(1);

    const deployment = await kubectlJson<V1Deployment>([
      "-n",
      NAMESPACE,
      "get",
      "deployment",
      FULLNAME,
    ]);
    const pod = deployment.spec?.template.spec;
    expect(pod?.containers[0]?.name).toBe("konsul-lb");
    expect(pod?.containers[0]?.args?.slice(0, 3)).toEqual(["serve", "--source", "kubernetes"]);
    expect(pod?.serviceAccountName).toBe(FULLNAME);

    const service = await kubectlJson<V1Service>(["-n", NAMESPACE, "get", "service", FULLNAME]);
    const ports = Object.fromEntries(
      (service.spec?.ports ?? []).map((p) => [p.name, `${p.port}/${p.protocol}`]),
    );
    expect(ports).toEqual({ http: "8080/TCP", "dns-udp": "53/UDP", "dns-tcp": "53/TCP" });

    const config = await kubectlJson<V1ConfigMap>([
      "-n",
      NAMESPACE,
      "get",
      "configmap",
      `${FULLNAME}-config`,
    ]);
    expect(parseYaml(config.data?.["config.yaml"] ?? "")).toMatchObject({
      defaultStrategy: "round-robin",
      dnsAddr: "0.0.0.0:5353",
    });
    for (const kind of ["serviceaccount", "role", "rolebinding"]) {
      await kubectl(["-n", NAMESPACE, "get", kind, FULLNAME]);
    }
    for (const kind of ["clusterrole", "clusterrolebinding"])
      await kubectl(["get", kind, FULLNAME]);
    // Helm installs the CRD from the chart's crds/ directory.
    const crd = await kubectlJson<V1CustomResourceDefinition>([
      "get",
      "crd",
      "loadbalancingpolicies.lb.konsul.io",
    ]);
    const established = crd.status?.conditions?.find((c) => c.type === "Established");
    expect(established?.status).toBe("True");
  });

  it("every replica is ready; the Lease names one leader and every replica agrees", async () => {
    const replicas = await t.replicas();
    expect(replicas).toHaveLength(3);
    const leader = await currentLeader(t);
    expect(podOfIdentity(leader.identity)).toBe(leader.replica.pod);
    expect(await leaseHolder(NAMESPACE, LEASE_NAME)).toBe(leader.identity);
    for (const replica of replicas) {
      const status = await haStatus(replica);
      expect(status.leading).toBe(replica.pod === leader.replica.pod);
      expect(status.leader?.identity).toBe(leader.identity);
    }
    // The Lease belongs to the chart's config ConfigMap, so that helm uninstall takes it along.
    const { core, coordination } = clients();
    const owner = await core.readNamespacedConfigMap({
      namespace: NAMESPACE,
      name: `${FULLNAME}-config`,
    });
    const lease = await coordination.readNamespacedLease({
      namespace: NAMESPACE,
      name: LEASE_NAME,
    });
    expect(lease.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "v1",
        kind: "ConfigMap",
        name: `${FULLNAME}-config`,
        uid: owner.metadata?.uid,
      }),
    ]);
    log(
      `leader ${leader.identity} (epoch ${leader.epoch}); followers ${leader.followers.map((f) => f.pod).join(", ")}`,
    );
  });
});

describe("RBAC: the chart's ServiceAccount, with a token from the TokenRequest API", () => {
  let saKubeconfig: string;
  let api: ReturnType<typeof clients>;

  beforeAll(async () => {
    const { stdout } = await kubectl([
      "-n",
      NAMESPACE,
      "create",
      "token",
      FULLNAME,
      "--duration=10m",
    ]);
    const admin = parseYaml(await readFile(kubeconfigPath(), "utf8")) as {
      clusters: { name: string }[];
      contexts: { name: string; context: { cluster: string } }[];
      "current-context": string;
    };
    const context = admin.contexts.find((c) => c.name === admin["current-context"]);
    const cluster = admin.clusters.find((c) => c.name === context?.context.cluster);
    if (!cluster) throw new Error(`${kubeconfigPath()}: no cluster for the current context`);
    saKubeconfig = join(tmpdir(), `konsul-lb-e2e-sa-${process.pid}.kubeconfig`);
    await writeFile(
      saKubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [cluster],
        users: [{ name: "sa", user: { token: stdout.trim() } }],
        contexts: [{ name: "sa", context: { cluster: cluster.name, user: "sa" } }],
        "current-context": "sa",
      }),
      { mode: 0o600 },
    );
    api = clients(saKubeconfig);
  });

  /** `kubectl auth can-i` as the ServiceAccount: exit 0 and "yes", or exit 1 and "no". */
  async function canI(...args: string[]): Promise<string> {
    try {
      return (
        await run("kubectl", ["--kubeconfig", saKubeconfig, "auth", "can-i", ...args])
      ).stdout.trim();
    } catch (error) {
      return ((error as { stdout?: string }).stdout ?? "").trim();
    }
  }

  async function expectForbidden(what: string, call: () => Promise<unknown>): Promise<void> {
    let status: number | undefined;
    try {
      await call();
    } catch (error) {
      status = statusOf(error);
    }
    expect(status, what).toBe(403);
  }

  it("kubectl auth can-i: yes to what the operator does", async () => {
    const yes: string[][] = [
      ["list", "endpointslices.discovery.k8s.io", "--all-namespaces"],
      ["watch", "pods", "--all-namespaces"],
      ["watch", "services", "--all-namespaces"],
      ["list", "nodes"],
      ["watch", "loadbalancingpolicies.lb.konsul.io", "--all-namespaces"],
      ["patch", "loadbalancingpolicies.lb.konsul.io", "--subresource=status", "-n", SHOP],
      ["create", "events", "-n", SHOP],
      ["create", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["update", `leases.coordination.k8s.io/${LEASE_NAME}`, "-n", NAMESPACE],
      ["watch", "configmaps", "-n", NAMESPACE],
      ["update", `configmaps/${STATE_PREFIX}-0`, "-n", NAMESPACE],
      // The owner of the Lease and the state ConfigMaps: each replica reads its uid.
      ["get", `configmaps/${FULLNAME}-config`, "-n", NAMESPACE],
    ];
    for (const args of yes) expect(await canI(...args), args.join(" ")).toBe("yes");
  });

  it("kubectl auth can-i: no to the rest", async () => {
    const no: string[][] = [
      ["list", "secrets", "--all-namespaces"],
      ["get", "secrets", "-n", NAMESPACE],
      ["list", "configmaps", "-n", SHOP],
      ["get", "configmaps/other-config", "-n", NAMESPACE],
      ["update", `configmaps/${FULLNAME}-config`, "-n", NAMESPACE],
      ["delete", "pods", "-n", SHOP],
      ["create", "pods", "-n", NAMESPACE],
      ["update", "loadbalancingpolicies.lb.konsul.io", "-n", SHOP],
      ["patch", "loadbalancingpolicies.lb.konsul.io", "-n", SHOP],
      ["delete", "loadbalancingpolicies.lb.konsul.io", "-n", SHOP],
      ["create", "leases.coordination.k8s.io", "-n", "kube-system"],
      ["update", "leases.coordination.k8s.io/other-lease", "-n", NAMESPACE],
      ["patch", "nodes"],
      ["get", "endpointslices.discovery.k8s.io", "-n", SHOP],
    ];
    for (const args of no) expect(await canI(...args), args.join(" ")).toBe("no");
  });

  it("real requests the operator never makes are refused with 403", async () => {
    // Allowed calls first, so that the refusals below cannot come from a broken token.
    await api.discovery.listEndpointSliceForAllNamespaces({ limit: 1 });
    await api.custom.listClusterCustomObject({
      group: "lb.konsul.io",
      version: "v1alpha1",
      plural: "loadbalancingpolicies",
    });
    await api.core.listNamespacedConfigMap({ namespace: NAMESPACE });

    await expectForbidden("list secrets in all namespaces", () =>
      api.core.listSecretForAllNamespaces(),
    );
    await expectForbidden("read a secret of its own namespace", () =>
      api.core.readNamespacedSecret({ namespace: NAMESPACE, name: "anything" }),
    );
    await expectForbidden("list configmaps of another namespace", () =>
      api.core.listNamespacedConfigMap({ namespace: SHOP }),
    );
    await expectForbidden("list configmaps of kube-system", () =>
      api.core.listNamespacedConfigMap({ namespace: "kube-system" }),
    );
    await expectForbidden("read another ConfigMap of its own namespace", () =>
      api.core.readNamespacedConfigMap({ namespace: NAMESPACE, name: "other-config" }),
    );
    await expectForbidden("delete a pod", () =>
      api.core.deleteNamespacedPod({ namespace: NAMESPACE, name: "anything" }),
    );
    await expectForbidden("create a Lease elsewhere", () =>
      api.coordination.createNamespacedLease({
        namespace: "default",
        body: { metadata: { name: "konsul-lb-e2e" }, spec: {} },
      }),
    );
    await expectForbidden("write a policy's spec", () =>
      api.custom.createNamespacedCustomObject({
        group: "lb.konsul.io",
        version: "v1alpha1",
        plural: "loadbalancingpolicies",
        namespace: SHOP,
        body: {
          apiVersion: "lb.konsul.io/v1alpha1",
          kind: "LoadBalancingPolicy",
          metadata: { name: "written-by-the-operator" },
          spec: { targetRef: { kind: "Service", name: "web" } },
        },
      }),
    );
  });
});
