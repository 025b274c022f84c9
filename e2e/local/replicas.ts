// The chart's replicas as local processes. The chart's Deployment is scheduled onto kwok's fake
// Nodes, where nothing can run it; each replica here runs `konsul-lb serve` from the source
// with what a kubelet would have given that pod: the container's args and env from the manifest
// helm rendered, the config file from the chart's ConfigMap, the downward API's values
// (POD_NAME = the pod's name, POD_NAMESPACE = the release namespace, POD_IP = 127.0.0.1), and
// the chart's ServiceAccount token. Only the listen addresses change: loopback ports instead
// of 8080 and 5353, which every replica would share on one machine.

import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1ConfigMap, V1Container, V1Deployment, V1EnvVar } from "@kubernetes/client-node";
import { parseAllDocuments, parse as parseYaml, stringify } from "yaml";
import { Component, freePorts } from "../../test/cluster/harness/processes.ts";
import { waitFor } from "../../test/cluster/support/kube.ts";
import { type Clients, run } from "../support/cluster.ts";
import type { DnsAddress } from "../support/discovery.ts";
import { FULLNAME, NAMESPACE, RELEASE, REPO_ROOT } from "../support/env.ts";

const CLI = join(REPO_ROOT, "src/cli/main.ts");
const CONTAINER = "konsul-lb";

/** What the chart rendered for the operator's pods. */
export interface RenderedRelease {
  readonly deployment: V1Deployment;
  readonly container: V1Container;
  readonly configMaps: ReadonlyMap<string, V1ConfigMap>;
}

/** The release's manifest as helm rendered it (`helm get manifest`). */
export async function renderedRelease(
  helm: string,
  env: Record<string, string>,
): Promise<RenderedRelease> {
  const { stdout } = await run(helm, ["get", "manifest", RELEASE, "-n", NAMESPACE], { env });
  const objects = parseAllDocuments(stdout)
    .map((doc) => doc.toJS())
    .filter((o) => o && typeof o === "object");
  const deployment = objects.find(
    (o) => o.kind === "Deployment" && o.metadata?.name === FULLNAME,
  ) as V1Deployment | undefined;
  if (!deployment) throw new Error(`helm get manifest: no Deployment ${FULLNAME}`);
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === CONTAINER);
  if (!container) throw new Error(`Deployment ${FULLNAME} has no container ${CONTAINER}`);
  const configMaps = new Map<string, V1ConfigMap>(
    objects
      .filter((o) => o.kind === "ConfigMap")
      .map((o) => [o.metadata.name as string, o as V1ConfigMap]),
  );
  return { deployment, container, configMaps };
}

export interface ReplicaSlot {
  readonly index: number;
  readonly http: number;
  readonly dns: number;
  /** The internal API's port (replica to replica). */
  readonly internal: number;
  pod: string | null;
  component: Component | null;
}

export interface ReplicaInfo {
  readonly pod: string;
  readonly url: string;
  /** The internal API, which admits only the chart ServiceAccount's token. */
  readonly internalUrl: string;
  readonly dns: DnsAddress;
  readonly ready: boolean;
}

export class LocalReplicas {
  readonly #runDir: string;
  #kubeconfig: string;
  readonly #clients: Clients;
  readonly #helm: string;
  readonly #helmEnv: Record<string, string>;
  readonly #log: (line: string) => void;
  #slots: ReplicaSlot[] = [];
  #release: RenderedRelease | null = null;
  #generation = 0;

  constructor(init: {
    runDir: string;
    /** The chart ServiceAccount's kubeconfig (a TokenRequest token). */
    kubeconfig: string;
    clients: Clients;
    helm: string;
    helmEnv: Record<string, string>;
    log: (line: string) => void;
  }) {
    this.#runDir = init.runDir;
    this.#kubeconfig = init.kubeconfig;
    this.#clients = init.clients;
    this.#helm = init.helm;
    this.#helmEnv = init.helmEnv;
    this.#log = init.log;
  }

  get slots(): readonly ReplicaSlot[] {
    return this.#slots;
  }

  /** Reads the rendered release and starts one process per pod of the Deployment. */
  async start(): Promise<void> {
    this.#release = await renderedRelease(this.#helm, this.#helmEnv);
    const pods = await this.#currentPods();
    const ports = await freePorts(pods.length * 3);
    this.#slots = pods.map((pod, index) => ({
      index,
      http: ports[3 * index] as number,
      dns: ports[3 * index + 1] as number,
      internal: ports[3 * index + 2] as number,
      pod,
      component: null,
    }));
    await this.#writeConfig();
    await Promise.all(this.#slots.map((slot) => this.#startSlot(slot)));
    await Promise.all(this.#slots.map((slot) => this.#waitReady(slot)));
  }

  /**
   * After a new `helm install` of the release: its ServiceAccount is a new object, so the
   * replicas need a token of the new one (`kubeconfig`); then as `start`.
   */
  async startInstalled(kubeconfig: string): Promise<void> {
    await this.stop();
    this.#kubeconfig = kubeconfig;
    await this.start();
  }

  /**
   * After `helm upgrade`: the Deployment rolled to new pods; each slot in turn stops its process
   * (SIGTERM, as the kubelet would) and starts one for a new pod from the new manifest, as a
   * rolling update with one unavailable at a time does.
   */
  async reload(): Promise<void> {
    this.#release = await renderedRelease(this.#helm, this.#helmEnv);
    const pods = await this.#currentPods();
    if (pods.length !== this.#slots.length) {
      throw new Error(
        `the upgraded Deployment has ${pods.length} pods, the runner ${this.#slots.length} slots; changing replicaCount in an upgrade is not supported here`,
      );
    }
    await this.#writeConfig();
    for (const [i, slot] of this.#slots.entries()) {
      await slot.component?.stop({ signal: "SIGTERM", graceMs: 15_000 });
      slot.pod = pods[i] as string;
      await this.#startSlot(slot);
      await this.#waitReady(slot);
    }
  }

  /** SIGKILL, then a new process for the same pod at once, as a kubelet restarts a container. */
  async crash(pod: string): Promise<void> {
    const slot = this.#slots.find((s) => s.pod === pod);
    if (!slot?.component) throw new Error(`no replica runs as pod ${pod}`);
    await slot.component.stop({ signal: "SIGKILL" });
    this.#log(`replica ${slot.index} (${pod}) killed with SIGKILL; restarting it`);
    await this.#startSlot(slot);
  }

  /** SIGTERM to every replica, all at once, as when the Deployment is deleted. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#slots.map((slot) => slot.component?.stop({ signal: "SIGTERM", graceMs: 15_000 })),
    );
  }

  async list(): Promise<ReplicaInfo[]> {
    return Promise.all(
      this.#slots
        .filter((slot) => slot.pod !== null && slot.component?.running)
        .map(async (slot) => ({
          pod: slot.pod as string,
          url: `http://127.0.0.1:${slot.http}`,
          internalUrl: `http://127.0.0.1:${slot.internal}`,
          dns: { host: "127.0.0.1", port: slot.dns },
          ready: await readyz(slot.http),
        })),
    );
  }

  async logs(lines = 40): Promise<string> {
    const parts: string[] = [];
    for (const slot of this.#slots) {
      if (slot.component) {
        parts.push(`----- replica ${slot.index} (${slot.component.logFile}) -----`);
        parts.push(await slot.component.tail(lines));
      }
    }
    return parts.join("\n");
  }

  crashed(): string[] {
    return this.#slots
      .filter((s) => s.component?.unexpectedExit !== undefined)
      .map((s) => `replica ${s.index} (${s.pod}): ${s.component?.unexpectedExit}`);
  }

  /**
   * The Deployment's current pods, once its rollout is done: as many as it wants, all of the
   * newest template, none terminating. Sorted, so slot i keeps its index across restarts.
   */
  async #currentPods(): Promise<string[]> {
    const deployment = this.#release?.deployment as V1Deployment;
    const selector = Object.entries(deployment.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const want = deployment.spec?.replicas ?? 1;
    return waitFor(
      `${want} pods of Deployment ${FULLNAME} on the current template`,
      async () => {
        const live = await this.#clients.apps.readNamespacedDeployment({
          namespace: NAMESPACE,
          name: FULLNAME,
        });
        const status = live.status;
        if (
          (status?.observedGeneration ?? 0) < (live.metadata?.generation ?? 0) ||
          status?.updatedReplicas !== want ||
          status.replicas !== want
        ) {
          return undefined;
        }
        const pods = await this.#clients.core.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: selector,
        });
        const current = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
        const hashes = new Set(current.map((p) => p.metadata?.labels?.["pod-template-hash"]));
        if (current.length !== want || hashes.size !== 1) return undefined;
        return current.map((p) => p.metadata?.name as string).sort();
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
  }

  /** Path of the config file: `--config`'s value in the args, mapped to the mounted ConfigMap. */
  #configFile(): string {
    return join(this.#runDir, "replicas", `config-${this.#generation}.yaml`);
  }

  async #writeConfig(): Promise<void> {
    this.#generation++;
    const release = this.#release as RenderedRelease;
    const args = release.container.args ?? [];
    const at = args.indexOf("--config");
    const path = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith("--config="))?.slice(9);
    if (!path) throw new Error(`the container's args have no --config: ${args.join(" ")}`);
    const text = this.#mountedFile(release, path);
    // Loopback ports replace the in-pod addresses; each replica also gets its own on the
    // command line, so this only keeps the file from naming ports that are not theirs.
    const config = (parseYaml(text) ?? {}) as Record<string, unknown>;
    delete config.httpAddr;
    delete config.dnsAddr;
    await mkdir(join(this.#runDir, "replicas"), { recursive: true });
    await writeFile(this.#configFile(), stringify(config));
  }

  /** The content of a file the pod would see at `path`, from its configMap volumes. */
  #mountedFile(release: RenderedRelease, path: string): string {
    const spec = release.deployment.spec?.template.spec;
    for (const mount of release.container.volumeMounts ?? []) {
      const prefix = mount.mountPath.endsWith("/") ? mount.mountPath : `${mount.mountPath}/`;
      if (!path.startsWith(prefix) && path !== mount.mountPath) continue;
      const volume = spec?.volumes?.find((v) => v.name === mount.name);
      const name = volume?.configMap?.name;
      if (!name) continue;
      const configMap = release.configMaps.get(name);
      if (!configMap) throw new Error(`the manifest has no ConfigMap ${name} for ${path}`);
      const file = mount.subPath ?? path.slice(prefix.length);
      const key = volume.configMap?.items?.find((i) => i.path === file)?.key ?? file;
      const data = configMap.data?.[key];
      if (data === undefined) throw new Error(`ConfigMap ${name} has no key ${key} for ${path}`);
      return data;
    }
    throw new Error(`no configMap volume is mounted at ${path}`);
  }

  #env(slot: ReplicaSlot): Record<string, string> {
    const release = this.#release as RenderedRelease;
    const env: Record<string, string> = {
      // What the image's environment would give; nothing else of this machine leaks in.
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: join(this.#runDir, "replicas"),
    };
    for (const variable of release.container.env ?? []) {
      env[variable.name] = this.#envValue(variable, slot);
    }
    return env;
  }

  #envValue(variable: V1EnvVar, slot: ReplicaSlot): string {
    if (variable.value !== undefined) return variable.value;
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    switch (field) {
      case "metadata.name":
        return slot.pod as string;
      case "metadata.namespace":
        return NAMESPACE;
      case "status.podIP":
      case "status.hostIP":
        return "127.0.0.1";
    }
    const configMapKey = variable.valueFrom?.configMapKeyRef;
    if (configMapKey) {
      const value = this.#release?.configMaps.get(configMapKey.name ?? "")?.data?.[
        configMapKey.key
      ];
      if (value !== undefined) return value;
    }
    throw new Error(
      `env ${variable.name}: ${JSON.stringify(variable.valueFrom)} is not supported by the local runner; expected a value, a fieldRef to metadata.name, metadata.namespace, status.podIP or status.hostIP, or a configMapKeyRef into the release`,
    );
  }

  #args(slot: ReplicaSlot): string[] {
    const release = this.#release as RenderedRelease;
    const command = release.container.command ?? [];
    const args = [...command.slice(1), ...(release.container.args ?? [])];
    const out: string[] = [];
    // The in-pod addresses and paths are replaced below; drop them whichever way they are written.
    const replaced = [
      "--config",
      "--http-addr",
      "--internal-addr",
      "--dns-addr",
      "--advertise-url",
      "--kubeconfig",
      "--token-file",
    ];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      const name = arg.split("=")[0] as string;
      if (replaced.includes(name)) {
        if (!arg.includes("=")) i++;
        continue;
      }
      out.push(arg);
    }
    const dns = this.#dnsEnabled();
    return [
      CLI,
      ...out,
      "--config",
      this.#configFile(),
      "--kubeconfig",
      this.#kubeconfig,
      "--http-addr",
      `127.0.0.1:${slot.http}`,
      "--internal-addr",
      `127.0.0.1:${slot.internal}`,
      "--advertise-url",
      `http://127.0.0.1:${slot.internal}`,
      // The token the kubelet would mount: the one in the ServiceAccount's kubeconfig.
      "--token-file",
      this.#tokenFile(),
      ...(dns ? ["--dns-addr", `127.0.0.1:${slot.dns}`] : []),
    ];
  }

  /** The ServiceAccount token of the kubeconfig the replicas use, as a file. */
  #tokenFile(): string {
    const path = join(this.#runDir, "service-account.token");
    const config = parseYaml(readFileSync(this.#kubeconfig, "utf8")) as {
      users?: { user?: { token?: string } }[];
    };
    const token = config.users?.[0]?.user?.token;
    if (!token) throw new Error(`${this.#kubeconfig} holds no token`);
    writeFileSync(path, token, { mode: 0o600 });
    return path;
  }

  #dnsEnabled(): boolean {
    const release = this.#release as RenderedRelease;
    const ports = release.container.ports ?? [];
    return ports.some((p) => p.name?.startsWith("dns"));
  }

  async #startSlot(slot: ReplicaSlot): Promise<void> {
    const spec = {
      name: `konsul-lb-${slot.index}`,
      binary: process.execPath,
      args: this.#args(slot),
      env: this.#env(slot),
    };
    slot.component = new Component(spec, this.#runDir);
    await slot.component.start();
  }

  async #waitReady(slot: ReplicaSlot): Promise<void> {
    const component = slot.component as Component;
    await component.whileRunning(async (signal) => {
      const deadline = Date.now() + 60_000;
      while (!signal.aborted) {
        if (await readyz(slot.http)) return;
        if (Date.now() > deadline) {
          throw new Error(`replica ${slot.index} not ready after 60s:\n${await component.tail()}`);
        }
        await sleep(200);
      }
    });
    this.#log(`replica ${slot.index} ready as pod ${slot.pod} on 127.0.0.1:${slot.http}`);
  }
}

async function readyz(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}
