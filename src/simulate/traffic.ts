/**
 * Synthetic callers: client IPs, session keys and client regions. They are only inputs to the
 * engine's hashes and region lookups; nothing is contacted.
 */

import type { RandomSource } from "../balancer/index.ts";
import { randomIndex } from "../balancer/index.ts";
import type { RegionWeight } from "./options.ts";

/** Client `index` (from 0) as an address of 10.0.0.0/8, from 10.0.0.1 on. */
export function clientAddress(index: number): string {
  const n = index + 1;
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function sessionKey(index: number): string {
  return `session-${index + 1}`;
}

export interface Request {
  readonly clientIp: string;
  readonly sessionKey: string;
  /** undefined when the simulation has no client regions. */
  readonly clientRegion: string | undefined;
}

/** The callers of one simulation, and a stream of requests drawn from them. */
export class Traffic {
  readonly clients: readonly string[];
  readonly keys: readonly string[];
  readonly regions: readonly RegionWeight[];
  /** Running totals of the region weights, for drawing a region. */
  private readonly cumulative: Float64Array;

  constructor(clients: number, keys: number, regions: readonly RegionWeight[]) {
    // Built once: every request and every rebuild of a hash table reads them.
    this.clients = Array.from({ length: clients }, (_, i) => clientAddress(i));
    this.keys = Array.from({ length: keys }, (_, i) => sessionKey(i));
    this.regions = regions;
    this.cumulative = new Float64Array(regions.length);
    let sum = 0;
    regions.forEach((r, i) => {
      sum += r.weight;
      this.cumulative[i] = sum;
    });
  }

  /** Each region's share of the requests it draws. */
  regionShares(): Map<string, number> {
    const total = this.cumulative[this.cumulative.length - 1] ?? 0;
    return new Map(this.regions.map((r) => [r.region, r.weight / total]));
  }

  /**
   * The next request: a client, a key, then a region, always three draws in that order (the
   * region draw too when there is one region), so that a stream from one seed is the same
   * whatever the strategy does with it.
   */
  draw(random: RandomSource): Request {
    const clientIp = this.clients[randomIndex(random, this.clients.length)] as string;
    const key = this.keys[randomIndex(random, this.keys.length)] as string;
    const point = random.next() * (this.cumulative[this.cumulative.length - 1] ?? 0);
    let region: string | undefined;
    for (let i = 0; i < this.cumulative.length; i++) {
      if (point < (this.cumulative[i] as number)) {
        region = this.regions[i]?.region;
        break;
      }
    }
    if (region === undefined && this.regions.length > 0) {
      region = this.regions[this.regions.length - 1]?.region;
    }
    return { clientIp, sessionKey: key, clientRegion: region };
  }
}
