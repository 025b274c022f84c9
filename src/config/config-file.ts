/**
 * The config file of `konsul-lb serve` (`--config`): a YAML LoadBalancerConfig holding the server's
 * settings and its defaults for policies. It is checked with a closed JSON Schema, and every
 * problem names the file and the field: `config.yaml: strategies.ring-hash.virtualNodes: 0 is not
 * allowed; expected an integer from 1 to 10000`.
 */

import type { ErrorObject } from "ajv/dist/2020.js";
import Ajv2020 from "ajv/dist/2020.js";
import { LineCounter, parseDocument } from "yaml";
import { MAX_VIRTUAL_NODES } from "../balancer/policy.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import { STRATEGY_NAMES } from "../balancer/strategy.ts";
import { DURATION_EXAMPLES, DURATION_PATTERN, tryParseDuration } from "../policy/duration.ts";
import type { PathSegment } from "../policy/field-path.ts";
import { formatPath } from "../policy/field-path.ts";
import type { LogLevel } from "./values.ts";
import {
  DNS_DOMAIN_ALLOWED,
  DNS_TTL_ALLOWED,
  HOST_PORT_ALLOWED,
  LOG_LEVELS,
  MAX_DNS_ANSWERS,
  MAX_DNS_TTL_SECONDS,
  notAllowedMessage,
  showValue,
  TRUST_PROXY_ALLOWED,
  TRUST_PROXY_ENTRY_ALLOWED,
} from "./values.ts";

/** One strategy's entry under `strategies`. */
export interface StrategyConfig {
  /** Absent means enabled. */
  readonly enabled?: boolean;
  /** ring-hash only: virtual nodes per endpoint for policies that set none. */
  readonly virtualNodes?: number;
  /** latency-based only: client region → endpoint region → Go-style duration. */
  readonly latencyMap?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** The file as written (durations still text); every field is optional. */
export interface LoadBalancerConfig {
  readonly httpAddr?: string;
  readonly logLevel?: LogLevel;
  readonly trustProxy?: boolean | number | string | readonly string[];
  readonly defaultStrategy?: StrategyName;
  readonly healthFilter?: boolean;
  readonly strategies?: Readonly<Partial<Record<StrategyName, StrategyConfig>>>;
  readonly dnsAddr?: string;
  readonly dnsDomain?: string;
  /** Seconds, or a duration of whole seconds. */
  readonly dnsTtl?: number | string;
  readonly dnsMaxAnswers?: number;
  readonly xdsAddr?: string;
}

/** The top-level fields of the file. */
export const CONFIG_KEYS = [
  "httpAddr",
  "logLevel",
  "trustProxy",
  "defaultStrategy",
  "healthFilter",
  "strategies",
  "dnsAddr",
  "dnsDomain",
  "dnsTtl",
  "dnsMaxAnswers",
  "xdsAddr",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The part of JSON Schema the config schema uses, plus `expected`: "what is allowed" in words. */
export interface ConfigSchema {
  type: "object" | "array" | "string" | "integer" | "boolean" | readonly string[];
  description?: string;
  expected?: string;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  minItems?: number;
  items?: ConfigSchema;
  properties?: Record<string, ConfigSchema>;
  additionalProperties?: ConfigSchema | false;
  propertyNames?: { type: "string"; enum: readonly string[] };
}

const durationSchema: ConfigSchema = {
  type: "string",
  pattern: DURATION_PATTERN,
  expected: `a duration such as ${DURATION_EXAMPLES}`,
  description: "The latency between the two regions.",
};

function strategySchema(name: StrategyName): ConfigSchema {
  const properties: Record<string, ConfigSchema> = {
    enabled: {
      type: "boolean",
      description: "Whether policies may use the strategy; absent means enabled.",
    },
  };
  if (name === "ring-hash") {
    properties.virtualNodes = {
      type: "integer",
      minimum: 1,
      maximum: MAX_VIRTUAL_NODES,
      description: "Virtual nodes per endpoint for policies that set none.",
    };
  }
  if (name === "latency-based") {
    properties.latencyMap = {
      type: "object",
      expected: "a map of client region to a map of endpoint region to latency",
      description:
        "Latency from a client region (outer key) to an endpoint region (inner key), for " +
        "policies that give no map.",
      additionalProperties: {
        type: "object",
        expected: "a map of endpoint region to latency",
        additionalProperties: durationSchema,
      },
    };
  }
  return { type: "object", properties, additionalProperties: false };
}

export const CONFIG_SCHEMA: ConfigSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    httpAddr: { type: "string", expected: HOST_PORT_ALLOWED },
    logLevel: { type: "string", enum: LOG_LEVELS },
    trustProxy: {
      type: ["boolean", "integer", "string", "array"],
      minimum: 0,
      minItems: 1,
      items: { type: "string", expected: TRUST_PROXY_ENTRY_ALLOWED },
      expected: `${TRUST_PROXY_ALLOWED}; or a list of them`,
    },
    defaultStrategy: { type: "string", enum: STRATEGY_NAMES },
    healthFilter: {
      type: "boolean",
      description: "Whether unhealthy endpoints are left out, for policies that do not say.",
    },
    strategies: {
      type: "object",
      propertyNames: { type: "string", enum: STRATEGY_NAMES },
      properties: Object.fromEntries(STRATEGY_NAMES.map((name) => [name, strategySchema(name)])),
    },
    dnsAddr: { type: "string", expected: HOST_PORT_ALLOWED },
    dnsDomain: { type: "string", expected: DNS_DOMAIN_ALLOWED },
    dnsTtl: {
      type: ["integer", "string"],
      minimum: 0,
      maximum: MAX_DNS_TTL_SECONDS,
      expected: DNS_TTL_ALLOWED,
    },
    dnsMaxAnswers: { type: "integer", minimum: 1, maximum: MAX_DNS_ANSWERS },
    xdsAddr: { type: "string", expected: HOST_PORT_ALLOWED },
  },
};

const ajv = new Ajv2020.default({
  allErrors: true,
  verbose: true,
  strict: true,
  allowUnionTypes: true,
});
ajv.addKeyword({ keyword: "expected", schemaType: "string" });
const validate = ajv.compile(CONFIG_SCHEMA);

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

/** A problem in the file; `key` is the top-level field it lies in, when there is one. */
export interface ConfigProblem {
  readonly key: ConfigKey | null;
  readonly message: string;
}

export interface ConfigFileResult {
  /** Null when the file is not YAML or not a map; otherwise the data, valid where no problem is. */
  readonly config: LoadBalancerConfig | null;
  readonly problems: readonly ConfigProblem[];
}

/** Top-level fields that only a flag or an environment variable sets. */
const COMMAND_LINE_ONLY: Readonly<Record<string, string>> = {
  file: "--file or KONSUL_LB_FILE",
  config: "--config or KONSUL_LB_CONFIG",
};

function pointerSegments(pointer: string): PathSegment[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((raw) => raw.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((key) => (/^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : key));
}

/** A problem and the field it is about, by which problems are told apart. */
interface FieldProblem extends ConfigProblem {
  readonly field: string;
}

function at(fileName: string, path: readonly PathSegment[], detail: string): FieldProblem {
  const first = path[0];
  const key = (CONFIG_KEYS as readonly unknown[]).includes(first) ? (first as ConfigKey) : null;
  const field = formatPath(path);
  const where = path.length === 0 ? fileName : `${fileName}: ${field}`;
  return { key, field, message: `${where}: ${detail}` };
}

function notAllowedAt(
  fileName: string,
  path: readonly PathSegment[],
  value: unknown,
  allowed: string,
): FieldProblem {
  const problem = at(fileName, path, "");
  const where = path.length === 0 ? fileName : `${fileName}: ${problem.field}`;
  return { ...problem, message: notAllowedMessage(where, value, allowed) };
}

function schemaProblem(fileName: string, error: ErrorObject): FieldProblem | null {
  // A failed propertyNames check also reports the inner enum, for the name; one message is enough.
  if (error.propertyName !== undefined) return null;
  const path = pointerSegments(error.instancePath);
  const parent = error.parentSchema as ConfigSchema | undefined;
  switch (error.keyword) {
    case "additionalProperties": {
      const extra = String(error.params.additionalProperty);
      const only = path.length === 0 ? COMMAND_LINE_ONLY[extra] : undefined;
      if (only !== undefined) {
        return at(fileName, [extra], `unknown field; this setting is given only by ${only}`);
      }
      const known = Object.keys(parent?.properties ?? {}).join(", ");
      return at(fileName, [...path, extra], `unknown field; the fields here are ${known}`);
    }
    case "propertyNames": {
      const name = String(error.params.propertyName);
      return at(
        fileName,
        [...path, name],
        `${showValue(name)} is not allowed as a key; expected a strategy name, one of ` +
          STRATEGY_NAMES.join(", "),
      );
    }
    default:
      return notAllowedAt(
        fileName,
        path,
        error.data,
        parent === undefined ? "a different value" : describeAllowed(parent),
      );
  }
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Latencies the pattern accepts but a duration cannot hold (beyond int64 nanoseconds). */
function latencyProblems(fileName: string, data: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const strategies = isMap(data) ? data.strategies : undefined;
  const latencyBased = isMap(strategies) ? strategies["latency-based"] : undefined;
  const map = isMap(latencyBased) ? latencyBased.latencyMap : undefined;
  if (!isMap(map)) return problems;
  for (const [from, row] of Object.entries(map)) {
    if (!isMap(row)) continue;
    for (const [to, text] of Object.entries(row)) {
      if (typeof text !== "string" || tryParseDuration(text) !== null) continue;
      const path = ["strategies", "latency-based", "latencyMap", from, to];
      problems.push(notAllowedAt(fileName, path, text, "a duration of at most 2562047h"));
    }
  }
  return problems;
}

/**
 * Parses and checks the text of a config file. `fileName` (the path as the user gave it) starts
 * every message. An empty file is an empty config.
 */
export function parseConfigFile(text: string, fileName: string): ConfigFileResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error): ConfigProblem => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      const detail =
        error.code === "MULTIPLE_DOCS"
          ? "the file holds several YAML documents; expected one"
          : error.message;
      return { key: null, message: `${fileName}:${line}:${col}: ${detail}` };
    });
    return { config: null, problems };
  }
  const data: unknown = document.toJS() ?? {};
  const found = validate(data)
    ? []
    : (validate.errors ?? []).map((error) => schemaProblem(fileName, error));
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const problem of [...found, ...latencyProblems(fileName, data)]) {
    // One message per field: a value of the wrong type would also fail its enum or its range.
    if (problem === null || seen.has(problem.field)) continue;
    seen.add(problem.field);
    problems.push({ key: problem.key, message: problem.message });
  }
  return { config: isMap(data) ? (data as LoadBalancerConfig) : null, problems };
}
