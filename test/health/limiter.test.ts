import { describe, expect, it } from "vitest";
import { ConcurrencyLimiter } from "../../src/health/index.ts";

function gate(): { promise: Promise<void>; open(): void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("ConcurrencyLimiter", () => {
  it("runs at most max tasks at once and starts the rest in arrival order", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    gates.forEach((g, i) => {
      limiter.submit(async () => {
        started.push(i);
        await g.promise;
      });
    });
    expect(started).toEqual([0, 1]);
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(2);
    gates[1]?.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();
    await limiter.idle();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(limiter.active).toBe(0);
  });

  it("lets a waiting task be withdrawn, and a failing task still frees its slot", async () => {
    const limiter = new ConcurrencyLimiter(1);
    const first = gate();
    const ran: string[] = [];
    limiter.submit(async () => {
      await first.promise;
      throw new Error("task failed");
    });
    const withdraw = limiter.submit(async () => {
      ran.push("withdrawn");
    });
    limiter.submit(async () => {
      ran.push("kept");
    });
    withdraw();
    expect(limiter.queued).toBe(1);
    first.open();
    await limiter.idle();
    expect(ran).toEqual(["kept"]);
  });

  it("refuses a limit that is not a positive integer", () => {
    expect(() => new ConcurrencyLimiter(0)).toThrow(RangeError);
    expect(() => new ConcurrencyLimiter(1.5)).toThrow(RangeError);
  });
});
