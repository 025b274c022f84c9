// Every term of leadership has an epoch of its own. A leader that passes its renew deadline and
// then takes its own Lease back (or whose slow renew lands after it stepped down) starts a new
// term; if it reused the old epoch, its writer would restart the sequence and followers would
// refuse the new term's snapshots as stale, so releases made in that term would never reach
// them and a successor would count those connections again.
//
// Fake timers, an in-memory Lease and in-memory ConfigMaps: no timing luck involved.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { LeaderElector, type LeaderTerm } from "../../src/ha/leader-election.ts";
import type { LeaseApi } from "../../src/ha/lease.ts";
import { decodeSnapshot } from "../../src/ha/snapshot.ts";
import { SnapshotReader } from "../../src/ha/snapshot-reader.ts";
import { SnapshotWriter } from "../../src/ha/snapshot-writer.ts";
import { readAfresh } from "../../src/ha/state-store.ts";
import { endpoints } from "../balancer/fixtures.ts";
import { MemoryLease } from "./memory-lease.ts";
import { MemoryShards } from "./memory-shards.ts";

const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
const PREFIX = "konsul-lb-state";
const SERVICE: ServiceEndpoints = { key: "shop/web", version: 1, endpoints: endpoints(3) };

interface Logged {
  level: "info" | "warn";
  fields: Record<string, unknown>;
  message: string;
}

function recorder(): { logger: { info: Log; warn: Log }; lines: Logged[] } {
  const lines: Logged[] = [];
  const at =
    (level: Logged["level"]): Log =>
    (fields, message) =>
      lines.push({ level, fields: fields as Record<string, unknown>, message });
  return { logger: { info: at("info"), warn: at("warn") }, lines };
}
type Log = (fields: object, message: string) => void;

function elector(api: LeaseApi, identity: string, events: string[], logger = recorder().logger) {
  return new LeaderElector({
    lease: api,
    identity,
    logger,
    ...TIMING,
    observer: {
      startedLeading: (term) => events.push(`start:${term.epoch}`),
      stoppedLeading: (reason) => events.push(`stop:${reason}`),
    },
  });
}

/** A Lease client whose next `update` takes `delayMs` to answer (then succeeds). */
function slowOnce(api: LeaseApi): LeaseApi & { slowNextUpdate(delayMs: number): void } {
  let delay = 0;
  return {
    get: (timeout) => api.get(timeout),
    create: (record, timeout) => api.create(record, timeout),
    update: async (record, resourceVersion, timeout) => {
      const wait = delay;
      delay = 0;
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return api.update(record, resourceVersion, timeout);
    },
    slowNextUpdate: (ms) => {
      delay = ms;
    },
  };
}

describe("one epoch per term", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a leader whose renews fail past the deadline and who then takes its own Lease back starts a new epoch", async () => {
    const lease = new MemoryLease();
    const api = lease.client("a");
    const events: string[] = [];
    const a = elector(api, "a", events);
    a.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.currentTerm()?.epoch).toBe(0);
    // The API is away for longer than the renew deadline but shorter than the lease: nobody else
    // campaigns, so the Lease still names `a` when it comes back.
    api.down(true);
    await vi.advanceTimersByTimeAsync(2_300);
    expect(a.isLeader()).toBe(false);
    api.down(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.isLeader()).toBe(true);
    expect(events).toEqual(["start:0", "stop:renew-deadline", "start:1"]);
    expect(a.currentTerm()).toEqual({ identity: "a", epoch: 1 });
    expect(lease.current?.record.leaseTransitions).toBe(1);
    await a.stop();
  });

  it("a renew that lands after the step-down does not revive the old term", async () => {
    const lease = new MemoryLease();
    const api = slowOnce(lease.client("a"));
    const events: string[] = [];
    const log = recorder();
    const a = elector(api, "a", events, log.logger);
    a.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.currentTerm()?.epoch).toBe(0);
    // The next renew takes 2.5 s: the step-down timer fires while it is in flight.
    api.slowNextUpdate(2_500);
    await vi.advanceTimersByTimeAsync(2_200);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(["start:0", "stop:renew-deadline"]);
    await vi.advanceTimersByTimeAsync(2_000);
    // The late success was not taken as leadership under epoch 0; the next attempt began a new
    // term under a new epoch.
    expect(events).toEqual(["start:0", "stop:renew-deadline", "start:1"]);
    expect(a.currentTerm()?.epoch).toBe(1);
    expect(log.lines.some((l) => l.message.includes("after the renew deadline"))).toBe(true);
    await a.stop();
  });

  it("releases made by a leader in its second term reach followers, so a successor does not count them again", async () => {
    const lease = new MemoryLease();
    const shards = new MemoryShards();
    const leaderApi = lease.client("leader");
    const leaderEvents: string[] = [];
    const leaderElector = elector(leaderApi, "leader", leaderEvents);
    const leaderManager = new BalancerManager({ now: () => Date.now() });
    const writer = new SnapshotWriter({
      api: shards,
      prefix: PREFIX,
      manager: leaderManager,
      logger: recorder().logger,
      term: () => leaderElector.currentTerm(),
      highestEpoch: () => leaderReader.highestEpoch(),
    });
    // The leader's own follower view (it learns epochs and sequences from its writes too).
    const leaderReader = new SnapshotReader({
      prefix: PREFIX,
      manager: leaderManager,
      isLeading: () => leaderElector.isLeader(),
      logger: recorder().logger,
    });
    const followerManager = new BalancerManager({ now: () => Date.now() });
    const followerLog = recorder();
    const followerReader = new SnapshotReader({
      prefix: PREFIX,
      manager: followerManager,
      isLeading: () => false,
      logger: followerLog.logger,
    });

    /** What the state store does on taking over, and the ConfigMap watch delivering writes. */
    const takeOver = (term: LeaderTerm) => {
      const existing = [...shards.objects.values()].map(
        (o) => [o.name, o.resourceVersion] as [string, string],
      );
      writer.begin(
        term,
        leaderReader.currentShards(),
        existing,
        leaderReader.highestSequence(term.epoch),
      );
    };
    const deliver = () => {
      for (const object of shards.objects.values()) {
        const snapshot = decodeSnapshot(object.text as string);
        leaderReader.apply(object.name, snapshot);
        followerReader.apply(object.name, snapshot);
      }
    };
    const writeAndDeliver = async () => {
      const outcome = await writer.write();
      deliver();
      return outcome;
    };
    const ids = (manager: BalancerManager) =>
      manager
        .exportConnections(SERVICE.key)
        .map((c) => c.id)
        .sort();

    // First term: three connections opened on the leader and replicated.
    leaderElector.start();
    await vi.advanceTimersByTimeAsync(100);
    const first = leaderElector.currentTerm() as LeaderTerm;
    takeOver(first);
    const opened = [0, 1, 2].map(() => leaderManager.openConnection(SERVICE, {}, 600_000).id);
    expect((await writeAndDeliver()).kind).toBe("done");
    expect(ids(followerManager)).toEqual([...opened].sort());

    // Renews fail past the deadline; nobody else campaigns; the leader takes its Lease back.
    leaderApi.down(true);
    await vi.advanceTimersByTimeAsync(2_300);
    expect(leaderElector.isLeader()).toBe(false);
    leaderApi.down(false);
    await vi.advanceTimersByTimeAsync(1_000);
    const second = leaderElector.currentTerm() as LeaderTerm;
    expect(second).not.toBeNull();
    expect(second.epoch).toBeGreaterThan(first.epoch);
    takeOver(second);

    // Second term: two releases made on the leader itself, then a write the follower must take.
    for (const id of opened.slice(0, 2)) expect(leaderManager.closeConnection(id)).toBe(true);
    expect((await writeAndDeliver()).kind).toBe("done");
    expect(followerLog.lines.filter((l) => l.message.includes("refused"))).toEqual([]);

    // The leader dies; the follower's view is what a successor continues from.
    await leaderElector.stop();
    expect(ids(followerManager)).toEqual([opened[2]]);
    expect(Object.fromEntries(followerManager.connectionCounts(SERVICE.key))).toEqual(
      Object.fromEntries(leaderManager.connectionCounts(SERVICE.key)),
    );
  });

  it("a writer that begins the same epoch again never restarts its sequence", async () => {
    const shards = new MemoryShards();
    const manager = new BalancerManager({ now: () => 0 });
    const term = { identity: "a", epoch: 4 };
    const writer = new SnapshotWriter({
      api: shards,
      prefix: PREFIX,
      manager,
      logger: recorder().logger,
      term: () => term,
      highestEpoch: () => 4,
    });
    writer.begin(term, 1, []);
    manager.openConnection(SERVICE, {}, 60_000);
    await writer.write();
    const sequenceOf = () =>
      decodeSnapshot([...shards.objects.values()][0]?.text as string).sequence;
    const before = sequenceOf();
    writer.begin(
      term,
      1,
      [...shards.objects.values()].map((o) => [o.name, o.resourceVersion] as [string, string]),
    );
    manager.openConnection(SERVICE, {}, 60_000);
    await writer.write();
    expect(sequenceOf()).toBeGreaterThan(before);
    // Another replica's view can know a higher sequence of the epoch: the writer goes on above it.
    writer.begin(term, 1, [], 40);
    manager.openConnection(SERVICE, {}, 60_000);
    shards.objects.clear();
    await writer.write();
    expect(sequenceOf()).toBe(41);
  });

  it("a refused snapshot is logged at warn level with both (epoch, sequence) pairs; a redelivery is not", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const log = recorder();
    const reader = new SnapshotReader({
      prefix: PREFIX,
      manager,
      isLeading: () => false,
      logger: log.logger,
    });
    const header = { format: 1, leader: "a", shard: 0, shards: 1, baseTime: 0, services: {} };
    const snapshot = (epoch: number, sequence: number) =>
      decodeSnapshot(JSON.stringify({ ...header, epoch, sequence }));
    const name = `${PREFIX}-0`;
    expect(reader.apply(name, snapshot(2, 7))).toBe("loaded");
    expect(reader.apply(name, snapshot(2, 7))).toBe("stale");
    expect(log.lines).toEqual([]);
    expect(reader.apply(name, snapshot(2, 1))).toBe("stale");
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      level: "warn",
      fields: {
        configmap: name,
        refused: { epoch: 2, sequence: 1, leader: "a" },
        kept: { epoch: 2, sequence: 7, leader: "a" },
      },
    });
  });
});

describe("a successor reads the state afresh", () => {
  it("continues from the predecessor's last write, not from what a lagging watch delivered", async () => {
    const shards = new MemoryShards();
    const leaderManager = new BalancerManager({ now: () => 0 });
    const writer = new SnapshotWriter({
      api: shards,
      prefix: PREFIX,
      manager: leaderManager,
      logger: recorder().logger,
      term: () => ({ identity: "old", epoch: 5 }),
      highestEpoch: () => 5,
    });
    writer.begin({ identity: "old", epoch: 5 }, 1, []);
    const ids = [0, 1, 2].map(() => leaderManager.openConnection(SERVICE, {}, 600_000).id);
    await writer.write();
    // The successor's watch delivered this first write, then hung.
    const successorManager = new BalancerManager({ now: () => 0 });
    const successor = new SnapshotReader({
      prefix: PREFIX,
      manager: successorManager,
      isLeading: () => false,
      logger: recorder().logger,
    });
    const [name, first] = [...shards.objects.entries()][0] as [string, { text: string | null }];
    successor.apply(name, decodeSnapshot(first.text as string));
    // The old leader releases two and writes again; the successor's watch never shows it.
    for (const id of ids.slice(0, 2)) leaderManager.closeConnection(id);
    await writer.write();
    const listed = () =>
      successorManager
        .exportConnections(SERVICE.key)
        .map((c) => c.id)
        .sort();
    expect(listed()).toEqual([...ids].sort());

    const existing = await readAfresh(shards, successor);
    expect(listed()).toEqual([ids[2]]);
    expect(existing).toEqual([[name, shards.objects.get(name)?.resourceVersion]]);
  });
});
