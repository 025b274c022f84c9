// The Deployments behind a policy change: scaled up and down, the endpoint set follows on every
// replica; rolled, no answer during the rollout names a pod that was not ready or already
// terminating, as the EndpointSlices and Pods said at that moment.

import type { V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchContinuously } from "../test/support/watch.ts";
import { key } from "./support/backends.ts";
import {
  clients,
  endpointSlices,
  kubectl,
  log,
  readyEndpoints,
  waitFor,
} from "./support/cluster.ts";
import { endpoints, pick, type Replica, tally } from "./support/discovery.ts";
import { SHOP } from "./support/env.ts";
import { target } from "./support/target.ts";

const t = target();
let replicas: Replica[];

beforeAll(async () => {
  replicas = await t.replicas();
});
afterAll(() => t.close());

/** Waits until every replica serves exactly the ready pods the EndpointSlices list. */
async function converged(service: string, count: number): Promise<Map<string, string>> {
  const pods = await waitFor(
    `${count} ready endpoints of ${key(service)}`,
    async () => {
      const ready = readyEndpoints(await endpointSlices(SHOP, service));
      return ready.size === count ? ready : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  for (const replica of replicas) {
    await waitFor(
      `${replica.pod} to serve the ${count} pods of ${key(service)}`,
      async () => {
        const answer = await endpoints(replica.url, key(service), "limit=0");
        const served = new Map(answer.endpoints.map((e) => [e.identity, e.address]));
        const same =
          served.size === pods.size && [...pods].every(([pod, ip]) => served.get(pod) === ip);
        return same ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }
  return pods;
}

describe("scaling a Deployment", () => {
  for (const replicasWanted of [5, 2, 3]) {
    it(`web scaled to ${replicasWanted}: every replica serves exactly the ready pods, in equal turns`, async () => {
      await kubectl(["-n", SHOP, "scale", "deployment/web", `--replicas=${replicasWanted}`]);
      const started = Date.now();
      const pods = await converged("web", replicasWanted);
      log(
        `web at ${replicasWanted} pods, served by every replica after ${Date.now() - started} ms`,
      );
      const counts = await tally((replicas[0] as Replica).url, key("web"), 10 * replicasWanted);
      expect(new Set(counts.keys())).toEqual(new Set(pods.keys()));
      for (const n of counts.values()) expect(n).toBe(10);
    });
  }
});

type State = "ready" | "not-ready" | "terminating" | "gone";

/** What the cluster said about each pod over time, as seen by watches in this process. */
class Timeline {
  readonly #entries = new Map<string, { at: number; state: State }[]>();
  /** Pods each EndpointSlice listed last, to notice a pod leaving a slice. */
  readonly #slices = new Map<string, Set<string>>();

  record(pod: string, state: State, at = Date.now()): void {
    const list = this.#entries.get(pod) ?? [];
    if (list.at(-1)?.state !== state) list.push({ at, state });
    this.#entries.set(pod, list);
  }

  slice(name: string, endpoints: { pod: string; state: State }[], deleted: boolean): void {
    const now = Date.now();
    const before = this.#slices.get(name) ?? new Set<string>();
    const after = new Set(deleted ? [] : endpoints.map((e) => e.pod));
    if (!deleted) for (const e of endpoints) this.record(e.pod, e.state, now);
    for (const pod of before) if (!after.has(pod)) this.record(pod, "gone", now);
    this.#slices.set(name, after);
  }

  /** Whether the pod was ready at some moment of [from, to]. */
  readyWithin(pod: string, from: number, to: number): boolean {
    const list = this.#entries.get(pod) ?? [];
    let state: State | undefined;
    for (const entry of list) {
      if (entry.at <= from) state = entry.state;
      else if (entry.at <= to && entry.state === "ready") return true;
    }
    return state === "ready";
  }

  stateAt(pod: string, at: number): State | undefined {
    let state: State | undefined;
    for (const entry of this.#entries.get(pod) ?? []) if (entry.at <= at) state = entry.state;
    return state;
  }

  seen(state: State): string[] {
    return [...this.#entries].filter(([, l]) => l.some((e) => e.state === state)).map(([p]) => p);
  }
}

interface Answer {
  readonly replica: string;
  readonly sent: number;
  readonly received: number;
  readonly status: number;
  readonly pod?: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
}

describe("a rollout", () => {
  // How far the operator's view may trail (or lead) the watches of this test: both watch the
  // same API server, so the difference is delivery and processing on a loaded machine (and on
  // kind, the trip through the port-forwards).
  const LAG_MS = t.mode === "local" ? 1_000 : 2_000;

  it("rollout restart of web: while pods start and terminate, every answer is a ready, non-terminating pod", async () => {
    const timeline = new Timeline();
    const slices = await watchContinuously(
      clients().kc,
      `/apis/discovery.k8s.io/v1/namespaces/${SHOP}/endpointslices`,
      { labelSelector: "kubernetes.io/service-name=web" },
      (type, slice: V1EndpointSlice) => {
        const endpoints = (slice.endpoints ?? [])
          .filter((e) => e.targetRef?.name)
          .map((e) => ({
            pod: e.targetRef?.name as string,
            state: (e.conditions?.terminating
              ? "terminating"
              : e.conditions?.ready
                ? "ready"
                : "not-ready") as State,
          }));
        timeline.slice(slice.metadata?.name as string, endpoints, type === "DELETED");
      },
    );
    const pods = await watchContinuously(
      clients().kc,
      `/api/v1/namespaces/${SHOP}/pods`,
      { labelSelector: "app=web" },
      (type, pod: V1Pod) => {
        const name = pod.metadata?.name as string;
        if (type === "DELETED") timeline.record(name, "gone");
        else if (pod.metadata?.deletionTimestamp) timeline.record(name, "terminating");
      },
    );
    const before = await converged("web", 3);

    const answers: Answer[] = [];
    let polling = true;
    const pollers = replicas.map(async (replica) => {
      while (polling) {
        const sent = Date.now();
        try {
          const { endpoint } = await pick(replica.url, key("web"));
          answers.push({
            replica: replica.pod,
            sent,
            received: Date.now(),
            status: 200,
            pod: endpoint.identity,
            ready: endpoint.ready,
            terminating: endpoint.terminating,
          });
        } catch (error) {
          answers.push({ replica: replica.pod, sent, received: Date.now(), status: 0 });
          log(`pick failed during the rollout: ${error}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    });

    const started = Date.now();
    try {
      await kubectl(["-n", SHOP, "rollout", "restart", "deployment/web"]);
      await kubectl(["-n", SHOP, "rollout", "status", "deployment/web", "--timeout=180s"]);
      log(`rollout of web complete after ${Date.now() - started} ms`);
      // The old pods terminate after the rollout counts as complete; keep asking until they are
      // gone from the EndpointSlices.
      await waitFor(
        "the old pods to leave the EndpointSlices",
        async () => {
          const listed = new Set<string>();
          for (const slice of await endpointSlices(SHOP, "web")) {
            for (const e of slice.endpoints ?? []) listed.add(e.targetRef?.name as string);
          }
          return [...before.keys()].every((pod) => !listed.has(pod)) ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      await new Promise((r) => setTimeout(r, LAG_MS));
    } finally {
      polling = false;
      await Promise.all(pollers);
      slices.stop();
      pods.stop();
    }

    const after = await converged("web", 3);
    for (const pod of after.keys()) expect(before.has(pod), `${pod} is new`).toBe(false);

    const failed = answers.filter((a) => a.status !== 200);
    expect(failed, "every pick during the rollout answered").toEqual([]);
    const claimedBad = answers.filter((a) => !a.ready || a.terminating);
    expect(claimedBad, "answers the operator itself marks not ready or terminating").toEqual([]);
    const wrong = answers.filter(
      (a) => !timeline.readyWithin(a.pod as string, a.sent - LAG_MS, a.received + LAG_MS),
    );
    expect(
      wrong.map((a) => ({ ...a, state: timeline.stateAt(a.pod as string, a.sent) })),
      "answers naming a pod that was not ready at any moment around the request",
    ).toEqual([]);
    // Answers within the propagation window: the pod had turned bad by the time the request was
    // sent, by this process's watches, but the operator had not seen it yet.
    const racing = answers.filter((a) => timeline.stateAt(a.pod as string, a.sent) !== "ready");
    const terminated = timeline.seen("terminating");
    const starting = timeline.seen("not-ready");
    log(
      `rollout: ${answers.length} picks over ${replicas.length} replicas; ` +
        `${terminated.length} pods seen terminating, ${starting.length} seen not ready; ` +
        `${racing.length} answers within ${LAG_MS} ms of a pod turning unready`,
    );
    // The rollout went through the states this test is about. Every old pod terminates; every
    // new one is listed not ready first locally, where kwok holds it so for about a second. A
    // kubelet may publish a pod's IP and its first passed readiness probe in one update.
    expect(terminated.length).toBeGreaterThanOrEqual(3);
    if (t.mode === "local") expect(starting.length).toBeGreaterThanOrEqual(3);
    expect(answers.length).toBeGreaterThan(50);
    // After it, the rotation is the new pods only.
    const counts = await tally((replicas[0] as Replica).url, key("web"), 30);
    expect(new Set(counts.keys())).toEqual(new Set(after.keys()));
  });
});
