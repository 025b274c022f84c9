/**
 * The config file of `konsul-lb serve` (`--config`): a YAML LoadBalancerConfig holding the server's
 * settings and its defaults for policies. It is checked with a closed JSON Schema made from the
 * table of settings, and every problem names the file and the field: `config.yaml:
 * strategies.ring-hash.virtualNodes: 0 is not allowed; expected an integer from 1 to 10000`.
 */

import { LineCounter, parseDocument } from "yaml";
import { STRATEGY_NAMES } from "../balancer/index.ts";
import { tryParseDuration } from "../policy/duration.ts";
import type { PathSegment } from "../policy/field-path.ts";
import { formatPath } from "../policy/field-path.ts";
import { compileValidator, type ErrorObject } from "../shared/ajv.ts";
import { showValue } from "../shared/show-value.ts";
import { type ConfigSchema, describeAllowed } from "./config-schema.ts";
import {
  CONFIG_KEYS,
  type ConfigKey,
  envName,
  ROW_OF_CONFIG_KEY,
  SETTING_NAMES,
  spec,
} from "./setting-table.ts";
import { notAllowedMessage } from "./values.ts";

export { CONFIG_KEYS } from "./setting-table.ts";

/**
 * The file as written (durations still text), each field checked by its row's schema and read by
 * its row's parse; every field is optional.
 */
export type LoadBalancerConfig = Readonly<Partial<Record<ConfigKey, unknown>>>;

function fieldSchema(key: ConfigKey): ConfigSchema {
  const name = ROW_OF_CONFIG_KEY.get(key);
  const schema = name === undefined ? undefined : spec(name).schema;
  if (schema === undefined) throw new Error(`the setting of config key ${key} has no schema`);
  return schema;
}

export const CONFIG_SCHEMA: ConfigSchema = {
  type: "object",
  additionalProperties: false,
  properties: Object.fromEntries(CONFIG_KEYS.map((key) => [key, fieldSchema(key)])),
};

const validate = compileValidator(CONFIG_SCHEMA);

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

/** Top-level fields that only a flag or an environment variable sets, by their flag's name. */
const COMMAND_LINE_ONLY: ReadonlyMap<string, string> = new Map(
  SETTING_NAMES.flatMap((name) => {
    const { flag, configKey } = spec(name);
    return flag === null || configKey !== null ? [] : [[flag, `--${flag} or ${envName(flag)}`]];
  }),
);

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
      const only = path.length === 0 ? COMMAND_LINE_ONLY.get(extra) : undefined;
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
