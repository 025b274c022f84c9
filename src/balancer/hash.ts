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

/** xxHash32 of the first `length` bytes of the shared input buffer, as an unsigned integer. */
function xxhash32(length: number, seed: number): number {
  let offset = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) | 0;
    let v2 = (seed + PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME1) | 0;
    for (; offset + 16 <= length; offset += 16) {
      v1 = round(v1, readU32(offset));
      v2 = round(v2, readU32(offset + 4));
      v3 = round(v3, readU32(offset + 8));
      v4 = round(v4, readU32(offset + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + PRIME5) | 0;
  }
  h = (h + length) | 0;
  for (; offset + 4 <= length; offset += 4) {
    h = Math.imul(rotl((h + Math.imul(readU32(offset), PRIME3)) | 0, 17), PRIME4);
  }
  for (; offset < length; offset++) {
    h = Math.imul(rotl((h + Math.imul(input[offset] as number, PRIME5)) | 0, 11), PRIME1);
  }
  h = Math.imul(h ^ (h >>> 15), PRIME2);
  h = Math.imul(h ^ (h >>> 13), PRIME3);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The 64-bit hash of `length` input bytes as [high, low] halves. */
function hash64(length: number, seed: number): [number, number] {
  return [xxhash32(length, 2 * seed), xxhash32(length, 2 * seed + 1)];
}

/** The top 53 bits of the key's 64-bit hash: an exact integer in [0, 2^53). */
export function hash53(key: string, seed = 0): number {
  const length = encode(key);
  return xxhash32(length, 2 * seed) * TWO_POW_21 + (xxhash32(length, 2 * seed + 1) >>> 11);
}

/** xxHash32 of a key with a seed, for tests against the reference implementation. */
export function xxhash32Of(key: string, seed = 0): number {
  return xxhash32(encode(key), seed);
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
