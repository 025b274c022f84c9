/**
 * The one in-memory catalog: every Service the operator balances, with its endpoints and its
 * policy. Sources (a manifest file, the Kubernetes API) write it; the interfaces read it.
 *
 * Versions come from one counter shared by all services, so they never go backwards, not even
 * when a service is removed and added again; a reader holding "version 41 of shop/checkout" can
 * tell that any other state is newer. Re-applying identical data changes nothing.
 */

import type { Endpoint } from "../balancer/index.ts";
import { compareIdentity, deepEqual, isValidWeight } from "../balancer/index.ts";
import type { ParsedPolicy } from "../policy/validate.ts";

export interface CatalogEndpoint extends Endpoint {
  /** The labels of the endpoint's pod; empty when the pod is unknown. */
  readonly labels: Readonly<Record<string, string>>;
  readonly podName: string | null;
}

/** A service as a source describes it. */
export interface ServiceEntry {
  readonly namespace: string;
  readonly name: string;
  readonly endpoints: readonly CatalogEndpoint[];
  /** null: no policy targets the service; the server's defaults apply. */
  readonly policy: ParsedPolicy | null;
  /** The Service's spec.trafficDistribution (PreferClose, PreferSameZone...); absent = none. */
  readonly trafficDistribution?: string | null;
}

/** A service as the catalog holds it: endpoints sorted by identity, and a version. */
export interface CatalogEntry extends ServiceEntry {
  /** Increases on every change to this service's endpoints or policy, and only then. */
  readonly version: number;
}

/** Receives the keys ("namespace/name") of the services that changed, sorted. */
export type ChangeListener = (keys: readonly string[]) => void;

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function compareEntries(a: ServiceEntry, b: ServiceEntry): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}

/**
 * Checks the endpoints' weights and unique identities while they are in identity order; false
 * as soon as they are not (the rest unchecked), for the caller to sort them and check again.
 */
function checkedInOrder(entry: ServiceEntry, endpoints: readonly CatalogEndpoint[]): boolean {
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = endpoints[i] as CatalogEndpoint;
    if (i > 0) {
      const order = compareIdentity(endpoints[i - 1] as CatalogEndpoint, endpoint);
      if (order > 0) return false;
      if (order === 0) {
        throw new Error(
          `service ${serviceKey(entry.namespace, entry.name)}: endpoint identity ` +
            `${JSON.stringify(endpoint.identity)} appears twice; expected unique identities`,
        );
      }
    }
    if (!isValidWeight(endpoint.weight)) {
      throw new Error(
        `service ${serviceKey(entry.namespace, entry.name)}: endpoint ${endpoint.identity} ` +
          `weight ${JSON.stringify(endpoint.weight)} is not allowed; expected an integer from 1 to 1000`,
      );
    }
  }
  return true;
}

/**
 * Sorts and checks the endpoints, and freezes a private copy of the entry. An endpoint already
 * frozen cannot change under the catalog, so it is kept as it is: a source that hands the same
 * endpoint objects again shares them with the catalog and every picker instead of copying them.
 */
function normalise(entry: ServiceEntry, held: readonly CatalogEndpoint[] = []): ServiceEntry {
  // A plain loop: the array helpers take a slow path over a frozen array, which the catalog's
  // own lists are. An endpoint held at the same place is the catalog's, frozen already.
  const endpoints = new Array<CatalogEndpoint>(entry.endpoints.length);
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = entry.endpoints[i] as CatalogEndpoint;
    endpoints[i] =
      endpoint === held[i] || Object.isFrozen(endpoint) ? endpoint : Object.freeze({ ...endpoint });
  }
  // A source that writes the next version of a service mostly hands its endpoints in order:
  // one pass checks them, and only a list out of order is sorted and checked again.
  if (!checkedInOrder(entry, endpoints)) {
    endpoints.sort(compareIdentity);
    checkedInOrder(entry, endpoints);
  }
  return {
    namespace: entry.namespace,
    name: entry.name,
    endpoints: Object.freeze(endpoints),
    policy: entry.policy,
    ...(entry.trafficDistribution ? { trafficDistribution: entry.trafficDistribution } : {}),
  };
}

/** Whether an endpoint of `endpoints` not held at the same place is marked ejected. */
function hasNewMark(
  endpoints: readonly CatalogEndpoint[],
  held: readonly CatalogEndpoint[],
): boolean {
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = endpoints[i] as CatalogEndpoint;
    if (endpoint !== held[i] && endpoint.ejected === true) return true;
  }
  return false;
}

export class Catalog {
  readonly #services = new Map<string, CatalogEntry>();
  /**
   * Endpoints ejected by outlier detection, by service: marked on every write of the service,
   * whatever the source writes, until the engine returns them. Only current endpoints are kept.
   */
  readonly #ejected = new Map<string, ReadonlySet<string>>();
  readonly #listeners = new Set<ChangeListener>();
  /**
   * The entry each frozen source entry (frozen endpoint list included) handed to replaceAll
   * became: a source that hands the same entry object again (the file source, for a Service its edit did not touch) costs no sorting or
   * comparing, as long as the catalog still holds what that entry became.
   */
  readonly #fromFullLoad = new WeakMap<ServiceEntry, CatalogEntry>();
  #clock = 0;
  #synced = false;

  /** Catalog-wide version: the version of the latest change to any service, removals included. */
  get index(): number {
    return this.#clock;
  }

  /** Whether the source has loaded everything at least once; until then the catalog may be partial. */
  get synced(): boolean {
    return this.#synced;
  }

  markSynced(): void {
    this.#synced = true;
  }

  get size(): number {
    return this.#services.size;
  }

  get(namespace: string, name: string): CatalogEntry | undefined {
    return this.#services.get(serviceKey(namespace, name));
  }

  /** Every service, sorted by namespace, then name. */
  list(): CatalogEntry[] {
    return [...this.#services.values()].sort(compareEntries);
  }

  /** Adds or updates one service; returns whether anything changed. */
  upsert(entry: ServiceEntry): boolean {
    const held = this.#services.get(serviceKey(entry.namespace, entry.name))?.endpoints;
    return this.#apply([normalise(entry, held)], []).length > 0;
  }

  /** Removes one service; returns whether it was there. */
  remove(namespace: string, name: string): boolean {
    const key = serviceKey(namespace, name);
    if (!this.#services.has(key)) return false;
    return this.#apply([], [key]).length > 0;
  }

  /**
   * Makes the catalog hold exactly `entries`, as after a full load from a source: new services
   * are added, changed ones updated, missing ones removed. Only those get new versions.
   * Returns the keys that changed.
   */
  replaceAll(entries: Iterable<ServiceEntry>): string[] {
    const incoming = new Map<string, ServiceEntry | null>();
    const written: { readonly given: ServiceEntry; readonly normalised: ServiceEntry }[] = [];
    for (const entry of entries) {
      const key = serviceKey(entry.namespace, entry.name);
      if (incoming.has(key)) {
        throw new Error(`service ${key} appears twice in a full load; expected each service once`);
      }
      // null: the entry this one became is still held, so the service is unchanged.
      const held = this.#fromFullLoad.get(entry);
      if (held !== undefined && this.#services.get(key) === held) {
        incoming.set(key, null);
        continue;
      }
      const normalised = normalise(entry);
      incoming.set(key, normalised);
      written.push({ given: entry, normalised });
    }
    const removed = [...this.#services.keys()].filter((key) => !incoming.has(key));
    const changed = this.#apply(
      written.map(({ normalised }) => normalised),
      removed,
    );
    for (const { given, normalised } of written) {
      // Only an entry that cannot change under the catalog can stand for what it became.
      if (!Object.isFrozen(given) || !Object.isFrozen(given.endpoints)) continue;
      const held = this.#services.get(serviceKey(normalised.namespace, normalised.name));
      if (held !== undefined) this.#fromFullLoad.set(given, held);
    }
    return changed;
  }

  /**
   * Marks exactly `identities` of the service as ejected (Endpoint.ejected), as a new version
   * when that changes anything; returns whether it did. Identities it does not have are ignored.
   */
  setEjected(namespace: string, name: string, identities: Iterable<string>): boolean {
    const key = serviceKey(namespace, name);
    const current = this.#services.get(key);
    if (current === undefined) return false;
    const present = new Set(current.endpoints.map((endpoint) => endpoint.identity));
    // Kept even when empty: the write below takes the marks off and then drops the set.
    this.#ejected.set(key, new Set([...identities].filter((identity) => present.has(identity))));
    return this.#apply([current], []).length > 0;
  }

  /** The identities of the service marked as ejected. */
  ejectedOf(namespace: string, name: string): string[] {
    return [...(this.#ejected.get(serviceKey(namespace, name)) ?? [])];
  }

  /** The entry with its ejected endpoints marked, and only those. */
  #withEjections(entry: ServiceEntry): ServiceEntry {
    const key = serviceKey(entry.namespace, entry.name);
    let ejected = this.#ejected.get(key);
    if (ejected !== undefined) {
      // An endpoint that left the service leaves the set, so the set never outgrows the service.
      const present = new Set(entry.endpoints.map((endpoint) => endpoint.identity));
      const kept = new Set([...ejected].filter((identity) => present.has(identity)));
      if (kept.size !== ejected.size) {
        ejected = kept;
        this.#ejected.set(key, kept);
      }
      // None left: this write takes the marks off, and later writes find no set, which tells
      // them the entry held is unmarked.
      if (ejected.size === 0) this.#ejected.delete(key);
    }
    if (ejected === undefined) {
      // Nothing ejected, the usual case. The entry held now is then unmarked, so a mark can only
      // be on an endpoint object it does not share at the same place: a comparison of
      // references for all but the few a flip replaced.
      const held = this.#services.get(key)?.endpoints ?? [];
      if (!hasNewMark(entry.endpoints, held)) return entry;
    } else if (
      !entry.endpoints.some(
        (endpoint) => ejected?.has(endpoint.identity) !== (endpoint.ejected === true),
      )
    ) {
      return entry;
    }
    const marked = (endpoint: CatalogEndpoint) => ejected?.has(endpoint.identity) === true;
    const endpoints = entry.endpoints.map((endpoint) => {
      if (marked(endpoint)) return Object.freeze({ ...endpoint, ejected: true });
      const { ejected: _, ...rest } = endpoint;
      return Object.freeze(rest);
    });
    return { ...entry, endpoints: Object.freeze(endpoints) };
  }

  /** Calls `listener` after each change; returns a function that stops the calls. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** One change, one tick of the clock: every service changed by it gets the same version. */
  #apply(written: readonly ServiceEntry[], removals: readonly string[]): string[] {
    const upserts = written.map((entry) => this.#withEjections(entry));
    const changed = upserts.filter((entry) => {
      const current = this.#services.get(serviceKey(entry.namespace, entry.name));
      return (
        current === undefined ||
        !deepEqual(current.endpoints, entry.endpoints) ||
        !deepEqual(current.policy, entry.policy) ||
        current.trafficDistribution !== entry.trafficDistribution
      );
    });
    const keys = [
      ...changed.map((entry) => serviceKey(entry.namespace, entry.name)),
      ...removals,
    ].sort();
    if (keys.length === 0) return keys;
    const version = ++this.#clock;
    for (const entry of changed) {
      this.#services.set(
        serviceKey(entry.namespace, entry.name),
        Object.freeze({ ...entry, version }),
      );
    }
    for (const key of removals) {
      this.#services.delete(key);
      this.#ejected.delete(key);
    }
    this.#notify(keys);
    return keys;
  }

  /**
   * Every listener runs even if one throws; the first error is then rethrown, so a faulty
   * listener is noticed by whoever changed the catalog rather than lost.
   */
  #notify(keys: readonly string[]): void {
    const frozen = Object.freeze([...keys]);
    let failure: { error: unknown } | null = null;
    for (const listener of [...this.#listeners]) {
      try {
        listener(frozen);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== null) throw failure.error;
  }
}
