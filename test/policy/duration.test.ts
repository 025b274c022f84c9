import { describe, expect, it } from "vitest";
import {
  DURATION_PATTERN,
  DurationError,
  formatDuration,
  parseDuration,
  tryParseDuration,
} from "../../src/policy/duration.ts";

describe("parseDuration", () => {
  it.each([
    ["1ms", 1],
    ["80ms", 80],
    ["1.5s", 1500],
    ["2m30s", 150_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["500us", 0.5],
    ["500µs", 0.5],
    ["500μs", 0.5],
    ["250000ns", 0.25],
    ["0", 0],
    ["0s", 0],
    [".5s", 500],
    ["1.1s", 1100],
    ["30s", 30_000],
  ])("reads %s as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    "",
    "80",
    "1",
    "ms",
    "1.5",
    "80 ms",
    " 80ms",
    "-1s",
    "+1s",
    "1d",
    "1sec",
    "1s2",
    ".s",
    "1e3ms",
    "3000000h",
  ])("rejects %j", (text) => {
    expect(tryParseDuration(text)).toBeNull();
    expect(() => parseDuration(text)).toThrow(DurationError);
  });

  it("names the text and the accepted form in its error", () => {
    expect(() => parseDuration("fast")).toThrow(
      /"fast" is not a duration; expected a number and a unit \(ns, us, ms, s, m, h\), such as "80ms"/,
    );
  });

  it("agrees with the schema pattern on what is a duration", () => {
    const pattern = new RegExp(DURATION_PATTERN, "u");
    for (const text of ["1ms", "2m30s", "500µs", "0", ".5s", "1.s"]) {
      expect(pattern.test(text), text).toBe(true);
      expect(tryParseDuration(text), text).not.toBeNull();
    }
    for (const text of ["80", "1 s", "-1s", "1d", ""]) {
      expect(pattern.test(text), text).toBe(false);
      expect(tryParseDuration(text), text).toBeNull();
    }
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0"],
    [1, "1ms"],
    [30_000, "30s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_661_001, "1h1m1s1ms"],
  ])("writes %d ms as %s, which reads back the same", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it("refuses fractions and negatives", () => {
    expect(() => formatDuration(1.5)).toThrow(RangeError);
    expect(() => formatDuration(-1)).toThrow(RangeError);
  });
});
