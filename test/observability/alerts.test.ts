/**
 * The chart's alert rules: `promtool check rules` accepts the file, `promtool test rules` runs a
 * unit test for every alert (alerts.promtool.yaml: each one quiet before its condition has held
 * long enough and firing after), and each alert links to its runbook section in the docs.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { runProcess } from "../support/process.ts";
import { systemBinary } from "../support/system-binary.ts";
import { alertRules, RULES_FILE } from "./prometheus.ts";

const UNIT_TESTS = fileURLToPath(new URL("alerts.promtool.yaml", import.meta.url));
const RUNBOOKS = fileURLToPath(new URL("../../docs/operations.md", import.meta.url));
const packageJson = JSON.parse(
  await readFile(new URL("../../package.json", import.meta.url), "utf8"),
) as { repository: { url: string } };
/** docs/operations.md on the repository package.json names. */
const RUNBOOK_URL = `${packageJson.repository.url.replace(/^git\+/, "").replace(/\.git$/, "")}/blob/main/docs/operations.md`;

interface UnitTest {
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

describe("alert rules", () => {
  it("pass promtool check rules", async () => {
    const result = await runProcess(
      systemBinary("promtool", "prometheus"),
      ["check", "rules", RULES_FILE],
      {
        timeoutMs: 10_000,
      },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${(await alertRules()).length} rules found`);
  });

  it("pass their promtool unit tests", async () => {
    const result = await runProcess(
      systemBinary("promtool", "prometheus"),
      ["test", "rules", UNIT_TESTS],
      {
        timeoutMs: 10_000,
      },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("SUCCESS");
  });

  it("each have a unit test where they stay quiet and one where they fire", async () => {
    const file = parseYaml(await readFile(UNIT_TESTS, "utf8")) as { tests: UnitTest[] };
    const cases = file.tests.flatMap((test) => test.alert_rule_test);
    for (const rule of await alertRules()) {
      const own = cases.filter((c) => c.alertname === rule.alert);
      expect(
        own.some((c) => c.exp_alerts.length === 0),
        `${rule.alert} quiet`,
      ).toBe(true);
      expect(
        own.some((c) => c.exp_alerts.length > 0),
        `${rule.alert} firing`,
      ).toBe(true);
    }
  });

  it("each link to a runbook section of docs/operations.md, and carry a severity and a summary", async () => {
    const docs = await readFile(RUNBOOKS, "utf8");
    const headings = new Set(
      [...docs.matchAll(/^### (\w+)$/gm)].map((m) => (m[1] as string).toLowerCase()),
    );
    const rules = await alertRules();
    expect(rules.length).toBeGreaterThanOrEqual(7);
    for (const rule of rules) {
      expect(rule.annotations.runbook_url).toBe(`${RUNBOOK_URL}#${rule.alert.toLowerCase()}`);
      expect(headings, rule.alert).toContain(rule.alert.toLowerCase());
      expect(["critical", "warning"]).toContain(rule.labels?.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
    }
    // No runbook without its alert.
    expect([...headings].sort()).toEqual(rules.map((rule) => rule.alert.toLowerCase()).sort());
  });
});
