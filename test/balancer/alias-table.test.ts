import { describe, expect, it } from "vitest";
import type { RandomSource } from "../../src/balancer/random.ts";
import {
  AliasTable,
  drawAliasColumn,
  writeAliasColumns,
} from "../../src/balancer/strategies/shared/alias-table.ts";

/** Numbers k / steps for k = 0 .. steps-1 in turn: a draw's exact share, not a sample of it. */
function sweep(steps: number): RandomSource {
  let k = 0;
  return { next: () => (k++ % steps) / steps };
}

function shares(draw: (random: RandomSource) => number, columns: number, steps: number) {
  const random = sweep(steps);
  const counts = new Array(columns).fill(0);
  for (let i = 0; i < steps; i++) counts[draw(random)]++;
  return counts.map((count) => count / steps);
}

describe("alias table", () => {
  const weights = [1, 7, 2, 10, 3, 1, 1];
  const total = weights.reduce((a, b) => a + b, 0);
  const steps = 700_000;

  it("draws every index with probability weight / total", () => {
    const table = new AliasTable(weights);
    const measured = shares((random) => table.draw(random), weights.length, steps);
    measured.forEach((share, i) => {
      expect(share).toBeCloseTo((weights[i] as number) / total, 4);
    });
  });

  it("packs its columns at an offset of a caller's array, leaving the rest alone", () => {
    const cells = [42, 43, 44];
    writeAliasColumns(weights, cells, 3);
    expect(cells).toHaveLength(3 + 2 * weights.length);
    expect(cells.slice(0, 3)).toEqual([42, 43, 44]);
    const measured = shares(
      (random) => drawAliasColumn(cells, 3, weights.length, random),
      weights.length,
      steps,
    );
    measured.forEach((share, i) => {
      expect(share).toBeCloseTo((weights[i] as number) / total, 4);
    });
  });
});
