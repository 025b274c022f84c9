import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { validateTimings } from "../../src/ha/defaults.ts";
import { LeaderElector, type LeaderElectorOptions } from "../../src/ha/leader-election.ts";
import type { ObservedLease } from "../../src/ha/lease.ts";
import { MemoryLease } from "./memory-lease.ts";

const quiet = { info: () => {}, warn: () => {} };
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

function elector(
  lease: MemoryLease,
  identity: string,
  extra: Partial<LeaderElectorOptions> = {},
): { elector: LeaderElector; api: ReturnType<MemoryLease["client"]>; events: string[] } {
  const api = lease.client(identity);
  const events: string[] = [];
  const instance = new LeaderElector({
    lease: api,
    identity,
    address: `http://${identity}`,
    logger: quiet,
    ...TIMING,
    observer: {
      startedLeading: (term) => events.push(`start:${term.epoch}`),
      stoppedLeading: (reason) => events.push(`stop:${reason}`),
      leaderChanged: (holder) => events.push(`leader:${holder}`),
    },
    ...extra,
  });
  return { elector: instance, api, events };
}

/** Advances fake time in small steps, checking after each that at most one replica leads. */
async function run(ms: number, electors: readonly LeaderElector[], step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await vi.advanceTimersByTimeAsync(step);
    const leaders = electors.filter((e) => e.isLeader()).map((e) => e.identity);
    expect(leaders.length, `leaders at +${t} ms: ${leaders.join(", ")}`).toBeLessThanOrEqual(1);
  }
}

describe("LeaderElector", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("creates a missing Lease and leads with epoch 0, publishing its address", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a");
    a.elector.start();
    await run(100, [a.elector]);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.currentTerm()).toEqual({ identity: "a", epoch: 0 });
    expect(lease.current?.record).toMatchObject({
      holderIdentity: "a",
      leaseDurationSeconds: 3,
      leaseTransitions: 0,
      holderAddress: "http://a",
    });
    expect(a.events).toEqual(["leader:a", "start:0"]);
    await a.elector.stop();
  });

  it("renews every retry period with the resourceVersion it wrote", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a");
    a.elector.start();
    await run(5_100, [a.elector]);
    // Create at 0, then a renew each 500 ms; no read is needed while nothing conflicts.
    expect(lease.writes.length).toBeGreaterThanOrEqual(10);
    expect(lease.current?.record.leaseTransitions).toBe(0);
    expect(a.elector.isLeader()).toBe(true);
    await a.elector.stop();
  });

  it("waits a full lease duration from when it last saw the record change, not from renewTime", async () => {
    const lease = new MemoryLease();
    // A holder that wrote once, long ago by its own clock, then died.
    await lease.client("dead").create(
      {
        holderIdentity: "dead",
        leaseDurationSeconds: 3,
        acquireTime: "2001-01-01T00:00:00.000000Z",
        renewTime: "2001-01-01T00:00:00.000000Z",
        leaseTransitions: 4,
        holderAddress: null,
      },
      1000,
    );
    const b = elector(lease, "b");
    b.elector.start();
    await run(2_900, [b.elector]);
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.leader()).toEqual({ identity: "dead", address: null });
    await run(600, [b.elector]);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.elector.currentTerm()?.epoch).toBe(5);
    expect(lease.current?.record.leaseTransitions).toBe(5);
    await b.elector.stop();
  });

  it("steps down at the renew deadline, before anyone else may acquire", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a");
    const b = elector(lease, "b");
    a.elector.start();
    await run(200, [a.elector]);
    b.elector.start();
    await run(1_000, [a.elector, b.elector]);
    expect(a.elector.isLeader()).toBe(true);
    // a's API goes away: it can neither renew nor hear about the Lease.
    a.api.down(true);
    const cut = performance.now();
    let stoppedAt = -1;
    let acquiredAt = -1;
    for (let t = 0; t < 6_000; t += 10) {
      await run(10, [a.elector, b.elector]);
      if (stoppedAt < 0 && !a.elector.isLeader()) stoppedAt = performance.now() - cut;
      if (acquiredAt < 0 && b.elector.isLeader()) acquiredAt = performance.now() - cut;
    }
    expect(a.events).toContain("stop:renew-deadline");
    // The deadline counts from the start of the last good renew (at most a retry period ago).
    expect(stoppedAt).toBeLessThanOrEqual(TIMING.renewDeadlineMs + 10);
    expect(acquiredAt).toBeGreaterThan(stoppedAt);
    expect(acquiredAt).toBeLessThanOrEqual(TIMING.leaseDurationMs + TIMING.retryPeriodMs + 20);
    expect(b.elector.currentTerm()?.epoch).toBe(1);
    // Back online, a sees b's term and stays a follower.
    a.api.down(false);
    await run(2_000, [a.elector, b.elector]);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.leader()?.identity).toBe("b");
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  it("takes a 409 on acquire as a lost race", async () => {
    const lease = new MemoryLease();
    const api = lease.client("a");
    const racing = {
      ...api,
      // Someone renews between our read and our write.
      update: async (...args: Parameters<typeof api.update>) => {
        const current = lease.current as ObservedLease;
        await lease
          .client("other")
          .update({ ...current.record, holderIdentity: "other" }, current.resourceVersion, 1000);
        return api.update(...args);
      },
    };
    await lease.client("other").create(
      {
        holderIdentity: "",
        leaseDurationSeconds: 3,
        acquireTime: null,
        renewTime: null,
        leaseTransitions: 0,
        holderAddress: null,
      },
      1000,
    );
    const a = elector(lease, "a", { lease: racing });
    a.elector.start();
    await run(100, [a.elector]);
    expect(a.elector.isLeader()).toBe(false);
    expect(lease.current?.record.holderIdentity).toBe("other");
    await a.elector.stop();
  });

  it("releases on stop so that a successor takes over within a retry period", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a");
    const b = elector(lease, "b");
    a.elector.start();
    await run(100, [a.elector]);
    b.elector.start();
    await run(1_000, [a.elector, b.elector]);
    const stopped = performance.now();
    await a.elector.stop();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events.at(-1)).toBe("stop:released");
    expect(lease.current?.record.holderIdentity).toBe("");
    let acquiredAfter = -1;
    for (let t = 0; t < 1_000 && acquiredAfter < 0; t += 10) {
      await run(10, [a.elector, b.elector]);
      if (b.elector.isLeader()) acquiredAfter = performance.now() - stopped;
    }
    expect(acquiredAfter).toBeGreaterThan(0);
    expect(acquiredAfter).toBeLessThanOrEqual(TIMING.retryPeriodMs + 10);
    expect(b.elector.currentTerm()?.epoch).toBe(1);
    await b.elector.stop();
  });

  it("counts as leader by the clock, even when its timers are late", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a");
    a.elector.start();
    await run(100, [a.elector]);
    expect(a.elector.isLeader()).toBe(true);
    // A paused process: the clock moves, no timer has run yet.
    vi.setSystemTime(Date.now() + 5_000);
    const clockOnly = vi.spyOn(performance, "now").mockReturnValue(performance.now() + 5_000);
    expect(a.elector.isLeader()).toBe(false);
    clockOnly.mockRestore();
    await a.elector.stop();
  });

  it("creates a Lease with the transitions it is told, so epochs do not go back", async () => {
    const lease = new MemoryLease();
    const a = elector(lease, "a", { initialTransitions: () => 42 });
    a.elector.start();
    await run(100, [a.elector]);
    expect(a.elector.currentTerm()?.epoch).toBe(42);
    await a.elector.stop();
  });
});

describe("validateTimings", () => {
  it("refuses timings under which two leaders could overlap", () => {
    expect(() => validateTimings(15_000, 10_000, 2_000)).not.toThrow();
    expect(() => validateTimings(10_000, 10_000, 2_000)).toThrow(/longer than the renew deadline/);
    expect(() => validateTimings(15_000, 2_000, 2_000)).toThrow(/longer than the retry period/);
    expect(() => validateTimings(1_500, 1_000, 200)).toThrow(/whole seconds/);
    expect(() => validateTimings(15_000, 10_000, 0)).toThrow(/more than 0/);
  });
});
