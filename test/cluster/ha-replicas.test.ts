// Three `konsul-lb serve --source kubernetes` processes against the real kube-apiserver: one
// leader at a time, the same answers from every replica, connections counted once whichever
// replica they went through, and failovers (kill -9, SIGTERM, SIGSTOP) that lose nothing.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { STATE_LABEL } from "../../src/ha/configmaps.ts";
import { decodeSnapshot, SNAPSHOT_KEY, type Snapshot } from "../../src/ha/snapshot.ts";
import { type ServingCli, serveCli } from "../support/cli.ts";
import { watchContinuously } from "../support/watch.ts";
import {
  type AccountToken,
  clients,
  clusterAvailable,
  createNamespace,
  createNode,
  createService,
  deleteNamespace,
  deleteNode,
  loadKubeConfig,
  serviceAccountToken,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import {
  createWeightedPods,
  installPolicyCrd,
  POLICY_RESOURCE,
  serverSideApplyPolicy,
} from "./support/policies.ts";
import type { HaStatus } from "./support/replica-api.ts";

// Test-sized leader election: failovers in seconds. The defaults (15 s / 10 s / 2 s) scale
// every figure below by five.
const LEASE_MS = 3_000;
const RENEW_MS = 2_000;
const RETRY_MS = 500;
const STATE_INTERVAL_MS = 250;
const LEASE_NAME = "konsul-lb-leader";
const PREFIX = "konsul-lb-state";
/** Requests, process starts and watches on a loaded two-core machine take their time. */
const SLACK_MS = 1_000;
const WEIGHTS = [1, 2, 3, 4, 5];
/**
 * For the tests that ask the replicas tens of thousands of questions one after another: their
 * time follows the machine's load (40-65 s on a quiet one, past two minutes at load average 11),
 * and what they check is agreement, not speed; the limit only stops a hang.
 */
const ANSWER_HEAVY_TIMEOUT_MS = 600_000;

interface Replica {
  readonly name: string;
  readonly cli: ServingCli;
  killedAt: number | null;
}

interface Interval {
  replica: string;
  epoch: number;
  start: number;
  end: number;
}

describe.skipIf(!clusterAvailable())("three replicas against the real API server", () => {
  let core: CoreV1Api;
  let namespace: string;
  const node = `ha-node-${Date.now().toString(36)}`;
  const replicas: Replica[] = [];
  /** Every replica that ever ran, for the one-leader-at-a-time check. */
  const everyone: Replica[] = [];
  const leaseEvents: { at: number; holder: string; transitions: number }[] = [];
  const snapshots: { at: number; name: string; snapshot: Snapshot }[] = [];
  const stopWatches: (() => void)[] = [];
  const journal: string[] = [];
  let serviceKey: string;
  /** The operator's ServiceAccount: every replica shows its token on the internal API. */
  let account: AccountToken;
  let scratch: string;

  async function startReplica(name: string): Promise<Replica> {
    const cli = await serveCli(
      [
        "--source",
        "kubernetes",
        "--kubeconfig",
        testKubeconfigPath(),
        "--lease-namespace",
        namespace,
        "--lease-duration",
        `${LEASE_MS}ms`,
        "--renew-deadline",
        `${RENEW_MS}ms`,
        "--retry-period",
        `${RETRY_MS}ms`,
        "--state-interval",
        `${STATE_INTERVAL_MS}ms`,
        "--internal-addr",
        "127.0.0.1:0",
        "--token-file",
        account.path,
      ],
      { POD_NAME: name },
    );
    const replica: Replica = { name, cli, killedAt: null };
    replicas.push(replica);
    everyone.push(replica);
    await waitFor(`${name} to serve web with its policy`, async () => {
      const response = await fetch(`${cli.url}/v1/services`);
      const body = (await response.json()) as {
        services: {
          namespace: string;
          name: string;
          policy: string | null;
          endpoints: { total: number };
        }[];
      };
      const web = body.services.find((s) => `${s.namespace}/${s.name}` === serviceKey);
      if (web?.policy !== "web" || web.endpoints.total !== WEIGHTS.length) return undefined;
      // Ready as a Service would see it: the state loaded and the leader known.
      const ready = await fetch(`${cli.url}/readyz`);
      await ready.body?.cancel();
      return ready.status === 200 ? true : undefined;
    });
    return replica;
  }

  function live(): Replica[] {
    return replicas.filter((r) => r.killedAt === null);
  }

  async function status(replica: Replica): Promise<HaStatus> {
    const response = await fetch(`${replica.cli.internalUrl}/internal/v1/ha`, {
      headers: { authorization: `Bearer ${account.token}` },
    });
    return (await response.json()) as HaStatus;
  }

  /** The one replica that says it leads, once the others agree it does. */
  async function leader(timeoutMs = LEASE_MS + RETRY_MS + 5_000): Promise<Replica> {
    return waitFor(
      "one leader that every replica knows",
      async () => {
        const all = await Promise.all(live().map(async (r) => [r, await status(r)] as const));
        const leading = all.filter(([, s]) => s.leading);
        if (leading.length !== 1) return undefined;
        const [replica, own] = leading[0] as (typeof all)[number];
        return all.every(([, s]) => s.leader?.identity === own.identity) ? replica : undefined;
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  /** Polls only until some replica leads, for timing a failover. */
  async function firstLeader(except: Replica, timeoutMs: number): Promise<Replica> {
    return waitFor(
      "a new leader",
      async () => {
        for (const r of live()) {
          if (r !== except && (await status(r)).leading) return r;
        }
        return undefined;
      },
      { timeoutMs, intervalMs: 10 },
    );
  }

  async function kill(replica: Replica, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    replica.killedAt = Date.now();
    replica.cli.child.kill(signal);
    await replica.cli.exited;
    replicas.splice(replicas.indexOf(replica), 1);
  }

  /** Open connections per endpoint, as a replica's metrics count them. */
  async function counts(replica: Replica): Promise<Record<string, number>> {
    const text = await (await fetch(`${replica.cli.url}/metrics`)).text();
    const result: Record<string, number> = {};
    for (const line of text.split("\n")) {
      const match =
        /^konsul_lb_instance_connections\{service="([^"]+)",instance="([^"]+)"\} (\d+)/.exec(line);
      if (match && match[1] === serviceKey && Number(match[3]) > 0) {
        result[match[2] as string] = Number(match[3]);
      }
    }
    return result;
  }

  async function open(replica: Replica): Promise<{ id: string; identity: string }> {
    const response = await fetch(`${replica.cli.url}/v1/services/${serviceKey}/connections`, {
      method: "POST",
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { id: string; endpoint: { identity: string } };
    journal.push(`${Date.now()} open ${body.id} via ${replica.name} -> ${body.endpoint.identity}`);
    return { id: body.id, identity: body.endpoint.identity };
  }

  async function release(replica: Replica, id: string): Promise<number> {
    const response = await fetch(`${replica.cli.url}/v1/connections/${id}`, { method: "DELETE" });
    await response.body?.cancel();
    journal.push(`${Date.now()} release ${id} via ${replica.name}: ${response.status}`);
    return response.status;
  }

  /** Counts per endpoint identity, in identity order, as `counts` gives them. */
  function tally(open: Map<string, string>): Record<string, number> {
    const result: Record<string, number> = {};
    for (const identity of [...open.values()].sort())
      result[identity] = (result[identity] ?? 0) + 1;
    return result;
  }

  /**
   * Polls a replica's counts until they are those of `expected` (id → endpoint). On failure,
   * names the connections the latest snapshot lists wrongly, with what the test did to them.
   */
  async function countsBecome(
    replica: Replica,
    expected: Map<string, string>,
    context = "",
  ): Promise<void> {
    let last: Record<string, number> = {};
    try {
      await waitFor(`${replica.name} to count ${expected.size} connections`, async () => {
        last = await counts(replica);
        return same(last, tally(expected)) ? true : undefined;
      });
    } catch (error) {
      const listed = Object.values(
        snapshots.at(-1)?.snapshot.services[serviceKey]?.connections ?? {},
      )
        .flat()
        .map(([id]) => id);
      const history = (id: string) => journal.filter((line) => line.includes(id)).join("; ");
      const extra = listed
        .filter((id) => !expected.has(id))
        .map((id) => `extra ${id}: ${history(id)}`);
      const missing = [...expected.keys()]
        .filter((id) => !listed.includes(id))
        .map((id) => `missing ${id}: ${history(id)}`);
      // What each replica said about leadership, state and connections: a failing round is rare
      // and cannot be replayed, so its evidence has to be in the message.
      const said = everyone.map((r) => {
        const lines = r.cli
          .output()
          .split("\n")
          .filter((line) => /leader|balancer state|connection|forward|releas/i.test(line));
        return `--- ${r.name}${r.killedAt === null ? "" : " (killed)"}:\n${lines.slice(-25).join("\n")}`;
      });
      throw new Error(
        `${context} ${replica.name} counts ${JSON.stringify(last)}, expected ` +
          `${JSON.stringify(tally(expected))}\n${[...extra, ...missing].join("\n")}\n` +
          said.join("\n"),
        { cause: error },
      );
    }
  }

  function same(a: Record<string, number>, b: Record<string, number>): boolean {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => a[key] === b[key]);
  }

  async function pick(replica: Replica, query: string): Promise<string> {
    const response = await fetch(`${replica.cli.url}/v1/services/${serviceKey}/pick?${query}`);
    const body = (await response.json()) as { endpoint: { identity: string } };
    return body.endpoint.identity;
  }

  /** Leadership intervals from every replica's log; a killed replica's ends when it died. */
  function intervals(): Interval[] {
    const result: Interval[] = [];
    for (const replica of everyone) {
      let current: Interval | null = null;
      for (const line of replica.cli.output().split("\n")) {
        let entry: { msg?: string; at?: string; until?: string; epoch?: number };
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // not a log line, or the last one of a killed process
        }
        if (entry.msg === "became leader") {
          current = {
            replica: replica.name,
            epoch: entry.epoch as number,
            start: Date.parse(entry.at as string),
            end: Number.POSITIVE_INFINITY,
          };
          result.push(current);
        } else if (entry.msg === "stopped leading" && current) {
          current.end = Date.parse(entry.until as string);
          current = null;
        }
      }
      if (current && replica.killedAt !== null) current.end = replica.killedAt;
    }
    return result.sort((a, b) => a.start - b.start);
  }

  function expectOneLeaderAtATime(): void {
    const list = intervals();
    for (let i = 1; i < list.length; i++) {
      const [before, after] = [list[i - 1] as Interval, list[i] as Interval];
      expect(
        after.start,
        `${after.replica} led before ${before.replica} stopped`,
      ).toBeGreaterThanOrEqual(before.end);
      expect(after.epoch).toBeGreaterThan(before.epoch);
    }
    // The Lease: every new holder counted as a transition, never two holders at once.
    for (let i = 1; i < leaseEvents.length; i++) {
      const [before, after] = [leaseEvents[i - 1], leaseEvents[i]] as [
        (typeof leaseEvents)[number],
        (typeof leaseEvents)[number],
      ];
      expect(after.transitions).toBeGreaterThanOrEqual(before.transitions);
      if (after.holder !== "" && after.holder !== before.holder) {
        expect(after.transitions).toBe(before.transitions + 1);
      }
    }
  }

  /** The policy of web: connections live an hour, so that no test outlives them. */
  async function applyPolicy(extra: Record<string, unknown>): Promise<void> {
    await serverSideApplyPolicy(namespace, "web", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "least-connections",
      leastConnections: { connectionTimeout: "1h" },
      ...extra,
    });
  }

  async function watchAll(): Promise<void> {
    const kc = loadKubeConfig();
    const leases = await watchContinuously(
      kc,
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      {},
      (_type, object: any) => {
        if (object?.metadata?.name !== LEASE_NAME) return;
        leaseEvents.push({
          at: Date.now(),
          holder: object.spec?.holderIdentity ?? "",
          transitions: object.spec?.leaseTransitions ?? 0,
        });
      },
    );
    const maps = await watchContinuously(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      { labelSelector: `${STATE_LABEL}=${PREFIX}` },
      (type, object: any) => {
        if (type !== "ADDED" && type !== "MODIFIED") return;
        snapshots.push({
          at: Date.now(),
          name: object.metadata.name,
          snapshot: decodeSnapshot(object.data[SNAPSHOT_KEY]),
        });
      },
    );
    stopWatches.push(
      () => leases.stop(),
      () => maps.stop(),
    );
  }

  beforeAll(async () => {
    ({ core } = clients());
    await installPolicyCrd();
    namespace = await createNamespace(core, "ha-replicas-");
    scratch = await mkdtemp(join(tmpdir(), "konsul-lb-ha-replicas-"));
    account = await serviceAccountToken(core, namespace, "konsul-lb", scratch);
    serviceKey = `${namespace}/web`;
    await createNode(core, node, { region: "r", zone: "r-a" });
    await createService(core, namespace, "web", { app: "web" }, [{ name: "http", port: 80 }]);
    await createWeightedPods(core, {
      namespace,
      node,
      app: "web",
      weights: WEIGHTS,
      addressPrefix: "10.44.0",
    });
    await applyPolicy({});
    await watchAll();
    await Promise.all(["replica-a", "replica-b", "replica-c"].map((name) => startReplica(name)));
  });

  // A failing round is rare and cannot be replayed: whatever failed, print what every replica
  // said, those killed during the test included.
  afterEach(({ task }) => {
    if (task.result?.state !== "fail") return;
    for (const replica of everyone) {
      const state = replica.killedAt === null ? "" : ` (killed at ${replica.killedAt})`;
      console.error(`----- ${replica.name}${state} -----\n${replica.cli.output()}`);
    }
  });

  afterAll(async () => {
    for (const stop of stopWatches) stop();
    for (const replica of [...replicas]) await kill(replica, "SIGTERM");
    if (scratch) await rm(scratch, { recursive: true, force: true });
    if (core) {
      await deleteNamespace(core, namespace);
      await deleteNode(core, node);
    }
  });

  it("one leader that every replica names, with konsul_lb_leader 1 on it alone", async () => {
    const current = await leader();
    for (const replica of live()) {
      const text = await (await fetch(`${replica.cli.url}/metrics`)).text();
      expect(text).toContain(`\nkonsul_lb_leader ${replica === current ? 1 : 0}\n`);
    }
    expectOneLeaderAtATime();
  });

  it(
    "hash strategies give every key the same endpoint on every replica (10,000 keys)",
    async () => {
      for (const strategy of ["ring-hash", "maglev"]) {
        const answers = await Promise.all(
          live().map(async (replica) => {
            const result: string[] = new Array(10_000);
            // Eight requests at a time per replica.
            await Promise.all(
              Array.from({ length: 8 }, async (_, lane) => {
                for (let key = lane; key < 10_000; key += 8) {
                  result[key] = await pick(replica, `lb=${strategy}&session-key=user-${key}`);
                }
              }),
            );
            return result;
          }),
        );
        const [first, ...others] = answers as [string[], ...string[][]];
        for (const other of others) expect(other).toEqual(first);
        // And the keys spread over every endpoint.
        expect(new Set(first).size).toBe(WEIGHTS.length);
      }
    },
    ANSWER_HEAVY_TIMEOUT_MS,
  );

  it(
    "round-robin and weighted round-robin keep per-replica cursors; global shares stay even",
    async () => {
      const total = WEIGHTS.reduce((a, b) => a + b, 0);
      for (const strategy of ["round-robin", "weighted-round-robin"]) {
        const perReplica = strategy === "round-robin" ? 1_000 : 67 * total;
        const counts: Record<string, number> = {};
        await Promise.all(
          live().map(async (replica) => {
            for (let i = 0; i < perReplica; i++) {
              const identity = await pick(replica, `lb=${strategy}`);
              counts[identity] = (counts[identity] ?? 0) + 1;
            }
          }),
        );
        const picks = perReplica * live().length;
        for (const [i, weight] of WEIGHTS.entries()) {
          const share =
            strategy === "round-robin" ? picks / WEIGHTS.length : (picks * weight) / total;
          // Each replica is off by at most one per endpoint from its exact share.
          expect(Math.abs((counts[`web-${i}`] ?? 0) - share)).toBeLessThanOrEqual(live().length);
        }
      }
    },
    ANSWER_HEAVY_TIMEOUT_MS,
  );

  it("a connection opened through any replica is counted once and released through any", async () => {
    const current = await leader();
    const opened = new Map<string, string>();
    const list = live();
    for (let i = 0; i < 30; i++) {
      const { id, identity } = await open(list[i % list.length] as Replica);
      opened.set(id, identity);
    }
    // Least-connections over the global count: 30 connections, weights 1..5 → 2, 4, 6, 8, 10.
    expect(await counts(current)).toEqual(tally(opened));
    expect(tally(opened)).toEqual({ "web-0": 2, "web-1": 4, "web-2": 6, "web-3": 8, "web-4": 10 });
    // Followers count them too, within a snapshot interval or so.
    for (const replica of list) await countsBecome(replica, opened);
    let i = 0;
    for (const id of opened.keys()) {
      const through = list[(i++ + 1) % list.length] as Replica;
      expect(await release(through, id)).toBe(204);
      // Released once: a second release through yet another replica is refused.
      expect(await release(list[(i + 1) % list.length] as Replica, id)).toBe(404);
    }
    expect(await counts(current)).toEqual({});
  });

  // ---- failovers ----

  let replacements = 0;
  /** A new replica in place of one that died, as a Deployment would start one. */
  function replace(): Promise<Replica> {
    replacements++;
    return startReplica(`replica-r${replacements}`);
  }

  /** The web service's state in the newest snapshot a given epoch wrote. */
  function lastWritten(
    epoch: number,
  ): { pickers?: unknown; connections: number; ids: Set<string> } | undefined {
    // Newest by sequence, not by arrival: a watch that resumes after a 410 delivers again.
    let newest: Snapshot | undefined;
    for (const { snapshot } of snapshots) {
      if (snapshot.epoch === epoch && (!newest || snapshot.sequence > newest.sequence)) {
        newest = snapshot;
      }
    }
    if (!newest) return undefined;
    const state = newest.services[serviceKey];
    if (!state) return { connections: 0, ids: new Set() };
    const ids = new Set(
      Object.values(state.connections ?? {})
        .flat()
        .map(([id]) => id),
    );
    return { pickers: state.pickers, connections: ids.size, ids };
  }

  function firstWritten(epoch: number) {
    const found = snapshots.find(({ snapshot }) => snapshot.epoch === epoch);
    return found?.snapshot.services[serviceKey];
  }

  async function epochOf(replica: Replica): Promise<number> {
    return (await status(replica)).epoch as number;
  }

  /** Waits until the leader's snapshot shows `count` open connections of web. */
  async function snapshotHas(epoch: number, count: number): Promise<void> {
    await waitFor(`a snapshot of epoch ${epoch} with ${count} connections`, async () =>
      lastWritten(epoch)?.connections === count ? true : undefined,
    );
  }

  /**
   * Whoever leads, and its epoch, once its latest snapshot lists exactly these connections. On a
   * loaded machine a leader can lose its term by itself (a renew that missed the deadline while
   * API calls timed out) and lead again under a new epoch, or another replica takes over: the
   * connections must then show in the new term's snapshots, and the round goes on from there.
   * Exactly these: a count alone can match a snapshot written half-way through a series of opens
   * and releases.
   */
  async function leaderListing(
    ids: Iterable<string>,
  ): Promise<{ current: Replica; epoch: number }> {
    const expected = [...ids].sort();
    return waitFor(`the leader's snapshot listing ${expected.length} connections`, async () => {
      const current = await leader();
      const epoch = await epochOf(current);
      const listed = lastWritten(epoch)?.ids;
      if (!listed || listed.size !== expected.length) return undefined;
      return expected.every((id) => listed.has(id)) ? { current, epoch } : undefined;
    });
  }

  function percentile(values: readonly number[], p: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
  }

  const failovers: number[] = [];

  it("kill -9 the leader with 100 connections open: the new leader counts each once, each releases once", async () => {
    const old = await leader();
    const opened = new Map<string, string>();
    const list = live();
    for (let i = 0; i < 100; i++) {
      const { id, identity } = await open(list[i % list.length] as Replica);
      opened.set(id, identity);
    }
    await snapshotHas(await epochOf(old), 100);
    const killedAt = Date.now();
    await kill(old);
    const next = await firstLeader(old, LEASE_MS + RETRY_MS + SLACK_MS);
    failovers.push(Date.now() - killedAt);
    const replacement = replace();
    await countsBecome(next, opened);
    await replacement;
    const everyReplica = live();
    let i = 0;
    for (const id of opened.keys()) {
      expect(await release(everyReplica[i++ % everyReplica.length] as Replica, id)).toBe(204);
    }
    for (const id of opened.keys()) {
      expect(await release(everyReplica[i++ % everyReplica.length] as Replica, id)).toBe(404);
    }
    expect(await counts(await leader())).toEqual({});
    expectOneLeaderAtATime();
  });

  it("SIGTERM: the leader writes its last snapshot and releases; a successor within a retry period + 1 s", async () => {
    const old = await leader();
    const epoch = await epochOf(old);
    const sent = Date.now();
    old.cli.child.kill("SIGTERM");
    const next = await firstLeader(old, RETRY_MS + SLACK_MS + 2_000);
    const took = Date.now() - sent;
    expect(took).toBeLessThanOrEqual(RETRY_MS + SLACK_MS);
    expect(await old.cli.exited).toBe(0);
    replicas.splice(replicas.indexOf(old), 1);
    expect(await epochOf(next)).toBe(epoch + 1);
    expect(old.cli.output()).toContain('"reason":"released"');
    expect(old.cli.output()).toContain("released the leader lease");
    console.log(`graceful handover: a successor led ${took} ms after SIGTERM`);
    await replace();
    expectOneLeaderAtATime();
  });

  it("SIGSTOP past the lease, SIGCONT: the old leader writes neither state nor status", async () => {
    const custom = loadKubeConfig().makeApiClient(CustomObjectsApi);
    const policy = async () =>
      (await custom.getNamespacedCustomObject({
        ...POLICY_RESOURCE,
        namespace,
        name: "web",
      })) as any;
    const old = await leader();
    await waitFor("the policy's status", async () => {
      const object = await policy();
      return object.status?.observedGeneration === object.metadata.generation ? true : undefined;
    });
    const pid = old.cli.child.pid as number;
    process.kill(pid, "SIGSTOP");
    try {
      const next = await firstLeader(old, LEASE_MS + RETRY_MS + SLACK_MS);
      const nextEpoch = await epochOf(next);
      // While the old leader sleeps, the policy changes: only the new leader may report it.
      await applyPolicy({ leastConnections: { connectionTimeout: "2h" } });
      const generation = await waitFor("the new leader's status", async () => {
        const object = await policy();
        const g = object.metadata.generation as number;
        return g > 1 && object.status?.observedGeneration === g ? g : undefined;
      });
      const fromSnapshot = snapshots.length;
      const statuses: { generation: number; managers: string[] }[] = [];
      const policies = await watchContinuously(
        loadKubeConfig(),
        `/apis/${POLICY_RESOURCE.group}/${POLICY_RESOURCE.version}/namespaces/${namespace}/${POLICY_RESOURCE.plural}`,
        {},
        (type, object: any) => {
          if (type !== "MODIFIED") return;
          statuses.push({
            generation: object.status?.observedGeneration,
            managers: (object.metadata.managedFields ?? [])
              .filter((f: any) => f.subresource === "status")
              .map((f: any) => f.manager),
          });
        },
      );
      process.kill(pid, "SIGCONT");
      try {
        await waitFor("the old leader to follow the new one", async () => {
          const own = await status(old);
          return !own.leading && own.leader?.identity === (await status(next)).identity
            ? true
            : undefined;
        });
        const writesOf = async () => {
          const text = await (await fetch(`${old.cli.url}/metrics`)).text();
          return /konsul_lb_state_writes_total\{result="ok"\} (\d+)/.exec(text)?.[1] ?? "0";
        };
        const okWrites = await writesOf();
        // Changes for the new leader to write, several intervals' worth, while the old one runs.
        const opened: string[] = [];
        for (let i = 0; i < 8; i++) {
          opened.push((await open(live()[i % live().length] as Replica)).id);
          await waitFor("a new snapshot", async () =>
            snapshots.length > fromSnapshot + i ? true : undefined,
          );
        }
        for (const id of opened) expect(await release(next, id)).toBe(204);
        expect(await writesOf()).toBe(okWrites);
        const after = snapshots.slice(fromSnapshot);
        expect(after.length).toBeGreaterThanOrEqual(8);
        for (const { snapshot } of after) {
          expect(snapshot.epoch).toBe(nextEpoch);
          expect(snapshot.leader.startsWith("replica-")).toBe(true);
          expect(snapshot.leader).toBe((await status(next)).identity);
        }
        // Status: never back to the old generation, one field manager for it.
        expect(statuses.every((s) => s.generation === generation)).toBe(true);
        const object = await policy();
        expect(object.status.observedGeneration).toBe(generation);
        const managers = (object.metadata.managedFields ?? [])
          .filter((f: any) => f.subresource === "status")
          .map((f: any) => f.manager);
        expect(managers).toEqual(["konsul-lb"]);
        expect(old.cli.output()).toContain('"reason":"renew-deadline"');
      } finally {
        policies.stop();
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expectOneLeaderAtATime();
  });

  it("20 forced failovers in a row: no connection lost or counted twice, cursors and weights carried on", async () => {
    const opened = new Map<string, string>();
    for (let round = 0; round < 20; round++) {
      const first = await leader();
      let current = first;
      let epoch = await epochOf(current);
      const list = live();
      // Some opens through every replica, some releases through any.
      for (let i = 0; i < 6; i++) {
        const { id, identity } = await open(list[i % list.length] as Replica);
        opened.set(id, identity);
      }
      for (const id of [...opened.keys()].slice(0, 2)) {
        expect(await release(list[(round + 1) % list.length] as Replica, id)).toBe(204);
        opened.delete(id);
      }
      // Rotations move on the leader.
      for (let i = 0; i < 3 + round; i++) {
        await pick(current, "lb=round-robin");
        await pick(current, "lb=weighted-round-robin");
      }
      // Everything acknowledged so far is in a snapshot before the leader dies: what a leader
      // acknowledged within its last interval is the documented loss window, not tested here.
      ({ current, epoch } = await leaderListing(opened.keys()));
      if (current !== first) {
        console.log(`round ${round}: the leader changed by itself (a missed renew); going on`);
      }
      const followers = live().filter((r) => r !== current);
      await waitFor("the leader's rotations in a snapshot", async () => {
        const state = lastWritten(epoch)?.pickers as Record<string, unknown> | undefined;
        return state?.["round-robin|healthy"] && state["weighted-round-robin|healthy"]
          ? true
          : undefined;
      });
      // The last interval's changes, through replicas that survive: they must survive too.
      for (const follower of followers) {
        const { id, identity } = await open(follower);
        opened.set(id, identity);
      }
      const killedAt = Date.now();
      await kill(current);
      const next = await firstLeader(current, LEASE_MS + RETRY_MS + SLACK_MS);
      failovers.push(Date.now() - killedAt);
      const replacement = replace();
      await countsBecome(next, opened, `round ${round}`);
      const nextEpoch = await epochOf(next);
      const after = (await waitFor(
        "the new leader's first snapshot",
        async () => firstWritten(nextEpoch)?.pickers,
      )) as Record<string, unknown>;
      // The predecessor's last word, read only now: a snapshot that merely shows the rotations
      // may have been written half-way through them, and a later one is what a successor loads.
      // The watch delivers writes in order, so every write of the old epoch is in by now.
      const before = lastWritten(epoch)?.pickers as Record<string, unknown>;
      expect(after["round-robin|healthy"]).toEqual(before["round-robin|healthy"]);
      expect(after["weighted-round-robin|healthy"]).toEqual(before["weighted-round-robin|healthy"]);
      await replacement;
    }
    // Every connection still open is released exactly once, through any replica.
    const list = live();
    let i = 0;
    for (const id of opened.keys()) {
      expect(await release(list[i++ % list.length] as Replica, id)).toBe(204);
      expect(await release(list[i % list.length] as Replica, id)).toBe(404);
    }
    expect(await counts(await leader())).toEqual({});
    expectOneLeaderAtATime();
    const p50 = percentile(failovers, 0.5);
    const max = Math.max(...failovers);
    console.log(
      `kill -9 failovers (lease ${LEASE_MS} ms, renew ${RENEW_MS} ms, retry ${RETRY_MS} ms): ` +
        `n=${failovers.length} p50=${p50} ms max=${max} ms; all: ${failovers.join(", ")}`,
    );
    expect(failovers.length).toBeGreaterThanOrEqual(10);
    expect(max).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
  }, 600_000);
});
