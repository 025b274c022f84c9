/**
 * The LoadBalancingPolicy resource (lb.konsul.io/v1alpha1): its names and the schema of its spec.
 *
 * The schema is written once and used twice: ajv checks policies read from files with it, and the
 * CRD (crds/, generated from it by `npm run crd`) embeds it as openAPIV3Schema. It therefore keeps
 * to what both understand: type, properties, required, enum, minimum, maximum, pattern,
 * minLength, maxLength, maxItems, maxProperties, items, additionalProperties (only as a map's
 * value schema; Kubernetes forbids `additionalProperties: false`), default, description and
 * nullable. Two kinds of node are the API server's alone, and schema-check.ts adapts them for ajv:
 * int-or-string nodes, and `x-kubernetes-validations` (CEL rules for what a keyword cannot
 * state), which validate.ts enforces in code with the same messages. Rules neither can state
 * cheaply (a prime table size, the syntax of matchLabels keys, a duration too long for Go) are
 * checked in code only; the operator reports a policy that breaks one as Accepted=False.
 *
 * The max* limits bound lists, maps and strings so that the API server can bound the cost of the
 * CEL rules; a CRD whose rules might exceed the cost budget is refused.
 */

import type { CrdSchemaKit, HashOn, StrategyName } from "../balancer/index.ts";
import {
  DEFAULT_REGISTRY,
  HASH_ON_VALUES,
  MAX_CONNECTION_TIMEOUT_MS,
  MAX_WEIGHT,
  MIN_WEIGHT,
  POLICY_FEATURES,
  type StrategyRegistry,
} from "../balancer/index.ts";
import { DNS_1035_LABEL_PATTERN } from "../shared/kubernetes-names.ts";
import { DURATION_PATTERN, durationRange, formatDuration } from "./duration.ts";
import type { HealthCheckInput } from "./health-check.ts";
import {
  DEFAULT_HEALTH_CHECK_INTERVAL_MS,
  DEFAULT_HEALTH_CHECK_PATH,
  DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
  DEFAULT_HEALTHY_THRESHOLD,
  DEFAULT_UNHEALTHY_THRESHOLD,
  HEALTH_CHECK_RULE_MESSAGES,
  HTTP_PATH_PATTERN,
  MAX_HEALTH_CHECK_INTERVAL_MS,
  MAX_HTTP_PATH_LENGTH,
  MAX_PORT,
  MAX_PORT_NAME_LENGTH,
  MAX_THRESHOLD,
  MIN_HEALTH_CHECK_INTERVAL_MS,
  MIN_HEALTH_CHECK_TIMEOUT_MS,
  MIN_PORT,
  MIN_THRESHOLD,
  PORT_NAME_PATTERN,
} from "./health-check.ts";
import type { LabelSelector } from "./selector.ts";
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, SELECTOR_OPERATORS } from "./selector.ts";

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

export {
  MAX_BALANCE_FACTOR,
  MIN_BALANCE_FACTOR,
  MIN_MAGLEV_TABLE_SIZE,
} from "../balancer/index.ts";

/** A Service name: an RFC 1035 label, as Kubernetes requires of Service names. */
export { DNS_1035_LABEL_PATTERN };

// Limits on lists, maps and strings. Generous for real policies; they exist so that the API
// server can bound the cost of evaluating the CEL rules (see the module comment).
export const MAX_WEIGHT_RULES = 64;
export const MAX_MATCH_LABELS = 32;
export const MAX_MATCH_EXPRESSIONS = 32;
export const MAX_SELECTOR_VALUES = 64;
/** A label key: a DNS subdomain prefix (253), "/" and a name (63). */
export const MAX_LABEL_KEY_LENGTH = 317;
export const MAX_LABEL_VALUE_LENGTH = 63;
export { MAX_REGIONS } from "../balancer/index.ts";
/** Far longer than any sensible duration ("2562047h47m16.854775807s" is 24 characters). */
export const MAX_DURATION_LENGTH = 64;

/** A CEL rule the API server evaluates on a node (x-kubernetes-validations). */
export interface CelRule {
  rule: string;
  message: string;
  /** The field the error names, relative to the node (".timeout"), when not the node itself. */
  fieldPath?: string;
}

/** The subset of OpenAPI v3 / JSON Schema this project writes (see the module comment). */
export interface OpenApiSchema {
  /** Absent only on an int-or-string node, as Kubernetes requires. */
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: OpenApiSchema;
  items?: OpenApiSchema;
  enum?: (string | number)[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  /** Only in the CRD's status (date-time, int64); the file source never checks formats. */
  format?: string;
  default?: unknown;
  /** OpenAPI's way of also allowing null. */
  nullable?: boolean;
  /** Only as Kubernetes spells int-or-string: [{type: integer}, {type: string}]. */
  anyOf?: OpenApiSchema[];
  /**
   * An integer or a string. The node's minimum and maximum then apply to the integer and its
   * pattern and lengths to the string: the API server reads them so, and schema-check.ts splits
   * them so for ajv.
   */
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-validations"?: CelRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
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
  healthCheck?: HealthCheckInput;
  subsets?: { name: string; selector: LabelSelector }[];
  defaultSubset?: string;
  slowStart?: { window: string; aggression?: number; minWeightPercent?: number };
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
  maxLength: MAX_DURATION_LENGTH,
  description: `${description} A Go-style duration such as "80ms", "1.5s" or "2m30s".`,
});

/**
 * CEL that holds when `value` is not written as a duration. The duration rules below start with
 * it: a value that breaks the schema's pattern is reported once, by the pattern, instead of once
 * more by each rule that fails to convert it.
 */
const notADuration = (value: string): string => `!${value}.matches(r'${DURATION_PATTERN}')`;

/**
 * CEL for "a duration from `minMs` to `maxMs` (no bound when null), in whole milliseconds", the
 * unit the operator works in. int() of a duration is its count of nanoseconds. (Rebuilding the
 * duration from getMilliseconds() through a string would say the same, but the API server cannot
 * bound the cost of a string built at run time and refuses such a rule.)
 */
function durationRules(field: string, minMs: number, maxMs: number | null): CelRule[] {
  const low = `duration(self) >= duration('${formatDuration(minMs)}')`;
  const high = maxMs === null ? "" : ` && duration(self) <= duration('${formatDuration(maxMs)}')`;
  return [
    {
      rule: `${notADuration("self")} || (${low}${high})`,
      message: `${field} must be ${durationRange(minMs, maxMs)}`,
    },
    {
      rule: `${notADuration("self")} || int(duration(self)) % 1000000 == 0`,
      message: `${field} ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    },
  ];
}

/** Messages of the CEL rules outside healthCheck; the table of invalid policies quotes them. */
export const POLICY_RULE_MESSAGES = {
  connectionTimeoutRange: `connectionTimeout must be ${durationRange(1, MAX_CONNECTION_TIMEOUT_MS)}`,
  selectorValues:
    "values must be given for operators In and NotIn, and left out for Exists and DoesNotExist",
} as const;

const portSchema = (what: string): OpenApiSchema => ({
  "x-kubernetes-int-or-string": true,
  anyOf: [{ type: "integer" }, { type: "string" }],
  minimum: MIN_PORT,
  maximum: MAX_PORT,
  maxLength: MAX_PORT_NAME_LENGTH,
  pattern: PORT_NAME_PATTERN,
  description:
    `The port ${what}: a number from ${MIN_PORT} to ${MAX_PORT}, or the name of a port of the ` +
    "endpoint as its EndpointSlice lists it (the Service port's name, such as http).",
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
      maxProperties: MAX_MATCH_LABELS,
      additionalProperties: {
        type: "string",
        maxLength: MAX_LABEL_VALUE_LENGTH,
        pattern: LABEL_VALUE_PATTERN,
        description: "The label's value.",
      },
    },
    matchExpressions: {
      type: "array",
      description: "Requirements on the pod's labels.",
      maxItems: MAX_MATCH_EXPRESSIONS,
      items: {
        type: "object",
        description: "One requirement on a label.",
        required: ["key", "operator"],
        "x-kubernetes-validations": [
          {
            rule:
              "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) " +
              ": (!has(self.values) || size(self.values) == 0)",
            message: POLICY_RULE_MESSAGES.selectorValues,
            fieldPath: ".values",
          },
        ],
        properties: {
          key: {
            type: "string",
            maxLength: MAX_LABEL_KEY_LENGTH,
            pattern: LABEL_KEY_PATTERN,
            description: "The label key, such as version or app.kubernetes.io/version.",
          },
          operator: {
            type: "string",
            enum: [...SELECTOR_OPERATORS],
            description:
              "In and NotIn need values; Exists and DoesNotExist take none. NotIn also holds " +
              "when the label is absent.",
          },
          values: {
            type: "array",
            maxItems: MAX_SELECTOR_VALUES,
            items: {
              type: "string",
              maxLength: MAX_LABEL_VALUE_LENGTH,
              pattern: LABEL_VALUE_PATTERN,
              description: "A label value.",
            },
            description: "The values for In and NotIn; none for Exists and DoesNotExist.",
          },
        },
      },
    },
  },
};

const healthCheckSchema: OpenApiSchema = {
  type: "object",
  description:
    "An active probe the operator sends to every endpoint of the Service, on top of the " +
    "readiness Kubernetes reports. An endpoint that fails unhealthyThreshold probes in a row " +
    "counts as unhealthy until it passes healthyThreshold in a row; with healthFilter on, it " +
    "gets no new requests meanwhile. Set exactly one of http and tcp.",
  "x-kubernetes-validations": [
    { rule: "has(self.http) != has(self.tcp)", message: HEALTH_CHECK_RULE_MESSAGES.oneProbe },
    {
      // The API server fills in both defaults before it runs the rules; the guards keep the rule
      // sound should a default ever be dropped.
      rule:
        "!has(self.timeout) || !has(self.interval) || " +
        `${notADuration("self.timeout")} || ${notADuration("self.interval")} || ` +
        "duration(self.timeout) < duration(self.interval)",
      message: HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval,
      fieldPath: ".timeout",
    },
  ],
  properties: {
    http: {
      type: "object",
      description:
        "Probe with an HTTP GET: a status from 200 to 399 passes, anything else (or no answer " +
        "within timeout) fails.",
      required: ["port"],
      properties: {
        path: {
          type: "string",
          pattern: HTTP_PATH_PATTERN,
          maxLength: MAX_HTTP_PATH_LENGTH,
          default: DEFAULT_HEALTH_CHECK_PATH,
          description:
            'The request path, starting with "/" (a query string may follow), in printable ' +
            "ASCII without spaces.",
        },
        port: portSchema("to probe"),
      },
    },
    tcp: {
      type: "object",
      description: "Probe by opening a TCP connection: it passes when the connection opens.",
      required: ["port"],
      properties: { port: portSchema("to connect to") },
    },
    interval: {
      ...durationSchema(
        "Time between the starts of two probes of an endpoint, " +
          `${durationRange(MIN_HEALTH_CHECK_INTERVAL_MS, MAX_HEALTH_CHECK_INTERVAL_MS)} in whole milliseconds.`,
      ),
      default: formatDuration(DEFAULT_HEALTH_CHECK_INTERVAL_MS),
      "x-kubernetes-validations": durationRules(
        "interval",
        MIN_HEALTH_CHECK_INTERVAL_MS,
        MAX_HEALTH_CHECK_INTERVAL_MS,
      ),
    },
    timeout: {
      ...durationSchema(
        "How long a probe may take before it counts as failed: " +
          `${durationRange(MIN_HEALTH_CHECK_TIMEOUT_MS, null)} and shorter than interval, in whole milliseconds.`,
      ),
      default: formatDuration(DEFAULT_HEALTH_CHECK_TIMEOUT_MS),
      "x-kubernetes-validations": durationRules("timeout", MIN_HEALTH_CHECK_TIMEOUT_MS, null),
    },
    unhealthyThreshold: {
      type: "integer",
      minimum: MIN_THRESHOLD,
      maximum: MAX_THRESHOLD,
      default: DEFAULT_UNHEALTHY_THRESHOLD,
      description: "Failed probes in a row that make a healthy endpoint unhealthy.",
    },
    healthyThreshold: {
      type: "integer",
      minimum: MIN_THRESHOLD,
      maximum: MAX_THRESHOLD,
      default: DEFAULT_HEALTHY_THRESHOLD,
      description: "Passed probes in a row that make an unhealthy endpoint healthy again.",
    },
  },
};

/** How the CRD writes durations and hashOn, for the strategies' settings (balancer/definition.ts). */
const crdKit: CrdSchemaKit = {
  duration: durationSchema,
  durationRules,
  formatDuration,
  durationRange,
  hashOn: hashOnSchema,
  labelSelector: () => labelSelectorSchema,
};

/** The spec's properties each policy feature adds, in the features' order. */
function featureSchemas(): Record<string, OpenApiSchema> {
  return Object.assign(
    {},
    ...POLICY_FEATURES.map((feature) => feature.crd(crdKit) as Record<string, OpenApiSchema>),
  );
}

/** Each strategy setting section of the registry, under its key, in the registry's order. */
function sectionSchemas(registry: StrategyRegistry): Record<string, OpenApiSchema> {
  return Object.fromEntries(
    registry.sections.map((section) => [section.key, section.crd(crdKit) as OpenApiSchema]),
  );
}

/**
 * The schema of LoadBalancingPolicy.spec.
 *
 * The settings of one strategy (ringHash, maglev, latency, leastConnections) are accepted
 * whatever `strategy` says: a request may choose another strategy with the `lb` parameter, and
 * it then runs with the policy's settings for that strategy; connections counted through the
 * connections API expire after leastConnections.connectionTimeout whichever strategy picked them.
 */
export function policySpecSchema(registry: StrategyRegistry = DEFAULT_REGISTRY): OpenApiSchema {
  return {
    type: "object",
    description: "How the operator balances requests over the endpoints of one Service.",
    required: ["targetRef"],
    "x-kubernetes-validations": POLICY_FEATURES.flatMap((feature) => feature.specRules ?? []),
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
            maxLength: 63,
            description: "The name of the Service.",
          },
        },
      },
      strategy: {
        type: "string",
        enum: [...registry.names],
        description:
          "The balancing strategy. When absent, the server's default strategy applies. A request " +
          "may still choose another with the lb parameter.",
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
          `lb.konsul.io/weight, otherwise 1. At most ${MAX_WEIGHT_RULES} entries.`,
        maxItems: MAX_WEIGHT_RULES,
        items: {
          type: "object",
          description: "A weight for the endpoints whose pods the selector matches.",
          required: ["selector", "weight"],
          properties: {
            selector: labelSelectorSchema,
            weight: {
              type: "integer",
              minimum: MIN_WEIGHT,
              maximum: MAX_WEIGHT,
              description: `The weight of the selected endpoints, from ${MIN_WEIGHT} to ${MAX_WEIGHT}.`,
            },
          },
        },
      },
      ...sectionSchemas(registry),
      healthCheck: healthCheckSchema,
      ...featureSchemas(),
    },
  };
}

export const loadBalancingPolicySpecSchema: OpenApiSchema = policySpecSchema();
