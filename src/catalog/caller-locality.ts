/**
 * Where a caller is, from its address alone: every endpoint of every Service in the catalog is a
 * pod (or a node, for host-network pods) whose node, zone and region the EndpointSlices and Node
 * labels gave, so a request from one of those addresses comes from that place. Kept up to date
 * from the catalog's changes, one Service at a time. A caller that backs no Service is unknown
 * here; its request may still name its place (client-node, client-zone, client-region).
 */
import type { CallerLocality } from "../balancer/index.ts";
import type { Catalog } from "./catalog.ts";
import { serviceKey } from "./catalog.ts";

/** Addresses indexed at most; beyond it, further addresses stay unknown until some leave. */
export const MAX_INDEXED_ADDRESSES = 500_000;

/** A caller's place, and the Service it backs (the first that listed its address). */
export interface CallerPlace {
  readonly locality: CallerLocality;
  /** "namespace/name". */
  readonly service: string;
}

interface Located extends CallerPlace {
  /** How many Services list the address: it leaves the index with the last one. */
  services: number;
}

export class CallerLocalityIndex {
  readonly #byAddress = new Map<string, Located>();
  /** The addresses each Service added, so that its next change can take them back. */
  readonly #byService = new Map<string, readonly string[]>();
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

  #update(catalog: Catalog, namespace: string, name: string): void {
    const key = serviceKey(namespace, name);
    for (const address of this.#byService.get(key) ?? []) {
      const located = this.#byAddress.get(address);
      if (located === undefined) continue;
      located.services--;
      if (located.services === 0) this.#byAddress.delete(address);
    }
    this.#byService.delete(key);
    const entry = catalog.get(namespace, name);
    if (entry === undefined) return;
    const added: string[] = [];
    for (const endpoint of entry.endpoints) {
      if (endpoint.node === null && endpoint.zone === null && endpoint.region === null) continue;
      const known = this.#byAddress.get(endpoint.address);
      if (known !== undefined) {
        known.services++;
      } else if (this.#byAddress.size < this.#limit) {
        this.#byAddress.set(endpoint.address, {
          locality: {
            node: endpoint.node ?? undefined,
            zone: endpoint.zone ?? undefined,
            region: endpoint.region ?? undefined,
          },
          service: key,
          services: 1,
        });
      } else {
        continue;
      }
      added.push(endpoint.address);
    }
    if (added.length > 0) this.#byService.set(key, added);
  }
}
