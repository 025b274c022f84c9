import type { Endpoint } from "../../endpoint.ts";
import { hash53 } from "../../hash.ts";
import type { LoadView } from "../../loads.ts";
import type { ResolvedPolicy } from "../../policy.ts";
import { sfc32 } from "../../random.ts";
import type { BuildContext, CarriedState, Picker, PickRequest } from "../../strategy.ts";
import { hashKeyOf } from "../shared/hash-key.ts";
import { tableFingerprint, walkDistinct } from "../shared/hash-table.ts";
import { selectionSize } from "../shared/selection.ts";

const TWO_POW_21 = 0x20_0000;

/**
 * How many ring entries each endpoint gets: virtualNodes per endpoint on average, shared out in
 * proportion to weight, the whole ring held within [minRingSize, maxRingSize] as Envoy bounds
 * it, every endpoint keeping at least one. Scaling by the average weight rather than by weight
 * alone keeps the ring at n x virtualNodes entries whatever the weights are. Cumulative
 * rounding makes the counts add up exactly. An endpoint in a slow-start ramp is counted at its
 * full weight and then given its ramp's share of its entries (a prefix of its final points), so
 * each step of the ramp adds its points and leaves every other endpoint's as they are.
 */
export function entriesPerEndpoint(
  endpoints: readonly Endpoint[],
  policy: ResolvedPolicy,
): Uint32Array {
  const { virtualNodes, minRingSize, maxRingSize } = policy.ringHash;
  let totalWeight = 0;
  for (const endpoint of endpoints) totalWeight += fullWeight(endpoint);
  const size = Math.min(maxRingSize, Math.max(minRingSize, endpoints.length * virtualNodes));
  const counts = new Uint32Array(endpoints.length);
  let cumulative = 0;
  let assigned = 0;
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = endpoints[i] as Endpoint;
    cumulative += fullWeight(endpoint);
    const upTo = Math.round((size * cumulative) / totalWeight);
    const full = Math.max(1, upTo - assigned);
    counts[i] =
      endpoint.rampFactor === undefined
        ? full
        : Math.max(1, Math.round(full * endpoint.rampFactor));
    assigned = Math.max(upTo, assigned + 1);
  }
  return counts;
}

function fullWeight(endpoint: Endpoint): number {
  return endpoint.rampFactor === undefined
    ? endpoint.weight
    : endpoint.weight / endpoint.rampFactor;
}

/**
 * The positions of one endpoint's virtual nodes: a sfc32 stream seeded with the identity's
 * 64-bit hash. One hash per endpoint instead of one per virtual node keeps building a
 * 150,000-entry ring in the low milliseconds; the points depend on the identity alone.
 */
function virtualNodePositions(
  identity: string,
  count: number,
  out: Float64Array,
  at: number,
): void {
  const next = sfc32(
    Math.floor(hash53(identity) / TWO_POW_21) | 0,
    hash53(identity, 1) | 0,
    hash53(identity, 2) | 0,
    1,
  );
  for (let i = 0; i < 12; i++) next();
  for (let i = 0; i < count; i++) out[at + i] = next() * TWO_POW_21 + (next() >>> 11);
}

/**
 * Sorts hash positions in [0, 2^53) by distributing them into about one bucket per entry by
 * their top bits, then insertion-sorting each bucket. Hash positions are uniform, so buckets
 * hold one or two entries and the sort is linear: about ten times faster than the built-in
 * Float64Array sort on a 150,000-entry ring. A bucket that is crowded anyway is sorted natively.
 */
export function sortUniform(values: Float64Array): Float64Array {
  const n = values.length;
  let bucketBits = 1;
  while (bucketBits < 20 && 2 ** bucketBits < n) bucketBits++;
  const bucketWidth = 2 ** (53 - bucketBits);
  const start = new Uint32Array(2 ** bucketBits + 1);
  for (let i = 0; i < n; i++) {
    const bucket = Math.floor((values[i] as number) / bucketWidth) + 1;
    start[bucket] = (start[bucket] as number) + 1;
  }
  for (let b = 1; b < start.length; b++) start[b] = (start[b] as number) + (start[b - 1] as number);
  const sorted = new Float64Array(n);
  const next = start.slice(0, -1);
  for (let i = 0; i < n; i++) {
    const value = values[i] as number;
    const bucket = Math.floor(value / bucketWidth);
    sorted[next[bucket] as number] = value;
    next[bucket] = (next[bucket] as number) + 1;
  }
  for (let b = 0; b + 1 < start.length; b++) {
    const from = start[b] as number;
    const to = start[b + 1] as number;
    if (to - from > 32) {
      sorted.subarray(from, to).sort();
      continue;
    }
    for (let i = from + 1; i < to; i++) {
      const value = sorted[i] as number;
      let j = i - 1;
      while (j >= from && (sorted[j] as number) > value) {
        sorted[j + 1] = sorted[j] as number;
        j--;
      }
      sorted[j + 1] = value;
    }
  }
  return sorted;
}

/**
 * Consistent hashing on a ring of virtual nodes with a binary search per pick. Each ring entry
 * is one float: the position's high bits with the owner's index in the low `indexBits` bits, so
 * a plain numeric sort orders the ring and no second array is needed.
 *
 * With a balance factor (bounded loads, Mirrokni et al. 2018; HAProxy's hash-balance-factor)
 * an endpoint already at ceil(factor/100 x average) in-flight requests, in proportion to its
 * weight, is passed over for the next one clockwise.
 */
export class RingHashPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly ring: Float64Array;
  private readonly ownerModulus: number;
  private readonly hashOn: ResolvedPolicy["ringHash"]["hashOn"];
  private readonly balanceFactor: number | null;
  private readonly view: LoadView | null;
  private readonly totalWeight: number;

  constructor(context: BuildContext) {
    const { endpoints, policy } = context;
    this.endpoints = endpoints;
    this.hashOn = policy.ringHash.hashOn;
    this.balanceFactor = policy.ringHash.balanceFactor;
    this.view = this.balanceFactor === null ? null : context.loads.view(endpoints);
    this.totalWeight = endpoints.reduce((sum, e) => sum + e.weight, 0);
    let indexBits = 1;
    while (2 ** indexBits < endpoints.length) indexBits++;
    this.ownerModulus = 2 ** indexBits;
    const counts = entriesPerEndpoint(endpoints, policy);
    const ring = new Float64Array(counts.reduce((sum, c) => sum + c, 0));
    let at = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const count = counts[i] as number;
      virtualNodePositions((endpoints[i] as Endpoint).identity, count, ring, at);
      for (let k = at; k < at + count; k++) {
        ring[k] = Math.floor((ring[k] as number) / this.ownerModulus) * this.ownerModulus + i;
      }
      at += count;
    }
    this.ring = sortUniform(ring);
  }

  private ownerAt(position: number): number {
    // Not `%`: on numbers beyond 32 bits it is a floating-point remainder, a library call.
    const entry = this.ring[position] as number;
    return entry - Math.floor(entry / this.ownerModulus) * this.ownerModulus;
  }

  /** The first ring position at or after the key's hash, wrapping to 0. */
  private positionOf(request: PickRequest): number {
    const hash = hash53(hashKeyOf(request, this.hashOn, "ring-hash"));
    const target = Math.floor(hash / this.ownerModulus) * this.ownerModulus;
    const ring = this.ring;
    let low = 0;
    let high = ring.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((ring[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    return low === ring.length ? 0 : low;
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
