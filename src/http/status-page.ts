/**
 * The handlers of the status page's routes (src/status has the page itself). Without
 * --status-page they answer RouteNotFound, as for a route that does not exist.
 */
import type express from "express";
import type { Discovery } from "../discovery/discovery.ts";
import { CHART_MAX_ENDPOINTS, policyChart } from "../status/chart.ts";
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "../status/page.ts";
import type { RecentPicks } from "../status/recent-picks.ts";
import { ApiError } from "./errors.ts";

type StatusRouteId = "statusPage" | "statusState" | "statusChart";

/** `picks` null: the page is off. */
export function statusPageHandlers(
  discovery: Discovery,
  picks: RecentPicks | null,
): Record<StatusRouteId, express.RequestHandler> {
  const enabled = (req: express.Request): RecentPicks => {
    if (picks === null) {
      throw new ApiError(
        "RouteNotFound",
        `no route ${req.method} ${req.path}: the status page is off (serve --status-page turns it on)`,
      );
    }
    return picks;
  };
  return {
    statusPage: (req, res) => {
      enabled(req);
      res.set({
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": STATUS_PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
      });
      res.send(STATUS_PAGE_HTML);
    },
    statusState: async (req, res) => {
      const recent = enabled(req);
      // Loaded at the first request: the verdicts live beside the Kubernetes status writer, whose
      // module loads the Kubernetes client, which a file source would otherwise load at start.
      const { statusOf } = await import("../status/status.ts");
      res.set("Cache-Control", "no-store").json(statusOf(discovery, recent));
    },
    statusChart: (req, res) => {
      enabled(req);
      const entry = discovery.entry(req.params.namespace as string, req.params.name as string);
      const svg = policyChart(discovery, entry);
      if (svg === null) {
        const many = entry.endpoints.length > CHART_MAX_ENDPOINTS;
        throw new ApiError(
          many ? "RouteNotFound" : "NoEndpoints",
          many
            ? `service ${entry.namespace}/${entry.name} has ${entry.endpoints.length} endpoints; the page simulates services of at most ${CHART_MAX_ENDPOINTS} (konsul-lb simulate draws any)`
            : `service ${entry.namespace}/${entry.name} has no endpoints: nothing to simulate`,
        );
      }
      res.set({
        "Content-Type": "image/svg+xml; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff",
      });
      res.send(svg);
    },
  };
}
