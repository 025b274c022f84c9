/**
 * The figures of docs/ are what `npm run docs:figures` draws now (like the CRD check): a change
 * of the engine, the simulator or docs/figures/fleet.yaml that moves a bar fails here until the
 * figures are drawn again. And the docs show every figure, each by its strategy.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIGURES_DIR, figureArgs, renderFigures } from "../../scripts/docs-figures.ts";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { repoRoot } from "../support/cli.ts";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");

describe("docs/figures", () => {
  const figures = renderFigures();

  it("every checked-in figure is what npm run docs:figures draws (run it after a change)", () => {
    const checkedIn = readdirSync(join(repoRoot, FIGURES_DIR)).filter((name) =>
      name.endsWith(".svg"),
    );
    expect(checkedIn.map((name) => `${FIGURES_DIR}/${name}`).sort()).toEqual(
      [...figures.keys()].sort(),
    );
    for (const [path, svg] of figures) expect(read(path), path).toBe(svg);
  });

  it("a second drawing is byte for byte the first", () => {
    expect(renderFigures()).toEqual(figures);
  });

  it("each figure is one strategy on the fleet, and the guide shows it", () => {
    const guide = read("docs/load-balancing.md");
    for (const strategy of STRATEGY_NAMES) {
      const svg = figures.get(`${FIGURES_DIR}/${strategy}.svg`) ?? "";
      expect(svg).toContain(`data-strategy="${strategy}"`);
      expect(svg).toContain("seed 1 · docs/figures/fleet.yaml");
      // Seven balanced endpoints and the one that is not ready.
      expect(svg.match(/<rect class="share"/g)).toHaveLength(8);
      expect(guide).toMatch(
        new RegExp(`### ${strategy}\\n[\\s\\S]*?\\]\\(figures/${strategy}\\.svg\\)`),
      );
    }
  });

  it("the command the guide gives draws the figure", () => {
    const guide = read("docs/load-balancing.md");
    const args = figureArgs("round-robin").filter((arg) => arg !== "--format" && arg !== "svg");
    expect(guide).toContain(`konsul-lb simulate ${args.join(" ")} --out round-robin.svg`);
  });
});
