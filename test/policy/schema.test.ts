import { describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import type { OpenApiSchema } from "../../src/policy/schema.ts";
import { loadBalancingPolicySpecSchema } from "../../src/policy/schema.ts";

/** Every schema node, with its path, depth first. */
function nodes(schema: OpenApiSchema, path = "spec"): [string, OpenApiSchema][] {
  const found: [string, OpenApiSchema][] = [[path, schema]];
  for (const [name, child] of Object.entries(schema.properties ?? {}))
    found.push(...nodes(child, `${path}.${name}`));
  if (schema.items !== undefined) found.push(...nodes(schema.items, `${path}[]`));
  if (schema.additionalProperties !== undefined)
    found.push(...nodes(schema.additionalProperties, `${path}.*`));
  return found;
}

const CRD_KEYWORDS = new Set([
  "type",
  "description",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "minimum",
  "maximum",
  "pattern",
  "minLength",
  "maxLength",
  "maxItems",
  "maxProperties",
  "default",
  "nullable",
  "anyOf",
  "x-kubernetes-int-or-string",
  "x-kubernetes-validations",
]);

describe("the LoadBalancingPolicy spec schema", () => {
  it("is plain data that survives JSON, as a CRD embeds it", () => {
    expect(JSON.parse(JSON.stringify(loadBalancingPolicySpecSchema))).toEqual(
      loadBalancingPolicySpecSchema,
    );
  });

  it("is structural: every node has a type and uses only keywords a CRD accepts", () => {
    for (const [path, node] of nodes(loadBalancingPolicySpecSchema)) {
      // An int-or-string node is the one without a type, and spells its anyOf as Kubernetes does.
      if (node["x-kubernetes-int-or-string"] === true) {
        expect(node.type, path).toBeUndefined();
        expect(node.anyOf, path).toEqual([{ type: "integer" }, { type: "string" }]);
      } else {
        expect(node.type, path).toBeDefined();
        expect(node.anyOf, path).toBeUndefined();
      }
      for (const keyword of Object.keys(node))
        expect(CRD_KEYWORDS.has(keyword), `${path}: ${keyword}`).toBe(true);
      // Kubernetes forbids properties and additionalProperties side by side.
      expect(node.properties !== undefined && node.additionalProperties !== undefined, path).toBe(
        false,
      );
      for (const name of node.required ?? [])
        expect(node.properties?.[name], `${path}.${name}`).toBeDefined();
    }
  });

  it("offers exactly the strategies of the core", () => {
    expect(loadBalancingPolicySpecSchema.properties?.strategy?.enum).toEqual([...STRATEGY_NAMES]);
  });

  it("has defaults that its own rules accept", () => {
    for (const [path, node] of nodes(loadBalancingPolicySpecSchema)) {
      if (node.default === undefined) continue;
      if (node.enum !== undefined) expect(node.enum, path).toContain(node.default);
      if (node.minimum !== undefined)
        expect(node.default, path).toBeGreaterThanOrEqual(node.minimum);
      if (node.maximum !== undefined) expect(node.default, path).toBeLessThanOrEqual(node.maximum);
      if (node.pattern !== undefined)
        expect(String(node.default), path).toMatch(new RegExp(node.pattern, "u"));
    }
  });

  it("says in the description that the table size must be prime", () => {
    expect(
      loadBalancingPolicySpecSchema.properties?.maglev?.properties?.tableSize?.description,
    ).toMatch(/prime/);
  });
});
