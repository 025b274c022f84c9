/**
 * The Helm chart's values.schema.json: the hand-kept base (values only the chart has) with the
 * operator's settings added at their Helm value paths, from the table of settings. Written by
 * `npm run chart-schema` (scripts/generate-chart-schema.ts).
 */

import type { ConfigSchema } from "./config-schema.ts";
import { type ChartSchema, SETTING_NAMES, spec } from "./setting-table.ts";

export const CHART_SCHEMA_FILE = "charts/konsul-lb/values.schema.json";
export const CHART_SCHEMA_BASE_FILE = "charts/konsul-lb/values.schema.base.json";

type Node = Record<string, unknown>;

/**
 * A config file schema node as the chart takes it: without `expected` (a keyword of ours), and
 * closed where the file names its keys with propertyNames (for a clearer message than Helm's).
 */
export function chartForm(schema: ConfigSchema): ChartSchema {
  const node: Node = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === "expected" || keyword === "propertyNames") continue;
    node[keyword] = value;
  }
  if (schema.propertyNames !== undefined) node.additionalProperties = false;
  if (schema.items !== undefined) node.items = chartForm(schema.items);
  if (schema.properties !== undefined) {
    node.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([key, child]) => [key, chartForm(child)]),
    );
  }
  if (typeof schema.additionalProperties === "object") {
    node.additionalProperties = chartForm(schema.additionalProperties);
  }
  return node;
}

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The object schema under `parent` for `key`, made (closed) when the base has none. */
function objectChild(parent: Node, key: string, path: string): Node {
  if (!isNode(parent.properties)) parent.properties = {};
  const properties = parent.properties as Node;
  const child = properties[key];
  if (child === undefined) {
    const made: Node = { type: "object", additionalProperties: false, properties: {} };
    properties[key] = made;
    return made;
  }
  if (!isNode(child) || child.type !== "object") {
    throw new Error(`${path} is not an object in ${CHART_SCHEMA_BASE_FILE}`);
  }
  return child;
}

/** The whole values schema: `base` with every setting that has a Helm value. */
export function chartValuesSchema(base: ChartSchema): ChartSchema {
  const schema = structuredClone(base) as Node;
  for (const name of SETTING_NAMES) {
    const { helm, schema: fieldSchema } = spec(name);
    if (helm === null) continue;
    const keys = helm.path.split(".");
    const leaf = keys.pop() as string;
    let parent = schema;
    keys.forEach((key, i) => {
      parent = objectChild(parent, key, keys.slice(0, i + 1).join("."));
    });
    const properties = (parent.properties ?? {}) as Node;
    if (properties[leaf] !== undefined) {
      throw new Error(
        `${helm.path} is in ${CHART_SCHEMA_BASE_FILE} and is the setting ${name}: ` +
          "describe it in one place, the table of settings",
      );
    }
    const leafSchema = helm.schema ?? (fieldSchema === undefined ? null : chartForm(fieldSchema));
    if (leafSchema === null) throw new Error(`the setting ${name} has no schema for ${helm.path}`);
    properties[leaf] = leafSchema;
    parent.properties = properties;
  }
  return schema;
}

const LINE_WIDTH = 100;

/**
 * JSON as the repository's formatter writes it: objects one key a line, arrays of plain values
 * on one line when they fit, so that the generated file passes `npm run lint` unchanged.
 */
export function formatJson(value: unknown, indent = "", prefix = "", suffix = ""): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}${prefix}[]${suffix}`;
    if (value.every((item) => !isNode(item) && !Array.isArray(item))) {
      const line = `${indent}${prefix}[${value.map((item) => JSON.stringify(item)).join(", ")}]${suffix}`;
      if (line.length <= LINE_WIDTH) return line;
    }
    const items = value.map((item, i) =>
      formatJson(item, inner, "", i === value.length - 1 ? "" : ","),
    );
    return [`${indent}${prefix}[`, ...items, `${indent}]${suffix}`].join("\n");
  }
  if (isNode(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return `${indent}${prefix}{}${suffix}`;
    const lines = entries.map(([key, child], i) =>
      formatJson(child, inner, `${JSON.stringify(key)}: `, i === entries.length - 1 ? "" : ","),
    );
    return [`${indent}${prefix}{`, ...lines, `${indent}}${suffix}`].join("\n");
  }
  return `${indent}${prefix}${JSON.stringify(value)}${suffix}`;
}

/** The text of values.schema.json from the text of its base. */
export function renderChartSchema(baseText: string): string {
  return `${formatJson(chartValuesSchema(JSON.parse(baseText) as ChartSchema))}\n`;
}
