import { describe, expect, it } from "vitest";
import { runInSlices, runToEnd, type Steps } from "../../src/shared/slices.ts";

function* countTo(n: number, seen: number[]): Steps<string> {
  for (let i = 1; i <= n; i++) {
    seen.push(i);
    yield;
  }
  return `counted to ${n}`;
}

describe("work in steps", () => {
  it("runs to the end at once", () => {
    const seen: number[] = [];
    expect(runToEnd(countTo(5, seen))).toBe("counted to 5");
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("runs in slices, the event loop turning between them", async () => {
    const seen: number[] = [];
    const between: number[][] = [];
    let counting = true;
    const look = () => {
      between.push([...seen]);
      if (counting) setImmediate(look);
    };
    setImmediate(look);
    // Slices of no time: a pause after every step.
    expect(await runInSlices(countTo(4, seen), 0)).toBe("counted to 4");
    counting = false;
    expect(between.slice(0, 4)).toEqual([[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
  });

  it("does not pause within a slice of time", async () => {
    const seen: number[] = [];
    let turns = 0;
    setImmediate(() => turns++);
    expect(await runInSlices(countTo(1000, seen), 60_000)).toBe("counted to 1000");
    expect(turns).toBe(0);
  });
});
