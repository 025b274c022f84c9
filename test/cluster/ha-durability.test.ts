// --connection-durability against the real kube-apiserver: with `write`, an open or release the
// leader acknowledged survives its kill -9 at once after the answer (its successor counts exactly
// what was acknowledged); and the cost of that, side by side with `interval` in one run: the
// latency of POST …/connections made directly on each mode's leader, requests alternating
// between the two so that both see the same machine.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServingCli, serveCli } from "../support/cli.ts";
import {
  type AccountToken,
  clients,
  clusterAvailable,
  createNamespace,
  createNode,
  createService,
  deleteNamespace,
  deleteNode,
  serviceAccountToken,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { createWeightedPods, installPolicyCrd, serverSideApplyPolicy } from "./support/policies.ts";
import { connectionCounts, haStatus, open, release } from "./support/replica-api.ts";

const MODES = ["interval", "write"] as const;
type Mode = (typeof MODES)[number];
/** Opens timed per mode; bounded, one at a time. */
const SAMPLES = 150;
/** The Pods behind web, each weight 1. */
const WEB_PODS = 3;

interface Replica {
  readonly name: string;
  readonly mode: Mode;
  readonly url: string;
  readonly internalUrl: string | null;
  readonly token: string;
  readonly cli: ServingCli;
  killed: boolean;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

describe.skipIf(!clusterAvailable())("connection durability", () => {
  let core: CoreV1Api;
  let namespace = "";
  let workDir = "";
  let account: AccountToken;
  const node = `ha-durability-${Date.now().toString(36)}`;
  const replicas: Replica[] = [];

  async function startReplica(name: string, mode: Mode): Promise<Replica> {
    const cli = await serveCli(
      [
        "--source",
        "kubernetes",
        "--kubeconfig",
        testKubeconfigPath(),
        "--lease-namespace",
        namespace,
        // One Lease and one set of state ConfigMaps per mode: two independent groups.
        "--lease-name",
        `leader-${mode}`,
        "--state-configmap-prefix",
        `state-${mode}`,
        "--lease-duration",
        "3s",
        "--renew-deadline",
        "2s",
        "--retry-period",
        "500ms",
        "--state-interval",
        "1s",
        "--connection-durability",
        mode,
        "--internal-addr",
        "127.0.0.1:0",
        "--token-file",
        account.path,
      ],
      { POD_NAME: name },
    );
    const replica: Replica = {
      name,
      mode,
      url: cli.url,
      internalUrl: cli.internalUrl,
      token: account.token,
      cli,
      killed: false,
    };
    replicas.push(replica);
    return replica;
  }

  async function leaderOf(mode: Mode): Promise<Replica> {
    return waitFor(
      `a leader of the ${mode} group that serves web`,
      async () => {
        for (const replica of replicas.filter((r) => r.mode === mode && !r.killed)) {
          const status = await haStatus(replica, 2_000).catch(() => null);
          if (!status?.leading) continue;
          // Ready is not enough: the EndpointSlice controller may not have written web's slice
          // yet (once it had not seen the test's Node 7 s after it was created), and an open
          // then finds no endpoints.
          const endpoints = await fetch(`${replica.url}/v1/services/${namespace}/web/endpoints`)
            .then((res) => (res.ok ? (res.json() as Promise<{ endpoints: unknown[] }>) : null))
            .catch(() => null);
          if (endpoints?.endpoints.length === WEB_PODS) return replica;
        }
        return undefined;
      },
      { timeoutMs: 60_000 },
    );
  }

  function diagnostics(): string {
    return replicas.map((r) => `----- ${r.name} -----\n${r.cli.output()}`).join("\n");
  }

  beforeAll(async () => {
    ({ core } = clients());
    workDir = await mkdtemp(join(tmpdir(), "konsul-lb-durability-"));
    await installPolicyCrd();
    namespace = await createNamespace(core, "ha-durability-");
    account = await serviceAccountToken(core, namespace, "konsul-lb", workDir);
    await createNode(core, node, { region: "r", zone: "r-a" });
    await createService(core, namespace, "web", { app: "web" }, [{ name: "http", port: 80 }]);
    await createWeightedPods(core, {
      namespace,
      node,
      app: "web",
      weights: Array.from({ length: WEB_PODS }, () => 1),
      addressPrefix: "10.46.0",
    });
    // Connections live an hour: none expires during the test.
    await serverSideApplyPolicy(namespace, "web", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "least-connections",
      leastConnections: { connectionTimeout: "1h" },
    });
    for (const mode of MODES) {
      await startReplica(`${mode}-a`, mode);
      await startReplica(`${mode}-b`, mode);
    }
  }, 240_000);

  afterAll(async () => {
    for (const replica of replicas) {
      if (!replica.killed) replica.cli.child.kill("SIGKILL");
    }
    await Promise.all(replicas.map((r) => r.cli.exited));
    if (namespace) await deleteNamespace(core, namespace);
    await deleteNode(core, node);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("with write, what the leader acknowledged survives its kill -9 right after the answer", async () => {
    const serviceKey = `${namespace}/web`;
    try {
      const leaders = { interval: await leaderOf("interval"), write: await leaderOf("write") };
      // The cost, side by side: one open on each leader in turn, each released at once.
      const latencies: Record<Mode, number[]> = { interval: [], write: [] };
      for (let i = 0; i < SAMPLES; i++) {
        for (const mode of MODES) {
          const started = performance.now();
          const answer = await open(leaders[mode], serviceKey);
          latencies[mode].push(performance.now() - started);
          expect(answer.status, `${mode} open ${i}`).toBe(201);
          expect(await release(leaders[mode], answer.id as string)).toBe(204);
        }
      }
      const figures = MODES.map((mode) => {
        const sorted = [...latencies[mode]].sort((a, b) => a - b);
        return { mode, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
      });
      const [interval, write] = figures as [(typeof figures)[0], (typeof figures)[0]];
      console.log(
        `[durability] POST …/connections on the leader, n=${SAMPLES} each, alternating: ` +
          figures
            .map((f) => `${f.mode} p50 ${f.p50.toFixed(1)} ms p99 ${f.p99.toFixed(1)} ms`)
            .join("; ") +
          `; write/interval p50 ${(write.p50 / interval.p50).toFixed(1)}x, p99 ${(write.p99 / interval.p99).toFixed(1)}x`,
      );

      // Acknowledged on the write leader, then kill -9 the moment the last answer arrives.
      const leader = leaders.write;
      const acknowledged: string[] = [];
      for (let i = 0; i < 20; i++) {
        const answer = await open(leader, serviceKey);
        expect(answer.status).toBe(201);
        acknowledged.push(answer.id as string);
      }
      // Two of them released, acknowledged as well: they must not count after the failover.
      for (const id of acknowledged.splice(0, 2)) {
        expect(await release(leader, id)).toBe(204);
      }
      leader.cli.child.kill("SIGKILL");
      leader.killed = true;
      const successor = await leaderOf("write");
      expect(successor.name).not.toBe(leader.name);
      await waitFor(
        "the successor to count exactly the acknowledged connections",
        async () => {
          const counts = await connectionCounts(successor, serviceKey);
          const total = Object.values(counts).reduce((a, b) => a + b, 0);
          return total === acknowledged.length ? true : undefined;
        },
        { timeoutMs: 15_000 },
      );
      // And each one by id: releasing it on the successor finds it.
      for (const id of acknowledged) {
        expect(await release(successor, id), id).toBe(204);
      }
    } catch (error) {
      console.log(diagnostics());
      throw error;
    }
  }, 240_000);
});
