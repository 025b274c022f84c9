import type { PolicySection, StrategyDefinition } from "../../definition.ts";
import type { HashOn } from "../../hash-on.ts";
import { hashOnValue, integerIn, invalid, withServerDefaults } from "../shared/settings-check.ts";
import { RingHashPicker } from "./picker.ts";
import { entriesPerEndpoint, type Ring } from "./ring.ts";

// Envoy's defaults and bounds: a ring of 1,024 to 8,388,608 entries.
export const DEFAULT_VIRTUAL_NODES = 150;
export const MAX_VIRTUAL_NODES = 10_000;
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8_388_608;
export const MIN_BALANCE_FACTOR = 100;
export const MAX_BALANCE_FACTOR = 10_000;

/** `spec.ringHash` in the engine's units. */
export interface RingHashSettings {
  virtualNodes?: number;
  hashOn?: HashOn;
  /** Bounded load in percent of the average (125 = at most 1.25x); null or absent = off. */
  balanceFactor?: number | null;
  minRingSize?: number;
  maxRingSize?: number;
}

export interface ResolvedRingHash {
  readonly virtualNodes: number;
  readonly hashOn: HashOn;
  readonly balanceFactor: number | null;
  readonly minRingSize: number;
  readonly maxRingSize: number;
}

export const ringHashSection: PolicySection<RingHashSettings, ResolvedRingHash> = {
  key: "ringHash",
  crd: (kit) => ({
    type: "object",
    description:
      "Settings of the ring-hash strategy (consistent hashing on a ring), used whenever it " +
      "runs: as the policy's strategy, as the server default, or chosen by a request.",
    properties: {
      virtualNodes: {
        type: "integer",
        minimum: 1,
        maximum: MAX_VIRTUAL_NODES,
        default: DEFAULT_VIRTUAL_NODES,
        description: `Points on the ring per endpoint (multiplied by its weight), from 1 to ${MAX_VIRTUAL_NODES}.`,
      },
      hashOn: kit.hashOn(),
      balanceFactor: {
        type: "integer",
        minimum: MIN_BALANCE_FACTOR,
        maximum: MAX_BALANCE_FACTOR,
        description:
          "Bounded load: no endpoint takes more than this percent of the average load " +
          `(125 = 1.25 times), from ${MIN_BALANCE_FACTOR} to ${MAX_BALANCE_FACTOR}. Absent means unbounded.`,
      },
    },
  }),
  resolve(raw, serverDefaults) {
    const ring = withServerDefaults(raw, serverDefaults);
    const minRingSize = integerIn(
      "ringHash.minRingSize",
      ring.minRingSize,
      1,
      DEFAULT_MAX_RING_SIZE,
      DEFAULT_MIN_RING_SIZE,
    );
    const maxRingSize = integerIn(
      "ringHash.maxRingSize",
      ring.maxRingSize,
      1,
      DEFAULT_MAX_RING_SIZE,
      DEFAULT_MAX_RING_SIZE,
    );
    if (minRingSize > maxRingSize) {
      invalid("ringHash.minRingSize", minRingSize, `at most ringHash.maxRingSize (${maxRingSize})`);
    }
    const balanceFactor = ring.balanceFactor ?? null;
    if (balanceFactor !== null) {
      integerIn("ringHash.balanceFactor", balanceFactor, MIN_BALANCE_FACTOR, MAX_BALANCE_FACTOR, 0);
    }
    return {
      virtualNodes: integerIn(
        "ringHash.virtualNodes",
        ring.virtualNodes,
        1,
        MAX_VIRTUAL_NODES,
        DEFAULT_VIRTUAL_NODES,
      ),
      hashOn: hashOnValue("ringHash.hashOn", ring.hashOn),
      balanceFactor,
      minRingSize,
      maxRingSize,
    };
  },
};

export const ringHash: StrategyDefinition<"ring-hash"> = {
  name: "ring-hash",
  settings: ringHashSection,
  serverConfig: {
    properties: () => ({
      virtualNodes: {
        type: "integer",
        minimum: 1,
        maximum: MAX_VIRTUAL_NODES,
        description: "Virtual nodes per endpoint for policies that set none.",
      },
    }),
  },
  traits: {
    variesPerRequest: false,
    srvPriority: "rank",
    weighted: true,
    hashesOn: (policy) => policy.ringHash.hashOn,
    expectedShare: "weight",
  },
  build: (context) => new RingHashPicker(context),
  table: {
    job: ({ endpoints, policy }) => ({
      kind: "ring",
      identities: endpoints.map((endpoint) => endpoint.identity),
      counts: entriesPerEndpoint(endpoints, policy),
    }),
    picker: (context, table) => new RingHashPicker(context, table as Ring),
  },
};
