import type { RandomSource } from "../../random.ts";

/**
 * Vose's alias method: O(n) to build, O(1) per draw with one random number, exact probabilities
 * weight / total.
 *
 * The columns are stored as (keep, alias) pairs of numbers in a plain array: for the small tables
 * most services have, one array of numbers costs a fraction of the bookkeeping of typed arrays,
 * and a picker that keeps several tables (one per client region) packs them into arrays of its
 * own with `writeAliasColumns` and `drawAliasColumn`.
 */
export class AliasTable {
  private readonly cells: number[];
  private readonly columns: number;

  constructor(weights: ArrayLike<number>) {
    this.columns = weights.length;
    // At its final size: an array grown by pushes keeps spare room.
    this.cells = new Array(2 * weights.length).fill(0);
    writeAliasColumns(weights, this.cells, 0);
  }

  /** An index drawn with probability weight / total. */
  draw(random: RandomSource): number {
    return drawAliasColumn(this.cells, 0, this.columns, random);
  }
}

/**
 * Writes the alias columns of `weights` into `cells` from `offset` on (growing it as needed): for
 * each column, the probability of keeping it rather than taking its alias, then the alias.
 */
export function writeAliasColumns(
  weights: ArrayLike<number>,
  cells: number[],
  offset: number,
): void {
  const n = weights.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i] as number;
  // Filled in order first: writing past the end of an array would leave holes in it.
  while (cells.length < offset + 2 * n) cells.push(0);
  const scaled = new Float64Array(n);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) {
    scaled[i] = ((weights[i] as number) * n) / total;
    ((scaled[i] as number) < 1 ? small : large).push(i);
  }
  const write = (column: number, keep: number, alias: number) => {
    cells[offset + 2 * column] = keep;
    cells[offset + 2 * column + 1] = alias;
  };
  while (small.length > 0 && large.length > 0) {
    const s = small.pop() as number;
    const l = large.pop() as number;
    write(s, scaled[s] as number, l);
    scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
    ((scaled[l] as number) < 1 ? small : large).push(l);
  }
  // Whatever is left holds probability 1 up to rounding error.
  for (const i of large) write(i, 1, i);
  for (const i of small) write(i, 1, i);
}

/** A column of the `columns` written at `offset`, drawn with probability weight / total. */
export function drawAliasColumn(
  cells: readonly number[],
  offset: number,
  columns: number,
  random: RandomSource,
): number {
  const x = random.next() * columns;
  const column = Math.floor(x);
  const at = offset + 2 * column;
  return x - column < (cells[at] as number) ? column : (cells[at + 1] as number);
}
