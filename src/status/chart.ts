/**
 * The simulator's chart of a Service's policy (`konsul-lb simulate --format svg`) for the
 * status page: the policy run on synthetic traffic, each endpoint's share against its expected
 * share. Computed once per Service version (the cache is keyed by the catalog entry, so it goes
 * with it), and only for Services small enough to simulate in a moment.
 */
import type { CatalogEntry } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { DEFAULT_CLIENTS, DEFAULT_HOLD, DEFAULT_KEYS, DEFAULT_SEED } from "../simulate/options.ts";
import { simulate } from "../simulate/simulate.ts";
import { formatSvg } from "../simulate/svg.ts";

/** Enough requests for shares within about a percent; a run stays well under a second. */
export const CHART_REQUESTS = 10_000;
/** Above this many endpoints the page shows no chart: the simulation would hold up the server. */
export const CHART_MAX_ENDPOINTS = 100;

const charts = new WeakMap<CatalogEntry, string>();

export function hasChart(entry: CatalogEntry): boolean {
  return entry.endpoints.length > 0 && entry.endpoints.length <= CHART_MAX_ENDPOINTS;
}

/** The chart's SVG, or null when the Service has no endpoints or too many to simulate. */
export function policyChart(discovery: Discovery, entry: CatalogEntry): string | null {
  if (!hasChart(entry)) return null;
  let svg = charts.get(entry);
  if (svg === undefined) {
    const view = discovery.view(entry);
    const report = simulate(
      { entry, view, warnings: [] },
      {
        file: "this server's catalog",
        requests: CHART_REQUESTS,
        clients: DEFAULT_CLIENTS,
        keys: DEFAULT_KEYS,
        regions: null,
        // The server's strategy: the simulator alone would not know this server's default.
        strategies: [discovery.manager.strategyFor(view)],
        compare: false,
        seed: DEFAULT_SEED,
        hold: DEFAULT_HOLD,
        subset: null,
      },
    );
    svg = formatSvg(report);
    charts.set(entry, svg);
  }
  return svg;
}
