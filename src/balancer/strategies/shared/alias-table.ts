import type { RandomSource } from "../../random.ts";

/**
 * Vose's alias method: O(n) to build, O(1) per draw with one random number, exact probabilities
 * weight / total.
 */
export class AliasTable {
  /** Probability of keeping column i rather than taking its alias. */
  private readonly keep: Float64Array;
  private readonly alias: Int32Array;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    // One buffer for both arrays: a typed array's bookkeeping outweighs a small table's data.
    const buffer = new ArrayBuffer(n * 12);
    this.keep = new Float64Array(buffer, 0, n);
    this.alias = new Int32Array(buffer, n * 8, n);
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i] as number;
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = ((weights[i] as number) * n) / total;
      ((scaled[i] as number) < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop() as number;
      const l = large.pop() as number;
      this.keep[s] = scaled[s] as number;
      this.alias[s] = l;
      scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
      ((scaled[l] as number) < 1 ? small : large).push(l);
    }
    // Whatever is left holds probability 1 up to rounding error.
    for (const i of large) this.keep[i] = 1;
    for (const i of small) this.keep[i] = 1;
  }

  /** An index drawn with probability weight / total. */
  draw(random: RandomSource): number {
    const x = random.next() * this.keep.length;
    const column = Math.floor(x);
    return x - column < (this.keep[column] as number) ? column : (this.alias[column] as number);
  }
}
