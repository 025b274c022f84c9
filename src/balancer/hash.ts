/**
 * xxHash64, the hash Envoy and gRPC use for ring hash and Maglev, written over pairs of 32-bit
 * halves so that hashing a key allocates nothing (BigInt arithmetic would allocate on every step).
 *
 * Keys are hashed as UTF-8. The result is exposed as a 53-bit integer (the top 53 bits of the
 * 64-bit hash) because that is the widest integer a JavaScript number holds exactly; it is what
 * hash tables store and compare.
 */

// The five xxHash64 primes, as [high, low] 32-bit halves.
const P1_HI = 0x9e3779b1;
const P1_LO = 0x85ebca87;
const P2_HI = 0xc2b2ae3d;
const P2_LO = 0x27d4eb4f;
const P3_HI = 0x165667b1;
const P3_LO = 0x9e3779f9;
const P4_HI = 0x85ebca77;
const P4_LO = 0xc2b2ae63;
const P5_HI = 0x27d4eb2f;
const P5_LO = 0x165667c5;

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_21 = 0x20_0000;

// Results of the 64-bit helpers land here instead of in a fresh object per operation.
let resHi = 0;
let resLo = 0;

/** (ah:al) * (bh:bl) mod 2^64 into resHi:resLo. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33, exact
  const low = a0 * b0 + (mid % 0x10000) * 0x10000; // < 2^33, exact
  const carry = Math.floor(low / TWO_POW_32);
  const highOfLowProduct = a1 * b1 + Math.floor(mid / 0x10000) + carry;
  resLo = low >>> 0;
  resHi = (highOfLowProduct + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (ah:al) + (bh:bl) mod 2^64 into resHi:resLo. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const low = al + bl;
  resLo = low >>> 0;
  resHi = (ah + bh + (low >= TWO_POW_32 ? 1 : 0)) >>> 0;
}

/** Rotate left by r (0 < r < 32) into resHi:resLo. */
function rotl(h: number, l: number, r: number): void {
  resHi = ((h << r) | (l >>> (32 - r))) >>> 0;
  resLo = ((l << r) | (h >>> (32 - r))) >>> 0;
}

// The input of the current hash, UTF-8 encoded into a reused buffer.
let input: Uint8Array = new Uint8Array(256);
const encoder = new TextEncoder();

function encode(key: string): number {
  const length = key.length;
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
    ((input[offset] as number) |
      ((input[offset + 1] as number) << 8) |
      ((input[offset + 2] as number) << 16) |
      ((input[offset + 3] as number) << 24)) >>>
    0
  );
}

/** One xxHash64 round: acc = rotl(acc + lane * P2, 31) * P1, into resHi:resLo. */
function round(accHi: number, accLo: number, laneHi: number, laneLo: number): void {
  mul(laneHi, laneLo, P2_HI, P2_LO);
  add(accHi, accLo, resHi, resLo);
  rotl(resHi, resLo, 31);
  mul(resHi, resLo, P1_HI, P1_LO);
}

function mergeRound(accHi: number, accLo: number, vHi: number, vLo: number): void {
  round(0, 0, vHi, vLo);
  mul((accHi ^ resHi) >>> 0, (accLo ^ resLo) >>> 0, P1_HI, P1_LO);
  add(resHi, resLo, P4_HI, P4_LO);
}

/** xxHash64 of the first `length` bytes of the shared input buffer; leaves the hash in resHi:resLo. */
function hashInput(length: number, seed: number): void {
  let hHi: number;
  let hLo: number;
  let offset = 0;
  const seedHi = Math.floor(seed / TWO_POW_32) >>> 0;
  const seedLo = seed >>> 0;
  if (length >= 32) {
    add(seedHi, seedLo, P1_HI, P1_LO);
    add(resHi, resLo, P2_HI, P2_LO);
    let v1Hi = resHi;
    let v1Lo = resLo;
    add(seedHi, seedLo, P2_HI, P2_LO);
    let v2Hi = resHi;
    let v2Lo = resLo;
    let v3Hi = seedHi;
    let v3Lo = seedLo;
    // seed - P1 == seed + (2^64 - P1)
    add(seedHi, seedLo, ~P1_HI >>> 0, ~P1_LO >>> 0);
    add(resHi, resLo, 0, 1);
    let v4Hi = resHi;
    let v4Lo = resLo;
    const limit = length - 32;
    while (offset <= limit) {
      round(v1Hi, v1Lo, readU32(offset + 4), readU32(offset));
      v1Hi = resHi;
      v1Lo = resLo;
      round(v2Hi, v2Lo, readU32(offset + 12), readU32(offset + 8));
      v2Hi = resHi;
      v2Lo = resLo;
      round(v3Hi, v3Lo, readU32(offset + 20), readU32(offset + 16));
      v3Hi = resHi;
      v3Lo = resLo;
      round(v4Hi, v4Lo, readU32(offset + 28), readU32(offset + 24));
      v4Hi = resHi;
      v4Lo = resLo;
      offset += 32;
    }
    rotl(v1Hi, v1Lo, 1);
    let accHi = resHi;
    let accLo = resLo;
    rotl(v2Hi, v2Lo, 7);
    add(accHi, accLo, resHi, resLo);
    accHi = resHi;
    accLo = resLo;
    rotl(v3Hi, v3Lo, 12);
    add(accHi, accLo, resHi, resLo);
    accHi = resHi;
    accLo = resLo;
    rotl(v4Hi, v4Lo, 18);
    add(accHi, accLo, resHi, resLo);
    mergeRound(resHi, resLo, v1Hi, v1Lo);
    mergeRound(resHi, resLo, v2Hi, v2Lo);
    mergeRound(resHi, resLo, v3Hi, v3Lo);
    mergeRound(resHi, resLo, v4Hi, v4Lo);
    hHi = resHi;
    hLo = resLo;
  } else {
    add(seedHi, seedLo, P5_HI, P5_LO);
    hHi = resHi;
    hLo = resLo;
  }
  add(hHi, hLo, Math.floor(length / TWO_POW_32), length >>> 0);
  hHi = resHi;
  hLo = resLo;

  while (offset + 8 <= length) {
    round(0, 0, readU32(offset + 4), readU32(offset));
    rotl((hHi ^ resHi) >>> 0, (hLo ^ resLo) >>> 0, 27);
    mul(resHi, resLo, P1_HI, P1_LO);
    add(resHi, resLo, P4_HI, P4_LO);
    hHi = resHi;
    hLo = resLo;
    offset += 8;
  }
  if (offset + 4 <= length) {
    mul(0, readU32(offset), P1_HI, P1_LO);
    rotl((hHi ^ resHi) >>> 0, (hLo ^ resLo) >>> 0, 23);
    mul(resHi, resLo, P2_HI, P2_LO);
    add(resHi, resLo, P3_HI, P3_LO);
    hHi = resHi;
    hLo = resLo;
    offset += 4;
  }
  while (offset < length) {
    mul(0, input[offset] as number, P5_HI, P5_LO);
    rotl((hHi ^ resHi) >>> 0, (hLo ^ resLo) >>> 0, 11);
    mul(resHi, resLo, P1_HI, P1_LO);
    hHi = resHi;
    hLo = resLo;
    offset += 1;
  }

  // Avalanche.
  hLo = (hLo ^ (hHi >>> 1)) >>> 0; // h ^= h >> 33
  mul(hHi, hLo, P2_HI, P2_LO);
  hHi = resHi;
  hLo = ((resLo ^ ((resLo >>> 29) | (resHi << 3))) >>> 0) as number; // h ^= h >> 29
  hHi = (hHi ^ (hHi >>> 29)) >>> 0;
  mul(hHi, hLo, P3_HI, P3_LO);
  resLo = (resLo ^ resHi) >>> 0; // h ^= h >> 32
}

/** The top 53 bits of xxHash64(key, seed) as an exact integer in [0, 2^53). */
export function hash53(key: string, seed = 0): number {
  hashInput(encode(key), seed);
  return resHi * TWO_POW_21 + (resLo >>> 11);
}

/** The full xxHash64(key, seed) as 16 lowercase hex digits (for tests and fingerprints). */
export function xxhash64Hex(key: string, seed = 0): string {
  hashInput(encode(key), seed);
  return resHi.toString(16).padStart(8, "0") + resLo.toString(16).padStart(8, "0");
}

/** xxHash64 of raw bytes as 16 hex digits: fingerprints of hash tables. */
export function xxhash64HexOfBytes(bytes: Uint8Array, seed = 0): string {
  const keyBuffer = input;
  input = bytes;
  try {
    hashInput(bytes.length, seed);
  } finally {
    input = keyBuffer;
  }
  return resHi.toString(16).padStart(8, "0") + resLo.toString(16).padStart(8, "0");
}
