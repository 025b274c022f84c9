import type { Endpoint } from "../endpoint.ts";
import { hash53 } from "../hash.ts";
import type { LoadView } from "../loads.ts";
import type { ResolvedPolicy } from "../policy.ts";
import { sfc32 } from "../random.ts";
import type { BuildContext, CarriedState, Picker, PickRequest, Strategy } from "../strategy.ts";
import { selectionSize } from "../strategy.ts";
import { hashKeyOf } from "./hash-key.ts";
import { tableFingerprint, walkDistinct } from "./hash-table.ts";

const TWO_POW_21 = 0x20_0000;

/**
 * How many ring entries each endpoint gets: virtualNodes per unit of weight, the whole ring
 * scaled into [minRingSize, maxRingSize] as Envoy bounds it, every endpoint keeping at least one.
 * Cumulative rounding makes the counts add up exactly.
 */
export function entriesPerEndpoint(
  endpoints: readonly Endpoint[],
  policy: ResolvedPolicy,
): Uint32Array {
  const { virtualNodes, minRingSize, maxRingSize } = policy.ringHash;
  let totalWeight = 0;
  for (const endpoint of endpoints) totalWeight += endpoint.weight;
  const size = Math.min(maxRingSize, Math.max(minRingSize, totalWeight * virtualNodes));
  const counts = new Uint32Array(endpoints.length);
  let cumulative = 0;
  let assigned = 0;
  for (let i = 0; i < endpoints.length; i++) {
    cumulative += (endpoints[i] as Endpoint).weight;
    const upTo = Math.round((size * cumulative) / totalWeight);
    counts[i] = Math.max(1, upTo - assigned);
    assigned = Math.max(upTo, assigned + 1);
  }
  return counts;
}

/**
 * The positions of one endpoint's virtual nodes: a sfc32 stream seeded with the identity's
 * xxHash64. One hash per endpoint instead of one per virtual node keeps building a
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
 * Consistent hashing on a ring of virtual nodes with a binary search per pick. Each ring entry
 * is one float: the position's high bits with the owner's index in the low `indexBits` bits, so
 * a plain numeric sort orders the ring and no second array is needed.
 *
 * With a balance factor (bounded loads, Mirrokni et al. 2018; HAProxy's hash-balance-factor)
 * an endpoint already at ceil(factor/100 x average) in-flight requests, in proportion to its
 * weight, is passed over for the next one clockwise.
 */
class RingHashPicker implements Picker {
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
    ring.sort();
    this.ring = ring;
  }

  private ownerAt(position: number): number {
    return (this.ring[position] as number) % this.ownerModulus;
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

export const ringHash: Strategy = {
  name: "ring-hash",
  build: (context) => new RingHashPicker(context),
};
