/**
 * Writes benchmark results into docs/performance.md. Each benchmark part owns one section
 * delimited by `<!-- name:begin -->` and `<!-- name:end -->`; everything outside its markers
 * (the introduction, hand-written analysis, other parts' sections) is left as it is.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Where the figures were measured; every part's section states it. */
export interface Environment {
  /** ISO 8601. */
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  /** The commit measured, e.g. "71b8d8f" or "71b8d8f + uncommitted changes"; null outside git. */
  readonly revision: string | null;
}

const SKELETON = `# Performance

Run \`npm run bench\` to measure; it rewrites the generated sections below.
`;

export function beginMarker(name: string): string {
  return `<!-- ${name}:begin -->`;
}

export function endMarker(name: string): string {
  return `<!-- ${name}:end -->`;
}

/** `document` with the section `name` replaced by `body`, or appended when it has none yet. */
export function replaceSection(document: string, name: string, body: string): string {
  const begin = beginMarker(name);
  const end = endMarker(name);
  const section = `${begin}\n${body.trim()}\n${end}`;
  const from = document.indexOf(begin);
  const to = document.indexOf(end);
  if (from < 0 && to < 0) {
    const text = document.trimEnd();
    return `${text}${text === "" ? "" : "\n\n"}${section}\n`;
  }
  if (from < 0 || to < from) {
    throw new Error(`the ${name} section's markers are broken: expected ${begin} before ${end}`);
  }
  if (document.indexOf(begin, from + begin.length) >= 0) {
    throw new Error(`${begin} appears more than once`);
  }
  return document.slice(0, from) + section + document.slice(to + end.length);
}

/** Rewrites one marked section of the file, creating the file when it does not exist. */
export function writeSection(path: string, name: string, body: string): void {
  const document = existsSync(path) ? readFileSync(path, "utf8") : SKELETON;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, replaceSection(document, name, body));
}

export type Align = "left" | "right";

/**
 * A markdown table; columns align left unless `align` says otherwise. Cells are padded to the
 * column's width, as the project's formatter lays tables out, so a written document passes lint.
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const widths = headers.map((header, i) =>
    Math.max(3, header.length, ...rows.map((row) => (row[i] ?? "").length)),
  );
  const pad = (cell: string, i: number) =>
    align[i] === "right" ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number);
  const rule = widths.map((width, i) =>
    align[i] === "right" ? `${"-".repeat(width - 1)}:` : "-".repeat(width),
  );
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(" | ")} |`;
  return [line(headers), `| ${rule.join(" | ")} |`, ...rows.map(line)].join("\n");
}

/** A check mark for a met target, a cross for a missed one. */
export function mark(met: boolean): string {
  return met ? "✓" : "✗";
}

/** Fixed-point with thousands separators: 1234.5 → "1,234.5". */
export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Nanoseconds with precision that suits their size. */
export function formatNs(ns: number): string {
  return `${formatNumber(ns, ns < 10 ? 2 : ns < 100 ? 1 : 0)} ns`;
}

/** Operations per second as "12.3 M/s" or "456 k/s". */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${formatNumber(perSecond / 1e6, perSecond >= 1e8 ? 0 : 1)} M/s`;
  if (perSecond >= 1e3) return `${formatNumber(perSecond / 1e3, 0)} k/s`;
  return `${formatNumber(perSecond, 0)} /s`;
}

/** Bytes as "812 B", "12.4 KiB", "6.3 MiB". */
export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${formatNumber(bytes / (1024 * 1024), 1)} MiB`;
  if (abs >= 1024) return `${formatNumber(bytes / 1024, 1)} KiB`;
  return `${formatNumber(bytes, 0)} B`;
}

/** Milliseconds with precision that suits their size. */
export function formatMs(ms: number): string {
  return `${formatNumber(ms, ms < 10 ? 2 : ms < 100 ? 1 : 0)} ms`;
}
