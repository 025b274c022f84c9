/**
 * The `strategies` section of the config file: per strategy whether policies may use it, and the
 * defaults ring-hash and latency-based take for policies that set none. Its schema, and its
 * resolution into what the server uses.
 */

import type { StrategyName } from "../balancer/index.ts";
import { DEFAULT_REGISTRY, STRATEGY_NAMES } from "../balancer/index.ts";
import { DURATION_EXAMPLES, DURATION_PATTERN, tryParseDuration } from "../policy/duration.ts";
import type { ConfigSchema } from "./config-schema.ts";

/** One strategy's entry under `strategies`, as written. */
export interface StrategyConfig {
  /** Absent means enabled. */
  readonly enabled?: boolean;
  /** ring-hash only: virtual nodes per endpoint for policies that set none. */
  readonly virtualNodes?: number;
  /** latency-based only: client region → endpoint region → Go-style duration. */
  readonly latencyMap?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export type StrategiesConfig = Readonly<Partial<Record<StrategyName, StrategyConfig>>>;

/** Client region → endpoint region → milliseconds. */
export type LatencyMap = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** What the section decides for the server. */
export interface StrategyDefaults {
  /** In the order of STRATEGY_NAMES. */
  readonly enabledStrategies: readonly StrategyName[];
  /** Ring-hash virtual nodes for policies that set none; null = the policy default. */
  readonly virtualNodes: number | null;
  /** Milliseconds from a client region to an endpoint region, for policies that give no map. */
  readonly latencyMap: LatencyMap;
}

const durationSchema: ConfigSchema = {
  type: "string",
  pattern: DURATION_PATTERN,
  expected: `a duration such as ${DURATION_EXAMPLES}`,
  description: "The latency between the two regions.",
};

/** How the config file writes a duration, for the strategies' server settings. */
const configKit = { duration: (description: string) => ({ ...durationSchema, description }) };

/** One strategy's entry under `strategies`: `enabled`, then the server settings it declares. */
function strategySchema(name: StrategyName): ConfigSchema {
  const declared = DEFAULT_REGISTRY.get(name)?.serverConfig?.properties(configKit) ?? {};
  const properties: Record<string, ConfigSchema> = {
    enabled: {
      type: "boolean",
      description: "Whether policies may use the strategy; absent means enabled.",
    },
    ...(declared as Record<string, ConfigSchema>),
  };
  return { type: "object", properties, additionalProperties: false };
}

export const STRATEGIES_SCHEMA: ConfigSchema = {
  type: "object",
  description:
    "By strategy name: enabled, and the defaults ring-hash (virtualNodes) and latency-based " +
    "(latencyMap) take.",
  propertyNames: { type: "string", enum: STRATEGY_NAMES },
  properties: Object.fromEntries(STRATEGY_NAMES.map((name) => [name, strategySchema(name)])),
};

/** The section as the server uses it; `strategies` has passed STRATEGIES_SCHEMA. */
export function strategyDefaults(strategies: StrategiesConfig): StrategyDefaults {
  const map = strategies["latency-based"]?.latencyMap ?? {};
  const latencyMap = Object.freeze(
    Object.fromEntries(
      Object.entries(map).map(([from, row]) => [
        from,
        Object.freeze(
          Object.fromEntries(
            Object.entries(row).map(([to, text]) => [to, tryParseDuration(text) as number]),
          ),
        ),
      ]),
    ),
  );
  return {
    enabledStrategies: Object.freeze(
      STRATEGY_NAMES.filter((name) => strategies[name]?.enabled !== false),
    ),
    virtualNodes: strategies["ring-hash"]?.virtualNodes ?? null,
    latencyMap,
  };
}
