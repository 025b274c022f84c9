import { describe, expect, it } from "vitest";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import type { LeaderTerm } from "../../src/ha/leader-election.ts";
import {
  connectionsOf,
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT,
  type Snapshot,
  SnapshotError,
  shardOf,
} from "../../src/ha/snapshot.ts";
import { SnapshotReader } from "../../src/ha/snapshot-reader.ts";
import {
  DEFAULT_SHARD_TARGET_BYTES,
  SHARD_HARD_LIMIT_BYTES,
  SnapshotWriter,
} from "../../src/ha/snapshot-writer.ts";
import { endpoints } from "../balancer/fixtures.ts";
import { MemoryShards } from "./memory-shards.ts";

const quiet = { info: () => {}, warn: () => {} };
const PREFIX = "konsul-lb-state";

function svc(key: string, n: number, version = 1): ServiceEndpoints {
  return { key, version, endpoints: endpoints(n, (i) => 1 + (i % 3)) };
}

interface Setup {
  manager: BalancerManager;
  api: MemoryShards;
  writer: SnapshotWriter;
  term: { current: LeaderTerm | null };
  seen: { epoch: number };
}

function setup(
  options: { targetBytes?: number; maxShards?: number; now?: () => number } = {},
): Setup {
  const manager = new BalancerManager({ now: options.now ?? (() => 1_000_000) });
  const api = new MemoryShards();
  const term = { current: { identity: "leader-a", epoch: 3 } as LeaderTerm | null };
  const seen = { epoch: 0 };
  const writer = new SnapshotWriter({
    api,
    prefix: PREFIX,
    manager,
    logger: quiet,
    term: () => term.current,
    highestEpoch: () => seen.epoch,
    targetBytes: options.targetBytes,
    maxShards: options.maxShards,
    now: () => 1_000_000,
  });
  writer.begin(term.current as LeaderTerm, 1, []);
  return { manager, api, writer, term, seen };
}

function stored(api: MemoryShards): Snapshot[] {
  return [...api.objects.values()].map((o) => decodeSnapshot(o.text as string));
}

/** A fleet: `services` services of `perService` endpoints, `connections` open per endpoint. */
function fill(manager: BalancerManager, services: number, perService: number, connections: number) {
  const list: ServiceEndpoints[] = [];
  for (let s = 0; s < services; s++) {
    const service = svc(`team-${s % 40}/service-${s}`, perService);
    list.push(service);
    manager.selectOne(service, { strategy: "round-robin" });
    manager.selectOne(service, { strategy: "weighted-round-robin" });
    for (let c = 0; c < connections * perService; c++) manager.openConnection(service, {}, 30_000);
  }
  return list;
}

describe("snapshot encoding", () => {
  it("round-trips a shard, with connection expiries relative to the base time", () => {
    const text = encodeSnapshot(
      {
        format: SNAPSHOT_FORMAT,
        epoch: 2,
        leader: "x",
        sequence: 9,
        shard: 0,
        shards: 1,
        baseTime: 5_000,
      },
      [
        [
          "a/b",
          JSON.stringify({
            pickers: { "round-robin|healthy": { cursor: "ep-1" } },
            connections: { "ep-0": [["id-1", 250]] },
          }),
        ],
      ],
    );
    const snapshot = decodeSnapshot(text);
    expect(snapshot).toMatchObject({ epoch: 2, leader: "x", sequence: 9, shards: 1 });
    expect(snapshot.services["a/b"]?.pickers).toEqual({
      "round-robin|healthy": { cursor: "ep-1" },
    });
    expect(connectionsOf(snapshot, "a/b")).toEqual([
      { id: "id-1", service: "a/b", identity: "ep-0", expiresAt: 5_250 },
    ]);
  });

  it("refuses a shard whose header is wrong and skips malformed entries", () => {
    expect(() => decodeSnapshot("{")).toThrow(SnapshotError);
    expect(() => decodeSnapshot(JSON.stringify({ format: 99 }))).toThrow(/format 99/);
    const header = { format: 1, epoch: 1, leader: "x", sequence: 1, baseTime: 0 };
    expect(() =>
      decodeSnapshot(JSON.stringify({ ...header, shard: 2, shards: 2, services: {} })),
    ).toThrow(/shard 2 of 2/);
    const snapshot = decodeSnapshot(
      JSON.stringify({
        ...header,
        shard: 0,
        shards: 1,
        services: {
          good: {
            connections: { e: [["id", 1], ["bad"], [3, 4]] },
            pickers: { s: { currentWeights: { e: 1.5, f: 2 } } },
          },
          bad: 7,
        },
      }),
    );
    expect(Object.keys(snapshot.services)).toEqual(["good"]);
    expect(snapshot.services.good?.connections).toEqual({ e: [["id", 1]] });
    expect(snapshot.services.good?.pickers).toEqual({ s: { currentWeights: { f: 2 } } });
  });

  it("spreads services evenly and stably over shards", () => {
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8_000; i++) counts[shardOf(`ns/service-${i}`, 8)]++;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(shardOf("ns/a", 1)).toBe(0);
    expect(shardOf("ns/a", 16) % 8).toBe(shardOf("ns/a", 8));
  });
});

describe("SnapshotWriter", () => {
  it("writes each changed shard once per pass and nothing when nothing changed", async () => {
    const { manager, api, writer } = setup();
    const service = svc("a/b", 3);
    manager.selectOne(service, { strategy: "round-robin" });
    expect(await writer.write()).toMatchObject({ kind: "done", written: 1, shards: 1 });
    expect(await writer.write()).toMatchObject({ kind: "done", written: 0, unchanged: 1 });
    // Many changes between two passes: one write.
    for (let i = 0; i < 50; i++) manager.selectOne(service, { strategy: "round-robin" });
    expect(await writer.write()).toMatchObject({ kind: "done", written: 1 });
    expect(api.log).toEqual([`create ${PREFIX}-0`, `replace ${PREFIX}-0`]);
    const [snapshot] = stored(api);
    expect(snapshot).toMatchObject({ epoch: 3, leader: "leader-a", sequence: 2 });
    expect(snapshot?.services["a/b"]?.pickers?.["round-robin|healthy"]).toEqual(
      manager.exportState("a/b")["round-robin|healthy"],
    );
  });

  it("writes nothing without a valid term", async () => {
    const { manager, api, writer, term } = setup();
    manager.selectOne(svc("a/b", 3), { strategy: "round-robin" });
    term.current = null;
    expect(await writer.write()).toEqual({ kind: "not-leader" });
    // A later term of another number is another writer's business.
    term.current = { identity: "leader-a", epoch: 4 };
    expect(await writer.write()).toEqual({ kind: "not-leader" });
    expect(api.log).toEqual([]);
  });

  it("stops for good once it has seen a newer epoch, in the view or on a conflict", async () => {
    const a = setup();
    a.manager.selectOne(svc("a/b", 3), { strategy: "round-robin" });
    await a.writer.write();
    // A newer leader (epoch 4) overwrites the shard; our next write meets a 409.
    a.api.overwrite(
      `${PREFIX}-0`,
      encodeSnapshot(
        { format: 1, epoch: 4, leader: "leader-b", sequence: 1, shard: 0, shards: 1, baseTime: 0 },
        [],
      ),
    );
    a.manager.selectOne(svc("a/b", 3), { strategy: "round-robin" });
    expect(await a.writer.write()).toEqual({ kind: "fenced", by: 4 });
    expect(await a.writer.write()).toEqual({ kind: "fenced", by: 4 });
    expect(decodeSnapshot(a.api.objects.get(`${PREFIX}-0`)?.text as string).leader).toBe(
      "leader-b",
    );

    const b = setup();
    b.seen.epoch = 7;
    expect(await b.writer.write()).toEqual({ kind: "fenced", by: 7 });
    expect(b.api.log).toEqual([]);
  });

  it("overwrites an older epoch's late write after reading it back", async () => {
    const { manager, api, writer } = setup();
    manager.selectOne(svc("a/b", 3), { strategy: "round-robin" });
    await writer.write();
    api.overwrite(
      `${PREFIX}-0`,
      encodeSnapshot(
        { format: 1, epoch: 2, leader: "old", sequence: 99, shard: 0, shards: 1, baseTime: 0 },
        [],
      ),
    );
    manager.selectOne(svc("a/b", 3), { strategy: "round-robin" });
    expect(await writer.write()).toMatchObject({ kind: "done", written: 1 });
    expect(stored(api)[0]?.leader).toBe("leader-a");
  });

  it("shards by service when a ConfigMap would pass the target size, and shrinks back", async () => {
    const { manager, api, writer } = setup({ targetBytes: 16 * 1024 });
    const services = fill(manager, 200, 10, 1);
    const outcome = await writer.write();
    expect(outcome.kind).toBe("done");
    const shards = writer.shardCount;
    expect(shards).toBeGreaterThan(1);
    const snapshots = stored(api);
    expect(snapshots).toHaveLength(shards);
    for (const object of api.objects.values()) {
      expect((object.text as string).length).toBeLessThanOrEqual(16 * 1024);
    }
    // Every service is in the shard its key hashes to, exactly once.
    const placed = snapshots.flatMap((s) =>
      Object.keys(s.services).map((k) => [k, s.shard] as const),
    );
    expect(placed).toHaveLength(200);
    for (const [key, shard] of placed) expect(shardOf(key, shards)).toBe(shard);
    // Most services go away: fewer shards, surplus ConfigMaps deleted.
    for (const service of services.slice(2)) manager.forget(service.key);
    await writer.write();
    expect(writer.shardCount).toBe(1);
    expect([...api.objects.keys()]).toEqual([`${PREFIX}-0`]);
  });

  it("stays under the object limit at 1,000 services x 10 endpoints with open connections", async () => {
    const rows: string[] = [];
    for (const perEndpoint of [0, 1, 10]) {
      const { manager, api, writer } = setup();
      fill(manager, 1_000, 10, perEndpoint);
      const started = performance.now();
      const outcome = await writer.write();
      const ms = performance.now() - started;
      if (outcome.kind !== "done") throw new Error(outcome.kind);
      const sizes = [...api.objects.values()].map((o) => (o.text as string).length);
      const largest = Math.max(...sizes);
      expect(largest).toBeLessThanOrEqual(DEFAULT_SHARD_TARGET_BYTES);
      expect(largest).toBeLessThan(SHARD_HARD_LIMIT_BYTES);
      // Everything is there: every connection, every service.
      const all = stored(api);
      const connections = all.reduce(
        (sum, s) =>
          sum + Object.keys(s.services).reduce((n, k) => n + connectionsOf(s, k).length, 0),
        0,
      );
      expect(connections).toBe(1_000 * 10 * perEndpoint);
      // A pass with nothing changed costs the export only.
      const again = performance.now();
      await writer.write();
      rows.push(
        `${perEndpoint} per endpoint (${connections} connections): ${sizes.length} shard(s), total ${(outcome.bytes / 1024).toFixed(0)} KiB, largest ${(largest / 1024).toFixed(0)} KiB, first pass ${ms.toFixed(0)} ms, unchanged pass ${(performance.now() - again).toFixed(0)} ms`,
      );
    }
    console.log(`state size at 1,000 services x 10 endpoints:\n  ${rows.join("\n  ")}`);
  });
});

describe("SnapshotReader", () => {
  function snapshot(
    epoch: number,
    sequence: number,
    services: Record<string, unknown>,
    extra: Partial<Snapshot> = {},
  ): Snapshot {
    return decodeSnapshot(
      JSON.stringify({
        format: 1,
        epoch,
        leader: `l${epoch}`,
        sequence,
        shard: 0,
        shards: 1,
        baseTime: 10_000,
        services,
        ...extra,
      }),
    );
  }

  function reader(
    manager: BalancerManager,
    leading = false,
    local?: { opens: any[]; closes: string[] },
  ) {
    return new SnapshotReader({
      prefix: PREFIX,
      manager,
      isLeading: () => leading,
      logger: quiet,
      // The simplest correction: drop what was released here, add what was opened here.
      local: local && {
        merge: (key, listed, released) => [
          ...listed.filter((c) => !local.closes.includes(c.id) && !released.includes(c.id)),
          ...local.opens.filter((c) => c.service === key && !listed.some((l) => l.id === c.id)),
        ],
      },
    });
  }

  it("mirrors the leader's connections and refuses older epochs and sequences", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const r = reader(manager);
    const name = `${PREFIX}-0`;
    expect(
      r.apply(
        name,
        snapshot(2, 5, {
          "a/b": {
            connections: {
              "ep-0": [
                ["x", 100],
                ["y", 100],
              ],
            },
          },
        }),
      ),
    ).toBe("loaded");
    expect(manager.connectionCounts("a/b").get("ep-0")).toBe(2);
    expect(r.apply(name, snapshot(2, 4, {}))).toBe("stale");
    expect(r.apply(name, snapshot(1, 50, {}))).toBe("stale");
    expect(manager.connectionCounts("a/b").get("ep-0")).toBe(2);
    expect(
      r.apply(name, snapshot(3, 1, { "a/b": { connections: { "ep-1": [["z", 100]] } } })),
    ).toBe("loaded");
    expect(Object.fromEntries(manager.connectionCounts("a/b"))).toEqual({ "ep-1": 1 });
    // A service the shard stops listing has no connections left.
    r.apply(name, snapshot(3, 2, {}));
    expect(manager.connectionCounts("a/b").size).toBe(0);
    expect(r.highestEpoch()).toBe(3);
    expect(r.apply("other-configmap", snapshot(1, 1, {}))).toBe("ignored");
  });

  it("keeps what this replica opened or released until the leader's snapshot shows it", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const local = {
      opens: [{ id: "mine", service: "a/b", identity: "ep-2", expiresAt: 50_000 }],
      closes: ["x"],
    };
    const r = reader(manager, false, local);
    r.apply(
      `${PREFIX}-0`,
      snapshot(1, 1, {
        "a/b": {
          connections: {
            "ep-0": [
              ["x", 100],
              ["y", 100],
            ],
          },
        },
      }),
    );
    expect(
      manager
        .exportConnections("a/b")
        .map((c) => c.id)
        .sort(),
    ).toEqual(["mine", "y"]);
  });

  it("leaves the manager alone while leading, but still learns epochs", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const r = reader(manager, true);
    r.apply(`${PREFIX}-0`, snapshot(5, 1, { "a/b": { connections: { "ep-0": [["x", 100]] } } }));
    expect(manager.connectionCounts("a/b").size).toBe(0);
    expect(r.highestEpoch()).toBe(5);
  });

  it("hands over picker state only from the current set of shards", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const r = reader(manager);
    const cursor = (c: string) => ({ pickers: { "round-robin|healthy": { cursor: c } } });
    r.apply(`${PREFIX}-0`, snapshot(1, 1, { "a/old": cursor("ep-1") }));
    r.apply(`${PREFIX}-1`, snapshot(1, 3, { "a/b": cursor("ep-2") }, { shard: 1, shards: 2 }));
    expect([...r.pickerStates().keys()]).toEqual(["a/b"]);
    expect(r.currentShards()).toBe(2);
  });
});
