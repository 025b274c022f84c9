// A real Prometheus server (Debian's `prometheus`) on loopback for the tests, and the queries of
// the chart's dashboard and alerts, read from the files the chart ships.

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { Component, freePorts } from "../cluster/harness/processes.ts";
import { eventually } from "../support/service.ts";
import { systemBinary } from "../support/system-binary.ts";

const MONITORING = fileURLToPath(new URL("../../charts/konsul-lb/monitoring/", import.meta.url));
export const RULES_FILE = join(MONITORING, "konsul-lb.rules.yaml");
export const DASHBOARD_FILE = join(MONITORING, "konsul-lb-dashboard.json");

export interface NamedQuery {
  /** "panel <title>" or "alert <name>". */
  readonly source: string;
  readonly expr: string;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** Every target of every panel of the dashboard. */
export async function dashboardQueries(): Promise<NamedQuery[]> {
  const dashboard = JSON.parse(await readFile(DASHBOARD_FILE, "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({ source: `panel ${panel.title}`, expr: target.expr })),
  );
}

/** Every alerting rule of the rule file. */
export async function alertRules(): Promise<AlertRule[]> {
  const file = parseYaml(await readFile(RULES_FILE, "utf8")) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((group) => group.rules.filter((rule) => rule.alert !== undefined));
}

const KEYWORDS = new Set(["and", "or", "unless", "offset", "bool", "on", "ignoring", "group_left"]);

/**
 * The vector selectors of a PromQL expression: metric names with the label names they match on.
 * Enough for the chart's expressions (functions and aggregations around selectors): a name
 * followed by "(" is a function, the names in by (...) and without (...) are grouping labels.
 */
export function selectors(expr: string): { metric: string; labels: string[] }[] {
  const found: { metric: string; labels: string[] }[] = [];
  const text = expr.replaceAll(/\b(by|without)\s*\([^)]*\)/g, " ");
  for (const match of text.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\{[^}]*\})?/g)) {
    const metric = match[1] as string;
    const next = text.slice((match.index as number) + match[0].length).trimStart();
    if (KEYWORDS.has(metric) || (match[2] === undefined && next.startsWith("("))) continue;
    const labels = [...(match[2] ?? "").matchAll(/(\w+)\s*(=~|!~|!=|=)/g)].map(
      (m) => m[1] as string,
    );
    found.push({ metric, labels });
  }
  return found;
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; throws with Prometheus's error for a query it refuses. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** The names of every metric Prometheus has scraped. */
  metricNames(): Promise<string[]>;
  /** The loaded rules as /api/v1/rules reports them. */
  rules(): Promise<{ name: string; health: string; lastError?: string }[]>;
  stop(): Promise<void>;
}

/**
 * Prometheus scraping `targets` (host:port, path /metrics) every second as job "konsul-lb",
 * with `ruleFiles` loaded and evaluated every second. Resolves once it answers ready.
 */
export async function startPrometheus(
  targets: readonly string[],
  ruleFiles: readonly string[] = [],
): Promise<PrometheusServer> {
  const binary = systemBinary("prometheus", "prometheus");
  const dir = await mkdtemp(join(tmpdir(), "konsul-lb-prometheus-"));
  const [port] = (await freePorts(1)) as [number];
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    JSON.stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: ruleFiles,
      scrape_configs: [{ job_name: "konsul-lb", static_configs: [{ targets }] }],
    }),
  );
  const server = new Component(
    {
      name: "prometheus",
      binary,
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
    },
    dir,
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await server.stop({ graceMs: 5000 });
    await rm(dir, { recursive: true, force: true });
  };
  await server.start();
  try {
    await server.whileRunning(() =>
      eventually(async () => {
        const response = await fetch(`${url}/-/ready`);
        if (!response.ok) throw new Error(`/-/ready: ${response.status}`);
      }, 15_000),
    );
  } catch (error) {
    const log = await server.tail();
    await stop();
    throw new Error(`Prometheus did not get ready: ${error}\n${log}`);
  }
  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`${path}: ${body.error ?? response.status}`);
    return body.data;
  }
  return {
    url,
    async query(expr) {
      const data = await api<{
        result: { metric: Record<string, string>; value: [number, string] }[];
      }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result;
    },
    metricNames: () => api<string[]>("/api/v1/label/__name__/values"),
    async rules() {
      const data = await api<{
        groups: { rules: { name: string; health: string; lastError?: string }[] }[];
      }>("/api/v1/rules");
      return data.groups.flatMap((group) => group.rules);
    },
    stop,
  };
}

/** Waits (at most `timeoutMs`) until `query` returns series; fails naming it otherwise. */
export async function expectSeries(
  prometheus: PrometheusServer,
  query: NamedQuery,
  timeoutMs: number,
): Promise<void> {
  await eventually(async () => {
    const series = await prometheus.query(query.expr);
    if (series.length === 0) throw new Error(`${query.source}: no series for ${query.expr}`);
  }, timeoutMs);
}

/**
 * Each selector of `rule` that names a metric in `metrics`: the metric has series, and they carry
 * every label the selector matches on (label values are the promtool unit tests' business).
 */
export async function expectSelectorsMatch(
  prometheus: PrometheusServer,
  rule: AlertRule,
  metrics: ReadonlySet<string>,
): Promise<void> {
  for (const { metric, labels } of selectors(rule.expr)) {
    if (!metrics.has(metric)) continue;
    const series = await prometheus.query(metric);
    if (series.length === 0) throw new Error(`${rule.alert}: no series for ${metric}`);
    for (const label of labels) {
      if (!series.some((s) => label in s.metric)) {
        throw new Error(`${rule.alert}: ${metric} has no label ${label}`);
      }
    }
  }
}
