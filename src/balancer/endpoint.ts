/** An endpoint as the balancing core sees it: everything a strategy may decide on, nothing else. */
export interface Endpoint {
  /** Stable identity: the pod name where known, else "address:port". Hash tables use it, not the IP. */
  readonly identity: string;
  readonly address: string;
  /** The service's first port on this endpoint, or null when the endpoint has none. */
  readonly port: number | null;
  /** Every named port of the endpoint. */
  readonly ports: Readonly<Record<string, number>>;
  /** Integer 1..1000. */
  readonly weight: number;
  readonly zone: string | null;
  readonly region: string | null;
  readonly node: string | null;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Result of an active health probe, or null where none runs. */
  readonly probeHealthy: boolean | null;
  /** The labels of the endpoint's pod, which subsets select on; absent = none known. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * When the endpoint last became ready, in milliseconds since the epoch, from the object's own
   * timestamps (so a restart of the operator does not restart a slow-start ramp); absent or
   * null = unknown, and the endpoint takes its full weight.
   */
  readonly readySince?: number | null;
  /**
   * Set on the copy a slow-start ramp builds: the share of its weight the endpoint takes now
   * (`weight` already includes it). Ring-hash reads it to size the other endpoints as if the
   * ramp were over, so that a step adds points for the ramping endpoint and moves no others.
   */
  readonly rampFactor?: number;
  /** Ejected by outlier detection (spec.outlierDetection) for now; absent = not ejected. */
  readonly ejected?: boolean;
}

const identitySets = new WeakMap<readonly Endpoint[], ReadonlySet<string>>();

/**
 * The identities of an endpoint list, made once per list: a service's list is replaced, never
 * changed in place, so every batch of reports against one version shares one set instead of
 * building one of thousands of identities each time.
 */
export function identitiesOf(endpoints: readonly Endpoint[]): ReadonlySet<string> {
  let identities = identitySets.get(endpoints);
  if (identities === undefined) {
    identities = new Set(endpoints.map((endpoint) => endpoint.identity));
    identitySets.set(endpoints, identities);
  }
  return identities;
}

export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 1000;
export const DEFAULT_WEIGHT = 1;

/**
 * An endpoint receives new traffic only when it is ready, not terminating, not failing a probe
 * and not ejected as an outlier.
 */
export function isHealthy(endpoint: Endpoint): boolean {
  return (
    endpoint.ready &&
    !endpoint.terminating &&
    endpoint.probeHealthy !== false &&
    endpoint.ejected !== true
  );
}

export function isValidWeight(weight: unknown): weight is number {
  return (
    Number.isInteger(weight) && (weight as number) >= MIN_WEIGHT && (weight as number) <= MAX_WEIGHT
  );
}

/** Code-unit order, not locale order: every replica must sort the same set identically. */
export function compareIdentity(a: Endpoint, b: Endpoint): number {
  return a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0;
}

/**
 * Whether the endpoints are already in compareIdentity's order (duplicates allowed): one pass,
 * which spares sorting a list that comes sorted, as every version of a catalog entry does.
 */
export function inIdentityOrder(endpoints: readonly Endpoint[]): boolean {
  for (let i = 1; i < endpoints.length; i++) {
    if (compareIdentity(endpoints[i - 1] as Endpoint, endpoints[i] as Endpoint) > 0) return false;
  }
  return true;
}
