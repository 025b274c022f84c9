// Smoke test of the local control plane itself: the pieces the operator's cluster tests build
// on (real version, real EndpointSlices from written pod status, an API that comes back after a
// restart) work before anything of konsul-lb is involved.

import { type CoreV1Api, type DiscoveryV1Api, VersionApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  clients,
  clusterAvailable,
  createNamespace,
  createNode,
  createPod,
  createReadyPod,
  createService,
  deleteNamespace,
  deleteNode,
  deletePod,
  endpointSlicesFor,
  KUBE_VERSION_ENV,
  loadKubeConfig,
  restartComponent,
  setPodStatus,
  waitFor,
} from "./support/kube.ts";

// Under the default `npm test` there is no cluster; these run through `npm run test:cluster`.
describe.skipIf(!clusterAvailable())("local control plane", () => {
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let namespace: string;
  // Nodes are cluster-scoped; a per-run suffix keeps reruns against one cluster apart.
  const suffix = Date.now().toString(36);
  const nodes = [
    { name: `smoke-a-${suffix}`, region: "eu-west", zone: "eu-west-1a" },
    { name: `smoke-b-${suffix}`, region: "eu-west", zone: "eu-west-1b" },
  ] as const;

  beforeAll(async () => {
    ({ core, discovery } = clients());
    namespace = await createNamespace(core, "smoke-");
    for (const node of nodes) await createNode(core, node.name, node);
  });

  afterAll(async () => {
    if (!core) return;
    await deleteNamespace(core, namespace);
    for (const node of nodes) await deleteNode(core, node.name);
  });

  test("/version reports the release the binaries were built from", async () => {
    const version = await loadKubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(version.major).toBe("1");
    // major/minor come from separate variables; they must agree with gitVersion.
    expect(version.gitVersion.startsWith(`v${version.major}.${version.minor}.`)).toBe(true);
    const expected = process.env[KUBE_VERSION_ENV];
    if (expected) expect(version.gitVersion).toBe(expected);
  });

  test("pods marked Ready become ready endpoints with node and zone; NotReady and delete follow", async () => {
    const service = "web";
    await createService(core, namespace, service, { app: "web" }, [{ name: "http", port: 8080 }]);
    const pods = [
      { name: "web-0", nodeName: nodes[0].name, ip: "10.244.1.10", zone: nodes[0].zone },
      { name: "web-1", nodeName: nodes[1].name, ip: "10.244.2.10", zone: nodes[1].zone },
    ];
    for (const pod of pods) {
      await createReadyPod(core, namespace, {
        ...pod,
        labels: { app: "web" },
        ports: [{ name: "http", containerPort: 8080 }],
      });
    }
    // A pod that matches no selector must stay out.
    await createPod(core, namespace, {
      name: "other",
      nodeName: nodes[0].name,
      labels: { app: "x" },
    });

    const endpointsByIp = async () => {
      const slices = await endpointSlicesFor(discovery, namespace, service);
      return new Map(
        slices.flatMap((s) => (s.endpoints ?? []).map((e) => [e.addresses[0], e] as const)),
      );
    };

    const ready = await waitFor("two ready endpoints", async () => {
      const byIp = await endpointsByIp();
      const all = pods.map((p) => byIp.get(p.ip));
      return all.every((e) => e?.conditions?.ready === true) ? byIp : undefined;
    });
    expect(ready.size).toBe(2);
    for (const pod of pods) {
      const endpoint = ready.get(pod.ip);
      expect(endpoint?.nodeName).toBe(pod.nodeName);
      expect(endpoint?.zone).toBe(pod.zone);
      expect(endpoint?.targetRef).toMatchObject({ kind: "Pod", name: pod.name });
    }
    const [slice] = await endpointSlicesFor(discovery, namespace, service);
    expect(slice?.addressType).toBe("IPv4");
    expect(slice?.ports).toEqual([{ name: "http", port: 8080, protocol: "TCP" }]);

    const [first, second] = pods as [(typeof pods)[0], (typeof pods)[0]];
    await setPodStatus(core, namespace, first.name, { ip: first.ip, ready: false });
    await waitFor("web-0 not ready", async () => {
      const byIp = await endpointsByIp();
      return byIp.get(first.ip)?.conditions?.ready === false ? true : undefined;
    });
    expect((await endpointsByIp()).get(second.ip)?.conditions?.ready).toBe(true);

    await deletePod(core, namespace, first.name);
    const remaining = await waitFor("web-0 gone", async () => {
      const byIp = await endpointsByIp();
      return byIp.has(first.ip) ? undefined : byIp;
    });
    expect([...remaining.keys()]).toEqual([second.ip]);
  });

  test("kube-apiserver restarted mid-run answers again, with its data", async () => {
    await restartComponent("kube-apiserver", "SIGKILL");
    // A fresh client: nothing may depend on connections from before the restart.
    const fresh = clients();
    const ns = await fresh.core.readNamespace({ name: namespace });
    expect(ns.metadata?.name).toBe(namespace);
    // Controllers reconnect too: a new ready pod still gets its endpoint.
    await createReadyPod(fresh.core, namespace, {
      name: "web-2",
      nodeName: nodes[1].name,
      ip: "10.244.2.11",
      labels: { app: "web" },
      ports: [{ name: "http", containerPort: 8080 }],
    });
    await waitFor(
      "endpoint of web-2 after restart",
      async () => {
        const slices = await endpointSlicesFor(fresh.discovery, namespace, "web");
        const found = slices.some((s) =>
          (s.endpoints ?? []).some((e) => e.addresses[0] === "10.244.2.11" && e.conditions?.ready),
        );
        return found ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });
});
