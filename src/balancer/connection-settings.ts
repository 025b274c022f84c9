import type { PolicySection } from "./definition.ts";
import { integerIn, withServerDefaults } from "./strategies/shared/settings-check.ts";

export const DEFAULT_CONNECTION_TIMEOUT_MS = 30_000;
export const MAX_CONNECTION_TIMEOUT_MS = 24 * 3600_000;

/** `spec.leastConnections` in the engine's units. */
export interface ConnectionSettings {
  connectionTimeoutMs?: number;
}

export interface ResolvedConnectionSettings {
  readonly connectionTimeoutMs: number;
}

/**
 * Settings of counted connections: read by the connections API whichever strategy picked, and
 * by least-connections and least-request, which balance on the counts.
 */
export const connectionSection: PolicySection<ConnectionSettings, ResolvedConnectionSettings> = {
  key: "leastConnections",
  crd: (kit) => ({
    type: "object",
    description:
      "Settings of counted connections, which least-connections and least-request balance on.",
    properties: {
      connectionTimeout: {
        ...kit.duration(
          "How long a connection counts as open when its end is never reported, " +
            `${kit.durationRange(1, MAX_CONNECTION_TIMEOUT_MS)} in whole milliseconds.`,
        ),
        default: kit.formatDuration(DEFAULT_CONNECTION_TIMEOUT_MS),
        "x-kubernetes-validations": kit.durationRules(
          "connectionTimeout",
          1,
          MAX_CONNECTION_TIMEOUT_MS,
        ),
      },
    },
  }),
  fromSpec(spec, kit, problems) {
    // The spec writes the timeout as a duration: connectionTimeout: "30s".
    const timeout = (spec as { connectionTimeout?: string }).connectionTimeout;
    if (timeout === undefined) return {};
    const ms = kit.parseDuration(timeout);
    if (ms === null || !Number.isInteger(ms) || ms < 1 || ms > MAX_CONNECTION_TIMEOUT_MS) {
      problems.push({
        path: ["connectionTimeout"],
        value: timeout,
        allowed: `a whole number of milliseconds from 1ms to ${kit.formatDuration(MAX_CONNECTION_TIMEOUT_MS)}`,
      });
    }
    return { connectionTimeoutMs: ms as number };
  },
  resolve: (raw, serverDefaults) => ({
    connectionTimeoutMs: integerIn(
      "leastConnections.connectionTimeoutMs",
      withServerDefaults(raw, serverDefaults).connectionTimeoutMs,
      1,
      MAX_CONNECTION_TIMEOUT_MS,
      DEFAULT_CONNECTION_TIMEOUT_MS,
    ),
  }),
};
