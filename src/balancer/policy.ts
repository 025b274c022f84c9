import { BalancerError } from "./errors.ts";

/** Which request attribute a hash strategy hashes. */
export type HashOn = "session-key" | "client-ip";
export const HASH_ON_VALUES: readonly HashOn[] = ["session-key", "client-ip"];

/**
 * The balancing part of a LoadBalancingPolicy, in the core's units (durations in milliseconds).
 * Every field is optional; resolvePolicy fills in the defaults.
 */
export interface BalancerPolicy {
  healthFilter?: boolean;
  /** Percent of healthy endpoints below which all endpoints are used; 0 = only when none is healthy. */
  panicThreshold?: number;
  ringHash?: {
    virtualNodes?: number;
    hashOn?: HashOn;
    /** Bounded load in percent of the average (125 = at most 1.25x); null or absent = off. */
    balanceFactor?: number | null;
    minRingSize?: number;
    maxRingSize?: number;
  };
  maglev?: { tableSize?: number; hashOn?: HashOn };
  /** Latency in milliseconds from a client region to an endpoint region. */
  latency?: { map?: Readonly<Record<string, Readonly<Record<string, number>>>> };
  leastConnections?: { connectionTimeoutMs?: number };
}

export interface ResolvedPolicy {
  readonly healthFilter: boolean;
  readonly panicThreshold: number;
  readonly ringHash: {
    readonly virtualNodes: number;
    readonly hashOn: HashOn;
    readonly balanceFactor: number | null;
    readonly minRingSize: number;
    readonly maxRingSize: number;
  };
  readonly maglev: { readonly tableSize: number; readonly hashOn: HashOn };
  readonly latency: { readonly map: Readonly<Record<string, Readonly<Record<string, number>>>> };
  readonly leastConnections: { readonly connectionTimeoutMs: number };
}

// Envoy's defaults and bounds: ring of 1,024 to 8,388,608 entries, Maglev table 65,537.
export const DEFAULT_VIRTUAL_NODES = 150;
export const MAX_VIRTUAL_NODES = 10_000;
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8_388_608;
export const DEFAULT_MAGLEV_TABLE_SIZE = 65_537;
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;
export const DEFAULT_CONNECTION_TIMEOUT_MS = 30_000;
export const MAX_CONNECTION_TIMEOUT_MS = 24 * 3600_000;

export const DEFAULT_POLICY: ResolvedPolicy = resolvePolicy(undefined);

function invalid(field: string, value: unknown, allowed: string): never {
  throw new BalancerError(
    "InvalidPolicy",
    `${field}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`,
  );
}

function integerIn(
  field: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    invalid(field, value, `an integer from ${min} to ${max}`);
  }
  return value as number;
}

function hashOnValue(field: string, value: unknown): HashOn {
  if (value === undefined) return "session-key";
  if (!HASH_ON_VALUES.includes(value as HashOn)) invalid(field, value, HASH_ON_VALUES.join(" or "));
  return value as HashOn;
}

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Fills in defaults and checks every field; throws InvalidPolicy naming the first bad field. */
export function resolvePolicy(policy: BalancerPolicy | undefined): ResolvedPolicy {
  const p = policy ?? {};
  if (p.healthFilter !== undefined && typeof p.healthFilter !== "boolean") {
    invalid("healthFilter", p.healthFilter, "true or false");
  }
  const panicThreshold = p.panicThreshold ?? 0;
  if (typeof panicThreshold !== "number" || !(panicThreshold >= 0 && panicThreshold <= 100)) {
    invalid("panicThreshold", panicThreshold, "a number from 0 to 100");
  }
  const ring = p.ringHash ?? {};
  const minRingSize = integerIn(
    "ringHash.minRingSize",
    ring.minRingSize,
    1,
    DEFAULT_MAX_RING_SIZE,
    DEFAULT_MIN_RING_SIZE,
  );
  const maxRingSize = integerIn(
    "ringHash.maxRingSize",
    ring.maxRingSize,
    1,
    DEFAULT_MAX_RING_SIZE,
    DEFAULT_MAX_RING_SIZE,
  );
  if (minRingSize > maxRingSize) {
    invalid("ringHash.minRingSize", minRingSize, `at most ringHash.maxRingSize (${maxRingSize})`);
  }
  const balanceFactor = ring.balanceFactor ?? null;
  if (balanceFactor !== null) integerIn("ringHash.balanceFactor", balanceFactor, 100, 10_000, 0);
  const maglev = p.maglev ?? {};
  const tableSize = maglev.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
  if (!isPrime(tableSize) || tableSize > MAX_MAGLEV_TABLE_SIZE) {
    invalid(
      "maglev.tableSize",
      tableSize,
      `a prime number up to ${MAX_MAGLEV_TABLE_SIZE} (e.g. 65537)`,
    );
  }
  const map = p.latency?.map ?? {};
  for (const [from, row] of Object.entries(map)) {
    if (typeof row !== "object" || row === null)
      invalid(`latency.map.${from}`, row, "a map of region to latency");
    for (const [to, ms] of Object.entries(row)) {
      if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
        invalid(`latency.map.${from}.${to}`, ms, "a latency of 0 or more milliseconds");
      }
    }
  }
  return {
    healthFilter: p.healthFilter ?? true,
    panicThreshold,
    ringHash: {
      virtualNodes: integerIn(
        "ringHash.virtualNodes",
        ring.virtualNodes,
        1,
        MAX_VIRTUAL_NODES,
        DEFAULT_VIRTUAL_NODES,
      ),
      hashOn: hashOnValue("ringHash.hashOn", ring.hashOn),
      balanceFactor,
      minRingSize,
      maxRingSize,
    },
    maglev: { tableSize, hashOn: hashOnValue("maglev.hashOn", maglev.hashOn) },
    latency: { map },
    leastConnections: {
      connectionTimeoutMs: integerIn(
        "leastConnections.connectionTimeoutMs",
        p.leastConnections?.connectionTimeoutMs,
        1,
        MAX_CONNECTION_TIMEOUT_MS,
        DEFAULT_CONNECTION_TIMEOUT_MS,
      ),
    },
  };
}
