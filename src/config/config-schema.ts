/**
 * The part of JSON Schema the config file's schema uses, plus `expected`: what a node allows, in
 * words, for messages. The chart's values.schema.json is derived from the same nodes
 * (chart-schema.ts), without `expected`.
 */

export interface ConfigSchema {
  type: "object" | "array" | "string" | "integer" | "boolean" | readonly string[];
  description?: string;
  expected?: string;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  items?: ConfigSchema;
  properties?: Record<string, ConfigSchema>;
  additionalProperties?: ConfigSchema | false;
  propertyNames?: { type: "string"; enum: readonly string[] };
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return "";
}

/** What `schema` allows, in words. */
export function describeAllowed(schema: ConfigSchema): string {
  if (schema.expected !== undefined) return schema.expected;
  if (schema.enum !== undefined) return `one of ${schema.enum.join(", ")}`;
  switch (schema.type) {
    case "integer":
      return `an integer${range(schema.minimum, schema.maximum)}`;
    case "boolean":
      return "true or false";
    case "string":
      return "a string";
    case "array":
      return "a list";
    case "object":
      return schema.properties === undefined
        ? "a map"
        : `a map with the fields ${Object.keys(schema.properties).join(", ")}`;
    default:
      return `one of the types ${schema.type.join(", ")}`;
  }
}
