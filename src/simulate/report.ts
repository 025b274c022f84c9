/**
 * What a simulation found: plain data, the same for every output format. Shares are fractions
 * of 1; the JSON output is this object as it is.
 */

import type { HashOn, StrategyName } from "../balancer/index.ts";

export interface EndpointInfo {
  readonly identity: string;
  readonly address: string;
  readonly zone: string | null;
  readonly region: string | null;
  readonly weight: number;
  /** Ready, not terminating, not failing a probe. */
  readonly healthy: boolean;
  /** Whether the engine balances over it: healthy, or every endpoint in panic. */
  readonly balanced: boolean;
}

/**
 * What a strategy's expected shares assume: equal shares (round-robin, random), shares by
 * weight, or by weight within the nearest region of each client region (latency-based).
 */
export type ExpectedBasis = "equal" | "weight" | "nearest-region";

export interface EndpointResult {
  readonly identity: string;
  readonly requests: number;
  readonly share: number;
  readonly expected: number;
  /** share / expected; null when nothing is expected (an endpoint left out). */
  readonly ratio: number | null;
}

export interface KeyResult {
  readonly identity: string;
  /** Distinct keys that land on the endpoint. */
  readonly keys: number;
  readonly keyShare: number;
  /** Fraction of all keys whose endpoint changes when this endpoint is removed. */
  readonly moved: number;
  /** The least that must move: the endpoint's expected share. */
  readonly ideal: number;
}

export interface HashReport {
  /** What the strategy hashes: session keys, or client IPs. */
  readonly hashOn: HashOn;
  readonly distinctKeys: number;
  readonly endpoints: readonly KeyResult[];
  /** The largest keyShare / ideal among the balanced endpoints. */
  readonly maxKeyRatio: number;
  /** moved / ideal averaged over the balanced endpoints: 1 is the least possible. */
  readonly meanMovedOverIdeal: number;
}

/** What the reported outcomes did under one strategy (--latency, --failures). */
export interface StrategyOutcomes {
  /** Fraction of the requests that failed. */
  readonly failed: number;
  readonly meanLatencyMs: number;
  /** Ejections by outlier detection, by endpoint identity. */
  readonly ejections: Readonly<Record<string, number>>;
  /** The endpoints still ejected when the run ended. */
  readonly ejectedAtEnd: readonly string[];
}

export interface StrategyReport {
  readonly strategy: StrategyName;
  readonly expectedBasis: ExpectedBasis;
  /** In the order of the report's endpoints. */
  readonly endpoints: readonly EndpointResult[];
  /** The most requests on one endpoint over the mean of the balanced endpoints. */
  readonly maxMean: number;
  /** The largest share / expected among the balanced endpoints. */
  readonly maxRatio: number;
  /** Requests served in the client's own region; null without client regions. */
  readonly inRegion: number | null;
  /** Requests served in the client's own zone; null without client zones (no locality). */
  readonly inZone: number | null;
  /** ring-hash, maglev and ip-hash only. */
  readonly hash: HashReport | null;
  /** Null unless outcomes were simulated. */
  readonly outcomes: StrategyOutcomes | null;
}

export interface SimulationReport {
  readonly service: string;
  readonly file: string;
  /** The name of the policy targeting the service; null without one. */
  readonly policy: string | null;
  /** The policy's subset every request asked for; null = none named. */
  readonly subset: string | null;
  /** The strategy the server would use for the service: its policy's, else the default. */
  readonly serviceStrategy: StrategyName;
  readonly seed: number;
  readonly requests: number;
  readonly clients: number;
  readonly keys: number;
  /** Picks a simulated connection stays open for; 0 = none held. */
  readonly hold: number;
  readonly regions: readonly { readonly region: string; readonly share: number }[];
  /** Where the client regions came from. */
  readonly regionsFrom: "flag" | "endpoints" | "none";
  /**
   * The clients' zones under a policy's locality — the endpoints' zones, each client IP in one,
   * in turn — or null when the policy has no locality.
   */
  readonly zones: readonly { readonly zone: string; readonly share: number }[] | null;
  readonly healthFilter: boolean;
  /** True when too few endpoints were healthy and the engine balances over all of them. */
  readonly panic: boolean;
  /** Sorted by identity, as the engine sorts them. */
  readonly endpoints: readonly EndpointInfo[];
  /** True for --compare: the strategies are shown side by side. */
  readonly compare: boolean;
  readonly strategies: readonly StrategyReport[];
  /** The simulated outcomes (--latency, --failures); null when none were. */
  readonly outcomes: {
    readonly defaultLatencyMs: number;
    readonly latencyMs: Readonly<Record<string, number>>;
    readonly failurePercent: Readonly<Record<string, number>>;
  } | null;
  readonly warnings: readonly string[];
}

/**
 * Serving in the client's region is what latency-based is for; for other strategies the figure
 * is only worth showing when the regions were asked for (JSON always carries it).
 */
export function showsRegions(report: SimulationReport, strategy: StrategyReport): boolean {
  return strategy.expectedBasis === "nearest-region" || report.regionsFrom === "flag";
}
