/**
 * `spec.outlierDetection`: Envoy's passive outlier detection over the outcomes clients report
 * (consecutive failures, success rate against the other endpoints, ejection time growing with
 * each ejection, a cap on the share ejected). Present = on; absent = no endpoint is ever ejected.
 */
import type { PolicySection, SpecProblem } from "../../definition.ts";
import { integerIn, invalid } from "../../strategies/shared/settings-check.ts";

// Envoy's defaults (cluster.OutlierDetection), in milliseconds.
export const DEFAULT_CONSECUTIVE_FAILURES = 5;
export const MAX_CONSECUTIVE_FAILURES = 10_000;
export const DEFAULT_INTERVAL_MS = 10_000;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 3_600_000;
export const DEFAULT_BASE_EJECTION_MS = 30_000;
export const DEFAULT_MAX_EJECTION_MS = 300_000;
export const MIN_EJECTION_MS = 1;
export const MAX_EJECTION_MS = 24 * 3_600_000;
export const DEFAULT_MAX_EJECTION_PERCENT = 10;
export const DEFAULT_MINIMUM_HOSTS = 5;
export const MAX_MINIMUM_HOSTS = 10_000;
export const DEFAULT_REQUEST_VOLUME = 100;
export const MAX_REQUEST_VOLUME = 1_000_000;
export const DEFAULT_STDEV_FACTOR = 1.9;
export const MAX_STDEV_FACTOR = 100;

export interface SuccessRateSettings {
  minimumHosts?: number;
  requestVolume?: number;
  stdevFactor?: number;
}

/** `spec.outlierDetection` in the engine's units. */
export interface OutlierDetectionSettings {
  consecutiveFailures?: number;
  intervalMs?: number;
  baseEjectionTimeMs?: number;
  maxEjectionTimeMs?: number;
  maxEjectionPercent?: number;
  successRate?: SuccessRateSettings | null;
}

export interface ResolvedSuccessRate {
  readonly minimumHosts: number;
  readonly requestVolume: number;
  readonly stdevFactor: number;
}

export interface ResolvedOutlierDetection {
  /** 0 = ejection on consecutive failures is off. */
  readonly consecutiveFailures: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  /** Never below baseEjectionTimeMs: as Envoy, the larger of the two caps. */
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  /** null: ejection on success rate is off. */
  readonly successRate: ResolvedSuccessRate | null;
}

/** The spec's field → the engine's, for the three durations. */
const DURATIONS = {
  interval: { field: "intervalMs", min: MIN_INTERVAL_MS, max: MAX_INTERVAL_MS },
  baseEjectionTime: { field: "baseEjectionTimeMs", min: MIN_EJECTION_MS, max: MAX_EJECTION_MS },
  maxEjectionTime: { field: "maxEjectionTimeMs", min: MIN_EJECTION_MS, max: MAX_EJECTION_MS },
} as const;

/** The CEL rule that holds stdevFactor above zero (`minimum` would let a whole 0 through). */
export const STDEV_FACTOR_RULE_MESSAGE = `stdevFactor must be greater than 0 and at most ${MAX_STDEV_FACTOR}`;

function numberIn(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0 && value <= MAX_STDEV_FACTOR)) {
    invalid(field, value, `a number greater than 0 and at most ${MAX_STDEV_FACTOR}`);
  }
  return value;
}

export const outlierDetectionSection: PolicySection<
  OutlierDetectionSettings,
  ResolvedOutlierDetection | null
> = {
  key: "outlierDetection",
  crd: (kit) => ({
    type: "object",
    description:
      "Eject endpoints that fail the requests clients report (POST .../outcomes), as Envoy's " +
      "outlier detection: after consecutiveFailures failures in a row, or when their success " +
      "rate over an interval falls below the others'. An ejected endpoint leaves every answer " +
      "for baseEjectionTime times the number of times it was ejected (at most maxEjectionTime), " +
      "and counts as unhealthy for panicThreshold. A timeout counts as a failure.",
    properties: {
      consecutiveFailures: {
        type: "integer",
        minimum: 0,
        maximum: MAX_CONSECUTIVE_FAILURES,
        default: DEFAULT_CONSECUTIVE_FAILURES,
        description: `Failures (or timeouts) in a row that eject an endpoint, from 1 to ${MAX_CONSECUTIVE_FAILURES}; 0 turns this check off.`,
      },
      interval: {
        ...kit.duration(
          "How often success rates are computed and ejections that ran out are ended, " +
            `${kit.durationRange(MIN_INTERVAL_MS, MAX_INTERVAL_MS)} in whole milliseconds.`,
        ),
        default: kit.formatDuration(DEFAULT_INTERVAL_MS),
        "x-kubernetes-validations": kit.durationRules("interval", MIN_INTERVAL_MS, MAX_INTERVAL_MS),
      },
      baseEjectionTime: {
        ...kit.duration(
          "How long a first ejection lasts; the n-th lasts n times as long, " +
            `${kit.durationRange(MIN_EJECTION_MS, MAX_EJECTION_MS)} in whole milliseconds.`,
        ),
        default: kit.formatDuration(DEFAULT_BASE_EJECTION_MS),
        "x-kubernetes-validations": kit.durationRules(
          "baseEjectionTime",
          MIN_EJECTION_MS,
          MAX_EJECTION_MS,
        ),
      },
      maxEjectionTime: {
        ...kit.duration(
          "The longest an ejection lasts (baseEjectionTime if that is longer), " +
            `${kit.durationRange(MIN_EJECTION_MS, MAX_EJECTION_MS)} in whole milliseconds.`,
        ),
        default: kit.formatDuration(DEFAULT_MAX_EJECTION_MS),
        "x-kubernetes-validations": kit.durationRules(
          "maxEjectionTime",
          MIN_EJECTION_MS,
          MAX_EJECTION_MS,
        ),
      },
      maxEjectionPercent: {
        type: "integer",
        minimum: 0,
        maximum: 100,
        default: DEFAULT_MAX_EJECTION_PERCENT,
        description:
          "The most endpoints ejected at once, in percent of the Service's endpoints (at least " +
          "one when above 0); 0 ejects none.",
      },
      successRate: {
        type: "object",
        description:
          "Eject, at each interval, the endpoints whose success rate is below the mean of all " +
          "minus stdevFactor standard deviations. Absent: off.",
        properties: {
          minimumHosts: {
            type: "integer",
            minimum: 1,
            maximum: MAX_MINIMUM_HOSTS,
            default: DEFAULT_MINIMUM_HOSTS,
            description:
              "Endpoints with requestVolume reports in the interval needed to compare them.",
          },
          requestVolume: {
            type: "integer",
            minimum: 1,
            maximum: MAX_REQUEST_VOLUME,
            default: DEFAULT_REQUEST_VOLUME,
            description: "Reports an endpoint needs in the interval to be compared.",
          },
          stdevFactor: {
            type: "number",
            default: DEFAULT_STDEV_FACTOR,
            description: `Standard deviations below the mean that eject, greater than 0 and at most ${MAX_STDEV_FACTOR}.`,
            "x-kubernetes-validations": [
              {
                rule: `self > 0.0 && self <= ${MAX_STDEV_FACTOR}.0`,
                message: STDEV_FACTOR_RULE_MESSAGE,
              },
            ],
          },
        },
      },
    },
  }),
  fromSpec(spec, kit, problems: SpecProblem[]) {
    const written = spec as Record<string, unknown>;
    const settings: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(written)) {
      const duration = DURATIONS[key as keyof typeof DURATIONS];
      if (duration === undefined) {
        settings[key] = key === "successRate" && value !== null ? { ...(value as object) } : value;
        continue;
      }
      const ms = kit.parseDuration(value as string);
      if (ms === null || !Number.isInteger(ms) || ms < duration.min || ms > duration.max) {
        problems.push({
          path: [key],
          value,
          allowed: `a whole number of milliseconds from ${kit.formatDuration(duration.min)} to ${kit.formatDuration(duration.max)}`,
        });
      }
      settings[duration.field] = ms;
    }
    const stdevFactor = (written.successRate as SuccessRateSettings | undefined)?.stdevFactor;
    if (stdevFactor !== undefined && !(stdevFactor > 0 && stdevFactor <= MAX_STDEV_FACTOR)) {
      problems.push({
        path: ["successRate", "stdevFactor"],
        value: stdevFactor,
        allowed: `a number greater than 0 and at most ${MAX_STDEV_FACTOR}`,
      });
    }
    return settings as OutlierDetectionSettings;
  },
  resolve(raw) {
    // No server-wide default: detection is a decision per Service.
    if (raw === undefined) return null;
    const at = (field: string) => `outlierDetection.${field}`;
    const baseEjectionTimeMs = integerIn(
      at("baseEjectionTimeMs"),
      raw.baseEjectionTimeMs,
      MIN_EJECTION_MS,
      MAX_EJECTION_MS,
      DEFAULT_BASE_EJECTION_MS,
    );
    const rate = raw.successRate;
    if (rate !== undefined && rate !== null && typeof rate !== "object") {
      invalid(at("successRate"), rate, "a map of settings");
    }
    return {
      consecutiveFailures: integerIn(
        at("consecutiveFailures"),
        raw.consecutiveFailures,
        0,
        MAX_CONSECUTIVE_FAILURES,
        DEFAULT_CONSECUTIVE_FAILURES,
      ),
      intervalMs: integerIn(
        at("intervalMs"),
        raw.intervalMs,
        MIN_INTERVAL_MS,
        MAX_INTERVAL_MS,
        DEFAULT_INTERVAL_MS,
      ),
      baseEjectionTimeMs,
      maxEjectionTimeMs: Math.max(
        baseEjectionTimeMs,
        integerIn(
          at("maxEjectionTimeMs"),
          raw.maxEjectionTimeMs,
          MIN_EJECTION_MS,
          MAX_EJECTION_MS,
          DEFAULT_MAX_EJECTION_MS,
        ),
      ),
      maxEjectionPercent: integerIn(
        at("maxEjectionPercent"),
        raw.maxEjectionPercent,
        0,
        100,
        DEFAULT_MAX_EJECTION_PERCENT,
      ),
      successRate:
        rate === undefined || rate === null
          ? null
          : {
              minimumHosts: integerIn(
                at("successRate.minimumHosts"),
                rate.minimumHosts,
                1,
                MAX_MINIMUM_HOSTS,
                DEFAULT_MINIMUM_HOSTS,
              ),
              requestVolume: integerIn(
                at("successRate.requestVolume"),
                rate.requestVolume,
                1,
                MAX_REQUEST_VOLUME,
                DEFAULT_REQUEST_VOLUME,
              ),
              stdevFactor: numberIn(
                at("successRate.stdevFactor"),
                rate.stdevFactor,
                DEFAULT_STDEV_FACTOR,
              ),
            },
    };
  },
};
