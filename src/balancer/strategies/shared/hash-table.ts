import type { Endpoint } from "../../endpoint.ts";
import { hash64HexOfBytes } from "../../hash.ts";

/**
 * Distinct owners met walking a hash table (a ring or a Maglev table) forward from `start`,
 * then any endpoint the table never named: the order a client falls back in when the
 * endpoint for its key fails.
 */
export function walkDistinct(
  endpoints: readonly Endpoint[],
  tableLength: number,
  ownerAt: (position: number) => number,
  start: number,
  count: number,
  first?: number,
): Endpoint[] {
  const seen = new Uint8Array(endpoints.length);
  const result: Endpoint[] = [];
  if (first !== undefined) {
    seen[first] = 1;
    result.push(endpoints[first] as Endpoint);
  }
  for (let step = 0; step < tableLength && result.length < count; step++) {
    const owner = ownerAt((start + step) % tableLength);
    if (seen[owner] === 0) {
      seen[owner] = 1;
      result.push(endpoints[owner] as Endpoint);
    }
  }
  for (let i = 0; i < endpoints.length && result.length < count; i++) {
    if (seen[i] === 0) result.push(endpoints[i] as Endpoint);
  }
  return result;
}

/** Identifies a hash table and the endpoint list it indexes: equal fingerprints, equal decisions. */
export function tableFingerprint(endpoints: readonly Endpoint[], table: ArrayBufferView): string {
  const identities = new TextEncoder().encode(endpoints.map((e) => e.identity).join("\n"));
  const slots = new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
  return hash64HexOfBytes(identities) + hash64HexOfBytes(slots);
}
