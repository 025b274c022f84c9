import type { Endpoint } from "./endpoint.ts";
import type { LoadTracker } from "./loads.ts";
import type { ResolvedPolicy } from "./policy.ts";
import type { RandomSource } from "./random.ts";
import type { LatencyTracker } from "./strategies/least-request/peak-ewma.ts";

/** What a request tells a strategy about its caller. */
export interface PickRequest {
  readonly clientIp?: string | undefined;
  readonly sessionKey?: string | undefined;
  readonly clientRegion?: string | undefined;
  /** The caller's zone and node, for locality (spec.locality). */
  readonly clientZone?: string | undefined;
  readonly clientNode?: string | undefined;
  /** The endpoints of the caller's own Service, for locality's fair share; absent = unknown. */
  readonly callerPeers?: CallerPeers | undefined;
}

/** A caller's own Service: its endpoints, and a key that changes whenever they do. */
export interface CallerPeers {
  readonly key: string;
  readonly endpoints: readonly Endpoint[];
}

/**
 * State that outlives a rebuild of a picker, by endpoint identity, in a form that can be
 * serialised (the leader replicates it). A removed endpoint's entry is simply not carried.
 */
export interface CarriedState {
  /** Identity of the endpoint a rotating strategy hands out next. */
  readonly cursor?: string;
  /** Smooth weighted round robin's current weights. */
  readonly currentWeights?: Readonly<Record<string, number>>;
  /** A fingerprint of a hash table, so replicas can prove they built the same one. */
  readonly tableFingerprint?: string;
}

/** Latency in milliseconds from a client region to an endpoint region, undefined when unknown. */
export type LatencyFunction = (fromRegion: string, toRegion: string) => number | undefined;

export interface BuildContext {
  /** Non-empty, sorted by identity, identities unique, weights valid. */
  readonly endpoints: readonly Endpoint[];
  readonly policy: ResolvedPolicy;
  readonly carried: CarriedState | undefined;
  readonly loads: LoadTracker;
  readonly random: RandomSource;
  readonly latency: LatencyFunction;
  /** Reported latencies of the service's endpoints (least-request with cost peak-ewma). */
  readonly latencies?: LatencyTracker | undefined;
}

/**
 * An immutable decision table over one endpoint set. Picking allocates nothing and takes no lock;
 * only rotation state (cursors, current weights) changes between picks.
 */
export interface Picker {
  readonly endpoints: readonly Endpoint[];
  /** The endpoint for this request. Throws BalancerError MissingSessionKey / MissingClientIP. */
  pick(request: PickRequest): Endpoint;
  /** Distinct endpoints, best first, at most `limit` of them (0 = all). */
  select(request: PickRequest, limit: number): Endpoint[];
  exportState(): CarriedState;
  /** Releases what the picker holds on shared state (load views). */
  dispose(): void;
}

/** A strategy as the engine runs it: see definition.ts for everything a strategy declares. */
export type { StrategyDefinition as Strategy } from "./definition.ts";
export { isStrategyName, STRATEGY_NAMES, type StrategyName } from "./registry.ts";
export { selectionSize } from "./strategies/shared/selection.ts";
