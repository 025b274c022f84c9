import type { Endpoint } from "../endpoint.ts";
import { hash53 } from "../hash.ts";
import type { HashOn } from "../policy.ts";
import type { CarriedState, Picker, PickRequest, Strategy } from "../strategy.ts";
import { selectionSize } from "../strategy.ts";
import { hashKeyOf } from "./hash-key.ts";
import { tableFingerprint, walkDistinct } from "./hash-table.ts";

const OFFSET_SEED = 0;
const SKIP_SEED = 1;

/**
 * The Maglev lookup table (Eisenbud et al., NSDI 2016), weighted as Envoy does it: endpoints
 * take turns claiming their next preferred free slot, an endpoint of weight w taking a turn in
 * w out of every maxWeight rounds. Each endpoint's preference list is a permutation of the
 * table derived from its identity, so the table depends on the endpoint set alone.
 */
export function buildMaglevTable(
  endpoints: readonly Endpoint[],
  size: number,
): Uint16Array | Uint32Array {
  const n = endpoints.length;
  const table = n <= 0xffff ? new Uint16Array(size) : new Uint32Array(size);
  const filled = new Uint8Array(size);
  const position = new Float64Array(n);
  const skip = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const identity = (endpoints[i] as Endpoint).identity;
    position[i] = hash53(identity, OFFSET_SEED) % size;
    skip[i] = (hash53(identity, SKIP_SEED) % (size - 1)) + 1;
    maxWeight = Math.max(maxWeight, (endpoints[i] as Endpoint).weight);
  }
  let remaining = size;
  while (remaining > 0) {
    for (let i = 0; i < n && remaining > 0; i++) {
      credit[i] = (credit[i] as number) + (endpoints[i] as Endpoint).weight;
      if ((credit[i] as number) < maxWeight) continue;
      credit[i] = (credit[i] as number) - maxWeight;
      let slot = position[i] as number;
      while (filled[slot] === 1) {
        slot += skip[i] as number;
        if (slot >= size) slot -= size;
      }
      filled[slot] = 1;
      table[slot] = i;
      remaining--;
      slot += skip[i] as number;
      position[i] = slot >= size ? slot - size : slot;
    }
  }
  return table;
}

/** O(1) per pick: hash the key, index the table. */
export class MaglevPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly table: Uint16Array | Uint32Array;
  private readonly keyOf: (request: PickRequest) => string;

  constructor(
    endpoints: readonly Endpoint[],
    tableSize: number,
    keyOf: (request: PickRequest) => string,
  ) {
    this.endpoints = endpoints;
    this.table = buildMaglevTable(endpoints, tableSize);
    this.keyOf = keyOf;
  }

  private slotOf(request: PickRequest): number {
    return hash53(this.keyOf(request)) % this.table.length;
  }

  pick(request: PickRequest): Endpoint {
    return this.endpoints[this.table[this.slotOf(request)] as number] as Endpoint;
  }

  select(request: PickRequest, limit: number): Endpoint[] {
    const table = this.table;
    return walkDistinct(
      this.endpoints,
      table.length,
      (slot) => table[slot] as number,
      this.slotOf(request),
      selectionSize(this.endpoints.length, limit),
    );
  }

  exportState(): CarriedState {
    return { tableFingerprint: tableFingerprint(this.endpoints, this.table) };
  }

  dispose(): void {}
}

function keyFor(hashOn: HashOn) {
  return (request: PickRequest) => hashKeyOf(request, hashOn, "maglev");
}

export const maglev: Strategy = {
  name: "maglev",
  build: ({ endpoints, policy }) =>
    new MaglevPicker(endpoints, policy.maglev.tableSize, keyFor(policy.maglev.hashOn)),
};
