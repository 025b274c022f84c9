// A small version of the scale benchmark (bench/scale.ts) with generous bounds: 1,000 ready
// Pods, the operator as a process of its own, and readiness flips. It fails when the work one
// flip causes grows with the size of the flipped Pod's Service, or when the operator's memory
// keeps growing under churn (the slope over many samples, not one sample).

import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Clients,
  clients,
  createNamespace,
  createNode,
  createPod,
  createService,
  deleteNamespace,
  deleteNode,
  setPodStatus,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { type Memory, metricValue, OperatorProcess } from "./support/operator-process.ts";

const CRD = fileURLToPath(
  new URL("../../crds/lb.konsul.io_loadbalancingpolicies.yaml", import.meta.url),
);
const BIG_PODS = 990;
const SMALL_PODS = 10;
const FLIPS_PER_SERVICE = 8;
const CHURN_SECONDS = 45;
const CHURN_FLIPS_PER_SECOND = 10;
const SAMPLE_EVERY_MS = 3000;
/** Generous: a retained leak of one object per flip would still pass; steady growth does not. */
const MAX_HEAP_SLOPE_BYTES_PER_SECOND = 100 * 1024;
const MAX_RSS_SLOPE_BYTES_PER_SECOND = 1024 * 1024;

let kube: Clients;
let namespace: string;
let node: string;
let operator: OperatorProcess | undefined;
const ready = new Map<string, boolean>();

function ipOf(i: number): string {
  return `10.30.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function podOf(service: "big" | "small", i: number): string {
  return `${service}-${String(i).padStart(4, "0")}`;
}

async function pool(count: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function setReady(pod: string, isReady: boolean): Promise<void> {
  const index = Number(pod.slice(pod.lastIndexOf("-") + 1)) + (pod.startsWith("big") ? 0 : 1000);
  await setPodStatus(kube.core, namespace, pod, { ip: ipOf(index), ready: isReady });
  ready.set(pod, isReady);
}

interface ServiceState {
  readonly endpoints: readonly { readonly identity: string; readonly ready: boolean }[];
}

async function serviceState(name: string): Promise<ServiceState> {
  const res = await fetch(`${operator?.url}/v1/services/${namespace}/${name}`);
  if (res.status !== 200) throw new Error(`GET ${name}: ${res.status}`);
  return (await res.json()) as ServiceState;
}

/** Flips one Pod and waits until the operator answers with it. */
async function flipAndWait(service: "big" | "small", pod: string): Promise<void> {
  const want = !(ready.get(pod) ?? true);
  await setReady(pod, want);
  await waitFor(`${pod} ready=${want} in the answer`, async () => {
    const state = await serviceState(service);
    return state.endpoints.some((e) => e.identity === pod && e.ready === want) ? true : undefined;
  });
}

async function serviceReconciles(): Promise<number> {
  return metricValue(
    await (operator as OperatorProcess).metrics(),
    "konsul_lb_reconcile_total",
    'controller="services"',
  );
}

/** Service reconciles per flip, over FLIPS_PER_SERVICE flips of Pods of `service`. */
async function reconcilesPerFlip(service: "big" | "small"): Promise<number> {
  const before = await serviceReconciles();
  for (let i = 0; i < FLIPS_PER_SERVICE; i++) await flipAndWait(service, podOf(service, i));
  await sleep(1500); // reconciles that trail the answer count too
  return ((await serviceReconciles()) - before) / FLIPS_PER_SERVICE;
}

/** Least-squares slope of `values` against `seconds`. */
function slope(seconds: readonly number[], values: readonly number[]): number {
  const n = seconds.length;
  const meanX = seconds.reduce((a, b) => a + b, 0) / n;
  const meanY = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((seconds[i] as number) - meanX) * ((values[i] as number) - meanY);
    den += ((seconds[i] as number) - meanX) ** 2;
  }
  return num / den;
}

beforeAll(async () => {
  kube = clients();
  // The operator watches policies too: it is ready only once their kind exists.
  await promisify(execFile)("kubectl", [
    "--kubeconfig",
    testKubeconfigPath(),
    "apply",
    "--server-side",
    "-f",
    CRD,
  ]);
  namespace = await createNamespace(kube.core, "scale-guard-");
  node = `${namespace}-node`;
  await createNode(kube.core, node, { region: "us-east", zone: "us-east-1a" });
  await createService(kube.core, namespace, "big", { app: "big" });
  await createService(kube.core, namespace, "small", { app: "small" });
  const pods = [
    ...Array.from({ length: BIG_PODS }, (_, i) => podOf("big", i)),
    ...Array.from({ length: SMALL_PODS }, (_, i) => podOf("small", i)),
  ];
  await pool(pods.length, async (i) => {
    const name = pods[i] as string;
    await createPod(kube.core, namespace, {
      name,
      nodeName: node,
      labels: { app: name.slice(0, name.lastIndexOf("-")) },
    });
    await setReady(name, true);
  });
  await waitFor(
    "1,000 ready endpoints in the EndpointSlices",
    async () => {
      const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace });
      const count = slices.items
        .flatMap((slice) => slice.endpoints ?? [])
        .filter((e) => e.conditions?.ready).length;
      return count === pods.length ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  operator = await OperatorProcess.start(
    {
      label: "scale guard",
      // Another build (e.g. an older checkout) can be put under the same guard.
      entry:
        process.env.KONSUL_LB_SCALE_GUARD_ENTRY ??
        fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url)),
      nodeOptions: [],
    },
    testKubeconfigPath(),
  );
  await operator.waitReady(60_000);
  await waitFor("the big Service in the catalog", async () =>
    (await serviceState("big")).endpoints.length === BIG_PODS ? true : undefined,
  );
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  if (namespace) {
    // Without a kubelet, Pods deleted gracefully would stay Terminating for ever.
    await kube.core
      .deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 })
      .catch(() => {});
    await deleteNamespace(kube.core, namespace);
  }
  if (node) await deleteNode(kube.core, node);
});

describe("scale guard (1,000 Pods)", () => {
  it("one readiness flip costs about one Service reconcile, in a Service of 10 or of 990 Pods", async () => {
    const small = await reconcilesPerFlip("small");
    const big = await reconcilesPerFlip("big");
    expect(small).toBeGreaterThanOrEqual(1);
    expect(small).toBeLessThanOrEqual(1.5);
    expect(big).toBeLessThanOrEqual(1.5);
    expect(big).toBeLessThanOrEqual(small + 0.5);
  }, 120_000);

  it("memory levels off under churn: heap after GC and RSS show no steady growth", async () => {
    const churned = operator as OperatorProcess;
    const samples: { at: number; memory: Memory }[] = [];
    const started = performance.now();
    let flip = 0;
    let nextSample = started + SAMPLE_EVERY_MS;
    const end = started + CHURN_SECONDS * 1000;
    while (performance.now() < end) {
      // Each Pod of the big Service in turn: not ready on one pass, ready again on the next.
      const pod = podOf("big", flip % BIG_PODS);
      flip++;
      await setReady(pod, !(ready.get(pod) ?? true));
      if (performance.now() >= nextSample) {
        samples.push({ at: (performance.now() - started) / 1000, memory: await churned.memory() });
        nextSample += SAMPLE_EVERY_MS;
      }
      const due = started + (flip * 1000) / CHURN_FLIPS_PER_SECOND;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    // The first half lets the heap find its working size; the second half must be flat.
    const late = samples.slice(Math.floor(samples.length / 2));
    expect(late.length).toBeGreaterThanOrEqual(5);
    const seconds = late.map((s) => s.at);
    const heapSlope = slope(
      seconds,
      late.map((s) => s.memory.heapBytes),
    );
    const rssSlope = slope(
      seconds,
      late.map((s) => s.memory.rssBytes),
    );
    const report = `${flip} flips; heap ${Math.round(heapSlope / 1024)} KiB/s, RSS ${Math.round(rssSlope / 1024)} KiB/s over the last ${late.length} samples`;
    expect(heapSlope, report).toBeLessThan(MAX_HEAP_SLOPE_BYTES_PER_SECOND);
    expect(rssSlope, report).toBeLessThan(MAX_RSS_SLOPE_BYTES_PER_SECOND);
    // Flips went on all along: the operator kept answering.
    expect((await serviceState("big")).endpoints).toHaveLength(BIG_PODS);
  }, 120_000);
});
