import { DEFAULT_REGISTRY, STRATEGY_NAMES, type StrategyRegistry } from "../balancer/index.ts";
import { API_ERROR_CODES, API_ERRORS, type ApiErrorCode } from "./errors.ts";
import { OUTCOME_BATCH_SCHEMA, OUTCOME_RECEIPT_SCHEMA } from "./outcome-batch.ts";
import {
  type Exposure,
  PARAMETERS,
  type ParameterName,
  type RouteSpec,
  ref,
  routesOf,
} from "./routes.ts";

const json = (schema: object) => ({ "application/json": { schema } });

/** The error answers of a route, one per status, naming the codes it can answer with it. */
function errorAnswers(codes: readonly ApiErrorCode[]): Record<string, object> {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of codes) {
    const status = API_ERRORS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const answers: Record<string, object> = {};
  for (const [status, list] of byStatus) {
    const description =
      list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} or ${list.at(-1)}`;
    answers[String(status)] = { description, content: json(ref("Error")) };
  }
  return answers;
}

function operation(route: RouteSpec): object {
  const answers: Record<string, object> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    answers[status] = {
      description: answer.description,
      ...(answer.headers ? { headers: answer.headers } : {}),
      ...(answer.schema
        ? { content: { [answer.contentType ?? "application/json"]: { schema: answer.schema } } }
        : {}),
    };
  }
  return {
    operationId: route.id,
    summary: route.summary,
    ...(route.parameters.length > 0
      ? {
          parameters: route.parameters.map((name) => ({
            $ref: `#/components/parameters/${name}`,
          })),
        }
      : {}),
    ...(route.body ? { requestBody: { required: true, content: json(route.body) } } : {}),
    // Every route: the request limits (src/http/limits.ts).
    responses: {
      ...answers,
      ...errorAnswers([
        ...new Set([...route.errors, "PayloadTooLarge", "HeadersTooLarge"] as const),
      ]),
    },
  };
}

function paths(exposure: Exposure): Record<string, Record<string, object>> {
  const result: Record<string, Record<string, object>> = {};
  for (const route of routesOf(exposure)) {
    result[route.path] ??= {};
    (result[route.path] as Record<string, object>)[route.method.toLowerCase()] = operation(route);
  }
  return result;
}

function parameters(exposure: Exposure): Record<string, object> {
  const used = new Set(routesOf(exposure).flatMap((route) => route.parameters));
  const result: Record<string, object> = {};
  for (const name of Object.keys(PARAMETERS) as ParameterName[]) {
    if (!used.has(name)) continue;
    const { in: where, ...rest } = PARAMETERS[name];
    result[name] = { name, in: where, ...(where === "path" ? { required: true } : {}), ...rest };
  }
  return result;
}

/**
 * The routes of one port as OpenAPI 3.1, derived from the route table; the strategy names from
 * `registry` (the server's, unless a test brings one with more strategies).
 */
export function openApiDocumentOf(
  exposure: Exposure,
  registry: StrategyRegistry = DEFAULT_REGISTRY,
) {
  return {
    openapi: "3.1.0",
    info: {
      title: exposure === "public" ? "konsul-lb discovery API" : "konsul-lb internal API",
      version: "v1",
      description:
        exposure === "public"
          ? "Load-balancing decisions for the services in the catalog: ordered endpoint lists, single picks and counted connections."
          : "Replica to replica: leadership status and connection changes handed to the leader. Every request carries the operator's ServiceAccount token.",
    },
    paths: paths(exposure),
    components: {
      parameters: parameters(exposure),
      schemas: { ...SCHEMAS, Strategy: { ...SCHEMAS.Strategy, enum: [...registry.names] } },
    },
  };
}

/** The named schemas routes refer to with `ref`; exported for the client's derived types. */
export const SCHEMAS = {
  Strategy: { type: "string", enum: [...STRATEGY_NAMES] },
  ServiceRef: {
    type: "object",
    required: ["namespace", "name"],
    properties: { namespace: { type: "string" }, name: { type: "string" } },
  },
  ServiceSummary: {
    type: "object",
    required: ["namespace", "name", "strategy", "policy", "endpoints"],
    properties: {
      namespace: { type: "string" },
      name: { type: "string" },
      strategy: ref("Strategy"),
      policy: {
        type: ["string", "null"],
        description: "Name of the LoadBalancingPolicy, or null",
      },
      endpoints: {
        type: "object",
        required: ["total", "healthy"],
        properties: { total: { type: "integer" }, healthy: { type: "integer" } },
      },
    },
  },
  Endpoint: {
    type: "object",
    required: [
      "address",
      "port",
      "ports",
      "identity",
      "zone",
      "region",
      "node",
      "weight",
      "healthy",
      "ready",
      "serving",
      "terminating",
    ],
    properties: {
      address: { type: "string" },
      port: { type: ["integer", "null"] },
      ports: { type: "object", additionalProperties: { type: "integer" } },
      identity: { type: "string", description: "Pod name where known, else address:port" },
      zone: { type: ["string", "null"] },
      region: { type: ["string", "null"] },
      node: { type: ["string", "null"] },
      weight: { type: "integer", minimum: 1, maximum: 1000 },
      healthy: { type: "boolean" },
      ready: { type: "boolean" },
      serving: { type: "boolean" },
      terminating: { type: "boolean" },
    },
  },
  ServiceState: {
    type: "object",
    required: ["service", "strategy", "policy", "version", "balancer", "endpoints"],
    properties: {
      service: ref("ServiceRef"),
      strategy: ref("Strategy"),
      policy: { type: ["string", "null"], description: "Name of the LoadBalancingPolicy, or null" },
      version: { type: "integer" },
      balancer: {
        type: "object",
        description:
          "The policy's balancing settings with the server's defaults underneath, as the engine takes them (durations in milliseconds): healthFilter, panicThreshold, ringHash, maglev, latency, leastConnections",
      },
      endpoints: { type: "array", items: ref("Endpoint") },
    },
  },
  Status: { type: "object", required: ["status"], properties: { status: { type: "string" } } },
  HaStatus: {
    type: "object",
    required: ["identity", "leading", "epoch", "leader", "stateEpoch", "pending"],
    properties: {
      identity: { type: "string" },
      leading: { type: "boolean" },
      epoch: { type: ["integer", "null"] },
      leader: {
        type: ["object", "null"],
        properties: { identity: { type: "string" }, address: { type: ["string", "null"] } },
      },
      stateEpoch: { type: "integer" },
      pending: {
        type: "object",
        properties: {
          opens: { type: "integer" },
          closes: { type: "integer" },
          unacknowledged: { type: "integer" },
        },
      },
    },
  },
  ReconcileRequest: {
    type: "object",
    required: ["from", "opens", "closes"],
    properties: {
      from: { type: "string" },
      opens: {
        type: "array",
        items: {
          type: "object",
          required: ["id", "service", "identity", "expiresAt"],
          properties: {
            id: { type: "string" },
            service: { type: "string", description: "namespace/name" },
            identity: { type: "string", description: "The endpoint's identity" },
            expiresAt: { type: "integer", description: "Milliseconds since the epoch" },
          },
        },
      },
      closes: { type: "array", items: { type: "string" } },
    },
  },
  OutcomeBatch: OUTCOME_BATCH_SCHEMA,
  OutcomeReceipt: OUTCOME_RECEIPT_SCHEMA,
  ReconcileResult: {
    type: "object",
    required: ["opened", "closed"],
    properties: { opened: { type: "integer" }, closed: { type: "integer" } },
  },
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: {
          code: {
            type: "string",
            enum: API_ERROR_CODES,
          },
          message: { type: "string" },
        },
      },
    },
  },
} as const;

/** The discovery API: what `/openapi.json` serves. */
export const openApiDocument = openApiDocumentOf("public");
