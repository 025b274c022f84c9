/**
 * The report as an SVG bar chart: one panel per strategy, one bar per endpoint for its share
 * of the requests, a tick at its expected share. Written by hand: a few rectangles and lines
 * need no charting library, and the file renders the same everywhere (fixed sizes, inline
 * attributes, no scripts, no external fonts or styles).
 */

import {
  type EndpointInfo,
  type SimulationReport,
  type StrategyReport,
  showsRegions,
} from "./report.ts";
import { percent } from "./table.ts";

const WIDTH = 760;
const MARGIN = 16;
const ROW_HEIGHT = 22;
const BAR_HEIGHT = 14;
const TITLE_HEIGHT = 40;
const AXIS_HEIGHT = 22;
const PANEL_GAP = 18;
const HEADER_HEIGHT = 64;
const CHAR_WIDTH = 7; // of the 12px monospace labels, near enough to lay them out
const VALUE_WIDTH = 150;
const MAX_LABEL_CHARS = 40;

const SHARE_FILL = "#4c78a8";
const LEFT_OUT_FILL = "#bbbbbb";
const EXPECTED_STROKE = "#e45756";
const GRID_STROKE = "#dddddd";
const TEXT_FILL = "#222222";
const MUTED_FILL = "#666666";

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** Coordinates to two decimals: enough for a screen, short in the file. */
function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function shorten(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

/** The axis maximum: the largest value rounded up to a multiple of 10%, at most 100%. */
function axisMax(report: SimulationReport): number {
  let largest = 0;
  for (const strategy of report.strategies) {
    for (const r of strategy.endpoints) largest = Math.max(largest, r.share, r.expected);
  }
  return Math.min(1, Math.max(0.1, Math.ceil(largest * 10 - 1e-9) / 10));
}

function subtitle(report: SimulationReport, strategy: StrategyReport): string {
  const parts = [`max/mean ${strategy.maxMean.toFixed(2)}`];
  if (strategy.inRegion !== null && showsRegions(report, strategy))
    parts.push(`in region ${percent(strategy.inRegion)}`);
  if (strategy.hash !== null) {
    parts.push(`keys moved/ideal ${strategy.hash.meanMovedOverIdeal.toFixed(2)}`);
  }
  return parts.join(" · ");
}

function panel(
  report: SimulationReport,
  strategy: StrategyReport,
  top: number,
  labelWidth: number,
  max: number,
): string[] {
  const plotLeft = MARGIN + labelWidth;
  const plotWidth = WIDTH - plotLeft - VALUE_WIDTH - MARGIN;
  const x = (fraction: number) => plotLeft + (fraction / max) * plotWidth;
  const rowsTop = top + TITLE_HEIGHT;
  const rowsHeight = strategy.endpoints.length * ROW_HEIGHT;
  const out = [
    `<g class="strategy" data-strategy="${escapeXml(strategy.strategy)}">`,
    `<text x="${MARGIN}" y="${n(top + 16)}" font-size="14" font-weight="bold" fill="${TEXT_FILL}">${escapeXml(strategy.strategy)}</text>`,
    `<text x="${MARGIN}" y="${n(top + 32)}" font-size="12" fill="${MUTED_FILL}">${escapeXml(subtitle(report, strategy))}</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const fraction = (max * tick) / 4;
    const tx = x(fraction);
    out.push(
      `<line x1="${n(tx)}" y1="${n(rowsTop)}" x2="${n(tx)}" y2="${n(rowsTop + rowsHeight)}" stroke="${GRID_STROKE}"/>`,
      `<text x="${n(tx)}" y="${n(rowsTop + rowsHeight + 15)}" font-size="11" text-anchor="middle" fill="${MUTED_FILL}">${escapeXml(`${Math.round(fraction * 1000) / 10}%`)}</text>`,
    );
  }
  strategy.endpoints.forEach((result, i) => {
    const endpoint = report.endpoints[i] as EndpointInfo;
    const y = rowsTop + i * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2;
    const middle = rowsTop + i * ROW_HEIGHT + ROW_HEIGHT / 2 + 4;
    const label = shorten(result.identity, MAX_LABEL_CHARS);
    const value = endpoint.balanced
      ? `${percent(result.share)} (expected ${percent(result.expected)})`
      : `${percent(result.share)} (${endpoint.healthy ? "left out" : "unhealthy"})`;
    out.push(
      `<text x="${n(plotLeft - 8)}" y="${n(middle)}" font-size="12" text-anchor="end" fill="${TEXT_FILL}">${escapeXml(label)}</text>`,
      `<rect class="share" x="${n(plotLeft)}" y="${n(y)}" width="${n(x(result.share) - plotLeft)}" height="${BAR_HEIGHT}" fill="${endpoint.balanced ? SHARE_FILL : LEFT_OUT_FILL}">` +
        `<title>${escapeXml(`${result.identity}: ${percent(result.share)} of requests (${result.requests.toLocaleString("en-US")}), expected ${percent(result.expected)}`)}</title></rect>`,
    );
    if (endpoint.balanced) {
      const ex = x(result.expected);
      out.push(
        `<line class="expected" x1="${n(ex)}" y1="${n(y - 3)}" x2="${n(ex)}" y2="${n(y + BAR_HEIGHT + 3)}" stroke="${EXPECTED_STROKE}" stroke-width="2"/>`,
      );
    }
    out.push(
      `<text x="${n(plotLeft + plotWidth + 8)}" y="${n(middle)}" font-size="12" fill="${TEXT_FILL}">${escapeXml(value)}</text>`,
    );
  });
  out.push("</g>");
  return out;
}

function panelHeight(strategy: StrategyReport): number {
  return TITLE_HEIGHT + strategy.endpoints.length * ROW_HEIGHT + AXIS_HEIGHT;
}

export function formatSvg(report: SimulationReport): string {
  const longest = Math.max(
    8,
    ...report.endpoints.map((e) => Math.min(MAX_LABEL_CHARS, e.identity.length)),
  );
  const labelWidth = longest * CHAR_WIDTH + 12;
  const max = axisMax(report);
  const height =
    HEADER_HEIGHT +
    report.strategies.reduce((sum, s) => sum + panelHeight(s), 0) +
    PANEL_GAP * Math.max(0, report.strategies.length - 1) +
    MARGIN;
  const title = `${report.service}: share of ${report.requests.toLocaleString("en-US")} requests per endpoint`;
  const legendY = 48;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" viewBox="0 0 ${WIDTH} ${n(height)}" font-family="ui-monospace, Menlo, Consolas, monospace">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${n(height)}" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="24" font-size="15" font-weight="bold" fill="${TEXT_FILL}">${escapeXml(title)}</text>`,
    `<rect x="${MARGIN}" y="${legendY - 10}" width="14" height="10" fill="${SHARE_FILL}"/>`,
    `<text x="${MARGIN + 20}" y="${legendY}" font-size="12" fill="${TEXT_FILL}">share of requests</text>`,
    `<line x1="${MARGIN + 170}" y1="${legendY - 12}" x2="${MARGIN + 170}" y2="${legendY + 2}" stroke="${EXPECTED_STROKE}" stroke-width="2"/>`,
    `<text x="${MARGIN + 178}" y="${legendY}" font-size="12" fill="${TEXT_FILL}">${escapeXml(`expected share · seed ${report.seed} · ${report.file}`)}</text>`,
  ];
  let top = HEADER_HEIGHT;
  for (const strategy of report.strategies) {
    out.push(...panel(report, strategy, top, labelWidth, max));
    top += panelHeight(strategy) + PANEL_GAP;
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
