/** `konsul-lb simulate`: flags → service → simulation → report, and the exit code. */

import { readFileSync, writeFileSync } from "node:fs";
import { EXIT_FAILURE, EXIT_USAGE, loadService, SimulateError } from "./load.ts";
import { type OutputFormat, parseSimulateArgs } from "./options.ts";
import { progressFor } from "./progress.ts";
import { type RampReport, simulateRamp } from "./ramp.ts";
import { formatRampSvg, formatRampTable } from "./ramp-format.ts";
import type { SimulationReport } from "./report.ts";
import { simulate } from "./simulate.ts";
import { formatSvg } from "./svg.ts";
import { formatTable } from "./table.ts";

export interface SimulateIo {
  readonly stdout: { write(text: string): unknown };
  /** Also where the progress line goes when it is a terminal. */
  readonly stderr: {
    readonly isTTY?: boolean;
    readonly columns?: number;
    write(text: string): boolean;
  };
  readonly readFile: (path: string) => string;
  readonly writeFile: (path: string, text: string) => void;
}

const processIo: SimulateIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  readFile: (path) => readFileSync(path, "utf8"),
  writeFile: (path, text) => writeFileSync(path, text),
};

export function formatReport(report: SimulationReport, format: OutputFormat): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  if (format === "svg") return formatSvg(report);
  return formatTable(report);
}

function complain(io: SimulateIo, message: string): void {
  for (const line of message.split("\n")) io.stderr.write(`konsul-lb: ${line}\n`);
}

/** Runs `konsul-lb simulate` with the arguments after "simulate"; returns the exit code. */
export function runSimulate(argv: readonly string[], io: SimulateIo = processIo): number {
  const parsed = parseSimulateArgs(argv);
  if (parsed.kind === "help") {
    io.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === "error") {
    complain(io, parsed.message);
    return EXIT_USAGE;
  }
  const { options } = parsed;
  let report: SimulationReport;
  try {
    const loaded = loadService(options.file, options.namespace, options.name, io.readFile);
    if (options.ramp !== null) {
      const ramp = simulateRamp(loaded, options.ramp, options);
      return deliver(io, options, formatRamp(ramp, options.format));
    }
    report = simulate(loaded, options, progressFor(io.stderr));
  } catch (error) {
    if (!(error instanceof SimulateError)) throw error;
    complain(io, error.message);
    return error.exitCode;
  }
  // The table shows the warnings itself; JSON carries them, but a chart would hide them.
  if (options.format !== "table") {
    for (const warning of report.warnings) complain(io, `warning: ${warning}`);
  }
  return deliver(io, options, formatReport(report, options.format));
}

function formatRamp(report: RampReport, format: OutputFormat): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  if (format === "svg") return formatRampSvg(report);
  return formatRampTable(report);
}

/** Writes the report where the options say; returns the exit code. */
function deliver(
  io: SimulateIo,
  options: { readonly out: string | null; readonly format: OutputFormat },
  text: string,
): number {
  if (options.out === null) {
    io.stdout.write(text);
    return 0;
  }
  try {
    io.writeFile(options.out, text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    complain(io, `--out: cannot write ${JSON.stringify(options.out)}: ${reason}`);
    return EXIT_FAILURE;
  }
  io.stderr.write(`konsul-lb: wrote the ${options.format} report to ${options.out}\n`);
  return 0;
}
