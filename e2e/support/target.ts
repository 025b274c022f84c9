// Where the release runs and what the suite may do to it. The tests are the same in both modes;
// only these operations differ:
//   local: replicas are processes of the runner (e2e/local/), reached on loopback ports;
//          a crash is SIGKILL of the process, which the runner then starts again.
//   kind:  replicas are the Deployment's pods, reached through kubectl port-forward;
//          a crash is the pod deleted at once, which the ReplicaSet replaces.

import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { clients, kubeconfigPath, kubectl, readyPods, waitFor } from "./cluster.ts";
import type { DnsAddress, Replica } from "./discovery.ts";
import { ENV, FULLNAME, type Mode, mode, NAMESPACE, required } from "./env.ts";

export interface Target {
  readonly mode: Mode;
  /** The discovery API of the release as one address (kind: the Service; local: replica 0). */
  readonly url: string;
  readonly dns: DnsAddress;
  /** The replicas serving now, each with its own address, by pod name. */
  replicas(): Promise<Replica[]>;
  /** Kills the replica of this pod without warning; it comes back as a new candidate. */
  crash(pod: string): Promise<void>;
  /** After `helm upgrade`: the replicas run the new manifest, ready. */
  rollout(): Promise<void>;
  /** After `helm uninstall`: the replicas are gone. */
  uninstalled(): Promise<void>;
  /** After a new `helm install` (without --wait): the release's replicas serve, ready. */
  installed(): Promise<void>;
  /** Releases what the target holds in this process (port-forwards). */
  close(): Promise<void>;
}

export function target(): Target {
  return mode() === "local" ? new LocalTarget() : new KindTarget();
}

function parseDns(value: string): DnsAddress {
  const cut = value.lastIndexOf(":");
  return { host: value.slice(0, cut), port: Number(value.slice(cut + 1)) };
}

// ---- local ----

interface ControlReplica extends Replica {
  readonly ready: boolean;
}

class LocalTarget implements Target {
  readonly mode = "local";
  readonly url = required(ENV.url);
  readonly dns = parseDns(required(ENV.dns));
  readonly #control = required(ENV.control);

  async #call(method: string, path: string): Promise<unknown> {
    const response = await fetch(`${this.#control}${path}`, { method });
    const body = (await response.json()) as { error?: string };
    if (!response.ok) throw new Error(`${method} ${path}: ${body.error ?? response.status}`);
    return body;
  }

  async replicas(): Promise<Replica[]> {
    const { replicas } = (await this.#call("GET", "/replicas")) as { replicas: ControlReplica[] };
    return replicas
      .filter((r) => r.ready)
      .map(({ pod, url, internalUrl, dns }) => ({ pod, url, internalUrl, dns }));
  }

  async crash(pod: string): Promise<void> {
    await this.#call("POST", `/replicas/${encodeURIComponent(pod)}/crash`);
  }

  async rollout(): Promise<void> {
    await this.#call("POST", "/release/reload");
  }

  async uninstalled(): Promise<void> {
    await this.#call("POST", "/release/stop");
  }

  async installed(): Promise<void> {
    await this.#call("POST", "/release/start");
  }

  async close(): Promise<void> {}
}

// ---- kind ----

interface Forward {
  readonly child: ChildProcess;
  readonly replica: Promise<Replica>;
}

class KindTarget implements Target {
  readonly mode = "kind";
  readonly url = required(ENV.url);
  readonly dns = parseDns(required(ENV.dns));
  readonly #forwards = new Map<string, Forward>();
  readonly #onExit = () => {
    for (const forward of this.#forwards.values()) forward.child.kill("SIGKILL");
  };

  constructor() {
    process.once("exit", this.#onExit);
  }

  async #selector(): Promise<string> {
    const deployment = await clients().apps.readNamespacedDeployment({
      namespace: NAMESPACE,
      name: FULLNAME,
    });
    const labels = deployment.spec?.selector.matchLabels ?? {};
    return Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }

  async replicas(): Promise<Replica[]> {
    const pods = await readyPods(NAMESPACE, await this.#selector());
    const names = new Set(pods.map((p) => p.metadata?.name as string));
    for (const [pod, forward] of this.#forwards) {
      if (!names.has(pod)) {
        forward.child.kill();
        this.#forwards.delete(pod);
      }
    }
    const replicas = await Promise.all([...names].sort().map((pod) => this.#forward(pod)));
    return replicas;
  }

  /** A port-forward to one pod's HTTP, internal API and DNS (TCP) ports, on free local ports. */
  #forward(pod: string): Promise<Replica> {
    const existing = this.#forwards.get(pod);
    if (existing && existing.child.exitCode === null) return existing.replica;
    const child = spawn(
      "kubectl",
      [
        "--kubeconfig",
        kubeconfigPath(),
        "-n",
        NAMESPACE,
        "port-forward",
        `pod/${pod}`,
        "--address=127.0.0.1",
        ":8080",
        ":8081",
        ":5353",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const replica = new Promise<Replica>((resolve, reject) => {
      let output = "";
      const ports = new Map<string, number>();
      const timer = setTimeout(() => reject(new Error(`port-forward ${pod}:\n${output}`)), 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk;
        for (const m of output.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) {
          ports.set(m[2] as string, Number(m[1]));
        }
        const http = ports.get("8080");
        const internal = ports.get("8081");
        const dns = ports.get("5353");
        if (http && internal && dns) {
          clearTimeout(timer);
          resolve({
            pod,
            url: `http://127.0.0.1:${http}`,
            internalUrl: `http://127.0.0.1:${internal}`,
            dns: { host: "127.0.0.1", port: dns },
          });
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`port-forward ${pod} exited (${code}):\n${output}`));
      });
    });
    replica.catch(() => this.#forwards.delete(pod));
    this.#forwards.set(pod, { child, replica });
    return replica;
  }

  async crash(pod: string): Promise<void> {
    this.#forwards.get(pod)?.child.kill();
    this.#forwards.delete(pod);
    // No grace period: the Deployment's ReplicaSet starts a replacement at once, as after a
    // node failure. (The kubelet still sends SIGTERM; a pod cannot be SIGKILLed from the API.)
    await kubectl([
      "-n",
      NAMESPACE,
      "delete",
      "pod",
      pod,
      "--grace-period=0",
      "--force",
      "--wait=false",
    ]);
  }

  async rollout(): Promise<void> {
    await kubectl([
      "-n",
      NAMESPACE,
      "rollout",
      "status",
      `deployment/${FULLNAME}`,
      "--timeout=300s",
    ]);
    const deployment = await clients().apps.readNamespacedDeployment({
      namespace: NAMESPACE,
      name: FULLNAME,
    });
    const want = deployment.spec?.replicas ?? 1;
    await waitFor(
      `${want} ready replicas and no old ones`,
      async () => {
        const all = await clients().core.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: await this.#selector(),
        });
        const ready = await this.replicas();
        return all.items.length === want && ready.length === want ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
  }

  async uninstalled(): Promise<void> {
    await waitFor(
      "the release's pods to be gone",
      async () => {
        const list = await clients().core.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: "app.kubernetes.io/instance=konsul-lb",
        });
        return list.items.length === 0 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    await this.close();
  }

  async installed(): Promise<void> {
    // The Deployment's pods start as after an upgrade; kind.sh's port-forward to the Service
    // reconnects by itself.
    await this.rollout();
  }

  async close(): Promise<void> {
    for (const forward of this.#forwards.values()) forward.child.kill();
    this.#forwards.clear();
    process.off("exit", this.#onExit);
    await sleep(0);
  }
}
