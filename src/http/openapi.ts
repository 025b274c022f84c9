import { STRATEGY_NAMES } from "../balancer/strategy.ts";

const json = (schema: object) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });
const errorReply = (description: string) => ({ description, content: json(ref("Error")) });

const selectionParameters = [
  param("namespace"),
  param("name"),
  param("lb"),
  param("limit"),
  param("client-ip"),
  param("session-key"),
  param("client-region"),
  param("health-filter"),
];

/** Blocking queries: the version in every answer, and the parameters that wait for a newer one. */
const indexHeader = {
  "X-Konsul-Index": {
    description:
      "The catalog's index (/v1/services) or the service's version (endpoints): pass it back as index to wait for a change",
    schema: { type: "integer", minimum: 0 },
  },
};
const blockingParameters = [param("index"), param("wait")];

const selectionErrors = {
  "400": errorReply("InvalidParameter, UnknownStrategy or MissingSessionKey"),
  "404": errorReply("ServiceNotFound"),
  "503": errorReply("NoEndpoints"),
};

/** The discovery API as OpenAPI 3.1; a test keeps it in step with the routes the app serves. */
export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "konsul-lb discovery API",
    version: "v1",
    description:
      "Load-balancing decisions for the services in the catalog: ordered endpoint lists, single picks and counted connections.",
  },
  paths: {
    "/v1/services": {
      get: {
        operationId: "listServices",
        summary: "Every service in the catalog with its strategy, policy and endpoint counts",
        parameters: blockingParameters,
        responses: {
          "200": {
            description: "The services, sorted by namespace and name",
            headers: indexHeader,
            content: json({
              type: "object",
              required: ["services"],
              properties: { services: { type: "array", items: ref("ServiceSummary") } },
            }),
          },
        },
      },
    },
    "/v1/services/{namespace}/{name}/endpoints": {
      get: {
        operationId: "listEndpoints",
        summary: "The service's endpoints, best first by its strategy",
        parameters: [...selectionParameters, ...blockingParameters],
        responses: {
          "200": {
            description: "Ordered endpoints",
            headers: indexHeader,
            content: json({
              type: "object",
              required: ["service", "strategy", "version", "endpoints"],
              properties: {
                service: ref("ServiceRef"),
                strategy: ref("Strategy"),
                version: { type: "integer" },
                endpoints: { type: "array", items: ref("Endpoint") },
              },
            }),
          },
          ...selectionErrors,
        },
      },
    },
    "/v1/services/{namespace}/{name}/pick": {
      get: {
        operationId: "pickEndpoint",
        summary: "One endpoint chosen by the service's strategy",
        parameters: selectionParameters,
        responses: {
          "200": {
            description: "The chosen endpoint",
            content: json({
              type: "object",
              required: ["service", "strategy", "version", "endpoint"],
              properties: {
                service: ref("ServiceRef"),
                strategy: ref("Strategy"),
                version: { type: "integer" },
                endpoint: ref("Endpoint"),
              },
            }),
          },
          ...selectionErrors,
        },
      },
    },
    "/v1/services/{namespace}/{name}/connections": {
      post: {
        operationId: "openConnection",
        summary:
          "Choose an endpoint (least-connections unless lb says otherwise) and count a connection on it until released or timed out",
        parameters: selectionParameters,
        responses: {
          "201": {
            description: "The counted connection",
            content: json({
              type: "object",
              required: ["id", "service", "strategy", "endpoint", "expiresAt"],
              properties: {
                id: { type: "string" },
                service: ref("ServiceRef"),
                strategy: ref("Strategy"),
                endpoint: ref("Endpoint"),
                expiresAt: { type: "string", format: "date-time" },
              },
            }),
          },
          ...selectionErrors,
        },
      },
    },
    "/v1/connections/{id}": {
      delete: {
        operationId: "releaseConnection",
        summary: "Release a counted connection",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "204": { description: "Released" },
          "404": errorReply("ConnectionNotFound: unknown, expired or already released"),
        },
      },
    },
    "/healthz": {
      get: {
        operationId: "healthz",
        summary: "Liveness",
        responses: { "200": { description: "The process is alive", content: json(ref("Status")) } },
      },
    },
    "/readyz": {
      get: {
        operationId: "readyz",
        summary: "Readiness: 200 once the source has loaded the catalog",
        responses: {
          "200": { description: "Ready", content: json(ref("Status")) },
          "503": { description: "Not ready yet", content: json(ref("Status")) },
        },
      },
    },
    "/metrics": {
      get: {
        operationId: "metrics",
        summary: "Prometheus metrics",
        responses: {
          "200": {
            description: "Text exposition format",
            content: { "text/plain": { schema: { type: "string" } } },
          },
        },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This document",
        responses: { "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) } },
      },
    },
  },
  components: {
    parameters: {
      namespace: { name: "namespace", in: "path", required: true, schema: { type: "string" } },
      name: { name: "name", in: "path", required: true, schema: { type: "string" } },
      lb: {
        name: "lb",
        in: "query",
        description:
          "Strategy for this request; default: the service's policy, else the server default",
        schema: ref("Strategy"),
      },
      limit: {
        name: "limit",
        in: "query",
        description: "At most this many endpoints; 0 = all",
        schema: { type: "integer", minimum: 0, maximum: 10000, default: 0 },
      },
      "client-ip": {
        name: "client-ip",
        in: "query",
        description: "Client IP for ip-hash and hashOn client-ip; default: the caller's address",
        schema: { type: "string", oneOf: [{ format: "ipv4" }, { format: "ipv6" }] },
      },
      "session-key": {
        name: "session-key",
        in: "query",
        description: "Key for ring-hash and maglev with hashOn session-key",
        schema: { type: "string", maxLength: 1024 },
      },
      "client-region": {
        name: "client-region",
        in: "query",
        description: "Client region for latency-based",
        schema: { type: "string", maxLength: 1024 },
      },
      index: {
        name: "index",
        in: "query",
        description:
          "Blocking query: hold the answer until the X-Konsul-Index is greater than this (or wait elapses). Answered at once when it already is, when the index is greater than the catalog's (an index from before a restart), or for an unknown service (404)",
        schema: { type: "integer", minimum: 0 },
      },
      wait: {
        name: "wait",
        in: "query",
        description:
          "With index: the longest to hold the answer, a duration such as 30s or 5m; default and maximum 5m, stretched by up to 1/16 at random. Without index it has no effect",
        schema: { type: "string", examples: ["30s", "5m"] },
      },
      "health-filter": {
        name: "health-filter",
        in: "query",
        description:
          "Leave out unhealthy endpoints (all are used when none is healthy); default: the policy's, else true",
        schema: { type: "string", enum: ["true", "false"] },
      },
    },
    schemas: {
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
      Status: { type: "object", required: ["status"], properties: { status: { type: "string" } } },
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
                enum: [
                  "InvalidParameter",
                  "UnknownStrategy",
                  "MissingSessionKey",
                  "ServiceNotFound",
                  "ConnectionNotFound",
                  "RouteNotFound",
                  "NoEndpoints",
                  "Internal",
                ],
              },
              message: { type: "string" },
            },
          },
        },
      },
    },
  },
} as const;
