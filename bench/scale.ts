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
 *   - memory again after that churn;
 *   - a relist of everything: the kube-apiserver restarted, every watch of the operator fails and
 *     each informer lists its kind again, while an unrelated Service's answers are timed;
 * and for this checkout alone, at the end:
 *   - with --churn-minutes=N, N minutes of flips with memory sampled every minute (the slope of
 *     the second half tells growth from noise);
 *   - where the heap goes: a heap snapshot (Node's --heapsnapshot-signal, given only here) with
 *     no Services and one after the churn, summed per kind of object.
 *
 *   npm run bench -- --only=scale --pods=1000,10000 --operator=before=../konsul-lb-before/src/cli/main.ts
 *
 * --pods: sizes (default 1,000 and 10,000; 1,000 with --quick). --operator="LABEL=ENTRY [NODE
 * OPTION...]", repeatable: operator builds to compare, measured before this checkout's own,
 * which runs with the chart's NODE_OPTIONS.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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
  operatorBuildsFrom,
  until,
} from "../test/cluster/support/operator-process.ts";
import { growth, HEAP_SNAPSHOT_SIGNAL, type HeapSummary, takeHeapSummary } from "./heap-summary.ts";
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
/** The unrelated Service whose answers are timed during a relist (10 Pods). */
const SMALL_SERVICE = "svc-0";
/** An answer slower than this is a stall (the issue's bound for a relist). */
const STALL_MS = 50;

/** The Node options the chart gives the operator (one place: the Deployment template). */
function chartNodeOptions(): string[] {
  const template = readFileSync(
    resolve(ROOT, "charts/konsul-lb/templates/deployment.yaml"),
    "utf8",
  );
  const value = /name: NODE_OPTIONS\s+value: "([^"]*)"/.exec(template)?.[1];
  if (value === undefined) throw new Error("the chart's Deployment sets no NODE_OPTIONS value");
  return value.split(" ").filter((word) => word !== "");
}

/** The issue's targets. */
export const TARGETS = {
  rssAt10kMiB: 256,
  bytesPerPod: 8 * 1024,
  syncAt10kSeconds: 10,
  latencyP99Ms: 100,
  /** No answer of an unrelated Service slower than this while every informer relists. */
  relistStallMs: STALL_MS,
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
  /** Minutes of churn for this checkout, with memory sampled every minute (0: none). */
  readonly churnMinutes: number;
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
  const churnFlag = args.find((arg) => arg.startsWith("--churn-minutes="));
  const churnMinutes = churnFlag ? Number(churnFlag.slice("--churn-minutes=".length)) : 0;
  if (!Number.isInteger(churnMinutes) || churnMinutes < 0 || churnMinutes > 120) {
    throw new Error(
      `--churn-minutes ${JSON.stringify(churnFlag)} is not allowed; expected an integer from 0 to 120`,
    );
  }
  const operators = operatorBuildsFrom(args);
  return {
    sizes,
    operators: [
      ...operators,
      {
        label: "this checkout",
        entry: resolve(ROOT, "src/cli/main.ts"),
        nodeOptions: chartNodeOptions(),
      },
    ],
    cpuFlips: quick ? 20 : 40,
    cpuFlipsPerSecond: 5,
    latencySeconds: quick ? 10 : 20,
    latencyFlipsPerSecond: 10,
    churnMinutes,
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
  /** The operator's share: from the first Pod or EndpointSlice event showing the flip to the answer. */
  readonly operatorLatency: Spread;
  /** Flips whose answer never showed them within the wait. */
  readonly latencyMissed: number;
  /** Flips answered before a watch of the benchmark saw them: no operator's share to take. */
  readonly answeredUnseen: number;
  readonly afterChurn: Memory;
  readonly relist: RelistFigures;
}

/** An unrelated Service's answers, quiet and while every informer relists. */
export interface RelistFigures {
  readonly quiet: Spread;
  readonly during: Spread;
  /**
   * The operator's longest event-loop delay in each stretch (prom-client's
   * nodejs_eventloop_lag_max_seconds, reset by every scrape): what it blocked itself, and what
   * the machine's other processes kept it waiting.
   */
  readonly quietLoopDelayMaxMs: number;
  readonly duringLoopDelayMaxMs: number;
  /** Answers during the relist slower than STALL_MS. */
  readonly stalls: number;
  readonly answers: number;
  /**
   * The slowest answer during the relist, split by what the operator's main thread did over it
   * (from /proc/<pid>/task/<pid>/schedstat): running (its own JavaScript and collector pauses)
   * or runnable but waiting for a core the machine's other processes held.
   */
  readonly slowest: TimedAnswer;
  /** Watch restarts the operator counted, by reason (e.g. "gone", "error"). */
  readonly restarts: Readonly<Record<string, number>>;
  /** How long the kube-apiserver took to stop and serve again, in seconds. */
  readonly apiDownSeconds: number;
}

/** Memory over a long churn, one sample a minute. */
export interface ChurnFigures {
  readonly minutes: number;
  readonly flips: number;
  readonly samples: readonly { readonly minute: number; readonly memory: Memory }[];
  /** Least-squares slopes over the second half, in bytes per minute. */
  readonly rssSlope: number;
  readonly heapSlope: number;
}

export interface SizeFigures {
  readonly pods: number;
  readonly services: number;
  readonly nodes: number;
  readonly bigServicePods: number;
  readonly setupSeconds: number;
  readonly operators: readonly OperatorFigures[];
  readonly churn: ChurnFigures | undefined;
  /** Heap growth of this checkout from no Services to after the churn, per kind of object. */
  readonly heap: { group: string; bytes: number; count: number }[] | undefined;
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
  /**
   * The first event showing it — the Pod's, or its EndpointSlice's, whichever a watch of the
   * benchmark saw first — → the answer shows it.
   */
  readonly operator: number[];
  readonly missed: number;
  /**
   * Answered before either watch of the benchmark saw the flip. The benchmark parses every
   * answer of the big Service (thousands of endpoints) on its own event loop, so its watches
   * can lag the operator's: then the operator's share is not measured, only bounded by the total.
   */
  readonly unseen: number;
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
  /** When a watch of the benchmark first saw each pending flip, on its Pod or on its slice. */
  const firstSeen = new Map<string, number>();
  const seen = (pod: string, now: number) => {
    if (pending.has(pod) && !firstSeen.has(pod)) firstSeen.set(pod, now);
  };
  const total: number[] = [];
  const operatorShare: number[] = [];
  let unseen = 0;
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
        if (pod && endpoint.conditions?.ready === false) seen(pod, now);
      }
    },
    () => {},
  );
  const podWatch = await new Watch(cluster.config).watch(
    `/api/v1/namespaces/${NAMESPACE}/pods`,
    {},
    (
      _type,
      pod: {
        metadata?: { name?: string };
        status?: { conditions?: { type?: string; status?: string }[] };
      },
    ) => {
      const ready = pod.status?.conditions?.find((condition) => condition.type === "Ready");
      if (pod.metadata?.name && ready?.status === "False")
        seen(pod.metadata.name, performance.now());
    },
    () => {},
  );
  const path = `${operator.url}/v1/services/${NAMESPACE}/${BIG_SERVICE}`;
  let failures = 0;
  const follow = async () => {
    let index = 0;
    while (running || pending.size > 0) {
      let answer: ServiceAnswer;
      try {
        const res = await fetch(`${path}?index=${index}&wait=2s`);
        index = Number(res.headers.get("x-konsul-index") ?? index);
        answer = (await res.json()) as ServiceAnswer;
      } catch (error) {
        // A connection the server closed as it was reused: ask again (the loop is bounded below).
        failures++;
        if (failures > 20) throw error;
        await sleep(50);
        continue;
      }
      const now = performance.now();
      for (const endpoint of answer.endpoints) {
        const at = pending.get(endpoint.identity);
        if (at !== undefined && !endpoint.ready) {
          total.push(now - at);
          const first = firstSeen.get(endpoint.identity);
          if (first !== undefined) operatorShare.push(now - first);
          else unseen++;
          pending.delete(endpoint.identity);
        }
      }
      if (!running && now > stoppedAt + 10_000) break;
    }
  };
  const follower = follow();
  // Its failure is reported where it is awaited, after the flips, not as an unhandled rejection.
  follower.catch(() => {});
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
    podWatch.abort();
  }
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  return {
    total: sorted(total),
    operator: sorted(operatorShare),
    missed: pending.size,
    unseen,
  };
}

/** Watch restarts counted so far, by reason. */
function watchRestarts(metrics: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of metrics.matchAll(/^konsul_lb_watch_restarts_total\{([^}]*)\} (\S+)$/gm)) {
    const reason = /reason="([^"]*)"/.exec(match[1] as string)?.[1] ?? "unknown";
    counts[reason] = (counts[reason] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** One answer's time, and the operator main thread's time on a core and waiting for one. */
export interface TimedAnswer {
  readonly ms: number;
  readonly runningMs: number;
  readonly waitingMs: number;
}

/**
 * The main thread's time on a core and time runnable but waiting for one, in milliseconds
 * (Linux schedstat: both in nanoseconds); zeros where the kernel does not keep them.
 */
function mainThreadSchedule(pid: number): { running: number; waiting: number } {
  try {
    const [running, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8")
      .split(" ")
      .map(Number);
    return { running: (running ?? 0) / 1e6, waiting: (waiting ?? 0) / 1e6 };
  } catch {
    return { running: 0, waiting: 0 };
  }
}

/**
 * Times answers for the small Service one after another, 50 a second, until `done` says so;
 * sorted by time, slowest last.
 */
async function timeAnswers(operator: Operator, done: () => boolean): Promise<TimedAnswer[]> {
  const url = `${operator.url}/v1/services/${NAMESPACE}/${SMALL_SERVICE}`;
  const latencies: TimedAnswer[] = [];
  // Bounded whatever `done` says: five minutes of answers at most.
  let failures = 0;
  for (let i = 0; i < 15_000 && !done(); i++) {
    const sent = performance.now();
    const before = mainThreadSchedule(operator.pid);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
    } catch (error) {
      // A kept-alive connection closed under the request; the retry's time counts in full.
      failures++;
      if (failures > 20) throw error;
      const res = await fetch(url);
      await res.arrayBuffer();
    }
    const ms = performance.now() - sent;
    const after = mainThreadSchedule(operator.pid);
    latencies.push({
      ms,
      runningMs: after.running - before.running,
      waitingMs: after.waiting - before.waiting,
    });
    await sleep(20);
  }
  return latencies.sort((a, b) => a.ms - b.ms);
}

/**
 * A relist at full size, brought about for real: the kube-apiserver restarts, every watch of the
 * operator ends, and each informer lists its whole kind again (resuming a watch from a version
 * the restarted server's cache no longer holds is answered 410, which relists too). Meanwhile
 * an unrelated Service's answers are timed, against a quiet stretch just before.
 */
async function measureRelist(
  operator: Operator,
  plane: ControlPlane,
  pods: number,
): Promise<RelistFigures> {
  const loopDelayMaxMs = async () =>
    metricValue(await operator.metrics(), "nodejs_eventloop_lag_max_seconds") * 1000;
  await loopDelayMaxMs();
  const quietUntil = performance.now() + 5000;
  const quiet = await timeAnswers(operator, () => performance.now() > quietUntil);
  const quietLoopDelayMaxMs = await loopDelayMaxMs();
  const before = watchRestarts(await operator.metrics());
  let relisting = true;
  const during = timeAnswers(operator, () => !relisting);
  const restartStarted = performance.now();
  await plane.restartComponent("kube-apiserver");
  const apiDownSeconds = (performance.now() - restartStarted) / 1000;
  // The informers back off up to a few seconds while the server is away, then list: give them
  // that and the time to list and compare every object.
  await sleep(20_000 + pods * 2);
  relisting = false;
  const latencies = await during;
  const duringLoopDelayMaxMs = await loopDelayMaxMs();
  const after = watchRestarts(await operator.metrics());
  const restarts: Record<string, number> = {};
  for (const [reason, count] of Object.entries(after)) {
    const added = count - (before[reason] ?? 0);
    if (added > 0) restarts[reason] = added;
  }
  return {
    quiet: spread(quiet.map((answer) => answer.ms)),
    during: spread(latencies.map((answer) => answer.ms)),
    quietLoopDelayMaxMs,
    duringLoopDelayMaxMs,
    stalls: latencies.filter((answer) => answer.ms > STALL_MS).length,
    slowest: latencies.at(-1) ?? { ms: Number.NaN, runningMs: Number.NaN, waitingMs: Number.NaN },
    answers: latencies.length,
    restarts,
    apiDownSeconds,
  };
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((sum, p) => sum + p.x, 0) / n;
  const my = points.reduce((sum, p) => sum + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return num / den;
}

/** Flips in a cycle of the long churn before they are undone together. */
const CHURN_CYCLE_FLIPS = 50;

/**
 * `minutes` of churn on the big Service: flips at `perSecond`, undone together every
 * CHURN_CYCLE_FLIPS flips, memory (after a full collection) sampled at the start of each minute.
 */
async function measureChurn(
  operator: Operator,
  flipper: Flipper,
  minutes: number,
  perSecond: number,
  log: (line: string) => void,
): Promise<ChurnFigures> {
  const samples: { minute: number; memory: Memory }[] = [];
  const started = performance.now();
  let flips = 0;
  for (let minute = 0; minute <= minutes; minute++) {
    const memory = await operator.memory();
    samples.push({ minute, memory });
    log(
      `churn minute ${minute}: RSS ${formatBytes(memory.rssBytes)}, heap ${formatBytes(memory.heapBytes)}`,
    );
    if (minute === minutes) break;
    const minuteEnds = started + (minute + 1) * 60_000;
    while (performance.now() < minuteEnds - 1000) {
      for (let i = 0; i < CHURN_CYCLE_FLIPS && performance.now() < minuteEnds - 1000; i++) {
        await flipper.flip();
        flips++;
        await sleep(1000 / perSecond);
      }
      await flipper.restore();
    }
    const wait = minuteEnds - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const secondHalf = samples.filter((sample) => sample.minute >= minutes / 2);
  return {
    minutes,
    flips,
    samples,
    rssSlope: slope(secondHalf.map((s) => ({ x: s.minute, y: s.memory.rssBytes }))),
    heapSlope: slope(secondHalf.map((s) => ({ x: s.minute, y: s.memory.heapBytes }))),
  };
}

/** What only this checkout's run measures, at its end. */
interface Extras {
  readonly churnMinutes: number;
  /** The directory Node writes heap snapshots to; undefined: no snapshot. */
  readonly snapshotDir: string | undefined;
  readonly baselineHeap: HeapSummary | undefined;
}

async function measureOperator(
  build: OperatorBuild,
  cluster: Cluster,
  plane: ControlPlane,
  shape: ReturnType<typeof layout>,
  baseline: Memory,
  settings: ScaleSettings,
  log: (line: string) => void,
  extras: Extras | undefined,
): Promise<{
  figures: OperatorFigures;
  churn: ChurnFigures | undefined;
  heap: SizeFigures["heap"];
}> {
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
    const relist = await measureRelist(operator, plane, shape.pods);
    log(`${build.label}: relist ${JSON.stringify(relist)}`);
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
      answeredUnseen: latency.unseen,
      afterChurn,
      relist,
    };
    log(`${build.label}: ${JSON.stringify(figures)}`);
    let churn: ChurnFigures | undefined;
    let heap: SizeFigures["heap"];
    if (extras && extras.churnMinutes > 0) {
      churn = await measureChurn(
        operator,
        flipper,
        extras.churnMinutes,
        settings.latencyFlipsPerSecond,
        log,
      );
    }
    if (extras?.snapshotDir && extras.baselineHeap) {
      heap = growth(extras.baselineHeap, await takeHeapSummary(operator.pid, extras.snapshotDir));
    }
    return { figures, churn, heap };
  } finally {
    await operator.stop();
  }
}

async function baselineOf(
  build: OperatorBuild,
  kubeconfig: string,
  snapshotDir: string | undefined,
): Promise<{ memory: Memory; heap: HeapSummary | undefined }> {
  const operator = await Operator.start(build, kubeconfig);
  try {
    await operator.waitReady(60_000);
    await sleep(3000);
    const memory = await operator.memory();
    const heap = snapshotDir ? await takeHeapSummary(operator.pid, snapshotDir) : undefined;
    return { memory, heap };
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
  // This checkout's build, last, also writes heap snapshots on a signal, here.
  const snapshotDir = mkdtempSync(join(tmpdir(), "konsul-lb-scale-heap-"));
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
    const own = settings.operators.at(-1) as OperatorBuild;
    const builds = settings.operators.map((build) =>
      build === own
        ? {
            ...build,
            nodeOptions: [
              ...build.nodeOptions,
              `--heapsnapshot-signal=${HEAP_SNAPSHOT_SIGNAL}`,
              `--diagnostic-dir=${snapshotDir}`,
            ],
          }
        : build,
    );
    const baselines = new Map<string, { memory: Memory; heap: HeapSummary | undefined }>();
    for (const build of builds)
      baselines.set(
        build.label,
        await baselineOf(
          build,
          plane.kubeconfig,
          build.label === own.label ? snapshotDir : undefined,
        ),
      );
    const setupStarted = performance.now();
    await cluster.populate(shape, log);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`${pods} Pods ready in the EndpointSlices after ${setupSeconds.toFixed(0)}s`);
    const operators: OperatorFigures[] = [];
    let churn: ChurnFigures | undefined;
    let heap: SizeFigures["heap"];
    for (const build of builds) {
      const baseline = baselines.get(build.label) as { memory: Memory; heap: HeapSummary };
      const measured = await measureOperator(
        build,
        cluster,
        plane,
        shape,
        baseline.memory,
        settings,
        log,
        build.label === own.label
          ? { churnMinutes: settings.churnMinutes, snapshotDir, baselineHeap: baseline.heap }
          : undefined,
      );
      operators.push(measured.figures);
      churn ??= measured.churn;
      heap ??= measured.heap;
    }
    return {
      pods,
      services: shape.smallServices + 1,
      nodes: shape.nodes,
      bigServicePods: shape.bigServicePods,
      setupSeconds,
      operators,
      churn,
      heap,
    };
  } finally {
    await plane.stop();
    rmSync(snapshotDir, { recursive: true, force: true });
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

function renderChurn(churn: ChurnFigures, label: string): string[] {
  const kib = (bytes: number) => `${formatNumber(bytes / 1024, 0)} KiB/min`;
  return [
    `Long churn (${label}): ${churn.minutes} min, ${formatNumber(churn.flips)} flips of the big Service at ${flipRate(churn)} each undone ${CHURN_CYCLE_FLIPS} at a time; memory after a full collection, every minute.`,
    "",
    markdownTable(
      ["minute", "RSS", "heap after GC"],
      churn.samples.map((sample) => [
        String(sample.minute),
        formatBytes(sample.memory.rssBytes),
        formatBytes(sample.memory.heapBytes),
      ]),
      ["right", "right", "right"],
    ),
    "",
    `Slope over the second half (least squares): RSS ${kib(churn.rssSlope)}, heap after GC ${kib(churn.heapSlope)}.`,
  ];
}

/** The flip rate of a churn, as text. */
function flipRate(churn: ChurnFigures): string {
  return `${formatNumber(churn.flips / (churn.minutes * 60), 1)}/s`;
}

function renderHeap(heap: NonNullable<SizeFigures["heap"]>, pods: number, label: string): string[] {
  const total = heap.reduce((sum, entry) => sum + entry.bytes, 0);
  const top = heap.slice(0, 15);
  return [
    `Where the heap goes (${label}): heap snapshot after the churn minus one with no Services, self sizes summed per constructor or V8 node type; ${formatBytes(total)} in all, ${formatBytes(total / pods)} per Pod.`,
    "",
    markdownTable(
      ["group", "bytes", "objects", "per Pod"],
      top.map((entry) => [
        `\`${entry.group}\``,
        formatBytes(entry.bytes),
        formatNumber(entry.count),
        `${formatNumber(entry.bytes / pods, 0)} B`,
      ]),
      ["left", "right", "right", "right"],
    ),
  ];
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
    `not ready, under ${results.settings.latencyFlipsPerSecond} flips/s for ${results.settings.latencySeconds} s; the operator's share runs from the first event`,
    "that shows the flip (the Pod's, or its EndpointSlice's), seen by watches of the benchmark, to that answer (the rest",
    "is the API server, and the EndpointSlice controller for a build that waits for it, on the same 2 cores); a flip answered",
    "before those watches saw it (they share an event loop with the parsing of every answer) has no share taken. After churn: memory once",
    "those flips are undone. Node options of a build, if any, are in its label; this checkout runs",
    `with the chart's (${chartNodeOptions().join(" ")}). Relist: the kube-apiserver is restarted, so every`,
    "watch of the operator fails and each informer lists its whole kind again (the code path of a",
    `410 and of a failed watch); ${SMALL_SERVICE}'s answers (10 endpoints) are timed one after another, 50 a second,`,
    "for 5 s before and from the restart until the relist is long over, next to the operator's",
    "longest event-loop delay in each stretch (prom-client's `nodejs_eventloop_lag_max_seconds`).",
    "Over the slowest of those answers, the operator's main thread's time running (its own work and",
    "collector pauses) and time runnable but waiting for a core that other processes held",
    "(/proc/<pid>/task/<pid>/schedstat).",
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
            "of which the operator (first event → answer) p50",
            (f) => f.operatorLatency.p50,
            formatMs,
          ),
          row("of which the operator p99", (f) => f.operatorLatency.p99, formatMs),
          row("of which the operator max", (f) => f.operatorLatency.max, formatMs),
          row(
            "answered before the benchmark's watches saw the flip",
            (f) => f.answeredUnseen,
            (v) => formatNumber(v),
          ),
          row(
            "flips never answered",
            (f) => f.latencyMissed,
            (v) => formatNumber(v),
          ),
          row(`${SMALL_SERVICE} answer, quiet, p99`, (f) => f.relist.quiet.p99, formatMs),
          row(`${SMALL_SERVICE} answer, quiet, max`, (f) => f.relist.quiet.max, formatMs),
          row(
            `${SMALL_SERVICE} answer during the relist, p99`,
            (f) => f.relist.during.p99,
            formatMs,
          ),
          row(
            `${SMALL_SERVICE} answer during the relist, max`,
            (f) => f.relist.during.max,
            formatMs,
          ),
          row(
            "operator event-loop delay max, quiet",
            (f) => f.relist.quietLoopDelayMaxMs,
            formatMs,
          ),
          row(
            "operator event-loop delay max, during the relist",
            (f) => f.relist.duringLoopDelayMaxMs,
            formatMs,
          ),
          row(
            `answers over ${STALL_MS} ms during the relist`,
            (f) => f.relist.stalls,
            (v) => formatNumber(v),
          ),
          row(
            "slowest answer during the relist: operator thread running",
            (f) => f.relist.slowest.runningMs,
            formatMs,
          ),
          row(
            "slowest answer during the relist: operator thread waiting for a core",
            (f) => f.relist.slowest.waitingMs,
            formatMs,
          ),
        ],
        ["left", ...labels.map(() => "right" as const), ...(compare ? ["right" as const] : [])],
      ),
      "",
      `Cluster set-up (objects created until every Pod is a ready endpoint): ${formatNumber(size.setupSeconds)} s.`,
      `Relist: the kube-apiserver restarted (down ${size.operators.map((f) => `${formatNumber(f.relist.apiDownSeconds, 1)} s`).join(" / ")}), ` +
        `watch restarts the operator counted: ${size.operators.map((f) => `${f.label}: ${JSON.stringify(f.relist.restarts)}`).join("; ")}; ` +
        `answers timed: ${size.operators.map((f) => formatNumber(f.relist.answers)).join(" / ")}.`,
      "",
    );
    if (size.churn) lines.push(...renderChurn(size.churn, labels.at(-1) as string), "");
    if (size.heap) lines.push(...renderHeap(size.heap, size.pods, labels.at(-1) as string), "");
  }
  const size10k = results.sizes.find((size) => size.pods === 10_000);
  const at10k = size10k?.operators.at(-1);
  if (at10k) {
    const perPod = bytesPerPod(at10k, 10_000);
    const churnRss = size10k?.churn?.samples.map((sample) => sample.memory.rssBytes) ?? [];
    const churnRssMax = churnRss.length > 0 ? Math.max(...churnRss) : undefined;
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
          ...(churnRssMax === undefined
            ? []
            : [
                [
                  `RSS under churn ≤ ${TARGETS.rssAt10kMiB} MiB (highest sample)`,
                  formatBytes(churnRssMax),
                  churnRssMax <= TARGETS.rssAt10kMiB * 1024 * 1024 ? "✓" : "✗",
                ],
              ]),
          [
            `no answer over ${TARGETS.relistStallMs} ms during a relist`,
            formatMs(at10k.relist.during.max),
            at10k.relist.during.max <= TARGETS.relistStallMs ? "✓" : "✗",
          ],
        ],
        ["left", "right", "left"],
      ),
      "",
    );
  }
  return lines.join("\n");
}
