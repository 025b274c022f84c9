// `npm run e2e:local`: a whole cluster on this machine, then the chart installed into it with
// helm. etcd, kube-apiserver, kube-controller-manager (with the deployment and replicaset
// controllers), kube-scheduler and kwok (the kubelet of three fake Nodes in two regions) are
// built from source by test/cluster/harness; the operator's replicas run as local processes
// (./replicas.ts) with the chart's ServiceAccount token, so its RBAC is what they get.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { parse as parseYaml, stringify } from "yaml";
import { ensureBinaries } from "../../test/cluster/harness/binaries.ts";
import { CONTROLLERS, ControlPlane } from "../../test/cluster/harness/control-plane.ts";
import { waitFor } from "../../test/cluster/support/kube.ts";
import { clients, run } from "../support/cluster.ts";
import { CHART, ENV, FULLNAME, NAMESPACE, RELEASE, VALUES } from "../support/env.ts";
import { startControl } from "./control.ts";
import { LocalReplicas } from "./replicas.ts";

const STAGES = fileURLToPath(new URL("../kwok/stages.yaml", import.meta.url));
/** Pod IPs kwok hands out; apart from the Service range (10.0.0.0/24) of the harness. */
const POD_CIDR = "10.244.0.0/16";
/** For Deployments, on top of what the cluster suite runs; never node-lifecycle (see CONTROLLERS). */
const WORKLOAD_CONTROLLERS = ["deployment-controller", "replicaset-controller"];

/** Fake Nodes: two zones in us-east, one in eu-west. */
export const NODES = [
  { name: "kwok-us-east-1a", region: "us-east", zone: "us-east-1a" },
  { name: "kwok-us-east-1b", region: "us-east", zone: "us-east-1b" },
  { name: "kwok-eu-west-1a", region: "eu-west", zone: "eu-west-1a" },
] as const;

export interface LocalEnvironment {
  /** Variables for the suite (see e2e/support/env.ts). */
  readonly env: Record<string, string>;
  /** Logs of every component and replica, for a failure report. */
  logs(): Promise<string>;
  /** Components or replicas that died unasked. */
  crashed(): string[];
  stop(): Promise<void>;
}

export async function startLocal(log: (line: string) => void): Promise<LocalEnvironment> {
  for (const name of CONTROLLERS) {
    if (name.startsWith("node-lifecycle")) throw new Error("node-lifecycle must not run here");
  }
  const { helm } = (await ensureBinaries(["helm"], { log })) as { helm: string };
  const plane = await ControlPlane.start({
    log: (line) => log(`control plane: ${line}`),
    keepRunDir: process.env.KONSUL_LB_KEEP_CLUSTER === "1",
    extraControllers: WORKLOAD_CONTROLLERS,
    scheduler: true,
    kwok: { config: STAGES, cidr: POD_CIDR },
  });
  let replicas: LocalReplicas | undefined;
  const logs = async () =>
    `${await plane.logs(30)}\n${replicas ? await replicas.logs(30) : "(no replicas started)"}`;
  try {
    // Helm keeps its own state out of the user's home: the run directory goes with the run.
    const helmHome = join(plane.runDir, "helm");
    const helmEnv = {
      KUBECONFIG: plane.kubeconfig,
      HELM_CACHE_HOME: join(helmHome, "cache"),
      HELM_CONFIG_HOME: join(helmHome, "config"),
      HELM_DATA_HOME: join(helmHome, "data"),
    };
    const api = clients(plane.kubeconfig);
    await createNodes(api, log);

    log(`helm install ${RELEASE} ${CHART} -n ${NAMESPACE} -f ${VALUES}`);
    const started = Date.now();
    await run(
      helm,
      [
        "install",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--values",
        VALUES,
        // kwok turns the chart's pods Ready, so helm can wait for the Deployment as on a cluster.
        "--wait",
        "--timeout",
        "3m",
      ],
      { env: helmEnv, timeoutMs: 240_000 },
    );
    log(`installed in ${((Date.now() - started) / 1000).toFixed(1)}s`);

    const serviceAccount = () => serviceAccountKubeconfig(plane.kubeconfig, plane.runDir, api, log);
    const kubeconfig = await serviceAccount();
    replicas = new LocalReplicas({
      runDir: plane.runDir,
      kubeconfig,
      clients: api,
      helm,
      helmEnv,
      log,
    });
    await replicas.start();
    const control = await startControl(replicas, serviceAccount);
    const first = replicas.slots[0];
    if (!first) throw new Error("the release has no replicas");
    const env = {
      [ENV.mode]: "local",
      [ENV.kubeconfig]: plane.kubeconfig,
      [ENV.url]: `http://127.0.0.1:${first.http}`,
      [ENV.dns]: `127.0.0.1:${first.dns}`,
      [ENV.helm]: helm,
      [ENV.control]: control.url,
      ...helmEnv,
    };
    const owned = replicas;
    return {
      env,
      logs,
      crashed: () => [
        ...plane.crashed().map((c) => `${c.name}: ${c.unexpectedExit}`),
        ...owned.crashed(),
      ],
      stop: async () => {
        await control.close();
        await owned.stop();
        await plane.stop();
      },
    };
  } catch (error) {
    console.log(await logs());
    await replicas?.stop();
    await plane.stop();
    throw error;
  }
}

/**
 * Nodes with topology labels and allocatable resources, so that kube-scheduler places pods on
 * them and kwok runs them. The apiserver's TaintNodesByCondition admission taints every new
 * Node not-ready; node-lifecycle would lift that once the Node is Ready, and does not run here,
 * so the taint is lifted by hand after kwok has marked the Node Ready.
 */
async function createNodes(api: ReturnType<typeof clients>, log: (l: string) => void) {
  const resources = { cpu: "32", memory: "64Gi", pods: "110" };
  for (const node of NODES) {
    await api.core.createNode({
      body: {
        metadata: {
          name: node.name,
          labels: {
            "kubernetes.io/hostname": node.name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/region": node.region,
            "topology.kubernetes.io/zone": node.zone,
            type: "kwok",
          },
          annotations: { "kwok.x-k8s.io/node": "fake" },
        },
        status: { allocatable: resources, capacity: resources },
      },
    });
  }
  for (const node of NODES) {
    await waitFor(`kwok to mark Node ${node.name} Ready`, async () => {
      const live = await api.core.readNode({ name: node.name });
      const ready = live.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      return ready ? true : undefined;
    });
    await api.core.patchNode(
      { name: node.name, body: [{ op: "remove", path: "/spec/taints" }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
  }
  log(`Nodes ${NODES.map((n) => `${n.name} (${n.region})`).join(", ")} ready`);
}

/**
 * A kubeconfig for the chart's ServiceAccount: the admin's cluster entry, and a token from the
 * TokenRequest API (`kubectl create token`), as the kubelet would mount in the pod.
 */
async function serviceAccountKubeconfig(
  adminKubeconfig: string,
  runDir: string,
  api: ReturnType<typeof clients>,
  log: (l: string) => void,
): Promise<string> {
  const deployment = await api.apps.readNamespacedDeployment({
    namespace: NAMESPACE,
    name: FULLNAME,
  });
  const account = deployment.spec?.template.spec?.serviceAccountName;
  if (!account) throw new Error(`Deployment ${FULLNAME} names no serviceAccountName`);
  const { stdout } = await run("kubectl", [
    "--kubeconfig",
    adminKubeconfig,
    "--namespace",
    NAMESPACE,
    "create",
    "token",
    account,
    "--duration=2h",
  ]);
  const admin = parseYaml(await readFile(adminKubeconfig, "utf8")) as {
    clusters: { name: string; cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0];
  if (!cluster) throw new Error(`${adminKubeconfig} has no cluster`);
  const user = `system:serviceaccount:${NAMESPACE}:${account}`;
  const path = join(runDir, "replicas", "serviceaccount.kubeconfig");
  await mkdir(join(runDir, "replicas"), { recursive: true });
  await writeFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [cluster],
      users: [{ name: user, user: { token: stdout.trim() } }],
      contexts: [{ name: user, context: { cluster: cluster.name, user, namespace: NAMESPACE } }],
      "current-context": user,
    }),
    { mode: 0o600 },
  );
  log(`replicas authenticate as ${user} (TokenRequest, 2h)`);
  return path;
}
