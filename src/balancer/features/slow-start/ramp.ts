/**
 * Envoy's slow-start weight: an endpoint that became ready `t` ago, within the window, takes
 * weight x max(minWeightPercent / 100, (t / window)^(1 / aggression)). Evaluated on a grid of
 * RAMP_STEPS steps per window, the same instants for every endpoint and every replica, so a
 * service's pickers are rebuilt at most once per step however many endpoints ramp.
 */

/** Steps per window: the ramp's resolution, and the most rebuilds it causes per window. */
export const RAMP_STEPS = 10;
/** The least share a ramping endpoint keeps, so that a weight never reaches 0 (0/0 loads). */
export const MIN_RAMP_FACTOR = 0.001;

export interface SlowStart {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
}

/** The factor at `sinceReadyMs` after readiness: 1 at or past the window. */
export function rampFactor(sinceReadyMs: number, slowStart: SlowStart): number {
  const { windowMs, aggression, minWeightPercent } = slowStart;
  if (sinceReadyMs >= windowMs) return 1;
  const progress = sinceReadyMs <= 0 ? 0 : sinceReadyMs / windowMs;
  const curve = progress ** (1 / aggression);
  return Math.min(1, Math.max(minWeightPercent / 100, curve, MIN_RAMP_FACTOR));
}

/** The grid instant at or before `now` at which weights are evaluated, and the next one. */
export function rampStep(now: number, windowMs: number): { at: number; next: number } {
  const stepMs = windowMs / RAMP_STEPS;
  let step = Math.floor(now / stepMs);
  // A step of a fractional length can round either way: keep at <= now < next exactly.
  if (step * stepMs > now) step--;
  else if ((step + 1) * stepMs <= now) step++;
  return { at: step * stepMs, next: (step + 1) * stepMs };
}
