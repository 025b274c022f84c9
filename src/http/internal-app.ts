import express from "express";
import { CONNECTION_ID_PATTERN } from "../balancer/index.ts";
import type { Discovery } from "../discovery/discovery.ts";
import type { OutcomeIntake } from "../discovery/outcomes.ts";
import type { Logger } from "../observability/logger.ts";
import { answerErrors, connectionHandlers, serveRoutes } from "./app.ts";
import { Decisions } from "./decisions.ts";
import { ApiError, errorJson, invalidParameter } from "./errors.ts";
import { requestLimits } from "./limits.ts";
import { outcomeHandler } from "./outcome-routes.ts";
import { FORWARDED_CONNECTION_ID_HEADER, type InternalRouteId, routesOf } from "./routes.ts";

/** The largest reconcile body: far above what a replica sends (see MAX_RECONCILE_ITEMS). */
export const INTERNAL_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export interface InternalAppOptions {
  readonly discovery: Discovery;
  readonly logger: Logger;
  /** Null when the caller may use the internal API, else the error to answer. */
  readonly authenticate: (authorization: string | undefined) => Promise<ApiError | null>;
  /** This replica's leadership status (GET /internal/v1/ha). */
  readonly status: () => unknown;
  /** The leader's side of a reconcile; throws an ApiError for a body it refuses. */
  readonly reconcile: (body: unknown) => unknown;
  /**
   * Told of a forwarded open (null) or release (its id) before the app answers it; throws the
   * ApiError to answer instead (NotLeader on a replica that does not lead).
   */
  readonly forwarded: (released: string | null) => void;
  /** Where forwarded outcome reports go (the leader's); absent: refused as NotLeader. */
  readonly outcomes?: OutcomeIntake;
}

/**
 * The internal API: replica to replica, on its own port, every call authenticated first. The
 * forwarded connection routes answer exactly as the public ones do on the leader, and never
 * forward again.
 */
export function createInternalApp(options: InternalAppOptions): express.Express {
  const { discovery, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use((req, res, next) => {
    options.authenticate(req.headers.authorization).then((refusal) => {
      if (refusal === null) return next();
      if (refusal.status === 401) res.set("WWW-Authenticate", "Bearer");
      res.status(refusal.status).json(errorJson(refusal));
    }, next);
  });
  const reportOutcomes = options.outcomes
    ? outcomeHandler(options.outcomes, { limitBytes: INTERNAL_BODY_LIMIT_BYTES, forwarded: true })
    : null;
  const connections = connectionHandlers(
    discovery,
    new Decisions(discovery),
    {
      idFor: (req) => {
        const id = req.get(FORWARDED_CONNECTION_ID_HEADER);
        if (id === undefined) return undefined;
        if (!CONNECTION_ID_PATTERN.test(id)) {
          throw invalidParameter(
            FORWARDED_CONNECTION_ID_HEADER,
            id,
            "a connection id: 1 to 128 letters, digits and ._:-",
          );
        }
        return id;
      },
    },
    options.outcomes ?? null,
  );
  const handlers: Record<InternalRouteId, express.RequestHandler> = {
    haStatus: (_req, res) => {
      res.json(options.status());
    },
    reconcileConnections: (req, res) => {
      res.json(options.reconcile(req.body));
    },
    forwardOpen: (req, res, next) => {
      options.forwarded(null);
      return connections.openConnection(req, res, next);
    },
    forwardOutcomes: (req, res, next) => {
      // Only the leader decides ejections: a replica that does not lead refuses with NotLeader.
      options.forwarded(null);
      if (reportOutcomes === null)
        throw new ApiError("NotLeader", "this replica takes no outcome reports");
      return reportOutcomes(req, res, next);
    },
    forwardRelease: (req, res, next) => {
      options.forwarded(req.params.id as string);
      return connections.releaseConnection(req, res, next);
    },
  };
  app.use(requestLimits(INTERNAL_BODY_LIMIT_BYTES));
  app.use(express.json({ limit: INTERNAL_BODY_LIMIT_BYTES, strict: true }));
  serveRoutes(app, routesOf("internal"), handlers);
  answerErrors(app, logger);
  return app;
}
