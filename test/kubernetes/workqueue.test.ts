import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../src/kubernetes/workqueue.ts";
import { eventually } from "../support/service.ts";

describe("WorkQueue", () => {
  it("processes a burst of adds of one key once, and again when added during processing", async () => {
    const seen: string[] = [];
    let release: () => void = () => {};
    const queue = new WorkQueue(
      async (key) => {
        seen.push(key);
        if (seen.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { name: "test" },
    );
    for (let i = 0; i < 10; i++) queue.add("a");
    await eventually(() => expect(seen).toEqual(["a"]));
    queue.add("a"); // while "a" is being processed
    queue.add("a");
    release();
    await queue.whenIdle();
    expect(seen).toEqual(["a", "a"]);
  });

  it("lets the event loop turn between keys, so answers are not held behind a burst", async () => {
    const order: string[] = [];
    const queue = new WorkQueue(
      (key) => {
        order.push(key);
        // What an answer due meanwhile would be: a callback of the next turn of the loop.
        if (key === "a") setImmediate(() => order.push("answer"));
      },
      { name: "test" },
    );
    for (const key of ["a", "b", "c"]) queue.add(key);
    await queue.whenIdle();
    expect(order).toEqual(["a", "answer", "b", "c"]);
  });

  it("never processes one key twice at once, even with concurrency", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const queue = new WorkQueue(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
      },
      { name: "test", concurrency: 4 },
    );
    for (let round = 0; round < 5; round++) queue.add("same");
    for (let i = 0; i < 8; i++) queue.add(`k${i}`);
    await eventually(async () => {
      await queue.whenIdle();
      expect(inFlight).toBe(0);
    });
    expect(maxInFlight).toBeLessThanOrEqual(4);
  });

  it("retries a failing key with backoff until it succeeds, reporting each result", async () => {
    let attempts = 0;
    const results: string[] = [];
    const queue = new WorkQueue(
      () => {
        attempts++;
        if (attempts < 3) throw new Error("not yet");
      },
      {
        name: "test",
        retryInitialMs: 10,
        observer: { depth() {}, reconciled: (_queue, result) => results.push(result) },
      },
    );
    queue.add("k");
    await eventually(() => expect(attempts).toBe(3), 3000);
    expect(results).toEqual(["error", "error", "success"]);
    queue.stop();
  });

  it("does nothing after stop", async () => {
    let calls = 0;
    const queue = new WorkQueue(() => void calls++, { name: "test" });
    queue.stop();
    queue.add("k");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(0);
  });

  it("with minIntervalMs, merges the adds of one key within the interval into one later pass", async () => {
    const runs: { key: string; at: number }[] = [];
    const queue = new WorkQueue((key) => void runs.push({ key, at: performance.now() }), {
      name: "test",
      minIntervalMs: 200,
    });
    queue.add("policy");
    await eventually(() => expect(runs).toHaveLength(1));
    queue.add("other"); // other keys are not held back
    for (let i = 0; i < 10; i++) queue.add("policy");
    await eventually(() => expect(runs.map((run) => run.key)).toEqual(["policy", "other"]));
    await eventually(
      () => expect(runs.map((run) => run.key)).toEqual(["policy", "other", "policy"]),
      2000,
    );
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(runs).toHaveLength(3);
    // The merged pass came no sooner than the interval after the first.
    expect((runs[2]?.at ?? 0) - (runs[0]?.at ?? 0)).toBeGreaterThanOrEqual(195);
    queue.stop();
  });

  it("addNow passes over the interval: a key whose last pass did nothing runs at once", async () => {
    const runs: string[] = [];
    const queue = new WorkQueue((key) => void runs.push(key), {
      name: "test",
      minIntervalMs: 60_000,
    });
    queue.add("policy");
    await eventually(() => expect(runs).toEqual(["policy"]));
    queue.add("policy"); // held back for a minute
    queue.addNow("policy");
    await eventually(() => expect(runs).toEqual(["policy", "policy"]));
    // The held-back pass was merged into it, not left to run a minute later.
    queue.stop();
  });
});
