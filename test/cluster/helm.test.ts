// The Helm chart (charts/konsul-lb) with the real helm binary against the real kube-apiserver:
// lint, a matrix of renders each dry-run on the server, the operator's own settings parser fed
// with what the chart renders, and install / upgrade / uninstall of a release whose ServiceAccount
// then runs a `konsul-lb serve` process. There is no kubelet: nothing waits for the chart's pods.

import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  type CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { MAX_VIRTUAL_NODES } from "../../src/balancer/policy.ts";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { loadSettings, type ServerSettings } from "../../src/config/settings.ts";
import { LOG_LEVELS, MAX_DNS_ANSWERS, MAX_DNS_TTL_SECONDS } from "../../src/config/values.ts";
import { STATE_LABEL, shardKind } from "../../src/ha/configmaps.ts";
import { DEFAULT_MAX_SHARDS } from "../../src/ha/snapshot-writer.ts";
import { FIELD_MANAGER } from "../../src/kubernetes/policy-status.ts";
import { watchedKinds } from "../../src/kubernetes/resources.ts";
import { DURATION_PATTERN, tryParseDuration } from "../../src/policy/duration.ts";
import { type ServingCli, serveCli } from "../support/cli.ts";
import {
  CHART_DIR,
  HELM_BINARIES,
  Helm,
  type HelmBinary,
  type KubeObject,
  kubectl,
  parseObjects,
  runCommand,
} from "./support/helm.ts";
import {
  type Clients,
  clients,
  clusterAvailable,
  createNamespace,
  createNode,
  createReadyPod,
  createService,
  deleteNamespace,
  deleteNode,
  deletePod,
  isNotFound,
  loadKubeConfig,
  waitFor,
} from "./support/kube.ts";

const RELEASE = "konsul-lb";
const CONFIG_PATH = "/etc/konsul-lb/config.yaml";
const POLICY = { group: "lb.konsul.io", version: "v1alpha1", plural: "loadbalancingpolicies" };
const POLICY_CRD = "loadbalancingpolicies.lb.konsul.io";

// The ServiceMonitor CRD comes from the Prometheus Operator's Go module (through the module
// proxy into the local module cache), so the dry run checks against the schema it publishes.
const PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator";
const PROMETHEUS_OPERATOR_VERSION = process.env.KONSUL_LB_PROMETHEUS_OPERATOR_VERSION ?? "v0.85.0";
const SERVICE_MONITOR_CRD_FILE =
  "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml";
const SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com";
const PROMETHEUS_RULE_CRD_FILE =
  "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml";
const PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com";
/** The Prometheus Operator's kinds the chart renders, with their CRDs. */
const MONITORING_CRDS = [
  { kind: "ServiceMonitor", name: SERVICE_MONITOR_CRD, file: SERVICE_MONITOR_CRD_FILE },
  { kind: "PrometheusRule", name: PROMETHEUS_RULE_CRD, file: PROMETHEUS_RULE_CRD_FILE },
] as const;
const DASHBOARD_FILE = join(CHART_DIR, "monitoring", "konsul-lb-dashboard.json");
const RULES_FILE = join(CHART_DIR, "monitoring", "konsul-lb.rules.yaml");

const chartValues = parse(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as Record<
  string,
  any
>;
const schema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8"));
const chartMeta = parse(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8"));
const packageJson = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
);

// ---- what the chart must grant, derived from the operator's code where it can be ----

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

/** "/api/v1/services" → ["", "services"]; "/apis/discovery.k8s.io/v1/endpointslices" → group. */
function groupResource(path: string): [string, string] {
  const parts = path.split("?")[0]?.split("/").filter(Boolean) ?? [];
  if (parts[0] === "api") return ["", parts.at(-1) ?? ""];
  return [parts[1] ?? "", parts.at(-1) ?? ""];
}

const CLUSTER_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["services", "pods", "nodes"], verbs: ["list", "watch"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
  { apiGroups: ["lb.konsul.io"], resources: ["loadbalancingpolicies"], verbs: ["list", "watch"] },
  { apiGroups: ["lb.konsul.io"], resources: ["loadbalancingpolicies/status"], verbs: ["patch"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create"] },
];
/** With leader election: the internal API checks its callers' tokens. */
const TOKEN_REVIEW_RULE: PolicyRule = {
  apiGroups: ["authentication.k8s.io"],
  resources: ["tokenreviews"],
  verbs: ["create"],
};

function namespaceRules(
  leaseName: string,
  prefix: string,
  shards: number,
  owner: string,
): PolicyRule[] {
  return [
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: [leaseName],
      verbs: ["get", "update"],
    },
    { apiGroups: [""], resources: ["configmaps"], resourceNames: [owner], verbs: ["get"] },
    { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "list", "watch"] },
    {
      apiGroups: [""],
      resources: ["configmaps"],
      resourceNames: Array.from({ length: shards }, (_, i) => `${prefix}-${i}`),
      verbs: ["get", "update", "delete"],
    },
  ];
}

// ---- the matrix ----

interface Case {
  readonly name: string;
  readonly values: Record<string, any>;
}

const CASES: readonly Case[] = [
  { name: "defaults", values: {} },
  { name: "DNS on", values: { dns: { enabled: true, domain: "lb.example.", ttl: 30 } } },
  {
    name: "xDS on, behind a NetworkPolicy",
    values: { xds: { enabled: true, port: 15010 }, networkPolicy: { enabled: true } },
  },
  {
    name: "monitoring on (ServiceMonitor, dashboard, PrometheusRule, PodDisruptionBudget, NetworkPolicy)",
    values: {
      metrics: {
        serviceMonitor: { enabled: true, interval: "15s", labels: { release: "prom" } },
        grafanaDashboard: { enabled: true, annotations: { grafana_folder: "konsul-lb" } },
        prometheusRule: { enabled: true, labels: { release: "prom" } },
      },
      podDisruptionBudget: { enabled: true, minAvailable: 1 },
      networkPolicy: {
        enabled: true,
        from: [
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } } },
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
          },
        ],
      },
    },
  },
  { name: "one replica", values: { replicaCount: 1 } },
  {
    name: "one replica without election",
    values: { replicaCount: 1, leaderElection: { enabled: false } },
  },
  {
    name: "every operator setting changed",
    values: {
      replicaCount: 3,
      operator: {
        defaultStrategy: "ring-hash",
        logLevel: "debug",
        healthFilter: false,
        trustProxy: ["loopback", "10.0.0.0/8"],
        strategies: {
          "ip-hash": { enabled: false },
          "ring-hash": { virtualNodes: 300 },
          "latency-based": { latencyMap: { "us-east": { "us-east": "1ms", "eu-west": "80ms" } } },
        },
      },
      dns: { enabled: true, maxAnswers: 8 },
      leaderElection: {
        leaseName: "lb-leader",
        leaseDuration: "20s",
        renewDeadline: "12s",
        retryPeriod: "3s",
      },
      state: { configMapPrefix: "lb-state", interval: "500ms", maxShards: 8 },
      terminationGracePeriodSeconds: 45,
      preStopSleepSeconds: 10,
      image: { digest: `sha256:${"ab12".repeat(16)}` },
      extraArgs: ["--dns-max-answers=4"],
      extraEnv: [{ name: "NODE_OPTIONS", value: "--max-old-space-size=384" }],
    },
  },
];

/** values.yaml with `overrides` merged in, as Helm merges a values file over it. */
function effectiveValues(overrides: Record<string, any>): Record<string, any> {
  const merge = (base: any, over: any): any => {
    if (over === null || typeof over !== "object" || Array.isArray(over)) return over;
    const out: Record<string, any> = { ...(base ?? {}) };
    for (const [key, value] of Object.entries(over)) out[key] = merge(out[key], value);
    return out;
  };
  return merge(chartValues, overrides);
}

function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function only(objects: readonly KubeObject[], kind: string): KubeObject {
  const matching = objects.filter((o) => o.kind === kind);
  expect(
    matching.map((o) => o.metadata.name),
    `one ${kind}`,
  ).toHaveLength(1);
  return matching[0] as KubeObject;
}

function container(deployment: KubeObject): any {
  const containers = deployment.spec.template.spec.containers as any[];
  expect(containers.map((c) => c.name)).toEqual(["konsul-lb"]);
  return containers[0];
}

/** The environment the container would see, the downward API filled in as a kubelet would. */
function containerEnv(deployment: KubeObject, namespace: string): Record<string, string> {
  const downward: Record<string, string> = {
    "metadata.name": `${deployment.metadata.name}-5d9c7-x2vqk`,
    "metadata.namespace": namespace,
    // Never contacted: only parsed into the advertise URL.
    "status.podIP": "10.96.0.7",
  };
  const env: Record<string, string> = {};
  for (const entry of container(deployment).env as any[]) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom?.fieldRef) {
      const value = downward[entry.valueFrom.fieldRef.fieldPath];
      if (value === undefined) throw new Error(`no downward value for ${entry.name}`);
      env[entry.name] = value;
    }
  }
  return env;
}

/** The ConfigMap with config.yaml (the dashboard's ConfigMap is the other one). */
function configConfigMap(objects: readonly KubeObject[]): KubeObject {
  const matching = objects.filter(
    (o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-config"),
  );
  expect(matching, "one ConfigMap with config.yaml").toHaveLength(1);
  return matching[0] as KubeObject;
}

/**
 * What `konsul-lb serve` would make of the rendered Deployment and ConfigMap: its arguments
 * (after the image's entrypoint), its environment and the mounted config.yaml, through the
 * operator's own settings parser.
 */
function operatorSettings(objects: readonly KubeObject[], namespace: string): ServerSettings {
  const deployment = only(objects, "Deployment");
  const configMap = configConfigMap(objects);
  const spec = deployment.spec.template.spec;
  const main = container(deployment);
  // config.yaml reaches the container through the volume of the chart's ConfigMap.
  const mount = (main.volumeMounts as any[]).find((m) => m.mountPath === "/etc/konsul-lb");
  const volume = (spec.volumes as any[]).find((v) => v.name === mount?.name);
  expect(volume?.configMap?.name).toBe(configMap.metadata.name);
  expect(Object.keys(configMap.data)).toEqual(["config.yaml"]);
  const args = main.args as string[];
  expect(args[0]).toBe("serve");
  const result = loadSettings(args.slice(1), containerEnv(deployment, namespace), (path) => {
    if (path !== CONFIG_PATH) throw new Error(`the container has no file ${path}`);
    return configMap.data["config.yaml"] as string;
  });
  if (result.kind !== "ok")
    throw new Error(`the operator would refuse to start: ${JSON.stringify(result)}`);
  return result.settings;
}

// ---- the values file and its schema, without a cluster ----

type SchemaNode = Record<string, any>;

/** Every object schema and its path, definitions included. */
function objectSchemas(node: SchemaNode, path: string, out: [string, SchemaNode][] = []) {
  const types = [node.type].flat();
  if (types.includes("object")) out.push([path, node]);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    objectSchemas(child as SchemaNode, path === "" ? key : `${path}.${key}`, out);
  }
  for (const [key, child] of Object.entries(node.definitions ?? {})) {
    objectSchemas(child as SchemaNode, `#${key}`, out);
  }
  if (node.items) objectSchemas(node.items, `${path}[]`, out);
  if (typeof node.additionalProperties === "object") {
    objectSchemas(node.additionalProperties, `${path}.*`, out);
  }
  return out;
}

/** Leaf keys of values.yaml as the README lists them (Kubernetes structures as one key). */
function valueKeys(values: Record<string, any>, prefix = ""): string[] {
  const whole = new Set([
    "resources",
    "podSecurityContext",
    "securityContext",
    "metrics.grafanaDashboard.labels",
  ]);
  return Object.entries(values).flatMap(([key, value]) => {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    const nested =
      value !== null &&
      typeof value === "object" &&
      !Array.isArray(value) &&
      Object.keys(value).length > 0 &&
      !whole.has(path);
    return nested ? valueKeys(value, path) : [path];
  });
}

describe("the chart's values, schema and metadata", () => {
  it("is chart version 0.1.0 of app version package.json's version, for Kubernetes 1.29 on", () => {
    expect(chartMeta).toMatchObject({
      apiVersion: "v2",
      name: "konsul-lb",
      version: "0.1.0",
      appVersion: packageJson.version,
      kubeVersion: ">=1.29.0-0",
    });
  });

  it("closes every object of the schema; only Kubernetes structures deep in affinity stay open", () => {
    const open: string[] = [];
    for (const [path, node] of objectSchemas(schema, "")) {
      expect(node, `${path || "(root)"} says what else it allows`).toHaveProperty(
        "additionalProperties",
      );
      if (node.additionalProperties === true) open.push(path);
    }
    expect(open.sort()).toEqual(
      [
        "global",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[]",
        "affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[]",
        "affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[]",
        "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[]",
        "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[]",
      ].sort(),
    );
  });

  it("allows exactly the operator's strategy names, log levels, duration syntax and limits", () => {
    const op = schema.properties.operator.properties;
    expect(op.defaultStrategy.enum).toEqual([...STRATEGY_NAMES]);
    expect(Object.keys(op.strategies.properties)).toEqual([...STRATEGY_NAMES]);
    expect(op.logLevel.enum).toEqual([...LOG_LEVELS]);
    const ringHash = op.strategies.properties["ring-hash"].properties.virtualNodes;
    expect(ringHash.maximum).toBe(MAX_VIRTUAL_NODES);
    const latency = op.strategies.properties["latency-based"].properties.latencyMap;
    expect(latency.additionalProperties.additionalProperties.pattern).toBe(DURATION_PATTERN);
    expect(schema.properties.state.properties.interval.pattern).toBe(DURATION_PATTERN);
    expect(schema.properties.state.properties.maxShards.maximum).toBe(DEFAULT_MAX_SHARDS);
    expect(schema.properties.dns.properties.maxAnswers.maximum).toBe(MAX_DNS_ANSWERS);
    expect(schema.properties.dns.properties.ttl.maximum).toBe(MAX_DNS_TTL_SECONDS);
    expect(chartValues.state.maxShards).toBe(DEFAULT_MAX_SHARDS);
  });

  it("documents every value in the chart README's table, and nothing else", () => {
    const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Values"));
    const rows = [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]);
    expect(rows).toEqual(valueKeys(chartValues));
  });
});

// ---- against the cluster ----

// Everything against the cluster runs with Helm 4 and again with Helm 3.
for (const helmBinary of HELM_BINARIES) {
  describe.skipIf(!clusterAvailable())(
    `the chart against the real API server, with ${helmBinary}`,
    () => chartAgainstTheApiServer(helmBinary),
  );
}

function chartAgainstTheApiServer(helmBinary: HelmBinary): void {
  let helm: Helm;
  let kube: Clients;
  let kc: KubeConfig;
  let objectsApi: KubernetesObjectApi;
  let namespace: string;
  let scratch: string;
  /** Null when the Prometheus Operator's CRDs are installed; else why they could not be. */
  let serviceMonitorSkip: string | null = null;
  const createdMonitoringCrds: string[] = [];

  /** Whether a CRD is there to stay: one being deleted is waited out and counts as missing. */
  async function crdExists(name: string): Promise<boolean> {
    try {
      const crd = await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name });
      if (crd.metadata?.deletionTimestamp === undefined) return true;
      await waitFor(`${name}, being deleted, to be gone`, async () => {
        try {
          await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name });
          return undefined;
        } catch (error) {
          if (isNotFound(error)) return true;
          throw error;
        }
      });
      return false;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs from its Go module, or why not. */
  async function installMonitoringCrds(): Promise<string | null> {
    const missing = [];
    for (const crd of MONITORING_CRDS) if (!(await crdExists(crd.name))) missing.push(crd);
    if (missing.length === 0) return null;
    let download: { Dir?: string; Error?: string };
    try {
      const result = await runCommand("go", [
        "mod",
        "download",
        "-json",
        `${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION}`,
      ]);
      download = JSON.parse(result.stdout || "{}");
      if (result.code !== 0 && !download.Error) download.Error = result.stderr.trim();
    } catch (error) {
      return `go mod download ${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION} failed: ${(error as Error).message}`;
    }
    if (download.Error || !download.Dir) {
      return `go mod download ${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION} failed: ${download.Error ?? "no Dir"}`;
    }
    for (const crd of missing) {
      const file = join(download.Dir, crd.file);
      try {
        readFileSync(file);
      } catch {
        return `${crd.file} is not in ${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION}`;
      }
      // Server-side: the CRD is too large for the last-applied annotation of a client-side apply.
      await kubectl(["apply", "--server-side", "--field-manager=konsul-lb-tests", "-f", file]);
      createdMonitoringCrds.push(crd.name);
      // Read back rather than `kubectl wait`, which fails on a CRD whose status is not written yet.
      await waitFor(`${crd.name} to be established`, async () => {
        const read = await kc
          .makeApiClient(ApiextensionsV1Api)
          .readCustomResourceDefinition({ name: crd.name });
        const established = read.status?.conditions?.some(
          (c) => c.type === "Established" && c.status === "True",
        );
        return established ? true : undefined;
      });
    }
    return null;
  }

  /** A namespace that enforces the "restricted" Pod Security Standard, and warns about it. */
  async function restrictedNamespace(prefix: string): Promise<string> {
    const name = await createNamespace(kube.core, prefix);
    await kube.core.patchNamespace(
      {
        name,
        body: {
          metadata: {
            labels: {
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/warn": "restricted",
            },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    return name;
  }

  beforeAll(async () => {
    // Building helm from source takes minutes when the cache has none.
    helm = await Helm.create((line) => console.log(`[${helmBinary} build] ${line}`), helmBinary);
    kube = clients();
    kc = loadKubeConfig();
    objectsApi = KubernetesObjectApi.makeApiClient(kc);
    scratch = await mkdtemp(join(tmpdir(), "konsul-lb-helm-test-"));
    namespace = await restrictedNamespace("helm-");
    serviceMonitorSkip = await installMonitoringCrds();
    if (serviceMonitorSkip !== null) {
      console.warn(
        `ServiceMonitor and PrometheusRule left out of the dry runs: ${serviceMonitorSkip}`,
      );
    }
  }, 30 * 60_000);

  afterAll(async () => {
    await deleteNamespace(kube.core, namespace);
    // Waited for: the next block (the other helm) finds a CRD still being deleted as present,
    // skips installing it, and then dry-runs against a kind that has just gone.
    for (const crd of createdMonitoringCrds) {
      await kubectl(["delete", "crd", crd, "--ignore-not-found", "--wait=true", "--timeout=120s"]);
    }
    await helm?.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  /**
   * `kubectl apply --dry-run=server` of every object: admission, defaulting, strict field
   * validation, Pod Security warnings; nothing is stored.
   */
  async function serverDryRun(objects: readonly KubeObject[]): Promise<void> {
    const input = objects.map((o) => JSON.stringify(o)).join("\n");
    // Server-side apply: strict about unknown fields, and no client-side annotation warnings
    // for objects (the CRD) that other tests applied before.
    const result = await kubectl(
      [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=konsul-lb-helm-test",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
      ],
      input,
    );
    expect(result.stderr, "no warning from the API server").toBe("");
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(objects.length);
    for (const object of objects) {
      const resource = object.kind.toLowerCase();
      expect(
        lines.some(
          (line) =>
            (line.startsWith(`${resource}/`) || line.startsWith(`${resource}.`)) &&
            line.includes(`/${object.metadata.name} `) &&
            line.endsWith("(server dry run)"),
        ),
        `${object.kind} ${object.metadata.name} in ${result.stdout}`,
      ).toBe(true);
    }
  }

  it("passes helm lint --strict with the defaults and with every case of the matrix", async () => {
    for (const { name, values } of CASES) {
      const file = await helm.valuesFile(values);
      const result = await helm.run(["lint", "--strict", CHART_DIR, "--values", file]);
      expect(result.code, `${name}:\n${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
      expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
    // And it packages, with the CRD in the archive's crds/.
    const packaged = await helm.ok(["package", CHART_DIR, "--destination", scratch]);
    expect(packaged.stdout).toContain(join(scratch, "konsul-lb-0.1.0.tgz"));
    const listing = await runCommand("tar", ["-tzf", join(scratch, "konsul-lb-0.1.0.tgz")]);
    expect(listing.stdout.split("\n")).toContain(
      "konsul-lb/crds/lb.konsul.io_loadbalancingpolicies.yaml",
    );
  });

  it("refuses a misspelt or wrong value at lint, template and install, naming it", async () => {
    const typo = await helm.valuesFile({ replicaCont: 3 });
    const lint = await helm.run(["lint", "--strict", CHART_DIR, "--values", typo]);
    expect(lint.code).not.toBe(0);
    expect(lint.stdout + lint.stderr).toContain("additional properties 'replicaCont' not allowed");

    const nested = await helm.valuesFile({ operator: { defaultStrategie: "maglev" } });
    const install = await helm.cluster([
      "install",
      "typo",
      CHART_DIR,
      "--namespace",
      namespace,
      "--values",
      nested,
    ]);
    expect(install.code).not.toBe(0);
    expect(install.stderr).toContain("at '/operator'");
    expect(install.stderr).toContain("additional properties 'defaultStrategie' not allowed");
    // Nothing of it reached the cluster.
    const status = await helm.cluster(["status", "typo", "--namespace", namespace]);
    expect(status.stderr).toContain("release: not found");
    await expect(
      kube.core.readNamespacedConfigMap({ namespace, name: "typo-konsul-lb-config" }),
    ).rejects.toMatchObject({ code: 404 });

    const strategy = await helm.valuesFile({ operator: { defaultStrategy: "round-robbin" } });
    const template = await helm.run(["template", "x", CHART_DIR, "--values", strategy]);
    expect(template.code).not.toBe(0);
    expect(template.stderr).toContain("at '/operator/defaultStrategy': value must be one of");
    expect(template.stderr).toContain("'least-connections'");

    const duration = await helm.valuesFile({ leaderElection: { leaseDuration: "15 seconds" } });
    const bad = await helm.run(["template", "x", CHART_DIR, "--values", duration]);
    expect(bad.stderr).toContain("at '/leaderElection/leaseDuration'");
  });

  it("refuses lease timings and a grace period the operator could not honour, naming them", async () => {
    const cases: [Record<string, any>, string][] = [
      [
        { leaderElection: { renewDeadline: "20s" } },
        'leaderElection.leaseDuration "15s" must be longer than leaderElection.renewDeadline "20s"',
      ],
      [
        { leaderElection: { retryPeriod: "10s" } },
        'leaderElection.renewDeadline "10s" must be longer than leaderElection.retryPeriod "10s"',
      ],
      [
        { leaderElection: { leaseDuration: "15500ms" } },
        'leaderElection.leaseDuration "15500ms" is not allowed; expected whole seconds',
      ],
      [
        { terminationGracePeriodSeconds: 10 },
        "terminationGracePeriodSeconds 10 is too short; expected at least 19: preStopSleepSeconds 5",
      ],
      [
        { preStopSleepSeconds: 20 },
        "terminationGracePeriodSeconds 30 is too short; expected at least 34: preStopSleepSeconds 20",
      ],
      [{ leaderElection: { enabled: false } }, "replicaCount 2 needs leaderElection.enabled=true"],
    ];
    for (const [values, message] of cases) {
      const file = await helm.valuesFile(values);
      const result = await helm.run(["template", "x", CHART_DIR, "--values", file]);
      expect(result.code, JSON.stringify(values)).not.toBe(0);
      expect(result.stderr).toContain(message);
    }
  });

  it("sleeps before SIGTERM unless told not to, or on Kubernetes 1.29, which has no sleep action", async () => {
    const lifecycle = async (values: object, args: string[] = []) =>
      container(
        only(parseObjects(await helm.templateText(RELEASE, namespace, values, args)), "Deployment"),
      ).lifecycle;
    expect(await lifecycle({})).toEqual({ preStop: { sleep: { seconds: 5 } } });
    expect(await lifecycle({ preStopSleepSeconds: 0 })).toBeUndefined();
    expect(await lifecycle({}, ["--kube-version", "1.29.0"])).toBeUndefined();
  });

  it("names objects after the release: konsul-lb → konsul-lb, else <release>-konsul-lb", async () => {
    const names = async (release: string, values: object = {}) =>
      new Set((await helm.template(release, namespace, values)).map((o) => o.metadata.name));
    expect(await names("konsul-lb")).toEqual(new Set(["konsul-lb", "konsul-lb-config"]));
    expect(await names("edge")).toEqual(new Set(["edge-konsul-lb", "edge-konsul-lb-config"]));
    expect(await names("edge", { fullnameOverride: "lb" })).toEqual(new Set(["lb", "lb-config"]));
  });

  describe.each(CASES)("rendered with $name", ({ name, values }) => {
    const effective = effectiveValues(values);
    let objects: KubeObject[];
    let settings: ServerSettings;

    beforeAll(async () => {
      objects = await helm.template(RELEASE, namespace, values);
      settings = operatorSettings(objects, namespace);
    });

    it("passes a server-side dry run of every object, Pod Security 'restricted' included", async () => {
      let checked = objects;
      if (serviceMonitorSkip !== null) {
        const monitoring: readonly string[] = MONITORING_CRDS.map((crd) => crd.kind);
        checked = objects.filter((o) => !monitoring.includes(o.kind));
      }
      if (name === "defaults") {
        // The CRD too, as `helm install` would create it.
        checked = parseObjects(
          await helm.templateText(RELEASE, namespace, values, ["--include-crds"]),
        );
        expect(checked.map((o) => o.kind)).toContain("CustomResourceDefinition");
      }
      await serverDryRun(checked);
    });

    it("renders the objects its flags ask for, with the replicas asked for", () => {
      const kinds = objects.map((o) => o.kind).sort();
      const expected = ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment"];
      expected.push("Service", "ServiceAccount");
      if (effective.leaderElection.enabled) expected.push("Role", "RoleBinding");
      if (effective.podDisruptionBudget.enabled) expected.push("PodDisruptionBudget");
      if (effective.metrics.serviceMonitor.enabled) expected.push("ServiceMonitor");
      if (effective.metrics.grafanaDashboard.enabled) expected.push("ConfigMap");
      if (effective.metrics.prometheusRule.enabled) expected.push("PrometheusRule");
      if (effective.networkPolicy.enabled) expected.push("NetworkPolicy");
      expect(kinds).toEqual(expected.sort());
      expect(only(objects, "Deployment").spec.replicas).toBe(effective.replicaCount);
      for (const object of objects) {
        if (object.kind.startsWith("Cluster")) expect(object.metadata.namespace).toBeUndefined();
        else expect(object.metadata.namespace).toBe(namespace);
      }
    });

    it("grants exactly the calls the operator makes", () => {
      const clusterRole = only(objects, "ClusterRole");
      expect(clusterRole.rules).toEqual(
        effective.leaderElection.enabled ? [...CLUSTER_RULES, TOKEN_REVIEW_RULE] : CLUSTER_RULES,
      );
      // Each kind the operator's informers list and watch, and no other, gets list and watch.
      const watched = Object.values(watchedKinds(loadKubeConfig())).map((kind) =>
        groupResource(kind.path),
      );
      const granted = (clusterRole.rules as PolicyRule[])
        .filter((rule) => rule.verbs.includes("watch"))
        .flatMap((rule) => rule.resources.map((r) => [rule.apiGroups[0], r]));
      expect(granted.sort()).toEqual(watched.sort());

      const binding = only(objects, "ClusterRoleBinding");
      const account = only(objects, "ServiceAccount");
      const subject = { kind: "ServiceAccount", name: account.metadata.name, namespace };
      expect(binding.roleRef).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: clusterRole.metadata.name,
      });
      expect(binding.subjects).toEqual([subject]);
      expect(only(objects, "Deployment").spec.template.spec.serviceAccountName).toBe(
        account.metadata.name,
      );

      if (!effective.leaderElection.enabled) {
        expect(find(objects, "Role")).toBeUndefined();
        expect(settings.ha.leaderElect).toBe(false);
        return;
      }
      // The names the operator will use (from its parsed settings) are the names granted.
      const role = only(objects, "Role");
      expect(role.rules).toEqual(
        namespaceRules(
          settings.ha.leaseName,
          settings.ha.stateConfigMapPrefix,
          effective.state.maxShards,
          configConfigMap(objects).metadata.name,
        ),
      );
      // The chart's own ConfigMap owns what the operator creates, so it goes on uninstall.
      expect(settings.ha.ownerConfigMap).toBe(configConfigMap(objects).metadata.name);
      expect(settings.ha.leaseNamespace).toBe(namespace);
      expect(settings.ha.stateNamespace).toBe(namespace);
      // The state informer watches ConfigMaps, which the Role lets it list and watch.
      const [group, resource] = groupResource(
        shardKind(loadKubeConfig(), namespace, settings.ha.stateConfigMapPrefix).path,
      );
      expect([group, resource]).toEqual(["", "configmaps"]);
      expect(only(objects, "RoleBinding").subjects).toEqual([subject]);
    });

    it("runs as user 10001 without privileges, on a read-only root, with /tmp writable", () => {
      const deployment = only(objects, "Deployment");
      const pod = deployment.spec.template.spec;
      const main = container(deployment);
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(main.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      const tmp = (main.volumeMounts as any[]).find((m) => m.mountPath === "/tmp");
      expect((pod.volumes as any[]).find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      expect(pod.enableServiceLinks).toBe(false);
      expect(pod.terminationGracePeriodSeconds).toBe(effective.terminationGracePeriodSeconds);
      expect(main.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(main.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
      // A digest pins the image and replaces the tag.
      expect(main.image).toBe(
        effective.image.digest
          ? `konsul-lb@${effective.image.digest}`
          : `konsul-lb:${chartMeta.appVersion}`,
      );
      // The endpoint leaves the Services before SIGTERM; the API server kept the sleep action.
      expect(main.lifecycle).toEqual({
        preStop: { sleep: { seconds: effective.preStopSleepSeconds } },
      });
      // Spread over zones and nodes, each constraint selecting this release's pods.
      const selector = deployment.spec.selector.matchLabels;
      expect(pod.topologySpreadConstraints).toEqual([
        {
          maxSkew: 1,
          topologyKey: "topology.kubernetes.io/zone",
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: { matchLabels: selector },
        },
        {
          maxSkew: 1,
          topologyKey: "kubernetes.io/hostname",
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: { matchLabels: selector },
        },
      ]);
    });

    it("hands the operator the settings the values say", () => {
      const op = effective.operator;
      const le = effective.leaderElection;
      expect(settings.source).toBe("kubernetes");
      expect(settings.kubeconfig).toBeNull();
      expect([settings.httpHost, settings.httpPort]).toEqual(["0.0.0.0", 8080]);
      expect(settings.defaultStrategy).toBe(op.defaultStrategy);
      expect(settings.logLevel).toBe(op.logLevel);
      expect(settings.healthFilter).toBe(op.healthFilter);
      const disabled = Object.entries(op.strategies as Record<string, { enabled?: boolean }>)
        .filter(([, s]) => s.enabled === false)
        .map(([n]) => n);
      expect(settings.enabledStrategies).toEqual(
        STRATEGY_NAMES.filter((n) => !disabled.includes(n)),
      );
      expect(settings.virtualNodes).toBe(op.strategies["ring-hash"]?.virtualNodes ?? null);
      if (name === "every operator setting changed") {
        expect(settings.trustProxy).toBe("loopback,10.0.0.0/8");
        expect(settings.latencyMap).toEqual({ "us-east": { "us-east": 1, "eu-west": 80 } });
        // extraArgs come after the chart's and, being flags, beat config.yaml's dnsMaxAnswers.
        expect(settings.dnsMaxAnswers).toBe(4);
        expect(containerEnv(only(objects, "Deployment"), namespace).NODE_OPTIONS).toBe(
          "--max-old-space-size=384",
        );
      }
      expect(settings.ha).toMatchObject({
        leaderElect: le.enabled,
        leaseName: le.leaseName,
        leaseNamespace: namespace,
        stateConfigMapPrefix: effective.state.configMapPrefix,
        advertiseUrl: null,
      });
      expect([
        settings.ha.leaseDurationMs,
        settings.ha.renewDeadlineMs,
        settings.ha.retryPeriodMs,
        settings.ha.stateIntervalMs,
      ]).toEqual(
        [le.leaseDuration, le.renewDeadline, le.retryPeriod, effective.state.interval].map(
          tryParseDuration,
        ),
      );
    });

    it("opens DNS ports (container 5353, Service UDP and TCP) only when DNS is on", () => {
      const main = container(only(objects, "Deployment"));
      const service = only(objects, "Service");
      const allContainerPorts = (main.ports as any[]).map((p) => [
        p.name,
        p.containerPort,
        p.protocol,
      ]);
      // The internal API's port (with leader election) is the container's, never the Service's.
      const internal = allContainerPorts.filter(([portName]) => portName === "internal");
      expect(internal).toEqual(
        effective.leaderElection.enabled ? [["internal", settings.internalAddr.port, "TCP"]] : [],
      );
      expect((service.spec.ports as any[]).map((p) => p.name)).not.toContain("internal");
      // xDS has a check of its own below.
      const containerPorts = allContainerPorts.filter(
        ([portName]) => portName !== "internal" && portName !== "xds",
      );
      const servicePorts = (service.spec.ports as any[])
        .filter((p) => p.name !== "xds")
        .map((p) => [p.name, p.port, p.targetPort, p.protocol]);
      expect(containerPorts[0]).toEqual(["http", settings.httpPort, "TCP"]);
      expect(servicePorts[0]).toEqual(["http", effective.service.port, "http", "TCP"]);
      if (!effective.dns.enabled) {
        expect(settings.dnsAddr).toBeNull();
        expect(containerPorts).toHaveLength(1);
        expect(servicePorts).toHaveLength(1);
        return;
      }
      expect(settings.dnsAddr).toEqual({ host: "0.0.0.0", port: 5353 });
      expect(settings.dnsDomain).toBe(String(effective.dns.domain).replace(/\.$/, ""));
      const ttl = effective.dns.ttl;
      expect(settings.dnsTtl).toBe(
        typeof ttl === "number" ? ttl : (tryParseDuration(ttl) as number) / 1000,
      );
      if (name !== "every operator setting changed") {
        expect(settings.dnsMaxAnswers).toBe(effective.dns.maxAnswers);
      }
      expect(containerPorts.slice(1)).toEqual([
        ["dns-udp", 5353, "UDP"],
        ["dns-tcp", 5353, "TCP"],
      ]);
      expect(servicePorts.slice(1)).toEqual([
        ["dns-udp", effective.dns.port, "dns-udp", "UDP"],
        ["dns-tcp", effective.dns.port, "dns-tcp", "TCP"],
      ]);
      const policy = find(objects, "NetworkPolicy");
      if (policy) {
        expect(
          policy.spec.ingress[0].ports.map((p: any) => p.port).filter((p: string) => p !== "xds"),
        ).toEqual(["http", "dns-udp", "dns-tcp"]);
      }
    });

    it("opens the xDS port (container 18000, Service and NetworkPolicy) only when xDS is on", () => {
      const main = container(only(objects, "Deployment"));
      const service = only(objects, "Service");
      const xdsContainer = (main.ports as any[]).filter((p) => p.name === "xds");
      const xdsService = (service.spec.ports as any[]).filter((p) => p.name === "xds");
      const policy = find(objects, "NetworkPolicy");
      const policyPorts = policy?.spec.ingress[0].ports.map((p: any) => p.port) ?? [];
      if (!effective.xds.enabled) {
        expect(settings.xdsAddr).toBeNull();
        expect([...xdsContainer, ...xdsService]).toEqual([]);
        expect(policyPorts).not.toContain("xds");
        return;
      }
      expect(settings.xdsAddr).toEqual({ host: "0.0.0.0", port: 18000 });
      expect(xdsContainer).toEqual([{ name: "xds", containerPort: 18000, protocol: "TCP" }]);
      expect(xdsService).toEqual([
        {
          name: "xds",
          port: effective.xds.port,
          targetPort: "xds",
          protocol: "TCP",
          appProtocol: "grpc",
        },
      ]);
      if (policy) expect(policyPorts).toContain("xds");
    });
  });

  it("with the defaults, the operator runs with its own defaults", async () => {
    const objects = await helm.template(RELEASE, namespace, {});
    const defaults = loadSettings(["--source", "kubernetes"], { POD_NAMESPACE: namespace });
    if (defaults.kind !== "ok") throw new Error("the operator's defaults do not load");
    // One addition: the chart makes its ConfigMap the owner of what the operator creates.
    const owner = configConfigMap(objects).metadata.name;
    expect(operatorSettings(objects, namespace)).toEqual({
      ...defaults.settings,
      ha: { ...defaults.settings.ha, ownerConfigMap: owner },
    });
  });

  it("renders the monitoring objects for this release's pods and Service", async () => {
    const monitoring = CASES.find((c) => c.name.startsWith("monitoring")) as Case;
    const objects = await helm.template(RELEASE, namespace, monitoring.values);
    const selector = only(objects, "Deployment").spec.selector.matchLabels;
    const monitor = only(objects, "ServiceMonitor");
    expect(monitor.metadata.labels).toMatchObject({ release: "prom" });
    expect(monitor.spec).toEqual({
      selector: { matchLabels: selector },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: "http", path: "/metrics", interval: "15s" }],
    });
    expect(only(objects, "Service").metadata.labels).toMatchObject(selector);
    expect(only(objects, "PodDisruptionBudget").spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: selector },
    });
    // The dashboard for Grafana's sidecar, as the file in the chart has it.
    const dashboard = objects.find((o) => o.metadata.name === `${RELEASE}-dashboard`);
    expect(dashboard?.kind).toBe("ConfigMap");
    expect(dashboard?.metadata.labels).toMatchObject({ grafana_dashboard: "1" });
    expect(dashboard?.metadata.annotations).toEqual({ grafana_folder: "konsul-lb" });
    expect(JSON.parse(dashboard?.data["konsul-lb.json"])).toEqual(
      JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")),
    );
    // The alerts, as promtool checks and tests them in the rule file.
    const rule = only(objects, "PrometheusRule");
    expect(rule.metadata.labels).toMatchObject({ release: "prom" });
    expect(rule.spec).toEqual(parse(readFileSync(RULES_FILE, "utf8")));
    const policy = only(objects, "NetworkPolicy");
    expect(policy.spec.podSelector).toEqual({ matchLabels: selector });
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: "http", protocol: "TCP" }], from: monitoring.values.networkPolicy.from },
      {
        ports: [{ port: "internal", protocol: "TCP" }],
        from: [{ podSelector: { matchLabels: selector } }],
      },
    ]);
  });

  it("dry-runs the ServiceMonitor and PrometheusRule against the Prometheus Operator's own CRDs", async (context) => {
    if (serviceMonitorSkip !== null) context.skip(serviceMonitorSkip);
    const monitoring = CASES.find((c) => c.name.startsWith("monitoring")) as Case;
    const objects = await helm.template(RELEASE, namespace, monitoring.values);
    await serverDryRun([only(objects, "ServiceMonitor"), only(objects, "PrometheusRule")]);
    // The check has teeth: the CRD's schema refuses a field it does not declare.
    const wrong = { ...only(objects, "ServiceMonitor") };
    wrong.spec = { ...wrong.spec, endpoints: [{ port: "http", scrapeEvery: "15s" }] };
    await expect(serverDryRun([wrong])).rejects.toThrow(/scrapeEvery/);
  });

  it("the restricted Pod Security level admits the chart's pod and refuses a weaker one", async () => {
    const deployment = only(await helm.template(RELEASE, namespace, {}), "Deployment");
    const asPod = (spec: any) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "konsul-lb-pod-security", namespace },
      spec: { ...spec, serviceAccountName: "default" },
    });
    await objectsApi.create(asPod(deployment.spec.template.spec), undefined, "All");
    const weaker = structuredClone(deployment.spec.template.spec);
    weaker.containers[0].securityContext.allowPrivilegeEscalation = true;
    await expect(objectsApi.create(asPod(weaker), undefined, "All")).rejects.toMatchObject({
      code: 403,
    });
  });

  describe("install, upgrade and uninstall", () => {
    let release: string;
    let apps: string;
    let node: string;
    let installed: KubeObject[];
    let baseline: Set<string>;
    let policyCrdBefore: boolean;
    let operator: ServingCli | null = null;
    const values = {
      dns: { enabled: true },
      podDisruptionBudget: { enabled: true },
      networkPolicy: { enabled: true },
    };

    /** Every object in the namespace, as "Kind/name", events left out. */
    async function namespaceContents(ns: string): Promise<Set<string>> {
      const resources = (
        await kubectl(["api-resources", "--verbs=list", "--namespaced", "-o", "name"])
      ).stdout
        .trim()
        .split("\n")
        .filter((r) => r !== "events" && r !== "events.events.k8s.io" && r !== "endpoints");
      const list = JSON.parse(
        (await kubectl(["get", resources.join(","), "--namespace", ns, "-o", "json"])).stdout,
      ) as { items: KubeObject[] };
      return new Set(list.items.map((o) => `${o.kind}/${o.metadata.name}`));
    }

    async function exists(object: KubeObject): Promise<boolean> {
      try {
        await objectsApi.read({
          apiVersion: object.apiVersion,
          kind: object.kind,
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
        });
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    }

    async function deploymentChecksum(): Promise<string> {
      const deployment = await kc
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ namespace, name: release });
      return deployment.spec?.template.metadata?.annotations?.["checksum/config"] ?? "";
    }

    async function deploymentGeneration(): Promise<number> {
      const deployment = await kc
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ namespace, name: release });
      return deployment.metadata?.generation ?? 0;
    }

    async function configYaml(): Promise<Record<string, unknown>> {
      const map = await kube.core.readNamespacedConfigMap({ namespace, name: `${release}-config` });
      return parse(map.data?.["config.yaml"] ?? "");
    }

    beforeAll(async () => {
      release = `konsul-lb-${namespace.slice("helm-".length)}`;
      apps = await createNamespace(kube.core, "helm-apps-");
      node = `helm-node-${namespace.slice("helm-".length)}`;
      baseline = await namespaceContents(namespace);
      policyCrdBefore = await crdExists(POLICY_CRD);
    });

    afterAll(async () => {
      operator?.child.kill("SIGKILL");
      await helm.cluster(["uninstall", release, "--namespace", namespace, "--ignore-not-found"]);
      // A Pod bound to a Node waits for a kubelet to confirm its deletion; there is none.
      await deletePod(kube.core, apps, "web-0");
      await deleteNamespace(kube.core, apps);
      await deleteNode(kube.core, node);
    });

    /**
     * `konsul-lb serve` as the installed Deployment runs it (its arguments, environment and
     * config.yaml), with nothing but the release's ServiceAccount token; loopback addresses
     * instead of the pod's.
     */
    async function releaseOperatorCommand(): Promise<{
      args: string[];
      env: Record<string, string>;
      kubeconfigPath: string;
      leaseName: string;
      /** The ServiceAccount's token the kubeconfig holds. */
      token: string;
    }> {
      const core: CoreV1Api = kube.core;
      // A kubeconfig with nothing but the ServiceAccount's token.
      const account = installed.find((o) => o.kind === "ServiceAccount") as KubeObject;
      const token = await core.createNamespacedServiceAccountToken({
        namespace,
        name: account.metadata.name,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      const admin = loadKubeConfig();
      const cluster = admin.getCurrentCluster();
      if (!cluster || !token.status?.token) throw new Error("no cluster or token");
      const accountConfig = new KubeConfig();
      accountConfig.loadFromOptions({
        clusters: [cluster],
        users: [{ name: "konsul-lb", token: token.status.token }],
        contexts: [{ name: "konsul-lb", cluster: cluster.name, user: "konsul-lb" }],
        currentContext: "konsul-lb",
      });
      const kubeconfigPath = join(scratch, "service-account.kubeconfig");
      await writeFile(kubeconfigPath, accountConfig.exportConfig());

      // The installed Deployment's command line and environment, and its ConfigMap's file;
      // loopback addresses instead of the pod's.
      const deployment = installed.find((o) => o.kind === "Deployment") as KubeObject;
      const configPath = join(scratch, "config.yaml");
      await writeFile(
        configPath,
        (await kube.core.readNamespacedConfigMap({ namespace, name: `${release}-config` })).data?.[
          "config.yaml"
        ] ?? "",
      );
      const env = containerEnv(deployment, namespace);
      env.POD_IP = "127.0.0.1";
      const leaseName = chartValues.leaderElection.leaseName as string;
      const args = (container(deployment).args as string[])
        .slice(1)
        .map((arg) => (arg === CONFIG_PATH ? configPath : arg));
      return { args, env, kubeconfigPath, leaseName, token: token.status.token };
    }

    it("installs without waiting for pods: every object of the release exists", async () => {
      const file = await helm.valuesFile(values);
      const result = await helm.clusterOk([
        "install",
        release,
        CHART_DIR,
        "--namespace",
        namespace,
        "--values",
        file,
      ]);
      // NOTES.txt: how to reach the API and DNS.
      expect(result.stdout).toContain(`port-forward service/${release} 8080:8080`);
      expect(result.stdout).toContain("curl -s localhost:8080/v1/services");
      expect(result.stdout).toContain("/pick");
      expect(result.stdout).toContain("dig +tcp @127.0.0.1 -p 5353");

      installed = parseObjects(
        (await helm.clusterOk(["get", "manifest", release, "--namespace", namespace])).stdout,
      );
      expect(installed.map((o) => o.kind).sort()).toEqual(
        [
          "ClusterRole",
          "ClusterRoleBinding",
          "ConfigMap",
          "Deployment",
          "NetworkPolicy",
          "PodDisruptionBudget",
          "Role",
          "RoleBinding",
          "Service",
          "ServiceAccount",
        ].sort(),
      );
      for (const object of installed) expect(await exists(object), object.kind).toBe(true);
      // Helm creates the CRD from crds/ when it is missing, and leaves one that is there.
      expect(await crdExists(POLICY_CRD)).toBe(true);

      // The pod the Deployment asks for, with the release's ServiceAccount, is admitted in
      // this "restricted" namespace. (The test cluster runs no Deployment controller and no
      // kubelet: nothing creates or runs the pods themselves.)
      const deployment = installed.find((o) => o.kind === "Deployment") as KubeObject;
      await objectsApi.create(
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `${release}-admission`, namespace },
          spec: deployment.spec.template.spec,
        },
        undefined,
        "All",
      );
    });

    it("its ServiceAccount can do all the operator does: sync, lead, status, Events, state", async () => {
      const core: CoreV1Api = kube.core;
      // Something for the operator to serve, in another namespace: a Service, a ready Pod, a policy.
      await createNode(core, node, { region: "r", zone: "r-a" });
      await createService(core, apps, "web", { app: "web" }, [{ name: "http", port: 80 }]);
      await createReadyPod(core, apps, {
        name: "web-0",
        nodeName: node,
        labels: { app: "web" },
        ports: [{ name: "http", containerPort: 80 }],
        ip: "10.77.0.10",
      });
      const custom = kc.makeApiClient(CustomObjectsApi);
      await custom.createNamespacedCustomObject({
        ...POLICY,
        namespace: apps,
        body: {
          apiVersion: "lb.konsul.io/v1alpha1",
          kind: "LoadBalancingPolicy",
          metadata: { name: "web" },
          spec: { targetRef: { kind: "Service", name: "web" }, strategy: "round-robin" },
        },
      });

      const { args, env, kubeconfigPath, leaseName, token } = await releaseOperatorCommand();
      // The same token is what the replica shows on the internal API (in a pod: the mounted one).
      const tokenPath = join(scratch, "service-account.token");
      await writeFile(tokenPath, token);
      const internalAuth = { authorization: `Bearer ${token}` };
      try {
        await runOperator();
      } catch (error) {
        // Say what RBAC refused, if anything: the operator logs it, the waits only time out.
        const refused = (operator?.output() ?? "")
          .split("\n")
          .filter((line) => /cannot \w+ resource/.test(line));
        throw refused.length === 0
          ? error
          : new Error(`${(error as Error).message}; refused by RBAC:\n${refused.join("\n")}`);
      }

      async function runOperator(): Promise<void> {
        operator = await serveCli(
          [
            ...args,
            "--kubeconfig",
            kubeconfigPath,
            "--dns-addr",
            "127.0.0.1:0",
            "--internal-addr",
            "127.0.0.1:0",
            "--token-file",
            tokenPath,
          ],
          env,
        );
        const url = operator.url;
        const internalUrl = operator.internalUrl;

        // list + watch of every watched kind: the catalog syncs.
        await waitFor("the catalog to sync", async () =>
          (await fetch(`${url}/readyz`)).status === 200 ? true : undefined,
        );
        // Lease create and get: it leads. (The internal API reviews the token: TokenReview create.)
        await waitFor("leadership", async () => {
          const response = await fetch(`${internalUrl}/internal/v1/ha`, { headers: internalAuth });
          const ha = (await response.json()) as { leading?: boolean };
          return ha.leading ? true : undefined;
        });
        const lease = await kc
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ namespace, name: leaseName });
        expect(lease.spec?.holderIdentity).toContain(env.POD_NAME);
        // Status patch, and Event create in the policy's namespace.
        const status = await waitFor("the policy's status", async () => {
          const policy = (await custom.getNamespacedCustomObject({
            ...POLICY,
            namespace: apps,
            name: "web",
          })) as { status?: { conditions?: { type: string; status: string }[] } };
          const ready = policy.status?.conditions?.find((c) => c.type === "Ready");
          return ready?.status === "True" ? policy.status : undefined;
        });
        expect(status?.conditions?.map((c) => c.type)).toEqual([
          "Accepted",
          "ResolvedRefs",
          "Ready",
        ]);
        await waitFor("Events on the policy", async () => {
          const events = await core.listNamespacedEvent({
            namespace: apps,
            fieldSelector: "involvedObject.name=web,involvedObject.kind=LoadBalancingPolicy",
          });
          const ours = events.items.filter((e) => e.source?.component === FIELD_MANAGER);
          return ours.length >= 3 ? ours : undefined;
        });
        // State ConfigMap create (on taking the lead) and update (after a pick moves a cursor).
        const pick = await fetch(`${url}/v1/services/${apps}/web/pick`);
        expect(pick.status).toBe(200);
        const prefix = chartValues.state.configMapPrefix;
        await waitFor("the pick's cursor in the state ConfigMap", async () => {
          const map = await core.readNamespacedConfigMap({ namespace, name: `${prefix}-0` });
          expect(map.metadata?.labels?.[STATE_LABEL]).toBe(prefix);
          return Object.values(map.data ?? {}).some((text) => text.includes(`"${apps}/web"`))
            ? true
            : undefined;
        });
      }

      // SIGTERM: a last snapshot and the Lease released (an update).
      if (operator === null) throw new Error("the operator is not running");
      operator.child.kill("SIGTERM");
      expect(await operator.exited).toBe(0);
      const output = operator.output();
      operator = null;
      expect(output).toContain("released the leader lease");
      // RBAC names what it refuses: `User "system:serviceaccount:…" cannot list resource …`.
      // (Other refusals, such as Events in a namespace other tests are deleting, are not ours.)
      expect(output).not.toMatch(/cannot \w+ resource/);
      expect(output).not.toContain(`system:serviceaccount:${namespace}:`);
      const released = await kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace, name: leaseName });
      expect(released.spec?.holderIdentity).toBeFalsy();
    });

    it("its ServiceAccount can do nothing else", async () => {
      const authorization = kc.makeApiClient(AuthorizationV1Api);
      const account = installed.find((o) => o.kind === "ServiceAccount") as KubeObject;
      const user = `system:serviceaccount:${namespace}:${account.metadata.name}`;
      const groups = [
        "system:serviceaccounts",
        `system:serviceaccounts:${namespace}`,
        "system:authenticated",
      ];
      const can = async (
        verb: string,
        resource: string,
        where: { group?: string; namespace?: string; name?: string } = {},
      ): Promise<boolean> => {
        const [plural, subresource] = resource.split("/");
        const review = await authorization.createSubjectAccessReview({
          body: {
            spec: {
              user,
              groups,
              resourceAttributes: {
                verb,
                group: where.group ?? "",
                resource: plural,
                subresource,
                namespace: where.namespace,
                name: where.name,
              },
            },
          },
        });
        return review.status?.allowed === true;
      };
      const lb = { group: "lb.konsul.io" };
      const leaseName = chartValues.leaderElection.leaseName as string;
      const prefix = chartValues.state.configMapPrefix as string;
      const coordination = { group: "coordination.k8s.io", namespace };
      const allowed: [string, string, object][] = [
        ["list", "pods", {}],
        ["watch", "services", {}],
        ["watch", "nodes", {}],
        ["list", "endpointslices", { group: "discovery.k8s.io" }],
        ["watch", "loadbalancingpolicies", lb],
        ["patch", "loadbalancingpolicies/status", { ...lb, namespace: apps, name: "web" }],
        ["create", "events", { namespace: apps }],
        ["create", "leases", coordination],
        ["get", "leases", { ...coordination, name: leaseName }],
        ["update", "leases", { ...coordination, name: leaseName }],
        ["watch", "configmaps", { namespace }],
        ["create", "configmaps", { namespace }],
        ["update", "configmaps", { namespace, name: `${prefix}-0` }],
        ["delete", "configmaps", { namespace, name: `${prefix}-63` }],
        ["create", "tokenreviews", { group: "authentication.k8s.io" }],
      ];
      const denied: [string, string, object][] = [
        ["get", "pods", { namespace: apps, name: "web-0" }],
        ["delete", "pods", { namespace: apps, name: "web-0" }],
        ["list", "secrets", {}],
        ["get", "secrets", { namespace }],
        ["update", "loadbalancingpolicies", { ...lb, namespace: apps, name: "web" }],
        ["patch", "loadbalancingpolicies", { ...lb, namespace: apps, name: "web" }],
        ["update", "loadbalancingpolicies/status", { ...lb, namespace: apps, name: "web" }],
        ["patch", "events", { namespace: apps }],
        ["create", "events", { group: "events.k8s.io", namespace: apps }],
        ["patch", "leases", { ...coordination, name: leaseName }],
        ["delete", "leases", { ...coordination, name: leaseName }],
        ["update", "leases", { ...coordination, name: "another-lease" }],
        ["create", "leases", { group: "coordination.k8s.io", namespace: apps }],
        ["update", "configmaps", { namespace, name: `${release}-config` }],
        ["get", "configmaps", { namespace, name: `${prefix}-64` }],
        ["patch", "configmaps", { namespace, name: `${prefix}-0` }],
        ["list", "configmaps", { namespace: apps }],
        ["create", "subjectaccessreviews", { group: "authorization.k8s.io" }],
      ];
      for (const [verb, resource, where] of allowed) {
        expect(
          await can(verb, resource, where),
          `${verb} ${resource} ${JSON.stringify(where)}`,
        ).toBe(true);
      }
      for (const [verb, resource, where] of denied) {
        expect(
          await can(verb, resource, where),
          `${verb} ${resource} ${JSON.stringify(where)}`,
        ).toBe(false);
      }
    });

    it("upgrades with another default strategy: config.yaml and its checksum change, the pods roll", async () => {
      const upgradeSetting = (setting: string) =>
        helm.clusterOk([
          "upgrade",
          release,
          CHART_DIR,
          "--namespace",
          namespace,
          "--reuse-values",
          "--set",
          setting,
        ]);
      const before = await deploymentChecksum();
      const generation = await deploymentGeneration();
      expect(before).toMatch(/^[0-9a-f]{64}$/);
      expect((await configYaml()).defaultStrategy).toBe("round-robin");
      await upgradeSetting("operator.defaultStrategy=maglev");
      expect((await configYaml()).defaultStrategy).toBe("maglev");
      const after = await deploymentChecksum();
      expect(after).toMatch(/^[0-9a-f]{64}$/);
      expect(after).not.toBe(before);
      // A new pod template: the Deployment controller rolls out new pods for it.
      expect(await deploymentGeneration()).toBe(generation + 1);
      // A change elsewhere leaves the checksum alone.
      await upgradeSetting("podAnnotations.team=edge");
      expect(await deploymentChecksum()).toBe(after);
      const history = (await helm.clusterOk(["history", release, "--namespace", namespace])).stdout;
      expect(history.trim().split("\n")).toHaveLength(4);
    });

    it("uninstalls everything of the release and what the operator created; the CRD stays", async () => {
      // The operator's Lease and state ConfigMap are there, owned by the release's ConfigMap.
      const configName = `${release}-config`;
      const operatorOwn = [
        `Lease/${chartValues.leaderElection.leaseName}`,
        `ConfigMap/${chartValues.state.configMapPrefix}-0`,
      ];
      const before = await namespaceContents(namespace);
      for (const entry of operatorOwn) expect(before.has(entry), entry).toBe(true);
      const lease = await kube.kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace, name: chartValues.leaderElection.leaseName });
      expect(lease.metadata?.ownerReferences?.map((r) => `${r.kind}/${r.name}`)).toEqual([
        `ConfigMap/${configName}`,
      ]);

      // A replica running through the uninstall, as the release's pods do: Helm deletes the
      // RBAC objects without waiting for the pods to stop, so a stopping leader is refused
      // (403) its last snapshot and the Lease's release. That is expected, and logged as such
      // (info), not as a failure.
      const { args, env, kubeconfigPath, token } = await releaseOperatorCommand();
      const tokenPath = join(scratch, "uninstall.token");
      await writeFile(tokenPath, token);
      const replica = await serveCli(
        [
          ...args,
          "--kubeconfig",
          kubeconfigPath,
          "--dns-addr",
          "127.0.0.1:0",
          "--internal-addr",
          "127.0.0.1:0",
          "--token-file",
          tokenPath,
        ],
        env,
      );
      operator = replica;
      await waitFor("leadership", async () => {
        const response = await fetch(`${replica.internalUrl}/internal/v1/ha`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const ha = (await response.json()) as { leading?: boolean };
        return ha.leading ? true : undefined;
      });

      await helm.clusterOk(["uninstall", release, "--namespace", namespace]);
      replica.child.kill("SIGTERM");
      expect(await replica.exited).toBe(0);
      operator = null;
      const stopLog = replica.output();
      expect(stopLog).toContain("left the leader lease unreleased: the Role or the Lease is gone");
      const failures = stopLog
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((entry) => entry.level >= 40 && /stop|last snapshot|releas/.test(entry.msg));
      expect(failures, "warnings or errors from the stop").toEqual([]);
      const remaining: string[] = [];
      await waitFor(
        "the release's objects to be gone",
        async () => {
          remaining.length = 0;
          for (const object of installed) {
            if (await exists(object)) remaining.push(`${object.kind}/${object.metadata.name}`);
          }
          return remaining.length === 0 ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(remaining).toEqual([]);
      // Dependents go with their owners through the garbage collector: the Service's
      // EndpointSlices, and the Lease and state ConfigMaps the operator wrote at run time.
      const leftover = await waitFor(
        "the namespace to hold nothing of the release",
        async () => {
          const now = await namespaceContents(namespace);
          const added = [...now].filter((entry) => !baseline.has(entry)).sort();
          return added.length === 0 ? added : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(leftover).toEqual([]);
      const status = await helm.cluster(["status", release, "--namespace", namespace]);
      expect(status.stderr).toContain("release: not found");
      expect(await crdExists(POLICY_CRD)).toBe(true);
      console.log(
        `CRD ${POLICY_CRD} ${policyCrdBefore ? "was there before the install" : "was created by the install"} and stays`,
      );
    });
  });

  it("a typo deep in a Kubernetes structure is named by the API server: Helm 4 fails, Helm 3 warns", async () => {
    const file = await helm.valuesFile({
      replicaCount: 1,
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preferenc: {} }],
        },
      },
    });
    const release = `deep-${namespace.slice("helm-".length)}`;
    try {
      const result = await helm.cluster([
        "install",
        release,
        CHART_DIR,
        "--namespace",
        namespace,
        "--values",
        file,
      ]);
      if (helmBinary === "helm3") {
        // Helm 3 creates objects without strict field validation: the API server drops the
        // field and says so in a warning, which Helm 3 passes on.
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).toContain("Warning: unknown field");
        expect(result.stderr).toContain(
          "spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preferenc",
        );
        return;
      }
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(
        "preferredDuringSchedulingIgnoredDuringExecution[0].preferenc: field not declared in schema",
      );
    } finally {
      await helm.cluster(["uninstall", release, "--namespace", namespace, "--ignore-not-found"]);
    }
  });
}
