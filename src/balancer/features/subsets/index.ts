/**
 * `spec.subsets` and `spec.defaultSubset`: named parts of a Service chosen by pod labels, which
 * a request asks for by name (`subset=<name>` over HTTP, `<name>.subset.<service>...` over
 * DNS). A subset is balanced on its own — its own pickers and hash tables, built lazily from
 * the same strategy definitions and cached like the whole service's — while connection counts
 * stay the service's, since a subset's pods are the service's pods.
 */

import {
  DNS_1123_LABEL_MAX_LENGTH,
  DNS_1123_LABEL_PATTERN,
} from "../../../shared/kubernetes-names.ts";
import { type LabelSelector, matchesSelector } from "../../../shared/label-selector.ts";
import type { Endpoint } from "../../endpoint.ts";
import { BalancerError } from "../../errors.ts";
import type { ResolvedPolicy } from "../../policy.ts";
import { invalid } from "../../strategies/shared/settings-check.ts";
import type { Narrowing, PolicyFeature } from "../feature.ts";

export const MAX_SUBSETS = 16;
const DNS_LABEL = new RegExp(DNS_1123_LABEL_PATTERN);

export const SUBSET_RULE_MESSAGES = {
  unique: "subset names must be unique",
  defaultNamesSubset: "defaultSubset must be the name of one of subsets",
} as const;

export interface SubsetDefinition {
  readonly name: string;
  readonly selector: LabelSelector;
}

export interface ResolvedSubsets {
  /** By name, in the policy's order. */
  readonly byName: ReadonlyMap<string, Narrowing>;
  /** The subset of a request that names none; null = the whole service. */
  readonly defaultSubset: Narrowing | null;
}

const NO_SUBSETS: ResolvedSubsets = { byName: new Map(), defaultSubset: null };

function narrowingOf(subset: SubsetDefinition): Narrowing {
  return {
    name: subset.name,
    filter: (endpoints: readonly Endpoint[]) =>
      endpoints.filter((endpoint) => matchesSelector(subset.selector, endpoint.labels ?? {})),
  };
}

export const subsetsFeature: PolicyFeature = {
  key: "subsets",
  crd: (kit) => ({
    subsets: {
      type: "array",
      description:
        "Named parts of the Service, chosen by the labels of the endpoints' pods. A request " +
        "names one with the subset parameter (HTTP) or the name " +
        "<subset>.subset.<service>.<namespace>.<domain> (DNS) and is balanced over its " +
        `endpoints alone, with the policy's strategy. At most ${MAX_SUBSETS}; names unique.`,
      maxItems: MAX_SUBSETS,
      "x-kubernetes-validations": [
        {
          rule: "self.all(a, self.exists_one(b, b.name == a.name))",
          message: SUBSET_RULE_MESSAGES.unique,
        },
      ],
      items: {
        type: "object",
        description: "One subset: its name and the pods it takes.",
        required: ["name", "selector"],
        properties: {
          name: {
            type: "string",
            pattern: DNS_1123_LABEL_PATTERN,
            maxLength: DNS_1123_LABEL_MAX_LENGTH,
            description:
              "The subset's name, a DNS label (lowercase letters, digits and '-'), as requests use it.",
          },
          selector: kit.labelSelector(),
        },
      },
    },
    defaultSubset: {
      type: "string",
      pattern: DNS_1123_LABEL_PATTERN,
      maxLength: DNS_1123_LABEL_MAX_LENGTH,
      description:
        "The subset of a request that names none; absent means the whole Service. Must name " +
        "one of subsets.",
    },
  }),
  specRules: [
    {
      rule:
        "!has(self.defaultSubset) || " +
        "(has(self.subsets) && self.subsets.exists(s, s.name == self.defaultSubset))",
      message: SUBSET_RULE_MESSAGES.defaultNamesSubset,
      fieldPath: ".defaultSubset",
    },
  ],
  fromSpec(spec, _kit, problems) {
    const subsets = spec.subsets as SubsetDefinition[] | undefined;
    const defaultSubset = spec.defaultSubset as string | undefined;
    const names = (subsets ?? []).map((subset) => subset.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        problems.push({
          path: ["subsets", index, "name"],
          value: name,
          allowed: `a name no other subset has (${SUBSET_RULE_MESSAGES.unique})`,
        });
      }
    });
    if (defaultSubset !== undefined && !names.includes(defaultSubset)) {
      problems.push({
        path: ["defaultSubset"],
        value: defaultSubset,
        allowed:
          names.length === 0
            ? "no defaultSubset when there are no subsets"
            : `one of ${names.join(", ")}`,
      });
    }
    const fields: { subsets?: SubsetDefinition[]; defaultSubset?: string } = {};
    if (subsets !== undefined) {
      fields.subsets = subsets.map((s) => ({ name: s.name, selector: s.selector }));
    }
    if (defaultSubset !== undefined) fields.defaultSubset = defaultSubset;
    return fields;
  },
  resolve(policy): ResolvedSubsets {
    const subsets = policy.subsets as readonly SubsetDefinition[] | undefined;
    const defaultName = policy.defaultSubset as string | undefined;
    if (subsets === undefined && defaultName === undefined) return NO_SUBSETS;
    if (subsets !== undefined && !Array.isArray(subsets)) {
      invalid("subsets", subsets, "a list of {name, selector}");
    }
    if ((subsets?.length ?? 0) > MAX_SUBSETS) {
      invalid("subsets", `${subsets?.length} subsets`, `at most ${MAX_SUBSETS}`);
    }
    const byName = new Map<string, Narrowing>();
    (subsets ?? []).forEach((subset, index) => {
      const name = subset?.name;
      if (typeof name !== "string" || !DNS_LABEL.test(name) || name.length > 63) {
        invalid(`subsets[${index}].name`, name, "a DNS label of at most 63 characters");
      }
      if (byName.has(name)) invalid(`subsets[${index}].name`, name, "a name no other subset has");
      if (typeof subset.selector !== "object" || subset.selector === null) {
        invalid(`subsets[${index}].selector`, subset.selector, "a label selector");
      }
      byName.set(name, narrowingOf(subset));
    });
    let defaultSubset: Narrowing | null = null;
    if (defaultName !== undefined) {
      defaultSubset = byName.get(defaultName) ?? null;
      if (defaultSubset === null) {
        invalid(
          "defaultSubset",
          defaultName,
          `one of ${[...byName.keys()].join(", ") || "no subsets (none are defined)"}`,
        );
      }
    }
    return { byName, defaultSubset };
  },
  narrow(policy, request) {
    const subsets = policy.subsets as ResolvedSubsets;
    if (request.subset === undefined) return subsets.defaultSubset;
    const found = subsets.byName.get(request.subset);
    if (found === undefined) throw unknownSubset(request.subset, policy);
    return found;
  },
};

/**
 * The endpoints of a request for subset `name` (the policy's default subset when null), in the
 * order given; null when the policy has no subset of that name.
 */
export function subsetMembers(
  policy: ResolvedPolicy,
  name: string | null,
  endpoints: readonly Endpoint[],
): Endpoint[] | null {
  const subsets = policy.subsets as ResolvedSubsets;
  const narrowing = name === null ? subsets.defaultSubset : (subsets.byName.get(name) ?? null);
  if (narrowing === null) return name === null ? [...endpoints] : null;
  return narrowing.filter(endpoints);
}

/** The subsets a policy names, in its order. */
export function subsetNames(policy: ResolvedPolicy): string[] {
  return [...(policy.subsets as ResolvedSubsets).byName.keys()];
}

function unknownSubset(name: string, policy: ResolvedPolicy): BalancerError {
  const names = subsetNames(policy);
  return new BalancerError(
    "UnknownSubset",
    `subset ${JSON.stringify(name)} is not defined by the service's policy; ` +
      (names.length === 0 ? "it defines no subsets" : `use one of ${names.join(", ")}`),
  );
}
