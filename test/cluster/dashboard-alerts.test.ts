/**
 * The chart's dashboard and alerts against a real Prometheus scraping the operator on the real
 * control plane, leader election on: here the Kubernetes side's metrics (policy readiness,
 * leader, state writes, reconciles, work queues) exist too, so every panel's query returns
 * series and every alert's selectors match (test/observability/dashboard-alerts.test.ts covers
 * the rest with `--source file`).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import { DEFAULT_HA_SETTINGS } from "../../src/ha/ha-settings.ts";
import { createLogger } from "../../src/observability/logger.ts";
import {
  alertRules,
  dashboardQueries,
  expectSelectorsMatch,
  expectSeries,
  type PrometheusServer,
  RULES_FILE,
  startPrometheus,
} from "../observability/prometheus.ts";
import { defaultSettings } from "../support/service.ts";
import {
  type Clients,
  clients,
  createNamespace,
  createNode,
  createReadyPod,
  createService,
  deleteNamespace,
  deleteNode,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { installPolicyCrd, serverSideApplyPolicy } from "./support/policies.ts";

const run = promisify(execFile);
/** Prometheus serves a first sample 5-6 s after start; rates need two. */
const SERIES_TIMEOUT_MS = 30_000;

let kube: Clients;
let namespace: string;
let node: string;
let operator: RunningService;
let prometheus: PrometheusServer;

beforeAll(async () => {
  kube = clients();
  await installPolicyCrd();
  namespace = await createNamespace(kube.core, "monitoring-");
  node = `${namespace}-node`;
  await createNode(kube.core, node, { region: "us-east", zone: "us-east-1a" });
  await createService(kube.core, namespace, "web", { app: "web" }, [
    { name: "http", port: 80, targetPort: 8080 },
  ]);
  for (const [i, ip] of ["10.20.0.10", "10.20.0.11"].entries()) {
    await createReadyPod(kube.core, namespace, {
      name: `web-${i}`,
      nodeName: node,
      ip,
      labels: { app: "web" },
    });
  }
  await serverSideApplyPolicy(namespace, "web-lb", {
    targetRef: { kind: "Service", name: "web" },
    strategy: "least-connections",
  });
  operator = await startService(
    {
      ...defaultSettings,
      source: "kubernetes",
      kubeconfig: testKubeconfigPath(),
      dnsAddr: { host: "127.0.0.1", port: 0 },
      ha: {
        ...DEFAULT_HA_SETTINGS,
        leaderElect: true,
        leaseNamespace: namespace,
        stateNamespace: namespace,
      },
    },
    createLogger("silent"),
  );
  const metrics = async () => (await fetch(`${operator.url}/metrics`)).text();
  await waitFor(
    "the operator to lead and see both endpoints",
    async () => {
      const text = await metrics();
      return /^konsul_lb_leader 1$/m.test(text) &&
        text.includes(`konsul_lb_healthy_endpoints{service="${namespace}/web"} 2`)
        ? true
        : undefined;
    },
    { timeoutMs: 60_000 },
  );
  // A decision, a counted connection left open (state to write), a DNS query.
  expect((await fetch(`${operator.url}/v1/services/${namespace}/web/pick`)).status).toBe(200);
  const open = await fetch(`${operator.url}/v1/services/${namespace}/web/connections`, {
    method: "POST",
  });
  expect(open.status).toBe(201);
  await run("dig", [
    "@127.0.0.1",
    "-p",
    String(operator.dns?.port),
    "+short",
    "+tries=1",
    "+time=3",
    `web.${namespace}.lb.konsul.local`,
  ]);
  await waitFor(
    "a state write and a policy status reconcile",
    async () => {
      const text = await metrics();
      return text.includes('konsul_lb_state_writes_total{result="ok"}') &&
        text.includes(`konsul_lb_policy_ready{policy="${namespace}/web-lb"} 1`) &&
        text.includes('konsul_lb_reconcile_total{controller="policy-status"')
        ? true
        : undefined;
    },
    { timeoutMs: 30_000 },
  );
  prometheus = await startPrometheus([new URL(operator.url).host], [RULES_FILE]);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await operator?.stop();
  if (namespace) await deleteNamespace(kube.core, namespace);
  if (node) await deleteNode(kube.core, node);
});

describe("the dashboard and alerts on a real Prometheus, against the operator in a cluster", () => {
  it("every panel's query returns series", async () => {
    const queries = await dashboardQueries();
    for (const query of queries) await expectSeries(prometheus, query, SERIES_TIMEOUT_MS);
  }, 120_000);

  it("every alert's selectors return series with the labels they match on, and none fires", async () => {
    const served = new Set(await prometheus.metricNames());
    for (const rule of await alertRules()) {
      for (const metric of rule.expr.match(/konsul_lb_\w+|nodejs_\w+/g) ?? []) {
        expect(served.has(metric), `${rule.alert}: ${metric} is not served`).toBe(true);
      }
      await expectSelectorsMatch(prometheus, rule, served);
      // A healthy installation: the alert's own expression returns nothing. (Event-loop lag
      // depends on what else this machine runs, so it is left to the promtool unit tests.)
      if (rule.alert === "KonsulLbEventLoopLagHigh") continue;
      // Only this installation's own objects: the operator watches the whole cluster, where
      // other test files' namespaces may still be going away with their policies.
      const firing = (await prometheus.query(rule.expr)).filter((series) => {
        const object = series.metric.policy ?? series.metric.service;
        return object === undefined || object.startsWith(`${namespace}/`);
      });
      expect(firing, rule.alert).toEqual([]);
    }
  });
});
