import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CommitRefusedError, GroupCommit } from "../../src/ha/group-commit.ts";

/** A write that takes `ms` and records when it started and whether it landed. */
function writes(ms: number, outcome: () => boolean | Error = () => true) {
  const started: number[] = [];
  const write = async () => {
    started.push(Date.now());
    await new Promise((resolve) => setTimeout(resolve, ms));
    const result = outcome();
    if (result instanceof Error) throw result;
    return result;
  };
  return { write, started };
}

describe("GroupCommit", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a burst shares writes: the first caller starts one, everyone after it shares the next", async () => {
    const w = writes(10);
    const commit = new GroupCommit({ write: w.write, maxWaiters: 100, timeoutMs: 1_000 });
    const done: number[] = [];
    const all = Array.from({ length: 50 }, (_, i) => commit.durable().then(() => done.push(i)));
    await vi.advanceTimersByTimeAsync(5);
    // More changes while the first write is in flight.
    const late = Array.from({ length: 20 }, (_, i) =>
      commit.durable().then(() => done.push(100 + i)),
    );
    await vi.advanceTimersByTimeAsync(50);
    await Promise.all([...all, ...late]);
    expect(w.started).toHaveLength(2);
    expect(done).toHaveLength(70);
    // A caller is answered only by a write that started after it asked.
    expect(done.indexOf(100)).toBeGreaterThan(done.indexOf(49));
  });

  it("a failed write is an error for its waiters, and the next caller gets a fresh write", async () => {
    let fail = true;
    const w = writes(10, () => (fail ? new Error("apiserver away") : true));
    const commit = new GroupCommit({ write: w.write, maxWaiters: 100, timeoutMs: 1_000 });
    const first = commit.durable();
    const caught = first.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(20);
    const error = await caught;
    expect(error).toBeInstanceOf(CommitRefusedError);
    expect((error as CommitRefusedError).reason).toBe("failed");
    expect((error as Error).message).toContain("apiserver away");
    fail = false;
    const second = commit.durable();
    await vi.advanceTimersByTimeAsync(20);
    await expect(second).resolves.toBeUndefined();
  });

  it("answers a timeout when the write does not land in time", async () => {
    const w = writes(5_000);
    const commit = new GroupCommit({ write: w.write, maxWaiters: 100, timeoutMs: 200 });
    const result = commit.durable().catch((error: CommitRefusedError) => error.reason);
    await vi.advanceTimersByTimeAsync(250);
    expect(await result).toBe("timeout");
    await vi.advanceTimersByTimeAsync(5_000);
  });

  it("refuses past its waiter limit at once, and every waiter when leadership ends", async () => {
    const w = writes(100);
    const commit = new GroupCommit({ write: w.write, maxWaiters: 2, timeoutMs: 1_000 });
    const inFlight = commit.durable();
    await vi.advanceTimersByTimeAsync(1);
    const a = commit.durable().catch((error: CommitRefusedError) => error.reason);
    const b = commit.durable().catch((error: CommitRefusedError) => error.reason);
    const c = commit.durable().catch((error: CommitRefusedError) => error.reason);
    expect(await c).toBe("overloaded");
    commit.stop();
    expect(await a).toBe("not-leader");
    expect(await b).toBe("not-leader");
    await vi.advanceTimersByTimeAsync(200);
    await expect(inFlight).resolves.toBeUndefined();
    await expect(commit.durable()).rejects.toMatchObject({ reason: "not-leader" });
    commit.start();
    const again = commit.durable();
    await vi.advanceTimersByTimeAsync(200);
    await expect(again).resolves.toBeUndefined();
  });
});
