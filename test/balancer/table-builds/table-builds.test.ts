import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint } from "../../../src/balancer/endpoint.ts";
import { BalancerManager, type ServiceEndpoints } from "../../../src/balancer/manager.ts";
import { OFFLOAD_MIN_ENTRIES, type TableBuildEvent } from "../../../src/balancer/picker-cache.ts";
import { resolvePolicy } from "../../../src/balancer/policy.ts";
import { DEFAULT_REGISTRY } from "../../../src/balancer/registry.ts";
import {
  jobEntries,
  runTableJob,
  type TableJob,
  tableBuffers,
} from "../../../src/balancer/table-builds/jobs.ts";
import { TableBuildPool } from "../../../src/balancer/table-builds/pool.ts";
import { build, endpoints } from "../fixtures.ts";

const pools: TableBuildPool[] = [];
function pool(workerUrl?: URL): TableBuildPool {
  const made = new TableBuildPool({ size: 1, ...(workerUrl ? { workerUrl } : {}) });
  pools.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function jobOf(name: "ring-hash" | "maglev" | "ip-hash", list: readonly Endpoint[]): TableJob {
  const strategy = DEFAULT_REGISTRY.get(name);
  const { picker } = build(name, list);
  const context = {
    endpoints: picker.endpoints,
    policy: resolvePolicy(undefined, DEFAULT_REGISTRY, {}),
  };
  return strategy?.table?.job(context as never) as TableJob;
}

function bytesOf(table: ReturnType<typeof runTableJob>): Uint8Array[] {
  return tableBuffers(table).map((buffer) => new Uint8Array(buffer));
}

describe("hash tables built on a worker thread", () => {
  it.each([
    ["ring-hash", 1000, (i: number) => 1 + (i % 10)],
    ["ring-hash", 7, () => 1],
    ["maglev", 1000, (i: number) => 1 + (i % 10)],
    ["maglev", 70_000, () => 1],
    ["ip-hash", 300, (i: number) => 1 + (i % 3)],
  ] as const)("are byte for byte the inline %s table (%i endpoints)", async (name, n, weight) => {
    const list = endpoints(n, weight);
    const job = jobOf(name, list);
    const inline = runTableJob(job);
    const off = await pool().build(job);
    expect(bytesOf(off)).toEqual(bytesOf(inline));
    // And the table the strategy's own build makes.
    const { picker } = build(name, list);
    const own = (picker as unknown as { ring?: Float64Array; table?: Uint16Array }).ring;
    const ownTable = own ?? (picker as unknown as { table: Uint16Array }).table;
    const offView = ArrayBuffer.isView(off) ? off : off.entries;
    expect(new Uint8Array(offView.buffer)).toEqual(new Uint8Array(ownTable.buffer));
  });

  it("counts a job's entries: ring entries, or Maglev's slots", () => {
    expect(jobEntries(jobOf("ring-hash", endpoints(10)))).toBe(1500);
    expect(jobEntries(jobOf("maglev", endpoints(10)))).toBe(65_537);
  });
});

/** A ring-hash service whose endpoints' identities start with `tag`: a pick shows its version. */
function service(version: number, tag: string, n = 1000): ServiceEndpoints {
  return {
    key: "shop/big",
    version,
    strategy: "ring-hash",
    endpoints: endpoints(n).map((e) => ({ ...e, identity: `${tag}-${e.identity}` })),
  };
}

function tagOf(manager: BalancerManager, current: ServiceEndpoints): string {
  return manager.selectOne(current, { sessionKey: "user-1" }).endpoint.identity.split("-")[0] ?? "";
}

async function settled(events: TableBuildEvent[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (events.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // One more turn: the picker is installed after the event.
  await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("a manager with a table build pool", () => {
  it("serves the old table until the new one is built, then the new one", async () => {
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: pool(),
      onTableBuild: (event) => events.push(event),
    });
    const v1 = service(1, "a");
    expect(tagOf(manager, v1)).toBe("a");
    const v2 = service(2, "b");
    manager.refresh(v2);
    // A request for the new version does not wait for its build.
    expect(tagOf(manager, v2)).toBe("a");
    await settled(events, 1);
    expect(events).toEqual([{ service: "shop/big", strategy: "ring-hash", where: "worker" }]);
    expect(tagOf(manager, v2)).toBe("b");
  });

  it("keeps one build in flight per slot and builds only the latest change after it", async () => {
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: pool(),
      onTableBuild: (event) => events.push(event),
    });
    expect(tagOf(manager, service(1, "a"))).toBe("a");
    for (const [version, tag] of [
      [2, "b"],
      [3, "c"],
      [4, "d"],
      [5, "e"],
    ] as const) {
      manager.refresh(service(version, tag));
    }
    await settled(events, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Version 2 was in flight; 3 and 4 were superseded before it ended; 5 was built next.
    expect(events).toHaveLength(2);
    expect(tagOf(manager, service(5, "e"))).toBe("e");
  });

  it("builds small tables inline, at once", () => {
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: pool(),
      onTableBuild: (event) => events.push(event),
    });
    const small = Math.floor(OFFLOAD_MIN_ENTRIES / 150 / 2);
    expect(tagOf(manager, service(1, "a", small))).toBe("a");
    manager.refresh(service(2, "b", small));
    expect(tagOf(manager, service(2, "b", small))).toBe("b");
    expect(events).toEqual([]);
  });

  it.each([
    ["dies", "dying-worker.ts"],
    ["fails the build", "failing-worker.ts"],
  ])("builds inline when the worker %s, and says so", async (_, file) => {
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: pool(new URL(`./${file}`, import.meta.url)),
      onTableBuild: (event) => events.push(event),
    });
    expect(tagOf(manager, service(1, "a"))).toBe("a");
    manager.refresh(service(2, "b"));
    await settled(events, 1);
    expect(events).toHaveLength(1);
    expect(events[0]?.where).toBe("fallback");
    expect(events[0]?.error?.message).toMatch(/exited with code 3|out of memory/);
    expect(tagOf(manager, service(2, "b"))).toBe("b");
  });

  it("stops offloading after repeated worker deaths", async () => {
    const dying = pool(new URL("./dying-worker.ts", import.meta.url));
    const job = jobOf("maglev", endpoints(3));
    for (let i = 0; i < 3; i++) await expect(dying.build(job)).rejects.toThrow(/exited/);
    expect(dying.accepting).toBe(false);
    await expect(dying.build(job)).rejects.toThrow(/stopped after 3 worker failures/);
  });

  it("does not install a table for a service forgotten meanwhile", async () => {
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: pool(),
      onTableBuild: (event) => events.push(event),
    });
    expect(tagOf(manager, service(1, "a"))).toBe("a");
    manager.refresh(service(2, "b"));
    manager.forget("shop/big");
    await settled(events, 1);
    expect(manager.serviceKeys()).toEqual([]);
  });
});

describe("closing the pool", () => {
  it("terminates its workers and rejects what was not done", async () => {
    const closing = pool();
    const job = jobOf("ring-hash", endpoints(1000));
    await closing.build(job);
    expect(closing.workers).toBe(1);
    const pending = expect(closing.build(job)).rejects.toThrow(/closed/);
    await closing.close();
    await pending;
    expect(closing.workers).toBe(0);
    await expect(closing.build(job)).rejects.toThrow(/closed/);
  });

  it("leaves a manager building inline", async () => {
    const closing = pool();
    const manager = new BalancerManager({ tableBuildPool: closing });
    expect(tagOf(manager, service(1, "a"))).toBe("a");
    await closing.close();
    manager.refresh(service(2, "b"));
    expect(tagOf(manager, service(2, "b"))).toBe("b");
  });

  it("drops a build it cut short without a fallback; the next request builds the table", async () => {
    const closing = pool();
    const events: TableBuildEvent[] = [];
    const manager = new BalancerManager({
      tableBuildPool: closing,
      onTableBuild: (event) => events.push(event),
    });
    expect(tagOf(manager, service(1, "a"))).toBe("a");
    manager.refresh(service(2, "b"));
    await closing.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    expect(tagOf(manager, service(2, "b"))).toBe("b");
  });

  it("rejects a size out of range, naming it", () => {
    expect(() => new TableBuildPool({ size: 0 })).toThrow(
      /table build workers: 0 is not allowed; expected an integer from 1 to 64/,
    );
  });
});
