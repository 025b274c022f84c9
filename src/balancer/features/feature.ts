/**
 * What a policy feature is, in one place: the spec fields it adds (CRD nodes and rules over the
 * whole spec), how the spec's values become the engine's, how they resolve, and its effect on
 * the engine — narrowing a request to part of the service, or reshaping a picker's build. Each
 * feature is a folder next to this file; index.ts lists them.
 */
import type {
  CrdSchemaKit,
  SchemaNode,
  SpecKit,
  SpecProblem,
  StrategyDefinition,
} from "../definition.ts";
import type { Endpoint } from "../endpoint.ts";
import type { BalancerPolicy, ResolvedPolicy } from "../policy.ts";
import type { CallerPeers } from "../strategy.ts";

/** A CEL rule on the whole spec, for fields that refer to each other. */
export interface SpecRule {
  readonly rule: string;
  readonly message: string;
  /** The field the error names, relative to the spec (".defaultSubset"). */
  readonly fieldPath?: string;
}

/** What a picker is built from, which a feature may reshape. */
export interface BuildShape {
  /** Sorted by identity, as the strategy receives them. */
  readonly endpoints: readonly Endpoint[];
  readonly strategy: StrategyDefinition;
  /** Milliseconds since the epoch after which the build is out of date; Infinity = never. */
  readonly validUntil: number;
  /** The endpoint as the catalog has it, by the copy a feature built; null = no copies. */
  readonly originals: ReadonlyMap<Endpoint, Endpoint> | null;
}

/** What a request may ask a feature for. */
export interface NarrowRequest {
  readonly subset?: string | undefined;
}

/** Where a request's caller is, for a feature that routes by it (locality). */
export interface RouteRequest {
  readonly clientNode?: string | undefined;
  readonly clientZone?: string | undefined;
  readonly clientRegion?: string | undefined;
  /** The pods of the caller's own Service, as its peers among the callers; absent = unknown. */
  readonly callerPeers?: CallerPeers | undefined;
}

/** The (narrowed) service a request is routed within. */
export interface RoutePart {
  /** The narrowing's name ("" for the whole service): a routed part's name starts with it. */
  readonly name: string;
  readonly healthFilter: boolean;
  /** Its endpoints, sorted by identity; computed at the first call. */
  endpoints(): readonly Endpoint[];
  /**
   * The feature's memory for this service version, narrowing and health filter, emptied when
   * the version changes; the feature bounds its size.
   */
  readonly cache: Map<string, unknown>;
  /** A uniform number in [0, 1): fixed per hash key when the strategy hashes, else random. */
  draw(seed: number): number;
}

/** The part of a service a request narrows to (a subset). Made once per policy, not per request. */
export interface Narrowing {
  /** Distinguishes the narrowed pickers from the whole service's in the picker cache. */
  readonly name: string;
  /** The endpoints of the part, in the order given. */
  filter(endpoints: readonly Endpoint[]): Endpoint[];
}

export interface PolicyFeature {
  /** The resolved policy's field holding the feature's settings. */
  readonly key: string;
  /** The spec's properties the feature adds, by name. */
  crd(kit: CrdSchemaKit): Record<string, SchemaNode>;
  /** Rules over the whole spec, enforced by the API server and, in code, by checkSpec. */
  readonly specRules?: readonly SpecRule[];
  /**
   * The feature's spec fields (already checked against its CRD nodes) in the engine's units,
   * adding to `problems` (paths relative to the spec) what the CRD nodes let through but the
   * rules forbid. Returns only fields the spec sets.
   */
  fromSpec(spec: Readonly<Record<string, unknown>>, kit: SpecKit, problems: SpecProblem[]): object;
  /** Checks the policy's fields, throwing InvalidPolicy naming the first bad one. */
  resolve(policy: BalancerPolicy): unknown;
  /**
   * The part of the service a request is narrowed to, or null for the whole service; throws a
   * BalancerError for a request that names a part the policy does not have.
   */
  narrow?(policy: ResolvedPolicy, request: NarrowRequest): Narrowing | null;
  /**
   * The part of the (narrowed) service this request goes to — a locality tier — or null for all
   * of it. Called only when the feature's resolved settings are not null; the narrowing's name
   * keys its pickers, so one name must always mean the same endpoints within a version, and it
   * starts with the part's name followed by "@".
   */
  route?(policy: ResolvedPolicy, request: RouteRequest, part: RoutePart): Narrowing | null;
  /** Reshapes a build at time `now` (weights, the strategy, how long it holds). */
  shape?(build: BuildShape, policy: ResolvedPolicy, now: number): BuildShape;
}
