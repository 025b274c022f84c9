// The ConfigMap state store against the real kube-apiserver: a leader's snapshots reach a
// follower, a successor continues the rotations where they stopped, and a deposed leader that
// still believes in its term cannot get a write accepted by anyone.

import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import {
  EPOCH_ANNOTATION,
  KubernetesShardApi,
  LEADER_ANNOTATION,
  STATE_LABEL,
} from "../../src/ha/configmaps.ts";
import { LeaderElector, type LeaderTerm } from "../../src/ha/leader-election.ts";
import { KubernetesLeaseApi } from "../../src/ha/lease.ts";
import { decodeSnapshot, SNAPSHOT_KEY } from "../../src/ha/snapshot.ts";
import { SnapshotWriter } from "../../src/ha/snapshot-writer.ts";
import { StateStore } from "../../src/ha/state-store.ts";
import { endpoints } from "../balancer/fixtures.ts";
import { partitionable } from "../ha/partitionable.ts";
import { watchContinuously } from "../support/watch.ts";
import {
  clients,
  clusterAvailable,
  createNamespace,
  deleteNamespace,
  loadKubeConfig,
  waitFor,
} from "./support/kube.ts";

const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const INTERVAL_MS = 200;
const logger = {
  info: () => {},
  warn: (fields: object, message: string) => {
    if (!String((fields as { err?: Error }).err?.message).includes("partitioned")) {
      console.warn(message, fields);
    }
  },
};

const SERVICE: ServiceEndpoints = {
  key: "shop/checkout",
  version: 1,
  endpoints: endpoints(5, (i) => 1 + i),
};

interface Replica {
  identity: string;
  manager: BalancerManager;
  elector: LeaderElector;
  store: StateStore;
  lease: { cut: boolean };
  /** The store's takeover of the latest term: it imports the predecessor's cursors. */
  takeover: Promise<void>;
}

describe.skipIf(!clusterAvailable())("balancer state in ConfigMaps", () => {
  let core: CoreV1Api;
  let namespace: string;
  let replicas: Replica[] = [];
  let stopWatch: (() => void) | undefined;

  function replica(identity: string, prefix: string, leaseName: string): Replica {
    const kc = loadKubeConfig();
    const manager = new BalancerManager();
    const lease = partitionable(new KubernetesLeaseApi(kc, namespace, leaseName));
    let store: StateStore | undefined;
    let takeover: Promise<void> = Promise.resolve();
    const elector = new LeaderElector({
      lease,
      identity,
      logger,
      ...TIMING,
      initialTransitions: () => (store?.highestEpoch() ?? 0) + 1,
      observer: {
        startedLeading: (term) => {
          takeover = store?.takeOver(term) ?? Promise.resolve();
        },
        stoppedLeading: () => store?.stepDown(),
      },
    });
    store = new StateStore({
      config: kc,
      namespace,
      prefix,
      manager,
      logger,
      term: () => elector.currentTerm(),
      intervalMs: INTERVAL_MS,
    });
    const made = {
      identity,
      manager,
      elector,
      store,
      lease,
      get takeover() {
        return takeover;
      },
    };
    replicas.push(made);
    return made;
  }

  async function startAll(list: Replica[]) {
    for (const r of list) r.store.start();
    await Promise.all(list.map((r) => r.store.whenSynced()));
    for (const r of list) r.elector.start();
  }

  const leaderOf = (list: Replica[]) =>
    waitFor(
      "one leader",
      async () => {
        const leading = list.filter((r) => r.elector.isLeader());
        return leading.length === 1 ? leading[0] : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );

  /** Every write to the state ConfigMaps of `prefix`, in order, as (epoch, leader). */
  async function recordWrites(prefix: string) {
    const writes: { epoch: number; leader: string; annotated: string }[] = [];
    const controller = await watchContinuously(
      loadKubeConfig(),
      `/api/v1/namespaces/${namespace}/configmaps`,
      { labelSelector: `${STATE_LABEL}=${prefix}` },
      (type, object: any) => {
        if (type !== "ADDED" && type !== "MODIFIED") return;
        const snapshot = decodeSnapshot(object.data[SNAPSHOT_KEY]);
        writes.push({
          epoch: snapshot.epoch,
          leader: snapshot.leader,
          annotated: `${object.metadata.annotations[EPOCH_ANNOTATION]}/${object.metadata.annotations[LEADER_ANNOTATION]}`,
        });
      },
    );
    stopWatch = () => controller.stop();
    return writes;
  }

  beforeAll(async () => {
    ({ core } = clients());
    namespace = await createNamespace(core, "ha-state-");
  });

  afterEach(async () => {
    stopWatch?.();
    for (const r of replicas) {
      r.store.stop();
      await r.elector.stop();
    }
    replicas = [];
  });

  afterAll(async () => {
    if (core) await deleteNamespace(core, namespace);
  });

  it("a follower mirrors the leader's connections; a successor continues its rotations", async () => {
    const [a, b] = [replica("a", "handover", "handover"), replica("b", "handover", "handover")];
    await startAll([a as Replica, b as Replica]);
    const leader = await leaderOf(replicas);
    const follower = replicas.find((r) => r !== leader) as Replica;

    const opened = Array.from({ length: 20 }, () =>
      leader.manager.openConnection(SERVICE, {}, 60_000),
    );
    const rr = () =>
      leader.manager.selectOne(SERVICE, { strategy: "round-robin" }).endpoint.identity;
    const wrr = () =>
      leader.manager.selectOne(SERVICE, { strategy: "weighted-round-robin" }).endpoint.identity;
    for (let i = 0; i < 7; i++) {
      rr();
      wrr();
    }
    const counts = Object.fromEntries(leader.manager.connectionCounts(SERVICE.key));
    await waitFor("the follower to count the leader's connections", async () => {
      const theirs = Object.fromEntries(follower.manager.connectionCounts(SERVICE.key));
      return JSON.stringify(theirs) === JSON.stringify(counts) ? true : undefined;
    });

    // The leader stops gracefully: a last snapshot, then the lease is released.
    const epoch = leader.elector.currentTerm()?.epoch as number;
    await leader.store.flush();
    leader.store.stop();
    await leader.elector.stop();
    await waitFor("the follower to lead", async () =>
      follower.elector.isLeader() ? true : undefined,
    );
    expect(follower.elector.currentTerm()?.epoch).toBe(epoch + 1);
    // Leading comes first; the predecessor's cursors are imported by the takeover that follows
    // (it reads the state ConfigMaps afresh), and picks made before it ends rotate from the
    // follower's own cursors.
    await follower.takeover;
    // The successor picks exactly what the old leader would have picked next.
    const take = (r: Replica, strategy: string) =>
      Array.from({ length: 9 }, () => r.manager.selectOne(SERVICE, { strategy }).endpoint.identity);
    expect(take(follower, "round-robin")).toEqual(take(leader, "round-robin"));
    expect(take(follower, "weighted-round-robin")).toEqual(take(leader, "weighted-round-robin"));
    // ...and every connection can be released once, through the new leader.
    for (const connection of opened)
      expect(follower.manager.closeConnection(connection.id)).toBe(true);
    for (const connection of opened)
      expect(follower.manager.closeConnection(connection.id)).toBe(false);
  });

  it("fencing: a deposed leader that still believes in its term gets no write accepted", async () => {
    const writes = await recordWrites("fence");
    const [a, b] = [replica("a", "fence", "fence"), replica("b", "fence", "fence")];
    await startAll([a as Replica, b as Replica]);
    const old = await leaderOf(replicas);
    const next = replicas.find((r) => r !== old) as Replica;
    old.manager.openConnection(SERVICE, {}, 60_000);
    const oldTerm = old.elector.currentTerm() as LeaderTerm;
    await waitFor("a first snapshot", async () => (writes.length > 0 ? true : undefined));

    // The old leader is cut off from the Lease; the other takes over with a newer epoch.
    old.lease.cut = true;
    const nextTerm = await waitFor(
      "a new term",
      async () => next.elector.currentTerm() ?? undefined,
      {
        timeoutMs: 10_000,
        intervalMs: 10,
      },
    );
    expect(nextTerm.epoch).toBe(oldTerm.epoch + 1);
    expect(old.elector.isLeader()).toBe(false);
    await waitFor("the new leader's snapshot", async () =>
      writes.some((w) => w.epoch === nextTerm.epoch) ? true : undefined,
    );

    // Worse than a partition: a writer whose clock says its old term is still valid.
    const zombie = new StateStore({
      config: loadKubeConfig(),
      namespace,
      prefix: "fence",
      manager: old.manager,
      logger,
      term: () => oldTerm,
      intervalMs: INTERVAL_MS,
    });
    replicas.push({ ...old, store: zombie });
    zombie.start();
    await zombie.whenSynced();
    old.manager.openConnection(SERVICE, {}, 60_000);
    const firstNew = writes.findIndex((w) => w.epoch === nextTerm.epoch);
    await zombie.takeOver(oldTerm);
    // It saw the newer epoch while syncing: it refuses to write at all.
    const outcome = await zombie.flush();
    expect(outcome === null || outcome.kind === "fenced").toBe(true);
    // The follower view of the old replica refuses old epochs too.
    expect(zombie.reader.highestEpoch()).toBe(nextTerm.epoch);

    // Let the new leader write a few more intervals; nothing older may appear after its first.
    const before = writes.length;
    next.manager.openConnection(SERVICE, {}, 60_000);
    await waitFor("more writes", async () => (writes.length > before ? true : undefined));
    const after = writes.slice(firstNew);
    expect(after.every((w) => w.epoch === nextTerm.epoch && w.leader === next.identity)).toBe(true);
    expect(after.every((w) => w.annotated === `${nextTerm.epoch}/${next.identity}`)).toBe(true);
    // The healed old leader follows: it counts the new leader's connections.
    old.lease.cut = false;
    await waitFor("the old leader to mirror the new one", async () => {
      const mine = Object.fromEntries(old.manager.connectionCounts(SERVICE.key));
      const theirs = Object.fromEntries(next.manager.connectionCounts(SERVICE.key));
      return JSON.stringify(mine) === JSON.stringify(theirs) ? true : undefined;
    });
  });

  it("a writer that missed the newer epoch is fenced by its first conflict", async () => {
    const writes = await recordWrites("conflict");
    const [a] = [replica("a", "conflict", "conflict")];
    await startAll([a as Replica]);
    const leader = await leaderOf(replicas);
    leader.manager.openConnection(SERVICE, {}, 60_000);
    await waitFor("a snapshot", async () => (writes.length > 0 ? true : undefined));
    const term = leader.elector.currentTerm() as LeaderTerm;
    // A writer that never watched claims an older epoch: its create meets a 409, it reads the
    // shard back, finds the newer epoch and stops.
    const blindTerm = { identity: "blind", epoch: term.epoch - 1 };
    const blind = new SnapshotWriter({
      api: new KubernetesShardApi(loadKubeConfig(), namespace, "conflict"),
      prefix: "conflict",
      manager: new BalancerManager(),
      logger,
      term: () => blindTerm,
      highestEpoch: () => 0,
    });
    blind.begin(blindTerm, 1, []);
    expect(await blind.write()).toEqual({ kind: "fenced", by: term.epoch });
    expect(await blind.write()).toEqual({ kind: "fenced", by: term.epoch });
    expect(writes.every((w) => w.leader !== "blind")).toBe(true);
  });
});
