/**
 * The chart's dashboard and alerts against a real Prometheus (Debian's `prometheus`) scraping a
 * running konsul-lb (the demo, `--source file`) on loopback: every panel's query returns
 * series, every alert's selectors name metrics and labels that exist, and Prometheus evaluates
 * every rule without error. A metric name with a typo returns nothing and fails here.
 *
 * The file source has no controller, Lease or state, so the metrics of those
 * (ControllerMetrics, HaMetrics) are not served here: queries on them must name metrics those
 * classes register, and return series against the real control plane
 * (test/cluster/dashboard-alerts.test.ts).
 */
import { readFile } from "node:fs/promises";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HaMetrics } from "../../src/ha/ha-metrics.ts";
import { ControllerMetrics } from "../../src/kubernetes/controller-metrics.ts";
import { dig } from "../dns/support.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";
import {
  alertRules,
  dashboardQueries,
  expectSelectorsMatch,
  expectSeries,
  type NamedQuery,
  type PrometheusServer,
  RULES_FILE,
  selectors,
  startPrometheus,
} from "./prometheus.ts";

/** Prometheus serves a first sample 5-6 s after start; rates need two. */
const SERIES_TIMEOUT_MS = 30_000;

let service: TestService;
let prometheus: PrometheusServer;
let served: Set<string>;

/** Metric names (as Prometheus stores them) that only the Kubernetes source serves. */
async function kubernetesOnlyMetrics(): Promise<Set<string>> {
  const registry = new Registry();
  new ControllerMetrics(registry);
  new HaMetrics(registry);
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

function metricsOf(query: NamedQuery): string[] {
  return selectors(query.expr).map((s) => s.metric);
}

beforeAll(async () => {
  const demo = await readFile(new URL("../../examples/demo.yaml", import.meta.url), "utf8");
  service = await startTestService(demo, { dnsAddr: { host: "127.0.0.1", port: 0 } });
  // Traffic for every labelled series: decisions, a DNS query, a connection left open.
  for (const name of ["shop/cart", "shop/catalog", "shop/checkout", "payments/payments"]) {
    await fetch(`${service.url}/v1/services/${name}/pick?session-key=user-1&client-region=eu-west`);
  }
  const open = await fetch(`${service.url}/v1/services/shop/cart/connections`, { method: "POST" });
  expect(open.status).toBe(201);
  await dig((service.dns as { port: number }).port, ["+short", "cart.shop.lb.konsul.local"]);
  prometheus = await startPrometheus([new URL(service.url).host], [RULES_FILE]);
  await eventually(async () => {
    expect(await prometheus.query("rate(konsul_lb_selections_total[5m])")).not.toEqual([]);
  }, SERIES_TIMEOUT_MS);
  served = new Set(await prometheus.metricNames());
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await service?.close();
});

describe("the dashboard and alerts on a real Prometheus", () => {
  it("name only metrics konsul-lb serves, or that its Kubernetes side registers", async () => {
    const kubernetesOnly = await kubernetesOnlyMetrics();
    const queries = [
      ...(await dashboardQueries()),
      ...(await alertRules()).map((rule) => ({ source: `alert ${rule.alert}`, expr: rule.expr })),
    ];
    expect(queries.length).toBeGreaterThan(20);
    for (const query of queries) {
      const metrics = metricsOf(query);
      expect(metrics, `${query.source}: ${query.expr}`).not.toEqual([]);
      for (const metric of metrics) {
        expect(
          served.has(metric) || kubernetesOnly.has(metric),
          `${query.source}: ${metric} is neither served nor registered`,
        ).toBe(true);
      }
    }
  });

  it("every panel's query returns series", async () => {
    const kubernetesOnly = await kubernetesOnlyMetrics();
    const checked: string[] = [];
    for (const query of await dashboardQueries()) {
      if (metricsOf(query).some((metric) => kubernetesOnly.has(metric))) {
        // Valid PromQL at least: Prometheus refuses a query it cannot parse.
        await prometheus.query(query.expr);
        continue;
      }
      await expectSeries(prometheus, query, SERIES_TIMEOUT_MS);
      checked.push(query.source);
    }
    // Decisions, latency, endpoints, connections, DNS, event loop, memory.
    expect(new Set(checked).size).toBeGreaterThanOrEqual(7);
  });

  it("every alert's selectors return series with the labels they match on", async () => {
    for (const rule of await alertRules()) await expectSelectorsMatch(prometheus, rule, served);
  });

  it("Prometheus loads and evaluates every rule without an error", async () => {
    const names = (await alertRules()).map((rule) => rule.alert);
    await eventually(async () => {
      const rules = await prometheus.rules();
      expect(rules.map((rule) => rule.name).sort()).toEqual([...names].sort());
      for (const rule of rules) {
        expect(rule.health, `${rule.name}: ${rule.lastError ?? ""}`).toBe("ok");
      }
    }, 10_000);
  });

  it("a misspelt metric returns no series (the checks above have teeth)", async () => {
    expect(await prometheus.query("konsul_lb_selection_total")).toEqual([]);
    expect(await prometheus.query("konsul_lb_selections_total")).not.toEqual([]);
  });
});
