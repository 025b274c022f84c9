/**
 * What a strategy is, in one place: its name, its settings, the traits other layers read
 * instead of switching on names, how it builds a picker, and optionally how it ranks endpoints.
 * Each strategy is a folder under strategies/ exporting one StrategyDefinition; registry.ts
 * lists them. The CRD, the server's config schema, DNS, the simulator and the benchmark all
 * derive what they know about strategies from these definitions.
 */
import type { Endpoint } from "./endpoint.ts";
import type { HashOn } from "./hash-on.ts";
import type { ResolvedPolicy } from "./policy.ts";
import type { BuildContext, Picker, PickRequest } from "./strategy.ts";
import type { BuiltTable, TableJob } from "./table-builds/jobs.ts";

/**
 * A schema node as the CRD and the config file write them (OpenAPI v3 / JSON Schema subset).
 * Loose on purpose: the engine describes its settings but imports nothing from src/policy or
 * src/config, which check the nodes against their own types.
 */
export type SchemaNode = object;

/**
 * Schema pieces the CRD writes the same way for every field (durations, hashOn), handed in by
 * src/policy/schema.ts so that the engine does not depend on it.
 */
export interface CrdSchemaKit {
  /** A string node holding a Go-style duration, with `description`. */
  duration(description: string): SchemaNode;
  /** CEL rules for a duration field from `minMs` to `maxMs` (null = unbounded), whole ms. */
  durationRules(field: string, minMs: number, maxMs: number | null): readonly unknown[];
  /** "80ms", "30s": how the CRD writes a default duration. */
  formatDuration(ms: number): string;
  /** "from 1ms to 24h": how messages write a range of durations. */
  durationRange(minMs: number, maxMs: number | null): string;
  /** The `hashOn` node: session-key or client-ip, default session-key. */
  hashOn(): SchemaNode;
  /** A metav1.LabelSelector node over the labels of the endpoints' pods. */
  labelSelector(): SchemaNode;
}

/** What the policy layer hands a section to read the spec's units (durations as text). */
export interface SpecKit {
  /** Milliseconds of a Go-style duration; null when the text cannot be one. */
  parseDuration(text: string): number | null;
  /** "30s", "24h": how messages write a duration. */
  formatDuration(ms: number): string;
}

/** A value of the spec the schema lets through but the section cannot take. */
export interface SpecProblem {
  /** Relative to the section, e.g. ["tableSize"]. */
  readonly path: readonly (string | number)[];
  readonly value: unknown;
  /** What is allowed, in words. */
  readonly allowed: string;
}

/**
 * One group of policy settings (`spec.ringHash`, `spec.maglev`...): its CRD node and how raw
 * values become resolved ones, the way gRPC's ParseConfig turns a service config into a
 * balancer's config. Several strategies may read one section (ip-hash reads maglev's).
 */
export interface PolicySection<Raw extends object = object, Resolved = unknown> {
  /** The field of the policy (and of the CRD's spec) holding the section. */
  readonly key: string;
  crd(kit: CrdSchemaKit): SchemaNode;
  /**
   * The section as the spec writes it (already checked against the CRD node) in the engine's
   * units, adding to `problems` what the CRD node cannot say (a prime table size, a duration
   * beyond what Go can hold). Absent: the spec's section is the engine's as it is.
   */
  fromSpec?(spec: object, kit: SpecKit, problems: SpecProblem[]): Raw;
  /**
   * Fills in defaults and checks every field, throwing BalancerError InvalidPolicy naming the
   * first bad one (as `<key>.<field>`). `serverDefaults` lie under `raw`: a field the policy
   * leaves out takes the server's value, else the built-in default.
   */
  resolve(raw: Raw | undefined, serverDefaults: Raw | undefined): Resolved;
}

/** How a strategy's answers are written as SRV priorities. */
export type SrvPriority =
  /** 0, 1, 2... in the strategy's order: the client takes the server's choice first. */
  | "rank"
  /** All 0: the client draws by weight, as the strategy would. */
  | "shared"
  /** The strategy's own tiers (see StrategyDefinition.rank), nearest 0. */
  | "tiers";

/** What the simulator expects each endpoint's share to be. */
export type ExpectedShare = "equal" | "weight" | "nearest-region";

export interface StrategyTraits {
  /**
   * The answer changes from request to request (a rotation, a draw, the current loads): DNS
   * answers then carry TTL 0, or every client behind a caching resolver would get one endpoint.
   */
  readonly variesPerRequest: boolean;
  readonly srvPriority: SrvPriority;
  /** Whether the strategy honours endpoint weights; SRV weights are 1 when it does not. */
  readonly weighted: boolean;
  /** What the pick hashes, under a resolved policy; null for strategies that do not hash. */
  hashesOn(policy: ResolvedPolicy): HashOn | null;
  readonly expectedShare: ExpectedShare;
}

/** A strategy's entry under `strategies.<name>` in the server's config file, besides `enabled`. */
export interface ServerConfigFragment {
  /**
   * Config-schema properties (JSON Schema with `expected`: what is allowed, in words);
   * `duration` is the config file's node for a Go-style duration.
   */
  properties(kit: { duration(description: string): SchemaNode }): Record<string, SchemaNode>;
}

export interface TableBuilding {
  job(context: BuildContext): TableJob;
  picker(context: BuildContext, table: BuiltTable): Picker;
}

export interface StrategyDefinition<Name extends string = string> {
  readonly name: Name;
  /**
   * The policy section the strategy owns, if any. A strategy may read another's section too
   * (ip-hash builds maglev's table, so it reads `maglev`); the registry lists each section once.
   */
  readonly settings?: PolicySection;
  /** Server-wide defaults the config file may set for the strategy. */
  readonly serverConfig?: ServerConfigFragment;
  readonly traits: StrategyTraits;
  build(context: BuildContext): Picker;
  /**
   * For a strategy whose picker is mostly a hash table: the table's build as a job that may run
   * off the event loop (table-builds/), and the picker over its result. `table.picker(context,
   * runTableJob(table.job(context)))` is the same picker as `build(context)`.
   */
  readonly table?: TableBuilding;
  /**
   * Tiers of `endpoints` for this request, as priorities in their order (0 = best), or null when
   * they are all alike: what SRV priorities and the simulator's expectations come from for
   * srvPriority "tiers".
   */
  rank?(
    endpoints: readonly Endpoint[],
    request: PickRequest,
    policy: ResolvedPolicy,
  ): number[] | null;
}
