import fc from "fast-check";
import { describe, expect, it } from "vitest";
import xxhash from "xxhash-wasm";
import { hash53, xxhash64Hex, xxhash64HexOfBytes } from "../../src/balancer/hash.ts";

const reference = await xxhash();

describe("xxHash64", () => {
  it("matches the reference implementation on known inputs", () => {
    // xxHash64 of the empty string with seed 0 is a published constant.
    expect(xxhash64Hex("")).toBe("ef46db3751d8e999");
    for (const key of [
      "a",
      "10.0.0.1",
      "x".repeat(31),
      "y".repeat(32),
      "z".repeat(33),
      "ünïcødé-ключ-🔑",
    ]) {
      expect(xxhash64Hex(key)).toBe(reference.h64ToString(key));
    }
  });

  it("matches the reference for any string and seed", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (key, seed) => {
          expect(xxhash64Hex(key, seed)).toBe(reference.h64ToString(key, BigInt(seed)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("hashes bytes the same as the string they encode", () => {
    const key = "ring-hash fingerprint input over thirty-two bytes long";
    expect(xxhash64HexOfBytes(new TextEncoder().encode(key))).toBe(xxhash64Hex(key));
    // and leaves the string hasher working afterwards
    expect(xxhash64Hex("a")).toBe(reference.h64ToString("a"));
  });

  it("hash53 is the top 53 bits, an exact integer", () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        const h = hash53(key);
        expect(Number.isSafeInteger(h)).toBe(true);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(BigInt(h)).toBe(BigInt(`0x${xxhash64Hex(key)}`) >> 11n);
      }),
    );
  });
});
