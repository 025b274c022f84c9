/**
 * NGINX's smooth weighted round robin (weights 5,1,1 give a a b a c a a), in O(log n) per pick.
 *
 * NGINX adds every weight to every current weight on each pick and takes the maximum: O(n).
 * Here endpoint i's current weight after pick t is the line w_i * t + b_i, and a pick only lowers
 * the chosen endpoint's intercept b_i by the total weight. The maximum over all lines at time t
 * is kept in a kinetic tournament tree: each inner node holds the winner of its subtree and the
 * first time that winner can be overtaken, so a pick revisits only the nodes whose certificate
 * has expired plus the chosen leaf's path. Ties go to the lower index, as in NGINX.
 */
export class SmoothWeightTournament {
  private readonly weight: Float64Array;
  private readonly intercept: Float64Array;
  readonly totalWeight: number;
  /** Leaves start here; a perfect binary tree of 2 * leafBase nodes, root at 1. */
  private readonly leafBase: number;
  private readonly winner: Int32Array;
  private readonly expiry: Float64Array;
  private time = 0;

  /** `currentWeights` is the state to start from; it is copied, not kept. */
  constructor(weights: Float64Array, currentWeights: Float64Array) {
    const n = weights.length;
    let base = 1;
    while (base < n) base *= 2;
    this.leafBase = base;
    // One buffer behind the four arrays: each separate typed array costs a few hundred bytes of
    // bookkeeping, more than the data of a small service.
    const buffer = new ArrayBuffer((2 * n + 2 * base) * 8 + 2 * base * 4);
    this.weight = new Float64Array(buffer, 0, n);
    this.weight.set(weights);
    this.intercept = new Float64Array(buffer, n * 8, n);
    this.intercept.set(currentWeights);
    this.expiry = new Float64Array(buffer, 2 * n * 8, 2 * base).fill(Number.POSITIVE_INFINITY);
    this.winner = new Int32Array(buffer, (2 * n + 2 * base) * 8, 2 * base).fill(-1);
    this.totalWeight = weights.reduce((sum, w) => sum + w, 0);
    this.rebuildTree();
  }

  private rebuildTree(): void {
    for (let i = 0; i < this.leafBase; i++) {
      this.winner[this.leafBase + i] = i < this.weight.length ? i : -1;
    }
    for (let node = this.leafBase - 1; node >= 1; node--) this.recompute(node);
  }

  /** Endpoint i's current weight. */
  value(i: number): number {
    return (this.weight[i] as number) * this.time + (this.intercept[i] as number);
  }

  /**
   * Decides one inner node from its children: the winner (the larger current weight, the lower
   * index on ties) and the first time anything under it can change — the earlier of its
   * children's times and the time the losing child overtakes, if its weight is larger. Written
   * as one flat function over local arrays: it runs log2(n) times per pick.
   */
  private recompute(node: number): void {
    const winner = this.winner;
    const weight = this.weight;
    const intercept = this.intercept;
    const time = this.time;
    const left = winner[2 * node] as number;
    const right = winner[2 * node + 1] as number;
    let expiry = Math.min(this.expiry[2 * node] as number, this.expiry[2 * node + 1] as number);
    if (right < 0 || left < 0) {
      winner[node] = right < 0 ? left : right;
      this.expiry[node] = expiry;
      return;
    }
    const leftValue = (weight[left] as number) * time + (intercept[left] as number);
    const rightValue = (weight[right] as number) * time + (intercept[right] as number);
    const leftWins = leftValue > rightValue || (leftValue === rightValue && left < right);
    const leader = leftWins ? left : right;
    const loser = leftWins ? right : left;
    winner[node] = leader;
    const gain = (weight[loser] as number) - (weight[leader] as number);
    if (gain > 0) {
      // The loser wins at the first step s with lead - gain*s < 0, or == 0 when it has the
      // lower index. Values stay small (see the rebase in pick), so the division is exact
      // enough that one correction suffices.
      const lead = leftWins ? leftValue - rightValue : rightValue - leftValue;
      let steps = Math.floor(lead / gain);
      if (steps * gain > lead) steps--;
      if (!(steps * gain === lead && loser < leader)) steps++;
      if (time + steps < expiry) expiry = time + steps;
    }
    this.expiry[node] = expiry;
  }

  /** Re-decides every node whose certificate expired by now. */
  private refresh(node: number): void {
    if (node >= this.leafBase) return;
    if ((this.expiry[2 * node] as number) <= this.time) this.refresh(2 * node);
    if ((this.expiry[2 * node + 1] as number) <= this.time) this.refresh(2 * node + 1);
    this.recompute(node);
  }

  /** The index NGINX's loop would choose next; moves the state on by one pick. */
  pick(): number {
    // Rebase now and then so that weight * time stays far from 2^53.
    if (this.time >= 1 << 20) {
      for (let i = 0; i < this.weight.length; i++) this.intercept[i] = this.value(i);
      this.time = 0;
      this.rebuildTree();
    }
    this.time += 1;
    if ((this.expiry[1] as number) <= this.time) this.refresh(1);
    const chosen = this.winner[1] as number;
    this.intercept[chosen] = (this.intercept[chosen] as number) - this.totalWeight;
    for (let node = (this.leafBase + chosen) >> 1; node >= 1; node >>= 1) this.recompute(node);
    return chosen;
  }
}
