/**
 * `spec.slowStart`: endpoints that became ready recently take a share of traffic that grows over
 * a window (Envoy's slow start), for every strategy that weighs endpoints — and, unlike Envoy,
 * for the hash strategies too: ring-hash and Maglev build their table from the ramped weights,
 * stepped RAMP_STEPS times per window, so keys move to a new endpoint a step at a time.
 * Round-robin and random ignore weights, so while an endpoint ramps they are built as their
 * weighted counterparts over weights of 1 (smooth weighted round robin, weighted random).
 */
import type { Endpoint } from "../../endpoint.ts";
import type { ResolvedPolicy } from "../../policy.ts";
import { invalid } from "../../strategies/shared/settings-check.ts";
import { weightedRandom } from "../../strategies/weighted-random/index.ts";
import { weightedRoundRobin } from "../../strategies/weighted-round-robin/index.ts";
import type { BuildShape, PolicyFeature } from "../feature.ts";
import { RAMP_STEPS, rampFactor, rampStep, type SlowStart } from "./ramp.ts";

export { RAMP_STEPS, rampFactor, rampStep, type SlowStart } from "./ramp.ts";

export const MAX_SLOW_START_WINDOW_MS = 3600_000;
export const MAX_AGGRESSION = 100;
export const DEFAULT_AGGRESSION = 1;
export const DEFAULT_MIN_WEIGHT_PERCENT = 10;

/** The weighted strategy an unweighted one is built as while an endpoint ramps. */
const WEIGHTED_STAND_IN: Readonly<Record<string, BuildShape["strategy"]>> = {
  "round-robin": weightedRoundRobin,
  random: weightedRandom,
};

export const AGGRESSION_RULE_MESSAGE = "aggression must be greater than 0";

export const slowStartFeature: PolicyFeature = {
  key: "slowStart",
  crd: (kit) => ({
    slowStart: {
      type: "object",
      description:
        "Ramp up endpoints that became ready recently, as Envoy's slow start: within window " +
        "of its pod's Ready transition an endpoint takes weight x max(minWeightPercent / 100, " +
        "(time since ready / window)^(1 / aggression)), evaluated in " +
        `${RAMP_STEPS} steps per window. Applies to every strategy, ring-hash and maglev ` +
        "included (their tables move keys to the endpoint a step at a time).",
      required: ["window"],
      properties: {
        window: {
          ...kit.duration(
            "How long the ramp lasts after the endpoint becomes ready, " +
              `${kit.durationRange(1, MAX_SLOW_START_WINDOW_MS)} in whole milliseconds.`,
          ),
          "x-kubernetes-validations": kit.durationRules("window", 1, MAX_SLOW_START_WINDOW_MS),
        },
        aggression: {
          type: "number",
          maximum: MAX_AGGRESSION,
          default: DEFAULT_AGGRESSION,
          description:
            "The curve's shape: 1 ramps linearly, above 1 starts slower and ends faster. " +
            `Greater than 0, at most ${MAX_AGGRESSION}.`,
          // `minimum` with exclusiveMinimum is not structural-schema friendly, and a whole
          // number arrives in CEL as an int: double() takes both.
          "x-kubernetes-validations": [
            { rule: "double(self) > 0.0", message: AGGRESSION_RULE_MESSAGE },
          ],
        },
        minWeightPercent: {
          type: "number",
          minimum: 0,
          maximum: 100,
          default: DEFAULT_MIN_WEIGHT_PERCENT,
          description: "The least share of its weight a ramping endpoint takes, in percent.",
        },
      },
    },
  }),
  fromSpec(spec, kit, problems) {
    const written = spec.slowStart as
      | { window?: string; aggression?: number; minWeightPercent?: number }
      | undefined;
    if (written === undefined) return {};
    const slowStart: { windowMs?: number; aggression?: number; minWeightPercent?: number } = {};
    if (written.window !== undefined) {
      const ms = kit.parseDuration(written.window);
      if (ms === null || !Number.isInteger(ms) || ms < 1 || ms > MAX_SLOW_START_WINDOW_MS) {
        problems.push({
          path: ["slowStart", "window"],
          value: written.window,
          allowed: `a whole number of milliseconds from 1ms to ${kit.formatDuration(MAX_SLOW_START_WINDOW_MS)}`,
        });
      }
      slowStart.windowMs = ms as number;
    }
    if (written.aggression !== undefined) {
      if (!(written.aggression > 0)) {
        problems.push({
          path: ["slowStart", "aggression"],
          value: written.aggression,
          allowed: `a number greater than 0, at most ${MAX_AGGRESSION}`,
        });
      }
      slowStart.aggression = written.aggression;
    }
    if (written.minWeightPercent !== undefined) {
      slowStart.minWeightPercent = written.minWeightPercent;
    }
    return { slowStart };
  },
  resolve(policy): SlowStart | null {
    const raw = policy.slowStart as Partial<SlowStart> | undefined | null;
    if (raw === undefined || raw === null) return null;
    if (typeof raw !== "object") invalid("slowStart", raw, "a map of settings");
    const { windowMs, aggression = DEFAULT_AGGRESSION } = raw;
    const minWeightPercent = raw.minWeightPercent ?? DEFAULT_MIN_WEIGHT_PERCENT;
    if (!Number.isInteger(windowMs) || (windowMs as number) < 1) {
      invalid("slowStart.windowMs", windowMs, `an integer from 1 to ${MAX_SLOW_START_WINDOW_MS}`);
    }
    if ((windowMs as number) > MAX_SLOW_START_WINDOW_MS) {
      invalid("slowStart.windowMs", windowMs, `an integer from 1 to ${MAX_SLOW_START_WINDOW_MS}`);
    }
    if (typeof aggression !== "number" || !(aggression > 0 && aggression <= MAX_AGGRESSION)) {
      invalid(
        "slowStart.aggression",
        aggression,
        `a number greater than 0, at most ${MAX_AGGRESSION}`,
      );
    }
    if (
      typeof minWeightPercent !== "number" ||
      !(minWeightPercent >= 0 && minWeightPercent <= 100)
    ) {
      invalid("slowStart.minWeightPercent", minWeightPercent, "a number from 0 to 100");
    }
    return { windowMs: windowMs as number, aggression, minWeightPercent };
  },
  shape: rampWeights,
};

/**
 * How many of `endpoints` are within their slow-start window at `now`, and when the first of
 * those ramps ends (null when none ramps): what the policy's status reports, and when it is due
 * again.
 */
export function rampingAt(
  endpoints: readonly Endpoint[],
  windowMs: number,
  now: number,
): { ramping: number; firstEnd: number | null } {
  let ramping = 0;
  let firstEnd: number | null = null;
  for (const endpoint of endpoints) {
    const since = endpoint.readySince;
    if (since === undefined || since === null || !endpoint.ready) continue;
    const end = since + windowMs;
    if (end <= now) continue;
    ramping++;
    firstEnd = firstEnd === null ? end : Math.min(firstEnd, end);
  }
  return { ramping, firstEnd };
}

/**
 * The build with ramping endpoints' weights scaled (copies; `originals` maps them back), or the
 * build itself when none ramps at this step.
 */
export function rampWeights(build: BuildShape, policy: ResolvedPolicy, now: number): BuildShape {
  const slowStart = policy.slowStart as SlowStart | null;
  if (slowStart === null) return build;
  const { at, next } = rampStep(now, slowStart.windowMs);
  const factors = build.endpoints.map((endpoint) => {
    const since = endpoint.readySince;
    return since === undefined || since === null ? 1 : rampFactor(at - since, slowStart);
  });
  if (factors.every((factor) => factor >= 1)) return build;
  const standIn = WEIGHTED_STAND_IN[build.strategy.name];
  const originals = new Map<Endpoint, Endpoint>();
  const endpoints = build.endpoints.map((endpoint, i) => {
    const weight = (standIn ? 1 : endpoint.weight) * (factors[i] as number);
    if (weight === endpoint.weight) return endpoint;
    const copy = { ...endpoint, weight, rampFactor: factors[i] as number };
    originals.set(copy, endpoint);
    return copy;
  });
  return {
    endpoints,
    strategy: standIn ?? build.strategy,
    validUntil: Math.min(build.validUntil, next),
    originals,
  };
}
