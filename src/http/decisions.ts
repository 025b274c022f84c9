import type { Endpoint } from "../balancer/index.ts";
import type { Decision, DecisionKind, Discovery } from "../discovery/discovery.ts";
import type { RecentPicks } from "../status/recent-picks.ts";
import { endpointJson } from "./endpoint-json.ts";
import { toApiError } from "./errors.ts";
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
  /** An open's id chosen before (a forwarded open; see ConnectionHooks.idFor). */
  readonly connectionId?: string | undefined;
}

/** Runs load-balancing decisions for the HTTP routes (Discovery records their metrics). */
export class Decisions {
  private readonly discovery: Discovery;
  /** Where single picks and connection opens are told, for the status page; null when off. */
  private readonly recentPicks: RecentPicks | null;

  constructor(discovery: Discovery, recentPicks: RecentPicks | null = null) {
    this.discovery = discovery;
    this.recentPicks = recentPicks;
  }

  /** One decision of `kind`, its parameters read from the query. Throws what the decision throws. */
  run<K extends DecisionKind>(request: DecisionRequest, kind: K): Decision<K> {
    const decision = this.discovery.decide({
      namespace: request.namespace,
      name: request.name,
      kind,
      options: () => {
        const options = selectOptionsFrom(request.query, request.callerIp);
        return request.connectionId === undefined
          ? options
          : { ...options, connectionId: request.connectionId };
      },
    });
    if (this.recentPicks !== null) {
      const picked = (decision.result as { endpoint?: Endpoint }).endpoint;
      if (picked !== undefined) {
        this.recentPicks.record(request.namespace, request.name, picked.identity);
      }
    }
    return decision;
  }

  /** GET /v1/services/{namespace}/{name}/pick, errors included. */
  pick(request: DecisionRequest): Reply {
    try {
      const { entry, result } = this.run(request, "pick");
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
        body: { error: { code: apiError.code, message: apiError.message } },
      };
    }
  }
}
