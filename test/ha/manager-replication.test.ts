import { describe, expect, it } from "vitest";
import {
  BalancerManager,
  type ConnectionEvent,
  type ServiceEndpoints,
} from "../../src/balancer/manager.ts";
import { endpoints } from "../balancer/fixtures.ts";

const service = (n: number, version = 1, weightOf?: (i: number) => number): ServiceEndpoints => ({
  key: "shop/checkout",
  version,
  endpoints: endpoints(n, weightOf),
});

function picks(manager: BalancerManager, svc: ServiceEndpoints, count: number, strategy: string) {
  return Array.from(
    { length: count },
    () => manager.selectOne(svc, { strategy }).endpoint.identity,
  );
}

describe("BalancerManager replication API", () => {
  it("a second manager continues a round-robin rotation from the imported cursor", () => {
    const svc = service(5);
    const leader = new BalancerManager();
    const sequence = picks(leader, svc, 12, "round-robin");
    const successor = new BalancerManager();
    successor.importState(svc.key, leader.exportState(svc.key));
    // The successor's own picker exists already: the import still wins at its next pick.
    const more = picks(leader, svc, 3, "round-robin");
    expect(picks(successor, svc, 3, "round-robin")).toEqual(more);
    expect(sequence.slice(0, 5)).toEqual(sequence.slice(5, 10));
  });

  it("continues smooth weighted round robin from imported current weights", () => {
    const svc = service(3, 1, (i) => [5, 1, 1][i] as number);
    const leader = new BalancerManager();
    picks(leader, svc, 3, "weighted-round-robin");
    const successor = new BalancerManager();
    successor.importState(svc.key, leader.exportState(svc.key));
    expect(picks(successor, svc, 14, "weighted-round-robin")).toEqual(
      picks(leader, svc, 14, "weighted-round-robin"),
    );
  });

  it("reports imported state it has not used yet, so re-exporting loses nothing", () => {
    const manager = new BalancerManager();
    manager.importState("a/b", { "round-robin|healthy": { cursor: "ep-3" } });
    expect(manager.exportState("a/b")).toEqual({ "round-robin|healthy": { cursor: "ep-3" } });
    expect(manager.serviceKeys()).toEqual(["a/b"]);
  });

  it("tells observers of opens, closes and expiries, not of imports", () => {
    let now = 1_000;
    const manager = new BalancerManager({ now: () => now });
    const events: string[] = [];
    manager.observeConnections((event: ConnectionEvent) =>
      events.push(`${event.kind}:${event.connection.id}`),
    );
    const svc = service(2);
    const first = manager.openConnection(svc, {}, 100);
    const second = manager.openConnection(svc, {}, 500);
    expect(manager.closeConnection(first.id)).toBe(true);
    manager.restoreConnection({ id: "x", service: svc.key, identity: "ep-0", expiresAt: 5_000 });
    manager.dropConnection("x");
    now = 2_000;
    manager.expireConnections();
    expect(events).toEqual([
      `opened:${first.id}`,
      `opened:${second.id}`,
      `closed:${first.id}`,
      `expired:${second.id}`,
    ]);
  });

  it("replaces a service's connections exactly, keeping counts right for least-connections", () => {
    const manager = new BalancerManager({ now: () => 0 });
    const svc = service(3);
    const mine = manager.openConnection(svc, {}, 1_000);
    const records = [
      { id: "a", service: svc.key, identity: "ep-1", expiresAt: 10_000 },
      { id: "b", service: svc.key, identity: "ep-1", expiresAt: 10_000 },
      { id: "c", service: svc.key, identity: "ep-2", expiresAt: 10_000 },
      { id: "gone", service: svc.key, identity: "ep-2", expiresAt: -1 },
    ];
    manager.replaceConnections(svc.key, records);
    expect(Object.fromEntries(manager.connectionCounts(svc.key))).toEqual({ "ep-1": 2, "ep-2": 1 });
    expect(manager.getConnection(mine.id)).toBeUndefined();
    expect(
      manager
        .exportConnections(svc.key)
        .map((c) => c.id)
        .sort(),
    ).toEqual(["a", "b", "c"]);
    // The least loaded endpoint is now ep-0.
    expect(manager.selectOne(svc, { strategy: "least-connections" }).endpoint.identity).toBe(
      "ep-0",
    );
    manager.replaceConnections(svc.key, [records[2] as never]);
    expect(Object.fromEntries(manager.connectionCounts(svc.key))).toEqual({ "ep-2": 1 });
    expect(manager.closeConnection("c")).toBe(true);
    expect(manager.connectionCounts(svc.key).size).toBe(0);
  });

  it("restores a connection only once and never an expired one", () => {
    const manager = new BalancerManager({ now: () => 100 });
    const record = { id: "r", service: "a/b", identity: "ep-0", expiresAt: 200 };
    expect(manager.restoreConnection(record)).toBe(true);
    expect(manager.restoreConnection(record)).toBe(false);
    expect(manager.restoreConnection({ ...record, id: "old", expiresAt: 100 })).toBe(false);
    expect(manager.connectionCounts("a/b").get("ep-0")).toBe(1);
  });
});
