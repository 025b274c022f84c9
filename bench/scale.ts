/**
 * The scale part of `npm run bench`: the operator against a local control plane (etcd,
 * kube-apiserver, kube-controller-manager, kwok as the kubelet of every fake Node) holding
 * thousands of Pods behind real EndpointSlices. For each size it measures, for each operator
 * build given (this checkout, and e.g. another checkout's entry point, so before and after come
 * from the same run on the same cluster):
 *   - memory with no Services (the baseline), and after a cold sync: RSS and heap after GC;
 *   - the cold sync: process start to /readyz (the catalog holds every Service);
 *   - operator CPU and reconciles per readiness flip of one Pod of the big Service;
 *   - readiness change → answer: a Pod's Ready condition written → the Service's answer shows it,
 *     under a steady rate of flips;
 *   - memory again after that churn.
 *
 *   npm run bench -- --only=scale --pods=1000,10000 --operator=before=../konsul-lb-before/src/cli/main.ts
 *
 * --pods: sizes (default 1,000 and 10,000; 1,000 with --quick). --operator="LABEL=ENTRY [NODE
 * OPTION...]", repeatable: operator builds to compare, measured before this checkout's own.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from "@kubernetes/client-node";
import {
  POLICY_API_VERSION,
  POLICY_GROUP,
  POLICY_KIND,
  POLICY_PLURAL,
  POLICY_VERSION,
} from "../src/policy/schema.ts";
import { ControlPlane } from "../test/cluster/harness/control-plane.ts";
import {
  type Memory,
  metricValue,
  OperatorProcess as Operator,
  type OperatorBuild,
  until,
} from "../test/cluster/support/operator-process.ts";
import { type Environment, formatBytes, formatMs, formatNumber, markdownTable } from "./report.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const STAGES = fileURLToPath(new URL("./scale-kwok-stages.yaml", import.meta.url));
const CRD = resolve(ROOT, "crds/lb.konsul.io_loadbalancingpolicies.yaml");
/** kwok hands out Pod IPs from here: room for 30,000 Pods, apart from the Service range. */
const POD_CIDR = "10.128.0.0/14";
const NAMESPACE = "scale";
const BIG_SERVICE = "big";
/** Requests in flight while creating objects; the API server on 2 cores takes no more. */
const CREATE_CONCURRENCY = 24;
const PODS_PER_SERVICE = 10;
const PODS_PER_NODE = 20;
const MAX_NODES = 500;

/** The targets. */
export const TARGETS = {
  rssAt10kMiB: 256,
  bytesPerPod: 8 * 1024,
  syncAt10kSeconds: 10,
  latencyP99Ms: 100,
} as const;

export interface ScaleSettings {
  readonly sizes: readonly number[];
  readonly operators: readonly OperatorBuild[];
  /** Flips for the CPU figure, at flipsPerSecond. */
  readonly cpuFlips: number;
  readonly cpuFlipsPerSecond: number;
  /** How long the latency phase flips, at latencyFlipsPerSecond. */
  readonly latencySeconds: number;
  readonly latencyFlipsPerSecond: number;
}

export function scaleSettings(quick: boolean, args: readonly string[]): ScaleSettings {
  const podsFlag = args.find((arg) => arg.startsWith("--pods="));
  const sizes = podsFlag
    ? podsFlag
        .slice("--pods=".length)
        .split(",")
        .map((text) => {
          const size = Number(text);
          if (!Number.isInteger(size) || size < 100 || size > 30_000) {
            throw new Error(
              `--pods ${JSON.stringify(text)} is not allowed; expected integers from 100 to 30000, comma-separated`,
            );
          }
          return size;
        })
    : quick
      ? [1000]
      : [1000, 10_000];
  const operators = args
    .filter((arg) => arg.startsWith("--operator="))
    .map((arg) => {
      const value = arg.slice("--operator=".length);
      const split = value.indexOf("=");
      const [entry, ...nodeOptions] = value
        .slice(split + 1)
        .split(" ")
        .filter((word) => word !== "");
      if (split <= 0 || entry === undefined) {
        throw new Error(
          `--operator ${JSON.stringify(value)} is not allowed; expected LABEL=PATH [NODE OPTION...], PATH a src/cli/main.ts`,
        );
      }
      return { label: value.slice(0, split), entry: resolve(entry), nodeOptions };
    });
  return {
    sizes,
    operators: [
      ...operators,
      { label: "this checkout", entry: resolve(ROOT, "src/cli/main.ts"), nodeOptions: [] },
    ],
    cpuFlips: quick ? 20 : 40,
    cpuFlipsPerSecond: 5,
    latencySeconds: quick ? 10 : 20,
    latencyFlipsPerSecond: 10,
  };
}

export interface OperatorFigures {
  readonly label: string;
  readonly baseline: Memory;
  readonly syncSeconds: number;
  readonly synced: Memory;
  readonly cpuMsPerFlip: number;
  readonly serviceReconcilesPerFlip: number;
  readonly statusReconcilesPerFlip: number;
  readonly latency: Spread;
  /** The operator's share: from the EndpointSlice event to the answer. */
  readonly operatorLatency: Spread;
  /** Flips whose answer never showed them within the wait. */
  readonly latencyMissed: number;
  readonly afterChurn: Memory;
}

export interface SizeFigures {
  readonly pods: number;
  readonly services: number;
  readonly nodes: number;
  readonly bigServicePods: number;
  readonly setupSeconds: number;
  readonly operators: readonly OperatorFigures[];
}

export interface ScaleResults extends Environment {
  readonly settings: ScaleSettings;
  readonly sizes: readonly SizeFigures[];
}

/** Runs `count` tasks with at most `concurrency` at once. */
async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

interface Spread {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function spread(sorted: readonly number[]): Spread {
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** The layout of one size: one big Service with half the Pods, the rest 10 to a Service. */
function layout(pods: number) {
  const bigServicePods = Math.floor(pods / 2);
  const smallServices = Math.ceil((pods - bigServicePods) / PODS_PER_SERVICE);
  const nodes = Math.min(MAX_NODES, Math.ceil(pods / PODS_PER_NODE));
  const serviceOf = (pod: number) =>
    pod < bigServicePods
      ? BIG_SERVICE
      : `svc-${Math.floor((pod - bigServicePods) / PODS_PER_SERVICE)}`;
  return { pods, bigServicePods, smallServices, nodes, serviceOf };
}

class Cluster {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly custom: CustomObjectsApi;
  readonly kubeconfig: string;

  constructor(kubeconfig: string) {
    const config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    this.config = config;
    this.kubeconfig = kubeconfig;
    this.core = config.makeApiClient(CoreV1Api);
    this.discovery = config.makeApiClient(DiscoveryV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
  }

  async kubectl(...args: string[]): Promise<void> {
    await promisify(execFile)("kubectl", ["--kubeconfig", this.kubeconfig, ...args], {
      timeout: 120_000,
    });
  }

  /** Ready endpoints over every EndpointSlice of the namespace. */
  async readyEndpoints(): Promise<number> {
    let ready = 0;
    let token: string | undefined;
    do {
      const page = await this.discovery.listNamespacedEndpointSlice({
        namespace: NAMESPACE,
        limit: 500,
        _continue: token,
      });
      for (const slice of page.items) {
        for (const endpoint of slice.endpoints ?? []) if (endpoint.conditions?.ready) ready++;
      }
      token = page.metadata?._continue || undefined;
    } while (token);
    return ready;
  }

  async setReady(pod: string, ready: boolean): Promise<void> {
    const status = ready ? "True" : "False";
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    await this.core.patchNamespacedPodStatus(
      {
        namespace: NAMESPACE,
        name: pod,
        body: {
          status: {
            conditions: [
              { type: "Ready", status, lastTransitionTime: now },
              { type: "ContainersReady", status, lastTransitionTime: now },
            ],
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
  }

  async populate(shape: ReturnType<typeof layout>, log: (line: string) => void): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const resources = { cpu: "1000", memory: "4Ti", pods: "1000" };
    await pool(shape.nodes, CREATE_CONCURRENCY, async (i) => {
      await this.core.createNode({
        body: {
          metadata: {
            name: `node-${i}`,
            labels: {
              "kubernetes.io/hostname": `node-${i}`,
              "topology.kubernetes.io/region": i % 2 === 0 ? "us-east" : "eu-west",
              "topology.kubernetes.io/zone": `zone-${i % 6}`,
              type: "kwok",
            },
            annotations: { "kwok.x-k8s.io/node": "fake" },
          },
          status: { allocatable: resources, capacity: resources },
        },
      });
    });
    const services = [
      BIG_SERVICE,
      ...Array.from({ length: shape.smallServices }, (_, i) => `svc-${i}`),
    ];
    await pool(services.length, CREATE_CONCURRENCY, async (i) => {
      const name = services[i] as string;
      await this.core.createNamespacedService({
        namespace: NAMESPACE,
        body: {
          metadata: { name },
          spec: {
            // Headless: the control plane's Service range holds 254 addresses, and the
            // EndpointSlices (all the operator reads) are the same.
            clusterIP: "None",
            selector: { app: name },
            ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
          },
        },
      });
    });
    await this.custom.createNamespacedCustomObject({
      group: POLICY_GROUP,
      version: POLICY_VERSION,
      plural: POLICY_PLURAL,
      namespace: NAMESPACE,
      body: {
        apiVersion: POLICY_API_VERSION,
        kind: POLICY_KIND,
        metadata: { name: `${BIG_SERVICE}-sticky` },
        spec: {
          targetRef: { kind: "Service", name: BIG_SERVICE },
          strategy: "ring-hash",
          ringHash: { hashOn: "session-key" },
          weights: [{ selector: { matchLabels: { tier: "gold" } }, weight: 2 }],
        },
      },
    });
    log(`${shape.nodes} Nodes, ${services.length} Services`);
    const started = Date.now();
    await pool(shape.pods, CREATE_CONCURRENCY, async (i) => {
      const app = shape.serviceOf(i);
      await this.core.createNamespacedPod({
        namespace: NAMESPACE,
        body: {
          metadata: {
            name: podName(i),
            labels: { app, "pod-template-hash": "bench", tier: i % 3 === 0 ? "gold" : "silver" },
            annotations: { "lb.konsul.io/weight": String(1 + (i % 3)) },
          },
          spec: {
            nodeName: `node-${i % shape.nodes}`,
            containers: [
              {
                name: "app",
                image: "registry.invalid/konsul-lb/bench-app:0",
                ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
              },
            ],
            automountServiceAccountToken: false,
          },
        },
      });
      if ((i + 1) % 2000 === 0)
        log(`${i + 1} Pods created (${((Date.now() - started) / 1000).toFixed(0)}s)`);
    });
    await until(
      `${shape.pods} ready endpoints in the EndpointSlices`,
      120_000 + shape.pods * 30,
      2000,
      async () => {
        const ready = await this.readyEndpoints();
        return ready >= shape.pods ? ready : undefined;
      },
    );
  }
}

function podName(i: number): string {
  return `pod-${String(i).padStart(5, "0")}`;
}

/** Flips Pods of the big Service to not ready, in order; each Pod at most once until restored. */
class Flipper {
  private next = 0;
  private readonly flipped: string[] = [];

  private readonly cluster: Cluster;
  private readonly bigServicePods: number;

  constructor(cluster: Cluster, bigServicePods: number) {
    this.cluster = cluster;
    this.bigServicePods = bigServicePods;
  }

  /** The Pod the next flip turns not ready. */
  nextPod(): string {
    if (this.next >= this.bigServicePods)
      throw new Error("every Pod of the big Service is flipped");
    return podName(this.next++);
  }

  async flip(pod: string = this.nextPod()): Promise<void> {
    this.flipped.push(pod);
    await this.cluster.setReady(pod, false);
  }

  /** Makes every flipped Pod ready again. */
  async restore(): Promise<void> {
    const pods = this.flipped.splice(0);
    await pool(pods.length, CREATE_CONCURRENCY, (i) =>
      this.cluster.setReady(pods[i] as string, true),
    );
    this.next = 0;
  }
}

interface ServiceAnswer {
  readonly endpoints: readonly { readonly identity: string; readonly ready: boolean }[];
}

/** Latencies of the flips of one phase, sorted, in milliseconds. */
interface LatencyFigures {
  /** Status write → the answer shows it. */
  readonly total: number[];
  /** The EndpointSlice event showing it, seen by a watch of the benchmark → the answer shows it. */
  readonly operator: number[];
  readonly missed: number;
}

/**
 * Flips at a steady rate while a blocking query follows the big Service; a flip's latency runs
 * from its status write to the first answer that lists its Pod as not ready. A watch of the
 * EndpointSlices beside it tells the control plane's share from the operator's.
 */
async function measureLatency(
  operator: Operator,
  cluster: Cluster,
  flipper: Flipper,
  seconds: number,
  perSecond: number,
): Promise<LatencyFigures> {
  const pending = new Map<string, number>();
  const sliceSeen = new Map<string, number>();
  const total: number[] = [];
  const operatorShare: number[] = [];
  let running = true;
  let stoppedAt = Number.POSITIVE_INFINITY;
  const watch = await new Watch(cluster.config).watch(
    `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`,
    {},
    (
      _type,
      slice: { endpoints?: { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[] },
    ) => {
      const now = performance.now();
      for (const endpoint of slice.endpoints ?? []) {
        const pod = endpoint.targetRef?.name;
        if (pod && pending.has(pod) && !sliceSeen.has(pod) && endpoint.conditions?.ready === false)
          sliceSeen.set(pod, now);
      }
    },
    () => {},
  );
  const path = `${operator.url}/v1/services/${NAMESPACE}/${BIG_SERVICE}`;
  const follow = async () => {
    let index = 0;
    while (running || pending.size > 0) {
      const res = await fetch(`${path}?index=${index}&wait=2s`);
      index = Number(res.headers.get("x-konsul-index") ?? index);
      const answer = (await res.json()) as ServiceAnswer;
      const now = performance.now();
      for (const endpoint of answer.endpoints) {
        const at = pending.get(endpoint.identity);
        if (at !== undefined && !endpoint.ready) {
          total.push(now - at);
          const seen = sliceSeen.get(endpoint.identity);
          if (seen !== undefined) operatorShare.push(now - seen);
          pending.delete(endpoint.identity);
        }
      }
      if (!running && now > stoppedAt + 10_000) break;
    }
  };
  const follower = follow();
  const started = performance.now();
  const flips = seconds * perSecond;
  try {
    for (let i = 0; i < flips; i++) {
      const due = started + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      // Timed from when the write is sent: the answer can come before the reply.
      const sent = performance.now();
      const pod = flipper.nextPod();
      pending.set(pod, sent);
      await flipper.flip(pod);
    }
    stoppedAt = performance.now();
    running = false;
    await follower;
  } finally {
    watch.abort();
  }
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  return { total: sorted(total), operator: sorted(operatorShare), missed: pending.size };
}

async function measureOperator(
  build: OperatorBuild,
  cluster: Cluster,
  shape: ReturnType<typeof layout>,
  baseline: Memory,
  settings: ScaleSettings,
  log: (line: string) => void,
): Promise<OperatorFigures> {
  const started = performance.now();
  const operator = await Operator.start(build, cluster.kubeconfig);
  try {
    await operator.waitReady(120_000);
    const syncSeconds = (performance.now() - started) / 1000;
    log(`${build.label}: synced in ${syncSeconds.toFixed(1)}s`);
    await sleep(3000);
    const synced = await operator.memory();

    const flipper = new Flipper(cluster, shape.bigServicePods);
    const before = await operator.metrics();
    const cpuBefore = operator.cpuMs();
    for (let i = 0; i < settings.cpuFlips; i++) {
      await flipper.flip();
      await sleep(1000 / settings.cpuFlipsPerSecond);
    }
    await sleep(2000);
    const cpuMs = operator.cpuMs() - cpuBefore;
    const after = await operator.metrics();
    const reconciles = (controller: string) =>
      (metricValue(after, "konsul_lb_reconcile_total", `controller="${controller}"`) -
        metricValue(before, "konsul_lb_reconcile_total", `controller="${controller}"`)) /
      settings.cpuFlips;
    const cpuMsPerFlip = cpuMs / settings.cpuFlips;
    await flipper.restore();
    await sleep(2000);

    const latency = await measureLatency(
      operator,
      cluster,
      flipper,
      settings.latencySeconds,
      settings.latencyFlipsPerSecond,
    );
    await flipper.restore();
    await sleep(3000);
    const afterChurn = await operator.memory();
    const figures: OperatorFigures = {
      label: build.label,
      baseline,
      syncSeconds,
      synced,
      cpuMsPerFlip,
      serviceReconcilesPerFlip: reconciles("services"),
      statusReconcilesPerFlip: reconciles("policy-status"),
      latency: spread(latency.total),
      operatorLatency: spread(latency.operator),
      latencyMissed: latency.missed,
      afterChurn,
    };
    log(`${build.label}: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await operator.stop();
  }
}

async function baselineOf(build: OperatorBuild, kubeconfig: string): Promise<Memory> {
  const operator = await Operator.start(build, kubeconfig);
  try {
    await operator.waitReady(60_000);
    await sleep(3000);
    return await operator.memory();
  } finally {
    await operator.stop();
  }
}

async function runSize(
  pods: number,
  settings: ScaleSettings,
  log: (line: string) => void,
): Promise<SizeFigures> {
  const shape = layout(pods);
  const plane = await ControlPlane.start({
    log: (line) => log(`control plane: ${line}`),
    kwok: { config: STAGES, cidr: POD_CIDR },
  });
  try {
    const cluster = new Cluster(plane.kubeconfig);
    await cluster.kubectl("apply", "--server-side", "-f", CRD);
    await cluster.kubectl(
      "wait",
      "--for=condition=Established",
      "crd/loadbalancingpolicies.lb.konsul.io",
      "--timeout=60s",
    );
    const baselines = new Map<string, Memory>();
    for (const build of settings.operators)
      baselines.set(build.label, await baselineOf(build, plane.kubeconfig));
    const setupStarted = performance.now();
    await cluster.populate(shape, log);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`${pods} Pods ready in the EndpointSlices after ${setupSeconds.toFixed(0)}s`);
    const operators: OperatorFigures[] = [];
    for (const build of settings.operators) {
      operators.push(
        await measureOperator(
          build,
          cluster,
          shape,
          baselines.get(build.label) as Memory,
          settings,
          log,
        ),
      );
    }
    return {
      pods,
      services: shape.smallServices + 1,
      nodes: shape.nodes,
      bigServicePods: shape.bigServicePods,
      setupSeconds,
      operators,
    };
  } finally {
    await plane.stop();
  }
}

export async function runScale(
  settings: ScaleSettings,
  environment: Environment,
): Promise<ScaleResults> {
  const log = (line: string) => console.log(`  ${line}`);
  const sizes: SizeFigures[] = [];
  for (const pods of settings.sizes) sizes.push(await runSize(pods, settings, log));
  return { ...environment, settings, sizes };
}

function ratio(after: number, before: number): string {
  if (!Number.isFinite(after) || !Number.isFinite(before) || before === 0) return "—";
  return `${formatNumber(after / before, 2)}×`;
}

/** Bytes per Pod over the baseline, from RSS. */
function bytesPerPod(figures: OperatorFigures, pods: number): number {
  return (figures.synced.rssBytes - figures.baseline.rssBytes) / pods;
}

export function renderScale(results: ScaleResults): string {
  const labels = results.settings.operators.map((build) => build.label);
  const compare = labels.length > 1;
  const lines = [
    "## Scale: the Kubernetes path",
    "",
    `Measured ${results.date.slice(0, 10)} on ${results.cores} cores (${results.cpu}, 24 GiB), Node ${results.node}, commit ${results.revision ?? "unknown"}, by \`npm run bench -- --only=scale\` (bench/scale.ts).`,
    "A local control plane (etcd, kube-apiserver, kube-controller-manager with the EndpointSlice",
    "controller, kwok as the kubelet of every Node) shares the machine with the operator. Half the",
    "Pods sit behind one Service (`big`, ring-hash with a weight rule, a LoadBalancingPolicy whose",
    "status counts its endpoints), the rest ten to a Service; 20 Pods per Node, at most 500 Nodes.",
    "Each operator build is measured in turn against the same cluster, in the same run.",
    "RSS from /proc; heap from `nodejs_heap_size_used_bytes` right after a forced full collection",
    "(the benchmark loads test/cluster/support/gc-on-signal.ts into the operator). Baseline: the operator on",
    "the same cluster before any Service exists. CPU per flip: the operator's utime + stime over",
    `${results.settings.cpuFlips} readiness flips of Pods of the big Service at ${results.settings.cpuFlipsPerSecond}/s, divided by the flips. Latency: a Pod's`,
    "Ready condition written → the first blocking-query answer for the big Service that lists it as",
    `not ready, under ${results.settings.latencyFlipsPerSecond} flips/s for ${results.settings.latencySeconds} s; the operator's share runs from the EndpointSlice`,
    "event that shows the flip, seen by a watch of the benchmark, to that answer (the rest is the",
    "API server and the EndpointSlice controller on the same 2 cores). After churn: memory once",
    "those flips are undone. Node options of a build, if any, are in its label.",
    "",
  ];
  for (const size of results.sizes) {
    const figures = labels.map((label) => size.operators.find((o) => o.label === label));
    const row = (
      name: string,
      value: (f: OperatorFigures) => number,
      format: (v: number) => string,
    ) => {
      const values = figures.map((f) => (f ? value(f) : Number.NaN));
      const cells = values.map((v) => (Number.isFinite(v) ? format(v) : "—"));
      return compare
        ? [name, ...cells, ratio(values.at(-1) as number, values[0] as number)]
        : [name, ...cells];
    };
    const mib = (v: number) => formatBytes(v);
    lines.push(
      `### ${formatNumber(size.pods)} Pods (${formatNumber(size.services)} Services, big Service ${formatNumber(size.bigServicePods)} Pods, ${size.nodes} Nodes)`,
      "",
      markdownTable(
        ["", ...labels, ...(compare ? [`${labels.at(-1)} / ${labels[0]}`] : [])],
        [
          row("RSS, baseline", (f) => f.baseline.rssBytes, mib),
          row("RSS after sync", (f) => f.synced.rssBytes, mib),
          row("RSS per Pod over the baseline", (f) => bytesPerPod(f, size.pods), mib),
          row("heap after GC, baseline", (f) => f.baseline.heapBytes, mib),
          row("heap after GC, after sync", (f) => f.synced.heapBytes, mib),
          row("RSS after churn", (f) => f.afterChurn.rssBytes, mib),
          row("heap after GC, after churn", (f) => f.afterChurn.heapBytes, mib),
          row("cold sync (start → ready)", (f) => f.syncSeconds * 1000, formatMs),
          row("operator CPU per flip", (f) => f.cpuMsPerFlip, formatMs),
          row(
            "Service reconciles per flip",
            (f) => f.serviceReconcilesPerFlip,
            (v) => formatNumber(v, 2),
          ),
          row(
            "policy-status reconciles per flip",
            (f) => f.statusReconcilesPerFlip,
            (v) => formatNumber(v, 2),
          ),
          row("readiness → answer p50", (f) => f.latency.p50, formatMs),
          row("readiness → answer p99", (f) => f.latency.p99, formatMs),
          row("readiness → answer max", (f) => f.latency.max, formatMs),
          row(
            "of which the operator (slice event → answer) p50",
            (f) => f.operatorLatency.p50,
            formatMs,
          ),
          row("of which the operator p99", (f) => f.operatorLatency.p99, formatMs),
          row("of which the operator max", (f) => f.operatorLatency.max, formatMs),
          row(
            "flips never answered",
            (f) => f.latencyMissed,
            (v) => formatNumber(v),
          ),
        ],
        ["left", ...labels.map(() => "right" as const), ...(compare ? ["right" as const] : [])],
      ),
      "",
      `Cluster set-up (objects created until every Pod is a ready endpoint): ${formatNumber(size.setupSeconds)} s.`,
      "",
    );
  }
  const at10k = results.sizes.find((size) => size.pods === 10_000)?.operators.at(-1);
  if (at10k) {
    const perPod = bytesPerPod(at10k, 10_000);
    lines.push(
      "### Targets at 10,000 Pods (this checkout)",
      "",
      markdownTable(
        ["target", "measured", "met"],
        [
          [
            `RSS ≤ ${TARGETS.rssAt10kMiB} MiB`,
            formatBytes(at10k.synced.rssBytes),
            at10k.synced.rssBytes <= TARGETS.rssAt10kMiB * 1024 * 1024 ? "✓" : "✗",
          ],
          [
            `growth ≤ ${TARGETS.bytesPerPod / 1024} KiB per Pod`,
            formatBytes(perPod),
            perPod <= TARGETS.bytesPerPod ? "✓" : "✗",
          ],
          [
            `cold sync ≤ ${TARGETS.syncAt10kSeconds} s`,
            `${formatNumber(at10k.syncSeconds, 1)} s`,
            at10k.syncSeconds <= TARGETS.syncAt10kSeconds ? "✓" : "✗",
          ],
          [
            `readiness → answer p99 ≤ ${TARGETS.latencyP99Ms} ms`,
            formatMs(at10k.latency.p99),
            at10k.latency.p99 <= TARGETS.latencyP99Ms ? "✓" : "✗",
          ],
        ],
        ["left", "right", "left"],
      ),
      "",
    );
  }
  return lines.join("\n");
}
