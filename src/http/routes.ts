/**
 * Every route of the API, described once: method, path, parameters with their schemas, answers
 * and whether the route is public (the discovery API's port) or internal (replica to replica).
 * Express's routing (app.ts), the `/pick` fast path (fast-pick.ts), the HA front's matching
 * (src/ha) and `/openapi.json` (openapi.ts) are all derived from this table, so adding a route
 * is one entry here plus its handler, which the compiler then asks for.
 */
import type { ApiErrorCode } from "./errors.ts";

export type Method = "GET" | "POST" | "DELETE";
/** Public routes are served on the discovery API's port; internal ones never are. */
export type Exposure = "public" | "internal";

/** A JSON Schema (OpenAPI 3.1 flavour); `#/components/schemas/<Name>` refers to openapi.ts. */
export type Schema = Readonly<Record<string, unknown>>;

/** The name stays in the type, so the client can derive its types from the table. */
export const ref = <Name extends string>(name: Name) =>
  ({ $ref: `#/components/schemas/${name}` }) as const satisfies Schema;

export interface ParameterSpec {
  readonly in: "path" | "query";
  readonly description?: string;
  readonly schema: Schema;
}

/** Every parameter of the API by name; routes list the ones they take. */
export const PARAMETERS = {
  namespace: { in: "path", schema: { type: "string" } },
  name: { in: "path", schema: { type: "string" } },
  id: { in: "path", schema: { type: "string" } },
  lb: {
    in: "query",
    description:
      "Strategy for this request; default: the service's policy, else the server default",
    schema: ref("Strategy"),
  },
  limit: {
    in: "query",
    description: "At most this many endpoints; 0 = all",
    schema: { type: "integer", minimum: 0, maximum: 10000, default: 0 },
  },
  "client-ip": {
    in: "query",
    description: "Client IP for ip-hash and hashOn client-ip; default: the caller's address",
    schema: { type: "string", oneOf: [{ format: "ipv4" }, { format: "ipv6" }] },
  },
  "session-key": {
    in: "query",
    description: "Key for ring-hash and maglev with hashOn session-key",
    schema: { type: "string", maxLength: 1024 },
  },
  "client-region": {
    in: "query",
    description:
      "Client region for latency-based and for a policy's locality; default: the region of the pod or node whose address the client IP is (locality only)",
    schema: { type: "string", maxLength: 1024 },
  },
  "client-zone": {
    in: "query",
    description:
      "Client zone for a policy's locality; default: the zone of the pod or node whose address the client IP is",
    schema: { type: "string", maxLength: 1024 },
  },
  "client-node": {
    in: "query",
    description:
      "Client node for a policy's locality (PreferSameNode); default: the node of the pod whose address the client IP is",
    schema: { type: "string", maxLength: 1024 },
  },
  index: {
    in: "query",
    description:
      "Blocking query: hold the answer until the X-Konsul-Index is greater than this (or wait elapses). Answered at once when it already is, when the index is greater than the catalog's (an index from before a restart), or for an unknown service (404)",
    schema: { type: "integer", minimum: 0 },
  },
  wait: {
    in: "query",
    description:
      "With index: the longest to hold the answer, a duration such as 30s or 5m; default and maximum 5m, stretched by up to 1/16 at random. Without index it has no effect",
    schema: { type: "string", examples: ["30s", "5m"] },
  },
  subset: {
    in: "query",
    description:
      "The policy's subset to balance over (spec.subsets); default: the policy's defaultSubset, else the whole service",
    schema: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
  },
  reporter: {
    in: "query",
    description:
      "Who reports, such as the calling app's name (1 to 63 lowercase letters, digits and '-'), for konsul_lb_outcomes_reported_total; default anonymous",
    schema: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" },
  },
  outcome: {
    in: "query",
    description:
      "How the connection's request ended, reported as one outcome of its endpoint (outlier detection): success, failure or timeout",
    schema: { type: "string", enum: ["success", "failure", "timeout"] },
  },
  latency: {
    in: "query",
    description:
      "With outcome: how long the request took, such as 120ms or 1.5s (a bare number is milliseconds); least-request's peak-ewma cost reads it",
    schema: { type: "string", examples: ["120ms", "1.5s"] },
  },
  "health-filter": {
    in: "query",
    description:
      "Leave out unhealthy endpoints (all are used when none is healthy); default: the policy's, else true",
    schema: { type: "string", enum: ["true", "false"] },
  },
} as const satisfies Record<string, ParameterSpec>;

export type ParameterName = keyof typeof PARAMETERS;

export interface Answer {
  readonly description: string;
  /** The JSON body's schema; absent for an answer without a body. */
  readonly schema?: Schema;
  /** Default application/json. */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, { description: string; schema: Schema }>>;
}

export interface RouteSpec {
  /** Also the OpenAPI operationId. */
  readonly id: string;
  readonly method: Method;
  /** With `{parameter}` segments, as OpenAPI writes them. */
  readonly path: string;
  readonly exposure: Exposure;
  readonly summary: string;
  readonly parameters: readonly ParameterName[];
  /** The JSON request body's schema, for routes that take one. */
  readonly body?: Schema;
  /** Successful answers by status. */
  readonly answers: Readonly<Record<number, Answer>>;
  /** The error codes the route can answer, each with its status from API_ERRORS. */
  readonly errors: readonly ApiErrorCode[];
}

// `as const` rather than annotations: each route's parameters and errors stay exact in its type.
const SELECTION = [
  "namespace",
  "name",
  "lb",
  "limit",
  "client-ip",
  "session-key",
  "client-region",
  "client-zone",
  "client-node",
  "health-filter",
  "subset",
] as const satisfies readonly ParameterName[];
const BLOCKING = ["index", "wait"] as const satisfies readonly ParameterName[];
const SELECTION_ERRORS = [
  "InvalidParameter",
  "UnknownStrategy",
  "UnknownSubset",
  "MissingSessionKey",
  "ServiceNotFound",
  "NoEndpoints",
] as const satisfies readonly ApiErrorCode[];

/** Every internal route: the caller's token is checked first (TokenReview). */
const PEER_ERRORS: readonly ApiErrorCode[] = ["Unauthenticated", "Forbidden", "Unavailable"];

/** Blocking queries: the version in every answer, and the parameters that wait for a newer one. */
const INDEX_HEADER = {
  "X-Konsul-Index": {
    description:
      "The catalog's index (/v1/services) or the service's version (endpoints): pass it back as index to wait for a change",
    schema: { type: "integer", minimum: 0 },
  },
};

const OPENED_CONNECTION = {
  type: "object",
  required: ["id", "service", "strategy", "endpoint", "expiresAt"],
  properties: {
    id: { type: "string" },
    service: ref("ServiceRef"),
    strategy: ref("Strategy"),
    endpoint: ref("Endpoint"),
    expiresAt: { type: "string", format: "date-time" },
  },
} as const satisfies Schema;

export const ROUTES = [
  {
    id: "listServices",
    method: "GET",
    path: "/v1/services",
    exposure: "public",
    summary: "Every service in the catalog with its strategy, policy and endpoint counts",
    parameters: BLOCKING,
    answers: {
      200: {
        description: "The services, sorted by namespace and name",
        headers: INDEX_HEADER,
        schema: {
          type: "object",
          required: ["services"],
          properties: { services: { type: "array", items: ref("ServiceSummary") } },
        },
      },
    },
    errors: ["InvalidParameter", "TooManyWaiters"],
  },
  {
    id: "getService",
    method: "GET",
    path: "/v1/services/{namespace}/{name}",
    exposure: "public",
    summary:
      "The service as the engine sees it: every endpoint (sorted by identity) and the policy's balancing settings with the server's defaults; what a client needs to decide locally",
    parameters: ["namespace", "name", ...BLOCKING],
    answers: {
      200: { description: "The service", headers: INDEX_HEADER, schema: ref("ServiceState") },
    },
    errors: ["InvalidParameter", "UnknownStrategy", "ServiceNotFound"],
  },
  {
    id: "listEndpoints",
    method: "GET",
    path: "/v1/services/{namespace}/{name}/endpoints",
    exposure: "public",
    summary:
      "The service's endpoints, best first by its strategy; a hash strategy without its key lists them heaviest first, then by identity",
    parameters: [...SELECTION, ...BLOCKING],
    answers: {
      200: {
        description: "Ordered endpoints",
        headers: INDEX_HEADER,
        schema: {
          type: "object",
          required: ["service", "strategy", "version", "endpoints"],
          properties: {
            service: ref("ServiceRef"),
            strategy: ref("Strategy"),
            version: { type: "integer" },
            endpoints: { type: "array", items: ref("Endpoint") },
          },
        },
      },
    },
    errors: [...SELECTION_ERRORS, "TooManyWaiters"],
  },
  {
    id: "pickEndpoint",
    method: "GET",
    path: "/v1/services/{namespace}/{name}/pick",
    exposure: "public",
    summary: "One endpoint chosen by the service's strategy",
    parameters: SELECTION,
    answers: {
      200: {
        description: "The chosen endpoint",
        schema: {
          type: "object",
          required: ["service", "strategy", "version", "endpoint"],
          properties: {
            service: ref("ServiceRef"),
            strategy: ref("Strategy"),
            version: { type: "integer" },
            endpoint: ref("Endpoint"),
          },
        },
      },
    },
    errors: SELECTION_ERRORS,
  },
  {
    id: "openConnection",
    method: "POST",
    path: "/v1/services/{namespace}/{name}/connections",
    exposure: "public",
    summary:
      "Choose an endpoint (least-connections unless lb says otherwise) and count a connection on it until released or timed out",
    parameters: SELECTION,
    answers: { 201: { description: "The counted connection", schema: OPENED_CONNECTION } },
    errors: [...SELECTION_ERRORS, "TooManyConnections"],
  },
  {
    id: "releaseConnection",
    method: "DELETE",
    path: "/v1/connections/{id}",
    exposure: "public",
    summary:
      "Release a counted connection; with outcome (and latency), report how its request ended",
    parameters: ["id", "outcome", "latency"],
    answers: { 204: { description: "Released" } },
    errors: ["InvalidParameter", "ConnectionNotFound"],
  },
  {
    id: "reportOutcomes",
    method: "POST",
    path: "/v1/services/{namespace}/{name}/outcomes",
    exposure: "public",
    summary:
      "Report how requests to the service's endpoints ended: outlier detection (spec.outlierDetection) ejects failing endpoints, least-request with cost peak-ewma reads the latencies",
    parameters: ["namespace", "name", "reporter"],
    body: ref("OutcomeBatch"),
    answers: { 200: { description: "What was counted", schema: ref("OutcomeReceipt") } },
    errors: ["InvalidParameter", "PayloadTooLarge", "ServiceNotFound", "Unavailable"],
  },
  {
    id: "healthz",
    method: "GET",
    path: "/healthz",
    exposure: "public",
    summary: "Liveness",
    parameters: [],
    answers: { 200: { description: "The process is alive", schema: ref("Status") } },
    errors: [],
  },
  {
    id: "readyz",
    method: "GET",
    path: "/readyz",
    exposure: "public",
    summary: "Readiness: 200 once the source has loaded the catalog",
    parameters: [],
    answers: {
      200: { description: "Ready", schema: ref("Status") },
      503: { description: "Not ready yet", schema: ref("Status") },
    },
    errors: [],
  },
  {
    id: "metrics",
    method: "GET",
    path: "/metrics",
    exposure: "public",
    summary: "Prometheus metrics",
    parameters: [],
    answers: {
      200: {
        description: "Text exposition format",
        contentType: "text/plain",
        schema: { type: "string" },
      },
    },
    errors: [],
  },
  {
    id: "openapi",
    method: "GET",
    path: "/openapi.json",
    exposure: "public",
    summary: "This document",
    parameters: [],
    answers: { 200: { description: "OpenAPI 3.1", schema: { type: "object" } } },
    errors: [],
  },
  {
    id: "statusPage",
    method: "GET",
    path: "/ui",
    exposure: "public",
    summary:
      "The status page (HTML, self-contained): services, policies, endpoints, live shares and the simulator's chart; RouteNotFound unless the server runs with --status-page",
    parameters: [],
    answers: {
      200: { description: "The page", contentType: "text/html", schema: { type: "string" } },
    },
    errors: ["RouteNotFound"],
  },
  {
    id: "statusState",
    method: "GET",
    path: "/ui/state.json",
    exposure: "public",
    summary: "What the status page draws; its shape is the page's, not a stable API",
    parameters: [],
    answers: { 200: { description: "The page's data", schema: { type: "object" } } },
    errors: ["RouteNotFound"],
  },
  {
    id: "statusChart",
    method: "GET",
    path: "/ui/services/{namespace}/{name}/chart.svg",
    exposure: "public",
    summary:
      "The status page's chart of a service: its policy simulated on synthetic traffic (konsul-lb simulate --format svg)",
    parameters: ["namespace", "name"],
    answers: {
      200: { description: "The chart", contentType: "image/svg+xml", schema: { type: "string" } },
    },
    errors: ["RouteNotFound", "ServiceNotFound", "NoEndpoints"],
  },
  {
    id: "haStatus",
    method: "GET",
    path: "/internal/v1/ha",
    exposure: "internal",
    summary: "This replica's view of leadership and of its pending connection changes",
    parameters: [],
    answers: { 200: { description: "The replica's status", schema: ref("HaStatus") } },
    errors: PEER_ERRORS,
  },
  {
    id: "forwardOpen",
    method: "POST",
    path: "/internal/v1/services/{namespace}/{name}/connections",
    exposure: "internal",
    summary:
      "A follower's open, forwarded to the leader: answered as POST /v1/services/{namespace}/{name}/connections, never forwarded again",
    parameters: SELECTION,
    answers: { 201: { description: "The counted connection", schema: OPENED_CONNECTION } },
    errors: [...SELECTION_ERRORS, "TooManyConnections", ...PEER_ERRORS],
  },
  {
    id: "forwardRelease",
    method: "DELETE",
    path: "/internal/v1/connections/{id}",
    exposure: "internal",
    summary:
      "A follower's release, forwarded to the leader: answered as DELETE /v1/connections/{id}, never forwarded again",
    parameters: ["id", "outcome", "latency"],
    answers: { 204: { description: "Released" } },
    errors: ["InvalidParameter", "ConnectionNotFound", ...PEER_ERRORS],
  },
  {
    id: "forwardOutcomes",
    method: "POST",
    path: "/internal/v1/services/{namespace}/{name}/outcomes",
    exposure: "internal",
    summary:
      "A follower's outcome reports, forwarded to the leader, which decides ejections: answered as POST /v1/services/{namespace}/{name}/outcomes, never forwarded again",
    parameters: ["namespace", "name", "reporter"],
    body: ref("OutcomeBatch"),
    answers: { 200: { description: "What was counted", schema: ref("OutcomeReceipt") } },
    errors: ["InvalidParameter", "PayloadTooLarge", "ServiceNotFound", "NotLeader", ...PEER_ERRORS],
  },
  {
    id: "reconcileConnections",
    method: "POST",
    path: "/internal/v1/connections/reconcile",
    exposure: "internal",
    summary:
      "A replica hands the leader the connection opens and releases the leader may not know of",
    parameters: [],
    body: ref("ReconcileRequest"),
    answers: { 200: { description: "What the leader applied", schema: ref("ReconcileResult") } },
    errors: ["InvalidParameter", "PayloadTooLarge", "NotLeader", ...PEER_ERRORS],
  },
] as const satisfies readonly RouteSpec[];

type Route = (typeof ROUTES)[number];
export type RouteId = Route["id"];
export type PublicRouteId = Extract<Route, { exposure: "public" }>["id"];
export type InternalRouteId = Extract<Route, { exposure: "internal" }>["id"];

export function routesOf(exposure: Exposure): readonly RouteSpec[] {
  return ROUTES.filter((route) => route.exposure === exposure);
}

/**
 * The header of a forwarded open (route forwardOpen) naming the id the forwarding replica chose
 * for it: should the leader answer too late, the forwarder answers the client itself under the
 * same id, and the connection is counted once.
 */
export const FORWARDED_CONNECTION_ID_HEADER = "konsul-lb-connection-id";

/** Express's form of a path: `{name}` becomes `:name`. */
export function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}

export interface RouteMatch {
  readonly route: Route;
  /** Path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** What follows `?`, without it; "" when there is none. */
  readonly query: string;
}

interface CompiledRoute {
  readonly route: Route;
  /** A literal segment, or null for a parameter (named in `names` in order). */
  readonly segments: readonly (string | null)[];
  readonly names: readonly string[];
}

/** By method and segment count, so that a request is compared with few candidates. */
const COMPILED = new Map<string, CompiledRoute[]>();
for (const route of ROUTES) {
  const parts = route.path.split("/");
  const key = `${route.method} ${parts.length}`;
  const list = COMPILED.get(key) ?? [];
  list.push({
    route,
    segments: parts.map((part) => (/^\{\w+\}$/.test(part) ? null : part)),
    names: parts.filter((part) => /^\{\w+\}$/.test(part)).map((part) => part.slice(1, -1)),
  });
  COMPILED.set(key, list);
}

/**
 * The route a request's method and URL name, with its decoded path parameters. Stricter than
 * Express (no trailing slash, exact case, no empty or undecodable parameter): null leaves such a
 * request to Express, which answers it as it always has.
 */
export function matchRoute(method: string | undefined, url: string | undefined): RouteMatch | null {
  if (method === undefined || url === undefined) return null;
  const queryAt = url.indexOf("?");
  const parts = (queryAt < 0 ? url : url.slice(0, queryAt)).split("/");
  for (const compiled of COMPILED.get(`${method} ${parts.length}`) ?? []) {
    const values: string[] = [];
    let matched = true;
    for (let i = 0; i < parts.length && matched; i++) {
      const literal = compiled.segments[i];
      const part = parts[i] as string;
      if (literal === null) {
        if (part === "") matched = false;
        else values.push(part);
      } else if (literal !== part) {
        matched = false;
      }
    }
    if (!matched) continue;
    const params: Record<string, string> = {};
    try {
      compiled.names.forEach((name, i) => {
        params[name] = decodeURIComponent(values[i] as string);
      });
    } catch {
      return null;
    }
    return { route: compiled.route, params, query: queryAt < 0 ? "" : url.slice(queryAt + 1) };
  }
  return null;
}

/** A route's path with its parameters filled in (encoded). */
export function pathOf(id: RouteId, params: Readonly<Record<string, string>> = {}): string {
  const route = ROUTES.find((candidate) => candidate.id === id) as Route;
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${id}: no value for ${name}`);
    return encodeURIComponent(value);
  });
}
