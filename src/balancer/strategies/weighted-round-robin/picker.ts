import type { Endpoint } from "../../endpoint.ts";
import type { BuildContext, CarriedState, Picker } from "../../strategy.ts";
import { selectionSize } from "../shared/selection.ts";
import { SmoothWeightTournament } from "./tournament.ts";

/**
 * The longest cycle kept for replay, in picks: 1 to 4 bytes each, so at most 1 MiB per picker. The
 * cycle is the total weight over the weights' greatest common divisor, e.g. 5,500 picks for
 * 1,000 endpoints of weights 1..10; a service whose cycle is longer is served by the tournament
 * alone.
 */
export const MAX_REPLAY_CYCLE = 1 << 18;

/**
 * Cycles up to this long are recorded while the picker is built (0.1–0.3 ms): most services'.
 * Longer ones are recorded as they are picked, so that a build stays O(n) on the event loop.
 */
const MAX_CYCLE_RECORDED_AT_BUILD = 1024;

/**
 * Cycles recorded before giving up on a repeat. From zero state NGINX's sequence repeats after
 * one cycle; from a carried state (picks made under another endpoint set) it has been seen to
 * need one cycle to settle, never more.
 */
const MAX_RECORDED_CYCLES = 3;

function greatestCommonDivisor(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * NGINX's smooth weighted round robin, replayed. NGINX's sequence is periodic: after `cycle`
 * picks (total weight / gcd of the weights) every endpoint has been chosen its weight / gcd
 * times and the current weights are back where they were. So the first picks come from the
 * O(log n) tournament (tournament.ts) and are recorded; once a recorded cycle ends in the state
 * it started from, the picker replays it: a pick is one array read. Building stays O(n), which
 * matters more than the first cycle's picks: builds happen on the event loop at every change.
 *
 * The current weights stay known while replaying (they are carried to the next picker and order
 * `select`): start of cycle + picks so far in the cycle x weight - total weight x times chosen.
 */
export class SmoothWeightedRoundRobinPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly weight: Float64Array;
  private readonly totalWeight: number;
  private readonly cycleLength: number;
  /** The current weights when the cycle being recorded or replayed began. */
  private readonly cycleStart: Float64Array;
  /** Times each endpoint was chosen since the cycle began (while replaying). */
  private readonly chosenInCycle: Uint32Array;
  /** The recorded cycle; null when the service's cycle is too long to keep. */
  private readonly schedule: Uint8Array | Uint16Array | Uint32Array | null;
  /** Picks made in the current cycle. */
  private position = 0;
  /** Null while replaying. */
  private tournament: SmoothWeightTournament | null;
  private cyclesLeftToRecord = MAX_RECORDED_CYCLES;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    const n = this.endpoints.length;
    let gcd = 0;
    for (const endpoint of this.endpoints) gcd = greatestCommonDivisor(endpoint.weight, gcd);
    let totalWeight = 0;
    for (const endpoint of this.endpoints) totalWeight += endpoint.weight;
    this.totalWeight = totalWeight;
    this.cycleLength = totalWeight / gcd;
    const replayable = this.cycleLength <= MAX_REPLAY_CYCLE;
    // One buffer behind the arrays: each separate typed array costs a few hundred bytes of
    // bookkeeping, more than the data of a small service.
    // The schedule holds endpoint indexes in the narrowest type that fits them.
    const Schedule = n <= 0x100 ? Uint8Array : n <= 0x1_0000 ? Uint16Array : Uint32Array;
    const scheduleBytes = replayable ? this.cycleLength * Schedule.BYTES_PER_ELEMENT : 0;
    const buffer = new ArrayBuffer(n * 20 + scheduleBytes);
    this.weight = new Float64Array(buffer, 0, n);
    this.cycleStart = new Float64Array(buffer, n * 8, n);
    this.chosenInCycle = new Uint32Array(buffer, n * 16, n);
    this.schedule = replayable ? new Schedule(buffer, n * 20, this.cycleLength) : null;
    const carried = context.carried?.currentWeights;
    for (let i = 0; i < n; i++) {
      const endpoint = this.endpoints[i] as Endpoint;
      this.weight[i] = endpoint.weight;
      const value = carried?.[endpoint.identity];
      // Replicated state is input like any other: keep it only when it is sane.
      if (Number.isInteger(value) && Math.abs(value as number) <= this.totalWeight) {
        this.cycleStart[i] = value as number;
      }
    }
    this.tournament = null;
    if (this.cycleLength > MAX_CYCLE_RECORDED_AT_BUILD || !this.recordCycleAtBuild()) {
      this.tournament = new SmoothWeightTournament(this.weight, this.cycleStart);
    }
  }

  /**
   * Records one cycle from the starting state and says whether it ends there: then the picker
   * replays from its first pick and never keeps a tournament, which would be most of a small
   * service's memory. Otherwise the recording is overwritten by the one made while picking.
   */
  private recordCycleAtBuild(): boolean {
    const schedule = this.schedule as Uint8Array | Uint16Array | Uint32Array;
    const trial = new SmoothWeightTournament(this.weight, this.cycleStart);
    for (let k = 0; k < this.cycleLength; k++) schedule[k] = trial.pick();
    for (let i = 0; i < this.endpoints.length; i++) {
      if (trial.value(i) !== this.cycleStart[i]) return false;
    }
    return true;
  }

  /** Endpoint i's current weight. */
  private value(i: number): number {
    if (this.tournament) return this.tournament.value(i);
    return (
      (this.cycleStart[i] as number) +
      this.position * (this.weight[i] as number) -
      this.totalWeight * (this.chosenInCycle[i] as number)
    );
  }

  pick(): Endpoint {
    const schedule = this.schedule;
    if (this.tournament === null && schedule !== null) {
      let at = this.position;
      if (at === this.cycleLength) {
        // Back where the cycle began: the start state is exact again.
        this.chosenInCycle.fill(0);
        at = 0;
      }
      const chosen = schedule[at] as number;
      this.position = at + 1;
      this.chosenInCycle[chosen] = (this.chosenInCycle[chosen] as number) + 1;
      return this.endpoints[chosen] as Endpoint;
    }
    return this.endpoints[this.recordedPick(this.tournament as SmoothWeightTournament)] as Endpoint;
  }

  /** A pick from the tournament, recorded; at the end of a cycle, replay starts if it repeats. */
  private recordedPick(tournament: SmoothWeightTournament): number {
    const chosen = tournament.pick();
    if (this.schedule === null || this.cyclesLeftToRecord === 0) return chosen;
    this.schedule[this.position] = chosen;
    this.position++;
    if (this.position < this.cycleLength) return chosen;
    let repeats = true;
    for (let i = 0; i < this.endpoints.length; i++) {
      const now = tournament.value(i);
      if (now !== this.cycleStart[i]) repeats = false;
      this.cycleStart[i] = now;
    }
    this.cyclesLeftToRecord--;
    if (repeats) {
      this.tournament = null;
      this.chosenInCycle.fill(0);
    }
    this.position = 0;
    return chosen;
  }

  /** The endpoint a pick gives, then the rest by how soon they are due (current weight + weight). */
  select(_request: unknown, limit: number): Endpoint[] {
    const first = this.pick();
    const n = this.endpoints.length;
    const ordered = [first];
    const size = selectionSize(n, limit);
    if (size === 1) return ordered;
    // Each endpoint's dueness once, rather than twice per comparison of the sort.
    const dueness = new Float64Array(n);
    const rest: number[] = [];
    for (let i = 0; i < n; i++) {
      if (this.endpoints[i] === first) continue;
      dueness[i] = this.value(i) + (this.weight[i] as number);
      rest.push(i);
    }
    rest.sort((a, b) => (dueness[b] as number) - (dueness[a] as number) || a - b);
    for (let k = 0; k < size - 1; k++) ordered.push(this.endpoints[rest[k] as number] as Endpoint);
    return ordered;
  }

  exportState(): CarriedState {
    const currentWeights: Record<string, number> = {};
    for (let i = 0; i < this.endpoints.length; i++) {
      currentWeights[(this.endpoints[i] as Endpoint).identity] = this.value(i);
    }
    return { currentWeights };
  }

  dispose(): void {}
}
