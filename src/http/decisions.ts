import type { Endpoint } from "../balancer/endpoint.ts";
import type { SelectOptions } from "../balancer/manager.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import type { Decided, Discovery } from "../discovery/discovery.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RecentPicks } from "../status/recent-picks.ts";
import { endpointJson } from "./endpoint-json.ts";
import { errorJson, toApiError } from "./errors.ts";
import { selectOptionsFrom } from "./parameters.ts";

/** A reply of the selection routes, before it is written by Express or by the fast path. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** A selection request as the routes see it, whoever parsed it. */
export interface DecisionRequest {
  readonly namespace: string;
  readonly name: string;
  readonly query: Record<string, unknown>;
  /** The client's address: the peer, or X-Forwarded-For when the server trusts proxies. */
  readonly callerIp: string | undefined;
}

/** Runs load-balancing decisions for the HTTP routes, with their metrics. */
export class Decisions {
  private readonly discovery: Discovery;
  private readonly metrics: Metrics;
  /** Where single picks and connection opens are told, for the status page; null when off. */
  private readonly recentPicks: RecentPicks | null;

  constructor(discovery: Discovery, metrics: Metrics, recentPicks: RecentPicks | null = null) {
    this.discovery = discovery;
    this.metrics = metrics;
    this.recentPicks = recentPicks;
  }

  /**
   * One decision with its metrics: the service label only for services in the catalog, so
   * unknown names in URLs cannot grow the series set. Throws what the decision throws.
   * `routeStrategy` is the strategy of a request without `lb` on a route that does not use the
   * service's own (connection opens), so the metrics name the strategy that decided.
   */
  run<T extends Decided<{ readonly excluded: number; readonly panic: boolean }>>(
    request: DecisionRequest,
    decision: (namespace: string, name: string, options: SelectOptions) => T,
    routeStrategy?: StrategyName,
  ): T {
    const { namespace, name } = request;
    const entry = this.discovery.catalog.get(namespace, name);
    const service = entry ? `${namespace}/${name}` : "";
    let strategy = "";
    const started = process.hrtime.bigint();
    try {
      const options = selectOptionsFrom(request.query, request.callerIp);
      if (entry) {
        strategy = this.discovery.manager.strategyFor(this.discovery.view(entry), {
          ...options,
          strategy: options.strategy ?? routeStrategy,
        });
      }
      const result = decision(namespace, name, options);
      this.metrics.selectionDuration.observe(
        { service, strategy },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      this.metrics.selections.inc({ service, strategy, result: "ok" });
      if (result.result.excluded > 0) this.metrics.healthFiltered.inc({ service });
      if (result.result.panic) this.metrics.healthPanics.inc({ service });
      const picked = (result.result as { endpoint?: Endpoint }).endpoint;
      if (picked !== undefined) this.recentPicks?.record(namespace, name, picked.identity);
      return result;
    } catch (error) {
      this.metrics.selections.inc({ service, strategy, result: toApiError(error).code });
      throw error;
    }
  }

  /** GET /v1/services/{namespace}/{name}/pick, errors included. */
  pick(request: DecisionRequest): Reply {
    try {
      const { entry, result } = this.run(request, (ns, name, options) =>
        this.discovery.pick(ns, name, options),
      );
      return {
        status: 200,
        body: {
          service: { namespace: entry.namespace, name: entry.name },
          strategy: result.strategy,
          version: entry.version,
          endpoint: endpointJson(result.endpoint),
        },
      };
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.status >= 500 && apiError.code !== "NoEndpoints") throw error;
      return {
        status: apiError.status,
        body: errorJson(apiError),
      };
    }
  }
}
