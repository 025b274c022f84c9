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

// The input of the current hash: its bytes, and its whole 32-bit little-endian words, which the
// hash reads a word at a time instead of assembling each from four bytes (the last one to three
// bytes are read from `bytes`). On a little-endian machine (every platform Node runs on but
// s390x) the words are a view of the bytes; elsewhere they are packed from them.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let bytes: Uint8Array = new Uint8Array(256);
let words: Int32Array = new Int32Array(bytes.buffer);
const encoder = new TextEncoder();

/** Makes room for `byteLength` bytes of input and the word that holds the last of them. */
function reserve(byteLength: number): void {
  if (byteLength + 4 <= bytes.length) return;
  bytes = new Uint8Array((byteLength & ~3) + 256);
  words = LITTLE_ENDIAN ? new Int32Array(bytes.buffer) : new Int32Array(bytes.length >> 2);
}

/**
 * Puts the key's UTF-8 bytes into the input; returns their count. `encodeInto` copies a
 * 36-character key natively in about half the time a loop of `charCodeAt` takes.
 */
function encode(key: string): number {
  // UTF-8 never takes more than three bytes per UTF-16 code unit.
  reserve(key.length * 3);
  const length = encoder.encodeInto(key, bytes).written;
  if (!LITTLE_ENDIAN) packWords(bytes, length, words);
  return length;
}

/** Packs the first `length` bytes of `source` into `target`'s little-endian words. */
function packWords(source: Uint8Array, length: number, target: Int32Array): void {
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    target[i >> 2] =
      (source[i] as number) |
      ((source[i + 1] as number) << 8) |
      ((source[i + 2] as number) << 16) |
      ((source[i + 3] as number) << 24);
  }
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

// The two lanes of the last hash, unsigned.
const lanes = new Uint32Array(2);

/**
 * xxHash32 of the first `length` bytes of the input with two seeds at once, into
 * `lanes`: one pass over the bytes feeds both lanes' accumulators.
 */
function xxhash32Pair(length: number, seedA: number, seedB: number): void {
  // A local reference: the module variable would be reloaded and checked on every read.
  const input = words;
  const tail = bytes;
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
    // Rounds written out rather than called: V8 does not inline them here, and the calls
    // cost more than the arithmetic.
    for (; offset + 16 <= length; offset += 16) {
      const w1 = Math.imul(input[offset >> 2] as number, PRIME2);
      const w2 = Math.imul(input[(offset >> 2) + 1] as number, PRIME2);
      const w3 = Math.imul(input[(offset >> 2) + 2] as number, PRIME2);
      const w4 = Math.imul(input[(offset >> 2) + 3] as number, PRIME2);
      a1 = (a1 + w1) | 0;
      a1 = Math.imul((a1 << 13) | (a1 >>> 19), PRIME1);
      a2 = (a2 + w2) | 0;
      a2 = Math.imul((a2 << 13) | (a2 >>> 19), PRIME1);
      a3 = (a3 + w3) | 0;
      a3 = Math.imul((a3 << 13) | (a3 >>> 19), PRIME1);
      a4 = (a4 + w4) | 0;
      a4 = Math.imul((a4 << 13) | (a4 >>> 19), PRIME1);
      b1 = (b1 + w1) | 0;
      b1 = Math.imul((b1 << 13) | (b1 >>> 19), PRIME1);
      b2 = (b2 + w2) | 0;
      b2 = Math.imul((b2 << 13) | (b2 >>> 19), PRIME1);
      b3 = (b3 + w3) | 0;
      b3 = Math.imul((b3 << 13) | (b3 >>> 19), PRIME1);
      b4 = (b4 + w4) | 0;
      b4 = Math.imul((b4 << 13) | (b4 >>> 19), PRIME1);
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
    const word = Math.imul(input[offset >> 2] as number, PRIME3);
    a = (a + word) | 0;
    a = Math.imul((a << 17) | (a >>> 15), PRIME4);
    b = (b + word) | 0;
    b = Math.imul((b << 17) | (b >>> 15), PRIME4);
  }
  for (; offset < length; offset++) {
    const byte = Math.imul(tail[offset] as number, PRIME5);
    a = (a + byte) | 0;
    a = Math.imul((a << 11) | (a >>> 21), PRIME1);
    b = (b + byte) | 0;
    b = Math.imul((b << 11) | (b >>> 21), PRIME1);
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

/** A uniform number in [0, 1), the same for every use of the key and seed. */
export function unitHash(key: string, seed = 0): number {
  return hash53(key, seed) / 2 ** 53;
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
export function hash64HexOfBytes(source: Uint8Array, seed = 0): string {
  // Hashed in place (a table may be megabytes): the input is pointed at `source` for this one
  // hash, never copied into, or kept in, the key buffer.
  const keyBytes = bytes;
  const keyWords = words;
  bytes = source;
  if (LITTLE_ENDIAN && source.byteOffset % 4 === 0) {
    words = new Int32Array(source.buffer, source.byteOffset, source.length >> 2);
  } else {
    words = new Int32Array(source.length >> 2);
    packWords(source, source.length, words);
  }
  try {
    return hex(hash64(source.length, seed));
  } finally {
    bytes = keyBytes;
    words = keyWords;
  }
}
