/** The report as a terminal table, shares drawn as bars of block glyphs. */

import {
  type EndpointInfo,
  type ExpectedBasis,
  type HashReport,
  type SimulationReport,
  type StrategyOutcomes,
  type StrategyReport,
  showsRegions,
} from "./report.ts";

const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
const BAR_WIDTH = 30;
const COMPARE_BAR_WIDTH = 8;
const NONE = "-";

/** `fraction` of `width` characters, to an eighth of a character. */
export function bar(fraction: number, width: number): string {
  const eighths = Math.round(Math.max(0, Math.min(1, fraction)) * width * 8);
  return `${"█".repeat(Math.floor(eighths / 8))}${EIGHTHS[eighths % 8]}`;
}

export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function ratio(value: number): string {
  return value.toFixed(2);
}

type Align = "left" | "right";

/** Columns padded to their widest cell; the last column is not padded. */
function layout(rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => {
        if (i === row.length - 1 && align[i] !== "right") return cell;
        const pad = " ".repeat((widths[i] ?? 0) - [...cell].length);
        return align[i] === "right" ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd(),
  );
}

const BASIS_TEXT: Readonly<Record<ExpectedBasis, string>> = {
  equal: "equal shares of the balanced endpoints (the strategy ignores weights)",
  weight: "by weight, among the balanced endpoints",
  "nearest-region": "by weight among each client region's nearest endpoints (latency map)",
};

function strategySource(report: SimulationReport, only: StrategyReport | undefined): string {
  const own =
    report.policy === null
      ? `${report.serviceStrategy} (no policy: the server's default strategy)`
      : `${report.serviceStrategy}, from policy ${report.policy}`;
  if (report.compare) return `${report.strategies.length} strategies; the service's own is ${own}`;
  if (only !== undefined && only.strategy !== report.serviceStrategy) {
    return `${only.strategy} (--strategy); the service's own is ${own}`;
  }
  return own;
}

function header(report: SimulationReport): string[] {
  const only = report.compare ? undefined : report.strategies[0];
  const balanced = report.endpoints.filter((e) => e.balanced).length;
  const lines = [`${report.service} (${report.file}): ${strategySource(report, only)}`];
  if (report.subset !== null) lines.push(`every request asks for subset ${report.subset}`);
  const left = report.endpoints.length - balanced;
  lines.push(
    report.panic
      ? `${report.endpoints.length} endpoints, too few healthy: the engine balances over all of them (panic)`
      : left === 0
        ? `${report.endpoints.length} endpoints, all balanced`
        : `${report.endpoints.length} endpoints, ${balanced} balanced: ${left} left out by ${
            report.subset === null
              ? "the health filter"
              : `subset ${report.subset} or the health filter`
          }`,
  );
  lines.push(
    `${count(report.requests)} requests from ${count(report.clients)} client IPs and ` +
      `${count(report.keys)} session keys, seed ${report.seed}`,
  );
  if (report.regions.length > 0) {
    const regions = report.regions.map((r) => `${r.region} ${percent(r.share)}`).join(", ");
    const from = report.regionsFrom === "endpoints" ? " (the endpoints' regions, equally)" : "";
    lines.push(`client regions: ${regions}${from}`);
  } else {
    lines.push("client regions: none (no endpoint has a region; see --regions)");
  }
  if (report.zones !== null) {
    const zones = report.zones.map((z) => `${z.zone} ${percent(z.share)}`).join(", ");
    lines.push(`client zones: ${zones} (the endpoints' zones, one per client IP, for locality)`);
  }
  lines.push(
    report.hold === 0
      ? "connections: none held (--hold 0), so load-aware strategies see no load"
      : `connections: each request holds one open for the next ${count(report.hold)} picks`,
  );
  if (report.outcomes !== null) lines.push(outcomeLine(report.outcomes));
  for (const warning of report.warnings) lines.push(`warning: ${warning}`);
  return lines;
}

function outcomeLine(outcomes: NonNullable<SimulationReport["outcomes"]>): string {
  const slow = Object.entries(outcomes.latencyMs).map(([id, ms]) => `${id} ${ms} ms`);
  const failing = Object.entries(outcomes.failurePercent).map(([id, p]) => `${id} fails ${p}%`);
  return (
    `outcomes reported, one request per simulated ms: ${[...slow, ...failing].join(", ")}` +
    ` (others ${outcomes.defaultLatencyMs} ms, no failures)`
  );
}

function ejectionText(outcomes: StrategyOutcomes): string {
  const list = Object.entries(outcomes.ejections).map(([id, n]) => `${id} ${n}x`);
  return list.length === 0 ? "none" : list.join(", ");
}

function leftOutNote(endpoint: EndpointInfo): string {
  return endpoint.healthy ? "left out" : "unhealthy: left out";
}

function hashLines(report: SimulationReport, hash: HashReport): string[] {
  const what = hash.hashOn === "client-ip" ? "client IPs" : "session keys";
  const rows: string[][] = [["endpoint", "keys", "share", "moved", "ideal"]];
  hash.endpoints.forEach((result, i) => {
    const endpoint = report.endpoints[i] as EndpointInfo;
    rows.push([
      result.identity,
      count(result.keys),
      percent(result.keyShare),
      percent(result.moved),
      endpoint.balanced ? percent(result.ideal) : NONE,
    ]);
  });
  return [
    `${count(hash.distinctKeys)} distinct ${what}: where each lands, and the share of all keys`,
    "that move when that one endpoint is removed (ideal: its expected share)",
    ...layout(rows, ["left", "right", "right", "right", "right"]),
    "",
    `largest key share/expected ${ratio(hash.maxKeyRatio)}`,
    `keys moved / ideal ${ratio(hash.meanMovedOverIdeal)} on average (1.00 is the least possible)`,
  ];
}

function single(report: SimulationReport, result: StrategyReport): string[] {
  const scale = Math.max(
    ...result.endpoints.flatMap((r) => [r.share, r.expected]),
    Number.MIN_VALUE,
  );
  const rows: string[][] = [
    [
      "endpoint",
      report.zones === null ? "region" : "zone",
      "weight",
      "requests",
      "share",
      "expected",
      "ratio",
      "",
    ],
  ];
  result.endpoints.forEach((r, i) => {
    const endpoint = report.endpoints[i] as EndpointInfo;
    rows.push([
      r.identity,
      (report.zones === null ? endpoint.region : endpoint.zone) ?? NONE,
      String(endpoint.weight),
      count(r.requests),
      percent(r.share),
      endpoint.balanced ? percent(r.expected) : NONE,
      r.ratio === null ? NONE : ratio(r.ratio),
      endpoint.balanced ? bar(r.share / scale, BAR_WIDTH) : leftOutNote(endpoint),
    ]);
  });
  const lines = [
    ...layout(rows, ["left", "left", "right", "right", "right", "right", "right", "left"]),
    "",
    `expected: ${BASIS_TEXT[result.expectedBasis]}`,
    `max/mean ${ratio(result.maxMean)} (the busiest endpoint's requests over the mean)`,
    `largest share/expected ${ratio(result.maxRatio)}`,
  ];
  if (result.inRegion !== null && showsRegions(report, result)) {
    lines.push(`served in the client's region: ${percent(result.inRegion)}`);
  }
  if (result.inZone !== null) lines.push(`served in the client's zone: ${percent(result.inZone)}`);
  if (result.outcomes !== null) {
    lines.push(
      `failed requests ${percent(result.outcomes.failed)}, mean latency ${result.outcomes.meanLatencyMs.toFixed(1)} ms`,
      `ejected by outlier detection: ${ejectionText(result.outcomes)}`,
    );
  }
  if (result.hash !== null) lines.push("", ...hashLines(report, result.hash));
  return lines;
}

function compared(report: SimulationReport): string[] {
  const { strategies } = report;
  const scale = Math.max(
    ...strategies.flatMap((s) => s.endpoints.map((r) => r.share)),
    Number.MIN_VALUE,
  );
  const cell = (share: number) =>
    `${percent(share).padStart(6)} ${bar(share / scale, COMPARE_BAR_WIDTH)}`;
  const rows: string[][] = [["endpoint", "weight", ...strategies.map((s) => s.strategy)]];
  report.endpoints.forEach((endpoint, i) => {
    rows.push([
      endpoint.balanced ? endpoint.identity : `${endpoint.identity} (${leftOutNote(endpoint)})`,
      String(endpoint.weight),
      ...strategies.map((s) => cell(s.endpoints[i]?.share ?? 0)),
    ]);
  });
  const summary = (label: string, value: (s: StrategyReport) => string) => [
    label,
    "",
    ...strategies.map(value),
  ];
  rows.push(
    summary("", () => ""),
    summary("expected", (s) =>
      s.expectedBasis === "nearest-region"
        ? "nearest region"
        : s.expectedBasis === "equal"
          ? "equal"
          : "by weight",
    ),
    summary("max/mean", (s) => ratio(s.maxMean)),
    summary("largest share/expected", (s) => ratio(s.maxRatio)),
  );
  if (strategies.some((s) => s.inRegion !== null && showsRegions(report, s))) {
    rows.push(
      summary("in the client's region", (s) => (s.inRegion === null ? NONE : percent(s.inRegion))),
    );
  }
  if (strategies.some((s) => s.outcomes !== null)) {
    rows.push(
      summary("failed requests", (s) => (s.outcomes === null ? NONE : percent(s.outcomes.failed))),
      summary("mean latency", (s) =>
        s.outcomes === null ? NONE : `${s.outcomes.meanLatencyMs.toFixed(1)} ms`,
      ),
      summary("ejections", (s) => (s.outcomes === null ? NONE : ejectionText(s.outcomes))),
    );
  }
  if (strategies.some((s) => s.hash !== null)) {
    rows.push(
      summary("keys: largest share/expected", (s) =>
        s.hash === null ? NONE : ratio(s.hash.maxKeyRatio),
      ),
      summary("keys moved / ideal", (s) =>
        s.hash === null ? NONE : ratio(s.hash.meanMovedOverIdeal),
      ),
    );
  }
  const notes = ["max/mean: the busiest endpoint's requests over the mean."];
  if (strategies.some((s) => s.hash !== null)) {
    notes.push(
      "keys moved / ideal: the keys that change endpoint when one endpoint is removed, over",
      "that endpoint's expected share, averaged over the endpoints (1.00 is the least possible).",
    );
  }
  return [
    "share of the requests per endpoint; every strategy sees the same requests",
    ...layout(rows, ["left", "right", ...strategies.map((): Align => "left")]),
    "",
    ...notes,
  ];
}

export function formatTable(report: SimulationReport): string {
  const body = report.compare
    ? compared(report)
    : single(report, report.strategies[0] as StrategyReport);
  return `${[...header(report), "", ...body].join("\n")}\n`;
}
