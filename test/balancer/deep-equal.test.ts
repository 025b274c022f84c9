import { describe, expect, it } from "vitest";
import { deepEqual } from "../../src/balancer/deep-equal.ts";

describe("deepEqual", () => {
  it("compares plain data by content, ignoring key order", () => {
    expect(deepEqual({ a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual({ a: null }, { a: null })).toBe(true);
    expect(deepEqual({}, { a: null })).toBe(false);
  });

  it("treats a key holding undefined as absent", () => {
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual({ a: undefined }, { b: undefined })).toBe(true);
    expect(deepEqual({ a: 1, b: undefined }, { a: 1, c: 2 })).toBe(false);
    expect(deepEqual({ a: 1, c: 2 }, { a: 1, b: undefined })).toBe(false);
    expect(deepEqual({ a: undefined, c: 2 }, { b: undefined, c: 2 })).toBe(true);
  });
});
