/**
 * Each strategy as xDS can say it: an ordered `load_balancing_policy` list (a client runs the
 * first entry it supports, so a strategy a client lacks degrades instead of being rejected), the
 * route's hash policy, and how endpoint weights reach the client.
 *
 * This table is meant to become a trait of each strategy's definition; until then it is the one
 * place that knows how a strategy looks over xDS (docs/xds.md shows it as a table).
 */
import type { HashOn, StrategyName } from "../balancer/index.ts";
import type { XdsService } from "./engine-view.ts";
import type { MessageKey } from "./protos.ts";

/** One entry of a Cluster's `load_balancing_policy.policies`. */
export interface PolicyChoice {
  /** The extension's name, e.g. envoy.load_balancing_policies.ring_hash. */
  readonly name: string;
  readonly message: MessageKey;
  readonly config: Record<string, unknown>;
  /** For wrr_locality: the policy picking an endpoint inside the chosen locality. */
  readonly child?: PolicyChoice;
}

/**
 * How weights are sent. grpc-js ignores endpoint weights under round robin but honours locality
 * weights, so every endpoint gets a locality of its own (sub_zone = its identity) and, where the
 * strategy weighs, the locality carries the weight as well.
 *  - none: every weight 1 (the strategy ignores weights);
 *  - endpoint: endpoint weights only (hash rings weigh endpoints; a locality weight would count twice);
 *  - locality: endpoint and locality weights both (wrr_locality picks a locality by weight).
 */
export type WeightMapping = "none" | "endpoint" | "locality";

export interface XdsBalancing {
  readonly strategy: StrategyName;
  readonly policies: readonly PolicyChoice[];
  /** What the route hashes; null for strategies that do not hash. */
  readonly hashOn: HashOn | null;
  readonly weights: WeightMapping;
  /** Endpoints ordered into priorities by latency from the client's region (latency-based). */
  readonly latencyPriorities: boolean;
}

/** The request header proxyless clients put the session key in (HTTP: the session-key parameter). */
export const SESSION_KEY_HEADER = "x-session-key";

const ROUND_ROBIN: PolicyChoice = {
  name: "envoy.load_balancing_policies.round_robin",
  message: "roundRobin",
  config: {},
};

/** Locality picked by weight, round robin inside; one endpoint per locality makes it weighted. */
const WRR_LOCALITY: PolicyChoice = {
  name: "envoy.load_balancing_policies.wrr_locality",
  message: "wrrLocality",
  config: {},
  child: ROUND_ROBIN,
};

const RANDOM: PolicyChoice = {
  name: "envoy.load_balancing_policies.random",
  message: "random",
  config: {},
};

// Power of two choices, as the engine's least-request does.
const LEAST_REQUEST: PolicyChoice = {
  name: "envoy.load_balancing_policies.least_request",
  message: "leastRequest",
  config: { choice_count: { value: 2 } },
};

/** Envoy's and gRPC's ring bounds; gRPC refuses a maximum above 8,388,608. */
const RING_LIMIT = 8_388_608;

function ringHash(service: XdsService): PolicyChoice {
  const { virtualNodes, minRingSize, maxRingSize } = service.ringHash;
  const max = Math.min(maxRingSize, RING_LIMIT);
  // The engine builds n × virtualNodes entries within [min, max]; the client gets the same bounds.
  const wanted = virtualNodes * Math.max(1, service.endpoints.length);
  const min = Math.min(max, Math.max(minRingSize, wanted));
  return {
    name: "envoy.load_balancing_policies.ring_hash",
    message: "ringHash",
    config: {
      hash_function: "XX_HASH",
      minimum_ring_size: { value: min },
      maximum_ring_size: { value: max },
    },
  };
}

function maglev(service: XdsService): PolicyChoice {
  return {
    name: "envoy.load_balancing_policies.maglev",
    message: "maglev",
    config: { table_size: { value: service.maglev.tableSize } },
  };
}

interface Mapping {
  readonly policies: (service: XdsService) => readonly PolicyChoice[];
  readonly hashOn: (service: XdsService) => HashOn | null;
  readonly weights: WeightMapping;
  readonly latencyPriorities?: boolean;
}

const noHash = () => null;

/** The mapping, strategy by strategy. docs/xds.md has the same table with what each client runs. */
const MAPPINGS: Readonly<Record<StrategyName, Mapping>> = {
  "round-robin": { policies: () => [ROUND_ROBIN], hashOn: noHash, weights: "none" },
  "weighted-round-robin": {
    policies: () => [WRR_LOCALITY, ROUND_ROBIN],
    hashOn: noHash,
    weights: "locality",
  },
  random: { policies: () => [RANDOM, ROUND_ROBIN], hashOn: noHash, weights: "none" },
  "weighted-random": {
    policies: () => [WRR_LOCALITY, ROUND_ROBIN],
    hashOn: noHash,
    weights: "locality",
  },
  // Connections counted across every client cannot be expressed: each client counts its own.
  "least-connections": {
    policies: () => [LEAST_REQUEST, WRR_LOCALITY, ROUND_ROBIN],
    hashOn: noHash,
    weights: "locality",
  },
  "least-request": {
    policies: () => [LEAST_REQUEST, WRR_LOCALITY, ROUND_ROBIN],
    hashOn: noHash,
    weights: "locality",
  },
  "ip-hash": { policies: (s) => [ringHash(s)], hashOn: () => "client-ip", weights: "none" },
  "ring-hash": {
    policies: (s) => [ringHash(s)],
    hashOn: (s) => s.ringHash.hashOn,
    weights: "endpoint",
  },
  maglev: {
    policies: (s) => [maglev(s), ringHash(s)],
    hashOn: (s) => s.maglev.hashOn,
    weights: "endpoint",
  },
  "latency-based": {
    policies: () => [WRR_LOCALITY, ROUND_ROBIN],
    hashOn: noHash,
    weights: "locality",
    latencyPriorities: true,
  },
};

export function xdsBalancing(strategy: StrategyName, service: XdsService): XdsBalancing {
  const mapping = MAPPINGS[strategy];
  return {
    strategy,
    policies: mapping.policies(service),
    hashOn: mapping.hashOn(service),
    weights: mapping.weights,
    latencyPriorities: mapping.latencyPriorities ?? false,
  };
}

/**
 * The policies known clients implement, by the `user_agent_name` their xDS client sends, so the
 * server can count which strategies a client runs in degraded form. A client not listed is not
 * counted (it may support anything).
 */
const CLIENT_POLICIES: ReadonlyMap<string, { label: string; policies: ReadonlySet<string> }> =
  new Map([
    [
      "gRPC Node Pure JS",
      {
        label: "grpc-node",
        policies: new Set(["round_robin", "wrr_locality", "ring_hash"]),
      },
    ],
    [
      "gRPC Go",
      {
        label: "grpc-go",
        policies: new Set(["round_robin", "wrr_locality", "ring_hash", "least_request"]),
      },
    ],
    [
      "gRPC Java",
      {
        label: "grpc-java",
        policies: new Set(["round_robin", "wrr_locality", "ring_hash", "least_request"]),
      },
    ],
    [
      "envoy",
      {
        label: "envoy",
        policies: new Set(["round_robin", "ring_hash", "maglev", "least_request", "random"]),
      },
    ],
  ]);

/** The policy's short name: round_robin, ring_hash, least_request, ... */
export function policyShortName(choice: PolicyChoice): string {
  return choice.name.slice(choice.name.lastIndexOf(".") + 1);
}

/**
 * The policies as one client should get them. grpc-js-xds 1.14 decodes RingHash's ring sizes
 * (uint64) as strings and then rejects them as "not a number", NACKing the whole Cluster; its
 * clients get the ring without explicit sizes, i.e. gRPC's defaults (1,024 to 8,388,608 entries).
 */
export function policiesForClient(
  policies: readonly PolicyChoice[],
  userAgentName: string,
): readonly PolicyChoice[] {
  if (userAgentName !== "gRPC Node Pure JS") return policies;
  return policies.map((choice) =>
    choice.message === "ringHash"
      ? { ...choice, config: { hash_function: choice.config.hash_function } }
      : choice,
  );
}

/** Whether policiesForClient changes anything for this client (resources are cached per answer). */
export function hasClientQuirks(userAgentName: string): boolean {
  return userAgentName === "gRPC Node Pure JS";
}

/** The client's label for metrics, or null for a client whose policies are not known. */
export function knownClient(userAgentName: string): string | null {
  return CLIENT_POLICIES.get(userAgentName)?.label ?? null;
}

/**
 * The policy a known client runs from `policies` (its first supported entry), by short name
 * (round_robin, ring_hash, ...), or null when the client is not known or supports none.
 */
export function policyRunBy(
  userAgentName: string,
  policies: readonly PolicyChoice[],
): string | null {
  const client = CLIENT_POLICIES.get(userAgentName);
  if (client === undefined) return null;
  for (const choice of policies) {
    if (client.policies.has(policyShortName(choice))) return policyShortName(choice);
  }
  return null;
}
