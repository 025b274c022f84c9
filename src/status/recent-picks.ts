import type { Catalog } from "../catalog/catalog.ts";

/** How many of a service's latest picks its shares are counted over. */
export const RECENT_PICKS = 1000;

/**
 * The endpoints of each service's latest picks (single picks and connection opens), for the
 * status page's live shares. Bounded: a ring of RECENT_PICKS identities per service, services
 * of the catalog only, and a service's ring dropped when it leaves the catalog.
 */
export class RecentPicks {
  private readonly catalog: Catalog;
  private readonly rings = new Map<string, Ring>();
  private readonly stopListening: () => void;

  constructor(catalog: Catalog) {
    this.catalog = catalog;
    this.stopListening = catalog.onChange((keys) => {
      for (const key of keys) {
        const [namespace = "", name = ""] = key.split("/");
        if (!catalog.get(namespace, name)) this.rings.delete(key);
      }
    });
  }

  record(namespace: string, name: string, identity: string): void {
    if (!this.catalog.get(namespace, name)) return;
    const key = `${namespace}/${name}`;
    let ring = this.rings.get(key);
    if (!ring) {
      ring = { identities: new Array<string>(RECENT_PICKS), next: 0, size: 0 };
      this.rings.set(key, ring);
    }
    ring.identities[ring.next] = identity;
    ring.next = (ring.next + 1) % RECENT_PICKS;
    ring.size = Math.min(ring.size + 1, RECENT_PICKS);
  }

  /** How many of the latest picks went to each endpoint, and how many picks that is. */
  counts(namespace: string, name: string): { picks: number; byIdentity: Map<string, number> } {
    const ring = this.rings.get(`${namespace}/${name}`);
    const byIdentity = new Map<string, number>();
    if (!ring) return { picks: 0, byIdentity };
    for (let i = 0; i < ring.size; i++) {
      const identity = ring.identities[i] as string;
      byIdentity.set(identity, (byIdentity.get(identity) ?? 0) + 1);
    }
    return { picks: ring.size, byIdentity };
  }

  close(): void {
    this.stopListening();
  }
}

interface Ring {
  readonly identities: string[];
  next: number;
  size: number;
}
