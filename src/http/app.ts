import express, { type NextFunction, type Request, type Response } from "express";
import type { CatalogEntry } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { OutcomeIntake } from "../discovery/outcomes.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RecentPicks } from "../status/recent-picks.ts";
import { BlockingQueries } from "./blocking.ts";
import { ChangeWaiters } from "./change-waiters.ts";
import { type DecisionRequest, Decisions } from "./decisions.ts";
import { endpointJson, jsonWithEndpoints } from "./endpoint-json.ts";
import { ApiError, errorJson, toApiError } from "./errors.ts";
import { MAX_PUBLIC_BODY_BYTES, requestLimits } from "./limits.ts";
import { openApiDocument } from "./openapi.ts";
import { releaseOutcomeFrom } from "./outcome-batch.ts";
import { type OutcomeForwarding, outcomeHandler } from "./outcome-routes.ts";
import { expressPath, type PublicRouteId, type RouteSpec, routesOf } from "./routes.ts";
import { statusPageHandlers } from "./status-page.ts";

export interface AppOptions {
  readonly discovery: Discovery;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Express's `trust proxy` value: whether and whom to believe X-Forwarded-For from. */
  readonly trustProxy: boolean | number | string;
  /** True once the source has loaded the catalog. */
  readonly isReady: () => boolean;
  /** Where blocking queries wait; the server closes it on shutdown. Absent: the app makes one. */
  readonly waiters?: ChangeWaiters;
  /** The latest picks for the status page; absent or null: the status page is off. */
  readonly recentPicks?: RecentPicks | null;
  /** How the HA tier takes part in the connection routes; absent: a single server. */
  readonly connectionHooks?: ConnectionHooks;
  /** Where reported outcomes go; absent: the app makes one (without its interval timer). */
  readonly outcomes?: OutcomeIntake;
  /** How a follower hands outcome reports to the leader; absent: a single server. */
  readonly outcomeForwarding?: OutcomeForwarding;
}

function requestOf(req: Request): DecisionRequest {
  return {
    namespace: req.params.namespace as string,
    name: req.params.name as string,
    query: req.query,
    callerIp: req.ip,
  };
}

/** A change of the connection table, made and about to be acknowledged. */
export interface ConnectionChange {
  readonly kind: "open" | "release";
  readonly id: string;
}

/** How a replicated server takes part in the connection routes; absent: a single server. */
export interface ConnectionHooks {
  /** The id an open is to be counted under, when one was chosen before it reached here. */
  readonly idFor?: (req: Request) => string | undefined;
  /**
   * Told of a change once it is made, before it is acknowledged: null to acknowledge at once, or
   * a promise that resolves when the change may be acknowledged and rejects with the ApiError
   * to answer instead. A refused open is released (whatever its id: see the open handler); a
   * refused release stays made (releasing is idempotent, and the client is told to retry).
   */
  readonly settle?: (change: ConnectionChange) => Promise<void> | null;
}

/** Opening and releasing a counted connection: public routes, and the leader's internal ones. */
export function connectionHandlers(
  discovery: Discovery,
  decisions: Decisions,
  hooks: ConnectionHooks = {},
  outcomes: OutcomeIntake | null = null,
) {
  const open: express.RequestHandler = async (req, res) => {
    const request = requestOf(req);
    const connectionId = hooks.idFor?.(req);
    const { entry, result } = decisions.run(
      connectionId === undefined ? request : { ...request, connectionId },
      "open",
    );
    const settling = hooks.settle?.({ kind: "open", id: result.id }) ?? null;
    if (settling !== null) {
      try {
        await settling;
      } catch (error) {
        // Released, not merely forgotten: the state write that was refused may have landed all
        // the same, and a successor taking over that snapshot would count a connection no
        // client holds unless the release reaches it too. That holds as well for an open under
        // the id of this replica's own forward that no leader answered: the client is told 503
        // here, and the leader that forward reached may count the id.
        discovery.closeConnection(result.id);
        throw error;
      }
    }
    res.status(201).json({
      id: result.id,
      service: { namespace: entry.namespace, name: entry.name },
      strategy: result.strategy,
      endpoint: endpointJson(result.endpoint),
      expiresAt: new Date(result.expiresAt).toISOString(),
    });
  };
  const release: express.RequestHandler = async (req, res) => {
    const id = req.params.id as string;
    const outcome = releaseOutcomeFrom(req.query);
    const connection = outcome === null ? undefined : discovery.manager.getConnection(id);
    if (!discovery.closeConnection(id)) {
      throw new ApiError(
        "ConnectionNotFound",
        `connection ${JSON.stringify(id)} is unknown, expired or already released`,
      );
    }
    if (outcome !== null && connection !== undefined) {
      outcomes?.reportIdentity(
        connection.service,
        connection.identity,
        outcome.result,
        outcome.latencyMs,
      );
    }
    await hooks.settle?.({ kind: "release", id });
    res.status(204).end();
  };
  return { openConnection: open, releaseConnection: release };
}

/** Answers 200 with JSON already written out (UTF-8), as `res.json` would send it. */
function sendJsonText(res: Response, body: string | Buffer): void {
  res.set("Content-Type", "application/json; charset=utf-8");
  res.send(body);
}

/** Registers each route of the table with its handler, in the table's order. */
export function serveRoutes<Id extends string>(
  app: express.Express,
  routes: readonly RouteSpec[],
  handlers: Record<Id, express.RequestHandler>,
): void {
  for (const route of routes) {
    const handler = handlers[route.id as Id];
    if (handler === undefined) throw new Error(`route ${route.id} has no handler`);
    const method = route.method.toLowerCase() as "get" | "post" | "delete";
    app[method](expressPath(route.path), handler);
  }
}

/** The answer to an unknown route, and the error envelope for whatever a handler throws. */
export function answerErrors(app: express.Express, logger: Logger): void {
  app.use((req, _res, next) => {
    next(new ApiError("RouteNotFound", `no route ${req.method} ${req.path}; see /openapi.json`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const apiError = toApiError(error);
    if (apiError.status >= 500)
      logger.error({ err: error, method: req.method, url: req.originalUrl }, "request failed");
    res.status(apiError.status).set(apiError.headers).json(errorJson(apiError));
  });
}

/** The discovery API. Interfaces read the catalog through `discovery`; they never talk to Kubernetes. */
export function createApp(options: AppOptions): express.Express {
  const { discovery, metrics, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  // Picks differ request by request; hashing each body for an ETag would be wasted work.
  app.set("etag", false);
  app.set("trust proxy", options.trustProxy);

  if (logger.isLevelEnabled("debug")) {
    app.use((req, res, next) => {
      const started = process.hrtime.bigint();
      res.on("finish", () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        logger.debug(
          { method: req.method, url: req.originalUrl, status: res.statusCode, ms },
          "request",
        );
      });
      next();
    });
  }

  app.use(requestLimits(MAX_PUBLIC_BODY_BYTES));

  const recentPicks = options.recentPicks ?? null;
  const outcomes = options.outcomes ?? new OutcomeIntake(discovery, { metrics });
  const decisions = new Decisions(discovery, recentPicks);
  const blocking = new BlockingQueries(
    discovery,
    options.waiters ?? new ChangeWaiters(discovery.catalog),
    Math.random,
    () => metrics.waitersRefused.inc(),
  );

  /**
   * A service's full answer by catalog entry, i.e. per version: the same for every request, and
   * the blocking queries a change wakes all ask for it at once. Kept encoded: sending a string
   * encodes it again for every request.
   */
  const serviceBodies = new WeakMap<CatalogEntry, Buffer>();

  const handlers: Record<PublicRouteId, express.RequestHandler> = {
    listServices: async (req, res) => {
      if (!(await blocking.catalog(req, res))) return;
      res.json({
        services: discovery.summaries().map(({ version: _version, ...summary }) => summary),
      });
    },
    getService: async (req, res) => {
      if (!(await blocking.service(req, res))) return;
      const entry = discovery.entry(req.params.namespace as string, req.params.name as string);
      let body = serviceBodies.get(entry);
      if (body === undefined) {
        const view = discovery.view(entry);
        const head = {
          service: { namespace: entry.namespace, name: entry.name },
          strategy: discovery.manager.strategyFor(view),
          policy: entry.policy?.name ?? null,
          version: entry.version,
          balancer: view.policy ?? {},
        };
        body = Buffer.from(jsonWithEndpoints(head, entry.endpoints));
        serviceBodies.set(entry, body);
      }
      sendJsonText(res, body);
    },
    listEndpoints: async (req, res) => {
      if (!(await blocking.service(req, res))) return;
      const { entry, result } = decisions.run(requestOf(req), "select");
      const head = {
        service: { namespace: entry.namespace, name: entry.name },
        strategy: result.strategy,
        version: entry.version,
      };
      sendJsonText(res, jsonWithEndpoints(head, result.endpoints));
    },
    pickEndpoint: (req, res) => {
      const reply = decisions.pick(requestOf(req));
      res.status(reply.status).json(reply.body);
    },
    ...connectionHandlers(discovery, decisions, options.connectionHooks, outcomes),
    reportOutcomes: outcomeHandler(outcomes, { forwarding: options.outcomeForwarding ?? null }),
    healthz: (_req, res) => {
      res.json({ status: "ok" });
    },
    readyz: (_req, res) => {
      const ready = options.isReady();
      res.status(ready ? 200 : 503).json({
        status: ready
          ? "ready"
          : "not ready: the catalog has not been loaded yet, or (with several replicas) the leader is not known yet",
      });
    },
    metrics: async (_req, res) => {
      res.set("Content-Type", metrics.registry.contentType);
      res.send(await metrics.registry.metrics());
    },
    openapi: (_req, res) => {
      res.json(openApiDocument);
    },
    ...statusPageHandlers(discovery, recentPicks),
  };
  serveRoutes(app, routesOf("public"), handlers);

  answerErrors(app, logger);
  return app;
}
