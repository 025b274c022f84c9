/**
 * The LoadBalancingPolicy resource (lb.konsul.io/v1alpha1): its names and the schema of its spec.
 *
 * The schema is written once and used twice: ajv checks policies read from files with it, and the
 * CRD embeds it as openAPIV3Schema. It therefore keeps to what both understand: type, properties,
 * required, enum, minimum, maximum, pattern, items, additionalProperties (only as a map's value
 * schema; Kubernetes forbids `additionalProperties: false`), default, description and nullable. Rules a
 * schema cannot state (a prime table size, duration ranges, label syntax) are checked in code.
 */

import { MAX_WEIGHT, MIN_WEIGHT } from "../balancer/endpoint.ts";
import type { HashOn } from "../balancer/policy.ts";
import {
  DEFAULT_CONNECTION_TIMEOUT_MS,
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_VIRTUAL_NODES,
  HASH_ON_VALUES,
  MAX_MAGLEV_TABLE_SIZE,
  MAX_VIRTUAL_NODES,
} from "../balancer/policy.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import { STRATEGY_NAMES } from "../balancer/strategy.ts";
import { DURATION_PATTERN, formatDuration } from "./duration.ts";
import type { LabelSelector } from "./selector.ts";
import { SELECTOR_OPERATORS } from "./selector.ts";

export const POLICY_GROUP = "lb.konsul.io";
export const POLICY_VERSION = "v1alpha1";
export const POLICY_API_VERSION = `${POLICY_GROUP}/${POLICY_VERSION}`;
export const POLICY_KIND = "LoadBalancingPolicy";
export const POLICY_LIST_KIND = "LoadBalancingPolicyList";
export const POLICY_PLURAL = "loadbalancingpolicies";
export const POLICY_SINGULAR = "loadbalancingpolicy";
export const POLICY_SHORT_NAMES: readonly string[] = ["lbp"];

/** The kinds a policy may target. */
export const TARGET_KINDS = ["Service"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const MIN_BALANCE_FACTOR = 100;
export const MAX_BALANCE_FACTOR = 10_000;
/** The smallest prime; a Maglev table needs at least as many slots as it has endpoints. */
export const MIN_MAGLEV_TABLE_SIZE = 3;

/** A Service name: an RFC 1035 label, as Kubernetes requires of Service names. */
export const DNS_1035_LABEL_PATTERN = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";

/** The subset of OpenAPI v3 / JSON Schema this project writes (see the module comment). */
export interface OpenApiSchema {
  type: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: OpenApiSchema;
  items?: OpenApiSchema;
  enum?: (string | number)[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  default?: unknown;
  /** OpenAPI's way of also allowing null. */
  nullable?: boolean;
}

/** The spec as written by users, before defaults and before durations become milliseconds. */
export interface LoadBalancingPolicySpec {
  targetRef: { kind?: TargetKind; name: string };
  strategy?: StrategyName;
  healthFilter?: boolean;
  panicThreshold?: number;
  weights?: { selector: LabelSelector; weight: number }[];
  ringHash?: { virtualNodes?: number; hashOn?: HashOn; balanceFactor?: number };
  maglev?: { tableSize?: number; hashOn?: HashOn };
  latency?: { map?: Record<string, Record<string, string>> };
  leastConnections?: { connectionTimeout?: string };
}

function hashOnSchema(): OpenApiSchema {
  return {
    type: "string",
    enum: [...HASH_ON_VALUES],
    default: "session-key",
    description:
      "What the hash is computed over: the request's session key, or the client's IP address.",
  };
}

const durationSchema = (description: string): OpenApiSchema => ({
  type: "string",
  pattern: DURATION_PATTERN,
  description: `${description} A Go-style duration such as "80ms", "1.5s" or "2m30s".`,
});

const labelSelectorSchema: OpenApiSchema = {
  type: "object",
  description:
    "A label selector over the labels of the endpoint's pod, as in Deployments: every " +
    "matchLabels pair and every matchExpressions requirement must hold. An empty selector " +
    "selects every endpoint.",
  properties: {
    matchLabels: {
      type: "object",
      description: "Labels the pod must carry with exactly these values.",
      additionalProperties: { type: "string" },
    },
    matchExpressions: {
      type: "array",
      description: "Requirements on the pod's labels.",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string", description: "The label key." },
          operator: {
            type: "string",
            enum: [...SELECTOR_OPERATORS],
            description:
              "In and NotIn need values; Exists and DoesNotExist take none. NotIn also holds " +
              "when the label is absent.",
          },
          values: {
            type: "array",
            items: { type: "string" },
            description: "The values for In and NotIn.",
          },
        },
      },
    },
  },
};

/** The schema of LoadBalancingPolicy.spec. */
export const loadBalancingPolicySpecSchema: OpenApiSchema = {
  type: "object",
  description: "How the operator balances requests over the endpoints of one Service.",
  required: ["targetRef"],
  properties: {
    targetRef: {
      type: "object",
      description: "The Service this policy applies to, in the policy's own namespace.",
      required: ["name"],
      properties: {
        kind: {
          type: "string",
          enum: [...TARGET_KINDS],
          default: "Service",
          description: "The kind of the target; only Service for now.",
        },
        name: {
          type: "string",
          pattern: DNS_1035_LABEL_PATTERN,
          description: "The name of the Service.",
        },
      },
    },
    strategy: {
      type: "string",
      enum: [...STRATEGY_NAMES],
      description: "The balancing strategy. When absent, the server's default strategy applies.",
    },
    healthFilter: {
      type: "boolean",
      default: true,
      description:
        "Send new requests only to ready endpoints that are not terminating and do not fail " +
        "a health probe.",
    },
    panicThreshold: {
      type: "number",
      minimum: 0,
      maximum: 100,
      default: 0,
      description:
        "Percent of healthy endpoints below which every endpoint is used regardless of health. " +
        "0 means only when no endpoint is healthy.",
    },
    weights: {
      type: "array",
      description:
        "Weights by pod labels, for the weighted strategies. The first entry whose selector " +
        "matches an endpoint's pod gives its weight; otherwise the pod annotation " +
        "lb.konsul.io/weight, otherwise 1.",
      items: {
        type: "object",
        required: ["selector", "weight"],
        properties: {
          selector: labelSelectorSchema,
          weight: {
            type: "integer",
            minimum: MIN_WEIGHT,
            maximum: MAX_WEIGHT,
            description: "The weight of the selected endpoints.",
          },
        },
      },
    },
    ringHash: {
      type: "object",
      description: "Settings of the ring-hash strategy (consistent hashing on a ring).",
      properties: {
        virtualNodes: {
          type: "integer",
          minimum: 1,
          maximum: MAX_VIRTUAL_NODES,
          default: DEFAULT_VIRTUAL_NODES,
          description: "Points on the ring per endpoint (multiplied by its weight).",
        },
        hashOn: hashOnSchema(),
        balanceFactor: {
          type: "integer",
          minimum: MIN_BALANCE_FACTOR,
          maximum: MAX_BALANCE_FACTOR,
          description:
            "Bounded load: no endpoint takes more than this percent of the average load " +
            "(125 = 1.25 times). Absent means unbounded.",
        },
      },
    },
    maglev: {
      type: "object",
      description: "Settings of the maglev strategy (Maglev consistent hashing).",
      properties: {
        tableSize: {
          type: "integer",
          minimum: MIN_MAGLEV_TABLE_SIZE,
          maximum: MAX_MAGLEV_TABLE_SIZE,
          default: DEFAULT_MAGLEV_TABLE_SIZE,
          description:
            "Slots in the lookup table. Must be a prime number; the operator checks this, " +
            "since a schema cannot.",
        },
        hashOn: hashOnSchema(),
      },
    },
    latency: {
      type: "object",
      description: "Settings of the latency-based strategy.",
      properties: {
        map: {
          type: "object",
          description:
            "Latency from a client region (outer key) to an endpoint region (inner key).",
          additionalProperties: {
            type: "object",
            additionalProperties: durationSchema("The latency between the two regions."),
          },
        },
      },
    },
    leastConnections: {
      type: "object",
      description: "Settings of the least-connections strategy.",
      properties: {
        connectionTimeout: {
          ...durationSchema(
            "How long a connection counts as open when its end is never reported. From 1ms to 24h.",
          ),
          default: formatDuration(DEFAULT_CONNECTION_TIMEOUT_MS),
        },
      },
    },
  },
};
