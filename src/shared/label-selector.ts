/**
 * metav1.LabelSelector and its matching, shared by the translation (weights by labels) and the
 * engine (subsets). Pure: the checks the API server applies to a selector are src/policy's.
 * A selector matches when every matchLabels pair and every matchExpressions requirement holds;
 * an empty selector matches every set of labels.
 */

export const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
export type SelectorOperator = (typeof SELECTOR_OPERATORS)[number];

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export type Labels = Readonly<Record<string, string>>;

function has(labels: Labels, key: string): boolean {
  return Object.hasOwn(labels, key);
}

function requirementHolds(requirement: LabelSelectorRequirement, labels: Labels): boolean {
  const present = has(labels, requirement.key);
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case "In":
      return present && values.includes(labels[requirement.key] as string);
    case "NotIn":
      // As in Kubernetes, a missing label is "not in" any set.
      return !present || !values.includes(labels[requirement.key] as string);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
  }
}

/** Whether `labels` satisfy `selector`. A null selector selects nothing, as in Kubernetes. */
export function matchesSelector(
  selector: LabelSelector | null | undefined,
  labels: Labels,
): boolean {
  if (selector === null || selector === undefined) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(labels, key) || labels[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    if (!requirementHolds(requirement, labels)) return false;
  }
  return true;
}
