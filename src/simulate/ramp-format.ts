/** The ramp report (ramp.ts) as a table and as an SVG line chart of the ramp curve. */

import type { RampReport, RampStep } from "./ramp.ts";
import { escapeXml } from "./svg.ts";
import { percent } from "./table.ts";

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

function cell(value: number | null): string {
  return value === null ? "-" : percent(value);
}

export function formatRampTable(report: RampReport): string {
  const { slowStart } = report;
  const lines = [
    `Slow-start ramp of ${report.endpoint} in ${report.service} (${report.file})`,
    `strategy ${report.strategy}; window ${seconds(slowStart.windowMs)}, aggression ` +
      `${slowStart.aggression}, minWeightPercent ${slowStart.minWeightPercent}; ` +
      `${report.requestsPerStep.toLocaleString("en-US")} requests per step` +
      (report.hashOn === null
        ? ""
        : `, ${report.keys.toLocaleString("en-US")} distinct keys (${report.hashOn})`),
    "",
  ];
  const header = ["step", "since ready", "weight", "expected", "requests"];
  if (report.hashOn !== null) header.push("keys", "keys moved", "ideal", "moved/ideal");
  const rows = report.steps.map((s) => {
    const row = [
      String(s.step),
      seconds(s.sinceReadyMs),
      percent(s.weightFactor),
      percent(s.expected),
      percent(s.requestShare),
    ];
    if (report.hashOn !== null) {
      row.push(
        cell(s.keyShare),
        cell(s.moved),
        cell(s.ideal),
        s.moved === null || s.ideal === null || s.ideal === 0
          ? "-"
          : (s.moved / s.ideal).toFixed(2),
      );
    }
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  lines.push(line(header), ...rows.map(line));
  if (report.hashOn !== null) {
    const moved = report.steps.reduce((sum, s) => sum + (s.moved ?? 0), 0);
    const ideal = report.steps.reduce((sum, s) => sum + (s.ideal ?? 0), 0);
    lines.push(
      "",
      `keys moved over the ramp: ${percent(moved)} (ideal ${percent(ideal)}, ratio ${
        ideal === 0 ? "-" : (moved / ideal).toFixed(2)
      })`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const WIDTH = 640;
const HEIGHT = 360;
const LEFT = 56;
const RIGHT = 20;
const TOP = 56;
const BOTTOM = 48;
const EXPECTED_STROKE = "#e45756";
const MEASURED_STROKE = "#4c78a8";
const KEYS_STROKE = "#54a24b";
const GRID_STROKE = "#dddddd";
const TEXT_FILL = "#222222";

function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * The ramp as a line chart: the endpoint's share of requests (and of keys, for a hash strategy)
 * at each step, in percent of its share once the ramp is over, against the weight formula's.
 */
export function formatRampSvg(report: RampReport): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const last = report.steps[report.steps.length - 1] as RampStep;
  const full = last.expected;
  const window = report.slowStart.windowMs;
  const x = (ms: number) => LEFT + (ms / window) * plotWidth;
  const y = (fraction: number) => TOP + plotHeight - Math.min(1.2, fraction) * (plotHeight / 1.2);
  const relative = (share: number) => (full === 0 ? 0 : share / full);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="monospace" font-size="12">`,
    `<title>${escapeXml(`Slow-start ramp of ${report.endpoint} in ${report.service} (${report.strategy})`)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="20" fill="${TEXT_FILL}" font-size="14">${escapeXml(
      `Slow start of ${report.endpoint} (${report.strategy})`,
    )}</text>`,
    `<text x="${LEFT}" y="38" fill="${TEXT_FILL}">${escapeXml(
      `window ${seconds(window)}, aggression ${report.slowStart.aggression}, minWeightPercent ${report.slowStart.minWeightPercent}; share in % of its full share`,
    )}</text>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${LEFT}" y1="${n(y(tick))}" x2="${LEFT + plotWidth}" y2="${n(y(tick))}" stroke="${GRID_STROKE}"/>`,
      `<text x="${LEFT - 6}" y="${n(y(tick) + 4)}" text-anchor="end" fill="${TEXT_FILL}">${tick * 100}%</text>`,
    );
  }
  for (const s of report.steps) {
    parts.push(
      `<text x="${n(x(s.sinceReadyMs))}" y="${HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="${TEXT_FILL}">${seconds(s.sinceReadyMs)}</text>`,
    );
  }
  parts.push(
    `<text x="${LEFT + plotWidth / 2}" y="${HEIGHT - 10}" text-anchor="middle" fill="${TEXT_FILL}">time since ready</text>`,
  );
  const line = (points: [number, number][], stroke: string, dashed: boolean) =>
    `<polyline fill="none" stroke="${stroke}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ""} points="${points
      .map(([px, py]) => `${n(px)},${n(py)}`)
      .join(" ")}"/>`;
  // The formula between the steps too, drawn finely; the engine holds each step's value.
  const curve: [number, number][] = [];
  for (let i = 0; i <= 100; i++) {
    const ms = (i / 100) * window;
    const step = report.steps[Math.min(report.steps.length - 1, Math.floor(i / 10))] as RampStep;
    curve.push([x(ms), y(relative(step.expected))]);
  }
  parts.push(line(curve, EXPECTED_STROKE, true));
  parts.push(
    line(
      report.steps.map((s) => [x(s.sinceReadyMs), y(relative(s.requestShare))]),
      MEASURED_STROKE,
      false,
    ),
  );
  const legend: [string, string][] = [
    [EXPECTED_STROKE, "expected (weights)"],
    [MEASURED_STROKE, "requests"],
  ];
  if (report.hashOn !== null) {
    parts.push(
      line(
        report.steps.map((s) => [x(s.sinceReadyMs), y(relative(s.keyShare ?? 0))]),
        KEYS_STROKE,
        false,
      ),
    );
    legend.push([KEYS_STROKE, "keys"]);
  }
  legend.forEach(([stroke, label], i) => {
    const lx = LEFT + 12 + i * 170;
    parts.push(
      `<line x1="${lx}" y1="${TOP - 6}" x2="${lx + 24}" y2="${TOP - 6}" stroke="${stroke}" stroke-width="2"/>`,
      `<text x="${lx + 30}" y="${TOP - 2}" fill="${TEXT_FILL}">${escapeXml(label)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
