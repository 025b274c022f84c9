/**
 * What the cluster tests set up around a LoadBalancingPolicy: the CRD as the chart installs it,
 * policies applied as a user's `kubectl apply --server-side` does, and weighted Pods.
 */
import { fileURLToPath } from "node:url";
import {
  type CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { kubectl, runCommand } from "./helm.ts";
import { createReadyPod, loadKubeConfig, testKubeconfigPath } from "./kube.ts";

export const POLICY_CRD_FILE = fileURLToPath(
  new URL("../../../crds/lb.konsul.io_loadbalancingpolicies.yaml", import.meta.url),
);
export const POLICY_RESOURCE = {
  group: "lb.konsul.io",
  version: "v1alpha1",
  plural: "loadbalancingpolicies",
} as const;

/** Installs the CRD (server-side, as the chart's CRD step does) and waits until it is served. */
export async function installPolicyCrd(): Promise<void> {
  await kubectl(["apply", "--server-side", "-f", POLICY_CRD_FILE]);
  await kubectl([
    "wait",
    "--for=condition=Established",
    "crd/loadbalancingpolicies.lb.konsul.io",
    "--timeout=60s",
  ]);
}

function policyManifest(namespace: string, name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "lb.konsul.io/v1alpha1",
    kind: "LoadBalancingPolicy",
    metadata: { name, namespace },
    spec,
  };
}

/**
 * `kubectl apply` of one policy, as a user runs it (with its default strict field validation):
 * null when it is accepted, kubectl's error output when it is refused.
 */
export async function kubectlApplyPolicy(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<string | null> {
  const result = await runCommand(
    "kubectl",
    ["--kubeconfig", testKubeconfigPath(), "apply", "-f", "-"],
    {
      input: JSON.stringify(policyManifest(namespace, name, spec)),
    },
  );
  return result.code === 0 ? null : result.stderr || `kubectl exited with ${result.code}`;
}

/** Creates or replaces a policy by server-side apply, owned by the tests' field manager. */
export async function serverSideApplyPolicy(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  custom: CustomObjectsApi = loadKubeConfig().makeApiClient(CustomObjectsApi),
): Promise<void> {
  const body = policyManifest(namespace, name, spec);
  await custom.patchNamespacedCustomObject(
    { ...POLICY_RESOURCE, namespace, name, body, fieldManager: "konsul-lb-tests", force: true },
    setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
  );
}

export interface WeightedPods {
  readonly namespace: string;
  readonly node: string;
  /** Pods are named `<app>-<i>` and labelled app=<app>. */
  readonly app: string;
  /** One Pod per weight, annotated with it (lb.konsul.io/weight). */
  readonly weights: readonly number[];
  /** The first three octets of the Pods' addresses; Pod i gets `<prefix>.<10 + i>`. */
  readonly addressPrefix: string;
}

/** Ready Pods on one Node, each with its weight annotation. */
export async function createWeightedPods(core: CoreV1Api, pods: WeightedPods): Promise<void> {
  for (const [i, weight] of pods.weights.entries()) {
    await createReadyPod(core, pods.namespace, {
      name: `${pods.app}-${i}`,
      nodeName: pods.node,
      labels: { app: pods.app },
      annotations: { "lb.konsul.io/weight": String(weight) },
      ip: `${pods.addressPrefix}.${10 + i}`,
    });
  }
}
