import {
  DNS_1123_SUBDOMAIN,
  DNS_1123_SUBDOMAIN_MAX_LENGTH,
  LABEL_NAME,
  LABEL_NAME_MAX_LENGTH,
} from "../shared/kubernetes-names.ts";
import type { LabelSelector } from "../shared/label-selector.ts";
import { appendPath } from "./field-path.ts";

/** Matching lives with the engine's other shared vocabulary; the API server's checks live here. */
export {
  type LabelSelector,
  type LabelSelectorRequirement,
  type Labels,
  matchesSelector,
  SELECTOR_OPERATORS,
  type SelectorOperator,
} from "../shared/label-selector.ts";

export const LABEL_KEY_RULE =
  "a label key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, " +
  "'-', '_' or '.', starting and ending with a letter or digit";
export const LABEL_VALUE_RULE =
  "a label value: empty, or at most 63 letters, digits, '-', '_' or '.', " +
  "starting and ending with a letter or digit";

/**
 * The same syntax as schema patterns, so that the API server rejects a bad label at apply time.
 * The key's pattern cannot hold the prefix to 253 characters; isLabelKey does, after the schema.
 */
export { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from "../shared/kubernetes-names.ts";

/** Label syntax, as the API server checks it: an optional subdomain prefix and a name part. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (
    prefix !== null &&
    (prefix.length > DNS_1123_SUBDOMAIN_MAX_LENGTH || !DNS_1123_SUBDOMAIN.test(prefix))
  ) {
    return false;
  }
  return name.length <= LABEL_NAME_MAX_LENGTH && LABEL_NAME.test(name);
}

export function isLabelValue(value: string): boolean {
  return value === "" || (value.length <= LABEL_NAME_MAX_LENGTH && LABEL_NAME.test(value));
}

function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * What the API server would reject in a structurally valid selector, one message per problem,
 * each naming the field under `path` (for example "spec.weights[0].selector").
 */
export function selectorErrors(selector: LabelSelector, path: string): string[] {
  const errors: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    const field = appendPath(`${path}.matchLabels`, key);
    if (!isLabelKey(key))
      errors.push(`${field}: key ${quote(key)} is not allowed; expected ${LABEL_KEY_RULE}`);
    if (!isLabelValue(value))
      errors.push(`${field}: ${quote(value)} is not allowed; expected ${LABEL_VALUE_RULE}`);
  }
  (selector.matchExpressions ?? []).forEach((requirement, index) => {
    const field = `${path}.matchExpressions[${index}]`;
    if (!isLabelKey(requirement.key)) {
      errors.push(
        `${field}.key: ${quote(requirement.key)} is not allowed; expected ${LABEL_KEY_RULE}`,
      );
    }
    const values = requirement.values ?? [];
    const needsValues = requirement.operator === "In" || requirement.operator === "NotIn";
    if (needsValues && values.length === 0) {
      errors.push(
        `${field}.values: [] is not allowed; expected at least one value for operator ${requirement.operator}`,
      );
    }
    if (!needsValues && values.length > 0) {
      errors.push(
        `${field}.values: ${JSON.stringify(values)} is not allowed; expected no values for operator ${requirement.operator}`,
      );
    }
    values.forEach((value, valueIndex) => {
      if (!isLabelValue(value)) {
        errors.push(
          `${field}.values[${valueIndex}]: ${quote(value)} is not allowed; expected ${LABEL_VALUE_RULE}`,
        );
      }
    });
  });
  return errors;
}
