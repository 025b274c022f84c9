// The cluster as the tests see it: kubectl and helm as a user would run them, and typed clients
// for what kubectl's output would make clumsy. Every call uses the admin kubeconfig the runner
// handed over.

import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1EndpointSlice,
  type V1Pod,
} from "@kubernetes/client-node";
import { runProcess } from "../../test/support/process.ts";
import { ENV, required } from "./env.ts";

export { waitFor } from "../../test/cluster/support/kube.ts";

export interface Run {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; a non-zero exit throws with the command and its stderr. */
export async function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Run> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const failed = (reason: string, stdout = "", stderr = "") =>
    Object.assign(new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || reason}`), {
      stdout,
      stderr,
    });
  const result = await runProcess(command, args, { ...options, timeoutMs }).catch(
    (error: Error) => {
      throw failed(error.message);
    },
  );
  const { code, signal, stdout, stderr } = result;
  if (result.timedOut) throw failed(`timed out after ${timeoutMs} ms`, stdout, stderr);
  if (code !== 0) throw failed(`exited with ${code ?? signal}`, stdout, stderr);
  return { stdout, stderr };
}

export function kubeconfigPath(): string {
  return required(ENV.kubeconfig);
}

export function kubectl(args: readonly string[], input?: string): Promise<Run> {
  return run("kubectl", ["--kubeconfig", kubeconfigPath(), ...args], { input });
}

/** kubectl's output parsed as JSON (`-o json` is added), typed as the caller says. */
export async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse((await kubectl([...args, "-o", "json"])).stdout) as T;
}

export function helm(args: readonly string[]): Promise<Run> {
  return run(required(ENV.helm), args, {
    env: { KUBECONFIG: kubeconfigPath() },
    timeoutMs: 300_000,
  });
}

export interface Clients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly rbac: RbacAuthorizationV1Api;
}

export function clients(path: string = kubeconfigPath()): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
}

/** A LoadBalancingPolicy as `kubectl get lbp -o json` shows it, as far as the tests read it. */
export interface PolicyObject {
  metadata: { name: string; generation: number };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

/** The HTTP status of a failed API call, or undefined when it did not fail that way. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** Ready, not terminating endpoints of a Service, by pod name (their identity in konsul-lb). */
export function readyEndpoints(slices: readonly V1EndpointSlice[]): Map<string, string> {
  const result = new Map<string, string>();
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      const pod = endpoint.targetRef?.name;
      const address = endpoint.addresses[0];
      if (
        pod &&
        address &&
        endpoint.conditions?.ready === true &&
        !endpoint.conditions.terminating
      ) {
        result.set(pod, address);
      }
    }
  }
  return result;
}

export async function endpointSlices(
  namespace: string,
  service: string,
): Promise<V1EndpointSlice[]> {
  const list = await clients().discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  return list.items;
}

/** Pods of a label selector that are running, ready and not being deleted. */
export async function readyPods(namespace: string, selector: string): Promise<V1Pod[]> {
  const list = await clients().core.listNamespacedPod({ namespace, labelSelector: selector });
  return list.items.filter(
    (pod) =>
      !pod.metadata?.deletionTimestamp &&
      pod.status?.phase === "Running" &&
      pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
}

/** The Lease holder's identity, "" when nobody holds it. */
export async function leaseHolder(namespace: string, name: string): Promise<string> {
  const lease = await clients().coordination.readNamespacedLease({ namespace, name });
  return lease.spec?.holderIdentity ?? "";
}

/** The pod of an election identity: `<pod name>_<random suffix>` (src/ha/leader-election.ts). */
export function podOfIdentity(identity: string): string {
  const cut = identity.lastIndexOf("_");
  return cut > 0 ? identity.slice(0, cut) : identity;
}

export function log(line: string): void {
  console.log(`[e2e] ${line}`);
}
