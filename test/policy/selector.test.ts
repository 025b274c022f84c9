import { describe, expect, it } from "vitest";
import {
  isLabelKey,
  isLabelValue,
  matchesSelector,
  selectorErrors,
} from "../../src/policy/selector.ts";

const v2 = { app: "catalog", version: "v2" };
const v1 = { app: "catalog", version: "v1" };
const unlabelled = {};

describe("matchesSelector", () => {
  it("matches everything with an empty selector, as Kubernetes does", () => {
    expect(matchesSelector({}, v2)).toBe(true);
    expect(matchesSelector({}, unlabelled)).toBe(true);
    expect(matchesSelector({ matchLabels: {}, matchExpressions: [] }, unlabelled)).toBe(true);
  });

  it("matches nothing with a null selector", () => {
    expect(matchesSelector(null, v2)).toBe(false);
    expect(matchesSelector(undefined, unlabelled)).toBe(false);
  });

  it("needs every matchLabels pair", () => {
    expect(matchesSelector({ matchLabels: { version: "v2" } }, v2)).toBe(true);
    expect(matchesSelector({ matchLabels: { version: "v2" } }, v1)).toBe(false);
    expect(matchesSelector({ matchLabels: { version: "v2", app: "cart" } }, v2)).toBe(false);
    expect(matchesSelector({ matchLabels: { version: "v2" } }, unlabelled)).toBe(false);
  });

  it("applies In, NotIn, Exists and DoesNotExist", () => {
    const inSet = {
      matchExpressions: [{ key: "version", operator: "In" as const, values: ["v2", "v3"] }],
    };
    expect(matchesSelector(inSet, v2)).toBe(true);
    expect(matchesSelector(inSet, v1)).toBe(false);
    expect(matchesSelector(inSet, unlabelled)).toBe(false);

    const notIn = {
      matchExpressions: [{ key: "version", operator: "NotIn" as const, values: ["v1"] }],
    };
    expect(matchesSelector(notIn, v2)).toBe(true);
    expect(matchesSelector(notIn, v1)).toBe(false);
    // A missing label is "not in" any set.
    expect(matchesSelector(notIn, unlabelled)).toBe(true);

    const exists = { matchExpressions: [{ key: "version", operator: "Exists" as const }] };
    expect(matchesSelector(exists, v1)).toBe(true);
    expect(matchesSelector(exists, unlabelled)).toBe(false);

    const absent = { matchExpressions: [{ key: "version", operator: "DoesNotExist" as const }] };
    expect(matchesSelector(absent, v1)).toBe(false);
    expect(matchesSelector(absent, unlabelled)).toBe(true);
  });

  it("needs matchLabels and matchExpressions together", () => {
    const selector = {
      matchLabels: { app: "catalog" },
      matchExpressions: [{ key: "version", operator: "NotIn" as const, values: ["v1"] }],
    };
    expect(matchesSelector(selector, v2)).toBe(true);
    expect(matchesSelector(selector, v1)).toBe(false);
    expect(matchesSelector(selector, { version: "v2" })).toBe(false);
  });

  it("does not see inherited object properties as labels", () => {
    expect(
      matchesSelector({ matchExpressions: [{ key: "toString", operator: "Exists" }] }, {}),
    ).toBe(false);
  });
});

describe("label syntax", () => {
  it("accepts keys with and without a prefix", () => {
    expect(isLabelKey("version")).toBe(true);
    expect(isLabelKey("app.kubernetes.io/name")).toBe(true);
    expect(isLabelKey("a_b.c-d")).toBe(true);
    expect(isLabelKey("")).toBe(false);
    expect(isLabelKey("-version")).toBe(false);
    expect(isLabelKey("Bad_Prefix/name")).toBe(false);
    expect(isLabelKey("x".repeat(64))).toBe(false);
  });

  it("accepts empty values and rejects bad ones", () => {
    expect(isLabelValue("")).toBe(true);
    expect(isLabelValue("v2")).toBe(true);
    expect(isLabelValue("v2 ")).toBe(false);
    expect(isLabelValue("a/b")).toBe(false);
    expect(isLabelValue("x".repeat(64))).toBe(false);
  });
});

describe("selectorErrors", () => {
  it("finds nothing wrong with a good selector", () => {
    expect(
      selectorErrors(
        {
          matchLabels: { "app.kubernetes.io/name": "catalog" },
          matchExpressions: [{ key: "version", operator: "In", values: ["v2"] }],
        },
        "spec.weights[0].selector",
      ),
    ).toEqual([]);
  });

  it("names the field, the value and the rule", () => {
    const errors = selectorErrors(
      {
        matchLabels: { "app.kubernetes.io/name": "not ok" },
        matchExpressions: [
          { key: "version", operator: "In", values: [] },
          { key: "track", operator: "Exists", values: ["stable"] },
          { key: "bad key", operator: "DoesNotExist" },
        ],
      },
      "spec.weights[0].selector",
    );
    expect(errors).toEqual([
      expect.stringMatching(
        /^spec\.weights\[0\]\.selector\.matchLabels\["app\.kubernetes\.io\/name"\]: "not ok" is not allowed; expected a label value/,
      ),
      "spec.weights[0].selector.matchExpressions[0].values: [] is not allowed; expected at least one value for operator In",
      'spec.weights[0].selector.matchExpressions[1].values: ["stable"] is not allowed; expected no values for operator Exists',
      expect.stringMatching(
        /^spec\.weights\[0\]\.selector\.matchExpressions\[2\]\.key: "bad key" is not allowed; expected a label key/,
      ),
    ]);
  });
});
