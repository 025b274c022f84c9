/**
 * Checking data against an OpenApiSchema with ajv, with messages a user can act on: each names
 * the field path, the value found and what is allowed ("spec.ringHash.virtualNodes: 0 is not
 * allowed; expected an integer from 1 to 10000").
 */

import type { ErrorObject } from "ajv/dist/2020.js";
import Ajv2020 from "ajv/dist/2020.js";
import type { PathSegment } from "./field-path.ts";
import { formatPath } from "./field-path.ts";
import type { OpenApiSchema } from "./schema.ts";

export interface SchemaProblem {
  /** Where the problem is, from the root of the checked document ("spec", "weights", 0, ...). */
  readonly path: readonly PathSegment[];
  /** The whole message, starting with the formatted path. */
  readonly message: string;
}

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

const ajv = new Ajv2020.default({ allErrors: true, verbose: true, strict: true });

/** A copy of `schema` in which every object with named properties rejects other properties. */
export function closeObjects(schema: OpenApiSchema): object {
  const copy: Record<string, unknown> = { ...schema };
  if (schema.properties !== undefined) {
    copy.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, child]) => [name, closeObjects(child)]),
    );
    if (schema.additionalProperties === undefined) copy.additionalProperties = false;
  }
  if (schema.additionalProperties !== undefined) {
    copy.additionalProperties = closeObjects(schema.additionalProperties);
  }
  if (schema.items !== undefined) copy.items = closeObjects(schema.items);
  return copy;
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
  }
}

const MAX_SHOWN_VALUE = 80;

/** A value as it appears in a message: JSON, shortened when long. */
export function showValue(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE - 3)}...` : text;
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
  const validate = ajv.compile(options.closed === true ? closeObjects(schema) : schema);
  const patternNames = options.patternNames ?? {};
  return (data, root) => {
    if (validate(data)) return [];
    const problems: SchemaProblem[] = [];
    const seen = new Set<string>();
    for (const error of validate.errors ?? []) {
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
