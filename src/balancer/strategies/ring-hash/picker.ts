import type { Endpoint } from "../../endpoint.ts";
import { hash53 } from "../../hash.ts";
import type { LoadView } from "../../loads.ts";
import type { ResolvedPolicy } from "../../policy.ts";
import type { BuildContext, CarriedState, Picker, PickRequest } from "../../strategy.ts";
import { hashKeyOf } from "../shared/hash-key.ts";
import { tableFingerprint, walkDistinct } from "../shared/hash-table.ts";
import { selectionSize } from "../shared/selection.ts";
import { buildRing, entriesPerEndpoint, type Ring } from "./ring.ts";

const TWO_POW_21 = 0x20_0000;
// Multiplying by a power of two's inverse is exact and much cheaper than dividing by it.
const INVERSE_TWO_POW_21 = 2 ** -21;
const TWO_POW_53 = 2 ** 53;

/**
 * Two probes per key (multi-probe consistent hashing, Appleton and O'Reilly 2015): a key goes to
 * the virtual node nearest after either of two positions derived from its hash. An endpoint
 * whose points happen to follow long gaps no longer collects every key in them, which evens the
 * shares out at the same ring size, and only the keys of an endpoint that leaves move (the
 * others' distances do not change). See docs/load-balancing.md for the measured spread.
 */

/** The j-th probe of a key hash: a 53-bit position mixed from the hash (murmur3's finaliser). */
export function probeOf(hash: number, j: number): number {
  // hash < 2^53, so its top 32 bits are an unsigned 32-bit integer: `>>> 0` truncates exactly.
  const high = (hash * INVERSE_TWO_POW_21) >>> 0;
  let x = (high + Math.imul(j, 0x9e3779b9)) ^ (hash - high * TWO_POW_21);
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  x ^= x >>> 16;
  let y = Math.imul(x ^ j, 0x27d4eb2f);
  y ^= y >>> 15;
  return (x >>> 0) * TWO_POW_21 + (y & (TWO_POW_21 - 1));
}

/**
 * Consistent hashing on a ring of virtual nodes (ring.ts), two probes per key (above).
 *
 * With a balance factor (bounded loads, Mirrokni et al. 2018; HAProxy's hash-balance-factor)
 * an endpoint already at ceil(factor/100 x average) in-flight requests, in proportion to its
 * weight, is passed over for the next one clockwise.
 */
export class RingHashPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly ring: Float64Array;
  private readonly ownerModulus: number;
  private readonly inverseOwnerModulus: number;
  private readonly bucketStart: Int32Array;
  private readonly inverseBucketWidth: number;
  private readonly hashOn: ResolvedPolicy["ringHash"]["hashOn"];
  private readonly balanceFactor: number | null;
  private readonly view: LoadView | null;
  private readonly totalWeight: number;

  /** `built`: the ring of these endpoints built elsewhere (off the event loop); absent = here. */
  constructor(context: BuildContext, built?: Ring) {
    const { endpoints, policy } = context;
    this.endpoints = endpoints;
    this.hashOn = policy.ringHash.hashOn;
    this.balanceFactor = policy.ringHash.balanceFactor;
    this.view = this.balanceFactor === null ? null : context.loads.view(endpoints);
    this.totalWeight = endpoints.reduce((sum, e) => sum + e.weight, 0);
    const ring: Ring = built ?? buildRing(endpoints, entriesPerEndpoint(endpoints, policy));
    this.ring = ring.entries;
    this.ownerModulus = ring.ownerModulus;
    this.inverseOwnerModulus = 1 / ring.ownerModulus;
    // The offsets are below the ring's 2^23-entry limit. Read as unsigned they might exceed 2^31,
    // so the optimised code would do its index arithmetic on them in floating point; read as
    // signed they stay small integers.
    const { bucketStart } = ring;
    this.bucketStart = new Int32Array(
      bucketStart.buffer,
      bucketStart.byteOffset,
      bucketStart.length,
    );
    this.inverseBucketWidth = ring.inverseBucketWidth;
  }

  private ownerAt(position: number): number {
    // Not `%`: on numbers beyond 32 bits it is a floating-point remainder, a library call. The
    // modulus is a power of two, so multiplying by its inverse is exact.
    const entry = this.ring[position] as number;
    return entry - Math.floor(entry * this.inverseOwnerModulus) * this.ownerModulus;
  }

  /**
   * The ring index of the entry nearest after either probe of the key (the first on ties). Each
   * probe's successor is found from the start of its bucket of the index; the two look-ups are
   * written out side by side so that their memory reads overlap.
   *
   * A bucket holds 4 entries on average. Of the 8 entries from its start, those below the probe
   * are counted without a branch: in a sorted ring their count is the step to the successor when
   * that is among them (all but about 1 pick in 1,000). A loop that stops at the successor
   * mispredicts its exit on almost every pick, and the counts written out here measured faster
   * than the same sum in a helper function.
   */
  private positionOf(request: PickRequest): number {
    const first = hash53(hashKeyOf(request, this.hashOn, "ring-hash"));
    const second = probeOf(first, 1);
    const ring = this.ring;
    const start = this.bucketStart;
    const firstBucket = Math.floor(first * this.inverseBucketWidth);
    const secondBucket = Math.floor(second * this.inverseBucketWidth);
    const length = ring.length;
    let firstAt = start[firstBucket] as number;
    let secondAt = start[secondBucket] as number;
    if (firstAt + 8 <= length && secondAt + 8 <= length) {
      firstAt +=
        +((ring[firstAt] as number) < first) +
        +((ring[firstAt + 1] as number) < first) +
        +((ring[firstAt + 2] as number) < first) +
        +((ring[firstAt + 3] as number) < first) +
        +((ring[firstAt + 4] as number) < first) +
        +((ring[firstAt + 5] as number) < first) +
        +((ring[firstAt + 6] as number) < first) +
        +((ring[firstAt + 7] as number) < first);
      secondAt +=
        +((ring[secondAt] as number) < second) +
        +((ring[secondAt + 1] as number) < second) +
        +((ring[secondAt + 2] as number) < second) +
        +((ring[secondAt + 3] as number) < second) +
        +((ring[secondAt + 4] as number) < second) +
        +((ring[secondAt + 5] as number) < second) +
        +((ring[secondAt + 6] as number) < second) +
        +((ring[secondAt + 7] as number) < second);
    }
    // The successor lies further on, or the ring ends within the 8 entries.
    while (firstAt < length && (ring[firstAt] as number) < first) firstAt++;
    while (secondAt < length && (ring[secondAt] as number) < second) secondAt++;
    // Past the last entry, the successor is the first one, a turn of the ring later.
    const firstDistance =
      firstAt === length
        ? (ring[0] as number) + TWO_POW_53 - first
        : (ring[firstAt] as number) - first;
    const secondDistance =
      secondAt === length
        ? (ring[0] as number) + TWO_POW_53 - second
        : (ring[secondAt] as number) - second;
    const at = secondDistance < firstDistance ? secondAt : firstAt;
    return at === length ? 0 : at;
  }

  /** The owner of the first entry clockwise whose endpoint is under its bounded load. */
  private boundedOwnerFrom(position: number): number {
    const view = this.view as LoadView;
    const factor = (this.balanceFactor as number) / 100;
    const average = (view.total + 1) / this.totalWeight;
    for (let step = 0; step < this.ring.length; step++) {
      const owner = this.ownerAt((position + step) % this.ring.length);
      const capacity = Math.ceil(factor * average * (this.endpoints[owner] as Endpoint).weight);
      if ((view.loads[owner] as number) + 1 <= capacity) return owner;
    }
    // Unreachable while loads are consistent: total capacity exceeds total load.
    return this.ownerAt(position);
  }

  pick(request: PickRequest): Endpoint {
    const position = this.positionOf(request);
    const owner = this.view ? this.boundedOwnerFrom(position) : this.ownerAt(position);
    return this.endpoints[owner] as Endpoint;
  }

  select(request: PickRequest, limit: number): Endpoint[] {
    const position = this.positionOf(request);
    const first = this.view ? this.boundedOwnerFrom(position) : undefined;
    return walkDistinct(
      this.endpoints,
      this.ring.length,
      (p) => this.ownerAt(p),
      position,
      selectionSize(this.endpoints.length, limit),
      first,
    );
  }

  exportState(): CarriedState {
    return { tableFingerprint: tableFingerprint(this.endpoints, this.ring) };
  }

  dispose(): void {
    this.view?.close();
  }
}
