// A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager on
// loopback, no kubelet. Tests create Nodes and Pods and write pod status themselves; the real
// EndpointSlice controller turns that into real EndpointSlices. The end-to-end suite adds
// kube-scheduler and kwok (fake kubelets), so that Deployments get scheduled, running Pods.

import { mkdtemp } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBinaries, KUBERNETES_VERSION } from "./binaries.ts";
import { httpsGet, type TlsClient, tlsClient } from "./https.ts";
import { createPki, type Pki, writeKubeconfig } from "./pki.ts";
import {
  Component,
  claimRunDir,
  freePorts,
  RUN_DIR_PREFIX,
  removeRunDir,
  removeStaleRunDirs,
} from "./processes.ts";

/** The first address of this range becomes the `kubernetes` Service's cluster IP. */
const SERVICE_CIDR = "10.0.0.0/24";
const KUBERNETES_SERVICE_IP = "10.0.0.1";

/**
 * What the EndpointSlice tests need, and what makes namespaces and their contents go away.
 * Deliberately not `*`: that includes node-lifecycle, which would taint and evict from Nodes that
 * never send a heartbeat because there is no kubelet.
 */
export const CONTROLLERS = [
  "endpointslice-controller",
  "endpoints-controller",
  "serviceaccount-controller",
  "garbage-collector-controller",
  "namespace-controller",
] as const;

export type ComponentName =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kwok";

export interface ControlPlaneOptions {
  readonly log?: (line: string) => void;
  /** Leave the run directory (logs, certificates, etcd data) behind after `stop`. */
  readonly keepRunDir?: boolean;
  /**
   * Controllers run on top of CONTROLLERS, such as deployment-controller and
   * replicaset-controller for workloads. Never node-lifecycle: see CONTROLLERS.
   */
  readonly extraControllers?: readonly string[];
  /** Also run kube-scheduler, which binds Pods to Nodes by their allocatable resources. */
  readonly scheduler?: boolean;
  /**
   * Also run kwok as the kubelet of every Node: it turns scheduled Pods Running with an IP from
   * `cidr` and deletes terminating ones, as its Stages in the `config` file say.
   */
  readonly kwok?: { readonly config: string; readonly cidr: string };
}

interface Binaries {
  readonly etcd: string;
  readonly "kube-apiserver": string;
  readonly "kube-controller-manager": string;
  readonly "kube-scheduler"?: string;
  readonly kwok?: string;
}

/** Start order; stop runs it backwards, so the API's clients go first. */
const ORDER: readonly ComponentName[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
];

export class ControlPlane {
  readonly runDir: string;
  /** Admin kubeconfig (client certificate in group system:masters). */
  readonly kubeconfig: string;
  readonly server: string;
  /** Version the binaries were built from; undefined when they came from KUBEBUILDER_ASSETS. */
  readonly expectedVersion: string | undefined;
  readonly components: ReadonlyMap<ComponentName, Component>;
  readonly #tls: TlsClient;
  readonly #log: (line: string) => void;
  readonly #keepRunDir: boolean;
  readonly #stopWatchdog: () => void;
  readonly #onExit = () => {
    for (const c of this.components.values()) c.killNow();
  };

  private constructor(init: {
    runDir: string;
    kubeconfig: string;
    server: string;
    expectedVersion: string | undefined;
    components: Map<ComponentName, Component>;
    tls: TlsClient;
    log: (line: string) => void;
    keepRunDir: boolean;
    stopWatchdog: () => void;
  }) {
    this.runDir = init.runDir;
    this.kubeconfig = init.kubeconfig;
    this.server = init.server;
    this.expectedVersion = init.expectedVersion;
    this.components = init.components;
    this.#tls = init.tls;
    this.#log = init.log;
    this.#keepRunDir = init.keepRunDir;
    this.#stopWatchdog = init.stopWatchdog;
    // `exit` handlers run synchronously, which is all a SIGKILL of a process group needs.
    process.once("exit", this.#onExit);
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? (() => {});
    removeStaleRunDirs(log);
    const names = ["etcd", "kube-apiserver", "kube-controller-manager"];
    if (options.scheduler) names.push("kube-scheduler");
    if (options.kwok) names.push("kwok");
    const binaries = (await ensureBinaries(names, { log })) as unknown as Binaries;
    for (const [name, path] of Object.entries(binaries)) log(`${name}: ${path}`);
    const fromAssets = Object.values(binaries).some(
      (path) => process.env.KUBEBUILDER_ASSETS && path.startsWith(process.env.KUBEBUILDER_ASSETS),
    );

    // Free ports are only free when asked; another process may take one before the component
    // binds it. A start that fails that way is retried on new ports.
    for (let attempt = 1; ; attempt++) {
      const plane = await ControlPlane.#create(binaries, fromAssets, options, log);
      try {
        await plane.#bootstrap();
        return plane;
      } catch (error) {
        const logs = await plane.logs();
        await plane.stop({ keepRunDir: true });
        const portClash = /address already in use/i.test(logs);
        if (portClash && attempt < 3) {
          log(`port clash, retrying (${attempt})`);
          await removeRunDir(plane.runDir);
          continue;
        }
        await removeRunDir(plane.runDir);
        throw new Error(
          `control plane failed to start: ${error instanceof Error ? error.message : error}\n${logs}`,
        );
      }
    }
  }

  static async #create(
    binaries: Binaries,
    fromAssets: boolean,
    options: ControlPlaneOptions,
    log: (line: string) => void,
  ): Promise<ControlPlane> {
    const runDir = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
    const stopWatchdog = await claimRunDir(runDir);
    const pki = await createPki(join(runDir, "pki"), KUBERNETES_SERVICE_IP);
    const [etcdClient, etcdPeer, apiserverPort, schedulerPort, kwokPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const server = `https://127.0.0.1:${apiserverPort}`;
    const kubeconfig = join(runDir, "kubeconfig");
    const kcmKubeconfig = join(runDir, "kube-controller-manager.kubeconfig");
    await writeKubeconfig(kubeconfig, server, pki.caCert, pki.admin, "konsul-lb-test-admin");
    await writeKubeconfig(
      kcmKubeconfig,
      server,
      pki.caCert,
      pki.controllerManager,
      "system:kube-controller-manager",
    );

    const components = new Map<ComponentName, Component>([
      ["etcd", new Component(etcdSpec(binaries.etcd, runDir, etcdClient, etcdPeer), runDir)],
      [
        "kube-apiserver",
        new Component(
          apiserverSpec(binaries["kube-apiserver"], runDir, pki, etcdClient, apiserverPort),
          runDir,
        ),
      ],
      [
        "kube-controller-manager",
        new Component(
          controllerManagerSpec(
            binaries["kube-controller-manager"],
            kcmKubeconfig,
            options.extraControllers ?? [],
          ),
          runDir,
        ),
      ],
    ]);
    // Both act as the admin: their own bootstrap roles would need client certificates the PKI
    // does not issue, and neither is what the tests exercise.
    if (binaries["kube-scheduler"]) {
      components.set(
        "kube-scheduler",
        new Component(
          schedulerSpec(binaries["kube-scheduler"], kubeconfig, schedulerPort, runDir),
          runDir,
        ),
      );
    }
    if (binaries.kwok && options.kwok) {
      components.set(
        "kwok",
        new Component(kwokSpec(binaries.kwok, kubeconfig, kwokPort, options.kwok), runDir),
      );
    }
    return new ControlPlane({
      runDir,
      kubeconfig,
      server,
      expectedVersion: fromAssets ? undefined : KUBERNETES_VERSION,
      components,
      tls: tlsClient(pki.caCert, pki.admin),
      log,
      keepRunDir: options.keepRunDir ?? false,
      stopWatchdog,
    });
  }

  async #bootstrap(): Promise<void> {
    const started = Date.now();
    for (const name of ORDER) {
      if (this.components.has(name)) await this.startComponent(name);
    }
    this.#log(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  component(name: ComponentName): Component {
    const component = this.components.get(name);
    if (!component) throw new Error(`no component ${name}`);
    return component;
  }

  /** Starts a stopped component with its original flags and port, and waits until it serves. */
  async startComponent(name: ComponentName): Promise<void> {
    const component = this.component(name);
    const started = Date.now();
    await component.start();
    await component.whileRunning((signal) => this.#waitReady(name, signal));
    this.#log(`${name} ready after ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  /** Stops one component; SIGKILL imitates a crash, SIGTERM an orderly shutdown. */
  async stopComponent(name: ComponentName, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.component(name).stop({ signal });
    this.#log(`${name} stopped (${signal})`);
  }

  async restartComponent(name: ComponentName, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.stopComponent(name, signal);
    await this.startComponent(name);
  }

  async #waitReady(name: ComponentName, signal: AbortSignal): Promise<void> {
    const timeoutMs = name === "etcd" ? 30_000 : 120_000;
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (!signal.aborted) {
      try {
        last = await this.#probe(name);
        if (last === "") return;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) {
        throw new Error(`${name} not ready after ${timeoutMs / 1000}s: ${last}`);
      }
      await sleep(200);
    }
  }

  /** Empty string when ready, else what is missing. */
  async #probe(name: ComponentName): Promise<string> {
    switch (name) {
      case "etcd": {
        const url = this.component("etcd")
          .spec.args.find((a) => a.startsWith("--advertise-client-urls="))
          ?.split("=")[1];
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { health?: string };
        return body.health === "true" ? "" : `health ${JSON.stringify(body)}`;
      }
      case "kube-apiserver": {
        const { status, body } = await httpsGet(`${this.server}/readyz`, this.#tls);
        return status === 200 ? "" : `/readyz ${status}: ${body.slice(0, 500)}`;
      }
      case "kube-controller-manager": {
        // With secure serving off there is no health endpoint. The service-account controller
        // creating the `default` ServiceAccount shows the manager authenticated, got its
        // per-controller credentials and runs its controllers.
        const { status } = await httpsGet(
          `${this.server}/api/v1/namespaces/default/serviceaccounts/default`,
          this.#tls,
        );
        return status === 200 ? "" : `default ServiceAccount: ${status}`;
      }
      case "kube-scheduler": {
        const port = flagValue(this.component(name), "--secure-port");
        const status = await insecureGetStatus(`https://127.0.0.1:${port}/healthz`);
        return status === 200 ? "" : `/healthz ${status}`;
      }
      case "kwok": {
        const address = flagValue(this.component(name), "--server-address");
        const res = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return res.status === 200 ? "" : `/healthz ${res.status}`;
      }
    }
  }

  /** GET against the API with the admin credential; for checks that need no client library. */
  get(path: string): ReturnType<typeof httpsGet> {
    return httpsGet(`${this.server}${path}`, this.#tls);
  }

  /** The tail of every component's log, for failure reports. */
  async logs(lines = 60): Promise<string> {
    const parts: string[] = [];
    for (const c of this.components.values()) {
      parts.push(`----- ${c.name} (${c.logFile}) -----\n${await c.tail(lines)}`);
    }
    return parts.join("\n");
  }

  /** Components that died without being asked to. */
  crashed(): Component[] {
    return [...this.components.values()].filter((c) => c.unexpectedExit !== undefined);
  }

  /** Stops everything, the API's clients first, and removes the run directory. */
  async stop(options: { keepRunDir?: boolean } = {}): Promise<void> {
    for (const name of [...ORDER].reverse())
      await this.components.get(name)?.stop({ graceMs: 5000 });
    process.off("exit", this.#onExit);
    this.#stopWatchdog();
    if (options.keepRunDir ?? this.#keepRunDir) {
      this.#log(`kept ${this.runDir}`);
    } else {
      await removeRunDir(this.runDir);
    }
  }
}

function etcdSpec(binary: string, runDir: string, clientPort: number, peerPort: number) {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return {
    name: "etcd",
    binary,
    args: [
      "--name=default",
      `--data-dir=${join(runDir, "etcd")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      // Test data is disposable; fsync on every write would dominate the API's latency.
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
  };
}

function apiserverSpec(
  binary: string,
  runDir: string,
  pki: Pki,
  etcdPort: number,
  securePort: number,
) {
  return {
    name: "kube-apiserver",
    binary,
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // The endpoint reconciler refuses a loopback address for the `kubernetes` Service's
      // endpoints. Nothing runs in Pods here to use them, so there is nothing to publish.
      "--endpoint-reconciler-type=none",
      `--secure-port=${securePort}`,
      `--cert-dir=${join(runDir, "apiserver")}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=RBAC",
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--allow-privileged=true",
      "--profiling=false",
      "--v=1",
    ],
  };
}

function controllerManagerSpec(binary: string, kubeconfig: string, extra: readonly string[]) {
  return {
    name: "kube-controller-manager",
    binary,
    args: [
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      // No health or metrics endpoint, so no serving certificate and no port to allocate.
      "--secure-port=0",
      `--controllers=${[...CONTROLLERS, ...extra].join(",")}`,
      // Each controller acts as its own service account with its bootstrap role, as on a real
      // cluster, so RBAC problems in the controllers show up here too.
      "--use-service-account-credentials=true",
      "--v=1",
    ],
  };
}

function schedulerSpec(binary: string, kubeconfig: string, port: number, runDir: string) {
  return {
    name: "kube-scheduler",
    binary,
    args: [
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      // Served only for the readiness probe; /healthz is open to anonymous requests by default.
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${join(runDir, "kube-scheduler")}`,
      "--v=1",
    ],
  };
}

function kwokSpec(
  binary: string,
  kubeconfig: string,
  port: number,
  options: { readonly config: string; readonly cidr: string },
) {
  return {
    name: "kwok",
    binary,
    args: [
      `--kubeconfig=${kubeconfig}`,
      // kwok has no built-in Stages; without a config it refuses to start.
      `--config=${options.config}`,
      "--manage-all-nodes=true",
      `--cidr=${options.cidr}`,
      `--server-address=127.0.0.1:${port}`,
    ],
  };
}

function flagValue(component: Component, flag: string): string | undefined {
  return component.spec.args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/**
 * The status of a GET to a loopback health endpoint. kube-scheduler serves it over HTTPS with a
 * self-signed certificate of its own, which nothing could verify; only the status matters.
 */
function insecureGetStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
