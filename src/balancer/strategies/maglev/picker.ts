import type { Endpoint } from "../../endpoint.ts";
import { hash53 } from "../../hash.ts";
import type { CarriedState, Picker, PickRequest } from "../../strategy.ts";
import { tableFingerprint, walkDistinct } from "../shared/hash-table.ts";
import { selectionSize } from "../shared/selection.ts";

const OFFSET_SEED = 0;
const SKIP_SEED = 1;

/**
 * The Maglev lookup table (Eisenbud et al., NSDI 2016), weighted as Envoy does it: endpoints
 * take turns claiming their next preferred free slot, an endpoint of weight w taking a turn in
 * w out of every maxWeight rounds. Each endpoint's preference list is a permutation of the
 * table derived from its identity, so the table depends on the endpoint set alone.
 */
export function buildMaglevTable(
  endpoints: readonly Pick<Endpoint, "identity" | "weight">[],
  size: number,
): Uint16Array | Uint32Array {
  const n = endpoints.length;
  const table = n <= 0xffff ? new Uint16Array(size) : new Uint32Array(size);
  const filled = new Uint8Array(size);
  // Typed arrays throughout: the probe loop runs about size x ln(size) times. Weights are
  // floats: slow start ramps an endpoint's weight by a fraction.
  const position = new Int32Array(n);
  const skip = new Int32Array(n);
  const weight = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const endpoint = endpoints[i] as Pick<Endpoint, "identity" | "weight">;
    position[i] = hash53(endpoint.identity, OFFSET_SEED) % size;
    skip[i] = (hash53(endpoint.identity, SKIP_SEED) % (size - 1)) + 1;
    weight[i] = endpoint.weight;
    if (endpoint.weight > maxWeight) maxWeight = endpoint.weight;
  }
  let remaining = size;
  while (remaining > 0) {
    for (let i = 0; i < n && remaining > 0; i++) {
      const earned = (credit[i] as number) + (weight[i] as number);
      if (earned < maxWeight) {
        credit[i] = earned;
        continue;
      }
      credit[i] = earned - maxWeight;
      const step = skip[i] as number;
      let slot = position[i] as number;
      while (filled[slot] === 1) {
        slot += step;
        if (slot >= size) slot -= size;
      }
      filled[slot] = 1;
      table[slot] = i;
      remaining--;
      slot += step;
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
    /** The table of these endpoints built elsewhere (off the event loop); absent = here. */
    built?: Uint16Array | Uint32Array,
  ) {
    this.endpoints = endpoints;
    this.table = built ?? buildMaglevTable(endpoints, tableSize);
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
