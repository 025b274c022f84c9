/**
 * What the status page shows, as JSON: every Service with its strategy, policy, the policy's
 * conditions and healthy/total, and per endpoint its weight, zone, health and share of the
 * latest picks. Only what the discovery API already tells any client (no labels, connection
 * ids, probe details or replica state).
 */
import { isHealthy } from "../balancer/index.ts";
import type { CatalogEntry } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { verdicts } from "../kubernetes/policy-status.ts";
import type { TrimmedPolicy } from "../kubernetes/resources.ts";
import { hasChart } from "./chart.ts";
import type { RecentPicks } from "./recent-picks.ts";

export interface StatusCondition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
}

export interface StatusEndpoint {
  readonly identity: string;
  readonly address: string;
  readonly port: number | null;
  readonly weight: number;
  readonly zone: string | null;
  readonly region: string | null;
  readonly healthy: boolean;
  /** Of the service's latest picks, the fraction this endpoint got; null before any pick. */
  readonly share: number | null;
}

export interface StatusService {
  readonly namespace: string;
  readonly name: string;
  readonly strategy: string;
  readonly policy: string | null;
  readonly version: number;
  readonly conditions: readonly StatusCondition[];
  readonly healthy: number;
  readonly total: number;
  /** How many picks the shares are counted over. */
  readonly picks: number;
  /** Whether the page shows the simulator's chart (chart.ts says for which services). */
  readonly chart: boolean;
  readonly endpoints: readonly StatusEndpoint[];
}

export interface Status {
  /** The catalog's index: the page redraws when it changes. */
  readonly index: number;
  readonly services: readonly StatusService[];
}

/**
 * The conditions `kubectl get lbp` shows for the policy of a catalog entry, by the same rules
 * the status writer uses. A policy in the catalog is valid and the one that applies (the
 * sources only put such policies there), and its Service exists.
 */
function conditionsOf(entry: CatalogEntry): StatusCondition[] {
  if (entry.policy === null) return [];
  return verdicts({
    // verdicts() reads the validation, target and supersession, never the object itself.
    object: undefined as unknown as TrimmedPolicy,
    validation: { ok: true, policy: entry.policy },
    service: `${entry.namespace}/${entry.name}`,
    target: entry,
    supersededBy: null,
  }).map(({ type, status, reason, message }) => ({ type, status, reason, message }));
}

export function statusOf(discovery: Discovery, picks: RecentPicks): Status {
  const services = discovery.catalog.list().map((entry): StatusService => {
    const counts = picks.counts(entry.namespace, entry.name);
    return {
      namespace: entry.namespace,
      name: entry.name,
      strategy: discovery.manager.strategyFor(discovery.view(entry)),
      policy: entry.policy?.name ?? null,
      version: entry.version,
      conditions: conditionsOf(entry),
      healthy: entry.endpoints.filter(isHealthy).length,
      total: entry.endpoints.length,
      picks: counts.picks,
      chart: hasChart(entry),
      endpoints: entry.endpoints.map((endpoint) => ({
        identity: endpoint.identity,
        address: endpoint.address,
        port: endpoint.port,
        weight: endpoint.weight,
        zone: endpoint.zone,
        region: endpoint.region,
        healthy: isHealthy(endpoint),
        share:
          counts.picks === 0
            ? null
            : (counts.byIdentity.get(endpoint.identity) ?? 0) / counts.picks,
      })),
    };
  });
  return { index: discovery.catalog.index, services };
}
