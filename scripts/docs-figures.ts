// `npm run docs:figures`: draws the figures of docs/load-balancing.md, one per strategy, with
// `konsul-lb simulate` on docs/figures/fleet.yaml (seed 1), and the slow-start ramp of a pod of
// examples/demo.yaml, and writes them to docs/figures/.
// `npm run docs:figures -- --check` writes nothing and fails when a checked-in figure differs.
// The simulation is seeded and the SVG is laid out from the report alone, so a rerun gives
// byte-identical files; test/docs/figures.test.ts holds the checked-in files to that.

import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { STRATEGY_NAMES, type StrategyName } from "../src/balancer/strategy.ts";
import { runSimulate } from "../src/simulate/command.ts";

/** The manifests the figures simulate, as the command line names them (the SVG shows it). */
export const FLEET_FILE = "docs/figures/fleet.yaml";
export const FIGURES_DIR = "docs/figures";

/** The `konsul-lb simulate` arguments that draw the figure of `strategy`. */
export function figureArgs(strategy: StrategyName): string[] {
  return [
    "--file",
    FLEET_FILE,
    "--service",
    "fleet/api",
    "--regions",
    "us-east=70,eu-west=30",
    "--strategy",
    strategy,
    "--format",
    "svg",
  ];
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** The slow-start ramp figure: a new pod of the demo's catalog ramping on a ring. */
export const RAMP_FIGURE = `${FIGURES_DIR}/slow-start-ring-hash.svg`;
export const RAMP_FIGURE_ARGS: readonly string[] = [
  "--file",
  "examples/demo.yaml",
  "--service",
  "shop/catalog",
  "--ramp",
  "catalog-v2-7b4c9-t6wse",
  "--strategy",
  "ring-hash",
  "--requests",
  "10000",
  "--keys",
  "20000",
  "--format",
  "svg",
];

/** What `konsul-lb simulate` writes for `args`. */
function draw(args: readonly string[]): string {
  let svg = "";
  let errors = "";
  const code = runSimulate(args, {
    stdout: {
      write: (text: string) => {
        svg += text;
        return true;
      },
    },
    stderr: {
      isTTY: false,
      write: (text: string) => {
        errors += text;
        return true;
      },
    },
    // Paths are the repository's, wherever the script runs from.
    readFile: (path) => readFileSync(`${root}${path}`, "utf8"),
    writeFile: () => {
      throw new Error("the figures are written by the script, not by simulate");
    },
  });
  if (code !== 0) throw new Error(`simulate ${args.join(" ")} exited ${code}: ${errors}`);
  return svg;
}

/** Every figure, by its path from the repository's root. */
export function renderFigures(): Map<string, string> {
  const figures = new Map<string, string>();
  for (const strategy of STRATEGY_NAMES) {
    figures.set(`${FIGURES_DIR}/${strategy}.svg`, draw(figureArgs(strategy)));
  }
  figures.set(RAMP_FIGURE, draw(RAMP_FIGURE_ARGS));
  return figures;
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [path, svg] of renderFigures()) {
    if (check) {
      const current = await readFile(`${root}${path}`, "utf8").catch(() => null);
      if (current !== svg) {
        console.error(`${path} is out of date; run npm run docs:figures`);
        stale++;
      }
    } else {
      await writeFile(`${root}${path}`, svg);
      console.log(`wrote ${path}`);
    }
  }
  if (check && stale === 0) console.log(`${FIGURES_DIR}: every figure is up to date`);
  if (stale > 0) process.exitCode = 1;
}
