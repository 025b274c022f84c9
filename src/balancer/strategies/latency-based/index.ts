import type { PolicySection, StrategyDefinition } from "../../definition.ts";
import { invalid, withServerDefaults } from "../shared/settings-check.ts";
import { LatencyBasedPicker } from "./picker.ts";
import { latencyFromMap, latencyTiers } from "./tiers.ts";

export { latencyFromMap } from "./tiers.ts";

/** Client regions (and endpoint regions per client region) a latency map may hold. */
export const MAX_REGIONS = 64;

type LatencyMap = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** `spec.latency` in the engine's units: milliseconds from a client region to an endpoint region. */
export interface LatencySettings {
  map?: LatencyMap;
}

export interface ResolvedLatency {
  readonly map: LatencyMap;
}

export const latencySection: PolicySection<LatencySettings, ResolvedLatency> = {
  key: "latency",
  crd: (kit) => ({
    type: "object",
    description: "Settings of the latency-based strategy.",
    properties: {
      map: {
        type: "object",
        description:
          "Latency from a client region (outer key) to an endpoint region (inner key), " +
          `for at most ${MAX_REGIONS} regions each way.`,
        maxProperties: MAX_REGIONS,
        additionalProperties: {
          type: "object",
          description: "Latency from this client region, by endpoint region.",
          maxProperties: MAX_REGIONS,
          additionalProperties: kit.duration("The latency between the two regions."),
        },
      },
    },
  }),
  fromSpec(spec, kit, problems) {
    // The spec writes latencies as durations: {from: {to: "80ms"}}.
    const written = (spec as { map?: Record<string, Record<string, string>> }).map ?? {};
    const map: Record<string, Record<string, number>> = {};
    for (const [from, row] of Object.entries(written)) {
      const converted: Record<string, number> = {};
      for (const [to, text] of Object.entries(row)) {
        const ms = kit.parseDuration(text);
        if (ms === null) {
          problems.push({
            path: ["map", from, to],
            value: text,
            allowed: "a duration of at most 2562047h",
          });
        }
        converted[to] = ms as number;
      }
      map[from] = converted;
    }
    return { map };
  },
  resolve(raw, serverDefaults) {
    const map = withServerDefaults(raw, serverDefaults).map ?? {};
    for (const [from, row] of Object.entries(map)) {
      if (typeof row !== "object" || row === null)
        invalid(`latency.map.${from}`, row, "a map of region to latency");
      for (const [to, ms] of Object.entries(row)) {
        if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
          invalid(`latency.map.${from}.${to}`, ms, "a latency of 0 or more milliseconds");
        }
      }
    }
    return { map };
  },
};

export const latencyBased: StrategyDefinition<"latency-based"> = {
  name: "latency-based",
  settings: latencySection,
  serverConfig: {
    properties: (kit) => ({
      latencyMap: {
        type: "object",
        expected: "a map of client region to a map of endpoint region to latency",
        description:
          "Latency from a client region (outer key) to an endpoint region (inner key), for " +
          "policies that give no map.",
        additionalProperties: {
          type: "object",
          expected: "a map of endpoint region to latency",
          additionalProperties: kit.duration("The latency between the two regions."),
        },
      },
    }),
  },
  traits: {
    // Nearest-region answers are the same for every client of a region.
    variesPerRequest: false,
    srvPriority: "tiers",
    weighted: true,
    hashesOn: () => null,
    expectedShare: "nearest-region",
  },
  build: (context) => new LatencyBasedPicker(context),
  rank: (endpoints, request, policy) =>
    latencyTiers(endpoints, request.clientRegion, latencyFromMap(policy.latency.map)),
};
