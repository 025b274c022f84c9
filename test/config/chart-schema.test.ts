// The chart's values.schema.json, generated from its hand-kept base and the table of settings:
// the checked-in file is what `npm run chart-schema` writes, each setting's Helm value exists
// in values.yaml and passes the schema, and a value described in both places is refused.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  CHART_SCHEMA_BASE_FILE,
  CHART_SCHEMA_FILE,
  chartValuesSchema,
  formatJson,
  renderChartSchema,
} from "../../src/config/chart-schema.ts";
import { envName, SETTING_NAMES, SETTINGS, spec } from "../../src/config/setting-table.ts";
import { loadSettings } from "../../src/config/settings.ts";
import { repoRoot } from "../support/cli.ts";

const read = (file: string) => readFileSync(join(repoRoot, file), "utf8");
const base = JSON.parse(read(CHART_SCHEMA_BASE_FILE));
const values = parseYaml(read("charts/konsul-lb/values.yaml")) as Record<string, unknown>;

function at(node: unknown, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((parent, key) => (parent as Record<string, unknown> | undefined)?.[key], node);
}

function schemaAt(schema: unknown, path: string): unknown {
  return at(
    schema,
    path
      .split(".")
      .flatMap((key) => ["properties", key])
      .join("."),
  );
}

function validator(schema: object) {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  return ajv.compile({ ...schema, $schema: undefined });
}

const helmRows = SETTING_NAMES.flatMap((name) => {
  const helm = spec(name).helm;
  return helm === null ? [] : [{ name, path: helm.path }];
});

describe("the chart's values.schema.json", () => {
  it("is what npm run chart-schema writes (run it after changing the base or a setting)", () => {
    expect(read(CHART_SCHEMA_FILE)).toBe(renderChartSchema(read(CHART_SCHEMA_BASE_FILE)));
  });

  it("takes every setting that has a Helm value from the table, none from the base", () => {
    expect(helmRows.map((row) => row.path)).toEqual([
      "operator.defaultStrategy",
      "operator.logLevel",
      "operator.trustProxy",
      "operator.healthFilter",
      "operator.strategies",
      "dns.domain",
      "dns.ttl",
      "dns.maxAnswers",
      "operator.maxConnections",
      "operator.maxConnectionsPerService",
      "operator.maxBlockingWaiters",
      "operator.tableBuildWorkers",
      "statusPage.enabled",
      "leaderElection.enabled",
      "leaderElection.leaseName",
      "leaderElection.leaseDuration",
      "leaderElection.renewDeadline",
      "leaderElection.retryPeriod",
      "state.configMapPrefix",
      "state.interval",
      "state.connectionDurability",
    ]);
    const schema = chartValuesSchema(base);
    for (const { path } of helmRows) {
      expect(schemaAt(base, path), `${path} in the base`).toBeUndefined();
      expect(schemaAt(schema, path), path).toBeDefined();
      expect(at(values, path), `${path} in values.yaml`).not.toBeUndefined();
    }
  });

  it("hands every setting's Helm value to the operator: config.yaml or its variable", () => {
    const helpers = read("charts/konsul-lb/templates/_helpers.tpl");
    const deployment = read("charts/konsul-lb/templates/deployment.yaml");
    for (const { name, path } of helmRows) {
      const { flag, configKey } = spec(name);
      if (configKey !== null) {
        // konsul-lb.config: `"logLevel" $op.logLevel`, `"dnsTtl" .Values.dns.ttl`.
        const value = path.startsWith("operator.") ? `$op.${path.slice(9)}` : `.Values.${path}`;
        expect(helpers, `${configKey} in konsul-lb.config`).toContain(`"${configKey}"`);
        expect(helpers, `${value} in konsul-lb.config`).toContain(value);
      } else {
        const env = envName(flag as string);
        expect(deployment, `${env} from .Values.${path}`).toMatch(
          new RegExp(
            `name: ${env}\\n\\s+value: \\{\\{ \\.Values\\.${path.replaceAll(".", "\\.")} `,
          ),
        );
      }
    }
  });

  it("passes values.yaml as it is, and refuses a wrong value of a setting by its path", () => {
    const validate = validator(chartValuesSchema(base));
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    const wrong = structuredClone(values) as Record<string, any>;
    wrong.dns.ttl = "1.5s";
    wrong.leaderElection.leaseDuration = "15";
    wrong.operator.strategies = { "ring-hash": { virtualNodes: 0 }, "no-such-strategy": {} };
    expect(validate(wrong)).toBe(false);
    expect((validate.errors ?? []).map((error) => error.instancePath).sort()).toEqual([
      "/dns/ttl",
      "/leaderElection/leaseDuration",
      "/operator/strategies",
      "/operator/strategies/ring-hash/virtualNodes",
    ]);
  });

  it("accepts the chart values the operator accepts: defaults of the table as values.yaml has them", () => {
    // The chart passes these on to the operator (config.yaml and KONSUL_LB_ variables).
    const env = {
      KONSUL_LB_LEASE_DURATION: String(at(values, "leaderElection.leaseDuration")),
      KONSUL_LB_STATE_INTERVAL: String(at(values, "state.interval")),
      KONSUL_LB_LEASE_NAME: String(at(values, "leaderElection.leaseName")),
      KONSUL_LB_DNS_TTL: String(at(values, "dns.ttl")),
      KONSUL_LB_DNS_DOMAIN: String(at(values, "dns.domain")),
    };
    const result = loadSettings([], env, () => "");
    expect(result.kind, JSON.stringify(result)).toBe("ok");
    expect(SETTINGS["lease-name"].defaultText).toBe(at(values, "leaderElection.leaseName"));
  });

  it("refuses a value that both the base and the table describe", () => {
    const twice = structuredClone(base);
    twice.properties.dns.properties.ttl = { type: "integer" };
    expect(() => chartValuesSchema(twice)).toThrow(
      /dns\.ttl is in charts\/konsul-lb\/values\.schema\.base\.json and is the setting dns-ttl/,
    );
  });

  it("closes the objects it adds for a setting whose parent the base lacks", () => {
    const bare = structuredClone(base);
    delete bare.properties.operator;
    const operator = schemaAt(chartValuesSchema(bare), "operator") as Record<string, unknown>;
    expect(operator.additionalProperties).toBe(false);
    expect(Object.keys(operator.properties as object)).toContain("logLevel");
  });
});

describe("formatJson", () => {
  it("keeps short lists of plain values on one line and breaks long ones", () => {
    expect(formatJson({ a: [1, "x"], b: {}, c: [] })).toBe(
      '{\n  "a": [1, "x"],\n  "b": {},\n  "c": []\n}',
    );
    const long = Array.from({ length: 20 }, (_, i) => `value-${i}`);
    expect(formatJson({ list: long }).split("\n")).toHaveLength(long.length + 4);
  });
});
