/**
 * The 64-bit key hash of the hash strategies: two xxHash32 lanes of the key's UTF-8 bytes, with
 * seeds 2s and 2s+1, side by side.
 *
 * Envoy and gRPC use xxHash64. In JavaScript its 64-bit multiplies must be emulated with 16-bit
 * limbs, which made one hash of a session key cost 200–450 ns here; xxHash32 is built from
 * Math.imul, which V8 compiles to one machine instruction, so two lanes cost a fraction of that
 * and keep every pick allocation-free. Two independently seeded lanes give the 64 bits of spread
 * that ring and Maglev tables want, and every replica computes exactly the same values.
 *
 * Results are exposed as 53-bit integers (the widest a JavaScript number holds exactly).
 */

const PRIME1 = 0x9e3779b1 | 0;
const PRIME2 = 0x85ebca77 | 0;
const PRIME3 = 0xc2b2ae3d | 0;
const PRIME4 = 0x27d4eb2f | 0;
const PRIME5 = 0x165667b1 | 0;

const TWO_POW_21 = 0x20_0000;

// The input of the current hash, UTF-8 encoded into a reused buffer.
let input: Uint8Array = new Uint8Array(256);
const encoder = new TextEncoder();

function encode(key: string): number {
  const length = key.length;
  // UTF-8 never takes more than three bytes per UTF-16 code unit.
  if (length * 3 > input.length) input = new Uint8Array(length * 3 + 64);
  for (let i = 0; i < length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return encoder.encodeInto(key, input).written;
    input[i] = c;
  }
  return length;
}

function readU32(offset: number): number {
  return (
    (input[offset] as number) |
    ((input[offset + 1] as number) << 8) |
    ((input[offset + 2] as number) << 16) |
    ((input[offset + 3] as number) << 24)
  );
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(accumulator: number, lane: number): number {
  return Math.imul(rotl((accumulator + Math.imul(lane, PRIME2)) | 0, 13), PRIME1);
}

// The two lanes of the last hash, unsigned.
const lanes = new Uint32Array(2);

/**
 * xxHash32 of the first `length` bytes of the shared input buffer with two seeds at once, into
 * `lanes`: one pass over the bytes feeds both lanes' accumulators.
 */
function xxhash32Pair(length: number, seedA: number, seedB: number): void {
  let offset = 0;
  let a: number;
  let b: number;
  if (length >= 16) {
    let a1 = (seedA + PRIME1 + PRIME2) | 0;
    let a2 = (seedA + PRIME2) | 0;
    let a3 = seedA | 0;
    let a4 = (seedA - PRIME1) | 0;
    let b1 = (seedB + PRIME1 + PRIME2) | 0;
    let b2 = (seedB + PRIME2) | 0;
    let b3 = seedB | 0;
    let b4 = (seedB - PRIME1) | 0;
    for (; offset + 16 <= length; offset += 16) {
      const w1 = readU32(offset);
      const w2 = readU32(offset + 4);
      const w3 = readU32(offset + 8);
      const w4 = readU32(offset + 12);
      a1 = round(a1, w1);
      a2 = round(a2, w2);
      a3 = round(a3, w3);
      a4 = round(a4, w4);
      b1 = round(b1, w1);
      b2 = round(b2, w2);
      b3 = round(b3, w3);
      b4 = round(b4, w4);
    }
    a = (rotl(a1, 1) + rotl(a2, 7) + rotl(a3, 12) + rotl(a4, 18)) | 0;
    b = (rotl(b1, 1) + rotl(b2, 7) + rotl(b3, 12) + rotl(b4, 18)) | 0;
  } else {
    a = (seedA + PRIME5) | 0;
    b = (seedB + PRIME5) | 0;
  }
  a = (a + length) | 0;
  b = (b + length) | 0;
  for (; offset + 4 <= length; offset += 4) {
    const word = Math.imul(readU32(offset), PRIME3);
    a = Math.imul(rotl((a + word) | 0, 17), PRIME4);
    b = Math.imul(rotl((b + word) | 0, 17), PRIME4);
  }
  for (; offset < length; offset++) {
    const byte = Math.imul(input[offset] as number, PRIME5);
    a = Math.imul(rotl((a + byte) | 0, 11), PRIME1);
    b = Math.imul(rotl((b + byte) | 0, 11), PRIME1);
  }
  a = Math.imul(a ^ (a >>> 15), PRIME2);
  a = Math.imul(a ^ (a >>> 13), PRIME3);
  b = Math.imul(b ^ (b >>> 15), PRIME2);
  b = Math.imul(b ^ (b >>> 13), PRIME3);
  lanes[0] = a ^ (a >>> 16);
  lanes[1] = b ^ (b >>> 16);
}

/** The 64-bit hash of `length` input bytes as [high, low] halves. */
function hash64(length: number, seed: number): [number, number] {
  xxhash32Pair(length, 2 * seed, 2 * seed + 1);
  return [lanes[0] as number, lanes[1] as number];
}

/** The top 53 bits of the key's 64-bit hash: an exact integer in [0, 2^53). */
export function hash53(key: string, seed = 0): number {
  xxhash32Pair(encode(key), 2 * seed, 2 * seed + 1);
  return (lanes[0] as number) * TWO_POW_21 + ((lanes[1] as number) >>> 11);
}

/** xxHash32 of a key with a seed, for tests against the reference implementation. */
export function xxhash32Of(key: string, seed = 0): number {
  xxhash32Pair(encode(key), seed, seed);
  return lanes[0] as number;
}

function hex([high, low]: [number, number]): string {
  return high.toString(16).padStart(8, "0") + low.toString(16).padStart(8, "0");
}

/** The key's 64-bit hash as 16 hex digits. */
export function hash64Hex(key: string, seed = 0): string {
  return hex(hash64(encode(key), seed));
}

/** The 64-bit hash of raw bytes as 16 hex digits: fingerprints of hash tables. */
export function hash64HexOfBytes(bytes: Uint8Array, seed = 0): string {
  const keyBuffer = input;
  input = bytes;
  try {
    return hex(hash64(bytes.length, seed));
  } finally {
    input = keyBuffer;
  }
}
