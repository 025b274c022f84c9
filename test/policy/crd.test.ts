import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CRD_FILE, CRD_NAME, renderCrd } from "../../src/policy/crd.ts";
import type { CelRule, OpenApiSchema } from "../../src/policy/schema.ts";
import {
  loadBalancingPolicySpecSchema,
  POLICY_API_VERSION,
  POLICY_GROUP,
  POLICY_KIND,
  POLICY_PLURAL,
} from "../../src/policy/schema.ts";
import { ajvSchema } from "../../src/policy/schema-check.ts";
import { validatePolicy } from "../../src/policy/validate.ts";
import { INVALID_POLICIES } from "../support/invalid-policies.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), "utf8");

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status?: object };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: OpenApiSchema };
    }[];
  };
}

const crd = parse(read(CRD_FILE)) as Crd;
const version = crd.spec.versions[0];
if (version === undefined) throw new Error(`${CRD_FILE} has no version`);
const schema = version.schema.openAPIV3Schema;
const specSchema = schema.properties?.spec as OpenApiSchema;

/** Every node under `node`, with its path ("spec.weights[].weight"), depth first. */
function nodes(node: OpenApiSchema, path = ""): [string, OpenApiSchema][] {
  const found: [string, OpenApiSchema][] = [[path, node]];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    found.push(...nodes(child, path === "" ? name : `${path}.${name}`));
  }
  if (node.items !== undefined) found.push(...nodes(node.items, `${path}[]`));
  if (node.additionalProperties !== undefined) {
    found.push(...nodes(node.additionalProperties, `${path}.*`));
  }
  return found;
}

/** The keywords a CRD schema may use that this project writes; anything else fails the test. */
const ALLOWED_KEYWORDS = new Set([
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
  "format",
  "default",
  "nullable",
  "anyOf",
  "x-kubernetes-int-or-string",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
]);

const CEL_RULE_KEYS = new Set(["rule", "message", "fieldPath"]);

/** ajv over the whole object as the API server would check it, bar the CEL rules. */
const ajv = new Ajv2020.default({
  allErrors: true,
  strict: true,
  // The file source never checks formats; here they only need to be known.
  formats: { "date-time": true, int64: true },
});
const checkObject = ajv.compile(ajvSchema(schema, true));

function policyObject(spec: unknown, name = "example"): object {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    metadata: { name, namespace: "shop" },
    spec,
  };
}

function schemaErrors(object: object): string[] {
  return checkObject(object)
    ? []
    : (checkObject.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

const celMessages = nodes(schema).flatMap(([, node]) =>
  (node["x-kubernetes-validations"] ?? []).map((rule) => rule.message),
);

describe("the checked-in CRD", () => {
  it(`is what npm run crd generates (run it after changing the schema)`, () => {
    expect(read(CRD_FILE)).toBe(renderCrd());
  });

  it("embeds the spec schema the file source validates with, unchanged", () => {
    expect(specSchema).toEqual(JSON.parse(JSON.stringify(loadBalancingPolicySpecSchema)));
  });

  it("names the resource: namespaced, lbp, one served and stored version with status", () => {
    expect(crd.apiVersion).toBe("apiextensions.k8s.io/v1");
    expect(crd.kind).toBe("CustomResourceDefinition");
    expect(crd.metadata.name).toBe(CRD_NAME);
    expect(CRD_NAME).toBe(`${POLICY_PLURAL}.${POLICY_GROUP}`);
    expect(crd.spec.group).toBe(POLICY_GROUP);
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names).toMatchObject({
      kind: POLICY_KIND,
      plural: POLICY_PLURAL,
      shortNames: ["lbp"],
      categories: ["konsul"],
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: "v1alpha1", served: true, storage: true });
    expect(version.subresources.status).toEqual({});
  });

  it("has printer columns whose paths exist in the schema", () => {
    expect(version.additionalPrinterColumns.map((c) => c.name)).toEqual([
      "Target",
      "Strategy",
      "Endpoints",
      "Ready",
      "Ejected",
      "Ramping",
      "Accepted",
      "Age",
    ]);
    const paths = new Set(nodes(schema).map(([path]) => `.${path}`));
    for (const column of version.additionalPrinterColumns) {
      // A filter such as [?(@.type=="Ready")] selects an item; the path goes on from the list.
      const path = column.jsonPath.replace(/\[\?\(.*?\)\]/g, "[]");
      if (path === ".metadata.creationTimestamp") continue;
      expect(paths.has(path), `${column.name}: ${column.jsonPath}`).toBe(true);
    }
  });
});

describe("the CRD's schema is structural, as the API server requires", () => {
  it("gives every node a type; only int-or-string nodes go without, in the Kubernetes spelling", () => {
    expect(schema.type).toBe("object");
    for (const [path, node] of nodes(schema)) {
      if (node["x-kubernetes-int-or-string"] === true) {
        expect(node.type, path).toBeUndefined();
        expect(node.anyOf, path).toEqual([{ type: "integer" }, { type: "string" }]);
      } else {
        expect(node.type, path).toBeDefined();
        expect(node.anyOf, path).toBeUndefined();
      }
    }
  });

  it("uses only keywords the API server takes: no $ref, no additionalProperties: false, ...", () => {
    for (const [path, node] of nodes(schema)) {
      for (const keyword of Object.keys(node)) {
        expect(ALLOWED_KEYWORDS.has(keyword), `${path}: ${keyword}`).toBe(true);
      }
      // Kubernetes prunes unknown fields: a closed object is spelled by listing properties.
      if (node.additionalProperties !== undefined) {
        expect(typeof node.additionalProperties, path).toBe("object");
        expect(node.properties, path).toBeUndefined();
      }
      if (node.type === "array") expect(node.items, path).toBeDefined();
      for (const name of node.required ?? []) {
        expect(node.properties?.[name], `${path}.${name}`).toBeDefined();
      }
      if (node["x-kubernetes-list-type"] === "map") {
        for (const key of node["x-kubernetes-list-map-keys"] ?? []) {
          expect(node.items?.required, `${path}: ${key}`).toContain(key);
        }
      }
    }
  });

  it("leaves metadata to the API server and requires spec", () => {
    expect(schema.properties?.metadata).toEqual({ type: "object" });
    expect(schema.required).toEqual(["spec"]);
  });

  it("has defaults that validate against their own field", () => {
    let defaults = 0;
    for (const [path, node] of nodes(schema)) {
      if (node.default === undefined) continue;
      defaults++;
      const check = ajv.compile(ajvSchema(node, true));
      expect(check(node.default), `${path}: ${JSON.stringify(node.default)}`).toBe(true);
    }
    expect(defaults).toBeGreaterThan(10);
  });

  it("bounds every list, map and string of the spec, so CEL costs stay within budget", () => {
    for (const [path, node] of nodes(specSchema, "spec")) {
      if (node.type === "array") expect(node.maxItems, path).toBeDefined();
      if (node.additionalProperties !== undefined) expect(node.maxProperties, path).toBeDefined();
      if (node.type === "string" || node["x-kubernetes-int-or-string"] === true) {
        expect(node.enum !== undefined || node.maxLength !== undefined, path).toBe(true);
      }
    }
  });

  it("writes CEL rules with a message, and field paths that exist", () => {
    const rules = nodes(schema).flatMap(([path, node]) =>
      (node["x-kubernetes-validations"] ?? []).map((rule): [string, OpenApiSchema, CelRule] => [
        path,
        node,
        rule,
      ]),
    );
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const [path, node, rule] of rules) {
      for (const key of Object.keys(rule))
        expect(CEL_RULE_KEYS.has(key), `${path}: ${key}`).toBe(true);
      expect(rule.rule.length, path).toBeGreaterThan(0);
      expect(rule.message.length, path).toBeGreaterThan(0);
      if (rule.fieldPath !== undefined) {
        expect(
          node.properties?.[rule.fieldPath.replace(/^\./, "")],
          `${path}: ${rule.fieldPath}`,
        ).toBeDefined();
      }
    }
  });

  it("describes every field, for kubectl explain", () => {
    for (const [path, node] of nodes(schema)) {
      for (const [name, child] of Object.entries(node.properties ?? {})) {
        if (path === "" && name === "metadata") continue;
        expect(child.description, `${path}.${name}`).toBeTruthy();
      }
    }
  });

  it("describes status as the operator writes it", () => {
    const status = schema.properties?.status;
    expect(Object.keys(status?.properties ?? {})).toEqual([
      "observedGeneration",
      "conditions",
      "endpoints",
    ]);
    const conditions = status?.properties?.conditions;
    expect(conditions?.["x-kubernetes-list-type"]).toBe("map");
    expect(conditions?.["x-kubernetes-list-map-keys"]).toEqual(["type"]);
    expect(conditions?.items?.properties?.status?.enum).toEqual(["True", "False", "Unknown"]);
    expect(conditions?.items?.properties?.lastTransitionTime?.format).toBe("date-time");
    expect(Object.keys(status?.properties?.endpoints?.properties ?? {})).toEqual([
      "total",
      "healthy",
      "ejected",
      "summary",
      "rampingUp",
    ]);
    const written = {
      ...policyObject({ targetRef: { name: "checkout" } }),
      status: {
        observedGeneration: 2,
        conditions: [
          {
            type: "Accepted",
            status: "True",
            observedGeneration: 2,
            lastTransitionTime: "2025-03-01T10:00:00Z",
            reason: "Accepted",
            message: "The policy is valid and applies to its Service",
          },
        ],
        endpoints: { total: 3, healthy: 2, summary: "2/3" },
      },
    };
    expect(schemaErrors(written)).toEqual([]);
  });
});

/** The policies of a multi-document YAML file. */
function policiesIn(text: string): { name: string; spec: unknown }[] {
  return parseAllDocuments(text)
    .map(
      (document) =>
        document.toJS() as { kind?: string; metadata?: { name?: string }; spec?: unknown },
    )
    .filter((object) => object?.kind === POLICY_KIND)
    .map((object) => ({ name: object.metadata?.name ?? "", spec: object.spec }));
}

function readmeExample(): string {
  const readme = read("README.md");
  const section = readme.slice(readme.indexOf("## LoadBalancingPolicy"));
  const match = /```yaml\n([\s\S]*?)```/.exec(section);
  if (match?.[1] === undefined) throw new Error("README has no LoadBalancingPolicy example");
  return match[1];
}

describe("policies the project shows are accepted", () => {
  const examples = [
    ...policiesIn(read("examples/demo.yaml")).map((p) => ({ ...p, from: "examples/demo.yaml" })),
    ...policiesIn(readmeExample()).map((p) => ({ ...p, from: "README.md" })),
  ];

  it("finds the examples", () => {
    expect(examples.filter((e) => e.from === "examples/demo.yaml")).toHaveLength(3);
    expect(examples.filter((e) => e.from === "README.md")).toHaveLength(1);
  });

  it.each(examples)("$from: $name, by the CRD's schema and by the file source", (example) => {
    expect(schemaErrors(policyObject(example.spec, example.name))).toEqual([]);
    const result = validatePolicy({ name: example.name, namespace: "shop" }, example.spec);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });
});

describe("invalid policies (test/support/invalid-policies.ts)", () => {
  it("are at least 10, with unique names usable in metadata.name", () => {
    expect(INVALID_POLICIES.length).toBeGreaterThanOrEqual(10);
    const names = INVALID_POLICIES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$/);
  });

  it("cover every CEL rule of the CRD", () => {
    const covered = new Set(
      INVALID_POLICIES.filter((p) => p.rejectedBy === "cel").map((p) => p.expectMessageContains),
    );
    for (const message of new Set(celMessages)) {
      expect(
        [...covered].some((part) => message.includes(part)),
        message,
      ).toBe(true);
    }
  });

  it.each(INVALID_POLICIES)("$name ($rejectedBy)", (entry) => {
    const errors = schemaErrors(policyObject(entry.spec, `bad-${entry.name}`));
    if (entry.rejectedBy === "schema") {
      expect(errors, "the CRD's schema should reject it").not.toEqual([]);
    } else {
      // Past the schema: a CEL rule or the operator must catch it.
      expect(errors).toEqual([]);
    }
    if (entry.rejectedBy === "cel") {
      expect(
        celMessages.some((message) => message.includes(entry.expectMessageContains)),
        "expectMessageContains should quote one of the CRD's CEL messages",
      ).toBe(true);
    }
    // The file source holds a file to the same rules, CEL ones included.
    const result = validatePolicy({ name: `bad-${entry.name}`, namespace: "shop" }, entry.spec);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.join("\n")).toContain(entry.fileMessageContains);
      if (entry.rejectedBy === "controller") {
        // The operator's Accepted condition quotes the file source's messages.
        expect(result.errors.join("; ")).toContain(entry.expectMessageContains);
      }
    }
  });
});
