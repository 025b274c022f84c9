// Helpers for tests against the local control plane (see test/cluster/global-setup.ts).
// There is no kubelet: a Pod is "running" because a test wrote its status.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Node,
  type V1Pod,
  type V1Service,
} from "@kubernetes/client-node";

/** Set by the global setup (or by `npm run cluster:up` for a cluster started by hand). */
export const KUBECONFIG_ENV = "KONSUL_LB_TEST_KUBECONFIG";
export const CONTROL_URL_ENV = "KONSUL_LB_TEST_CONTROL_URL";
/** The release the binaries were built from; empty when they came from KUBEBUILDER_ASSETS. */
export const KUBE_VERSION_ENV = "KONSUL_LB_TEST_KUBE_VERSION";

export const ZONE_LABEL = "topology.kubernetes.io/zone";
export const REGION_LABEL = "topology.kubernetes.io/region";
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** True when a control plane is available; cluster test files skip themselves otherwise. */
export function clusterAvailable(): boolean {
  return Boolean(process.env[KUBECONFIG_ENV]);
}

export function testKubeconfigPath(): string {
  const path = process.env[KUBECONFIG_ENV];
  if (!path) {
    throw new Error(`${KUBECONFIG_ENV} is not set; run through \`npm run test:cluster\``);
  }
  return path;
}

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath());
  return kc;
}

export interface Clients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
}

export function clients(kc: KubeConfig = loadKubeConfig()): Clients {
  return { kc, core: kc.makeApiClient(CoreV1Api), discovery: kc.makeApiClient(DiscoveryV1Api) };
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Polls until `probe` returns something other than undefined. Errors count as "not yet", so a
 * probe may run while the API is restarting; the last one is reported on timeout.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out waiting for ${description}${cause}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/**
 * A fresh namespace, ready for Pods: admission refuses Pods until the service-account controller
 * has created the namespace's `default` ServiceAccount.
 */
export async function createNamespace(core: CoreV1Api, prefix = "test-"): Promise<string> {
  const ns = await core.createNamespace({ body: { metadata: { generateName: prefix } } });
  const name = ns.metadata?.name;
  if (!name) throw new Error("namespace without a name");
  await waitFor(`ServiceAccount default in ${name}`, () =>
    core.readNamespacedServiceAccount({ namespace: name, name: "default" }),
  );
  return name;
}

/** Deletes a namespace; the namespace controller removes its contents in the background. */
export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.deleteNamespace({ name });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export interface NodeOptions {
  readonly region?: string;
  readonly zone?: string;
  readonly labels?: Record<string, string>;
}

/**
 * A Node object without a kubelet behind it. Nodes are cluster-scoped: give each test its own
 * names. The EndpointSlice controller copies `zone` into each endpoint of a Pod on this Node.
 */
export async function createNode(
  core: CoreV1Api,
  name: string,
  options: NodeOptions = {},
): Promise<V1Node> {
  const labels: Record<string, string> = { "kubernetes.io/hostname": name, ...options.labels };
  if (options.region) labels[REGION_LABEL] = options.region;
  if (options.zone) labels[ZONE_LABEL] = options.zone;
  return core.createNode({ body: { metadata: { name, labels } } });
}

export async function deleteNode(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.deleteNode({ name });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export interface PodOptions {
  readonly name: string;
  readonly nodeName: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly ports?: readonly { name?: string; containerPort: number }[];
}

/** A Pod already bound to `nodeName`; nothing runs it, so it stays Pending until marked. */
export async function createPod(
  core: CoreV1Api,
  namespace: string,
  options: PodOptions,
): Promise<V1Pod> {
  return core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name: options.name,
        labels: options.labels ?? {},
        ...(options.annotations ? { annotations: options.annotations } : {}),
      },
      spec: {
        nodeName: options.nodeName,
        // Nothing pulls it; the name only has to be valid.
        containers: [
          {
            name: "app",
            image: "registry.invalid/konsul-lb/test-app:0",
            ports: options.ports?.map((p) => ({ ...p, protocol: "TCP" })),
          },
        ],
        automountServiceAccountToken: false,
      },
    },
  });
}

/**
 * Writes what a kubelet would: phase Running, the Pod's IP, and the Ready condition. Uses the
 * pods/status subresource; a merge patch replaces the whole conditions list, which is intended.
 */
export async function setPodStatus(
  core: CoreV1Api,
  namespace: string,
  name: string,
  status: { ip: string; ready: boolean },
): Promise<V1Pod> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const condition = (type: string) => ({
    type,
    status: status.ready ? "True" : "False",
    lastTransitionTime: now,
  });
  return core.patchNamespacedPodStatus(
    {
      namespace,
      name,
      body: {
        status: {
          phase: "Running",
          podIP: status.ip,
          podIPs: [{ ip: status.ip }],
          hostIP: "127.0.0.1",
          startTime: now,
          conditions: [
            { type: "PodScheduled", status: "True", lastTransitionTime: now },
            { type: "Initialized", status: "True", lastTransitionTime: now },
            condition("ContainersReady"),
            condition("Ready"),
          ],
        },
      },
    },
    mergePatch,
  );
}

/** Creates a Pod on `nodeName` and marks it Running and Ready with `ip`. */
export async function createReadyPod(
  core: CoreV1Api,
  namespace: string,
  options: PodOptions & { ip: string },
): Promise<V1Pod> {
  await createPod(core, namespace, options);
  return setPodStatus(core, namespace, options.name, { ip: options.ip, ready: true });
}

/**
 * Deletes a Pod at once. A bound Pod deleted gracefully waits for its kubelet to confirm, which
 * never comes here; grace period 0 removes it like `kubectl delete --force --grace-period=0`.
 */
export async function deletePod(core: CoreV1Api, namespace: string, name: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function createService(
  core: CoreV1Api,
  namespace: string,
  name: string,
  selector: Record<string, string>,
  ports: readonly { name?: string; port: number; targetPort?: number }[] = [{ port: 80 }],
): Promise<V1Service> {
  return core.createNamespacedService({
    namespace,
    body: {
      metadata: { name },
      spec: {
        selector,
        ports: ports.map((p) => ({ ...p, protocol: "TCP", targetPort: p.targetPort ?? p.port })),
      },
    },
  });
}

/** EndpointSlices the controller maintains for a Service. */
export async function endpointSlicesFor(
  discovery: DiscoveryV1Api,
  namespace: string,
  service: string,
): Promise<V1EndpointSlice[]> {
  const list = await discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `${SERVICE_NAME_LABEL}=${service}`,
  });
  return list.items;
}

// ---- control plane faults ----

export type ComponentName = "etcd" | "kube-apiserver" | "kube-controller-manager";

async function control(path: string, init?: RequestInit): Promise<unknown> {
  const base = process.env[CONTROL_URL_ENV];
  if (!base) throw new Error(`${CONTROL_URL_ENV} is not set; run through \`npm run test:cluster\``);
  const res = await fetch(`${base}${path}`, init);
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new Error(`control plane ${path}: ${body.error ?? res.status}`);
  return body;
}

/**
 * Stops one component. SIGKILL looks like a crash to clients (connections reset, no goodbye);
 * SIGTERM is an orderly shutdown. The API is unreachable until `startComponent`.
 */
export async function stopComponent(
  name: ComponentName,
  signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
): Promise<void> {
  await control(`/components/${name}/stop?signal=${signal}`, { method: "POST" });
}

/** Starts a stopped component with the same flags and port; resolves once it serves again. */
export async function startComponent(name: ComponentName): Promise<void> {
  await control(`/components/${name}/start`, { method: "POST" });
}

export async function restartComponent(
  name: ComponentName,
  signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
): Promise<void> {
  await control(`/components/${name}/restart?signal=${signal}`, { method: "POST" });
}

export async function componentState(): Promise<
  Record<ComponentName, { running: boolean; pid?: number }>
> {
  return (await control("/components")) as Record<
    ComponentName,
    { running: boolean; pid?: number }
  >;
}

/** A ServiceAccount's token, as a pod would have it mounted, written to `path`. */
export interface AccountToken {
  readonly user: string;
  readonly token: string;
  readonly path: string;
}

/**
 * Creates ServiceAccount `name` in `namespace` and writes a token of it (TokenRequest, one hour)
 * to a file in `folder`: what `--token-file` reads in a pod.
 */
export async function serviceAccountToken(
  core: CoreV1Api,
  namespace: string,
  name: string,
  folder: string,
): Promise<AccountToken> {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  const path = join(folder, `${name}.token`);
  await writeFile(path, token, { mode: 0o600 });
  return { user: `system:serviceaccount:${namespace}:${name}`, token, path };
}
