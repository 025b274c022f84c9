/**
 * LoadBalancingPolicy specs that must not take effect, with what rejects each and a part of the
 * message that says so. test/policy/crd.test.ts checks every entry against the CRD's schema (ajv)
 * and the file source (validatePolicy); the cluster suite can `kubectl apply` each one and check
 * the API server's message (schema, cel) or the Accepted=False condition (controller).
 */

import { LOCALITY_RULE_MESSAGES } from "../../src/balancer/features/locality/index.ts";
import { AGGRESSION_RULE_MESSAGE } from "../../src/balancer/features/slow-start/index.ts";
import { SUBSET_RULE_MESSAGES } from "../../src/balancer/features/subsets/index.ts";
import { STDEV_FACTOR_RULE_MESSAGE } from "../../src/balancer/index.ts";
import { HEALTH_CHECK_RULE_MESSAGES } from "../../src/policy/health-check.ts";
import { POLICY_RULE_MESSAGES } from "../../src/policy/schema.ts";

export interface InvalidPolicy {
  /** Unique, and a valid metadata.name suffix. */
  readonly name: string;
  /**
   * What turns it away. schema: the CRD's OpenAPI schema, at `kubectl apply`. cel: one of the
   * CRD's x-kubernetes-validations rules, at `kubectl apply`. controller: nothing at apply; the
   * operator sets Accepted=False (rules the API server cannot afford to check).
   */
  readonly rejectedBy: "schema" | "cel" | "controller";
  readonly spec: Readonly<Record<string, unknown>>;
  /** Part of the API server's error (schema, cel) or of the Accepted condition's message. */
  readonly expectMessageContains: string;
  /** Part of the file source's message for the same spec. */
  readonly fileMessageContains: string;
}

const targetRef = { kind: "Service", name: "checkout" };
const tcp = { port: 8080 };

export const INVALID_POLICIES: readonly InvalidPolicy[] = [
  // ---- the OpenAPI schema
  {
    name: "missing-target",
    rejectedBy: "schema",
    spec: { strategy: "round-robin" },
    expectMessageContains: "spec.targetRef: Required value",
    fileMessageContains: "spec.targetRef: is required",
  },
  {
    name: "target-not-a-service-name",
    rejectedBy: "schema",
    spec: { targetRef: { name: "Checkout_1" } },
    expectMessageContains: "spec.targetRef.name in body should match",
    fileMessageContains: 'spec.targetRef.name: "Checkout_1" is not allowed',
  },
  {
    name: "target-of-another-kind",
    rejectedBy: "schema",
    spec: { targetRef: { kind: "Deployment", name: "checkout" } },
    expectMessageContains: 'spec.targetRef.kind: Unsupported value: "Deployment"',
    fileMessageContains:
      'spec.targetRef.kind: "Deployment" is not allowed; expected one of Service',
  },
  {
    // Rejected by kubectl's default strict field validation (--validate=strict); with
    // --validate=false the API server would drop the field silently instead.
    name: "unknown-field",
    rejectedBy: "schema",
    spec: { targetRef, ringhash: { virtualNodes: 10 } },
    expectMessageContains: 'unknown field "spec.ringhash"',
    fileMessageContains: "spec.ringhash: unknown field",
  },
  {
    name: "unknown-strategy",
    rejectedBy: "schema",
    spec: { targetRef, strategy: "fastest" },
    expectMessageContains: 'spec.strategy: Unsupported value: "fastest"',
    fileMessageContains: 'spec.strategy: "fastest" is not allowed',
  },
  {
    name: "health-filter-not-boolean",
    rejectedBy: "schema",
    spec: { targetRef, healthFilter: "yes" },
    expectMessageContains: "spec.healthFilter in body must be of type boolean",
    fileMessageContains: 'spec.healthFilter: "yes" is not allowed; expected true or false',
  },
  {
    name: "panic-threshold-over-100",
    rejectedBy: "schema",
    spec: { targetRef, panicThreshold: 101 },
    expectMessageContains: "spec.panicThreshold in body should be less than or equal to 100",
    fileMessageContains: "spec.panicThreshold: 101 is not allowed; expected a number from 0 to 100",
  },
  {
    name: "weight-zero",
    rejectedBy: "schema",
    spec: { targetRef, weights: [{ selector: {}, weight: 0 }] },
    expectMessageContains: "spec.weights[0].weight in body should be greater than or equal to 1",
    fileMessageContains:
      "spec.weights[0].weight: 0 is not allowed; expected an integer from 1 to 1000",
  },
  {
    name: "weight-over-1000",
    rejectedBy: "schema",
    spec: { targetRef, weights: [{ selector: {}, weight: 1001 }] },
    expectMessageContains: "spec.weights[0].weight in body should be less than or equal to 1000",
    fileMessageContains: "spec.weights[0].weight: 1001 is not allowed",
  },
  {
    name: "too-many-weights",
    rejectedBy: "schema",
    spec: {
      targetRef,
      weights: Array.from({ length: 65 }, (_, i) => ({
        selector: { matchLabels: { shard: String(i) } },
        weight: 1,
      })),
    },
    expectMessageContains: "spec.weights: Too many: 65: must have at most 64 items",
    fileMessageContains: "spec.weights: has 65 items; at most 64 are allowed",
  },
  {
    name: "unknown-selector-operator",
    rejectedBy: "schema",
    spec: {
      targetRef,
      weights: [
        {
          selector: { matchExpressions: [{ key: "track", operator: "Like", values: ["c"] }] },
          weight: 2,
        },
      ],
    },
    expectMessageContains:
      'spec.weights[0].selector.matchExpressions[0].operator: Unsupported value: "Like"',
    fileMessageContains:
      'spec.weights[0].selector.matchExpressions[0].operator: "Like" is not allowed',
  },
  {
    name: "selector-bad-label-value",
    rejectedBy: "schema",
    spec: { targetRef, weights: [{ selector: { matchLabels: { version: "v2!" } }, weight: 3 }] },
    expectMessageContains: "spec.weights[0].selector.matchLabels.version in body should match",
    fileMessageContains:
      'spec.weights[0].selector.matchLabels.version: "v2!" is not allowed; expected a label value',
  },
  {
    name: "selector-bad-expression-key",
    rejectedBy: "schema",
    spec: {
      targetRef,
      weights: [
        { selector: { matchExpressions: [{ key: "-track", operator: "Exists" }] }, weight: 2 },
      ],
    },
    expectMessageContains: "spec.weights[0].selector.matchExpressions[0].key in body should match",
    fileMessageContains:
      'spec.weights[0].selector.matchExpressions[0].key: "-track" is not allowed; expected a label key',
  },
  {
    name: "virtual-nodes-over-10000",
    rejectedBy: "schema",
    spec: { targetRef, strategy: "ring-hash", ringHash: { virtualNodes: 10_001 } },
    expectMessageContains:
      "spec.ringHash.virtualNodes in body should be less than or equal to 10000",
    fileMessageContains:
      "spec.ringHash.virtualNodes: 10001 is not allowed; expected an integer from 1 to 10000",
  },
  {
    name: "balance-factor-under-100",
    rejectedBy: "schema",
    spec: { targetRef, strategy: "ring-hash", ringHash: { balanceFactor: 99 } },
    expectMessageContains:
      "spec.ringHash.balanceFactor in body should be greater than or equal to 100",
    fileMessageContains: "spec.ringHash.balanceFactor: 99 is not allowed",
  },
  {
    name: "unknown-hash-on",
    rejectedBy: "schema",
    spec: { targetRef, strategy: "maglev", maglev: { hashOn: "cookie" } },
    expectMessageContains: 'spec.maglev.hashOn: Unsupported value: "cookie"',
    fileMessageContains:
      'spec.maglev.hashOn: "cookie" is not allowed; expected one of session-key, client-ip',
  },
  {
    name: "maglev-table-too-large",
    rejectedBy: "schema",
    spec: { targetRef, strategy: "maglev", maglev: { tableSize: 5_000_012 } },
    expectMessageContains: "spec.maglev.tableSize in body should be less than or equal to 5000011",
    fileMessageContains: "spec.maglev.tableSize: 5000012 is not allowed",
  },
  {
    name: "latency-without-unit",
    rejectedBy: "schema",
    spec: {
      targetRef,
      strategy: "latency-based",
      latency: { map: { "us-east": { "eu-west": "80" } } },
    },
    expectMessageContains: "in body should match",
    fileMessageContains:
      'spec.latency.map.us-east.eu-west: "80" is not allowed; expected a duration',
  },
  {
    name: "health-check-port-zero",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { tcp: { port: 0 } } },
    expectMessageContains: "spec.healthCheck.tcp.port in body should be greater than or equal to 1",
    fileMessageContains:
      "spec.healthCheck.tcp.port: 0 is not allowed; expected an integer from 1 to 65535",
  },
  {
    name: "health-check-port-name-uppercase",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { http: { path: "/healthz", port: "HTTP" } } },
    expectMessageContains: "spec.healthCheck.http.port in body should match",
    fileMessageContains: 'spec.healthCheck.http.port: "HTTP" is not allowed',
  },
  {
    name: "health-check-path-relative",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { http: { path: "healthz", port: 8080 } } },
    expectMessageContains: "spec.healthCheck.http.path in body should match",
    fileMessageContains:
      'spec.healthCheck.http.path: "healthz" is not allowed; expected a path starting with "/"',
  },
  {
    name: "health-check-without-port",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { http: { path: "/healthz" } } },
    expectMessageContains: "spec.healthCheck.http.port: Required value",
    fileMessageContains: "spec.healthCheck.http.port: is required",
  },
  {
    name: "health-check-threshold-zero",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { tcp, unhealthyThreshold: 0 } },
    expectMessageContains:
      "spec.healthCheck.unhealthyThreshold in body should be greater than or equal to 1",
    fileMessageContains:
      "spec.healthCheck.unhealthyThreshold: 0 is not allowed; expected an integer from 1 to 100",
  },
  {
    name: "health-check-interval-without-unit",
    rejectedBy: "schema",
    spec: { targetRef, healthCheck: { tcp, interval: "10" } },
    expectMessageContains: "spec.healthCheck.interval in body should match",
    fileMessageContains: 'spec.healthCheck.interval: "10" is not allowed; expected a duration',
  },

  // ---- CEL rules (x-kubernetes-validations)
  {
    name: "health-check-http-and-tcp",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { http: { path: "/healthz", port: 8080 }, tcp } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.oneProbe,
    fileMessageContains: `spec.healthCheck: ${HEALTH_CHECK_RULE_MESSAGES.oneProbe}`,
  },
  {
    name: "health-check-no-probe",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { interval: "5s" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.oneProbe,
    fileMessageContains: `spec.healthCheck: ${HEALTH_CHECK_RULE_MESSAGES.oneProbe}`,
  },
  {
    name: "health-check-timeout-not-below-interval",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, interval: "5s", timeout: "5s" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval,
    fileMessageContains: `spec.healthCheck.timeout: "5s" is not allowed; ${HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval}`,
  },
  {
    // Only the timeout is set; the interval it is checked against is the default, 10s.
    name: "health-check-timeout-over-default-interval",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, timeout: "15s" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval,
    fileMessageContains: HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval,
  },
  {
    name: "health-check-interval-too-short",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, interval: "500ms", timeout: "100ms" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.intervalRange,
    fileMessageContains: `spec.healthCheck.interval: "500ms" is not allowed; ${HEALTH_CHECK_RULE_MESSAGES.intervalRange}`,
  },
  {
    name: "health-check-interval-too-long",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, interval: "2h" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.intervalRange,
    fileMessageContains: HEALTH_CHECK_RULE_MESSAGES.intervalRange,
  },
  {
    name: "health-check-timeout-zero",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, timeout: "0s" } },
    expectMessageContains: HEALTH_CHECK_RULE_MESSAGES.timeoutMinimum,
    fileMessageContains: HEALTH_CHECK_RULE_MESSAGES.timeoutMinimum,
  },
  {
    name: "health-check-interval-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, interval: "1000500us", timeout: "500ms" } },
    expectMessageContains: `interval ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: `interval ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
  },
  {
    name: "health-check-timeout-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, healthCheck: { tcp, timeout: "1500us" } },
    expectMessageContains: `timeout ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: `timeout ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
  },
  {
    name: "connection-timeout-over-24h",
    rejectedBy: "cel",
    spec: {
      targetRef,
      strategy: "least-connections",
      leastConnections: { connectionTimeout: "25h" },
    },
    expectMessageContains: POLICY_RULE_MESSAGES.connectionTimeoutRange,
    fileMessageContains: "from 1ms to 24h",
  },
  {
    name: "connection-timeout-sub-millisecond",
    rejectedBy: "cel",
    spec: {
      targetRef,
      strategy: "least-connections",
      leastConnections: { connectionTimeout: "1500us" },
    },
    expectMessageContains: `connectionTimeout ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    name: "selector-in-without-values",
    rejectedBy: "cel",
    spec: {
      targetRef,
      weights: [{ selector: { matchExpressions: [{ key: "track", operator: "In" }] }, weight: 2 }],
    },
    expectMessageContains: POLICY_RULE_MESSAGES.selectorValues,
    fileMessageContains: "expected at least one value for operator In",
  },
  {
    name: "selector-exists-with-values",
    rejectedBy: "cel",
    spec: {
      targetRef,
      weights: [
        {
          selector: {
            matchExpressions: [{ key: "track", operator: "Exists", values: ["canary"] }],
          },
          weight: 2,
        },
      ],
    },
    expectMessageContains: POLICY_RULE_MESSAGES.selectorValues,
    fileMessageContains: "expected no values for operator Exists",
  },

  {
    name: "peak-ewma-decay-too-long",
    rejectedBy: "cel",
    spec: {
      targetRef,
      strategy: "least-request",
      leastRequest: { cost: "peak-ewma", decay: "2h" },
    },
    expectMessageContains: "decay must be from 1ms to 1h",
    fileMessageContains: 'spec.leastRequest.decay: "2h" is not allowed',
  },
  {
    name: "peak-ewma-decay-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, leastRequest: { decay: "10500us" } },
    expectMessageContains: `decay ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    name: "outlier-interval-too-short",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { interval: "10ms" } },
    expectMessageContains: "interval must be from 100ms to 1h",
    fileMessageContains: 'spec.outlierDetection.interval: "10ms" is not allowed',
  },
  {
    name: "outlier-interval-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { interval: "1000500us" } },
    expectMessageContains: `interval ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    name: "outlier-base-ejection-too-long",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { baseEjectionTime: "25h" } },
    expectMessageContains: "baseEjectionTime must be from 1ms to 24h",
    fileMessageContains: 'spec.outlierDetection.baseEjectionTime: "25h" is not allowed',
  },
  {
    name: "outlier-base-ejection-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { baseEjectionTime: "1500us" } },
    expectMessageContains: `baseEjectionTime ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    name: "outlier-max-ejection-too-long",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { maxEjectionTime: "48h" } },
    expectMessageContains: "maxEjectionTime must be from 1ms to 24h",
    fileMessageContains: 'spec.outlierDetection.maxEjectionTime: "48h" is not allowed',
  },
  {
    name: "outlier-max-ejection-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { maxEjectionTime: "2500us" } },
    expectMessageContains: `maxEjectionTime ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    // A whole 0 is what `minimum: 0.1` would let through loosely; the CEL rule does not.
    name: "outlier-stdev-factor-zero",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { successRate: { stdevFactor: 0 } } },
    expectMessageContains: STDEV_FACTOR_RULE_MESSAGE,
    fileMessageContains: "spec.outlierDetection.successRate.stdevFactor: 0 is not allowed",
  },
  {
    name: "outlier-stdev-factor-negative",
    rejectedBy: "cel",
    spec: { targetRef, outlierDetection: { successRate: { stdevFactor: -1.5 } } },
    expectMessageContains: STDEV_FACTOR_RULE_MESSAGE,
    fileMessageContains: "spec.outlierDetection.successRate.stdevFactor: -1.5 is not allowed",
  },
  {
    name: "outlier-max-ejection-percent-over-100",
    rejectedBy: "schema",
    spec: { targetRef, outlierDetection: { maxEjectionPercent: 150 } },
    expectMessageContains: "spec.outlierDetection.maxEjectionPercent: Invalid value: 150",
    fileMessageContains: "spec.outlierDetection.maxEjectionPercent: 150 is not allowed",
  },
  {
    name: "least-request-unknown-cost",
    rejectedBy: "schema",
    spec: { targetRef, leastRequest: { cost: "latency" } },
    expectMessageContains: 'spec.leastRequest.cost: Unsupported value: "latency"',
    fileMessageContains: 'spec.leastRequest.cost: "latency" is not allowed',
  },

  // ---- the operator only: the API server accepts these, the policy gets Accepted=False
  {
    name: "maglev-table-not-prime",
    rejectedBy: "controller",
    spec: { targetRef, strategy: "maglev", maglev: { tableSize: 65_536 } },
    expectMessageContains: "spec.maglev.tableSize: 65536 is not allowed; expected a prime number",
    fileMessageContains: "spec.maglev.tableSize: 65536 is not allowed; expected a prime number",
  },
  {
    // A map key has no pattern in a CRD, and a CEL rule over every key of every selector would
    // cost more than the API server allows.
    name: "selector-bad-label-key",
    rejectedBy: "controller",
    spec: { targetRef, weights: [{ selector: { matchLabels: { "-version": "v2" } }, weight: 3 }] },
    expectMessageContains: 'key "-version" is not allowed',
    fileMessageContains: 'key "-version" is not allowed',
  },
  {
    name: "latency-beyond-a-duration",
    rejectedBy: "controller",
    spec: {
      targetRef,
      strategy: "latency-based",
      latency: { map: { "us-east": { "eu-west": "9999999h" } } },
    },
    expectMessageContains: "expected a duration of at most 2562047h",
    fileMessageContains: "expected a duration of at most 2562047h",
  },
  // ---- policy features: subsets and slow start
  {
    name: "subset-name-not-a-dns-label",
    rejectedBy: "schema",
    spec: { targetRef, subsets: [{ name: "V1", selector: { matchLabels: { version: "v1" } } }] },
    expectMessageContains: "spec.subsets[0].name in body should match",
    fileMessageContains: 'spec.subsets[0].name: "V1" is not allowed',
  },
  {
    name: "subset-names-twice",
    rejectedBy: "cel",
    spec: {
      targetRef,
      subsets: [
        { name: "v1", selector: { matchLabels: { version: "v1" } } },
        { name: "v1", selector: { matchLabels: { version: "v2" } } },
      ],
    },
    expectMessageContains: SUBSET_RULE_MESSAGES.unique,
    fileMessageContains: 'spec.subsets[1].name: "v1" is not allowed',
  },
  {
    name: "default-subset-not-a-subset",
    rejectedBy: "cel",
    spec: {
      targetRef,
      subsets: [{ name: "v1", selector: { matchLabels: { version: "v1" } } }],
      defaultSubset: "v3",
    },
    expectMessageContains: SUBSET_RULE_MESSAGES.defaultNamesSubset,
    fileMessageContains: 'spec.defaultSubset: "v3" is not allowed; expected one of v1',
  },
  {
    name: "slow-start-without-window",
    rejectedBy: "schema",
    spec: { targetRef, slowStart: { aggression: 2 } },
    expectMessageContains: "spec.slowStart.window: Required value",
    fileMessageContains: "spec.slowStart.window: is required",
  },
  {
    name: "slow-start-window-too-long",
    rejectedBy: "cel",
    spec: { targetRef, slowStart: { window: "2h" } },
    expectMessageContains: "window must be from 1ms to 1h",
    fileMessageContains: 'spec.slowStart.window: "2h" is not allowed',
  },
  {
    name: "slow-start-window-sub-millisecond",
    rejectedBy: "cel",
    spec: { targetRef, slowStart: { window: "1500us" } },
    expectMessageContains: `window ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
    fileMessageContains: "whole number of milliseconds",
  },
  {
    // A whole number: the API server reads it as an int, and `minimum` alone would let 0 pass
    // an exclusive bound; the CEL rule converts with double() first.
    name: "slow-start-aggression-zero",
    rejectedBy: "cel",
    spec: { targetRef, slowStart: { window: "30s", aggression: 0 } },
    expectMessageContains: AGGRESSION_RULE_MESSAGE,
    fileMessageContains: "spec.slowStart.aggression: 0 is not allowed",
  },
  {
    name: "slow-start-aggression-negative",
    rejectedBy: "cel",
    spec: { targetRef, slowStart: { window: "30s", aggression: -0.5 } },
    expectMessageContains: AGGRESSION_RULE_MESSAGE,
    fileMessageContains: "spec.slowStart.aggression: -0.5 is not allowed",
  },
  {
    name: "slow-start-min-weight-over-100",
    rejectedBy: "schema",
    spec: { targetRef, slowStart: { window: "30s", minWeightPercent: 150 } },
    expectMessageContains: "spec.slowStart.minWeightPercent: Invalid value",
    fileMessageContains: "spec.slowStart.minWeightPercent: 150 is not allowed",
  }, // ---- locality
  {
    name: "locality-mode-unknown",
    rejectedBy: "schema",
    spec: { targetRef, locality: { mode: "PreferSameRack" } },
    expectMessageContains: "spec.locality.mode: Unsupported value",
    fileMessageContains: 'spec.locality.mode: "PreferSameRack" is not allowed',
  },
  {
    name: "locality-failover-unknown-label",
    rejectedBy: "schema",
    spec: { targetRef, locality: { failoverPriority: ["rack"] } },
    expectMessageContains: "spec.locality.failoverPriority[0]: Unsupported value",
    fileMessageContains: 'spec.locality.failoverPriority[0]: "rack" is not allowed',
  },
  {
    name: "locality-failover-label-twice",
    rejectedBy: "cel",
    spec: {
      targetRef,
      locality: {
        failoverPriority: ["topology.kubernetes.io/zone", "topology.kubernetes.io/zone"],
      },
    },
    expectMessageContains: LOCALITY_RULE_MESSAGES.uniqueLabels,
    fileMessageContains:
      'spec.locality.failoverPriority[1]: "topology.kubernetes.io/zone" is not allowed',
  },
  {
    name: "locality-failover-with-mode-none",
    rejectedBy: "cel",
    spec: {
      targetRef,
      locality: { mode: "None", failoverPriority: ["topology.kubernetes.io/zone"] },
    },
    expectMessageContains: LOCALITY_RULE_MESSAGES.failoverWithoutMode,
    fileMessageContains: "spec.locality.failoverPriority:",
  },
  {
    // A whole number arrives in CEL as an int: the rule converts with double() first.
    name: "locality-min-local-healthy-negative",
    rejectedBy: "cel",
    spec: { targetRef, locality: { minLocalHealthyPercent: -1 } },
    expectMessageContains: "minLocalHealthyPercent must be from 0 to 100",
    fileMessageContains: "spec.locality.minLocalHealthyPercent: -1 is not allowed",
  },
  {
    name: "locality-min-local-healthy-over-100",
    rejectedBy: "schema",
    spec: { targetRef, locality: { minLocalHealthyPercent: 150 } },
    expectMessageContains: "spec.locality.minLocalHealthyPercent: Invalid value",
    fileMessageContains: "spec.locality.minLocalHealthyPercent: 150 is not allowed",
  },
  {
    name: "locality-distribute-not-100",
    rejectedBy: "cel",
    spec: {
      targetRef,
      locality: { distribute: [{ from: "eu-west/eu-west-1a", to: { "eu-west/*": 70 } }] },
    },
    expectMessageContains: LOCALITY_RULE_MESSAGES.distributeTotal,
    fileMessageContains: "spec.locality.distribute[0].to:",
  },
  {
    name: "locality-distribute-bad-from",
    rejectedBy: "schema",
    spec: {
      targetRef,
      locality: { distribute: [{ from: "eu-west/", to: { "*": 100 } }] },
    },
    expectMessageContains: "spec.locality.distribute[0].from in body should match",
    fileMessageContains: 'spec.locality.distribute[0].from: "eu-west/" is not allowed',
  },
  {
    name: "locality-distribute-bad-target",
    rejectedBy: "cel",
    spec: {
      targetRef,
      locality: { distribute: [{ from: "*", to: { "eu-west/a/b": 100 } }] },
    },
    expectMessageContains: "the localities of to must be written region, region/zone",
    fileMessageContains: 'spec.locality.distribute[0].to: "eu-west/a/b" is not allowed',
  },
  {
    name: "locality-distribute-with-mode-none",
    rejectedBy: "cel",
    spec: {
      targetRef,
      locality: { mode: "None", distribute: [{ from: "*", to: { "*": 100 } }] },
    },
    expectMessageContains: LOCALITY_RULE_MESSAGES.distributeWithoutMode,
    fileMessageContains: "spec.locality.distribute:",
  },
];
