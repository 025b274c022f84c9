/**
 * Locality tiers for one caller, and the overload guard between them. The endpoints are split
 * into disjoint tiers by how near they are to the caller (same node, else same zone, else same
 * region, else the rest, as the policy orders them); a request goes to the first tier that is
 * usable under the panic threshold — failover never skips a usable tier — and, when that tier
 * holds less than its fair share of the healthy endpoints, the excess share spills to the next
 * usable tier, as Envoy's zone-aware routing does, so that a small zone never drowns.
 */
import { type Endpoint, isHealthy } from "../../endpoint.ts";

/** What an endpoint and a caller are compared on. */
export type LocalityLabel = "node" | "zone" | "region";

/** The Kubernetes well-known label of each locality label, as failoverPriority names them. */
export const LOCALITY_LABEL_KEYS: Readonly<Record<string, LocalityLabel>> = {
  "kubernetes.io/hostname": "node",
  "topology.kubernetes.io/zone": "zone",
  "topology.kubernetes.io/region": "region",
};

/** Where a caller is; an absent part is unknown and matches no endpoint. */
export interface CallerLocality {
  readonly node?: string | undefined;
  readonly zone?: string | undefined;
  readonly region?: string | undefined;
}

export interface Tier {
  /** Unique among the tiers of every caller of the service: the picker cache's key. */
  readonly name: string;
  /** Which tier it is: the index of its label, or the number of labels for the rest. */
  readonly index: number;
  /** In the order given (sorted by identity, as pickers are built from). */
  readonly endpoints: readonly Endpoint[];
  readonly healthy: number;
}

export interface TierPlan {
  /** The first usable tier: where the caller's requests go. */
  readonly local: Tier;
  /** Where the requests beyond `keep` go: the next usable tier; null = none. */
  readonly spill: Tier | null;
  /** The share of requests kept in `local`, from 0 to 1. */
  readonly keep: number;
}

export interface GuardSettings {
  /** Spill when the local tier holds less than its fair share. */
  readonly overloadGuard: boolean;
  /** The local tier's fair share of the healthy endpoints is at least this, in percent. */
  readonly minLocalHealthyPercent: number;
}

export interface HealthSettings {
  readonly healthFilter: boolean;
  /** Percent of a tier's endpoints that must be healthy for the tier to be used. */
  readonly panicThreshold: number;
}

/**
 * The caller's tiers, nearest first: tier i holds the endpoints that share the caller's value of
 * labels[i] and are not in an earlier tier; the last holds the rest. Empty tiers are left out.
 */
export function partitionTiers(
  endpoints: readonly Endpoint[],
  caller: CallerLocality,
  labels: readonly LocalityLabel[],
  healthFilter: boolean,
): Tier[] {
  const members: Endpoint[][] = labels.map(() => []);
  const rest: Endpoint[] = [];
  for (const endpoint of endpoints) {
    const index = labels.findIndex((label) => {
      const value = caller[label];
      return value !== undefined && endpoint[label] === value;
    });
    (index === -1 ? rest : (members[index] as Endpoint[])).push(endpoint);
  }
  // A tier's set follows from the caller's values that matched some endpoint, so its name is
  // made of those alone: callers that differ only in values nothing matches share the tier's
  // pickers, and the names number no more than the localities the endpoints have.
  const matched = labels.map((label, index) =>
    (members[index] as Endpoint[]).length > 0 ? (caller[label] ?? "") : "",
  );
  members.push(rest);
  const tiers: Tier[] = [];
  members.forEach((list, index) => {
    if (list.length === 0) return;
    const healthy = healthFilter ? list.filter(isHealthy).length : list.length;
    tiers.push({
      name: `${matched.slice(0, index + 1).join("|")}#${index}`,
      index,
      endpoints: list,
      healthy,
    });
  });
  return tiers;
}

/** A tier takes requests when enough of it is healthy: the panic threshold, per tier. */
export function isUsable(tier: Tier, health: HealthSettings): boolean {
  if (!health.healthFilter) return tier.endpoints.length > 0;
  return tier.healthy > 0 && tier.healthy * 100 >= health.panicThreshold * tier.endpoints.length;
}

/**
 * The share of its callers' requests a local tier keeps: all of them while it holds at least
 * its fair share of the healthy endpoints, else its share over the fair share — so that the
 * requests it keeps are exactly its fair share of the whole load.
 */
export function keepShare(localHealthyShare: number, fairShare: number): number {
  if (!(fairShare > 0) || localHealthyShare >= fairShare) return 1;
  return Math.max(0, localHealthyShare / fairShare);
}

/**
 * Where a caller's requests go, or null when locality changes nothing (no tier of the caller's
 * is usable, or the first usable tier is the whole service). `callers` are where the service's
 * callers are (the pods of the caller's own Service, as Envoy takes its local cluster): the share
 * of them in the caller's local tier is the tier's fair share. Unknown, the fair share is the
 * local tier's share of all the service's endpoints (the capacity the tier was given).
 */
export function planTiers(
  endpoints: readonly Endpoint[],
  caller: CallerLocality,
  labels: readonly LocalityLabel[],
  guard: GuardSettings,
  health: HealthSettings,
  callers?: readonly Endpoint[],
): TierPlan | null {
  if (labels.length === 0) return null;
  const tiers = partitionTiers(endpoints, caller, labels, health.healthFilter);
  const usable = tiers.filter((tier) => isUsable(tier, health));
  const local = usable[0];
  if (local === undefined || local.endpoints.length === endpoints.length) return null;
  const spill = usable[1] ?? null;
  if (!guard.overloadGuard || spill === null) return { local, spill, keep: 1 };
  const totalHealthy = tiers.reduce((sum, tier) => sum + tier.healthy, 0);
  const fairShare = Math.max(
    callers === undefined || callers.length === 0
      ? local.endpoints.length / endpoints.length
      : callerShare(callers, caller, labels, local.index),
    guard.minLocalHealthyPercent / 100,
  );
  return { local, spill, keep: keepShare(local.healthy / totalHealthy, fairShare) };
}

/** The share of `callers` in the caller's tier number `index`. */
function callerShare(
  callers: readonly Endpoint[],
  caller: CallerLocality,
  labels: readonly LocalityLabel[],
  index: number,
): number {
  const tier = partitionTiers(callers, caller, labels, false).find((t) => t.index === index);
  return (tier?.endpoints.length ?? 0) / callers.length;
}
