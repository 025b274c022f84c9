/**
 * Where a caller is, from its address alone: every endpoint of every Service in the catalog is a
 * pod (or a node, for host-network pods) whose node, zone and region the EndpointSlices and Node
 * labels gave, so a request from one of those addresses comes from that place. Kept up to date
 * from the catalog's changes, one Service at a time. A caller that backs no Service is unknown
 * here; its request may still name its place (client-node, client-zone, client-region).
 */
import type { CallerLocality } from "../balancer/index.ts";
import type { Catalog, CatalogEndpoint } from "./catalog.ts";
import { serviceKey } from "./catalog.ts";

/** Addresses indexed at most; beyond it, further addresses stay unknown until some leave. */
export const MAX_INDEXED_ADDRESSES = 500_000;

/** A caller's place, and the Service it backs (the first that listed its address). */
export interface CallerPlace {
  readonly locality: CallerLocality;
  /** "namespace/name". */
  readonly service: string;
}

interface Located {
  /** Replaced (not changed) when the Service that placed the address moves it. */
  locality: CallerLocality;
  readonly service: string;
  /** How many Services list the address: it leaves the index with the last one. */
  services: number;
}

function localityOf(endpoint: CatalogEndpoint): CallerLocality {
  return {
    node: endpoint.node ?? undefined,
    zone: endpoint.zone ?? undefined,
    region: endpoint.region ?? undefined,
  };
}

/** Whether two endpoint lists have the same addresses in the same places, in the same order. */
function samePlaces(a: readonly CatalogEndpoint[], b: readonly CatalogEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as CatalogEndpoint;
    const y = b[i] as CatalogEndpoint;
    if (
      x !== y &&
      (x.address !== y.address || x.node !== y.node || x.zone !== y.zone || x.region !== y.region)
    )
      return false;
  }
  return true;
}

function samePlace(locality: CallerLocality, endpoint: CatalogEndpoint): boolean {
  return (
    locality.node === (endpoint.node ?? undefined) &&
    locality.zone === (endpoint.zone ?? undefined) &&
    locality.region === (endpoint.region ?? undefined)
  );
}

export class CallerLocalityIndex {
  readonly #byAddress = new Map<string, Located>();
  /** The addresses each Service added, so that its next change can take them back. */
  readonly #byService = new Map<string, Set<string>>();
  /** The endpoints each Service's addresses were last taken from. */
  readonly #indexedFrom = new Map<string, readonly CatalogEndpoint[]>();
  readonly #limit: number;
  readonly #stop: () => void;

  constructor(catalog: Catalog, limit = MAX_INDEXED_ADDRESSES) {
    this.#limit = limit;
    for (const entry of catalog.list()) this.#update(catalog, entry.namespace, entry.name);
    this.#stop = catalog.onChange((keys) => {
      for (const key of keys) {
        const [namespace = "", name = ""] = key.split("/");
        this.#update(catalog, namespace, name);
      }
    });
  }

  close(): void {
    this.#stop();
  }

  get size(): number {
    return this.#byAddress.size;
  }

  /** The place of the pod (or node) with this address, or undefined when none is known. */
  locate(address: string): CallerPlace | undefined {
    return this.#byAddress.get(address);
  }

  /**
   * Brings one Service's addresses up to date, touching only what changed: a readiness flip in
   * a Service of thousands of endpoints changes nothing here, and re-creating every entry of the
   * Service on each change would fill the old generation with garbage at every flip.
   */
  #update(catalog: Catalog, namespace: string, name: string): void {
    const key = serviceKey(namespace, name);
    const endpoints = catalog.get(namespace, name)?.endpoints ?? [];
    const before = this.#indexedFrom.get(key);
    if (before !== undefined && samePlaces(before, endpoints)) {
      // A readiness or weight change: every address is where it was, nothing to do.
      this.#indexedFrom.set(key, endpoints);
      return;
    }
    if (endpoints.length > 0) this.#indexedFrom.set(key, endpoints);
    else this.#indexedFrom.delete(key);
    const wanted = new Map<string, CatalogEndpoint>();
    for (const endpoint of endpoints) {
      if (endpoint.node === null && endpoint.zone === null && endpoint.region === null) continue;
      if (!wanted.has(endpoint.address)) wanted.set(endpoint.address, endpoint);
    }
    const listed = this.#byService.get(key) ?? new Set<string>();
    // Addresses the Service no longer lists go first, so that their room counts for new ones.
    for (const address of listed) {
      if (wanted.has(address)) continue;
      listed.delete(address);
      const located = this.#byAddress.get(address);
      if (located === undefined) continue;
      located.services--;
      if (located.services === 0) this.#byAddress.delete(address);
    }
    for (const [address, endpoint] of wanted) {
      const known = this.#byAddress.get(address);
      if (listed.has(address)) {
        // Still listed; the Service that placed the address may have moved it.
        if (known !== undefined && known.service === key && !samePlace(known.locality, endpoint))
          known.locality = localityOf(endpoint);
        continue;
      }
      if (known !== undefined) {
        known.services++;
      } else if (this.#byAddress.size < this.#limit) {
        this.#byAddress.set(address, { locality: localityOf(endpoint), service: key, services: 1 });
      } else {
        // No room: the next change of the Service tries again (no shortcut until it fits).
        this.#indexedFrom.delete(key);
        continue;
      }
      listed.add(address);
    }
    if (listed.size > 0) this.#byService.set(key, listed);
    else this.#byService.delete(key);
  }
}
