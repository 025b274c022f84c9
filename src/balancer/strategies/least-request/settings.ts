import type { PolicySection } from "../../definition.ts";
import { integerIn, invalid, withServerDefaults } from "../shared/settings-check.ts";

/** What least-request compares between its two candidates. */
export const LEAST_REQUEST_COSTS = ["in-flight", "peak-ewma"] as const;
export type LeastRequestCost = (typeof LEAST_REQUEST_COSTS)[number];

// Linkerd's decay; its users ask to tune it (linkerd2#6052).
export const DEFAULT_PEAK_EWMA_DECAY_MS = 10_000;
export const MIN_PEAK_EWMA_DECAY_MS = 1;
export const MAX_PEAK_EWMA_DECAY_MS = 3_600_000;

/** `spec.leastRequest` in the engine's units. */
export interface LeastRequestSettings {
  cost?: LeastRequestCost;
  decayMs?: number;
}

export interface ResolvedLeastRequest {
  readonly cost: LeastRequestCost;
  readonly decayMs: number;
}

export const leastRequestSection: PolicySection<LeastRequestSettings, ResolvedLeastRequest> = {
  key: "leastRequest",
  crd: (kit) => ({
    type: "object",
    description:
      "Settings of the least-request strategy (power of two choices), used whenever it runs.",
    properties: {
      cost: {
        type: "string",
        enum: [...LEAST_REQUEST_COSTS],
        default: "in-flight",
        description:
          "What decides between the two candidates: in-flight, the open connections per unit " +
          "of weight; peak-ewma, the peak-EWMA of the latencies clients report (POST " +
          ".../outcomes) times (in-flight + 1), per unit of weight, as Finagle and Linkerd do.",
      },
      decay: {
        ...kit.duration(
          "The time constant of peak-ewma: how fast a latency estimate forgets a peak, " +
            `${kit.durationRange(MIN_PEAK_EWMA_DECAY_MS, MAX_PEAK_EWMA_DECAY_MS)} in whole milliseconds.`,
        ),
        default: kit.formatDuration(DEFAULT_PEAK_EWMA_DECAY_MS),
        "x-kubernetes-validations": kit.durationRules(
          "decay",
          MIN_PEAK_EWMA_DECAY_MS,
          MAX_PEAK_EWMA_DECAY_MS,
        ),
      },
    },
  }),
  fromSpec(spec, kit, problems) {
    const { cost, decay } = spec as { cost?: LeastRequestCost; decay?: string };
    const settings: LeastRequestSettings = {};
    if (cost !== undefined) settings.cost = cost;
    if (decay !== undefined) {
      const ms = kit.parseDuration(decay);
      if (
        ms === null ||
        !Number.isInteger(ms) ||
        ms < MIN_PEAK_EWMA_DECAY_MS ||
        ms > MAX_PEAK_EWMA_DECAY_MS
      ) {
        problems.push({
          path: ["decay"],
          value: decay,
          allowed: `a whole number of milliseconds from ${kit.formatDuration(MIN_PEAK_EWMA_DECAY_MS)} to ${kit.formatDuration(MAX_PEAK_EWMA_DECAY_MS)}`,
        });
      }
      settings.decayMs = ms as number;
    }
    return settings;
  },
  resolve(raw, serverDefaults) {
    const settings = withServerDefaults(raw, serverDefaults);
    const cost = settings.cost ?? "in-flight";
    if (!LEAST_REQUEST_COSTS.includes(cost)) {
      invalid("leastRequest.cost", cost, LEAST_REQUEST_COSTS.join(" or "));
    }
    return {
      cost,
      decayMs: integerIn(
        "leastRequest.decayMs",
        settings.decayMs,
        MIN_PEAK_EWMA_DECAY_MS,
        MAX_PEAK_EWMA_DECAY_MS,
        DEFAULT_PEAK_EWMA_DECAY_MS,
      ),
    };
  },
};
