/**
 * Turning a LoadBalancingPolicy's spec into a ParsedPolicy: the schema first, then the rules a
 * schema cannot state, then the core's own resolvePolicy as the last word. Every error names the
 * field path, the value and what is allowed.
 */

import type { BalancerPolicy, SpecKit, SpecProblem, StrategyName } from "../balancer/index.ts";
import {
  DEFAULT_REGISTRY,
  isBalancerError,
  POLICY_FEATURES,
  resolvePolicy,
} from "../balancer/index.ts";
import { showValue } from "../shared/show-value.ts";
import {
  DURATION_EXAMPLES,
  DURATION_PATTERN,
  formatDuration,
  tryParseDuration,
} from "./duration.ts";
import type { PathSegment, SchemaProblem } from "./field-path.ts";
import { formatPath } from "./field-path.ts";
import type { HealthCheckSpec } from "./health-check.ts";
import {
  checkHealthCheck,
  HTTP_PATH_PATTERN,
  HTTP_PATH_RULE,
  PORT_NAME_PATTERN,
  PORT_NAME_RULE,
} from "./health-check.ts";
import type { LoadBalancingPolicySpec, TargetKind } from "./schema.ts";
import { DNS_1035_LABEL_PATTERN, loadBalancingPolicySpecSchema } from "./schema.ts";
import { compileSchema, describeAllowed } from "./schema-check.ts";
import type { LabelSelector } from "./selector.ts";
import {
  LABEL_KEY_PATTERN,
  LABEL_KEY_RULE,
  LABEL_VALUE_PATTERN,
  LABEL_VALUE_RULE,
  selectorErrors,
} from "./selector.ts";

export type { HealthCheckSpec } from "./health-check.ts";

export interface PolicyMetadata {
  readonly name: string;
  readonly namespace: string;
  /** As the API returns it: an RFC 3339 string, or a Date from a typed client. */
  readonly creationTimestamp?: string | Date | null | undefined;
}

export interface WeightRule {
  readonly selector: LabelSelector;
  readonly weight: number;
}

/** A policy that passed validation, in the units the balancing core uses. */
export interface ParsedPolicy {
  readonly name: string;
  readonly namespace: string;
  /** RFC 3339, or null when the object carries none (manifest files usually do not). */
  readonly creationTimestamp: string | null;
  readonly targetRef: { readonly kind: TargetKind; readonly name: string };
  /** null: the server's default strategy applies. */
  readonly strategy: StrategyName | null;
  readonly weights: readonly WeightRule[];
  /** Only the fields the spec sets; resolvePolicy fills in the rest. */
  readonly balancer: BalancerPolicy;
  /** The active probe, defaults filled in; null when the spec asks for none. */
  readonly healthCheck: HealthCheckSpec | null;
}

export type PolicyValidation =
  | { readonly ok: true; readonly policy: ParsedPolicy }
  | {
      readonly ok: false;
      /** One message per problem, each starting with the field path. */
      readonly errors: readonly string[];
      /** The same problems with their paths, for pointing at a line in a file. */
      readonly problems: readonly SchemaProblem[];
    };

const checkSpecSchema = compileSchema(loadBalancingPolicySpecSchema, {
  closed: true,
  patternNames: {
    [DNS_1035_LABEL_PATTERN]:
      "a Service name: at most 63 lowercase letters, digits or '-', starting with a letter " +
      "and ending with a letter or digit",
    [DURATION_PATTERN]: `a duration such as ${DURATION_EXAMPLES}`,
    [PORT_NAME_PATTERN]: PORT_NAME_RULE,
    [LABEL_KEY_PATTERN]: LABEL_KEY_RULE,
    [LABEL_VALUE_PATTERN]: LABEL_VALUE_RULE,
    [HTTP_PATH_PATTERN]: HTTP_PATH_RULE,
  },
});

const SPEC: readonly PathSegment[] = ["spec"];

function problem(path: readonly PathSegment[], detail: string): SchemaProblem {
  return { path, message: `${formatPath(path)}: ${detail}` };
}

function notAllowed(path: readonly PathSegment[], value: unknown, allowed: string): SchemaProblem {
  return problem(path, `${showValue(value)} is not allowed; expected ${allowed}`);
}

/**
 * The checks that follow the schema; `spec` has already passed it. With checkHealthCheck they
 * cover every CEL rule of the CRD (the same conditions), so a file is held to what `kubectl
 * apply` would be, and add the few checks the API server cannot afford.
 */
function semanticProblems(spec: LoadBalancingPolicySpec): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  spec.weights?.forEach((rule, index) => {
    const path = [...SPEC, "weights", index, "selector"];
    for (const message of selectorErrors(rule.selector, formatPath(path))) {
      problems.push({ path, message });
    }
  });
  spec.subsets?.forEach((subset, index) => {
    const path = [...SPEC, "subsets", index, "selector"];
    for (const message of selectorErrors(subset.selector, formatPath(path))) {
      problems.push({ path, message });
    }
  });
  sectionsFromSpec(spec, problems);
  featuresFromSpec(spec, problems);
  return problems;
}

/**
 * The policy features' fields the spec sets, in the engine's units; what the features' rules
 * forbid (the CRD's CEL rules, in code) is added to `problems`.
 */
function featuresFromSpec(
  spec: LoadBalancingPolicySpec,
  problems: SchemaProblem[],
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const feature of POLICY_FEATURES) {
    const found: SpecProblem[] = [];
    Object.assign(
      fields,
      feature.fromSpec(spec as unknown as Record<string, unknown>, specKit, found),
    );
    for (const { path, value, allowed } of found) {
      problems.push(notAllowed([...SPEC, ...path], value, allowed));
    }
  }
  return fields;
}

function copySelector(selector: LabelSelector): LabelSelector {
  const copy: { -readonly [K in keyof LabelSelector]: LabelSelector[K] } = {};
  if (selector.matchLabels !== undefined) copy.matchLabels = { ...selector.matchLabels };
  if (selector.matchExpressions !== undefined) {
    copy.matchExpressions = selector.matchExpressions.map((requirement) =>
      requirement.values === undefined
        ? { key: requirement.key, operator: requirement.operator }
        : { key: requirement.key, operator: requirement.operator, values: [...requirement.values] },
    );
  }
  return copy;
}

const specKit: SpecKit = { parseDuration: tryParseDuration, formatDuration };

/**
 * The strategies' setting sections the spec sets, in the engine's units, each converted by the
 * section that owns it; what a section cannot take is added to `problems`.
 */
function sectionsFromSpec(
  spec: LoadBalancingPolicySpec,
  problems: SchemaProblem[],
): Record<string, unknown> {
  const sections: Record<string, unknown> = {};
  for (const section of DEFAULT_REGISTRY.sections) {
    const written = (spec as unknown as Record<string, unknown>)[section.key];
    if (written === undefined || written === null || typeof written !== "object") continue;
    const found: SpecProblem[] = [];
    sections[section.key] = section.fromSpec
      ? section.fromSpec(written, specKit, found)
      : { ...written };
    for (const { path, value, allowed } of found) {
      problems.push(notAllowed([...SPEC, section.key, ...path], value, allowed));
    }
  }
  return sections;
}

/** The spec in the core's shape and units; only fields the spec sets. */
function balancerPolicy(spec: LoadBalancingPolicySpec): BalancerPolicy {
  const policy: BalancerPolicy = {};
  if (spec.healthFilter !== undefined) policy.healthFilter = spec.healthFilter;
  if (spec.panicThreshold !== undefined) policy.panicThreshold = spec.panicThreshold;
  Object.assign(policy, sectionsFromSpec(spec, []), featuresFromSpec(spec, []));
  return policy;
}

function timestamp(value: PolicyMetadata["creationTimestamp"]): string | null {
  if (value === undefined || value === null) return null;
  return value instanceof Date ? value.toISOString() : value;
}

function failure(problems: SchemaProblem[]): PolicyValidation {
  return { ok: false, errors: problems.map((p) => p.message), problems };
}

/** Validates a policy's spec; `spec` is the object as read, of any shape. */
export function validatePolicy(metadata: PolicyMetadata, spec: unknown): PolicyValidation {
  if (spec === undefined || spec === null) {
    return failure([
      problem(SPEC, `is required; expected ${describeAllowed(loadBalancingPolicySpecSchema)}`),
    ]);
  }
  const schemaProblems = checkSpecSchema(spec, SPEC);
  if (schemaProblems.length > 0) return failure(schemaProblems);
  const typed = spec as LoadBalancingPolicySpec;
  const problems = semanticProblems(typed);
  const healthCheck =
    typed.healthCheck === undefined
      ? { problems: [], spec: null }
      : checkHealthCheck(typed.healthCheck, [...SPEC, "healthCheck"]);
  problems.push(...healthCheck.problems);
  if (problems.length > 0) return failure(problems);
  const balancer = balancerPolicy(typed);
  try {
    resolvePolicy(balancer);
  } catch (error) {
    // Reached only if the core tightens a rule this module does not know yet; its message
    // names the field in the core's terms, which match the spec's but for the "spec." prefix.
    if (!isBalancerError(error)) throw error;
    return failure([{ path: SPEC, message: `spec.${error.message}` }]);
  }
  return {
    ok: true,
    policy: {
      name: metadata.name,
      namespace: metadata.namespace,
      creationTimestamp: timestamp(metadata.creationTimestamp),
      targetRef: { kind: typed.targetRef.kind ?? "Service", name: typed.targetRef.name },
      strategy: typed.strategy ?? null,
      weights: (typed.weights ?? []).map((rule) => ({
        selector: copySelector(rule.selector),
        weight: rule.weight,
      })),
      balancer,
      healthCheck: healthCheck.spec,
    },
  };
}
