import fc from "fast-check";
import { describe, expect, it } from "vitest";
import xxhash from "xxhash-wasm";
import { hash53, hash64Hex, hash64HexOfBytes, xxhash32Of } from "../../src/balancer/hash.ts";

const reference = await xxhash();

describe("key hash", () => {
  it("its lanes are xxHash32, matching the reference on known inputs", () => {
    // xxHash32 of the empty string with seed 0 is a published constant.
    expect(xxhash32Of("")).toBe(0x02cc5d05);
    for (const key of [
      "a",
      "10.0.0.1",
      "x".repeat(15),
      "y".repeat(16),
      "z".repeat(17),
      "ünïcødé-ключ-🔑",
    ]) {
      expect(xxhash32Of(key)).toBe(reference.h32(key));
    }
  });

  it("its lanes match the reference for any string and seed", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (key, seed) => {
          expect(xxhash32Of(key, seed)).toBe(reference.h32(key, seed));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("the 64-bit hash is lane 2s then lane 2s+1", () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 1000 }), (key, seed) => {
        const high = reference
          .h32(key, 2 * seed)
          .toString(16)
          .padStart(8, "0");
        const low = reference
          .h32(key, 2 * seed + 1)
          .toString(16)
          .padStart(8, "0");
        expect(hash64Hex(key, seed)).toBe(high + low);
      }),
    );
  });

  it("hashes bytes the same as the string they encode, and leaves key hashing intact", () => {
    const key = "ring-hash fingerprint input over thirty-two bytes long";
    expect(hash64HexOfBytes(new TextEncoder().encode(key))).toBe(hash64Hex(key));
    expect(xxhash32Of("a")).toBe(reference.h32("a"));
  });

  it("hashes any bytes the same as the string they encode, whatever their length", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (key) => {
        expect(hash64HexOfBytes(new TextEncoder().encode(key))).toBe(hash64Hex(key));
        expect(hash64Hex(key, 3)).toBe(hash64HexOfBytes(new TextEncoder().encode(key), 3));
      }),
    );
  });

  it("hashes bytes at any offset of their buffer, and keeps hashing keys as before", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.integer({ min: 0, max: 7 }),
        fc.string(),
        (data, offset, key) => {
          const before = hash64Hex(key);
          const shifted = new Uint8Array(data.length + offset);
          shifted.set(data, offset);
          expect(hash64HexOfBytes(shifted.subarray(offset))).toBe(hash64HexOfBytes(data));
          expect(hash64HexOfBytes(new Uint8Array(100_000))).toHaveLength(16);
          expect(hash64Hex(key)).toBe(before);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("hash53 is the top 53 bits, an exact integer", () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        const h = hash53(key);
        expect(Number.isSafeInteger(h)).toBe(true);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(BigInt(h)).toBe(BigInt(`0x${hash64Hex(key)}`) >> 11n);
      }),
    );
  });

  it("spreads sequential keys evenly over 64 buckets of both halves", () => {
    const high = new Array(64).fill(0);
    const low = new Array(64).fill(0);
    for (let i = 0; i < 64_000; i++) {
      const hex = hash64Hex(`key-${i}`);
      high[Number.parseInt(hex.slice(0, 8), 16) % 64]++;
      low[Number.parseInt(hex.slice(8), 16) % 64]++;
    }
    for (const buckets of [high, low]) {
      for (const count of buckets) expect(Math.abs(count - 1000)).toBeLessThan(150);
    }
  });
});
