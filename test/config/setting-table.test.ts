// What each row of the table of settings turns into: its flag and variable in the help, its
// field in the config file's schema and example, and its value read from every source.

import { describe, expect, it } from "vitest";
import { CONFIG_SCHEMA, parseConfigFile } from "../../src/config/config-file.ts";
import { HELP_TEXT } from "../../src/config/help.ts";
import { CONFIG_KEYS, envName, SETTING_NAMES, spec } from "../../src/config/setting-table.ts";
import { loadSettings } from "../../src/config/settings.ts";

const rows = SETTING_NAMES.map((name) => ({ name, ...spec(name) }));
const flagRows = rows.filter((row) => row.flag !== null);

describe("the table of settings", () => {
  it("gives each flag one KONSUL_LB_ variable, both unique", () => {
    const flags = flagRows.map((row) => row.flag as string);
    expect(new Set(flags).size).toBe(flags.length);
    const envs = flags.map(envName);
    expect(new Set(envs).size).toBe(envs.length);
    expect(envName("state-configmap-prefix")).toBe("KONSUL_LB_STATE_CONFIGMAP_PREFIX");
  });

  it("lists every flag in the help with its value, help, variable, config key and default", () => {
    for (const row of flagRows) {
      const start = HELP_TEXT.indexOf(`\n  --${row.flag} ${row.value[0]}\n`);
      expect(start, `--${row.flag}`).toBeGreaterThan(0);
      const block = HELP_TEXT.slice(start + 1).split("\n  --")[0] ?? "";
      for (const line of row.help) expect(block).toContain(line);
      const config = row.configKey === null ? "" : `   config: ${row.configKey}`;
      expect(block).toContain(
        `env: ${envName(row.flag as string)}${config}   default: ${row.defaultText}`,
      );
    }
  });

  it("gives every config file field a schema and a line in the help's example", () => {
    const fields = rows.flatMap((row) => (row.configKey === null ? [] : [row.configKey]));
    expect([...fields].sort()).toEqual([...CONFIG_KEYS].sort());
    expect(Object.keys(CONFIG_SCHEMA.properties ?? {})).toEqual([...CONFIG_KEYS]);
    const example = HELP_TEXT.slice(HELP_TEXT.indexOf("Config file ("));
    for (const key of CONFIG_KEYS) expect(example).toMatch(new RegExp(`^  ${key}:`, "m"));
  });

  it("reads a field of the file the same as its flag and its variable", () => {
    const cases: [flag: string, value: string, yaml: string][] = [
      ["http-addr", "127.0.0.1:9000", "httpAddr: 127.0.0.1:9000"],
      ["default-strategy", "maglev", "defaultStrategy: maglev"],
      ["log-level", "warn", "logLevel: warn"],
      ["trust-proxy", "2", "trustProxy: 2"],
      ["dns-addr", "127.0.0.1:5353", "dnsAddr: 127.0.0.1:5353"],
      ["dns-domain", "Example.Test.", "dnsDomain: Example.Test."],
      ["dns-ttl", "1m", "dnsTtl: 1m"],
      ["dns-max-answers", "3", "dnsMaxAnswers: 3"],
      ["internal-addr", "127.0.0.1:9001", "internalAddr: 127.0.0.1:9001"],
      ["xds-addr", "127.0.0.1:18000", "xdsAddr: 127.0.0.1:18000"],
      ["max-connections", "500", "maxConnections: 500"],
      ["max-connections-per-service", "50", "maxConnectionsPerService: 50"],
      ["max-blocking-waiters", "70", "maxBlockingWaiters: 70"],
      ["table-build-workers", "0", "tableBuildWorkers: 0"],
    ];
    expect(cases.map(([flag]) => flag).sort()).toEqual(
      flagRows
        .filter((row) => row.configKey !== null)
        .map((row) => row.flag as string)
        .sort(),
    );
    for (const [flag, value, yaml] of cases) {
      const byFlag = loadSettings([`--${flag}`, value], {}, () => "");
      const byEnv = loadSettings([], { [envName(flag)]: value }, () => "");
      const byFile = loadSettings(["--config", "c.yaml"], {}, () => yaml);
      expect(byFlag.kind, flag).toBe("ok");
      expect(byEnv, flag).toEqual(byFlag);
      expect(byFile, flag).toEqual(byFlag);
    }
    expect(parseConfigFile("dnsTtl: 1m\n", "c.yaml").problems).toEqual([]);
  });
});
