// Randomized fault rounds over three `konsul-lb serve` replicas against the real kube-apiserver,
// under steady client traffic (opens, releases and picks through random replicas), judged by the
// checker in test/support/ha-checker.ts: one leader per epoch and at a time, state written only
// by the leader, no released connection counted again, no acknowledged open lost outside the
// documented window.
//
// Faults: kill -9 (the replica is replaced, as a Deployment would), SIGSTOP past the lease then
// SIGCONT, SIGSTOP past the renew deadline but shorter than the lease, kube-apiserver stopped
// and started again, and one replica's API access cut or delayed (a TCP proxy per replica).
//
// KONSUL_LB_FAULT_SEED repeats a run's schedule (printed at the start and on failure);
// KONSUL_LB_FAULT_ROUNDS sets the number of rounds (by default one round of every fault kind;
// `npm run test:faults` runs the full sweep).

import { randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RandomSource, seededRandom } from "../../src/balancer/random.ts";
import {
  EPOCH_ANNOTATION,
  LEADER_ANNOTATION,
  SEQUENCE_ANNOTATION,
  STATE_LABEL,
} from "../../src/ha/configmaps.ts";
import { decodeSnapshot, SNAPSHOT_KEY, type Snapshot } from "../../src/ha/snapshot.ts";
import { type ServingCli, serveCli } from "../support/cli.ts";
import { type CheckReport, type ClientOp, check, type StateWrite } from "../support/ha-checker.ts";
import { ApiProxy, kubeconfigVia } from "./support/api-proxy.ts";
import {
  type AccountToken,
  clients,
  clusterAvailable,
  componentState,
  createNamespace,
  createNode,
  createService,
  deleteNamespace,
  deleteNode,
  loadKubeConfig,
  serviceAccountToken,
  startComponent,
  stopComponent,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { createWeightedPods, installPolicyCrd, serverSideApplyPolicy } from "./support/policies.ts";
import {
  connectionCounts,
  type HaStatus,
  haStatus,
  open,
  pick,
  release,
} from "./support/replica-api.ts";
import { type ResilientWatch, resilientWatch } from "./support/resilient-watch.ts";

// Test-sized leader election, as in ha-replicas.test.ts: failovers in seconds.
/** What a replica logs when it hands a release over again (ConnectionFront.repairReleases). */
const REPAIR_LOG = "handing the release over again";
const LEASE_MS = 3_000;
const RENEW_MS = 2_000;
const RETRY_MS = 500;
const STATE_INTERVAL_MS = 250;
/** On top of one state interval, what a write pass and its request take on a loaded machine. */
const WRITE_SLACK_MS = 1_000;
const PREFIX = "konsul-lb-state";
const WEIGHTS = [1, 2, 3, 4, 5];
const LANES = 3;
/** A lane keeps at most this many connections open. */
const OPEN_PER_LANE = 12;
/** Bounds on the traffic, whatever the rounds take. */
const MAX_OPS_PER_LANE = 50_000;
/** A replica's start: a Node process takes long to start while faults load two cores. */
const START_MS = 60_000;
/** Recovery after a fault: a restart of kube-apiserver takes tens of seconds on two cores. */
const RECOVERY_MS = 120_000;

const FAULT_KINDS = [
  "kill",
  "pause-past-lease",
  "pause-past-renew-deadline",
  "apiserver-restart",
  "api-cut",
  "api-delay",
] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name}=${JSON.stringify(text)} is not allowed; expected a whole number ≥ 1`);
  }
  return value;
}

const SEED = positiveInteger("KONSUL_LB_FAULT_SEED", randomInt(1, 2 ** 31));
const ROUNDS = positiveInteger("KONSUL_LB_FAULT_ROUNDS", FAULT_KINDS.length);
/** --connection-durability of the replicas: with write, the checker excuses no loss at all. */
const DURABILITY = durability(process.env.KONSUL_LB_FAULT_DURABILITY);

function durability(text: string | undefined): "interval" | "write" {
  if (text === undefined || text === "" || text === "interval") return "interval";
  if (text === "write") return "write";
  throw new Error(
    `KONSUL_LB_FAULT_DURABILITY=${JSON.stringify(text)} is not allowed; expected interval or write`,
  );
}

interface Replica {
  readonly name: string;
  readonly url: string;
  readonly internalUrl: string | null;
  readonly token: string;
  readonly cli: ServingCli;
  readonly proxy: ApiProxy;
  killedAt: number | null;
  paused: boolean;
}

interface Fault {
  readonly round: number;
  readonly kind: FaultKind;
  readonly target: string;
  readonly role: "leader" | "follower" | "all";
  readonly at: number;
  readonly detail: string;
  tookMs: number;
}

/** Every kind once in a seeded order, then seeded draws: a short sweep covers every kind. */
function schedule(random: RandomSource, rounds: number): FaultKind[] {
  const kinds: FaultKind[] = [];
  while (kinds.length < rounds) {
    const cycle = [...FAULT_KINDS];
    for (let i = cycle.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [cycle[i], cycle[j]] = [cycle[j] as FaultKind, cycle[i] as FaultKind];
    }
    kinds.push(...cycle);
  }
  return kinds.slice(0, rounds);
}

function between(random: RandomSource, low: number, high: number): number {
  return Math.round(low + random.next() * (high - low));
}

/** Counts per endpoint, whatever order the metrics listed them in. */
function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

function choose<T>(random: RandomSource, items: readonly T[]): T {
  return items[Math.floor(random.next() * items.length)] as T;
}

describe.skipIf(!clusterAvailable())("HA fault rounds with a checker", () => {
  let core: CoreV1Api;
  let namespace: string;
  let serviceKey: string;
  let workDir: string;
  let account: AccountToken;
  const node = `ha-faults-${Date.now().toString(36)}`;
  const everyone: Replica[] = [];
  const history: ClientOp[] = [];
  const writes: StateWrite[] = [];
  const seenWrites = new Set<string>();
  const leaseLog: string[] = [];
  const faults: Fault[] = [];
  const watches: ResilientWatch[] = [];
  let started = 0;
  let replacements = 0;

  const live = () => everyone.filter((r) => r.killedAt === null);
  const say = (line: string) => console.log(`[faults seed=${SEED}] ${line}`);

  async function startReplica(name: string): Promise<Replica> {
    const proxy = await ApiProxy.start(loadKubeConfig().getCurrentCluster()?.server ?? "");
    const kubeconfig = await kubeconfigVia(
      testKubeconfigPath(),
      proxy.url,
      join(workDir, `${name}.kubeconfig`),
    );
    const cli = await serveCli(
      [
        "--source",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
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
        "--connection-durability",
        DURABILITY,
        "--internal-addr",
        "127.0.0.1:0",
        "--token-file",
        account.path,
      ],
      { POD_NAME: name },
      START_MS,
    );
    const replica: Replica = {
      name,
      url: cli.url,
      internalUrl: cli.internalUrl,
      token: account.token,
      cli,
      proxy,
      killedAt: null,
      paused: false,
    };
    everyone.push(replica);
    await waitFor(
      `${name} to serve web with its policy`,
      async () => {
        const response = await fetch(`${cli.url}/v1/services`, {
          signal: AbortSignal.timeout(2_000),
        });
        const body = (await response.json()) as {
          services: { namespace: string; name: string; policy: string | null }[];
        };
        const web = body.services.find((s) => `${s.namespace}/${s.name}` === serviceKey);
        return web?.policy === "web" ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    return replica;
  }

  /** A replacement for a killed replica, as a Deployment would start one. */
  function replace(): Promise<Replica> {
    replacements++;
    return startReplica(`replica-r${replacements}`);
  }

  async function kill(replica: Replica): Promise<void> {
    replica.killedAt = Date.now();
    replica.cli.child.kill("SIGKILL");
    await replica.cli.exited;
    await replica.proxy.close();
  }

  function signal(replica: Replica, name: "SIGSTOP" | "SIGCONT"): void {
    process.kill(replica.cli.child.pid as number, name);
    replica.paused = name === "SIGSTOP";
  }

  /** The one replica leading, once every live replica agrees which one it is. */
  async function stableLeader(timeoutMs = RECOVERY_MS): Promise<Replica> {
    return waitFor(
      "one leader that every replica knows",
      async () => {
        const all = await Promise.all(
          live().map(async (r) => [r, await haStatus(r, 2_000)] as [Replica, HaStatus]),
        );
        const leading = all.filter(([, s]) => s.leading);
        if (leading.length !== 1) return undefined;
        const [replica, own] = leading[0] as [Replica, HaStatus];
        return all.every(([, s]) => s.leader?.identity === own.identity) ? replica : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  // ---- client traffic ----

  let trafficStopped = false;

  async function lane(index: number, random: RandomSource): Promise<void> {
    const mine: string[] = [];
    for (let n = 0; n < MAX_OPS_PER_LANE && !trafficStopped; n++) {
      const replica = choose(random, live());
      const draw = random.next();
      const start = Date.now();
      const base = { lane: index, replica: replica.name, start };
      if ((draw < 0.45 && mine.length < OPEN_PER_LANE) || mine.length === 0) {
        let status: number | null = null;
        let id: string | null = null;
        try {
          ({ status, id } = await open(replica, serviceKey));
        } catch {
          // No answer in time: a paused or dying replica. The outcome is unknown.
        }
        if (id !== null) mine.push(id);
        history.push({ ...base, kind: "open", end: Date.now(), status, id });
      } else if (draw < 0.8) {
        const at = Math.floor(random.next() * mine.length);
        const id = mine[at] as string;
        let status: number | null = null;
        try {
          status = await release(replica, id);
        } catch {
          // Unknown; released again later, through whichever replica comes up.
        }
        if (status !== null) mine.splice(at, 1);
        history.push({ ...base, kind: "release", end: Date.now(), status, id });
      } else {
        let status: number | null = null;
        try {
          ({ status } = await pick(
            replica,
            serviceKey,
            `lb=${choose(random, ["least-connections", "round-robin", "ring-hash&session-key=k"])}`,
          ));
        } catch {
          // A pick without an answer changes nothing.
        }
        history.push({ ...base, kind: "pick", end: Date.now(), status });
      }
      await sleep(between(random, 20, 80));
    }
  }

  // ---- faults ----

  async function inject(round: number, kind: FaultKind, random: RandomSource): Promise<void> {
    const leader = await stableLeader();
    const followers = live().filter((r) => r !== leader);
    const onLeader = random.next() < 0.7;
    const target = onLeader ? leader : choose(random, followers);
    const role = onLeader ? "leader" : "follower";
    const begun = Date.now();
    const record = (detail: string, targetName = target.name, as: Fault["role"] = role) => {
      const fault: Fault = {
        round,
        kind,
        target: targetName,
        role: as,
        at: begun,
        detail,
        tookMs: 0,
      };
      faults.push(fault);
      return fault;
    };
    let fault: Fault;
    switch (kind) {
      case "kill": {
        fault = record("SIGKILL, replaced");
        await kill(target);
        await replace();
        break;
      }
      case "pause-past-lease":
      case "pause-past-renew-deadline": {
        // Past the lease a successor may take over; between the renew deadline and the lease
        // the leader must have stopped, and may take its own Lease back with a new epoch.
        const ms =
          kind === "pause-past-lease"
            ? between(random, LEASE_MS + 500, LEASE_MS + 1_500)
            : between(random, RENEW_MS + 100, LEASE_MS - 200);
        fault = record(`SIGSTOP for ${ms} ms`);
        signal(target, "SIGSTOP");
        try {
          await sleep(ms);
        } finally {
          signal(target, "SIGCONT");
        }
        break;
      }
      case "apiserver-restart": {
        const how = random.next() < 0.5 ? "SIGKILL" : "SIGTERM";
        const ms = between(random, 500, 4_000);
        fault = record(`kube-apiserver stopped (${how}) for ${ms} ms`, "kube-apiserver", "all");
        await stopComponent("kube-apiserver", how);
        try {
          await sleep(ms);
        } finally {
          await startComponent("kube-apiserver");
        }
        break;
      }
      case "api-cut":
      case "api-delay": {
        const ms = between(random, LEASE_MS + 500, LEASE_MS + 1_500);
        const mode =
          kind === "api-delay"
            ? ({ kind: "delay", delayMs: between(random, 300, 2_500) } as const)
            : ({ kind: random.next() < 0.5 ? "refuse" : "blackhole" } as const);
        fault = record(`API ${JSON.stringify(mode)} for ${ms} ms`);
        target.proxy.set(mode);
        try {
          await sleep(ms);
        } finally {
          target.proxy.set({ kind: "pass" });
        }
        break;
      }
    }
    await stableLeader();
    fault.tookMs = Date.now() - begun;
    say(
      `round ${round}: ${kind} on ${fault.role} ${fault.target} (${fault.detail}), recovered after ${fault.tookMs} ms`,
    );
  }

  // ---- evidence ----

  function onStateEvent(type: string, object: any): void {
    if (type === "DELETED") return;
    const resourceVersion = Number(object.metadata?.resourceVersion);
    const key = `${object.metadata?.name}@${resourceVersion}`;
    if (seenWrites.has(key)) return;
    seenWrites.add(key);
    let snapshot: Snapshot;
    try {
      snapshot = decodeSnapshot(object.data?.[SNAPSHOT_KEY] ?? "");
    } catch {
      return; // Not readable: the replicas refuse it too (and count it).
    }
    const service = snapshot.services[serviceKey];
    const annotations = object.metadata?.annotations ?? {};
    writes.push({
      at: Date.now(),
      configmap: object.metadata.name,
      resourceVersion,
      annotations: {
        epoch: annotations[EPOCH_ANNOTATION],
        leader: annotations[LEADER_ANNOTATION],
        sequence: annotations[SEQUENCE_ANNOTATION],
      },
      epoch: snapshot.epoch,
      leader: snapshot.leader,
      sequence: snapshot.sequence,
      counts: Object.fromEntries(
        Object.entries(service?.connections ?? {})
          .filter(([, list]) => list.length > 0)
          .map(([identity, list]) => [identity, list.length]),
      ),
      listed: Object.values(service?.connections ?? {})
        .flat()
        .map(([id]) => id),
      released: service?.released ?? [],
    });
  }

  /** Once traffic stopped and every replica handed over what it kept: what the leader counts. */
  async function finalState(): Promise<{ leader: Replica; listed: Set<string> }> {
    const leader = await stableLeader();
    await waitFor(
      "every replica to have handed its pending changes to the leader",
      async () => {
        const all = await Promise.all(live().map((r) => haStatus(r, 2_000)));
        return all.every((s) => s.pending.unacknowledged === 0) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const epoch = (await haStatus(leader)).epoch;
    // The leader's latest write of its epoch, once the leader's counts, endpoint by endpoint,
    // are those of that write and stay so, and no newer write arrived meanwhile: a write seen
    // before the last one landed can have the same total with other ids.
    const latestWrite = () =>
      writes
        .filter((w) => w.epoch === epoch)
        .sort((a, b) => b.resourceVersion - a.resourceVersion)[0];
    return waitFor(
      "the leader's counts to match its latest snapshot",
      async () => {
        const latest = latestWrite();
        const counts = await connectionCounts(leader, serviceKey);
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        if (latest === undefined && total === 0) return { leader, listed: new Set<string>() };
        if (latest === undefined || !sameCounts(latest.counts, counts)) return undefined;
        await sleep(3 * STATE_INTERVAL_MS);
        const again = await connectionCounts(leader, serviceKey);
        if (!sameCounts(again, counts) || latestWrite() !== latest) return undefined;
        return { leader, listed: new Set(latest.listed) };
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  }

  function diagnostics(report: CheckReport | null): string {
    const parts = [
      `seed ${SEED} (rerun: KONSUL_LB_FAULT_SEED=${SEED} KONSUL_LB_FAULT_ROUNDS=${ROUNDS} KONSUL_LB_FAULT_DURABILITY=${DURABILITY})`,
      `faults: ${JSON.stringify(faults, null, 1)}`,
      `lease holders: ${leaseLog.join("; ")}`,
    ];
    if (report) {
      parts.push(
        `terms: ${report.terms.map((t) => `${t.replica}#${t.epoch} ${new Date(t.start).toISOString()}..${Number.isFinite(t.end) ? new Date(t.end).toISOString() : "-"} (${t.endedBy})`).join("; ")}`,
        `violations:\n${report.violations.map((v) => `  [${v.kind}] ${v.message}`).join("\n")}`,
      );
      const named = report.violations.map((v) => v.message.slice(0, 36));
      const last = [...writes].sort((a, b) => a.resourceVersion - b.resourceVersion).slice(-8);
      parts.push(
        `last state writes seen: ${last
          .map(
            (w) =>
              `${w.configmap}@${w.resourceVersion} epoch ${w.epoch} seq ${w.sequence} seen ${new Date(w.at).toISOString()} listed ${w.listed.length} [${named.map((id) => (w.listed.includes(id) ? "L" : w.released.includes(id) ? "R" : "-")).join("")}]`,
          )
          .join("; ")}`,
      );
    }
    for (const r of everyone) {
      parts.push(
        `----- ${r.name}${r.killedAt === null ? "" : ` (killed ${new Date(r.killedAt).toISOString()})`} -----\n${r.cli.output()}`,
      );
    }
    return parts.join("\n");
  }

  beforeAll(async () => {
    ({ core } = clients());
    workDir = await mkdtemp(join(tmpdir(), "konsul-lb-faults-"));
    await installPolicyCrd();
    namespace = await createNamespace(core, "ha-faults-");
    // Replicas show this token on each other's internal API, as pods show their own.
    account = await serviceAccountToken(core, namespace, "konsul-lb", workDir);
    serviceKey = `${namespace}/web`;
    await createNode(core, node, { region: "r", zone: "r-a" });
    await createService(core, namespace, "web", { app: "web" }, [{ name: "http", port: 80 }]);
    await createWeightedPods(core, {
      namespace,
      node,
      app: "web",
      weights: WEIGHTS,
      addressPrefix: "10.45.0",
    });
    // Connections live an hour: none expires during the run, so every one is accounted for.
    await serverSideApplyPolicy(namespace, "web", {
      targetRef: { kind: "Service", name: "web" },
      strategy: "least-connections",
      leastConnections: { connectionTimeout: "1h" },
    });
    const kc = loadKubeConfig();
    watches.push(
      resilientWatch(
        kc,
        `/api/v1/namespaces/${namespace}/configmaps`,
        { labelSelector: `${STATE_LABEL}=${PREFIX}` },
        onStateEvent,
      ),
      resilientWatch(
        kc,
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        {},
        (_type, lease: any) => {
          leaseLog.push(
            `${new Date().toISOString()} rv=${lease.metadata?.resourceVersion} holder=${lease.spec?.holderIdentity ?? ""} transitions=${lease.spec?.leaseTransitions ?? 0}`,
          );
        },
      ),
    );
    // One after the other: three Node processes starting at once on a busy two-core machine
    // can take longer than a start is given.
    for (const name of ["replica-a", "replica-b", "replica-c"]) await startReplica(name);
  });

  afterAll(async () => {
    trafficStopped = true;
    for (const watch of watches) watch.stop();
    const state = await componentState().catch(() => null);
    if (state && !state["kube-apiserver"].running) await startComponent("kube-apiserver");
    for (const replica of live()) {
      if (replica.paused) signal(replica, "SIGCONT");
      replica.proxy.set({ kind: "pass" });
      replica.cli.child.kill("SIGTERM");
      await replica.cli.exited;
      await replica.proxy.close();
    }
    if (core) {
      await deleteNamespace(core, namespace);
      await deleteNode(core, node);
    }
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /**
   * Releases a replica handed to the leader again because its snapshots still listed them long
   * after the release was acknowledged (ConnectionFront's repair): each one is a release that
   * some leader did not hear of in time, told here so that a sweep shows it.
   */
  const repairedReleases = () =>
    everyone
      .map(
        (r) =>
          r.cli
            .output()
            .split("\n")
            .filter((line) => line.includes(REPAIR_LOG)).length,
      )
      .reduce((a, b) => a + b, 0);

  it(
    `${ROUNDS} fault rounds under client traffic: the checker finds no violation`,
    async () => {
      started = Date.now();
      say(`${ROUNDS} rounds; rerun with KONSUL_LB_FAULT_SEED=${SEED}`);
      const random = seededRandom(SEED);
      const kinds = schedule(random, ROUNDS);
      await stableLeader();
      const lanes = Array.from({ length: LANES }, (_, i) => lane(i, seededRandom(SEED + i + 1)));
      let report: CheckReport | null = null;
      try {
        try {
          for (const [round, kind] of kinds.entries()) {
            await inject(round, kind, random);
            // Traffic between faults.
            await sleep(between(random, 500, 1_500));
          }
        } finally {
          trafficStopped = true;
          await Promise.all(lanes);
        }
        const final = await finalState();
        report = check({
          settings: {
            stateIntervalMs: STATE_INTERVAL_MS,
            writeSlackMs: WRITE_SLACK_MS,
            durability: DURABILITY,
          },
          replicas: everyone.map((r) => ({
            name: r.name,
            log: r.cli.output(),
            killedAt: r.killedAt,
          })),
          history,
          writes,
          final,
        });
        // Every replica counts what the leader counts (followers mirror its table).
        const expected = await connectionCounts(final.leader, serviceKey);
        for (const replica of live()) {
          let last: Record<string, number> = {};
          await waitFor(`${replica.name} to count what the leader counts`, async () => {
            last = await connectionCounts(replica, serviceKey);
            return sameCounts(last, expected) ? true : undefined;
          }).catch(async (error: Error) => {
            const status = await haStatus(replica).catch(() => null);
            throw new Error(
              `${error.message}: it counts ${JSON.stringify(last)}, the leader ${final.leader.name} ${JSON.stringify(expected)}; its status ${JSON.stringify(status)}`,
            );
          });
        }
      } catch (error) {
        console.log(diagnostics(report));
        throw error;
      }
      const byKind: Record<string, number> = {};
      for (const fault of faults) byKind[fault.kind] = (byKind[fault.kind] ?? 0) + 1;
      const ops: Record<string, number> = {};
      for (const op of history) ops[op.kind] = (ops[op.kind] ?? 0) + 1;
      say(
        `done: ${faults.length} rounds in ${Math.round((Date.now() - started) / 1000)} s; faults ${JSON.stringify(byKind)}; ` +
          `requests ${JSON.stringify(ops)}; ${JSON.stringify(report.stats)}; ` +
          `terms ${report.terms.length}; watch gaps ${watches.map((w) => w.gaps()).join("/")}; ` +
          `releases handed over again ${repairedReleases()}; ` +
          `violations ${report.violations.length}`,
      );
      if (report.violations.length > 0) console.log(diagnostics(report));
      expect(report.violations).toEqual([]);
      expect(faults.length).toBe(ROUNDS);
      // A short sweep covers every kind.
      if (ROUNDS >= FAULT_KINDS.length)
        expect(Object.keys(byKind).sort()).toEqual([...FAULT_KINDS].sort());
    },
    ROUNDS * 150_000 + 120_000,
  );
});
