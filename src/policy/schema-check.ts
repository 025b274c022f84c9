/**
 * Checking data against an OpenApiSchema with ajv, with messages a user can act on: each names
 * the field path, the value found and what is allowed ("spec.ringHash.virtualNodes: 0 is not
 * allowed; expected an integer from 1 to 10000").
 */

import { compileValidator, type ErrorObject } from "../shared/ajv.ts";
import { showValue } from "../shared/show-value.ts";
import type { PathSegment, SchemaProblem } from "./field-path.ts";
import { formatPath } from "./field-path.ts";

import type { OpenApiSchema } from "./schema.ts";

/** Checks `data`, found at `root` in its document; returns one problem per faulty field. */
export type SchemaCheck = (data: unknown, root: readonly PathSegment[]) => SchemaProblem[];

export interface CompileOptions {
  /**
   * Reject fields the schema does not name. Kubernetes drops unknown fields of a custom resource
   * (and `kubectl apply` rejects them); a file has no server in between, so the check does it.
   */
  readonly closed?: boolean;
  /** Plain-words descriptions of patterns, by pattern, for "expected ..." in messages. */
  readonly patternNames?: Readonly<Record<string, string>>;
}

/**
 * `schema` as ajv takes it. The API server's own keywords (x-kubernetes-*) go: validate.ts
 * enforces the CEL rules itself. An int-or-string node becomes an anyOf of an integer and a
 * string, each with its share of the node's limits, since ajv's strict mode wants every limit
 * under the type it applies to. With `closed`, every object with named properties also rejects
 * other properties.
 */
export function ajvSchema(schema: OpenApiSchema, closed: boolean): object {
  const copy: Record<string, unknown> = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (!keyword.startsWith("x-kubernetes-")) copy[keyword] = value;
  }
  if (schema["x-kubernetes-int-or-string"] === true) {
    const { minimum, maximum, minLength, maxLength, pattern } = schema;
    for (const keyword of ["minimum", "maximum", "minLength", "maxLength", "pattern"]) {
      delete copy[keyword];
    }
    copy.anyOf = [
      { type: "integer", ...defined({ minimum, maximum }) },
      { type: "string", ...defined({ minLength, maxLength, pattern }) },
    ];
  }
  if (schema.properties !== undefined) {
    copy.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, child]) => [name, ajvSchema(child, closed)]),
    );
    if (closed && schema.additionalProperties === undefined) copy.additionalProperties = false;
  }
  if (schema.additionalProperties !== undefined) {
    copy.additionalProperties = ajvSchema(schema.additionalProperties, closed);
  }
  if (schema.items !== undefined) copy.items = ajvSchema(schema.items, closed);
  return copy;
}

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return "";
}

/** What `schema` allows, in words: "an integer from 1 to 1000", "one of In, NotIn, ...". */
export function describeAllowed(
  schema: OpenApiSchema,
  patternNames: Readonly<Record<string, string>> = {},
): string {
  if (schema.enum !== undefined) return `one of ${schema.enum.join(", ")}`;
  if (schema["x-kubernetes-int-or-string"] === true) {
    const { minimum, maximum, pattern } = schema;
    const text: OpenApiSchema =
      pattern === undefined ? { type: "string" } : { type: "string", pattern };
    return `${describeAllowed({ type: "integer", ...defined({ minimum, maximum }) })} or ${describeAllowed(text, patternNames)}`;
  }
  if (schema.anyOf !== undefined) {
    return schema.anyOf.map((branch) => describeAllowed(branch, patternNames)).join(" or ");
  }
  switch (schema.type) {
    case "integer":
      return `an integer${range(schema.minimum, schema.maximum)}`;
    case "number":
      return `a number${range(schema.minimum, schema.maximum)}`;
    case "boolean":
      return "true or false";
    case "string":
      if (schema.pattern === undefined) return "a string";
      return patternNames[schema.pattern] ?? `a string matching /${schema.pattern}/`;
    case "array":
      return schema.items === undefined
        ? "a list"
        : `a list, each item ${describeAllowed(schema.items, patternNames)}`;
    case "object":
      if (schema.properties !== undefined) {
        return `an object with fields ${Object.keys(schema.properties).join(", ")}`;
      }
      if (schema.additionalProperties !== undefined) {
        return `a map, each value ${describeAllowed(schema.additionalProperties, patternNames)}`;
      }
      return "an object";
    case undefined:
      return "a value";
  }
}

/** JSON pointer ("/weights/0") to path segments, numbering only inside arrays. */
function pointerSegments(pointer: string, data: unknown): PathSegment[] {
  if (pointer === "") return [];
  const segments: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(node)) {
      segments.push(Number(key));
      node = node[Number(key)];
    } else {
      segments.push(key);
      node =
        typeof node === "object" && node !== null
          ? (node as Record<string, unknown>)[key]
          : undefined;
    }
  }
  return segments;
}

function problemFor(
  error: ErrorObject,
  path: PathSegment[],
  patternNames: Readonly<Record<string, string>>,
): SchemaProblem {
  const parent = error.parentSchema as OpenApiSchema | undefined;
  const at = (segments: PathSegment[], detail: string): SchemaProblem => ({
    path: segments,
    message: `${formatPath(segments)}: ${detail}`,
  });
  switch (error.keyword) {
    case "required": {
      const missing = String(error.params.missingProperty);
      const child = parent?.properties?.[missing];
      const allowed =
        child === undefined ? "" : `; expected ${describeAllowed(child, patternNames)}`;
      return at([...path, missing], `is required${allowed}`);
    }
    case "additionalProperties": {
      const extra = String(error.params.additionalProperty);
      const known = Object.keys(parent?.properties ?? {}).join(", ");
      return at([...path, extra], `unknown field; the fields here are ${known}`);
    }
    // Limits on size say what the size is rather than show a value that may be long.
    case "maxItems":
      return at(
        path,
        `has ${(error.data as unknown[]).length} items; at most ${error.params.limit} are allowed`,
      );
    case "maxProperties":
      return at(
        path,
        `has ${Object.keys(error.data as object).length} entries; at most ${error.params.limit} are allowed`,
      );
    case "maxLength":
      return at(
        path,
        `${showValue(error.data)} has ${[...(error.data as string)].length} characters; at most ${error.params.limit} are allowed`,
      );
    default: {
      const allowed =
        parent === undefined
          ? (error.message ?? "is not allowed")
          : describeAllowed(parent, patternNames);
      return at(path, `${showValue(error.data)} is not allowed; expected ${allowed}`);
    }
  }
}

export function compileSchema(schema: OpenApiSchema, options: CompileOptions = {}): SchemaCheck {
  const validate = compileValidator(ajvSchema(schema, options.closed === true));
  const patternNames = options.patternNames ?? {};
  return (data, root) => {
    if (validate(data)) return [];
    const problems: SchemaProblem[] = [];
    const seen = new Set<string>();
    for (const error of validate.errors ?? []) {
      // A failed anyOf also reports each branch's failure; the anyOf itself says it best.
      if (error.schemaPath.includes("/anyOf/")) continue;
      const path = [...root, ...pointerSegments(error.instancePath, data)];
      const problem = problemFor(error, path, patternNames);
      // One message per field: a wrong type would otherwise also fail its enum or range.
      const key = formatPath(problem.path);
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(problem);
    }
    return problems;
  };
}
